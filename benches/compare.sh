#!/usr/bin/env bash
# End-to-end comparison: permtrail against the tools a user would otherwise run (DuckDB,
# jq) and against the read limits of the machine (cat, wc -l, decode-only), on the same
# generated files in one run. Prints one table: tool, input, seconds, MB/s, ratio to
# permtrail, peak RSS.
#
#   benches/compare.sh               # 1 GiB of JSON lines + 1 GiB (uncompressed) of OBS .json.gz
#   SMALL=1 benches/compare.sh       # 100 MB of each: a quick run
#
# Environment (all optional):
#   SMALL=1            100 MB inputs instead of 1 GiB
#   JSONL_BYTES=1G     size of the JSON-lines file
#   OBS_BYTES=1G       uncompressed size of the OBS tree (gzip makes it ~3x smaller on disk)
#   FILE_BYTES=4M      uncompressed bytes per OBS file
#   SMALL_OBS_BYTES=256M, SMALL_FILE_BYTES=16K
#                      a second OBS tree of small files (a quiet service's 5-minute files);
#                      SMALL_OBS_BYTES=0 skips it
#   ECS_BYTES=256M     JSON lines of ECS traces only (what a job that names a bucket's ECS
#                      folders reads); ECS_BYTES=0 skips them
#   APIG_BYTES=256M    an API Gateway access log (no peer reads its layout); 0 skips it
#   MANY_BYTES=256M, MANY_PROJECTS=10000
#                      JSON lines of the same mix spread over many projects (a large
#                      tenant: each record's project row is then seldom in the caches);
#                      MANY_BYTES=0 skips them
#   SEED=42            generator seed; PROJECTS=200, USERS=500
#   RUNS=5             interleaved rounds per input (the median is kept); jq and zcat run once
#   JQ_SLICE=100M      jq only reads a slice of the JSON lines (it is slow); MB/s is scaled
#   GZ=1               also time one large gzip JSON-lines file (GZ=0 to skip)
#   BENCH_DATA=DIR     where inputs are kept between runs (default: $CARGO_TARGET_DIR/bench-data)
#   NO_INSTALL=1       never install DuckDB/jq; skip them with a notice if missing
#   PGO=1              time the profile-guided build (scripts/build-pgo.sh, about 4 minutes
#                      to build), with one more row for the plain release build on all
#                      cores; PGO=0 times the plain build only. Decode-only runs use the
#                      generator of the same build, so both sides run the same decoders.
#   CARGO_TARGET_DIR   build directory (default: target/)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET

if [[ ${SMALL:-0} == 1 ]]; then
    JSONL_BYTES=${JSONL_BYTES:-100M}
    OBS_BYTES=${OBS_BYTES:-100M}
    SMALL_OBS_BYTES=${SMALL_OBS_BYTES:-32M}
    ECS_BYTES=${ECS_BYTES:-32M}
    APIG_BYTES=${APIG_BYTES:-32M}
    MANY_BYTES=${MANY_BYTES:-32M}
else
    JSONL_BYTES=${JSONL_BYTES:-1G}
    OBS_BYTES=${OBS_BYTES:-1G}
    SMALL_OBS_BYTES=${SMALL_OBS_BYTES:-256M}
    ECS_BYTES=${ECS_BYTES:-256M}
    APIG_BYTES=${APIG_BYTES:-256M}
    MANY_BYTES=${MANY_BYTES:-256M}
fi
MANY_PROJECTS=${MANY_PROJECTS:-10000}
FILE_BYTES=${FILE_BYTES:-4M}
SMALL_FILE_BYTES=${SMALL_FILE_BYTES:-16K}
SEED=${SEED:-42}
PROJECTS=${PROJECTS:-200}
USERS=${USERS:-500}
RUNS=${RUNS:-5}
JQ_SLICE=${JQ_SLICE:-100M}
GZ=${GZ:-1}
DATA=${BENCH_DATA:-$TARGET/bench-data}
NO_INSTALL=${NO_INSTALL:-0}

note() { printf 'compare: %s\n' "$*" >&2; }

PGO=${PGO:-1}

# --- build --------------------------------------------------------------------------
note "building permtrail and the generator (release) in $TARGET"
cargo build --release --quiet --bin permtrail
cargo build --release --quiet --example generate
PERMTRAIL=$TARGET/release/permtrail
GENERATE=$TARGET/release/examples/generate
PLAIN=""
# The inputs on which the plain build ran too, for the check that both wrote the same.
PLAIN_GROUPS=()
BUILD="cargo build --release"
if [[ $PGO == 1 ]]; then
    note "building the profile-guided build (scripts/build-pgo.sh)"
    if pgo_bin=$("$ROOT/scripts/build-pgo.sh" 2>"$TARGET/pgo-build.log" | tail -1) && [[ -x $pgo_bin ]]; then
        PLAIN=$PERMTRAIL
        PERMTRAIL=$pgo_bin
        GENERATE=$(dirname "$pgo_bin")/examples/generate
        BUILD="scripts/build-pgo.sh ($("$PERMTRAIL" --version)); one row of the plain cargo build --release"
    else
        note "the profile-guided build failed (see $TARGET/pgo-build.log): timing the plain build only"
    fi
fi

# --- inputs -------------------------------------------------------------------------
mkdir -p "$DATA"
GEN_ARGS=(--seed "$SEED" --projects "$PROJECTS" --users "$USERS")
JSONL=$DATA/cts-$JSONL_BYTES-s$SEED-p$PROJECTS.jsonl
JSONL_GZ=$JSONL.gz
OBS=$DATA/obs-$OBS_BYTES-f$FILE_BYTES-s$SEED-p$PROJECTS
OBS_SMALL=$DATA/obs-$SMALL_OBS_BYTES-f$SMALL_FILE_BYTES-s$SEED-p$PROJECTS
ECS_JSONL=$DATA/cts-ecs-$ECS_BYTES-s$SEED-p$PROJECTS.jsonl
APIG_LOG=$DATA/apig-$APIG_BYTES-s$SEED-p$PROJECTS.log
MANY_JSONL=$DATA/cts-$MANY_BYTES-s$SEED-p$MANY_PROJECTS.jsonl
if [[ ! -s $JSONL.tally.json ]]; then
    note "generating $JSONL"
    "$GENERATE" --kind jsonl --out "$JSONL" --bytes "$JSONL_BYTES" "${GEN_ARGS[@]}"
fi
if [[ $GZ == 1 && ! -s $JSONL_GZ.tally.json ]]; then
    note "generating $JSONL_GZ (same records, one gzip stream)"
    "$GENERATE" --kind jsonl --gzip --out "$JSONL_GZ" --bytes "$JSONL_BYTES" "${GEN_ARGS[@]}"
fi
if [[ ! -s $OBS.tally.json ]]; then
    note "generating $OBS"
    rm -rf "$OBS"
    "$GENERATE" --kind obs --out "$OBS" --bytes "$OBS_BYTES" --file-bytes "$FILE_BYTES" "${GEN_ARGS[@]}"
fi
if [[ $SMALL_OBS_BYTES != 0 && ! -s $OBS_SMALL.tally.json ]]; then
    note "generating $OBS_SMALL"
    rm -rf "$OBS_SMALL"
    "$GENERATE" --kind obs --out "$OBS_SMALL" --bytes "$SMALL_OBS_BYTES" \
        --file-bytes "$SMALL_FILE_BYTES" "${GEN_ARGS[@]}"
fi
if [[ $ECS_BYTES != 0 && ! -s $ECS_JSONL.tally.json ]]; then
    note "generating $ECS_JSONL (ECS traces only)"
    "$GENERATE" --kind jsonl --ecs-share 1 --out "$ECS_JSONL" --bytes "$ECS_BYTES" "${GEN_ARGS[@]}"
fi
if [[ $APIG_BYTES != 0 && ! -s $APIG_LOG.tally.json ]]; then
    note "generating $APIG_LOG"
    "$GENERATE" --kind apig --out "$APIG_LOG" --bytes "$APIG_BYTES" "${GEN_ARGS[@]}"
fi
if [[ $MANY_BYTES != 0 && ! -s $MANY_JSONL.tally.json ]]; then
    note "generating $MANY_JSONL ($MANY_PROJECTS projects)"
    "$GENERATE" --kind jsonl --out "$MANY_JSONL" --bytes "$MANY_BYTES" \
        --seed "$SEED" --projects "$MANY_PROJECTS" --users "$USERS"
fi

# `bytes` of a tally: uncompressed record bytes, the basis of every MB/s in the table.
tally_field() { sed -n "s/^  \"$2\": \\([0-9]*\\),\$/\\1/p" "$1"; }
JSONL_SIZE=$(tally_field "$JSONL.tally.json" bytes)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/permtrail-compare.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Inputs in page cache: every figure is about CPU, not the disk. Some kernels page out
# file pages that sat idle for a while (DAMON's `pageout` scheme; on this project's
# benchmark machines, after 60 s), so an input read once at the start can be gone by the
# time its last rows run: each run reads its input again first (`warm`).
warm() {
    case $1 in
        jsonl) cat "$JSONL" >/dev/null ;;
        gz) cat "$JSONL_GZ" >/dev/null ;;
        obs) find "$OBS" -type f -exec cat {} + >/dev/null ;;
        obs-small) find "$OBS_SMALL" -type f -exec cat {} + >/dev/null ;;
        ecs) cat "$ECS_JSONL" >/dev/null ;;
        apig) cat "$APIG_LOG" >/dev/null ;;
    esac
}
note "reading inputs once into the page cache"
warm jsonl
if [[ $GZ == 1 ]]; then warm gz; fi
warm obs
if [[ $SMALL_OBS_BYTES != 0 ]]; then warm obs-small; fi
if [[ $ECS_BYTES != 0 ]]; then warm ecs; fi
if [[ $APIG_BYTES != 0 ]]; then warm apig; fi

# --- measuring ----------------------------------------------------------------------
HAVE_TIME=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1; then
    HAVE_TIME=1
else
    note "/usr/bin/time -v not available: peak RSS will be '-'"
fi

ROWS=()   # tool|input|median s|min s|max s|bytes|rss_kib|group|runs

# The commands of one input, registered by `add` and run by `run_group` in rounds: each
# round runs every command once, in turn. The machine's speed drifts by 20% and more
# within an hour, and a tool timed in a burst of its own runs would meet another moment
# than its peers; interleaved, every ratio compares runs of the same minutes. Each round
# starts one command further on, so that no command always runs first (alternating runs
# of two builds were faster in whichever ran first in a round, by a few percent).
C_TOOL=() C_INPUT=() C_BYTES=() C_RUNS=() C_CMD=()

# add TOOL INPUT BYTES RUNS CMD...: registers a command for the current group. A command
# may print `seconds=S` on stdout to report its own timing (DuckDB: query time without
# interpreter start-up).
add() {
    C_TOOL+=("$1") C_INPUT+=("$2") C_BYTES+=("$3") C_RUNS+=("$4")
    shift 4
    C_CMD+=("$(printf '%q ' "$@")")
}

# One timed run of command I of the group: its seconds on stdout, peak RSS in $TMP/rss-I.
run_once() {
    local i=$1 t0 t1 secs r
    t0=$(date +%s%N)
    if [[ $HAVE_TIME == 1 ]]; then
        eval "/usr/bin/time -v -o '$TMP/time' ${C_CMD[i]}" >"$TMP/out-$i" 2>"$TMP/err" || {
            note "${C_TOOL[i]} on ${C_INPUT[i]} exited with status $?: $(tail -n 2 "$TMP/err" | tr '\n' ' ')"
        }
    else
        eval "${C_CMD[i]}" >"$TMP/out-$i" 2>"$TMP/err" || note "${C_TOOL[i]} on ${C_INPUT[i]} exited with status $?"
    fi
    t1=$(date +%s%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    if grep -q '^seconds=' "$TMP/out-$i"; then
        secs=$(sed -n 's/^seconds=//p' "$TMP/out-$i" | head -n 1)
    fi
    r=0
    if [[ $HAVE_TIME == 1 ]]; then r=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time"); fi
    # The highest peak over all runs is the one reported.
    if [[ ! -s $TMP/rss-$i ]] || ((r > $(cat "$TMP/rss-$i"))); then echo "$r" >"$TMP/rss-$i"; fi
    echo "$secs"
}

# run_group GROUP: runs the registered commands in rounds (input re-read before each run),
# adds one row per command (median, fastest and slowest run, highest peak RSS), and
# clears the registry.
run_group() {
    local group=$1 rounds=0 r i k secs n=${#C_CMD[@]}
    local -a times=()
    for i in "${!C_CMD[@]}"; do
        ((C_RUNS[i] > rounds)) && rounds=${C_RUNS[i]}
        times[i]=""
        rm -f "$TMP/rss-$i"
    done
    for ((r = 0; r < rounds; r++)); do
        for ((k = 0; k < n; k++)); do
            i=$(((k + r) % n))
            ((r < C_RUNS[i])) || continue
            warm "$group"
            secs=$(run_once "$i")
            times[i]+="$secs "
        done
    done
    for i in "${!C_CMD[@]}"; do
        local stats rss
        stats=$(echo "${times[i]}" | tr ' ' '\n' | sed '/^$/d' | sort -g | awk '
            { v[NR] = $1 } END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.4f|%.4f|%.4f", m, v[1], v[NR] }')
        rss=$(cat "$TMP/rss-$i")
        ((HAVE_TIME == 1)) || rss="-"
        ROWS+=("${C_TOOL[i]}|${C_INPUT[i]}|$stats|${C_BYTES[i]}|$rss|$group|${C_RUNS[i]}")
        note "$(printf '%-28s %-34s median %8.3f s (%s runs)' "${C_TOOL[i]}" "${C_INPUT[i]}" "${stats%%|*}" "${C_RUNS[i]}")"
        # Output of the last run, for the cross-checks.
        cp "$TMP/out-$i" "$TMP/last-out-$group-$i"
    done
    C_TOOL=() C_INPUT=() C_BYTES=() C_RUNS=() C_CMD=()
}

# The row of TOOL (a prefix) on GROUP: "median|bytes|rss", empty when absent.
row_of() {
    local row tool input med min max bytes rss group runs
    for row in "${ROWS[@]}"; do
        IFS='|' read -r tool input med min max bytes rss group runs <<<"$row"
        if [[ $group == "$2" && $tool == "$1"* ]]; then
            echo "$med|$bytes|$rss"
            return
        fi
    done
}

# permtrail on INPUT with -j1 and with all cores; the all-cores run is the ratio baseline.
add_permtrail() {
    local input=$1 label=$2 group=$3 bytes=$4
    add "permtrail scan -q -j1" "$label" "$bytes" "$RUNS" \
        "$PERMTRAIL" scan -q -j1 -o "$TMP/report-$group-j1" "$input"
    add "permtrail scan -q (-j$(nproc))" "$label" "$bytes" "$RUNS" \
        "$PERMTRAIL" scan -q -o "$TMP/report-$group" "$input"
    if [[ -n $PLAIN ]]; then
        add "plain release build, scan -q (-j$(nproc))" "$label" "$bytes" "$RUNS" \
            "$PLAIN" scan -q -o "$TMP/report-$group-plain" "$input"
        PLAIN_GROUPS+=("$group")
    fi
}

# --- peers: install or skip ----------------------------------------------------------
DUCK_PY=""
VENV=$TARGET/bench-venv
if [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import duckdb' 2>/dev/null; then
    DUCK_PY=$VENV/bin/python
elif [[ $NO_INSTALL != 1 ]] && command -v python3 >/dev/null; then
    note "installing duckdb into $VENV"
    if python3 -m venv "$VENV" >/dev/null 2>&1 && "$VENV/bin/pip" install -q duckdb >/dev/null 2>&1; then
        DUCK_PY=$VENV/bin/python
    else
        note "could not install duckdb (pip install duckdb into $VENV failed): DuckDB skipped"
    fi
else
    note "duckdb not available: DuckDB skipped"
fi

JQ=""
if command -v jq >/dev/null; then
    JQ=$(command -v jq)
elif [[ $NO_INSTALL != 1 ]] && command -v apt-get >/dev/null; then
    note "installing jq"
    if apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq jq >/dev/null 2>&1; }; then
        JQ=$(command -v jq || true)
    fi
    if [[ -z $JQ ]]; then note "could not install jq: jq skipped"; fi
else
    note "jq not available: jq skipped"
fi

# DuckDB: per-project count of records with code 403, explicit columns, 2 threads. The
# query time is measured inside Python (no interpreter start-up); RSS includes Python.
cat >"$TMP/duck.py" <<'EOF'
import sys, time, duckdb
source, fmt = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads = 2")
query = f"""
SELECT project_id, count(*) AS denied
FROM read_json('{source}', format = '{fmt}',
               columns = {{trace_id: 'VARCHAR', project_id: 'VARCHAR', code: 'VARCHAR'}})
WHERE code = '403'
GROUP BY project_id
"""
t = time.perf_counter()
rows = con.execute(query).fetchall()
secs = time.perf_counter() - t
print(f"seconds={secs:.6f}")
print(f"projects={len(rows)} code_403={sum(r[1] for r in rows)}")
EOF

# --- runs ---------------------------------------------------------------------------
MACHINE="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
note "machine: $MACHINE"
LOAD=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD" 'BEGIN { exit !(l > 0.5) }'; then
    note "warning: load average is $LOAD before the runs: other processes share the CPU, multi-thread figures will be low"
fi
CHECKS=()

# add_duckdb INPUT BYTES SOURCE FORMAT: registers DuckDB's query when DuckDB is there, and
# keeps its index in DUCK (empty without DuckDB) to find its output after the group ran.
add_duckdb() {
    DUCK=""
    [[ -n $DUCK_PY ]] || return 0
    add "duckdb read_json (2 threads)" "$1" "$2" "$RUNS" "$DUCK_PY" "$TMP/duck.py" "$3" "$4"
    DUCK=$((${#C_CMD[@]} - 1))
}

# check_duckdb NAME GROUP TALLY: DuckDB's 403 count in the group's last run, beside the
# generator's: the two must agree, or DuckDB's query did not read what permtrail read.
check_duckdb() {
    [[ -n $DUCK ]] || return 0
    local got want verdict
    got=$(grep '^projects=' "$TMP/last-out-$2-$DUCK" || echo '?')
    want=$(tally_field "$3" code_403_records)
    verdict=MISMATCH
    if [[ $got == *" code_403=$want" ]]; then verdict=ok; fi
    CHECKS+=("duckdb on $1: $got; tally code_403_records=$want -> $verdict")
}

J="jsonl $(numfmt --to=iec "$JSONL_SIZE")B"
add_permtrail "$JSONL" "$J" jsonl "$JSONL_SIZE"
add_duckdb "$J" "$JSONL_SIZE" "$JSONL" newline_delimited
add "wc -l" "$J" "$JSONL_SIZE" "$RUNS" wc -l "$JSONL"
# A command's standard output goes to a file kept for the cross-checks: these two write
# to /dev/null themselves, or the row would time writing 1 GiB to that file.
add "cat >/dev/null" "$J" "$JSONL_SIZE" "$RUNS" bash -c 'cat "$0" >/dev/null' "$JSONL"
if [[ -n $JQ ]]; then
    # jq is far slower: it reads a slice, once, and MB/s is that of the slice.
    SLICE=$JSONL
    SLICE_MAX=$(numfmt --from=iec "$JQ_SLICE")
    if ((JSONL_SIZE > SLICE_MAX)); then
        SLICE=$TMP/slice.jsonl
        # Whole records only: drop the line the cut falls into.
        head -c "$SLICE_MAX" "$JSONL" | head -n -1 >"$SLICE"
    fi
    SLICE_SIZE=$(wc -c <"$SLICE")
    add "jq 'select(.code==403).project_id'" "jsonl $(numfmt --to=iec "$SLICE_SIZE")B slice" "$SLICE_SIZE" 1 \
        bash -c "'$JQ' -r 'select(.code==403 or .code==\"403\") | .project_id' '$SLICE' | sort | uniq -c | wc -l"
fi
run_group jsonl
check_duckdb "$J" jsonl "$JSONL.tally.json"

if [[ $GZ == 1 ]]; then
    G="jsonl.gz $(numfmt --to=iec "$JSONL_SIZE")B (1 stream)"
    add_permtrail "$JSONL_GZ" "$G" gz "$JSONL_SIZE"
    add_duckdb "$G" "$JSONL_SIZE" "$JSONL_GZ" newline_delimited
    add "decode-only (zlib-rs stream, 1 thread)" "$G" "$JSONL_SIZE" "$RUNS" \
        "$GENERATE" --decode-only "$JSONL_GZ" --threads 1
    if command -v zcat >/dev/null; then
        # GNU gzip, for orientation only: once (it is slow).
        add "zcat >/dev/null" "$G" "$JSONL_SIZE" 1 bash -c 'zcat "$0" >/dev/null' "$JSONL_GZ"
    fi
    run_group gz
fi

# obs_group DIR GROUP: permtrail, DuckDB and decode-only on the OBS tree DIR.
obs_group() {
    local dir=$1 group=$2 size files label
    size=$(tally_field "$dir.tally.json" bytes)
    files=$(tally_field "$dir.tally.json" files)
    label="$group $files x .json.gz, $(numfmt --to=iec "$size")B"
    add_permtrail "$dir" "$label" "$group" "$size"
    # The glob leaves out the Digest/ files, which are not trace arrays.
    add_duckdb "$label" "$size" "$dir/**/*_CloudTrace_*.json.gz" array
    add "decode-only (libdeflate, 1 thread)" "$label" "$size" "$RUNS" \
        "$GENERATE" --decode-only "$dir" --threads 1
    add "decode-only (libdeflate, 2 threads)" "$label" "$size" "$RUNS" \
        "$GENERATE" --decode-only "$dir" --threads 2
    run_group "$group"
    check_duckdb "$group" "$group" "$dir.tally.json"
}
obs_group "$OBS" obs
if [[ $SMALL_OBS_BYTES != 0 ]]; then obs_group "$OBS_SMALL" obs-small; fi

# ECS traces only: every record takes the whole path (read, classify, de-duplicate,
# count), so this is the scan's cost per ECS trace, and what DuckDB does on such a file.
# jsonl_group FILE LABEL GROUP: permtrail and DuckDB on the JSON lines FILE, the input
# named "LABEL <size>B".
jsonl_group() {
    local file=$1 group=$3 size label
    size=$(tally_field "$file.tally.json" bytes)
    label="$2 $(numfmt --to=iec "$size")B"
    add_permtrail "$file" "$label" "$group" "$size"
    add_duckdb "$label" "$size" "$file" newline_delimited
    run_group "$group"
    check_duckdb "$label" "$group" "$file.tally.json"
}
if [[ $ECS_BYTES != 0 ]]; then jsonl_group "$ECS_JSONL" "ecs-only jsonl" ecs; fi

# An API Gateway access log: every line is split into its fields and classified by its
# path (an access log names no service to pass other services' calls over by), so this is
# the access-log reader's cost. No peer: DuckDB's CSV reader cannot split its layout (the
# bracketed time holds a space), and jq reads JSON only.
if [[ $APIG_BYTES != 0 ]]; then
    APIG_SIZE=$(tally_field "$APIG_LOG.tally.json" bytes)
    A="apig log $(numfmt --to=iec "$APIG_SIZE")B"
    add_permtrail "$APIG_LOG" "$A" apig "$APIG_SIZE"
    add "wc -l" "$A" "$APIG_SIZE" "$RUNS" wc -l "$APIG_LOG"
    run_group apig
fi

# The same mix over many projects: DuckDB's count hardly cares how many groups it keeps,
# while each record's project row (and its action rows) is then seldom in permtrail's
# caches, and the reports have a row per project.
if [[ $MANY_BYTES != 0 ]]; then jsonl_group "$MANY_JSONL" "jsonl $MANY_PROJECTS projects" many; fi

# --- table --------------------------------------------------------------------------
echo
echo "machine: $MACHINE; $(date -u +%Y-%m-%d); permtrail $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+local changes)')"
echo "build: $BUILD"
echo "load average before the runs: $LOAD, after: $(cut -d' ' -f1 /proc/loadavg)"
echo "MB/s = uncompressed input bytes / median seconds (1 MB = 10^6 bytes); ratio = tool MB/s / permtrail MB/s (all cores, same input)"
echo "each input's commands ran in $RUNS interleaved rounds (jq and zcat: once); seconds: median (fastest-slowest); peak RSS: the highest of the runs"
echo
printf '| %-40s | %-34s | %-22s | %8s | %7s | %14s |\n' tool input "seconds" "MB/s" ratio "peak RSS (MiB)"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..42})" "$(printf -- '-%.0s' {1..36})" \
    "$(printf -- '-%.0s' {1..24})" "$(printf -- '-%.0s' {1..9})-" "$(printf -- '-%.0s' {1..8})-" "$(printf -- '-%.0s' {1..15})-"
for row in "${ROWS[@]}"; do
    IFS='|' read -r tool input med min max bytes rss group runs <<<"$row"
    base=$(row_of "permtrail scan -q (-j" "$group" | cut -d'|' -f1)
    base_bytes=$(row_of "permtrail scan -q (-j" "$group" | cut -d'|' -f2)
    awk -v tool="$tool" -v input="$input" -v s="$med" -v lo="$min" -v hi="$max" -v n="$runs" \
        -v b="$bytes" -v rss="$rss" -v base="$base" -v bb="$base_bytes" 'BEGIN {
        mbs = b / s / 1e6
        ratio = (base == "") ? "-" : sprintf("%.2f", mbs / (bb / base / 1e6))
        r = (rss == "-" || rss == "") ? "-" : sprintf("%.0f", rss / 1024)
        secs = (n > 1) ? sprintf("%.3f (%.3f-%.3f)", s, lo, hi) : sprintf("%.3f", s)
        printf "| %-40s | %-34s | %-22s | %8.0f | %7s | %14s |\n", tool, input, secs, mbs, ratio, r
    }'
done

# --- targets ------------------------------------------------------------------------
# The performance targets, each a ratio of two medians of this run. A line is left out
# when one of its rows is missing (a peer skipped, GZ=0). A goal of "-" prints the ratio
# without a verdict.
echo
echo "targets (medians of this run):"
target() {
    local label=$1 goal=$2 unit=$3 a b
    a=$(row_of "$4" "$5") b=$(row_of "$6" "$7")
    [[ -n $a && -n $b ]] || return 0
    awk -v label="$label" -v goal="$goal" -v unit="$unit" -v a="$a" -v b="$b" 'BEGIN {
        split(a, x, "|"); split(b, y, "|")
        r = (x[2] / x[1]) / (y[2] / y[1])
        shown = (unit == "%") ? sprintf("%.0f%%", 100 * r) : sprintf("%.2fx", r)
        if (goal == "-") { printf "  %-52s %7s  (no target)\n", label, shown; exit }
        want = (unit == "%") ? sprintf(">= %.0f%%", 100 * goal) : sprintf(">= %.1fx", goal)
        printf "  %-52s %7s  (target %s) %s\n", label, shown, want, (r >= goal) ? "met" : "NOT MET"
    }'
}
ALL="permtrail scan -q (-j"
target "JSON lines: permtrail / DuckDB" 2 x "$ALL" jsonl "duckdb" jsonl
target "JSON lines: permtrail / wc -l" 0.4 % "$ALL" jsonl "wc -l" jsonl
target "JSON lines: -j$(nproc) / -j1" 1.8 x "$ALL" jsonl "permtrail scan -q -j1" jsonl
target "one .gz stream: permtrail / decode-only" 0.9 % "$ALL" gz "decode-only" gz
target "OBS tree: permtrail / decode-only (2 threads)" 0.9 % "$ALL" obs "decode-only (libdeflate, 2" obs
target "OBS tree: permtrail / DuckDB" 4 x "$ALL" obs "duckdb" obs
target "small-file OBS tree: permtrail / decode-only (2 thr)" 0.9 % "$ALL" obs-small "decode-only (libdeflate, 2" obs-small
target "small-file OBS tree: permtrail / DuckDB" 4 x "$ALL" obs-small "duckdb" obs-small
# Not a target: what naming a bucket's ECS folders gives against DuckDB.
target "ECS-only JSON lines: permtrail / DuckDB" - x "$ALL" ecs "duckdb" ecs
target "APIG access log: permtrail / wc -l" - % "$ALL" apig "wc -l" apig
target "JSON lines, $MANY_PROJECTS projects: permtrail / DuckDB" - x "$ALL" many "duckdb" many
PEAK=0
for row in "${ROWS[@]}"; do
    IFS='|' read -r tool _ _ _ _ _ rss _ _ <<<"$row"
    if [[ $tool == permtrail* && $rss != "-" ]] && ((rss > PEAK)); then PEAK=$rss; fi
done
if ((PEAK > 0)); then
    awk -v k="$PEAK" 'BEGIN { printf "  %-52s %4.0f MiB  (target <= 100 MiB) %s\n", "peak RSS of permtrail, any run above", k / 1024, (k <= 102400) ? "met" : "NOT MET" }'
fi

# --- what the targets leave ---------------------------------------------------------
# A target that bounds the run's time gives the scan that time on every core, as CPU.
# Less what no scan can skip (inflating, for the gzip inputs: decode-only on one thread),
# the rest is what validating, reading, classifying and counting every decoded byte may
# take: the speed per core it asks of that work, beside the speed it ran at in this run
# (the `-j1` scan's time less decode-only's) and `wc -l` on the JSON lines, which only
# counts newlines.
echo
echo "what each time target leaves the analysis (CPU of $(nproc) cores in the time allowed, less inflating):"
WC=$(row_of "wc -l" jsonl)
# budget LABEL FACTOR LIMIT_TOOL GROUP [DECODE_TOOL]: the target "the scan of GROUP is
# FACTOR times as fast as LIMIT_TOOL" (a share when below 1).
budget() {
    local label=$1 factor=$2 limit one decode=""
    limit=$(row_of "$3" "$4") one=$(row_of "permtrail scan -q -j1" "$4")
    if [[ -n ${5:-} ]]; then
        decode=$(row_of "$5" "$4")
        [[ -n $decode ]] || return 0
    fi
    [[ -n $limit && -n $one ]] || return 0
    awk -v label="$label" -v f="$factor" -v n="$(nproc)" -v limit="$limit" -v one="$one" \
        -v decode="$decode" -v wc="$WC" 'BEGIN {
        split(limit, l, "|"); split(one, o, "|")
        d = 0
        if (decode != "") { split(decode, x, "|"); d = x[1] }
        allowed = l[1] / f
        left = n * allowed - d
        ran = (o[1] > d) ? o[2] / (o[1] - d) / 1e9 : 0
        asks = (left > 0) ? sprintf("%.2f GB/s", o[2] / left / 1e9) : "more than all of it"
        line = sprintf("  %-44s %.3f s x %d cores - %.3f s inflating = %.3f s: asks %s per core, ran at %.2f GB/s",
            label, allowed, n, d, left, asks, ran)
        if (wc != "") { split(wc, w, "|"); line = line sprintf(" (wc -l: %.2f GB/s)", w[2] / w[1] / 1e9) }
        print line
    }'
}
budget "JSON lines, 2x DuckDB" 2 "duckdb" jsonl
budget "JSON lines, 40% of wc -l" 0.4 "wc -l" jsonl
budget "one .gz stream, 90% of decode-only" 0.9 "decode-only" gz "decode-only"
budget "OBS tree, 90% of decode-only (2 threads)" 0.9 "decode-only (libdeflate, 2" obs "decode-only (libdeflate, 1"
budget "OBS tree, 4x DuckDB" 4 "duckdb" obs "decode-only (libdeflate, 1"
budget "small-file OBS tree, 90% of decode-only" 0.9 "decode-only (libdeflate, 2" obs-small "decode-only (libdeflate, 1"
budget "small-file OBS tree, 4x DuckDB" 4 "duckdb" obs-small "decode-only (libdeflate, 1"

# --- cross-checks -------------------------------------------------------------------
echo
check_reports() {
    local dir=$1 tally=$2 name=$3
    # Other services' traces are not in projects.csv: compare with the unique ECS records.
    awk -F, -v name="$name" -v uniq="$(tally_field "$tally" ecs)" \
        -v denied="$(tally_field "$tally" denied)" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { r += $col["records"]; d += $col["denied"] } END {
        printf "check %s: permtrail records %d denied %d; generator tally unique ECS %d denied %d -> %s\n",
            name, r, d, uniq, denied, (r == uniq && d == denied) ? "ok" : "MISMATCH"
    }' "$dir/projects.csv"
}
check_reports "$TMP/report-jsonl" "$JSONL.tally.json" jsonl
check_reports "$TMP/report-obs" "$OBS.tally.json" obs
if [[ $SMALL_OBS_BYTES != 0 ]]; then check_reports "$TMP/report-obs-small" "$OBS_SMALL.tally.json" obs-small; fi
if [[ $ECS_BYTES != 0 ]]; then check_reports "$TMP/report-ecs" "$ECS_JSONL.tally.json" ecs; fi
if [[ $MANY_BYTES != 0 ]]; then check_reports "$TMP/report-many" "$MANY_JSONL.tally.json" many; fi
if [[ $APIG_BYTES != 0 ]]; then
    # Every line of an access log is a record of its project, ECS or not.
    awk -F, -v all="$(tally_field "$APIG_LOG.tally.json" records)" \
        -v denied="$(tally_field "$APIG_LOG.tally.json" denied)" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { r += $col["records"]; d += $col["denied"] } END {
        printf "check apig: permtrail records %d denied %d; generator tally records %d denied %d -> %s\n",
            r, d, all, denied, (r == all && d == denied) ? "ok" : "MISMATCH"
    }' "$TMP/report-apig/projects.csv"
fi
# Profile-guided optimisation changes how the code is laid out, never what it does.
for group in "${PLAIN_GROUPS[@]}"; do
    verdict=MISMATCH
    if diff -r "$TMP/report-$group" "$TMP/report-$group-plain" >/dev/null; then verdict=ok; fi
    CHECKS+=("profile-guided and plain builds on $group: reports $verdict")
done
for c in "${CHECKS[@]}"; do echo "check $c"; done

#!/usr/bin/env bash
# Instructions a scan executes per record and per byte, counted by Valgrind (cachegrind,
# without its cache simulation) on small generated inputs. Unlike seconds, the count does
# not move with the machine's load or clock: on a shared machine whose speed swings by a
# fifth from one minute to the next, it shows a change of 1% in the work done. It is not
# a speed: cache misses, branch mispredictions and SIMD width do not show in it, so a
# change is still confirmed in seconds (compare.sh) before it counts as faster.
#
#   benches/instructions.sh                       # the current build
#   BASE=/path/to/permtrail benches/instructions.sh   # and another build, side by side
#
# Environment (all optional):
#   BASE=FILE          a second permtrail binary to count the same runs with (e.g. a build
#                      of an earlier commit); the table then shows the change
#   BYTES=32M          size of each input (uncompressed)
#   SEED=42            generator seed; PROJECTS=200, USERS=500
#   BENCH_DATA=DIR     where inputs are kept between runs (default: $CARGO_TARGET_DIR/bench-data)
#   NO_INSTALL=1       never install Valgrind; stop with a notice if it is missing
#   CARGO_TARGET_DIR   build directory (default: target/)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
BYTES=${BYTES:-32M}
SEED=${SEED:-42}
PROJECTS=${PROJECTS:-200}
USERS=${USERS:-500}
DATA=${BENCH_DATA:-$TARGET/bench-data}
BASE=${BASE:-}

note() { printf 'instructions: %s\n' "$*" >&2; }

if ! command -v valgrind >/dev/null; then
    if [[ ${NO_INSTALL:-0} != 1 ]] && command -v apt-get >/dev/null; then
        note "installing valgrind"
        SUDO=$([[ $(id -u) == 0 ]] && echo "" || echo sudo)
        $SUDO apt-get install -y -qq valgrind >/dev/null
    fi
    command -v valgrind >/dev/null || {
        note "valgrind is not installed: nothing to count"
        exit 1
    }
fi
if [[ -n $BASE && ! -x $BASE ]]; then
    note "BASE=$BASE is no executable"
    exit 1
fi

note "building permtrail and the generator (release) in $TARGET"
cargo build --release --quiet --bin permtrail --example generate
PERMTRAIL=$TARGET/release/permtrail GENERATE=$TARGET/release/examples/generate

mkdir -p "$DATA"
GEN_ARGS=(--seed "$SEED" --projects "$PROJECTS" --users "$USERS" --bytes "$BYTES")
JSONL=$DATA/count-cts-$BYTES-s$SEED-p$PROJECTS.jsonl
OBS=$DATA/count-obs-$BYTES-f4M-s$SEED-p$PROJECTS
ECS=$DATA/count-cts-ecs-$BYTES-s$SEED-p$PROJECTS.jsonl
APIG=$DATA/count-apig-$BYTES-s$SEED-p$PROJECTS.log
[[ -s $JSONL.tally.json ]] || "$GENERATE" --kind jsonl --out "$JSONL" "${GEN_ARGS[@]}"
[[ -s $ECS.tally.json ]] || "$GENERATE" --kind jsonl --ecs-share 1 --out "$ECS" "${GEN_ARGS[@]}"
[[ -s $APIG.tally.json ]] || "$GENERATE" --kind apig --out "$APIG" "${GEN_ARGS[@]}"
if [[ ! -s $OBS.tally.json ]]; then
    rm -rf "$OBS"
    "$GENERATE" --kind obs --out "$OBS" --file-bytes 4M "${GEN_ARGS[@]}"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/permtrail-instructions.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
: >"$TMP/empty.jsonl"

tally_field() { sed -n "s/^  \"$2\": \\([0-9]*\\),\$/\\1/p" "$1"; }

# Instructions of one single-threaded scan of $2 by the binary $1.
count() {
    rm -rf "$TMP/out"
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$1" scan -q -j1 --out "$TMP/out" "$2" 2>&1 >/dev/null |
        sed -n 's/^==[0-9]*== I *refs: *\([0-9,]*\)$/\1/p' | tr -d ,
}

# Per record and per byte, after the fixed cost of a run (start-up, catalog, reports).
row() {
    local name=$1 input=$2 tally=$3 bin=$4 fixed=$5
    local records bytes total
    records=$(tally_field "$tally" records)
    bytes=$(tally_field "$tally" bytes)
    total=$(count "$bin" "$input")
    awk -v n="$name" -v r="$records" -v b="$bytes" -v t="$total" -v f="$fixed" 'BEGIN {
        printf "%-26s %10d %12d %14d %10.0f %8.2f\n", n, r, b, t, (t - f) / r, (t - f) / b
    }'
}

table() {
    local bin=$1 label=$2 fixed
    fixed=$(count "$bin" "$TMP/empty.jsonl")
    printf '%s (%s), fixed cost of a run: %s instructions\n' "$label" "$bin" "$fixed"
    printf '%-26s %10s %12s %14s %10s %8s\n' input records bytes instructions per-record per-byte
    row "CTS JSON lines" "$JSONL" "$JSONL.tally.json" "$bin" "$fixed"
    row "CTS JSON lines, ECS only" "$ECS" "$ECS.tally.json" "$bin" "$fixed"
    row "OBS tree, 4 MiB files" "$OBS" "$OBS.tally.json" "$bin" "$fixed"
    row "APIG access log" "$APIG" "$APIG.tally.json" "$bin" "$fixed"
}

table "$PERMTRAIL" "this build" | tee "$TMP/this"
if [[ -n $BASE ]]; then
    echo
    table "$BASE" "BASE" | tee "$TMP/base"
    echo
    echo "change per record, this build against BASE:"
    paste <(tail -n 4 "$TMP/this") <(tail -n 4 "$TMP/base") | awk -F'\t' '{
        n = split($1, x, " "); split($2, y, " ")
        printf "  %s %+.1f%%\n", substr($1, 1, 26), 100 * (x[n - 1] / y[n - 1] - 1)
    }'
fi

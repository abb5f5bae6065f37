#!/usr/bin/env bash
# Soak at scale: generates SOAK_BYTES (default 8G) of CTS JSON lines plus a tenth of that
# as an OBS tree of .json.gz arrays, scans them once, samples permtrail's resident memory
# every half second, and checks the reports against the generator's tally.
#   SOAK_BYTES=8G benches/soak.sh   # prints the RSS curve and the checks
# PROJECTS (default 100) and USERS (default 500) set the distinct keys; SOAK_DATA the folder.
# Then a bad day: BAD_DAY_BYTES (default 1G; 0 skips) of JSON lines where every record is a
# denied ECS call, scanned on its own, with its peak RSS and counts checked the same way.
# PERMTRAIL=path soaks that binary instead of the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_BYTES="${SOAK_BYTES:-8G}"
TARGET="${CARGO_TARGET_DIR:-target}"
DATA="${SOAK_DATA:-$TARGET/soak-data}"
mkdir -p "$DATA"
cargo build --release -q
cargo build --release -q --example generate
# PERMTRAIL: another permtrail binary to soak (the build of scripts/build-pgo.sh, say).
BIN="${PERMTRAIL:-$TARGET/release/permtrail}"
GEN="$TARGET/release/examples/generate"
to_bytes() { numfmt --from=iec "$1"; }
obs_bytes=$(( $(to_bytes "$SOAK_BYTES") / 10 ))
jsonl="$DATA/soak-$SOAK_BYTES-p${PROJECTS:-100}-u${USERS:-500}.jsonl"
obs="$DATA/soak-$SOAK_BYTES-p${PROJECTS:-100}-u${USERS:-500}-obs"
[ -f "$jsonl" ] || "$GEN" --kind jsonl --out "$jsonl" --bytes "$SOAK_BYTES" --seed 7 --projects "${PROJECTS:-100}" --users "${USERS:-500}"
[ -d "$obs" ] || "$GEN" --kind obs --out "$obs" --bytes "$obs_bytes" --seed 8 --projects "${PROJECTS:-100}" --users "${USERS:-500}"
out="$DATA/report"
curve="$DATA/rss.csv"
echo "seconds,rss_mib" > "$curve"
start=$(date +%s.%N)
/usr/bin/time -v "$BIN" scan -q -o "$out" "$jsonl" "$obs" 2> "$DATA/time.txt" &
wrapper=$!
sleep 0.2
pid=$(pgrep -P "$wrapper" permtrail || true)
while kill -0 "$wrapper" 2>/dev/null; do
  if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    now=$(date +%s.%N)
    printf '%.1f,%d\n' "$(echo "$now - $start" | bc)" "$(( ${rss:-0} / 1024 ))" >> "$curve"
  fi
  sleep 0.5
done
wait "$wrapper" || true
grep -E "Elapsed|Maximum resident" "$DATA/time.txt"
echo "RSS curve ($curve), every 10th sample:"
awk 'NR == 1 || NR % 10 == 2' "$curve"
bytes=$(du -cb "$jsonl" | tail -1 | cut -f1)
echo "input: $(numfmt --to=iec "$bytes") JSON lines + $(du -sh "$obs" | cut -f1) gzip OBS tree"
# check PROJECTS_CSV TALLY...: permtrail's projects.csv totals against the generators'.
check() {
python3 - "$@" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tallies = [json.load(open(p)) for p in sys.argv[2:]]
records = sum(int(r["records"]) for r in rows)
denied = sum(int(r["denied"]) for r in rows)
def total(key):
    return sum(t.get(key, 0) for t in tallies)
# Other services' traces are counted in the summary only, not in projects.csv.
print(f"records: permtrail {records}, generator unique ECS {total('ecs')}")
print(f"denied:  permtrail {denied}, generator {total('denied')}")
print("counts:", "ok" if (records, denied) == (total("ecs"), total("denied")) else "MISMATCH")
PY
}
# The peak RSS in a `/usr/bin/time -v` report against the 100 MiB limit.
rss_check() {
  awk '/Maximum resident/ { printf "peak RSS %.1f MiB: %s\n", $NF / 1024, ($NF <= 102400) ? "within 100 MiB" : "OVER 100 MiB" }' "$1"
}
check "$out/projects.csv" "$jsonl.tally.json" "$obs.tally.json"
rss_check "$DATA/time.txt"

# A bad day: BAD_DAY_BYTES (default 1G, 0 skips it) of JSON lines in which every record
# is an ECS call and every call is denied, so that denied_calls.csv gets a row per
# record; the same memory limit holds.
BAD_DAY_BYTES="${BAD_DAY_BYTES:-1G}"
if [ "$BAD_DAY_BYTES" != 0 ]; then
  bad="$DATA/denials-$BAD_DAY_BYTES.jsonl"
  [ -f "$bad" ] || "$GEN" --kind jsonl --out "$bad" --bytes "$BAD_DAY_BYTES" --seed 9 --ecs-share 1 --denial-rate 1
  cat "$bad" > /dev/null
  /usr/bin/time -v "$BIN" scan -q -o "$DATA/report-bad-day" "$bad" 2> "$DATA/time-bad-day.txt" || true
  echo "bad day: $(numfmt --to=iec "$(stat -c %s "$bad")") of JSON lines, every record a denied ECS call"
  grep -E "Elapsed|Maximum resident" "$DATA/time-bad-day.txt"
  check "$DATA/report-bad-day/projects.csv" "$bad.tally.json"
  echo "denied_calls.csv rows: $(( $(wc -l < "$DATA/report-bad-day/denied_calls.csv") - 1 ))"
  rss_check "$DATA/time-bad-day.txt"
fi

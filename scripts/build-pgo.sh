#!/usr/bin/env bash
# Builds permtrail with profile-guided optimisation (PGO), the build to deploy for nightly
# jobs: the same portable code as `cargo build --release` (no CPU-specific instructions),
# laid out and inlined by the compiler after watching it scan. How much faster it runs
# than the plain release build: README.md, "Performance".
#
#   scripts/build-pgo.sh                  # -> $CARGO_TARGET_DIR/pgo/<host>/release/permtrail
#   scripts/build-pgo.sh ~/trails/sample  # ... trained on your own logs as well
#
# Steps: an instrumented build (`-Cprofile-generate`), scans of generated training inputs
# (every input kind: CTS JSON lines, ECS traces only, a bad day of denials, an OBS tree of
# .json.gz arrays, a gzip stream, an APIG log) and of the bundled samples, plus any paths
# given as arguments, then the profiles merged with the toolchain's own `llvm-profdata`
# and the optimised build (`-Cprofile-use`). The generator's example binary is built the
# same way, so that `benches/compare.sh` can time decode-only runs with the same code.
# Training seeds differ from the benchmarks' (42), so the benchmarks do not scan the
# inputs the profile came from.
#
# Needs the `llvm-tools` component of the active toolchain (installed with rustup when
# missing: a profile must be merged by the LLVM that rustc itself uses). cargo-pgo wraps
# the same three steps; it is not used, to keep the build to rustup and cargo.
#
# Environment (all optional):
#   CARGO_TARGET_DIR   build directory (default: target/); uses pgo-train/, pgo/, pgo-work/ in it
#   TRAIN_BYTES=64M    size of the generated JSON-lines mix (the other inputs are 16-48 MiB)
#   LLVM_PROFDATA      an llvm-profdata to use instead of llvm-tools' (same LLVM as rustc)
#   CARGO_PROFILE_RELEASE_LTO=fat, CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
#                      cargo's own settings, for both builds (Cargo.toml's release
#                      profile, thin and 4, builds faster for everyday use)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TRAIN_BYTES=${TRAIN_BYTES:-64M}
WORK=$TARGET/pgo-work

host=$(rustc -vV | sed -n 's/^host: //p')
profdata=${LLVM_PROFDATA:-"$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"}
if [[ ! -x $profdata && -z ${LLVM_PROFDATA:-} ]] && command -v rustup >/dev/null; then
    echo "installing the llvm-tools component (for llvm-profdata)" >&2
    rustup component add llvm-tools >&2 || true
fi
if [[ ! -x $profdata ]]; then
    echo "error: no llvm-profdata at $profdata. Install rustup's llvm-tools component" >&2
    echo "(rustup component add llvm-tools), or set LLVM_PROFDATA to an llvm-profdata of" >&2
    echo "the LLVM version rustc reports (rustc -vV)." >&2
    exit 1
fi

# The build to deploy may take longer than the everyday release build: one code unit
# optimised across all crates gave 3% fewer instructions per record on top of the profile.
export CARGO_PROFILE_RELEASE_LTO=${CARGO_PROFILE_RELEASE_LTO:-fat}
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-1}

# The caller's RUSTFLAGS (split at spaces, as cargo splits them) and one flag more, in
# cargo's encoded form, so that a build directory whose path holds a space stays one flag.
flags_with() {
    local -a flags
    read -r -a flags <<<"${RUSTFLAGS:-}"
    flags+=("$1")
    local IFS=$'\x1f'
    printf '%s' "${flags[*]}"
}

rm -rf "$WORK"
mkdir -p "$WORK/profiles" "$WORK/throwaway" "$WORK/inputs"

# 1. Instrumented build. RUSTFLAGS reach every crate, so the decoders (zlib-rs) and the
#    other dependencies are trained too; with `--target` named, they do not reach build
#    scripts and proc macros, which would write profiles of the build itself.
echo "pgo: instrumented build" >&2
CARGO_ENCODED_RUSTFLAGS=$(flags_with "-Cprofile-generate=$WORK/profiles") \
    CARGO_TARGET_DIR=$TARGET/pgo-train cargo build --release --locked --quiet --target "$host" --bin permtrail --example generate
TRAIN=$TARGET/pgo-train/$host/release

# 2. Training inputs. The generator's own profile would only describe writing JSON: it
#    goes to a directory that is not merged.
gen() {
    LLVM_PROFILE_FILE="$WORK/throwaway/%p.profraw" \
        "$TRAIN/examples/generate" "$@" >/dev/null
}
in=$WORK/inputs
echo "pgo: generating training inputs" >&2
gen --kind jsonl --out "$in/mix.jsonl" --bytes "$TRAIN_BYTES" --seed 7 --projects 300
gen --kind jsonl --out "$in/many.jsonl" --bytes 16M --seed 8 --projects 5000
gen --kind jsonl --ecs-share 1 --out "$in/ecs.jsonl" --bytes 24M --seed 9
gen --kind jsonl --ecs-share 1 --denial-rate 1 --out "$in/bad.jsonl" --bytes 16M --seed 10
gen --kind jsonl --gzip --out "$in/mix.jsonl.gz" --bytes 24M --seed 11
gen --kind obs --out "$in/obs" --bytes 48M --seed 12
gen --kind apig --out "$in/apig.log" --bytes 24M --seed 13

# 3. Training scans, each input alone (as a nightly job reads one kind), on two threads
#    so that the hand-over between reader and workers is profiled too.
echo "pgo: training" >&2
train() {
    rm -rf "$WORK/report"
    LLVM_PROFILE_FILE="$WORK/profiles/%m-%p.profraw" \
        "$TRAIN/permtrail" scan -q -j2 --out "$WORK/report" "$@" >/dev/null
}
for input in "$in/mix.jsonl" "$in/many.jsonl" "$in/ecs.jsonl" "$in/bad.jsonl" \
    "$in/mix.jsonl.gz" "$in/obs" "$in/apig.log" samples "$@"; do
    # A scan that names damaged input exits 2 after writing its reports; that still
    # profiles the run.
    train "$input" || [[ $? == 2 ]]
done

# 4. Merge, and the optimised build.
"$profdata" merge -o "$WORK/permtrail.profdata" "$WORK/profiles"
echo "pgo: optimised build" >&2
# `permtrail --version` says "profile-guided build" (src/cli.rs).
PERMTRAIL_PGO_BUILD=1 CARGO_ENCODED_RUSTFLAGS=$(flags_with "-Cprofile-use=$WORK/permtrail.profdata") \
    CARGO_TARGET_DIR=$TARGET/pgo cargo build --release --locked --quiet --target "$host" --bin permtrail --example generate
rm -rf "$WORK/inputs" "$WORK/report" "$WORK/throwaway"
echo "$TARGET/pgo/$host/release/permtrail"

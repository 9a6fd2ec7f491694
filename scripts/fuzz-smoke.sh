#!/usr/bin/env bash
# Smoke-runs every cargo-fuzz target in fuzz/ for a short while each, one after the other.
#
#   scripts/fuzz-smoke.sh                 # 20 seconds per target
#   FUZZ_SECONDS=120 scripts/fuzz-smoke.sh
#   scripts/fuzz-smoke.sh text_parsers    # only the named targets
#   FUZZ_BUILD_ONLY=1 scripts/fuzz-smoke.sh   # builds the targets, runs none
#
# Works on a stable toolchain: RUSTC_BOOTSTRAP=1 unlocks the nightly-only flags that cargo-fuzz
# passes to rustc (-Zsanitizer=address and friends). Installs cargo-fuzz if it is missing, and
# skips fuzzing (successfully) if that fails. Each target first writes its seed inputs, built
# from the real types, into fuzz/corpus/<target>/ (CAIRN_FUZZ_SEEDS; see fuzz/src/lib.rs).
# Exits non-zero on the first crash; the crashing input is in fuzz/artifacts/<target>/.
set -euo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    if ! cargo install cargo-fuzz --locked; then
        # No network or no C++ compiler: the rest of the checks still count.
        echo "fuzz-smoke: cargo-fuzz could not be installed: fuzzing is skipped" >&2
        exit 0
    fi
fi

export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    while IFS= read -r target; do
        targets+=("$target")
    done < <(cargo fuzz list)
fi

# One build for all targets, so that the time limits below are spent fuzzing.
cargo fuzz build
if [ "${FUZZ_BUILD_ONLY:-0}" = 1 ]; then
    echo "fuzz-smoke: targets built" >&2
    exit 0
fi

for target in "${targets[@]}"; do
    echo "fuzz-smoke: ${target} for ${FUZZ_SECONDS}s" >&2
    mkdir -p "corpus/${target}"
    # The target writes its seed inputs (built from the real types) into its corpus first.
    CAIRN_FUZZ_SEEDS="$PWD/corpus/${target}" cargo fuzz run "$target" -- \
        -max_total_time="$FUZZ_SECONDS" \
        -print_final_stats=1
done
echo "fuzz-smoke: ${#targets[@]} targets, no crash" >&2

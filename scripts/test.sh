#!/usr/bin/env bash
# Runs every check of Cairn: formatting, lints, all tests, and a short fuzzing pass over every
# decoder. This is the one entry point for checks, used by CI (.ci/run) and by developers.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 15; 0 skips fuzzing)
#   --quick          skips the slow tier: the end-to-end tests with real processes that run for
#                    over a minute (marked #[ignore = "slow tier ..."]); the full run includes them
set -euo pipefail
quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
fi
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

# With moto's S3 server installed, the oracle's S3 log store is built into the one workspace
# build (no second build) and its test runs with the others.
features=()
if command -v moto_server >/dev/null 2>&1; then
  features=(--features cairn-oracle/s3)
else
  echo "moto_server is not installed (pip install \"moto[server]\"): the S3 log store test is skipped"
fi

step "lint"
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

step "tests (unit, property, scenario, end-to-end)"
cargo test --workspace --locked "${features[@]}" 2>&1 | tee "$logs/quick.log"

if [ "$quick" = 0 ]; then
  # The slow tier: end-to-end tests with real processes (crates/cli/tests), each waiting on
  # block times more than it computes. They run in lanes at once, each test on its own ports;
  # the README-size devnet, the heaviest, runs alone after them. A slow-tier test in a file no
  # lane names fails the run, so none is skipped by mistake.
  lane_a=(oracle_e2e)
  lane_b=(oracle_faults devnet recovery supervisor roots_after_outage)
  alone=(devnet_default api_fairness)
  named=" ${lane_a[*]} ${lane_b[*]} ${alone[*]} "
  for file in $(grep -l 'ignore = "slow tier' crates/*/tests/*.rs); do
    name=$(basename "$file" .rs)
    if [ "$file" != "crates/cli/tests/$name.rs" ] || [[ "$named" != *" $name "* ]]; then
      echo "scripts/test.sh: $file has slow-tier tests that no lane runs: add it to a lane" >&2
      exit 1
    fi
  done
  # The same workspace build as above (same features): nothing is compiled again.
  lane() {
    local name=$1
    shift
    local rc=0
    for test in "$@"; do
      cargo test --workspace --locked "${features[@]}" --test "$test" -- --ignored \
        >"$logs/slow-$test.log" 2>&1 || rc=1
    done
    echo "$rc" >"$logs/lane-$name.rc"
  }
  # Meanwhile the fuzz targets build at the lowest priority, on the CPU the lanes leave idle
  # while they wait on block times (the build takes minutes; the fuzzing itself runs after).
  fuzz_build=
  if [ "${FUZZ_SECONDS:-15}" != "0" ] && [ -x scripts/fuzz-smoke.sh ]; then
    FUZZ_BUILD_ONLY=1 nice -n 19 scripts/fuzz-smoke.sh >"$logs/fuzz-build.log" 2>&1 &
    fuzz_build=$!
  fi
  step "slow tier: ${lane_a[*]} | ${lane_b[*]} at once, then ${alone[*]}"
  lane a "${lane_a[@]}" &
  lane_a_pid=$!
  lane b "${lane_b[@]}" &
  lane_b_pid=$!
  wait "$lane_a_pid" "$lane_b_pid"
  lane alone "${alone[@]}"
  if [ -n "$fuzz_build" ] && ! wait "$fuzz_build"; then
    # The fuzz smoke below builds again and shows why.
    tail -20 "$logs/fuzz-build.log"
  fi
  failed_lanes=0
  for test in "${lane_a[@]}" "${lane_b[@]}" "${alone[@]}"; do
    # Each test's own output, whole, in the order the lanes name them.
    printf '\n--- slow tier: %s ---\n' "$test"
    grep -v '^\s*Compiling\|^\s*Finished\|^\s*Blocking' "$logs/slow-$test.log" || true
  done
  for name in a b alone; do
    if [ "$(cat "$logs/lane-$name.rc")" != 0 ]; then
      failed_lanes=1
    fi
  done
  cat "$logs"/slow-*.log >>"$logs/quick.log"
  if [ "$failed_lanes" != 0 ]; then
    echo "scripts/test.sh: a slow-tier test failed (its output is above)" >&2
    exit 1
  fi
fi
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$logs/quick.log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$logs/quick.log" | awk '{s+=$1} END {print s+0}')

if [ "${FUZZ_SECONDS:-15}" != "0" ] && [ -x scripts/fuzz-smoke.sh ]; then
  step "fuzz smoke (${FUZZ_SECONDS:-15} s per target)"
  FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz-smoke.sh
fi

step "all checks passed"
echo "tests: ${passed} passed, ${failed} failed"

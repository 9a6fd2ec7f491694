#!/usr/bin/env bash
# Runs every check of Cairn: formatting, lints, all tests, and a short fuzzing pass over every
# decoder. This is the one entry point for checks, used by CI (.ci/run) and by developers.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 15; 0 skips fuzzing)
#   --quick          skips the slow tier: the end-to-end tests with real processes that run for
#                    over a minute (marked #[ignore = "slow tier ..."]); the full run includes them
set -euo pipefail
tier=(--include-ignored)
if [ "${1:-}" = "--quick" ]; then
  tier=()
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

step "tests (unit, property, scenario, end-to-end)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "${features[@]}" -- "${tier[@]}" 2>&1 | tee "$log"
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')

if [ "${FUZZ_SECONDS:-15}" != "0" ] && [ -x scripts/fuzz-smoke.sh ]; then
  step "fuzz smoke (${FUZZ_SECONDS:-15} s per target)"
  FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz-smoke.sh
fi

step "all checks passed"
echo "tests: ${passed} passed, ${failed} failed"

#!/usr/bin/env bash
# The project's one test command (README, .ci/run): installs what the tests need, builds the
# fixtures (cached), then runs the format, lint and test gates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets -- --test-threads="${TEST_THREADS:-2}"

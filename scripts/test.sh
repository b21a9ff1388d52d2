#!/usr/bin/env bash
# The project's one test command (README, .ci/run): installs what the tests need, builds the
# fixtures (cached), then runs the format, lint and test gates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# The engine builds alone, without the command line (no clap, no printing).
cargo clippy --lib --no-default-features -- -D warnings
# The full tier: every test, QEMU boots included (`cargo test` alone is the quick tier).
cargo test --all-targets --features boot-tests -- --test-threads="${TEST_THREADS:-2}"

#!/usr/bin/env bash
# The project's one test command (README, .ci/run): installs what the tests need, builds the
# fixtures (cached), then runs the format, lint and test gates. In CI (CI=true) or with
# --fuzz it then runs every cargo-fuzz target briefly (FUZZ_SECONDS each, default 10; an
# unoptimised build with debug assertions and overflow checks), installing cargo-fuzz if
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz=0
for arg in "$@"; do
    case $arg in
        --fuzz) fuzz=1 ;;
        *) echo "usage: scripts/test.sh [--fuzz]" >&2; exit 2 ;;
    esac
done
[ "${CI:-}" = true ] && fuzz=1
bash scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# The engine builds alone, without the command line (no clap, no printing).
cargo clippy --lib --no-default-features -- -D warnings
# The full tier: every test, QEMU boots included (`cargo test` alone is the quick tier).
cargo test --all-targets --features boot-tests -- --test-threads="${TEST_THREADS:-2}"
if [ "$fuzz" = 1 ]; then
    start=$(date +%s)
    # Unoptimised (-D: debug assertions and overflow checks) and without ASan: compiles in a
    # fraction of the release + ASan build; the seeds and 10 s per target are a smoke test
    # (scripts/fuzz.sh defaults to release + ASan for the long runs).
    FUZZ_SECONDS=${FUZZ_SECONDS:-10} FUZZ_BUILD=${FUZZ_BUILD:-dev} \
        FUZZ_SANITIZER=${FUZZ_SANITIZER:-none} FUZZ_INSTALL=1 bash scripts/fuzz.sh
    echo "fuzz smoke run: $(( $(date +%s) - start ))s"
fi

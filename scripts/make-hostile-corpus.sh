#!/usr/bin/env bash
# Builds the hostile-input corpus for tests/hostile_inputs.rs into $REMASTER_FIXTURES/hostile/
# (cached, never committed): truncated / bit-flipped / structurally patched copies of the
# fixture ISO, cpio streams with ../ and absolute names and huge size fields, xz/zstd bombs,
# corrupt ELF modules, bzImages and kmod RPMs, broken driver update disks. Each case is an
# input file plus the remaster command to run on it; see scripts/make-hostile-corpus.py for
# the list and the manifest format, docs/fuzzing.md for what the test asserts.
# Needs the fixture ISO, RPM and kmod fixtures (built here through their scripts, cached).
# Usage: scripts/make-hostile-corpus.sh [--force]     (prints the corpus directory)
. "$(dirname "$0")/lib.sh"

OUT=$REMASTER_FIXTURES/hostile
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$REMASTER_FIXTURES"

exec 9>"$REMASTER_FIXTURES/hostile.lock"
flock 9

"$here/build-fixture-iso.sh" >&2
"$here/build-kmod-fixtures.sh" >&2
"$here/build-rpm-fixtures.sh" >&2

inputs=(
    "$REMASTER_FIXTURES/iso/boot.iso"
    "$REMASTER_FIXTURES/kmod/cases/tiny_same.ko"
    "$REMASTER_FIXTURES/rpm/dd-good.iso"
    "$REMASTER_FIXTURES/rpm/dd-norhdd3.iso"
    "$REMASTER_FIXTURES/kernel/$FIXTURE_KVER/boot/vmlinuz-$FIXTURE_KVER"
)
stamp=$( {
    cat "$here/make-hostile-corpus.sh" "$here/make-hostile-corpus.py"
    cat "$REMASTER_FIXTURES/iso/stamp"
    stat -c '%n %s %Y' "${inputs[@]}" "$REMASTER_FIXTURES"/rpm/rpms/*.rpm
    echo "$FIXTURE_KVER"
} | sha256sum | cut -d' ' -f1)

if [ "${1:-}" != "--force" ] && [ -f "$OUT/manifest.json" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$stamp" ]; then
    log "cached: $OUT"
    printf '%s\n' "$OUT"
    exit 0
fi

log "building the hostile corpus in $OUT"
rm -rf "$OUT"
mkdir -p "$OUT"
python3 "$here/make-hostile-corpus.py" "$OUT" "$REMASTER_FIXTURES" "$FIXTURE_KVER"
# Inputs are read-only: the test also checks their hashes, but a writer that opened one for
# writing by mistake fails loudly here.
find "$OUT/inputs" -type f -exec chmod a-w {} +
echo "$stamp" >"$OUT/stamp"
printf '%s\n' "$OUT"

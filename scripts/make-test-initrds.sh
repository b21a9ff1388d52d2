#!/usr/bin/env bash
# Fixtures for the initrd tests and benchmark (cached under $REMASTER_FIXTURES):
#   make-test-initrds.sh kernel   unpack linux-image-$FIXTURE_KVER into $REMASTER_FIXTURES/kernel/$FIXTURE_KVER
#   make-test-initrds.sh bench    build $REMASTER_FIXTURES/initrd/bench.img: a ~100 MiB xz (CRC32,
#                                 dict 1 MiB, as dracut --xz) usr-merged initrd made of real module
#                                 files (.ko.xz, RHEL-style)
# Prints the path of what it made.
. "$(dirname "$0")/lib.sh"

kernel_dir=$REMASTER_FIXTURES/kernel/$FIXTURE_KVER

make_kernel() {
    extract_deb "linux-image-$FIXTURE_KVER" "$kernel_dir"
    printf '%s\n' "$kernel_dir"
}

make_bench() {
    local out=$REMASTER_FIXTURES/initrd/bench.img
    if [ ! -s "$out" ]; then
        make_kernel >/dev/null
        local stage
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        stage=$tmp/root
        mkdir -p "$stage/usr/lib/modules" "$stage/usr/bin" "$stage/usr/sbin" "$stage/usr/lib64" "$stage/etc"
        for l in lib:usr/lib bin:usr/bin sbin:usr/sbin lib64:usr/lib64; do ln -s "${l#*:}" "$stage/${l%%:*}"; done
        cp -a "$kernel_dir/lib/modules/$FIXTURE_KVER" "$stage/usr/lib/modules/"
        # RHEL-style: every module compressed on its own (.ko.xz, CRC32), as in a RHEL 9
        # initrd (Debian's whole 6.1 tree: a 76 MiB image), plus the non-driver part of the
        # tree as plain .ko files under a second version directory (+20 MiB): ~100 MiB.
        find "$stage/usr/lib/modules" -name '*.ko' -print0 |
            xargs -0 -r -P2 -n64 xz --check=crc32 --lzma2=dict=1MiB
        local plain=$stage/usr/lib/modules/$FIXTURE_KVER-plain/kernel
        mkdir -p "$plain"
        for d in fs net sound lib crypto arch; do
            cp -a "$kernel_dir/lib/modules/$FIXTURE_KVER/kernel/$d" "$plain/"
        done
        mkdir -p "$(dirname "$out")"
        (cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) |
            xz --check=crc32 --lzma2=dict=1MiB -T1 > "$out.tmp"
        mv "$out.tmp" "$out"
        log "built $out ($(stat -c %s "$out") bytes)"
    fi
    printf '%s\n' "$out"
}

case "${1:-}" in
    kernel) make_kernel ;;
    bench) make_bench ;;
    *) echo "usage: $0 kernel|bench" >&2; exit 2 ;;
esac

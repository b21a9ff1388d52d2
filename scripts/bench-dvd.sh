#!/usr/bin/env bash
# DVD-size benchmark (issue 13 §3): `remaster --add-dud` on the DVD-like fixture of
# scripts/build-fixture-dvd.sh (DVD_SIZE_GIB, default 9: BaseOS/AppStream + a 4.25 GiB
# multi-extent file), against anchors measured in the same run, and the same on the ~1 GiB
# boot fixture (FIXTURE_INSTALL_IMG_MB=900), so the ratios at both sizes can be compared:
#   md5sum   = md5sum of remaster's output (one read + hash of every byte: the floor of any
#              tool that implants the isomd5sum)
#   copy     = dd of the input to a new file with O_DIRECT writes and an fsync (what reading
#              the input and writing the output costs without any hashing: at DVD size the
#              disk, not the MD5, can be the floor)
#   pipeline = what one would script by hand: xorriso -boot_image any replay -update of both
#              initrd names, both configs, .treeinfo and an mtools-edited efiboot.img, then
#              implantisomd5 (the new files are taken from remaster's output, not timed)
# Prints seconds, peak RSS (KiB), the ratios and the load average. Timings are printed,
# never asserted. Disk: the fixture (~DVD_SIZE_GIB - 4 GiB on disk, its zero runs are
# holes) plus one output of DVD_SIZE_GIB at a time.
#   scripts/bench-dvd.sh                 (REPEAT=1 run each by default, best time counts)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REPEAT=${REPEAT:-1}
export DVD_SIZE_GIB=${DVD_SIZE_GIB:-9}
cd "$REPO_ROOT"
WORK=$(mktemp -d "$REMASTER_FIXTURES/.bench-dvd.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cargo build -q --release
BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/remaster
DVD=$(bash scripts/build-fixture-dvd.sh)
ONE=$(FIXTURE_INSTALL_IMG_MB=900 bash scripts/build-fixture-iso.sh)
DUD=$(bash scripts/build-rpm-fixtures.sh)/dd-good.iso
log "DVD $DVD ($(stat -c %s "$DVD") bytes), 1 GiB fixture $ONE ($(stat -c %s "$ONE") bytes), DUD $DUD"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"

# run_set NAME ISO: remaster, md5sum of its output, the pipeline; prints three result lines.
run_set() {
    local name=$1 iso=$2 w=$WORK/$1
    mkdir -p "$w"
    x() { xorriso -osirrox on -indev "$1" -extract "$2" "$3" >/dev/null 2>&1; chmod u+w "$3"; }
    # Preparation (not timed): our output gives the new initrd and configs.
    "$BIN" -q "$iso" --add-dud "$DUD" -o "$w/ours.iso" --force >/dev/null 2>&1
    x "$w/ours.iso" /isolinux/initrd.img "$w/initrd.new"
    x "$w/ours.iso" /isolinux/isolinux.cfg "$w/isolinux.cfg"
    x "$w/ours.iso" /EFI/BOOT/grub.cfg "$w/grub.cfg"
    x "$w/ours.iso" /.treeinfo "$w/treeinfo"
    x "$iso" /images/efiboot.img "$w/efiboot.img"
    bench_measure "remaster-$name" "$BIN" -q "$iso" --add-dud "$DUD" -o "$w/ours.iso" --force
    bench_measure "md5sum-$name" md5sum "$w/ours.iso"
    checkisomd5 "$w/ours.iso" >/dev/null 2>&1 || { log "checkisomd5 rejects remaster's output"; exit 1; }
    rm -f "$w/ours.iso"
    bench_measure "copy-$name" dd if="$iso" of="$w/copy.iso" bs=4M oflag=direct conv=fsync status=none
    rm -f "$w/copy.iso"
    bench_measure "pipeline-$name" sh -c '
        set -e; w=$0; iso=$1
        cp "$w/efiboot.img" "$w/efiboot.new"
        mcopy -o -i "$w/efiboot.new" "$w/grub.cfg" ::EFI/BOOT/grub.cfg
        rm -f "$w/pipe.iso"
        xorriso -indev "$iso" -outdev "$w/pipe.iso" -boot_image any replay \
            -update "$w/initrd.new" /isolinux/initrd.img -update "$w/initrd.new" /images/pxeboot/initrd.img \
            -update "$w/isolinux.cfg" /isolinux/isolinux.cfg -update "$w/grub.cfg" /EFI/BOOT/grub.cfg \
            -update "$w/efiboot.new" /images/efiboot.img -update "$w/treeinfo" /.treeinfo 2>/dev/null
        implantisomd5 --force "$w/pipe.iso"' "$w" "$iso"
    rm -rf "$w"
}

RESULTS=$({ run_set dvd "$DVD"; run_set 1gib "$ONE"; })
printf '%-16s %10s %12s\n' step seconds peak_rss_kib
printf '%-16s %10s %12s\n' $RESULTS
awk '{ t[$1] = $2; m[$1] = $3 } END {
    for (s = 0; s < 2; s++) {
        n = (s == 0 ? "dvd" : "1gib")
        o = t["remaster-" n]; d = t["md5sum-" n]; p = t["pipeline-" n]; c = t["copy-" n]
        printf "%-5s remaster / md5sum = %.2f   remaster / copy = %.2f   pipeline / remaster = %.2f\n", n, (d > 0 ? o / d : 0), (c > 0 ? o / c : 0), (o > 0 ? p / o : 0)
    }
    printf "peak RSS of remaster: DVD %d KiB, 1 GiB %d KiB (ratio %.2f)\n", m["remaster-dvd"], m["remaster-1gib"], (m["remaster-1gib"] > 0 ? m["remaster-dvd"] / m["remaster-1gib"] : 0)
}' <<<"$RESULTS"
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

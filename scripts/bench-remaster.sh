#!/usr/bin/env bash
# End-to-end benchmark of the main job on a ~1 GiB Rocky-like fixture, against anchors
# measured in the same run (issue 6):
#   floor    = md5sum of the output + `xz -dc` of the original initrd (the reading and
#              decompressing no tool can avoid)
#   pipeline = what one would script by hand: xorriso -boot_image any replay -update of both
#              initrd names, both configs, .treeinfo and a mtools-edited efiboot.img, then
#              implantisomd5
#              (the new initrd/configs are prepared beforehand and not timed)
# Prints seconds, peak RSS and the ratios. Not part of the test suite.
#   scripts/bench-remaster.sh            (REPEAT=3 runs each, best time counts)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REPEAT=${REPEAT:-3}
cd "$REPO_ROOT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-remaster.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cargo build -q --release
BIN=$REPO_ROOT/target/release/remaster
ISO=$(FIXTURE_INSTALL_IMG_MB=900 bash scripts/build-fixture-iso.sh)
DUD=$(bash scripts/build-rpm-fixtures.sh)/dd-good.iso
log "input $ISO ($(stat -c %s "$ISO") bytes), DUD $DUD"

# Preparation for the anchors (not timed): our output gives the new initrd and configs.
"$BIN" -q "$ISO" --add-dud "$DUD" -o "$WORK/ours.iso" --force >/dev/null 2>&1
x() { xorriso -osirrox on -indev "$1" -extract "$2" "$3" >/dev/null 2>&1; chmod u+w "$3"; }
x "$ISO" /isolinux/initrd.img "$WORK/initrd.orig"
x "$WORK/ours.iso" /isolinux/initrd.img "$WORK/initrd.new"
x "$WORK/ours.iso" /isolinux/isolinux.cfg "$WORK/isolinux.cfg"
x "$WORK/ours.iso" /EFI/BOOT/grub.cfg "$WORK/grub.cfg"
x "$WORK/ours.iso" /.treeinfo "$WORK/treeinfo"
x "$ISO" /images/efiboot.img "$WORK/efiboot.img"

R_OURS=$(bench_measure remaster "$BIN" -q "$ISO" --add-dud "$DUD" -o "$WORK/ours.iso" --force)
R_FLOOR_MD5=$(bench_measure floor-md5sum md5sum "$WORK/ours.iso")
R_FLOOR_XZ=$(bench_measure floor-xz-dc sh -c 'xz -dc "$0" >/dev/null' "$WORK/initrd.orig")
R_PIPE=$(bench_measure pipeline sh -c '
    set -e; w=$0; iso=$1
    cp "$w/efiboot.img" "$w/efiboot.new"
    mcopy -o -i "$w/efiboot.new" "$w/grub.cfg" ::EFI/BOOT/grub.cfg
    rm -f "$w/pipe.iso"
    xorriso -indev "$iso" -outdev "$w/pipe.iso" -boot_image any replay \
        -update "$w/initrd.new" /isolinux/initrd.img -update "$w/initrd.new" /images/pxeboot/initrd.img \
        -update "$w/isolinux.cfg" /isolinux/isolinux.cfg -update "$w/grub.cfg" /EFI/BOOT/grub.cfg \
        -update "$w/efiboot.new" /images/efiboot.img -update "$w/treeinfo" /.treeinfo 2>/dev/null
    implantisomd5 --force "$w/pipe.iso"' "$WORK" "$ISO")
checkisomd5 "$WORK/ours.iso" >/dev/null 2>&1 && checkisomd5 "$WORK/pipe.iso" >/dev/null 2>&1

printf '%-14s %10s %12s\n' step seconds peak_rss_kib
printf '%-14s %10s %12s\n' $R_OURS $R_FLOOR_MD5 $R_FLOOR_XZ $R_PIPE
read -r _ t_ours m_ours <<<"$R_OURS"; read -r _ t_md5 _ <<<"$R_FLOOR_MD5"
read -r _ t_xz _ <<<"$R_FLOOR_XZ"; read -r _ t_pipe m_pipe <<<"$R_PIPE"
awk -v o="$t_ours" -v m="$t_md5" -v x="$t_xz" -v p="$t_pipe" -v mo="$m_ours" -v mp="$m_pipe" 'BEGIN {
    f = m + x
    printf "remaster / floor    = %.2f  (goal <= 1.3)\n", (f > 0 ? o / f : 0)
    printf "pipeline / remaster = %.2f  (goal >= 3; at most pipeline / md5sum = %.2f for any tool that implants the isomd5sum)\n", (o > 0 ? p / o : 0), (m > 0 ? p / m : 0)
    printf "peak RSS: remaster %d KiB, pipeline %d KiB\n", mo, mp }'

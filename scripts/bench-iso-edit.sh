#!/usr/bin/env bash
# Benchmark for issue 3 (boot-preserving edits), on the ~1 GiB Rocky-like fixture:
#   remaster  = `remaster ISO --cmdline ARGS -o OUT --force`: edits isolinux.cfg, grub.cfg,
#               the grub.cfg inside efiboot.img and .treeinfo, re-implants the isomd5sum
#   pipeline  = the same edit by hand: mtools into a copy of efiboot.img, xorriso
#               `-boot_image any replay -update ...` of the four files, implantisomd5
#               (the edited files are taken from our output beforehand, not timed)
#   md5 floor = `md5sum` of the output: any tool that implants the isomd5sum hashes every
#               output byte once, so no edit can be faster than this
# Prints seconds, peak RSS and the ratios (best of REPEAT=3 runs, warm page cache). Not part
# of the test suite.   scripts/bench-iso-edit.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-iso-edit.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cargo build -q --release
BIN=$REPO_ROOT/target/release/remaster
ISO=$(FIXTURE_INSTALL_IMG_MB=900 bash scripts/build-fixture-iso.sh)
ARGS="inst.text remaster.bench=1"
log "input $ISO ($(stat -c %s "$ISO") bytes), --cmdline \"$ARGS\""

# Preparation for the pipeline (not timed): the edited files, from our output.
"$BIN" -q "$ISO" --cmdline "$ARGS" -o "$WORK/ours.iso" --force >/dev/null 2>&1
x() { xorriso -osirrox on -indev "$1" -extract "$2" "$3" >/dev/null 2>&1; chmod u+w "$3"; }
x "$WORK/ours.iso" /isolinux/isolinux.cfg "$WORK/isolinux.cfg"
x "$WORK/ours.iso" /EFI/BOOT/grub.cfg "$WORK/grub.cfg"
x "$WORK/ours.iso" /.treeinfo "$WORK/treeinfo"
x "$ISO" /images/efiboot.img "$WORK/efiboot.img"

R_OURS=$(bench_measure remaster "$BIN" -q "$ISO" --cmdline "$ARGS" -o "$WORK/ours.iso" --force)
R_PIPE=$(bench_measure pipeline sh -c '
    set -e; w=$0; iso=$1
    cp "$w/efiboot.img" "$w/efiboot.new"
    mcopy -o -i "$w/efiboot.new" "$w/grub.cfg" ::EFI/BOOT/grub.cfg
    rm -f "$w/pipe.iso"
    xorriso -indev "$iso" -outdev "$w/pipe.iso" -boot_image any replay \
        -update "$w/isolinux.cfg" /isolinux/isolinux.cfg -update "$w/grub.cfg" /EFI/BOOT/grub.cfg \
        -update "$w/efiboot.new" /images/efiboot.img -update "$w/treeinfo" /.treeinfo 2>/dev/null
    implantisomd5 --force "$w/pipe.iso"' "$WORK" "$ISO")
R_MD5=$(bench_measure md5-floor md5sum "$WORK/ours.iso")
checkisomd5 "$WORK/ours.iso" >/dev/null 2>&1 && checkisomd5 "$WORK/pipe.iso" >/dev/null 2>&1

printf '%-12s %10s %12s\n' step seconds peak_rss_kib
printf '%-12s %10s %12s\n' $R_OURS $R_PIPE $R_MD5
read -r _ t_ours m_ours <<<"$R_OURS"; read -r _ t_pipe m_pipe <<<"$R_PIPE"; read -r _ t_md5 _ <<<"$R_MD5"
awk -v o="$t_ours" -v p="$t_pipe" -v m="$t_md5" -v mo="$m_ours" -v mp="$m_pipe" 'BEGIN {
    printf "pipeline / remaster  = %.2f  (goal >= 3)\n", (o > 0 ? p / o : 0)
    printf "remaster / md5 floor = %.2f  (the best any isomd5sum-implanting tool can reach: pipeline / md5 floor = %.2f)\n", (m > 0 ? o / m : 0), (m > 0 ? p / m : 0)
    printf "peak RSS: remaster %d KiB, pipeline %d KiB (goal <= 100 MiB)\n", mo, mp }'
printf 'sizes: in %s, ours %s, pipeline %s bytes\n' "$(stat -c %s "$ISO")" "$(stat -c %s "$WORK/ours.iso")" "$(stat -c %s "$WORK/pipe.iso")"

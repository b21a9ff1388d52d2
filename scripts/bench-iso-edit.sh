#!/usr/bin/env bash
# Benchmark: our graft writer vs xorriso replay for the same edit on a ~1 GiB lorax-like
# ISO (append an overlay to both initrd names, replace isolinux.cfg, add a file, new volid,
# implant the MD5). Ours computes the isomd5sum on the fly (one pass); xorriso needs
# implantisomd5 afterwards. Prints wall time, peak RSS and the ratio. Not part of the test suite.
#   scripts/bench-iso-edit.sh [SIZE_MIB]      (default 1024)
# Each step runs REPEAT times (default 3); the best wall time and the largest RSS count.
# BENCH_DIR=dir keeps the work files there.
. "$(dirname "$0")/lib.sh"
SIZE_MIB=${1:-1024}
REPEAT=${REPEAT:-3}
if [ -n "${BENCH_DIR:-}" ]; then WORK=$BENCH_DIR; mkdir -p "$WORK"; else
    WORK=$(mktemp -d /tmp/bench-iso.XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
cd "$REPO_ROOT"

log "building the example (release)"
cargo build -q --release --example iso_edit
EDIT=$REPO_ROOT/target/release/examples/iso_edit

log "building a ${SIZE_MIB} MiB test ISO in $WORK"
T=$WORK/tree
mkdir -p "$T/isolinux" "$T/images/pxeboot" "$T/EFI/BOOT"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$T/isolinux/"
printf 'default linux\nlabel linux\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=Bench-9 quiet\n' >"$T/isolinux/isolinux.cfg"
head -c $((90 << 20)) /dev/urandom >"$T/images/pxeboot/initrd.img"
ln "$T/images/pxeboot/initrd.img" "$T/isolinux/initrd.img"
head -c $((12 << 20)) /dev/urandom >"$T/images/pxeboot/vmlinuz"
ln "$T/images/pxeboot/vmlinuz" "$T/isolinux/vmlinuz"
printf 'set timeout=1\n' >"$T/EFI/BOOT/grub.cfg"
head -c $(((SIZE_MIB - 110) << 20)) /dev/urandom >"$T/images/install.img"
mkfs.fat -C -n ANACONDA "$T/images/efiboot.img" 1440 >/dev/null
mmd -i "$T/images/efiboot.img" ::EFI ::EFI/BOOT
mcopy -i "$T/images/efiboot.img" "$T/EFI/BOOT/grub.cfg" ::EFI/BOOT/grub.cfg
xorriso -as mkisofs -o "$WORK/in.iso" -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -boot-load-size 4 -boot-info-table -no-emul-boot \
    -eltorito-alt-boot -e images/efiboot.img -no-emul-boot -isohybrid-gpt-basdat -R -J \
    -V Bench-9-x86_64 "$T" 2>/dev/null
implantisomd5 "$WORK/in.iso" >/dev/null
rm -rf "$T"

head -c $((3 << 20)) /dev/urandom >"$WORK/overlay.bin"
printf 'default linux\nlabel linux\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=Bench-9 inst.dd=/dd.iso quiet\n' >"$WORK/isolinux.cfg"
head -c $((2 << 20)) /dev/urandom >"$WORK/dd.iso"
# xorriso needs the whole new initrd as a file (preparation, not timed).
xorriso -osirrox on -indev "$WORK/in.iso" -extract /isolinux/initrd.img "$WORK/initrd.img" 2>/dev/null
chmod u+w "$WORK/initrd.img"
cat "$WORK/overlay.bin" >>"$WORK/initrd.img"

measure() { # LABEL CMD... → prints "LABEL best_seconds max_rss_kib"
    local label=$1; shift
    local best="" maxrss=0 i wall rss
    for ((i = 0; i < REPEAT; i++)); do
        sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
        /usr/bin/time -v "$@" >/dev/null 2>"$WORK/time.txt" || { cat "$WORK/time.txt" >&2; exit 1; }
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time.txt")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$wall; fi
        [ "$rss" -gt "$maxrss" ] && maxrss=$rss
    done
    printf '%s %s %s\n' "$label" "$best" "$maxrss"
}

R1=$(measure ours "$EDIT" edit "$WORK/in.iso" "$WORK/ours.iso" --append isolinux/initrd.img "$WORK/overlay.bin" \
    --replace isolinux/isolinux.cfg "$WORK/isolinux.cfg" --add dd.iso "$WORK/dd.iso" --volid Bench-9-new --md5 --force)
R3=$(measure xorriso sh -c 'rm -f "$0"; exec "$@"' "$WORK/xorriso.iso" xorriso -indev "$WORK/in.iso" -outdev "$WORK/xorriso.iso" -boot_image any replay -volid Bench-9-new \
    -update "$WORK/initrd.img" /isolinux/initrd.img -update "$WORK/initrd.img" /images/pxeboot/initrd.img \
    -update "$WORK/isolinux.cfg" /isolinux/isolinux.cfg -map "$WORK/dd.iso" /dd.iso)
R4=$(measure xorriso-md5 implantisomd5 --force "$WORK/xorriso.iso")
checkisomd5 "$WORK/ours.iso" >/dev/null && checkisomd5 "$WORK/xorriso.iso" >/dev/null

printf '%-12s %10s %12s\n' step seconds peak_rss_kib
printf '%-12s %10s %12s\n' $R1 $R3 $R4
read -r _ t1 m1 <<<"$R1"; read -r _ t3 m3 <<<"$R3"; read -r _ t4 _ <<<"$R4"
awk -v a="$t1" -v c="$t3" -v d="$t4" -v m1="$m1" -v m3="$m3" 'BEGIN {
    printf "write + md5: xorriso+implantisomd5 / ours = %.2fx faster\n", (a > 0 ? (c + d) / a : 0)
    printf "peak RSS:    ours %d KiB, xorriso %d KiB\n", m1, m3 }'
printf 'sizes: in %s, ours %s, xorriso %s bytes\n' "$(stat -c %s "$WORK/in.iso")" "$(stat -c %s "$WORK/ours.iso")" "$(stat -c %s "$WORK/xorriso.iso")"

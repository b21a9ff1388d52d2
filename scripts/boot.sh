#!/usr/bin/env bash
# Boot an ISO by hand the way the test matrix does (tests/common/boot.rs), with the serial
# console on this terminal (Ctrl-A X quits QEMU).
#
# Usage: scripts/boot.sh [--secure-boot] [--log FILE] ISO MODE [extra qemu args...]
#   MODE: bios-cd | uefi-cd | bios-usb | uefi-usb | uefi-usb-esp | usb-cd | bios-usb-cd
# Example (an emulated LSI MegaRAID HBA with a disk behind it):
#   scripts/boot.sh out.iso bios-cd -device megasas,id=hba \
#     -drive if=none,id=d0,file=disk.img,format=raw -device scsi-hd,drive=d0,bus=hba.0
set -euo pipefail
secure=0
log=
while [ $# -gt 0 ]; do
    case "$1" in
        --secure-boot) secure=1; shift ;;
        --log) log=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
iso=$(readlink -f "$1")
mode=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

args=(-accel tcg -cpu max -m 1024 -nographic -no-reboot -nodefaults -vga std)
if [ -n "$log" ]; then args+=(-monitor none -serial "file:$log"); else args+=(-serial mon:stdio); fi
case "$mode" in
    bios-*) args+=(-machine pc) ;;
    *)
        if [ $secure = 1 ]; then
            code=OVMF_CODE_4M.secboot.fd vars=OVMF_VARS_4M.ms.fd
            args+=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on)
        else
            code=OVMF_CODE_4M.fd vars=OVMF_VARS_4M.fd
            args+=(-machine q35)
        fi
        cp "/usr/share/OVMF/$vars" "$work/vars.fd"
        args+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/$code"
            -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd")
        ;;
esac
if [ "$mode" = uefi-usb-esp ]; then
    # Hide the El Torito boot record (sector 17) on a copy so OVMF boots the ESP (MBR p2).
    cp "$iso" "$work/esp.iso"
    printf 'NO' | dd of="$work/esp.iso" bs=1 seek=$((17 * 2048 + 7)) conv=notrunc status=none
    if checkisomd5 "$iso" >/dev/null 2>&1; then implantisomd5 --force "$work/esp.iso" >/dev/null; fi
    iso=$work/esp.iso
fi
case "$mode" in
    bios-cd) args+=(-drive "file=$iso,media=cdrom,readonly=on,if=ide,index=2,format=raw" -boot order=d) ;;
    uefi-cd) args+=(-drive "if=none,id=cd,file=$iso,media=cdrom,readonly=on,format=raw"
        -device ide-cd,drive=cd,bus=ide.0,bootindex=0) ;;
    bios-usb | uefi-usb | uefi-usb-esp) args+=(-device qemu-xhci,id=xhci
        -drive "if=none,id=stick,format=raw,file=$iso,snapshot=on"
        -device usb-storage,bus=xhci.0,drive=stick,bootindex=0) ;;
    usb-cd | bios-usb-cd) args+=(-device qemu-xhci,id=xhci -device usb-bot,id=bot,bus=xhci.0
        -drive "if=none,id=cd,file=$iso,media=cdrom,readonly=on,format=raw"
        -device scsi-cd,bus=bot.0,drive=cd,bootindex=0) ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
exec_start=$(date +%s)
qemu-system-x86_64 "${args[@]}" "$@"
echo "[boot.sh] $mode: qemu exited after $(($(date +%s) - exec_start)) s" >&2

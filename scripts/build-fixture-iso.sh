#!/usr/bin/env bash
# Build a faithful stand-in for Rocky Linux 9.2's boot.iso from Debian packages, following
# lorax's RHEL 9 recipe (x86.tmpl + efi.tmpl; see docs/fixtures.md and
# ../shared/reference/boot-iso-layout.md). Output (cached, rebuilt only when this script, the
# test init or the parameters change):
#
#   $REMASTER_FIXTURES/iso/boot.iso                 FIXTURE_INSTALL_IMG_MB unset (small, tests)
#   $REMASTER_FIXTURES/iso-<N>mb/boot.iso           FIXTURE_INSTALL_IMG_MB=N (e.g. 900, benchmarks)
#   .../sgdisk-v.baseline.txt                       pristine `sgdisk -v` output
#   .../xorriso-report.baseline.txt                 pristine El Torito + system area report
#   .../stamp                                       hash of the inputs
#
# Prints the ISO path on stdout. Usage: scripts/build-fixture-iso.sh [--force]
. "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
INIT_SCRIPT=$SCRIPT_DIR/fixture-init.sh
LABEL=Rocky-9-2-x86_64-dvd
PRODUCT="Rocky Linux"
VERSION=9.2
SMALL_INSTALL_IMG_MB=16
INSTALL_IMG_MB=${FIXTURE_INSTALL_IMG_MB:-$SMALL_INSTALL_IMG_MB}
EPOCH=${SOURCE_DATE_EPOCH:-1683849600} # 2023-05-12, Rocky 9.2's release
export SOURCE_DATE_EPOCH=$EPOCH
if [ "$INSTALL_IMG_MB" = "$SMALL_INSTALL_IMG_MB" ]; then
    OUT_DIR=$REMASTER_FIXTURES/iso
else
    OUT_DIR=$REMASTER_FIXTURES/iso-${INSTALL_IMG_MB}mb
fi
ISO=$OUT_DIR/boot.iso
KERNEL_DIR=$REMASTER_FIXTURES/kernel/$FIXTURE_KVER

# Modules the initrd carries (plus their dependencies): enough to reach the boot medium in all
# six boot modes (IDE/AHCI CD, xHCI USB disk, USB BOT CD-ROM) and mount it, plus loop for a
# driver-update image. Deliberately NOT megaraid_sas / mptsas / mpt3sas: a later test adds one
# through the driver update and expects the disk behind the emulated HBA to appear only then.
ROOT_MODULES="sd_mod sr_mod ata_piix ata_generic ahci xhci_pci ehci_pci uhci_hcd usb_storage uas
isofs loop crc32c_generic"

fixture_need xorrisofs implantisomd5 checkisomd5 mkfs.fat mcopy mmd cpio xz depmod modinfo sgdisk \
    busybox dpkg-deb sha256sum flock
[ -x /usr/lib/ISOLINUX/isolinux.bin ] || [ -f /usr/lib/ISOLINUX/isolinux.bin ] ||
    { log "isolinux missing: run scripts/setup.sh"; exit 1; }

stamp() {
    {
        sha256sum "$0" "$INIT_SCRIPT" "$SCRIPT_DIR/lib.sh" | cut -d' ' -f1
        echo "$FIXTURE_KVER $INSTALL_IMG_MB $EPOCH $LABEL"
    } | sha256sum | cut -d' ' -f1
}
STAMP=$(stamp)

mkdir -p "$OUT_DIR"
exec 9>"$OUT_DIR.lock"
flock 9 # concurrent test processes wait for one build
if [ "${1:-}" != "--force" ] && [ -f "$ISO" ] && [ "$(cat "$OUT_DIR/stamp" 2>/dev/null)" = "$STAMP" ]; then
    echo "$ISO"
    exit 0
fi
START=$(date +%s.%N)
log "building $ISO (kernel $FIXTURE_KVER, install.img ${INSTALL_IMG_MB} MiB)"

WORK=$(mktemp -d "$REMASTER_FIXTURES/.build-iso.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

extract_deb "linux-image-$FIXTURE_KVER" "$KERNEL_DIR"
VMLINUZ=$KERNEL_DIR/boot/vmlinuz-$FIXTURE_KVER
KMODS=$KERNEL_DIR/lib/modules/$FIXTURE_KVER
[ -f "$VMLINUZ" ] && [ -d "$KMODS/kernel" ] || { log "kernel unpack incomplete in $KERNEL_DIR"; exit 1; }

# ---------------------------------------------------------------- initrd
IR=$WORK/initrd
initrd_skeleton "$IR" "$INIT_SCRIPT"
printf '[Main]\nProduct=%s\nVersion=%s\nBugURL=your distribution provided bug reporting tool.\nIsFinal=True\nUUID=%s.x86_64\n[Compose]\nLorax=34.9.16-1\n' \
    "$PRODUCT" "$VERSION" "$EPOCH" >"$IR/.buildstamp"
printf 'NAME="%s"\nVERSION="%s (Blue Onyx)"\nID="rocky"\n' "$PRODUCT" "$VERSION" >"$IR/etc/initrd-release"
initrd_modules "$IR" "$FIXTURE_KVER" "$KMODS" "$ROOT_MODULES" "megaraid_sas mptsas mpt3sas"
initrd_pack "$IR" "$WORK/initrd.img" "$EPOCH"

# ---------------------------------------------------------------- configs
ROOT="inst.stage2=hd:LABEL=$LABEL"
CONSOLE="console=ttyS0,115200n8"
mkdir -p "$WORK/tree/isolinux" "$WORK/tree/images/pxeboot" "$WORK/tree/EFI/BOOT"
T=$WORK/tree

# isolinux.cfg: lorax's rhel9 menu (labels linux, check [default], Troubleshooting: text,
# rescue, memtest, local), plus `serial` and a 1 s timeout so tests can read the boot.
cat >"$T/isolinux/isolinux.cfg" <<EOF
serial 0 115200
default vesamenu.c32
timeout 10

display boot.msg

menu clear
menu title $PRODUCT $VERSION
menu vshift 8
menu rows 18
menu margin 8
menu helpmsgrow 15
menu tabmsgrow 13
menu tabmsg Press Tab for full configuration options on menu items.

menu separator # insert an empty line
menu separator # insert an empty line

label linux
  menu label ^Install $PRODUCT $VERSION
  kernel vmlinuz
  append initrd=initrd.img $ROOT quiet $CONSOLE

label check
  menu label Test this ^media & install $PRODUCT $VERSION
  menu default
  kernel vmlinuz
  append initrd=initrd.img $ROOT rd.live.check quiet $CONSOLE

menu separator # insert an empty line

# utilities submenu
menu begin ^Troubleshooting
  menu title Troubleshooting $PRODUCT $VERSION

label text
  menu indent count 5
  menu label Install $PRODUCT $VERSION using ^text mode
  text help
	Try this option out if you're having trouble installing
	$PRODUCT $VERSION.
  endtext
  kernel vmlinuz
  append initrd=initrd.img $ROOT inst.text quiet $CONSOLE

label rescue
  menu indent count 5
  menu label ^Rescue a $PRODUCT system
  text help
	If the system will not boot, this lets you access files
	and edit config files to try to get it booting again.
  endtext
  kernel vmlinuz
  append initrd=initrd.img $ROOT inst.rescue quiet $CONSOLE

label memtest
  menu label Run a ^memory test
  text help
	If your system is having issues, a problem with your
	system's memory may be the cause. Use this utility to
	see if the memory is working correctly.
  endtext
  kernel memtest

menu separator # insert an empty line

label local
  menu label Boot from ^local drive
  localboot 0xffff

menu separator # insert an empty line
menu separator # insert an empty line

label returntomain
  menu label Return to ^main menu
  menu exit

menu end
EOF
printf '\n\x1b[1;37m%s %s\x1b[0m\n\n' "$PRODUCT" "$VERSION" >"$T/isolinux/boot.msg"

# grub.cfg: lorax's rhel9 grub2-efi.cfg (set default="1" = the media test entry), timeout 1.
cat >"$T/EFI/BOOT/grub.cfg" <<EOF
set default="1"

function load_video {
  insmod efi_gop
  insmod efi_uga
  insmod video_bochs
  insmod video_cirrus
  insmod all_video
}

load_video
set gfxpayload=keep
insmod gzio
insmod part_gpt
insmod ext2

set timeout=1
### END /etc/grub.d/00_header ###

search --no-floppy --set=root -l '$LABEL'

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Install $PRODUCT $VERSION' --class fedora --class gnu-linux --class gnu --class os {
	linuxefi /images/pxeboot/vmlinuz $ROOT quiet $CONSOLE
	initrdefi /images/pxeboot/initrd.img
}
menuentry 'Test this media & install $PRODUCT $VERSION' --class fedora --class gnu-linux --class gnu --class os {
	linuxefi /images/pxeboot/vmlinuz $ROOT rd.live.check quiet $CONSOLE
	initrdefi /images/pxeboot/initrd.img
}
submenu 'Troubleshooting -->' {
	menuentry 'Install $PRODUCT $VERSION in text mode' --class fedora --class gnu-linux --class gnu --class os {
		linuxefi /images/pxeboot/vmlinuz $ROOT inst.text quiet $CONSOLE
		initrdefi /images/pxeboot/initrd.img
	}
	menuentry 'Rescue a $PRODUCT system' --class fedora --class gnu-linux --class gnu --class os {
		linuxefi /images/pxeboot/vmlinuz $ROOT inst.rescue quiet $CONSOLE
		initrdefi /images/pxeboot/initrd.img
	}
}
EOF

# ---------------------------------------------------------------- tree
SYSLINUX_BIOS=/usr/lib/syslinux/modules/bios
cp /usr/lib/ISOLINUX/isolinux.bin "$T/isolinux/"
for c in ldlinux.c32 libcom32.c32 libutil.c32 vesamenu.c32; do cp "$SYSLINUX_BIOS/$c" "$T/isolinux/"; done
# isolinux.bin gets the boot-info-table patched in by xorrisofs; keep our copy writable.
chmod u+w "$T/isolinux/isolinux.bin"
# memtest: lorax copies memtest86+; a placeholder keeps the entry's file present.
printf 'memtest placeholder (the fixture carries no memtest86+)\n' >"$T/isolinux/memtest"
cp "$VMLINUZ" "$T/images/pxeboot/vmlinuz"
cp "$WORK/initrd.img" "$T/images/pxeboot/initrd.img"
# BIOS and UEFI paths are hard links, as lorax makes them: one extent each in the ISO.
ln "$T/images/pxeboot/vmlinuz" "$T/isolinux/vmlinuz"
ln "$T/images/pxeboot/initrd.img" "$T/isolinux/initrd.img"

# UEFI chain (Secure Boot capable): shim (Microsoft-signed) → Debian's signed grub, which falls
# back to $cmdpath/grub.cfg (the RHEL-style file next to it) → Debian's signed vmlinuz.
cp /usr/lib/shim/shimx64.efi.signed "$T/EFI/BOOT/BOOTX64.EFI"
cp /usr/lib/shim/mmx64.efi.signed "$T/EFI/BOOT/mmx64.efi"
cp /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed "$T/EFI/BOOT/grubx64.efi"

# efiboot.img: lorax mkefiboot (scripts/lib.sh make_efiboot).
EFIBOOT=$T/images/efiboot.img
make_efiboot "$EFIBOOT" "$T" "$EPOCH"

# install.img: a dummy stage 2 of the requested size (deterministic content, not zeros).
{ yes "remaster fixture install.img (stand-in for Rocky 9.2 stage 2 squashfs)" || true; } |
    head -c $((INSTALL_IMG_MB * 1024 * 1024)) >"$T/images/install.img"

printf '%s\n%s %s\nx86_64\n' "$EPOCH.000000" "$PRODUCT" "$VERSION" >"$T/.discinfo"
sha() { sha256sum "$T/$1" | cut -d' ' -f1; }
cat >"$T/.treeinfo" <<EOF
[checksums]
images/efiboot.img = sha256:$(sha images/efiboot.img)
images/install.img = sha256:$(sha images/install.img)
images/pxeboot/initrd.img = sha256:$(sha images/pxeboot/initrd.img)
images/pxeboot/vmlinuz = sha256:$(sha images/pxeboot/vmlinuz)

[general]
arch = x86_64
family = $PRODUCT
name = $PRODUCT $VERSION
packagedir = Packages
platforms = x86_64,xen
repository = .
timestamp = $EPOCH
variant = BaseOS
version = $VERSION

[header]
type = productmd.treeinfo
version = 1.2

[images-x86_64]
efiboot.img = images/efiboot.img
initrd = images/pxeboot/initrd.img
kernel = images/pxeboot/vmlinuz

[stage2]
mainimage = images/install.img

[tree]
arch = x86_64
build_timestamp = $EPOCH
platforms = x86_64,xen
variants = BaseOS
EOF
find "$T" -exec touch -h -d "@$EPOCH" {} +

# ---------------------------------------------------------------- ISO
# lorax rhel9 x86.tmpl, --nomacboot (Rocky), then implantisomd5.
xorrisofs -o "$WORK/boot.iso" \
    -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -boot-load-size 4 -boot-info-table -no-emul-boot \
    -eltorito-alt-boot -e images/efiboot.img -no-emul-boot -isohybrid-gpt-basdat \
    -R -J -V "$LABEL" \
    -graft-points \
    .discinfo="$T/.discinfo" \
    .treeinfo="$T/.treeinfo" \
    images/install.img="$T/images/install.img" \
    isolinux="$T/isolinux" \
    images/pxeboot="$T/images/pxeboot" \
    EFI/BOOT="$T/EFI/BOOT" \
    images/efiboot.img="$EFIBOOT" 2>"$WORK/xorrisofs.log" ||
    { cat "$WORK/xorrisofs.log" >&2; exit 1; }
implantisomd5 "$WORK/boot.iso" >/dev/null 2>&1
checkisomd5 "$WORK/boot.iso" >/dev/null 2>&1 || { log "checkisomd5 rejects the fresh ISO"; exit 1; }

record_sgdisk_baseline "$WORK/boot.iso" "$WORK/sgdisk-v.baseline.txt"
(cd "$WORK" && xorriso -indev boot.iso -report_el_torito plain -report_system_area plain) \
    >"$WORK/xorriso-report.baseline.txt" 2>&1

mv -f "$WORK/sgdisk-v.baseline.txt" "$WORK/xorriso-report.baseline.txt" "$OUT_DIR/"
mv -f "$WORK/boot.iso" "$ISO"
echo "$STAMP" >"$OUT_DIR/stamp"
END=$(date +%s.%N)
log "built $ISO ($(stat -c %s "$ISO") bytes) in $(awk "BEGIN{printf \"%.1f\", $END - $START}") s"
log "sgdisk -v baseline ($OUT_DIR/sgdisk-v.baseline.txt):"
sed 's/^/    /' "$OUT_DIR/sgdisk-v.baseline.txt" >&2
echo "$ISO"

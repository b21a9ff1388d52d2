#!/usr/bin/env bash
# Build a faithful stand-in for an EL10 (Rocky 10.0-like) boot.iso from Debian packages,
# following lorax's rhel10-branch recipe: share/templates.d/99-generic/x86.tmpl + efi.tmpl,
# config_files/x86/grub2-bios.cfg + grub2-efi.cfg (see docs/fixtures.md and
# ../shared/reference/el10-boot-iso-layout.md). Unlike the EL9 fixture (build-fixture-iso.sh):
# GRUB2 for BIOS (images/eltorito.img, boot_hybrid.img MBR, boot/grub2/), no isolinux/, and
# the ESP only as an appended GPT partition 2 that the El Torito EFI entry points at
# (no images/efiboot.img in ISO 9660). Output (cached, rebuilt only when this script, lib.sh,
# the test init or the parameters change):
#
#   $REMASTER_FIXTURES/iso-el10/boot.iso            FIXTURE_INSTALL_IMG_MB unset (small, tests)
#   $REMASTER_FIXTURES/iso-el10-<N>mb/boot.iso      FIXTURE_INSTALL_IMG_MB=N
#   .../sgdisk-v.baseline.txt                       pristine `sgdisk -v` output
#   .../xorriso-report.baseline.txt                 pristine El Torito + system area report (plain)
#   .../xorriso-mkisofs.baseline.txt                pristine `-report_el_torito as_mkisofs`
#   .../efiboot.img                                 the ESP image appended as partition 2
#   .../stamp                                       hash of the inputs
#
# Prints the ISO path on stdout. Usage: scripts/build-fixture-el10.sh [--force]
. "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
INIT_SCRIPT=$SCRIPT_DIR/fixture-init.sh
LABEL=Rocky-10-0-x86_64-dvd
PRODUCT="Rocky Linux"
VERSION=10.0
KVER=$EL10_KVER
SMALL_INSTALL_IMG_MB=16
INSTALL_IMG_MB=${FIXTURE_INSTALL_IMG_MB:-$SMALL_INSTALL_IMG_MB}
EPOCH=${SOURCE_DATE_EPOCH:-1749600000} # 2025-06-11, Rocky 10.0's release
export SOURCE_DATE_EPOCH=$EPOCH
if [ "$INSTALL_IMG_MB" = "$SMALL_INSTALL_IMG_MB" ]; then
    OUT_DIR=$REMASTER_FIXTURES/iso-el10
else
    OUT_DIR=$REMASTER_FIXTURES/iso-el10-${INSTALL_IMG_MB}mb
fi
ISO=$OUT_DIR/boot.iso
KERNEL_DIR=$REMASTER_FIXTURES/kernel/$KVER
GRUB_PC=/usr/lib/grub/i386-pc

# Same module set as the EL9 fixture (every boot mode's path to the medium, loop for a driver
# update image), from the 6.12 kernel; again without the HBA drivers a driver update adds.
ROOT_MODULES="sd_mod sr_mod ata_piix ata_generic ahci xhci_pci ehci_pci uhci_hcd usb_storage uas
isofs loop crc32c_generic"

fixture_need xorrisofs xorriso implantisomd5 checkisomd5 mkfs.fat mcopy cpio xz depmod modinfo \
    sgdisk busybox dpkg-deb sha256sum flock grub-mkimage
[ -f "$GRUB_PC/boot_hybrid.img" ] && [ -f "$GRUB_PC/cdboot.img" ] ||
    { log "$GRUB_PC missing (Debian grub-pc-bin): run scripts/setup.sh"; exit 1; }

stamp() {
    {
        sha256sum "$0" "$INIT_SCRIPT" "$SCRIPT_DIR/lib.sh" | cut -d' ' -f1
        echo "$KVER $INSTALL_IMG_MB $EPOCH $LABEL"
        dpkg-query -W -f='${Version}\n' grub-pc-bin shim-signed grub-efi-amd64-signed 2>/dev/null
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
log "building $ISO (kernel $KVER, install.img ${INSTALL_IMG_MB} MiB)"

WORK=$(mktemp -d "$REMASTER_FIXTURES/.build-el10.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

extract_deb "linux-image-$KVER" "$KERNEL_DIR"
VMLINUZ=$KERNEL_DIR/boot/vmlinuz-$KVER
KMODS=$KERNEL_DIR/lib/modules/$KVER
[ -f "$VMLINUZ" ] && [ -d "$KMODS/kernel" ] || { log "kernel unpack incomplete in $KERNEL_DIR"; exit 1; }

# ---------------------------------------------------------------- initrd
IR=$WORK/initrd
initrd_skeleton "$IR" "$INIT_SCRIPT"
printf '[Main]\nProduct=%s\nVersion=%s\nBugURL=your distribution provided bug reporting tool.\nIsFinal=True\nUUID=%s.x86_64\n[Compose]\nLorax=40.5.12-1\n' \
    "$PRODUCT" "$VERSION" "$EPOCH" >"$IR/.buildstamp"
printf 'NAME="%s"\nVERSION="%s (Red Quartz)"\nID="rocky"\n' "$PRODUCT" "$VERSION" >"$IR/etc/initrd-release"
initrd_modules "$IR" "$KVER" "$KMODS" "$ROOT_MODULES" "megaraid_sas mptsas mpt3sas"
initrd_pack "$IR" "$WORK/initrd.img" "$EPOCH"

# ---------------------------------------------------------------- configs
# lorax rhel10 grub2-bios.cfg / grub2-efi.cfg with @KERNELPATH@ = /images/pxeboot/vmlinuz,
# @INITRDPATH@ = /images/pxeboot/initrd.img, @ISOLABEL@ = the label, @ROOT@ =
# inst.stage2=hd:LABEL=<label> (the label has no character udev would escape). Changes for
# testing only: `set timeout=1` (lorax: 60) and console=ttyS0,115200n8 after the template's
# arguments on every kernel line.
ROOT="inst.stage2=hd:LABEL=$LABEL"
CONSOLE="console=ttyS0,115200n8"
T=$WORK/tree
mkdir -p "$T/images/pxeboot" "$T/boot/grub2" "$T/EFI/BOOT/fonts"

# grub_cfg bios|efi: the template with the kernel/initrd commands of that firmware.
grub_cfg() {
    local linux=linux initrd=initrd video
    if [ "$1" = efi ]; then
        linux=linuxefi initrd=initrdefi
        video='  insmod efi_gop
  insmod efi_uga
  insmod video_bochs
  insmod video_cirrus
  insmod all_video'
    else
        video='  insmod all_video'
    fi
    cat <<EOF
set default="1"

function load_video {
$video
}

load_video
set gfxpayload=keep
insmod gzio
insmod part_gpt
insmod ext2
EOF
    [ "$1" = bios ] && echo "insmod chain"
    cat <<EOF

set timeout=1
### END /etc/grub.d/00_header ###

search --no-floppy --set=root -l '$LABEL'

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Install $PRODUCT $VERSION' --class fedora --class gnu-linux --class gnu --class os {
	$linux /images/pxeboot/vmlinuz $ROOT quiet $CONSOLE
	$initrd /images/pxeboot/initrd.img
}
menuentry 'Test this media & install $PRODUCT $VERSION' --class fedora --class gnu-linux --class gnu --class os {
	$linux /images/pxeboot/vmlinuz $ROOT rd.live.check quiet $CONSOLE
	$initrd /images/pxeboot/initrd.img
}
menuentry 'Install $PRODUCT $VERSION in FIPS mode' --class fedora --class gnu-linux --class gnu --class os {
	$linux /images/pxeboot/vmlinuz $ROOT quiet fips=1 $CONSOLE
	$initrd /images/pxeboot/initrd.img
}
submenu 'Troubleshooting -->' {
	menuentry 'Install $PRODUCT $VERSION in basic graphics mode' --class fedora --class gnu-linux --class gnu --class os {
		$linux /images/pxeboot/vmlinuz $ROOT nomodeset quiet $CONSOLE
		$initrd /images/pxeboot/initrd.img
	}
	menuentry 'Rescue a $PRODUCT system' --class fedora --class gnu-linux --class gnu --class os {
		$linux /images/pxeboot/vmlinuz $ROOT inst.rescue quiet $CONSOLE
		$initrd /images/pxeboot/initrd.img
	}
EOF
    if [ "$1" = bios ]; then
        cat <<'EOF'
	menuentry 'Boot first drive' --class fedora --class gnu-linux --class gnu --class os {
		chainloader (hd0)+1
	}
	menuentry 'Boot second drive' --class fedora --class gnu-linux --class gnu --class os {
		chainloader (hd1)+1
	}
EOF
    fi
    echo "}"
}
grub_cfg bios >"$T/boot/grub2/grub.cfg"
grub_cfg efi >"$T/EFI/BOOT/grub.cfg"

# ---------------------------------------------------------------- tree
cp "$VMLINUZ" "$T/images/pxeboot/vmlinuz"
cp "$WORK/initrd.img" "$T/images/pxeboot/initrd.img"

# BIOS: lorax `grub2-mkimage -O i386-pc-eltorito -p /boot/grub2 iso9660 biosdisk`
# (cdboot.img + diskboot.img + the LZMA core). xorrisofs patches its boot-info table and
# --grub2-boot-info into the ISO copy; the modules dir is grafted from grub-pc-bin below.
grub-mkimage -O i386-pc-eltorito -d "$GRUB_PC" -o "$T/images/eltorito.img" -p /boot/grub2 iso9660 biosdisk

# UEFI chain (Secure Boot capable), as in the EL9 fixture: shim (Microsoft-signed) → Debian's
# signed grub, which falls back to $cmdpath/grub.cfg → Debian's signed 6.12 vmlinuz. lorax's
# efi.tmpl also installs fonts/unicode.pf2.
cp /usr/lib/shim/shimx64.efi.signed "$T/EFI/BOOT/BOOTX64.EFI"
cp /usr/lib/shim/mmx64.efi.signed "$T/EFI/BOOT/mmx64.efi"
cp /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed "$T/EFI/BOOT/grubx64.efi"
cp /usr/share/grub/unicode.pf2 "$T/EFI/BOOT/fonts/"

# efiboot.img: lorax mkefiboot --label=ANACONDA from EFI/BOOT (grub.cfg included). It is NOT
# grafted into ISO 9660: xorrisofs appends it as GPT partition 2.
EFIBOOT=$WORK/efiboot.img
make_efiboot "$EFIBOOT" "$T" "$EPOCH"

# install.img: a dummy stage 2 of the requested size (deterministic content, not zeros).
{ yes "remaster fixture install.img (stand-in for Rocky 10.0 stage 2 squashfs)" || true; } |
    head -c $((INSTALL_IMG_MB * 1024 * 1024)) >"$T/images/install.img"

# .discinfo: lorax DiscInfo (timestamp, release, basearch). lorax's boot.iso has no .treeinfo.
printf '%s\n%s\n%s\n' "$EPOCH.000000" "$VERSION" x86_64 >"$T/.discinfo"
find "$T" "$EFIBOOT" -exec touch -h -d "@$EPOCH" {} +

# ---------------------------------------------------------------- ISO
# lorax rhel10-branch x86.tmpl, word for word (install.img < 4 GiB: no -iso-level 3; no
# product.img/updates.img/license files), then implantisomd5. grub-pc-bin's directory is
# grafted as boot/grub2/i386-pc, as lorax grafts the installroot's /usr/lib/grub/i386-pc.
xorrisofs -o "$WORK/boot.iso" \
    -R -J -V "$LABEL" \
    --grub2-mbr "$GRUB_PC/boot_hybrid.img" \
    -partition_offset 16 \
    -appended_part_as_gpt \
    -append_partition 2 C12A7328-F81F-11D2-BA4B-00A0C93EC93B "$EFIBOOT" \
    -iso_mbr_part_type EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 \
    -c boot.cat --boot-catalog-hide \
    -b images/eltorito.img \
    -no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info \
    -eltorito-alt-boot \
    -e '--interval:appended_partition_2:all::' -no-emul-boot \
    -graft-points \
    .discinfo="$T/.discinfo" \
    images/install.img="$T/images/install.img" \
    images/pxeboot="$T/images/pxeboot" \
    boot/grub2="$T/boot/grub2" \
    boot/grub2/i386-pc="$GRUB_PC" \
    images/eltorito.img="$T/images/eltorito.img" \
    EFI/BOOT="$T/EFI/BOOT" 2>"$WORK/xorrisofs.log" ||
    { cat "$WORK/xorrisofs.log" >&2; exit 1; }
implantisomd5 "$WORK/boot.iso" >/dev/null 2>&1
checkisomd5 "$WORK/boot.iso" >/dev/null 2>&1 || { log "checkisomd5 rejects the fresh ISO"; exit 1; }

record_sgdisk_baseline "$WORK/boot.iso" "$WORK/sgdisk-v.baseline.txt"
(cd "$WORK" && xorriso -indev boot.iso -report_el_torito plain -report_system_area plain) \
    >"$WORK/xorriso-report.baseline.txt" 2>&1
(cd "$WORK" && xorriso -indev boot.iso -report_el_torito as_mkisofs) \
    >"$WORK/xorriso-mkisofs.baseline.txt" 2>&1

mv -f "$WORK/sgdisk-v.baseline.txt" "$WORK/xorriso-report.baseline.txt" \
    "$WORK/xorriso-mkisofs.baseline.txt" "$EFIBOOT" "$OUT_DIR/"
mv -f "$WORK/boot.iso" "$ISO"
echo "$STAMP" >"$OUT_DIR/stamp"
END=$(date +%s.%N)
log "built $ISO ($(stat -c %s "$ISO") bytes) in $(awk "BEGIN{printf \"%.1f\", $END - $START}") s"
log "sgdisk -v baseline ($OUT_DIR/sgdisk-v.baseline.txt):"
sed 's/^/    /' "$OUT_DIR/sgdisk-v.baseline.txt" >&2
echo "$ISO"

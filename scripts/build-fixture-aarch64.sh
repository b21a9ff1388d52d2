#!/usr/bin/env bash
# Build a stand-in for an EL9 aarch64 boot.iso (Rocky 9.2 aarch64-like) from Debian arm64
# packages, following lorax's rhel9-branch recipe for aarch64: share/templates.d/99-generic/
# aarch64.tmpl + efi.tmpl, config_files/aarch64/grub2-efi.cfg (docs/fixtures.md,
# ../shared/reference/aarch64-boot-iso-layout.md). UEFI only: one El Torito EFI entry on
# images/efiboot.img (a file of the tree), no BIOS loader, no MBR, no GPT; grub.cfg with
# `linux`/`initrd` lines. Runs on an x86_64 host: nothing arm64 is executed here.
# Output (cached, rebuilt only when this script, lib.sh, the test init or the parameters change):
#
#   $REMASTER_FIXTURES/iso-aarch64/boot.iso                 the ISO
#   .../xorriso-report.baseline.txt                         pristine El Torito + system area report
#   .../dd-megaraid_sas-aarch64.iso                         an aarch64 driver update disk: rhdd3 +
#                                                           rpms/aarch64/kmod-megaraid_sas (the
#                                                           kernel's own module; the initrd lacks it)
#   .../stamp                                               hash of the inputs
#
# Prints the ISO path on stdout. Usage: scripts/build-fixture-aarch64.sh [--force]
. "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
INIT_SCRIPT=$SCRIPT_DIR/fixture-init.sh
LABEL=Rocky-9-2-aarch64-dvd
PRODUCT="Rocky Linux"
VERSION=9.2
KVER=$ARM64_KVER
INSTALL_IMG_MB=16
EPOCH=${SOURCE_DATE_EPOCH:-1683849600} # 2023-05-12, Rocky 9.2's release
export SOURCE_DATE_EPOCH=$EPOCH
OUT_DIR=$REMASTER_FIXTURES/iso-aarch64
ISO=$OUT_DIR/boot.iso
KERNEL_DIR=$REMASTER_FIXTURES/kernel/$KVER
# arm64 userland for the initrd (busybox-static, kmod, checkisomd5 and their libraries).
ARM64_ROOT=$REMASTER_FIXTURES/arm64-root
ARM64_PKGS="busybox-static kmod libkmod2 liblzma5 libzstd1 libssl3 libc6 isomd5sum libpopt0"
GRUB_ARM64=/usr/lib/grub/arm64-efi

# Modules the initrd carries (plus dependencies): reach the medium on QEMU's virt machine as a
# virtio-scsi CD, a USB stick and a USB CD-ROM (xHCI, BOT and UAS), mount it, and loop for a
# driver-update image. Not the HBA drivers a driver update adds later.
ROOT_MODULES="sd_mod sr_mod virtio_pci virtio_scsi virtio_blk xhci_pci usb_storage uas isofs loop
crc32c_generic"

fixture_need xorrisofs xorriso implantisomd5 checkisomd5 mkfs.fat mcopy cpio xz depmod modinfo \
    busybox dpkg-deb sha256sum flock grub-mkimage readelf rpmbuild modprobe
[ -f "$GRUB_ARM64/linux.mod" ] ||
    { log "$GRUB_ARM64 missing (Debian grub-efi-arm64-bin): run scripts/setup.sh"; exit 1; }

stamp() {
    {
        sha256sum "$0" "$INIT_SCRIPT" "$SCRIPT_DIR/lib.sh" | cut -d' ' -f1
        echo "$KVER $INSTALL_IMG_MB $EPOCH $LABEL $ARM64_PKGS"
        dpkg-query -W -f='${Version}\n' grub-efi-arm64-bin 2>/dev/null
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
log "building $ISO (kernel $KVER)"

WORK=$(mktemp -d "$REMASTER_FIXTURES/.build-aarch64.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# arm64_install IR BINARY DEST: an arm64 binary of $ARM64_ROOT into the initrd with the
# libraries it needs (DT_NEEDED, followed with readelf since nothing arm64 runs here) under
# usr/lib/aarch64-linux-gnu, and the loader as usr/lib/ld-linux-aarch64.so.1 (its PT_INTERP
# /lib/ld-linux-aarch64.so.1 through the lib symlink).
arm64_install() {
    local ir=$1 bin=$2 dest=$3 lib src queue seen=" "
    install -m 0755 "$bin" "$ir/$dest"
    queue=$(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
    while [ -n "$queue" ]; do
        lib=${queue%%$'\n'*}
        [ "$lib" = "$queue" ] && queue= || queue=${queue#*$'\n'}
        case "$seen" in *" $lib "*) continue ;; esac
        seen="$seen$lib "
        src=
        for d in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu; do
            [ -e "$ARM64_ROOT/$d/$lib" ] && { src=$ARM64_ROOT/$d/$lib; break; }
        done
        [ -n "$src" ] || { log "arm64 library $lib (of $bin) not in $ARM64_ROOT"; exit 1; }
        mkdir -p "$ir/usr/lib/aarch64-linux-gnu"
        [ -e "$ir/usr/lib/aarch64-linux-gnu/$lib" ] ||
            install -m 0755 "$(readlink -f "$src")" "$ir/usr/lib/aarch64-linux-gnu/$lib"
        queue=$(printf '%s\n%s' "$queue" "$(readelf -d "$src" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')")
        queue=${queue#$'\n'}
    done
    [ -e "$ir/usr/lib/ld-linux-aarch64.so.1" ] ||
        install -m 0755 "$(readlink -f "$ARM64_ROOT/lib/ld-linux-aarch64.so.1")" "$ir/usr/lib/ld-linux-aarch64.so.1"
}

# ---------------------------------------------------------------- arm64 packages
extract_deb "linux-image-$KVER" "$KERNEL_DIR"
VMLINUZ=$KERNEL_DIR/boot/vmlinuz-$KVER
KMODS=$KERNEL_DIR/lib/modules/$KVER
[ -f "$VMLINUZ" ] && [ -d "$KMODS/kernel" ] || { log "kernel unpack incomplete in $KERNEL_DIR"; exit 1; }
for p in $ARM64_PKGS; do
    if [ ! -e "$ARM64_ROOT/.extracted-$p" ]; then
        mkdir -p "$ARM64_ROOT"
        dpkg-deb -x "$(fetch_deb_arch "$p" arm64)" "$ARM64_ROOT"
        touch "$ARM64_ROOT/.extracted-$p"
    fi
done

# ---------------------------------------------------------------- initrd
# The x86 fixtures' skeleton (lib.sh initrd_skeleton) with arm64 binaries: RHEL usr-merge
# symlinks, busybox-static's applets (the list is the host's busybox-static of the same
# Debian version: the arm64 binary cannot run here) but the module tools, kmod and its links,
# checkisomd5, /init.
IR=$WORK/initrd
mkdir -p "$IR"/usr/{bin,sbin,lib,lib64} "$IR"/{dev,proc,sys,run,tmp,root,mnt,var}
ln -s usr/bin "$IR/bin"
ln -s usr/sbin "$IR/sbin"
ln -s usr/lib "$IR/lib"
ln -s usr/lib64 "$IR/lib64"
mkdir -p "$IR/etc/modules-load.d" "$IR/usr/lib/modules-load.d" "$IR/etc/remaster-report.d"
readelf -h "$ARM64_ROOT/bin/busybox" | grep -q AArch64 || { log "busybox-static:arm64 is not arm64"; exit 1; }
install -m 0755 "$ARM64_ROOT/bin/busybox" "$IR/usr/bin/busybox"
[ "$(dpkg-query -W -f='${Version}' busybox-static)" = "$(dpkg-deb -f "$(fetch_deb_arch busybox-static arm64)" Version)" ] ||
    log "warning: host busybox-static differs from the arm64 one; applet list may differ"
for applet in $(busybox --list); do
    case "$applet" in
        busybox | modprobe | insmod | rmmod | lsmod | modinfo | depmod) continue ;;
    esac
    [ -e "$IR/usr/bin/$applet" ] || ln -s busybox "$IR/usr/bin/$applet"
done
arm64_install "$IR" "$ARM64_ROOT/bin/kmod" usr/bin/kmod
for tool in modprobe insmod rmmod lsmod modinfo depmod; do ln -s ../bin/kmod "$IR/usr/sbin/$tool"; done
arm64_install "$IR" "$ARM64_ROOT/usr/bin/checkisomd5" usr/bin/checkisomd5
install -m 0755 "$INIT_SCRIPT" "$IR/init"
printf '[Main]\nProduct=%s\nVersion=%s\nBugURL=your distribution provided bug reporting tool.\nIsFinal=True\nUUID=%s.aarch64\n[Compose]\nLorax=34.9.16-1\n' \
    "$PRODUCT" "$VERSION" "$EPOCH" >"$IR/.buildstamp"
printf 'NAME="%s"\nVERSION="%s (Blue Onyx)"\nID="rocky"\n' "$PRODUCT" "$VERSION" >"$IR/etc/initrd-release"
initrd_modules "$IR" "$KVER" "$KMODS" "$ROOT_MODULES" "megaraid_sas mptsas mpt3sas"
initrd_pack "$IR" "$WORK/initrd.img" "$EPOCH"

# ---------------------------------------------------------------- configs
# lorax rhel9 config_files/aarch64/grub2-efi.cfg with @KERNELPATH@ = /images/pxeboot/vmlinuz,
# @INITRDPATH@ = /images/pxeboot/initrd.img, @ISOLABEL@ = the label, @ROOT@ =
# inst.stage2=hd:LABEL=<label>: `linux`/`initrd` lines, `--class red`, no `quiet`, the media
# test entry the default. Changes for testing only: `set timeout=1` (lorax: 60) and
# console=ttyAMA0 (QEMU virt's PL011) after the template's arguments on every kernel line.
ROOT="inst.stage2=hd:LABEL=$LABEL"
CONSOLE="console=ttyAMA0"
T=$WORK/tree
mkdir -p "$T/images/pxeboot" "$T/EFI/BOOT"
cat >"$T/EFI/BOOT/grub.cfg" <<EOF
set default="1"

function load_video {
  if [ x\$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
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
menuentry 'Install $PRODUCT $VERSION' --class red --class gnu-linux --class gnu --class os {
	linux /images/pxeboot/vmlinuz $ROOT ro $CONSOLE
	initrd /images/pxeboot/initrd.img
}
menuentry 'Test this media & install $PRODUCT $VERSION' --class red --class gnu-linux --class gnu --class os {
	linux /images/pxeboot/vmlinuz $ROOT rd.live.check $CONSOLE
	initrd /images/pxeboot/initrd.img
}
menuentry 'Install $PRODUCT $VERSION in FIPS mode' --class red --class gnu-linux --class gnu --class os {
	linux /images/pxeboot/vmlinuz $ROOT ro fips=1 $CONSOLE
	initrd /images/pxeboot/initrd.img
}
submenu 'Troubleshooting -->' {
	menuentry 'Install $PRODUCT $VERSION in text mode' --class red --class gnu-linux --class gnu --class os {
		linux /images/pxeboot/vmlinuz $ROOT inst.text ro $CONSOLE
		initrd /images/pxeboot/initrd.img
	}
	menuentry 'Rescue a $PRODUCT system' --class red --class gnu-linux --class gnu --class os {
		linux /images/pxeboot/vmlinuz $ROOT inst.rescue $CONSOLE
		initrd /images/pxeboot/initrd.img
	}
}
EOF

# ---------------------------------------------------------------- tree
# UEFI chain: RHEL's is shim (BOOTAA64.EFI) → grubaa64.efi (grub2-efi-aa64-cdboot's
# gcdaa64.efi: a grub-mkimage image with prefix /EFI/BOOT). Debian has no signed arm64 grub
# with that prefix, so BOOTAA64.EFI here is grub-mkimage's arm64-efi image built the way
# Fedora builds gcdaa64.efi (prefix /EFI/BOOT, its modules where Debian has them): GRUB maps
# the El Torito image's CDROM device path to the whole disk, so it reads the ISO 9660
# /EFI/BOOT/grub.cfg from a CD and a dd'd stick alike. No Secure Boot on this fixture.
GRUB_MODULES="all_video boot cat configfile echo efinet ext2 fat font gfxmenu gfxterm gzio halt
iso9660 jpeg linux loadenv loopback lsefi lsefimmap minicmd normal part_gpt part_msdos png
reboot regexp search search_fs_file search_fs_uuid search_label serial sleep test video xzio zstd"
# shellcheck disable=SC2086 # the module list is words
grub-mkimage -O arm64-efi -p /EFI/BOOT -o "$T/EFI/BOOT/BOOTAA64.EFI" $GRUB_MODULES
cp "$VMLINUZ" "$T/images/pxeboot/vmlinuz"
cp "$WORK/initrd.img" "$T/images/pxeboot/initrd.img"

# efiboot.img: lorax mkefiboot (scripts/lib.sh make_efiboot): EFI/BOOT/{BOOTAA64.EFI,grub.cfg}.
EFIBOOT=$T/images/efiboot.img
make_efiboot "$EFIBOOT" "$T" "$EPOCH"

# install.img: a dummy stage 2 (deterministic content, not zeros).
{ yes "remaster fixture install.img (stand-in for Rocky 9.2 aarch64 stage 2 squashfs)" || true; } |
    head -c $((INSTALL_IMG_MB * 1024 * 1024)) >"$T/images/install.img"

printf '%s\n%s %s\naarch64\n' "$EPOCH.000000" "$PRODUCT" "$VERSION" >"$T/.discinfo"
sha() { sha256sum "$T/$1" | cut -d' ' -f1; }
cat >"$T/.treeinfo" <<EOF
[checksums]
images/efiboot.img = sha256:$(sha images/efiboot.img)
images/install.img = sha256:$(sha images/install.img)
images/pxeboot/initrd.img = sha256:$(sha images/pxeboot/initrd.img)
images/pxeboot/vmlinuz = sha256:$(sha images/pxeboot/vmlinuz)

[general]
arch = aarch64
family = $PRODUCT
name = $PRODUCT $VERSION
packagedir = Packages
platforms = aarch64
repository = .
timestamp = $EPOCH
variant = BaseOS
version = $VERSION

[header]
type = productmd.treeinfo
version = 1.2

[images-aarch64]
efiboot.img = images/efiboot.img
initrd = images/pxeboot/initrd.img
kernel = images/pxeboot/vmlinuz

[stage2]
mainimage = images/install.img

[tree]
arch = aarch64
build_timestamp = $EPOCH
platforms = aarch64
variants = BaseOS
EOF
find "$T" -exec touch -h -d "@$EPOCH" {} +

# ---------------------------------------------------------------- ISO
# lorax rhel9 aarch64.tmpl: one El Torito entry (EFI), no -b, no isohybrid MBR/GPT; then
# implantisomd5.
xorrisofs -o "$WORK/boot.iso" \
    -eltorito-alt-boot -e images/efiboot.img -no-emul-boot \
    -R -J -V "$LABEL" \
    -graft-points \
    .discinfo="$T/.discinfo" \
    .treeinfo="$T/.treeinfo" \
    images/pxeboot="$T/images/pxeboot" \
    images/install.img="$T/images/install.img" \
    EFI/BOOT="$T/EFI/BOOT" \
    images/efiboot.img="$EFIBOOT" 2>"$WORK/xorrisofs.log" ||
    { cat "$WORK/xorrisofs.log" >&2; exit 1; }
implantisomd5 "$WORK/boot.iso" >/dev/null 2>&1
checkisomd5 "$WORK/boot.iso" >/dev/null 2>&1 || { log "checkisomd5 rejects the fresh ISO"; exit 1; }
(cd "$WORK" && xorriso -indev boot.iso -report_el_torito plain -report_system_area plain) \
    >"$WORK/xorriso-report.baseline.txt" 2>&1

# ---------------------------------------------------------------- driver update disk
# As scripts/build-rpm-fixtures.sh builds the x86_64 one: a kmod RPM (--target aarch64) with
# the fixture kernel's megaraid_sas.ko under /lib/modules/<kver>/extra/, kernel-modules and
# kABI Provides/Requires from the module's __versions, in rpms/aarch64/ of an OEMDRV ISO.
MOD=megaraid_sas
KO=$(find "$KMODS/kernel" -name "$MOD.ko" -print -quit)
[ -n "$KO" ] || { log "$MOD.ko not in $KMODS"; exit 1; }
R=$WORK/rpm
mkdir -p "$R"/{SPECS,SOURCES,BUILD,RPMS,BUILDROOT} "$WORK/dud/rpms/aarch64"
cp "$KO" "$R/SOURCES/$MOD.ko"
KABI=$(modprobe --dump-modversions "$KO" | awk '{ printf "Requires: kernel(%s) = %s\n", $2, $1 }')
cat >"$R/SPECS/kmod.spec" <<SPEC
Name: kmod-$MOD
Version: 07.719.03.00
Release: 1.fixture
Summary: $MOD kernel module (aarch64 fixture)
License: GPLv2
AutoReqProv: no
%define __os_install_post %{nil}
%define debug_package %{nil}
Provides: kernel-modules >= ${KVER%-arm64}
Provides: kmod-$MOD = %{version}-%{release}
Requires: kernel >= ${KVER%-arm64}
$KABI

%description
Fixture kmod package carrying $MOD built for $KVER (aarch64).

%install
mkdir -p %{buildroot}/lib/modules/$KVER/extra/$MOD
install -m 0644 %{_sourcedir}/$MOD.ko %{buildroot}/lib/modules/$KVER/extra/$MOD/$MOD.ko

%files
%defattr(644,root,root,755)
/lib/modules/$KVER/extra/$MOD/$MOD.ko
SPEC
rpmbuild --quiet -bb --target aarch64 --nodeps \
    --define "_topdir $R" --define "_binary_payload w9.xzdio" \
    --define "use_source_date_epoch_as_buildtime 1" --define "_buildhost fixture" \
    "$R/SPECS/kmod.spec" >"$R/build.log" 2>&1 || { cat "$R/build.log" >&2; exit 1; }
cp "$R"/RPMS/aarch64/*.rpm "$WORK/dud/rpms/aarch64/"
printf 'Driver Update Disk version 3' >"$WORK/dud/rhdd3"
find "$WORK/dud" -exec touch -h -d "@$EPOCH" {} +
xorriso -as mkisofs -quiet -V OEMDRV -R -J -uid 0 -gid 0 -dir-mode 0555 -file-mode 0444 \
    -o "$WORK/dd-$MOD-aarch64.iso" "$WORK/dud" 2>"$WORK/xorriso-dud.log" ||
    { cat "$WORK/xorriso-dud.log" >&2; exit 1; }

mv -f "$WORK/xorriso-report.baseline.txt" "$WORK/dd-$MOD-aarch64.iso" "$OUT_DIR/"
mv -f "$WORK/boot.iso" "$ISO"
echo "$STAMP" >"$OUT_DIR/stamp"
END=$(date +%s.%N)
log "built $ISO ($(stat -c %s "$ISO") bytes) in $(awk "BEGIN{printf \"%.1f\", $END - $START}") s"
echo "$ISO"

#!/usr/bin/env bash
# Build a faithful stand-in for an EL8 (Rocky 8.10-like) boot.iso from Debian packages,
# following lorax's rhel8-branch recipe (share/templates.d/99-generic/x86.tmpl + efi.tmpl,
# config_files/x86/{isolinux.cfg,grub2-efi.cfg,grub.conf}; see docs/fixtures.md and
# ../shared/reference/el8-boot-iso-layout.md). Unlike the EL9 fixture (xorrisofs):
# genisoimage (`mkisofs`, with -T: a TRANS.TBL in every directory, level-1 8.3 ISO 9660
# names), then `isohybrid --uefi` (MBR p1 type 0x00 from sector 0, p2 0xEF = efiboot.img, a
# two-entry GPT, the file padded to 1 MiB with the backup GPT after the volume), then
# implantisomd5. EFI/BOOT/BOOT.conf is a copy of grub.cfg (efi.tmpl), isolinux/grub.conf keeps
# its literal @KERNELPATH@/@ROOT@/@INITRDPATH@/@SPLASHPATH@ placeholders, and there is no
# .discinfo or .treeinfo (lorax's boot.iso grafts none). Output (cached, rebuilt only when this
# script, lib.sh, the test init or the parameters change):
#
#   $REMASTER_FIXTURES/iso-el8/boot.iso             FIXTURE_INSTALL_IMG_MB unset (small, tests)
#   $REMASTER_FIXTURES/iso-el8-<N>mb/boot.iso       FIXTURE_INSTALL_IMG_MB=N
#   .../sgdisk-v.baseline.txt                       pristine `sgdisk -v` output
#   .../xorriso-report.baseline.txt                 pristine El Torito + system area report
#   .../stamp                                       hash of the inputs
#
# Deterministic: genisoimage has no SOURCE_DATE_EPOCH, so it runs under faketime at EPOCH;
# isohybrid gets a fixed MBR id, and its random GPT GUIDs are replaced by fixed ones (CRCs
# recomputed) before implantisomd5.
#
# Prints the ISO path on stdout. Usage: scripts/build-fixture-el8.sh [--force]
. "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
INIT_SCRIPT=$SCRIPT_DIR/fixture-init.sh
LABEL=Rocky-8-10-x86_64-dvd
PRODUCT="Rocky Linux"
VERSION=8.10
SMALL_INSTALL_IMG_MB=16
INSTALL_IMG_MB=${FIXTURE_INSTALL_IMG_MB:-$SMALL_INSTALL_IMG_MB}
EPOCH=${SOURCE_DATE_EPOCH:-1716768000} # 2024-05-27, Rocky 8.10's release
export SOURCE_DATE_EPOCH=$EPOCH
if [ "$INSTALL_IMG_MB" = "$SMALL_INSTALL_IMG_MB" ]; then
    OUT_DIR=$REMASTER_FIXTURES/iso-el8
else
    OUT_DIR=$REMASTER_FIXTURES/iso-el8-${INSTALL_IMG_MB}mb
fi
ISO=$OUT_DIR/boot.iso
KERNEL_DIR=$REMASTER_FIXTURES/kernel/$FIXTURE_KVER

# Same module set as the EL9 fixture (every boot mode's path to the medium, loop for a driver
# update image), without the HBA drivers a driver update adds.
ROOT_MODULES="sd_mod sr_mod ata_piix ata_generic ahci xhci_pci ehci_pci uhci_hcd usb_storage uas
isofs loop crc32c_generic"

fixture_need genisoimage isohybrid faketime implantisomd5 checkisomd5 mkfs.fat mcopy cpio xz \
    depmod modinfo sgdisk xorriso busybox dpkg-deb sha256sum flock python3
[ -f /usr/lib/ISOLINUX/isolinux.bin ] || { log "isolinux missing: run scripts/setup.sh"; exit 1; }

stamp() {
    {
        sha256sum "$0" "$INIT_SCRIPT" "$SCRIPT_DIR/lib.sh" | cut -d' ' -f1
        echo "$FIXTURE_KVER $INSTALL_IMG_MB $EPOCH $LABEL"
        dpkg-query -W -f='${Version}\n' genisoimage syslinux-utils isolinux shim-signed grub-efi-amd64-signed 2>/dev/null
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

WORK=$(mktemp -d "$REMASTER_FIXTURES/.build-el8.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

extract_deb "linux-image-$FIXTURE_KVER" "$KERNEL_DIR"
VMLINUZ=$KERNEL_DIR/boot/vmlinuz-$FIXTURE_KVER
KMODS=$KERNEL_DIR/lib/modules/$FIXTURE_KVER
[ -f "$VMLINUZ" ] && [ -d "$KMODS/kernel" ] || { log "kernel unpack incomplete in $KERNEL_DIR"; exit 1; }

# ---------------------------------------------------------------- initrd
IR=$WORK/initrd
initrd_skeleton "$IR" "$INIT_SCRIPT"
printf '[Main]\nProduct=%s\nVersion=%s\nBugURL=your distribution provided bug reporting tool.\nIsFinal=True\nUUID=%s.x86_64\n[Compose]\nLorax=28.14.71-1\n' \
    "$PRODUCT" "$VERSION" "$EPOCH" >"$IR/.buildstamp"
printf 'NAME="%s"\nVERSION="%s (Green Obsidian)"\nID="rocky"\n' "$PRODUCT" "$VERSION" >"$IR/etc/initrd-release"
initrd_modules "$IR" "$FIXTURE_KVER" "$KMODS" "$ROOT_MODULES" "megaraid_sas mptsas mpt3sas"
initrd_pack "$IR" "$WORK/initrd.img" "$EPOCH"

# ---------------------------------------------------------------- configs
# lorax rhel8-branch templates with @ISOLABEL@ = the label and @ROOT@ =
# inst.stage2=hd:LABEL=<label>. Changes for testing only: `serial`, a 1 s timeout, and
# console=ttyS0,115200n8 after the template's arguments on every kernel line.
ROOT="inst.stage2=hd:LABEL=$LABEL"
CONSOLE="console=ttyS0,115200n8"
T=$WORK/tree
mkdir -p "$T/isolinux" "$T/images/pxeboot" "$T/EFI/BOOT/fonts"

# isolinux.cfg: lorax rhel8 (labels linux, check [menu default], Troubleshooting: vesa
# [nomodeset], rescue, memtest, local; no FIPS entry, no text-mode entry).
cat >"$T/isolinux/isolinux.cfg" <<EOF
serial 0 115200
default vesamenu.c32
timeout 10

display boot.msg

# Clear the screen when exiting the menu, instead of leaving the menu displayed.
# For vesamenu, this means the graphical background is still displayed without
# the menu itself for as long as the screen remains in graphics mode.
menu clear
menu background splash.png
menu title $PRODUCT $VERSION
menu vshift 8
menu rows 18
menu margin 8
#menu hidden
menu helpmsgrow 15
menu tabmsgrow 13

# Border Area
menu color border * #00000000 #00000000 none

# Selected item
menu color sel 0 #ffffffff #00000000 none

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

label vesa
  menu indent count 5
  menu label Install using ^basic graphics mode
  text help
	Try this option out if you're having trouble installing
	$PRODUCT $VERSION.
  endtext
  kernel vmlinuz
  append initrd=initrd.img $ROOT nomodeset quiet $CONSOLE

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

# isolinux/grub.conf: lorax's legacy file; x86.tmpl replaces only @PRODUCT@ and @VERSION@, the
# other placeholders stay literal. No loader reads it.
cat >"$T/isolinux/grub.conf" <<EOF
#debug --graphics
default=1
splashimage=@SPLASHPATH@
timeout 60
hiddenmenu
title Install $PRODUCT $VERSION
	findiso
	kernel @KERNELPATH@ @ROOT@ quiet
	initrd @INITRDPATH@
title Test this media & install $PRODUCT $VERSION
	findiso
	kernel @KERNELPATH@ @ROOT@ rd.live.check quiet
	initrd @INITRDPATH@
EOF

# grub.cfg: lorax rhel8 grub2-efi.cfg (set default="1" = the media test entry), timeout 1.
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
	menuentry 'Install $PRODUCT $VERSION in basic graphics mode' --class fedora --class gnu-linux --class gnu --class os {
		linuxefi /images/pxeboot/vmlinuz $ROOT nomodeset quiet $CONSOLE
		initrdefi /images/pxeboot/initrd.img
	}
	menuentry 'Rescue a $PRODUCT system' --class fedora --class gnu-linux --class gnu --class os {
		linuxefi /images/pxeboot/vmlinuz $ROOT inst.rescue quiet $CONSOLE
		initrdefi /images/pxeboot/initrd.img
	}
}
EOF
# efi.tmpl: `if efiarch32 == 'IA32': copy grub.cfg BOOT.conf` (RHEL 8 x86_64 has IA32).
cp "$T/EFI/BOOT/grub.cfg" "$T/EFI/BOOT/BOOT.conf"

# ---------------------------------------------------------------- tree
SYSLINUX_BIOS=/usr/lib/syslinux/modules/bios
cp /usr/lib/ISOLINUX/isolinux.bin "$T/isolinux/"
for c in ldlinux.c32 libcom32.c32 libutil.c32 vesamenu.c32; do cp "$SYSLINUX_BIOS/$c" "$T/isolinux/"; done
# mkisofs patches the boot-info table into the source file: keep our copy writable.
chmod u+w "$T/isolinux/isolinux.bin"
printf 'memtest placeholder (the fixture carries no memtest86+)\n' >"$T/isolinux/memtest"
cp "$VMLINUZ" "$T/images/pxeboot/vmlinuz"
cp "$WORK/initrd.img" "$T/images/pxeboot/initrd.img"
# BIOS and UEFI paths are hard links, as lorax makes them: one extent each in the ISO.
ln "$T/images/pxeboot/vmlinuz" "$T/isolinux/vmlinuz"
ln "$T/images/pxeboot/initrd.img" "$T/isolinux/initrd.img"

# UEFI chain (Secure Boot capable), as in the EL9 fixture: shim → Debian's signed grub (falls
# back to $cmdpath/grub.cfg) → Debian's signed vmlinuz. The IA32 loaders (BOOTIA32.EFI,
# mmia32.efi, grubia32.efi) have no signed Debian build and are left out; BOOT.conf, which
# only they read, is there.
cp /usr/lib/shim/shimx64.efi.signed "$T/EFI/BOOT/BOOTX64.EFI"
cp /usr/lib/shim/mmx64.efi.signed "$T/EFI/BOOT/mmx64.efi"
cp /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed "$T/EFI/BOOT/grubx64.efi"
cp /usr/share/grub/unicode.pf2 "$T/EFI/BOOT/fonts/"

# efiboot.img: lorax mkefiboot (scripts/lib.sh make_efiboot), grub.cfg and BOOT.conf included.
EFIBOOT=$WORK/efiboot.img
make_efiboot "$EFIBOOT" "$T" "$EPOCH"

{ yes "remaster fixture install.img (stand-in for Rocky 8.10 stage 2 squashfs)" || true; } |
    head -c $((INSTALL_IMG_MB * 1024 * 1024)) >"$T/images/install.img"
find "$T" "$EFIBOOT" -exec touch -h -d "@$EPOCH" {} +

# ---------------------------------------------------------------- ISO
# lorax rhel8-branch x86.tmpl, word for word (install.img < 4 GiB: no -allow-limited-size;
# no product.img/updates.img), then isohybrid --uefi, then implantisomd5.
# (faketime's absolute form without '@' stops the clock: every date is EPOCH.)
TZ=UTC faketime -f "$(date -u -d "@$EPOCH" '+%Y-%m-%d %H:%M:%S')" \
    genisoimage -o "$WORK/boot.iso" \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -boot-load-size 4 -boot-info-table -no-emul-boot \
    -eltorito-alt-boot -e images/efiboot.img -no-emul-boot \
    -R -J -V "$LABEL" -T \
    -graft-points \
    images/install.img="$T/images/install.img" \
    isolinux="$T/isolinux" \
    images/pxeboot="$T/images/pxeboot" \
    EFI/BOOT="$T/EFI/BOOT" \
    images/efiboot.img="$EFIBOOT" >"$WORK/mkisofs.log" 2>&1 ||
    { cat "$WORK/mkisofs.log" >&2; exit 1; }
# The Rock Ridge TF entries carry each source file's ctime, which no tool sets: walk the
# primary tree and stamp every TF time with EPOCH (7-byte form: years since 1900, month, day,
# hour, minute, second, GMT offset 0).
python3 - "$WORK/boot.iso" "$EPOCH" <<'PY'
import struct, sys, time
path, epoch = sys.argv[1], int(sys.argv[2])
t = time.gmtime(epoch)
stamp = bytes([t.tm_year - 1900, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0])
with open(path, "r+b") as f:
    def read(lba, n):
        f.seek(lba * 2048)
        return bytearray(f.read(n))
    pvd = read(16, 2048)
    assert pvd[1:6] == b"CD001" and pvd[0] == 1
    root = pvd[156:156 + 34]
    # Directory record: extent (LE) at 2, data length (LE) at 10, flags at 25.
    todo, seen = [(struct.unpack_from("<I", root, 2)[0], struct.unpack_from("<I", root, 10)[0])], set()
    while todo:
        lba, size = todo.pop()
        if lba in seen:
            continue
        seen.add(lba)
        d = read(lba, size)
        at = 0
        while at < len(d):
            n = d[at]
            if n == 0:
                at = (at // 2048 + 1) * 2048
                continue
            rec = d[at:at + n]
            name_len = rec[32]
            su = 33 + name_len + (1 - name_len % 2)
            i = su
            while i + 4 <= n:
                sig, ln = bytes(rec[i:i + 2]), rec[i + 2]
                if ln < 4:
                    break
                if sig == b"TF" and not rec[i + 4] & 0x80:
                    for k in range(bin(rec[i + 4] & 0x7F).count("1")):
                        o = at + i + 5 + 7 * k
                        d[o:o + 7] = stamp
                i += ln
            ext, ln_ = struct.unpack_from("<I", rec, 2)[0], struct.unpack_from("<I", rec, 10)[0]
            if rec[25] & 2 and not (rec[32] == 1 and rec[33] in (0, 1)):
                todo.append((ext, ln_))
            at += n
        f.seek(lba * 2048)
        f.write(d)
PY
isohybrid --uefi --id 0x52454d38 "$WORK/boot.iso"
# isohybrid draws the GPT GUIDs at random: replace them by fixed ones (both headers, both
# entries) and recompute the CRCs, so the fixture is the same bytes on every build.
python3 - "$WORK/boot.iso" <<'PY'
import struct, sys, uuid, zlib
path = sys.argv[1]
with open(path, "r+b") as f:
    f.seek(512)
    primary = bytearray(f.read(512))
    assert primary[:8] == b"EFI PART", "isohybrid wrote no GPT"
    hsize, = struct.unpack_from("<I", primary, 12)
    backup_lba, = struct.unpack_from("<Q", primary, 32)
    n, esize = struct.unpack_from("<II", primary, 80)
    def guid(name):
        return uuid.uuid5(uuid.NAMESPACE_URL, "remaster-el8-fixture:" + name).bytes_le
    for lba in (1, backup_lba):
        f.seek(lba * 512)
        h = bytearray(f.read(512))
        assert h[:8] == b"EFI PART", "GPT header missing at LBA %d" % lba
        entries_lba, = struct.unpack_from("<Q", h, 72)
        f.seek(entries_lba * 512)
        e = bytearray(f.read(n * esize))
        for i in range(n):
            if any(e[i * esize:i * esize + 16]):
                e[i * esize + 16:i * esize + 32] = guid("part%d" % (i + 1))
        f.seek(entries_lba * 512)
        f.write(e)
        h[56:72] = guid("disk")
        struct.pack_into("<I", h, 88, zlib.crc32(e) & 0xFFFFFFFF)
        struct.pack_into("<I", h, 16, 0)
        struct.pack_into("<I", h, 16, zlib.crc32(bytes(h[:hsize])) & 0xFFFFFFFF)
        f.seek(lba * 512)
        f.write(h)
PY
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

#!/usr/bin/env bash
# Builds the arm64 kernel-module ground-truth fixtures into $REMASTER_FIXTURES/kmod-arm64/
# (cached), from Debian's arm64 packages (`dpkg --add-architecture arm64`, scripts/setup.sh):
#   kernel/<kver>/boot/vmlinuz-<kver>     the arm64 Image (Debian ships it uncompressed, signed)
#   kernel/<kver>/lib/modules/<kver>/...  mpt3sas and its dependencies only
#   Module.symvers                        ARM64_KVER's, from linux-headers (the CRC oracle)
#   vmlinuz.gz, vmlinuz.zboot             ARM64_KVER's Image gzip'd, and wrapped as EFI zboot
#   x86/vmlinuz, x86/mpt3sas.ko           FIXTURE_KVER's (amd64) kernel and module: cross-arch
#   initrd-base/                          busybox-static:arm64 (its insmod/rmmod) for QEMU
#   cases/*.ko                            the case modules (target kernel = ARM64_KVER):
#     mpt3sas_same        mpt3sas from the target build, Debian-signed       -> loads
#     mpt3sas_other       mpt3sas from ARM64_OTHER_KVER                       -> module_layout
#     mpt3sas_nover_other mpt3sas_other with __versions removed               -> version magic
#     mpt3sas_nover_same  mpt3sas_same with __versions removed                -> loads, forced (taint)
#     mpt3sas_x86_64      mpt3sas from FIXTURE_KVER (amd64)                   -> invalid architecture
#     mpt3sas_badreloc    mpt3sas_same unsigned, its first .rela.text entry's type set to 549
#                         (R_AARCH64_TLSLE_ADD_TPREL_HI12, which modules never use) -> relocation
#   rpms/kmod-mpt3sas-*.{aarch64,x86_64}.rpm   ELRepo-style kmod RPMs (rpmbuild --target):
#                         /lib/modules/<kver>/extra/mpt3sas/mpt3sas.ko, Provides: kernel-modules
#                         >= <kver>; the aarch64 one carries mpt3sas_same, the x86_64 one
#                         mpt3sas_x86_64
. "$(dirname "$0")/lib.sh"

OUT=$REMASTER_FIXTURES/kmod-arm64
mkdir -p "$OUT"
STAMP=$OUT/.built-v3
if [ -e "$STAMP" ]; then
    log "cached: $OUT"
    exit 0
fi
OBJCOPY=aarch64-linux-gnu-objcopy
for tool in "$OBJCOPY" python3 gzip dpkg-deb tar rpmbuild; do
    command -v "$tool" >/dev/null || { log "missing $tool (see scripts/test-deps.txt)"; exit 1; }
done

SCSI=(drivers/scsi/scsi_common.ko drivers/scsi/scsi_mod.ko drivers/scsi/raid_class.ko
      drivers/scsi/scsi_transport_sas.ko drivers/scsi/mpt3sas/mpt3sas.ko)
# unpack_kernel DEB KVER DEST: the kernel image and the SCSI modules above, nothing else.
unpack_kernel() {
    local deb=$1 kver=$2 dest=$3 m wanted
    wanted=(./boot/vmlinuz-"$kver")
    for m in "${SCSI[@]}"; do wanted+=("./lib/modules/$kver/kernel/$m"); done
    rm -rf "$dest"; mkdir -p "$dest"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest" "${wanted[@]}"
}
for kver in "$ARM64_KVER" "$ARM64_OTHER_KVER"; do
    unpack_kernel "$(fetch_deb_arch "linux-image-$kver" arm64)" "$kver" "$OUT/kernel/$kver"
done
hdr=$(mktemp -d)
dpkg-deb --fsys-tarfile "$(fetch_deb_arch "linux-headers-$ARM64_KVER" arm64)" |
    tar -x -C "$hdr" "./usr/src/linux-headers-$ARM64_KVER/Module.symvers"
mv "$hdr/usr/src/linux-headers-$ARM64_KVER/Module.symvers" "$OUT/Module.symvers"
rm -rf "$hdr"
unpack_kernel "$(fetch_deb "linux-image-$FIXTURE_KVER")" "$FIXTURE_KVER" "$OUT/x86-tree"
mkdir -p "$OUT/x86"
mv "$OUT/x86-tree/boot/vmlinuz-$FIXTURE_KVER" "$OUT/x86/vmlinuz"
mv "$OUT/x86-tree/lib/modules/$FIXTURE_KVER/kernel/drivers/scsi/mpt3sas/mpt3sas.ko" "$OUT/x86/mpt3sas.ko"
rm -rf "$OUT/x86-tree"

# The other packings of the same Image: gzip (Image.gz), and EFI zboot. Debian builds no
# zboot kernel, so the header of drivers/firmware/efi/libstub/zboot-header.S is written
# around the gzip'd Image: "MZ", "zimg" at 4, payload offset/size at 8/12, "gzip" at 24.
IMG=$OUT/kernel/$ARM64_KVER/boot/vmlinuz-$ARM64_KVER
gzip -9 -n -c "$IMG" >"$OUT/vmlinuz.gz"
python3 - "$OUT/vmlinuz.gz" "$OUT/vmlinuz.zboot" <<'PY'
import struct, sys
gz = open(sys.argv[1], 'rb').read()
hdr = bytearray(0x1000)
hdr[0:4] = struct.pack('<I', 0x5a4d)
hdr[4:8] = b'zimg'
hdr[8:16] = struct.pack('<II', len(hdr), len(gz))
hdr[24:29] = b'gzip\0'
hdr[0x38:0x3c] = b'\xcd\x23\x82\x81'
open(sys.argv[2], 'wb').write(bytes(hdr) + gz)
PY

CASES=$OUT/cases
rm -rf "$CASES"; mkdir -p "$CASES"
tmod() { echo "$OUT/kernel/$1/lib/modules/$1/kernel/$2"; }
cp "$(tmod "$ARM64_KVER" drivers/scsi/mpt3sas/mpt3sas.ko)" "$CASES/mpt3sas_same.ko"
cp "$(tmod "$ARM64_OTHER_KVER" drivers/scsi/mpt3sas/mpt3sas.ko)" "$CASES/mpt3sas_other.ko"
# objcopy writes the ELF only: the appended signature goes too (the copies are unsigned).
"$OBJCOPY" --remove-section=__versions "$CASES/mpt3sas_other.ko" "$CASES/mpt3sas_nover_other.ko"
"$OBJCOPY" --remove-section=__versions "$CASES/mpt3sas_same.ko" "$CASES/mpt3sas_nover_same.ko"
cp "$OUT/x86/mpt3sas.ko" "$CASES/mpt3sas_x86_64.ko"
"$OBJCOPY" "$CASES/mpt3sas_same.ko" "$CASES/mpt3sas_unsigned.ko"
python3 - "$CASES/mpt3sas_unsigned.ko" "$CASES/mpt3sas_badreloc.ko" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
shoff, = struct.unpack_from('<Q', d, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', d, 0x3a)
def sh(i):
    return struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * shentsize)
stroff = sh(shstrndx)[4]
for i in range(shnum):
    name, typ, _, _, off, size, link, info, _, _ = sh(i)
    n = d[stroff + name:d.index(b'\0', stroff + name)]
    if n == b'.rela.text' and typ == 4 and size >= 24:
        info_at = off + 8
        r_info, = struct.unpack_from('<Q', d, info_at)
        struct.pack_into('<Q', d, info_at, (r_info & ~0xffffffff) | 549)
        break
else:
    sys.exit('no .rela.text')
open(sys.argv[2], 'wb').write(bytes(d))
PY
rm -f "$CASES/mpt3sas_unsigned.ko"

# --- ELRepo-style kmod RPMs ----------------------------------------------------------------
# kmod_rpm ARCH KO KVER
kmod_rpm() {
    local arch=$1 ko=$2 kver=$3 top
    top=$(mktemp -d)
    mkdir -p "$top"/{SPECS,SOURCES,BUILD,RPMS,BUILDROOT}
    cp "$ko" "$top/SOURCES/mpt3sas.ko"
    cat >"$top/SPECS/kmod.spec" <<SPEC
Name: kmod-mpt3sas
Version: 43.100.00.00
Release: 1.fixture
Summary: mpt3sas kernel module (arm64 fixture)
License: GPLv2
AutoReqProv: no
%define __os_install_post %{nil}
%define debug_package %{nil}
Provides: kernel-modules >= ${kver%-*}
Provides: kmod-mpt3sas = %{version}-%{release}

%description
Fixture kmod package carrying mpt3sas built for $kver ($arch).

%install
mkdir -p %{buildroot}/lib/modules/${kver}/extra/mpt3sas
install -m 0644 %{_sourcedir}/mpt3sas.ko %{buildroot}/lib/modules/${kver}/extra/mpt3sas/mpt3sas.ko

%files
%defattr(644,root,root,755)
/lib/modules/${kver}/extra/mpt3sas/mpt3sas.ko
SPEC
    SOURCE_DATE_EPOCH=1700000000 rpmbuild --quiet -bb --target "$arch" --nodeps \
        --define "_topdir $top" --define "_binary_payload w9.xzdio" \
        --define "use_source_date_epoch_as_buildtime 1" --define "_buildhost fixture" \
        "$top/SPECS/kmod.spec" >"$top/build.log" 2>&1 || { cat "$top/build.log" >&2; exit 1; }
    mkdir -p "$OUT/rpms"
    cp "$top"/RPMS/"$arch"/*.rpm "$OUT/rpms/"
    rm -rf "$top"
}
rm -rf "$OUT/rpms"
kmod_rpm aarch64 "$CASES/mpt3sas_same.ko" "$ARM64_KVER"
kmod_rpm x86_64 "$CASES/mpt3sas_x86_64.ko" "$FIXTURE_KVER"

# --- initrd base for the QEMU harness: busybox-static:arm64 ----------------------------
BASE=$OUT/initrd-base
rm -rf "$BASE"; mkdir -p "$BASE"/{usr/bin,usr/sbin,proc,sys,dev,tmp,cases}
ln -s usr/bin "$BASE/bin"; ln -s usr/sbin "$BASE/sbin"
bb=$(mktemp -d)
dpkg-deb -x "$(fetch_deb_arch busybox-static arm64)" "$bb"
install -m 0755 "$bb/bin/busybox" "$BASE/usr/bin/busybox"
rm -rf "$bb"
for l in insmod rmmod; do ln -s ../bin/busybox "$BASE/usr/sbin/$l"; done

touch "$STAMP"
log "built $OUT"

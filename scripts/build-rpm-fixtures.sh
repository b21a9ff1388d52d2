#!/usr/bin/env bash
# Builds kmod-style RPMs around real Debian kernel modules and vendor-style DUD ISOs from
# them, cached in $REMASTER_FIXTURES/rpm/. Used by tests/dud_*.rs.
#
# RPMs (all --target x86_64, built with rpmbuild; module = megaraid_sas, which the fixture
# boot ISO deliberately lacks):
#   kmod-megaraid_sas-good      Provides kernel-modules >= 6.1.0-50, .ko under
#                               /lib/modules/<kver>/extra/megaraid_sas/, depmod.d override,
#                               kABI Requires from the module's real __versions; xz payload
#   kmod-megaraid_sas-zstd/gzip the same with a zstd / gzip payload
#   kmod-megaraid_sas-newer     Provides kernel-modules >= 6.1.0-60 (dd_list skips it)
#   kmod-megaraid_sas-unver     unversioned Provides kernel-modules (dd_list skips it)
#   kmod-megaraid_sas-koxz      module as .ko.xz (dd_extract <= 9.4 skips it)
#   kmod-megaraid_sas-usrlib    module under /usr/lib/modules (never loaded by the installer)
#   kmod-megaraid_sas-other     module from linux-image-$OTHER_KVER (wrong kABI)
# DUD ISOs (xorriso -as mkisofs -V OEMDRV -R -J -uid 0 -gid 0 -dir-mode 0555 -file-mode 0444):
#   dd-good.iso     rhdd3 + rpms/x86_64/kmod-megaraid_sas-good*.rpm
#   dd-mixed.iso    rhdd3 + every RPM above
#   dd-deep.iso     vendor/driver/rhdd3 + vendor/driver/rpms/x86_64/good.rpm (nested repo)
#   dd-nested.iso   dd-good.iso at the top level, no repo (the installer recurses into it)
#   dd-seed.iso     rhdd3 + ks-modules/x86_64/<kver>/megaraid_sas.ko (not a driver disk)
#   dd-norhdd3.iso  rpms/x86_64/good.rpm without rhdd3 (not a driver disk)
# Also: good-/other-megaraid_sas.ko (the packaged modules), Module.symvers-<kver> of both
# kernels (from linux-headers-<kver>), kvers (FIXTURE_KVER and OTHER_KVER, one a line).
# Usage: scripts/build-rpm-fixtures.sh        (prints the output directory)
. "$(dirname "$0")/lib.sh"

OUT=$REMASTER_FIXTURES/rpm
STAMP_VERSION=4
# Concurrent test processes wait for one build.
exec 9>"$REMASTER_FIXTURES/.rpm-fixtures.lock"
flock 9
if [ -e "$OUT/.complete-$STAMP_VERSION" ]; then
    printf '%s\n' "$OUT"
    exit 0
fi
for tool in rpmbuild xorriso modprobe xz; do
    command -v "$tool" >/dev/null || { log "missing $tool (apt-get install rpm xorriso kmod xz-utils)"; exit 1; }
done

KDIR=$REMASTER_FIXTURES/kernel/$FIXTURE_KVER
ODIR=$REMASTER_FIXTURES/kernel/$OTHER_KVER
extract_deb "linux-image-$FIXTURE_KVER" "$KDIR"
extract_deb "linux-image-$OTHER_KVER" "$ODIR"
MOD=megaraid_sas
find_module() { find "$1/lib/modules/$2" -name "$MOD.ko" -print -quit; }
GOOD_KO=$(find_module "$KDIR" "$FIXTURE_KVER")
OTHER_KO=$(find_module "$ODIR" "$OTHER_KVER")
[ -n "$GOOD_KO" ] && [ -n "$OTHER_KO" ] || { log "$MOD.ko not found in the unpacked kernels"; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT/rpms"

# RPM versions allow one dash: "6.1.0-50-amd64" -> "6.1.0-50" (see testing-notes.md).
kernel_dep_version() { printf '%s\n' "${1%-amd64}"; }

# build_rpm VARIANT KO KVER PROVIDES INSTALL_DIR COMPRESS PAYLOAD
build_rpm() {
    local variant=$1 ko=$2 kver=$3 provides=$4 instdir=$5 compress=$6 payload=$7
    local top=$WORK/$variant modfile=$MOD.ko
    mkdir -p "$top"/{SPECS,SOURCES,BUILD,RPMS,BUILDROOT}
    cp "$ko" "$top/SOURCES/$MOD.ko"
    if [ "$compress" = xz ]; then
        xz --check=crc32 --lzma2=dict=1MiB -c "$ko" > "$top/SOURCES/$MOD.ko.xz"
        modfile=$MOD.ko.xz
    fi
    printf 'override %s * weak-updates/%s\n' "$MOD" "$MOD" > "$top/SOURCES/kmod-$MOD.conf"
    local kabi
    kabi=$(modprobe --dump-modversions "$ko" | awk '{ printf "Requires: kernel(%s) = %s\n", $2, $1 }')
    cat > "$top/SPECS/kmod.spec" <<EOF
Name: kmod-${MOD}-${variant}
Version: 07.719.03.00
Release: 1.fixture
Summary: $MOD kernel module ($variant fixture)
License: GPLv2
BuildArch: x86_64
AutoReqProv: no
%define __os_install_post %{nil}
%define debug_package %{nil}
Provides: ${provides}
Provides: kmod-${MOD} = %{version}-%{release}
Requires: kernel >= $(kernel_dep_version "$kver")
${kabi}

%description
Fixture kmod package ($variant) carrying $MOD built for $kver.

%install
mkdir -p %{buildroot}${instdir}/${kver}/extra/${MOD} %{buildroot}/etc/depmod.d
install -m 0644 %{_sourcedir}/${modfile} %{buildroot}${instdir}/${kver}/extra/${MOD}/${modfile}
install -m 0644 %{_sourcedir}/kmod-${MOD}.conf %{buildroot}/etc/depmod.d/kmod-${MOD}.conf

%files
%defattr(644,root,root,755)
${instdir}/${kver}/extra/${MOD}/${modfile}
%config /etc/depmod.d/kmod-${MOD}.conf
EOF
    SOURCE_DATE_EPOCH=1700000000 rpmbuild --quiet -bb --target x86_64 --nodeps \
        --define "_topdir $top" --define "_binary_payload $payload" \
        --define "use_source_date_epoch_as_buildtime 1" --define "_buildhost fixture" \
        "$top/SPECS/kmod.spec" >"$top/build.log" 2>&1 || { cat "$top/build.log" >&2; exit 1; }
    cp "$top"/RPMS/x86_64/*.rpm "$OUT/rpms/"
}

GOOD_DEP=$(kernel_dep_version "$FIXTURE_KVER")
OTHER_DEP=$(kernel_dep_version "$OTHER_KVER")
build_rpm good   "$GOOD_KO"  "$FIXTURE_KVER" "kernel-modules >= $GOOD_DEP" /lib/modules     none w9.xzdio
build_rpm zstd   "$GOOD_KO"  "$FIXTURE_KVER" "kernel-modules >= $GOOD_DEP" /lib/modules     none w19.zstdio
build_rpm gzip   "$GOOD_KO"  "$FIXTURE_KVER" "kernel-modules >= $GOOD_DEP" /lib/modules     none w9.gzdio
build_rpm newer  "$GOOD_KO"  "$FIXTURE_KVER" "kernel-modules >= 6.1.0-60"  /lib/modules     none w9.xzdio
build_rpm unver  "$GOOD_KO"  "$FIXTURE_KVER" "kernel-modules"              /lib/modules     none w9.xzdio
build_rpm koxz   "$GOOD_KO"  "$FIXTURE_KVER" "kernel-modules >= $GOOD_DEP" /lib/modules     xz   w9.xzdio
build_rpm usrlib "$GOOD_KO"  "$FIXTURE_KVER" "kernel-modules >= $GOOD_DEP" /usr/lib/modules none w9.xzdio
build_rpm other  "$OTHER_KO" "$OTHER_KVER"   "kernel-modules >= $OTHER_DEP" /lib/modules    none w9.xzdio

# Vendor-style DUD ISOs.
mkisofs_dud() { # OUTPUT TREE
    SOURCE_DATE_EPOCH=1700000000 xorriso -as mkisofs -quiet -V OEMDRV -R -J -uid 0 -gid 0 \
        -dir-mode 0555 -file-mode 0444 -o "$1" "$2" 2>"$WORK/xorriso.log" \
        || { cat "$WORK/xorriso.log" >&2; exit 1; }
}
RHDD3_TEXT="Driver Update Disk version 3"
GOOD_RPM=$(ls "$OUT"/rpms/kmod-${MOD}-good-*.rpm)

t=$WORK/iso-good; mkdir -p "$t/rpms/x86_64"
printf '%s' "$RHDD3_TEXT" > "$t/rhdd3"; cp "$GOOD_RPM" "$t/rpms/x86_64/"
mkisofs_dud "$OUT/dd-good.iso" "$t"

t=$WORK/iso-mixed; mkdir -p "$t/rpms/x86_64"
printf '%s' "$RHDD3_TEXT" > "$t/rhdd3"; cp "$OUT"/rpms/*.rpm "$t/rpms/x86_64/"
mkisofs_dud "$OUT/dd-mixed.iso" "$t"

t=$WORK/iso-deep; mkdir -p "$t/vendor/driver/rpms/x86_64"
printf '%s' "$RHDD3_TEXT" > "$t/vendor/driver/rhdd3"; cp "$GOOD_RPM" "$t/vendor/driver/rpms/x86_64/"
mkisofs_dud "$OUT/dd-deep.iso" "$t"

t=$WORK/iso-nested; mkdir -p "$t"
cp "$OUT/dd-good.iso" "$t/dd-good.iso"
mkisofs_dud "$OUT/dd-nested.iso" "$t"

t=$WORK/iso-seed; mkdir -p "$t/ks-modules/x86_64/$FIXTURE_KVER"
printf '%s' "$RHDD3_TEXT" > "$t/rhdd3"; cp "$GOOD_KO" "$t/ks-modules/x86_64/$FIXTURE_KVER/"
mkisofs_dud "$OUT/dd-seed.iso" "$t"

t=$WORK/iso-norhdd3; mkdir -p "$t/rpms/x86_64"
cp "$GOOD_RPM" "$t/rpms/x86_64/"
mkisofs_dud "$OUT/dd-norhdd3.iso" "$t"

# Reference data for the tests: the module bytes each RPM must yield, and each kernel's
# exported symbol CRCs (Module.symvers from linux-headers) for the kABI checks.
for kv in "$FIXTURE_KVER" "$OTHER_KVER"; do
    hdir=$REMASTER_FIXTURES/headers/$kv
    extract_deb "linux-headers-$kv" "$hdir"
    cp "$hdir/usr/src/linux-headers-$kv/Module.symvers" "$OUT/Module.symvers-$kv"
done
cp "$GOOD_KO" "$OUT/good-$MOD.ko"
cp "$OTHER_KO" "$OUT/other-$MOD.ko"
printf '%s\n%s\n' "$FIXTURE_KVER" "$OTHER_KVER" > "$OUT/kvers"
touch "$OUT/.complete-$STAMP_VERSION"
log "built $(ls "$OUT"/rpms | wc -l) RPMs and 6 DUD ISOs in $OUT"
printf '%s\n' "$OUT"

#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for a fixed time and prints executions, time, corpus
# size and crashes per target. CI runs it briefly (scripts/test.sh with CI=true or --fuzz:
# FUZZ_SECONDS=10 FUZZ_INSTALL=1); long runs are by hand (docs/fuzzing.md).
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh [TARGET...]       (default: every target)
#
# Seeds are built from the real fixtures into $REMASTER_FIXTURES/fuzz-seeds/<target>/ (cached);
# the growing corpora live in $REMASTER_FIXTURES/fuzz-corpus/<target>/, crash artifacts in
# fuzz/artifacts/<target>/ (git-ignored; turn each one into a regression test). cargo-fuzz
# needs nightly flags (-Zsanitizer...): on a stable toolchain RUSTC_BOOTSTRAP=1 enables them.
# FUZZ_SANITIZER=none|address (default address), FUZZ_RSS_MB (default 2048), FUZZ_SEEDS_ONLY=1
# (build the seeds and stop), FUZZ_INSTALL=1 (cargo install cargo-fuzz from crates.io if it
# is missing), FUZZ_BUILD=release|dev (default release: -O -a, optimised with debug
# assertions and overflow checks; dev: -D, unoptimised, same checks, much faster to
# compile: the CI smoke run). Either way an overflow on a hostile field is a crash, not a
# silent wrap.
. "$(dirname "$0")/lib.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
case ${FUZZ_BUILD:-release} in
    release) build_flags=(-O -a) ;;
    dev) build_flags=(-D) ;;
    *) echo "FUZZ_BUILD must be release or dev" >&2; exit 2 ;;
esac
FUZZ_DIR=$REPO_ROOT/fuzz
SEEDS=$REMASTER_FIXTURES/fuzz-seeds
CORPUS=$REMASTER_FIXTURES/fuzz-corpus
ALL_TARGETS=(iso_image initrd_walk cpio_newc kmod_module kmod_kernel rpm_reader dud_iso boot_config efiboot_fat
    alias_glob depmod_index)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    if [ "${FUZZ_INSTALL:-}" = 1 ]; then
        log "installing cargo-fuzz (crates.io)"
        cargo install cargo-fuzz --locked >&2
    else
        log "cargo-fuzz is not installed: cargo install cargo-fuzz --locked (or FUZZ_INSTALL=1)"
        exit 2
    fi
fi
export RUSTC_BOOTSTRAP=1

# --- seeds (from the fixtures; cached by a stamp of this script) ---------------------------
build_seeds() {
    local stamp t
    stamp=$(sha256sum "$0" | cut -d' ' -f1)
    if [ "$(cat "$SEEDS/stamp" 2>/dev/null)" = "$stamp" ]; then
        return
    fi
    "$REPO_ROOT/scripts/build-fixture-iso.sh" >&2
    "$REPO_ROOT/scripts/build-kmod-fixtures.sh" >&2
    rm -rf "$SEEDS"
    for t in "${ALL_TARGETS[@]}"; do mkdir -p "$SEEDS/$t"; done
    t=$(mktemp -d)
    trap 'rm -rf "$t"' RETURN
    local iso=$REMASTER_FIXTURES/iso/boot.iso cases=$REMASTER_FIXTURES/kmod/cases
    local kver=$FIXTURE_KVER

    # Boot configs from the fixture ISO: first byte selects the dialect (even = isolinux).
    xorriso -osirrox on -indev "$iso" -extract /isolinux/isolinux.cfg "$t/isolinux.cfg" \
        -extract /EFI/BOOT/grub.cfg "$t/grub.cfg" >/dev/null 2>&1
    { printf '\0'; cat "$t/isolinux.cfg"; } >"$SEEDS/boot_config/isolinux.cfg"
    { printf '\1'; cat "$t/grub.cfg"; } >"$SEEDS/boot_config/grub.cfg"

    # Modules.
    cp "$cases"/tiny_same.ko "$cases"/tiny_signed.ko "$cases"/tiny_ns.ko "$cases"/wrong_arch.ko \
        "$cases"/tiny_same.ko.xz "$cases"/tiny_same.ko.zst "$cases"/tiny_same.ko.gz "$SEEDS/kmod_module/"

    # A small initramfs tree as newc, xz (CRC32), zstd, gzip, and early cpio + xz.
    local root=$t/root
    mkdir -p "$root/usr/lib/modules/$kver/kernel/drivers" "$root/etc"
    ln -s usr/lib "$root/lib"
    cp "$cases/tiny_same.ko" "$root/usr/lib/modules/$kver/kernel/drivers/tiny.ko"
    echo "kernel/drivers/tiny.ko:" >"$root/usr/lib/modules/$kver/modules.dep"
    echo 'VERSION_ID="9.2"' >"$root/etc/os-release"
    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$t/plain.cpio"
    cp "$t/plain.cpio" "$SEEDS/initrd_walk/plain.cpio"
    xz -q --check=crc32 -c "$t/plain.cpio" >"$SEEDS/initrd_walk/xz.img"
    zstd -q -c "$t/plain.cpio" >"$SEEDS/initrd_walk/zstd.img"
    gzip -n -c "$t/plain.cpio" >"$SEEDS/initrd_walk/gzip.img"
    mkdir -p "$t/early/kernel/x86/microcode"
    echo microcode >"$t/early/kernel/x86/microcode/GenuineIntel.bin"
    (cd "$t/early" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$t/early.cpio"
    cat "$t/early.cpio" "$SEEDS/initrd_walk/xz.img" >"$SEEDS/initrd_walk/early+xz.img"
    # cpio_newc prepends the magic itself.
    tail -c +7 "$t/plain.cpio" >"$SEEDS/cpio_newc/plain"
    tail -c +7 "$t/early.cpio" >"$SEEDS/cpio_newc/early"

    # A small bzImage: the real setup header, then a small xz payload (a module's ELF).
    python3 - "$REMASTER_FIXTURES/kernel/$kver/boot/vmlinuz-$kver" "$cases/tiny_same.ko" \
        "$SEEDS/kmod_kernel" <<'EOF'
import lzma, struct, sys
bz, elf, out = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), sys.argv[3]
setup = (bz[0x1F1] or 4) + 1
head = bytearray(bz[: setup * 512])
for name, payload in [("xz", lzma.compress(elf, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)),
                      ("raw-header", b"")]:
    h = bytearray(head)
    struct.pack_into("<II", h, 0x248, 64, len(payload))
    open(f"{out}/{name}.bzimage", "wb").write(bytes(h) + bytes(64) + payload)
EOF

    # A tiny kmod RPM (xz, gzip and zstd payloads) and a DUD ISO around it.
    local top=$t/rpmbuild
    mkdir -p "$top/SOURCES" "$top/SPECS"
    cp "$cases/tiny_same.ko" "$top/SOURCES/tiny.ko"
    echo "override tiny * weak-updates/tiny" >"$top/SOURCES/tiny.conf"
    local comp
    for comp in w6.xzdio w9.gzdio w19.zstdio; do
        cat >"$top/SPECS/tiny.spec" <<EOF
Name: kmod-tiny-${comp%%.*}
Version: 1.0
Release: 1
Summary: fuzz seed
License: GPL
BuildArch: x86_64
Provides: kernel-modules >= ${kver%-amd64}
Requires: kernel(printk) = 0x12345678
%define _binary_payload $comp
%description
seed
%install
mkdir -p %{buildroot}/lib/modules/$kver/extra/tiny %{buildroot}/etc/depmod.d
cp %{_sourcedir}/tiny.ko %{buildroot}/lib/modules/$kver/extra/tiny/tiny.ko
cp %{_sourcedir}/tiny.conf %{buildroot}/etc/depmod.d/tiny.conf
%files
/lib/modules/$kver/extra/tiny/tiny.ko
/etc/depmod.d/tiny.conf
EOF
        rpmbuild -bb --quiet --define "_topdir $top" --define "__strip /bin/true" \
            --define "__os_install_post %{nil}" --define "debug_package %{nil}" \
            "$top/SPECS/tiny.spec" >/dev/null 2>&1
    done
    cp "$top"/RPMS/x86_64/*.rpm "$SEEDS/rpm_reader/"
    mkdir -p "$t/dud/rpms/x86_64"
    printf 'Driver Update Disk version 3' >"$t/dud/rhdd3"
    cp "$top"/RPMS/x86_64/kmod-tiny-w6*.rpm "$t/dud/rpms/x86_64/"
    xorriso -as mkisofs -quiet -R -J -V OEMDRV -no-pad -o "$SEEDS/dud_iso/dd.iso" "$t/dud" 2>/dev/null

    # A small hybrid boot ISO (El Torito BIOS + EFI, isohybrid GPT) for the ISO reader, and the
    # DUD (no boot records).
    mkdir -p "$t/iso/boot" "$t/iso/EFI/BOOT"
    cp /usr/lib/ISOLINUX/isolinux.bin "$t/iso/boot/bios.img"
    mkfs.fat -C "$t/iso/boot/efi.img" 64 >/dev/null
    cp "$t/grub.cfg" "$t/iso/EFI/BOOT/grub.cfg"
    ln "$t/iso/EFI/BOOT/grub.cfg" "$t/iso/boot/grub-link.cfg"
    xorriso -as mkisofs -quiet -R -J -V SEED -no-pad -b boot/bios.img -no-emul-boot -boot-load-size 4 \
        -boot-info-table -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin -partition_cyl_align off \
        -eltorito-alt-boot -e boot/efi.img -no-emul-boot -isohybrid-gpt-basdat \
        -o "$SEEDS/iso_image/hybrid.iso" "$t/iso" 2>/dev/null
    cp "$SEEDS/dud_iso/dd.iso" "$SEEDS/iso_image/dud.iso"
    cp "$SEEDS/iso_image/hybrid.iso" "$SEEDS/dud_iso/hybrid.iso"

    # Alias globs: pattern NUL text.
    printf 'pci:v00001000d00000072sv*sd*bc*sc*i*\0pci:v00001000d00000072sv00001028sd00001F1Cbc01sc04i00' \
        >"$SEEDS/alias_glob/pci"
    printf 'pci:v0000[89]086d*[!0]?\\*\0pci:v00008086d00001234*' >"$SEEDS/alias_glob/brackets"
    printf 'usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*\0usb:v1234p5678d0100dc00dsc00dp00ic08isc06ip50in00' \
        >"$SEEDS/alias_glob/usb"
    # depmod: builtin.modinfo, ---, modules.builtin, ---, a module.
    { printf 'ahci.alias=pci:v*d*sv*sd*bc01sc06i01\0ahci.alias=pci:v00008086d*\0sd_mod.alias=scsi:t-0x00\0'
      printf '\n---\nkernel/drivers/ata/ahci.ko\nkernel/drivers/scsi/sd_mod.ko\n\n---\n'
      cat "$cases/tiny_same.ko"; } >"$SEEDS/depmod_index/tiny"

    # A small FAT image holding EFI/BOOT/grub.cfg, like efiboot.img.
    mkfs.fat -C "$SEEDS/efiboot_fat/efiboot.img" 64 -n ANACONDA >/dev/null
    mmd -i "$SEEDS/efiboot_fat/efiboot.img" ::EFI ::EFI/BOOT
    mcopy -i "$SEEDS/efiboot_fat/efiboot.img" "$t/grub.cfg" ::EFI/BOOT/grub.cfg
    echo "$stamp" >"$SEEDS/stamp"
}

build_seeds
if [ "${FUZZ_SEEDS_ONLY:-}" = 1 ]; then
    log "seeds in $SEEDS"
    exit 0
fi

# Largest input per target (bytes): room for the seeds plus growth.
max_len() {
    case $1 in
        iso_image | dud_iso) echo 262144 ;;
        efiboot_fat) echo 131072 ;;
        rpm_reader | kmod_module | kmod_kernel | initrd_walk | depmod_index) echo 65536 ;;
        *) echo 16384 ;;
    esac
}

log "building the fuzz targets (${FUZZ_BUILD:-release}, sanitizer $FUZZ_SANITIZER, debug assertions + overflow checks)"
build_start=$(date +%s)
(cd "$FUZZ_DIR" && cargo fuzz build "${build_flags[@]}" -s "$FUZZ_SANITIZER" >&2)
log "built in $(( $(date +%s) - build_start ))s"

summary=()
total_crashes=0
for target in "${targets[@]}"; do
    mkdir -p "$CORPUS/$target" "$FUZZ_DIR/artifacts/$target"
    before=$(find "$FUZZ_DIR/artifacts/$target" -type f | wc -l)
    logf=$(mktemp)
    log "$target: ${FUZZ_SECONDS}s"
    start=$(date +%s)
    set +e
    (cd "$FUZZ_DIR" && cargo fuzz run "${build_flags[@]}" -s "$FUZZ_SANITIZER" "$target" "$CORPUS/$target" "$SEEDS/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$target")" -rss_limit_mb="$FUZZ_RSS_MB" \
        -timeout=20 -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/artifacts/$target/") >"$logf" 2>&1
    rc=$?
    set -e
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logf" | tail -n1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$logf" | tail -n1)
    after=$(find "$FUZZ_DIR/artifacts/$target" -type f | wc -l)
    crashes=$((after - before))
    corpus=$(find "$CORPUS/$target" -type f | wc -l)
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="?"
        log "$target: cargo fuzz exited $rc without an artifact; log kept at $logf"
    fi
    if [ "$crashes" != 0 ]; then
        grep -E "panicked|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY|Test unit written" "$logf" | head -n 8 >&2 || true
        [ "$crashes" = "?" ] || rm -f "$logf"
        total_crashes=$((total_crashes + 1))
    else
        rm -f "$logf"
    fi
    summary+=("$(printf '%-12s %6ss %12s execs %8s exec/s %6s corpus %5s MB rss  crashes: %s' \
        "$target" "$secs" "${execs:-?}" "${rate:-?}" "$corpus" "${rss:-?}" "$crashes")")
done

printf '%s\n' "--- fuzz summary (FUZZ_SECONDS=$FUZZ_SECONDS, sanitizer $FUZZ_SANITIZER, $(date -u +%FT%TZ))"
printf '%s\n' "${summary[@]}"
[ "$total_crashes" -eq 0 ]

# Shared helpers for the fixture and test scripts. Source it: `. "$(dirname "$0")/lib.sh"`.
# Fixtures are built on demand into $REMASTER_FIXTURES (default: <repo>/fixtures/build),
# cached there, and never committed.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REMASTER_FIXTURES=${REMASTER_FIXTURES:-$REPO_ROOT/fixtures/build}
DEBS_DIR=$REMASTER_FIXTURES/debs
mkdir -p "$DEBS_DIR"

# The Debian kernel that plays the part of the ISO's kernel, and a second build with
# another ABI (its modules must be refused).
FIXTURE_KVER=${FIXTURE_KVER:-6.1.0-50-amd64}
OTHER_KVER=${OTHER_KVER:-6.1.0-47-amd64}
# The 6.12 kernel that plays the part of an EL10 (6.12-based) kernel, from bookworm-security
# (Debian's signed linux-image-6.12.*: modules signed with an ECDSA P-384 build key), and a
# second 6.12 build with another ABI.
EL10_KVER=${EL10_KVER:-6.12.118+deb12-amd64}
EL10_OTHER_KVER=${EL10_OTHER_KVER:-6.12.117+deb12-amd64}

# arm64 (aarch64 media): the Debian arm64 kernel that plays the part of the ISO's kernel, and
# another arm64 build (scripts/build-kmod-fixtures-arm64.sh; needs `dpkg --add-architecture arm64`).
ARM64_KVER=${ARM64_KVER:-6.1.0-50-arm64}
ARM64_OTHER_KVER=${ARM64_OTHER_KVER:-6.1.0-47-arm64}

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

# fetch_deb PACKAGE: download a .deb into the shared cache once; print its path.
fetch_deb() {
    local pkg=$1 f
    f=$(ls "$DEBS_DIR/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$f" ]; then
        (cd "$DEBS_DIR" && apt-get download "$pkg" >/dev/null 2>&1) || {
            log "apt-get download $pkg failed (run apt-get update first?)"; return 1; }
        f=$(ls "$DEBS_DIR/${pkg}"_*.deb | head -n1)
    fi
    printf '%s\n' "$f"
}

# fetch_deb_arch PACKAGE ARCH: fetch_deb for another architecture's package (PACKAGE:ARCH);
# needs `dpkg --add-architecture ARCH` and `apt-get update` (scripts/setup.sh does both).
fetch_deb_arch() {
    local pkg=$1 arch=$2 f
    f=$(ls "$DEBS_DIR/${pkg}"_*_"$arch".deb 2>/dev/null | head -n1 || true)
    if [ -z "$f" ]; then
        (cd "$DEBS_DIR" && apt-get download "$pkg:$arch" >/dev/null 2>&1) || {
            log "apt-get download $pkg:$arch failed (dpkg --add-architecture $arch; apt-get update)"; return 1; }
        f=$(ls "$DEBS_DIR/${pkg}"_*_"$arch".deb | head -n1)
    fi
    printf '%s\n' "$f"
}

# extract_deb PACKAGE DIR: unpack a cached .deb into DIR (once).
extract_deb() {
    local pkg=$1 dir=$2
    if [ ! -e "$dir/.extracted-$pkg" ]; then
        mkdir -p "$dir"
        dpkg-deb -x "$(fetch_deb "$pkg")" "$dir"
        touch "$dir/.extracted-$pkg"
    fi
}

# bench_measure LABEL CMD...: runs CMD $REPEAT times (default 3) and prints
# "LABEL best_wall_seconds max_rss_kib". For the benchmark scripts; timings are printed,
# never asserted.
bench_measure() {
    local label=$1; shift
    local best="" maxrss=0 i wall rss t
    t=$(mktemp)
    for ((i = 0; i < ${REPEAT:-3}; i++)); do
        /usr/bin/time -v "$@" >/dev/null 2>"$t" || { cat "$t" >&2; rm -f "$t"; return 1; }
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$t")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$t")
        if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$wall; fi
        [ "$rss" -gt "$maxrss" ] && maxrss=$rss
    done
    rm -f "$t"
    printf '%s %s %s\n' "$label" "$best" "$maxrss"
}

# ------------------------------------------------------------------ fixture ISO helpers
# Shared by build-fixture-iso.sh (EL9 layout) and build-fixture-el10.sh (EL10 layout).

# fixture_need TOOL...: exit with a hint if a tool is missing.
fixture_need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || { log "missing $t: run scripts/setup.sh"; exit 1; }
    done
}

# initrd_copy_dynamic IR BINARY DEST: a dynamic binary plus its libraries (usr/lib/x86_64-linux-gnu,
# where Debian's loader looks) and the loader (usr/lib64, reached through the lib64 symlink).
initrd_copy_dynamic() {
    local ir=$1 bin=$2 dest_rel=$3 lib dest
    install -m 0755 "$bin" "$ir/$dest_rel"
    ldd "$bin" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r lib; do
        case "$lib" in
            /lib64/*) dest=$ir/usr/lib64/${lib##*/} ;;
            *) dest=$ir/usr/lib/x86_64-linux-gnu/${lib##*/} ;;
        esac
        mkdir -p "$(dirname "$dest")"
        [ -e "$dest" ] || install -m 0755 "$(readlink -f "$lib")" "$dest"
    done
}

# initrd_skeleton IR INIT_SCRIPT: the test initrd's root without modules: RHEL usr-merge
# symlinks, busybox-static (all applets but the module tools), kmod and its tool links,
# checkisomd5, /init. The caller adds .buildstamp and etc/initrd-release.
initrd_skeleton() {
    local ir=$1 init=$2 busybox=/bin/busybox applet tool
    ! ldd "$busybox" >/dev/null 2>&1 ||
        { log "$busybox is not busybox-static: run scripts/setup.sh"; exit 1; }
    mkdir -p "$ir"/usr/{bin,sbin,lib,lib64} "$ir"/{dev,proc,sys,run,tmp,root,mnt,var}
    # RHEL usr-merge: the top-level directories are symlinks into /usr.
    ln -s usr/bin "$ir/bin"
    ln -s usr/sbin "$ir/sbin"
    ln -s usr/lib "$ir/lib"
    ln -s usr/lib64 "$ir/lib64"
    mkdir -p "$ir/etc/modules-load.d" "$ir/usr/lib/modules-load.d" "$ir/etc/remaster-report.d"
    install -m 0755 "$busybox" "$ir/usr/bin/busybox"
    # Applet links, except the module tools: those are kmod's (below).
    for applet in $("$busybox" --list); do
        case "$applet" in
            busybox | modprobe | insmod | rmmod | lsmod | modinfo | depmod) continue ;;
        esac
        [ -e "$ir/usr/bin/$applet" ] || ln -s busybox "$ir/usr/bin/$applet"
    done
    initrd_copy_dynamic "$ir" /usr/bin/kmod usr/bin/kmod
    for tool in modprobe insmod rmmod lsmod modinfo depmod; do ln -s ../bin/kmod "$ir/usr/sbin/$tool"; done
    initrd_copy_dynamic "$ir" "$(command -v checkisomd5)" usr/bin/checkisomd5
    install -m 0755 "$init" "$ir/init"
}

# initrd_modules IR KVER KMODS "ROOT MODULES" "FORBIDDEN MODULES": the closure of the root
# modules over `depends`, compressed RHEL-style (.ko.xz, CRC32; kept as they are if the kernel
# package ships them compressed), under
# usr/lib/modules/<kver>/kernel/<same path as Debian>, with modules.order/builtin and real
# depmod indexes. Fails if a forbidden module ends up in the closure.
initrd_modules() {
    local ir=$1 kver=$2 kmods=$3 roots=$4 forbidden=$5 ko n m dep src rel bad
    local -A mod_path=() want=()
    local -a queue
    while IFS= read -r ko; do
        n=${ko##*/}
        n=${n%.xz}
        n=${n%.ko}
        mod_path[${n//-/_}]=$ko
    done < <(find "$kmods/kernel" -name '*.ko' -o -name '*.ko.xz')
    # shellcheck disable=SC2206 # word splitting wanted: the list may span lines
    queue=($roots)
    while [ ${#queue[@]} -gt 0 ]; do
        m=${queue[0]//-/_}
        queue=("${queue[@]:1}")
        [ -n "${want[$m]:-}" ] && continue
        if [ -z "${mod_path[$m]:-}" ]; then
            grep -qE "/${m//_/[-_]}\.ko\$" "$kmods/modules.builtin" && continue
            log "module $m neither a module nor built in"; exit 1
        fi
        want[$m]=1
        for dep in $(modinfo -F depends "${mod_path[$m]}" | tr ',' ' '); do queue+=("$dep"); done
    done
    for bad in $forbidden; do
        [ -z "${want[$bad]:-}" ] || { log "$bad must not be in the base initrd"; exit 1; }
    done
    local moddir=$ir/usr/lib/modules/$kver
    mkdir -p "$moddir"
    for m in "${!want[@]}"; do
        src=${mod_path[$m]}
        rel=${src#"$kmods"/}
        mkdir -p "$moddir/$(dirname "$rel")"
        case "$src" in
            # Debian's 6.12 packages ship them xz'd already (CRC32, 1 MiB dictionary: the
            # kernel's own `make modules_install` settings, as RHEL's).
            *.xz) cp "$src" "$moddir/$rel" ;;
            *) xz --check=crc32 --lzma2=dict=1MiB -T1 -c "$src" >"$moddir/$rel.xz" ;;
        esac
    done
    cp "$kmods/modules.order" "$kmods/modules.builtin" "$kmods/modules.builtin.modinfo" "$moddir/"
    # Real depmod over the staged tree (kmod looks in <base>/lib/modules, which the lib symlink
    # turns into usr/lib/modules).
    depmod -b "$ir" "$kver"
    [ -s "$moddir/modules.dep" ] && [ -s "$moddir/modules.dep.bin" ] || { log "depmod wrote no index"; exit 1; }
}

# initrd_pack IR OUT EPOCH: newc cpio, sorted, owned by root, every mtime EPOCH, one xz
# stream with a CRC32 check (as dracut writes for lorax).
initrd_pack() {
    local ir=$1 out=$2 epoch=$3
    find "$ir" -exec touch -h -d "@$epoch" {} +
    (cd "$ir" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
        xz --check=crc32 --lzma2=dict=1MiB -T1 >"$out"
}

# make_efiboot IMG TREE EPOCH: lorax mkefiboot/mkdosimg: a FAT image labelled ANACONDA holding
# TREE/EFI (copied as ::/EFI), sized by estimate_size = Σ files and subdirectories of
# TREE/EFI/BOOT (st_size rounded up to 2 KiB) + 256 × 2 KiB.
# Reproducible: files keep the EPOCH mtime, and mkfs.fat's volume-label entry (stamped with the
# current time) gets the same stamps.
make_efiboot() {
    local img=$1 tree=$2 epoch=$3 size f s root_dir field
    size=$((256 * 2048))
    while IFS= read -r f; do
        s=$(stat -c %s "$f")
        size=$((size + (s + 2047) / 2048 * 2048))
    done < <(find "$tree/EFI/BOOT" -mindepth 1)
    rm -f "$img"
    mkfs.fat -n ANACONDA -i "$(printf '%08X' $((epoch & 0xffffffff)))" -C "$img" $((size / 1024)) >/dev/null
    find "$tree/EFI" -exec touch -h -d "@$epoch" {} +
    mcopy -s -m -i "$img" "$tree/EFI" ::/
    root_dir=$((($(_le16 "$img" 14) + $(od -An -tu1 -j16 -N1 "$img" | tr -d ' ') * $(_le16 "$img" 22)) * $(_le16 "$img" 11)))
    if [ "$(dd if="$img" bs=1 skip=$root_dir count=8 status=none)" = ANACONDA ]; then
        for field in 14 22; do
            dd if="$img" bs=1 skip=$((root_dir + 32 + field)) count=4 status=none |
                dd of="$img" bs=1 seek=$((root_dir + field)) conv=notrunc status=none
        done
    fi
    fsck.fat -n "$img" >/dev/null
}
_le16() { od -An -tu2 -j "$2" -N2 "$1" | tr -d ' '; }

# record_sgdisk_baseline ISO OUT: `sgdisk -v` stdout then stderr (the order
# tests/common/fixtures.rs::run_tool reproduces).
record_sgdisk_baseline() {
    local iso=$1 out=$2
    { sgdisk -v "$iso" 2>"$out.err" || true; cat "$out.err"; } >"$out"
    rm -f "$out.err"
}

#!/usr/bin/env bash
# Build a DVD-like EL9 installer ISO (issue 13 §3): the EL9 fixture's boot pieces (the same
# kernel, initrd, install.img, efiboot.img, isolinux and grub configs, taken out of the boot
# ISO that scripts/build-fixture-iso.sh builds) plus what a Rocky/RHEL 9 DVD adds on top
# (../shared/reference/boot-iso-layout.md):
#   BaseOS/ and AppStream/ repositories: thousands of generated *.rpm-named files of varied
#     sizes under Packages/<first letter>/, and repodata/ with repomd.xml + primary.xml.gz;
#   .treeinfo with [variant-BaseOS] and [variant-AppStream] sections, media.repo;
#   one file over 4 GiB (AppStream/Packages/b/bigdata-...rpm) stored as a multi-extent file
#     (`-iso-level 3`, as lorax passes when a file reaches 4 GiB). It is generated sparse:
#     zeros except distinct 1 MiB blocks at chosen offsets (start, both sides of the first
#     extent boundary at 0xFFFFF800, the middle, the last byte), so a byte-identity check of
#     it means something without writing 4 GiB of random data.
# Package content is deterministic pseudo-random bytes (seeded by the file name), so every
# file differs and a sampled checksum finds a misplaced extent. The ISO is written with
# lorax's xorrisofs flags plus `-iso-level 3`, then implantisomd5; its zero runs are turned
# into holes (fallocate --dig-holes) to keep the cache small on disk.
#
#   DVD_SIZE_GIB=N   volume size in GiB (default 5: the size the tests use; the benchmark,
#                    scripts/bench-dvd.sh, builds 9). The >4 GiB file is 4.25 GiB; packages
#                    fill the rest. At least 5.
#   DVD_PACKAGES=N   number of package files (default 4000, split 40 % BaseOS / 60 % AppStream)
#
# Output (cached; rebuilt when this script, the boot ISO or a parameter changes):
#   $REMASTER_FIXTURES/dvd-<N>g/dvd.iso, .../big.sha256 (sha256 of the multi-extent file),
#   .../files.txt (path and size of every file, sorted), .../stamp
# Prints the ISO path on stdout. Usage: scripts/build-fixture-dvd.sh [--force]
. "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
LABEL=Rocky-9-2-x86_64-dvd
PRODUCT="Rocky Linux"
VERSION=9.2
EPOCH=${SOURCE_DATE_EPOCH:-1683849600}
export SOURCE_DATE_EPOCH=$EPOCH
SIZE_GIB=${DVD_SIZE_GIB:-5}
PACKAGES=${DVD_PACKAGES:-4000}
BIG_PATH=AppStream/Packages/b/bigdata-1.0-1.el9.x86_64.rpm
BIG_BYTES=$((4 * 1024 * 1024 * 1024 + 256 * 1024 * 1024))
[ "$SIZE_GIB" -ge 5 ] || { log "DVD_SIZE_GIB must be at least 5 (the >4 GiB file alone is 4.25 GiB)"; exit 2; }
OUT_DIR=$REMASTER_FIXTURES/dvd-${SIZE_GIB}g
ISO=$OUT_DIR/dvd.iso

fixture_need xorrisofs xorriso implantisomd5 checkisomd5 python3 fallocate sha256sum flock
BOOT_ISO=$(FIXTURE_INSTALL_IMG_MB='' bash "$SCRIPT_DIR/build-fixture-iso.sh")
BOOT_STAMP=$(cat "$(dirname "$BOOT_ISO")/stamp")

STAMP=$({
    sha256sum "$0" "$SCRIPT_DIR/lib.sh" | cut -d' ' -f1
    echo "$BOOT_STAMP $SIZE_GIB $PACKAGES $EPOCH $LABEL $BIG_BYTES"
} | sha256sum | cut -d' ' -f1)

mkdir -p "$OUT_DIR"
exec 9>"$OUT_DIR.lock"
flock 9
if [ "${1:-}" != "--force" ] && [ -f "$ISO" ] && [ "$(cat "$OUT_DIR/stamp" 2>/dev/null)" = "$STAMP" ]; then
    echo "$ISO"
    exit 0
fi
START=$(date +%s.%N)
log "building $ISO (${SIZE_GIB} GiB, $PACKAGES packages, from $BOOT_ISO)"
rm -f "$ISO" "$OUT_DIR/stamp"
WORK=$(mktemp -d "$REMASTER_FIXTURES/.build-dvd.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
T=$WORK/tree

# ------------------------------------------------------------ the boot ISO's tree
xorriso -osirrox on -indev "$BOOT_ISO" -extract / "$T" >/dev/null 2>&1
chmod -R u+w "$T"
# xorrisofs makes the boot catalog again; the hard links lorax makes (one extent each).
rm -f "$T/isolinux/boot.cat"
ln -f "$T/images/pxeboot/vmlinuz" "$T/isolinux/vmlinuz"
ln -f "$T/images/pxeboot/initrd.img" "$T/isolinux/initrd.img"

# ------------------------------------------------------------ repositories + big file
AVAILABLE=$((SIZE_GIB * 1024 * 1024 * 1024 - BIG_BYTES - $(du -sb "$T" | cut -f1) - 64 * 1024 * 1024))
python3 - "$T" "$PACKAGES" "$AVAILABLE" "$BIG_PATH" "$BIG_BYTES" "$EPOCH" <<'PY'
import gzip, hashlib, os, random, sys
root, count, budget, big_path, big_bytes, epoch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
rng = random.Random(20230512)
words = ["acl", "bash", "binutils", "coreutils", "cups", "dbus", "emacs", "firefox", "gcc", "glibc",
         "gnome", "gtk3", "httpd", "java", "kernel", "libreoffice", "llvm", "mariadb", "nginx", "openssl",
         "perl", "php", "postgresql", "python3", "qemu", "ruby", "samba", "systemd", "texlive", "vim",
         "xorg", "zlib", "nodejs", "golang", "rust", "qt5", "mesa", "podman", "ansible", "tuned"]
names = set()
while len(names) < count:
    n = "%s-%s%d" % (rng.choice(words), rng.choice(["", "devel-", "libs-", "doc-", "tools-"]), rng.randrange(10000))
    names.add(n)
names = sorted(names)
# Log-uniform sizes from 2 KiB to 64 MiB, scaled so that they fill the budget.
raw = [2 ** rng.uniform(11, 26) for _ in names]
scale = budget / sum(raw)
pkgs = []
for i, n in enumerate(names):
    variant = "BaseOS" if i % 5 < 2 else "AppStream"
    fname = "%s-1.%d-1.el9.x86_64.rpm" % (n, i % 7)
    size = max(96, int(raw[i] * scale))
    pkgs.append((variant, "%s/Packages/%s/%s" % (variant, fname[0], fname), size, n))
repo = {"BaseOS": [], "AppStream": []}
for variant, rel, size, n in pkgs:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # An RPM lead (magic, v3.0, binary, name) then bytes seeded by the name: every file differs.
    lead = b"\xed\xab\xee\xdb\x03\x00\x00\x00" + n.encode()[:65].ljust(66, b"\0")
    body = random.Random(rel).randbytes(max(0, size - len(lead)))
    data = (lead + body)[:size]
    with open(path, "wb") as f:
        f.write(data)
    repo[variant].append((rel.split("/", 1)[1], size, hashlib.sha256(data).hexdigest(), n))
# The multi-extent file: sparse, distinct 1 MiB blocks at offsets around the extent limits.
path = os.path.join(root, big_path)
os.makedirs(os.path.dirname(path), exist_ok=True)
mib = 1 << 20
limit = 0xFFFFF800
offsets = [0, 3 * mib + 17, limit - mib // 2, limit + 12345, 2 * mib * 1024 + 5, big_bytes - mib]
with open(path, "wb") as f:
    f.truncate(big_bytes)
    for k, off in enumerate(offsets):
        f.seek(off)
        f.write(random.Random("bigdata-%d" % k).randbytes(mib))
for variant, entries in repo.items():
    rd = os.path.join(root, variant, "repodata")
    os.makedirs(rd, exist_ok=True)
    xml = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<metadata xmlns="http://linux.duke.edu/metadata/common" packages="%d">' % len(entries)]
    for loc, size, sha, n in entries:
        xml.append('<package type="rpm"><name>%s</name><arch>x86_64</arch>'
                   '<checksum type="sha256" pkgid="YES">%s</checksum><size package="%d"/>'
                   '<location href="%s"/></package>' % (n, sha, size, loc))
    xml.append("</metadata>\n")
    primary = gzip.compress("\n".join(xml).encode(), mtime=epoch)
    psha = hashlib.sha256(primary).hexdigest()
    pname = "%s-primary.xml.gz" % psha
    with open(os.path.join(rd, pname), "wb") as f:
        f.write(primary)
    with open(os.path.join(rd, "repomd.xml"), "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<repomd xmlns="http://linux.duke.edu/metadata/repo">\n'
                '  <revision>%d</revision>\n'
                '  <data type="primary">\n'
                '    <checksum type="sha256">%s</checksum>\n'
                '    <location href="repodata/%s"/>\n'
                '    <timestamp>%d</timestamp>\n'
                '    <size>%d</size>\n'
                '  </data>\n'
                '</repomd>\n' % (epoch, psha, pname, epoch, len(primary)))
PY

# ------------------------------------------------------------ .treeinfo, .discinfo, media.repo
sha() { sha256sum "$T/$1" | cut -d' ' -f1; }
cat >"$T/.treeinfo" <<EOF
[checksums]
images/efiboot.img = sha256:$(sha images/efiboot.img)
images/install.img = sha256:$(sha images/install.img)
images/pxeboot/initrd.img = sha256:$(sha images/pxeboot/initrd.img)
images/pxeboot/vmlinuz = sha256:$(sha images/pxeboot/vmlinuz)

[general]
; WARNING.0 = This section provides compatibility with pre-productmd treeinfos.
; WARNING.1 = Read productmd documentation for details about new format.
arch = x86_64
family = $PRODUCT
name = $PRODUCT $VERSION
packagedir = AppStream/Packages
platforms = x86_64,xen
repository = AppStream
timestamp = $EPOCH
variant = AppStream
variants = AppStream,BaseOS
version = $VERSION

[header]
type = productmd.treeinfo
version = 1.2

[images-x86_64]
efiboot.img = images/efiboot.img
initrd = images/pxeboot/initrd.img
kernel = images/pxeboot/vmlinuz

[images-xen]
initrd = images/pxeboot/initrd.img
kernel = images/pxeboot/vmlinuz

[release]
name = $PRODUCT
short = Rocky
version = $VERSION

[stage2]
mainimage = images/install.img

[tree]
arch = x86_64
build_timestamp = $EPOCH
platforms = x86_64,xen
variants = AppStream,BaseOS

[variant-AppStream]
id = AppStream
name = AppStream
packages = AppStream/Packages
repository = AppStream
type = variant
uid = AppStream

[variant-BaseOS]
id = BaseOS
name = BaseOS
packages = BaseOS/Packages
repository = BaseOS
type = variant
uid = BaseOS
EOF
printf '[InstallMedia]\nname=%s %s\nmediaid=None\nmetadata_expire=-1\ngpgcheck=0\ncost=500\n' \
    "$PRODUCT" "$VERSION" >"$T/media.repo"
find "$T" -exec touch -h -d "@$EPOCH" {} +
(cd "$T" && find . -type f -printf '%P %s\n' | LC_ALL=C sort) >"$WORK/files.txt"
sha256sum "$T/$BIG_PATH" | cut -d' ' -f1 >"$WORK/big.sha256"

# ------------------------------------------------------------ ISO
# lorax's rhel9 x86.tmpl flags (as scripts/build-fixture-iso.sh) with -iso-level 3: a file of
# 4 GiB or more is then stored as several extents.
xorrisofs -o "$WORK/dvd.iso" -iso-level 3 \
    -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -boot-load-size 4 -boot-info-table -no-emul-boot \
    -eltorito-alt-boot -e images/efiboot.img -no-emul-boot -isohybrid-gpt-basdat \
    -R -J -V "$LABEL" "$T" 2>"$WORK/xorrisofs.log" || { cat "$WORK/xorrisofs.log" >&2; exit 1; }
rm -rf "$T"
implantisomd5 "$WORK/dvd.iso" >/dev/null 2>&1
checkisomd5 "$WORK/dvd.iso" >/dev/null 2>&1 || { log "checkisomd5 rejects the fresh DVD"; exit 1; }
fallocate --dig-holes "$WORK/dvd.iso" 2>/dev/null || true
mv -f "$WORK/files.txt" "$WORK/big.sha256" "$OUT_DIR/"
mv -f "$WORK/dvd.iso" "$ISO"
echo "$STAMP" >"$OUT_DIR/stamp"
END=$(date +%s.%N)
log "built $ISO ($(stat -c %s "$ISO") bytes, $(du -k "$ISO" | cut -f1) KiB on disk) in $(awk "BEGIN{printf \"%.1f\", $END - $START}") s"
echo "$ISO"

#!/usr/bin/env bash
# Builds the kernel-module ground-truth fixtures into $REMASTER_FIXTURES/kmod/ (cached):
#   kernel/<kver>/...          unpacked linux-image (vmlinuz + module tree) for FIXTURE_KVER and OTHER_KVER
#   headers/<kver>/...         linux-headers-<kver> + -common + linux-kbuild-6.1, unpacked together
#   cases/*.ko                 the case modules (see below)
#   initrd-base/               busybox-static + kmod (with its libraries) for the QEMU harness
#   throwaway.{key,crt}        a throwaway module-signing key
# The QEMU boots themselves are done by tests/common/direct_boot.rs (tests/kmod_truth.rs).
#
# Cases (target kernel = FIXTURE_KVER):
#   mpt3sas_same      mpt3sas from the target build (its deps are loaded first)     -> loads
#   mpt3sas_other     mpt3sas from OTHER_KVER                                        -> module_layout
#   mptsas_nodeps     mptsas from the target build without mptscsih/mptbase          -> Unknown symbol
#   tiny_same         out-of-tree module built against the target headers, unsigned -> loads (taint)
#   tiny_other        the same source built against OTHER_KVER headers               -> module_layout
#   tiny_signed       tiny_same signed with a throwaway key (sign-file)              -> unavailable key under SB
#   tiny_nover_other  tiny_other with __versions removed                             -> version magic
#   tiny_gpl_bsd      tiny module using a GPL-only export, license patched to BSD    -> Unknown symbol
#   tiny_ns           tiny module using a namespaced export, import_ns patched       -> namespace refusal
#   wrong_arch        an i386 ET_REL object named .ko                                -> invalid architecture
#   tiny_authattrs    tiny_same signed by `openssl cms` (authenticated attributes with
#                     S/MIME capabilities)                                         -> "S/MIME Caps only ..."
#   tiny_authattrs_nocaps  the same with -nosmimecap                               -> "has authattrs"
#
# cases-el10/ (target kernel = EL10_KVER, Debian's 6.12: modules signed with an ECDSA P-384
# build key and shipped as .ko.xz; the other build is EL10_OTHER_KVER):
#   mpt3sas_same.ko.xz, megaraid_sas_same.ko  as shipped (deps loaded first)        -> loads
#   megaraid_sas_tampered.ko   megaraid_sas with one description byte flipped       -> refused (signature)
#   mpt3sas_other.ko.xz        mpt3sas from EL10_OTHER_KVER                          -> other build
#   mptsas_nodeps.ko.xz        without mptscsih/mptbase                              -> Unknown symbol
#   tiny_same, tiny_other, tiny_nover_other, tiny_authattrs{,_nocaps}   as above, for 6.12
#   tiny_signed_ec             tiny_same signed by sign-file with a throwaway P-384 key
. "$(dirname "$0")/lib.sh"

OUT=$REMASTER_FIXTURES/kmod
mkdir -p "$OUT"
STAMP=$OUT/.built-v3
if [ -e "$STAMP" ]; then
    log "cached: $OUT"
    exit 0
fi

for tool in gcc-12 make openssl objcopy busybox cpio dpkg-deb; do
    command -v "$tool" >/dev/null || { log "missing $tool (see scripts/test-deps.txt)"; exit 1; }
done

# --- kernels and headers ----------------------------------------------------------------
kbase() { echo "${1%-amd64}"; }   # 6.1.0-50-amd64 -> 6.1.0-50
kbuild() { case $1 in 6.1.*) echo linux-kbuild-6.1 ;; *) echo "linux-kbuild-$(kbase "$1")" ;; esac; }
for kver in "$FIXTURE_KVER" "$OTHER_KVER" "$EL10_KVER" "$EL10_OTHER_KVER"; do
    extract_deb "linux-image-$kver" "$OUT/kernel/$kver"
    extract_deb "linux-headers-$kver" "$OUT/headers/$kver"
    extract_deb "linux-headers-$(kbase "$kver")-common" "$OUT/headers/$kver"
    extract_deb "$(kbuild "$kver")" "$OUT/headers/$kver"
    # The per-flavour Makefile includes the -common one by absolute path; point it at our copy.
    sed -i "s|^include /usr/src/|include $OUT/headers/$kver/usr/src/|" \
        "$OUT/headers/$kver/usr/src/linux-headers-$kver/Makefile"
done

# --- tiny out-of-tree modules -----------------------------------------------------------
SRC=$OUT/src
rm -rf "$SRC"
mkdir -p "$SRC/tiny" "$SRC/tiny_gpl" "$SRC/tiny_ns"
cat >"$SRC/tiny/tiny.c" <<'EOF'
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
static int __init tiny_init(void)
{
	void *p = kmalloc(16, GFP_KERNEL);
	pr_info("tiny: loaded\n");
	kfree(p);
	return 0;
}
static void __exit tiny_exit(void) { }
module_init(tiny_init);
module_exit(tiny_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("remaster test module");
MODULE_ALIAS("pci:v00001000d00000072sv*sd*bc*sc*i*");
EOF
cat >"$SRC/tiny_gpl/tiny_gpl.c" <<'EOF'
#include <linux/module.h>
#include <linux/ktime.h>
#include <linux/timekeeping.h>
static int __init tiny_gpl_init(void)
{
	pr_info("tiny_gpl: %lld\n", (long long)ktime_get());
	return 0;
}
static void __exit tiny_gpl_exit(void) { }
module_init(tiny_gpl_init);
module_exit(tiny_gpl_exit);
MODULE_LICENSE("GPL");
EOF
cat >"$SRC/tiny_ns/tiny_ns.c" <<'EOF'
#include <linux/module.h>
#include <linux/dma-buf.h>
static int __init tiny_ns_init(void)
{
	struct dma_buf *b = dma_buf_get(-1);
	if (!IS_ERR(b))
		dma_buf_put(b);
	return 0;
}
static void __exit tiny_ns_exit(void) { }
module_init(tiny_ns_init);
module_exit(tiny_ns_exit);
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(DMA_BUF);
EOF
for d in tiny tiny_gpl tiny_ns; do echo "obj-m := $d.o" >"$SRC/$d/Kbuild"; done

build_tiny() { # build_tiny NAME KVER DEST
    local name=$1 kver=$2 dest=$3 work
    work=$SRC/build-$name-$kver
    rm -rf "$work"; cp -r "$SRC/$name" "$work"
    # No module BTF (6.12's headers ship a vmlinux, so kbuild would run pahole): it plays
    # no part in loading.
    make -s -C "$OUT/headers/$kver/usr/src/linux-headers-$kver" M="$work" CC=gcc-12 \
        CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2
    # Like `make modules_install INSTALL_MOD_STRIP=1`: no debug info.
    objcopy --strip-debug "$work/$name.ko" "$dest"
}

CASES=$OUT/cases
rm -rf "$CASES"; mkdir -p "$CASES"
build_tiny tiny "$FIXTURE_KVER" "$CASES/tiny_same.ko"
build_tiny tiny "$OTHER_KVER" "$CASES/tiny_other.ko"
build_tiny tiny_gpl "$FIXTURE_KVER" "$CASES/tiny_gpl_bsd.ko"
build_tiny tiny_ns "$FIXTURE_KVER" "$CASES/tiny_ns.ko"

# license=GPL -> license=BSD (same length: a non-GPL-compatible licence, so GPL-only
# exports are invisible to the module).
python3 - "$CASES/tiny_gpl_bsd.ko" <<'EOF'
import sys
p = sys.argv[1]; d = open(p, 'rb').read()
assert d.count(b'license=GPL\0') == 1
open(p, 'wb').write(d.replace(b'license=GPL\0', b'license=BSD\0'))
EOF
# import_ns=DMA_BUF -> import_ns=DMA_BUX: the module no longer imports the namespace it uses.
python3 - "$CASES/tiny_ns.ko" <<'EOF'
import sys
p = sys.argv[1]; d = open(p, 'rb').read()
assert d.count(b'import_ns=DMA_BUF\0') == 1
open(p, 'wb').write(d.replace(b'import_ns=DMA_BUF\0', b'import_ns=DMA_BUX\0'))
EOF

objcopy --remove-section=__versions --strip-symbol=__versions "$CASES/tiny_other.ko" "$CASES/tiny_nover_other.ko"

# Throwaway signing key and the kernel's own sign-file tool.
if [ ! -e "$OUT/throwaway.key" ]; then
    openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 \
        -subj "/CN=remaster throwaway test key/" -outform PEM \
        -keyout "$OUT/throwaway.key" -out "$OUT/throwaway.crt" 2>/dev/null
fi
SIGN_FILE=$OUT/headers/$FIXTURE_KVER/usr/lib/linux-kbuild-6.1/scripts/sign-file
cp "$CASES/tiny_same.ko" "$CASES/tiny_signed.ko"
"$SIGN_FILE" sha256 "$OUT/throwaway.key" "$OUT/throwaway.crt" "$CASES/tiny_signed.ko"

# Real modules from both builds.
tmod() { echo "$OUT/kernel/$1/lib/modules/$1/kernel/$2"; }
cp "$(tmod "$FIXTURE_KVER" drivers/scsi/mpt3sas/mpt3sas.ko)" "$CASES/mpt3sas_same.ko"
cp "$(tmod "$OTHER_KVER" drivers/scsi/mpt3sas/mpt3sas.ko)" "$CASES/mpt3sas_other.ko"
cp "$(tmod "$FIXTURE_KVER" drivers/message/fusion/mptsas.ko)" "$CASES/mptsas_nodeps.ko"
# A Debian-signed module changed after signing: one letter of its description flipped.
# The signature (by a key the kernel trusts) no longer verifies: refused even without
# Secure Boot.
python3 - "$(tmod "$FIXTURE_KVER" drivers/scsi/megaraid/megaraid_sas.ko)" "$CASES/megaraid_sas_tampered.ko" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
assert d.endswith(b'~Module signature appended~\n')
at = d.index(b'description=') + len(b'description=')
d[at] ^= 0x20
open(sys.argv[2], 'wb').write(bytes(d))
EOF

# Signed with authenticated attributes (what `openssl cms -sign` adds unless told -noattr;
# sign-file never does): the kernel refuses such module signatures whoever signed them.
sign_with_authattrs() { # sign_with_authattrs IN OUT [OPENSSL-CMS-OPTION...]
    local in=$1 out=$2; shift 2
    openssl cms -sign -binary -in "$in" -signer "$OUT/throwaway.crt" -inkey "$OUT/throwaway.key" \
        -md sha256 -nocerts -outform DER -out "$out.p7s" "$@"
    python3 - "$in" "$out.p7s" "$out" <<'EOF'
import struct, sys
body = open(sys.argv[1], 'rb').read(); p7 = open(sys.argv[2], 'rb').read()
trailer = struct.pack('>8BI', 0, 0, 2, 0, 0, 0, 0, 0, len(p7))
open(sys.argv[3], 'wb').write(body + p7 + trailer + b'~Module signature appended~\n')
EOF
    rm -f "$out.p7s"
}
sign_with_authattrs "$CASES/tiny_same.ko" "$CASES/tiny_authattrs.ko"
sign_with_authattrs "$CASES/tiny_same.ko" "$CASES/tiny_authattrs_nocaps.ko" -nosmimecap

# Wrong architecture: an i386 relocatable object.
printf 'not a module' >"$SRC/blob"
objcopy -I binary -O elf32-i386 -B i386 "$SRC/blob" "$CASES/wrong_arch.ko"

# Compressed copies for the reader tests.
xz --check=crc32 --lzma2=dict=1MiB -c "$CASES/tiny_same.ko" >"$CASES/tiny_same.ko.xz"
zstd -q -19 -c "$CASES/tiny_same.ko" >"$CASES/tiny_same.ko.zst"
gzip -9 -n -c "$CASES/tiny_same.ko" >"$CASES/tiny_same.ko.gz"

# --- the 6.12 cases (EL10 stand-in) ----------------------------------------------------------
C12=$OUT/cases-el10
rm -rf "$C12"; mkdir -p "$C12"
build_tiny tiny "$EL10_KVER" "$C12/tiny_same.ko"
build_tiny tiny "$EL10_OTHER_KVER" "$C12/tiny_other.ko"
objcopy --remove-section=__versions --strip-symbol=__versions "$C12/tiny_other.ko" "$C12/tiny_nover_other.ko"
sign_with_authattrs "$C12/tiny_same.ko" "$C12/tiny_authattrs.ko"
sign_with_authattrs "$C12/tiny_same.ko" "$C12/tiny_authattrs_nocaps.ko" -nosmimecap
# A throwaway ECDSA P-384 key, as Debian's build key is, through 6.12's own sign-file.
if [ ! -e "$OUT/throwaway-ec.key" ]; then
    openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 \
        -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 \
        -subj "/CN=remaster throwaway P-384 test key/" -outform PEM \
        -keyout "$OUT/throwaway-ec.key" -out "$OUT/throwaway-ec.crt" 2>/dev/null
fi
cp "$C12/tiny_same.ko" "$C12/tiny_signed_ec.ko"
"$OUT/headers/$EL10_KVER/usr/lib/linux-kbuild-$(kbase "$EL10_KVER")/scripts/sign-file" \
    sha384 "$OUT/throwaway-ec.key" "$OUT/throwaway-ec.crt" "$C12/tiny_signed_ec.ko"
cp "$(tmod "$EL10_KVER" drivers/scsi/mpt3sas/mpt3sas.ko).xz" "$C12/mpt3sas_same.ko.xz"
cp "$(tmod "$EL10_OTHER_KVER" drivers/scsi/mpt3sas/mpt3sas.ko).xz" "$C12/mpt3sas_other.ko.xz"
cp "$(tmod "$EL10_KVER" drivers/message/fusion/mptsas.ko).xz" "$C12/mptsas_nodeps.ko.xz"
xz -dc "$(tmod "$EL10_KVER" drivers/scsi/megaraid/megaraid_sas.ko).xz" >"$C12/megaraid_sas_same.ko"
python3 - "$C12/megaraid_sas_same.ko" "$C12/megaraid_sas_tampered.ko" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
assert d.endswith(b'~Module signature appended~\n')
at = d.index(b'description=') + len(b'description=')
d[at] ^= 0x20
open(sys.argv[2], 'wb').write(bytes(d))
EOF

# --- initrd base for the QEMU harness: busybox-static + kmod with its libraries ---------
BASE=$OUT/initrd-base
rm -rf "$BASE"; mkdir -p "$BASE"/{usr/bin,usr/sbin,usr/lib64,usr/lib/x86_64-linux-gnu,proc,sys,dev,tmp,cases}
ln -s usr/bin "$BASE/bin"; ln -s usr/sbin "$BASE/sbin"; ln -s usr/lib "$BASE/lib"; ln -s usr/lib64 "$BASE/lib64"
cp "$(command -v busybox)" "$BASE/usr/bin/busybox"
KMOD=$(command -v kmod)
cp "$KMOD" "$BASE/usr/bin/kmod"
for l in $(ldd "$KMOD" | grep -o '/[^ ]*'); do
    case $l in
        /lib64/*) cp -L "$l" "$BASE/usr/lib64/" ;;
        *) cp -L "$l" "$BASE/usr/lib/x86_64-linux-gnu/" ;;
    esac
done
ln -s ../bin/kmod "$BASE/usr/sbin/insmod"

touch "$STAMP"
log "built $OUT"

#!/usr/bin/env python3
"""Writes the hostile-input corpus for tests/hostile_inputs.rs (called by make-hostile-corpus.sh).

Every case is derived from a real fixture by a scripted mutation: the ISO cases patch the
fixture boot ISO at offsets found by parsing it (volume descriptors, directory records with
Rock Ridge / Joliet names, the El Torito catalog, the GPT), the ELF cases patch a real module at
the offsets of its parsed section headers, the bzImage cases patch the real Debian vmlinuz's
setup header, the RPM cases patch a real kmod RPM at its parsed header index, and the cpio /
bomb cases are generated streams. No offset is a hand-typed constant of a particular file.

Usage: make-hostile-corpus.py OUT_DIR FIXTURES_DIR FIXTURE_KVER

Writes OUT_DIR/inputs/<input>/<file> and OUT_DIR/manifest.json:
  {"cases": [{"name", "input", "args", "expect", "cause", "why"}]}
  input   path of the hostile file relative to OUT_DIR
  args    remaster arguments; "{input}" is the hostile file, "{out}" an output path in an
          empty scratch directory (the test checks nothing appears there)
  expect  "reject"   must fail: exit code not 0 and not 101 with stderr's last line
                     "remaster: <input>: <cause>"; or, for `check` / `verify`, the command's
                     own refusal: exit 1 with "verdict: REFUSED" / "NOT OK" and the cause on
                     stdout
          "tolerate" may be readable (e.g. a flipped bit in file data): no panic, no hang, and
                     if it fails the same one-line error rules as "reject" hold
  cause   "|"-separated alternatives; the error (with the input path removed) must contain
          one, case-insensitively ("reject" only)
"""

import json
import lzma
import os
import random
import shutil
import struct
import subprocess
import sys

OUT, FIX, KVER = sys.argv[1], sys.argv[2], sys.argv[3]
SECTOR = 2048

ISO = os.path.join(FIX, "iso", "boot.iso")
KO = os.path.join(FIX, "kmod", "cases", "tiny_same.ko")
KO_XZ = os.path.join(FIX, "kmod", "cases", "tiny_same.ko.xz")
KO_ZST = os.path.join(FIX, "kmod", "cases", "tiny_same.ko.zst")
VMLINUZ = os.path.join(FIX, "kernel", KVER, "boot", "vmlinuz-" + KVER)
RPM_GOOD = next(
    os.path.join(FIX, "rpm", "rpms", f)
    for f in sorted(os.listdir(os.path.join(FIX, "rpm", "rpms")))
    if f.startswith("kmod-megaraid_sas-good-")
)
DUD_GOOD = os.path.join(FIX, "rpm", "dd-good.iso")
DUD_NORHDD3 = os.path.join(FIX, "rpm", "dd-norhdd3.iso")

cases = []


def case(name, input_rel, args, expect, cause="", why=""):
    assert expect in ("reject", "tolerate")
    assert expect == "tolerate" or cause, name
    cases.append(
        {"name": name, "input": input_rel, "args": args, "expect": expect, "cause": cause, "why": why}
    )


def new_input(name, filename, data=None, src=None):
    """Creates inputs/<name>/<filename> from bytes or a copy of src; returns the relative path."""
    d = os.path.join(OUT, "inputs", name)
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, filename)
    if src is not None:
        shutil.copyfile(src, p)
    else:
        with open(p, "wb") as f:
            f.write(data)
    return os.path.relpath(p, OUT)


def patch(rel, offset, data):
    with open(os.path.join(OUT, rel), "r+b") as f:
        f.seek(offset)
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# --- ISO 9660 (just enough to find records: PVD, Joliet SVD, boot record, RR NM names) -------


def le32(b, at):
    return struct.unpack_from("<I", b, at)[0]


class Rec:
    def __init__(self, path, offset, lba, size, is_dir):
        self.path, self.offset, self.lba, self.size, self.is_dir = path, offset, lba, size, is_dir

    def __repr__(self):
        return f"Rec({self.path!r}, off={self.offset}, lba={self.lba}, size={self.size})"


def rr_name(sua):
    """Rock Ridge NM name from a System Use area (no continuation areas: names are short)."""
    i, name = 0, None
    while i + 4 <= len(sua):
        sig, ln = sua[i : i + 2], sua[i + 2]
        if ln < 4:
            break
        if sig == b"NM":
            name = (name or b"") + sua[i + 5 : i + ln]
        i += ln
    return name.decode("utf-8", "replace") if name is not None else None


def walk_dir(img, lba, size, prefix, joliet, out, depth=0):
    base = lba * SECTOR
    pos = 0
    while pos < size:
        at = base + pos
        ln = img[at]
        if ln == 0:  # records never cross sectors: skip to the next one
            pos = (pos // SECTOR + 1) * SECTOR
            continue
        rec = img[at : at + ln]
        ext, dsize, flags, nlen = le32(rec, 2), le32(rec, 10), rec[25], rec[32]
        raw = rec[33 : 33 + nlen]
        if raw not in (b"\0", b"\1"):
            if joliet:
                name = raw.decode("utf-16-be", "replace")
            else:
                sua = rec[33 + nlen + (1 - nlen % 2) :]
                name = rr_name(sua) or raw.decode("ascii", "replace").lower()
            name = name.split(";")[0].rstrip(".") if (joliet or ";" in name) else name
            path = prefix + name
            is_dir = bool(flags & 2)
            out.append(Rec(path, at, ext, dsize, is_dir))
            if is_dir and depth < 16:
                walk_dir(img, ext, dsize, path + "/", joliet, out, depth + 1)
        pos += ln


class Iso:
    def __init__(self, path):
        self.img = read(path)
        img = self.img
        self.pvd = self.joliet = self.boot_record = None
        s = 16
        while True:
            d = img[s * SECTOR : (s + 1) * SECTOR]
            if d[1:6] != b"CD001" or d[0] == 255:
                break
            if d[0] == 1:
                self.pvd = s * SECTOR
            elif d[0] == 2 and d[88:91] in (b"%/@", b"%/C", b"%/E"):
                self.joliet = s * SECTOR
            elif d[0] == 0 and d[7:30] == b"EL TORITO SPECIFICATION":
                self.boot_record = s * SECTOR
            s += 1
        self.descriptors_end = (s + 1) * SECTOR
        self.volume_sectors = le32(img, self.pvd + 80)
        self.primary = self.tree(self.pvd, False)
        self.joliet_tree = self.tree(self.joliet, True) if self.joliet else []
        self.catalog_lba = le32(img, self.boot_record + 0x47) if self.boot_record else None

    def root(self, desc):
        r = desc + 156
        return Rec("", r, le32(self.img, r + 2), le32(self.img, r + 10), True)

    def tree(self, desc, joliet):
        out = []
        root = self.root(desc)
        walk_dir(self.img, root.lba, root.size, "", joliet, out)
        return out

    def rec(self, path, joliet=False):
        for r in self.joliet_tree if joliet else self.primary:
            if r.path == path:
                return r
        raise KeyError(f"{path} not in the fixture ISO ({'Joliet' if joliet else 'primary'} tree)")

    def records_at(self, lba):
        """Every file record (both trees) whose extent starts at `lba` (hard links)."""
        return [r for r in self.primary + self.joliet_tree if r.lba == lba and not r.is_dir]

    def metadata_end(self):
        """First byte after the last directory extent (descriptors, path tables, directories)."""
        dirs = [r for r in self.primary + self.joliet_tree if r.is_dir]
        return max((r.lba * SECTOR + r.size for r in dirs), default=self.descriptors_end)


def set_extent(rel, rec, lba=None, size=None):
    if lba is not None:
        patch(rel, rec.offset + 2, struct.pack("<I", lba) + struct.pack(">I", lba))
    if size is not None:
        patch(rel, rec.offset + 10, struct.pack("<I", size) + struct.pack(">I", size))


def flip_bits(rel, rng, lo, hi, count):
    p = os.path.join(OUT, rel)
    with open(p, "r+b") as f:
        for _ in range(count):
            at = rng.randrange(lo, hi)
            f.seek(at)
            b = f.read(1)[0]
            f.seek(at)
            f.write(bytes([b ^ (1 << rng.randrange(8))]))


# Commands run on a hostile ISO: the main job, inspect (with the initrd walk), check, verify.
def iso_cases(name, rel, expect, cause, why, commands=("remaster", "inspect", "check", "verify")):
    cmd = {
        "remaster": ["{input}", "--add-module", KO, "-o", "{out}"],
        "inspect": ["inspect", "--initrd", "{input}"],
        "check": ["check", "{input}", KO],
        "verify": ["verify", "{input}"],
    }
    for c in commands:
        case(f"{name}:{c}", rel, cmd[c], expect, cause, why)


iso = Iso(ISO)
iso_len = len(iso.img)
vmlinuz = iso.rec("isolinux/vmlinuz")
initrd = iso.rec("isolinux/initrd.img")
efiboot = iso.rec("images/efiboot.img")
PAST_END = "past the end|outside|beyond|truncated|ends at byte"

# Truncations at structural boundaries found by parsing.
for label, length, cause in [
    ("empty", 0, "unrecognised|not an iso|truncated|too small|empty"),
    ("system-area", 1000, "unrecognised|not an iso|truncated"),
    ("descriptors", iso.descriptors_end - 100, "truncated|not an iso|terminator|descriptor"),
    ("directories", (iso.rec("images").lba * SECTOR) + 100, PAST_END + "|directory"),
    ("before-kernel", vmlinuz.lba * SECTOR + 4096, PAST_END + "|kernel|vmlinuz"),
    ("half", iso_len // 2, PAST_END + "|vmlinuz|initrd"),
]:
    rel = new_input(f"iso-truncated-{label}", "boot.iso", iso.img[:length])
    iso_cases(f"iso-truncated-{label}", rel, "reject", cause, f"fixture ISO cut to {length} bytes")
# Cut by one sector (the backup GPT): every file is still there. The main job must refuse (it
# would grow the volume over the missing tail), verify must report it; inspect and check
# read only what they need.
rel = new_input("iso-truncated-last-sector", "boot.iso", iso.img[: iso_len - SECTOR])
why = "fixture ISO without its last sector (the backup GPT)"
iso_cases("iso-truncated-last-sector", rel, "reject", "truncated|volume", why, commands=("remaster",))
iso_cases("iso-truncated-last-sector", rel, "reject", "volume|gpt", why, commands=("verify",))
iso_cases("iso-truncated-last-sector", rel, "tolerate", "", why, commands=("inspect", "check"))

# Directory loops: a subdirectory record pointing back at the root / at its parent.
rel = new_input("iso-dir-loop-root", "boot.iso", src=ISO)
root = iso.root(iso.pvd)
set_extent(rel, iso.rec("isolinux"), root.lba, root.size)
iso_cases("iso-dir-loop-root", rel, "reject", "loop", "isolinux/ record points at the root directory")

rel = new_input("iso-dir-loop-parent", "boot.iso", src=ISO)
images = iso.rec("images")
set_extent(rel, iso.rec("images/pxeboot"), images.lba, images.size)
iso_cases("iso-dir-loop-parent", rel, "reject", "loop", "images/pxeboot/ record points at images/")

rel = new_input("iso-dir-loop-joliet", "boot.iso", src=ISO)
jroot = iso.root(iso.joliet)
set_extent(rel, iso.rec("isolinux", joliet=True), jroot.lba, jroot.size)
iso_cases("iso-dir-loop-joliet", rel, "reject", "loop", "Joliet isolinux/ points at the Joliet root")

# Extents past the end of the image.
past = iso_len // SECTOR + 1000
rel = new_input("iso-kernel-extent-past-end", "boot.iso", src=ISO)
for r in iso.records_at(vmlinuz.lba):
    set_extent(rel, r, lba=past)
iso_cases("iso-kernel-extent-past-end", rel, "reject", PAST_END, "every vmlinuz record moved past the end")

rel = new_input("iso-initrd-extent-past-end", "boot.iso", src=ISO)
for r in iso.records_at(initrd.lba):
    set_extent(rel, r, lba=past)
iso_cases("iso-initrd-extent-past-end", rel, "reject", PAST_END, "every initrd.img record moved past the end")

rel = new_input("iso-dir-extent-past-end", "boot.iso", src=ISO)
set_extent(rel, iso.rec("isolinux"), lba=past)
iso_cases("iso-dir-extent-past-end", rel, "reject", PAST_END + "|directory", "isolinux/ directory past the end")

# Huge size fields.
rel = new_input("iso-initrd-size-huge", "boot.iso", src=ISO)
for r in iso.records_at(initrd.lba):
    set_extent(rel, r, size=0xFFFFFFFF)
iso_cases("iso-initrd-size-huge", rel, "reject", PAST_END + "|size|large|limit", "initrd.img size field 4 GiB - 1")

rel = new_input("iso-dir-size-huge", "boot.iso", src=ISO)
set_extent(rel, iso.rec("images"), size=0xFFFFFFF0)
iso_cases("iso-dir-size-huge", rel, "reject", PAST_END + "|size|large|limit|directory", "images/ size field ~4 GiB")

rel = new_input("iso-volume-size-huge", "boot.iso", src=ISO)
patch(rel, iso.pvd + 80, struct.pack("<I", 0xFFFFFFF0) + struct.pack(">I", 0xFFFFFFF0))
iso_cases("iso-volume-size-huge", rel, "reject", "volume|size|past the end|truncated",
          "PVD volume space size ~8 TiB on a 44 MB file", commands=("remaster", "verify"))

# El Torito: catalog and boot entry outside the image.
rel = new_input("iso-catalog-outside", "boot.iso", src=ISO)
patch(rel, iso.boot_record + 0x47, struct.pack("<I", past))
iso_cases("iso-catalog-outside", rel, "reject", "catalog|outside|" + PAST_END, "boot record's catalog LBA past the end")

rel = new_input("iso-boot-entry-outside", "boot.iso", src=ISO)
patch(rel, iso.catalog_lba * SECTOR + 32 + 8, struct.pack("<I", past))
iso_cases("iso-boot-entry-outside", rel, "reject", "outside|" + PAST_END, "default boot entry's LBA past the end")

rel = new_input("iso-catalog-bad-checksum", "boot.iso", src=ISO)
patch(rel, iso.catalog_lba * SECTOR + 4, b"tampered")
iso_cases("iso-catalog-bad-checksum", rel, "reject", "checksum|catalog", "validation entry id changed, checksum not")

# GPT with bad CRCs (offsets from the parsed primary header).
gpt = 512
assert iso.img[gpt : gpt + 8] == b"EFI PART", "fixture ISO has no GPT"
entries_lba = struct.unpack_from("<Q", iso.img, gpt + 72)[0]
rel = new_input("iso-gpt-bad-header-crc", "boot.iso", src=ISO)
patch(rel, gpt + 56, bytes([iso.img[gpt + 56] ^ 0xFF]))  # disk GUID byte, CRC left stale
iso_cases("iso-gpt-bad-header-crc", rel, "reject", "gpt|crc", "GPT disk GUID changed, header CRC stale",
          commands=("remaster",))
rel = new_input("iso-gpt-bad-entries-crc", "boot.iso", src=ISO)
patch(rel, entries_lba * 512 + 56, b"X")  # first entry's name, entry-array CRC left stale
iso_cases("iso-gpt-bad-entries-crc", rel, "reject", "gpt|crc", "GPT entry name changed, array CRC stale",
          commands=("remaster",))

# Corrupt content where the pipeline must read it.
rel = new_input("iso-efiboot-not-fat", "boot.iso", src=ISO)
patch(rel, efiboot.lba * SECTOR, bytes(512))
iso_cases("iso-efiboot-not-fat", rel, "reject", "efiboot|fat", "images/efiboot.img boot sector zeroed",
          commands=("remaster",))

rel = new_input("iso-kernel-bad-payload-offset", "boot.iso", src=ISO)
patch(rel, vmlinuz.lba * SECTOR + 0x248, struct.pack("<I", 0x7FFFFFF0))
iso_cases("iso-kernel-bad-payload-offset", rel, "reject", "vmlinuz|kernel|payload",
          "vmlinuz payload_offset points past its end", commands=("remaster", "inspect", "check"))

rel = new_input("iso-initrd-garbage", "boot.iso", src=ISO)
patch(rel, initrd.lba * SECTOR, random.Random(7).randbytes(65536))
iso_cases("iso-initrd-garbage", rel, "reject", "initrd|cpio|compress|magic",
          "first 64 KiB of initrd.img replaced by random bytes", commands=("remaster", "check"))

rel = new_input("iso-initrd-cut", "boot.iso", src=ISO)
cut = (initrd.size // 2) & ~3
patch(rel, initrd.lba * SECTOR + cut, bytes(initrd.size - cut))
iso_cases("iso-initrd-cut", rel, "reject", "initrd|truncated|corrupt|xz|end",
          "second half of initrd.img zeroed (a truncated xz stream)", commands=("remaster", "check"))

# Bit flips: metadata (descriptors, path tables, directories, catalog) and anywhere.
meta_end = iso.metadata_end()
for seed in range(6):
    rel = new_input(f"iso-bitflip-meta-{seed}", "boot.iso", src=ISO)
    flip_bits(rel, random.Random(seed), 16 * SECTOR, meta_end, 24)
    iso_cases(f"iso-bitflip-meta-{seed}", rel, "tolerate", "",
              f"24 random bit flips in bytes {16 * SECTOR}..{meta_end}", commands=("remaster", "inspect"))
for seed in range(2):
    rel = new_input(f"iso-bitflip-any-{seed}", "boot.iso", src=ISO)
    flip_bits(rel, random.Random(100 + seed), 0, iso_len, 256)
    iso_cases(f"iso-bitflip-any-{seed}", rel, "tolerate", "", "256 random bit flips anywhere",
              commands=("remaster", "inspect"))


# --- cpio / initrd -----------------------------------------------------------------------


def newc(name, data=b"", mode=0o100644, filesize=None, namesize=None, magic=b"070701"):
    name_b = name.encode() + b"\0"
    fields = [1, mode, 0, 0, 1, 0, len(data) if filesize is None else filesize, 0, 0, 0, 0,
              len(name_b) if namesize is None else namesize, 0]
    hdr = magic + b"".join(b"%08X" % f for f in fields)
    out = hdr + name_b
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def trailer():
    return newc("TRAILER!!!", mode=0)


base_initrd = iso.img[initrd.lba * SECTOR : initrd.lba * SECTOR + initrd.size]


def initrd_case(name, data, expect, cause, why):
    rel = new_input(name, "initrd.img", data)
    case(f"{name}:inspect", rel, ["inspect", "{input}"], expect, cause, why)


initrd_case("cpio-dotdot", newc("../../etc/evil", b"x") + newc("ok", b"y") + trailer(),
            "reject", "..|escape|outside|name", "newc entry named ../../etc/evil")
initrd_case("cpio-absolute", newc("/etc/evil", b"x") + trailer(),
            "reject", "absolute|name|/etc/evil", "newc entry named /etc/evil")
initrd_case("cpio-appended-dotdot", base_initrd + b"\0" * (-len(base_initrd) % 4)
            + newc("usr/lib/../../../../x", b"x") + trailer(),
            "reject", "..|escape|outside|name", "fixture initrd + appended cpio with ../ in a name")
initrd_case("cpio-filesize-huge", newc("big", b"abcd", filesize=0xFFFFFFFF) + trailer(),
            "reject", "truncated|size|end|past", "file size field 0xFFFFFFFF on a 4-byte body")
initrd_case("cpio-namesize-huge", newc("n", namesize=0xFFFFFFFF) + trailer(),
            "reject", "name|truncated|size|long", "name size field 0xFFFFFFFF")
initrd_case("cpio-namesize-zero", newc("n", namesize=0) + trailer(),
            "tolerate", "", "name size field 0 (the kernel's do_header skips such an entry)")
initrd_case("cpio-bad-hex", newc("n", b"x")[:20] + b"ZZZZZZZZ" + newc("n", b"x")[28:] + trailer(),
            "reject", "hex|header|corrupt|malformed|invalid", "non-hex digits in a header field")
initrd_case("cpio-truncated-header", newc("file", b"data")[:60],
            "reject", "truncated|end|header", "archive cut inside the first header")
initrd_case("cpio-no-trailer", newc("file", b"data"),
            "tolerate", "", "archive without TRAILER!!! (the kernel unpacks it all the same)")
initrd_case("initrd-xz-truncated", base_initrd[: len(base_initrd) // 2],
            "reject", "truncated|xz|corrupt|end|unexpected", "fixture xz initrd cut in half")
initrd_case("initrd-xz-bitflip", base_initrd[:2000] + bytes([base_initrd[2000] ^ 0x10]) + base_initrd[2001:],
            "reject", "xz|corrupt|crc|check|data", "one bit flipped early in the xz stream")


def compress_stream(tool, args, chunks):
    """Pipes generated chunks through a compressor (xz / zstd CLI) and returns its output."""
    p = subprocess.Popen([tool] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    import threading

    out = []
    t = threading.Thread(target=lambda: out.append(p.stdout.read()))
    t.start()
    for c in chunks:
        p.stdin.write(c)
    p.stdin.close()
    t.join()
    if p.wait() != 0:
        raise SystemExit(f"{tool} failed")
    return out[0]


def xz_varint(b, at):
    value, shift = 0, 0
    while True:
        byte = b[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def xz_with_huge_dictionary(xz):
    """The same xz stream with its first block's LZMA2 dictionary set to 4 GiB - 1 (props byte
    40), the block header CRC32 recomputed: a decoder without a memory limit allocates it."""
    import zlib

    assert xz[:6] == b"\xfd7zXZ\0"
    start = 12
    size = (xz[start] + 1) * 4
    flags = xz[start + 1]
    at = start + 2
    if flags & 0x40:
        _, at = xz_varint(xz, at)
    if flags & 0x80:
        _, at = xz_varint(xz, at)
    filter_id, at = xz_varint(xz, at)
    assert filter_id == 0x21, "first filter is not LZMA2"
    props_size, at = xz_varint(xz, at)
    assert props_size == 1
    out = bytearray(xz)
    out[at] = 40
    out[start + size - 4 : start + size] = struct.pack("<I", zlib.crc32(bytes(out[start : start + size - 4])))
    return bytes(out)


def bomb_cpio(size, name="bomb"):
    """A newc archive holding one file of `size` zero bytes, generated in chunks."""
    yield newc(name, b"", filesize=size)
    zero = bytes(1 << 20)
    left = size
    while left:
        n = min(left, len(zero))
        yield zero[:n]
        left -= n
    yield b"\0" * (-size % 4) + trailer()


BOMB = 3 << 30  # 3 GiB of zeros: far above 100x the input and above any sane initrd
zst_bomb = compress_stream("zstd", ["-q", "-1", "-c"], bomb_cpio(BOMB))
initrd_case("initrd-zstd-bomb", zst_bomb, "reject", "limit|bomb|exceed|large",
            f"{len(zst_bomb)} bytes of zstd -> a cpio with one 3 GiB file")
xz_bomb = compress_stream("xz", ["-q", "-0", "--check=crc32", "-c", "-T1"], bomb_cpio(1 << 30))
initrd_case("initrd-xz-bomb", xz_bomb, "reject", "limit|bomb|exceed|large",
            f"{len(xz_bomb)} bytes of xz -> a cpio with one 1 GiB file")

initrd_case("initrd-xz-dictionary-huge", xz_with_huge_dictionary(base_initrd[: base_initrd.index(b"YZ") + 2]),
            "reject", "memory|limit|dictionary", "fixture initrd's xz stream with a 4 GiB LZMA2 dictionary")

# --- ELF kernel modules ------------------------------------------------------------------

ko = read(KO)
e_shoff = struct.unpack_from("<Q", ko, 0x28)[0]
e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", ko, 0x3A)


def shdr(i):
    at = e_shoff + i * e_shentsize
    name, typ, flags, addr, off, size, link, info, align, entsize = struct.unpack_from("<IIQQQQIIQQ", ko, at)
    return {"at": at, "name": name, "type": typ, "offset": off, "size": size, "link": link, "entsize": entsize}


shstr = shdr(e_shstrndx)


def section(name):
    for i in range(e_shnum):
        h = shdr(i)
        end = ko.index(b"\0", shstr["offset"] + h["name"])
        if ko[shstr["offset"] + h["name"] : end].decode() == name:
            return h
    raise KeyError(name)


def ko_input(name, data):
    return new_input(name, "tiny_same.ko", data)


def ko_case(name, data, expect, cause, why, check=False, remaster_expect=None, remaster_cause=None):
    """inspect + the main job; `check` too where asked (it parses the ISO's kernel first: slow)."""
    rel = ko_input(name, data)
    case(f"{name}:inspect", rel, ["inspect", "{input}"], expect, cause, why)
    if check:
        case(f"{name}:check", rel, ["check", ISO, "{input}"], expect, cause, why)
    case(f"{name}:remaster", rel, [ISO, "--add-module", "{input}", "-o", "{out}"],
         remaster_expect or expect, remaster_cause or cause, why)


def with_patch(data, at, new):
    return data[:at] + new + data[at + len(new) :]


modinfo, versions, symtab = section(".modinfo"), section("__versions"), section(".symtab")
ELF_BAD = "elf|section|outside|past|truncated|beyond|invalid|malformed|corrupt|offset|size"
ko_case("elf-truncated-header", ko[:40], "reject", "elf|truncated|header|short|small", "first 40 bytes only")
ko_case("elf-truncated-half", ko[: len(ko) // 2], "reject", ELF_BAD, "module cut in half (section headers gone)")
ko_case("elf-shoff-past-end", with_patch(ko, 0x28, struct.pack("<Q", len(ko) + 4096)), "reject", ELF_BAD,
        "e_shoff past the end")
ko_case("elf-shnum-huge", with_patch(ko, 0x3C, struct.pack("<H", 0xFFFF)), "reject", ELF_BAD,
        "e_shnum 65535 (table runs past the end)")
ko_case("elf-shstrndx-out-of-range", with_patch(ko, 0x3E, struct.pack("<H", e_shnum + 5)), "reject",
        ELF_BAD + "|string", "e_shstrndx beyond e_shnum")
ko_case("elf-modinfo-past-end", with_patch(ko, modinfo["at"] + 24, struct.pack("<Q", len(ko) - 8)), "reject",
        ELF_BAD, ".modinfo runs past the end of the file", check=True)
ko_case("elf-modinfo-size-huge", with_patch(ko, modinfo["at"] + 32, struct.pack("<Q", 1 << 62)), "reject",
        ELF_BAD, ".modinfo sh_size 2^62")
ko_case("elf-versions-offset-huge", with_patch(ko, versions["at"] + 24, struct.pack("<Q", (1 << 64) - 16)),
        "reject", ELF_BAD, "__versions sh_offset near 2^64 (offset + size overflows)")
ko_case("elf-symtab-bad-link", with_patch(ko, symtab["at"] + 40, struct.pack("<I", 0xFFFF)), "reject",
        ELF_BAD + "|link|string|symbol", ".symtab sh_link to a section that does not exist")
ko_case("elf-symtab-entsize-zero", with_patch(ko, symtab["at"] + 56, struct.pack("<Q", 0)), "tolerate", "",
        ".symtab sh_entsize 0 (object derives the size from the class; the kernel does not check)")
ko_case("elf-overlap-modinfo-versions",
        with_patch(ko, modinfo["at"] + 24, struct.pack("<Q", versions["offset"])), "tolerate", "",
        ".modinfo overlapping __versions: readable bytes, garbage contents (the kernel does not "
        "reject overlaps either); inspect/check report it, the main job needs a name= to write "
        "rd.driver.pre and refuses", check=True, remaster_expect="reject", remaster_cause="name")
ko_case("elf-versions-size-odd", with_patch(ko, versions["at"] + 32, struct.pack("<Q", versions["size"] - 7)),
        "tolerate", "", "__versions size not a multiple of 64 (the kernel ignores the partial entry)", check=True)
ko_case("elf-not-elf", b"\x7fELF" + b"\xff" * 60, "reject", ELF_BAD + "|class|elf", "ELF magic, garbage header")
ko_case("elf-empty-named-ko", b"", "reject", "unrecognised|empty|truncated|elf", "zero-byte .ko")
for seed in range(4):
    data = bytearray(ko)
    rng = random.Random(200 + seed)
    for _ in range(16):
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
    rel = ko_input(f"elf-bitflip-{seed}", bytes(data))
    case(f"elf-bitflip-{seed}:inspect", rel, ["inspect", "{input}"], "tolerate", "", "16 random bit flips")
    case(f"elf-bitflip-{seed}:check", rel, ["check", ISO, "{input}"], "tolerate", "", "16 random bit flips")

# Compressed modules: truncated, and a bomb.
rel = new_input("ko-xz-truncated", "tiny_same.ko.xz", read(KO_XZ)[: len(read(KO_XZ)) // 2])
case("ko-xz-truncated:inspect", rel, ["inspect", "{input}"], "reject", "xz|truncated|corrupt|end|unexpected",
     "tiny_same.ko.xz cut in half")
rel = new_input("ko-zst-truncated", "tiny_same.ko.zst", read(KO_ZST)[: len(read(KO_ZST)) // 2])
case("ko-zst-truncated:inspect", rel, ["inspect", "{input}"], "reject", "zstd|truncated|corrupt|end|unexpected",
     "tiny_same.ko.zst cut in half")
rel = new_input("ko-xz-dictionary-huge", "tiny_same.ko.xz", xz_with_huge_dictionary(read(KO_XZ)))
case("ko-xz-dictionary-huge:inspect", rel, ["inspect", "{input}"], "reject", "memory|limit",
     "tiny_same.ko.xz with a 4 GiB LZMA2 dictionary (found by fuzzing kmod_module)")
ko_bomb = compress_stream("xz", ["-q", "-0", "--check=crc32", "-c", "-T1"],
                          (ko if i == 0 else bytes(1 << 20) for i in range(1 + 1024)))
rel = new_input("ko-xz-bomb", "bomb.ko.xz", ko_bomb)
for c, args in [("inspect", ["inspect", "{input}"]), ("remaster", [ISO, "--add-module", "{input}", "-o", "{out}"])]:
    case(f"ko-xz-bomb:{c}", rel, args, "reject", "limit|bomb|exceed|large|more than",
         f"{len(ko_bomb)} bytes of xz -> a module followed by 1 GiB of zeros")

# --- bzImage -------------------------------------------------------------------------------

bz = read(VMLINUZ)
assert bz[0x202:0x206] == b"HdrS", "fixture vmlinuz has no setup header"
setup_sects = bz[0x1F1] or 4
pm_start = (setup_sects + 1) * 512
payload_offset, payload_length = struct.unpack_from("<II", bz, 0x248)


def bz_case(name, data, expect, cause, why):
    rel = new_input(name, "vmlinuz", data)
    case(f"{name}:inspect", rel, ["inspect", "{input}"], expect, cause, why)


BZ_BAD = "payload|setup|header|outside|past|truncated|beyond|kernel|offset|bzimage"
bz_case("bz-payload-offset-past-end", with_patch(bz, 0x248, struct.pack("<I", len(bz))), "reject", BZ_BAD,
        "payload_offset = file length")
bz_case("bz-payload-length-huge", with_patch(bz, 0x24C, struct.pack("<I", 0xFFFFFFF0)), "reject", BZ_BAD,
        "payload_length ~4 GiB")
bz_case("bz-payload-offset-wraps", with_patch(bz, 0x248, struct.pack("<II", 0xFFFFFFFF, 0xFFFFFFFF)), "reject",
        BZ_BAD, "payload_offset + payload_length overflow 32 bits")
bz_case("bz-setup-sects-huge", with_patch(bz, 0x1F1, b"\xff"), "reject", BZ_BAD + "|compress|magic",
        "setup_sects 255 (payload start moves ~128 KiB)")
bz_case("bz-truncated-in-payload", bz[: pm_start + payload_offset + payload_length // 2], "reject", BZ_BAD,
        "vmlinuz cut in the middle of its compressed payload")
bz_case("bz-truncated-setup", bz[:0x260], "reject", BZ_BAD, "vmlinuz cut just after the setup header")
payload_at = pm_start + payload_offset
bz_case("bz-payload-corrupt", with_patch(bz, payload_at + 4096, random.Random(9).randbytes(4096)), "reject",
        BZ_BAD + "|corrupt|xz|zstd|gzip|lzma|data|decompress", "4 KiB of random bytes inside the compressed payload")
# Found by fuzzing (kmod_kernel/kmod_module): an lzma-alone header asking for a 4 GiB
# dictionary made the decoder allocate it; the payload is replaced in place.
lzma_bomb = b"\x5d\x00\x00\xff\xff" + b"\xff" * 8 + random.Random(17).randbytes(4096)
bz_case("bz-lzma-dictionary-huge", with_patch(with_patch(bz, payload_at, lzma_bomb), 0x24C,
        struct.pack("<I", len(lzma_bomb))), "reject", "memory|limit",
        "payload replaced by an lzma-alone header with a 4 GiB dictionary")
bz_case("bz-version-string-outside", with_patch(bz, 0x20E, struct.pack("<H", 0xFFFF)), "tolerate", "",
        "kernel_version pointer past the setup code (the release is also read from the payload)")
bz_case("bz-old-protocol", with_patch(bz, 0x206, struct.pack("<H", 0x0201)), "reject",
        BZ_BAD + "|protocol|version|old", "boot protocol 2.01 (no payload fields)")

# --- RPM -----------------------------------------------------------------------------------

rpm = read(RPM_GOOD)
sig_at = 96


def header_span(at):
    nindex, hsize = struct.unpack_from(">II", rpm, at + 8)
    return at + 16, nindex, hsize, at + 16 + 16 * nindex + hsize


_, sig_n, sig_hsize, sig_end = header_span(sig_at)
main_at = sig_end + (-sig_end % 8)
main_index, main_n, main_hsize, main_end = header_span(main_at)
main_store = main_index + 16 * main_n


def rpm_case(name, data, expect, cause, why, commands=("inspect", "remaster", "dud")):
    rel = new_input(name, "kmod-megaraid_sas.rpm", data)
    cmd = {
        "inspect": ["inspect", "{input}"],
        "check": ["check", ISO, "{input}"],
        "remaster": [ISO, "--add-rpm", "{input}", "-o", "{out}"],
        "dud": ["dud", "create", "{input}", "-o", "{out}"],
    }
    for c in commands:
        case(f"{name}:{c}", rel, cmd[c], expect, cause, why)


RPM_BAD = "rpm|header|truncated|corrupt|store|index|limit"
rpm_case("rpm-truncated-lead", rpm[:50], "reject", RPM_BAD + "|lead|unrecognised", "cut inside the lead")
rpm_case("rpm-truncated-main-header", rpm[: main_store + main_hsize // 2], "reject", RPM_BAD,
         "cut inside the main header's store")
rpm_case("rpm-truncated-payload", rpm[: main_end + (len(rpm) - main_end) // 2], "reject",
         RPM_BAD + "|payload|xz|unexpected|end", "cut in the middle of the payload",
         commands=("inspect", "check", "remaster", "dud"))
rpm_case("rpm-bad-header-magic", with_patch(rpm, main_at, b"\0\0\0"), "reject", RPM_BAD + "|magic",
         "main header magic zeroed", commands=("inspect", "check", "remaster", "dud"))
rpm_case("rpm-index-count-huge", with_patch(rpm, main_at + 8, struct.pack(">I", 0x7FFFFFFF)), "reject", RPM_BAD,
         "main header index count 2^31-1")
rpm_case("rpm-store-size-huge", with_patch(rpm, main_at + 12, struct.pack(">I", 0xFFFFFFF0)), "reject", RPM_BAD,
         "main header store size ~4 GiB")
rpm_case("rpm-sig-store-size-huge", with_patch(rpm, sig_at + 12, struct.pack(">I", 0x7FFFFFF0)), "reject", RPM_BAD,
         "signature header store size ~2 GiB")
# Index entries: offset outside the store, huge count, unknown type (entries found by parsing).
for k, (label, field, value) in enumerate([
    ("entry-offset-outside", 8, main_hsize + 64),
    ("entry-offset-negative", 8, 0xFFFFFF00),
    ("entry-count-huge", 12, 0x10000000),
    ("entry-type-unknown", 4, 99),
]):
    at = main_index + 16 * (3 + k) + field
    rpm_case(f"rpm-{label}", with_patch(rpm, at, struct.pack(">I", value)), "reject", RPM_BAD + "|type|entry",
             f"main header index entry {3 + k}: field at +{field} set to {value:#x}")
rpm_case("rpm-payload-garbage", with_patch(rpm, main_end + 64, random.Random(11).randbytes(4096)), "reject",
         RPM_BAD + "|payload|xz|data|cpio", "4 KiB of random bytes in the compressed payload",
         commands=("inspect", "remaster"))


def rebuild_payload(cpio_bytes):
    """The good RPM with its (xz) payload replaced; header digests left stale as an attacker would."""
    return rpm[:main_end] + lzma.compress(cpio_bytes, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=0)


payload = lzma.decompress(rpm[main_end:])
assert payload.startswith(b"07070"), "good RPM payload is not an xz cpio"
ko_name_at = payload.index(b".ko\0")
name_start = payload.rindex(b"070701", 0, ko_name_at)
ko_path = payload[name_start + 110 : payload.index(b"\0", name_start + 110)].decode()
evil = bytearray(payload)
evil[name_start + 54 : name_start + 62] = b"FFFFFFFF"  # c_filesize of the .ko entry
rpm_case("rpm-payload-cpio-size-huge", rebuild_payload(bytes(evil)), "reject",
         RPM_BAD + "|payload|size|cpio|large|limit|more than", "payload cpio: the .ko's size field 0xFFFFFFFF",
         commands=("inspect", "remaster"))
# Found by fuzzing rpm_reader: the rpm crate allocated c_namesize bytes (up to 4 GiB) before
# checking the name length, and decoded the xz payload without a memory limit.
evil = bytearray(payload)
evil[name_start + 94 : name_start + 102] = b"FFFFFFFF"  # c_namesize of the .ko entry
rpm_case("rpm-payload-cpio-namesize-huge", rebuild_payload(bytes(evil)), "reject", "name",
         "payload cpio: the .ko's name size field 0xFFFFFFFF", commands=("inspect", "remaster"))
rpm_case("rpm-payload-xz-dictionary-huge", rpm[:main_end] + xz_with_huge_dictionary(rpm[main_end:]), "reject",
         "memory|limit", "payload xz stream with a 4 GiB LZMA2 dictionary", commands=("inspect", "remaster"))
rpm_case("rpm-payload-dotdot", rebuild_payload(
    newc("../../../../lib/modules/" + KVER + "/extra/evil.ko", ko) + trailer()), "reject",
         RPM_BAD + "|payload|..|path|escape|not in the header|file list",
         "payload cpio entry ../../../../lib/modules/... (not in the header's file list)",
         commands=("inspect", "remaster"))
rpm_case("rpm-payload-module-bomb", rpm[:main_end] + compress_stream(
    "xz", ["-q", "-0", "--check=crc32", "-c", "-T1"],
    (c for part in ([payload[:name_start]], bomb_cpio(300 << 20, ko_path)) for c in part)), "reject",
         "limit|large|more than|exceed", "payload cpio with a 300 MiB module (limit 128 MiB)",
         commands=("inspect", "remaster"))
for seed in range(3):
    data = bytearray(rpm)
    rng = random.Random(300 + seed)
    for _ in range(8):
        at = rng.randrange(96, main_end)
        data[at] ^= 1 << rng.randrange(8)
    rpm_case(f"rpm-bitflip-header-{seed}", bytes(data), "tolerate", "", "8 random bit flips in the headers",
             commands=("inspect", "check"))

# --- DUD ISOs ------------------------------------------------------------------------------


def dud_case(name, rel, expect, cause, why):
    case(f"{name}:remaster", rel, [ISO, "--add-dud", "{input}", "-o", "{out}"], expect, cause, why)
    case(f"{name}:check", rel, ["check", ISO, "{input}"], expect, cause, why)


rel = new_input("dud-no-rhdd3", "dd-norhdd3.iso", src=DUD_NORHDD3)
dud_case("dud-no-rhdd3", rel, "reject", "rhdd3|driver update disk|not a", "rpms/x86_64/ without rhdd3")
dud = Iso(DUD_GOOD)
rpm_rec = next(r for r in dud.primary if r.path.endswith(".rpm"))
rel = new_input("dud-truncated", "dd-good.iso", dud.img[: rpm_rec.lba * SECTOR + rpm_rec.size // 2])
dud_case("dud-truncated", rel, "reject", PAST_END + "|rpm", "dd-good.iso cut in the middle of its RPM")
rel = new_input("dud-truncated-padding", "dd-good.iso", dud.img[: rpm_rec.lba * SECTOR + rpm_rec.size + SECTOR])
dud_case("dud-truncated-padding", rel, "tolerate", "",
         "dd-good.iso cut after its last file (only padding lost: Linux isofs reads every file)")
rel = new_input("dud-corrupt-rpm", "dd-good.iso", src=DUD_GOOD)
patch(rel, rpm_rec.lba * SECTOR + main_at, b"\0\0\0")
dud_case("dud-corrupt-rpm", rel, "reject", RPM_BAD + "|no usable|no driver|unreadable",
         "the RPM inside has a zeroed main header magic")
rel = new_input("dud-dir-loop", "dd-good.iso", src=DUD_GOOD)
droot = dud.root(dud.pvd)
set_extent(rel, dud.rec("rpms/x86_64"), droot.lba, droot.size)
dud_case("dud-dir-loop", rel, "reject", "loop", "rpms/x86_64/ points at the DUD's root")
rel = new_input("dud-rpm-past-end", "dd-good.iso", src=DUD_GOOD)
for r in dud.records_at(rpm_rec.lba):
    set_extent(rel, r, lba=len(dud.img) // SECTOR + 100)
dud_case("dud-rpm-past-end", rel, "reject", PAST_END + "|rpm", "the RPM's extent past the end")
rel = new_input("dud-not-iso", "dd.iso", random.Random(13).randbytes(100_000))
dud_case("dud-not-iso", rel, "reject", "iso|unrecognised|driver update|not", "100 kB of random bytes named dd.iso")


# --- superlinear costs (issue 15 §2): each step under its cap, the caps multiplying --------


def xorriso_iso(tree_dir, extra=()):
    """A small Rock Ridge + Joliet ISO of tree_dir, built by xorriso; returns its bytes."""
    out = os.path.join(OUT, "tmp.iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "OEMDRV", *extra,
                    "-o", out, tree_dir], check=True, stderr=subprocess.DEVNULL)
    data = read(out)
    os.remove(out)
    return data


def scratch_dir(name):
    d = os.path.join(OUT, "scratch", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


# A DUD ISO whose 32 top-level *.iso files all point at the image itself (LBA 0, its whole
# length): each nested image is the DUD again, so following them mounts 1+32+32²+32³+32⁴
# images (before issue 15: a hang, with every one kept in memory).
d = scratch_dir("dud-self-nesting")
rng = random.Random(15)
for i in range(32):
    with open(os.path.join(d, f"n{i:02}.iso"), "wb") as f:
        f.write(rng.randbytes(SECTOR))
img = xorriso_iso(d)
rel = new_input("dud-self-nesting", "dd.iso", img)
nest = Iso(os.path.join(OUT, rel))
for r in nest.primary + nest.joliet_tree:
    if r.path.lower().endswith(".iso"):
        set_extent(rel, r, lba=0, size=len(img))
dud_case("dud-self-nesting", rel, "reject", "budget|nested",
         "32 top-level *.iso records all pointing at the image itself")


def chain_iso(name, depth):
    """An ISO (Rock Ridge, no Joliet) of `depth` nested directories d/d/d/…; returns its bytes
    and, per level, the byte offset and lba of the record naming the next directory."""
    d = scratch_dir(name)
    p = d
    for _ in range(depth):
        p = os.path.join(p, "d")
    os.makedirs(p)
    out = os.path.join(OUT, "tmp.iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-V", "CHAIN", "-o", out, d],
                   check=True, stderr=subprocess.DEVNULL)
    img = bytearray(read(out))
    os.remove(out)
    pvd = 16 * SECTOR
    lba = le32(img, pvd + 156 + 2)
    chain = []
    for _ in range(depth):
        base, pos, found = lba * SECTOR, 0, None
        while pos < SECTOR and img[base + pos]:
            at = base + pos
            ln, nlen = img[at], img[at + 32]
            if img[at + 25] & 2 and img[at + 33 : at + 33 + nlen] not in (b"\0", b"\1"):
                found = at
            pos += ln
        assert found is not None, f"{name}: chain broken at lba {lba}"
        chain.append(found)
        lba = le32(img, found + 2)
    return img, chain


def set_record_sua(img, at, sua):
    """Rewrites the directory record at `at` (the last one of its sector) with system-use area
    `sua`, keeping its extent, flags and identifier."""
    old_len, nlen = img[at], img[at + 32]
    head = bytes(img[at : at + 33 + nlen]) + (b"\0" if nlen % 2 == 0 else b"")
    rec = bytearray(head + sua)
    assert len(rec) <= 255
    rec[0] = len(rec)
    img[at : at + max(old_len, len(rec))] = bytes(rec) + bytes(max(0, old_len - len(rec)))


def ce_entry(block, length, offset=0):
    both = lambda v: struct.pack("<I", v) + struct.pack(">I", v)
    return b"CE\x1c\x01" + both(block) + both(offset) + both(length)


def nm_entry(name, more):
    return b"NM" + bytes([5 + len(name), 1]) + bytes([1 if more else 0]) + name


# A chain of 500 directories, one per sector (the loop check does not see it), each named by
# Rock Ridge NM entries continued over 17 CE areas that all point at one shared sector of the
# system area: ~30 KB per name, and every node stored its full path, Σ depth × name ≈ 3.7 GB
# from a 1 MB image (before issue 15: killed under the test's ulimit -v).
img, chain = chain_iso("iso-rr-name-bomb", 500)
area = b"".join(nm_entry(b"x" * 250, True) for _ in range(7)) + ce_entry(1, SECTOR)
img[SECTOR : SECTOR + len(area)] = area
for at in chain:
    set_record_sua(img, at, nm_entry(b"d", True) + ce_entry(1, SECTOR))
rel = new_input("iso-rr-name-bomb", "boot.iso", bytes(img))
iso_cases("iso-rr-name-bomb", rel, "reject", "name|longer|budget|limit",
          "500 nested directories named by ~30 KB Rock Ridge names from one shared CE sector")

# 14 nested directories with 250-byte names (paths just under PATH_MAX), the last one holding
# 700 000 records of 64 bytes whose names (250 bytes, from one shared CE area) give each node
# a ~4 KB path: ~3 GB of paths from a 45 MB image (before issue 15: killed under ulimit -v).
img, chain = chain_iso("iso-wide-deep-paths", 14)
img[2 * SECTOR : 2 * SECTOR + 255] = nm_entry(b"y" * 250, False)
for at in chain:
    set_record_sua(img, at, ce_entry(2, 255))
count = 700_000
per_sector = SECTOR // 64
rec = bytearray(64)
rec[0], rec[32] = 64, 3
rec[33:36] = b"F;1"
rec[36:64] = ce_entry(2, 255)
sector = bytes(rec) * per_sector
last = chain[-1]
big_lba = len(img) // SECTOR
dot = bytes(img[le32(img, last + 2) * SECTOR :][:68])  # `.` and `..` of the original directory
nsec = -(-count // per_sector) + 1
img += (dot + bytes(SECTOR - len(dot)) + sector * (nsec - 1))
set_extent_bytes = lambda at, lba, size: img.__setitem__(
    slice(at + 2, at + 18), struct.pack("<I", lba) + struct.pack(">I", lba) + struct.pack("<I", size) + struct.pack(">I", size))
set_extent_bytes(last, big_lba, nsec * SECTOR)
rel = new_input("iso-wide-deep-paths", "boot.iso", bytes(img))
iso_cases("iso-wide-deep-paths", rel, "reject", "budget|limit|more than|longer",
          "700 000 entries with ~4 KB paths under 14 directories with 250-byte names",
          commands=("inspect", "check"))

# A module alias that is a glob bomb: 39 `*` then a byte no PCI id has, within the 40-byte
# vendor/device head `check --pci` accepts. The recursive matcher tried ~C(56,17) splits per
# module (before issue 15: a hang); the module is otherwise valid, so check may say LOADS.
old_alias = b"alias=pci:v00001000d00000072sv*sd*bc*sc*i*\0description=remaster test module"
at = ko.index(old_alias, modinfo["offset"], modinfo["offset"] + modinfo["size"])
bomb = b"alias=pci:v" + b"*" * 39 + b"Xsv*sd*bc*sc*i*"
rel = ko_input("ko-alias-glob-bomb", with_patch(ko, at, bomb + bytes(len(old_alias) - len(bomb))))
case("ko-alias-glob-bomb:check-pci", rel, ["check", ISO, "{input}", "--pci", "1000:0072"], "tolerate", "",
     "alias=pci:v + 39 '*' + X...: exponential for a backtracking glob matcher")

# An xz initrd: a chain of 400 real directories d/d/…, a symlink s to its end, and 100 000
# files s/xNNNNN. Each name resolves through the symlink into 400 components; the walker
# rebuilt the candidate path per component (before issue 15: O(components²) per entry, a
# hang); now resolution is incremental and the looked-up path bytes of a walk are capped.
chain_names = ["/".join(["d"] * k) for k in range(1, 401)]
def resolve_bomb():
    for n in chain_names:
        yield newc(n, mode=0o40755)
    yield newc("s", chain_names[-1].encode(), mode=0o120777)
    for i in range(100_000):
        yield newc(f"s/x{i:05}")
    yield trailer()
initrd_case("initrd-symlink-chain", compress_stream("xz", ["-q", "--check=crc32", "-c"], resolve_bomb()),
            "reject", "budget|resolution|symlink",
            "100 000 files named through a symlink to a 400-level directory chain")

# GPT arithmetic on the image's own fields: a partition's last LBA set to 2^64-1, every CRC
# made valid again (before issue 15: the LBA range overflowed, a panic with overflow checks).
import zlib


def gpt_fix_crcs(img, hdr, entries_at, entries_len):
    struct.pack_into("<I", img, hdr + 88, zlib.crc32(bytes(img[entries_at : entries_at + entries_len])))
    size = le32(img, hdr + 12)
    struct.pack_into("<I", img, hdr + 16, 0)
    struct.pack_into("<I", img, hdr + 16, zlib.crc32(bytes(img[hdr : hdr + size])))


img = bytearray(iso.img)
n_entries, entry_size = struct.unpack_from("<II", img, gpt + 80)
ents = entries_lba * 512
# The first used entry that starts after LBA 0 (an entry at LBA 0 is the whole ISO).
k = next(i for i in range(n_entries)
         if any(img[ents + i * entry_size : ents + i * entry_size + 16])
         and struct.unpack_from("<Q", img, ents + i * entry_size + 32)[0] > 0)
struct.pack_into("<Q", img, ents + k * entry_size + 40, (1 << 64) - 1)
gpt_fix_crcs(img, gpt, ents, n_entries * entry_size)
rel = new_input("iso-gpt-lba-overflow", "boot.iso", bytes(img))
iso_cases("iso-gpt-lba-overflow", rel, "reject", "gpt|partition|lba",
          "a GPT partition's last LBA 2^64-1, CRCs valid", commands=("remaster", "inspect", "verify"))

# A backup GPT header whose entry array span (1 sector) is shorter than the primary array,
# CRC valid: the writer took the span from the backup and truncated the array under a CRC of
# the whole (before issue 15: a grown image with a corrupt backup GPT, exit 0).
img = bytearray(iso.img)
alt = struct.unpack_from("<Q", img, gpt + 32)[0]
bh = alt * 512
assert img[bh : bh + 8] == b"EFI PART", "fixture ISO has no backup GPT header at its alternate LBA"
struct.pack_into("<Q", img, bh + 72, alt - 1)
gpt_fix_crcs(img, bh, (alt - 1) * 512, 512)
rel = new_input("iso-gpt-backup-short", "boot.iso", bytes(img))
iso_cases("iso-gpt-backup-short", rel, "reject", "gpt|backup",
          "backup GPT header's entry array span 1 sector, the primary array needs more",
          commands=("remaster",))

# The boot_config fuzz target's worst finding as a file: a grub.cfg whose last quote never
# closes (the added arguments would land inside it; GRUB rejects the file too).
grub = iso.rec("EFI/BOOT/grub.cfg")
grub_text = iso.img[grub.lba * SECTOR : grub.lba * SECTOR + grub.size]
q = grub_text.rindex(b"'")
rel = new_input("iso-grub-unterminated-quote", "boot.iso", src=ISO)
patch(rel, grub.lba * SECTOR + q, b" ")
iso_cases("iso-grub-unterminated-quote", rel, "reject", "quote|grub",
          "EFI/BOOT/grub.cfg's last closing quote removed", commands=("remaster",))

# The efiboot_fat fuzz target's finding (built with overflow checks): a FAT directory entry
# whose first cluster is 1 makes fatfs 0.3.6 compute cluster - 2 below zero. Here the root
# directory's EFI/ entry of images/efiboot.img points at cluster 1 (before: the panic was
# caught, but "thread 'main' panicked" was printed).
fat_at = efiboot.lba * SECTOR
fat = iso.img[fat_at : fat_at + 512]
bps, spc = struct.unpack_from("<HB", fat, 11)
reserved, nfats, root_entries = struct.unpack_from("<HBH", fat, 14)
fat_size = struct.unpack_from("<H", fat, 22)[0]
assert fat_size, "efiboot.img is not FAT12/16"
root_at = fat_at + (reserved + nfats * fat_size) * bps
efi_entry = next(root_at + 32 * i for i in range(root_entries)
                 if iso.img[root_at + 32 * i : root_at + 32 * i + 11] == b"EFI        ")
rel = new_input("iso-efiboot-cluster-underflow", "boot.iso", src=ISO)
patch(rel, efi_entry + 26, struct.pack("<H", 1))
iso_cases("iso-efiboot-cluster-underflow", rel, "reject", "efiboot|fat|corrupt",
          "images/efiboot.img: the EFI/ directory entry's first cluster is 1", commands=("remaster",))
shutil.rmtree(os.path.join(OUT, "scratch"), ignore_errors=True)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump({"cases": cases}, f, indent=1)
print(f"{len(cases)} cases, {len(os.listdir(os.path.join(OUT, 'inputs')))} inputs", file=sys.stderr)

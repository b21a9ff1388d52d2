//! Walker and overlay tests against initrds built here with the real cpio / xz / zstd / gzip,
//! the way dracut does (`find . | sort | cpio -o -H newc`, `xz --check=crc32`). The oracle for
//! "what the kernel unpacks" is `cpio -t` run on each segment after manual decompression.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

use remaster::codec::{Codec, XzCheck};
use remaster::initrd::walk::{list, read_files, FileKind};
use remaster::initrd::{build_overlay, Compression, OverlayEntry};
use std::collections::BTreeSet;
use std::io::{Cursor, Write};
use std::path::Path;
use std::process::{Command, Stdio};

fn run(cmd: &str, args: &[&str], input: &[u8], dir: Option<&Path>) -> Vec<u8> {
    let mut c = Command::new(cmd);
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd} not runnable ({e}); install it (scripts/test-deps.txt)"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let t = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    t.join().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A small usr-merged root like dracut's: lib/bin/sbin/lib64 symlinks into usr, a module
/// tree, a hard-linked pair.
fn make_root(dir: &Path, tag: &str) {
    let w = |p: &str, d: &[u8]| {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, d).unwrap();
    };
    w("etc/os-release", format!("NAME={tag}\n").as_bytes());
    w("usr/bin/tool", b"#!/bin/sh\necho tool\n");
    w(
        "usr/lib/modules/6.1.0-50-amd64/kernel/drivers/scsi/fake.ko",
        &vec![7u8; 5000],
    );
    w(
        "usr/lib/modules/6.1.0-50-amd64/modules.dep",
        b"kernel/drivers/scsi/fake.ko:\n",
    );
    w("usr/lib64/ld.so", b"ld");
    std::fs::create_dir_all(dir.join("usr/sbin")).unwrap();
    for (l, t) in [
        ("lib", "usr/lib"),
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(t, dir.join(l)).unwrap();
    }
    std::fs::hard_link(dir.join("usr/bin/tool"), dir.join("usr/bin/tool-link")).unwrap();
}

fn newc_of_dir(dir: &Path) -> Vec<u8> {
    let list = run("sh", &["-c", "find . | LC_ALL=C sort"], b"", Some(dir));
    run("cpio", &["-o", "-H", "newc", "--quiet"], &list, Some(dir))
}

fn xz(d: &[u8]) -> Vec<u8> {
    run("xz", &["--check=crc32", "--lzma2=dict=1MiB", "-c"], d, None)
}
fn zstd(d: &[u8]) -> Vec<u8> {
    run("zstd", &["-q", "-c"], d, None)
}
fn gzip(d: &[u8]) -> Vec<u8> {
    run("gzip", &["-n", "-c"], d, None)
}

fn pad4(img: &mut Vec<u8>) {
    while !img.len().is_multiple_of(4) {
        img.push(0);
    }
}

/// Reference: names `cpio -t` lists in each (manually decompressed) segment, normalised.
fn cpio_names(segments: &[(&str, &[u8])]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (kind, bytes) in segments {
        let plain = match *kind {
            "xz" => run("xz", &["-dc"], bytes, None),
            "zstd" => run("zstd", &["-dc"], bytes, None),
            "gzip" => run("gzip", &["-dc"], bytes, None),
            _ => bytes.to_vec(),
        };
        let out = run("cpio", &["-t", "--quiet"], &plain, None);
        for n in String::from_utf8(out).unwrap().lines() {
            let n = n.trim_start_matches("./");
            if n != "." && !n.is_empty() {
                names.insert(n.to_string());
            }
        }
    }
    names
}

fn walked_names(img: &[u8]) -> BTreeSet<String> {
    list(Cursor::new(img))
        .unwrap()
        .entries
        .keys()
        .cloned()
        .collect()
}

fn root_newc(tag: &str) -> (tempfile::TempDir, Vec<u8>) {
    let d = tempfile::tempdir().unwrap();
    make_root(d.path(), tag);
    let n = newc_of_dir(d.path());
    (d, n)
}

#[test]
fn single_xz_matches_cpio_t() {
    let (_d, newc) = root_newc("a");
    let img = xz(&newc);
    let l = list(Cursor::new(&img)).unwrap();
    assert_eq!(l.segments.len(), 1);
    assert_eq!(l.segments[0].compression, Codec::Xz);
    assert_eq!(l.segments[0].xz_check, Some(XzCheck::Crc32));
    assert_eq!(l.segments[0].size, img.len() as u64);
    assert_eq!(l.segments[0].uncompressed_size, Some(newc.len() as u64));
    assert_eq!(walked_names(&img), cpio_names(&[("xz", &img)]));
    assert!(l.is_symlink("lib"));
    assert_eq!(
        l.module_trees(),
        vec![(
            "6.1.0-50-amd64".into(),
            "usr/lib/modules/6.1.0-50-amd64".into()
        )]
    );
    assert_eq!(
        l.entries["usr/lib/modules/6.1.0-50-amd64/kernel/drivers/scsi/fake.ko"].size,
        5000
    );
}

#[test]
fn early_cpio_then_xz() {
    let e = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(e.path().join("kernel/x86/microcode")).unwrap();
    std::fs::write(
        e.path().join("kernel/x86/microcode/GenuineIntel.bin"),
        b"ucode",
    )
    .unwrap();
    std::fs::write(e.path().join("early_cpio"), b"1\n").unwrap();
    let early = newc_of_dir(e.path());
    let (_d, newc) = root_newc("b");
    let main = xz(&newc);
    let mut img = early.clone();
    pad4(&mut img);
    let off = img.len();
    img.extend_from_slice(&main);
    let l = list(Cursor::new(&img)).unwrap();
    let kinds: Vec<_> = l
        .segments
        .iter()
        .map(|s| (s.compression, s.offset))
        .collect();
    assert_eq!(kinds, vec![(Codec::None, 0), (Codec::Xz, off as u64)]);
    assert_eq!(
        walked_names(&img),
        cpio_names(&[("none", &early), ("xz", &main)])
    );
    assert_eq!(
        l.entries["kernel/x86/microcode/GenuineIntel.bin"].segment,
        0
    );
}

#[test]
fn zstd_and_gzip_images() {
    let (_d, newc) = root_newc("c");
    for (kind, img) in [("zstd", zstd(&newc)), ("gzip", gzip(&newc))] {
        let l = list(Cursor::new(&img)).unwrap();
        assert_eq!(l.segments.len(), 1, "{kind}");
        assert_eq!(l.segments[0].compression.name(), kind);
        assert_eq!(l.segments[0].size, img.len() as u64, "{kind}");
        assert!(l.warnings.is_empty(), "{kind}: {:?}", l.warnings);
        assert_eq!(walked_names(&img), cpio_names(&[(kind, &img)]), "{kind}");
    }
}

#[test]
fn xz_then_xz_overlay_then_zstd_overlay_all_seen_and_last_wins() {
    let (_d, newc) = root_newc("base");
    let base = xz(&newc);
    let o1 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(o1.path().join("etc")).unwrap();
    std::fs::write(o1.path().join("etc/os-release"), b"NAME=overlay1\n").unwrap();
    std::fs::write(o1.path().join("etc/extra1"), b"1").unwrap();
    let o1c = xz(&newc_of_dir(o1.path()));
    let o2 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(o2.path().join("etc")).unwrap();
    std::fs::write(o2.path().join("etc/os-release"), b"NAME=overlay2-wins\n").unwrap();
    let o2c = zstd(&newc_of_dir(o2.path()));
    let mut img = base.clone();
    pad4(&mut img);
    img.extend_from_slice(&o1c);
    img.extend_from_slice(&[0u8; 7]);
    pad4(&mut img);
    img.extend_from_slice(&o2c);
    img.extend_from_slice(&[0u8; 12]);
    let l = list(Cursor::new(&img)).unwrap();
    assert_eq!(
        l.segments.iter().map(|s| s.compression).collect::<Vec<_>>(),
        vec![Codec::Xz, Codec::Xz, Codec::Zstd]
    );
    assert_eq!(
        walked_names(&img),
        cpio_names(&[("xz", &base), ("xz", &o1c), ("zstd", &o2c)])
    );
    let files = read_files(
        Cursor::new(&img),
        |p| p.starts_with("etc/") || p.starts_with("usr/bin/"),
        1 << 20,
    )
    .unwrap();
    let get = |n: &str| files.iter().find(|(p, _)| p == n).map(|(_, d)| d.clone());
    assert_eq!(get("etc/os-release").unwrap(), b"NAME=overlay2-wins\n");
    assert_eq!(get("etc/extra1").unwrap(), b"1");
    // GNU cpio writes a hard-linked file's data only with its last name; both names get it.
    assert_eq!(get("usr/bin/tool").unwrap(), b"#!/bin/sh\necho tool\n");
    assert_eq!(get("usr/bin/tool-link").unwrap(), b"#!/bin/sh\necho tool\n");
    assert_eq!(l.entries["etc/os-release"].segment, 2);
}

#[test]
fn type_change_deletes_symlink_and_routes_through_symlinks() {
    let (_d, newc) = root_newc("base");
    let mut img = xz(&newc);
    pad4(&mut img);
    // An archive (uncompressed) with `lib/modules/x` (goes through the lib symlink) ...
    let mut a = Vec::new();
    let mut w = cpio::NewcBuilder::new("lib/modules/6.1.0-50-amd64/extra.ko")
        .mode(0o100644)
        .ino(1)
        .write(&mut a, 2);
    w.write_all(b"ko").unwrap();
    w.finish().unwrap();
    cpio::newc::trailer(&mut a).unwrap();
    img.extend_from_slice(&a);
    pad4(&mut img);
    let l = list(Cursor::new(&img)).unwrap();
    assert!(l
        .entries
        .contains_key("usr/lib/modules/6.1.0-50-amd64/extra.ko"));
    assert!(l.is_symlink("lib"));
    // ... then one with a *directory* `sbin`: the kernel unlinks the symlink.
    let mut b = Vec::new();
    cpio::NewcBuilder::new("sbin")
        .mode(0o040755)
        .ino(1)
        .write(&mut b, 0)
        .finish()
        .unwrap();
    cpio::newc::trailer(&mut b).unwrap();
    img.extend_from_slice(&xz(&b));
    let l = list(Cursor::new(&img)).unwrap();
    assert_eq!(l.entries["sbin"].kind, FileKind::Dir);
    assert!(l.is_symlink("lib"));
}

fn newc_entry(name: &str, mode: u32, filesize_field: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!(
        "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
        1,
        mode,
        0,
        0,
        1,
        0,
        filesize_field,
        0,
        0,
        0,
        0,
        name.len() + 1,
        0
    )
    .into_bytes();
    h.extend_from_slice(name.as_bytes());
    h.push(0);
    while !h.len().is_multiple_of(4) {
        h.push(0);
    }
    h.extend_from_slice(data);
    while !h.len().is_multiple_of(4) {
        h.push(0);
    }
    h
}

fn err_of(img: &[u8]) -> String {
    let e = list(Cursor::new(img)).expect_err("must fail").to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn bad_inputs_give_one_line_errors_with_offsets() {
    let (_d, newc) = root_newc("bad");
    let good = xz(&newc);
    // truncated xz segment
    let e = err_of(&good[..good.len() / 2]);
    assert!(e.contains("truncated") && e.contains("offset 0"), "{e}");
    // corrupt xz (flip bytes in the compressed body)
    let mut bad = good.clone();
    for b in &mut bad[40..60] {
        *b ^= 0x55;
    }
    let e = err_of(&bad);
    assert!(
        e.contains("xz segment at offset 0") && (e.contains("corrupt") || e.contains("valid")),
        "{e}"
    );
    // truncated uncompressed archive
    let e = err_of(&newc[..newc.len() - 300]);
    assert!(e.contains("offset") && e.contains("truncated"), "{e}");
    // bad cpio magic mid-stream (second entry), uncompressed and inside xz
    let mut m = newc_entry("a", 0o100644, "00000001", b"x");
    let second = m.len();
    m.extend(newc_entry("b", 0o100644, "00000001", b"y"));
    m[second + 5] = b'9';
    let e = err_of(&m);
    assert!(
        e.contains(&format!("at offset {second}")) && e.contains("no cpio magic"),
        "{e}"
    );
    let e = err_of(&xz(&m));
    assert!(
        e.contains(&format!("decompressed offset {second}")) && e.contains("no cpio magic"),
        "{e}"
    );
    // names escaping the root
    let e = err_of(&newc_entry("../etc/passwd", 0o100644, "00000001", b"x"));
    assert!(e.contains("..") && e.contains("offset 0"), "{e}");
    let e = err_of(&xz(&newc_entry("/etc/passwd", 0o100644, "00000001", b"x")));
    assert!(e.contains("absolute"), "{e}");
    // 4 GiB size field, plain and compressed
    let e = err_of(&newc_entry("big", 0o100644, "ffffffff", b"x"));
    assert!(e.contains("truncated") && e.contains("offset 0"), "{e}");
    let e = err_of(&xz(&newc_entry("big", 0o100644, "ffffffff", b"x")));
    assert!(e.contains("truncated"), "{e}");
    // non-hex header field
    let e = err_of(&newc_entry("big", 0o100644, "0000zz01", b"x"));
    assert!(e.contains("filesize"), "{e}");
    // junk that is no magic at all
    let e = err_of(b"\x00\x00\x00\x00hello");
    assert!(
        e.contains("at offset 4") && e.contains("invalid magic"),
        "{e}"
    );
    // old binary cpio
    let e = err_of(b"070707000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000");
    assert!(e.contains("newc"), "{e}");
}

#[test]
fn crc64_xz_is_reported_as_refused_and_stops_the_kernel() {
    let (_d, newc) = root_newc("c64");
    let base = xz(&newc);
    let mut img = base.clone();
    pad4(&mut img);
    img.extend(run(
        "xz",
        &["--check=crc64", "-c"],
        &newc_entry("etc/late", 0o100644, "00000001", b"x"),
        None,
    ));
    let l = list(Cursor::new(&img)).unwrap();
    assert_eq!(l.segments.len(), 2);
    assert_eq!(l.segments[1].xz_check, Some(XzCheck::Crc64));
    assert!(l.segments[1]
        .kernel_refuses
        .as_deref()
        .unwrap()
        .contains("refuse"));
    assert!(l.kernel_error.is_some());
    assert!(!l.entries.contains_key("etc/late"));
    assert!(l.entries.contains_key("etc/os-release"));
}

#[test]
fn decompression_bomb_is_capped() {
    use remaster::initrd::walk::{walk, WalkOptions};
    let zeros = vec![0u8; 64 << 20];
    let mut m = newc_entry("z", 0o100644, &format!("{:08x}", zeros.len()), &[]);
    m.truncate(m.len());
    m.extend_from_slice(&zeros);
    let img = xz(&m);
    let opts = WalkOptions {
        max_ratio: 10,
        hard_limit: 1 << 20,
    };
    let e = walk(Cursor::new(&img), &opts, &|_: &str| false, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("limit"), "{e}");
}

#[test]
fn overlay_over_usr_merged_base_round_trips() {
    let (_d, newc) = root_newc("base");
    let base = xz(&newc);
    let base = [base, vec![0u8; 3]].concat(); // odd length: padding must fix alignment
    let listing = list(Cursor::new(&base)).unwrap();
    let entries = vec![
        OverlayEntry::file("dd.iso", vec![1u8; 4096], 0o644),
        OverlayEntry::file(
            "lib/modules/6.1.0-50-amd64/updates/mpt3sas.ko.xz",
            b"module".to_vec(),
            0o644,
        ),
        OverlayEntry::file(
            "etc/modules-load.d/mpt3sas.conf",
            b"mpt3sas\n".to_vec(),
            0o644,
        ),
        OverlayEntry::file(
            "usr/lib/modules/6.1.0-50-amd64/modules.dep",
            b"updates/mpt3sas.ko.xz:\n".to_vec(),
            0o644,
        ),
    ];
    for comp in [
        Compression::AsBase,
        Compression::Zstd,
        Compression::Gzip,
        Compression::None,
    ] {
        let tail =
            build_overlay(&listing, &entries, comp, base.len() as u64, 1_700_000_000).unwrap();
        let img = [base.clone(), tail.clone()].concat();
        let l = list(Cursor::new(&img)).unwrap();
        assert_eq!(l.segments.len(), 2, "{comp:?}");
        assert_eq!(l.segments[1].offset % 4, 0);
        for l2 in ["lib", "bin", "sbin", "lib64"] {
            assert!(l.is_symlink(l2), "{comp:?}: {l2} still a symlink");
        }
        let ko = "usr/lib/modules/6.1.0-50-amd64/updates/mpt3sas.ko.xz";
        assert_eq!(l.entries[ko].segment, 1);
        assert_eq!(
            l.entries["usr/lib/modules/6.1.0-50-amd64/modules.dep"].segment,
            1
        );
        assert_eq!(l.entries["etc/modules-load.d"].kind, FileKind::Dir);
        assert_eq!(l.entries["dd.iso"].size, 4096);
        // Reference listing of the overlay segment: no lib/..., routed to usr/lib/...
        let seg = &tail[(l.segments[1].offset as usize - base.len())..];
        let kind = l.segments[1].compression.name();
        let names = cpio_names(&[(kind, seg)]);
        assert!(names.contains(ko), "{names:?}");
        assert!(
            !names.iter().any(|n| n == "lib" || n.starts_with("lib/")),
            "{names:?}"
        );
        assert!(
            !names.contains("usr/lib/modules"),
            "existing dirs are not re-emitted: {names:?}"
        );
        if comp == Compression::AsBase {
            assert_eq!(l.segments[1].compression, Codec::Xz);
            assert_eq!(l.segments[1].xz_check, Some(XzCheck::Crc32));
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), seg).unwrap();
            let p = f.path().to_str().unwrap();
            run("xz", &["-t", p], b"", None);
            let info = String::from_utf8(run("xz", &["-lvv", p], b"", None)).unwrap();
            assert!(info.contains("CRC32"), "{info}");
            assert!(!info.contains("CRC64"), "{info}");
        }
        // deterministic
        let again =
            build_overlay(&listing, &entries, comp, base.len() as u64, 1_700_000_000).unwrap();
        assert_eq!(again, tail);
    }
    // refused: a directory for a symlinked top-level name, a type change, a symlink over a dir
    for bad in [
        OverlayEntry::dir("lib"),
        OverlayEntry::dir("etc/os-release"),
        OverlayEntry::symlink("usr/bin", "/x"),
        OverlayEntry::file("lib64", b"x".to_vec(), 0o644),
    ] {
        let e = build_overlay(
            &listing,
            std::slice::from_ref(&bad),
            Compression::Xz,
            base.len() as u64,
            0,
        );
        assert!(e.is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn undecoded_compressor_is_recognised_and_listing_marked_incomplete() {
    let (_d, newc) = root_newc("bz");
    let mut img = xz(&newc);
    pad4(&mut img);
    let off = img.len() as u64;
    img.extend(run(
        "bzip2",
        &["-c"],
        &newc_entry("etc/late", 0o100644, "00000001", b"x"),
        None,
    ));
    let l = list(Cursor::new(&img)).unwrap();
    assert_eq!(l.segments.len(), 2);
    assert_eq!(l.segments[1].compression, Codec::Bzip2);
    assert_eq!(l.segments[1].offset, off);
    assert!(l.incomplete.as_deref().unwrap().contains("bzip2"));
    assert!(l.kernel_error.is_none());
    assert!(build_overlay(
        &l,
        &[OverlayEntry::file("x", vec![], 0o644)],
        Compression::Xz,
        img.len() as u64,
        0
    )
    .is_err());
}

#[test]
fn concatenated_gzip_members_and_zstd_frames_are_separate_segments() {
    let a = newc_entry("a", 0o100644, "00000001", b"a");
    let mut a_arch = a.clone();
    cpio::newc::trailer(&mut a_arch).unwrap();
    let b = newc_entry("b", 0o100644, "00000001", b"b");
    for (kind, f) in [("gzip", gzip as fn(&[u8]) -> Vec<u8>), ("zstd", zstd)] {
        let first = f(&a_arch);
        let img = [first.clone(), f(&b)].concat();
        let l = list(Cursor::new(&img)).unwrap();
        assert_eq!(l.segments.len(), 2, "{kind}");
        assert_eq!(l.segments[1].offset, first.len() as u64, "{kind}");
        assert_eq!(l.segments[0].archives, 1, "{kind}");
        assert!(
            l.entries.contains_key("a") && l.entries.contains_key("b"),
            "{kind}"
        );
        assert_eq!(walked_names(&img).len(), 2);
    }
}

#[test]
fn entry_without_parent_is_dropped_with_a_warning_like_the_kernel() {
    let img = newc_entry("nodir/x", 0o100644, "00000001", b"x");
    let l = list(Cursor::new(&img)).unwrap();
    assert!(l.entries.is_empty());
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("nodir/x") && w.contains("offset 0")),
        "{:?}",
        l.warnings
    );
}

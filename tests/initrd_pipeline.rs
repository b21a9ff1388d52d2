//! The integrator's use case end to end: a usr-merged xz(CRC32) base initrd carrying real
//! Debian 6.1.0-50 modules and depmod's indexes; pull its module tree with `read_files`,
//! regenerate the indexes with an added module under updates/, build the overlay (destinations
//! given as `lib/modules/...`, routed to `usr/lib/modules/...`), append it, walk again, unpack
//! the effective tree to disk and let kmod's `modprobe`/`modinfo` resolve the added module.
//!
//! Needs the unpacked kernel: `scripts/make-test-initrds.sh kernel` (run automatically).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use remaster::initrd::depmod::{
    decompress_module, generate_for_parsed_tree, generate_for_tree, read_symbols, ParsedModules,
};
use remaster::initrd::walk::{list, read_files, FileKind};
use remaster::initrd::{build_overlay, Compression, OverlayEntry};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const KVER: &str = "6.1.0-50-amd64";

fn kernel_modules() -> PathBuf {
    let fx = common::fixtures::fixtures_dir();
    let dir = fx.join("kernel").join(KVER).join("lib/modules").join(KVER);
    if !dir.join("modules.order").exists() {
        let st = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/make-test-initrds.sh"
        ))
        .arg("kernel")
        .env("REMASTER_FIXTURES", &fx)
        .status()
        .expect("run scripts/make-test-initrds.sh kernel");
        assert!(st.success(), "scripts/make-test-initrds.sh kernel failed");
    }
    dir
}

fn sh(cmd: &str, dir: &Path) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{cmd} failed");
    out.stdout
}

#[test]
fn overlay_with_regenerated_indexes_is_resolved_by_kmod_after_unpacking() {
    let src = kernel_modules();
    let tmp = tempfile::tempdir().unwrap();
    // Base: usr-merged staging root with a module subset and real depmod indexes.
    let stage = tmp.path().join("stage");
    let md = stage.join("usr/lib/modules").join(KVER);
    for sub in ["kernel/drivers/scsi", "kernel/drivers/message"] {
        std::fs::create_dir_all(md.join(sub).parent().unwrap()).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(src.join(sub))
            .arg(md.join(sub))
            .status()
            .unwrap();
        assert!(st.success());
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        std::fs::copy(src.join(f), md.join(f)).unwrap();
    }
    for d in ["usr/bin", "usr/sbin", "usr/lib64", "etc"] {
        std::fs::create_dir_all(stage.join(d)).unwrap();
    }
    for (l, t) in [
        ("lib", "usr/lib"),
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(t, stage.join(l)).unwrap();
    }
    sh(&format!("depmod -b {} {KVER}", stage.display()), &stage);
    let base = sh(
        "find . | LC_ALL=C sort | cpio -o -H newc --quiet | xz --check=crc32 --lzma2=dict=1MiB",
        &stage,
    );

    // Pull the module tree out of the base (effective contents), add a module, regenerate.
    let prefix = format!("usr/lib/modules/{KVER}/");
    let files = read_files(Cursor::new(&base), |p| p.starts_with(&prefix), 512 << 20).unwrap();
    assert!(files
        .iter()
        .any(|(p, _)| p.ends_with("kernel/drivers/scsi/megaraid/megaraid_sas.ko")));
    let raw = std::fs::read(src.join("kernel/drivers/scsi/megaraid/megaraid_sas.ko")).unwrap();
    let added = vec![(
        "updates/megaraid_sas.ko.xz".to_string(),
        Compression::Xz.compress(&raw).unwrap(),
    )];
    let indexes = generate_for_tree(&files, KVER, &added).unwrap();

    // The media reader hands depmod the modules it has already decompressed and read: the
    // same indexes, and the modules are taken from that map, not decompressed again (a
    // poisoned entry is what depmod sees).
    let mut parsed = ParsedModules::new();
    for (p, d) in files.iter().filter(|(p, _)| p.contains(".ko")) {
        let read = decompress_module(d).and_then(|(_, plain)| read_symbols(&plain));
        parsed.insert(p.clone(), read);
    }
    assert_eq!(
        generate_for_parsed_tree(&files, &parsed, KVER, &added).unwrap(),
        indexes
    );
    // The first module of the tree is always read (nothing of its name came before it).
    let (first, _) = files
        .iter()
        .find(|(p, _)| parsed.contains_key(p))
        .expect("a module in the tree");
    parsed.insert(first.clone(), Err("poisoned".into()));
    let err = match generate_for_parsed_tree(&files, &parsed, KVER, &added) {
        Ok(_) => panic!("{first}: the module was decompressed again, not taken from the map"),
        Err(e) => e.to_string(),
    };
    let rel = first.strip_prefix(&prefix).unwrap_or(first);
    assert!(err.contains(&format!("module {rel}: poisoned")), "{err}");

    let listing = list(Cursor::new(&base)).unwrap();
    let mut entries = vec![OverlayEntry::file(
        format!("lib/modules/{KVER}/{}", added[0].0),
        added[0].1.clone(),
        0o644,
    )];
    for (name, data) in &indexes {
        entries.push(OverlayEntry::file(
            format!("lib/modules/{KVER}/{name}"),
            data.clone(),
            0o644,
        ));
    }
    entries.push(OverlayEntry::file(
        "etc/modules-load.d/megaraid_sas.conf",
        b"megaraid_sas\n".to_vec(),
        0o644,
    ));
    let tail = build_overlay(
        &listing,
        &entries,
        Compression::AsBase,
        base.len() as u64,
        0,
    )
    .unwrap();
    let img = [base.clone(), tail].concat();

    // Walk the result; unpack the effective tree.
    let after = list(Cursor::new(&img)).unwrap();
    assert_eq!(after.segments.len(), 2);
    for l in ["lib", "bin", "sbin", "lib64"] {
        assert!(after.is_symlink(l), "{l}");
    }
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    for e in after.entries.values() {
        let p = root.join(&e.path);
        match e.kind {
            FileKind::Dir => std::fs::create_dir_all(&p).unwrap(),
            FileKind::Symlink => {
                std::os::unix::fs::symlink(e.target.as_ref().unwrap(), &p).unwrap()
            }
            _ => {}
        }
    }
    for (p, d) in read_files(Cursor::new(&img), |_| true, 1 << 30).unwrap() {
        std::fs::write(root.join(p), d).unwrap();
    }
    let r = root.to_str().unwrap();
    let out = Command::new("modprobe")
        .args(["-d", r, "-S", KVER, "--show-depends", "megaraid_sas"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("/lib/modules/{KVER}/updates/megaraid_sas.ko.xz")),
        "{text}"
    );
    assert!(text.contains("scsi_mod.ko"), "{text}");
    let out = Command::new("modinfo")
        .args(["-b", r, "-k", KVER, "-F", "filename", "megaraid_sas"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("updates/megaraid_sas.ko.xz"));
}

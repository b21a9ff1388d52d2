//! `remaster inspect ISO` summarises files (counts and sizes per top-level directory, the
//! boot-relevant files in full) and lists every file only with `--files`, in human and
//! JSON form. Checked against xorriso's own listing, on the EL9 fixture and on a scratch
//! ISO shaped like a DVD (thousands of packages, a GRUB module directory).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::fixtures::{fixture_iso, run_tool, scratch_dir};

fn inspect(iso: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_remaster"))
        .arg("inspect")
        .arg(iso)
        .args(args)
        .output()
        .expect("run remaster");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(iso: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_slice(&inspect(iso, &all).stdout).expect("json")
}

fn human(iso: &Path, args: &[&str]) -> String {
    String::from_utf8(inspect(iso, args).stdout).unwrap()
}

/// Every file of the ISO as xorriso reports it: path → (lba, size).
fn xorriso_files(iso: &Path) -> BTreeMap<String, (u64, u64)> {
    let (ok, text) = run_tool(
        "xorriso",
        &[
            "-indev",
            iso.to_str().unwrap(),
            "-find",
            "/",
            "-type",
            "f",
            "-exec",
            "report_lba",
            "--",
        ],
    );
    assert!(ok, "{text}");
    let mut files = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("File data lba:")) {
        // File data lba:  0 ,      3280 ,        19 ,     38912 , '/isolinux/isolinux.bin'
        let parts: Vec<&str> = line
            .trim_start_matches("File data lba:")
            .split(',')
            .map(str::trim)
            .collect();
        let path = parts[4].trim_matches('\'').to_string();
        let (lba, size) = (parts[1].parse().unwrap(), parts[3].parse::<u64>().unwrap());
        // A multi-extent file has one line per extent: first LBA, summed size.
        let e = files.entry(path).or_insert((lba, 0));
        e.1 += size;
    }
    files
}

/// The summary agrees with xorriso: totals, per top-level directory, boot files.
fn check_summary(iso: &Path, v: &serde_json::Value) -> BTreeMap<String, (u64, u64)> {
    let mut truth = xorriso_files(iso);
    // xorriso's -find does not list the El Torito boot catalog as a file; we do.
    if let Some(cat) = v["el_torito"]["path"].as_str() {
        let cat = format!("/{}", cat.trim_start_matches('/'));
        let lba = v["el_torito"]["lba"].as_u64().unwrap();
        truth.entry(cat).or_insert((lba, 2048));
    }
    assert!(v.get("files").is_none(), "no file list without --files");
    assert_eq!(v["file_count"].as_u64().unwrap() as usize, truth.len());
    assert_eq!(
        v["file_bytes"].as_u64().unwrap(),
        truth.values().map(|(_, s)| s).sum::<u64>()
    );
    let mut per_top: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (path, (_, size)) in &truth {
        let top = match path.trim_start_matches('/').split_once('/') {
            Some((top, _)) => format!("/{top}"),
            None => "/".to_string(),
        };
        let e = per_top.entry(top).or_default();
        e.0 += 1;
        e.1 += size;
    }
    let ours: BTreeMap<String, (u64, u64)> = v["directories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_string(),
                (d["files"].as_u64().unwrap(), d["bytes"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(ours, per_top);
    for f in v["boot_files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let (lba, size) = truth[path];
        assert_eq!(f["lba"].as_u64().unwrap(), lba, "{path}");
        assert_eq!(f["size"].as_u64().unwrap(), size, "{path}");
    }
    truth
}

fn boot_paths(v: &serde_json::Value) -> Vec<String> {
    v["boot_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fixture_summary_has_the_boot_files_and_files_lists_them_all() {
    let iso = fixture_iso();
    let v = json(&iso, &[]);
    let truth = check_summary(&iso, &v);
    let boot = boot_paths(&v);
    for p in [
        "/isolinux/vmlinuz",
        "/isolinux/initrd.img",
        "/isolinux/isolinux.cfg",
        "/isolinux/isolinux.bin",
        "/isolinux/boot.cat",
        "/images/pxeboot/vmlinuz",
        "/images/pxeboot/initrd.img",
        "/images/efiboot.img",
        "/EFI/BOOT/grub.cfg",
        "/EFI/BOOT/BOOTX64.EFI",
        "/.treeinfo",
    ] {
        assert!(boot.iter().any(|b| b == p), "{p} missing from {boot:?}");
    }
    // --files: every file, as xorriso sees it.
    let all = json(&iso, &["--files"]);
    let listed: BTreeMap<String, (u64, u64)> = all["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                (f["lba"].as_u64().unwrap(), f["size"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(listed, truth);
    // Human: the summary names every top-level directory; --files adds every path.
    let text = human(&iso, &[]);
    assert!(text.contains("every file: --files"), "{text}");
    for top in ["/EFI", "/images", "/isolinux"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(top)),
            "{top}:\n{text}"
        );
    }
    let text = human(&iso, &["--files"]);
    let all_files = text.split("All files:").nth(1).expect("All files section");
    for path in truth.keys() {
        assert!(
            all_files.lines().any(|l| l.ends_with(&format!(" {path}"))),
            "{path} not listed:\n{text}"
        );
    }
}

/// A DVD-shaped ISO: 7,000 packages in two repositories, boot directories, and a GRUB
/// module directory of 120 files. The summary stays a few dozen lines; the module
/// directory is one summary line; --files lists everything.
#[test]
fn dvd_shaped_tree_gives_a_short_summary() {
    let dir = scratch_dir();
    let tree = dir.path().join("tree");
    let write = |rel: &str, len: usize| {
        let p = tree.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![b'x'; len]).unwrap();
    };
    for i in 0..5000 {
        write(&format!("AppStream/Packages/p{i:05}.rpm"), i % 97);
    }
    for i in 0..2000 {
        write(&format!("BaseOS/Packages/b{i:05}.rpm"), i % 89);
    }
    write("AppStream/repodata/repomd.xml", 10);
    for i in 0..120 {
        write(&format!("boot/grub2/i386-pc/m{i:03}.mod"), 100 + i);
    }
    write("boot/grub2/grub.cfg", 300);
    // Not named like a kernel or an initrd: inspect would read them as such.
    for f in [
        "isolinux/isolinux.cfg",
        "isolinux/boot.msg",
        "isolinux/splash.png",
    ] {
        write(f, 4096);
    }
    write("images/pxeboot/README", 4096);
    write(".treeinfo", 50);
    let iso = dir.path().join("dvd.iso");
    let (ok, log) = run_tool(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-R",
            "-J",
            "-joliet-long",
            "-V",
            "DVD-LIKE",
            "-o",
            iso.to_str().unwrap(),
            tree.to_str().unwrap(),
        ],
    );
    assert!(ok, "{log}");
    let v = json(&iso, &[]);
    check_summary(&iso, &v);
    assert_eq!(v["file_count"], 7000 + 1 + 121 + 3 + 1 + 1);
    let boot = boot_paths(&v);
    assert!(
        boot.contains(&"/boot/grub2/grub.cfg".to_string()),
        "{boot:?}"
    );
    assert!(boot.contains(&"/isolinux/boot.msg".to_string()), "{boot:?}");
    assert!(
        boot.contains(&"/images/pxeboot/README".to_string()),
        "{boot:?}"
    );
    assert!(boot.contains(&"/.treeinfo".to_string()), "{boot:?}");
    assert!(
        !boot
            .iter()
            .any(|b| b.contains("Packages") || b.ends_with(".mod")),
        "{boot:?}"
    );
    let summarised = v["boot_dirs_summarised"].as_array().unwrap();
    assert_eq!(summarised.len(), 1, "{summarised:?}");
    assert_eq!(summarised[0]["path"], "/boot/grub2/i386-pc");
    assert_eq!(summarised[0]["files"], 120);
    let text = human(&iso, &[]);
    assert!(
        text.lines().count() < 40,
        "the summary must stay short, got {} lines:\n{text}",
        text.lines().count()
    );
    assert!(text.contains("/boot/grub2/i386-pc/ (120 files"), "{text}");
    let all = human(&iso, &["--files"]);
    assert!(all.lines().count() > 7127, "{} lines", all.lines().count());
    assert_eq!(
        json(&iso, &["--files"])["files"].as_array().unwrap().len(),
        7127
    );
}

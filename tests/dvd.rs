//! DVDs at full size (issue 13 §3): `remaster DVD.iso --add-dud dd.iso` on the DVD-like EL9
//! fixture of scripts/build-fixture-dvd.sh (boot ISO pieces + thousands of BaseOS/AppStream
//! files + a > 4 GiB multi-extent file; DVD_SIZE_GIB, default 5 GiB, the size CI affords;
//! scripts/bench-dvd.sh runs 9 GiB). Oracles: xorriso's view of both trees (every untouched
//! file keeps its extents, a sample across the tree byte-compared, the file count), the
//! multi-extent file extracted by xorriso against the generator's sha256, checkisomd5,
//! `remaster verify`, peak RSS (GNU time) against the ~1 GiB fixture, and boots in BIOS-CD
//! and UEFI-USB through the ESP with the driver loaded from the overlay.
//!
//! Full tier only (`cargo test --features boot-tests --test dvd -- --test-threads=1`): the
//! fixture takes ~1 min to build, the oracle test ~4 min and each boot ~3 min (the guest's
//! media check reads all 5 GiB under TCG) on this loaded host, far beyond the quick tier.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::boot::*;
use common::cli::{file_sha256, output_text as text, remaster_bin};
use common::fixtures::*;

const MARKER: &str = "remaster.dvd=1";
const DRIVER: &str = "megaraid_sas";
const BIG: &str = "AppStream/Packages/b/bigdata-1.0-1.el9.x86_64.rpm";
/// A file added beside it (its directory is regenerated).
const ADDED: &str = "AppStream/Packages/b/added-by-remaster.txt";
const ADDED_TEXT: &str = "added next to a multi-extent file\n";
/// The files --add-dud rewrites (new extents, or efiboot.img in place): everything else
/// must keep its extents and bytes.
const EDITED: &[&str] = &[
    ".treeinfo",
    "EFI/BOOT/grub.cfg",
    "images/efiboot.img",
    "images/pxeboot/initrd.img",
    "isolinux/initrd.img",
    "isolinux/isolinux.cfg",
];

/// The DVD fixture (built once per cache; the script's stamp decides).
fn dvd_iso() -> &'static PathBuf {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let script = repo_root().join("scripts/build-fixture-dvd.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("REMASTER_FIXTURES", fixtures_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/build-fixture-dvd.sh failed; run it by hand:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

fn work_dir() -> PathBuf {
    let dir = fixtures_dir().join("dvd-out");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `remaster INPUT --add-dud dd-good.iso --cmdline MARKER EXTRA... -o OUT` under GNU
/// time; returns the peak RSS in KiB.
fn remaster_measured(input: &Path, out: &Path, extra: &[String]) -> u64 {
    let dud = dud_support::fixtures().join("dd-good.iso");
    let rss_file = out.with_extension("rss");
    let bin = remaster_bin().get_program().to_owned();
    let o = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(bin)
        .arg(input)
        .arg("--add-dud")
        .arg(&dud)
        .args(["--cmdline", MARKER, "--force", "-q"])
        .args(extra)
        .arg("-o")
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("/usr/bin/time (Debian package time: scripts/setup.sh)");
    assert!(o.status.success(), "{}", text(&o));
    let rss = fs::read_to_string(&rss_file).unwrap();
    fs::remove_file(&rss_file).ok();
    rss.trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time wrote {rss:?}"))
}

/// The remastered DVD and the peak RSS of the run (KiB). Besides the driver, one small file
/// is added next to the multi-extent file, so the directory holding it is regenerated in
/// both trees (its records copied, the new one inserted).
fn remastered() -> &'static (PathBuf, u64) {
    static OUT: OnceLock<(PathBuf, u64)> = OnceLock::new();
    OUT.get_or_init(|| {
        let added = work_dir().join("added.txt");
        fs::write(&added, ADDED_TEXT).unwrap();
        let out = work_dir().join("dvd-remastered.iso");
        let add = format!("{}=/{ADDED}", added.display());
        let rss = remaster_measured(dvd_iso(), &out, &["--add".into(), add]);
        (out, rss)
    })
}

/// (sector, sectors, file size) of each extent of every file, as xorriso reads the tree.
type Extents = BTreeMap<String, Vec<(u64, u64, u64)>>;

/// `joliet`: the Joliet tree's view (`-read_fs norock`), else Rock Ridge's.
fn xorriso_extents(iso: &Path, joliet: bool) -> Extents {
    let (ok, log) = run_tool(
        "xorriso",
        &[
            "-read_fs",
            if joliet { "norock" } else { "any" },
            "-indev",
            iso.to_str().unwrap(),
            "-find",
            "/",
            "-type",
            "f",
            "-exec",
            "report_lba",
        ],
    );
    assert!(ok, "{log}");
    let mut map = Extents::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("File data lba:") else {
            continue;
        };
        let f: Vec<&str> = rest.splitn(5, ',').map(str::trim).collect();
        assert_eq!(f.len(), 5, "{line}");
        let path = f[4].trim_matches('\'').trim_start_matches('/').to_string();
        let n = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("{line}"));
        map.entry(path)
            .or_default()
            .push((n(f[1]), n(f[2]), n(f[3])));
    }
    map
}

/// Regular files as `xorriso -find / -type f` lists them (zero-size files included).
fn xorriso_file_count(iso: &Path) -> usize {
    let (ok, log) = run_tool(
        "xorriso",
        &["-indev", iso.to_str().unwrap(), "-find", "/", "-type", "f"],
    );
    assert!(ok, "{log}");
    log.lines().filter(|l| l.starts_with('\'')).count()
}

/// Whether the bytes of `extents` (a file's data: sector, sectors, size) are equal in both.
fn same_bytes(a: &mut File, b: &mut File, extents: &[(u64, u64, u64)]) -> bool {
    let size = extents.first().map_or(0, |e| e.2);
    let mut left = size;
    let (mut x, mut y) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    for &(lba, sectors, _) in extents {
        let mut at = lba * 2048;
        let mut n = (sectors * 2048).min(left);
        left -= n;
        while n > 0 {
            let k = n.min(x.len() as u64) as usize;
            for (f, buf) in [(&mut *a, &mut x), (&mut *b, &mut y)] {
                f.seek(SeekFrom::Start(at)).unwrap();
                f.read_exact(&mut buf[..k]).unwrap();
            }
            if x[..k] != y[..k] {
                return false;
            }
            at += k as u64;
            n -= k as u64;
        }
    }
    true
}

/// Boots the remastered DVD; the default entry runs the media check over all of it.
fn boot_dvd(mode: BootMode) {
    let iso = &remastered().0;
    let dir = scratch_dir();
    let opts = BootOptions {
        extra_args: hba_args(dir.path()),
        // The guest's checkisomd5 reads the whole DVD under TCG.
        timeout: BootOptions::default().timeout * 3,
        ..Default::default()
    };
    let r = boot(iso, mode, &opts);
    assert!(r.reached_report, "{mode:?}\n{}", r.tail());
    assert!(r.cmdline_has("inst.dd=/dd.iso"), "{mode:?}: {}", r.cmdline);
    assert!(
        r.cmdline_has(MARKER),
        "{mode:?}: the edited config was not read: {}",
        r.cmdline
    );
    assert_eq!(r.file_present("/dd.iso"), Some(true), "{mode:?}");
    let m = r
        .module(DRIVER)
        .unwrap_or_else(|| panic!("{mode:?}: {DRIVER} not loaded\n{}", r.tail()));
    assert!(
        m.path.contains(&format!("/{}/updates/", fixture_kver())),
        "{mode:?}: {DRIVER} not loaded from the overlay: {m:?}"
    );
    assert_eq!(
        r.mediacheck,
        Some(MediaCheck::Pass),
        "{mode:?}: {:?}",
        r.mediacheck_output
    );
    assert!(
        r.blockdevs.values().any(|size| *size == 64 << 20),
        "{mode:?}: no disk behind the HBA: {:?}",
        r.blockdevs
    );
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "builds a 5 GiB DVD (~1 min), remasters and checks it (~4 min on a loaded host): the full tier (scripts/test.sh) runs it"
)]
#[test]
fn add_dud_on_a_dvd_keeps_every_other_file_and_the_multi_extent_file() {
    let input = dvd_iso();
    let (out, dvd_rss) = remastered();
    let (out, dvd_rss) = (out.as_path(), *dvd_rss);

    // The fixture is what it claims: > 4 GiB, one file in several extents.
    let before = xorriso_extents(input, false);
    assert!(fs::metadata(input).unwrap().len() > 4 << 30);
    assert!(before[BIG].len() >= 2, "{:?}", before[BIG]);
    assert!(before.len() > 4000, "{} files", before.len());

    // Every file but the edited ones keeps its extents (xorriso's reading of the new tree)...
    let after = xorriso_extents(out, false);
    assert_eq!(
        before.len() + 1,
        after.len(),
        "file count (xorriso report_lba)"
    );
    assert!(after.contains_key(ADDED), "/{ADDED} missing");
    for (path, ext) in &before {
        if EDITED.contains(&path.as_str()) {
            continue;
        }
        assert_eq!(after.get(path), Some(ext), "/{path}: extents changed");
    }
    assert_eq!(
        xorriso_file_count(input) + 1,
        xorriso_file_count(out),
        "file count (xorriso -find -type f)"
    );
    // The Joliet tree names the same extents for the multi-extent file.
    let joliet = xorriso_extents(out, true);
    assert_eq!(joliet.get(BIG), before.get(BIG), "Joliet /{BIG}");
    assert_eq!(joliet.len(), after.len(), "Joliet file count");
    // ...and its bytes: a sample across the tree (every 25th file in path order, plus the
    // multi-extent file) compared between input and output.
    let (mut a, mut b) = (File::open(input).unwrap(), File::open(out).unwrap());
    let mut compared = 0;
    for (i, (path, ext)) in before.iter().enumerate() {
        if EDITED.contains(&path.as_str()) || (i % 25 != 0 && path != BIG) {
            continue;
        }
        assert!(same_bytes(&mut a, &mut b, ext), "/{path}: bytes changed");
        compared += 1;
    }
    assert!(compared > 150, "only {compared} files compared");

    // The multi-extent file as xorriso extracts it is the file the generator wrote.
    let dir = scratch_dir();
    let big = dir.path().join("big");
    extract_from_iso(out, &format!("/{BIG}"), &big);
    let want = fs::read_to_string(input.with_file_name("big.sha256")).unwrap();
    assert_eq!(file_sha256(&big), want.trim(), "/{BIG} differs");
    fs::remove_file(&big).unwrap();
    let added = dir.path().join("added");
    extract_from_iso(out, &format!("/{ADDED}"), &added);
    assert_eq!(fs::read_to_string(&added).unwrap(), ADDED_TEXT);

    let (ok, log) = run_tool("checkisomd5", &[out.to_str().unwrap()]);
    assert!(ok, "checkisomd5: {log}");
    let o = remaster_bin().arg("verify").arg(out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // Peak RSS does not grow with the DVD: compared with the ~1 GiB fixture, same run.
    let one_gib_out = dir.path().join("one-gib.iso");
    let one_gib_rss = remaster_measured(&fixture_iso_sized(900), &one_gib_out, &[]);
    fs::remove_file(&one_gib_out).unwrap();
    assert!(
        dvd_rss <= one_gib_rss * 3 / 2 + 16 * 1024,
        "peak RSS {dvd_rss} KiB on the DVD, {one_gib_rss} KiB on the 1 GiB fixture"
    );
    eprintln!("peak RSS: DVD {dvd_rss} KiB, 1 GiB fixture {one_gib_rss} KiB");
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn dvd_boots_bios_cd_with_the_driver() {
    boot_dvd(BootMode::BiosCd);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn dvd_boots_uefi_usb_through_the_esp_with_the_driver() {
    boot_dvd(BootMode::UefiUsbEsp);
}

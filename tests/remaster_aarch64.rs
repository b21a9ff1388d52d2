//! remaster edits aarch64 media (lorax aarch64.tmpl: UEFI only, one El Torito EFI entry on
//! images/efiboot.img, no MBR or GPT) on this x86_64 host: the aarch64 fixture
//! (scripts/build-fixture-aarch64.sh) edited with `--cmdline`, `--rm-args`, `--volid`, a new
//! `--ks` file (the image grows) and `--add-dud` (an aarch64 driver), checked with outside
//! oracles — xorriso's El Torito and system-area reports, checkisomd5, fsck.fat and mtools on
//! efiboot.img, xorriso extraction of the ISO 9660 grub.cfg — and with `remaster verify`,
//! which must fail when efiboot.img's grub.cfg is left stale.
//! The boots are tests/boot_matrix_aarch64.rs.
//! Run: `cargo test --test remaster_aarch64` (no QEMU).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use common::aarch64::*;
use common::cli::*;
use common::el10::{image_str, reimplant_md5};
use common::fixtures::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const MARKER: &str = "remaster.aarch64marker=1";
const EFIBOOT: &str = "images/efiboot.img";

fn run_remaster(input: &Path, args: &[&str], out: &Path) {
    let o = remaster_bin()
        .arg(input)
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", output_text(&o));
}

/// The fixture with `--cmdline MARKER --rm-args ro --ks ks.cfg` (a new file: the image
/// grows), written once per run.
fn edited() -> PathBuf {
    static OUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = scratch_dir();
        let ks = dir.path().join("ks.cfg");
        fs::write(&ks, "# remaster aarch64 test kickstart\ntext\n").unwrap();
        let out = dir.path().join("aarch64-edited.iso");
        run_remaster(
            &aarch64_fixture_iso(),
            &[
                "--cmdline",
                MARKER,
                "--rm-args",
                "ro",
                "--ks",
                ks.to_str().unwrap(),
            ],
            &out,
        );
        (dir, out)
    })
    .1
    .clone()
}

fn xorriso(iso: &Path, args: &[&str]) -> String {
    let mut all = vec!["-indev", image_str(iso)];
    all.extend_from_slice(args);
    let (ok, out) = run_tool("xorriso", &all);
    assert!(ok, "xorriso {all:?}:\n{out}");
    out
}

/// The El Torito catalog as xorriso reports it: (platform, image path) per entry.
fn el_torito(iso: &Path) -> Vec<(String, String)> {
    let report = xorriso(iso, &["-report_el_torito", "plain"]);
    let platforms: Vec<String> = report
        .lines()
        .filter_map(|l| l.strip_prefix("El Torito boot img :"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_owned())
        .collect();
    let paths: Vec<String> = report
        .lines()
        .filter_map(|l| l.strip_prefix("El Torito img path :"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_owned())
        .collect();
    assert_eq!(platforms.len(), paths.len(), "{report}");
    platforms.into_iter().zip(paths).collect()
}

/// The bytes of efiboot.img inside `iso` (its extent, read with the library's ISO reader)
/// and where they are.
fn efiboot(iso: &Path) -> (u64, Vec<u8>) {
    let image = remaster::iso::Image::open(fs::File::open(iso).unwrap()).unwrap();
    let node = image.find(EFIBOOT).expect("images/efiboot.img");
    assert_eq!(node.extents.len(), 1);
    let e = node.extents[0];
    let bytes = fs::read(iso).unwrap();
    let at = e.offset() as usize;
    (e.offset(), bytes[at..at + e.len as usize].to_vec())
}

/// grub.cfg inside efiboot.img (mtools) after fsck.fat found the FAT clean.
fn efiboot_grub_cfg(iso: &Path, scratch: &Path) -> String {
    let img = scratch.join("efiboot.img");
    fs::write(&img, efiboot(iso).1).unwrap();
    let (ok, out) = run_tool("fsck.fat", &["-n", image_str(&img)]);
    assert!(ok, "fsck.fat on {}'s efiboot.img:\n{out}", iso.display());
    let (ok, cfg) = run_tool("mtype", &["-i", image_str(&img), "::EFI/BOOT/grub.cfg"]);
    assert!(ok, "{cfg}");
    cfg
}

fn iso_grub_cfg(iso: &Path, scratch: &Path) -> String {
    let dest = scratch.join("iso-grub.cfg");
    let _ = fs::remove_file(&dest);
    extract_from_iso(iso, "/EFI/BOOT/grub.cfg", &dest);
    fs::read_to_string(&dest).unwrap()
}

/// The `linux` lines of a grub.cfg (the aarch64 template has no `linuxefi`).
fn linux_lines(cfg: &str) -> Vec<&str> {
    cfg.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("linux "))
        .collect()
}

fn verify(iso: &Path) -> (Option<i32>, String) {
    let o = remaster_bin().arg("verify").arg(iso).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// No MBR boot signature and no GPT header: the system area lorax's aarch64 xorrisofs
/// leaves (empty).
fn assert_no_partition_table(iso: &Path) {
    let head = &fs::read(iso).unwrap()[..1024];
    assert_ne!(&head[510..512], &[0x55, 0xAA], "{}: an MBR", iso.display());
    assert_ne!(&head[512..520], b"EFI PART", "{}: a GPT", iso.display());
    assert!(
        head.iter().all(|&b| b == 0),
        "{}: the system area is not empty",
        iso.display()
    );
    let report = xorriso(iso, &["-report_system_area", "plain"]);
    assert!(
        !report.contains("MBR partition") && !report.contains("GPT"),
        "{report}"
    );
}

/// The fixture is what lorax's aarch64 template makes, and remaster knows it: one UEFI El
/// Torito entry on efiboot.img, no partition table, a clean FAT, a valid implanted MD5,
/// `inspect` naming the layout supported, `verify` OK.
#[test]
fn fixture_is_the_lorax_aarch64_layout_and_supported() {
    let iso = aarch64_fixture_iso();
    let scratch = scratch_dir();
    assert_eq!(
        el_torito(&iso),
        vec![("UEFI".to_string(), "/images/efiboot.img".to_string())]
    );
    assert_no_partition_table(&iso);
    let (ok, out) = run_tool("checkisomd5", &[image_str(&iso)]);
    assert!(ok, "{out}");
    let cfg = efiboot_grub_cfg(&iso, scratch.path());
    assert_eq!(cfg, iso_grub_cfg(&iso, scratch.path()));
    assert_eq!(linux_lines(&cfg).len(), 5, "{cfg}");

    let o = remaster_bin()
        .args(["inspect", "--json"])
        .arg(&iso)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", output_text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["layout"]["family"], "aarch64-uefi", "{r}");
    assert_eq!(r["layout"]["arch"], "aarch64");
    assert_eq!(r["layout"]["support"]["writes"], "full", "{r}");
    let o = remaster_bin().arg("inspect").arg(&iso).output().unwrap();
    let human = String::from_utf8_lossy(&o.stdout);
    assert!(
        human.contains("aarch64 (UEFI only, in-tree efiboot.img) (remaster edits it)"),
        "{human}"
    );
    let (code, out) = verify(&iso);
    assert_eq!(code, Some(0), "{out}");
    // No BIOS image: no BIOS boot-info table to vouch for.
    assert!(!out.contains("boot-info-table"), "{out}");
}

/// An x86_64 host edits aarch64 media: both grub.cfg copies carry the edit on every `linux`
/// line, the image grew (a new kickstart) without gaining a partition table or a second El
/// Torito entry, the FAT is clean, checkisomd5 passes, `verify` OK.
#[test]
fn cmdline_and_ks_edit_both_configs_and_keep_the_layout() {
    // The cross-architecture claim is about this host: the test must run on x86_64.
    assert_eq!(std::env::consts::ARCH, "x86_64");
    let iso = aarch64_fixture_iso();
    let out = edited();
    let scratch = scratch_dir();
    assert!(fs::metadata(&out).unwrap().len() > fs::metadata(&iso).unwrap().len());
    assert_eq!(
        el_torito(&out),
        vec![("UEFI".to_string(), "/images/efiboot.img".to_string())]
    );
    assert_no_partition_table(&out);
    let (ok, report) = run_tool("checkisomd5", &[image_str(&out)]);
    assert!(ok, "{report}");
    // The FAT image keeps its size and place in the tree; only its grub.cfg changed.
    assert_eq!(efiboot(&out).1.len(), efiboot(&iso).1.len());
    let in_fat = efiboot_grub_cfg(&out, scratch.path());
    let in_tree = iso_grub_cfg(&out, scratch.path());
    for cfg in [&in_fat, &in_tree] {
        let lines = linux_lines(cfg);
        assert_eq!(lines.len(), 5, "{cfg}");
        for l in lines {
            assert!(l.contains(MARKER), "{l}");
            assert!(
                l.contains(&format!("inst.ks=hd:LABEL={AARCH64_LABEL}:/ks.cfg")),
                "{l}"
            );
            assert!(!l.split_whitespace().any(|w| w == "ro"), "{l}");
        }
    }
    assert_eq!(in_fat, in_tree);
    let ks = scratch.path().join("ks.cfg");
    extract_from_iso(&out, "/ks.cfg", &ks);
    assert!(fs::read_to_string(&ks)
        .unwrap()
        .contains("remaster aarch64"));
    let (code, report) = verify(&out);
    assert_eq!(code, Some(0), "{report}");
}

/// `--volid` renames the volume and the label in both configs (in place: same size).
#[test]
fn volid_reaches_both_configs() {
    let scratch = scratch_dir();
    let out = scratch.path().join("volid.iso");
    run_remaster(&aarch64_fixture_iso(), &["--volid", "NEW-AA64-LABEL"], &out);
    let pvd = xorriso(&out, &["-pvd_info"]);
    assert!(pvd.contains("Volume Id    : NEW-AA64-LABEL"), "{pvd}");
    for cfg in [
        efiboot_grub_cfg(&out, scratch.path()),
        iso_grub_cfg(&out, scratch.path()),
    ] {
        assert!(
            cfg.contains("search --no-floppy --set=root -l 'NEW-AA64-LABEL'"),
            "{cfg}"
        );
        assert!(!cfg.contains(AARCH64_LABEL), "{cfg}");
    }
    let (code, report) = verify(&out);
    assert_eq!(code, Some(0), "{report}");
}

/// `verify` reads the copy inside efiboot.img too: with the stock FAT image put back into an
/// edited ISO (so its grub.cfg names the old label), it fails the labels check for that copy
/// alone, with a valid implanted MD5.
#[test]
fn verify_fails_when_the_efiboot_grub_cfg_is_stale() {
    let scratch = scratch_dir();
    let out = scratch.path().join("volid.iso");
    run_remaster(&aarch64_fixture_iso(), &["--volid", "NEW-AA64-LABEL"], &out);
    let (at, fresh) = efiboot(&out);
    let (_, stock) = efiboot(&aarch64_fixture_iso());
    assert_eq!(fresh.len(), stock.len());
    assert!(fresh != stock, "the edit left efiboot.img as it was");
    let mut bytes = fs::read(&out).unwrap();
    bytes[at as usize..at as usize + stock.len()].copy_from_slice(&stock);
    let stale = scratch.path().join("stale.iso");
    fs::write(&stale, bytes).unwrap();
    reimplant_md5(&stale);
    let (code, report) = verify(&stale);
    assert_eq!(
        code,
        Some(1),
        "stale efiboot.img grub.cfg, verify passed:\n{report}"
    );
    let fails: Vec<&str> = report.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 1, "{report}");
    assert!(
        fails[0].starts_with("FAIL labels:")
            && fails[0].contains("images/efiboot.img:EFI/BOOT/grub.cfg"),
        "{report}"
    );
}

/// `--add-dud` with an aarch64 driver update disk (rpms/aarch64/, the arm64 kernel's own
/// megaraid_sas): /dd.iso and the module in the initrd overlay, inst.dd in both configs, the
/// single El Torito entry and the empty system area kept; `verify` judges the embedded DUD
/// for the aarch64 installer and the module against the arm64 kernel. An x86_64 DUD on the
/// same media is refused with the reason: no rpms/aarch64/.
#[test]
fn add_dud_takes_the_aarch64_driver_and_refuses_an_x86_64_one() {
    let iso = aarch64_fixture_iso();
    let scratch = scratch_dir();
    let out = scratch.path().join("dud.iso");
    let dud = iso.with_file_name("dd-megaraid_sas-aarch64.iso");
    run_remaster(
        &iso,
        &["--add-dud", dud.to_str().unwrap(), "--cmdline", MARKER],
        &out,
    );
    assert_eq!(
        el_torito(&out),
        vec![("UEFI".to_string(), "/images/efiboot.img".to_string())]
    );
    assert_no_partition_table(&out);
    let (ok, report) = run_tool("checkisomd5", &[image_str(&out)]);
    assert!(ok, "{report}");
    for cfg in [
        efiboot_grub_cfg(&out, scratch.path()),
        iso_grub_cfg(&out, scratch.path()),
    ] {
        for l in linux_lines(&cfg) {
            assert!(l.contains("inst.dd=/dd.iso") && l.contains(MARKER), "{l}");
        }
    }
    let (code, report) = verify(&out);
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains("ok   dud: /dd.iso: the installer takes it"),
        "{report}"
    );
    let kver = aarch64_kver();
    assert!(
        report.contains(&format!(
            "ok   module: /usr/lib/modules/{kver}/updates/megaraid_sas.ko"
        )),
        "{report}"
    );

    let x86 = scratch.path().join("x86.iso");
    let o = remaster_bin()
        .arg(&iso)
        .arg("--add-dud")
        .arg(x86_64_dud(scratch.path()))
        .arg("-o")
        .arg(&x86)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", output_text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rpms/aarch64"), "{err}");
    assert!(!x86.exists());
}

/// The aarch64 DUD with its repo renamed to rpms/x86_64/ (same RPM): what an x86_64 vendor
/// disk looks like to the aarch64 installer.
fn x86_64_dud(dir: &Path) -> PathBuf {
    let tree = dir.join("x86-dud");
    let (ok, out) = run_tool(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            image_str(&aarch64_fixture_iso().with_file_name("dd-megaraid_sas-aarch64.iso")),
            "-extract",
            "/",
            image_str(&tree),
        ],
    );
    assert!(ok, "{out}");
    let rpms = tree.join("rpms");
    let (ok, out) = run_tool("chmod", &["-R", "u+w", image_str(&tree)]);
    assert!(ok, "{out}");
    fs::rename(rpms.join("aarch64"), rpms.join("x86_64")).unwrap();
    let iso = dir.join("dd-x86_64.iso");
    let (ok, out) = run_tool(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-V",
            "OEMDRV",
            "-R",
            "-J",
            "-o",
            image_str(&iso),
            image_str(&tree),
        ],
    );
    assert!(ok, "{out}");
    iso
}

//! Shared helpers of the iso tests: build a small lorax-like hybrid ISO with xorriso and
//! parse xorriso's reports (the oracle).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const GRUB_CFG: &str = "set timeout=1\nsearch --no-floppy --set=root -l 'Test-9-x86_64'\nmenuentry 'Install' {\n  linuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Test-9-x86_64 quiet\n  initrdefi /images/pxeboot/initrd.img\n}\n";
pub const ISOLINUX_CFG: &str = "default linux\ntimeout 10\nlabel linux\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=Test-9-x86_64 quiet\n";

/// The El Torito and isohybrid flags of lorax's xorrisofs call (BIOS isolinux with a
/// boot-info table, EFI efiboot.img, MBR + GPT hybrid).
pub const HYBRID_BOOT_ARGS: &[&str] = &[
    "-isohybrid-mbr",
    "/usr/lib/ISOLINUX/isohdpfx.bin",
    "-b",
    "isolinux/isolinux.bin",
    "-c",
    "isolinux/boot.cat",
    "-boot-load-size",
    "4",
    "-boot-info-table",
    "-no-emul-boot",
    "-eltorito-alt-boot",
    "-e",
    "images/efiboot.img",
    "-no-emul-boot",
    "-isohybrid-gpt-basdat",
];

/// Runs a command; panics with its output when it fails (tests only).
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (install the test dependencies: scripts/test-deps.txt)")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A lorax-like boot ISO: isolinux (boot-info-table), efiboot.img (FAT, El Torito EFI +
/// isohybrid GPT), hard-linked initrd.img / vmlinuz pairs, Rock Ridge + Joliet, a symlink,
/// a deep directory and optionally a large dummy install.img.
pub struct TestIso {
    pub dir: tempfile::TempDir,
    pub tree: PathBuf,
    pub iso: PathBuf,
}

pub fn build_iso(install_img_bytes: u64) -> TestIso {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    for d in [
        "isolinux",
        "images/pxeboot",
        "EFI/BOOT",
        "deep/a/b/c/d/e/f/g/h",
    ] {
        std::fs::create_dir_all(tree.join(d)).expect("mkdir");
    }
    std::fs::copy(
        "/usr/lib/ISOLINUX/isolinux.bin",
        tree.join("isolinux/isolinux.bin"),
    )
    .expect("isolinux.bin (package isolinux)");
    std::fs::copy(
        "/usr/lib/syslinux/modules/bios/ldlinux.c32",
        tree.join("isolinux/ldlinux.c32"),
    )
    .expect("ldlinux.c32 (package syslinux-common)");
    std::fs::write(tree.join("isolinux/isolinux.cfg"), ISOLINUX_CFG).expect("write");
    std::fs::write(tree.join("images/pxeboot/initrd.img"), noise(300_000, 1)).expect("write");
    std::fs::hard_link(
        tree.join("images/pxeboot/initrd.img"),
        tree.join("isolinux/initrd.img"),
    )
    .expect("link");
    std::fs::write(tree.join("images/pxeboot/vmlinuz"), noise(100_000, 2)).expect("write");
    std::fs::hard_link(
        tree.join("images/pxeboot/vmlinuz"),
        tree.join("isolinux/vmlinuz"),
    )
    .expect("link");
    std::fs::write(tree.join("EFI/BOOT/grub.cfg"), GRUB_CFG).expect("write");
    std::fs::write(tree.join(".discinfo"), "1700000000.0\nTest 9\nx86_64\n").expect("write");
    std::fs::write(
        tree.join("deep/a/b/c/d/e/f/g/h/Deep File Name.txt"),
        "deep\n",
    )
    .expect("write");
    std::fs::write(tree.join("empty.txt"), "").expect("write");
    std::os::unix::fs::symlink("isolinux/isolinux.cfg", tree.join("cfg-link")).expect("symlink");
    if install_img_bytes > 0 {
        let f = std::fs::File::create(tree.join("images/install.img")).expect("create");
        f.set_len(install_img_bytes).expect("set_len");
    }
    let efiboot = tree.join("images/efiboot.img");
    run(Command::new("mkfs.fat")
        .args(["-C", "-n", "ANACONDA", "-i", "12345678"])
        .arg(&efiboot)
        .arg("1440"));
    run(Command::new("mmd")
        .arg("-i")
        .arg(&efiboot)
        .args(["::EFI", "::EFI/BOOT"]));
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&efiboot)
        .arg(tree.join("EFI/BOOT/grub.cfg"))
        .arg("::EFI/BOOT/grub.cfg"));
    let iso = dir.path().join("in.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-o"])
        .arg(&iso)
        .args(HYBRID_BOOT_ARGS)
        .args(["-R", "-J", "-V", "Test-9-x86_64"])
        .arg(&tree));
    TestIso { dir, tree, iso }
}

/// The real fixture, or a panic naming the script that builds it.
pub fn fixture_iso() -> PathBuf {
    let base = std::env::var("REMASTER_FIXTURES").unwrap_or_else(|_| "fixtures/build".into());
    let p = Path::new(&base).join("iso/boot.iso");
    assert!(
        p.exists(),
        "{} is missing: run scripts/build-fixture-iso.sh (with REMASTER_FIXTURES set)",
        p.display()
    );
    p
}

/// `-find / -exec report_lba`: path → (lba, size) for every file.
pub fn xorriso_lbas(iso: &Path) -> Vec<(String, u32, u64)> {
    xorriso_lbas_with(iso, &[])
}

/// Like [`xorriso_lbas`] with extra leading options (e.g. `-read_fs norock` = Joliet).
pub fn xorriso_lbas_with(iso: &Path, pre: &[&str]) -> Vec<(String, u32, u64)> {
    let text = run(Command::new("xorriso")
        .args(pre)
        .arg("-indev")
        .arg(iso)
        .args(["-find", "/", "-exec", "report_lba"]));
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("File data lba:")) {
        let rest = &line["File data lba:".len()..];
        let fields: Vec<&str> = rest.splitn(5, ',').map(str::trim).collect();
        let path = fields[4].trim_matches('\'').to_string();
        out.push((path, fields[1].parse().unwrap(), fields[3].parse().unwrap()));
    }
    out.sort();
    out
}

/// `-report_el_torito plain -report_system_area plain` lines.
pub fn xorriso_boot_report(iso: &Path) -> Vec<String> {
    let text = run(Command::new("xorriso").arg("-indev").arg(iso).args([
        "-report_el_torito",
        "plain",
        "-report_system_area",
        "plain",
    ]));
    text.lines()
        .filter(|l| {
            l.starts_with("El Torito")
                || l.starts_with("MBR")
                || l.starts_with("GPT")
                || l.starts_with("ISO image size")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Whitespace-split fields after the `:` of report lines starting with `prefix`.
pub fn fields(report: &[String], prefix: &str) -> Vec<Vec<String>> {
    report
        .iter()
        .filter(|l| l.starts_with(prefix))
        .map(|l| {
            l.split_once(':')
                .map(|x| x.1)
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect()
        })
        .collect()
}

//! The boot layout model (src/layout) against ISOs built here the way each family's tools
//! build them: the EL9 fixture (lorax rhel9 recipe), an EL10-like image (xorriso with lorax
//! rhel10-branch's appended-ESP and partition-offset flags), an EL8-like image (mkisofs
//! flags, then `isohybrid --uefi`) and an aarch64-like one (a single El Torito EFI entry).
//! Each is recognised by what is on it, lists every config with the firmware paths that
//! read it, and is refused by name where remaster cannot edit it yet — never with advice
//! the media cannot follow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::cli::{output_text, remaster_bin};
use common::fixtures::*;

const GRUB_EFI: &str = "menuentry 'Install' {\n  linuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=T quiet\n  initrdefi /images/pxeboot/initrd.img\n}\n";
const GRUB_BIOS: &str = "menuentry 'Install' {\n  linux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=T quiet\n  initrd /images/pxeboot/initrd.img\n}\n";
const ISOLINUX: &str = "default linux\nlabel linux\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=T quiet\n";

fn sh(cmd: &mut Command) {
    let o = cmd.output().expect("run tool");
    assert!(o.status.success(), "{cmd:?}: {}", output_text(&o));
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

/// A tree with the fixture kernel, a stub initrd and the UEFI grub.cfg, plus a FAT ESP
/// image holding a copy of that grub.cfg.
fn stage(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("tree");
    let kernel = fixture_kernel_dir()
        .join("boot")
        .join(format!("vmlinuz-{}", fixture_kver()));
    write(&root, "images/pxeboot/vmlinuz", &fs::read(kernel).unwrap());
    write(&root, "images/pxeboot/initrd.img", b"070701");
    write(&root, "EFI/BOOT/grub.cfg", GRUB_EFI.as_bytes());
    let esp = dir.join("esp.img");
    sh(Command::new("mkfs.fat")
        .args(["-C", "-n", "ANACONDA"])
        .arg(&esp)
        .arg("2048"));
    let img = format!("{}", esp.display());
    sh(Command::new("mmd").args(["-i", &img, "::EFI", "::EFI/BOOT"]));
    sh(Command::new("mcopy")
        .args(["-i", &img])
        .arg(root.join("EFI/BOOT/grub.cfg"))
        .arg("::EFI/BOOT/grub.cfg"));
    (root, esp)
}

fn xorrisofs(out: &Path, args: &[&str], root: &Path) {
    sh(Command::new("xorriso")
        .args(["-as", "mkisofs", "-o"])
        .arg(out)
        .args(["-R", "-J", "-V", "T"])
        .args(args)
        .arg(root));
}

fn inspect_json(iso: &Path) -> serde_json::Value {
    let o = remaster_bin()
        .args(["inspect", "--json"])
        .arg(iso)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", output_text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// (location, read_by) of every config inspect reports.
fn configs(report: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    report["boot_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let read_by = c["read_by"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect();
            (c["location"].as_str().unwrap().to_string(), read_by)
        })
        .collect()
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Runs the main command; returns (exit code, stderr).
fn remaster(iso: &Path, args: &[&str], out: &Path) -> (Option<i32>, String) {
    let o = remaster_bin()
        .arg(iso)
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn el9_fixture_is_the_isolinux_layout_with_three_configs() {
    let r = inspect_json(&fixture_iso());
    assert_eq!(r["layout"]["family"], "el9-isolinux", "{r}");
    assert_eq!(r["layout"]["bios"]["loader"], "isolinux");
    assert_eq!(r["layout"]["efi"]["path"], "images/efiboot.img");
    assert_eq!(r["layout"]["support"]["writes"], "full");
    assert_eq!(
        configs(&r),
        vec![
            ("isolinux/isolinux.cfg".into(), v(&["bios-cd", "bios-usb"])),
            ("EFI/BOOT/grub.cfg".into(), v(&["uefi-cd", "uefi-usb"])),
            (
                "images/efiboot.img:EFI/BOOT/grub.cfg".into(),
                v(&["uefi-usb-esp"])
            ),
        ]
    );
}

#[test]
fn el10_layout_is_recognised_listed_and_edited() {
    let dir = scratch_dir();
    let (root, esp) = stage(dir.path());
    write(&root, "boot/grub2/grub.cfg", GRUB_BIOS.as_bytes());
    write(&root, "images/eltorito.img", &[0x90; 8192]);
    let iso = dir.path().join("el10.iso");
    let esp_arg = esp.to_string_lossy().into_owned();
    xorrisofs(
        &iso,
        &[
            "-partition_offset",
            "16",
            "-appended_part_as_gpt",
            "-append_partition",
            "2",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            &esp_arg,
            "-iso_mbr_part_type",
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
            "-c",
            "boot.cat",
            "--boot-catalog-hide",
            "-b",
            "images/eltorito.img",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "--grub2-boot-info",
            "-eltorito-alt-boot",
            "-e",
            "--interval:appended_partition_2:all::",
            "-no-emul-boot",
        ],
        &root,
    );
    let r = inspect_json(&iso);
    assert_eq!(r["layout"]["family"], "el10-grub2", "{r}");
    assert_eq!(r["layout"]["bios"]["image"], "images/eltorito.img");
    assert_eq!(r["layout"]["efi"]["kind"], "partition");
    assert_eq!(r["layout"]["efi"]["number"], 2);
    assert_eq!(r["layout"]["partition_tree"], true);
    assert_eq!(
        configs(&r),
        vec![
            ("boot/grub2/grub.cfg".into(), v(&["bios-cd", "bios-usb"])),
            ("EFI/BOOT/grub.cfg".into(), v(&["uefi-cd"])),
            (
                "partition 2:EFI/BOOT/grub.cfg".into(),
                v(&["uefi-usb", "uefi-usb-esp"])
            ),
        ]
    );
    // Boot-config edits and added files are supported (tests/remaster_el10.rs proves them on
    // the fixture with outside oracles), so inspect's "remaster edits it" holds.
    assert_eq!(r["layout"]["support"]["writes"], "full", "{r}");
    let out = dir.path().join("out.iso");
    let (code, err) = remaster(&iso, &["--cmdline", "x=1"], &out);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.exists());
    let extra = dir.path().join("extra.txt");
    std::fs::write(&extra, b"x").unwrap();
    let out2 = dir.path().join("out2.iso");
    let add = format!("{}=extra.txt", extra.display());
    let (code, err) = remaster(&iso, &["--add", &add], &out2);
    assert_eq!(code, Some(0), "{err}");
    assert!(out2.exists());
}

#[test]
fn aarch64_layout_is_recognised_and_edited() {
    let dir = scratch_dir();
    let (root, esp) = stage(dir.path());
    // The arm64 kernel (an EFI-stub Image) of the aarch64 fixture, as lorax puts it there.
    common::aarch64::aarch64_fixture_iso();
    let kver = common::aarch64::aarch64_kver();
    let kernel = common::aarch64::aarch64_kernel_dir().join(format!("boot/vmlinuz-{kver}"));
    write(&root, "images/pxeboot/vmlinuz", &fs::read(kernel).unwrap());
    write(&root, "EFI/BOOT/BOOTAA64.EFI", b"shim");
    write(&root, "images/efiboot.img", &fs::read(&esp).unwrap());
    let iso = dir.path().join("aa64.iso");
    xorrisofs(
        &iso,
        &[
            "-eltorito-alt-boot",
            "-e",
            "images/efiboot.img",
            "-no-emul-boot",
        ],
        &root,
    );
    let r = inspect_json(&iso);
    assert_eq!(r["layout"]["family"], "aarch64-uefi", "{r}");
    assert_eq!(r["layout"]["arch"], "aarch64");
    assert_eq!(r["layout"]["support"]["writes"], "full", "{r}");
    assert!(r["layout"]["bios"].is_null());
    assert_eq!(
        configs(&r),
        vec![
            ("EFI/BOOT/grub.cfg".into(), v(&["uefi-cd", "uefi-usb"])),
            ("images/efiboot.img:EFI/BOOT/grub.cfg".into(), v(&[])),
        ]
    );
    // Edited like EL9 (tests/remaster_aarch64.rs checks the result with outside oracles);
    // the output is still this layout.
    let out = dir.path().join("out.iso");
    let (code, err) = remaster(&iso, &["--cmdline", "x=1"], &out);
    assert_eq!(code, Some(0), "{err}");
    let r = inspect_json(&out);
    assert_eq!(r["layout"]["family"], "aarch64-uefi", "{r}");
}

#[test]
fn el8_layout_edits_boot_conf_too_and_grows_under_isohybrid() {
    let dir = scratch_dir();
    let (root, esp) = stage(dir.path());
    write(&root, "EFI/BOOT/BOOT.conf", GRUB_EFI.as_bytes());
    write(&root, "images/efiboot.img", &fs::read(&esp).unwrap());
    write(&root, "isolinux/isolinux.cfg", ISOLINUX.as_bytes());
    write(
        &root,
        "isolinux/isolinux.bin",
        &fs::read("/usr/lib/ISOLINUX/isolinux.bin").unwrap(),
    );
    let iso = dir.path().join("el8.iso");
    xorrisofs(
        &iso,
        &[
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
        ],
        &root,
    );
    sh(Command::new("isohybrid").arg("--uefi").arg(&iso));
    let r = inspect_json(&iso);
    assert_eq!(r["layout"]["family"], "el8-isohybrid", "{r}");
    assert_eq!(r["layout"]["support"]["writes"], "full");
    let locations: Vec<String> = configs(&r).into_iter().map(|(l, _)| l).collect();
    assert!(
        locations.contains(&"EFI/BOOT/BOOT.conf".to_string()),
        "{locations:?}"
    );

    let out = dir.path().join("out.iso");
    let (code, err) = remaster(&iso, &["--cmdline", "remaster.marker=1", "-q"], &out);
    assert_eq!(code, Some(0), "{err}");
    let o = remaster_bin()
        .args(["inspect", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    let edited: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for c in edited["boot_configs"].as_array().unwrap() {
        let text = c["entries"].to_string();
        assert!(
            text.contains("remaster.marker=1"),
            "{}: {text}",
            c["location"]
        );
    }

    let ks = dir.path().join("ks.cfg");
    fs::write(&ks, "text\n").unwrap();
    let out2 = dir.path().join("out2.iso");
    let (code, err) = remaster(&iso, &["--ks", &ks.to_string_lossy()], &out2);
    assert_eq!(code, Some(0), "{err}");
    // Grown as isohybrid --uefi lays it: the file a multiple of 1 MiB, longer than the
    // volume, MBR partition 1 over all of it (tests/fixture_el8_layout.rs compares every
    // field with isohybrid's own output).
    let len = fs::metadata(&out2).unwrap().len();
    assert_eq!(len % (1 << 20), 0, "{len}");
    let head = fs::read(&out2).unwrap();
    let p1_sectors = u32::from_le_bytes(head[446 + 12..446 + 16].try_into().unwrap());
    assert_eq!(u64::from(p1_sectors) * 512, len);
    let grown = inspect_json(&out2);
    assert_eq!(grown["layout"]["family"], "el8-isohybrid", "{grown}");
}

#[test]
fn an_unknown_layout_is_refused_with_what_was_found() {
    let dir = scratch_dir();
    let (root, _) = stage(dir.path());
    write(&root, "boot/loader.bin", &[0x90; 2048]);
    let iso = dir.path().join("odd.iso");
    xorrisofs(
        &iso,
        &[
            "-b",
            "boot/loader.bin",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
        ],
        &root,
    );
    let r = inspect_json(&iso);
    assert!(r["layout"].is_null());
    let why = r["layout_error"].as_str().unwrap();
    assert!(
        why.contains("BIOS El Torito image /boot/loader.bin"),
        "{why}"
    );
    let out = dir.path().join("out.iso");
    let (code, err) = remaster(&iso, &["--cmdline", "x=1"], &out);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("unknown boot layout: found BIOS El Torito image /boot/loader.bin"),
        "{err}"
    );
    assert!(err.contains("known layouts: EL10"), "{err}");
}

//! Media remaster must refuse (issue 3, "bad input"): truncated, without El Torito, without a
//! boot config, with an efiboot.img too full for the edited grub.cfg. Each: one-line error
//! naming the file and the cause, exit 3, no output left, input unchanged. The broken media
//! are made from the fixture with xorriso and mtools.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::cli::file_sha256 as sha256;
use common::fixtures::*;

fn tool(program: &str, args: &[&str]) -> String {
    let (ok, out) = run_tool(program, args);
    assert!(ok, "{program} {args:?}: {out}");
    out
}

/// A copy of the fixture rewritten by xorriso with `edits` (boot records replayed).
fn xorriso_copy(dir: &Path, name: &str, edits: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let iso = fixture_iso();
    let mut args = vec![
        "-indev",
        iso.to_str().unwrap(),
        "-outdev",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(edits);
    tool("xorriso", &args);
    out
}

fn assert_refused(input: &Path, extra: &[&str], needle: &str) {
    let dir = scratch_dir();
    let out = dir.path().join("out.iso");
    let before = sha256(input);
    let o = Command::new(env!("CARGO_BIN_EXE_remaster"))
        .arg(input)
        .args(extra)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run remaster");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{}: {err}", input.display());
    let last = err.lines().last().unwrap_or_default();
    let name = input.file_name().unwrap().to_str().unwrap();
    assert!(
        last.starts_with("remaster: ") && last.contains(name) && last.contains(needle),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "something was left in the output directory"
    );
    assert_eq!(sha256(input), before, "the input changed");
}

#[test]
fn truncated_iso() {
    let dir = scratch_dir();
    let cut = dir.path().join("truncated.iso");
    let bytes = fs::read(fixture_iso()).unwrap();
    fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    assert_refused(&cut, &["--cmdline", "a=b"], "truncated.iso");
}

#[test]
fn iso_without_el_torito() {
    let dir = scratch_dir();
    // A modification makes xorriso write; `discard` drops the boot records.
    let iso = xorriso_copy(
        dir.path(),
        "no-eltorito.iso",
        &[
            "-boot_image",
            "any",
            "discard",
            "-rm",
            "/isolinux/boot.msg",
            "--",
        ],
    );
    let (_, report) = run_tool(
        "xorriso",
        &[
            "-indev",
            iso.to_str().unwrap(),
            "-report_el_torito",
            "plain",
        ],
    );
    assert!(!report.contains("El Torito boot img"), "{report}");
    assert_refused(&iso, &["--cmdline", "a=b"], "El Torito");
}

#[test]
fn iso_without_its_bios_boot_config() {
    let dir = scratch_dir();
    let iso = xorriso_copy(
        dir.path(),
        "no-isolinux-cfg.iso",
        &[
            "-boot_image",
            "any",
            "replay",
            "-rm",
            "/isolinux/isolinux.cfg",
            "--",
        ],
    );
    assert_refused(
        &iso,
        &["--cmdline", "a=b"],
        "isolinux/isolinux.cfg is missing",
    );
}

#[test]
fn efiboot_img_too_full_for_the_edited_grub_cfg() {
    let dir = scratch_dir();
    let fat = dir.path().join("efiboot.img");
    let iso = fixture_iso();
    extract_from_iso(&iso, "/images/efiboot.img", &fat);
    tool("chmod", &["u+w", fat.to_str().unwrap()]);
    // Fill the FAT image up to its last free cluster (mdir's "N bytes free").
    let listing = tool("mdir", &["-i", fat.to_str().unwrap(), "::"]);
    let free: u64 = listing
        .lines()
        .find(|l| l.contains("bytes free"))
        .and_then(|l| {
            l.split_whitespace()
                .take_while(|w| *w != "bytes")
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no free-space line in:\n{listing}"));
    let filler = dir.path().join("filler.bin");
    fs::write(&filler, vec![0u8; free.saturating_sub(2048) as usize]).unwrap();
    tool(
        "mcopy",
        &[
            "-i",
            fat.to_str().unwrap(),
            filler.to_str().unwrap(),
            "::FILLER.BIN",
        ],
    );
    let full = xorriso_copy(
        dir.path(),
        "full-efiboot.iso",
        &[
            "-boot_image",
            "any",
            "replay",
            "-update",
            fat.to_str().unwrap(),
            "/images/efiboot.img",
            "--",
        ],
    );
    // Four entries × 4 KiB of arguments cannot fit in the ~2 KiB left.
    let long = format!("remaster.pad={}", "x".repeat(4096));
    assert_refused(&full, &["--cmdline", &long], "images/efiboot.img");
}

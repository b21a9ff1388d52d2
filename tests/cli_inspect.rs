//! `remaster inspect` through the CLI on every kind of input, checked against xorriso and
//! the fixture's own facts; broken inputs give one-line errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::fs;
use std::process::{Command, Output};

use common::fixtures::*;

fn inspect(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remaster"))
        .arg("inspect")
        .args(args)
        .output()
        .expect("run remaster")
}

fn json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json")
}

#[test]
fn iso_report_agrees_with_xorriso_and_names_the_kernel() {
    let iso = fixture_iso();
    let v = json(&inspect(&[
        iso.as_os_str(),
        "--json".as_ref(),
        "--files".as_ref(),
    ]));
    assert_eq!(v["label"], FIXTURE_LABEL);
    assert_eq!(v["kernels"][0]["release"], fixture_kver());
    let initrd_paths = v["initrds"][0]["paths"].as_array().unwrap();
    assert_eq!(initrd_paths.len(), 2, "{v}");
    assert_eq!(v["initrds"][0]["first_compression"], "xz");
    assert_eq!(v["md5"]["present"], true);
    let configs: Vec<&str> = v["boot_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["location"].as_str().unwrap())
        .collect();
    assert_eq!(
        configs,
        [
            "isolinux/isolinux.cfg",
            "EFI/BOOT/grub.cfg",
            "images/efiboot.img:EFI/BOOT/grub.cfg"
        ]
    );
    for c in v["boot_configs"].as_array().unwrap() {
        assert_eq!(c["referenced_labels"][0], FIXTURE_LABEL, "{c}");
        let default: Vec<_> = c["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["is_default"] == true)
            .collect();
        assert_eq!(default.len(), 1, "{c}");
        assert_eq!(
            default[0]["kind"], "check",
            "the default entry is the media test one: {c}"
        );
    }
    // Every file's LBA and size as xorriso reports them.
    let (ok, lba) = run_tool(
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
    assert!(ok, "{lba}");
    let files = v["files"].as_array().unwrap();
    let mut checked = 0;
    for line in lba.lines().filter(|l| l.starts_with("File data lba:")) {
        // File data lba:  0 ,      3280 ,        19 ,     38912 , '/isolinux/isolinux.bin'
        let parts: Vec<&str> = line
            .trim_start_matches("File data lba:")
            .split(',')
            .map(str::trim)
            .collect();
        let path = parts[4].trim_matches('\'');
        let entry = files
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(
            entry["lba"].as_u64().unwrap().to_string(),
            parts[1],
            "{path}"
        );
        assert_eq!(
            entry["size"].as_u64().unwrap().to_string(),
            parts[3],
            "{path}"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} files compared:\n{lba}");
    // Reading is cheap: metadata, a kernel header and a few config files.
    assert!(
        v["bytes_read"].as_u64().unwrap() < 1 << 20,
        "{}",
        v["bytes_read"]
    );
}

#[test]
fn inspect_walks_initrds_modules_rpms_and_duds() {
    let iso = fixture_iso();
    let v = json(&inspect(&[
        iso.as_os_str(),
        "--initrd".as_ref(),
        "--json".as_ref(),
    ]));
    let walk = &v["initrds"][0]["walk"];
    assert_eq!(walk["module_trees"][0]["kver"], fixture_kver());
    assert!(
        walk["symlinks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["path"] == "lib" && s["target"] == "usr/lib"),
        "{walk}"
    );

    let ko = dud_support::fixtures().join("good-megaraid_sas.ko");
    let m = json(&inspect(&[ko.as_os_str(), "--json".as_ref()]));
    assert_eq!(m["name"], "megaraid_sas");
    assert!(
        m["vermagic"].as_str().unwrap().starts_with(&fixture_kver()),
        "{m}"
    );

    let rpm = dud_support::rpm("good");
    let r = json(&inspect(&[rpm.as_os_str(), "--json".as_ref()]));
    assert!(r.to_string().contains("kernel-modules"), "{r}");

    let human = inspect(&[dud_support::fixtures().join("dd-good.iso").as_os_str()]);
    assert!(human.status.success());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("rhdd3") || text.contains("rpms/x86_64"),
        "{text}"
    );
}

#[test]
fn broken_inputs_give_one_line_errors() {
    let dir = scratch_dir();
    let iso = fixture_iso();
    let truncated = dir.path().join("truncated.iso");
    fs::write(&truncated, &fs::read(&iso).unwrap()[..40_000]).unwrap();
    let garbage = dir.path().join("garbage.bin");
    fs::write(&garbage, b"this is not anything remaster knows\n").unwrap();
    let missing = dir.path().join("missing.iso");
    for path in [&truncated, &garbage, &missing] {
        let o = inspect(&[path.as_os_str()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{}: {err}", path.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("remaster: ")
                && err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
}

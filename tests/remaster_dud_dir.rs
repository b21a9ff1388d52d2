//! A driver update disk given as an unpacked directory (`--add-dud DIR`, `check ISO DIR`,
//! `inspect DIR`): the fixture DUD ISO unpacked by xorriso, so the directory holds exactly
//! what a vendor's image holds. The written output is read back with the oracles (xorriso
//! extracts the initrd, xz + cpio unpack the appended overlay, modinfo reads the module).
//! Run: `cargo test --test remaster_dud_dir`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::fs;
use std::path::{Path, PathBuf};

use common::cli::{output_text as text, remaster_bin};
use common::fixtures::*;

/// The driver carried by the fixture DUD.
const DRIVER: &str = "megaraid_sas";

/// The fixture DUD ISO unpacked into `dir/name` (xorriso: the oracle's view of the image).
fn unpacked_dud(dir: &Path, name: &str) -> PathBuf {
    let dud = dir.join(name);
    extract_from_iso(&dud_support::fixtures().join("dd-good.iso"), "/", &dud);
    assert!(dud.join("rhdd3").is_file(), "no rhdd3 in {}", dud.display());
    dud
}

/// The RPM files of an unpacked DUD (`rpms/x86_64/*.rpm`).
fn rpms_in(dud: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dud.join("rpms/x86_64"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();
    v.sort();
    v
}

fn sh(script: &str) -> String {
    let (ok, log) = run_tool("sh", &["-c", script]);
    assert!(ok, "{script}:\n{log}");
    log
}

#[test]
fn a_dud_directory_is_planned_written_and_carried_in_the_overlay() {
    let scratch = scratch_dir();
    let dir = scratch.path();
    let dud = unpacked_dud(dir, "dud");
    let rpms = rpms_in(&dud);
    assert_eq!(rpms.len(), 1, "{rpms:?}");
    let iso = fixture_iso();

    // The plan: the directory is embedded as /dd.iso and its module goes into the overlay.
    let o = remaster_bin()
        .arg(&iso)
        .arg("--add-dud")
        .arg(&dud)
        .args(["--dry-run", "--json", "-o"])
        .arg(dir.join("never.iso"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json plan");
    assert_eq!(plan["drivers"][0]["embedded_as"], "/dd.iso", "{plan}");
    assert_eq!(
        plan["drivers"][0]["modules"][0]["verdict"]["outcome"]["result"], "loads",
        "{plan}"
    );
    let entries: Vec<&str> = plan["overlays"][0]["entries"]
        .as_array()
        .expect("overlay entries")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    let ko_entry = format!("usr/lib/modules/{}/updates/{DRIVER}.ko.xz", fixture_kver());
    assert!(entries.contains(&"dd.iso"), "{entries:?}");
    assert!(entries.contains(&ko_entry.as_str()), "{entries:?}");
    assert!(!dir.join("never.iso").exists());

    // The written output.
    let out = dir.join("out.iso");
    let o = remaster_bin()
        .arg(&iso)
        .arg("--add-dud")
        .arg(&dud)
        .arg("-q")
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = remaster_bin().arg("verify").arg(&out).output().unwrap();
    assert!(o.status.success(), "verify: {}", text(&o));

    // The overlay as xz and cpio read it: the output initrd decompresses to the base's
    // bytes followed by the overlay archive.
    let base = dir.join("base-initrd.img");
    let edited = dir.join("out-initrd.img");
    extract_from_iso(&iso, "/images/pxeboot/initrd.img", &base);
    extract_from_iso(&out, "/images/pxeboot/initrd.img", &edited);
    let root = dir.join("overlay");
    fs::create_dir(&root).unwrap();
    sh(&format!(
        "n=$(xz -dc '{base}' | wc -c) && cd '{root}' && \
         xz -dc '{edited}' | tail -c +$((n + 1)) | cpio -idm --quiet --no-absolute-filenames",
        base = base.display(),
        edited = edited.display(),
        root = root.display(),
    ));
    let ko = root.join(&ko_entry);
    assert!(
        ko.is_file(),
        "no {ko_entry} in the overlay: {:?}",
        names_in(&root)
    );
    let name = sh(&format!("modinfo -F name '{}'", ko.display()));
    assert_eq!(name.trim(), DRIVER, "modinfo of the overlay's module");

    // The embedded /dd.iso is a DDv3 image carrying the directory's RPM byte for byte.
    let dd = root.join("dd.iso");
    assert!(
        dd.is_file(),
        "no dd.iso in the overlay: {:?}",
        names_in(&root)
    );
    let rpm_name = rpms[0].file_name().unwrap().to_string_lossy().into_owned();
    let embedded_rpm = dir.join("embedded.rpm");
    extract_from_iso(&dd, &format!("/rpms/x86_64/{rpm_name}"), &embedded_rpm);
    assert_eq!(
        fs::read(&embedded_rpm).unwrap(),
        fs::read(&rpms[0]).unwrap()
    );
    let rhdd3 = dir.join("embedded-rhdd3");
    extract_from_iso(&dd, "/rhdd3", &rhdd3);
}

#[test]
fn a_dud_directory_among_candidates_and_under_check_and_inspect() {
    let scratch = scratch_dir();
    let dir = scratch.path();
    let cands = dir.join("candidates");
    fs::create_dir(&cands).unwrap();
    let dud = unpacked_dud(&cands, "vendor-dud");
    let iso = fixture_iso();

    // A directory of candidates whose one candidate is a DUD directory.
    let o = remaster_bin()
        .arg(&iso)
        .arg("--add-dud")
        .arg(&cands)
        .args(["--dry-run", "--json", "-o"])
        .arg(dir.join("never.iso"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json plan");
    assert_eq!(plan["drivers"][0]["embedded_as"], "/dd.iso", "{plan}");

    // check ISO DIR: the installer takes it and the module loads.
    let o = remaster_bin()
        .arg("check")
        .arg(&iso)
        .arg(&dud)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("verdict: LOADS"), "{}", text(&o));

    // inspect DIR: a directory DUD with its repo and module.
    let o = remaster_bin().arg("inspect").arg(&dud).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("(directory)"), "{}", text(&o));
    assert!(stdout.contains(&format!("{DRIVER}.ko")), "{}", text(&o));
}

//! Driver update disks for aarch64 media: the installer reads `rpms/<uname -m>/`, so on an
//! aarch64 installer only `rpms/aarch64/` counts (anaconda `driver_updates.py`,
//! `os.uname()[4]`). Uses the ELRepo-style kmod RPMs of scripts/build-kmod-fixtures-arm64.sh
//! (`/lib/modules/<kver>/extra/mpt3sas/mpt3sas.ko`, built with `rpmbuild --target aarch64`
//! and `--target x86_64`); xorriso lists what `dud create` wrote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::path::PathBuf;
use std::process::Command;

use remaster::dud::{self, InstallerContext, Severity};

fn rpm(arch: &str) -> PathBuf {
    let dir = common::fixtures::kmod_arm64_fixtures().join("rpms");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&format!(".{arch}.rpm")))
        .unwrap_or_else(|| panic!("no {arch} RPM in {}", dir.display()))
}

fn ctx(arch: &str, kver: &str) -> InstallerContext {
    InstallerContext {
        kernel_release: kver.into(),
        os_release: Some("9.6".into()),
        arch: arch.into(),
    }
}

/// `dud create` puts an aarch64 kmod RPM under rpms/aarch64/, which an aarch64 installer
/// loads (ELRepo layout: extra/ moves to updates/extra/ under the running kernel) and an
/// x86_64 installer ignores.
#[test]
fn aarch64_rpm_goes_to_rpms_aarch64_and_only_aarch64_installers_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("dd.iso");
    let aarch64 = rpm("aarch64");
    let out = common::cli::remaster_bin()
        .args(["dud", "create"])
        .arg(&aarch64)
        .arg("-o")
        .arg(&iso)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::cli::output_text(&out));
    // Oracle: xorriso's listing of the ISO.
    let ls = Command::new("xorriso")
        .args(["-indev"])
        .arg(&iso)
        .args(["-find", "/", "-type", "f"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&ls.stdout);
    let name = aarch64.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        listing.contains(&format!("/rpms/aarch64/{name}")),
        "{listing}"
    );
    assert!(!listing.contains("/rpms/x86_64/"), "{listing}");

    let dud = dud::open_dud_for(&iso, "aarch64").unwrap();
    let loaded = dud::installer_loaded_modules(&dud, &ctx("aarch64", "6.1.0-50-arm64"));
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(
        loaded[0].path,
        "/lib/modules/6.1.0-50-arm64/extra/mpt3sas/mpt3sas.ko"
    );
    assert_eq!(
        loaded[0].destination,
        "/lib/modules/6.1.0-50-arm64/updates/extra/mpt3sas/mpt3sas.ko"
    );
    let findings = dud::installer_findings(&dud, &ctx("aarch64", "6.1.0-50-arm64"));
    assert!(
        findings.iter().all(|f| f.severity != Severity::Refused),
        "{findings:?}"
    );

    // An x86_64 installer finds no driver disk here, and says where the RPMs are.
    let err = dud::open_dud(&iso).unwrap_err().to_string();
    assert!(err.contains("rpms/aarch64"), "{err}");
    assert!(dud::installer_loaded_modules(&dud, &ctx("x86_64", "6.1.0-50-amd64")).is_empty());
}

/// dd_list does not look at an RPM's architecture: an x86_64 kmod RPM under rpms/aarch64/ is
/// taken, and its module refused by the kernel. Said as a refusal naming both architectures.
#[test]
fn an_x86_64_rpm_for_an_aarch64_installer_is_refused_by_name() {
    let mut x86 = dud::read_kmod_rpm_file(&rpm("x86_64")).unwrap();
    x86.file_name = "kmod-mpt3sas.x86_64.rpm".into();
    assert_eq!(x86.arch, "x86_64");
    let findings = dud::ddv3::rpm_findings(&x86, &ctx("aarch64", "6.1.0-50-arm64"));
    let refused: Vec<_> = findings
        .iter()
        .filter(|f| f.severity == Severity::Refused)
        .collect();
    assert_eq!(refused.len(), 1, "{findings:?}");
    assert!(
        refused[0].message.contains("is built for x86_64")
            && refused[0].message.contains("runs aarch64"),
        "{}",
        refused[0].message
    );
    // The same RPM on an x86_64 installer: no architecture finding.
    let findings = dud::ddv3::rpm_findings(&x86, &ctx("x86_64", "6.1.0-50-amd64"));
    assert!(
        findings.iter().all(|f| !f.message.contains("is built for")),
        "{findings:?}"
    );
}

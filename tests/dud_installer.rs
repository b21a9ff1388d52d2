//! The installer's rules on vendor-style DUD ISOs built by xorriso (and the same trees as
//! directories): which repos it finds, which RPMs dd_list takes, which modules load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod dud_support;

use std::path::Path;

use dud_support::{exports, fixtures, kvers, rpm};
use remaster::dud::ddv3::{
    dd_list_verdict, installer_findings, installer_loaded_modules, kabi_findings, open_dud,
    scan_dud, DdListVerdict, Finding, InstallerContext, Severity,
};
use remaster::dud::rpm::read_kmod_rpm_file;
use remaster::dud::DudReport;

fn ctx(release: Option<&str>) -> InstallerContext {
    InstallerContext {
        kernel_release: kvers().0,
        os_release: release.map(str::to_owned),
        arch: "x86_64".into(),
    }
}

fn about<'a>(findings: &'a [Finding], variant: &str) -> Vec<&'a Finding> {
    let needle = format!("kmod-megaraid_sas-{variant}-");
    findings
        .iter()
        .filter(|f| f.rpm.as_deref().is_some_and(|r| r.contains(&needle)))
        .collect()
}

fn has(findings: &[&Finding], severity: Severity, words: &str) -> bool {
    findings
        .iter()
        .any(|f| f.severity == severity && f.message.contains(words))
}

#[test]
fn mixed_disk_verdicts_per_variant_on_92_media() {
    let dud = open_dud(&fixtures().join("dd-mixed.iso")).expect("open");
    assert_eq!(dud.volume_id.as_deref(), Some("OEMDRV"));
    assert_eq!(dud.rpms.len(), 8);
    let f = installer_findings(&dud, &ctx(Some("9.2")));

    for ok in ["good", "zstd", "gzip"] {
        let a = about(&f, ok);
        assert!(has(&a, Severity::Ok, "dd_list accepts"), "{ok}: {a:#?}");
        assert!(has(&a, Severity::Ok, "and loaded"), "{ok}: {a:#?}");
        assert!(!a.iter().any(|x| x.severity >= Severity::Ignored), "{ok}");
    }
    let newer = about(&f, "newer");
    assert!(
        has(&newer, Severity::Ignored, ">= 6.1.0-60` is not satisfied"),
        "{newer:#?}"
    );
    let unver = about(&f, "unver");
    assert!(
        has(&unver, Severity::Ignored, "has no version"),
        "{unver:#?}"
    );
    let koxz = about(&f, "koxz");
    assert!(has(&koxz, Severity::Ok, "dd_list accepts"), "{koxz:#?}");
    assert!(
        has(
            &koxz,
            Severity::Ignored,
            "only extracts files ending in .ko"
        ),
        "{koxz:#?}"
    );
    let usrlib = about(&f, "usrlib");
    assert!(
        has(&usrlib, Severity::Ignored, "/usr/lib/modules"),
        "{usrlib:#?}"
    );
    // The other-ABI build is accepted by dd_list (its provide is older) — its kABI pins
    // are what fail, see kabi_pins_against_module_symvers.
    let other = about(&f, "other");
    assert!(has(&other, Severity::Ok, "dd_list accepts"), "{other:#?}");
    assert!(
        has(&other, Severity::Warn, "packaged for kernel"),
        "{other:#?}"
    );
    // Every non-ok finding explains itself with a fix or a reason.
    for x in f.iter().filter(|x| x.severity == Severity::Ignored) {
        assert!(x.message.contains("because") || x.fix.is_some(), "{x:#?}");
    }

    let loaded: Vec<String> = installer_loaded_modules(&dud, &ctx(Some("9.2")))
        .into_iter()
        .map(|m| m.rpm)
        .collect();
    for v in ["good", "zstd", "gzip", "other"] {
        assert!(
            loaded.iter().any(|r| r.contains(&format!("-{v}-"))),
            "{v} loads"
        );
    }
    for v in ["newer", "unver", "koxz", "usrlib"] {
        assert!(
            !loaded.iter().any(|r| r.contains(&format!("-{v}-"))),
            "{v} must not load"
        );
    }
}

#[test]
fn compressed_modules_load_on_95_and_warn_when_release_unknown() {
    let dud = open_dud(&fixtures().join("dd-mixed.iso")).expect("open");
    let f95 = installer_findings(&dud, &ctx(Some("9.5")));
    assert!(has(&about(&f95, "koxz"), Severity::Ok, "and loaded"));
    let loaded = installer_loaded_modules(&dud, &ctx(Some("9.5")));
    let m = loaded
        .iter()
        .find(|m| m.rpm.contains("-koxz-"))
        .expect("koxz loads on 9.5");
    assert!(m
        .destination
        .ends_with("/updates/extra/megaraid_sas/megaraid_sas.ko.xz"));
    let unknown = installer_findings(&dud, &ctx(None));
    assert!(has(&about(&unknown, "koxz"), Severity::Warn, "compressed"));
}

#[test]
fn dd_list_against_another_kernel_release() {
    // On a kernel older than the provide, the good build is skipped too.
    let good = read_kmod_rpm_file(&rpm("good")).expect("read");
    assert!(matches!(
        dd_list_verdict(&good, "6.1.0-47-amd64"),
        DdListVerdict::Skipped(_)
    ));
    assert!(matches!(
        dd_list_verdict(&good, &kvers().0),
        DdListVerdict::Modules { .. }
    ));
    let newer = read_kmod_rpm_file(&rpm("newer")).expect("read");
    assert!(matches!(
        dd_list_verdict(&newer, "6.1.0-60-amd64"),
        DdListVerdict::Modules { .. }
    ));
}

#[test]
fn nested_repo_and_nested_iso_are_found() {
    let deep = open_dud(&fixtures().join("dd-deep.iso")).expect("deep");
    let repos: Vec<_> = deep.layout.repos("x86_64").map(|r| r.path()).collect();
    assert_eq!(repos, vec!["/vendor/driver/rpms/x86_64"]);
    assert_eq!(installer_loaded_modules(&deep, &ctx(Some("9.2"))).len(), 1);

    let nested = open_dud(&fixtures().join("dd-nested.iso")).expect("nested");
    assert!(nested.layout.repos("x86_64").next().is_none());
    assert_eq!(nested.nested.len(), 1);
    assert_eq!(nested.nested[0].inner_path, "/dd-good.iso");
    let loaded = installer_loaded_modules(&nested, &ctx(Some("9.2")));
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].name, "megaraid_sas");
}

#[test]
fn seed_layout_and_missing_rhdd3_are_not_driver_disks() {
    for (iso, words) in [
        ("dd-seed.iso", "bare modules"),
        ("dd-norhdd3.iso", "no file rhdd3"),
    ] {
        let err = open_dud(&fixtures().join(iso)).expect_err("not a DUD");
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("No driver disks found"), "{msg}");
        assert!(msg.contains(words), "{iso}: {msg}");
        assert!(msg.contains("remaster dud create"), "{msg}");

        let dud = scan_dud(&fixtures().join(iso)).expect("scan");
        let f = installer_findings(&dud, &ctx(Some("9.2")));
        assert!(f.iter().any(|x| x.severity == Severity::Refused), "{f:#?}");
        assert!(installer_loaded_modules(&dud, &ctx(Some("9.2"))).is_empty());
    }
    let seed = scan_dud(&fixtures().join("dd-seed.iso")).expect("scan");
    let f = installer_findings(&seed, &ctx(Some("9.2")));
    let bare = f
        .iter()
        .find(|x| x.message.contains("ignores bare kernel modules"))
        .expect("explained");
    assert!(bare.message.contains("ks-modules/x86_64/"));
    assert!(bare
        .fix
        .as_deref()
        .is_some_and(|fix| fix.contains("--add-rpm")));
}

/// The same trees as host directories: extract the ISO with xorriso and read the directory.
#[test]
fn directory_duds_follow_the_same_rules() {
    let tmp = tempfile::tempdir().expect("tmp");
    for iso in ["dd-mixed.iso", "dd-norhdd3.iso"] {
        let dir = tmp.path().join(iso);
        dud_support::run(
            std::process::Command::new("xorriso")
                .args(["-osirrox", "on", "-indev"])
                .arg(fixtures().join(iso))
                .args(["-extract", "/"])
                .arg(&dir),
        );
        let from_dir = scan_dud(&dir).expect("scan dir");
        let from_iso = scan_dud(&fixtures().join(iso)).expect("scan iso");
        assert_eq!(from_dir.layout, from_iso.layout, "{iso}");
        let strip = |f: Vec<Finding>| -> Vec<(Severity, Option<String>)> {
            f.into_iter().map(|x| (x.severity, x.rpm)).collect()
        };
        assert_eq!(
            strip(installer_findings(&from_dir, &ctx(Some("9.2")))),
            strip(installer_findings(&from_iso, &ctx(Some("9.2")))),
            "{iso}"
        );
    }
    // rhdd3 as a directory is not a driver disk.
    let odd = tmp.path().join("odd");
    std::fs::create_dir_all(odd.join("rhdd3")).expect("mkdir");
    std::fs::create_dir_all(odd.join("rpms/x86_64")).expect("mkdir");
    std::fs::copy(rpm("good"), odd.join("rpms/x86_64/good.rpm")).expect("copy");
    let err = open_dud(&odd).expect_err("rhdd3 dir");
    assert!(err.to_string().contains("not a regular file"), "{err}");
    // Only rpms/ppc64le beside rhdd3: not for x86_64.
    let ppc = tmp.path().join("ppc");
    std::fs::create_dir_all(ppc.join("rpms/ppc64le")).expect("mkdir");
    std::fs::write(ppc.join("rhdd3"), "Driver Update Disk version 3").expect("rhdd3");
    std::fs::copy(rpm("good"), ppc.join("rpms/ppc64le/good.rpm")).expect("copy");
    let err = open_dud(&ppc).expect_err("ppc only");
    assert!(err.to_string().contains("rpms/ppc64le"), "{err}");
}

#[test]
fn kabi_pins_against_module_symvers() {
    let (kver, other_kver) = kvers();
    let exports_now = exports(&kver);
    assert!(exports_now.len() > 10_000, "Module.symvers parsed");
    let good = read_kmod_rpm_file(&rpm("good")).expect("good");
    let f = kabi_findings(&good, &exports_now);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Ok, "{f:#?}");

    let other = read_kmod_rpm_file(&rpm("other")).expect("other");
    let f = kabi_findings(&other, &exports_now);
    assert_eq!(f[0].severity, Severity::Refused, "{f:#?}");
    assert!(f[0].message.contains("wants 0x"), "{}", f[0].message);
    assert!(f[0].message.contains("dnf"), "{}", f[0].message);
    // And the other build matches its own kernel.
    let f = kabi_findings(&other, &exports(&other_kver));
    assert_eq!(f[0].severity, Severity::Ok, "{f:#?}");
}

#[test]
fn inspect_report_serialises_and_prints() {
    use remaster::report::Report;
    let dud = open_dud(&fixtures().join("dd-mixed.iso")).expect("open");
    let exports_now = exports(&kvers().0);
    let report = DudReport::new(&dud, Some(&ctx(Some("9.2"))), Some(&exports_now));
    assert_eq!(report.installer_loads_a_module, Some(true));
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["volume_id"], "OEMDRV");
    assert_eq!(json["rpms"].as_array().map(Vec::len), Some(8));
    let mut human = Vec::new();
    report.human(&mut human).expect("human");
    let human = String::from_utf8(human).expect("utf8");
    assert!(human.contains("[IGNORED]"), "{human}");
    assert!(human.contains("[REFUSED]"), "{human}");
    assert!(
        human.contains("verdict: the installer loads a driver"),
        "{human}"
    );

    let seed = scan_dud(&fixtures().join("dd-seed.iso")).expect("scan");
    let report = DudReport::new(&seed, Some(&ctx(Some("9.2"))), None);
    assert_eq!(report.installer_loads_a_module, Some(false));

    let rpm_report =
        remaster::dud::RpmReport::new(&read_kmod_rpm_file(&rpm("unver")).expect("rpm"), None, None);
    assert!(rpm_report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Ignored && f.message.contains("no version")));
    let _ = Path::new("");
}

#[test]
fn hostile_isos_give_one_line_errors() {
    let bytes = std::fs::read(fixtures().join("dd-good.iso")).expect("iso");
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("bad.iso");
    // Truncated at many points (inside descriptors, directories, RPM data).
    for cut in [
        0usize,
        100,
        2048 * 16,
        2048 * 16 + 100,
        2048 * 17,
        2048 * 20,
        2048 * 40,
        300_000,
        900_000,
    ] {
        std::fs::write(&path, &bytes[..cut.min(bytes.len())]).expect("write");
        if let Err(e) = scan_dud(&path) {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
    // Random damage in the metadata area (volume descriptors, path tables, directories).
    let mut rng = dud_support::Rng(7);
    let rounds: usize = std::env::var("DUD_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for _ in 0..rounds {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(6) {
            let at = 2048 * 16 + rng.below(2048 * 24);
            b[at] = rng.next() as u8;
        }
        std::fs::write(&path, &b).expect("write");
        match scan_dud(&path) {
            Ok(_) => {}
            Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
    std::fs::write(&path, b"not an iso at all").expect("write");
    let e = scan_dud(&path).expect_err("garbage");
    assert!(e.to_string().contains("bad.iso"), "{e}");
}

/// A DUD made without Rock Ridge or Joliet: Linux (and so the installer) sees the primary
/// tree lowercased (`RHDD3` → `rhdd3`), so it still is a driver disk.
#[test]
fn plain_iso9660_dud_is_read_like_linux_does() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("rpms/x86_64")).expect("mkdir");
    std::fs::write(tree.join("rhdd3"), "Driver Update Disk version 3").expect("rhdd3");
    std::fs::copy(rpm("good"), tree.join("rpms/x86_64/good.rpm")).expect("copy");
    let iso = tmp.path().join("plain.iso");
    dud_support::run(
        std::process::Command::new("xorriso")
            .args(["-rockridge", "off", "-joliet", "off", "-outdev"])
            .arg(&iso)
            .args(["-volid", "OEMDRV", "-map"])
            .arg(&tree)
            .arg("/"),
    );
    let bytes = std::fs::read(&iso).expect("iso");
    assert!(
        bytes.windows(8).any(|w| w == b"RHDD3.;1"),
        "the primary tree stores upper-case names"
    );
    assert!(!bytes.windows(4).any(|w| w == b"RRIP"), "no Rock Ridge");
    let dud = open_dud(&iso).expect("a driver disk for Linux");
    assert_eq!(dud.layout.rhdd3_dirs, vec!["/"]);
    assert_eq!(dud.rpms.len(), 1);
    assert_eq!(installer_loaded_modules(&dud, &ctx(Some("9.2"))).len(), 1);
}

/// EL8's anaconda (rhel-8 `dd_extract`: "only .ko files") never extracts a compressed
/// module, whatever the minor; the reason names EL8 and does not suggest newer media of the
/// same major. The plain-.ko builds load as on 9.2.
#[test]
fn el8_installer_takes_only_plain_ko() {
    let dud = open_dud(&fixtures().join("dd-mixed.iso")).expect("open");
    for release in ["8.10", "8.4", "8"] {
        let f = installer_findings(&dud, &ctx(Some(release)));
        let koxz = about(&f, "koxz");
        assert!(has(&koxz, Severity::Ok, "dd_list accepts"), "{koxz:#?}");
        assert!(
            has(
                &koxz,
                Severity::Ignored,
                "(EL8's anaconda (rhel-8 branch) never extracts compressed modules) only extracts files ending in .ko"
            ),
            "{release}: {koxz:#?}"
        );
        assert!(
            koxz.iter()
                .all(|x| !x.fix.as_deref().unwrap_or("").contains("9.5")),
            "{koxz:#?}"
        );
        for ok in ["good", "zstd", "gzip"] {
            assert!(has(&about(&f, ok), Severity::Ok, "and loaded"), "{ok}");
        }
        let loaded = installer_loaded_modules(&dud, &ctx(Some(release)));
        assert!(loaded.iter().any(|m| m.rpm.contains("-good-")));
        assert!(
            !loaded.iter().any(|m| m.rpm.contains("-koxz-")),
            "{release}: {loaded:#?}"
        );
    }
    // The same module on 9.2 media gets the RHEL <= 9.4 reason, not EL8's.
    let f92 = installer_findings(&dud, &ctx(Some("9.2")));
    assert!(has(&about(&f92, "koxz"), Severity::Ignored, "RHEL <= 9.4"));
}

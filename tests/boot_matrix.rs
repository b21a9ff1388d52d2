//! Boots the fixture ISO in every mode of the matrix and checks the init's report; boots
//! deliberately broken copies and checks they fail where they should.
//! Run: `cargo test --test boot_matrix` (~2-4 min; guests run 2 at a time, TCG).

mod common;

use common::boot::*;
use common::fixtures::*;
use std::path::Path;
use std::time::Duration;

/// What every pristine boot must show, whatever the mode.
fn assert_pristine_report(report: &BootReport, mode: BootMode) {
    assert!(report.reached_report, "{mode:?} did not reach the report\n{}", report.tail());
    assert_eq!(report.kernel, fixture_kver(), "{mode:?}");
    assert!(
        report.cmdline_has(&format!("inst.stage2=hd:LABEL={FIXTURE_LABEL}")),
        "{mode:?}: cmdline {:?}",
        report.cmdline
    );
    assert!(report.cmdline_has("console=ttyS0,115200n8"), "{mode:?}: cmdline {:?}", report.cmdline);
    // The default entry of both loaders is the media test one.
    assert!(report.cmdline_has("rd.live.check"), "{mode:?}: default entry not taken: {:?}", report.cmdline);
    assert_eq!(report.firmware, if mode.is_uefi() { "uefi" } else { "bios" }, "{mode:?}");
    assert!(report.usr_merge_intact(), "{mode:?}: symlinks {:?}", report.symlinks);
    let medium = report.boot_medium.as_deref().unwrap_or_else(|| panic!("{mode:?}: no boot medium\n{}", report.tail()));
    if mode.is_cdrom() {
        assert!(medium.starts_with("sr"), "{mode:?}: medium {medium}");
    } else {
        assert!(medium.starts_with("sd") && !medium.ends_with(char::is_numeric), "{mode:?}: medium {medium}");
    }
    assert_eq!(
        report.mediacheck,
        Some(MediaCheck::Pass),
        "{mode:?}: {:?}\n{}",
        report.mediacheck_output,
        report.tail()
    );
    assert_eq!(report.file_present("/dd.iso"), Some(false), "{mode:?}");
    // Base modules come from the ISO kernel's own tree, compressed RHEL-style.
    let isofs = report.module("isofs").unwrap_or_else(|| panic!("{mode:?}: isofs not loaded"));
    assert!(
        isofs.path.ends_with(&format!("{}/kernel/fs/isofs/isofs.ko.xz", fixture_kver())),
        "{mode:?}: {isofs:?}"
    );
    for hba in ["megaraid_sas", "mpt3sas", "mptsas"] {
        assert!(report.module(hba).is_none(), "{mode:?}: {hba} must not be in the base initrd");
    }
}

fn boot_pristine(mode: BootMode) {
    let iso = fixture_iso();
    let report = boot(&iso, mode, &BootOptions::default());
    eprintln!("boot {} {:.1} s", mode.name(), report.elapsed.as_secs_f64());
    assert_pristine_report(&report, mode);
}

#[test]
fn pristine_bios_cd() {
    boot_pristine(BootMode::BiosCd);
}

#[test]
fn pristine_uefi_cd() {
    boot_pristine(BootMode::UefiCd);
}

#[test]
fn pristine_bios_usb() {
    boot_pristine(BootMode::BiosUsb);
}

#[test]
fn pristine_uefi_usb() {
    boot_pristine(BootMode::UefiUsb);
}

#[test]
fn pristine_uefi_usb_esp() {
    boot_pristine(BootMode::UefiUsbEsp);
}

#[test]
fn pristine_usb_cd() {
    boot_pristine(BootMode::UsbCd);
}

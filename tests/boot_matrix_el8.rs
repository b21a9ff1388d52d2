//! Boots the EL8-like fixture ISO (scripts/build-fixture-el8.sh: genisoimage, `isohybrid
//! --uefi`) in the six x86 modes before and after `--add-dud`, once per mode and image, and
//! checks the init's report: the default (media test) entry taken, the media check passing
//! (the grown image's implanted MD5 and isohybrid layout included), and after the edit
//! inst.dd=/dd.iso on /proc/cmdline, /dd.iso in the initramfs, the driver loaded from the
//! overlay and the disk behind the emulated HBA present.
//! Run: `cargo test --features boot-tests --test boot_matrix_el8 -- --test-threads=2`
//! (12 QEMU boots under TCG; at most `REMASTER_BOOT_JOBS` guests at once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
mod dud_support;

use common::boot::*;
use common::cli::{output_text, remaster_bin};
use common::el8::*;
use common::fixtures::*;
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

const DRIVER: &str = "megaraid_sas";
const MARKER: &str = "remaster.el8.marker=1";

/// The remastered EL8 fixture (built once per test binary): DUD + marker argument.
fn remastered() -> &'static PathBuf {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let dir = fixtures_dir().join("e2e-el8");
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("remastered.iso");
        let o = remaster_bin()
            .arg(el8_fixture_iso())
            .arg("--add-dud")
            .arg(dud_support::fixtures().join("dd-good.iso"))
            .args(["--cmdline", MARKER, "--force", "-q", "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", output_text(&o));
        out
    })
}

/// What every boot shows, before and after the edit.
fn assert_common(r: &BootReport, mode: BootMode) {
    assert!(
        r.reached_report,
        "{mode:?} did not reach the report\n{}",
        r.tail()
    );
    assert_eq!(r.kernel, fixture_kver(), "{mode:?}");
    assert!(
        r.cmdline_has(&format!("inst.stage2=hd:LABEL={EL8_LABEL}")),
        "{mode:?}: {}",
        r.cmdline
    );
    // The default entry of both menus is the media test one.
    assert!(r.cmdline_has("rd.live.check"), "{mode:?}: {}", r.cmdline);
    assert_eq!(r.firmware, if mode.is_uefi() { "uefi" } else { "bios" });
    assert!(r.usr_merge_intact(), "{mode:?}: {:?}", r.symlinks);
    let medium = r
        .boot_medium
        .as_deref()
        .unwrap_or_else(|| panic!("{mode:?}: no boot medium\n{}", r.tail()));
    if mode.is_cdrom() {
        assert!(medium.starts_with("sr"), "{mode:?}: medium {medium}");
    } else {
        // A dd'd stick: Linux sees isohybrid's partition 1 (from sector 0) and 2 (efiboot.img).
        assert!(medium.starts_with("sd"), "{mode:?}: medium {medium}");
        let disk = medium.trim_end_matches(char::is_numeric);
        for p in 1..=2 {
            assert!(
                r.blockdevs.contains_key(&format!("{disk}{p}")),
                "{mode:?}: no {disk}{p}: {:?}",
                r.blockdevs
            );
        }
    }
    assert_eq!(
        r.mediacheck,
        Some(MediaCheck::Pass),
        "{mode:?}: {:?}\n{}",
        r.mediacheck_output,
        r.tail()
    );
}

fn boot_pristine(mode: BootMode) {
    assert!(Layout::El8.modes().contains(&mode));
    let dir = scratch_dir();
    let opts = BootOptions {
        extra_args: hba_args(dir.path()),
        ..Default::default()
    };
    let r = boot(&el8_fixture_iso(), mode, &opts);
    eprintln!("boot el8 {} {:.1} s", mode.name(), r.elapsed.as_secs_f64());
    assert_common(&r, mode);
    assert!(!r.cmdline_has("inst.dd=/dd.iso"), "{mode:?}: {}", r.cmdline);
    assert!(r.module(DRIVER).is_none(), "{mode:?}: {DRIVER} loaded");
    assert!(!disk_behind_hba(&r), "{mode:?}: {:?}", r.blockdevs);
    assert_eq!(r.file_present("/dd.iso"), Some(false), "{mode:?}");
}

fn boot_remastered(mode: BootMode) {
    let dir = scratch_dir();
    let opts = BootOptions {
        extra_args: hba_args(dir.path()),
        ..Default::default()
    };
    let r = boot(remastered(), mode, &opts);
    eprintln!(
        "boot el8+dud {} {:.1} s",
        mode.name(),
        r.elapsed.as_secs_f64()
    );
    assert_common(&r, mode);
    assert_driver_from_overlay(&r, mode, MARKER, DRIVER, &fixture_kver());
    assert!(
        disk_behind_hba(&r),
        "{mode:?}: no disk behind the HBA: {:?}",
        r.blockdevs
    );
}

macro_rules! matrix {
    ($($pristine:ident, $dud:ident => $mode:expr;)*) => {$(
        #[cfg_attr(
            not(feature = "boot-tests"),
            ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
        )]
        #[test]
        fn $pristine() {
            boot_pristine($mode);
        }

        #[cfg_attr(
            not(feature = "boot-tests"),
            ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
        )]
        #[test]
        fn $dud() {
            boot_remastered($mode);
        }
    )*};
}

matrix! {
    pristine_bios_cd, dud_bios_cd => BootMode::BiosCd;
    pristine_uefi_cd, dud_uefi_cd => BootMode::UefiCd;
    pristine_bios_usb, dud_bios_usb => BootMode::BiosUsb;
    pristine_uefi_usb, dud_uefi_usb => BootMode::UefiUsb;
    pristine_uefi_usb_esp, dud_uefi_usb_esp => BootMode::UefiUsbEsp;
    pristine_usb_cd, dud_usb_cd => BootMode::UsbCd;
}

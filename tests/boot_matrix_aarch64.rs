//! Boots the aarch64 fixture ISO (scripts/build-fixture-aarch64.sh: lorax aarch64.tmpl's
//! layout, UEFI only) with qemu-system-aarch64 `-M virt` + AAVMF (TCG) as a CD (virtio-scsi),
//! a USB stick (usb-storage) and an IODD-like USB CD-ROM (usb-bot + scsi-cd), before and after
//! `--add-dud` (an aarch64 driver update) + `--cmdline`, once per mode and image, and checks
//! the init's report: the default (media test) entry taken, the media check passing (the
//! grown image's implanted MD5 included), and after the edit the marker and
//! inst.dd=/dd.iso on /proc/cmdline, /dd.iso in the initramfs, the driver loaded from the
//! overlay and the disk behind the emulated HBA present. The remaster runs on this x86_64
//! host: the test is the cross-architecture proof.
//! Run: `cargo test --features boot-tests --test boot_matrix_aarch64 -- --test-threads=1`
//! (6 boots, 55-92 s each on a loaded 2-core host: ~7 min; docs/fixtures.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use common::aarch64::*;
use common::boot::*;
use common::cli::{output_text, remaster_bin};
use common::fixtures::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DRIVER: &str = "megaraid_sas";
const MARKER: &str = "remaster.aarch64marker=1";

/// The aarch64 driver update disk: rhdd3 + rpms/aarch64/kmod-megaraid_sas (the arm64
/// kernel's own module), built beside the fixture by scripts/build-fixture-aarch64.sh.
fn aarch64_dud() -> PathBuf {
    aarch64_fixture_iso().with_file_name("dd-megaraid_sas-aarch64.iso")
}

/// The remastered aarch64 fixture (built once per test binary): DUD + marker argument.
fn remastered() -> &'static PathBuf {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        assert_eq!(
            std::env::consts::ARCH,
            "x86_64",
            "the cross-architecture proof"
        );
        let dir = fixtures_dir().join("e2e-aarch64");
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("remastered.iso");
        let o = remaster_bin()
            .arg(aarch64_fixture_iso())
            .arg("--add-dud")
            .arg(aarch64_dud())
            .args(["--cmdline", MARKER, "--force", "-q", "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", output_text(&o));
        out
    })
}

fn options(dir: &Path) -> BootOptions {
    BootOptions {
        extra_args: hba_args(dir),
        guest: Guest::Aarch64,
        ..Default::default()
    }
}

/// What every boot shows, before and after the edit.
fn assert_common(r: &BootReport, mode: BootMode) {
    assert!(
        r.reached_report,
        "{mode:?} did not reach the report\n{}",
        r.tail()
    );
    assert_eq!(r.kernel, aarch64_kver(), "{mode:?}");
    assert!(
        r.cmdline_has(&format!("inst.stage2=hd:LABEL={AARCH64_LABEL}")),
        "{mode:?}: {}",
        r.cmdline
    );
    // grub.cfg's default entry is the media test one.
    assert!(r.cmdline_has("rd.live.check"), "{mode:?}: {}", r.cmdline);
    assert_eq!(r.firmware, "uefi");
    assert!(r.usr_merge_intact(), "{mode:?}: {:?}", r.symlinks);
    let medium = r
        .boot_medium
        .as_deref()
        .unwrap_or_else(|| panic!("{mode:?}: no boot medium\n{}", r.tail()));
    if mode.is_cdrom() {
        assert!(medium.starts_with("sr"), "{mode:?}: medium {medium}");
    } else {
        // A dd'd stick without a partition table: the whole disk, no partitions.
        assert!(medium.starts_with("sd"), "{mode:?}: medium {medium}");
        assert!(
            !r.blockdevs
                .keys()
                .any(|d| d.starts_with(medium) && d != medium),
            "{mode:?}: partitions on the stick: {:?}",
            r.blockdevs
        );
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
    assert!(Layout::Aarch64.modes().contains(&mode));
    let dir = scratch_dir();
    let r = boot(&aarch64_fixture_iso(), mode, &options(dir.path()));
    eprintln!(
        "boot aarch64 {} {:.1} s",
        mode.name(),
        r.elapsed.as_secs_f64()
    );
    assert_common(&r, mode);
    assert!(!r.cmdline_has("inst.dd=/dd.iso"), "{mode:?}: {}", r.cmdline);
    assert!(!r.cmdline_has(MARKER), "{mode:?}: {}", r.cmdline);
    assert!(r.module(DRIVER).is_none(), "{mode:?}: {DRIVER} loaded");
    assert!(!disk_behind_hba(&r), "{mode:?}: {:?}", r.blockdevs);
    assert_eq!(r.file_present("/dd.iso"), Some(false), "{mode:?}");
}

fn boot_remastered(mode: BootMode) {
    assert!(Layout::Aarch64.modes().contains(&mode));
    let dir = scratch_dir();
    let r = boot(remastered(), mode, &options(dir.path()));
    eprintln!(
        "boot aarch64+dud {} {:.1} s",
        mode.name(),
        r.elapsed.as_secs_f64()
    );
    assert_common(&r, mode);
    assert_driver_from_overlay(&r, mode, MARKER, DRIVER, &aarch64_kver());
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
    pristine_cd, dud_cd => BootMode::UefiCd;
    pristine_usb_stick, dud_usb_stick => BootMode::UefiUsb;
    pristine_usb_cd, dud_usb_cd => BootMode::UsbCd;
}

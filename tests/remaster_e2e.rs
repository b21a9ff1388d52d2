//! The one-stick installer end to end (issue 6): `remaster FIXTURE.iso --add-dud dd.iso`
//! with a real kmod RPM in a vendor-style DDv3 ISO, checked by the oracles (xorriso,
//! checkisomd5, sgdisk, fsck.fat, `remaster verify`) and booted in all six modes with an
//! emulated LSI MegaRAID HBA whose driver the pristine initrd lacks.
//! Run: `cargo test --test remaster_e2e` (boots take ~20-40 s each under TCG).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::boot::*;
use common::cli::{file_sha256 as sha256, output_text as text, remaster_bin};
use common::fixtures::*;

/// A marker argument added with --cmdline, so every boot shows which config it read.
const MARKER: &str = "remaster.e2e=1";
/// The driver carried by the fixture DUDs and the device it drives.
const DRIVER: &str = "megaraid_sas";

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run remaster")
}

fn work_dir() -> PathBuf {
    let dir = fixtures_dir().join("e2e");
    fs::create_dir_all(&dir).expect("e2e dir");
    dir
}

/// The remastered fixture (built once per test binary): DUD + marker argument.
fn remastered() -> &'static PathBuf {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let input = fixture_iso();
        let dud = dud_support::fixtures().join("dd-good.iso");
        let out = work_dir().join("remastered.iso");
        let o = run(remaster_bin()
            .arg(&input)
            .arg("--add-dud")
            .arg(&dud)
            .args(["--cmdline", MARKER, "--force", "-q", "-o"])
            .arg(&out));
        assert!(o.status.success(), "{}", text(&o));
        out
    })
}

fn boot_remastered(mode: BootMode) {
    let iso = remastered();
    let dir = scratch_dir();
    let opts = BootOptions {
        extra_args: hba_args(dir.path()),
        ..Default::default()
    };
    let r = boot(iso, mode, &opts);
    assert!(r.reached_report, "{mode:?}\n{}", r.tail());
    assert!(r.cmdline_has("inst.dd=/dd.iso"), "{mode:?}: {}", r.cmdline);
    assert!(
        r.cmdline_has(&format!("rd.driver.pre={DRIVER}")),
        "{mode:?}: {}",
        r.cmdline
    );
    assert!(
        r.cmdline_has(MARKER),
        "{mode:?}: the edited config was not read: {}",
        r.cmdline
    );
    assert_eq!(
        r.file_present("/dd.iso"),
        Some(true),
        "{mode:?}: /dd.iso not in the initramfs root"
    );
    let m = r
        .module(DRIVER)
        .unwrap_or_else(|| panic!("{mode:?}: {DRIVER} not loaded\n{}", r.tail()));
    assert!(
        m.path.contains(&format!("/{}/updates/", fixture_kver())),
        "{mode:?}: {DRIVER} not loaded from the overlay: {m:?}"
    );
    assert!(r.usr_merge_intact(), "{mode:?}: {:?}", r.symlinks);
    assert_eq!(
        r.mediacheck,
        Some(MediaCheck::Pass),
        "{mode:?}: {:?}",
        r.mediacheck_output
    );
    assert!(
        disk_behind_hba(&r),
        "{mode:?}: no disk behind the HBA: {:?}",
        r.blockdevs
    );
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_bios_cd() {
    boot_remastered(BootMode::BiosCd);
}
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_uefi_cd() {
    boot_remastered(BootMode::UefiCd);
}
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_bios_usb() {
    boot_remastered(BootMode::BiosUsb);
}
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_uefi_usb() {
    boot_remastered(BootMode::UefiUsb);
}
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_uefi_usb_esp() {
    boot_remastered(BootMode::UefiUsbEsp);
}
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_usb_cd() {
    boot_remastered(BootMode::UsbCd);
}

/// The user's goal, shown from the other side: without remaster the disk is invisible.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn pristine_fixture_sees_no_disk_behind_the_hba() {
    let dir = scratch_dir();
    let opts = BootOptions {
        extra_args: hba_args(dir.path()),
        ..Default::default()
    };
    let r = boot(&fixture_iso(), BootMode::BiosCd, &opts);
    assert!(r.reached_report, "{}", r.tail());
    assert!(r.module(DRIVER).is_none(), "{:?}", r.modules);
    assert!(!disk_behind_hba(&r), "{:?}", r.blockdevs);
}

/// The signed chain (shim → grub → Debian's kernel) is untouched, so Secure Boot still boots,
/// and the Debian-signed module loads under signature enforcement.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn secure_boot_still_boots_and_loads_the_signed_module() {
    let dir = scratch_dir();
    let opts = BootOptions {
        secure_boot: true,
        extra_args: hba_args(dir.path()),
        ..Default::default()
    };
    let r = boot(remastered(), BootMode::UefiCd, &opts);
    assert!(r.reached_report, "{}", r.tail());
    assert!(r.secure_boot, "Secure Boot was not on\n{}", r.tail());
    assert!(r.module(DRIVER).is_some(), "{:?}\n{:?}", r.modules, r.dmesg);
    assert!(disk_behind_hba(&r), "{:?}", r.blockdevs);
}

#[test]
fn output_passes_the_oracles() {
    let input = fixture_iso();
    let out = remastered();
    let o = run(remaster_bin().arg("verify").arg(out));
    assert!(o.status.success(), "{}", text(&o));

    let (ok, log) = run_tool("checkisomd5", &[out.to_str().unwrap()]);
    assert!(ok, "checkisomd5: {log}");

    // El Torito and system area as xorriso reads them: same entries, only sizes differ.
    let report = |iso: &Path| {
        let (ok, log) = run_tool(
            "xorriso",
            &[
                "-indev",
                iso.to_str().unwrap(),
                "-report_el_torito",
                "plain",
                "-report_system_area",
                "plain",
            ],
        );
        assert!(ok, "{log}");
        log.lines()
            .filter(|l| {
                l.starts_with("El Torito")
                    || l.starts_with("Boot record")
                    || l.starts_with("MBR")
                    || l.starts_with("GPT")
            })
            .map(|l| {
                // Partition 1 and the GPT's usable range cover the whole image: their sizes
                // are the one thing that grows.
                let grows = ["MBR partition      :   1", "GPT start and size :   1"];
                if l.starts_with("GPT lba range") {
                    l.split_whitespace().take(5).collect::<Vec<_>>().join(" ")
                } else if grows.iter().any(|g| l.starts_with(g)) {
                    l.rsplit_once(' ').map_or(l, |(head, _)| head).to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(report(&input), report(out));
    let (_, sysarea) = run_tool(
        "xorriso",
        &[
            "-indev",
            out.to_str().unwrap(),
            "-report_system_area",
            "plain",
        ],
    );
    let p1_blocks: u64 = sysarea
        .lines()
        .find(|l| l.starts_with("MBR partition      :   1"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    assert_eq!(
        p1_blocks * 512,
        fs::metadata(out).unwrap().len(),
        "MBR partition 1 does not cover the grown image"
    );

    // sgdisk finds nothing beyond the pristine fixture's by-design overlaps.
    let (_, verify) = run_tool("sgdisk", &["-v", out.to_str().unwrap()]);
    let problems = |s: &str| {
        s.lines()
            .filter(|l| l.contains("Problem") || l.contains("problem"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        problems(&verify),
        problems(&sgdisk_baseline(&input)),
        "sgdisk -v:\n{verify}"
    );

    // Both initrd names are one extent, and it holds the base initrd unchanged plus the overlay.
    let (ok, lba) = run_tool(
        "xorriso",
        &[
            "-indev",
            out.to_str().unwrap(),
            "-find",
            "/",
            "-name",
            "initrd.img",
            "-exec",
            "report_lba",
            "--",
        ],
    );
    assert!(ok, "{lba}");
    let extents: Vec<&str> = lba
        .lines()
        .filter(|l| l.contains("initrd.img"))
        .map(|l| l.split(',').nth(1).unwrap_or("").trim())
        .collect();
    assert_eq!(extents.len(), 2, "{lba}");
    assert_eq!(
        extents[0], extents[1],
        "initrd names no longer share an extent:\n{lba}"
    );

    // efiboot.img still passes fsck.fat and carries the edited grub.cfg.
    let dir = scratch_dir();
    let fat = dir.path().join("efiboot.img");
    extract_from_iso(out, "/images/efiboot.img", &fat);
    let (ok, log) = run_tool("fsck.fat", &["-n", fat.to_str().unwrap()]);
    assert!(ok, "fsck.fat: {log}");
    let (ok, cfg) = run_tool(
        "mtype",
        &["-i", fat.to_str().unwrap(), "::EFI/BOOT/grub.cfg"],
    );
    assert!(ok, "{cfg}");
    assert!(
        cfg.contains("inst.dd=/dd.iso") && cfg.contains(MARKER),
        "{cfg}"
    );
}

#[test]
fn same_inputs_give_the_same_bytes_and_the_input_is_untouched() {
    let input = fixture_iso();
    let before = sha256(&input);
    let again = work_dir().join("again.iso");
    let o = run(remaster_bin()
        .arg(&input)
        .arg("--add-dud")
        .arg(dud_support::fixtures().join("dd-good.iso"))
        .args(["--cmdline", MARKER, "--force", "-q", "-o"])
        .arg(&again));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sha256(&again), sha256(remastered()));
    assert_eq!(sha256(&input), before);
    fs::remove_file(&again).ok();
}

/// The seed's failure: a module built for another kernel build is refused before anything
/// is written, with the kernel's own reason.
#[test]
fn a_module_for_another_kernel_build_is_refused_before_writing() {
    let dir = scratch_dir();
    let dud = dir.path().join("dd-other.iso");
    let o = run(remaster_bin()
        .args(["dud", "create"])
        .arg(dud_support::rpm("other"))
        .arg("-o")
        .arg(&dud));
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out.iso");
    let o = run(remaster_bin()
        .arg(fixture_iso())
        .arg("--add-dud")
        .arg(&dud)
        .arg("-o")
        .arg(&out));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("remaster: "), "{err}");
    assert!(
        last.contains("module_layout") && last.contains("Invalid module format"),
        "{err}"
    );
    assert!(
        last.contains(&other_kver()) && last.contains(&fixture_kver()),
        "{err}"
    );
    assert!(!out.exists(), "an output was written");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temporary files left behind"
    );
}

#[test]
fn check_predicts_both_builds() {
    let iso = fixture_iso();
    let good = run(remaster_bin()
        .arg("check")
        .arg(&iso)
        .arg(dud_support::fixtures().join("dd-good.iso")));
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    let other = run(remaster_bin()
        .arg("check")
        .arg(&iso)
        .arg(dud_support::rpm("other"))
        .arg("--json"));
    assert_eq!(other.status.code(), Some(1), "{}", text(&other));
    let v: serde_json::Value = serde_json::from_slice(&other.stdout).expect("json");
    assert_eq!(v["outcome"], "refused");
    assert_eq!(v["items"][0]["verdicts"][0]["outcome"]["result"], "refused");
    let pci = run(remaster_bin()
        .arg("check")
        .arg(&iso)
        .arg(dud_support::rpm("good"))
        .args(["--pci", "1000:0060", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&pci.stdout).expect("json");
    assert_eq!(v["pci"][0]["added_modules"][0], DRIVER, "{}", text(&pci));
    assert!(
        v["pci"][0]["initrd_modules"]
            .as_array()
            .is_some_and(|a| a.is_empty()),
        "{}",
        text(&pci)
    );
}

#[test]
fn add_rpm_wraps_it_in_a_dud_and_add_module_warns() {
    let dir = scratch_dir();
    let out = dir.path().join("rpm.iso");
    let o = run(remaster_bin()
        .arg(fixture_iso())
        .arg("--add-rpm")
        .arg(dud_support::rpm("good"))
        .arg("-q")
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(remaster_bin().arg("verify").arg(&out).arg("--json"));
    assert!(o.status.success(), "{}", text(&o));

    let ko = dud_support::fixtures().join("good-megaraid_sas.ko");
    let out2 = dir.path().join("module.iso");
    let o = run(remaster_bin()
        .arg(fixture_iso())
        .arg("--add-module")
        .arg(&ko)
        .arg("-q")
        .arg("-o")
        .arg(&out2));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the installed system will not get"),
        "{}",
        text(&o)
    );
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = scratch_dir();
    let out = dir.path().join("never.iso");
    let o = run(remaster_bin()
        .arg(fixture_iso())
        .arg("--add-dud")
        .arg(dud_support::fixtures().join("dd-good.iso"))
        .args(["--dry-run", "--json", "-o"])
        .arg(&out));
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json plan");
    assert_eq!(plan["drivers"][0]["embedded_as"], "/dd.iso");
    assert_eq!(
        plan["drivers"][0]["modules"][0]["verdict"]["outcome"]["result"],
        "loads"
    );
    let entries: Vec<&str> = plan["overlays"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(entries.contains(&"dd.iso"), "{entries:?}");
    assert!(
        entries
            .iter()
            .any(|e| e.ends_with("/updates/megaraid_sas.ko.xz")),
        "{entries:?}"
    );
    assert!(
        entries.iter().any(|e| e.ends_with("/modules.dep.bin")),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"etc/modules-load.d/remaster-megaraid_sas.conf"),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| *e == "lib" || e.starts_with("lib/")),
        "usr-merge symlink overwritten: {entries:?}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_invocations_fail_on_one_line_and_leave_nothing() {
    let dir = scratch_dir();
    let input = fixture_iso();
    let before = sha256(&input);
    let not_iso = dir.path().join("not.iso");
    fs::write(&not_iso, vec![0x55u8; 100_000]).unwrap();
    let existing = dir.path().join("exists.iso");
    fs::write(&existing, b"keep me").unwrap();
    let cases: Vec<(Vec<std::ffi::OsString>, i32, &str)> = vec![
        (
            vec![
                not_iso.clone().into(),
                "-o".into(),
                dir.path().join("a.iso").into(),
            ],
            3,
            "not.iso",
        ),
        (
            vec![input.clone().into(), "-o".into(), existing.clone().into()],
            4,
            "already exists",
        ),
        (
            vec![input.clone().into(), "-o".into(), input.clone().into()],
            2,
            "is the input",
        ),
        (
            vec![
                input.clone().into(),
                "--add-dud".into(),
                dud_support::fixtures().join("dd-seed.iso").into(),
                "-o".into(),
                dir.path().join("b.iso").into(),
            ],
            3,
            "dd-seed.iso",
        ),
        (
            vec![
                input.clone().into(),
                "-o".into(),
                "/proc/forbidden/x.iso".into(),
            ],
            4,
            "/proc/forbidden",
        ),
    ];
    for (args, code, needle) in cases {
        let o = run(remaster_bin().args(&args));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}\n{}", text(&o));
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("remaster: ") && last.contains(needle),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(fs::read(&existing).unwrap(), b"keep me");
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "files left behind: {left:?}");
    assert_eq!(sha256(&input), before, "the input changed");
}

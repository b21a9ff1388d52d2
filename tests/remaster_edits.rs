//! mkksiso parity without root, mounts or external programs (issue 3): --cmdline, --rm-args,
//! --ks, --volid and --add on the fixture, checked by xorriso/checkisomd5/`remaster verify`
//! and by booting (the init finds its medium by the renamed label).
//! Run: `cargo test --test remaster_edits`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::boot::*;
use common::cli::{output_text as text, remaster_bin};
use common::fixtures::*;

const NEW_LABEL: &str = "ROCKY-9-2-EDITED";
const MARKER: &str = "remaster.edit=yes";
const KICKSTART: &str = "# kickstart from the remaster_edits test\ntext\nreboot\n";

/// The fixture with every mkksiso-style edit applied once.
fn edited() -> &'static PathBuf {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let dir = fixtures_dir().join("edits");
        fs::create_dir_all(dir.join("extra/sub")).unwrap();
        fs::write(dir.join("ks.cfg"), KICKSTART).unwrap();
        fs::write(dir.join("extra/readme.txt"), "added by remaster --add\n").unwrap();
        fs::write(dir.join("extra/sub/data.bin"), vec![7u8; 5000]).unwrap();
        let out = dir.join("edited.iso");
        let o = remaster_bin()
            .arg(fixture_iso())
            .args([
                "--cmdline",
                MARKER,
                "--rm-args",
                "quiet",
                "--volid",
                NEW_LABEL,
                "--ks",
            ])
            .arg(dir.join("ks.cfg"))
            .arg("--add")
            .arg(format!("{}=extra", dir.join("extra").display()))
            .args(["--force", "-q", "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        out
    })
}

fn extract(iso: &Path, path: &str) -> Vec<u8> {
    let dir = scratch_dir();
    let dest = dir.path().join("f");
    extract_from_iso(iso, path, &dest);
    fs::read(dest).unwrap()
}

#[test]
fn edits_are_on_the_iso_and_consistent() {
    let iso = edited();
    let o = remaster_bin().arg("verify").arg(iso).output().unwrap();
    // No DUD was added and none is claimed: nothing to fail (issue 15: no false alarms).
    let report = String::from_utf8_lossy(&o.stdout);
    let failed: Vec<&str> = report.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(failed.is_empty(), "{report}");
    assert_eq!(o.status.code(), Some(0), "{report}");
    for must in [
        "ok   isomd5sum",
        "ok   gpt",
        "ok   el-torito",
        "ok   labels: isolinux",
        "ok   labels: EFI/BOOT/grub.cfg",
        "ok   labels: images/efiboot.img",
    ] {
        assert!(report.contains(must), "{must} missing:\n{report}");
    }
    let (ok, log) = run_tool("checkisomd5", &[iso.to_str().unwrap()]);
    assert!(ok, "{log}");
    let (ok, pvd) = run_tool("xorriso", &["-indev", iso.to_str().unwrap(), "-pvd_info"]);
    assert!(
        ok && pvd.contains(&format!("Volume Id    : {NEW_LABEL}")),
        "{pvd}"
    );
    assert_eq!(extract(iso, "/ks.cfg"), KICKSTART.as_bytes());
    assert_eq!(
        extract(iso, "/extra/readme.txt"),
        b"added by remaster --add\n"
    );
    assert_eq!(extract(iso, "/extra/sub/data.bin"), vec![7u8; 5000]);
    for cfg in ["/isolinux/isolinux.cfg", "/EFI/BOOT/grub.cfg"] {
        let t = String::from_utf8(extract(iso, cfg)).unwrap();
        assert!(
            !t.contains("Rocky-9-2-x86_64-dvd"),
            "{cfg} still names the old label:\n{t}"
        );
        assert!(
            t.contains(&format!("inst.ks=hd:LABEL={NEW_LABEL}:/ks.cfg")),
            "{cfg}:\n{t}"
        );
        assert!(
            !t.split_whitespace().any(|w| w == "quiet"),
            "{cfg}: quiet not removed:\n{t}"
        );
        assert!(t.contains(MARKER), "{cfg}:\n{t}");
    }
}

#[test]
fn editing_twice_adds_nothing_twice() {
    let once = edited();
    let dir = scratch_dir();
    let twice = dir.path().join("twice.iso");
    let o = remaster_bin()
        .arg(once)
        .args(["--cmdline", MARKER, "--volid", NEW_LABEL, "-q", "-o"])
        .arg(&twice)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for cfg in ["/isolinux/isolinux.cfg", "/EFI/BOOT/grub.cfg"] {
        assert_eq!(
            extract(once, cfg),
            extract(&twice, cfg),
            "{cfg} changed on the second run"
        );
    }
}

fn boot_edited(mode: BootMode) {
    let r = boot(edited(), mode, &BootOptions::default());
    assert!(r.reached_report, "{mode:?}\n{}", r.tail());
    assert!(r.cmdline_has(MARKER), "{mode:?}: {}", r.cmdline);
    assert!(
        r.cmdline_has(&format!("inst.stage2=hd:LABEL={NEW_LABEL}")),
        "{mode:?}: {}",
        r.cmdline
    );
    assert!(
        r.cmdline_has(&format!("inst.ks=hd:LABEL={NEW_LABEL}:/ks.cfg")),
        "{mode:?}: {}",
        r.cmdline
    );
    assert!(!r.cmdline_has("quiet"), "{mode:?}: {}", r.cmdline);
    assert!(
        r.boot_medium.is_some(),
        "{mode:?}: medium not found by the new label\n{}",
        r.tail()
    );
    assert_eq!(
        r.mediacheck,
        Some(MediaCheck::Pass),
        "{mode:?}: {:?}",
        r.mediacheck_output
    );
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_bios_cd_with_the_new_label() {
    boot_edited(BootMode::BiosCd);
}

/// The grub.cfg inside efiboot.img (how real PCs boot a dd'd stick) got the edits too.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_uefi_usb_esp_with_the_new_label() {
    boot_edited(BootMode::UefiUsbEsp);
}

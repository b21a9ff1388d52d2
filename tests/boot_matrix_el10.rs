//! Boots the EL10-like fixture ISO (scripts/build-fixture-el10.sh: GRUB2 BIOS, appended ESP)
//! in every mode of its matrix and checks the init's report; shows which of the three
//! grub.cfg copies each mode reads; boots deliberately broken copies and checks they fail
//! where they should, and only there.
//! Run: `cargo test --test boot_matrix_el10 -- --test-threads=2` (21 QEMU boots under TCG,
//! ~10 min; at most `REMASTER_BOOT_JOBS` guests at once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use common::boot::*;
use common::el10::*;
use common::fixtures::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What every pristine boot must show, whatever the mode.
fn assert_pristine_report(report: &BootReport, mode: BootMode) {
    assert!(
        report.reached_report,
        "{mode:?} did not reach the report\n{}",
        report.tail()
    );
    assert_eq!(report.kernel, el10_kver(), "{mode:?}");
    assert!(
        report.cmdline_has(&format!("inst.stage2=hd:LABEL={EL10_LABEL}")),
        "{mode:?}: cmdline {:?}",
        report.cmdline
    );
    // GRUB (BIOS and UEFI alike) names the kernel it loaded.
    assert!(
        report.cmdline_has("BOOT_IMAGE=/images/pxeboot/vmlinuz"),
        "{mode:?}: cmdline {:?}",
        report.cmdline
    );
    // The default entry of both menus (set default="1") is the media test one.
    assert!(
        report.cmdline_has("rd.live.check"),
        "{mode:?}: default entry not taken: {:?}",
        report.cmdline
    );
    assert_eq!(
        report.firmware,
        if mode.is_uefi() { "uefi" } else { "bios" },
        "{mode:?}"
    );
    assert!(
        report.usr_merge_intact(),
        "{mode:?}: symlinks {:?}",
        report.symlinks
    );
    let medium = report
        .boot_medium
        .as_deref()
        .unwrap_or_else(|| panic!("{mode:?}: no boot medium\n{}", report.tail()));
    if mode.is_cdrom() {
        assert!(medium.starts_with("sr"), "{mode:?}: medium {medium}");
    } else {
        assert!(
            medium.starts_with("sd") && !medium.ends_with(char::is_numeric),
            "{mode:?}: medium {medium}"
        );
        // A dd'd stick: Linux reads the GPT (ISO9660, Appended2 = ESP, Gap1).
        for p in 1..=3 {
            assert!(
                report.blockdevs.contains_key(&format!("{medium}{p}")),
                "{mode:?}: no {medium}{p}: {:?}",
                report.blockdevs
            );
        }
    }
    assert_eq!(
        report.mediacheck,
        Some(MediaCheck::Pass),
        "{mode:?}: {:?}\n{}",
        report.mediacheck_output,
        report.tail()
    );
    let isofs = report
        .module("isofs")
        .unwrap_or_else(|| panic!("{mode:?}: isofs not loaded"));
    assert!(
        isofs
            .path
            .ends_with(&format!("{}/kernel/fs/isofs/isofs.ko.xz", el10_kver())),
        "{mode:?}: {isofs:?}"
    );
    for hba in ["megaraid_sas", "mpt3sas", "mptsas"] {
        assert!(report.module(hba).is_none(), "{mode:?}: {hba} loaded");
    }
}

fn boot_pristine(mode: BootMode) {
    assert!(Layout::El10.modes().contains(&mode));
    let report = boot(&el10_fixture_iso(), mode, &BootOptions::default());
    eprintln!(
        "boot el10 {} {:.1} s",
        mode.name(),
        report.elapsed.as_secs_f64()
    );
    assert_pristine_report(&report, mode);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn pristine_bios_cd() {
    boot_pristine(BootMode::BiosCd);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn pristine_uefi_cd() {
    boot_pristine(BootMode::UefiCd);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn pristine_bios_usb() {
    boot_pristine(BootMode::BiosUsb);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn pristine_uefi_usb() {
    boot_pristine(BootMode::UefiUsb);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn pristine_uefi_usb_esp() {
    boot_pristine(BootMode::UefiUsbEsp);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn pristine_usb_cd_uefi() {
    boot_pristine(BootMode::UsbCd);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn pristine_usb_cd_bios() {
    boot_pristine(BootMode::BiosUsbCd);
}

/// Byte range of GPT partition `n` of `image`.
fn partition_bytes(image: &Path, n: u32) -> std::ops::Range<usize> {
    let (first, last) = gpt_partition(image, n);
    (first as usize * 512)..((last as usize + 1) * 512)
}

const SECTION_COMMENT: &str = "### BEGIN /etc/grub.d/10_linux ###";

/// Marks, in place and at the same length, the one copy of `original` (a grub.cfg's bytes)
/// found inside `range` of `image`: the comment line after `search` becomes
/// `set q="<marker>@$root"` and every `quiet` becomes `$q`, so the kernel command line shows
/// which copy GRUB read and which device `search -l` chose as root.
fn mark_copy(image: &mut [u8], original: &[u8], range: std::ops::Range<usize>, marker: &str) {
    let at = find_all(image, original, range.clone());
    assert_eq!(
        at.len(),
        1,
        "expected one copy of the config in bytes {range:?}, found {at:?}"
    );
    let text = String::from_utf8(original.to_vec()).unwrap();
    assert!(text.contains(" quiet") && text.contains(SECTION_COMMENT));
    let set = format!("set q=\"{marker}@$root\"");
    assert!(set.len() <= SECTION_COMMENT.len());
    let marked = text
        .replace(
            SECTION_COMMENT,
            &format!("{set:<width$}", width = SECTION_COMMENT.len()),
        )
        .replace("quiet", "$q   ");
    assert_eq!(marked.len(), text.len());
    image[at[0]..at[0] + original.len()].copy_from_slice(marked.as_bytes());
}

/// A copy of the fixture whose three grub.cfg copies put distinct words on the kernel command
/// line instead of `quiet` (see [`mark_copy`]): `cfg=B@<root>` (/boot/grub2/grub.cfg),
/// `cfg=I@<root>` (ISO 9660 /EFI/BOOT/grub.cfg), `cfg=E@<root>` (EFI/BOOT/grub.cfg inside the
/// ESP, GPT partition 2). Same lengths, so nothing moves; the MD5 is re-implanted. Both ISO
/// 9660 trees share the file data, so one edit serves both.
fn marked_copy(dir: &Path) -> PathBuf {
    let iso = el10_fixture_iso();
    let bios = dir.join("bios.cfg");
    let efi = dir.join("efi.cfg");
    extract_from_iso(&iso, "/boot/grub2/grub.cfg", &bios);
    extract_from_iso(&iso, "/EFI/BOOT/grub.cfg", &efi);
    let (bios, efi) = (fs::read(bios).unwrap(), fs::read(efi).unwrap());
    let mut image = fs::read(&iso).unwrap();
    let p1 = partition_bytes(&iso, 1);
    let p2 = partition_bytes(&iso, 2);
    mark_copy(&mut image, &bios, 0..p1.end, "cfg=B");
    mark_copy(&mut image, &efi, 0..p1.end, "cfg=I");
    mark_copy(&mut image, &efi, p2, "cfg=E");
    let out = dir.join("marked.iso");
    fs::write(&out, image).unwrap();
    reimplant_md5(&out);
    out
}

fn marker(config: BootConfig) -> &'static str {
    match config {
        BootConfig::GrubBios => "cfg=B",
        BootConfig::GrubEfiIso => "cfg=I",
        BootConfig::GrubEfiEsp => "cfg=E",
        BootConfig::Isolinux => panic!("no isolinux.cfg on EL10 media"),
    }
}

/// The device GRUB's `search --no-floppy --set=root -l <label>` picks in each mode: the whole
/// disk or CD (GRUB lists a disk before its partitions), never `hdN,gpt1` (observed).
fn root_is_whole_device(root: &str) -> bool {
    !root.contains(',')
}

/// Which of the three configs each firmware path reads (the table in docs/fixtures.md):
/// BIOS (CD, stick, USB CD) → /boot/grub2/grub.cfg; UEFI CD and USB CD → ISO 9660
/// /EFI/BOOT/grub.cfg; UEFI stick, with or without El Torito → the ESP's copy.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn each_mode_reads_the_config_the_layout_says() {
    let scratch = scratch_dir();
    let iso = marked_copy(scratch.path());
    let mut seen = Vec::new();
    for &mode in Layout::El10.modes() {
        let want = marker(Layout::El10.config_read(mode));
        let report = boot(&iso, mode, &BootOptions::default());
        eprintln!(
            "boot el10 {} (marked) {:.1} s: {}",
            mode.name(),
            report.elapsed.as_secs_f64(),
            report.cmdline
        );
        assert!(report.reached_report, "{}", report.tail());
        let got: Vec<&str> = report
            .cmdline
            .split_whitespace()
            .filter(|w| w.starts_with("cfg="))
            .collect();
        seen.push((mode, got.join(" ")));
        assert_eq!(got.len(), 1, "{mode:?}: {}", report.cmdline);
        let (config, root) = got[0].split_once('@').unwrap();
        assert_eq!(
            config, want,
            "{mode:?} read another config: {}",
            report.cmdline
        );
        assert!(root_is_whole_device(root), "{mode:?}: GRUB root {root}");
        assert_eq!(report.mediacheck, Some(MediaCheck::Pass), "{mode:?}");
    }
    eprintln!("{seen:?}");
}

/// Start LBA (2048-byte blocks) of a file in the whole-disk ISO 9660 tree.
fn file_lba(iso: &Path, iso_path: &str) -> u64 {
    let (ok, out) = run_tool(
        "xorriso",
        &[
            "-indev",
            image_str(iso),
            "-find",
            iso_path,
            "-exec",
            "report_lba",
            "--",
        ],
    );
    assert!(ok, "{out}");
    out.lines()
        .find_map(|l| l.strip_prefix("File data lba:"))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no LBA for {iso_path}:\n{out}"))
}

fn copy_of_fixture(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let out = dir.join(name);
    let image = fs::read(el10_fixture_iso()).unwrap();
    (out, image)
}

fn write_broken(out: &Path, image: &[u8]) {
    fs::write(out, image).unwrap();
    reimplant_md5(out);
}

/// A boot that must not reach the installer's kernel: bounded, since a firmware or GRUB that
/// finds nothing just sits there (SeaBIOS says nothing on the serial line).
fn failing_boot_options(stop_on: &[&str]) -> BootOptions {
    BootOptions {
        timeout: Duration::from_secs(
            std::env::var("REMASTER_BOOT_FAIL_TIMEOUT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(120),
        ),
        stop_on: stop_on.iter().map(|s| s.to_string()).collect(),
        ..BootOptions::default()
    }
}

/// `--grub2-boot-info` left stale (the u64 at byte 2548 of eltorito.img, 4 × LBA + 5, as if the
/// image had moved 16 blocks and the pointer had not been updated): the dd'd stick's MBR code
/// loads GRUB's diskboot, whose block list is now wrong, so BIOS-USB never reaches Linux. A
/// BIOS CD does not use that pointer (cdboot.img reads the image via the boot-info table) and
/// still boots.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn stale_grub2_boot_info_breaks_bios_usb_only() {
    let scratch = scratch_dir();
    let (out, mut image) = copy_of_fixture(scratch.path(), "stale-boot-info.iso");
    let lba = file_lba(&el10_fixture_iso(), "/images/eltorito.img");
    let at = lba as usize * 2048 + 2548;
    let stored = u64::from_le_bytes(image[at..at + 8].try_into().unwrap());
    assert_eq!(stored, lba * 4 + 5, "pristine --grub2-boot-info");
    image[at..at + 8].copy_from_slice(&((lba + 16) * 4 + 5).to_le_bytes());
    write_broken(&out, &image);

    let usb = boot(&out, BootMode::BiosUsb, &failing_boot_options(&[]));
    eprintln!(
        "boot el10 bios-usb (stale boot info) {:.1} s",
        usb.elapsed.as_secs_f64()
    );
    assert!(
        !usb.reached_report,
        "BIOS-USB booted despite a stale --grub2-boot-info\n{}",
        usb.tail()
    );
    let cd = boot(&out, BootMode::BiosCd, &BootOptions::default());
    eprintln!(
        "boot el10 bios-cd (stale boot info) {:.1} s",
        cd.elapsed.as_secs_f64()
    );
    assert_pristine_report(&cd, BootMode::BiosCd);
}

/// /boot/grub2/grub.cfg renamed to grub.cfx in both ISO 9660 trees (ISO name, Rock Ridge NM,
/// Joliet name; in place, in the directory of boot/grub2 only): BIOS GRUB finds no config and
/// stops at its prompt, so BIOS-CD never reaches Linux; UEFI-CD reads /EFI/BOOT/grub.cfg and
/// still boots.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn missing_bios_grub_cfg_breaks_bios_only() {
    let scratch = scratch_dir();
    let (out, mut image) = copy_of_fixture(scratch.path(), "no-bios-cfg.iso");
    // Directory records and path tables come before the boot catalog in xorriso's layout;
    // file data (which may mention grub.cfg and i386-pc) after it.
    let brvd = 17 * 2048;
    let catalog = u32::from_le_bytes(image[brvd + 71..brvd + 75].try_into().unwrap()) as usize;
    let joliet = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_be_bytes).collect() };
    let names: [(Vec<u8>, Vec<u8>); 3] = [
        (b"GRUB.CFG;1".to_vec(), b"GRUB.CFX;1".to_vec()),
        (b"grub.cfg".to_vec(), b"grub.cfx".to_vec()),
        (joliet("grub.cfg"), joliet("grub.cfx")),
    ];
    // A directory block of boot/grub2 is the one that also names its i386-pc subdirectory.
    let markers = [b"I386_PC".to_vec(), b"i386-pc".to_vec(), joliet("i386-pc")];
    let mut patched = 0;
    for block in (0..catalog * 2048).step_by(2048) {
        let range = block..block + 2048;
        if !markers
            .iter()
            .any(|m| !find_all(&image, m, range.clone()).is_empty())
        {
            continue;
        }
        for (from, to) in &names {
            for at in find_all(&image, from, range.clone()) {
                image[at..at + to.len()].copy_from_slice(to);
                patched += 1;
            }
        }
    }
    // Two trees (whole disk, partition 1) × (ISO name + Rock Ridge NM + Joliet name).
    assert_eq!(patched, 6, "renamed {patched} names");
    write_broken(&out, &image);
    let (ok, ls) = run_tool(
        "xorriso",
        &["-indev", image_str(&out), "-ls", "/boot/grub2/"],
    );
    assert!(
        ok && ls.contains("grub.cfx") && !ls.contains("grub.cfg'"),
        "{ls}"
    );

    let bios = boot(&out, BootMode::BiosCd, &failing_boot_options(&[]));
    eprintln!(
        "boot el10 bios-cd (no BIOS grub.cfg) {:.1} s",
        bios.elapsed.as_secs_f64()
    );
    assert!(
        !bios.reached_report,
        "BIOS-CD booted without /boot/grub2/grub.cfg\n{}",
        bios.tail()
    );
    let uefi = boot(&out, BootMode::UefiCd, &BootOptions::default());
    eprintln!(
        "boot el10 uefi-cd (no BIOS grub.cfg) {:.1} s",
        uefi.elapsed.as_secs_f64()
    );
    assert_pristine_report(&uefi, BootMode::UefiCd);
}

/// The El Torito EFI entry moved one 2048-byte block past the start of partition 2 (boot
/// catalog section entry, load RBA): OVMF no longer finds a FAT there, so UEFI-CD finds
/// nothing to boot; a UEFI stick still boots, because OVMF takes the ESP from the GPT.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn efi_el_torito_entry_off_p2_breaks_uefi_cd_only() {
    let scratch = scratch_dir();
    let (out, mut image) = copy_of_fixture(scratch.path(), "efi-entry-off-p2.iso");
    let iso = el10_fixture_iso();
    let p2 = partition_bytes(&iso, 2);
    // Boot record volume descriptor (block 17) → catalog LBA at byte 71.
    let brvd = 17 * 2048;
    assert_eq!(&image[brvd + 7..brvd + 30], b"EL TORITO SPECIFICATION");
    let catalog = u32::from_le_bytes(image[brvd + 71..brvd + 75].try_into().unwrap()) as usize;
    // Validation entry, default (BIOS) entry, section header (platform 0xEF), section entry.
    let section = catalog * 2048 + 64;
    assert_eq!(image[section + 1], 0xEF, "second section is not EFI");
    let entry = section + 32;
    let rba_at = entry + 8;
    let rba = u32::from_le_bytes(image[rba_at..rba_at + 4].try_into().unwrap()) as usize;
    assert_eq!(rba * 2048, p2.start, "pristine EFI entry = p2");
    image[rba_at..rba_at + 4].copy_from_slice(&(rba as u32 + 1).to_le_bytes());
    write_broken(&out, &image);

    let cd = boot(&out, BootMode::UefiCd, &failing_boot_options(&["Shell>"]));
    eprintln!(
        "boot el10 uefi-cd (EFI entry off p2) {:.1} s",
        cd.elapsed.as_secs_f64()
    );
    assert!(
        !cd.reached_report,
        "UEFI-CD booted with the El Torito EFI entry off p2\n{}",
        cd.tail()
    );
    let usb = boot(&out, BootMode::UefiUsb, &BootOptions::default());
    eprintln!(
        "boot el10 uefi-usb (EFI entry off p2) {:.1} s",
        usb.elapsed.as_secs_f64()
    );
    assert_pristine_report(&usb, BootMode::UefiUsb);
}

/// shim → Debian-signed grub → Debian-signed 6.12 kernel with Secure Boot enforced, from the
/// appended ESP the El Torito EFI entry points at.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn secure_boot_chain_boots_from_the_appended_esp() {
    let opts = BootOptions {
        secure_boot: true,
        ..BootOptions::default()
    };
    let report = boot(&el10_fixture_iso(), BootMode::UefiCd, &opts);
    eprintln!(
        "boot el10 uefi-cd secure boot {:.1} s",
        report.elapsed.as_secs_f64()
    );
    assert_pristine_report(&report, BootMode::UefiCd);
    assert!(report.secure_boot, "{}", report.tail());
    assert_eq!(report.sig_enforce, "Y");
}

//! The EL8-like fixture (scripts/build-fixture-el8.sh: genisoimage -T, `isohybrid --uefi`,
//! implantisomd5) and what remaster writes on it, against real oracles: xorriso's reports,
//! sgdisk -v, isohybrid itself (re-run on the grown volume), checkisomd5, fsck.fat, isoinfo,
//! mtools. The facts: ../shared/reference/el8-boot-iso-layout.md §1-5. No QEMU (the boots
//! are in tests/boot_matrix_el8.rs).
//! Run: `cargo test --test fixture_el8_layout` (builds the fixture if missing or stale).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
mod dud_support;

use common::cli::{output_text, remaster_bin};
use common::el8::*;
use common::fixtures::*;
use std::fs;
use std::path::Path;

const MIB: u64 = 1 << 20;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tool(program: &str, args: &[&str]) -> String {
    let (ok, out) = run_tool(program, args);
    assert!(ok, "{program} {args:?} failed:\n{out}");
    out
}

fn remaster(iso: &Path, args: &[&str], out: &Path) -> (Option<i32>, String) {
    let o = remaster_bin()
        .arg(iso)
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    (o.status.code(), output_text(&o))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()).into()
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// ISO 9660 volume size in bytes (PVD).
fn volume_bytes(img: &[u8]) -> u64 {
    le32(img, 16 * 2048 + 80) * 2048
}

/// (start LBA, size) of an ISO path by `xorriso -find … report_lba`.
fn extent(iso: &Path, path: &str) -> (u64, u64) {
    let out = tool(
        "xorriso",
        &["-indev", s(iso), "-find", path, "-exec", "report_lba", "--"],
    );
    out.lines()
        .filter_map(|l| l.strip_prefix("File data lba:"))
        .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>())
        .find(|f| f.get(4).map(|p| p.trim_matches('\'')) == Some(path))
        .map(|f| (f[1].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("{path} not found:\n{out}"))
}

/// The system area and tail isohybrid --uefi lays, as far as they do not depend on its
/// random GUIDs: the MBR sector, and each GPT header and entry array with the GUIDs and
/// CRCs blanked.
fn hybrid_layout(img: &[u8]) -> Vec<Vec<u8>> {
    let n = img.len() / 512;
    let header = |lba: usize| {
        let mut h = img[lba * 512..lba * 512 + 92].to_vec();
        h[16..20].fill(0);
        h[56..72].fill(0);
        h[88..92].fill(0);
        h
    };
    let entries = |lba: usize| {
        let mut e = img[lba * 512..lba * 512 + 128 * 128].to_vec();
        for i in 0..128 {
            e[i * 128 + 16..i * 128 + 32].fill(0);
        }
        e
    };
    vec![
        img[..512].to_vec(),
        header(1),
        entries(2),
        header(n - 1),
        entries(n - 33),
    ]
}

/// The oracle: isohybrid --uefi (same MBR id as the fixture) run on a copy of `out` cut at
/// its ISO 9660 volume; remaster's grown image must have the same layout byte for byte,
/// apart from the GUIDs (isohybrid draws new ones; remaster keeps the input's).
fn assert_isohybrid_would_lay_it_so(out: &Path, dir: &Path) {
    let mine = fs::read(out).unwrap();
    let vol = volume_bytes(&mine);
    let copy = dir.join("isohybrid-oracle.iso");
    fs::write(&copy, &mine[..vol as usize]).unwrap();
    tool("isohybrid", &["--uefi", "--id", "0x52454d38", s(&copy)]);
    let theirs = fs::read(&copy).unwrap();
    assert_eq!(mine.len(), theirs.len(), "file size (isohybrid's padding)");
    let (a, b) = (hybrid_layout(&mine), hybrid_layout(&theirs));
    for (i, what) in [
        "MBR",
        "primary GPT header",
        "primary entries",
        "backup GPT header",
        "backup entries",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(a[i], b[i], "{what} differs from isohybrid's");
    }
    // Everything between the system area and the backup GPT is the same too (the volume,
    // and the zeros of the padding).
    let end = mine.len() - 33 * 512;
    assert!(
        mine[32768..end] == theirs[32768..end],
        "isohybrid's image differs inside the volume or its padding"
    );
    // And the GPT's CRCs are right (sgdisk would complain otherwise, but say it here).
    let n = mine.len() / 512;
    for lba in [1, n - 1] {
        let mut h = mine[lba * 512..lba * 512 + 92].to_vec();
        let want = le32(&h, 16) as u32;
        h[16..20].fill(0);
        assert_eq!(crc32fast_hash(&h), want, "header CRC at LBA {lba}");
        let entries_lba = le64(&mine, lba * 512 + 72) as usize;
        let e = &mine[entries_lba * 512..entries_lba * 512 + 128 * 128];
        assert_eq!(crc32fast_hash(e), le32(&h, 88) as u32, "entries CRC");
    }
}

/// CRC-32 (IEEE), as the GPT uses; bitwise, test-only.
fn crc32fast_hash(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &x in b {
        crc ^= u32::from(x);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn checkisomd5(iso: &Path) {
    let (ok, out) = run_tool("checkisomd5", &["--verbose", s(iso)]);
    assert!(
        ok && out.contains("PASS"),
        "checkisomd5 {}:\n{out}",
        iso.display()
    );
}

fn sgdisk_v(iso: &Path) -> String {
    let (_, out) = run_tool("sgdisk", &["-v", s(iso)]);
    out
}

fn system_area_report(iso: &Path) -> String {
    tool(
        "xorriso",
        &["-indev", s(iso), "-report_system_area", "plain"],
    )
}

/// Report lines `<prefix> : fields…` split on whitespace.
fn rows(report: &str, prefix: &str) -> Vec<Vec<String>> {
    report
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|l| l.trim_start().strip_prefix(':'))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The isohybrid facts on any EL8 image: MBR p1 0x80/0x00 from 0 over the whole file, p2
/// 0xEF = /images/efiboot.img, GPT p1 over the volume, the file a whole number of MiB longer
/// than the volume, the backup GPT header the last sector.
fn assert_isohybrid_facts(iso: &Path) {
    let img = fs::read(iso).unwrap();
    let len = img.len() as u64;
    let vol = volume_bytes(&img);
    assert_eq!(len % MIB, 0, "file is padded to 1 MiB");
    assert!(len >= vol + 33 * 512, "the backup GPT is after the volume");
    let r = system_area_report(iso);
    assert!(
        r.contains("System area summary: MBR isohybrid cyl-align-on GPT"),
        "{r}"
    );
    let mbr = rows(&r, "MBR partition     ");
    assert_eq!(mbr[0], ["1", "0x80", "0x00", "0", &(len / 512).to_string()]);
    let (efi_lba, efi_len) = extent(iso, "/images/efiboot.img");
    assert_eq!(
        mbr[1],
        [
            "2",
            "0x00",
            "0xef",
            &(efi_lba * 4).to_string(),
            &efi_len.div_ceil(512).to_string()
        ]
    );
    assert!(
        r.contains("MBR partition path :   2  /images/efiboot.img"),
        "{r}"
    );
    let gpt = rows(&r, "GPT start and size ");
    assert_eq!(gpt[0], ["1", "0", &(vol / 512).to_string()], "{r}");
    assert_eq!(
        gpt[1],
        [
            "2",
            &(efi_lba * 4).to_string(),
            &efi_len.div_ceil(512).to_string()
        ]
    );
    assert_eq!(le64(&img, 512 + 32), len / 512 - 1, "backup header LBA");
    assert_eq!(&img[(len as usize) - 512..][..8], b"EFI PART");
}

#[test]
fn the_fixture_is_laid_out_as_lorax_rhel8_and_isohybrid_lay_it() {
    let iso = el8_fixture_iso();
    assert_isohybrid_facts(&iso);
    checkisomd5(&iso);
    assert_eq!(sgdisk_v(&iso), el8_artifact(&iso, "sgdisk-v.baseline.txt"));
    let et = tool(
        "xorriso",
        &["-indev", s(&iso), "-report_el_torito", "plain"],
    );
    assert!(
        et.contains("El Torito img path :   1  /isolinux/isolinux.bin"),
        "{et}"
    );
    assert!(
        et.contains("El Torito img path :   2  /images/efiboot.img"),
        "{et}"
    );
    // Level-1 names, TRANS.TBL in every directory with files (none in the root, which has
    // only directories), the kernel and initrd hard-linked.
    let plain = tool("isoinfo", &["-l", "-i", s(&iso)]);
    for name in ["GRUB.CON;1", "ISOLINUX.CFG;1", "VMLINUZ.;1", "TRANS.TBL;1"] {
        assert!(plain.contains(name), "{name}:\n{plain}");
    }
    let rr = tool("isoinfo", &["-R", "-f", "-i", s(&iso)]);
    for dir in ["/isolinux", "/images", "/images/pxeboot", "/EFI/BOOT"] {
        assert!(rr.contains(&format!("{dir}/TRANS.TBL\n")), "{dir}:\n{rr}");
    }
    assert!(!rr.lines().any(|l| l == "/TRANS.TBL"), "{rr}");
    assert_eq!(
        extent(&iso, "/isolinux/initrd.img"),
        extent(&iso, "/images/pxeboot/initrd.img")
    );
    assert_eq!(
        extent(&iso, "/isolinux/vmlinuz"),
        extent(&iso, "/images/pxeboot/vmlinuz")
    );
    let dir = scratch_dir();
    let grub_conf = dir.path().join("grub.conf");
    extract_from_iso(&iso, "/isolinux/grub.conf", &grub_conf);
    let text = fs::read_to_string(&grub_conf).unwrap();
    assert!(text.contains("kernel @KERNELPATH@ @ROOT@ quiet"), "{text}");
    // No .discinfo / .treeinfo on lorax's boot.iso: the release comes from .buildstamp.
    assert!(
        !rr.contains("/.discinfo") && !rr.contains("/.treeinfo"),
        "{rr}"
    );
    let o = remaster_bin()
        .args(["inspect", "--json"])
        .arg(&iso)
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["layout"]["family"], "el8-isohybrid", "{j}");
    assert_eq!(j["layout"]["support"]["writes"], "full", "{j}");
}

fn trans_tbls(iso: &Path, dir: &Path) -> Vec<(String, Vec<u8>)> {
    [
        "/isolinux",
        "/images",
        "/images/pxeboot",
        "/EFI/BOOT",
        "/EFI/BOOT/fonts",
    ]
    .iter()
    .map(|d| {
        let p = format!("{d}/TRANS.TBL");
        let dest = dir.join(p.trim_start_matches('/').replace('/', "_"));
        let _ = fs::remove_file(&dest);
        extract_from_iso(iso, &p, &dest);
        (p, fs::read(&dest).unwrap())
    })
    .collect()
}

fn efiboot_file(iso: &Path, dir: &Path, inner: &str) -> String {
    let img = dir.join("efiboot.img");
    let _ = fs::remove_file(&img);
    extract_from_iso(iso, "/images/efiboot.img", &img);
    let (ok, out) = run_tool("fsck.fat", &["-n", s(&img)]);
    assert!(ok, "fsck.fat -n efiboot.img:\n{out}");
    tool("mtype", &["-i", s(&img), &format!("::{inner}")])
}

fn iso_file(iso: &Path, dir: &Path, path: &str) -> String {
    let dest = dir.join(path.trim_start_matches('/').replace('/', "_"));
    let _ = fs::remove_file(&dest);
    extract_from_iso(iso, path, &dest);
    fs::read_to_string(dest).unwrap()
}

#[test]
fn add_dud_grows_the_image_as_isohybrid_would() {
    let iso = el8_fixture_iso();
    let dir = scratch_dir();
    let out = dir.path().join("dud.iso");
    let dud = dud_support::fixtures().join("dd-good.iso");
    let (code, log) = remaster(&iso, &["--add-dud", s(&dud)], &out);
    assert_eq!(code, Some(0), "{log}");
    let before = fs::metadata(&iso).unwrap().len();
    let after = fs::metadata(&out).unwrap().len();
    assert!(after > before, "{before} -> {after}");

    assert_isohybrid_facts(&out);
    assert_isohybrid_would_lay_it_so(&out, dir.path());
    checkisomd5(&out);
    // The input's backup GPT (its last 33 sectors) is now unused space inside the grown
    // volume: zeroed, so no tool mistakes it for a GPT.
    let grown = fs::read(&out).unwrap();
    let old_tail = before as usize - 33 * 512..before as usize;
    assert!(
        grown[old_tail].iter().all(|&b| b == 0),
        "the old backup GPT is still there"
    );
    // sgdisk finds exactly what it finds on isohybrid's own output (the by-design overlap of
    // MBR p1 from sector 0), nothing more.
    assert_eq!(sgdisk_v(&out), el8_artifact(&iso, "sgdisk-v.baseline.txt"));
    let (ok, v) = run_tool(env!("CARGO_BIN_EXE_remaster"), &["verify", s(&out)]);
    assert!(ok, "remaster verify:\n{v}");

    // efiboot.img and the boot images never move; the hard links stay one extent.
    for p in ["/images/efiboot.img", "/isolinux/isolinux.bin"] {
        assert_eq!(extent(&iso, p), extent(&out, p), "{p}");
    }
    assert_eq!(
        extent(&out, "/isolinux/initrd.img"),
        extent(&out, "/images/pxeboot/initrd.img")
    );
    // Every config any EL8 loader reads, and BOOT.conf in both places.
    for path in [
        "/isolinux/isolinux.cfg",
        "/EFI/BOOT/grub.cfg",
        "/EFI/BOOT/BOOT.conf",
    ] {
        let text = iso_file(&out, dir.path(), path);
        assert!(text.contains("inst.dd=/dd.iso"), "{path}:\n{text}");
    }
    for inner in ["EFI/BOOT/grub.cfg", "EFI/BOOT/BOOT.conf"] {
        let text = efiboot_file(&out, dir.path(), inner);
        assert!(text.contains("inst.dd=/dd.iso"), "efiboot {inner}:\n{text}");
    }
    assert_eq!(
        iso_file(&out, dir.path(), "/isolinux/grub.conf"),
        iso_file(&iso, dir.path(), "/isolinux/grub.conf"),
        "isolinux/grub.conf (nothing reads it) is left alone"
    );
    // No name changed, so every TRANS.TBL is still right (and untouched).
    assert_eq!(trans_tbls(&out, dir.path()), trans_tbls(&iso, dir.path()));
}

#[test]
fn cmdline_edit_keeps_the_size_and_the_layout() {
    let iso = el8_fixture_iso();
    let dir = scratch_dir();
    let out = dir.path().join("cmdline.iso");
    let (code, log) = remaster(&iso, &["--cmdline", "remaster.el8=1"], &out);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        fs::metadata(&out).unwrap().len(),
        fs::metadata(&iso).unwrap().len()
    );
    assert_isohybrid_facts(&out);
    checkisomd5(&out);
    assert_eq!(sgdisk_v(&out), el8_artifact(&iso, "sgdisk-v.baseline.txt"));
    // A same-size edit leaves the system area and the backup GPT as they were.
    let (a, b) = (fs::read(&iso).unwrap(), fs::read(&out).unwrap());
    assert!(a[..17408] == b[..17408], "MBR and primary GPT changed");
    assert!(
        a[a.len() - 33 * 512..] == b[b.len() - 33 * 512..],
        "backup GPT changed"
    );
    for path in ["/EFI/BOOT/BOOT.conf", "/isolinux/isolinux.cfg"] {
        assert!(iso_file(&out, dir.path(), path).contains("remaster.el8=1"));
    }
    assert!(efiboot_file(&out, dir.path(), "EFI/BOOT/BOOT.conf").contains("remaster.el8=1"));
}

/// A kickstart added at the root gets an 8.3 ISO 9660 name (the image has only level-1
/// names), its real name in Rock Ridge and Joliet. The root has no TRANS.TBL (genisoimage
/// wrote none there: it holds only directories) and no other directory changes, so every
/// TRANS.TBL stays exact; a file added under a directory with a TRANS.TBL would leave that
/// table one line short, which no loader, kernel or installer reads (they use Rock Ridge).
#[test]
fn kickstart_at_the_root_gets_an_8_3_name_and_trans_tbls_stay_exact() {
    let iso = el8_fixture_iso();
    let dir = scratch_dir();
    let ks = dir.path().join("rocky-ks.cfg");
    fs::write(&ks, "text\nreboot\n").unwrap();
    let out = dir.path().join("ks.iso");
    let (code, log) = remaster(&iso, &["--ks", s(&ks)], &out);
    assert_eq!(code, Some(0), "{log}");
    let plain = tool("isoinfo", &["-l", "-i", s(&out)]);
    let root: Vec<&str> = plain
        .split("Directory listing of /EFI/")
        .next()
        .unwrap()
        .lines()
        .collect();
    assert!(
        root.iter().any(|l| l.ends_with(" ROCKY_KS.CFG;1 ")),
        "{root:#?}"
    );
    assert!(
        !plain.contains("rocky-ks"),
        "lower case in ISO 9660:\n{plain}"
    );
    let rr = tool("isoinfo", &["-R", "-f", "-i", s(&out)]);
    assert!(rr.lines().any(|l| l == "/rocky-ks.cfg"), "{rr}");
    let joliet = tool("isoinfo", &["-J", "-f", "-i", s(&out)]);
    assert!(joliet.lines().any(|l| l == "/rocky-ks.cfg"), "{joliet}");
    assert!(!rr.lines().any(|l| l == "/TRANS.TBL"), "{rr}");
    assert_eq!(trans_tbls(&out, dir.path()), trans_tbls(&iso, dir.path()));
    assert_isohybrid_facts(&out);
    assert_isohybrid_would_lay_it_so(&out, dir.path());
    checkisomd5(&out);
    let cfg = iso_file(&out, dir.path(), "/isolinux/isolinux.cfg");
    assert!(
        cfg.contains("inst.ks=hd:LABEL=Rocky-8-10-x86_64-dvd:/rocky-ks.cfg"),
        "{cfg}"
    );
    let _ = EL8_LABEL;
}

/// `dd=` is read by EL8's installer (an alias of inst.dd=) and not by RHEL 9's: the same
/// argument is accepted on the EL8 fixture and refused, with the reason, on the EL9 one.
#[test]
fn dd_alias_is_accepted_on_el8_media_only() {
    let dir = scratch_dir();
    let out8 = dir.path().join("dd8.iso");
    let (code, log) = remaster(&el8_fixture_iso(), &["--cmdline", "dd=/extra.iso"], &out8);
    assert_eq!(code, Some(0), "{log}");
    assert!(iso_file(&out8, dir.path(), "/EFI/BOOT/grub.cfg").contains("dd=/extra.iso"));
    let out9 = dir.path().join("dd9.iso");
    let (code, log) = remaster(&fixture_iso(), &["--cmdline", "dd=/extra.iso"], &out9);
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("removed in RHEL 9"), "{log}");
    assert!(!out9.exists());
}

/// EL8's installer takes only plain `.ko` from DUD RPMs: `check` says so with the EL8 reason,
/// and the plan of `--add-rpm` with a `.ko.xz` build says the installer skips it and the
/// overlay carries it anyway (the release, 8.10, is read from the initrd's .buildstamp).
#[test]
fn compressed_dud_modules_on_el8_check_and_plan() {
    let iso = el8_fixture_iso();
    let koxz = dud_support::rpm("koxz");
    let o = remaster_bin()
        .arg("check")
        .arg(&iso)
        .arg(&koxz)
        .output()
        .unwrap();
    let text = output_text(&o);
    assert!(text.contains("release 8.10"), "{text}");
    assert!(
        text.contains("EL8's anaconda (rhel-8 branch) never extracts compressed modules"),
        "{text}"
    );
    let dir = scratch_dir();
    let out = dir.path().join("koxz.iso");
    let (code, log) = remaster(&iso, &["--add-rpm", s(&koxz), "--dry-run"], &out);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("would skip them (its dd_extract takes only files ending in .ko), but the overlay carries them"),
        "{log}"
    );
    // The plain .ko build: no such warning.
    let good = dud_support::rpm("good");
    let (code, log) = remaster(&iso, &["--add-rpm", s(&good), "--dry-run"], &out);
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("overlay carries them"), "{log}");
}

//! The fixture ISO is a faithful Rocky 9.2 boot.iso stand-in, checked with real oracles
//! (xorriso, checkisomd5, fsck.fat, xz, cpio, kmod, sgdisk).
//! Run: `cargo test --test fixture_iso` (builds the fixture through scripts/build-fixture-iso.sh
//! if the cache is missing or stale).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use common::fixtures::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn xorriso_report(iso: &Path) -> String {
    let (ok, out) = run_tool(
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
    assert!(ok, "xorriso rejects {}:\n{out}", iso.display());
    out
}

/// Report lines `<prefix>` split into whitespace-separated fields after the colon.
fn rows(report: &str, prefix: &str) -> Vec<Vec<String>> {
    report
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|l| l.trim_start().strip_prefix(':'))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn extract(iso: &Path, iso_path: &str, dir: &Path) -> PathBuf {
    let out = dir.join(iso_path.trim_start_matches('/').replace('/', "_"));
    extract_from_iso(iso, iso_path, &out);
    out
}

/// (start LBA, blocks, size) of every file, from `-find / -exec report_lba`.
fn file_extents(iso: &Path) -> Vec<(String, u64, u64, u64)> {
    let (ok, out) = run_tool(
        "xorriso",
        &[
            "-indev",
            iso.to_str().unwrap(),
            "-find",
            "/",
            "-type",
            "f",
            "-exec",
            "report_lba",
            "--",
        ],
    );
    assert!(ok, "{out}");
    out.lines()
        .filter_map(|l| l.strip_prefix("File data lba:"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let path = f.get(4)?.trim_matches('\'').to_owned();
            Some((
                path,
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn xorriso_sees_lorax_rhel9_boot_records_and_system_area() {
    let iso = fixture_iso();
    let r = xorriso_report(&iso);
    assert!(r.contains("Volume id    : 'Rocky-9-2-x86_64-dvd'"), "{r}");
    assert!(r.contains("El Torito cat path : /isolinux/boot.cat"), "{r}");
    let imgs = rows(&r, "El Torito boot img");
    assert_eq!(imgs.len(), 2, "two El Torito entries expected:\n{r}");
    assert_eq!(imgs[0][..4], ["1", "BIOS", "y", "none"], "{r}");
    assert_eq!(imgs[0][6], "4", "BIOS -boot-load-size 4:\n{r}");
    assert_eq!(imgs[1][..4], ["2", "UEFI", "y", "none"], "{r}");
    let paths = rows(&r, "El Torito img path");
    assert_eq!(paths[0], ["1", "/isolinux/isolinux.bin"], "{r}");
    assert_eq!(paths[1], ["2", "/images/efiboot.img"], "{r}");
    assert!(
        rows(&r, "El Torito img opts")
            .iter()
            .any(|o| o[0] == "1" && o.contains(&"boot-info-table".into())),
        "{r}"
    );
    // EFI load size = the whole efiboot.img in 512-byte units, as xorriso writes for lorax.
    let efiboot = file_extents(&iso)
        .into_iter()
        .find(|e| e.0 == "/images/efiboot.img")
        .expect("efiboot.img");
    assert_eq!(
        imgs[1][6].parse::<u64>().unwrap() * 512,
        efiboot.3.div_ceil(512) * 512,
        "{r}"
    );

    // isohybrid MBR: p1 bootable whole image (type 0), p2 0xEF = efiboot.img; GPT with
    // ISOHybrid / ISOHybrid1 (the latter = efiboot.img).
    assert!(
        r.contains("System area summary: MBR isohybrid cyl-align-on GPT"),
        "{r}"
    );
    let mbr = rows(&r, "MBR partition      ");
    assert_eq!(mbr.len(), 2, "{r}");
    assert_eq!(mbr[0][..4], ["1", "0x80", "0x00", "0"], "{r}");
    assert_eq!(mbr[1][..3], ["2", "0x00", "0xef"], "{r}");
    assert_eq!(
        mbr[1][3].parse::<u64>().unwrap(),
        efiboot.1 * 4,
        "MBR p2 = efiboot.img:\n{r}"
    );
    assert_eq!(
        rows(&r, "MBR partition path"),
        [["2", "/images/efiboot.img"]],
        "{r}"
    );
    assert_eq!(
        rows(&r, "GPT partname local"),
        [["1", "ISOHybrid"], ["2", "ISOHybrid1"]],
        "{r}"
    );
    assert_eq!(
        rows(&r, "GPT partition path"),
        [["2", "/images/efiboot.img"]],
        "{r}"
    );
}

#[test]
fn implanted_md5_passes_checkisomd5_and_a_flipped_byte_fails_it() {
    let iso = fixture_iso();
    let (ok, out) = run_tool("checkisomd5", &["--verbose", iso.to_str().unwrap()]);
    assert!(ok && out.contains("PASS"), "{out}");

    let scratch = scratch_dir();
    let copy = scratch.path().join("corrupt.iso");
    fs::copy(&iso, &copy).unwrap();
    let install = file_extents(&iso)
        .into_iter()
        .find(|e| e.0 == "/images/install.img")
        .expect("install.img");
    let mut bytes = fs::read(&copy).unwrap();
    let at = (install.1 * 2048 + 1000) as usize;
    bytes[at] ^= 0xff;
    fs::write(&copy, bytes).unwrap();
    let (ok, out) = run_tool("checkisomd5", &[copy.to_str().unwrap()]);
    assert!(!ok, "checkisomd5 accepted a corrupted copy:\n{out}");
}

#[test]
fn bios_and_uefi_paths_share_one_extent() {
    let extents = file_extents(&fixture_iso());
    let lba = |p: &str| {
        extents
            .iter()
            .find(|e| e.0 == p)
            .unwrap_or_else(|| panic!("{p} missing: {extents:?}"))
            .1
    };
    assert_eq!(
        lba("/isolinux/initrd.img"),
        lba("/images/pxeboot/initrd.img"),
        "{extents:?}"
    );
    assert_eq!(
        lba("/isolinux/vmlinuz"),
        lba("/images/pxeboot/vmlinuz"),
        "{extents:?}"
    );
    // And nothing else shares (the check is not vacuous).
    assert_ne!(lba("/isolinux/initrd.img"), lba("/isolinux/vmlinuz"));
    for want in [
        "/isolinux/isolinux.bin",
        "/isolinux/ldlinux.c32",
        "/isolinux/libcom32.c32",
        "/isolinux/libutil.c32",
        "/isolinux/vesamenu.c32",
        "/isolinux/isolinux.cfg",
        "/isolinux/boot.msg",
        "/images/efiboot.img",
        "/images/install.img",
        "/EFI/BOOT/BOOTX64.EFI",
        "/EFI/BOOT/grubx64.efi",
        "/EFI/BOOT/grub.cfg",
        "/.discinfo",
        "/.treeinfo",
    ] {
        lba(want);
    }
}

#[test]
fn efiboot_img_is_a_clean_fat_labelled_anaconda_with_lorax_sizing() {
    let iso = fixture_iso();
    let scratch = scratch_dir();
    let img = extract(&iso, "/images/efiboot.img", scratch.path());
    let (ok, out) = run_tool("fsck.fat", &["-n", img.to_str().unwrap()]);
    assert!(ok, "fsck.fat -n efiboot.img:\n{out}");
    let (ok, label) = run_tool("fatlabel", &[img.to_str().unwrap()]);
    assert!(ok && label.trim() == "ANACONDA", "label {label:?}");
    let img_arg = format!("{}", img.display());
    let (ok, dir) = run_tool("mdir", &["-b", "-i", &img_arg, "::EFI/BOOT"]);
    assert!(ok, "{dir}");
    let mut sum = 256 * 2048;
    for name in ["BOOTX64.EFI", "grubx64.efi", "grub.cfg"] {
        assert!(
            dir.lines().any(|l| l.ends_with(&format!("/{name}"))),
            "{name} not in efiboot.img:\n{dir}"
        );
    }
    // lorax estimate_size: Σ files rounded up to 2 KiB + 256 × 2 KiB.
    for name in dir.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let local = scratch.path().join("f");
        let (ok, out) = run_tool(
            "mcopy",
            &[
                "-n",
                "-o",
                "-i",
                &img_arg,
                &format!("::{}", name.trim_start_matches("::")),
                local.to_str().unwrap(),
            ],
        );
        assert!(ok, "{out}");
        sum += fs::metadata(&local).unwrap().len().div_ceil(2048) * 2048;
    }
    let size = fs::metadata(&img).unwrap().len();
    assert!(
        size >= sum - 1024 && size <= sum + 1024,
        "efiboot.img {size} bytes, lorax rule gives {sum}"
    );

    // Same grub.cfg inside efiboot.img as on the ISO 9660 tree (lorax copies one file).
    let inner = scratch.path().join("inner-grub.cfg");
    let (ok, out) = run_tool(
        "mcopy",
        &[
            "-n",
            "-i",
            &img_arg,
            "::EFI/BOOT/grub.cfg",
            inner.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let outer = extract(&iso, "/EFI/BOOT/grub.cfg", scratch.path());
    assert_eq!(fs::read(inner).unwrap(), fs::read(outer).unwrap());
}

#[test]
fn menus_follow_lorax_rhel9_templates() {
    let iso = fixture_iso();
    let scratch = scratch_dir();
    let stage2 = format!("inst.stage2=hd:LABEL={FIXTURE_LABEL}");
    let isolinux =
        fs::read_to_string(extract(&iso, "/isolinux/isolinux.cfg", scratch.path())).unwrap();
    assert!(
        isolinux.contains("default vesamenu.c32") && isolinux.contains("serial 0 115200"),
        "{isolinux}"
    );
    for label in ["linux", "check", "text", "rescue", "memtest", "local"] {
        assert!(
            isolinux
                .lines()
                .any(|l| l.trim() == format!("label {label}")),
            "label {label}:\n{isolinux}"
        );
    }
    let check = isolinux
        .split("label check\n")
        .nth(1)
        .unwrap()
        .split("\nlabel ")
        .next()
        .unwrap();
    assert!(
        check.contains("menu default") && check.contains("rd.live.check"),
        "{check}"
    );
    let appends: Vec<&str> = isolinux
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("append "))
        .collect();
    assert_eq!(appends.len(), 4, "{isolinux}");
    for a in appends {
        assert!(
            a.starts_with("append initrd=initrd.img ")
                && a.contains(&stage2)
                && a.contains("console=ttyS0,115200n8"),
            "{a}"
        );
    }

    let grub = fs::read_to_string(extract(&iso, "/EFI/BOOT/grub.cfg", scratch.path())).unwrap();
    assert!(grub.starts_with("set default=\"1\"\n"), "{grub}");
    assert!(
        grub.contains(&format!(
            "search --no-floppy --set=root -l '{FIXTURE_LABEL}'"
        )),
        "{grub}"
    );
    assert!(grub.contains("submenu 'Troubleshooting -->'"), "{grub}");
    let linux: Vec<&str> = grub
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("linuxefi "))
        .collect();
    let initrd: Vec<&str> = grub
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("initrdefi "))
        .collect();
    assert_eq!((linux.len(), initrd.len()), (4, 4), "{grub}");
    assert!(
        linux[1].contains("rd.live.check"),
        "entry 1 (default) is the media test: {}",
        linux[1]
    );
    for l in linux {
        assert!(
            l.starts_with("linuxefi /images/pxeboot/vmlinuz ") && l.contains(&stage2),
            "{l}"
        );
    }
    assert!(
        initrd
            .iter()
            .all(|l| *l == "initrdefi /images/pxeboot/initrd.img"),
        "{initrd:?}"
    );

    let discinfo = fs::read_to_string(extract(&iso, "/.discinfo", scratch.path())).unwrap();
    assert_eq!(discinfo.lines().nth(2), Some("x86_64"), "{discinfo}");
    let treeinfo = fs::read_to_string(extract(&iso, "/.treeinfo", scratch.path())).unwrap();
    let efiboot = extract(&iso, "/images/efiboot.img", scratch.path());
    let (_, sha) = run_tool("sha256sum", &[efiboot.to_str().unwrap()]);
    let sha = sha.split_whitespace().next().unwrap().to_owned();
    assert!(
        treeinfo.contains(&format!("images/efiboot.img = sha256:{sha}")),
        "{treeinfo}"
    );
}

/// Unpacks the initrd's cpio into `dir`; returns the `cpio -tv` listing.
fn unpack_initrd(initrd: &Path, dir: &Path) -> String {
    let cpio_path = dir.join("initrd.cpio");
    let status = Command::new("xz")
        .args(["-dc", initrd.to_str().unwrap()])
        .stdout(fs::File::create(&cpio_path).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "xz -d failed on the initrd");
    let listing = Command::new("cpio")
        .args(["-tv", "--quiet"])
        .stdin(fs::File::open(&cpio_path).unwrap())
        .output()
        .unwrap();
    assert!(listing.status.success());
    let root = dir.join("root");
    fs::create_dir_all(&root).unwrap();
    let status = Command::new("cpio")
        .args(["-idm", "--quiet", "--no-absolute-filenames"])
        .current_dir(&root)
        .stdin(fs::File::open(&cpio_path).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "cpio -i failed");
    String::from_utf8_lossy(&listing.stdout).into_owned()
}

#[test]
fn initrd_is_one_xz_crc32_stream_usr_merged_with_real_depmod_indexes() {
    let iso = fixture_iso();
    let kver = fixture_kver();
    let scratch = scratch_dir();
    let initrd = extract(&iso, "/isolinux/initrd.img", scratch.path());
    let magic = &fs::read(&initrd).unwrap()[..6];
    assert_eq!(
        magic, b"\xfd7zXZ\x00",
        "not xz (no early-microcode prefix expected)"
    );
    let (ok, info) = run_tool("xz", &["--robot", "-lvv", initrd.to_str().unwrap()]);
    assert!(ok, "{info}");
    let streams: Vec<&str> = info.lines().filter(|l| l.starts_with("stream\t")).collect();
    assert_eq!(streams.len(), 1, "one xz stream expected:\n{info}");
    assert!(
        streams[0].split('\t').any(|f| f == "CRC32"),
        "CRC32 check expected (kernel's xz decoder):\n{info}"
    );

    let listing = unpack_initrd(&initrd, scratch.path());
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with('l') && l.ends_with(&format!(" {link} -> {target}"))),
            "usr-merge symlink {link} -> {target} missing:\n{listing}"
        );
    }
    let root = scratch.path().join("root");
    for f in [
        "init",
        "usr/bin/busybox",
        "usr/bin/kmod",
        "usr/bin/checkisomd5",
        "usr/lib64/ld-linux-x86-64.so.2",
    ] {
        assert!(root.join(f).is_file(), "{f} missing from the initrd");
    }
    assert_eq!(
        fs::read_link(root.join("usr/sbin/modprobe")).unwrap(),
        Path::new("../bin/kmod")
    );
    assert!(
        !root.join("usr/bin/modprobe").exists(),
        "busybox's modprobe applet must not be linked"
    );

    // Real kmod resolves dependencies from the shipped indexes; no HBA drivers in the base.
    let moddir = root.join("usr/lib/modules").join(&kver);
    for idx in [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias.bin",
        "modules.symbols.bin",
        "modules.builtin.bin",
    ] {
        assert!(moddir.join(idx).is_file(), "{idx} missing");
    }
    let dep = fs::read_to_string(moddir.join("modules.dep")).unwrap();
    assert!(
        dep.lines()
            .all(|l| l.starts_with("kernel/") && l.split(':').next().unwrap().ends_with(".ko.xz")),
        "{dep}"
    );
    for m in ["megaraid_sas", "mpt3sas", "mptsas"] {
        assert!(
            !dep.contains(&format!("/{m}.ko")),
            "{m} must not be in the base initrd"
        );
    }
    let (ok, out) = run_tool(
        "modprobe",
        &[
            "-d",
            root.to_str().unwrap(),
            "-S",
            &kver,
            "--show-depends",
            "usb-storage",
        ],
    );
    assert!(
        ok && out.contains("kernel/drivers/usb/storage/usb-storage.ko.xz")
            && out.contains("usbcore.ko.xz"),
        "{out}"
    );
    let (ok, out) = run_tool(
        "modprobe",
        &[
            "-d",
            root.to_str().unwrap(),
            "-S",
            &kver,
            "--show-depends",
            "pci:v00001000d00000079sv00001000sd00009261bc01sc04i00",
        ],
    );
    assert!(
        !ok || out.trim().is_empty(),
        "an LSI MegaRAID alias resolves in the base initrd: {out}"
    );
    // Modules are RHEL-style xz with CRC32, one stream each.
    let ko = moddir.join("kernel/fs/isofs/isofs.ko.xz");
    let (ok, info) = run_tool("xz", &["--robot", "-lvv", ko.to_str().unwrap()]);
    assert!(
        ok && info.lines().filter(|l| l.starts_with("stream\t")).count() == 1
            && info.contains("CRC32"),
        "{info}"
    );
}

#[test]
fn sgdisk_baseline_matches_the_pristine_fixture() {
    let iso = fixture_iso();
    let baseline = sgdisk_baseline(&iso);
    let (_, now) = run_tool("sgdisk", &["-v", iso.to_str().unwrap()]);
    assert_eq!(now, baseline);
    // xorriso's isohybrid layout overlaps by design; the baseline records exactly that.
    assert!(
        baseline.contains("MBR partitions 1 and 2 overlap"),
        "{baseline}"
    );
}

//! The layout facts of the EL10-like fixture (scripts/build-fixture-el10.sh), pinned against
//! real oracles: xorriso's `-report_el_torito as_mkisofs` / `-report_system_area plain`,
//! sgdisk, checkisomd5, fsck.fat/mtools, and the raw bytes GRUB's boot code uses. These are
//! the facts an EL10-aware writer must keep (docs/layouts.md and docs/fixtures.md;
//! docs/fixtures.md). No QEMU.
//! Run: `cargo test --test fixture_el10_layout` (builds the fixture if missing or stale).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use common::el10::*;
use common::fixtures::*;
use std::fs;
use std::path::Path;

fn xorriso(iso: &Path, args: &[&str]) -> String {
    let mut all = vec!["-indev", image_str(iso)];
    all.extend_from_slice(args);
    let (ok, out) = run_tool("xorriso", &all);
    assert!(ok, "xorriso rejects {}:\n{out}", iso.display());
    out
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

fn u32_le(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()).into()
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// (start LBA, size) of every file in the ISO 9660 tree of `image`, by path.
fn file_extents(image: &Path) -> Vec<(String, u64, u64)> {
    xorriso(
        image,
        &["-find", "/", "-type", "f", "-exec", "report_lba", "--"],
    )
    .lines()
    .filter_map(|l| l.strip_prefix("File data lba:"))
    .filter_map(|l| {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        Some((
            f.get(4)?.trim_matches('\'').to_owned(),
            f.get(1)?.parse().ok()?,
            f.get(3)?.parse().ok()?,
        ))
    })
    .collect()
}

fn lba_of(extents: &[(String, u64, u64)], path: &str) -> (u64, u64) {
    extents
        .iter()
        .find(|e| e.0 == path)
        .map(|e| (e.1, e.2))
        .unwrap_or_else(|| panic!("{path} not in the tree: {extents:?}"))
}

/// `-report_el_torito as_mkisofs` reads back as lorax rhel10's xorrisofs options, with the
/// EFI entry = appended partition 2 and partition 2 = the ESP right after the ISO data.
#[test]
fn xorriso_reads_back_the_lorax_rhel10_options() {
    let iso = el10_fixture_iso();
    let r = xorriso(&iso, &["-report_el_torito", "as_mkisofs"]);
    let opts: Vec<&str> = r
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(str::trim)
        .collect();
    let (p1_first, p1_last) = gpt_partition(&iso, 1);
    let (p2_first, p2_last) = gpt_partition(&iso, 2);
    let p2_sectors = p2_last - p2_first + 1;
    for want in [
        format!("-V '{EL10_LABEL}'"),
        format!(
            "--grub2-mbr --interval:local_fs:0s-15s:zero_mbrpt,zero_gpt:'{}'",
            iso.display()
        ),
        "--protective-msdos-label".into(),
        "-partition_cyl_align off".into(),
        "-partition_offset 16".into(),
        format!(
            "-append_partition 2 28732ac11ff8d211ba4b00a0c93ec93b --interval:local_fs:{p2_first}d-{p2_last}d::'{}'",
            iso.display()
        ),
        "-appended_part_as_gpt".into(),
        "-iso_mbr_part_type a2a0d0ebe5b9334487c068b6b72699c7".into(),
        "--boot-catalog-hide".into(),
        "-b '/images/eltorito.img'".into(),
        "-boot-info-table".into(),
        "--grub2-boot-info".into(),
        "-eltorito-alt-boot".into(),
        format!(
            "-e '--interval:appended_partition_2_start_{}s_size_{p2_sectors}d:all::'",
            p2_first / 4
        ),
        format!("-boot-load-size {p2_sectors}"),
    ] {
        assert!(opts.contains(&want.as_str()), "missing {want:?} in\n{r}");
    }
    // BIOS entry: 4 sectors loaded (the EFI one loads the whole ESP).
    assert!(opts.contains(&"-boot-load-size 4"), "{r}");
    // No in-tree EFI image, no isolinux.
    assert!(!r.contains("efiboot.img") && !r.contains("isolinux"), "{r}");
    assert_eq!(p1_first, 64, "GPT p1 starts at 2048-byte block 16");
    assert_eq!(p2_first, p1_last + 1, "p2 right after p1");
}

/// `-report_el_torito plain -report_system_area plain` and sgdisk: one protective MBR entry,
/// GPT ISO9660 / Appended2 (ESP) / Gap1, El Torito BIOS → eltorito.img, EFI → p2.
#[test]
fn system_area_el_torito_and_gpt_are_the_lorax_rhel10_ones() {
    let iso = el10_fixture_iso();
    let r = xorriso(
        &iso,
        &["-report_el_torito", "plain", "-report_system_area", "plain"],
    );
    let size = fs::metadata(&iso).unwrap().len();
    assert_eq!(size % 2048, 0);
    assert!(
        r.contains("System area summary: MBR protective-msdos-label grub2-mbr cyl-align-off GPT"),
        "{r}"
    );
    assert!(r.contains(&format!("Volume id    : '{EL10_LABEL}'")), "{r}");
    assert_eq!(rows(&r, "Partition offset   "), [["16"]], "{r}");
    let mbr = rows(&r, "MBR partition      ");
    assert_eq!(mbr.len(), 1, "{r}");
    assert_eq!(
        mbr[0],
        ["1", "0x00", "0xee", "1", &(size / 512 - 1).to_string()],
        "{r}"
    );

    let extents = file_extents(&iso);
    let (eltorito_lba, eltorito_size) = lba_of(&extents, "/images/eltorito.img");
    let imgs = rows(&r, "El Torito boot img ");
    assert_eq!(imgs.len(), 2, "{r}");
    assert_eq!(
        imgs[0],
        [
            "1",
            "BIOS",
            "y",
            "none",
            "0x0000",
            "0x00",
            "4",
            &eltorito_lba.to_string()
        ],
        "{r}"
    );
    assert_eq!(
        rows(&r, "El Torito img path "),
        [["1", "/images/eltorito.img"]]
    );
    assert_eq!(
        rows(&r, "El Torito img opts "),
        [["1", "boot-info-table", "grub2-boot-info"]]
    );
    let (p2_first, p2_last) = gpt_partition(&iso, 2);
    assert_eq!(
        imgs[1],
        [
            "2",
            "UEFI",
            "y",
            "none",
            "0x0000",
            "0x00",
            &(p2_last - p2_first + 1).to_string(),
            &(p2_first / 4).to_string()
        ],
        "EFI entry = GPT p2:\n{r}"
    );
    assert_eq!(p2_first % 4, 0);
    assert!(eltorito_size > 2048, "{eltorito_size}");

    // GPT names, types, flags (xorriso's view), then sgdisk's.
    let names = rows(&r, "GPT partname local ");
    assert_eq!(
        names,
        [["1", "ISO9660"], ["2", "Appended2"], ["3", "Gap1"]],
        "{r}"
    );
    let basic = "a2a0d0ebe5b9334487c068b6b72699c7";
    let types = rows(&r, "GPT type GUID      ");
    assert_eq!(
        types,
        [
            ["1", basic],
            ["2", "28732ac11ff8d211ba4b00a0c93ec93b"],
            ["3", basic]
        ]
    );
    let flags = rows(&r, "GPT partition flags");
    assert_eq!(flags[0], ["1", "0x1000000000000001"], "{r}");
    assert_eq!(flags[1], ["2", "0x0000000000000000"], "{r}");
    let (p3_first, p3_last) = gpt_partition(&iso, 3);
    assert_eq!(p3_first, p2_last + 1);
    assert_eq!((p3_last - p3_first + 1) * 512, 300 * 1024, "Gap1 = 300 KiB");
    // Backup GPT header in the last sector, after Gap1.
    let lba_range = rows(&r, "GPT lba range      ");
    assert_eq!(
        lba_range,
        [[
            "64",
            &(size / 512 - 64).to_string(),
            &(size / 512 - 1).to_string()
        ]],
        "{r}"
    );

    let (ok, v) = run_tool("sgdisk", &["-v", image_str(&iso)]);
    assert!(ok, "{v}");
    assert!(v.contains("No problems found."), "{v}");
    assert_eq!(v, el10_artifact(&iso, "sgdisk-v.baseline.txt"));
    let (ok, p) = run_tool("sgdisk", &["-p", image_str(&iso)]);
    assert!(ok, "{p}");
    assert!(
        p.contains("Main partition table begins at sector 2 and ends at sector 63"),
        "{p}"
    );
    let parts: Vec<Vec<&str>> = p
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let codes: Vec<(&str, &str)> = parts.iter().map(|f| (f[0], f[f.len() - 2])).collect();
    assert_eq!(codes, [("1", "0700"), ("2", "EF00"), ("3", "0700")], "{p}");
}

/// Checks the GRUB2 BIOS pointers of `image` (read from `iso`): MBR code = boot_hybrid.img,
/// u64 at 0x1B0 = 4 × LBA + 4, boot-info table (`bi_pvd` = `pvd`, `bi_file`, `bi_length`,
/// `bi_csum`) and --grub2-boot-info (u64 at 2548 = 4 × LBA + 5) for eltorito.img's LBA.
/// Returns eltorito.img's (LBA, size in bytes).
fn assert_grub2_bios_pointers(iso: &Path, image: &[u8], pvd: u64) -> (u64, u64) {
    let (lba, size) = lba_of(&file_extents(iso), "/images/eltorito.img");
    let hybrid = fs::read("/usr/lib/grub/i386-pc/boot_hybrid.img")
        .expect("/usr/lib/grub/i386-pc/boot_hybrid.img (grub-pc-bin: scripts/setup.sh)");
    assert_eq!(
        image[..0x1b0],
        hybrid[..0x1b0],
        "MBR code = boot_hybrid.img"
    );
    assert_eq!(u64_le(image, 0x1b0), 4 * lba + 4, "MBR core pointer");
    assert_eq!(image[510..512], [0x55, 0xaa]);

    let start = lba as usize * 2048;
    let img = &image[start..start + size as usize];
    assert_eq!(u32_le(img, 8), pvd, "bi_pvd");
    assert_eq!(u32_le(img, 12), lba, "bi_file");
    assert_eq!(u32_le(img, 16), size, "bi_length");
    let sum = img[64..]
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .fold(0u32, u32::wrapping_add);
    assert_eq!(u32_le(img, 20), sum.into(), "bi_csum");
    assert_eq!(u64_le(img, 2548), 4 * lba + 5, "--grub2-boot-info");
    (lba, size)
}

/// The bytes GRUB's BIOS boot code relies on: MBR = boot_hybrid.img code with the u64 at
/// 0x1B0 = 4 × LBA(eltorito.img) + 4; eltorito.img in the ISO patched with the boot-info table
/// (bytes 8..24) and --grub2-boot-info (u64 at 2548 = 4 × LBA + 5).
#[test]
fn grub2_bios_boot_pointers_match_eltorito_img() {
    let iso = el10_fixture_iso();
    let image = fs::read(&iso).unwrap();
    let (lba, size) = assert_grub2_bios_pointers(&iso, &image, 16);
    let start = lba as usize * 2048;
    let img = &image[start..start + size as usize];
    // The rest is grub-mkimage's i386-pc-eltorito image, byte for byte: the file lorax builds
    // differs from the ISO copy only in those two patches, so a checksum of the built file
    // (e.g. in a DVD's .treeinfo) does not match what is on the medium.
    let scratch = scratch_dir();
    let built = scratch.path().join("eltorito.img");
    let (ok, out) = run_tool(
        "grub-mkimage",
        &[
            "-O",
            "i386-pc-eltorito",
            "-d",
            "/usr/lib/grub/i386-pc",
            "-o",
            image_str(&built),
            "-p",
            "/boot/grub2",
            "iso9660",
            "biosdisk",
        ],
    );
    assert!(ok, "{out}");
    let built = fs::read(&built).unwrap();
    assert_eq!(built.len(), img.len());
    let differing: Vec<usize> = (0..img.len()).filter(|&i| img[i] != built[i]).collect();
    assert!(!differing.is_empty(), "ISO copy is unpatched");
    assert!(
        differing
            .iter()
            .all(|&i| (8..24).contains(&i) || (2548..2556).contains(&i)),
        "eltorito.img differs from grub-mkimage's output outside the two patches: {differing:?}"
    );
    let cdboot = fs::read("/usr/lib/grub/i386-pc/cdboot.img").unwrap();
    assert_eq!(img[..8], cdboot[..8], "cdboot.img first");
}

/// `-partition_offset 16`: a second ISO 9660 volume-descriptor set at block 32 whose tree names
/// the same file data at addresses relative to p1 (−16 blocks) and whose volume size = p1;
/// the whole-disk PVD's volume size covers the whole image (ESP included). implantisomd5
/// wrote only the block-16 PVD: checkisomd5 passes on the image and says NA on partition 1.
#[test]
fn partition_offset_16_gives_a_second_tree_for_p1() {
    let iso = el10_fixture_iso();
    let image = fs::read(&iso).unwrap();
    let block = |n: usize| &image[n * 2048..(n + 1) * 2048];
    let vol_size = |n: usize| u32_le(block(n), 80);
    let kind = |n: usize| (block(n)[0], &block(n)[1..6]);
    // Whole-disk set: PVD, El Torito boot record, Joliet SVD, terminator.
    assert_eq!(kind(16), (1, &b"CD001"[..]));
    assert_eq!(kind(17), (0, &b"CD001"[..]));
    assert_eq!(&block(17)[7..30], b"EL TORITO SPECIFICATION");
    assert_eq!(kind(18), (2, &b"CD001"[..]));
    assert_eq!(kind(19), (255, &b"CD001"[..]));
    // Partition set: PVD, Joliet SVD, terminator (no boot record).
    assert_eq!(kind(32), (1, &b"CD001"[..]));
    assert_eq!(kind(33), (2, &b"CD001"[..]));
    assert_eq!(kind(34), (255, &b"CD001"[..]));

    let size_blocks = fs::metadata(&iso).unwrap().len() / 2048;
    let (p1_first, p1_last) = gpt_partition(&iso, 1);
    let (p2_first, _) = gpt_partition(&iso, 2);
    let p1_blocks = (p1_last - p1_first + 1) / 4;
    assert_eq!(vol_size(16), size_blocks, "whole-disk PVD = whole image");
    // xorriso 1.5.4 leaves the whole-disk Joliet SVD at the ISO data's end (= p2's start).
    assert_eq!(vol_size(18), p2_first / 4, "whole-disk Joliet SVD");
    assert_eq!(vol_size(32), p1_blocks, "partition PVD = p1");
    assert_eq!(vol_size(33), p1_blocks, "partition Joliet SVD = p1");
    assert_eq!(&block(16)[40..61], EL10_LABEL.as_bytes());
    assert_eq!(&block(32)[40..61], EL10_LABEL.as_bytes());

    // The partition view as its own image: same files, addresses −16.
    let scratch = scratch_dir();
    let p1 = scratch.path().join("p1.iso");
    fs::write(
        &p1,
        &image[p1_first as usize * 512..(p1_last as usize + 1) * 512],
    )
    .unwrap();
    let whole = file_extents(&iso);
    let part = file_extents(&p1);
    assert_eq!(whole.len(), part.len());
    assert!(whole.len() > 300, "{}", whole.len()); // boot/grub2/i386-pc is all there
    for ((wp, wl, ws), (pp, pl, ps)) in whole.iter().zip(&part) {
        assert_eq!((wp, wl - 16, ws), (pp, *pl, ps), "partition tree entry");
    }

    let (ok, out) = run_tool("checkisomd5", &[image_str(&iso)]);
    assert!(ok && out.contains("PASS"), "{out}");
    let (ok, out) = run_tool("checkisomd5", &[image_str(&p1)]);
    assert!(
        !ok && out.contains("No checksum information available"),
        "{out}"
    );
}

/// The tree lorax rhel10 grafts, and the ESP: partition 2 is the FAT image `efiboot.img`
/// (label ANACONDA) with the same EFI/BOOT files and grub.cfg as ISO 9660's EFI/BOOT.
#[test]
fn tree_and_esp_hold_what_lorax_puts_there() {
    let iso = el10_fixture_iso();
    let extents = file_extents(&iso);
    let paths: Vec<&str> = extents.iter().map(|e| e.0.as_str()).collect();
    for want in [
        "/.discinfo",
        "/boot/grub2/grub.cfg",
        "/boot/grub2/i386-pc/normal.mod",
        "/boot/grub2/i386-pc/linux.mod",
        "/boot/grub2/i386-pc/command.lst",
        "/images/eltorito.img",
        "/images/install.img",
        "/images/pxeboot/vmlinuz",
        "/images/pxeboot/initrd.img",
        "/EFI/BOOT/BOOTX64.EFI",
        "/EFI/BOOT/grubx64.efi",
        "/EFI/BOOT/mmx64.efi",
        "/EFI/BOOT/grub.cfg",
        "/EFI/BOOT/fonts/unicode.pf2",
    ] {
        assert!(paths.contains(&want), "{want} missing");
    }
    for p in &paths {
        assert!(
            !p.starts_with("/isolinux") && *p != "/images/efiboot.img" && *p != "/.treeinfo",
            "{p} must not be on lorax rhel10's boot.iso"
        );
    }

    let scratch = scratch_dir();
    let dir = scratch.path();
    let image = fs::read(&iso).unwrap();
    let (p2_first, p2_last) = gpt_partition(&iso, 2);
    let esp = &image[p2_first as usize * 512..(p2_last as usize + 1) * 512];
    assert_eq!(
        esp,
        fs::read(iso.with_file_name("efiboot.img")).unwrap(),
        "p2 = efiboot.img"
    );
    let esp_path = dir.join("esp.img");
    fs::write(&esp_path, esp).unwrap();
    let (ok, out) = run_tool("fsck.fat", &["-n", image_str(&esp_path)]);
    assert!(ok, "{out}");
    assert_eq!(&esp[43..54], b"ANACONDA   ", "FAT volume label");
    for f in [
        "EFI/BOOT/BOOTX64.EFI",
        "EFI/BOOT/grubx64.efi",
        "EFI/BOOT/mmx64.efi",
        "EFI/BOOT/grub.cfg",
        "EFI/BOOT/fonts/unicode.pf2",
    ] {
        let from_esp = dir.join("esp-file");
        let _ = fs::remove_file(&from_esp);
        let (ok, out) = run_tool(
            "mcopy",
            &[
                "-n",
                "-i",
                image_str(&esp_path),
                &format!("::/{f}"),
                image_str(&from_esp),
            ],
        );
        assert!(ok, "mcopy {f}: {out}");
        let from_iso = dir.join("iso-file");
        let _ = fs::remove_file(&from_iso);
        extract_from_iso(&iso, &format!("/{f}"), &from_iso);
        assert!(
            fs::read(&from_esp).unwrap() == fs::read(&from_iso).unwrap(),
            "{f}: ESP copy differs from the ISO 9660 copy"
        );
    }

    let discinfo = dir.join("discinfo");
    extract_from_iso(&iso, "/.discinfo", &discinfo);
    let discinfo = fs::read_to_string(discinfo).unwrap();
    let lines: Vec<&str> = discinfo.lines().collect();
    assert_eq!(lines[1..], ["10.0", "x86_64"], "{discinfo}");
}

/// The menus: lorax rhel10 grub2-bios.cfg / grub2-efi.cfg with the fixture's label.
#[test]
fn grub_menus_have_the_lorax_rhel10_shape() {
    let iso = el10_fixture_iso();
    let scratch = scratch_dir();
    let root = format!("inst.stage2=hd:LABEL={EL10_LABEL}");
    for (path, linux, initrd) in [
        ("/boot/grub2/grub.cfg", "linux", "initrd"),
        ("/EFI/BOOT/grub.cfg", "linuxefi", "initrdefi"),
    ] {
        let file = scratch.path().join("grub.cfg");
        let _ = fs::remove_file(&file);
        extract_from_iso(&iso, path, &file);
        let cfg = fs::read_to_string(&file).unwrap();
        assert!(cfg.starts_with("set default=\"1\"\n"), "{path}");
        assert!(
            cfg.contains(&format!("search --no-floppy --set=root -l '{EL10_LABEL}'")),
            "{path}"
        );
        let entries: Vec<&str> = cfg
            .lines()
            .filter_map(|l| l.trim().strip_prefix("menuentry '"))
            .filter_map(|l| l.split('\'').next())
            .collect();
        let mut want = vec![
            "Install Rocky Linux 10.0",
            "Test this media & install Rocky Linux 10.0",
            "Install Rocky Linux 10.0 in FIPS mode",
            "Install Rocky Linux 10.0 in basic graphics mode",
            "Rescue a Rocky Linux system",
        ];
        if linux == "linux" {
            want.extend(["Boot first drive", "Boot second drive"]);
            assert!(cfg.contains("insmod chain\n"), "{path}");
            assert!(cfg.contains("chainloader (hd0)+1"), "{path}");
        } else {
            assert!(!cfg.contains("chainloader"), "{path}");
        }
        assert_eq!(entries, want, "{path}");
        assert!(cfg.contains("submenu 'Troubleshooting -->' {"), "{path}");
        let kernels: Vec<&str> = cfg
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(&format!("{linux} ")))
            .collect();
        assert_eq!(kernels.len(), 5, "{path}");
        for k in &kernels {
            assert!(
                k.starts_with(&format!("{linux} /images/pxeboot/vmlinuz {root} ")),
                "{path}: {k}"
            );
        }
        assert!(kernels[1].contains(" rd.live.check "), "{path}");
        assert!(kernels[2].contains(" fips=1"), "{path}");
        assert!(kernels[3].contains(" nomodeset "), "{path}");
        assert!(kernels[4].contains(" inst.rescue "), "{path}");
        let initrds = cfg
            .lines()
            .filter(|l| l.trim() == format!("{initrd} /images/pxeboot/initrd.img"))
            .count();
        assert_eq!(initrds, 5, "{path}");
    }
}

/// What a pungi-style DVD build (`xorriso -indev boot.iso -outdev dvd.iso -boot_image any
/// replay -joliet on -map … images/efiboot.img`, reference §2 and §6) does to this layout — the
/// ground truth for a writer that must grow the image the same way. Observed with xorriso
/// 1.5.4: the ESP moves behind the grown ISO data and stays GPT p2 and the El Torito EFI
/// image; the grafted images/efiboot.img is a plain file no boot record names; eltorito.img
/// moves and all three BIOS pointers follow it, with `bi_pvd` written as 64; Gap1 is dropped;
/// the image runs 300 KiB past the backup GPT (sgdisk -v complains); both trees still name the
/// same extents; the implanted MD5 is gone.
#[test]
fn pungi_style_replay_keeps_the_chains_and_moves_the_esp() {
    let iso = el10_fixture_iso();
    let scratch = scratch_dir();
    let dvd = scratch.path().join("dvd.iso");
    let efiboot = iso.with_file_name("efiboot.img");
    let (ok, out) = run_tool(
        "xorriso",
        &[
            "-indev",
            image_str(&iso),
            "-outdev",
            image_str(&dvd),
            "-boot_image",
            "any",
            "replay",
            "-joliet",
            "on",
            "-map",
            image_str(&efiboot),
            "/images/efiboot.img",
        ],
    );
    assert!(ok, "{out}");
    let image = fs::read(&dvd).unwrap();
    let extents = file_extents(&dvd);
    let (in_tree, _) = lba_of(&extents, "/images/efiboot.img");

    let (p1_first, p1_last) = gpt_partition(&dvd, 1);
    let (p2_first, p2_last) = gpt_partition(&dvd, 2);
    let (old_p2_first, _) = gpt_partition(&iso, 2);
    assert_eq!(p1_first, 64);
    assert_eq!(p2_first, p1_last + 1);
    assert!(
        p2_first > old_p2_first,
        "the ESP moved behind the grown data"
    );
    assert_eq!(
        &image[p2_first as usize * 512..(p2_last as usize + 1) * 512],
        fs::read(&efiboot).unwrap(),
        "p2 = the same ESP"
    );
    let r = xorriso(
        &dvd,
        &["-report_el_torito", "plain", "-report_system_area", "plain"],
    );
    let imgs = rows(&r, "El Torito boot img ");
    assert_eq!(imgs[1][1], "UEFI", "{r}");
    assert_eq!(
        imgs[1][7],
        (p2_first / 4).to_string(),
        "EFI entry = new p2:\n{r}"
    );
    assert_ne!(imgs[1][7], in_tree.to_string(), "{r}");
    assert_eq!(
        rows(&r, "GPT partname local "),
        [["1", "ISO9660"], ["2", "Appended2"]],
        "Gap1 dropped:\n{r}"
    );
    assert_eq!(rows(&r, "Partition offset   "), [["16"]], "{r}");

    let (lba, _) = assert_grub2_bios_pointers(&dvd, &image, 64);
    let (old_lba, _) = lba_of(&file_extents(&iso), "/images/eltorito.img");
    assert_ne!(lba, old_lba, "eltorito.img moved");

    let (_, v) = run_tool("sgdisk", &["-v", image_str(&dvd)]);
    assert!(
        v.contains("secondary header's self-pointer indicates that it doesn't reside"),
        "{v}"
    );
    let pvd_blocks = u32_le(&image, 16 * 2048 + 80);
    assert_eq!(
        image.len() as u64 - pvd_blocks * 2048,
        300 * 1024,
        "tail past the volume"
    );
    assert_eq!(u32_le(&image, 32 * 2048 + 80), (p1_last - p1_first + 1) / 4);

    let p1 = scratch.path().join("p1.iso");
    fs::write(
        &p1,
        &image[p1_first as usize * 512..(p1_last as usize + 1) * 512],
    )
    .unwrap();
    let part = file_extents(&p1);
    assert_eq!(extents.len(), part.len());
    for ((wp, wl, ws), (pp, pl, ps)) in extents.iter().zip(&part) {
        assert_eq!((wp, wl - 16, ws), (pp, *pl, ps), "partition tree entry");
    }
    let (ok, out) = run_tool("checkisomd5", &[image_str(&dvd)]);
    assert!(
        !ok && out.contains("No checksum information available"),
        "replay drops the implanted MD5 (implantisomd5 must run again):\n{out}"
    );
}

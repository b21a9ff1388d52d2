//! The ISO reader against xorriso's own reports, on a lorax-like ISO built here and on the
//! real fixture; and hostile inputs (must error cleanly, never panic or hang).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod iso_support;

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use iso_support::*;
use remaster::iso::inspect::IsoReport;
use remaster::iso::{Image, NodeKind};

fn check_against_xorriso(iso: &Path) -> Image {
    let image = Image::open(File::open(iso).unwrap()).unwrap();

    // Every file's LBA and size.
    // xorriso lists the boot catalog as a boot pseudo-file, not as data.
    let catalog = image.boot_catalog.as_ref().and_then(|c| c.path.clone());
    let want = xorriso_lbas(iso);
    let mut got: Vec<(String, u32, u64)> = image
        .primary
        .files()
        .filter(|n| n.size > 0 && Some(&n.path) != catalog.as_ref())
        .map(|n| (format!("/{}", n.path), n.extents[0].lba, n.size))
        .collect();
    got.sort();
    let want: Vec<_> = want.into_iter().filter(|w| w.2 > 0).collect();
    assert_eq!(
        got, want,
        "file LBAs/sizes differ from xorriso -exec report_lba"
    );

    // The Joliet tree: as xorriso reads it (`-read_fs norock`), and the same extents as
    // the Rock Ridge names.
    if let Some(j) = &image.joliet {
        let want: Vec<_> = xorriso_lbas_with(iso, &["-read_fs", "norock"])
            .into_iter()
            .filter(|w| w.2 > 0)
            .collect();
        let mut got: Vec<(String, u32, u64)> = j
            .files()
            .filter(|n| n.size > 0 && Some(&n.path) != catalog.as_ref())
            .map(|n| (format!("/{}", n.path), n.extents[0].lba, n.size))
            .collect();
        got.sort();
        assert_eq!(
            got, want,
            "Joliet tree differs from xorriso -read_fs norock"
        );
        for n in j.files().filter(|n| n.size > 0) {
            let p = image
                .primary
                .find(&n.path)
                .unwrap_or_else(|| panic!("joliet /{} not in primary", n.path));
            assert_eq!(p.extents, n.extents, "/{}", n.path);
        }
    }

    let report = xorriso_boot_report(iso);
    // El Torito entries: platform, load size, LBA, path.
    let cat = image.boot_catalog.as_ref().expect("El Torito catalog");
    let imgs = fields(&report, "El Torito boot img");
    assert_eq!(imgs.len(), cat.entries.len(), "{report:?}");
    let paths = fields(&report, "El Torito img path");
    for (i, (x, e)) in imgs.iter().zip(&cat.entries).enumerate() {
        // N Pltf B Emul Ld_seg Hdpt Ldsiz LBA
        let pltf = match e.platform_id {
            0 => "BIOS",
            0xEF => "UEFI",
            _ => "?",
        };
        assert_eq!(x[1], pltf);
        assert_eq!(x[2], if e.bootable { "y" } else { "n" });
        assert_eq!(x[6].parse::<u16>().unwrap(), e.load_size);
        assert_eq!(x[7].parse::<u32>().unwrap(), e.lba);
        let xp = paths
            .iter()
            .find(|p| p[0] == (i + 1).to_string())
            .map(|p| p[1].clone());
        assert_eq!(xp, e.path.as_ref().map(|p| format!("/{p}")));
    }
    let cat_path = fields(&report, "El Torito cat path");
    assert_eq!(cat_path[0][0], format!("/{}", cat.path.as_deref().unwrap()));

    // MBR and GPT.
    let sa = &image.system_area;
    let mbr = fields(&report, "MBR partition :");
    assert_eq!(mbr.len(), sa.mbr.len());
    for (x, p) in mbr.iter().zip(&sa.mbr) {
        assert_eq!(x[0], p.number.to_string());
        assert_eq!(x[1], format!("{:#04x}", p.status));
        assert_eq!(x[2], format!("{:#04x}", p.part_type));
        assert_eq!(x[3], p.start.to_string());
        assert_eq!(x[4], p.sectors.to_string());
    }
    for x in fields(&report, "MBR partition path") {
        let p = sa
            .mbr
            .iter()
            .find(|p| p.number.to_string() == x[0])
            .unwrap();
        assert_eq!(Some(x[1].clone()), p.path.as_ref().map(|p| format!("/{p}")));
    }
    let gpt = sa.gpt.as_ref().expect("GPT");
    assert!(gpt.primary.header_crc_ok && gpt.primary.entries_crc_ok);
    let backup = gpt.backup.as_ref().expect("backup GPT");
    assert!(backup.header_crc_ok && backup.entries_crc_ok);
    let range = &fields(&report, "GPT lba range")[0];
    assert_eq!(
        range,
        &vec![
            gpt.primary.first_usable.to_string(),
            gpt.primary.last_usable.to_string(),
            gpt.primary.alternate_lba.to_string()
        ]
    );
    let parts = fields(&report, "GPT start and size");
    assert_eq!(parts.len(), gpt.partitions.len());
    for (x, p) in parts.iter().zip(&gpt.partitions) {
        assert_eq!(x[0], p.number.to_string());
        assert_eq!(x[1], p.first_lba.to_string());
        assert_eq!(x[2], (p.last_lba + 1 - p.first_lba).to_string());
    }
    for x in fields(&report, "GPT partition path") {
        let p = gpt
            .partitions
            .iter()
            .find(|p| p.number.to_string() == x[0])
            .unwrap();
        assert_eq!(Some(x[1].clone()), p.path.as_ref().map(|p| format!("/{p}")));
    }
    let size512 = &fields(&report, "ISO image size/512")[0][0];
    assert_eq!(size512.parse::<u64>().unwrap() * 512, image.volume_bytes());
    image
}

#[test]
fn reader_agrees_with_xorriso_on_a_lorax_like_iso() {
    let t = build_iso(0);
    let image = check_against_xorriso(&t.iso);
    assert_eq!(image.volume_id(), "Test-9-x86_64");
    assert!(image.primary.rock_ridge);
    assert!(image.joliet.is_some());
    // Hard links share one extent.
    let groups = image.hardlink_groups();
    assert!(
        groups.contains(&vec![
            "images/pxeboot/initrd.img".to_string(),
            "isolinux/initrd.img".to_string()
        ]),
        "{groups:?}"
    );
    assert_eq!(image.hardlinks_of("/isolinux/initrd.img").len(), 2);
    // Which file each boot structure is.
    let cat = image.boot_catalog.as_ref().unwrap();
    assert_eq!(
        cat.entries[0].path.as_deref(),
        Some("isolinux/isolinux.bin")
    );
    assert!(cat.entries[0].boot_info_table);
    assert_eq!(cat.entries[1].path.as_deref(), Some("images/efiboot.img"));
    let gpt = image.system_area.gpt.as_ref().unwrap();
    assert_eq!(
        gpt.partitions[1].path.as_deref(),
        Some("images/efiboot.img")
    );
    assert_eq!(
        image.system_area.mbr[1].path.as_deref(),
        Some("images/efiboot.img")
    );
    // Rock Ridge names, symlinks, deep paths; lookup and bounded reads.
    let mut f = File::open(&t.iso).unwrap();
    assert_eq!(
        image
            .read_file(&mut f, "isolinux/isolinux.cfg", 1 << 20)
            .unwrap(),
        ISOLINUX_CFG.as_bytes()
    );
    assert_eq!(
        image
            .read_file(&mut f, "/ISOLINUX/ISOLINUX.CFG", 1 << 20)
            .unwrap(),
        ISOLINUX_CFG.as_bytes()
    );
    assert!(
        image
            .read_file(&mut f, "isolinux/isolinux.cfg", 10)
            .is_err(),
        "cap must be enforced"
    );
    assert_eq!(
        image
            .read_file(&mut f, "deep/a/b/c/d/e/f/g/h/Deep File Name.txt", 100)
            .unwrap(),
        b"deep\n"
    );
    assert_eq!(image.read_file(&mut f, "empty.txt", 100).unwrap(), b"");
    let link = image.find("cfg-link").unwrap();
    assert_eq!(link.kind, NodeKind::Symlink);
    assert_eq!(link.symlink.as_deref(), Some("isolinux/isolinux.cfg"));
    let initrd = image
        .read_file(&mut f, "images/pxeboot/initrd.img", 1 << 20)
        .unwrap();
    assert_eq!(
        initrd,
        std::fs::read(t.tree.join("isolinux/initrd.img")).unwrap()
    );
    // The report serialises and says the md5 field is absent.
    let report = IsoReport::from_image(&image);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["md5"]["present"], false);
    assert_eq!(json["label"], "Test-9-x86_64");
    assert!(json["boot_files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "/isolinux/initrd.img"));
    let mut human = Vec::new();
    remaster::report::Report::human(&report, &mut human).unwrap();
    assert!(String::from_utf8(human)
        .unwrap()
        .contains("images/efiboot.img"));
}

#[test]
fn md5_field_presence_is_reported() {
    let t = build_iso(0);
    run(std::process::Command::new("implantisomd5").arg(&t.iso));
    let image = Image::open(File::open(&t.iso).unwrap()).unwrap();
    let report = IsoReport::from_image(&image);
    assert!(report.md5.present, "{:?}", report.md5);
    assert!(report.md5.text.unwrap().starts_with("ISO MD5SUM = "));
}

#[test]
fn inspect_reads_only_metadata_of_a_large_iso() {
    let t = build_iso(64 << 20);
    let image = Image::open(File::open(&t.iso).unwrap()).unwrap();
    assert!(image.file_len > 64 << 20);
    assert!(
        image.bytes_read < 512 << 10,
        "read {} bytes",
        image.bytes_read
    );
    assert_eq!(image.find("images/install.img").unwrap().size, 64 << 20);
}

#[test]
fn not_an_iso_and_truncated_images_are_clean_errors() {
    let junk = noise(200_000, 9);
    let err = Image::open(Cursor::new(junk)).unwrap_err().to_string();
    assert!(err.contains("not an ISO 9660 image"), "{err}");
    assert!(!err.contains('\n'));
    assert!(Image::open(Cursor::new(vec![0u8; 100])).is_err());

    let t = build_iso(0);
    let bytes = std::fs::read(&t.iso).unwrap();
    for cut in [17 * 2048, 20 * 2048 + 100, bytes.len() / 3, bytes.len() / 2] {
        let err = Image::open(Cursor::new(bytes[..cut].to_vec()))
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
    }
    let err = Image::open(Cursor::new(bytes[..bytes.len() / 2].to_vec()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
}

fn patch_le32_both(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn directory_loops_and_bad_catalogs_are_clean_errors() {
    let t = build_iso(0);
    let bytes = std::fs::read(&t.iso).unwrap();
    let image = Image::open(Cursor::new(bytes.clone())).unwrap();
    // Point /isolinux's record at the root directory: a loop.
    let iso_dir = image.find("isolinux").unwrap();
    let root_lba = image.primary.nodes[0].extents[0].lba;
    let mut looped = bytes.clone();
    patch_le32_both(&mut looped, iso_dir.records[0] as usize + 2, root_lba);
    let err = Image::open(Cursor::new(looped)).unwrap_err().to_string();
    assert!(err.contains("loop"), "{err}");
    // A directory pointing past the end.
    let mut past = bytes.clone();
    patch_le32_both(&mut past, iso_dir.records[0] as usize + 2, 0x00FF_FFFF);
    let err = Image::open(Cursor::new(past)).unwrap_err().to_string();
    assert!(
        err.contains("truncated") || err.contains("ends at"),
        "{err}"
    );
    // A file extent past the end.
    let cfg = image.find("isolinux/isolinux.cfg").unwrap();
    let mut past = bytes.clone();
    patch_le32_both(&mut past, cfg.records[0] as usize + 2, 0x0FFF_FFFF);
    assert!(Image::open(Cursor::new(past)).is_err());
    // El Torito catalog outside the image.
    let mut cat = bytes.clone();
    let br = 17 * 2048 + 71;
    cat[br..br + 4].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let err = Image::open(Cursor::new(cat)).unwrap_err().to_string();
    assert!(err.contains("El Torito"), "{err}");
    // A boot entry pointing outside.
    let cat_lba = image.boot_catalog.as_ref().unwrap().lba as usize;
    let mut entry = bytes.clone();
    let at = cat_lba * 2048 + 32 + 8;
    entry[at..at + 4].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let err = Image::open(Cursor::new(entry)).unwrap_err().to_string();
    assert!(err.contains("outside"), "{err}");
}

#[test]
fn random_damage_to_metadata_never_panics() {
    let t = build_iso(0);
    let bytes = std::fs::read(&t.iso).unwrap();
    let image = Image::open(Cursor::new(bytes.clone())).unwrap();
    // Metadata sectors: system area, descriptors, catalog, directories, path tables.
    let mut sectors: Vec<usize> = (0..20).collect();
    sectors.extend(
        image
            .primary
            .dir_extents
            .iter()
            .map(|(_, e)| e.lba as usize),
    );
    sectors.extend(
        image
            .joliet
            .as_ref()
            .unwrap()
            .dir_extents
            .iter()
            .map(|(_, e)| e.lba as usize),
    );
    sectors.push(image.boot_catalog.as_ref().unwrap().lba as usize);
    let rnd = noise(4 * 3000, 77);
    for i in 0..3000 {
        let r = &rnd[i * 4..i * 4 + 4];
        let mut b = bytes.clone();
        for k in 0..1 + (r[3] % 4) as usize {
            let s = sectors[(r[0] as usize + k * 7) % sectors.len()];
            let off = s * 2048 + (u16::from_le_bytes([r[1], r[2]]) as usize + k * 131) % 2048;
            b[off] ^= r[3] | 1;
        }
        if let Err(e) = Image::open(Cursor::new(b)) {
            assert!(!e.to_string().contains('\n'));
        }
    }
}

#[test]
fn reader_agrees_with_xorriso_on_the_fixture() {
    let iso = fixture_iso();
    let image = check_against_xorriso(&iso);
    assert_eq!(image.volume_id(), "Rocky-9-2-x86_64-dvd");
    assert_eq!(
        image.hardlinks_of("isolinux/initrd.img"),
        vec!["images/pxeboot/initrd.img", "isolinux/initrd.img"]
    );
    assert!(IsoReport::from_image(&image).md5.present);
    assert!(
        image.bytes_read < 1 << 20,
        "read {} bytes",
        image.bytes_read
    );
}

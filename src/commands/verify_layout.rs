//! `verify`'s checks of media with the ESP appended behind partition 1 and a partition-1
//! directory tree (EL10 / Fedora 37+, reference el10-boot-iso-layout.md §5–§6): the GRUB2
//! BIOS pointers, the El Torito EFI entry against GPT p2, every file inside p1, and the two
//! views naming the same extents. What lorax, xorriso's `-boot_image any replay` and remaster
//! write all pass; each structure left stale fails one line.

use std::io::{Read, Seek};

use crate::iso::dir::Tree;
use crate::iso::format::{eltorito, le64_opt, mbr};
use crate::iso::{read_at, Image, SECTOR};
use crate::layout::{BiosChain, BootLayout, EfiImage};

/// The EFI system partition's GPT type.
const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// One check: (name, ok, detail).
pub(super) type Check = (&'static str, bool, String);

/// Whether an El Torito entry that names no file is the layout's appended ESP, exactly.
pub(super) fn is_appended_esp(layout: Option<&BootLayout>, lba: u32, load_size: u16) -> bool {
    match layout.and_then(|l| l.efi.as_ref()) {
        Some(EfiImage::Partition { offset, len, .. }) => {
            u64::from(lba) * SECTOR == *offset && esp_size_matches(load_size, *len)
        }
        _ => false,
    }
}

/// The entry's sector count against the partition's size (xorriso writes the size when it
/// fits the 16-bit field, else the field cannot hold it and firmware reads the partition).
fn esp_size_matches(load_size: u16, len: u64) -> bool {
    let sectors = len / 512;
    u64::from(load_size) == sectors || (sectors > 0xFFFF && load_size == 0xFFFF)
}

/// The GRUB2 BIOS chain's three pointers at `images/eltorito.img`: the boot-info table's
/// `bi_file` (its LBA), `--grub2-boot-info` (u64 at 2548 = 4 × LBA + 5) and the MBR code's
/// u64 at 0x1B0 (4 × LBA + 4). `bi_pvd` is not checked: xorriso's replay writes 64 and
/// GRUB ignores it.
pub(super) fn grub2_checks<R: Read + Seek>(
    image: &Image,
    r: &mut R,
    layout: &BootLayout,
) -> Vec<Check> {
    let Some(BiosChain::Grub2 { image: path }) = &layout.bios else {
        return Vec::new();
    };
    let Some(lba) = image
        .boot_catalog
        .iter()
        .flat_map(|c| c.entries.iter())
        .find(|e| e.path.as_deref() == Some(path.as_str()))
        .map(|e| u64::from(e.lba))
    else {
        return vec![(
            "grub2-boot-info",
            false,
            format!("no El Torito entry boots {path}"),
        )];
    };
    let core_len = eltorito::GRUB2_BOOT_INFO + 8;
    let core = read_at(r, lba * SECTOR, core_len, image.file_len, "GRUB core image").ok();
    let mbr = read_at(r, 0, mbr::LEN, image.file_len, "MBR").ok();
    let bi_file = core
        .as_ref()
        .and_then(|c| crate::iso::format::bytes_at(c, eltorito::BOOT_INFO_FILE))
        .map(u32::from_le_bytes);
    let grub2 = core
        .as_ref()
        .and_then(|c| le64_opt(c, eltorito::GRUB2_BOOT_INFO));
    let mbr_ptr = mbr.as_ref().and_then(|m| mbr::boot_image_pointer(m));
    let ok = bi_file.map(u64::from) == Some(lba)
        && grub2 == Some(lba * 4 + 5)
        && mbr_ptr == Some(lba * 4 + 4);
    let show = |v: Option<u64>| v.map_or_else(|| "unreadable".to_string(), |v| v.to_string());
    vec![(
        "grub2-boot-info",
        ok,
        format!(
            "/{path} at block {lba}: boot-info bi_file {}, --grub2-boot-info {} (want {}), MBR u64 at 0x1B0 {} (want {}){}",
            show(bi_file.map(u64::from)),
            show(grub2),
            lba * 4 + 5,
            show(mbr_ptr),
            lba * 4 + 4,
            if ok { "" } else { ": a stick or CD would not find GRUB's core" }
        ),
    )]
}

/// The partition-1 view: p1 holds every file, both views name the same extents, the view's
/// volume size is p1's; and the El Torito EFI entry is exactly p2.
pub(super) fn partition_checks(image: &Image, layout: Option<&BootLayout>) -> Vec<Check> {
    let mut out = Vec::new();
    // The appended ESP: a GPT ESP that is no file of the tree (found without the layout,
    // which a wrong EFI entry keeps from being recognised).
    let esp = image
        .system_area
        .gpt
        .iter()
        .flat_map(|g| g.partitions.iter())
        .find(|p| p.path.is_none() && p.type_guid.eq_ignore_ascii_case(ESP_GUID));
    if let (Some(p), Some(_)) = (esp, &image.partition) {
        let (offset, len) = (p.first_lba * 512, (p.last_lba + 1 - p.first_lba) * 512);
        let entry = image
            .boot_catalog
            .iter()
            .flat_map(|c| c.entries.iter())
            .find(|e| e.path.is_none() && e.platform_id == 0xEF);
        let ok = entry.is_some_and(|e| {
            u64::from(e.lba) * SECTOR == offset && esp_size_matches(e.load_size, len)
        });
        out.push((
            "efi-entry",
            ok,
            match entry {
                Some(e) => format!(
                    "El Torito EFI entry: block {} ({} sectors); GPT p{}: block {} ({} sectors){}",
                    e.lba,
                    e.load_size,
                    p.number,
                    offset / SECTOR,
                    len / 512,
                    if ok { "" } else { ": they differ, a UEFI CD boot would not find the ESP" }
                ),
                None => format!(
                    "no El Torito EFI entry points at the appended ESP (GPT p{}): UEFI CD boots fail",
                    p.number
                ),
            },
        ));
    }
    let Some(view) = &image.partition else {
        if layout.is_some_and(|l| l.partition_tree) {
            out.push((
                "partition-tree",
                false,
                "GPT p1 starts at block 16 but holds no ISO 9660 descriptor set".into(),
            ));
        }
        return out;
    };
    let p1 = image
        .system_area
        .gpt
        .iter()
        .flat_map(|g| g.partitions.iter())
        .find(|p| p.first_lba == u64::from(view.block_offset) * 4);
    let Some(p1) = p1 else {
        return out;
    };
    let p1_end = (p1.last_lba + 1) * 512;
    let past: Vec<String> = [Some(&image.primary), image.joliet.as_ref()]
        .into_iter()
        .flatten()
        .flat_map(|t| t.files())
        .filter(|n| {
            n.extents
                .iter()
                .any(|e| e.len > 0 && e.offset() + u64::from(e.len) > p1_end)
        })
        .map(|n| format!("/{}", n.path))
        .collect();
    out.push((
        "partition-1",
        past.is_empty(),
        if past.is_empty() {
            format!("every file lies inside GPT p1 (sectors {}..{})", p1.first_lba, p1.last_lba)
        } else {
            format!(
                "{} past the end of GPT p1 (sector {}): Linux cannot read them from a stick's partition",
                past.join(", "),
                p1.last_lba
            )
        },
    ));
    let mut differ = differences(&image.primary, &view.primary);
    match (&image.joliet, &view.joliet) {
        (Some(a), Some(b)) => differ.extend(differences(a, b)),
        (None, None) => {}
        _ => differ.push("one view has a Joliet tree, the other none".into()),
    }
    let p1_blocks = (p1.last_lba + 1 - p1.first_lba) / 4;
    let size_ok = u64::from(view.pvd_volume_space_size) == p1_blocks;
    if !size_ok {
        differ.push(format!(
            "the partition view's volume size is {} blocks, p1 has {p1_blocks}",
            view.pvd_volume_space_size
        ));
    }
    out.push((
        "partition-tree",
        differ.is_empty(),
        if differ.is_empty() {
            format!(
                "the partition-1 view (descriptors at block {}) names the same extents as the whole-disk trees; its volume size is p1's. It carries no isomd5sum (checkisomd5 on partition 1 says NA; the whole image's passes)",
                view.block_offset + 16
            )
        } else {
            let n = differ.len();
            differ.truncate(5);
            format!(
                "the partition-1 view and the whole-disk trees disagree ({n}): {}: a stick shows Linux other files than the CD",
                differ.join("; ")
            )
        },
    ));
    out
}

/// Paths whose extents differ between two trees of the same kind (absolute addresses).
fn differences(whole: &Tree, part: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for n in whole.files() {
        match part.find(&n.path) {
            Some(m) if m.extents == n.extents || n.size == 0 && m.size == 0 => {}
            Some(m) => out.push(format!(
                "/{}: block {} ({} bytes) vs {} ({} bytes)",
                n.path,
                n.extents.first().map_or(0, |e| e.lba),
                n.size,
                m.extents.first().map_or(0, |e| e.lba),
                m.size
            )),
            None => out.push(format!("/{} only in the whole-disk tree", n.path)),
        }
    }
    for m in part.files() {
        if whole.find(&m.path).is_none() {
            out.push(format!("/{} only in the partition tree", m.path));
        }
    }
    out
}

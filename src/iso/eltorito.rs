//! The El Torito boot catalog (validation entry, default entry, sections) and which file
//! each boot image is. The entry layout is `format::eltorito`, shared with the writer.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::{Read, Seek};

use super::dir::Tree;
use super::format::eltorito::{self as fmt, CatalogEntry, ENTRY_LEN};
use super::format::iso9660::FIRST_DESCRIPTOR_SECTOR;
use super::format::le32;
use super::{read_at, IsoError, SECTOR};

/// Platform ids of El Torito.
pub fn platform_name(id: u8) -> &'static str {
    match id {
        0x00 => "bios",
        0x01 => "ppc",
        0x02 => "mac",
        0xEF => "uefi",
        _ => "other",
    }
}

/// One boot entry (default or section entry).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootEntry {
    /// Platform id of the validation entry (default) or section header.
    pub platform_id: u8,
    pub platform: &'static str,
    pub bootable: bool,
    /// Boot media type: 0 no emulation, 1–3 floppy, 4 hard disk.
    pub emulation: u8,
    pub load_segment: u16,
    pub system_type: u8,
    /// Sector count in 512-byte units.
    pub load_size: u16,
    /// First 2048-byte sector of the boot image.
    pub lba: u32,
    /// Absolute byte offset of the 32-byte entry in the catalog.
    pub entry_offset: u64,
    /// Path of the file whose extent starts at `lba`, if any.
    pub path: Option<String>,
    /// Whether the image carries an isolinux boot-info table (bytes 8..16 = PVD 16, own LBA).
    pub boot_info_table: bool,
}

/// The catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootCatalog {
    pub lba: u32,
    /// Path of the catalog file (e.g. `isolinux/boot.cat`), if the tree names it.
    pub path: Option<String>,
    /// Platform id and id string of the validation entry.
    pub validation_platform: u8,
    pub id_string: String,
    /// Default entry first, then section entries.
    pub entries: Vec<BootEntry>,
}

/// Most catalog sectors read.
const MAX_CATALOG_SECTORS: usize = 4;

fn path_at(tree: &Tree, lba: u32) -> Option<String> {
    tree.files()
        .find(|n| n.extents.first().is_some_and(|e| e.lba == lba))
        .map(|n| n.path.clone())
}

/// Parses the boot catalog at `lba`.
pub fn read_catalog<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    lba: u32,
    tree: &Tree,
) -> Result<BootCatalog, IsoError> {
    const MAX_CATALOG_BYTES: u64 = MAX_CATALOG_SECTORS as u64 * SECTOR;
    let base = u64::from(lba).saturating_mul(SECTOR);
    let avail = file_len.saturating_sub(base).min(MAX_CATALOG_BYTES);
    if avail < fmt::FIRST_SECTION as u64 {
        return Err(IsoError::malformed(
            "El Torito catalog",
            base,
            format!("sector {lba} lies outside the {file_len}-byte image"),
        ));
    }
    let buf = read_at(r, base, avail as usize, file_len, "El Torito catalog")?;
    let entry_at = |pos: usize| -> Option<&[u8; ENTRY_LEN]> {
        buf.get(pos..pos.checked_add(ENTRY_LEN)?)?.try_into().ok()
    };
    let no_validation = || IsoError::malformed("El Torito catalog", base, "no validation entry");
    let v = entry_at(0).ok_or_else(no_validation)?;
    if v.first() != Some(&fmt::VALIDATION_HEADER_ID)
        || v.get(fmt::VALIDATION_KEY) != Some(fmt::VALIDATION_KEY_BYTES.as_slice())
    {
        return Err(IsoError::malformed(
            "El Torito catalog",
            base,
            "no validation entry",
        ));
    }
    if !fmt::validation_ok(v) {
        return Err(IsoError::malformed(
            "El Torito catalog",
            base,
            "validation entry checksum is wrong",
        ));
    }
    let validation_platform = v.get(fmt::VALIDATION_PLATFORM).copied().unwrap_or(0);
    let mut cat = BootCatalog {
        lba,
        path: path_at(tree, lba),
        validation_platform,
        id_string: String::from_utf8_lossy(v.get(fmt::VALIDATION_ID_STRING).unwrap_or_default())
            .trim_end_matches(['\0', ' '])
            .to_string(),
        entries: Vec::new(),
    };
    let entry = |e: &[u8; ENTRY_LEN], platform: u8, at: usize| {
        let e = CatalogEntry(e);
        BootEntry {
            platform_id: platform,
            platform: platform_name(platform),
            bootable: e.bootable(),
            emulation: e.emulation(),
            load_segment: e.load_segment(),
            system_type: e.system_type(),
            load_size: e.sector_count(),
            lba: e.load_rba(),
            entry_offset: base.saturating_add(at as u64),
            path: path_at(tree, e.load_rba()),
            boot_info_table: false,
        }
    };
    let default = entry_at(fmt::DEFAULT_ENTRY).ok_or_else(no_validation)?;
    cat.entries
        .push(entry(default, validation_platform, fmt::DEFAULT_ENTRY));
    // Sections: header 0x90 (more follow) / 0x91 (last), then its entries; 0x44 extensions.
    let mut pos = fmt::FIRST_SECTION;
    let mut platform = validation_platform;
    let mut last_section = false;
    while let Some(e) = entry_at(pos) {
        match CatalogEntry(e).indicator() {
            h @ (fmt::SECTION_HEADER_MORE | fmt::SECTION_HEADER_LAST) => {
                platform = e.get(fmt::SECTION_PLATFORM).copied().unwrap_or(0);
                last_section = h == fmt::SECTION_HEADER_LAST;
            }
            fmt::BOOTABLE | fmt::NOT_BOOTABLE if e.iter().any(|&b| b != 0) => {
                cat.entries.push(entry(e, platform, pos));
            }
            fmt::SECTION_EXTENSION => {}
            _ => {
                if last_section || e.iter().all(|&b| b == 0) {
                    break;
                }
            }
        }
        pos = pos.saturating_add(ENTRY_LEN);
    }
    // Boot-info table (mkisofs -boot-info-table): bytes 8..12 = PVD sector, 12..16 = own LBA.
    for e in &mut cat.entries {
        let at = u64::from(e.lba).saturating_mul(SECTOR);
        if at >= file_len {
            return Err(IsoError::malformed(
                "El Torito catalog",
                e.entry_offset,
                format!("boot entry points at sector {} outside the image", e.lba),
            ));
        }
        let span = fmt::BOOT_INFO_SPAN;
        if e.emulation == 0 && at.saturating_add(span as u64) <= file_len && e.lba != 0 {
            let head = read_at(r, at, span, file_len, "boot image")?;
            e.boot_info_table = le32(&head, fmt::BOOT_INFO_PVD) == FIRST_DESCRIPTOR_SECTOR
                && le32(&head, fmt::BOOT_INFO_FILE) == e.lba;
        }
    }
    Ok(cat)
}

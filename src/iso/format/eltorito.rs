//! El Torito (1995): the boot record volume descriptor, the 32-byte catalog entries, and
//! the fields boot images carry about themselves (the mkisofs boot-info table, GRUB2's
//! `--grub2-boot-info`).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::ops::Range;

use super::{le16, le32};

/// Boot system identifier of an El Torito boot record (bytes 7..30 of the descriptor).
pub const BOOT_SYSTEM_ID: Range<usize> = 7..30;
pub const EL_TORITO_ID: &[u8; 23] = b"EL TORITO SPECIFICATION";
/// LBA of the boot catalog in the boot record (little-endian u32).
pub const CATALOG_POINTER: usize = 71;

/// Every catalog entry is 32 bytes: the validation entry, the initial/default entry, then
/// section headers and their entries.
pub const ENTRY_LEN: usize = 32;
pub const DEFAULT_ENTRY: usize = 32;
pub const FIRST_SECTION: usize = 64;

/// Validation entry: header id 0x01, platform, id string, checksum, key 0x55 0xAA.
pub const VALIDATION_HEADER_ID: u8 = 0x01;
pub const VALIDATION_PLATFORM: usize = 1;
pub const VALIDATION_ID_STRING: Range<usize> = 4..28;
pub const VALIDATION_KEY: Range<usize> = 30..32;
pub const VALIDATION_KEY_BYTES: [u8; 2] = [0x55, 0xAA];

/// Initial/default and section entries: boot indicator, media type, load segment, system
/// type, sector count (512-byte units), load RBA (the image's first 2048-byte sector).
pub const BOOT_INDICATOR: usize = 0;
pub const BOOTABLE: u8 = 0x88;
pub const NOT_BOOTABLE: u8 = 0x00;
pub const MEDIA_TYPE: usize = 1;
pub const MEDIA_TYPE_MASK: u8 = 0x0F;
pub const LOAD_SEGMENT: usize = 2;
pub const SYSTEM_TYPE: usize = 4;
pub const SECTOR_COUNT: usize = 6;
pub const LOAD_RBA: usize = 8;

/// Section header: 0x90 (more follow) / 0x91 (last), platform id at byte 1.
pub const SECTION_HEADER_MORE: u8 = 0x90;
pub const SECTION_HEADER_LAST: u8 = 0x91;
pub const SECTION_PLATFORM: usize = 1;
/// Section entry extension.
pub const SECTION_EXTENSION: u8 = 0x44;

/// The boot-info table (mkisofs / xorriso `-boot-info-table`) inside a no-emulation image:
/// the PVD's sector and the image's own LBA (little-endian u32 each).
pub const BOOT_INFO_PVD: usize = 8;
pub const BOOT_INFO_FILE: usize = 12;
/// Bytes of the image that hold the boot-info table.
pub const BOOT_INFO_SPAN: usize = 64;
/// GRUB2's `--grub2-boot-info`: a little-endian u64 at byte 2548 of the core image
/// (`i386-pc-eltorito`), 4 × the image's LBA + 5.
pub const GRUB2_BOOT_INFO: usize = 2548;

/// Whether a 32-byte entry is a valid validation entry (ids, key and zero checksum).
pub fn validation_ok(v: &[u8; ENTRY_LEN]) -> bool {
    let sum = v.chunks_exact(2).fold(0u16, |s, c| {
        s.wrapping_add(u16::from_le_bytes(c.try_into().unwrap_or([0; 2])))
    });
    v.first() == Some(&VALIDATION_HEADER_ID)
        && v.get(VALIDATION_KEY) == Some(VALIDATION_KEY_BYTES.as_slice())
        && sum == 0
}

/// A default or section entry, decoded on demand.
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry<'a>(pub &'a [u8; ENTRY_LEN]);

impl CatalogEntry<'_> {
    pub fn indicator(&self) -> u8 {
        self.0.get(BOOT_INDICATOR).copied().unwrap_or(0)
    }
    pub fn bootable(&self) -> bool {
        self.indicator() == BOOTABLE
    }
    /// Boot media type: 0 no emulation, 1–3 floppy, 4 hard disk.
    pub fn emulation(&self) -> u8 {
        self.0.get(MEDIA_TYPE).copied().unwrap_or(0) & MEDIA_TYPE_MASK
    }
    pub fn load_segment(&self) -> u16 {
        le16(self.0, LOAD_SEGMENT)
    }
    pub fn system_type(&self) -> u8 {
        self.0.get(SYSTEM_TYPE).copied().unwrap_or(0)
    }
    pub fn sector_count(&self) -> u16 {
        le16(self.0, SECTOR_COUNT)
    }
    pub fn load_rba(&self) -> u32 {
        le32(self.0, LOAD_RBA)
    }
}

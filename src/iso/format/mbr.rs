//! The MBR of a hybrid image: four 16-byte partition entries at 446, the 0x55AA signature,
//! and the pointer GRUB2's `boot_hybrid.img` keeps to its core image.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{bytes_at, le32, le64_opt};

/// GRUB2's `boot_hybrid.img`: a little-endian u64 at 0x1B0, 4 × the core image's LBA + 4.
pub const BOOT_IMAGE_POINTER: usize = 0x1B0;
/// The partition table: four entries of 16 bytes.
pub const PARTITION_TABLE: usize = 446;
pub const ENTRY_LEN: usize = 16;
pub const ENTRIES: usize = 4;
/// Boot signature at 510..512.
pub const SIGNATURE: std::ops::Range<usize> = 510..512;
pub const SIGNATURE_BYTES: [u8; 2] = [0x55, 0xAA];
/// Bytes of the MBR sector.
pub const LEN: usize = 512;

/// Entry fields: status, CHS of the first sector, type, CHS of the last sector, first LBA,
/// sector count.
pub const STATUS: usize = 0;
pub const CHS_FIRST: std::ops::Range<usize> = 1..4;
pub const TYPE: usize = 4;
pub const CHS_LAST: std::ops::Range<usize> = 5..8;
pub const START: usize = 8;
pub const SECTORS: usize = 12;
/// Partition types.
pub const TYPE_EMPTY: u8 = 0x00;
pub const TYPE_EFI: u8 = 0xEF;
pub const TYPE_PROTECTIVE: u8 = 0xEE;

/// The CHS geometry xorriso and isohybrid write (64 heads, 32 sectors per track).
pub const HYBRID_HEADS: u64 = 64;
pub const HYBRID_SECTORS: u64 = 32;

/// Byte offset of entry `i` (0..4) in the MBR.
pub fn entry_offset(i: usize) -> usize {
    i.saturating_mul(ENTRY_LEN).saturating_add(PARTITION_TABLE)
}

/// Whether the MBR sector carries the 0x55AA signature.
pub fn has_signature(mbr: &[u8]) -> bool {
    mbr.get(SIGNATURE) == Some(SIGNATURE_BYTES.as_slice())
}

/// GRUB2's pointer at [`BOOT_IMAGE_POINTER`], if the sector holds it.
pub fn boot_image_pointer(mbr: &[u8]) -> Option<u64> {
    le64_opt(mbr, BOOT_IMAGE_POINTER)
}

/// One partition entry, decoded; [`Entry::encode`] gives back the same 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub status: u8,
    pub chs_first: [u8; 3],
    pub part_type: u8,
    pub chs_last: [u8; 3],
    pub start: u32,
    pub sectors: u32,
}

impl Entry {
    /// Entry `i` of an MBR sector, if the sector holds it.
    pub fn read(mbr: &[u8], i: usize) -> Option<Entry> {
        Some(Entry::decode(&bytes_at::<ENTRY_LEN>(mbr, entry_offset(i))?))
    }

    pub fn decode(e: &[u8; ENTRY_LEN]) -> Entry {
        let byte = |at: usize| e.get(at).copied().unwrap_or(0);
        Entry {
            status: byte(STATUS),
            chs_first: bytes_at(e, CHS_FIRST.start).unwrap_or_default(),
            part_type: byte(TYPE),
            chs_last: bytes_at(e, CHS_LAST.start).unwrap_or_default(),
            start: le32(e, START),
            sectors: le32(e, SECTORS),
        }
    }

    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut e = [0u8; ENTRY_LEN];
        super::put(&mut e, STATUS, &[self.status]);
        super::put(&mut e, CHS_FIRST.start, &self.chs_first);
        super::put(&mut e, TYPE, &[self.part_type]);
        super::put(&mut e, CHS_LAST.start, &self.chs_last);
        super::set_le32(&mut e, START, self.start);
        super::set_le32(&mut e, SECTORS, self.sectors);
        e
    }
}

/// Encodes an LBA as MBR CHS bytes for a geometry (`heads`, `sectors` per track);
/// beyond cylinder 1023 the conventional maximum is written.
pub fn chs_bytes(lba: u64, heads: u64, sectors: u64) -> [u8; 3] {
    if heads == 0 || sectors == 0 {
        return [0xFE, 0xFF, 0xFF];
    }
    let Some(cyl) = lba.checked_div(heads.saturating_mul(sectors)) else {
        return [0xFE, 0xFF, 0xFF];
    };
    if cyl > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    // heads and sectors are non-zero (checked above).
    let head = lba
        .checked_div(sectors)
        .unwrap_or(0)
        .checked_rem(heads)
        .unwrap_or(0);
    let sec = lba.checked_rem(sectors).unwrap_or(0).saturating_add(1);
    [
        head as u8,
        (sec as u8 & 0x3F) | (((cyl >> 8) as u8 & 0x03) << 6),
        cyl as u8,
    ]
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index sectors they built
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips() {
        let raw: [u8; 16] = [0x80, 0, 1, 0, 0x00, 63, 32, 50, 0, 0, 0, 0, 0, 0x96, 1, 0];
        let e = Entry::decode(&raw);
        assert_eq!(
            (e.status, e.part_type, e.start, e.sectors),
            (0x80, 0, 0, 0x19600)
        );
        assert_eq!(e.chs_last, [63, 32, 50]);
        assert_eq!(e.encode(), raw);
        let mut mbr = vec![0u8; 512];
        mbr[entry_offset(1)..entry_offset(2)].copy_from_slice(&raw);
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        assert!(has_signature(&mbr));
        assert_eq!(Entry::read(&mbr, 1), Some(e));
        assert_eq!(Entry::read(&mbr, 4), None);
    }

    #[test]
    fn chs_of_xorriso_geometry() {
        assert_eq!(chs_bytes(0, 64, 32), [0, 1, 0]);
        assert_eq!(chs_bytes(64 * 32 * 1024, 64, 32), [0xFE, 0xFF, 0xFF]);
    }
}

//! The GUID partition table (UEFI 2.x §5.3): header fields, entry fields, the header CRC,
//! and the primary / backup header pair the writer rebuilds when an image grows.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::ops::Range;

use super::{bytes_at, le32, le64, set_le32, set_le64};

/// GPT addresses count 512-byte sectors here (hybrid ISOs use 512-byte LBAs).
pub const LBA_BYTES: u64 = 512;
/// The primary header is in LBA 1: bytes 512..1024 of the image (after the MBR).
pub const PRIMARY_HEADER_LBA: u64 = 1;
pub const PRIMARY_HEADER: Range<usize> = 512..1024;
/// Bytes of a header sector.
pub const HEADER_SECTOR_LEN: usize = 512;

/// Header fields.
pub const SIGNATURE: Range<usize> = 0..8;
pub const SIGNATURE_BYTES: &[u8; 8] = b"EFI PART";
pub const HEADER_SIZE: usize = 12;
pub const HEADER_CRC: usize = 16;
pub const MY_LBA: usize = 24;
pub const ALTERNATE_LBA: usize = 32;
pub const FIRST_USABLE: usize = 40;
pub const LAST_USABLE: usize = 48;
pub const DISK_GUID: usize = 56;
pub const ENTRIES_LBA: usize = 72;
pub const NUM_ENTRIES: usize = 80;
pub const ENTRY_SIZE: usize = 84;
pub const ENTRIES_CRC: usize = 88;
/// Smallest header (the fields above); the CRC covers `HEADER_SIZE` bytes.
pub const MIN_HEADER_SIZE: usize = 92;

/// Entry fields.
pub const TYPE_GUID: usize = 0;
pub const UNIQUE_GUID: usize = 16;
pub const FIRST_LBA: usize = 32;
pub const LAST_LBA: usize = 40;
pub const ATTRIBUTES: usize = 48;
pub const NAME: Range<usize> = 56..128;
/// Smallest entry.
pub const MIN_ENTRY_SIZE: usize = 128;

/// Whether the sector starts with "EFI PART".
pub fn has_signature(h: &[u8]) -> bool {
    h.get(SIGNATURE) == Some(SIGNATURE_BYTES.as_slice())
}

/// The header's stated size, if it is one a header can have (92..=512).
pub fn header_size(h: &[u8]) -> Option<usize> {
    let size = le32(h, HEADER_SIZE) as usize;
    (MIN_HEADER_SIZE..=HEADER_SECTOR_LEN)
        .contains(&size)
        .then_some(size)
}

/// Whether the stored header CRC matches the header (CRC field zeroed while computing).
pub fn header_crc_ok(h: &[u8]) -> bool {
    let Some(mut copy) = header_size(h)
        .and_then(|size| h.get(..size))
        .map(<[u8]>::to_vec)
    else {
        return false;
    };
    set_le32(&mut copy, HEADER_CRC, 0);
    crc32fast::hash(&copy) == le32(h, HEADER_CRC)
}

/// Recomputes a header's CRC (bytes `0..header_size`, CRC field zeroed); a size field out
/// of range is taken as the nearest of 92 and the buffer (at most 512 bytes).
pub fn fix_header_crc(h: &mut [u8]) {
    // Length first: clamp panics when its minimum is above its maximum.
    if h.len() < MIN_HEADER_SIZE {
        return;
    }
    let size =
        (le32(h, HEADER_SIZE) as usize).clamp(MIN_HEADER_SIZE, h.len().min(HEADER_SECTOR_LEN));
    set_le32(h, HEADER_CRC, 0);
    let crc = crc32fast::hash(h.get(..size).unwrap_or_default());
    set_le32(h, HEADER_CRC, crc);
}

/// A GUID in its text form (the first three fields little-endian).
pub fn guid_string(b: &[u8]) -> String {
    let Some(g) = bytes_at::<16>(b, 0) else {
        return String::new();
    };
    let [a0, a1, a2, a3, b0, b1, c0, c1, d @ ..] = g;
    let [d0, d1, node @ ..] = d;
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        u32::from_le_bytes([a0, a1, a2, a3]),
        u16::from_le_bytes([b0, b1]),
        u16::from_le_bytes([c0, c1]),
        d0,
        d1,
        node.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// An entry whose type GUID is all zeros is unused.
pub fn entry_unused(e: &[u8]) -> bool {
    e.get(TYPE_GUID..UNIQUE_GUID)
        .is_none_or(|g| g.iter().all(|&b| b == 0))
}

pub fn entry_first_lba(e: &[u8]) -> u64 {
    le64(e, FIRST_LBA)
}

pub fn entry_last_lba(e: &[u8]) -> u64 {
    le64(e, LAST_LBA)
}

pub fn set_entry_first_lba(e: &mut [u8], lba: u64) {
    set_le64(e, FIRST_LBA, lba);
}

pub fn set_entry_last_lba(e: &mut [u8], lba: u64) {
    set_le64(e, LAST_LBA, lba);
}

/// Where the backup GPT of a grown image goes, and what the primary header says about it.
#[derive(Debug, Clone, Copy)]
pub struct Relaid {
    /// The backup header's LBA (the image's last sector).
    pub backup_lba: u64,
    /// The backup entry array's first LBA.
    pub backup_entries_lba: u64,
    pub last_usable: u64,
    /// CRC32 of the (new) entry array.
    pub entries_crc: u32,
}

/// The primary header sector with `r` applied (alternate LBA, last usable, entries CRC) and
/// the backup header made from it (my LBA and alternate swapped, its entries LBA), both
/// with their CRCs recomputed. Every other byte is the input's, as xorriso wrote it.
pub fn relaid_headers(primary: &[u8], r: &Relaid) -> (Vec<u8>, Vec<u8>) {
    let mut h = primary.to_vec();
    set_le64(&mut h, ALTERNATE_LBA, r.backup_lba);
    set_le64(&mut h, LAST_USABLE, r.last_usable);
    set_le32(&mut h, ENTRIES_CRC, r.entries_crc);
    let mut backup = h.clone();
    fix_header_crc(&mut h);
    set_le64(&mut backup, MY_LBA, r.backup_lba);
    set_le64(&mut backup, ALTERNATE_LBA, PRIMARY_HEADER_LBA);
    set_le64(&mut backup, ENTRIES_LBA, r.backup_entries_lba);
    fix_header_crc(&mut backup);
    (h, backup)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index headers they built
mod tests {
    use super::*;

    #[test]
    fn header_crc_of_a_short_buffer_does_not_panic() {
        let mut h = vec![0u8; 40];
        fix_header_crc(&mut h);
        assert_eq!(h, vec![0u8; 40]);
    }

    #[test]
    fn relaid_headers_point_at_each_other_with_good_crcs() {
        let mut p = vec![0u8; 512];
        p[..8].copy_from_slice(SIGNATURE_BYTES);
        p[HEADER_SIZE] = 92;
        p[MY_LBA] = 1;
        p[ENTRIES_LBA] = 2;
        let r = Relaid {
            backup_lba: 1000,
            backup_entries_lba: 968,
            last_usable: 967,
            entries_crc: 0xDEAD_BEEF,
        };
        let (h, b) = relaid_headers(&p, &r);
        assert!(header_crc_ok(&h) && header_crc_ok(&b));
        assert_eq!((le64(&h, MY_LBA), le64(&h, ALTERNATE_LBA)), (1, 1000));
        assert_eq!((le64(&b, MY_LBA), le64(&b, ALTERNATE_LBA)), (1000, 1));
        assert_eq!((le64(&h, ENTRIES_LBA), le64(&b, ENTRIES_LBA)), (2, 968));
        assert_eq!(le32(&b, ENTRIES_CRC), 0xDEAD_BEEF);
        assert_eq!(le64(&b, LAST_USABLE), 967);
    }

    #[test]
    fn guids_print_mixed_endian() {
        let g = [
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
            0xc9, 0x3b,
        ];
        assert_eq!(guid_string(&g), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
    }
}

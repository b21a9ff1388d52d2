//! The system area of a hybrid ISO: the isohybrid MBR partition table and the GPT
//! (primary header + entries at 512-byte LBA 1/2, backup at the end).
//!
//! GPT writing is hand-written with crc32fast instead of the gpt crate: gpt 4.1 rewrites
//! the entry count (248 → 128) and last_usable, while we must keep xorriso's layout
//! byte-for-byte except for the fields that follow the image size.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::{Read, Seek};

use super::dir::Tree;
use super::volume::le32;
use super::{read_at, IsoError, SECTOR};

/// One MBR partition entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MbrPartition {
    /// 1..=4.
    pub number: u8,
    pub status: u8,
    pub part_type: u8,
    /// First 512-byte sector and count.
    pub start: u32,
    pub sectors: u32,
    /// File whose extent this partition is exactly (e.g. `images/efiboot.img`).
    pub path: Option<String>,
}

/// One used GPT entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GptPartition {
    pub number: u32,
    pub type_guid: String,
    pub name: String,
    /// First and last 512-byte LBA (inclusive).
    pub first_lba: u64,
    pub last_lba: u64,
    pub flags: u64,
    pub path: Option<String>,
}

/// A GPT header as found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GptHeader {
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub disk_guid: String,
    pub entries_lba: u64,
    pub num_entries: u32,
    pub entry_size: u32,
    pub header_crc_ok: bool,
    pub entries_crc_ok: bool,
}

/// The GPT: primary header, partitions, and the backup header if it is where the
/// primary says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gpt {
    pub primary: GptHeader,
    pub backup: Option<GptHeader>,
    pub partitions: Vec<GptPartition>,
}

/// The system area (first 16 sectors).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SystemArea {
    /// 0x55AA signature present.
    pub mbr_signature: bool,
    /// Non-empty MBR entries.
    pub mbr: Vec<MbrPartition>,
    pub gpt: Option<Gpt>,
}

fn guid_string(b: &[u8]) -> String {
    let Some(b) = bytes_at::<16>(b, 0) else {
        return String::new();
    };
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        b[10..16]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

/// `N` bytes at `at`, or None when they are not all there.
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn le64(b: &[u8], at: usize) -> u64 {
    bytes_at(b, at).map_or(0, u64::from_le_bytes)
}

/// Most GPT entry-array bytes read.
const MAX_GPT_ENTRY_BYTES: u64 = 1 << 20;

/// The file whose data extent is exactly `[start, start+len)` in bytes.
fn path_covering(tree: &Tree, start: u64, len: u64) -> Option<String> {
    tree.files()
        .find(|n| {
            n.extents.len() == 1
                && n.extents.first().is_some_and(|e| {
                    e.offset() == start && (u64::from(e.len).next_multiple_of(512) == len)
                })
        })
        .map(|n| n.path.clone())
}

/// Parses a GPT header at 512-byte `lba`; `None` if there is none there.
pub fn parse_gpt_header(b: &[u8]) -> Option<GptHeader> {
    if b.len() < 512 || b.get(0..8) != Some(b"EFI PART".as_slice()) {
        return None;
    }
    let header_size = le32(b, 12) as usize;
    if !(92..=512).contains(&header_size) {
        return None;
    }
    let stored = le32(b, 16);
    let mut h = b.get(..header_size)?.to_vec();
    h.get_mut(16..20)?.fill(0);
    Some(GptHeader {
        my_lba: le64(b, 24),
        alternate_lba: le64(b, 32),
        first_usable: le64(b, 40),
        last_usable: le64(b, 48),
        disk_guid: guid_string(b.get(56..72)?),
        entries_lba: le64(b, 72),
        num_entries: le32(b, 80),
        entry_size: le32(b, 84),
        header_crc_ok: crc32fast::hash(&h) == stored,
        entries_crc_ok: false,
    })
}

/// Reads the entry array of a header; returns the raw bytes (bounded) if plausible.
pub(crate) fn read_gpt_entries<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    h: &GptHeader,
) -> Result<Option<Vec<u8>>, IsoError> {
    let total = u64::from(h.num_entries).saturating_mul(u64::from(h.entry_size));
    if h.entry_size < 128 || total == 0 || total > MAX_GPT_ENTRY_BYTES {
        return Ok(None);
    }
    let at = h.entries_lba.saturating_mul(512);
    if at.saturating_add(total) > file_len {
        return Ok(None);
    }
    Ok(Some(read_at(
        r,
        at,
        total as usize,
        file_len,
        "GPT entries",
    )?))
}

/// Reads the MBR and GPT.
pub fn read_system_area<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    tree: &Tree,
) -> Result<SystemArea, IsoError> {
    let head = read_at(r, 0, 1024, file_len, "system area")?;
    let mut sa = SystemArea {
        mbr_signature: head.get(510..512) == Some([0x55, 0xAA].as_slice()),
        ..Default::default()
    };
    if sa.mbr_signature {
        for i in 0..4u8 {
            let at = usize::from(i).saturating_mul(16).saturating_add(446);
            let Some(e) = bytes_at::<16>(&head, at) else {
                continue;
            };
            let part_type = e[4];
            let start = le32(&e, 8);
            let sectors = le32(&e, 12);
            if part_type == 0 && sectors == 0 {
                continue;
            }
            let path = if start == 0 {
                None
            } else {
                path_covering(tree, u64::from(start) * 512, u64::from(sectors) * 512)
            };
            sa.mbr.push(MbrPartition {
                number: i.saturating_add(1),
                status: e[0],
                part_type,
                start,
                sectors,
                path,
            });
        }
    }
    let gpt_sector = head.get(512..1024).unwrap_or_default();
    if let Some(mut primary) = parse_gpt_header(gpt_sector) {
        let mut partitions = Vec::new();
        if let Some(entries) = read_gpt_entries(r, file_len, &primary)? {
            primary.entries_crc_ok = crc32fast::hash(&entries) == le32(gpt_sector, 88);
            for (i, e) in entries
                .chunks_exact(primary.entry_size as usize)
                .enumerate()
            {
                let type_guid = e.get(..16).unwrap_or_default();
                if type_guid.iter().all(|&b| b == 0) {
                    continue;
                }
                let first_lba = le64(e, 32);
                let last_lba = le64(e, 40);
                let name_units: Vec<u16> = e
                    .get(56..128)
                    .unwrap_or_default()
                    .chunks_exact(2)
                    .map(|c| bytes_at(c, 0).map_or(0, u16::from_le_bytes))
                    .take_while(|&u| u != 0)
                    .collect();
                // Byte range of the partition, in checked arithmetic: the fields are the
                // image's, and `last_lba = u64::MAX` or `first_lba ≥ 2^55` overflow.
                let range = first_lba.checked_mul(512).zip(
                    last_lba
                        .checked_add(1)
                        .and_then(|end| end.saturating_sub(first_lba).checked_mul(512)),
                );
                let Some((start, len)) = range else {
                    return Err(IsoError::malformed(
                        "GPT partition entry",
                        primary.entries_lba.saturating_mul(512).saturating_add(
                            (i as u64).saturating_mul(u64::from(primary.entry_size)),
                        ),
                        format!(
                            "partition {} spans LBA {first_lba}..={last_lba}, beyond any disk",
                            i.saturating_add(1)
                        ),
                    ));
                };
                let path = if first_lba == 0 {
                    None
                } else {
                    path_covering(tree, start, len)
                };
                partitions.push(GptPartition {
                    number: (i as u32).saturating_add(1),
                    type_guid: guid_string(type_guid),
                    name: String::from_utf16_lossy(&name_units),
                    first_lba,
                    last_lba,
                    flags: le64(e, 48),
                    path,
                });
            }
        }
        let mut backup = None;
        let at = primary.alternate_lba.saturating_mul(512);
        if at.saturating_add(512) <= file_len && primary.alternate_lba > 1 {
            let b = read_at(r, at, 512, file_len, "backup GPT header")?;
            if let Some(mut h) = parse_gpt_header(&b) {
                if let Some(entries) = read_gpt_entries(r, file_len, &h)? {
                    h.entries_crc_ok = crc32fast::hash(&entries) == le32(&b, 88);
                }
                backup = Some(h);
            }
        }
        sa.gpt = Some(Gpt {
            primary,
            backup,
            partitions,
        });
    }
    let _ = SECTOR;
    Ok(sa)
}

/// Entry sectors of the backup GPT for a primary entry array of `array_len` bytes: the
/// backup header's own span (backup header LBA − its entries LBA) when it holds the whole
/// array, the array's own size when there is no usable backup header. A span too short for
/// the array is refused: writing it would truncate the array under a CRC of the full one.
pub fn backup_entry_sectors(gpt: &Gpt, array_len: usize) -> Result<u64, IsoError> {
    let needed = (array_len as u64).div_ceil(512);
    match &gpt.backup {
        Some(b) if b.my_lba > b.entries_lba => {
            let span = b.my_lba.saturating_sub(b.entries_lba);
            if span < needed {
                return Err(IsoError::malformed(
                    "backup GPT header",
                    b.my_lba.saturating_mul(512),
                    format!(
                        "its entry array has room for {span} sectors, the primary's needs {needed}"
                    ),
                ));
            }
            Ok(span)
        }
        _ => Ok(needed),
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

/// Recomputes a GPT header's CRC (header bytes `0..header_size`, CRC field zeroed).
pub fn fix_header_crc(h: &mut [u8]) {
    // Length first: clamp panics when its minimum is above its maximum.
    if h.len() < 92 {
        return;
    }
    let size = (le32(h, 12) as usize).clamp(92, h.len().min(512));
    if let Some(field) = h.get_mut(16..20) {
        field.fill(0);
    }
    let crc = crc32fast::hash(h.get(..size).unwrap_or_default());
    if let Some(field) = h.get_mut(16..20) {
        field.copy_from_slice(&crc.to_le_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests index fixtures they built
mod tests {
    use super::*;

    fn header(my_lba: u64, entries_lba: u64) -> GptHeader {
        GptHeader {
            my_lba,
            alternate_lba: 1,
            first_usable: 0,
            last_usable: 0,
            disk_guid: String::new(),
            entries_lba,
            num_entries: 248,
            entry_size: 128,
            header_crc_ok: true,
            entries_crc_ok: true,
        }
    }

    #[test]
    fn backup_span_must_hold_the_array() {
        let mut gpt = Gpt {
            primary: header(1, 2),
            backup: Some(header(1000, 938)),
            partitions: Vec::new(),
        };
        assert_eq!(backup_entry_sectors(&gpt, 248 * 128).ok(), Some(62));
        gpt.backup = Some(header(1000, 999));
        let err = backup_entry_sectors(&gpt, 248 * 128)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("needs 62")));
        gpt.backup = None;
        assert_eq!(backup_entry_sectors(&gpt, 248 * 128).ok(), Some(62));
    }

    #[test]
    fn header_crc_of_a_short_buffer_does_not_panic() {
        let mut h = vec![0u8; 40];
        fix_header_crc(&mut h);
        assert_eq!(h, vec![0u8; 40]);
    }
}

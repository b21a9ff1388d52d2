//! The system area of a hybrid ISO: the isohybrid MBR partition table and the GPT
//! (primary header + entries at 512-byte LBA 1/2, backup at the end).
//!
//! The structures (offsets, CRC, CHS) are defined once in `format::mbr` and `format::gpt`,
//! which the writer's grown system areas (`write/system_area.rs`, `isohybrid.rs`,
//! `appended.rs`) use too. GPT writing is hand-written with crc32fast instead of the gpt
//! crate: gpt 4.1 rewrites the entry count (248 → 128) and last_usable, while we must keep
//! xorriso's layout byte-for-byte except for the fields that follow the image size.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::{Read, Seek};

use super::dir::Tree;
use super::format::gpt::{self, guid_string};
use super::format::{bytes_at, le32, le64, mbr};
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

/// Most GPT entry-array bytes read.
const MAX_GPT_ENTRY_BYTES: u64 = 1 << 20;

/// The file whose data extent is exactly `[start, start+len)` in bytes.
fn path_covering(tree: &Tree, start: u64, len: u64) -> Option<String> {
    tree.files()
        .find(|n| {
            n.extents.len() == 1
                && n.extents.first().is_some_and(|e| {
                    e.offset() == start
                        && (u64::from(e.len).next_multiple_of(gpt::LBA_BYTES) == len)
                })
        })
        .map(|n| n.path.clone())
}

/// Parses a GPT header at 512-byte `lba`; `None` if there is none there.
pub fn parse_gpt_header(b: &[u8]) -> Option<GptHeader> {
    if b.len() < gpt::HEADER_SECTOR_LEN || !gpt::has_signature(b) {
        return None;
    }
    gpt::header_size(b)?;
    Some(GptHeader {
        my_lba: le64(b, gpt::MY_LBA),
        alternate_lba: le64(b, gpt::ALTERNATE_LBA),
        first_usable: le64(b, gpt::FIRST_USABLE),
        last_usable: le64(b, gpt::LAST_USABLE),
        disk_guid: guid_string(b.get(gpt::DISK_GUID..gpt::ENTRIES_LBA)?),
        entries_lba: le64(b, gpt::ENTRIES_LBA),
        num_entries: le32(b, gpt::NUM_ENTRIES),
        entry_size: le32(b, gpt::ENTRY_SIZE),
        header_crc_ok: gpt::header_crc_ok(b),
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
    if (h.entry_size as usize) < gpt::MIN_ENTRY_SIZE || total == 0 || total > MAX_GPT_ENTRY_BYTES {
        return Ok(None);
    }
    let at = h.entries_lba.saturating_mul(gpt::LBA_BYTES);
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
    let head = read_at(r, 0, gpt::PRIMARY_HEADER.end, file_len, "system area")?;
    let mut sa = SystemArea {
        mbr_signature: mbr::has_signature(&head),
        ..Default::default()
    };
    if sa.mbr_signature {
        for i in 0..mbr::ENTRIES as u8 {
            let Some(e) = mbr::Entry::read(&head, usize::from(i)) else {
                continue;
            };
            let mbr::Entry {
                status,
                part_type,
                start,
                sectors,
                ..
            } = e;
            if part_type == mbr::TYPE_EMPTY && sectors == 0 {
                continue;
            }
            let path = if start == 0 {
                None
            } else {
                path_covering(
                    tree,
                    u64::from(start) * gpt::LBA_BYTES,
                    u64::from(sectors) * gpt::LBA_BYTES,
                )
            };
            sa.mbr.push(MbrPartition {
                number: i.saturating_add(1),
                status,
                part_type,
                start,
                sectors,
                path,
            });
        }
    }
    let gpt_sector = head.get(gpt::PRIMARY_HEADER).unwrap_or_default();
    if let Some(mut primary) = parse_gpt_header(gpt_sector) {
        let mut partitions = Vec::new();
        if let Some(entries) = read_gpt_entries(r, file_len, &primary)? {
            primary.entries_crc_ok =
                crc32fast::hash(&entries) == le32(gpt_sector, gpt::ENTRIES_CRC);
            for (i, e) in entries
                .chunks_exact(primary.entry_size as usize)
                .enumerate()
            {
                if gpt::entry_unused(e) {
                    continue;
                }
                let type_guid = e.get(gpt::TYPE_GUID..gpt::UNIQUE_GUID).unwrap_or_default();
                let first_lba = gpt::entry_first_lba(e);
                let last_lba = gpt::entry_last_lba(e);
                let name_units: Vec<u16> = e
                    .get(gpt::NAME)
                    .unwrap_or_default()
                    .chunks_exact(2)
                    .map(|c| bytes_at(c, 0).map_or(0, u16::from_le_bytes))
                    .take_while(|&u| u != 0)
                    .collect();
                // Byte range of the partition, in checked arithmetic: the fields are the
                // image's, and `last_lba = u64::MAX` or `first_lba ≥ 2^55` overflow.
                let range = first_lba.checked_mul(gpt::LBA_BYTES).zip(
                    last_lba
                        .checked_add(1)
                        .and_then(|end| end.saturating_sub(first_lba).checked_mul(gpt::LBA_BYTES)),
                );
                let Some((start, len)) = range else {
                    return Err(IsoError::malformed(
                        "GPT partition entry",
                        primary
                            .entries_lba
                            .saturating_mul(gpt::LBA_BYTES)
                            .saturating_add(
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
                    flags: le64(e, gpt::ATTRIBUTES),
                    path,
                });
            }
        }
        let mut backup = None;
        let at = primary.alternate_lba.saturating_mul(gpt::LBA_BYTES);
        if at.saturating_add(gpt::LBA_BYTES) <= file_len
            && primary.alternate_lba > gpt::PRIMARY_HEADER_LBA
        {
            let b = read_at(r, at, gpt::HEADER_SECTOR_LEN, file_len, "backup GPT header")?;
            if let Some(mut h) = parse_gpt_header(&b) {
                if let Some(entries) = read_gpt_entries(r, file_len, &h)? {
                    h.entries_crc_ok = crc32fast::hash(&entries) == le32(&b, gpt::ENTRIES_CRC);
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
}

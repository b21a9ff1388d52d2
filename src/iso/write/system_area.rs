//! The system area of a grown image: MBR partitions and GPT entries that cover the image
//! grow with it, the primary GPT header follows, and the backup GPT (entries, then header)
//! is built for the new end.

use std::io::{Read, Seek};

use std::path::PathBuf;

use super::model::Patch;
use crate::iso::format::gpt;
use crate::iso::format::mbr::{self, chs_bytes, HYBRID_HEADS, HYBRID_SECTORS};
use crate::iso::{read_at, Image, IsoError};
use crate::Error;

/// A partition "covers the image" (and grows with it) if it starts in the system area
/// (512-byte LBA 0, or 64 with xorriso's -partition_offset 16) and reaches past the last
/// file; partitions of files (efiboot.img) and appended partitions keep their extents.
pub(super) const COVER_START_MAX: u64 = 64;

/// Patches to the MBR and primary GPT for a grown image, and the backup GPT (entries then
/// header) that ends the image.
pub(super) fn system_area_patches<R: Read + Seek>(
    image: &Image,
    reader: &mut R,
    old_end: u64,
    data_end: u64,
    new_len: u64,
) -> crate::Result<(Vec<Patch>, Vec<u8>)> {
    let mut patches = Vec::new();
    let delta512 = (new_len - old_end.min(new_len)) / 512;
    let old_total512 = old_end / 512;
    // The last byte used by any file or directory: partitions reaching past it cover the
    // image end and grow with it.
    let data_end512 = image
        .primary
        .nodes
        .iter()
        .flat_map(|n| n.extents.iter())
        .map(|e| e.end_sector_byte() / 512)
        .max()
        .unwrap_or(0);
    let rd = |e: IsoError| Error::reading("reading the system area", e);
    let head = read_at(
        reader,
        0,
        gpt::PRIMARY_HEADER.end,
        image.file_len,
        "system area",
    )
    .map_err(rd)?;
    if image.system_area.mbr_signature {
        for i in 0..mbr::ENTRIES {
            let Some(mut e) = mbr::Entry::read(&head, i) else {
                continue;
            };
            let start = u64::from(e.start);
            let sectors = u64::from(e.sectors);
            if sectors == 0 || start > COVER_START_MAX || start + sectors <= data_end512 {
                continue;
            }
            let new_sectors = (sectors + delta512).min(u64::from(u32::MAX));
            e.sectors = new_sectors as u32;
            // Keep the CHS convention of the input (xorriso: 64 heads, 32 sectors).
            let old_chs = chs_bytes(start + sectors - 1, HYBRID_HEADS, HYBRID_SECTORS);
            if e.chs_last == old_chs {
                e.chs_last = chs_bytes(start + new_sectors - 1, HYBRID_HEADS, HYBRID_SECTORS);
            }
            patches.push((mbr::entry_offset(i) as u64, e.encode().to_vec()));
        }
    }
    let mut tail = Vec::new();
    if let Some(table) = &image.system_area.gpt {
        let entries = crate::iso::sysarea::read_gpt_entries(reader, image.file_len, &table.primary)
            .map_err(rd)?
            .ok_or_else(|| Error::input(PathBuf::new(), "the GPT entry array is unreadable"))?;
        let mut entries = entries;
        let esize = table.primary.entry_size as usize;
        for e in entries.chunks_exact_mut(esize) {
            if gpt::entry_unused(e) {
                continue;
            }
            let first = gpt::entry_first_lba(e);
            let last = gpt::entry_last_lba(e);
            if first <= COVER_START_MAX && last.saturating_add(1) > data_end512 {
                gpt::set_entry_last_lba(e, last.saturating_add(delta512));
            }
        }
        let new_backup = new_len / 512 - 1;
        let entry_sectors =
            crate::iso::sysarea::backup_entry_sectors(table, entries.len()).map_err(rd)?;
        let free_tail = (new_len - data_end.min(new_len)) / 512;
        if entry_sectors + 1 > free_tail || entry_sectors > 4096 {
            return Err(Error::input(
                PathBuf::new(),
                format!(
                    "the backup GPT ({entry_sectors} entry sectors) does not fit the padding of the grown image"
                ),
            ));
        }
        let backup_entries_lba = new_backup - entry_sectors;
        let last_usable = table.primary.last_usable.saturating_add(delta512);
        let primary = head.get(gpt::PRIMARY_HEADER).unwrap_or_default();
        let (h, backup) = gpt::relaid_headers(
            primary,
            &gpt::Relaid {
                backup_lba: new_backup,
                backup_entries_lba,
                last_usable,
                entries_crc: crc32fast::hash(&entries),
            },
        );
        patches.push((gpt::PRIMARY_HEADER.start as u64, h));
        let entries_at = table.primary.entries_lba * gpt::LBA_BYTES;
        patches.push((entries_at, entries.clone()));
        // Tail: entry array padded to its sectors, then the header sector.
        let mut t = entries;
        t.resize((entry_sectors * 512) as usize, 0);
        t.extend_from_slice(&backup);
        tail = t;
        // Zero the stale backup header at the old end.
        if let Some(b) = &table.backup {
            if b.my_lba < old_total512 && b.my_lba > 1 {
                patches.push((b.my_lba * 512, vec![0u8; 512]));
            }
        }
    }
    Ok((patches, tail))
}

//! The system area of a grown image: MBR partitions and GPT entries that cover the image
//! grow with it, the primary GPT header follows, and the backup GPT (entries, then header)
//! is built for the new end.

use std::io::{Read, Seek};

use std::path::PathBuf;

use super::model::Patch;
use crate::iso::volume::le32;
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
    let head = read_at(reader, 0, 1024, image.file_len, "system area").map_err(rd)?;
    if image.system_area.mbr_signature {
        for i in 0..4usize {
            let at = 446 + 16 * i;
            let mut e = head[at..at + 16].to_vec();
            let start = u64::from(le32(&e, 8));
            let sectors = u64::from(le32(&e, 12));
            if sectors == 0 || start > COVER_START_MAX || start + sectors <= data_end512 {
                continue;
            }
            let new_sectors = (sectors + delta512).min(u64::from(u32::MAX));
            e[12..16].copy_from_slice(&(new_sectors as u32).to_le_bytes());
            // Keep the CHS convention of the input (xorriso: 64 heads, 32 sectors).
            let old_chs = crate::iso::sysarea::chs_bytes(start + sectors - 1, 64, 32);
            if e[5..8] == old_chs {
                let chs = crate::iso::sysarea::chs_bytes(start + new_sectors - 1, 64, 32);
                e[5..8].copy_from_slice(&chs);
            }
            patches.push((at as u64, e));
        }
    }
    let mut tail = Vec::new();
    if let Some(gpt) = &image.system_area.gpt {
        let mut h = head[512..1024].to_vec();
        let entries = crate::iso::sysarea::read_gpt_entries(reader, image.file_len, &gpt.primary)
            .map_err(rd)?
            .ok_or_else(|| Error::input(PathBuf::new(), "the GPT entry array is unreadable"))?;
        let mut entries = entries;
        let esize = gpt.primary.entry_size as usize;
        for e in entries.chunks_exact_mut(esize) {
            if e[..16].iter().all(|&b| b == 0) {
                continue;
            }
            let first = u64::from_le_bytes(e[32..40].try_into().unwrap_or([0; 8]));
            let last = u64::from_le_bytes(e[40..48].try_into().unwrap_or([0; 8]));
            if first <= COVER_START_MAX && last.saturating_add(1) > data_end512 {
                e[40..48].copy_from_slice(&last.saturating_add(delta512).to_le_bytes());
            }
        }
        let new_backup = new_len / 512 - 1;
        let entry_sectors =
            crate::iso::sysarea::backup_entry_sectors(gpt, entries.len()).map_err(rd)?;
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
        let last_usable = gpt.primary.last_usable.saturating_add(delta512);
        let ecrc = crc32fast::hash(&entries);
        h[32..40].copy_from_slice(&new_backup.to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[88..92].copy_from_slice(&ecrc.to_le_bytes());
        let mut backup = h.clone();
        crate::iso::sysarea::fix_header_crc(&mut h);
        backup[24..32].copy_from_slice(&new_backup.to_le_bytes());
        backup[32..40].copy_from_slice(&1u64.to_le_bytes());
        backup[72..80].copy_from_slice(&backup_entries_lba.to_le_bytes());
        crate::iso::sysarea::fix_header_crc(&mut backup);
        patches.push((512, h));
        let entries_at = gpt.primary.entries_lba * 512;
        patches.push((entries_at, entries.clone()));
        // Tail: entry array padded to its sectors, then the header sector.
        let mut t = entries;
        t.resize((entry_sectors * 512) as usize, 0);
        t.extend_from_slice(&backup);
        tail = t;
        // Zero the stale backup header at the old end.
        if let Some(b) = &gpt.backup {
            if b.my_lba < old_total512 && b.my_lba > 1 {
                patches.push((b.my_lba * 512, vec![0u8; 512]));
            }
        }
    }
    Ok((patches, tail))
}

//! Growing an image laid out by syslinux's `isohybrid --uefi` (EL8 media: mkisofs, then
//! isohybrid, then implantisomd5), re-laid for the new size exactly as isohybrid would lay
//! it on the grown volume:
//!
//! - the ISO 9660 volume ends where mkisofs would end it: the data, then mkisofs' default
//!   150 sectors (300 KiB) of padding; the PVD/SVD volume sizes say so;
//! - the file is padded to a multiple of 1 MiB (isohybrid's 64 heads × 32 sectors cylinder)
//!   and the backup GPT (entries, then header) ends the file, after the volume. isohybrid
//!   itself writes it into the last 33 sectors even when they are inside the volume; here
//!   the file gets one more MiB instead, so the backup GPT never overlaps the volume;
//! - MBR partition 1 (status 0x80, type 0x00, from sector 0) covers the whole padded file,
//!   its end CHS is (cylinder, 63, 32) with the cylinder clamped at 1023 as isohybrid
//!   clamps it; MBR partition 2 (0xEF) and GPT partition 2 stay on images/efiboot.img,
//!   which never moves;
//! - GPT partition 1 ("ISOHybrid ISO") covers the volume (sector 0 to the volume's end, as
//!   isohybrid takes it from the PVD), `last_usable` is 34 sectors before the end, the backup
//!   header is the last sector and its entries the 32 before; CRCs recomputed;
//! - the old backup GPT, now inside the grown volume's unused space, is zeroed.
//!
//! Hand-written because no crate edits a hybrid MBR + GPT in place without rewriting the
//! parts isohybrid owns (GUIDs, the MBR boot code and disk id are kept byte for byte).
//! Observed on syslinux 6.04's isohybrid; tests/fixture_el8_layout.rs compares the result
//! with what isohybrid writes on the same grown volume.

use std::io::{Read, Seek};
use std::path::PathBuf;

use super::model::{both32, Patch};
use crate::iso::format::iso9660::vd;
use crate::iso::format::{gpt, mbr};
use crate::iso::volume::DescriptorKind;
use crate::iso::{read_at, Image, IsoError, SECTOR};
use crate::Error;

/// isohybrid's cylinder: 64 heads × 32 sectors × 512 bytes.
const CYLINDER: u64 = mbr::HYBRID_HEADS * mbr::HYBRID_SECTORS * gpt::LBA_BYTES;
/// mkisofs' default padding at the end of the volume (`-pad`: 150 sectors).
const MKISOFS_PAD_SECTORS: u64 = 150;
/// The backup GPT isohybrid writes: 128 entries of 128 bytes (32 sectors) and the header.
const BACKUP_GPT_SECTORS: u64 = 33;
/// isohybrid's GPT entry array: 128 entries of 128 bytes, from LBA 2.
const GPT_ENTRIES: usize = 128;
const GPT_ENTRY_SIZE: usize = 128;

/// The grown image's volume, file size and system area.
pub(super) struct Grown {
    /// Sectors (2 KiB) of the new ISO 9660 volume.
    pub volume_sectors: u64,
    /// Bytes of the output file (the volume, then isohybrid's padding).
    pub output_bytes: u64,
    /// MBR, primary GPT, zeroed old backup GPT, and the volume size fields.
    pub patches: Vec<Patch>,
    /// The backup GPT (entries, then header) that ends the file.
    pub tail: Vec<u8>,
}

/// Whether `image` has isohybrid --uefi's layout: MBR p1 type 0x00 from sector 0 over the
/// whole file, a GPT whose backup header is the file's last sector, the file a multiple of
/// 1 MiB and longer than the volume, and nothing but zeros between the volume and the
/// backup GPT.
fn is_isohybrid_uefi<R: Read + Seek>(image: &Image, reader: &mut R) -> Result<bool, IsoError> {
    let sa = &image.system_area;
    let file_len = image.file_len;
    let volume = image.volume_bytes();
    let Some(table) = &sa.gpt else {
        return Ok(false);
    };
    let p1_whole = sa.mbr.iter().any(|p| {
        p.number == 1
            && p.part_type == mbr::TYPE_EMPTY
            && p.start == 0
            && u64::from(p.sectors) * gpt::LBA_BYTES == file_len
    });
    let p2_file = sa
        .mbr
        .iter()
        .any(|p| p.number == 2 && p.part_type == mbr::TYPE_EFI && p.path.is_some());
    let backup_at_end = table.primary.alternate_lba + 1 == file_len / gpt::LBA_BYTES
        && table.primary.entries_lba == 2
        && table.primary.entry_size as usize == GPT_ENTRY_SIZE
        && table.primary.num_entries as usize == GPT_ENTRIES;
    if !(sa.mbr_signature
        && p1_whole
        && p2_file
        && backup_at_end
        && file_len.is_multiple_of(CYLINDER)
        && file_len >= volume + BACKUP_GPT_SECTORS * 512)
    {
        return Ok(false);
    }
    let gap_end = file_len - BACKUP_GPT_SECTORS * 512;
    let mut at = volume;
    while at < gap_end {
        let n = (gap_end - at).min(1 << 20);
        let b = read_at(reader, at, n as usize, file_len, "isohybrid padding")?;
        if b.iter().any(|&x| x != 0) {
            return Ok(false);
        }
        at += n;
    }
    Ok(true)
}

/// The file length isohybrid gives a volume of `volume_bytes`: the next multiple of 1 MiB,
/// one more MiB when the backup GPT would not fit after the volume.
fn padded_len(volume_bytes: u64) -> u64 {
    let len = volume_bytes.next_multiple_of(CYLINDER);
    if len - volume_bytes < BACKUP_GPT_SECTORS * 512 {
        len + CYLINDER
    } else {
        len
    }
}

/// The grown layout of an isohybrid --uefi image whose data now ends at `data_end` bytes
/// (everything before it planned), or `None` if `image` does not have that layout.
pub(super) fn grow<R: Read + Seek>(
    image: &Image,
    reader: &mut R,
    data_end: u64,
) -> crate::Result<Option<Grown>> {
    let rd = |e: IsoError| Error::reading("reading the isohybrid system area", e);
    if !is_isohybrid_uefi(image, reader).map_err(rd)? {
        return Ok(None);
    }
    let Some(table) = &image.system_area.gpt else {
        return Ok(None);
    };
    let volume_sectors = data_end.div_ceil(SECTOR) + MKISOFS_PAD_SECTORS;
    if volume_sectors > u64::from(u32::MAX) {
        return Err(Error::Usage(
            "the output would exceed the ISO 9660 volume size limit".into(),
        ));
    }
    let volume_bytes = volume_sectors * SECTOR;
    let output_bytes = padded_len(volume_bytes);
    let total512 = output_bytes / 512;
    let mut patches: Vec<Patch> = Vec::new();

    // Volume size in every descriptor that has one.
    for d in &image.descriptors {
        if matches!(
            d.kind,
            DescriptorKind::Primary | DescriptorKind::Joliet { .. } | DescriptorKind::Supplementary
        ) {
            let n = volume_sectors as u32;
            patches.push((d.field_offset(vd::VOLUME_SPACE_SIZE), both32(n).to_vec()));
        }
    }

    // MBR partition 1: whole file; CHS end (cylinder ≤ 1023, head 63, sector 32).
    let head = read_at(
        reader,
        0,
        gpt::PRIMARY_HEADER.end,
        image.file_len,
        "system area",
    )
    .map_err(rd)?;
    let mut p1 = mbr::Entry::read(&head, 0)
        .ok_or_else(|| Error::input(PathBuf::new(), "the MBR is truncated"))?;
    let cylinders = output_bytes / CYLINDER;
    let cyl = cylinders.saturating_sub(1).min(1023);
    p1.chs_last = [63, 32 | (((cyl >> 8) as u8 & 0x03) << 6), cyl as u8];
    p1.sectors = u32::try_from(total512).map_err(|_| {
        Error::Usage("the output would exceed the MBR's 2 TiB partition limit".into())
    })?;
    patches.push((mbr::entry_offset(0) as u64, p1.encode().to_vec()));

    // GPT: partition 1 over the volume, the headers at the new end.
    let mut entries = crate::iso::sysarea::read_gpt_entries(reader, image.file_len, &table.primary)
        .map_err(rd)?
        .ok_or_else(|| Error::input(PathBuf::new(), "the GPT entry array is unreadable"))?;
    if entries.len() != GPT_ENTRIES * GPT_ENTRY_SIZE {
        return Err(Error::input(
            PathBuf::new(),
            "the isohybrid GPT entry array is not 128 entries of 128 bytes",
        ));
    }
    // Partition 1 ("ISOHybrid ISO", from sector 0) ends with the volume.
    if let Some(e) = entries.get_mut(..GPT_ENTRY_SIZE) {
        if gpt::entry_first_lba(e) == 0 {
            gpt::set_entry_last_lba(e, volume_bytes / gpt::LBA_BYTES - 1);
        }
    }
    let backup_lba = total512 - 1;
    let primary = head
        .get(gpt::PRIMARY_HEADER)
        .ok_or_else(|| Error::input(PathBuf::new(), "the GPT header is truncated"))?;
    let (h, backup) = gpt::relaid_headers(
        primary,
        &gpt::Relaid {
            backup_lba,
            backup_entries_lba: total512 - BACKUP_GPT_SECTORS,
            last_usable: total512 - BACKUP_GPT_SECTORS - 1,
            entries_crc: crc32fast::hash(&entries),
        },
    );
    patches.push((gpt::PRIMARY_HEADER.start as u64, h));
    patches.push((table.primary.entries_lba * gpt::LBA_BYTES, entries.clone()));

    // The old backup GPT (entries and header) is now unused space inside the volume.
    let old_total = image.file_len / gpt::LBA_BYTES;
    patches.push((
        (old_total - BACKUP_GPT_SECTORS) * gpt::LBA_BYTES,
        vec![0u8; (BACKUP_GPT_SECTORS * gpt::LBA_BYTES) as usize],
    ));

    let mut tail = entries;
    tail.extend_from_slice(&backup);
    Ok(Some(Grown {
        volume_sectors,
        output_bytes,
        patches,
        tail,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_a_whole_mib_with_room_for_the_backup_gpt() {
        // The fixture's grown volume (tests/fixture_el8_layout.rs checks it against isohybrid).
        assert_eq!(padded_len(104_136 * 512), 51 * MIB);
        // Exactly 1 MiB: isohybrid adds nothing and writes the backup GPT into the volume's
        // last sectors; here it goes into one more MiB.
        assert_eq!(padded_len(45 * MIB), 46 * MIB);
        // 33 sectors of room is enough; 32 are not.
        assert_eq!(padded_len(45 * MIB - 33 * 512), 45 * MIB);
        assert_eq!(padded_len(45 * MIB - 32 * 512), 46 * MIB);
    }

    const MIB: u64 = 1 << 20;
}

//! EL10 / Fedora 37+ media (`-partition_offset 16`, the ESP appended as GPT partition 2):
//! the planning steps these media need on top of the EL9 ones.
//!
//! - Both trees: every record fix of the whole-disk trees is mirrored onto the same file's
//!   records in the partition-1 trees (block addresses − the partition's offset), so both
//!   views name the same new extents ([`mirror_fixes`]). Added files get records in all
//!   four trees: the directory generation (dirgen) treats the partition trees as trees of
//!   their own and shifts every address it writes into them by the partition's offset,
//!   and their path tables are rebuilt with partition-relative addresses and named by the
//!   partition view's descriptors (layout's `path_tables`). Copied records keep their bytes,
//!   so Rock Ridge CE addresses (partition-relative in those trees) stay valid.
//! - Growth keeps every file inside GPT partition 1: new data is allocated where the
//!   appended partitions start today, and everything behind partition 1 (the ESP, the gap
//!   partition) moves behind the new data ([`grow`]). Then GPT p1's end, the appended
//!   partitions, the protective MBR, the backup GPT at the new end, the El Torito entries
//!   pointing into the appended area (the EFI entry = p2) and every volume size follow.
//!   Volume sizes keep the relation the input has (the whole-disk PVD covers the whole
//!   image, the partition view p1; xorriso 1.5.4 leaves the whole-disk Joliet SVD at the
//!   ISO data size), so each old value is mapped to its new counterpart.
//! - eltorito.img never moves (it is a protected El Torito extent inside p1), so its
//!   boot-info table, `--grub2-boot-info` and the MBR's u64 at 0x1B0 stay valid as they are.
//! - The ESP's FAT, edited in memory by the caller, is written over the partition in place,
//!   or at its new place when the image grows.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::PathBuf;
use std::sync::Arc;

use super::dirgen::record_fix_bytes;
use super::model::{both32, usage, Patch, Source};
use crate::iso::dir::{Node, Tree, TreeKind};
use crate::iso::format::iso9660::{dr, vd};
// `gpt` names the image's table in the functions below; the format is `gpt_format`.
use crate::iso::format::{eltorito, gpt as gpt_format, le32, mbr, set_le32};
use crate::iso::volume::DescriptorKind;
use crate::iso::{read_at, Image, IsoError, SECTOR};
use crate::Error;

/// Where partition 1 ends and the appended partitions begin.
#[derive(Debug, Clone, Copy)]
pub(super) struct Appended {
    /// Partition 1's start in 2048-byte blocks (the partition view's address offset).
    pub(super) block_offset: u32,
    /// First 512-byte sector after partition 1 (where the ESP starts today).
    pub(super) start512: u64,
    /// First 512-byte sector of the input's tail (backup GPT) that is rewritten, not moved.
    pub(super) tail512: u64,
    /// The appended EFI partition: first sector and sector count (512-byte).
    pub(super) esp: Option<(u64, u64)>,
}

impl Appended {
    /// First block after partition 1 (new data is allocated from here).
    pub(super) fn start_block(&self) -> u64 {
        self.start512 / 4
    }
}

fn input_err(msg: impl Into<String>) -> Error {
    Error::input(PathBuf::new(), msg.into())
}

/// The appended layout of `image`, if it has a partition-1 view and partitions behind p1.
pub(super) fn appended_of(image: &Image) -> crate::Result<Option<Appended>> {
    let (Some(view), Some(gpt)) = (&image.partition, &image.system_area.gpt) else {
        return Ok(None);
    };
    let p1_first = u64::from(view.block_offset) * 4;
    let Some(p1) = gpt.partitions.iter().find(|p| p.first_lba == p1_first) else {
        return Ok(None);
    };
    let start512 = p1.last_lba.saturating_add(1);
    let behind: Vec<_> = gpt
        .partitions
        .iter()
        .filter(|p| p.first_lba >= start512)
        .collect();
    if behind.is_empty() {
        return Ok(None);
    }
    if start512 % 4 != 0 {
        return Err(input_err(format!(
            "GPT partition 1 ends at sector {} (not on a 2048-byte block): cannot place data behind it",
            p1.last_lba
        )));
    }
    let last_used = behind.iter().map(|p| p.last_lba).max().unwrap_or(start512);
    let Some(backup) = &gpt.backup else {
        return Err(input_err(
            "the image has appended partitions but no backup GPT: cannot move them",
        ));
    };
    if backup.entries_lba <= last_used || backup.my_lba <= backup.entries_lba {
        return Err(input_err(
            "the backup GPT overlaps the appended partitions: cannot move them",
        ));
    }
    // The tail starts on a block boundary at or before the backup entries, after the
    // appended partitions: everything before it moves as one run.
    let tail512 = (backup.entries_lba / 4 * 4).max((last_used + 1).div_ceil(4) * 4);
    if tail512 > backup.entries_lba {
        return Err(input_err(
            "the backup GPT starts too close to the appended partitions: cannot move them",
        ));
    }
    // Every file of both views must lie inside partition 1.
    for tree in trees(image) {
        for n in tree.files() {
            if let Some(e) = n
                .extents
                .iter()
                .find(|e| e.len > 0 && e.end_sector_byte() > start512 * 512)
            {
                return Err(input_err(format!(
                    "/{} (block {}) lies past the end of GPT partition 1: the media is damaged",
                    n.path, e.lba
                )));
            }
        }
    }
    let esp = image
        .boot_catalog
        .iter()
        .flat_map(|c| c.entries.iter())
        .filter(|e| e.path.is_none() && u64::from(e.lba) * 4 >= start512)
        .find_map(|e| {
            gpt.partitions
                .iter()
                .find(|p| p.first_lba == u64::from(e.lba) * 4)
        })
        .map(|p| (p.first_lba, (p.last_lba + 1).saturating_sub(p.first_lba)));
    Ok(Some(Appended {
        block_offset: view.block_offset,
        start512,
        tail512,
        esp,
    }))
}

/// The whole-disk and the partition trees.
fn trees(image: &Image) -> impl Iterator<Item = &Tree> {
    let view = image.partition.as_ref();
    std::iter::once(&image.primary)
        .chain(image.joliet.iter())
        .chain(view.map(|v| &v.primary))
        .chain(view.and_then(|v| v.joliet.as_ref()))
}

/// Every fix of a record of the whole-disk trees, repeated on the records that name the
/// same extent for the same path in the partition view's tree of the same kind.
pub(super) fn mirror_fixes(image: &Image, fixes: &mut HashMap<u64, Vec<u8>>) {
    let Some(view) = &image.partition else {
        return;
    };
    let mut by_record: HashMap<u64, (TreeKind, &Node)> = HashMap::new();
    for tree in [Some(&image.primary), image.joliet.as_ref()]
        .into_iter()
        .flatten()
    {
        for n in &tree.nodes {
            for &r in &n.records {
                by_record.insert(r, (tree.kind, n));
            }
        }
    }
    let mut mirrored = Vec::new();
    for (off, fix) in fixes.iter() {
        let Some((kind, node)) = by_record.get(off) else {
            continue;
        };
        let Some(twin) = view.tree(*kind).and_then(|t| t.find(&node.path)) else {
            continue;
        };
        if twin.extents != node.extents {
            continue;
        }
        let (lba, len) = dr::extent_of_fields(fix);
        let lba = lba.saturating_sub(view.block_offset);
        // A record's position in a multi-extent file maps to the same position.
        let at = node.records.iter().position(|r| r == off);
        if let Some(r) = at.and_then(|i| twin.records.get(i)) {
            mirrored.push((*r, record_fix_bytes(lba, len)));
        }
    }
    fixes.extend(mirrored);
}

/// The volume descriptors of the partition view (absolute sectors), for edits that apply
/// to every descriptor (the volume id).
pub(super) fn view_descriptors(image: &Image) -> &[crate::iso::VolumeDescriptor] {
    image
        .partition
        .as_ref()
        .map_or(&[], |v| v.descriptors.as_slice())
}

/// What growth (or an in-place ESP edit) changes.
#[derive(Default)]
pub(super) struct Growth {
    pub(super) patches: Vec<Patch>,
    pub(super) segments: Vec<(u32, Source)>,
    pub(super) tail: Vec<u8>,
    pub(super) output_bytes: u64,
    /// Bytes of the input copied (the rest moves or is rewritten).
    pub(super) copy_end: u64,
    /// Size of the whole-disk primary volume, which the isomd5sum covers.
    pub(super) volume_bytes: u64,
}

/// The new ESP written over its partition (same size), when nothing grows.
pub(super) fn esp_in_place(app: &Appended, esp: &[u8]) -> crate::Result<Patch> {
    let (first, sectors) = app
        .esp
        .ok_or_else(|| input_err("the image has no appended EFI partition to edit"))?;
    if esp.len() as u64 != sectors * 512 {
        return Err(usage(format!(
            "the edited EFI partition has {} bytes, the partition {}",
            esp.len(),
            sectors * 512
        )));
    }
    Ok((first * 512, esp.to_vec()))
}

/// Lays out growth: the input is copied up to partition 1's old end; the new data (already
/// allocated from there up to `data_end`, in blocks) follows; the appended partitions and
/// the gap move behind it (the ESP replaced by `esp` when given); the backup GPT is
/// rewritten at the new end. Returns the patches of everything that points at the moved
/// area.
pub(super) fn grow<R: Read + Seek>(
    image: &Image,
    reader: &mut R,
    app: &Appended,
    data_end: u64,
    esp: Option<&[u8]>,
) -> crate::Result<Growth> {
    let rd = |e: IsoError| Error::reading("reading the system area", e);
    let Some(gpt) = &image.system_area.gpt else {
        return Err(input_err("the image has no GPT"));
    };
    let Some(backup) = &gpt.backup else {
        return Err(input_err("the image has no backup GPT"));
    };
    let new_start512 = data_end * 4;
    let delta512 = new_start512.saturating_sub(app.start512);
    let delta_blocks = delta512 / 4;
    let output_bytes = image.file_len + delta512 * 512;
    if output_bytes / SECTOR > u64::from(u32::MAX) {
        return Err(usage(
            "the output would exceed the ISO 9660 volume size limit",
        ));
    }
    let mut g = Growth {
        output_bytes,
        copy_end: app.start512 * 512,
        ..Default::default()
    };
    g.segments = moved_run(app, data_end, esp)?;
    // GPT entries: p1 ends at the new data's end, the appended partitions shift.
    let head = read_at(
        reader,
        0,
        gpt_format::PRIMARY_HEADER.end,
        image.file_len,
        "system area",
    )
    .map_err(rd)?;
    let mut entries = crate::iso::sysarea::read_gpt_entries(reader, image.file_len, &gpt.primary)
        .map_err(rd)?
        .ok_or_else(|| input_err("the GPT entry array is unreadable"))?;
    let esize = gpt.primary.entry_size as usize;
    let p1_first = u64::from(app.block_offset) * 4;
    for e in entries.chunks_exact_mut(esize) {
        if gpt_format::entry_unused(e) {
            continue;
        }
        let first = gpt_format::entry_first_lba(e);
        let last = gpt_format::entry_last_lba(e);
        if first == p1_first {
            gpt_format::set_entry_last_lba(e, new_start512 - 1);
        } else if first >= app.start512 {
            gpt_format::set_entry_first_lba(e, first + delta512);
            gpt_format::set_entry_last_lba(e, last + delta512);
        }
    }
    let ecrc = crc32fast::hash(&entries);
    let new_backup = backup.my_lba + delta512;
    let new_backup_entries = backup.entries_lba + delta512;
    let (h, bh) = gpt_format::relaid_headers(
        &head[gpt_format::PRIMARY_HEADER],
        &gpt_format::Relaid {
            backup_lba: new_backup,
            backup_entries_lba: new_backup_entries,
            last_usable: gpt.primary.last_usable.saturating_add(delta512),
            entries_crc: ecrc,
        },
    );
    g.patches.push((gpt_format::PRIMARY_HEADER.start as u64, h));
    g.patches.push((
        gpt.primary.entries_lba * gpt_format::LBA_BYTES,
        entries.clone(),
    ));
    // The tail: the input's, with the backup entries and header rewritten in place.
    let tail_len = image.file_len - app.tail512 * 512;
    let mut tail = read_at(
        reader,
        app.tail512 * 512,
        tail_len as usize,
        image.file_len,
        "backup GPT",
    )
    .map_err(rd)?;
    let put = |t: &mut Vec<u8>, at512: u64, data: &[u8]| -> crate::Result<()> {
        let at = ((at512 - app.tail512) * 512) as usize;
        let dst = t
            .get_mut(at..at + data.len())
            .ok_or_else(|| input_err("the backup GPT does not fit the end of the image"))?;
        dst.copy_from_slice(data);
        Ok(())
    };
    put(&mut tail, backup.entries_lba, &entries)?;
    put(&mut tail, backup.my_lba, &bh)?;
    g.tail = tail;
    if image.system_area.mbr_signature {
        g.patches
            .extend(mbr_patches(&head, app, delta512, new_start512));
    }
    g.patches
        .extend(el_torito_patches(image, app, delta_blocks));
    let (patches, volume_bytes) =
        volume_size_patches(image, app, data_end, output_bytes, delta_blocks);
    g.patches.extend(patches);
    g.volume_bytes = volume_bytes;
    Ok(g)
}

/// The moved run (the ESP, edited when `esp` is given, the gap, anything up to the tail), as
/// segments from `data_end` on.
fn moved_run(
    app: &Appended,
    data_end: u64,
    esp: Option<&[u8]>,
) -> crate::Result<Vec<(u32, Source)>> {
    let mut segments = Vec::new();
    // The moved run: ESP (maybe edited), gap, anything up to the tail.
    let run_start = app.start512 * 512;
    let run_end = app.tail512 * 512;
    match (esp, app.esp) {
        (Some(bytes), Some((first, sectors))) if first == app.start512 => {
            if bytes.len() as u64 != sectors * 512 || !(bytes.len() as u64).is_multiple_of(SECTOR) {
                return Err(usage(format!(
                "the edited EFI partition has {} bytes, the partition {} (whole 2048-byte blocks needed)",
                bytes.len(),
                sectors * 512
            )));
            }
            segments.push((data_end as u32, Source::Bytes(Arc::from(bytes))));
            let rest = run_start + bytes.len() as u64;
            if run_end > rest {
                segments.push((
                    (data_end + bytes.len() as u64 / SECTOR) as u32,
                    Source::OriginalPlus {
                        offset: rest,
                        len: run_end - rest,
                        tail: Arc::from(Vec::new()),
                    },
                ));
            }
        }
        (Some(_), _) => {
            return Err(input_err(
                "the EFI partition does not start right after partition 1: cannot move it",
            ))
        }
        (None, _) => segments.push((
            data_end as u32,
            Source::OriginalPlus {
                offset: run_start,
                len: run_end - run_start,
                tail: Arc::from(Vec::new()),
            },
        )),
    }
    Ok(segments)
}

/// MBR entries after growth: an entry reaching over the moved area (the protective 0xEE, to
/// the image's or the backup GPT's end) grows with it; entries of the moved area shift; an
/// entry ending where p1 ended ends where it ends now. `head` holds the input's MBR.
fn mbr_patches(head: &[u8], app: &Appended, delta512: u64, new_start512: u64) -> Vec<Patch> {
    let mut patches = Vec::new();
    for i in 0..mbr::ENTRIES {
        let at = mbr::entry_offset(i);
        let Some(old) = head.get(at..at + mbr::ENTRY_LEN) else {
            continue;
        };
        let mut e = old.to_vec();
        let start = u64::from(le32(&e, mbr::START));
        let sectors = u64::from(le32(&e, mbr::SECTORS));
        if sectors == 0 {
            continue;
        }
        let end = start + sectors;
        let (new_start, new_sectors) = if start < app.start512 && end > app.start512 {
            (start, sectors + delta512)
        } else if start >= app.start512 {
            (start + delta512, sectors)
        } else if end == app.start512 {
            (start, new_start512 - start)
        } else {
            continue;
        };
        let new_sectors = new_sectors.min(u64::from(u32::MAX));
        set_le32(
            &mut e,
            mbr::START,
            new_start.min(u64::from(u32::MAX)) as u32,
        );
        set_le32(&mut e, mbr::SECTORS, new_sectors as u32);
        let chs = |lba| mbr::chs_bytes(lba, mbr::HYBRID_HEADS, mbr::HYBRID_SECTORS);
        if e[mbr::CHS_FIRST] == chs(start) {
            e[mbr::CHS_FIRST].copy_from_slice(&chs(new_start));
        }
        if e[mbr::CHS_LAST] == chs(end - 1) {
            e[mbr::CHS_LAST].copy_from_slice(&chs(new_start + new_sectors - 1));
        }
        patches.push((at as u64, e));
    }
    patches
}

/// El Torito entries pointing into the moved area (the EFI entry = p2) follow it.
fn el_torito_patches(image: &Image, app: &Appended, delta_blocks: u64) -> Vec<Patch> {
    let mut patches = Vec::new();
    for entry in image.boot_catalog.iter().flat_map(|c| c.entries.iter()) {
        if u64::from(entry.lba) * 4 >= app.start512 {
            let lba = (u64::from(entry.lba) + delta_blocks) as u32;
            patches.push((
                entry.entry_offset + eltorito::LOAD_RBA as u64,
                lba.to_le_bytes().to_vec(),
            ));
        }
    }
    patches
}

/// Every descriptor's volume size, each old value mapped to its counterpart (whole image,
/// partition 1's end, a size relative to partition 1); returns the patches and the new size
/// of the whole-disk primary volume.
fn volume_size_patches(
    image: &Image,
    app: &Appended,
    data_end: u64,
    output_bytes: u64,
    delta_blocks: u64,
) -> (Vec<Patch>, u64) {
    let mut patches = Vec::new();
    let old_total_blocks = image.file_len / SECTOR;
    let new_total_blocks = output_bytes / SECTOR;
    let old_p2 = app.start_block();
    let off = u64::from(app.block_offset);
    let map = |v: u64| -> u64 {
        if v == old_total_blocks {
            new_total_blocks
        } else if v == old_p2 {
            data_end
        } else if v + off == old_p2 {
            data_end - off
        } else if v > old_p2 {
            v + delta_blocks
        } else {
            v
        }
    };
    let mut volume_bytes = image.volume_bytes();
    for d in image.descriptors.iter().chain(view_descriptors(image)) {
        if !matches!(
            d.kind,
            DescriptorKind::Primary | DescriptorKind::Joliet { .. } | DescriptorKind::Supplementary
        ) {
            continue;
        }
        let new = map(u64::from(d.volume_space_size));
        if d.sector == image.pvd().sector {
            volume_bytes = new * SECTOR;
        }
        patches.push((
            d.field_offset(vd::VOLUME_SPACE_SIZE),
            both32(new as u32).to_vec(),
        ));
    }
    (patches, volume_bytes)
}

//! The partition-1 view of `-partition_offset` media (EL10 / Fedora 37+): xorriso writes a
//! second volume-descriptor set and a second pair of directory trees (ISO 9660 and Joliet)
//! 16 blocks into the image, whose block addresses are relative to partition 1. Linux
//! reading partition 1 of a dd'd stick (stage 2, the media check) sees only this view, so a
//! writer must keep both views naming the same extents.
//!
//! The trees are read with the same walker and bounds as the whole-disk trees (through a
//! reader shifted by the partition's start) and then stored in absolute terms: every block
//! address plus [`PartitionView::block_offset`], every record offset plus the partition's
//! byte offset. Comparing them with the whole-disk trees is then plain equality, and a
//! writer converts back by subtracting `block_offset`.

use std::io::{self, Read, Seek, SeekFrom};

use super::dir::{read_tree, Tree, TreeKind};
use super::format::iso9660::{vd, FIRST_DESCRIPTOR_SECTOR};
use super::format::mbr;
use super::sysarea::SystemArea;
use super::volume::{read_descriptors, DescriptorKind, VolumeDescriptor};
use super::{IsoError, SECTOR};

/// The second descriptor set and trees of a `-partition_offset` image.
#[derive(Debug, Clone)]
pub struct PartitionView {
    /// Start of the partition in 2048-byte blocks (16 on lorax media): on-disk addresses
    /// of this view are the absolute ones minus this.
    pub block_offset: u32,
    /// The view's descriptors (sector = absolute block, root and path tables absolute).
    pub descriptors: Vec<VolumeDescriptor>,
    /// Its primary descriptor's volume-space size as stored (partition-relative: p1's size).
    pub pvd_volume_space_size: u32,
    pub primary: Tree,
    pub joliet: Option<Tree>,
}

impl PartitionView {
    /// The view's tree of `kind`.
    pub fn tree(&self, kind: TreeKind) -> Option<&Tree> {
        match kind {
            TreeKind::Iso9660 => Some(&self.primary),
            TreeKind::Joliet => self.joliet.as_ref(),
        }
    }
}

/// A reader that sees the input from `base` on, as an image of its own.
struct Shifted<'a, R> {
    inner: &'a mut R,
    base: u64,
}

impl<R: Read> Read for Shifted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: Seek> Seek for Shifted<'_, R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let abs = match pos {
            SeekFrom::Start(p) => SeekFrom::Start(self.base.saturating_add(p)),
            other => other,
        };
        Ok(self.inner.seek(abs)?.saturating_sub(self.base))
    }
}

/// The first partition that starts on a 2048-byte block after the system area and holds
/// an ISO 9660 descriptor set of its own: its start in blocks.
fn candidate_start(sa: &SystemArea) -> Option<u32> {
    let gpt = sa
        .gpt
        .iter()
        .flat_map(|g| g.partitions.iter())
        .map(|p| p.first_lba);
    let mbr = sa
        .mbr
        .iter()
        .filter(|p| p.part_type != mbr::TYPE_PROTECTIVE)
        .map(|p| u64::from(p.start));
    gpt.chain(mbr)
        .filter(|&s| s >= 64 && s % 4 == 0)
        .min()
        .and_then(|s| u32::try_from(s / 4).ok())
}

/// Reads the partition view, if the image has one (`None` for images without a partition
/// starting in the first blocks, or whose partition holds no `CD001` descriptor).
pub fn read_partition_view<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    sa: &SystemArea,
) -> Result<Option<PartitionView>, IsoError> {
    let Some(block_offset) = candidate_start(sa) else {
        return Ok(None);
    };
    let base = u64::from(block_offset) * SECTOR;
    let Some(view_len) = file_len.checked_sub(base) else {
        return Ok(None);
    };
    if view_len < 17 * SECTOR {
        return Ok(None);
    }
    // Only a descriptor at the view's block 16 makes it a view (a partition holding data of
    // the whole-disk tree, as isohybrid's efiboot.img partition, does not).
    let probe = super::read_at(
        r,
        base + u64::from(FIRST_DESCRIPTOR_SECTOR) * SECTOR,
        8,
        file_len,
        "partition descriptor",
    )?;
    if !vd::has_standard_id(&probe) {
        return Ok(None);
    }
    let mut view = Shifted { inner: r, base };
    let mut descriptors = read_descriptors(&mut view, view_len)?;
    let pvd = descriptors
        .iter()
        .find(|d| d.kind == DescriptorKind::Primary)
        .cloned()
        .ok_or_else(|| IsoError::NotIso("partition 1 has no primary volume descriptor".into()))?;
    let mut primary = read_tree(&mut view, view_len, &pvd, TreeKind::Iso9660)?;
    let mut joliet = match descriptors
        .iter()
        .find(|d| matches!(d.kind, DescriptorKind::Joliet { .. }))
        .cloned()
    {
        Some(svd) => Some(read_tree(&mut view, view_len, &svd, TreeKind::Joliet)?),
        None => None,
    };
    absolutize(&mut primary, block_offset, base);
    if let Some(j) = joliet.as_mut() {
        absolutize(j, block_offset, base);
    }
    for d in &mut descriptors {
        d.sector = d.sector.saturating_add(block_offset);
        if let Some(root) = d.root.as_mut() {
            root.lba = root.lba.saturating_add(block_offset);
            root.record_offset = root.record_offset.saturating_add(base);
        }
        if let Some(pt) = d.path_tables.as_mut() {
            pt.l_lba = pt.l_lba.saturating_add(block_offset);
            pt.m_lba = pt.m_lba.saturating_add(block_offset);
        }
    }
    Ok(Some(PartitionView {
        block_offset,
        pvd_volume_space_size: pvd.volume_space_size,
        descriptors,
        primary,
        joliet,
    }))
}

/// Partition-relative addresses and offsets of a tree read through [`Shifted`] → absolute.
fn absolutize(tree: &mut Tree, block_offset: u32, base: u64) {
    for n in &mut tree.nodes {
        for e in &mut n.extents {
            e.lba = e.lba.saturating_add(block_offset);
        }
        for r in &mut n.records {
            *r = r.saturating_add(base);
        }
        n.dot_record = n.dot_record.map(|r| r.saturating_add(base));
        n.dotdot_record = n.dotdot_record.map(|r| r.saturating_add(base));
        n.dotdot_lba = n.dotdot_lba.map(|l| l.saturating_add(block_offset));
    }
    for (_, e) in &mut tree.dir_extents {
        e.lba = e.lba.saturating_add(block_offset);
    }
}

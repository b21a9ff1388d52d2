//! ISO 9660 images: read the metadata of a boot ISO ([`Image`]) and graft-write an edited
//! copy in one streaming pass ([`write`]).
//!
//! Reading is hand-written rather than done through hadris-iso 3.0.0-rc.2: the writer needs
//! the absolute byte offset of *every* directory record (ISO 9660 and Joliet trees, `.`/`..`
//! included) to repoint them, the Joliet tree as its own tree next to the Rock Ridge one,
//! the hybrid MBR/GPT (hadris reads neither), a count of the bytes read, and hard guarantees
//! against hostile input (loops, huge size fields). hadris-iso exposes records per node of
//! one mounted namespace through its own block-device stack (hadris-iso/hadris-fs are
//! dependencies here only for writing driver update disks, `dud create`; DUDs are read with
//! this reader); an own walker gives all of the above in one place.

pub mod device;
mod digest;
pub mod dir;
pub mod eltorito;
pub mod format;
pub mod inspect;
pub mod md5;
pub mod output_guard;
pub mod partition;
mod sink;
pub mod sysarea;
pub mod volume;
pub mod write;

use std::io::{self, Read, Seek, SeekFrom};

pub use dir::{Node, NodeKind, Tree, TreeKind};
pub use eltorito::{BootCatalog, BootEntry};
pub use partition::PartitionView;
pub use sysarea::SystemArea;
pub use volume::{DescriptorKind, VolumeDescriptor};

/// ISO 9660 logical sector size.
pub const SECTOR: u64 = 2048;
/// Byte offset of the first volume descriptor (sector 16; the primary on the media here).
pub const PVD_OFFSET_BYTES: u64 = format::iso9660::FIRST_DESCRIPTOR_SECTOR as u64 * SECTOR;
/// Byte offset of the primary volume descriptor's application-use field (isomd5sum).
pub const PVD_APP_USE_OFFSET: u64 = PVD_OFFSET_BYTES + format::iso9660::vd::APP_USE as u64;
/// Length of the application-use field.
pub const APP_USE_LEN: usize = format::iso9660::vd::APP_USE_LEN;

/// Errors of the ISO reader and writer; each displays on one line.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    #[error("not an ISO 9660 image: {0}")]
    NotIso(String),
    #[error("truncated image: {what} ends at byte {end}, image has {len} bytes")]
    Truncated { what: String, end: u64, len: u64 },
    #[error("malformed {what} at byte {offset}: {why}")]
    Malformed {
        what: &'static str,
        offset: u64,
        why: String,
    },
    #[error("{0}")]
    Limit(String),
    #[error("no such file in the image: {0}")]
    NotFound(String),
    #[error("read error: {0}")]
    Io(#[from] io::Error),
}

impl IsoError {
    pub(crate) fn malformed(what: &'static str, offset: u64, why: impl Into<String>) -> Self {
        IsoError::Malformed {
            what,
            offset,
            why: why.into(),
        }
    }
    /// Turns the error into the crate error for the input file `path`.
    pub fn into_input(self, path: &std::path::Path) -> crate::Error {
        crate::Error::input_cause(path, self)
    }
}

/// A `Read + Seek` adapter that counts the bytes read through it.
pub struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R> CountingReader<R> {
    pub fn new(inner: R) -> Self {
        CountingReader { inner, count: 0 }
    }
    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.count
    }
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }
}

impl<R: Seek> Seek for CountingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// One contiguous run of a file's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Extent {
    /// First 2048-byte sector.
    pub lba: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Extent {
    /// Byte offset of the extent in the image.
    pub fn offset(&self) -> u64 {
        u64::from(self.lba) * SECTOR
    }
    /// Sectors the extent occupies.
    pub fn sectors(&self) -> u64 {
        u64::from(self.len).div_ceil(SECTOR)
    }
    /// First byte after the extent's last sector.
    pub fn end_sector_byte(&self) -> u64 {
        self.offset() + self.sectors() * SECTOR
    }
}

/// Reads exactly `len` bytes at `offset`; `what` names the structure for the error.
pub(crate) fn read_at<R: Read + Seek>(
    r: &mut R,
    offset: u64,
    len: usize,
    image_len: u64,
    what: &str,
) -> Result<Vec<u8>, IsoError> {
    let end = offset
        .checked_add(len as u64)
        .ok_or_else(|| IsoError::Truncated {
            what: what.to_string(),
            end: u64::MAX,
            len: image_len,
        })?;
    if end > image_len {
        return Err(IsoError::Truncated {
            what: what.to_string(),
            end,
            len: image_len,
        });
    }
    r.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// The metadata of an ISO image: descriptors, both directory trees, El Torito catalog,
/// system area. Holds no file data; the data methods take the same reader again.
#[derive(Debug, Clone)]
pub struct Image {
    /// Length of the image file in bytes.
    pub file_len: u64,
    /// Volume descriptors from sector 16 up to the terminator.
    pub descriptors: Vec<VolumeDescriptor>,
    /// The primary volume descriptor (also in `descriptors`).
    pub pvd: VolumeDescriptor,
    /// The ISO 9660 tree with Rock Ridge names where present.
    pub primary: Tree,
    /// The Joliet tree, if the image has a Joliet supplementary descriptor.
    pub joliet: Option<Tree>,
    /// The El Torito boot catalog, if a boot record points at one.
    pub boot_catalog: Option<BootCatalog>,
    /// The isohybrid MBR and GPT in the first 32 KiB (and the backup GPT).
    pub system_area: SystemArea,
    /// The 512-byte application-use field of the PVD (isomd5sum lives here).
    pub app_use: Vec<u8>,
    /// The partition-1 descriptor set and trees of `-partition_offset` media (EL10), in
    /// absolute addresses (see [`partition`]).
    pub partition: Option<PartitionView>,
    /// Bytes read from the image to build this metadata.
    pub bytes_read: u64,
}

impl Image {
    /// Reads the metadata of an image. Reads only descriptors, directories, the boot catalog
    /// and the system area (typically a few hundred KiB even for a multi-GiB ISO).
    pub fn open<R: Read + Seek>(reader: R) -> Result<Image, IsoError> {
        let mut r = CountingReader::new(reader);
        let file_len = r.seek(SeekFrom::End(0))?;
        let descriptors = volume::read_descriptors(&mut r, file_len)?;
        let pvd = descriptors
            .iter()
            .find(|d| d.kind == DescriptorKind::Primary)
            .ok_or_else(|| IsoError::NotIso("no primary volume descriptor".into()))?
            .clone();
        let primary = dir::read_tree(&mut r, file_len, &pvd, TreeKind::Iso9660)?;
        let joliet = match descriptors
            .iter()
            .find(|d| matches!(d.kind, DescriptorKind::Joliet { .. }))
        {
            Some(svd) => Some(dir::read_tree(&mut r, file_len, svd, TreeKind::Joliet)?),
            None => None,
        };
        let boot_catalog = match descriptors.iter().find_map(|d| match d.kind {
            DescriptorKind::BootRecord { catalog_lba } => Some(catalog_lba),
            _ => None,
        }) {
            Some(lba) => Some(eltorito::read_catalog(&mut r, file_len, lba, &primary)?),
            None => None,
        };
        let system_area = sysarea::read_system_area(&mut r, file_len, &primary)?;
        let partition = partition::read_partition_view(&mut r, file_len, &system_area)?;
        let app_use = read_at(
            &mut r,
            PVD_APP_USE_OFFSET,
            APP_USE_LEN,
            file_len,
            "application-use field",
        )?;
        Ok(Image {
            file_len,
            descriptors,
            pvd,
            primary,
            joliet,
            boot_catalog,
            system_area,
            app_use,
            partition,
            bytes_read: r.bytes_read(),
        })
    }

    /// The primary volume descriptor.
    pub fn pvd(&self) -> &VolumeDescriptor {
        &self.pvd
    }

    /// The volume identifier (label) of the primary volume descriptor.
    pub fn volume_id(&self) -> &str {
        &self.pvd().volume_id
    }

    /// The volume size in bytes according to the PVD.
    pub fn volume_bytes(&self) -> u64 {
        u64::from(self.pvd().volume_space_size) * SECTOR
    }

    /// Looks a path up in the primary tree (Rock Ridge names, falling back to a
    /// case-insensitive match on ISO 9660 names), e.g. `isolinux/initrd.img`.
    pub fn find(&self, path: &str) -> Option<&Node> {
        self.primary.find(path)
    }

    /// Every path (primary tree) whose data starts at the same extent as `path`
    /// (hard links as stored by xorriso), `path` included, sorted.
    pub fn hardlinks_of(&self, path: &str) -> Vec<String> {
        let Some(node) = self.find(path) else {
            return Vec::new();
        };
        let Some(first) = node.extents.first().copied() else {
            return vec![node.path.clone()];
        };
        if first.len == 0 {
            return vec![node.path.clone()];
        }
        let mut paths: Vec<String> = self
            .primary
            .files()
            .filter(|n| n.extents.first().map(|e| e.lba) == Some(first.lba))
            .map(|n| n.path.clone())
            .collect();
        paths.sort();
        paths
    }

    /// Groups of two or more file paths sharing one (non-empty) data extent, sorted.
    pub fn hardlink_groups(&self) -> Vec<Vec<String>> {
        let mut by_lba: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
        for n in self.primary.files() {
            if let Some(e) = n.extents.first() {
                if e.len > 0 {
                    by_lba.entry(e.lba).or_default().push(n.path.clone());
                }
            }
        }
        let mut groups: Vec<Vec<String>> = by_lba
            .into_values()
            .filter(|g| g.len() > 1)
            .map(|mut g| {
                g.sort();
                g
            })
            .collect();
        groups.sort();
        groups
    }

    /// Reads a whole file, refusing files larger than `cap` bytes.
    pub fn read_file<R: Read + Seek>(
        &self,
        reader: &mut R,
        path: &str,
        cap: u64,
    ) -> Result<Vec<u8>, IsoError> {
        let node = self
            .find(path)
            .ok_or_else(|| IsoError::NotFound(path.to_string()))?;
        if node.size > cap {
            return Err(IsoError::Limit(format!(
                "{path} has {} bytes, more than the {cap} allowed here",
                node.size
            )));
        }
        let mut out = Vec::with_capacity(node.size as usize);
        self.file_reader(reader, node).read_to_end(&mut out)?;
        Ok(out)
    }

    /// A reader over a file's extents, in order.
    pub fn file_reader<'a, R: Read + Seek>(
        &self,
        reader: &'a mut R,
        node: &Node,
    ) -> ExtentReader<'a, R> {
        ExtentReader {
            inner: reader,
            extents: node.extents.clone(),
            index: 0,
            pos_in_extent: 0,
        }
    }
}

/// Reads the concatenated extents of one file (see [`Image::file_reader`]).
pub struct ExtentReader<'a, R> {
    inner: &'a mut R,
    extents: Vec<Extent>,
    index: usize,
    pos_in_extent: u64,
}

impl<R: Read + Seek> Read for ExtentReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(ext) = self.extents.get(self.index).copied() else {
                return Ok(0);
            };
            let left = u64::from(ext.len) - self.pos_in_extent;
            if left == 0 {
                self.index += 1;
                self.pos_in_extent = 0;
                continue;
            }
            let want = (buf.len() as u64).min(left) as usize;
            self.inner
                .seek(SeekFrom::Start(ext.offset() + self.pos_in_extent))?;
            let n = self.inner.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file extent ends past the end of the image",
                ));
            }
            self.pos_in_extent += n as u64;
            return Ok(n);
        }
    }
}

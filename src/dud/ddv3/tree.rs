//! The container of a driver update disk: a host directory or an ISO image (nested ISOs
//! included), seen as Linux isofs shows it to the installer (Rock Ridge, else Joliet, else
//! the primary tree with lowercased names). It yields a sorted entry list and readers for
//! files; every read goes through the scan's budget.
//!
//! ISO images, the outer one and nested ones alike, are read with the crate's own reader
//! ([`crate::iso::Image`]), the one that reads the boot media: one hardened ISO stack, whose
//! errors name the cause (directory loop, extent past the end, truncation).

use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::rc::Rc;

use super::layout::{EntryKind, TreeEntry};
use super::DudError;
use crate::dud::budget::{Metered, ScanBudget};
use crate::iso::{Extent, Image, NodeKind};

/// Most directory entries walked in one image (hostile images can loop or be huge); the
/// whole scan, nested images included, has its own total in [`ScanBudget`].
const MAX_ENTRIES: usize = 100_000;
/// Deepest path walked.
const MAX_DEPTH: usize = 64;

/// A readable and seekable byte stream (host file or a file inside an ISO).
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// The image's bytes, shared by the readers of the files inside it (a nested image's
/// stream is itself a file of its parent).
type Shared = Rc<RefCell<Box<dyn ReadSeek>>>;

/// Which directory hierarchy Linux isofs would show.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    /// The primary tree with Rock Ridge names.
    RockRidge,
    /// The Joliet tree (no Rock Ridge).
    Joliet,
    /// The primary tree without Rock Ridge: names lowercased, without `;1` and a final dot
    /// (map=normal).
    Primary,
}

pub(super) enum Tree {
    /// A directory; its files are read through the scan's read budget.
    Dir(PathBuf, Rc<ScanBudget>),
    Iso {
        image: Box<Image>,
        stream: Shared,
        view: View,
        volume_id: String,
    },
}

impl Tree {
    /// Reads the metadata of an ISO image from `stream` (which the caller has wrapped in
    /// the scan's budget) and picks the tree the installer's kernel would mount.
    pub(super) fn mount_iso(mut stream: Box<dyn ReadSeek>) -> Result<Tree, DudError> {
        let image = Image::open(&mut stream).map_err(DudError::Iso)?;
        // The installer mounts with Linux isofs: Rock Ridge, else Joliet, else the primary
        // tree with names lowercased (map=normal). Linux never reads the ISO 9660:1999 tree.
        let view = if image.primary.rock_ridge {
            View::RockRidge
        } else if image.joliet.is_some() {
            View::Joliet
        } else {
            View::Primary
        };
        let volume_id = image.volume_id().trim().to_owned();
        Ok(Tree::Iso {
            image: Box::new(image),
            stream: Rc::new(RefCell::new(stream)),
            view,
            volume_id,
        })
    }

    pub(super) fn entries(&self, budget: &ScanBudget) -> Result<Vec<TreeEntry>, DudError> {
        let mut out = match self {
            Tree::Dir(root, _) => dir_entries(root, budget)?,
            Tree::Iso { image, view, .. } => iso_entries(image, *view, budget)?,
        };
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    pub(super) fn open(&self, path: &str) -> Result<Box<dyn ReadSeek>, DudError> {
        match self {
            Tree::Dir(root, budget) => Ok(Box::new(Metered::new(
                std::fs::File::open(root.join(path.trim_start_matches('/')))?,
                budget.clone(),
            ))),
            Tree::Iso {
                image,
                stream,
                view,
                ..
            } => {
                let node = tree_of(image, *view)
                    .and_then(|t| t.find(path))
                    .filter(|n| n.kind == NodeKind::File)
                    .ok_or_else(|| {
                        DudError::Iso(crate::iso::IsoError::NotFound(path.to_owned()))
                    })?;
                Ok(Box::new(FileReader {
                    stream: stream.clone(),
                    extents: node.extents.clone(),
                    size: node.size,
                    pos: 0,
                }))
            }
        }
    }
}

/// The tree of `view` (the primary tree for Rock Ridge and plain ISO 9660 names).
fn tree_of(image: &Image, view: View) -> Option<&crate::iso::Tree> {
    match view {
        View::Joliet => image.joliet.as_ref(),
        View::RockRidge | View::Primary => Some(&image.primary),
    }
}

fn dir_entries(root: &std::path::Path, budget: &ScanBudget) -> Result<Vec<TreeEntry>, DudError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .max_depth(MAX_DEPTH)
        .min_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| DudError::Io(e.into()))?;
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let path = format!("/{}", rel.to_string_lossy());
        let ft = entry.file_type();
        let (kind, size) = if ft.is_dir() {
            (EntryKind::Dir, 0)
        } else if ft.is_file() {
            (
                EntryKind::File,
                entry.metadata().map(|m| m.len()).unwrap_or(0),
            )
        } else {
            (EntryKind::Other, 0)
        };
        push_capped(&mut out, TreeEntry { path, kind, size }, budget)?;
    }
    Ok(out)
}

fn iso_entries(image: &Image, view: View, budget: &ScanBudget) -> Result<Vec<TreeEntry>, DudError> {
    let mut out = Vec::new();
    let Some(tree) = tree_of(image, view) else {
        return Ok(out);
    };
    // Node 0 is the root, which is no entry of its own.
    for node in tree.nodes.iter().skip(1) {
        let mut path = format!("/{}", node.path);
        if view == View::Primary {
            path = linux_primary_name(&path);
        }
        if path.matches('/').count() > MAX_DEPTH {
            return Err(DudError::Layout(format!(
                "directory tree deeper than {MAX_DEPTH} levels"
            )));
        }
        let kind = match node.kind {
            NodeKind::File => EntryKind::File,
            NodeKind::Dir => EntryKind::Dir,
            NodeKind::Symlink => EntryKind::Other,
        };
        let size = if kind == EntryKind::File {
            node.size
        } else {
            0
        };
        push_capped(&mut out, TreeEntry { path, kind, size }, budget)?;
    }
    Ok(out)
}

/// How Linux isofs (map=normal) shows primary-tree names: lower case, without the `;1`
/// version and without a trailing dot (`RHDD3.;1` → `rhdd3`).
fn linux_primary_name(path: &str) -> String {
    path.split('/')
        .map(|part| {
            let part = part.split(';').next().unwrap_or(part);
            let part = part.strip_suffix('.').unwrap_or(part);
            part.to_ascii_lowercase()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn push_capped(
    out: &mut Vec<TreeEntry>,
    entry: TreeEntry,
    budget: &ScanBudget,
) -> Result<(), DudError> {
    budget.entry().map_err(DudError::Budget)?;
    if out.len() >= MAX_ENTRIES {
        return Err(DudError::Layout(format!(
            "more than {MAX_ENTRIES} entries; not a driver disk"
        )));
    }
    out.push(entry);
    Ok(())
}

/// A file inside an ISO image: its extents, in order, read from the image's shared stream.
/// Owned (not borrowing the image) so that an RPM reader or a nested image can keep it.
struct FileReader {
    stream: Shared,
    extents: Vec<Extent>,
    size: u64,
    pos: u64,
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The extent holding `pos`, and where in it.
        let mut start = 0u64;
        for extent in &self.extents {
            let len = u64::from(extent.len);
            if self.pos < start + len {
                let within = self.pos - start;
                let want = (buf.len() as u64).min(len - within) as usize;
                let Some(buf) = buf.get_mut(..want) else {
                    return Ok(0);
                };
                let mut stream = self
                    .stream
                    .try_borrow_mut()
                    .map_err(|_| io::Error::other("the image stream is already being read"))?;
                stream.seek(SeekFrom::Start(extent.offset() + within))?;
                let n = stream.read(buf)?;
                self.pos += n as u64;
                return Ok(n);
            }
            start += len;
        }
        Ok(0)
    }
}

impl Seek for FileReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.pos)
    }
}

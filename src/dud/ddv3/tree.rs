//! The container of a driver update disk: a host directory or an ISO image (nested ISOs
//! included), seen as Linux isofs shows it to the installer (Rock Ridge, else Joliet, else
//! the primary tree with lowercased names). It yields a sorted entry list and readers for
//! files; every read goes through the scan's budget.

use std::io::{Read, Seek};
use std::path::PathBuf;
use std::rc::Rc;

use super::layout::{EntryKind, TreeEntry};
use super::DudError;
use crate::dud::budget::{Metered, ScanBudget};

/// Most directory entries walked in one image (hostile images can loop or be huge); the
/// whole scan, nested images included, has its own total in [`ScanBudget`].
const MAX_ENTRIES: usize = 100_000;
/// Deepest path walked.
const MAX_DEPTH: usize = 64;

/// A readable and seekable byte stream (host file or a file inside an ISO).
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

type IsoDevice = hadris_storage::sync::StreamDevice<
    hadris_storage::ReadOnly<hadris_io::StdIo<Box<dyn ReadSeek>>>,
>;
type IsoVolume = hadris_fs::sync::Volume<hadris_iso::sync::IsoFs<IsoDevice>>;

pub(super) enum Tree {
    /// A directory; its files are read through the scan's read budget.
    Dir(PathBuf, Rc<ScanBudget>),
    Iso {
        volume: IsoVolume,
        volume_id: String,
        /// Primary-tree names, shown lowercased as Linux does.
        lowercase: bool,
    },
}

impl Tree {
    pub(super) fn mount_iso(stream: Box<dyn ReadSeek>) -> Result<Tree, DudError> {
        let block = hadris_storage::BlockSize::new(2048)
            .ok_or_else(|| DudError::Iso("bad block size".into()))?;
        let device = IsoDevice::new(
            hadris_storage::ReadOnly::new(hadris_io::StdIo::new(stream)),
            block,
        )
        .map_err(|e| DudError::Iso(format!("{e:?}")))?;
        let mut fs = hadris_iso::sync::IsoFs::mount(device, hadris_fs::MountOptions::new())
            .map_err(|e| DudError::Iso(one_line_debug(&e)))?;
        // The installer mounts with Linux isofs: Rock Ridge, else Joliet, else the primary
        // tree with names lowercased (map=normal). Linux never reads the ISO 9660:1999 tree.
        if fs.namespace() == hadris_iso::Namespace::Enhanced {
            fs = hadris_iso::sync::IsoFs::mount_namespace(
                fs.into_inner(),
                hadris_fs::MountOptions::new(),
                hadris_iso::Namespace::Primary,
            )
            .map_err(|e| DudError::Iso(one_line_debug(&e)))?;
        }
        let lowercase = fs.namespace() == hadris_iso::Namespace::Primary;
        let volume_id = String::from_utf8_lossy(fs.info().id(hadris_iso::IsoId::Volume))
            .trim()
            .to_owned();
        Ok(Tree::Iso {
            volume: hadris_fs::sync::Volume::new(fs),
            volume_id,
            lowercase,
        })
    }

    pub(super) fn entries(&self, budget: &ScanBudget) -> Result<Vec<TreeEntry>, DudError> {
        let mut out = Vec::new();
        match self {
            Tree::Dir(root, _) => {
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
            }
            Tree::Iso {
                volume, lowercase, ..
            } => {
                let walk = volume
                    .walk("/")
                    .map_err(|e| DudError::Iso(one_line_debug(&e)))?;
                for entry in walk {
                    let entry = entry.map_err(|e| DudError::Iso(one_line_debug(&e)))?;
                    let mut path = String::from_utf8_lossy(entry.path()).into_owned();
                    if *lowercase {
                        path = linux_primary_name(&path);
                    }
                    if path.matches('/').count() > MAX_DEPTH {
                        return Err(DudError::Layout(format!(
                            "directory tree deeper than {MAX_DEPTH} levels"
                        )));
                    }
                    let meta = entry.entry().metadata();
                    let kind = match meta.file_type() {
                        hadris_fs::FileType::File => EntryKind::File,
                        hadris_fs::FileType::Dir => EntryKind::Dir,
                        _ => EntryKind::Other,
                    };
                    push_capped(
                        &mut out,
                        TreeEntry {
                            path,
                            kind,
                            size: meta.len(),
                        },
                        budget,
                    )?;
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    pub(super) fn open(&self, path: &str) -> Result<Box<dyn ReadSeek>, DudError> {
        match self {
            Tree::Dir(root, budget) => Ok(Box::new(Metered::new(
                std::fs::File::open(root.join(path.trim_start_matches('/')))?,
                budget.clone(),
            ))),
            Tree::Iso { volume, .. } => {
                let file = volume
                    .open(path, hadris_fs::OpenOptions::new().read())
                    .map_err(|e| DudError::Iso(format!("{path}: {}", one_line_debug(&e))))?;
                Ok(Box::new(file))
            }
        }
    }
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

fn one_line_debug(e: &dyn std::fmt::Debug) -> String {
    format!("{e:?}").replace('\n', " ")
}

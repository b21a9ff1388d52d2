//! The writer's data model: what an edit asks for ([`EditPlan`], [`NewContent`]) and what planning computes from it ([`Layout`]: patches of the copied
//! input, appended segments, the backup GPT tail). A leaf: every phase builds on it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::output::InputStamp;
use crate::iso::Extent;
use crate::Error;

/// New content for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewContent {
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// The file's current bytes followed by these (the initrd overlay; the caller pads the
    /// original to the alignment it needs by putting the padding at the start of these).
    OriginalPlus(Vec<u8>),
    /// The bytes of a file on disk (streamed, never held in memory).
    File(PathBuf),
    /// Exactly as many bytes as the file has, written over its own extent: the file keeps
    /// its place and size. The only edit allowed on boot images and on files a partition
    /// covers (images/efiboot.img), which must never move.
    InPlace(Vec<u8>),
}

/// What to change. Paths are ISO paths like `isolinux/initrd.img` (leading `/` optional).
#[derive(Debug, Clone, Default)]
pub struct EditPlan {
    /// Existing files to replace.
    pub replace: Vec<(String, NewContent)>,
    /// Files to add (missing directories are created).
    pub add: Vec<(String, NewContent)>,
    /// New volume identifier for the PVD and the Joliet SVD.
    pub volume_id: Option<String>,
    /// Implant an isomd5sum as the very last write.
    pub implant_md5: bool,
    /// Timestamp (Unix seconds, UTC) for new directory records (SOURCE_DATE_EPOCH or fixed).
    pub mtime: i64,
    /// The input as it was when the caller derived this plan from it (e.g. the initrd
    /// overlay). [`write`] refuses when the input differs from it, or changes while it is
    /// written. `None`: checked from [`write`]'s own opening on.
    pub input_stamp: Option<InputStamp>,
    /// New bytes of the EFI system partition appended behind the ISO 9660 data (EL10:
    /// GPT partition 2, no file of the tree), same size as the partition.
    pub appended_esp: Option<Vec<u8>>,
}

/// Options of [`write`].

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    /// What it is: a file path, `dir:<path>` (ISO 9660), `joliet-dir:<path>`,
    /// `path-tables`, `joliet-path-tables`; with a `p1-` prefix for the partition-1 view's
    /// trees (EL10).
    pub what: String,
    pub lba: u32,
    pub len: u64,
    /// Rewritten at its old place instead of appended.
    pub in_place: bool,
}

/// Where appended data comes from. Byte buffers are shared (`Arc`) so that content given
/// once is held once, however many names and segments refer to it.
#[derive(Debug, Clone)]
pub(super) enum Source {
    Bytes(Arc<[u8]>),
    /// Copy `len` bytes of the input at `offset`, then the bytes.
    OriginalPlus {
        offset: u64,
        len: u64,
        tail: Arc<[u8]>,
    },
    File {
        path: PathBuf,
        len: u64,
        /// The file as planned: checked again before the output is renamed.
        stamp: InputStamp,
    },
}

impl Source {
    pub(super) fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::OriginalPlus { len, tail, .. } => len + tail.len() as u64,
            Source::File { len, .. } => *len,
        }
    }
}

/// The computed layout of an edit: sizes are known before anything is written.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Size of the input file and of the output file, in bytes.
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// Where new or rewritten data goes, in output order.
    pub placements: Vec<Placement>,
    /// Final extent of every path of the primary tree that was replaced or added.
    pub extents: HashMap<String, Extent>,
    /// Overwrites of the copied input range, sorted by offset.
    pub(super) patches: Vec<(u64, Vec<u8>)>,
    /// Appended data, sorted by LBA.
    pub(super) segments: Vec<(u32, Source)>,
    /// Bytes of the input to copy (the rest up to `copy_end` is zeros).
    pub(super) copy_end: u64,
    /// Volume size of the output (PVD), which the isomd5sum covers.
    pub(super) volume_bytes: u64,
    /// Backup GPT (entries then header) written at the very end.
    pub(super) tail: Vec<u8>,
}

/// An overwrite of output bytes at an offset.
pub(super) type Patch = (u64, Vec<u8>);

pub(super) fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

pub(super) fn norm_path(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Largest single extent the writer creates (ISO 9660 sizes are 32-bit; xorriso's limit).
pub(super) const MAX_EXTENT: u64 = 0xFFFF_F800;

/// ECMA-119's both-byte-order u32, defined with the formats.
pub(super) use crate::iso::format::both32;

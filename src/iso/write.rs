//! The graft writer: a new ISO from an input ISO in one streaming pass with a minimal diff.
//!
//! How an edit is laid out ([`plan_layout`]):
//! - Every byte of the input is copied unchanged except the patched ranges listed in the
//!   [`Layout`]; new data goes to new extents after the old end of the volume.
//! - Extents that need not change never move: El Torito boot images, the boot catalog and
//!   files covered by an MBR/GPT partition (efiboot.img) cannot be replaced (edit them in
//!   place with a [`RegionEdit`]).
//! - A replaced file whose new content is small [`NewContent::Bytes`] that fits the sectors
//!   it had (and whose extent no other name shares) is rewritten in place; otherwise it gets
//!   a new extent. Paths sharing one extent (hard links) that are replaced with equal
//!   content keep sharing one new extent. Every directory record naming a replaced extent
//!   (ISO 9660 and Joliet) gets the new LBA and size; its Rock Ridge data is untouched.
//! - Added files: the directory that receives them is regenerated (old records copied,
//!   new records inserted in sort order). If it still fits its old extent it is rewritten in
//!   place, else it moves to the end and every record pointing at it (its entry in the
//!   parent, its `.`, its children's `..`, the descriptor's root record) is repointed. New
//!   directories are created at the end. Both trees are handled; if any directory moved or
//!   was created, that tree's path tables are rebuilt at the end.
//! - If the volume grew: PVD and SVD volume sizes, MBR partitions that covered the old end,
//!   the GPT (partitions covering the old end, last_usable, primary header, backup entries
//!   and header at the new end, CRCs) follow. The tail is padded as xorriso does: 300 KiB,
//!   then up to a 1 MiB boundary when the input was 1 MiB aligned; the backup GPT is in the
//!   last 512-byte sectors, inside the volume. The stale old backup header is zeroed.
//! - Region edits (efiboot.img) run before writing, on an in-memory copy of their file,
//!   and become patches. The output is then written once, sequentially (through
//!   `sink`: direct I/O from aligned buffers); with `implant_md5` every byte also goes
//!   through [`Md5Stream`] (on a second thread, or in a read-only pass started earlier by
//!   [`Prepared::start_checksum`]) and the field is written last, so nothing of the output
//!   is read back. When anything changes,
//!   the PVD application-use field (the old isomd5sum) is blanked, so an output written
//!   without `implant_md5` carries no checksum rather than a stale one.
//! - Faults: see [`write`] (temporary file, preallocation, fsync, rename, input stamps).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::dir::{split_records, NodeKind, Tree, TreeKind};
use super::md5::Md5Stream;
use super::sink::{Pace, Sink};
use super::volume::{le32, DescriptorKind};
use super::{read_at, Extent, Image, IsoError, SECTOR};
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
}

/// `Read + Write + Seek`, object safe, for [`RegionEdit`].
pub trait ReadWriteSeek: Read + Write + Seek {}
impl<T: Read + Write + Seek> ReadWriteSeek for T {}

/// The edit callback of a [`RegionEdit`].
pub type RegionEditFn = Box<dyn FnOnce(&mut dyn ReadWriteSeek) -> crate::Result<()>>;

/// A same-size, in-place edit of an existing file's extent in the OUTPUT (used for the FAT
/// image images/efiboot.img). The callback sees a stream bounded to the file's bytes.
pub struct RegionEdit {
    pub iso_path: String,
    pub edit: RegionEditFn,
}

impl std::fmt::Debug for RegionEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionEdit")
            .field("iso_path", &self.iso_path)
            .finish_non_exhaustive()
    }
}

/// What to change. Paths are ISO paths like `isolinux/initrd.img` (leading `/` optional).
#[derive(Debug, Default)]
pub struct EditPlan {
    /// Existing files to replace.
    pub replace: Vec<(String, NewContent)>,
    /// Files to add (missing directories are created).
    pub add: Vec<(String, NewContent)>,
    /// New volume identifier for the PVD and the Joliet SVD.
    pub volume_id: Option<String>,
    /// In-place edits of existing files' extents in the output.
    pub region_edits: Vec<RegionEdit>,
    /// Implant an isomd5sum as the very last write.
    pub implant_md5: bool,
    /// Timestamp (Unix seconds, UTC) for new directory records (SOURCE_DATE_EPOCH or fixed).
    pub mtime: i64,
    /// The input as it was when the caller derived this plan from it (e.g. the initrd
    /// overlay). [`write`] refuses when the input differs from it, or changes while it is
    /// written. `None`: checked from [`write`]'s own opening on.
    pub input_stamp: Option<InputStamp>,
}

/// Options of [`write`].
#[derive(Default)]
pub struct WriteOptions<'a> {
    /// Overwrite an existing output file.
    pub force: bool,
    /// Called with (bytes written, total bytes) while streaming.
    pub progress: Option<&'a mut dyn FnMut(u64, u64)>,
}

/// Where one piece of new data goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    /// What it is: a file path, `dir:<path>` (ISO 9660), `joliet-dir:<path>`,
    /// `path-tables`, `joliet-path-tables`.
    pub what: String,
    pub lba: u32,
    pub len: u64,
    /// Rewritten at its old place instead of appended.
    pub in_place: bool,
}

/// Where appended data comes from. Byte buffers are shared (`Arc`) so that content given
/// once is held once, however many names and segments refer to it.
#[derive(Debug, Clone)]
enum Source {
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
    fn len(&self) -> u64 {
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
    patches: Vec<(u64, Vec<u8>)>,
    /// Appended data, sorted by LBA.
    segments: Vec<(u32, Source)>,
    /// Bytes of the input to copy (the rest up to `copy_end` is zeros).
    copy_end: u64,
    /// Volume size of the output (PVD), which the isomd5sum covers.
    volume_bytes: u64,
    /// Backup GPT (entries then header) written at the very end.
    tail: Vec<u8>,
}

/// What [`write`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WriteSummary {
    pub output: PathBuf,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub placements: Vec<Placement>,
    pub md5_implanted: bool,
}

/// An overwrite of output bytes at an offset.
type Patch = (u64, Vec<u8>);

impl crate::report::Report for WriteSummary {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Wrote {} ({} bytes; input {} bytes){}",
            self.output.display(),
            self.output_bytes,
            self.input_bytes,
            if self.md5_implanted {
                ", isomd5sum implanted"
            } else {
                ""
            }
        )?;
        for p in &self.placements {
            writeln!(
                out,
                "  {:<32} lba {:>9} {:>12} bytes{}",
                p.what,
                p.lba,
                p.len,
                if p.in_place { " (in place)" } else { "" }
            )?;
        }
        Ok(())
    }
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn norm_path(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Largest single extent the writer creates (ISO 9660 sizes are 32-bit; xorriso's limit).
const MAX_EXTENT: u64 = 0xFFFF_F800;

fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

/// Patch of a directory record's extent fields (bytes 2..18).
fn record_fix_bytes(lba: u32, size: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&both32(lba));
    v.extend_from_slice(&both32(size));
    v
}

/// ECMA-119 7-byte recording date (UTC) from Unix seconds.
fn record_date(t: i64) -> [u8; 7] {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    if m <= 2 {
        y += 1;
    }
    let year = (y - 1900).clamp(0, 255) as u8;
    [
        year,
        m as u8,
        d as u8,
        (secs / 3600) as u8,
        (secs / 60 % 60) as u8,
        (secs % 60) as u8,
        0,
    ]
}

#[derive(Debug, Clone)]
enum Child {
    File {
        name: String,
        ident: Vec<u8>,
        group: usize,
    },
    Dir {
        job: usize,
    },
}

/// A directory of one tree that is regenerated (gets new children) or created.
#[derive(Debug, Clone)]
struct DirJob {
    tree: TreeKind,
    path: String,
    /// Node index in its tree if the directory exists.
    existing: Option<usize>,
    /// Parent job (new directories only).
    parent_job: Option<usize>,
    name: String,
    ident: Vec<u8>,
    children: Vec<Child>,
    old: Option<Extent>,
    ext: Extent,
    in_place: bool,
}

/// Content placed once and shared by every name that points at it.
#[derive(Debug, Clone)]
struct Group {
    paths: Vec<String>,
    source: Source,
    old: Option<Extent>,
    ext: Extent,
    in_place: bool,
}

/// How new records look in a tree (copied from the image's conventions).
struct Style {
    rock_ridge: bool,
    px_len: u8,
    date: [u8; 7],
}

fn ucs2_bytes(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// An ISO 9660 identifier for a new name: d-characters, 8.3 (or 30 chars for images that
/// already use longer names), unique among `taken`.
fn iso_ident(name: &str, is_dir: bool, long: bool, taken: &HashSet<String>) -> String {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                let c = c.to_ascii_uppercase();
                if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(max)
            .collect()
    };
    let (stem, ext) = match (is_dir, name.rfind('.')) {
        (false, Some(i)) if i > 0 => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    };
    let (stem_max, ext_max) = if long {
        (30usize.saturating_sub(ext.len().min(3) + 1), 3)
    } else {
        (8, 3)
    };
    let stem = clean(stem, stem_max);
    let ext = clean(ext, ext_max);
    let stem = if stem.is_empty() {
        "_".to_string()
    } else {
        stem
    };
    let make = |s: &str| -> String {
        if is_dir {
            s.to_string()
        } else {
            format!("{s}.{ext}")
        }
    };
    let mut candidate = make(&stem);
    let mut n = 1u32;
    while taken.contains(&candidate) {
        let suffix = format!("_{n}");
        let keep = stem_max.saturating_sub(suffix.len()).min(stem.len());
        candidate = make(&format!("{}{suffix}", &stem[..keep]));
        n += 1;
    }
    candidate
}

/// Builds a new directory record.
fn new_record(
    style: &Style,
    tree: TreeKind,
    ident: &[u8],
    rr_name: Option<&str>,
    ext: Extent,
    is_dir: bool,
    nlink: u32,
) -> Result<Vec<u8>, Error> {
    let mut su = Vec::new();
    if tree == TreeKind::Iso9660 && style.rock_ridge {
        let px_len = if style.px_len >= 44 { 44u8 } else { 36 };
        su.extend_from_slice(b"PX");
        su.push(px_len);
        su.push(1);
        let mode: u32 = if is_dir { 0o040555 } else { 0o100444 };
        su.extend_from_slice(&both32(mode));
        su.extend_from_slice(&both32(nlink));
        su.extend_from_slice(&both32(0));
        su.extend_from_slice(&both32(0));
        if px_len == 44 {
            su.extend_from_slice(&both32(0));
        }
        su.extend_from_slice(b"TF");
        su.push(26);
        su.push(1);
        su.push(0x0E);
        for _ in 0..3 {
            su.extend_from_slice(&style.date);
        }
        if let Some(name) = rr_name {
            let nb = name.as_bytes();
            su.extend_from_slice(b"NM");
            su.push((5 + nb.len()) as u8);
            su.push(1);
            su.push(0);
            su.extend_from_slice(nb);
        }
    }
    let pad = usize::from(ident.len().is_multiple_of(2));
    let mut len = 33 + ident.len() + pad + su.len();
    if len % 2 == 1 {
        su.push(0);
        len += 1;
    }
    if len > 255 {
        return Err(usage(format!(
            "name {:?} is too long for a directory record",
            rr_name.unwrap_or("")
        )));
    }
    let mut r = Vec::with_capacity(len);
    r.push(len as u8);
    r.push(0);
    r.extend_from_slice(&both32(ext.lba));
    r.extend_from_slice(&both32(ext.len));
    r.extend_from_slice(&style.date);
    r.push(if is_dir { 0x02 } else { 0x00 });
    r.push(0);
    r.push(0);
    r.extend_from_slice(&[1, 0, 0, 1]);
    r.push(ident.len() as u8);
    r.extend_from_slice(ident);
    if pad == 1 {
        r.push(0);
    }
    r.extend_from_slice(&su);
    Ok(r)
}

/// Lays records out in sectors (no record crosses a sector boundary).
fn pack_records(records: &[Vec<u8>]) -> Vec<u8> {
    let sector = SECTOR as usize;
    let mut out: Vec<u8> = Vec::new();
    for r in records {
        let used = out.len() % sector;
        if used + r.len() > sector {
            out.resize(out.len() + sector - used, 0);
        }
        out.extend_from_slice(r);
    }
    let rem = out.len() % sector;
    if rem != 0 || out.is_empty() {
        out.resize(out.len() + sector - rem, 0);
    }
    out
}

/// Path table (ECMA-119 §9.4) in little- or big-endian form.
fn path_table(dirs: &[(Vec<u8>, u16, u32)], big_endian: bool) -> Vec<u8> {
    let mut t = Vec::new();
    for (ident, parent, lba) in dirs {
        t.push(ident.len() as u8);
        t.push(0);
        if big_endian {
            t.extend_from_slice(&lba.to_be_bytes());
            t.extend_from_slice(&parent.to_be_bytes());
        } else {
            t.extend_from_slice(&lba.to_le_bytes());
            t.extend_from_slice(&parent.to_le_bytes());
        }
        t.extend_from_slice(ident);
        if ident.len() % 2 == 1 {
            t.push(0);
        }
    }
    t
}

/// A file on disk as a source, stamped so that a change before the rename is noticed.
fn file_source(path: &Path) -> Result<Source, Error> {
    let stamp = InputStamp::of_path(path).map_err(|e| Error::input(path, e))?;
    Ok(Source::File {
        path: path.to_path_buf(),
        len: stamp.len,
        stamp,
    })
}

fn tree_of(image: &Image, kind: TreeKind) -> Option<&Tree> {
    match kind {
        TreeKind::Iso9660 => Some(&image.primary),
        TreeKind::Joliet => image.joliet.as_ref(),
    }
}

struct Planner<'i> {
    image: &'i Image,
    groups: Vec<Group>,
    jobs: Vec<DirJob>,
    job_index: HashMap<(TreeKind, String), usize>,
}

impl Planner<'_> {
    /// The job for directory `path` of `kind`, creating it (and missing parents).
    fn dir_job(&mut self, kind: TreeKind, path: &str) -> Result<usize, Error> {
        if let Some(&j) = self.job_index.get(&(kind, path.to_string())) {
            return Ok(j);
        }
        let tree = tree_of(self.image, kind).ok_or_else(|| usage("no such tree"))?;
        let job = match tree.find_index(path) {
            Some(i) => {
                let node = tree.nodes.get(i).ok_or_else(|| usage("bad node"))?;
                if node.kind != NodeKind::Dir {
                    return Err(usage(format!(
                        "/{path} exists in the image and is not a directory"
                    )));
                }
                DirJob {
                    tree: kind,
                    path: path.to_string(),
                    existing: Some(i),
                    parent_job: None,
                    name: node.name.clone(),
                    ident: Vec::new(),
                    children: Vec::new(),
                    old: node.extents.first().copied(),
                    ext: node
                        .extents
                        .first()
                        .copied()
                        .unwrap_or(Extent { lba: 0, len: 0 }),
                    in_place: false,
                }
            }
            None => {
                let (parent, name) = match path.rfind('/') {
                    Some(i) => (&path[..i], &path[i + 1..]),
                    None => ("", path),
                };
                let parent_job = self.dir_job(kind, parent)?;
                let style_long = self.long_names();
                let taken = self.taken_idents(parent_job);
                let ident = match kind {
                    TreeKind::Iso9660 => iso_ident(name, true, style_long, &taken).into_bytes(),
                    TreeKind::Joliet => joliet_ident(name, false)?,
                };
                let j = self.jobs.len();
                self.jobs.push(DirJob {
                    tree: kind,
                    path: path.to_string(),
                    existing: None,
                    parent_job: Some(parent_job),
                    name: name.to_string(),
                    ident,
                    children: Vec::new(),
                    old: None,
                    ext: Extent { lba: 0, len: 0 },
                    in_place: false,
                });
                if let Some(p) = self.jobs.get_mut(parent_job) {
                    p.children.push(Child::Dir { job: j });
                }
                self.job_index.insert((kind, path.to_string()), j);
                return Ok(j);
            }
        };
        let j = self.jobs.len();
        self.jobs.push(job);
        self.job_index.insert((kind, path.to_string()), j);
        Ok(j)
    }

    fn long_names(&self) -> bool {
        self.image
            .primary
            .nodes
            .iter()
            .any(|n| super::dir::plain_iso_name(&n.ident).len() > 12)
    }

    /// ISO 9660 identifiers (without version) already used in a job's directory.
    fn taken_idents(&self, job: usize) -> HashSet<String> {
        let mut taken = HashSet::new();
        let Some(j) = self.jobs.get(job) else {
            return taken;
        };
        if let (Some(i), Some(tree)) = (j.existing, tree_of(self.image, j.tree)) {
            if let Some(n) = tree.nodes.get(i) {
                for &c in &n.children {
                    if let Some(cn) = tree.nodes.get(c) {
                        taken.insert(cn.ident.split(';').next().unwrap_or("").to_string());
                    }
                }
            }
        }
        for c in &j.children {
            match c {
                Child::File { ident, .. } => {
                    let s = String::from_utf8_lossy(ident);
                    taken.insert(s.split(';').next().unwrap_or("").to_string());
                }
                Child::Dir { job } => {
                    if let Some(d) = self.jobs.get(*job) {
                        taken.insert(String::from_utf8_lossy(&d.ident).into_owned());
                    }
                }
            }
        }
        taken
    }
}

fn joliet_ident(name: &str, version: bool) -> Result<Vec<u8>, Error> {
    if name.encode_utf16().count() > 64 {
        return Err(usage(format!(
            "name {name:?} is longer than Joliet's 64 characters"
        )));
    }
    let mut s = name.to_string();
    if version {
        s.push_str(";1");
    }
    Ok(ucs2_bytes(&s))
}

/// Computes where everything goes. Reads the directories that must be regenerated (and
/// nothing else) from `reader`, which must be the image `image` was opened from.
pub fn plan_layout<R: Read + Seek>(
    image: &Image,
    reader: &mut R,
    plan: &EditPlan,
) -> crate::Result<Layout> {
    let pvd = image.pvd();
    let old_volume_sectors = u64::from(pvd.volume_space_size);
    let old_end_sector = old_volume_sectors.max(image.file_len.div_ceil(SECTOR));
    let mut next: u64 = old_end_sector;
    let mut alloc = |len: u64| -> u64 {
        let lba = next;
        next += len.div_ceil(SECTOR);
        lba
    };

    // Extents that must never move.
    let mut protected: HashSet<u32> = HashSet::new();
    if let Some(cat) = &image.boot_catalog {
        protected.insert(cat.lba);
        protected.extend(cat.entries.iter().map(|e| e.lba));
    }
    for p in &image.system_area.mbr {
        if p.path.is_some() {
            protected.insert((u64::from(p.start) / 4) as u32);
        }
    }
    if let Some(gpt) = &image.system_area.gpt {
        for p in gpt.partitions.iter().filter(|p| p.path.is_some()) {
            protected.insert((p.first_lba / 4) as u32);
        }
    }

    let mut planner = Planner {
        image,
        groups: Vec::new(),
        jobs: Vec::new(),
        job_index: HashMap::new(),
    };

    // Replacements, grouped by (old extent, content).
    let mut group_keys: Vec<(u32, &NewContent)> = Vec::new();
    let mut seen_paths: HashSet<String> = HashSet::new();
    for (raw, content) in &plan.replace {
        let path = norm_path(raw);
        let node = image
            .primary
            .find(&path)
            .ok_or_else(|| usage(format!("cannot replace /{path}: no such file in the image")))?;
        if node.kind != NodeKind::File {
            return Err(usage(format!("cannot replace /{path}: not a regular file")));
        }
        if !seen_paths.insert(node.path.clone()) {
            return Err(usage(format!("/{path} is replaced twice")));
        }
        let [old] = node.extents.as_slice() else {
            return Err(usage(format!(
                "cannot replace /{path}: multi-extent files (> 4 GiB) are not supported"
            )));
        };
        if old.len > 0 && protected.contains(&old.lba) {
            return Err(usage(format!(
                "cannot replace /{path}: it is a boot image or partition (El Torito / MBR / GPT point at it); edit it in place"
            )));
        }
        let key = (old.lba, content);
        if old.len > 0 {
            if let Some(g) = group_keys.iter().position(|k| *k == key) {
                if let Some(group) = planner.groups.get_mut(g) {
                    group.paths.push(node.path.clone());
                }
                continue;
            }
        }
        let source = match content {
            NewContent::Bytes(b) => Source::Bytes(Arc::from(b.as_slice())),
            NewContent::OriginalPlus(tail) => Source::OriginalPlus {
                offset: old.offset(),
                len: u64::from(old.len),
                tail: Arc::from(tail.as_slice()),
            },
            NewContent::File(p) => file_source(p)?,
        };
        group_keys.push(key);
        planner.groups.push(Group {
            paths: vec![node.path.clone()],
            source,
            old: Some(*old),
            ext: *old,
            in_place: false,
        });
    }
    let replaced_groups = planner.groups.len();

    // Additions.
    let long = planner.long_names();
    let joliet_version = image
        .joliet
        .as_ref()
        .is_some_and(|t| t.files().any(|n| n.ident.ends_with(";1")));
    for (raw, content) in &plan.add {
        let path = norm_path(raw);
        if path.is_empty() || path.split('/').any(|c| c == "..") {
            return Err(usage(format!("cannot add {raw:?}: not a plain path")));
        }
        if image.primary.find(&path).is_some()
            || planner
                .job_index
                .contains_key(&(TreeKind::Iso9660, path.clone()))
        {
            return Err(usage(format!(
                "cannot add /{path}: it exists already (replace it instead)"
            )));
        }
        if plan
            .add
            .iter()
            .filter(|(p, _)| norm_path(p) == path)
            .count()
            > 1
        {
            return Err(usage(format!("/{path} is added twice")));
        }
        let source = match content {
            NewContent::Bytes(b) => Source::Bytes(Arc::from(b.as_slice())),
            NewContent::OriginalPlus(_) => {
                return Err(usage(format!(
                    "cannot add /{path}: OriginalPlus needs an existing file"
                )))
            }
            NewContent::File(p) => file_source(p)?,
        };
        let group = planner.groups.len();
        planner.groups.push(Group {
            paths: vec![path.clone()],
            source,
            old: None,
            ext: Extent { lba: 0, len: 0 },
            in_place: false,
        });
        let (parent, name) = match path.rfind('/') {
            Some(i) => (path[..i].to_string(), path[i + 1..].to_string()),
            None => (String::new(), path.clone()),
        };
        let mut kinds = vec![TreeKind::Iso9660];
        if image.joliet.is_some() {
            kinds.push(TreeKind::Joliet);
        }
        for kind in kinds {
            let job = planner.dir_job(kind, &parent)?;
            let ident = match kind {
                TreeKind::Iso9660 => {
                    let taken = planner.taken_idents(job);
                    format!("{};1", iso_ident(&name, false, long, &taken)).into_bytes()
                }
                TreeKind::Joliet => joliet_ident(&name, joliet_version)?,
            };
            if let Some(j) = planner.jobs.get_mut(job) {
                j.children.push(Child::File {
                    name: name.clone(),
                    ident,
                    group,
                });
            }
        }
    }

    // Sizes and data placement.
    let mut placements = Vec::new();
    let mut segments: Vec<(u32, Source)> = Vec::new();
    let mut patches: Vec<(u64, Vec<u8>)> = Vec::new();
    for (gi, g) in planner.groups.iter_mut().enumerate() {
        let len = g.source.len();
        if len > MAX_EXTENT {
            return Err(usage(format!(
                "new content for /{} has {len} bytes; files over {MAX_EXTENT} bytes are not supported",
                g.paths.first().map_or("", String::as_str)
            )));
        }
        let sharers = g.old.map_or(0, |o| {
            image
                .primary
                .files()
                .filter(|n| {
                    n.extents
                        .first()
                        .is_some_and(|e| e.lba == o.lba && e.len > 0)
                })
                .count()
        });
        let fits = match (&g.source, g.old) {
            (Source::Bytes(_), Some(o)) => {
                gi < replaced_groups
                    && o.len > 0
                    && len.div_ceil(SECTOR) <= o.sectors()
                    && sharers <= g.paths.len()
            }
            _ => false,
        };
        if fits {
            let o = g.old.unwrap_or(Extent { lba: 0, len: 0 });
            g.ext = Extent {
                lba: o.lba,
                len: len as u32,
            };
            g.in_place = true;
            if let Source::Bytes(b) = &g.source {
                let mut data = b.to_vec();
                data.resize((o.sectors() * SECTOR) as usize, 0);
                patches.push((o.offset(), data));
            }
        } else {
            let lba = alloc(len);
            g.ext = Extent {
                lba: lba as u32,
                len: len as u32,
            };
            if len > 0 {
                segments.push((lba as u32, g.source.clone()));
            }
        }
        for p in &g.paths {
            placements.push(Placement {
                what: format!("/{p}"),
                lba: g.ext.lba,
                len,
                in_place: g.in_place,
            });
        }
    }

    let style = Style {
        rock_ridge: image.primary.rock_ridge,
        px_len: image.primary.px_len,
        date: record_date(plan.mtime),
    };

    // Read the old directory extents of regenerated directories.
    let mut old_dirs: HashMap<usize, Vec<u8>> = HashMap::new();
    for (ji, j) in planner.jobs.iter().enumerate() {
        if let Some(o) = j.old {
            let b = read_at(
                reader,
                o.offset(),
                o.len as usize,
                image.file_len,
                "directory",
            )
            .map_err(|e| usage(format!("reading /{}: {e}", j.path)))?;
            old_dirs.insert(ji, b);
        }
    }

    // Pass 1: sizes with placeholder extents; decide in place vs relocate; allocate.
    let fixes_empty: HashMap<u64, Vec<u8>> = HashMap::new();
    for ji in 0..planner.jobs.len() {
        let bytes = build_dir(&planner, ji, &old_dirs, &fixes_empty, &style)?;
        let len = bytes.len() as u64;
        let Some(j) = planner.jobs.get_mut(ji) else {
            continue;
        };
        match j.old {
            Some(o) if len <= o.sectors() * SECTOR => {
                j.in_place = true;
                j.ext = o;
            }
            _ => {
                let lba = alloc(len);
                j.ext = Extent {
                    lba: lba as u32,
                    len: len as u32,
                };
            }
        }
    }

    // Record fixes keyed by the record's offset in the input.
    let mut fixes: HashMap<u64, Vec<u8>> = HashMap::new();
    for g in planner.groups.iter().take(replaced_groups) {
        if g.in_place && g.ext.len == g.old.map_or(0, |o| o.len) {
            continue;
        }
        let Some(old) = g.old else { continue };
        let all_names = g.paths.len()
            >= image
                .primary
                .files()
                .filter(|n| {
                    n.extents
                        .first()
                        .is_some_and(|e| e.lba == old.lba && e.len > 0)
                })
                .count();
        for p in &g.paths {
            if let Some(n) = image.primary.find(p) {
                for &r in &n.records {
                    fixes.insert(r, record_fix_bytes(g.ext.lba, g.ext.len));
                }
            }
        }
        if let Some(jt) = &image.joliet {
            let mut found = Vec::new();
            for p in &g.paths {
                if let Some(n) = jt.find(p).filter(|n| n.extents.first() == Some(&old)) {
                    found.extend(n.records.iter().copied());
                }
            }
            if found.len() < g.paths.len() && all_names && old.len > 0 {
                found = jt
                    .files()
                    .filter(|n| n.extents.first().is_some_and(|e| e.lba == old.lba))
                    .flat_map(|n| n.records.iter().copied())
                    .collect();
            }
            for r in found {
                fixes.insert(r, record_fix_bytes(g.ext.lba, g.ext.len));
            }
        }
    }
    let mut moved_trees: HashSet<TreeKind> = HashSet::new();
    for j in &planner.jobs {
        if j.existing.is_none() {
            moved_trees.insert(j.tree);
        }
        let (Some(i), Some(old)) = (j.existing, j.old) else {
            continue;
        };
        if j.ext == old {
            continue;
        }
        moved_trees.insert(j.tree);
        let Some(tree) = tree_of(image, j.tree) else {
            continue;
        };
        let Some(node) = tree.nodes.get(i) else {
            continue;
        };
        let fix = record_fix_bytes(j.ext.lba, j.ext.len);
        for &r in node.records.iter().chain(node.dot_record.iter()) {
            fixes.insert(r, fix.clone());
        }
        // Every `..` naming the old extent: the children's (ECMA-119), and the
        // directory's own where it names itself (the root; libisofs' Joliet directories).
        for n in tree.nodes.iter().filter(|n| n.kind == NodeKind::Dir) {
            if let (Some(r), Some(lba)) = (n.dotdot_record, n.dotdot_lba) {
                if lba == old.lba {
                    fixes.insert(r, fix.clone());
                }
            }
        }
    }

    // Pass 2: final directory bytes.
    let job_extents: Vec<Extent> = planner.jobs.iter().filter_map(|j| j.old).collect();
    for ji in 0..planner.jobs.len() {
        let bytes = build_dir(&planner, ji, &old_dirs, &fixes, &style)?;
        let Some(j) = planner.jobs.get(ji) else {
            continue;
        };
        let what = match j.tree {
            TreeKind::Iso9660 => format!("dir:/{}", j.path),
            TreeKind::Joliet => format!("joliet-dir:/{}", j.path),
        };
        placements.push(Placement {
            what,
            lba: j.ext.lba,
            len: u64::from(j.ext.len),
            in_place: j.in_place,
        });
        if j.in_place {
            let mut data = bytes;
            data.resize(j.ext.len as usize, 0);
            patches.push((j.ext.offset(), data));
        } else {
            segments.push((j.ext.lba, Source::Bytes(Arc::from(bytes))));
        }
    }
    // Fixes of records that live outside regenerated directories are patched in place.
    for (&off, fix) in &fixes {
        let inside_job = job_extents
            .iter()
            .any(|e| off >= e.offset() && off < e.offset() + u64::from(e.len));
        if !inside_job {
            patches.push((off + 2, fix.clone()));
        }
    }

    // Volume descriptors: path tables, volume id, sizes.
    let mut descriptor_patches: Vec<(u64, Vec<u8>)> = Vec::new();
    for kind in [TreeKind::Iso9660, TreeKind::Joliet] {
        if !moved_trees.contains(&kind) {
            continue;
        }
        let Some(tree) = tree_of(image, kind) else {
            continue;
        };
        let dirs = final_dirs(&planner, tree, kind, &fixes)?;
        let l = path_table(&dirs, false);
        let m = path_table(&dirs, true);
        let size = l.len() as u64;
        let l_lba = alloc(size) as u32;
        let m_lba = alloc(size) as u32;
        let label = match kind {
            TreeKind::Iso9660 => "path-tables",
            TreeKind::Joliet => "joliet-path-tables",
        };
        placements.push(Placement {
            what: label.into(),
            lba: l_lba,
            len: size * 2,
            in_place: false,
        });
        segments.push((l_lba, Source::Bytes(Arc::from(l))));
        segments.push((m_lba, Source::Bytes(Arc::from(m))));
        for d in image.descriptors.iter().filter(|d| match kind {
            TreeKind::Iso9660 => d.kind == DescriptorKind::Primary,
            TreeKind::Joliet => matches!(d.kind, DescriptorKind::Joliet { .. }),
        }) {
            let mut f = Vec::with_capacity(24);
            f.extend_from_slice(&both32(size as u32));
            f.extend_from_slice(&l_lba.to_le_bytes());
            f.extend_from_slice(&0u32.to_le_bytes());
            f.extend_from_slice(&m_lba.to_be_bytes());
            f.extend_from_slice(&0u32.to_be_bytes());
            descriptor_patches.push((d.offset() + 132, f));
        }
    }
    if let Some(id) = &plan.volume_id {
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| (0x20..0x7F).contains(&b)) {
            return Err(usage(format!(
                "volume id {id:?} must be 1 to 32 printable ASCII characters"
            )));
        }
        for d in &image.descriptors {
            match d.kind {
                DescriptorKind::Primary => {
                    let mut f = id.as_bytes().to_vec();
                    f.resize(32, b' ');
                    descriptor_patches.push((d.offset() + 40, f));
                }
                DescriptorKind::Joliet { .. } => {
                    let mut f: Vec<u8> = ucs2_bytes(id).into_iter().take(32).collect();
                    while f.len() < 32 {
                        f.extend_from_slice(&[0x00, 0x20]);
                    }
                    descriptor_patches.push((d.offset() + 40, f));
                }
                _ => {}
            }
        }
    }

    // Volume end and system area.
    let data_end = next;
    let grew = data_end > old_end_sector;
    let mut tail = Vec::new();
    let new_sectors = if grew {
        let mut s = data_end + 150; // xorriso's default -padding 300k
        if image.file_len.is_multiple_of(1 << 20) {
            s = s.div_ceil(512) * 512; // cylinder alignment (64 heads × 32 sectors)
        }
        s
    } else {
        old_end_sector
    };
    let output_bytes = new_sectors * SECTOR;
    if grew {
        // Partitions that are neither the whole image nor a file of the tree are appended
        // partitions (Fedora / RHEL 10: -append_partition, -partition_offset); where the
        // grown volume should go relative to them is not defined, so refuse.
        let sa = &image.system_area;
        let appended = sa
            .mbr
            .iter()
            .filter(|p| p.part_type != 0xEE)
            .any(|p| u64::from(p.start) > COVER_START_MAX && p.path.is_none())
            || sa.gpt.as_ref().is_some_and(|g| {
                g.partitions
                    .iter()
                    .any(|p| p.first_lba > COVER_START_MAX && p.path.is_none())
            });
        if appended || image.file_len > old_volume_sectors * SECTOR {
            return Err(usage(
                "the image has appended partitions or data after its ISO 9660 volume (Fedora / RHEL 10 layout); edits that grow it are not supported",
            ));
        }
        if new_sectors > u64::from(u32::MAX) {
            return Err(usage(
                "the output would exceed the ISO 9660 volume size limit",
            ));
        }
        for d in &image.descriptors {
            if matches!(
                d.kind,
                DescriptorKind::Primary
                    | DescriptorKind::Joliet { .. }
                    | DescriptorKind::Supplementary
            ) {
                descriptor_patches.push((d.offset() + 80, both32(new_sectors as u32).to_vec()));
            }
        }
        let (sys_patches, gpt_tail) = system_area_patches(
            image,
            reader,
            old_end_sector * SECTOR,
            data_end * SECTOR,
            output_bytes,
        )?;
        patches.extend(sys_patches);
        tail = gpt_tail;
    }
    patches.extend(descriptor_patches);
    // Any change makes an implanted isomd5sum stale: blank the field (implant_md5 writes a
    // fresh one last; without it the output carries none rather than a wrong one).
    let changes = !patches.is_empty() || !segments.is_empty() || !plan.region_edits.is_empty();
    if changes && image.app_use.iter().any(|&b| b != b' ') {
        patches.push((super::PVD_APP_USE_OFFSET, vec![b' '; super::APP_USE_LEN]));
    }
    let patches = merge_patches(patches);
    segments.sort_by_key(|s| s.0);
    let mut extents = HashMap::new();
    for g in &planner.groups {
        for p in &g.paths {
            extents.insert(p.clone(), g.ext);
        }
    }
    Ok(Layout {
        input_bytes: image.file_len,
        output_bytes,
        placements,
        extents,
        patches,
        segments,
        copy_end: image.file_len,
        volume_bytes: if grew {
            output_bytes
        } else {
            old_volume_sectors * SECTOR
        },
        tail,
    })
}

/// The directories of a tree after the edit, in path-table order: (identifier, parent
/// number, LBA).
fn final_dirs(
    planner: &Planner,
    tree: &Tree,
    kind: TreeKind,
    _fixes: &HashMap<u64, Vec<u8>>,
) -> Result<Vec<(Vec<u8>, u16, u32)>, Error> {
    // A node of the final tree: existing node index or new job.
    #[derive(Clone, Copy, PartialEq)]
    enum D {
        Old(usize),
        New(usize),
    }
    let lba_of = |d: D| -> u32 {
        match d {
            D::Old(i) => {
                let path = tree
                    .nodes
                    .get(i)
                    .map(|n| n.path.clone())
                    .unwrap_or_default();
                match planner.job_index.get(&(kind, path)) {
                    Some(&j) => planner.jobs.get(j).map_or(0, |j| j.ext.lba),
                    None => tree
                        .nodes
                        .get(i)
                        .and_then(|n| n.extents.first())
                        .map_or(0, |e| e.lba),
                }
            }
            D::New(j) => planner.jobs.get(j).map_or(0, |j| j.ext.lba),
        }
    };
    let ident_of = |d: D| -> Vec<u8> {
        match d {
            D::Old(i) => tree.nodes.get(i).map_or(Vec::new(), |n| match kind {
                TreeKind::Iso9660 => n.ident.as_bytes().to_vec(),
                TreeKind::Joliet => ucs2_bytes(&n.ident),
            }),
            D::New(j) => planner.jobs.get(j).map_or(Vec::new(), |j| j.ident.clone()),
        }
    };
    let children_of = |d: D| -> Vec<D> {
        let mut out = Vec::new();
        let job = match d {
            D::Old(i) => {
                if let Some(n) = tree.nodes.get(i) {
                    out.extend(
                        n.children
                            .iter()
                            .filter(|&&c| {
                                tree.nodes.get(c).is_some_and(|c| c.kind == NodeKind::Dir)
                            })
                            .map(|&c| D::Old(c)),
                    );
                    planner.job_index.get(&(kind, n.path.clone())).copied()
                } else {
                    None
                }
            }
            D::New(j) => Some(j),
        };
        if let Some(j) = job.and_then(|j| planner.jobs.get(j)) {
            for c in &j.children {
                if let Child::Dir { job } = c {
                    out.push(D::New(*job));
                }
            }
        }
        out.sort_by_key(|&c| ident_of(c));
        out
    };
    let mut table: Vec<(Vec<u8>, u16, u32)> = vec![(vec![0], 1, lba_of(D::Old(0)))];
    let mut level = vec![D::Old(0)];
    let mut number = 1usize;
    while !level.is_empty() {
        let mut next_level = Vec::new();
        for (k, &d) in level.iter().enumerate() {
            let parent_number = number - level.len() + k + 1;
            for c in children_of(d) {
                if table.len() >= 65_535 {
                    return Err(usage("more than 65535 directories: path table overflow"));
                }
                table.push((ident_of(c), parent_number as u16, lba_of(c)));
                next_level.push(c);
            }
        }
        number += next_level.len();
        level = next_level;
    }
    Ok(table)
}

/// Generates the bytes of a regenerated or new directory.
fn build_dir(
    planner: &Planner,
    ji: usize,
    old_dirs: &HashMap<usize, Vec<u8>>,
    fixes: &HashMap<u64, Vec<u8>>,
    style: &Style,
) -> Result<Vec<u8>, Error> {
    let job = planner
        .jobs
        .get(ji)
        .ok_or_else(|| usage("bad directory job"))?;
    let mut records: Vec<Vec<u8>> = Vec::new();
    if let (Some(old), Some(bytes)) = (job.old, old_dirs.get(&ji)) {
        for rec in split_records(bytes, old.offset()).map_err(|e| usage(e.to_string()))? {
            let start = (rec.offset - old.offset()) as usize;
            let mut raw = bytes
                .get(start..start + usize::from(rec.len))
                .ok_or_else(|| usage("directory record out of range"))?
                .to_vec();
            if let Some(f) = fixes.get(&rec.offset) {
                raw[2..18].copy_from_slice(f);
            }
            records.push(raw);
        }
    } else {
        // A new directory: `.` and `..`.
        let parent_ext = job
            .parent_job
            .and_then(|p| planner.jobs.get(p))
            .map_or(job.ext, |p| p.ext);
        let subdirs = job
            .children
            .iter()
            .filter(|c| matches!(c, Child::Dir { .. }))
            .count() as u32;
        records.push(new_record(
            style,
            job.tree,
            &[0],
            None,
            job.ext,
            true,
            2 + subdirs,
        )?);
        records.push(new_record(
            style,
            job.tree,
            &[1],
            None,
            parent_ext,
            true,
            2,
        )?);
    }
    let mut new: Vec<Vec<u8>> = Vec::new();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for c in &job.children {
        let (ident, rec) = match c {
            Child::File { name, ident, group } => {
                let ext = planner
                    .groups
                    .get(*group)
                    .map_or(Extent { lba: 0, len: 0 }, |g| g.ext);
                (
                    ident.clone(),
                    new_record(style, job.tree, ident, Some(name), ext, false, 1)?,
                )
            }
            Child::Dir { job: d } => {
                let dj = planner
                    .jobs
                    .get(*d)
                    .ok_or_else(|| usage("bad directory job"))?;
                let subdirs = dj
                    .children
                    .iter()
                    .filter(|c| matches!(c, Child::Dir { .. }))
                    .count() as u32;
                (
                    dj.ident.clone(),
                    new_record(
                        style,
                        job.tree,
                        &dj.ident,
                        Some(&dj.name),
                        dj.ext,
                        true,
                        2 + subdirs,
                    )?,
                )
            }
        };
        keys.push(ident);
        new.push(rec);
    }
    // Insert new records in identifier order after `.` and `..`.
    for (key, rec) in keys.into_iter().zip(new) {
        let pos = records
            .iter()
            .enumerate()
            .skip(2)
            .find(|(_, r)| {
                let nl = usize::from(*r.get(32).unwrap_or(&0));
                r.get(33..33 + nl).is_some_and(|id| id > key.as_slice())
            })
            .map_or(records.len(), |(i, _)| i);
        records.insert(pos, rec);
    }
    Ok(pack_records(&records))
}

/// A partition "covers the image" (and grows with it) if it starts in the system area
/// (512-byte LBA 0, or 64 with xorriso's -partition_offset 16) and reaches past the last
/// file; partitions of files (efiboot.img) and appended partitions keep their extents.
const COVER_START_MAX: u64 = 64;

/// Patches to the MBR and primary GPT for a grown image, and the backup GPT (entries then
/// header) that ends the image.
fn system_area_patches<R: Read + Seek>(
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
    let rd = |e: IsoError| usage(format!("reading the system area: {e}"));
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
            let old_chs = super::sysarea::chs_bytes(start + sectors - 1, 64, 32);
            if e[5..8] == old_chs {
                let chs = super::sysarea::chs_bytes(start + new_sectors - 1, 64, 32);
                e[5..8].copy_from_slice(&chs);
            }
            patches.push((at as u64, e));
        }
    }
    let mut tail = Vec::new();
    if let Some(gpt) = &image.system_area.gpt {
        let mut h = head[512..1024].to_vec();
        let entries = super::sysarea::read_gpt_entries(reader, image.file_len, &gpt.primary)
            .map_err(rd)?
            .ok_or_else(|| usage("the GPT entry array is unreadable"))?;
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
        let entry_sectors = super::sysarea::backup_entry_sectors(gpt, entries.len()).map_err(rd)?;
        let free_tail = (new_len - data_end.min(new_len)) / 512;
        if entry_sectors + 1 > free_tail || entry_sectors > 4096 {
            return Err(usage(format!(
                "the backup GPT ({entry_sectors} entry sectors) does not fit the padding of the grown image"
            )));
        }
        let backup_entries_lba = new_backup - entry_sectors;
        let last_usable = gpt.primary.last_usable.saturating_add(delta512);
        let ecrc = crc32fast::hash(&entries);
        h[32..40].copy_from_slice(&new_backup.to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[88..92].copy_from_slice(&ecrc.to_le_bytes());
        let mut backup = h.clone();
        super::sysarea::fix_header_crc(&mut h);
        backup[24..32].copy_from_slice(&new_backup.to_le_bytes());
        backup[32..40].copy_from_slice(&1u64.to_le_bytes());
        backup[72..80].copy_from_slice(&backup_entries_lba.to_le_bytes());
        super::sysarea::fix_header_crc(&mut backup);
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

/// Sorts patches and merges overlapping ones (a later patch wins where they overlap).
fn merge_patches(mut patches: Vec<Patch>) -> Vec<Patch> {
    patches.sort_by_key(|p| p.0);
    let mut out: Vec<Patch> = Vec::with_capacity(patches.len());
    for (off, data) in patches {
        if let Some((last_off, last)) = out.last_mut() {
            let last_end = *last_off + last.len() as u64;
            if off <= last_end {
                let rel = (off - *last_off) as usize;
                let end = rel + data.len();
                if end > last.len() {
                    last.resize(end, 0);
                }
                last[rel..end].copy_from_slice(&data);
                continue;
            }
        }
        out.push((off, data));
    }
    out
}

/// Streams the output of `layout` from `input` into `out` (nowhere for a hashing-only
/// pass), feeding every byte in order to `md5` when given. Returns the bytes streamed and
/// the finished checksum stream.
fn stream(
    input: &File,
    out: Option<&File>,
    layout: &Layout,
    md5: Option<Md5Stream>,
    pace: Option<&Pace>,
    progress: &mut Option<&mut dyn FnMut(u64, u64)>,
) -> io::Result<(u64, Option<Md5Stream>)> {
    let mut sink = Sink::new(out, layout.output_bytes, md5, pace, progress)?;
    // 1. The input, patched: copy the gaps, write the patches.
    let old_end = layout.copy_end.div_ceil(SECTOR) * SECTOR;
    let mut pos = 0u64;
    let copy_gap = |sink: &mut Sink, from: u64, to: u64| -> io::Result<()> {
        let real_end = to.min(layout.copy_end);
        if real_end > from {
            sink.copy(input, from, real_end - from)?;
        }
        sink.zeros(to - real_end.max(from))
    };
    for (off, data) in &layout.patches {
        if *off >= old_end {
            break;
        }
        copy_gap(&mut sink, pos, *off)?;
        let end = (off + data.len() as u64).min(old_end);
        sink.write(data.get(..(end - off) as usize).unwrap_or(data))?;
        pos = end;
    }
    copy_gap(&mut sink, pos, old_end)?;
    // 2. Appended extents.
    for (lba, src) in &layout.segments {
        let at = u64::from(*lba) * SECTOR;
        sink.zeros(at.saturating_sub(sink.position()))?;
        match src {
            Source::Bytes(b) => sink.write(b)?,
            Source::OriginalPlus { offset, len, tail } => {
                sink.copy(input, *offset, *len)?;
                sink.write(tail)?;
            }
            Source::File { path, len, .. } => sink.copy(&File::open(path)?, 0, *len)?,
        }
        let pad = (SECTOR - sink.position() % SECTOR) % SECTOR;
        sink.zeros(pad)?;
    }
    // 3. Padding and the backup GPT.
    let tail_at = layout.output_bytes.saturating_sub(layout.tail.len() as u64);
    sink.zeros(tail_at.saturating_sub(sink.position()))?;
    sink.write(&layout.tail)?;
    sink.finish()
}

/// True if `a` and `b` name the same existing file (also through symlinks/hard links).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Identity and version of an input file (device, inode, size, modification time). If it
/// differs between planning and the end of writing, the input changed while it was read
/// and the output is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl InputStamp {
    /// The stamp of an open file.
    pub fn of_file(file: &File) -> io::Result<Self> {
        Ok(Self::of_metadata(&file.metadata()?))
    }

    /// The stamp of the file a path names now.
    pub fn of_path(path: &Path) -> io::Result<Self> {
        Ok(Self::of_metadata(&std::fs::metadata(path)?))
    }

    fn of_metadata(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        InputStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

fn changed_input(path: &Path) -> Error {
    Error::input(
        path,
        "changed while it was being read (size or modification time differ); nothing was written: run again once it no longer changes",
    )
}

/// Fails unless `path` and the open `file` still carry `stamp`.
fn check_unchanged(path: &Path, file: Option<&File>, stamp: &InputStamp) -> crate::Result<()> {
    let now_path = InputStamp::of_path(path).map_err(|e| Error::input(path, e))?;
    let now_file = match file {
        Some(f) => Some(InputStamp::of_file(f).map_err(|e| Error::input(path, e))?),
        None => None,
    };
    if now_path != *stamp || now_file.is_some_and(|s| s != *stamp) {
        return Err(changed_input(path));
    }
    Ok(())
}

/// Temporary outputs being written, for [`abort_partial_outputs`]. Renames happen under
/// this lock, so a signal handler either removes a temporary file before its rename (which
/// then fails) or finds it already renamed (the output is complete).
struct PartialOutputs {
    paths: Vec<PathBuf>,
    aborted: bool,
}

static PARTIAL_OUTPUTS: Mutex<PartialOutputs> = Mutex::new(PartialOutputs {
    paths: Vec::new(),
    aborted: false,
});

fn partial_outputs() -> std::sync::MutexGuard<'static, PartialOutputs> {
    PARTIAL_OUTPUTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the temporary files of writes in progress and makes every later rename fail.
/// For a SIGINT/SIGTERM handler (run on a normal thread, e.g. signal-hook's iterator),
/// which should exit the process right after. Returns the removed paths.
pub fn abort_partial_outputs() -> Vec<PathBuf> {
    let mut state = partial_outputs();
    state.aborted = true;
    let paths = std::mem::take(&mut state.paths);
    paths
        .into_iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .collect()
}

/// Keeps a temporary output registered for [`abort_partial_outputs`] while it lives.
struct Registered(PathBuf);

impl Registered {
    fn new(path: &Path) -> crate::Result<Self> {
        let mut state = partial_outputs();
        if state.aborted {
            return Err(Error::output(path, "interrupted"));
        }
        state.paths.push(path.to_path_buf());
        Ok(Registered(path.to_path_buf()))
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        partial_outputs().paths.retain(|p| *p != self.0);
    }
}

/// Reserves `len` bytes for `file` so that a full disk (ENOSPC), a quota or a file size
/// limit (EFBIG) is reported before any byte is written, and the filesystem can lay the
/// file out contiguously. Filesystems without fallocate are skipped silently (the writes
/// report a full disk then). Uses the fallocate system call, not posix_fallocate: glibc's
/// fallback for the latter writes the whole file once more.
fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use rustix::io::Errno;
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == Errno::NOSPC || e == Errno::FBIG || e == Errno::DQUOT => Err(e.into()),
        Err(_) => Ok(()),
    }
}

/// Test-only hook (documented in tests/faults.rs): when set to a number of milliseconds,
/// [`write`] sleeps that long after it created and reserved the temporary output and
/// before it streams, so a test can change the input or send a signal at a known moment.
const TEST_PAUSE_ENV: &str = "REMASTER_TEST_PAUSE_AFTER_PLAN_MS";

/// Largest file a [`RegionEdit`] may edit: the edit runs on an in-memory copy of the file
/// before it is streamed (efiboot.img is a few MiB).
const REGION_EDIT_CAP: u64 = 64 << 20;

/// `patches` without the bytes inside `[start, end)`.
fn carve(patches: Vec<Patch>, start: u64, end: u64) -> Vec<Patch> {
    let mut out = Vec::with_capacity(patches.len() + 1);
    for (off, data) in patches {
        let p_end = off + data.len() as u64;
        if p_end <= start || off >= end {
            out.push((off, data));
            continue;
        }
        if off < start {
            out.push((
                off,
                data.get(..(start - off) as usize).unwrap_or(&[]).to_vec(),
            ));
        }
        if p_end > end {
            out.push((
                end,
                data.get((end - off) as usize..).unwrap_or(&[]).to_vec(),
            ));
        }
    }
    out
}

/// Runs the region edits on in-memory copies of their files (as they will be output: the
/// input's bytes with the layout's patches) and turns each result into a patch, so the
/// output is written once, in order, and hashed on the fly.
fn apply_region_edits(
    layout: &mut Layout,
    image: &Image,
    input_path: &Path,
    input: &mut File,
    edits: Vec<RegionEdit>,
) -> crate::Result<()> {
    for edit in edits {
        let path = norm_path(&edit.iso_path);
        if layout.extents.contains_key(&path) {
            return Err(Error::input(
                input_path,
                format!("cannot edit /{path} in place: it is also replaced or added"),
            ));
        }
        let node = image.primary.find(&path).ok_or_else(|| {
            Error::input(
                input_path,
                format!("cannot edit /{path}: no such file in the image"),
            )
        })?;
        let ext = match node.extents.as_slice() {
            [e] if node.kind == NodeKind::File => *e,
            _ => {
                return Err(Error::input(
                    input_path,
                    format!("cannot edit /{path}: not a single-extent file"),
                ))
            }
        };
        let start = ext.offset();
        let len = u64::from(ext.len);
        let end = start + len;
        if end > layout.copy_end || len > REGION_EDIT_CAP {
            return Err(Error::input(
                input_path,
                format!("cannot edit /{path} in place: it is larger than {REGION_EDIT_CAP} bytes or extends past the end of the image"),
            ));
        }
        let mut bytes = read_at(input, start, len as usize, image.file_len, &path)
            .map_err(|e| Error::input(input_path, e))?;
        for (off, data) in &layout.patches {
            let from = (*off).max(start);
            let to = (off + data.len() as u64).min(end);
            if from < to {
                let src = data.get((from - off) as usize..(to - off) as usize);
                let dst = bytes.get_mut((from - start) as usize..(to - start) as usize);
                if let (Some(src), Some(dst)) = (src, dst) {
                    dst.copy_from_slice(src);
                }
            }
        }
        let mut region = io::Cursor::new(bytes);
        (edit.edit)(&mut region)?;
        let bytes = region.into_inner();
        if bytes.len() as u64 != len {
            return Err(Error::input(
                input_path,
                format!(
                    "the in-place edit of /{path} changed its size from {len} to {} bytes",
                    bytes.len()
                ),
            ));
        }
        let mut patches = carve(std::mem::take(&mut layout.patches), start, end);
        patches.push((start, bytes));
        layout.patches = merge_patches(patches);
    }
    Ok(())
}

/// Writes `output` from `input` with `plan` applied, in one sequential pass (the isomd5sum
/// is computed on the fly and written last; nothing of the output is read back).
///
/// Safety of the result: the input is opened read-only. The output is written to a
/// temporary file `.remaster-*` in the destination directory, preallocated (a full disk is
/// reported before any byte is written), fsync'ed and renamed: the output appears complete
/// or not at all. On an error the temporary file is removed; a SIGINT/SIGTERM handler that
/// calls [`abort_partial_outputs`] removes it too; only a `kill -9` (or a crash of the
/// machine) can leave it behind, never at the output's name. An input (the ISO, or a file
/// added from disk) whose size or modification time changed between planning (see
/// [`EditPlan::input_stamp`]) and the end of writing is refused before the rename.
/// Refuses an existing output without `opts.force` and an output that is the input.
pub fn write(
    input: &Path,
    output: &Path,
    plan: EditPlan,
    opts: WriteOptions<'_>,
) -> crate::Result<WriteSummary> {
    check_output(input, output, opts.force)?;
    write_prepared(prepare(input, plan)?, output, opts)
}

/// Refuses an output that is the input, and an existing output without `force`.
fn check_output(input: &Path, output: &Path, force: bool) -> crate::Result<()> {
    if same_file(input, output) || input == output {
        return Err(usage(format!(
            "the output {} is the input; choose another output file",
            output.display()
        )));
    }
    if output.symlink_metadata().is_ok() && !force {
        return Err(Error::output(
            output,
            "already exists (use --force to overwrite)",
        ));
    }
    Ok(())
}

/// An edit laid out against its input, ready to stream: [`prepare`] it, optionally
/// [`Prepared::start_checksum`], then [`write_prepared`].
pub struct Prepared {
    input: PathBuf,
    file: File,
    input_stamp: InputStamp,
    layout: Arc<Layout>,
    /// The isomd5sum to compute while writing (when implanting and no checksum pass runs).
    md5: Option<Md5Stream>,
    /// The isomd5sum pass started by [`Prepared::start_checksum`] (when implanting).
    checksum: Option<ChecksumPass>,
}

/// Opens `input` and lays `plan` out against it (region edits applied): everything the
/// write needs, nothing written.
pub fn prepare(input: &Path, mut plan: EditPlan) -> crate::Result<Prepared> {
    let mut file = File::open(input).map_err(|e| Error::input(input, e))?;
    let input_stamp = InputStamp::of_file(&file).map_err(|e| Error::input(input, e))?;
    if plan.input_stamp.is_some_and(|s| s != input_stamp) {
        return Err(changed_input(input));
    }
    let image = Image::open(&mut file).map_err(|e| Error::input(input, e))?;
    let mut layout = plan_layout(&image, &mut file, &plan).map_err(|e| match e {
        Error::Usage(m) => Error::input(input, m),
        other => other,
    })?;
    apply_region_edits(
        &mut layout,
        &image,
        input,
        &mut file,
        std::mem::take(&mut plan.region_edits),
    )?;
    let md5 = if plan.implant_md5 {
        if image.pvd().offset() != crate::iso::md5::PVD_OFFSET {
            return Err(Error::input(
                input,
                "cannot implant an isomd5sum: the primary volume descriptor is not at sector 16",
            ));
        }
        Some(Md5Stream::new(layout.volume_bytes).map_err(|e| Error::input(input, e))?)
    } else {
        None
    };
    Ok(Prepared {
        input: input.to_path_buf(),
        file,
        input_stamp,
        layout: Arc::new(layout),
        md5,
        checksum: None,
    })
}

impl Prepared {
    /// Size of the output file in bytes.
    pub fn output_bytes(&self) -> u64 {
        self.layout.output_bytes
    }

    /// Starts computing the isomd5sum of the planned output on its own thread now: a pass
    /// that reads and hashes but writes nothing, so it may run while the plan's checks
    /// (the module verdicts) still do. [`write_prepared`] then only writes, and implants
    /// the result. Hashing is the floor of every write (one sequential MD5 over the whole
    /// output), so starting it early is what shortens the run. No-op without `implant_md5`.
    pub fn start_checksum(&mut self) -> crate::Result<()> {
        let Some(md5) = self.md5.take() else {
            return Ok(());
        };
        let file = self
            .file
            .try_clone()
            .map_err(|e| Error::input(&self.input, e))?;
        let layout = Arc::clone(&self.layout);
        let pace = Arc::new(Pace::default());
        let pass_pace = Arc::clone(&pace);
        let job = std::thread::Builder::new()
            .name("isomd5sum-pass".into())
            .spawn(move || {
                stream(&file, None, &layout, Some(md5), Some(&pass_pace), &mut None)
                    .map(|(_, md5)| md5)
            })
            .map_err(|e| Error::input(&self.input, e))?;
        self.checksum = Some(ChecksumPass {
            pace,
            job: Some(job),
        });
        Ok(())
    }
}

/// A running hashing-only pass (see [`Prepared::start_checksum`]). Dropping it stops it.
struct ChecksumPass {
    pace: Arc<Pace>,
    job: Option<std::thread::JoinHandle<io::Result<Option<Md5Stream>>>>,
}

impl ChecksumPass {
    fn finish(mut self) -> io::Result<Md5Stream> {
        self.job
            .take()
            .ok_or_else(|| io::Error::other("the isomd5sum pass stopped"))?
            .join()
            .map_err(|_| io::Error::other("the isomd5sum pass failed"))??
            .ok_or_else(|| io::Error::other("the isomd5sum pass computed nothing"))
    }
}

impl Drop for ChecksumPass {
    fn drop(&mut self) {
        self.pace.cancel();
        if let Some(job) = self.job.take() {
            let _ = job.join();
        }
    }
}

/// Writes a [`prepare`]d edit to `output` (see [`write`]).
pub fn write_prepared(
    prepared: Prepared,
    output: &Path,
    mut opts: WriteOptions<'_>,
) -> crate::Result<WriteSummary> {
    let Prepared {
        input,
        file,
        input_stamp,
        layout,
        md5,
        checksum,
    } = prepared;
    let implant_md5 = md5.is_some() || checksum.is_some();
    let input = input.as_path();
    check_output(input, output, opts.force)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let oerr = |e: &dyn std::fmt::Display| Error::output(output, e);
    let tmp = tempfile::Builder::new()
        .prefix(".remaster-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| oerr(&e))?;
    let registered = Registered::new(tmp.path())?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| oerr(&e))?;
    }
    preallocate(tmp.as_file(), layout.output_bytes).map_err(|e| {
        let fix = if e.raw_os_error() == Some(rustix::io::Errno::FBIG.raw_os_error()) {
            "raise the file size limit (ulimit -f) or write to a filesystem that allows files this large"
        } else {
            "free space or choose another destination"
        };
        oerr(&format!(
            "cannot reserve {} bytes for it ({e}); {fix}",
            layout.output_bytes
        ))
    })?;
    if let Some(ms) = std::env::var(TEST_PAUSE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let (written, md5) = match checksum {
        Some(pass) => {
            let (written, _) = stream(
                &file,
                Some(tmp.as_file()),
                &layout,
                None,
                Some(&pass.pace),
                &mut opts.progress,
            )
            .map_err(|e| oerr(&e))?;
            (written, Some(pass.finish().map_err(|e| oerr(&e))?))
        }
        None => stream(
            &file,
            Some(tmp.as_file()),
            &layout,
            md5,
            None,
            &mut opts.progress,
        )
        .map_err(|e| oerr(&e))?,
    };
    if written != layout.output_bytes {
        return Err(oerr(&format!(
            "internal error: wrote {written} bytes, planned {}",
            layout.output_bytes
        )));
    }
    if let Some(md5) = md5 {
        use std::os::unix::fs::FileExt;
        let field = md5
            .finish()
            .and_then(|f| f.to_bytes())
            .map_err(|e| oerr(&e))?;
        tmp.as_file()
            .write_all_at(&field, crate::iso::md5::APPDATA_OFFSET)
            .map_err(|e| oerr(&e))?;
    }
    tmp.as_file().sync_all().map_err(|e| oerr(&e))?;
    let len = tmp.as_file().metadata().map_err(|e| oerr(&e))?.len();
    if len != layout.output_bytes {
        return Err(oerr(&format!(
            "internal error: the file has {len} bytes, planned {}",
            layout.output_bytes
        )));
    }
    check_unchanged(input, Some(&file), &input_stamp)?;
    for (_, src) in &layout.segments {
        if let Source::File { path, stamp, .. } = src {
            check_unchanged(path, None, stamp)?;
        }
    }
    {
        let state = partial_outputs();
        if state.aborted {
            return Err(oerr(&"interrupted"));
        }
        tmp.persist(output).map_err(|e| oerr(&e.error))?;
    }
    drop(registered);
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(WriteSummary {
        output: output.to_path_buf(),
        input_bytes: layout.input_bytes,
        output_bytes: layout.output_bytes,
        placements: layout.placements.clone(),
        md5_implanted: implant_md5,
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_dates() {
        assert_eq!(record_date(0), [70, 1, 1, 0, 0, 0, 0]);
        assert_eq!(record_date(1_700_000_000), [123, 11, 14, 22, 13, 20, 0]);
        assert_eq!(record_date(951_782_400), [100, 2, 29, 0, 0, 0, 0]);
    }

    #[test]
    fn iso_identifiers_are_dchars_83_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(
            iso_ident("dd image.iso", false, false, &taken),
            "DD_IMAGE.ISO"
        );
        taken.insert("DD_IMAGE.ISO".to_string());
        assert_eq!(
            iso_ident("dd image.iso", false, false, &taken),
            "DD_IMA_1.ISO"
        );
        assert_eq!(iso_ident("remaster", true, false, &taken), "REMASTER");
        assert_eq!(iso_ident("rhdd3", false, false, &taken), "RHDD3.");
        assert_eq!(iso_ident("ümlaut.txt", false, false, &taken), "_MLAUT.TXT");
    }

    #[test]
    fn overlapping_patches_merge_later_wins() {
        let p = merge_patches(vec![
            (10, vec![1; 4]),
            (0, vec![2; 4]),
            (12, vec![3; 4]),
            (30, vec![4]),
        ]);
        assert_eq!(
            p,
            vec![(0, vec![2; 4]), (10, vec![1, 1, 3, 3, 3, 3]), (30, vec![4])]
        );
    }

    #[test]
    fn carve_removes_exactly_the_region() {
        let p = vec![
            (0, vec![1; 10]),
            (12, vec![2; 4]),
            (18, vec![3; 10]),
            (40, vec![4]),
        ];
        assert_eq!(
            carve(p, 5, 20),
            vec![(0, vec![1; 5]), (20, vec![3; 8]), (40, vec![4])]
        );
        assert_eq!(
            carve(vec![(0, vec![1; 30])], 5, 20),
            vec![(0, vec![1; 5]), (20, vec![1; 10])]
        );
    }

    #[test]
    fn records_are_packed_without_crossing_sectors() {
        let recs: Vec<Vec<u8>> = (0..30)
            .map(|i| vec![100 + (i % 2) as u8; 100 + (i % 2)])
            .collect();
        let packed = pack_records(&recs);
        assert_eq!(packed.len() % 2048, 0);
        let mut pos = 0;
        for r in &recs {
            if pos % 2048 + r.len() > 2048 {
                pos = (pos / 2048 + 1) * 2048;
            }
            assert_eq!(&packed[pos..pos + r.len()], &r[..]);
            pos += r.len();
        }
    }
}

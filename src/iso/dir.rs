//! Directory records, Rock Ridge (SUSP: NM, SL, PX, CE) and Joliet names; the walk that
//! builds a [`Tree`] and remembers the byte offset of every record (the writer repoints
//! records in place). The record and SUSP layouts are `format::iso9660::{dr, susp}`, shared
//! with the writer's directory generation.
//!
//! Memory is linear in the image and capped (issue 15): every node stores its full path, so
//! a deep chain of directories with long names would cost Σ depth × name bytes. A name is at
//! most [`MAX_NAME_BYTES`] (as Linux isofs), a path at most [`MAX_PATH_BYTES`] (PATH_MAX), the
//! names and paths of one tree at most [`MAX_TREE_TEXT_BYTES`] in total, the continuation
//! areas read for one tree at most [`MAX_TREE_CE_BYTES`], and a tree has at most
//! [`MAX_NODES`] nodes. With the directory caps below, one tree costs at most about
//! 128 MiB of text + 500k nodes × ~300 bytes + one 64 MiB directory buffer.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::HashSet;
use std::io::{Read, Seek};

use super::format::iso9660::{dr, susp};
use super::format::{le32, ucs2be};
use super::volume::{RootRef, VolumeDescriptor};
use super::{read_at, Extent, IsoError, SECTOR};

/// Which directory hierarchy a tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeKind {
    /// The primary ISO 9660 tree (names from Rock Ridge where present).
    Iso9660,
    /// The Joliet tree of the supplementary descriptor.
    Joliet,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
}

/// A file, directory or symlink of one tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Path without a leading slash ("" for the root), e.g. `isolinux/initrd.img`.
    pub path: String,
    /// Last component (Rock Ridge or Joliet name, else the ISO name without `;1`).
    pub name: String,
    /// The raw ISO 9660 / Joliet identifier, decoded (e.g. `INITRD.IMG;1`).
    pub ident: String,
    pub kind: NodeKind,
    /// Data size in bytes (sum of extents).
    pub size: u64,
    /// Data extents (several for multi-extent files > 4 GiB).
    pub extents: Vec<Extent>,
    /// Absolute byte offsets of the directory records naming this node in its parent,
    /// one per extent; for the root the record inside the volume descriptor.
    pub records: Vec<u64>,
    /// Index of the parent directory node (the root is its own parent).
    pub parent: usize,
    /// Child node indices (directories only).
    pub children: Vec<usize>,
    /// Offsets of this directory's own `.` and `..` records (directories only).
    pub dot_record: Option<u64>,
    pub dotdot_record: Option<u64>,
    /// The LBA the `..` record names (ECMA-119: the parent; libisofs' Joliet trees name
    /// the directory itself).
    pub dotdot_lba: Option<u32>,
    /// Rock Ridge PX mode / links / serial number, if present.
    pub mode: Option<u32>,
    pub nlink: Option<u32>,
    pub ino: Option<u32>,
    /// Rock Ridge SL target.
    pub symlink: Option<String>,
}

/// One directory hierarchy of an image. Node 0 is the root.
#[derive(Debug, Clone)]
pub struct Tree {
    pub kind: TreeKind,
    pub nodes: Vec<Node>,
    /// Rock Ridge in use (SP entry in the root's `.` record).
    pub rock_ridge: bool,
    /// SUSP bytes to skip at the start of each system-use area (SP LEN_SKP).
    pub susp_skip: u8,
    /// Length of the PX entries seen (36 = RRIP 1.10, 44 = RRIP 1.12), 0 if none.
    pub px_len: u8,
    /// Directory extents, node index → (lba, size).
    pub dir_extents: Vec<(usize, Extent)>,
}

impl Tree {
    /// The root node.
    pub fn root(&self) -> Option<&Node> {
        self.nodes.first()
    }

    /// Regular files (and empty files), in tree order.
    pub fn files(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::File)
    }

    /// Index of the node at `path`: exact name match first, then case-insensitive.
    pub fn find_index(&self, path: &str) -> Option<usize> {
        self.walk(path, false).or_else(|| self.walk(path, true))
    }

    /// The node at `path` (see [`Tree::find_index`]).
    pub fn find(&self, path: &str) -> Option<&Node> {
        self.find_index(path).and_then(|i| self.nodes.get(i))
    }

    fn walk(&self, path: &str, fold_case: bool) -> Option<usize> {
        let mut at = 0usize;
        self.nodes.first()?;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            let node = self.nodes.get(at)?;
            at = *node.children.iter().find(|&&c| {
                self.nodes.get(c).is_some_and(|n| {
                    if fold_case {
                        n.name.eq_ignore_ascii_case(part)
                    } else {
                        n.name == part
                    }
                })
            })?;
        }
        Some(at)
    }
}

/// Largest directory extent accepted (a directory of ~100k entries).
const MAX_DIR_BYTES: u32 = 64 << 20;
/// Most nodes per tree (a full RHEL DVD has under 50k).
pub const MAX_NODES: usize = 500_000;
/// Longest name (Rock Ridge NM, after continuations; Linux isofs stops at 255 too).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest path of a node and longest symlink target (Linux PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// Names, identifiers and paths of one tree, in total.
pub const MAX_TREE_TEXT_BYTES: u64 = 128 << 20;
/// SUSP continuation-area bytes read for one tree, in total (CE areas may all point at one
/// shared sector, so the per-record cap alone multiplies with the number of records).
pub const MAX_TREE_CE_BYTES: u64 = 64 << 20;
/// Most directory bytes read per tree (overlapping hostile extents must not multiply reads).
const MAX_TREE_DIR_BYTES: u64 = 512 << 20;
/// Most SUSP continuation areas followed per record.
const MAX_CONTINUATIONS: usize = 16;

/// A parsed directory record (ECMA-119 §9.1).
#[derive(Debug, Clone)]
pub struct Record {
    /// Absolute byte offset of the record.
    pub offset: u64,
    pub len: u8,
    pub lba: u32,
    pub size: u32,
    pub flags: u8,
    pub ident: Vec<u8>,
    /// Offset of the system-use area inside the record.
    pub su_start: usize,
}

impl Record {
    pub fn is_dir(&self) -> bool {
        self.flags & dr::FLAG_DIR != 0
    }
    pub fn is_multi_extent(&self) -> bool {
        self.flags & dr::FLAG_MULTI_EXTENT != 0
    }
}

/// Parses one record from `rec` (exactly `rec[0]` bytes long) found at absolute `offset`.
pub fn parse_record(rec: &[u8], offset: u64) -> Result<Record, IsoError> {
    let view = dr::DirRecord(rec);
    let len = view.len();
    if usize::from(len) < dr::MIN_LEN || rec.len() < usize::from(len) {
        return Err(IsoError::malformed(
            "directory record",
            offset,
            format!("length {len}"),
        ));
    }
    let name_len = view.name_len();
    if name_len.saturating_add(dr::FIXED_LEN) > usize::from(len) {
        return Err(IsoError::malformed(
            "directory record",
            offset,
            format!("name of {name_len} bytes does not fit a {len}-byte record"),
        ));
    }
    Ok(Record {
        offset,
        len,
        lba: view.extent().saturating_add(u32::from(view.ear_len())),
        size: view.data_len(),
        flags: view.flags(),
        ident: view.ident().unwrap_or_default().to_vec(),
        su_start: dr::su_start(name_len).min(usize::from(len)),
    })
}

/// Splits a directory extent into records. Records never cross a sector boundary; a zero
/// length byte means "rest of this sector unused".
pub fn split_records(buf: &[u8], base_offset: u64) -> Result<Vec<Record>, IsoError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    const SECTOR_BYTES: usize = SECTOR as usize;
    while pos < buf.len() {
        let len = usize::from(buf.get(pos).copied().unwrap_or(0));
        let next_sector = (pos / SECTOR_BYTES)
            .saturating_add(1)
            .saturating_mul(SECTOR_BYTES);
        if len == 0 {
            pos = next_sector;
            continue;
        }
        let sector_end = next_sector.min(buf.len());
        if pos.saturating_add(len) > sector_end {
            return Err(IsoError::malformed(
                "directory record",
                base_offset.saturating_add(pos as u64),
                "crosses a sector boundary",
            ));
        }
        out.push(parse_record(
            buf.get(pos..pos.saturating_add(len)).unwrap_or_default(),
            base_offset.saturating_add(pos as u64),
        )?);
        pos = pos.saturating_add(len);
    }
    Ok(out)
}

/// What the Rock Ridge entries of one record say.
#[derive(Debug, Default, Clone)]
pub struct RockRidge {
    pub name: Option<String>,
    pub symlink: Option<String>,
    pub mode: Option<u32>,
    pub nlink: Option<u32>,
    pub ino: Option<u32>,
    pub px_len: u8,
    /// SP entry (root `.` only): LEN_SKP.
    pub sp_skip: Option<u8>,
    /// RE: a relocated directory, hidden at this place.
    pub relocated: bool,
    /// CL: child link to a relocated directory.
    pub child_link: Option<u32>,
}

/// Parses the SUSP/Rock Ridge entries of a record's system-use area, following CE
/// continuation areas (bounded per record, and in total by `ce_budget`: bytes of
/// continuation areas still allowed for this tree).
pub fn parse_rock_ridge<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    su: &[u8],
    offset: u64,
    ce_budget: &mut u64,
) -> Result<RockRidge, IsoError> {
    let mut rr = RockRidge::default();
    let mut name = Vec::new();
    let mut have_name = false;
    let mut link = String::new();
    let mut have_link = false;
    let mut link_component_open = false;
    let mut area = su.to_vec();
    for _ in 0..=MAX_CONTINUATIONS {
        let mut next: Option<(u64, usize)> = None;
        let mut pos = 0usize;
        while let Some(&[s0, s1, l]) = area
            .get(pos..pos.saturating_add(3))
            .and_then(|h| <&[u8; 3]>::try_from(h).ok())
        {
            let sig = [s0, s1];
            let len = usize::from(l);
            // Padding or a damaged tail: stop quietly, like the kernel.
            let Some(e) = area
                .get(pos..pos.saturating_add(len))
                .filter(|_| len >= susp::HEADER_LEN)
            else {
                break;
            };
            match &sig {
                b"ST" => break,
                b"SP"
                    if len >= susp::SP_MIN_LEN
                        && e.get(susp::SP_CHECK) == Some(susp::SP_CHECK_BYTES.as_slice()) =>
                {
                    rr.sp_skip = e.get(susp::SP_LEN_SKP).copied();
                }
                b"CE" if len >= susp::CE_MIN_LEN => {
                    let block = u64::from(le32(e, susp::CE_BLOCK));
                    let off = u64::from(le32(e, susp::CE_OFFSET));
                    let clen = le32(e, susp::CE_LEN) as usize;
                    if clen > SECTOR as usize {
                        return Err(IsoError::malformed(
                            "Rock Ridge CE entry",
                            offset,
                            format!("continuation of {clen} bytes"),
                        ));
                    }
                    next = Some((block.saturating_mul(SECTOR).saturating_add(off), clen));
                }
                b"NM" if len > susp::NM_FLAGS => {
                    let flags = e.get(susp::NM_FLAGS).copied().unwrap_or(0);
                    if flags & susp::NM_CURRENT != 0 {
                        name = b".".to_vec();
                    } else if flags & susp::NM_PARENT != 0 {
                        name = b"..".to_vec();
                    } else {
                        name.extend_from_slice(e.get(susp::NM_NAME..).unwrap_or_default());
                    }
                    if name.len() > MAX_NAME_BYTES {
                        return Err(IsoError::malformed(
                            "Rock Ridge NM entry",
                            offset,
                            format!("name longer than {MAX_NAME_BYTES} bytes"),
                        ));
                    }
                    have_name = true;
                }
                b"SL" if len >= susp::SL_COMPONENTS => {
                    have_link = true;
                    let mut c = susp::SL_COMPONENTS;
                    while let (Some(&cflags), Some(&clen)) = (e.get(c), e.get(c.saturating_add(1)))
                    {
                        let clen = usize::from(clen);
                        let body = c.saturating_add(2);
                        let Some(content) = e.get(body..body.saturating_add(clen)) else {
                            break;
                        };
                        if !link_component_open && !link.is_empty() && !link.ends_with('/') {
                            link.push('/');
                        }
                        if cflags & susp::SL_ROOT != 0 {
                            link.clear();
                            link.push('/');
                        } else if cflags & susp::SL_CURRENT != 0 {
                            link.push('.');
                        } else if cflags & susp::SL_PARENT != 0 {
                            link.push_str("..");
                        } else {
                            link.push_str(&String::from_utf8_lossy(content));
                        }
                        link_component_open = cflags & susp::SL_CONTINUE != 0;
                        c = body.saturating_add(clen);
                    }
                    if link.len() > MAX_PATH_BYTES {
                        return Err(IsoError::malformed(
                            "Rock Ridge SL entry",
                            offset,
                            format!("symlink target longer than {MAX_PATH_BYTES} bytes"),
                        ));
                    }
                }
                b"PX" if len >= usize::from(susp::PX_LEN_RRIP_1_10) => {
                    rr.mode = Some(le32(e, susp::PX_MODE));
                    rr.nlink = Some(le32(e, susp::PX_NLINK));
                    if len >= usize::from(susp::PX_LEN_RRIP_1_12) {
                        rr.ino = Some(le32(e, susp::PX_INO));
                    }
                    rr.px_len = len as u8;
                }
                b"RE" => rr.relocated = true,
                b"CL" if len >= susp::CL_MIN_LEN => {
                    rr.child_link = Some(le32(e, susp::CL_LOCATION))
                }
                _ => {}
            }
            pos = pos.saturating_add(len);
        }
        match next {
            Some((at, clen)) => {
                *ce_budget = ce_budget.checked_sub(clen as u64).ok_or_else(|| {
                    IsoError::Limit(format!(
                        "Rock Ridge continuation areas of more than {MAX_TREE_CE_BYTES} bytes \
                         in one directory tree (budget: continuation bytes)"
                    ))
                })?;
                area = read_at(r, at, clen, file_len, "Rock Ridge continuation area")?
            }
            None => break,
        }
    }
    if have_name {
        rr.name = Some(String::from_utf8_lossy(&name).into_owned());
    }
    if have_link {
        rr.symlink = Some(link);
    }
    Ok(rr)
}

/// Name of an ISO 9660 identifier without version and trailing dot.
pub fn plain_iso_name(ident: &str) -> String {
    let base = ident.split(';').next().unwrap_or(ident);
    base.strip_suffix('.').unwrap_or(base).to_string()
}

fn check_extent(e: Extent, file_len: u64, what: &str) -> Result<(), IsoError> {
    let end = e.offset().saturating_add(u64::from(e.len));
    if end > file_len {
        return Err(IsoError::Truncated {
            what: what.to_string(),
            end,
            len: file_len,
        });
    }
    Ok(())
}

/// Reads a whole directory tree starting at a descriptor's root record, breadth-first
/// (iterative: a hostile depth costs no stack). The steps are [`TreeWalk`]'s: each directory
/// is checked and read ([`TreeWalk::load_dir`]), its `.` and `..` noted, and every other
/// record becomes a node ([`TreeWalk::entry`]) within the tree's budgets.
pub fn read_tree<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    vd: &VolumeDescriptor,
    kind: TreeKind,
) -> Result<Tree, IsoError> {
    let root = vd.root.ok_or_else(|| {
        IsoError::malformed("volume descriptor", vd.offset(), "no root directory record")
    })?;
    let mut walk = TreeWalk {
        r,
        file_len,
        kind,
        tree: root_only(kind, root),
        queue: std::collections::VecDeque::from([0usize]),
        visited: HashSet::new(),
        dir_bytes_read: 0,
        ce_budget: MAX_TREE_CE_BYTES,
        text_bytes: 0,
    };
    while let Some(dir_index) = walk.queue.pop_front() {
        walk.read_dir(dir_index)?;
    }
    // The root's own PX lives in its `.` record; nothing else needed.
    Ok(walk.tree)
}

/// A tree holding only its root directory, named by the descriptor's root record.
fn root_only(kind: TreeKind, root: RootRef) -> Tree {
    Tree {
        kind,
        nodes: vec![Node {
            path: String::new(),
            name: String::new(),
            ident: String::new(),
            kind: NodeKind::Dir,
            size: u64::from(root.size),
            extents: vec![Extent {
                lba: root.lba,
                len: root.size,
            }],
            records: vec![root.record_offset],
            parent: 0,
            children: Vec::new(),
            dot_record: None,
            dotdot_record: None,
            dotdot_lba: None,
            mode: None,
            nlink: None,
            ino: None,
            symlink: None,
        }],
        rock_ridge: false,
        susp_skip: 0,
        px_len: 0,
        dir_extents: Vec::new(),
    }
}

/// The state of one [`read_tree`]: the tree so far, the directories still to read, and what
/// the budgets of issue 15 have used.
struct TreeWalk<'r, R> {
    r: &'r mut R,
    file_len: u64,
    kind: TreeKind,
    tree: Tree,
    /// Directories (node indices) still to read.
    queue: std::collections::VecDeque<usize>,
    /// Directory extents read (a second visit is a loop).
    visited: HashSet<u32>,
    dir_bytes_read: u64,
    ce_budget: u64,
    text_bytes: u64,
}

impl<R: Read + Seek> TreeWalk<'_, R> {
    /// One directory: its records in order; `.` and `..` are noted on the directory, every
    /// other record is an entry. A multi-extent file collects the records that follow it.
    fn read_dir(&mut self, dir_index: usize) -> Result<(), IsoError> {
        let Some(dir) = self.tree.nodes.get(dir_index) else {
            return Ok(());
        };
        let Some(ext) = dir.extents.first().copied() else {
            return Ok(());
        };
        let dir_path = dir.path.clone();
        let buf = self.load_dir(dir_index, ext, &dir_path)?;
        let records = split_records(&buf, ext.offset())?;
        let mut pending: Option<usize> = None; // multi-extent file being collected
        for (i, rec) in records.iter().enumerate() {
            let su = buf
                .get(rec.offset.saturating_sub(ext.offset()) as usize..)
                .and_then(|b| b.get(..usize::from(rec.len)))
                .and_then(|b| b.get(rec.su_start..))
                .unwrap_or(&[]);
            match i {
                0 => self.note_dot(dir_index, rec, su)?,
                1 => self.note_dotdot(dir_index, rec),
                _ => pending = self.entry(dir_index, &dir_path, rec, su, pending)?,
            }
        }
        Ok(())
    }

    /// Checks a directory's extent (no loop, a plausible size inside the image, within the
    /// tree's directory budget), records it and reads its bytes.
    fn load_dir(
        &mut self,
        dir_index: usize,
        ext: Extent,
        dir_path: &str,
    ) -> Result<Vec<u8>, IsoError> {
        let what = format!("directory /{dir_path}");
        if !self.visited.insert(ext.lba) {
            return Err(IsoError::malformed(
                "directory tree",
                ext.offset(),
                format!("{what} points at an extent already visited (directory loop)"),
            ));
        }
        if ext.len > MAX_DIR_BYTES || ext.len < dr::MIN_DIR_LEN {
            return Err(IsoError::malformed(
                "directory",
                ext.offset(),
                format!("{what} has an implausible size of {} bytes", ext.len),
            ));
        }
        check_extent(ext, self.file_len, &what)?;
        self.dir_bytes_read = self.dir_bytes_read.saturating_add(u64::from(ext.len));
        if self.dir_bytes_read > MAX_TREE_DIR_BYTES {
            return Err(IsoError::Limit(format!(
                "directories of more than {MAX_TREE_DIR_BYTES} bytes in total"
            )));
        }
        self.tree.dir_extents.push((dir_index, ext));
        read_at(self.r, ext.offset(), ext.len as usize, self.file_len, &what)
    }

    /// `.`: where it is; in the root of the ISO 9660 tree, whether Rock Ridge is announced
    /// (SP entry) and how many system-use bytes each record skips.
    fn note_dot(&mut self, dir_index: usize, rec: &Record, su: &[u8]) -> Result<(), IsoError> {
        if dir_index == 0 && self.kind == TreeKind::Iso9660 {
            let rr = parse_rock_ridge(self.r, self.file_len, su, rec.offset, &mut self.ce_budget)?;
            if let Some(skip) = rr.sp_skip {
                self.tree.rock_ridge = true;
                self.tree.susp_skip = skip;
            }
        }
        if let Some(n) = self.tree.nodes.get_mut(dir_index) {
            n.dot_record = Some(rec.offset);
        }
        Ok(())
    }

    /// `..`: where it is and which LBA it names (the writer repoints it when that moves).
    fn note_dotdot(&mut self, dir_index: usize, rec: &Record) {
        if let Some(n) = self.tree.nodes.get_mut(dir_index) {
            n.dotdot_record = Some(rec.offset);
            n.dotdot_lba = Some(rec.lba);
        }
    }

    /// The Rock Ridge entries of a record (none when the tree has no Rock Ridge).
    fn rock_ridge(&mut self, rec: &Record, su: &[u8]) -> Result<RockRidge, IsoError> {
        if !self.tree.rock_ridge {
            return Ok(RockRidge::default());
        }
        let skip = usize::from(self.tree.susp_skip).min(su.len());
        parse_rock_ridge(
            self.r,
            self.file_len,
            su.get(skip..).unwrap_or_default(),
            rec.offset,
            &mut self.ce_budget,
        )
    }

    /// A record other than `.` and `..`: the next extent of the multi-extent file
    /// `pending`, or a new node (a directory is queued). Returns the multi-extent file
    /// still collecting records after this one.
    fn entry(
        &mut self,
        dir_index: usize,
        dir_path: &str,
        rec: &Record,
        su: &[u8],
        pending: Option<usize>,
    ) -> Result<Option<usize>, IsoError> {
        let rr = self.rock_ridge(rec, su)?;
        if rr.relocated {
            return Ok(pending);
        }
        let ident = match self.kind {
            TreeKind::Joliet => ucs2be(&rec.ident),
            TreeKind::Iso9660 => String::from_utf8_lossy(&rec.ident).into_owned(),
        };
        let extent = Extent {
            lba: rr.child_link.unwrap_or(rec.lba),
            len: rec.size,
        };
        if let Some(p) = pending {
            if self.continue_multi_extent(p, &ident, extent, rec)? {
                return Ok(rec.is_multi_extent().then_some(p));
            }
        }
        let name = match (&rr.name, self.kind) {
            (Some(n), TreeKind::Iso9660) => n.clone(),
            _ => plain_iso_name(&ident),
        };
        let path = self.child_path(dir_path, &name, &ident, rec.offset)?;
        let node_kind = if rec.is_dir() || rr.child_link.is_some() {
            NodeKind::Dir
        } else if rr.symlink.is_some() {
            NodeKind::Symlink
        } else {
            NodeKind::File
        };
        if node_kind == NodeKind::File {
            check_extent(extent, self.file_len, &format!("file /{path}"))?;
        }
        if rr.px_len > 0 {
            self.tree.px_len = rr.px_len;
        }
        let node = Node {
            path,
            name,
            ident,
            kind: node_kind,
            size: u64::from(rec.size),
            extents: vec![extent],
            records: vec![rec.offset],
            parent: dir_index,
            children: Vec::new(),
            dot_record: None,
            dotdot_record: None,
            dotdot_lba: None,
            mode: rr.mode,
            nlink: rr.nlink,
            ino: rr.ino,
            symlink: rr.symlink,
        };
        let index = self.add_node(dir_index, node)?;
        if node_kind == NodeKind::Dir {
            self.queue.push_back(index);
            Ok(None)
        } else {
            Ok(rec.is_multi_extent().then_some(index))
        }
    }

    /// A record naming the same identifier as the multi-extent file `p` is its next
    /// extent: added to it (`true`), after checking it lies inside the image.
    fn continue_multi_extent(
        &mut self,
        p: usize,
        ident: &str,
        extent: Extent,
        rec: &Record,
    ) -> Result<bool, IsoError> {
        if self.tree.nodes.get(p).map(|n| n.ident.as_str()) != Some(ident) {
            return Ok(false);
        }
        check_extent(extent, self.file_len, &format!("file /{}", ident))?;
        if let Some(n) = self.tree.nodes.get_mut(p) {
            n.extents.push(extent);
            n.records.push(rec.offset);
            n.size = n.size.saturating_add(u64::from(rec.size));
        }
        Ok(true)
    }

    /// Adds a node under directory `dir_index` (within [`MAX_NODES`]); its index.
    fn add_node(&mut self, dir_index: usize, node: Node) -> Result<usize, IsoError> {
        if self.tree.nodes.len() >= MAX_NODES {
            return Err(IsoError::Limit(format!(
                "more than {MAX_NODES} directory entries"
            )));
        }
        let index = self.tree.nodes.len();
        self.tree.nodes.push(node);
        if let Some(d) = self.tree.nodes.get_mut(dir_index) {
            d.children.push(index);
        }
        Ok(index)
    }

    /// The path of a child `name` of `dir_path`, within the name, path and text budgets.
    fn child_path(
        &mut self,
        dir_path: &str,
        name: &str,
        ident: &str,
        offset: u64,
    ) -> Result<String, IsoError> {
        if name.len() > MAX_NAME_BYTES {
            return Err(IsoError::malformed(
                "directory record",
                offset,
                format!("name longer than {MAX_NAME_BYTES} bytes"),
            ));
        }
        let path_len = dir_path.len().saturating_add(1).saturating_add(name.len());
        if path_len > MAX_PATH_BYTES {
            return Err(IsoError::malformed(
                "directory tree",
                offset,
                format!("a path longer than {MAX_PATH_BYTES} bytes (PATH_MAX)"),
            ));
        }
        // Each ≤ PATH_MAX here: path, name (twice: node name and path) and identifier.
        self.text_bytes = self.text_bytes.saturating_add(
            path_len
                .saturating_add(name.len())
                .saturating_add(ident.len()) as u64,
        );
        if self.text_bytes > MAX_TREE_TEXT_BYTES {
            return Err(IsoError::Limit(format!(
                "names and paths of more than {} MiB in one directory tree (budget: name bytes)",
                MAX_TREE_TEXT_BYTES >> 20
            )));
        }
        Ok(if dir_path.is_empty() {
            name.to_string()
        } else {
            format!("{dir_path}/{name}")
        })
    }
}

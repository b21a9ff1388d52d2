//! Planning an edit ([`plan_layout`]): where every replaced, added and regenerated piece
//! goes, which bytes of the input are patched, and how the volume and its system area grow.
//! Reads only the directories it regenerates. About 830 lines: one method per planning phase
//! on one Builder, kept in one file so the phases read in the order they run.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::appended::{self, Appended};
use super::dirgen::{
    build_dir, iso_ident, joliet_ident, record_date, record_fix_bytes, tree_of, ucs2_bytes, Child,
    Group, Planner, Style, TreeId,
};
use super::model::{
    both32, norm_path, usage, EditPlan, Layout, NewContent, Patch, Placement, Source, MAX_EXTENT,
};
use super::output::InputStamp;
use super::patch::merge_patches;
use super::path_table::{final_dirs, path_table};
use super::system_area::{system_area_patches, COVER_START_MAX};
use crate::iso::dir::{NodeKind, TreeKind};
use crate::iso::format::iso9660::{dr, vd};
use crate::iso::format::mbr;
use crate::iso::volume::DescriptorKind;
use crate::iso::{read_at, Extent, Image, SECTOR};
use crate::Error;

/// A file on disk as a source, stamped so that a change before the rename is noticed.
pub(super) fn file_source(path: &Path) -> Result<Source, Error> {
    let stamp = InputStamp::of_path(path).map_err(|e| Error::input(path, e))?;
    Ok(Source::File {
        path: path.to_path_buf(),
        len: stamp.len,
        stamp,
    })
}

/// Computes where everything goes. Reads the directories that must be regenerated (and
/// nothing else) from `reader`, which must be the image `image` was opened from.
///
/// The phases run in this order, each on the state the previous ones left in [`Builder`]:
/// replacements are grouped by extent and content, additions get directory jobs, content is
/// placed (in place or appended), regenerated directories are sized (pass 1), every record
/// naming a moved extent gets a fix, directories are emitted (pass 2), descriptors follow
/// (path tables, volume id), and the volume grows with its system area.
pub fn plan_layout<R: Read + Seek>(
    image: &Image,
    reader: &mut R,
    plan: &EditPlan,
) -> crate::Result<Layout> {
    let mut b = Builder::new(image, plan)?;
    b.group_replacements()?;
    b.plan_additions()?;
    b.place_groups()?;
    b.read_old_dirs(reader)?;
    b.size_dirs()?;
    b.record_fixes();
    b.emit_dirs()?;
    b.path_tables()?;
    b.volume_id()?;
    b.grow_volume(reader)?;
    Ok(b.finish())
}

/// The state of one planning run, shared by the phases of [`plan_layout`].
struct Builder<'i> {
    image: &'i Image,
    plan: &'i EditPlan,
    planner: Planner<'i>,
    /// Extents that must never move (boot images, the boot catalog, partition files).
    protected: HashSet<u32>,
    /// Sectors of the input volume, and of the input file or volume (whichever is larger).
    old_volume_sectors: u64,
    old_end_sector: u64,
    /// Next free sector after the old end (appended data is allocated from here).
    next: u64,
    /// The first `replaced_groups` groups are replacements, the rest additions.
    replaced_groups: usize,
    style: Style,
    /// Old bytes of each regenerated directory, by job index.
    old_dirs: HashMap<usize, Vec<u8>>,
    /// Extent fixes (`dr::EXTENT_FIELDS`) of directory records, keyed by the record's input
    /// offset.
    fixes: HashMap<u64, Vec<u8>>,
    /// Trees whose directories moved or were created: their path tables are rebuilt.
    moved_trees: HashSet<TreeId>,
    placements: Vec<Placement>,
    segments: Vec<(u32, Source)>,
    patches: Vec<Patch>,
    /// In-place edits of files (efiboot.img): applied last, over everything else.
    in_place: Vec<Patch>,
    /// Volume descriptor patches, applied after the system area's.
    descriptor_patches: Vec<Patch>,
    tail: Vec<u8>,
    grew: bool,
    output_bytes: u64,
    /// Appended partitions behind partition 1 (EL10): new data goes before them.
    appended: Option<Appended>,
    /// Bytes of the input copied, and the (whole-disk) volume size, when growth set them
    /// apart from the file's end (EL10's moved partitions, EL8's isohybrid padding).
    copy_end: Option<u64>,
    volume_bytes: Option<u64>,
}

impl<'i> Builder<'i> {
    fn new(image: &'i Image, plan: &'i EditPlan) -> crate::Result<Self> {
        let old_volume_sectors = u64::from(image.pvd().volume_space_size);
        let old_end_sector = old_volume_sectors.max(image.file_len.div_ceil(SECTOR));
        let appended = appended::appended_of(image)?;
        if plan.appended_esp.is_some() && appended.is_none() {
            return Err(usage(
                "an edited EFI partition was given, but the image has no partitions appended behind partition 1",
            ));
        }
        Ok(Builder {
            image,
            plan,
            planner: Planner {
                image,
                groups: Vec::new(),
                jobs: Vec::new(),
                job_index: HashMap::new(),
            },
            protected: protected_extents(image),
            old_volume_sectors,
            old_end_sector,
            next: appended.map_or(old_end_sector, |a| a.start_block()),
            replaced_groups: 0,
            style: Style {
                rock_ridge: image.primary.rock_ridge,
                px_len: image.primary.px_len,
                date: record_date(plan.mtime),
            },
            old_dirs: HashMap::new(),
            fixes: HashMap::new(),
            moved_trees: HashSet::new(),
            placements: Vec::new(),
            segments: Vec::new(),
            patches: Vec::new(),
            in_place: Vec::new(),
            descriptor_patches: Vec::new(),
            tail: Vec::new(),
            grew: false,
            output_bytes: old_end_sector * SECTOR,
            appended,
            copy_end: None,
            volume_bytes: None,
        })
    }

    /// Allocates sectors for `len` bytes after everything allocated so far.
    fn alloc(&mut self, len: u64) -> u64 {
        let lba = self.next;
        self.next += len.div_ceil(SECTOR);
        lba
    }

    /// Replacements, grouped by (old extent, content): names sharing an extent that get the
    /// same content keep sharing one new extent.
    fn group_replacements(&mut self) -> crate::Result<()> {
        let image = self.image;
        let mut group_keys: Vec<(u32, &NewContent)> = Vec::new();
        let mut seen_paths: HashSet<String> = HashSet::new();
        for (raw, content) in &self.plan.replace {
            let path = norm_path(raw);
            let node = image.primary.find(&path).ok_or_else(|| {
                usage(format!("cannot replace /{path}: no such file in the image"))
            })?;
            if node.kind != NodeKind::File {
                return Err(usage(format!("cannot replace /{path}: not a regular file")));
            }
            if !seen_paths.insert(node.path.clone()) {
                return Err(usage(format!("/{path} is replaced twice")));
            }
            let [old] = node.extents.as_slice() else {
                return Err(Error::input(
                    PathBuf::new(),
                    format!(
                        "cannot replace /{path}: multi-extent files (> 4 GiB) are not supported"
                    ),
                ));
            };
            if let NewContent::InPlace(bytes) = content {
                self.edit_in_place(&path, *old, bytes)?;
                continue;
            }
            if old.len > 0 && self.protected.contains(&old.lba) {
                return Err(usage(format!(
                    "cannot replace /{path}: it is a boot image or partition (El Torito / MBR / GPT point at it); edit it in place"
                )));
            }
            let key = (old.lba, content);
            if old.len > 0 {
                if let Some(g) = group_keys.iter().position(|k| *k == key) {
                    if let Some(group) = self.planner.groups.get_mut(g) {
                        group.paths.push(node.path.clone());
                    }
                    continue;
                }
            }
            let source = match content {
                // (in-place edits were taken above)
                NewContent::Bytes(b) | NewContent::InPlace(b) => {
                    Source::Bytes(Arc::from(b.as_slice()))
                }
                NewContent::OriginalPlus(tail) => Source::OriginalPlus {
                    offset: old.offset(),
                    len: u64::from(old.len),
                    tail: Arc::from(tail.as_slice()),
                },
                NewContent::File(p) => file_source(p)?,
            };
            group_keys.push(key);
            self.planner.groups.push(Group {
                paths: vec![node.path.clone()],
                source,
                old: Some(*old),
                ext: *old,
                in_place: false,
            });
        }
        self.replaced_groups = self.planner.groups.len();
        Ok(())
    }

    /// An in-place edit: the same number of bytes over the file's own extent (it keeps its
    /// place, size and directory records), written after every other patch.
    fn edit_in_place(&mut self, path: &str, old: Extent, bytes: &[u8]) -> crate::Result<()> {
        if bytes.len() as u64 != u64::from(old.len) {
            return Err(usage(format!(
                "the in-place edit of /{path} changed its size from {} to {} bytes",
                old.len,
                bytes.len()
            )));
        }
        if old.offset() + u64::from(old.len) > self.image.file_len {
            return Err(usage(format!(
                "cannot edit /{path} in place: it extends past the end of the image"
            )));
        }
        self.in_place.push((old.offset(), bytes.to_vec()));
        Ok(())
    }

    /// Additions: a group each, and a child in the directory job of its parent in every
    /// tree (missing directories become new jobs).
    fn plan_additions(&mut self) -> crate::Result<()> {
        let image = self.image;
        let planner = &mut self.planner;
        let long = planner.long_names();
        let joliet_version = image
            .joliet
            .as_ref()
            .is_some_and(|t| t.files().any(|n| n.ident.ends_with(";1")));
        for (raw, content) in &self.plan.add {
            let path = norm_path(raw);
            if path.is_empty() || path.split('/').any(|c| c == "..") {
                return Err(usage(format!("cannot add {raw:?}: not a plain path")));
            }
            if image.primary.find(&path).is_some()
                || planner
                    .job_index
                    .contains_key(&(TreeId::disk(TreeKind::Iso9660), path.clone()))
            {
                return Err(usage(format!(
                    "cannot add /{path}: the image has it already; add it under another ISO path (--add SRC=OTHER/PATH)"
                )));
            }
            if self
                .plan
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
                NewContent::OriginalPlus(_) | NewContent::InPlace(_) => {
                    return Err(usage(format!(
                        "cannot add /{path}: that kind of content edits an existing file"
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
            // Every tree gets the name: on EL10 media the partition-1 view's trees too,
            // naming the same new extent (relative to partition 1, see dirgen::TreeId).
            for tree in TreeId::all(image) {
                let job = planner.dir_job(tree, &parent)?;
                let ident = match tree.kind {
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
        Ok(())
    }

    /// Sizes and data placement: a replacement of plain bytes that fits its old sectors
    /// (and whose extent no other name keeps) is rewritten in place; everything else is
    /// appended.
    fn place_groups(&mut self) -> crate::Result<()> {
        let image = self.image;
        for gi in 0..self.planner.groups.len() {
            let Some(g) = self.planner.groups.get(gi) else {
                continue;
            };
            let len = g.source.len();
            if len > MAX_EXTENT {
                return Err(usage(format!(
                    "new content for /{} has {len} bytes; files over {MAX_EXTENT} bytes are not supported",
                    g.paths.first().map_or("", String::as_str)
                )));
            }
            let sharers = g.old.map_or(0, |o| sharers_of(image, o));
            let in_place_at = match (&g.source, g.old) {
                (Source::Bytes(_), Some(o))
                    if gi < self.replaced_groups
                        && o.len > 0
                        && len.div_ceil(SECTOR) <= o.sectors()
                        && sharers <= g.paths.len() =>
                {
                    Some(o)
                }
                _ => None,
            };
            let (ext, in_place) = match in_place_at {
                Some(o) => {
                    if let Source::Bytes(b) = &g.source {
                        let mut data = b.to_vec();
                        data.resize((o.sectors() * SECTOR) as usize, 0);
                        self.patches.push((o.offset(), data));
                    }
                    let ext = Extent {
                        lba: o.lba,
                        len: len as u32,
                    };
                    (ext, true)
                }
                None => {
                    let source = g.source.clone();
                    let lba = self.alloc(len);
                    if len > 0 {
                        self.segments.push((lba as u32, source));
                    }
                    let ext = Extent {
                        lba: lba as u32,
                        len: len as u32,
                    };
                    (ext, false)
                }
            };
            let Some(g) = self.planner.groups.get_mut(gi) else {
                continue;
            };
            g.ext = ext;
            g.in_place = in_place;
            for p in &g.paths {
                self.placements.push(Placement {
                    what: format!("/{p}"),
                    lba: ext.lba,
                    len,
                    in_place,
                });
            }
        }
        Ok(())
    }

    /// Reads the old extents of the directories that are regenerated.
    fn read_old_dirs<R: Read + Seek>(&mut self, reader: &mut R) -> crate::Result<()> {
        for (ji, j) in self.planner.jobs.iter().enumerate() {
            if let Some(o) = j.old {
                let b = read_at(
                    reader,
                    o.offset(),
                    o.len as usize,
                    self.image.file_len,
                    "directory",
                )
                .map_err(|e| Error::reading(format_args!("reading /{}", j.path), e))?;
                self.old_dirs.insert(ji, b);
            }
        }
        Ok(())
    }

    /// Pass 1: every regenerated directory's size with placeholder extents decides whether
    /// it stays in place or moves to the end.
    fn size_dirs(&mut self) -> crate::Result<()> {
        let no_fixes: HashMap<u64, Vec<u8>> = HashMap::new();
        for ji in 0..self.planner.jobs.len() {
            let bytes = build_dir(&self.planner, ji, &self.old_dirs, &no_fixes, &self.style)?;
            let len = bytes.len() as u64;
            let old = self.planner.jobs.get(ji).and_then(|j| j.old);
            let (ext, in_place) = match old {
                Some(o) if len <= o.sectors() * SECTOR => (o, true),
                _ => {
                    let lba = self.alloc(len);
                    let ext = Extent {
                        lba: lba as u32,
                        len: len as u32,
                    };
                    (ext, false)
                }
            };
            if let Some(j) = self.planner.jobs.get_mut(ji) {
                j.ext = ext;
                j.in_place = in_place;
            }
        }
        Ok(())
    }

    /// Every directory record that names a replaced or moved extent gets a fix: the
    /// replaced files' names in both trees, and a moved directory's entry in its parent,
    /// its `.` and every `..` naming it.
    fn record_fixes(&mut self) {
        let image = self.image;
        let fixes = &mut self.fixes;
        for g in self.planner.groups.iter().take(self.replaced_groups) {
            if g.in_place && g.ext.len == g.old.map_or(0, |o| o.len) {
                continue;
            }
            let Some(old) = g.old else { continue };
            let all_names = g.paths.len() >= sharers_of(image, old);
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
        for j in &self.planner.jobs {
            if j.existing.is_none() {
                self.moved_trees.insert(j.tree);
            }
            let (Some(i), Some(old)) = (j.existing, j.old) else {
                continue;
            };
            if j.ext == old {
                continue;
            }
            self.moved_trees.insert(j.tree);
            let Some(tree) = tree_of(image, j.tree) else {
                continue;
            };
            let Some(node) = tree.nodes.get(i) else {
                continue;
            };
            let named = self.planner.in_tree(j.tree, j.ext);
            let fix = record_fix_bytes(named.lba, named.len);
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
        appended::mirror_fixes(image, fixes);
    }

    /// Pass 2: the final bytes of every regenerated directory (in place or appended), and
    /// the fixes of records outside regenerated directories as patches.
    fn emit_dirs(&mut self) -> crate::Result<()> {
        let job_extents: Vec<Extent> = self.planner.jobs.iter().filter_map(|j| j.old).collect();
        for ji in 0..self.planner.jobs.len() {
            let bytes = build_dir(&self.planner, ji, &self.old_dirs, &self.fixes, &self.style)?;
            let Some(j) = self.planner.jobs.get(ji) else {
                continue;
            };
            let what = match j.tree.kind {
                TreeKind::Iso9660 => format!("dir:/{}", j.path),
                TreeKind::Joliet => format!("joliet-dir:/{}", j.path),
            };
            let what = if j.tree.partition {
                format!("p1-{what}")
            } else {
                what
            };
            self.placements.push(Placement {
                what,
                lba: j.ext.lba,
                len: u64::from(j.ext.len),
                in_place: j.in_place,
            });
            if j.in_place {
                let mut data = bytes;
                data.resize(j.ext.len as usize, 0);
                self.patches.push((j.ext.offset(), data));
            } else {
                self.segments
                    .push((j.ext.lba, Source::Bytes(Arc::from(bytes))));
            }
        }
        for (&off, fix) in &self.fixes {
            let inside_job = job_extents
                .iter()
                .any(|e| off >= e.offset() && off < e.offset() + u64::from(e.len));
            if !inside_job {
                self.patches.push((off + dr::EXTENT as u64, fix.clone()));
            }
        }
        Ok(())
    }

    /// New path tables for every tree whose directories moved or were created, and the
    /// descriptor fields that point at them.
    fn path_tables(&mut self) -> crate::Result<()> {
        let image = self.image;
        for id in TreeId::all(image) {
            if !self.moved_trees.contains(&id) {
                continue;
            }
            let Some(tree) = tree_of(image, id) else {
                continue;
            };
            let kind = id.kind;
            let dirs = final_dirs(&self.planner, tree, id, &self.fixes)?;
            let l = path_table(&dirs, false);
            let m = path_table(&dirs, true);
            let size = l.len() as u64;
            let l_lba = self.alloc(size) as u32;
            let m_lba = self.alloc(size) as u32;
            let label = match kind {
                TreeKind::Iso9660 => "path-tables",
                TreeKind::Joliet => "joliet-path-tables",
            };
            let label = if id.partition {
                format!("p1-{label}")
            } else {
                label.to_string()
            };
            self.placements.push(Placement {
                what: label,
                lba: l_lba,
                len: size * 2,
                in_place: false,
            });
            self.segments.push((l_lba, Source::Bytes(Arc::from(l))));
            self.segments.push((m_lba, Source::Bytes(Arc::from(m))));
            // The descriptors of the tree's own view, naming the tables as that view does.
            let descriptors = if id.partition {
                appended::view_descriptors(image)
            } else {
                &image.descriptors
            };
            let shift = self.planner.shift(id);
            let (l_lba, m_lba) = (l_lba.saturating_sub(shift), m_lba.saturating_sub(shift));
            for d in descriptors.iter().filter(|d| match kind {
                TreeKind::Iso9660 => d.kind == DescriptorKind::Primary,
                TreeKind::Joliet => matches!(d.kind, DescriptorKind::Joliet { .. }),
            }) {
                let f = vd::path_table_fields(size as u32, l_lba, m_lba);
                self.descriptor_patches
                    .push((d.field_offset(vd::PATH_TABLE_SIZE), f.to_vec()));
            }
        }
        Ok(())
    }

    /// A new volume identifier in the PVD and the Joliet SVD.
    fn volume_id(&mut self) -> crate::Result<()> {
        let Some(id) = &self.plan.volume_id else {
            return Ok(());
        };
        if id.is_empty()
            || id.len() > vd::VOLUME_ID_LEN
            || !id.bytes().all(|b| (0x20..0x7F).contains(&b))
        {
            return Err(usage(format!(
                "volume id {id:?} must be 1 to 32 printable ASCII characters"
            )));
        }
        let view = appended::view_descriptors(self.image);
        for d in self.image.descriptors.iter().chain(view) {
            match d.kind {
                DescriptorKind::Primary => {
                    let mut f = id.as_bytes().to_vec();
                    f.resize(vd::VOLUME_ID_LEN, b' ');
                    self.descriptor_patches
                        .push((d.field_offset(vd::VOLUME_ID), f));
                }
                DescriptorKind::Joliet { .. } => {
                    let mut f: Vec<u8> =
                        ucs2_bytes(id).into_iter().take(vd::VOLUME_ID_LEN).collect();
                    while f.len() < vd::VOLUME_ID_LEN {
                        f.extend_from_slice(&[0x00, 0x20]);
                    }
                    self.descriptor_patches
                        .push((d.field_offset(vd::VOLUME_ID), f));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Volume end and system area: when data was appended, the volume grows (padded as
    /// xorriso pads), every volume size follows, and so do the MBR and GPT.
    fn grow_volume<R: Read + Seek>(&mut self, reader: &mut R) -> crate::Result<()> {
        if let Some(app) = self.appended {
            return self.grow_appended(reader, app);
        }
        let image = self.image;
        let data_end = self.next;
        self.grew = data_end > self.old_end_sector;
        if !self.grew {
            return Ok(());
        }
        // EL8: isohybrid --uefi's padding and backup GPT after the volume, re-laid.
        if let Some(g) = super::isohybrid::grow(image, reader, data_end * SECTOR)? {
            self.output_bytes = g.output_bytes;
            self.volume_bytes = Some(g.volume_sectors * SECTOR);
            self.descriptor_patches.extend(g.patches);
            self.tail = g.tail;
            return Ok(());
        }
        let mut new_sectors = data_end + 150; // xorriso's default -padding 300k
        if image.file_len.is_multiple_of(1 << 20) {
            // cylinder alignment (64 heads × 32 sectors)
            new_sectors = new_sectors.div_ceil(512) * 512;
        }
        self.output_bytes = new_sectors * SECTOR;
        // Partitions that are neither the whole image nor a file of the tree are appended
        // partitions (Fedora / RHEL 10: -append_partition, -partition_offset); where the
        // grown volume should go relative to them is not defined, so refuse.
        let sa = &image.system_area;
        let appended = sa
            .mbr
            .iter()
            .filter(|p| p.part_type != mbr::TYPE_PROTECTIVE)
            .any(|p| u64::from(p.start) > COVER_START_MAX && p.path.is_none())
            || sa.gpt.as_ref().is_some_and(|g| {
                g.partitions
                    .iter()
                    .any(|p| p.first_lba > COVER_START_MAX && p.path.is_none())
            });
        if appended || image.file_len > self.old_volume_sectors * SECTOR {
            return Err(Error::input(
                PathBuf::new(),
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
                self.descriptor_patches.push((
                    d.field_offset(vd::VOLUME_SPACE_SIZE),
                    both32(new_sectors as u32).to_vec(),
                ));
            }
        }
        let (sys_patches, gpt_tail) = system_area_patches(
            image,
            reader,
            self.old_end_sector * SECTOR,
            data_end * SECTOR,
            self.output_bytes,
        )?;
        self.patches.extend(sys_patches);
        self.tail = gpt_tail;
        Ok(())
    }

    /// [`grow_volume`](Self::grow_volume) for media with partitions appended behind
    /// partition 1 (EL10): see [`appended::grow`].
    fn grow_appended<R: Read + Seek>(
        &mut self,
        reader: &mut R,
        app: Appended,
    ) -> crate::Result<()> {
        let esp = self.plan.appended_esp.as_deref();
        self.grew = self.next > app.start_block();
        if !self.grew {
            if let Some(esp) = esp {
                self.in_place.push(appended::esp_in_place(&app, esp)?);
            }
            return Ok(());
        }
        // Everything behind p1 moves by a multiple of 16 sectors (4 blocks), so it keeps the
        // alignment xorriso gave it (sgdisk cautions about a partition ending off 16).
        let data_end = app.start_block() + (self.next - app.start_block()).div_ceil(4) * 4;
        let g = appended::grow(self.image, reader, &app, data_end, esp)?;
        self.patches.extend(g.patches);
        self.segments.extend(g.segments);
        self.tail = g.tail;
        self.output_bytes = g.output_bytes;
        self.copy_end = Some(g.copy_end);
        self.volume_bytes = Some(g.volume_bytes);
        Ok(())
    }

    /// The layout: patches merged (a stale isomd5sum blanked when anything changes),
    /// segments in LBA order, the final extent of every replaced or added path.
    fn finish(mut self) -> Layout {
        self.patches.append(&mut self.descriptor_patches);
        // Any change makes an implanted isomd5sum stale: blank the field (implant_md5
        // writes a fresh one last; without it the output carries none rather than a wrong
        // one).
        let changes =
            !self.patches.is_empty() || !self.segments.is_empty() || !self.in_place.is_empty();
        if changes && self.image.app_use.iter().any(|&b| b != b' ') {
            self.patches.push((
                crate::iso::PVD_APP_USE_OFFSET,
                vec![b' '; crate::iso::APP_USE_LEN],
            ));
        }
        self.patches.append(&mut self.in_place);
        self.segments.sort_by_key(|s| s.0);
        let mut extents = HashMap::new();
        for g in &self.planner.groups {
            for p in &g.paths {
                extents.insert(p.clone(), g.ext);
            }
        }
        Layout {
            input_bytes: self.image.file_len,
            output_bytes: self.output_bytes,
            placements: self.placements,
            extents,
            patches: merge_patches(self.patches),
            segments: self.segments,
            copy_end: self.copy_end.unwrap_or(self.image.file_len),
            volume_bytes: if let Some(v) = self.volume_bytes {
                v
            } else if self.grew {
                self.output_bytes
            } else {
                self.old_volume_sectors * SECTOR
            },
            tail: self.tail,
        }
    }
}

/// Extents that must never move: the boot catalog, El Torito boot images, and files that
/// an MBR or GPT partition covers (efiboot.img).
fn protected_extents(image: &Image) -> HashSet<u32> {
    let mut protected = HashSet::new();
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
    protected
}

/// How many names of the primary tree share the (non-empty) extent starting at `old`.
fn sharers_of(image: &Image, old: Extent) -> usize {
    image
        .primary
        .files()
        .filter(|n| {
            n.extents
                .first()
                .is_some_and(|e| e.lba == old.lba && e.len > 0)
        })
        .count()
}

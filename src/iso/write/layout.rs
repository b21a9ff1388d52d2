//! Planning an edit ([`plan_layout`]): where every replaced, added and regenerated piece
//! goes, which bytes of the input are patched, and how the volume and its system area grow.
//! Reads only the directories it regenerates.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::Arc;

use super::dirgen::{
    build_dir, iso_ident, joliet_ident, record_date, record_fix_bytes, tree_of, ucs2_bytes, Child,
    Group, Planner, Style,
};
use super::model::{
    both32, norm_path, usage, EditPlan, Layout, NewContent, Placement, Source, MAX_EXTENT,
};
use super::output::InputStamp;
use super::patch::merge_patches;
use super::path_table::{final_dirs, path_table};
use super::system_area::{system_area_patches, COVER_START_MAX};
use crate::iso::dir::{NodeKind, TreeKind};
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
        patches.push((
            crate::iso::PVD_APP_USE_OFFSET,
            vec![b' '; crate::iso::APP_USE_LEN],
        ));
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

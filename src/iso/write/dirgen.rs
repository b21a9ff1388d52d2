//! Directory generation: which directories of which tree are regenerated or created
//! ([`Planner`], one [`DirJob`] each), the content groups they name ([`Group`]), and the
//! bytes of a regenerated directory: the old records (with extent fixes) plus new records
//! inserted in identifier order, packed so that no record crosses a sector.

use std::collections::{HashMap, HashSet};

use super::model::{both32, usage, Source};
use crate::iso::dir::{split_records, NodeKind, Tree, TreeKind};
use crate::iso::format::iso9660::{dr, susp};
use crate::iso::{Extent, Image, SECTOR};
use crate::Error;

/// Patch of a directory record's extent fields (`dr::EXTENT_FIELDS`).
pub(super) fn record_fix_bytes(lba: u32, size: u32) -> Vec<u8> {
    dr::extent_fields(lba, size).to_vec()
}

/// ECMA-119 7-byte recording date (UTC) from Unix seconds.
pub(super) fn record_date(t: i64) -> [u8; 7] {
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
pub(super) enum Child {
    File {
        name: String,
        ident: Vec<u8>,
        group: usize,
    },
    Dir {
        job: usize,
    },
}

/// One of an image's trees: ISO 9660 or Joliet, of the whole disk or of the partition-1
/// view of `-partition_offset` media (EL10), whose directory records, path tables and
/// descriptors hold block addresses relative to partition 1. The planner works in absolute
/// blocks throughout; only the bytes written into a partition tree are shifted
/// ([`Planner::shift`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TreeId {
    pub(super) kind: TreeKind,
    pub(super) partition: bool,
}

impl TreeId {
    /// A tree of the whole-disk view.
    pub(super) fn disk(kind: TreeKind) -> TreeId {
        TreeId {
            kind,
            partition: false,
        }
    }

    /// Every tree the image has, in a fixed order (whole disk first).
    pub(super) fn all(image: &Image) -> Vec<TreeId> {
        [TreeKind::Iso9660, TreeKind::Joliet]
            .into_iter()
            .flat_map(|kind| {
                [false, true]
                    .into_iter()
                    .map(move |partition| TreeId { kind, partition })
            })
            .filter(|&id| tree_of(image, id).is_some())
            .collect()
    }
}

/// A directory of one tree that is regenerated (gets new children) or created.
#[derive(Debug, Clone)]
pub(super) struct DirJob {
    pub(super) tree: TreeId,
    pub(super) path: String,
    /// Node index in its tree if the directory exists.
    pub(super) existing: Option<usize>,
    /// Parent job (new directories only).
    pub(super) parent_job: Option<usize>,
    pub(super) name: String,
    pub(super) ident: Vec<u8>,
    pub(super) children: Vec<Child>,
    pub(super) old: Option<Extent>,
    pub(super) ext: Extent,
    pub(super) in_place: bool,
}

/// Content placed once and shared by every name that points at it.
#[derive(Debug, Clone)]
pub(super) struct Group {
    pub(super) paths: Vec<String>,
    pub(super) source: Source,
    pub(super) old: Option<Extent>,
    pub(super) ext: Extent,
    pub(super) in_place: bool,
}

/// How new records look in a tree (copied from the image's conventions).
pub(super) struct Style {
    pub(super) rock_ridge: bool,
    pub(super) px_len: u8,
    pub(super) date: [u8; 7],
}

pub(super) fn ucs2_bytes(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// An ISO 9660 identifier for a new name: d-characters, 8.3 (or 30 chars for images that
/// already use longer names), unique among `taken`.
pub(super) fn iso_ident(name: &str, is_dir: bool, long: bool, taken: &HashSet<String>) -> String {
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
pub(super) fn new_record(
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
        let px_len = if style.px_len >= susp::PX_LEN_RRIP_1_12 {
            susp::PX_LEN_RRIP_1_12
        } else {
            susp::PX_LEN_RRIP_1_10
        };
        su.extend_from_slice(b"PX");
        su.push(px_len);
        su.push(1);
        let mode: u32 = if is_dir { 0o040555 } else { 0o100444 };
        su.extend_from_slice(&both32(mode));
        su.extend_from_slice(&both32(nlink));
        su.extend_from_slice(&both32(0));
        su.extend_from_slice(&both32(0));
        if px_len == susp::PX_LEN_RRIP_1_12 {
            su.extend_from_slice(&both32(0));
        }
        su.extend_from_slice(b"TF");
        su.push(susp::TF_LEN_3_SHORT);
        su.push(1);
        su.push(susp::TF_FLAGS_MAC);
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
    let mut len = dr::FIXED_LEN + ident.len() + pad + su.len();
    if len % 2 == 1 {
        su.push(0);
        len += 1;
    }
    if len > dr::MAX_LEN {
        return Err(usage(format!(
            "name {:?} is too long for a directory record",
            rr_name.unwrap_or("")
        )));
    }
    let flags = if is_dir { dr::FLAG_DIR } else { 0x00 };
    Ok(dr::encode(ext.lba, ext.len, &style.date, flags, ident, &su))
}

/// Lays records out in sectors (no record crosses a sector boundary).
pub(super) fn pack_records(records: &[Vec<u8>]) -> Vec<u8> {
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

pub(super) fn tree_of(image: &Image, id: TreeId) -> Option<&Tree> {
    if id.partition {
        return image.partition.as_ref().and_then(|v| v.tree(id.kind));
    }
    match id.kind {
        TreeKind::Iso9660 => Some(&image.primary),
        TreeKind::Joliet => image.joliet.as_ref(),
    }
}

pub(super) struct Planner<'i> {
    pub(super) image: &'i Image,
    pub(super) groups: Vec<Group>,
    pub(super) jobs: Vec<DirJob>,
    pub(super) job_index: HashMap<(TreeId, String), usize>,
}

impl Planner<'_> {
    /// Blocks to subtract from an absolute address written into tree `id` (the partition
    /// view's offset for its trees, 0 for the whole-disk trees).
    pub(super) fn shift(&self, id: TreeId) -> u32 {
        match (&self.image.partition, id.partition) {
            (Some(v), true) => v.block_offset,
            _ => 0,
        }
    }

    /// `ext` as tree `id` names it.
    pub(super) fn in_tree(&self, id: TreeId, ext: Extent) -> Extent {
        Extent {
            lba: ext.lba.saturating_sub(self.shift(id)),
            len: ext.len,
        }
    }

    /// The job for directory `path` of `kind`, creating it (and missing parents).
    pub(super) fn dir_job(&mut self, kind: TreeId, path: &str) -> Result<usize, Error> {
        if let Some(&j) = self.job_index.get(&(kind, path.to_string())) {
            return Ok(j);
        }
        let tree = tree_of(self.image, kind).ok_or_else(|| Error::internal("no such tree"))?;
        let job = match tree.find_index(path) {
            Some(i) => {
                let node = tree
                    .nodes
                    .get(i)
                    .ok_or_else(|| Error::internal("bad node"))?;
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
                let ident = match kind.kind {
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

    pub(super) fn long_names(&self) -> bool {
        self.image
            .primary
            .nodes
            .iter()
            .any(|n| crate::iso::dir::plain_iso_name(&n.ident).len() > 12)
    }

    /// ISO 9660 identifiers (without version) already used in a job's directory.
    pub(super) fn taken_idents(&self, job: usize) -> HashSet<String> {
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

pub(super) fn joliet_ident(name: &str, version: bool) -> Result<Vec<u8>, Error> {
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

/// Generates the bytes of a regenerated or new directory.
pub(super) fn build_dir(
    planner: &Planner,
    ji: usize,
    old_dirs: &HashMap<usize, Vec<u8>>,
    fixes: &HashMap<u64, Vec<u8>>,
    style: &Style,
) -> Result<Vec<u8>, Error> {
    let job = planner
        .jobs
        .get(ji)
        .ok_or_else(|| Error::internal("bad directory job"))?;
    let mut records: Vec<Vec<u8>> = Vec::new();
    if let (Some(old), Some(bytes)) = (job.old, old_dirs.get(&ji)) {
        for rec in split_records(bytes, old.offset())
            .map_err(|e| Error::reading(format_args!("reading /{}", job.path), e))?
        {
            let start = (rec.offset - old.offset()) as usize;
            let mut raw = bytes
                .get(start..start + usize::from(rec.len))
                .ok_or_else(|| Error::internal("directory record out of range"))?
                .to_vec();
            if let Some(f) = fixes.get(&rec.offset) {
                dr::set_extent_fields(&mut raw, f);
            }
            records.push(raw);
        }
    } else {
        // A new directory: `.` and `..`.
        let parent_ext = job
            .parent_job
            .and_then(|p| planner.jobs.get(p))
            .map_or(job.ext, |p| p.ext);
        let parent_ext = planner.in_tree(job.tree, parent_ext);
        let subdirs = job
            .children
            .iter()
            .filter(|c| matches!(c, Child::Dir { .. }))
            .count() as u32;
        records.push(new_record(
            style,
            job.tree.kind,
            &dr::DOT,
            None,
            planner.in_tree(job.tree, job.ext),
            true,
            2 + subdirs,
        )?);
        records.push(new_record(
            style,
            job.tree.kind,
            &dr::DOTDOT,
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
                let ext = planner.in_tree(job.tree, ext);
                (
                    ident.clone(),
                    new_record(style, job.tree.kind, ident, Some(name), ext, false, 1)?,
                )
            }
            Child::Dir { job: d } => {
                let dj = planner
                    .jobs
                    .get(*d)
                    .ok_or_else(|| Error::internal("bad directory job"))?;
                let subdirs = dj
                    .children
                    .iter()
                    .filter(|c| matches!(c, Child::Dir { .. }))
                    .count() as u32;
                (
                    dj.ident.clone(),
                    new_record(
                        style,
                        job.tree.kind,
                        &dj.ident,
                        Some(&dj.name),
                        planner.in_tree(job.tree, dj.ext),
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
                dr::DirRecord(r)
                    .ident()
                    .is_some_and(|id| id > key.as_slice())
            })
            .map_or(records.len(), |(i, _)| i);
        records.insert(pos, rec);
    }
    Ok(pack_records(&records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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

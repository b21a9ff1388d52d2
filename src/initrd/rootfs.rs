//! The rootfs model the entries are replayed on, as `init/initramfs.c` builds it: types,
//! modes, sizes and symlink targets (no file data unless asked for); later entries
//! overwrite earlier ones, an entry of another type deletes the old path first, parents
//! are resolved through symlinks. Bounded: entries, name bytes and path-resolution work.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::{BTreeMap, HashMap};

use super::newc::Header;
use super::{InitrdError, Result};
use serde::Serialize;

/// Limit on symlink hops while resolving a path (the kernel's `MAXSYMLINKS`).
pub(super) const MAX_SYMLINKS: usize = 40;

/// Type of a file in the unpacked tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDev,
    BlockDev,
    Fifo,
    Socket,
}

impl FileKind {
    pub(super) fn from_mode(mode: u32) -> Option<FileKind> {
        Some(match mode & 0o170000 {
            0o100000 => FileKind::File,
            0o040000 => FileKind::Dir,
            0o120000 => FileKind::Symlink,
            0o020000 => FileKind::CharDev,
            0o060000 => FileKind::BlockDev,
            0o010000 => FileKind::Fifo,
            0o140000 => FileKind::Socket,
            _ => return None,
        })
    }
    /// One letter as in `ls -l`.
    pub fn letter(self) -> char {
        match self {
            FileKind::File => '-',
            FileKind::Dir => 'd',
            FileKind::Symlink => 'l',
            FileKind::CharDev => 'c',
            FileKind::BlockDev => 'b',
            FileKind::Fifo => 'p',
            FileKind::Socket => 's',
        }
    }
}

/// One path of the unpacked tree as the kernel leaves it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    /// Path relative to the root, symlinked parents resolved (`usr/lib/...`, never `lib/...`
    /// when `lib` is a symlink).
    pub path: String,
    pub kind: FileKind,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// File size (0 for non-files).
    pub size: u64,
    /// Symlink target as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Index of the segment that wrote it last.
    pub segment: usize,
}

pub(super) struct Entry {
    pub(super) name: String,
    pub(super) kind: FileKind,
    pub(super) mode: u32,
    pub(super) size: u64,
    pub(super) ino: u32,
    pub(super) nlink: u32,
    pub(super) dev: (u32, u32),
    pub(super) segment: usize,
    pub(super) target: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) kind: FileKind,
    pub(super) mode: u32,
    /// Inode index for regular files.
    pub(super) inode: usize,
    pub(super) target: Option<String>,
    pub(super) segment: usize,
}

#[derive(Debug, Default, Clone)]
pub(super) struct Inode {
    pub(super) size: u64,
    pub(super) data: Option<Vec<u8>>,
    pub(super) wanted: bool,
}

pub(super) enum Lookup {
    Dir,
    Symlink(String),
    Other,
}

/// Path bytes looked up while resolving names, in total for one walk (or one
/// [`Listing::resolve`]). Each resolution is linear in the components it processes (at most
/// [`MAX_SYMLINKS`] + 1 paths of `PATH_MAX`), but an image of many entries named through a
/// long symlinked chain (`s/x` with `s` → `d/d/d/…`) would multiply that by the number of
/// entries; a real initramfs looks up a few MB.
pub(super) const MAX_RESOLVE_BYTES: u64 = 256 << 20;

/// Entries and name bytes the tree model may hold: names are at most PATH_MAX each, but the
/// decode budget allows gigabytes of them.
pub(super) const MAX_TREE_NODES: usize = 1_000_000;

pub(super) const MAX_TREE_BYTES: u64 = 256 << 20;

pub(super) const RESOLVE_BUDGET: &str = "path resolution budget exceeded (more than 256 MiB of path components looked up; symlinks to long directory chains)";

/// Resolves a path through symlinks; `Err` if a parent is missing or not a directory, on a
/// loop, or when the lookups counted in `spent` pass [`MAX_RESOLVE_BYTES`].
///
/// The candidate path is kept incrementally (one push or truncate per component) and the
/// "is this the last component" test uses a running count, so a resolution costs
/// O(components × component length) plus the lookups.
pub(super) fn resolve_in(
    lookup: impl Fn(&str) -> Option<Lookup>,
    path: &str,
    follow_last: bool,
    allow_missing: bool,
    spent: &std::cell::Cell<u64>,
) -> std::result::Result<String, &'static str> {
    let real = |c: &str| !c.is_empty() && c != ".";
    // `cand` is the resolved prefix; `ends` the length of `cand` before each component.
    let mut cand = String::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut todo: std::collections::VecDeque<String> =
        path.split('/').map(str::to_string).collect();
    // Components in `todo` that are neither empty nor ".".
    let mut pending = todo.iter().filter(|c| real(c)).count();
    let mut hops = 0usize;
    while let Some(c) = todo.pop_front() {
        if !real(&c) {
            continue;
        }
        pending = pending.saturating_sub(1);
        if c == ".." {
            if let Some(end) = ends.pop() {
                cand.truncate(end);
            }
            continue;
        }
        let last = pending == 0;
        let before = cand.len();
        if !cand.is_empty() {
            cand.push('/');
        }
        cand.push_str(&c);
        let total = spent.get().saturating_add(cand.len() as u64);
        spent.set(total);
        if total > MAX_RESOLVE_BYTES {
            return Err(RESOLVE_BUDGET);
        }
        let found = lookup(&cand);
        match found {
            Some(Lookup::Symlink(target)) if !last || follow_last => {
                cand.truncate(before);
                // At most MAX_SYMLINKS + 1 (checked right below): never saturates.
                hops = hops.saturating_add(1);
                if hops > MAX_SYMLINKS {
                    return Err("too many levels of symbolic links");
                }
                if target.starts_with('/') {
                    cand.clear();
                    ends.clear();
                }
                for t in target.split('/').rev() {
                    if real(t) {
                        pending = pending.saturating_add(1);
                    }
                    todo.push_front(t.to_string());
                }
            }
            Some(Lookup::Dir) => ends.push(before),
            Some(_) => {
                if last {
                    ends.push(before)
                } else {
                    return Err("a parent is not a directory");
                }
            }
            None => {
                if last || allow_missing {
                    ends.push(before)
                } else {
                    return Err("a parent directory does not exist");
                }
            }
        }
    }
    Ok(cand)
}

/// The rootfs model the entries are replayed on.
#[derive(Default)]
pub(super) struct Fs {
    pub(super) nodes: BTreeMap<String, Node>,
    pub(super) inodes: Vec<Inode>,
    /// Hard-link table of the current archive: (major, minor, ino, mode) → canonical path.
    pub(super) hardlinks: HashMap<(u32, u32, u32, u32), String>,
    /// Path bytes looked up so far (see [`MAX_RESOLVE_BYTES`]).
    pub(super) resolved: std::cell::Cell<u64>,
    /// Path and symlink-target bytes of the entries replayed so far (see [`MAX_TREE_BYTES`]).
    pub(super) stored: u64,
}

impl Fs {
    pub(super) fn lookup(&self, p: &str) -> Option<Lookup> {
        self.nodes.get(p).map(|n| match n.kind {
            FileKind::Dir => Lookup::Dir,
            FileKind::Symlink => Lookup::Symlink(n.target.clone().unwrap_or_default()),
            _ => Lookup::Other,
        })
    }

    /// Fails the walk once name resolution has used up its budget (the entries would
    /// otherwise be reported as dropped by the kernel, which they are not).
    pub(super) fn check_budget(&self) -> Result<()> {
        if self.resolved.get() > MAX_RESOLVE_BYTES {
            return Err(InitrdError::new(RESOLVE_BUDGET));
        }
        if self.stored > MAX_TREE_BYTES || self.nodes.len() > MAX_TREE_NODES {
            return Err(InitrdError::new(format!(
                "tree budget exceeded: more than {MAX_TREE_NODES} entries or {} MiB of names \
                 (a real initramfs has a few thousand)",
                MAX_TREE_BYTES >> 20
            )));
        }
        Ok(())
    }

    pub(super) fn canonical(&self, name: &str) -> Option<String> {
        resolve_in(|p| self.lookup(p), name, false, false, &self.resolved).ok()
    }

    pub(super) fn linked_wanted(&self, h: &Header) -> bool {
        h.nlink >= 2
            && self
                .hardlinks
                .get(&(h.devmajor, h.devminor, h.ino, h.mode))
                .and_then(|p| self.nodes.get(p))
                .and_then(|n| self.inodes.get(n.inode))
                .is_some_and(|i| i.wanted && i.data.is_some())
    }

    pub(super) fn has_children(&self, p: &str) -> bool {
        let prefix = format!("{p}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// `clean_path`: remove an existing path of another type (`kind` None = any type).
    /// Returns false if a non-empty directory stays in the way.
    pub(super) fn clean_path(&mut self, p: &str, kind: Option<FileKind>) -> bool {
        let Some(old) = self.nodes.get(p) else {
            return true;
        };
        if Some(old.kind) == kind {
            return true;
        }
        if old.kind == FileKind::Dir && self.has_children(p) {
            return false;
        }
        self.nodes.remove(p);
        true
    }

    /// Replays one entry (`do_name` / `do_symlink`); Err = the kernel drops it (message).
    pub(super) fn apply(
        &mut self,
        e: &Entry,
        data: Option<Vec<u8>>,
    ) -> std::result::Result<(), String> {
        if e.name.is_empty() {
            // "." : the root directory; mkdir fails with EEXIST, chmod applies. Nothing to model.
            return Ok(());
        }
        let path = resolve_in(|p| self.lookup(p), &e.name, false, false, &self.resolved)
            .map_err(|m| format!("{:?} dropped by the kernel: {m}", e.name))?;
        let target_len = e.target.as_ref().map_or(0, String::len);
        self.stored = self
            .stored
            .saturating_add(path.len() as u64)
            .saturating_add(target_len as u64);
        let perm = e.mode & 0o7777;
        match e.kind {
            FileKind::Dir => {
                if !self.clean_path(&path, Some(FileKind::Dir)) {
                    return Err(format!("{path:?}: non-empty directory in the way"));
                }
                let node = self.nodes.entry(path).or_insert(Node {
                    kind: FileKind::Dir,
                    mode: perm,
                    inode: 0,
                    target: None,
                    segment: e.segment,
                });
                node.mode = perm;
                node.segment = e.segment;
            }
            FileKind::Symlink => {
                if !self.clean_path(&path, None) {
                    return Err(format!(
                        "symlink {path:?}: a non-empty directory is in the way"
                    ));
                }
                self.nodes.insert(
                    path,
                    Node {
                        kind: FileKind::Symlink,
                        mode: 0o777,
                        inode: 0,
                        target: e.target.clone(),
                        segment: e.segment,
                    },
                );
            }
            FileKind::File => {
                if !self.clean_path(&path, Some(FileKind::File)) {
                    return Err(format!(
                        "file {path:?}: a non-empty directory is in the way"
                    ));
                }
                let key = (e.dev.0, e.dev.1, e.ino, e.mode);
                let mut linked = false;
                if e.nlink >= 2 {
                    match self.hardlinks.get(&key).cloned() {
                        Some(old) => {
                            let old_inode = self
                                .nodes
                                .get(&old)
                                .filter(|n| n.kind == FileKind::File)
                                .map(|n| n.inode);
                            self.clean_path(&path, None);
                            let Some(inode) = old_inode else {
                                return Err(format!("hard link {path:?} to vanished {old:?}"));
                            };
                            self.nodes.insert(
                                path.clone(),
                                Node {
                                    kind: FileKind::File,
                                    mode: perm,
                                    inode,
                                    target: None,
                                    segment: e.segment,
                                },
                            );
                            linked = true;
                        }
                        None => {
                            self.hardlinks.insert(key, path.clone());
                        }
                    }
                }
                let inode = match self.nodes.get(&path) {
                    Some(n) if n.kind == FileKind::File => n.inode,
                    _ => {
                        let index = self.inodes.len();
                        self.inodes.push(Inode::default());
                        index
                    }
                };
                self.nodes.insert(
                    path,
                    Node {
                        kind: FileKind::File,
                        mode: perm,
                        inode,
                        target: None,
                        segment: e.segment,
                    },
                );
                if let Some(ino) = self.inodes.get_mut(inode) {
                    // O_TRUNC unless linked; then truncate to the body length if it has one.
                    if !linked || e.size > 0 {
                        ino.size = e.size;
                        ino.wanted = data.is_some();
                        ino.data = data;
                    }
                }
            }
            other => {
                if !self.clean_path(&path, Some(other)) {
                    return Err(format!("{path:?}: non-empty directory in the way"));
                }
                self.nodes.entry(path).or_insert(Node {
                    kind: other,
                    mode: perm,
                    inode: 0,
                    target: None,
                    segment: e.segment,
                });
            }
        }
        Ok(())
    }

    pub(super) fn listing(&self) -> BTreeMap<String, EntryInfo> {
        self.nodes
            .iter()
            .map(|(p, n)| {
                let size = if n.kind == FileKind::File {
                    self.inodes.get(n.inode).map_or(0, |i| i.size)
                } else {
                    0
                };
                (
                    p.clone(),
                    EntryInfo {
                        path: p.clone(),
                        kind: n.kind,
                        mode: n.mode,
                        size,
                        target: n.target.clone(),
                        segment: n.segment,
                    },
                )
            })
            .collect()
    }

    pub(super) fn wanted_files(&mut self, want: &dyn Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (p, n) in &self.nodes {
            if n.kind != FileKind::File || !want(p) {
                continue;
            }
            if let Some(data) = self.inodes.get(n.inode).and_then(|i| i.data.as_ref()) {
                out.push((p.clone(), data.clone()));
            }
        }
        out
    }
}

//! The overlay segment appended to a base initrd.
//!
//! Destinations are routed through the base's symlinks (`lib/modules/x` becomes
//! `usr/lib/modules/x` when `lib -> usr/lib`), so the overlay never carries an entry for a
//! path that is a symlink in the base (the kernel would delete the symlink: `init/initramfs.c` unlinks a path whose type
//! changes)
//! and never changes the type of an existing path. Output is deterministic: sorted paths,
//! sequential inode numbers, nlink 1, uid/gid 0, one fixed mtime. newc headers are written
//! with the `cpio` crate's `NewcBuilder`.

use super::compress::Compression;
use super::walk::{FileKind, Listing};
use super::{InitrdError, Result};
use std::collections::BTreeMap;
use std::io::Write;

/// What an overlay entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverlayKind {
    Dir,
    /// A regular file with these contents.
    File(Vec<u8>),
    /// A symlink with this target.
    Symlink(String),
}

/// One path to put into the overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayEntry {
    /// Destination, relative to the initramfs root (a leading `/` is accepted).
    pub path: String,
    pub kind: OverlayKind,
    /// Permission bits (e.g. 0o644, 0o755).
    pub mode: u32,
}

impl OverlayEntry {
    /// A regular file.
    pub fn file(path: impl Into<String>, data: Vec<u8>, mode: u32) -> Self {
        OverlayEntry {
            path: path.into(),
            kind: OverlayKind::File(data),
            mode,
        }
    }
    /// A directory (mode 0755).
    pub fn dir(path: impl Into<String>) -> Self {
        OverlayEntry {
            path: path.into(),
            kind: OverlayKind::Dir,
            mode: 0o755,
        }
    }
    /// A symlink.
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        OverlayEntry {
            path: path.into(),
            kind: OverlayKind::Symlink(target.into()),
            mode: 0o777,
        }
    }
}

/// The mtime for written entries: `SOURCE_DATE_EPOCH` if set and valid, else 0.
pub fn mtime_from_env() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Where each entry lands, after routing through the base's symlinks. Sorted by final path;
/// missing parent directories are added (0755). Errors name the offending path.
pub fn plan_overlay(
    base: &Listing,
    entries: &[OverlayEntry],
) -> Result<BTreeMap<String, OverlayEntry>> {
    let mut out: BTreeMap<String, OverlayEntry> = BTreeMap::new();
    for e in entries {
        let raw = e.path.trim_start_matches('/');
        if raw.split('/').any(|c| c == "..") || raw.is_empty() {
            return Err(InitrdError::new(format!(
                "overlay path {:?} is empty or contains '..'",
                e.path
            )));
        }
        let Some((dest, existing)) = base.resolve(raw, false) else {
            return Err(InitrdError::new(format!(
                "overlay path {:?}: a parent in the base initrd is not a directory",
                e.path
            )));
        };
        let want = match &e.kind {
            OverlayKind::Dir => FileKind::Dir,
            OverlayKind::File(_) => FileKind::File,
            OverlayKind::Symlink(_) => FileKind::Symlink,
        };
        if let Some(x) = existing {
            if x.kind == FileKind::Symlink
                && !(want == FileKind::Symlink
                    && matches!(&e.kind, OverlayKind::Symlink(t) if Some(t) == x.target.as_ref()))
            {
                return Err(InitrdError::new(format!(
                    "overlay path {:?}: {dest:?} is a symlink in the base initrd (-> {}); replacing it would break the image",
                    e.path,
                    x.target.as_deref().unwrap_or("")
                )));
            }
            if x.kind != want {
                return Err(InitrdError::new(format!(
                    "overlay path {:?}: {dest:?} is a {:?} in the base initrd, the overlay has a {want:?}; the kernel would delete the old one",
                    e.path, x.kind
                )));
            }
            if want != FileKind::File {
                // Same directory or same symlink already there: nothing to emit.
                continue;
            }
        }
        let mut entry = e.clone();
        entry.path = dest.clone();
        if out.insert(dest.clone(), entry).is_some() {
            return Err(InitrdError::new(format!("overlay lists {dest:?} twice")));
        }
    }
    // Parent directories the base does not have.
    let paths: Vec<String> = out.keys().cloned().collect();
    for p in paths {
        let mut parent = p.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            parent = up;
            if out.contains_key(up) {
                match out.get(up).map(|e| &e.kind) {
                    Some(OverlayKind::Dir) => continue,
                    _ => {
                        return Err(InitrdError::new(format!(
                            "overlay has {up:?} as a file or symlink and also {p:?} below it"
                        )))
                    }
                }
            }
            match base.entries.get(up) {
                Some(x) if x.kind == FileKind::Dir => break,
                Some(x) => {
                    return Err(InitrdError::new(format!(
                        "overlay path {p:?}: {up:?} is a {:?} in the base initrd",
                        x.kind
                    )))
                }
                None => {
                    out.insert(up.to_string(), OverlayEntry::dir(up));
                }
            }
        }
    }
    Ok(out)
}

/// Writes the planned entries as one newc archive (with `TRAILER!!!`).
pub fn write_newc(planned: &BTreeMap<String, OverlayEntry>, mtime: u64) -> Result<Vec<u8>> {
    let mtime = u32::try_from(mtime)
        .map_err(|_| InitrdError::new(format!("mtime {mtime} does not fit newc's 32-bit field")))?;
    let mut out = Vec::new();
    let ioerr = |e: std::io::Error| InitrdError::new(format!("writing overlay cpio: {e}"));
    for (ino, (path, e)) in planned.iter().enumerate() {
        let (type_bits, body): (u32, &[u8]) = match &e.kind {
            OverlayKind::Dir => (0o040000, &[]),
            OverlayKind::File(d) => (0o100000, d),
            OverlayKind::Symlink(t) => (0o120000, t.as_bytes()),
        };
        let size = u32::try_from(body.len())
            .map_err(|_| InitrdError::new(format!("{path:?} is larger than newc's 4 GiB limit")))?;
        let ino =
            u32::try_from(ino + 1).map_err(|_| InitrdError::new("too many overlay entries"))?;
        let mut w = cpio::NewcBuilder::new(path)
            .ino(ino)
            .mode(type_bits | (e.mode & 0o7777))
            .uid(0)
            .gid(0)
            .nlink(1)
            .mtime(mtime)
            .write(&mut out, size);
        w.write_all(body).map_err(ioerr)?;
        w.finish().map_err(ioerr)?;
    }
    cpio::newc::trailer(&mut out).map_err(ioerr)?;
    Ok(out)
}

/// Builds the bytes to append to a base initrd of `base_len` bytes: zero padding to a 4-byte
/// boundary, then the overlay segment (newc, compressed as asked; [`Compression::AsBase`]
/// follows the base's first compressed segment). The base bytes are not touched.
pub fn build_overlay(
    base: &Listing,
    entries: &[OverlayEntry],
    compression: Compression,
    base_len: u64,
    mtime: u64,
) -> Result<Vec<u8>> {
    if let Some(e) = &base.kernel_error {
        return Err(InitrdError::new(format!(
            "the base initrd is already broken for the kernel ({e}); an appended overlay would never be unpacked"
        )));
    }
    if let Some(e) = &base.incomplete {
        return Err(InitrdError::new(format!(
            "cannot follow the whole base initrd ({e}); refusing to route an overlay blind"
        )));
    }
    let planned = plan_overlay(base, entries)?;
    let newc = write_newc(&planned, mtime)?;
    let segment = compression
        .resolve(base.first_compression())
        .compress(&newc)?;
    let pad = ((4 - base_len % 4) % 4) as usize;
    let mut out = vec![0u8; pad];
    out.extend_from_slice(&segment);
    Ok(out)
}

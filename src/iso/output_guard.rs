//! Temporary outputs: locked and marked for their whole life, so that what a killed run
//! leaves behind is found and removed by the next run; and a space check before the first
//! byte where the filesystem cannot reserve space.
//!
//! Why: an output of several GiB is written to a hidden temporary file beside the
//! destination and renamed once complete (`iso::write`, `dud::create`). A `kill -9`, an OOM
//! kill or a power cut leaves that file behind, full size, and nothing can remove it at
//! that moment. So the next run into the same folder does, and only when it is safe:
//!
//! - Lock: the writer takes an exclusive `flock` on the temporary file right after creating
//!   it, before its first byte, and holds it until the file is renamed or removed. The lock
//!   belongs to the open file, so it ends with the process however the process ends.
//! - Marker: once locked, a [`TRAILER_LEN`]-byte trailer naming remaster and the planned
//!   size is written just past the planned end; the output is written in front of it and
//!   the trailer is cut off after the final fsync, right before the rename ([`seal`]). A
//!   leftover is recognised by its name (`.remaster-*.tmp`), its owner (the user running
//!   this), a single link, and a trailer that matches its length, not by the name alone.
//! - Removal ([`create`]): a recognised file is removed only when this process can take the
//!   lock itself (no live process holds it) and the name still refers to the locked file;
//!   each removal is reported on stderr with the bytes freed. A file still locked by
//!   another run (one writing right now) is left alone, and so is every file on a
//!   filesystem without locks (its owner cannot be proven gone).
//!
//! Limits: a run killed in the instant between cutting the trailer and the rename leaves a
//! complete image that is not recognised; on NFS, `flock` is emulated with POSIX locks,
//! which only exclude other processes (the CLI writes one output per process).
//!
//! Space: `fallocate` reserves the planned size before the first byte, so a full disk, a
//! quota or a file size limit is reported at once. Where the filesystem cannot reserve
//! (EOPNOTSUPP: exFAT through FUSE, some network filesystems), the free space that
//! `statvfs` reports (what an unprivileged user may use) is compared with the planned size
//! instead, and the write is refused before it starts. A disk that fills up during the
//! write anyway (another program, filesystem overhead) is reported in the same words;
//! the caller removes the partial file.
//!
//! Test seam: with `REMASTER_TEST_NO_PREALLOCATE=1` in the environment, preallocation
//! behaves as on a filesystem that does not support it (tests/output_space.rs).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;
use tempfile::NamedTempFile;

use crate::Error;

/// Test-only: makes [`reserve`] behave as on a filesystem without `fallocate`.
pub const TEST_NO_PREALLOCATE_ENV: &str = "REMASTER_TEST_NO_PREALLOCATE";

/// Length of the marker written past the planned end of a temporary output.
pub const TRAILER_LEN: u64 = 512;

/// First words of the marker; the planned size follows.
const TRAILER_MAGIC: &str = "remaster temporary output, planned bytes: ";

/// Names of temporary outputs: `<prefix>XXXXXX.tmp` with a prefix starting with this.
const TEMP_PREFIX: &str = ".remaster-";
const TEMP_SUFFIX: &str = ".tmp";

fn trailer(planned: u64) -> [u8; TRAILER_LEN as usize] {
    let mut out = [0u8; TRAILER_LEN as usize];
    let text = format!("{TRAILER_MAGIC}{planned}\n");
    for (dst, src) in out.iter_mut().zip(text.bytes()) {
        *dst = src;
    }
    out
}

/// Creates the temporary output for `output` in `dir`, named `<prefix>XXXXXX.tmp` (the
/// prefix must start with `.remaster-`), mode 0644, locked and marked for `planned` bytes.
/// Removes the leftovers of killed runs in `dir` first (see the module header). Reserve
/// the space next with [`reserve`].
pub fn create(
    dir: &Path,
    prefix: &str,
    output: &Path,
    planned: u64,
) -> crate::Result<NamedTempFile> {
    let oerr = |e: &dyn std::fmt::Display| Error::output(output, e);
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| oerr(&format!("cannot create a temporary file beside it: {e}")))?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| oerr(&e))?;
    }
    // Blocking: another run's leftover scan may hold it for an instant. A filesystem
    // without locks gets no marker either, so no scan will ever take the file for a
    // leftover.
    if flock(tmp.as_file(), FlockOperation::LockExclusive).is_ok() {
        tmp.as_file()
            .write_all_at(&trailer(planned), planned)
            .map_err(|e| write_failed(output, tmp.as_file(), planned, e))?;
    }
    let own = tmp.as_file().metadata().map_err(|e| oerr(&e))?;
    for left in remove_leftovers(dir, own.uid(), (own.dev(), own.ino())) {
        crate::report::notice(&format!(
            "removed {}, left by an interrupted run ({} bytes freed)",
            left.path.display(),
            left.bytes_freed
        ));
    }
    Ok(tmp)
}

/// Cuts the marker off a temporary output whose `planned` bytes are written and synced:
/// call right before the rename. Syncs the new length.
pub fn seal(file: &File, planned: u64) -> io::Result<()> {
    if file.metadata()?.len() != planned {
        file.set_len(planned)?;
        file.sync_all()?;
    }
    Ok(())
}

/// Bytes the user may still write on the filesystem of `file` (`statvfs`), counting the
/// space `file` itself holds (it is removed when the write fails).
fn free_bytes(file: &File) -> Option<u64> {
    let st = rustix::fs::fstatvfs(file).ok()?;
    let own = file.metadata().map(|m| m.blocks() * 512).unwrap_or(0);
    Some(st.f_bavail.saturating_mul(st.f_frsize).saturating_add(own))
}

fn no_space(output: &Path, planned: u64, free: Option<u64>, cause: &str) -> Error {
    let free = free.map_or_else(|| "an unknown number of".to_string(), |f| f.to_string());
    Error::output(
        output,
        format!(
            "not enough space: needs {planned} bytes, {free} bytes free ({cause}); free space or choose another destination"
        ),
    )
}

fn is_no_space(e: &io::Error) -> bool {
    [Errno::NOSPC, Errno::DQUOT]
        .iter()
        .any(|n| e.raw_os_error() == Some(n.raw_os_error()))
}

/// Reserves `planned` bytes (plus the marker) for the temporary output `file` so that a
/// full disk, a quota or a file size limit is reported before any byte is written, and the
/// filesystem can lay the file out contiguously. Where the filesystem cannot reserve, checks
/// the free space instead. Uses the fallocate system call, not posix_fallocate: glibc's
/// fallback for the latter writes the whole file once more.
pub fn reserve(file: &File, output: &Path, planned: u64) -> crate::Result<()> {
    let len = planned.saturating_add(TRAILER_LEN);
    let result = if std::env::var_os(TEST_NO_PREALLOCATE_ENV).is_some_and(|v| v == "1") {
        Err(Errno::OPNOTSUPP)
    } else {
        rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e == Errno::FBIG => Err(Error::output(
            output,
            format!(
                "cannot reserve {planned} bytes for it ({}); raise the file size limit (ulimit -f) or write to a filesystem that allows files this large",
                io::Error::from(e)
            ),
        )),
        Err(e) if e == Errno::NOSPC || e == Errno::DQUOT => Err(no_space(
            output,
            planned,
            free_bytes(file),
            &io::Error::from(e).to_string(),
        )),
        // Not supported here (EOPNOTSUPP; ENOSYS, EINVAL on odd filesystems): check instead.
        Err(_) => match free_bytes(file) {
            Some(free) if free < len => Err(no_space(
                output,
                planned,
                Some(free),
                "this filesystem cannot reserve space, so it was checked before writing",
            )),
            _ => Ok(()),
        },
    }
}

/// The error for a failed write into the temporary output `file`: running out of space is
/// worded like the refusal of [`reserve`]; anything else names the output and the cause.
pub fn write_failed(output: &Path, file: &File, planned: u64, e: io::Error) -> Error {
    if is_no_space(&e) {
        no_space(
            output,
            planned,
            free_bytes(file),
            &format!("{e} while writing; the partial file is removed"),
        )
    } else {
        Error::output(output, e)
    }
}

/// A leftover temporary output that was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    /// Space it held (allocated blocks).
    pub bytes_freed: u64,
}

/// Removes, from `dir`, the temporary outputs of runs that are gone (see the module
/// header): only files named `.remaster-*.tmp`, owned by `uid`, with one link and a
/// matching marker, whose lock this process can take; never the file `skip` (device,
/// inode). Errors are not reported: a file that cannot be examined is left alone.
pub fn remove_leftovers(dir: &Path, uid: u32, skip: (u64, u64)) -> Vec<Leftover> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        if !(name.starts_with(TEMP_PREFIX.as_bytes()) && name.ends_with(TEMP_SUFFIX.as_bytes())) {
            continue;
        }
        let path = entry.path();
        if let Some(bytes_freed) = remove_if_leftover(&path, uid, skip) {
            removed.push(Leftover { path, bytes_freed });
        }
    }
    removed
}

/// Removes `path` if it is a leftover (see [`remove_leftovers`]); returns the bytes freed.
fn remove_if_leftover(path: &Path, uid: u32, skip: (u64, u64)) -> Option<u64> {
    // O_NOFOLLOW: never through a symlink; O_NONBLOCK: a FIFO must not block the scan.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(scan_open_flags())
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.file_type().is_file()
        || meta.uid() != uid
        || meta.nlink() != 1
        || (meta.dev(), meta.ino()) == skip
    {
        return None;
    }
    // Held by a live run (or a filesystem without locks): not ours to judge.
    flock(&file, FlockOperation::NonBlockingLockExclusive).ok()?;
    let len = file.metadata().ok()?.len();
    let planned = len.checked_sub(TRAILER_LEN)?;
    let mut tail = [0u8; TRAILER_LEN as usize];
    file.read_exact_at(&mut tail, planned).ok()?;
    if tail != trailer(planned) {
        return None;
    }
    // The name must still refer to the file that is locked.
    let now = std::fs::symlink_metadata(path).ok()?;
    if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
        return None;
    }
    let bytes_freed = file.metadata().ok()?.blocks() * 512;
    std::fs::remove_file(path).ok()?;
    Some(bytes_freed)
}

fn scan_open_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid_of(dir: &Path) -> u32 {
        std::fs::metadata(dir).unwrap().uid()
    }

    #[test]
    fn marked_unlocked_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let uid = uid_of(dir.path());
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        // A live writer: created through `create`, lock held (created first: `create`
        // itself removes the leftovers it finds).
        let out = dir.path().join("out.iso");
        let live = create(dir.path(), ".remaster-", &out, 5000).unwrap();
        let mut leftover = vec![7u8; 3000];
        leftover.extend_from_slice(&trailer(3000));
        let dead = write(".remaster-dead01.tmp", &leftover);
        // Right name, no marker; marker of another length; marker but another name.
        let plain = write(".remaster-plain1.tmp", &[1u8; 4000]);
        let mut wrong = vec![0u8; 10];
        wrong.extend_from_slice(&trailer(11));
        let wrong = write(".remaster-wrong1.tmp", &wrong);
        let other = write("keep.iso.tmp", &leftover);
        let removed = remove_leftovers(dir.path(), uid, (0, 0));
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert_eq!(removed[0].path, dead);
        assert!(!dead.exists());
        for kept in [&plain, &wrong, &other, &live.path().to_path_buf()] {
            assert!(kept.exists(), "{} must stay", kept.display());
        }
        // Once its writer is gone (file closed without removing it), it is a leftover.
        let (file, path) = live.keep().unwrap();
        drop(file);
        let removed = remove_leftovers(dir.path(), uid, (0, 0));
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert_eq!(removed[0].path, path);
        // Another user's file is not ours.
        let mut again = vec![1u8; 100];
        again.extend_from_slice(&trailer(100));
        let foreign = write(".remaster-other.tmp", &again);
        assert!(remove_leftovers(dir.path(), uid.wrapping_add(1), (0, 0)).is_empty());
        assert!(foreign.exists());
    }

    #[test]
    fn sealing_cuts_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.iso");
        let tmp = create(dir.path(), ".remaster-", &out, 4096).unwrap();
        assert_eq!(tmp.as_file().metadata().unwrap().len(), 4096 + TRAILER_LEN);
        tmp.as_file().write_all_at(&[3u8; 4096], 0).unwrap();
        seal(tmp.as_file(), 4096).unwrap();
        assert_eq!(std::fs::read(tmp.path()).unwrap(), vec![3u8; 4096]);
    }
}

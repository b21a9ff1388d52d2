//! `images/efiboot.img`: read and replace one file inside the FAT image in place (fatfs
//! 0.3.6), at the same image size, so the El Torito EFI entry, MBR partition 2 and GPT
//! partition 2 that point at it stay valid. The caller passes any `Read + Write + Seek`
//! over exactly the image bytes (for an image inside an ISO: `fscommon::StreamSlice`).
//!
//! Determinism: the replaced file keeps its original timestamps (fatfs would stamp the
//! current time), and nothing is written when the content is already the same.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use fatfs::{Date, DateTime, FileSystem, FsOptions, Time, TimeProvider};
use serde::Serialize;

/// Errors of the efiboot.img edit; `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum EfibootError {
    /// The bytes are not a FAT filesystem fatfs can mount.
    #[error("not a usable FAT filesystem: {0}")]
    NotFat(String),
    /// The file is not in the image.
    #[error("{path} not found in the FAT image")]
    NotFound { path: String },
    /// The file is larger than the caller's cap.
    #[error("{path} is {len} bytes, more than the {cap}-byte limit")]
    TooLarge { path: String, len: u64, cap: usize },
    /// The new content does not fit the free clusters.
    #[error("the FAT image has {free} bytes free, {path} needs {needed} more ({old_len} -> {new_len} bytes, {cluster_size}-byte clusters); shorten the added arguments or rebuild efiboot.img larger (lorax mkefiboot)")]
    NoSpace {
        path: String,
        free: u64,
        needed: u64,
        old_len: u64,
        new_len: u64,
        cluster_size: u32,
    },
    /// Reading or writing the underlying stream failed (or fatfs failed on a corrupt image).
    #[error("FAT image I/O: {0}")]
    Io(#[from] io::Error),
    /// The config inside the image is not UTF-8 text.
    #[error("{path} in the FAT image is not UTF-8 text")]
    NotText { path: String },
    /// The config edit itself failed.
    #[error("{path} in the FAT image: {source}")]
    Edit {
        path: String,
        source: super::BootError,
    },
}

/// What [`replace_file`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplaceOutcome {
    pub path: String,
    pub old_len: u64,
    pub new_len: u64,
    /// False when the file already had this content (nothing written).
    pub changed: bool,
    /// Free bytes left in the image afterwards.
    pub free_after: u64,
}

/// Space in a FAT image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FatSpace {
    pub cluster_size: u32,
    pub total_clusters: u32,
    pub free_clusters: u32,
    /// The volume label from the boot sector (lorax: `ANACONDA`).
    pub label: [u8; 11],
}

/// fatfs stamps modification times from a `TimeProvider`; ours returns the DOS epoch and
/// the original times are restored before the entry is flushed, so output never depends
/// on the clock.
#[derive(Debug)]
struct FixedTime;

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        DOS_EPOCH
    }
    fn get_current_date_time(&self) -> DateTime {
        DateTime {
            date: DOS_EPOCH,
            time: Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

static FIXED_TIME: FixedTime = FixedTime;

const DOS_EPOCH: Date = Date {
    year: 1980,
    month: 1,
    day: 1,
};

fn options() -> FsOptions {
    FsOptions::new()
        .update_accessed_date(false)
        .time_provider(&FIXED_TIME)
}

/// Adapter that lets fatfs (which wants `Write`) mount a read-only stream; any write
/// attempt fails instead of touching the data.
struct ReadOnly<T>(T);

impl<T: Read> Read for ReadOnly<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
impl<T: Seek> Seek for ReadOnly<T> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}
impl<T> Write for ReadOnly<T> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "read-only FAT access",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// The guard below only works when panics unwind.
#[cfg(not(panic = "unwind"))]
compile_error!(
    "efiboot.rs turns fatfs panics into errors with catch_unwind: keep panic = \"unwind\""
);

/// fatfs 0.3 has a few panics and debug assertions on corrupt images; turn any into an
/// error so a hostile efiboot.img cannot abort the program.
///
/// The default panic hook would still print "thread 'main' panicked at …" for a panic turned
/// into an error here (fatfs 0.3.6 subtracts below zero on a directory entry whose first
/// cluster is 0 or 1: a panic with overflow checks, found by the `efiboot_fat` fuzz target),
/// so a silent hook is installed around the call.
fn guarded<R>(f: impl FnOnce() -> Result<R, EfibootError>) -> Result<R, EfibootError> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    match result {
        Ok(r) => r,
        Err(_) => Err(EfibootError::NotFat(
            "the FAT structures are corrupt (fatfs aborted)".into(),
        )),
    }
}

fn clean_path(path: &str) -> String {
    path.trim_matches('/').replace('\\', "/")
}

fn mount<T: Read + Write + Seek>(mut fat: T) -> Result<FileSystem<T>, EfibootError> {
    fat.seek(SeekFrom::Start(0))?;
    FileSystem::new(fat, options()).map_err(|e| EfibootError::NotFat(e.to_string()))
}

/// Upper bound on directory entries scanned per directory: a corrupt image can link a
/// directory's clusters into a cycle, which fatfs would follow forever.
const MAX_DIR_ENTRIES: usize = 65_536;

/// Find the entry named `name` in `dir` (case-insensitive, long or short name).
fn lookup<'a, T: fatfs::ReadWriteSeek>(
    dir: &fatfs::Dir<'a, T>,
    name: &str,
    want_dir: bool,
) -> Result<Option<fatfs::DirEntry<'a, T>>, EfibootError> {
    for (n, entry) in dir.iter().enumerate() {
        if n >= MAX_DIR_ENTRIES {
            return Err(EfibootError::NotFat(format!(
                "directory holding {name} has more than {MAX_DIR_ENTRIES} entries (corrupt cluster chain?)"
            )));
        }
        let entry = entry?;
        if entry.is_dir() == want_dir
            && (entry.file_name().eq_ignore_ascii_case(name)
                || entry.short_file_name().eq_ignore_ascii_case(name))
        {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

/// Find the directory entry of the file `path`.
fn find_entry<'a, T: fatfs::ReadWriteSeek>(
    fs: &'a FileSystem<T>,
    path: &str,
) -> Result<fatfs::DirEntry<'a, T>, EfibootError> {
    let not_found = || EfibootError::NotFound {
        path: path.to_string(),
    };
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let name = parts.pop().ok_or_else(not_found)?;
    let mut dir = fs.root_dir();
    for part in parts {
        dir = lookup(&dir, part, true)?.ok_or_else(not_found)?.to_dir();
    }
    lookup(&dir, name, false)?.ok_or_else(not_found)
}

/// Cluster size, free and total clusters and the boot-sector label of a FAT image.
pub fn space<T: Read + Seek>(fat: T) -> Result<FatSpace, EfibootError> {
    guarded(|| {
        let fs = mount(ReadOnly(fat))?;
        let stats = fs.stats()?;
        let mut label = [b' '; 11];
        let raw = fs.volume_label_as_bytes();
        let n = raw.len().min(11);
        label
            .get_mut(..n)
            .unwrap_or(&mut [])
            .copy_from_slice(raw.get(..n).unwrap_or(&[]));
        Ok(FatSpace {
            cluster_size: stats.cluster_size(),
            total_clusters: stats.total_clusters(),
            free_clusters: stats.free_clusters(),
            label,
        })
    })
}

/// Read one file (e.g. `EFI/BOOT/grub.cfg`) from a FAT image; refuses files larger than
/// `cap` bytes.
pub fn read_file<T: Read + Seek>(fat: T, path: &str, cap: usize) -> Result<Vec<u8>, EfibootError> {
    let path = clean_path(path);
    guarded(|| {
        let fs = mount(ReadOnly(fat))?;
        let entry = find_entry(&fs, &path)?;
        read_entry(&entry, &path, cap)
    })
}

fn read_entry<T: fatfs::ReadWriteSeek>(
    entry: &fatfs::DirEntry<'_, T>,
    path: &str,
    cap: usize,
) -> Result<Vec<u8>, EfibootError> {
    let len = entry.len();
    if len > cap as u64 {
        return Err(EfibootError::TooLarge {
            path: path.to_string(),
            len,
            cap,
        });
    }
    let mut out = Vec::with_capacity(len as usize);
    entry.to_file().take(len).read_to_end(&mut out)?;
    if (out.len() as u64) < len {
        return Err(EfibootError::NotFat(format!(
            "{path}: cluster chain ends after {} of {len} bytes",
            out.len()
        )));
    }
    Ok(out)
}

fn clusters_for(len: u64, cluster_size: u64) -> u64 {
    len.div_ceil(cluster_size.max(1))
}

/// Replace the content of an existing file in a FAT image in place. The image size, the
/// label, every other file and the file's timestamps stay as they were; if the content
/// does not fit the free clusters, nothing is written and [`EfibootError::NoSpace`] says
/// by how much.
pub fn replace_file<T: Read + Write + Seek>(
    fat: T,
    path: &str,
    content: &[u8],
) -> Result<ReplaceOutcome, EfibootError> {
    let path = clean_path(path);
    guarded(|| {
        let fs = mount(fat)?;
        let outcome = {
            let entry = find_entry(&fs, &path)?;
            let old_len = entry.len();
            let new_len = content.len() as u64;
            let cluster_size = fs.cluster_size();
            let stats = fs.stats()?;
            let cs = u64::from(cluster_size);
            let free = u64::from(stats.free_clusters()) * cs;
            // A bounded read: the old content of a boot config is small; larger files are
            // compared by size only.
            let same = old_len == new_len
                && old_len <= 16 * 1024 * 1024
                && read_entry(&entry, &path, 16 * 1024 * 1024)? == content;
            if same {
                ReplaceOutcome {
                    path: path.clone(),
                    old_len,
                    new_len,
                    changed: false,
                    free_after: free,
                }
            } else {
                let old_clusters = clusters_for(old_len, cs);
                let new_clusters = clusters_for(new_len, cs);
                if new_clusters > old_clusters + u64::from(stats.free_clusters()) {
                    return Err(EfibootError::NoSpace {
                        path: path.clone(),
                        free,
                        needed: (new_clusters - old_clusters) * cs,
                        old_len,
                        new_len,
                        cluster_size,
                    });
                }
                let modified = entry.modified();
                let mut file = entry.to_file();
                file.seek(SeekFrom::Start(0))?;
                file.write_all(content)?;
                file.truncate()?;
                // Keep the original time (writes stamped the provider's time).
                #[allow(deprecated)]
                file.set_modified(modified);
                file.flush()?;
                drop(file);
                let free_after = u64::from(fs.stats()?.free_clusters()) * cs;
                ReplaceOutcome {
                    path: path.clone(),
                    old_len,
                    new_len,
                    changed: true,
                    free_after,
                }
            }
        };
        fs.unmount()?;
        Ok(outcome)
    })
}

/// Result of [`edit_config_in_fat`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FatConfigEdit {
    pub edited: super::EditedConfig,
    pub outcome: ReplaceOutcome,
}

/// Read a boot config from a FAT image (e.g. `EFI/BOOT/grub.cfg` in efiboot.img), apply
/// [`super::edit_config`] and write it back in place (see [`replace_file`]). Configs over
/// 1 MiB are refused.
pub fn edit_config_in_fat<T: Read + Write + Seek>(
    fat: &mut T,
    path: &str,
    kind: super::ConfigKind,
    edits: &super::CmdlineEdits,
) -> Result<FatConfigEdit, EfibootError> {
    let bytes = read_file(&mut *fat, path, 1 << 20)?;
    let text = String::from_utf8(bytes).map_err(|_| EfibootError::NotText {
        path: clean_path(path),
    })?;
    let edited = super::edit_config(kind, &text, edits).map_err(|source| EfibootError::Edit {
        path: clean_path(path),
        source,
    })?;
    let outcome = replace_file(&mut *fat, path, edited.text.as_bytes())?;
    Ok(FatConfigEdit { edited, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn image() -> Vec<u8> {
        let mut img = vec![0u8; 1024 * 1024];
        fatfs::format_volume(
            Cursor::new(&mut img[..]),
            fatfs::FormatVolumeOptions::new().volume_label(*b"ANACONDA   "),
        )
        .unwrap();
        {
            let fs = FileSystem::new(Cursor::new(&mut img[..]), options()).unwrap();
            {
                let root = fs.root_dir();
                let d = root.create_dir("EFI").unwrap().create_dir("BOOT").unwrap();
                d.create_file("grub.cfg")
                    .unwrap()
                    .write_all(b"set timeout=60\n")
                    .unwrap();
            }
            fs.unmount().unwrap();
        }
        img
    }

    #[test]
    fn replace_and_read_back() {
        let mut img = image();
        let text = "x".repeat(5000);
        let out = replace_file(
            Cursor::new(&mut img[..]),
            "/EFI/BOOT/grub.cfg",
            text.as_bytes(),
        )
        .unwrap();
        assert!(out.changed);
        let back = read_file(Cursor::new(&img[..]), "efi/boot/GRUB.CFG", 1 << 20).unwrap();
        assert_eq!(back, text.as_bytes());
        let again = replace_file(
            Cursor::new(&mut img[..]),
            "EFI/BOOT/grub.cfg",
            text.as_bytes(),
        )
        .unwrap();
        assert!(!again.changed);
        assert!(matches!(
            read_file(Cursor::new(&img[..]), "EFI/BOOT/nope.cfg", 100),
            Err(EfibootError::NotFound { .. })
        ));
        assert!(matches!(
            read_file(Cursor::new(&img[..]), "EFI/BOOT/grub.cfg", 100),
            Err(EfibootError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error() {
        let junk = vec![0x5au8; 64 * 1024];
        assert!(read_file(Cursor::new(&junk[..]), "EFI/BOOT/grub.cfg", 100).is_err());
        assert!(read_file(Cursor::new(&[][..]), "EFI/BOOT/grub.cfg", 100).is_err());
        let mut junk2 = junk.clone();
        assert!(replace_file(Cursor::new(&mut junk2[..]), "a", b"b").is_err());
        assert_eq!(junk2, junk);
    }
}

//! Writing the image straight to a USB stick (`-o /dev/sdX`, issue 17 §2), and the IODD
//! contiguity note for plain files.
//!
//! A block device cannot take the temp-file-and-rename path of a file output
//! (src/iso/output_guard.rs), so it has its own: every refusal is decided before the first
//! byte is written, from what the kernel publishes (sysfs for the disk, its partitions, size
//! and removable flag; /proc/self/mountinfo and /proc/swaps for what is in use; the st_dev of
//! the input and temporary files), and each is one line naming the reason. The device is then
//! opened exclusively (`O_EXCL`: the kernel refuses it while anything mounts or holds it),
//! written with `O_DIRECT` from page-aligned buffers, fsync'ed, and read back with `O_DIRECT`
//! (past the page cache) and compared with the image.
//!
//! The image itself is the one the ordinary writer produces (to a temporary file): the device
//! write is a copy of a finished, verified-by-construction image, so a refusal or a failure of
//! the writer never touches the stick.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// Bytes per write: large enough that the stick, not the syscalls, sets the pace.
const CHUNK: usize = 4 << 20;
/// Alignment for direct I/O: the page size covers every logical block size in use.
const ALIGN: usize = 4096;

/// True if `path` names a block device (`-o /dev/sdX`).
pub fn is_block_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// A whole disk that passed the checks of [`preflight`].
#[derive(Debug, Clone)]
pub struct Device {
    pub path: PathBuf,
    /// Kernel name (sda, loop0).
    pub name: String,
    pub size: u64,
    pub removable: bool,
}

fn refuse(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::output(path, format!("refused, nothing written: {why}"))
}

fn read_trim(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// "MAJ:MIN" of a device number.
fn dev_id(dev: u64) -> String {
    format!("{}:{}", rustix::fs::major(dev), rustix::fs::minor(dev))
}

/// Checks the device before anything is written: a whole disk (not a partition), none of its
/// partitions mounted or used as swap, not the disk of the running system, of an input or of
/// the temporary image, and not a fixed disk unless `allow_fixed`. The size is checked
/// against the image by [`check_size`] once the image's size is known.
pub fn preflight(path: &Path, files: &[PathBuf], allow_fixed: bool) -> crate::Result<Device> {
    let meta = std::fs::metadata(path).map_err(|e| Error::output(path, e))?;
    if !meta.file_type().is_block_device() {
        return Err(refuse(path, "not a block device"));
    }
    let id = dev_id(meta.rdev());
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{id}"))
        .map_err(|e| refuse(path, format!("cannot find it in /sys/dev/block/{id}: {e}")))?;
    let name = sys
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if sys.join("partition").exists() {
        let disk = sys
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(refuse(
            path,
            format!("{name} is a partition; give the whole disk, /dev/{disk}"),
        ));
    }
    // The disk and its partitions, by device number and by name.
    let mut members = vec![(id.clone(), name.clone())];
    if let Ok(entries) = std::fs::read_dir(&sys) {
        for entry in entries.flatten() {
            let p = entry.path();
            if p.join("partition").exists() {
                if let Some(dev) = read_trim(&p.join("dev")) {
                    members.push((dev, entry.file_name().to_string_lossy().into_owned()));
                }
            }
        }
    }
    let member = |dev: &str| {
        members
            .iter()
            .find(|(d, _)| d == dev)
            .map(|(_, n)| n.clone())
    };

    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(dev), Some(mount)) = (fields.get(2), fields.get(4)) else {
            continue;
        };
        if let Some(part) = member(dev) {
            if *mount == "/" {
                return Err(refuse(
                    path,
                    format!("it holds the running system (/dev/{part} is mounted on /)"),
                ));
            }
            return Err(refuse(
                path,
                format!("/dev/{part} is mounted on {mount}; unmount it first (umount {mount})"),
            ));
        }
    }
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    for line in swaps.lines().skip(1) {
        let dev = line.split_whitespace().next().unwrap_or_default();
        let base = dev.rsplit('/').next().unwrap_or_default();
        if members.iter().any(|(_, n)| n == base) {
            return Err(refuse(
                path,
                format!("{dev} is in use as swap; swapoff {dev} first"),
            ));
        }
    }
    for file in files {
        if let Ok(m) = std::fs::metadata(file) {
            if m.file_type().is_block_device() && member(&dev_id(m.rdev())).is_some() {
                return Err(refuse(path, format!("it is the input {}", file.display())));
            }
            if let Some(part) = member(&dev_id(m.dev())) {
                return Err(refuse(
                    path,
                    format!("it holds {} (on /dev/{part})", file.display()),
                ));
            }
        }
    }
    let removable = read_trim(&sys.join("removable")).as_deref() == Some("1");
    if !removable && !allow_fixed {
        return Err(refuse(
            path,
            format!("/dev/{name} is not a removable disk; if you really mean it, add --fixed-disk"),
        ));
    }
    let sectors: u64 = read_trim(&sys.join("size"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Device {
        path: path.to_path_buf(),
        name,
        size: sectors.saturating_mul(512),
        removable,
    })
}

/// Refuses a device smaller than the image.
pub fn check_size(device: &Device, image_bytes: u64) -> crate::Result<()> {
    if device.size < image_bytes {
        return Err(refuse(
            &device.path,
            format!(
                "the device holds {} bytes, the image needs {image_bytes}",
                device.size
            ),
        ));
    }
    Ok(())
}

/// A heap buffer whose usable part starts on an [`ALIGN`] boundary (for `O_DIRECT`), built
/// on a plain `Vec` so that no unsafe allocation is needed.
struct Aligned {
    storage: Vec<u8>,
    start: usize,
}

impl Aligned {
    fn new() -> Self {
        let storage = vec![0u8; CHUNK + ALIGN];
        let start = (ALIGN - storage.as_ptr() as usize % ALIGN) % ALIGN;
        Aligned { storage, start }
    }
    fn get(&mut self, len: usize) -> &mut [u8] {
        let end = (self.start + len.min(CHUNK)).min(self.storage.len());
        self.storage
            .get_mut(self.start.min(end)..end)
            .unwrap_or_default()
    }
}

/// Reads exactly `buf.len()` bytes, short only at the end of the file.
fn fill(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read(buf.get_mut(done..).unwrap_or_default())?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// Copies the finished image to the device (exclusive, direct I/O), fsyncs, then reads it
/// back past the page cache and compares. `progress(done, total)` sees both passes (the
/// total is twice the image). Errors name the device.
pub fn write_image(
    image: &Path,
    device: &Device,
    progress: &mut dyn FnMut(u64, u64),
) -> crate::Result<()> {
    let dev = &device.path;
    let mut src = File::open(image).map_err(|e| Error::input(image, e))?;
    // Unlinked at once: the open descriptor keeps the data, and an interrupt (which exits
    // without unwinding) or a crash during the copy leaves no image-sized file in $TMPDIR.
    let _ = std::fs::remove_file(image);
    let len = src.metadata().map_err(|e| Error::input(image, e))?.len();
    check_size(device, len)?;
    let total = len.saturating_mul(2);
    let direct = rustix::fs::OFlags::DIRECT.bits() as i32;
    let excl = rustix::fs::OFlags::EXCL.bits() as i32;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(direct | excl)
        .open(dev)
        .map_err(|e| Error::output(dev, format!("cannot open it exclusively: {e}")))?;
    let mut buf = Aligned::new();
    let mut done = 0u64;
    loop {
        let chunk = buf.get(CHUNK);
        let n = fill(&mut src, chunk).map_err(|e| Error::input(image, e))?;
        if n == 0 {
            break;
        }
        // An image is whole 2048-byte sectors, so every write is a multiple of the
        // device's logical block size; a short tail is padded with zeros to one.
        let padded = n.div_ceil(ALIGN) * ALIGN;
        let chunk = buf.get(padded);
        if let Some(tail) = chunk.get_mut(n..) {
            tail.fill(0);
        }
        let end = (n as u64 + done).min(device.size);
        let write_len = if padded as u64 + done > device.size {
            (end - done) as usize
        } else {
            padded
        };
        out.write_all(chunk.get(..write_len).unwrap_or_default())
            .map_err(|e| Error::output(dev, e))?;
        done += n as u64;
        progress(done, total);
    }
    out.sync_all().map_err(|e| Error::output(dev, e))?;
    drop(out);

    // Read back past the page cache and compare.
    let mut back = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(direct)
        .open(dev)
        .map_err(|e| Error::output(dev, e))?;
    src.seek(SeekFrom::Start(0))
        .map_err(|e| Error::input(image, e))?;
    let mut want = vec![0u8; CHUNK];
    let mut checked = 0u64;
    while checked < len {
        let n = fill(&mut src, &mut want).map_err(|e| Error::input(image, e))?;
        if n == 0 {
            break;
        }
        let padded = n.div_ceil(ALIGN) * ALIGN;
        let got = buf.get(padded);
        let m = fill(&mut back, got).map_err(|e| Error::output(dev, e))?;
        if m < n || got.get(..n) != want.get(..n) {
            return Err(Error::output(
                dev,
                format!(
                    "read back differs from the image within bytes {checked}..{}: the device does not keep what is written to it (a fake-capacity or failing stick?)",
                    checked + n as u64
                ),
            ));
        }
        checked += n as u64;
        progress(len + checked, total);
    }
    Ok(())
}

/// `struct fiemap` of linux/fiemap.h (the header the ioctl's size names).
#[repr(C)]
struct Fiemap {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
}

/// `struct fiemap_extent`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FiemapExtent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

const EXTENTS_PER_CALL: usize = 64;

/// The header followed by room for [`EXTENTS_PER_CALL`] extents, as the kernel expects.
#[repr(C)]
struct FiemapRequest {
    head: Fiemap,
    extents: [FiemapExtent; EXTENTS_PER_CALL],
}

/// FS_IOC_FIEMAP = _IOWR('f', 11, struct fiemap).
const FS_IOC_FIEMAP: rustix::ioctl::Opcode = rustix::ioctl::opcode::read_write::<Fiemap>(b'f', 11);
/// FIEMAP_FLAG_SYNC: flush delayed allocation first, so the map is the final layout.
const FIEMAP_FLAG_SYNC: u32 = 1;
/// FIEMAP_EXTENT_LAST: the file's last extent.
const FIEMAP_EXTENT_LAST: u32 = 1;

/// Number of physically separate pieces of a file (FIEMAP extents, adjacent ones merged: a
/// filesystem splits even a contiguous file into extents of a bounded length). IODD firmware
/// only presents ISO files stored in one piece. None when the filesystem does not answer
/// FIEMAP (exFAT through FUSE, NFS).
pub fn fragment_count(path: &Path) -> Option<u32> {
    let file = File::open(path).ok()?;
    let mut pieces = 0u32;
    let mut next_physical = None;
    let mut start = 0u64;
    loop {
        let mut req = FiemapRequest {
            head: Fiemap {
                start,
                length: u64::MAX - start,
                flags: FIEMAP_FLAG_SYNC,
                mapped_extents: 0,
                extent_count: EXTENTS_PER_CALL as u32,
                reserved: 0,
            },
            extents: [FiemapExtent::default(); EXTENTS_PER_CALL],
        };
        // SAFETY: FS_IOC_FIEMAP reads and writes a `struct fiemap` followed by
        // `extent_count` `struct fiemap_extent`s; `FiemapRequest` is exactly that (repr(C),
        // the layouts of linux/fiemap.h), so the kernel writes only inside `req`.
        let updater =
            unsafe { rustix::ioctl::Updater::<FS_IOC_FIEMAP, FiemapRequest>::new(&mut req) };
        // SAFETY: the opcode and the argument type match (see above).
        unsafe { rustix::ioctl::ioctl(&file, updater) }.ok()?;
        let mapped = (req.head.mapped_extents as usize).min(EXTENTS_PER_CALL);
        let extents = req.extents.get(..mapped).unwrap_or_default();
        for e in extents {
            if next_physical != Some(e.physical) {
                pieces = pieces.saturating_add(1);
            }
            next_physical = Some(e.physical.saturating_add(e.length));
        }
        match extents.last() {
            Some(last) if last.flags & FIEMAP_EXTENT_LAST == 0 => {
                start = last.logical.saturating_add(last.length);
            }
            _ => return Some(pieces),
        }
    }
}

//! What kind of file is this? `inspect` and `check` accept any of the inputs remaster knows
//! and decide by content first, then by name where content is ambiguous (a `.ko.xz` and an
//! xz initrd both start with the xz magic).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::codec::Codec;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Iso,
    Initrd,
    Module,
    Kernel,
    Rpm,
    DudDirectory,
}

/// Decides what `path` is, reading at most a few KiB.
pub fn sniff(path: &Path) -> Result<FileKind> {
    let meta = std::fs::metadata(path).map_err(|e| Error::input(path, e))?;
    if meta.is_dir() {
        return Ok(FileKind::DudDirectory);
    }
    let mut file = File::open(path).map_err(|e| Error::input(path, e))?;
    let mut head = [0u8; 0x210];
    let head_len = read_up_to(&mut file, &mut head).map_err(|e| Error::input(path, e))?;
    let head = &head[..head_len];
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let module_name = name.ends_with(".ko") || name.contains(".ko.");
    if head.starts_with(&[0xED, 0xAB, 0xEE, 0xDB]) {
        return Ok(FileKind::Rpm);
    }
    if head.starts_with(b"\x7fELF") {
        return Ok(if module_name || !name.starts_with("vmlinu") {
            FileKind::Module
        } else {
            FileKind::Kernel
        });
    }
    if head.len() >= 0x206 && &head[0x202..0x206] == b"HdrS" {
        return Ok(FileKind::Kernel);
    }
    // arm64: an Image (ARM\x64 at 0x38) or an EFI zboot image; a compressed Image is
    // recognised by its name (vmlinuz*, Image.*), as its bytes are just a gzip stream.
    let kernel_name = name.starts_with("vmlinu") || name.starts_with("Image");
    match crate::kmod::arm64::identify(head) {
        Some(crate::kmod::arm64::Form::Image | crate::kmod::arm64::Form::Zboot { .. }) => {
            return Ok(FileKind::Kernel)
        }
        Some(crate::kmod::arm64::Form::Compressed(_)) if kernel_name && !module_name => {
            return Ok(FileKind::Kernel)
        }
        _ => {}
    }
    let mut head16 = [0u8; 6];
    if file
        .seek(SeekFrom::Start(crate::iso::PVD_OFFSET_BYTES))
        .is_ok()
        && file.read_exact(&mut head16).is_ok()
        && crate::iso::format::iso9660::vd::has_standard_id(&head16)
    {
        return Ok(FileKind::Iso);
    }
    let compressed = matches!(
        Codec::sniff(head),
        Some(Codec::Xz | Codec::Zstd | Codec::Gzip)
    );
    if compressed && module_name {
        return Ok(FileKind::Module);
    }
    if compressed || head.starts_with(b"07070") || head.starts_with(&[0, 0, 0, 0]) {
        return Ok(FileKind::Initrd);
    }
    Err(Error::input(
        path,
        "not an ISO, initrd, kernel, module, RPM or driver update disk (unrecognised content)",
    ))
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

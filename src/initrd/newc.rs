//! The newc cpio header (`struct cpio_newc_header`, 110 bytes of ASCII hex) and entry names,
//! read as the kernel's `do_header`/`do_name`/`clean_path` read them. Hand-written: the
//! `cpio` crate reads one archive from a `Read` and has no notion of the kernel's zero
//! padding or of segments that follow each other.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

/// A parsed newc header.
pub(super) struct Header {
    pub(super) ino: u32,
    pub(super) mode: u32,
    pub(super) nlink: u32,
    pub(super) filesize: u32,
    pub(super) devmajor: u32,
    pub(super) devminor: u32,
    pub(super) namesize: u32,
    pub(super) checksum: u32,
    pub(super) crc: bool,
}

pub(super) const HEADER_LEN: usize = 110;

pub(super) fn parse_header(h: &[u8; HEADER_LEN]) -> std::result::Result<Header, String> {
    // 6 bytes of magic, then 13 fields of 8 hex digits (6 + 13 × 8 = HEADER_LEN).
    let (magic, fields) = h.split_first_chunk::<6>().ok_or("short cpio header")?;
    let crc = match magic {
        b"070701" => false,
        b"070702" => true,
        b"070707" => {
            return Err(
                "old binary-portable cpio (070707): the kernel needs newc (cpio -H newc)".into(),
            )
        }
        other => return Err(format!("no cpio magic (found {})", hex(other))),
    };
    const NAMES: [&str; 13] = [
        "ino",
        "mode",
        "uid",
        "gid",
        "nlink",
        "mtime",
        "filesize",
        "devmajor",
        "devminor",
        "rdevmajor",
        "rdevminor",
        "namesize",
        "check",
    ];
    let mut f = [0u32; 13];
    for ((v, field), name) in f.iter_mut().zip(fields.chunks_exact(8)).zip(NAMES) {
        let s = std::str::from_utf8(field).ok();
        *v = s
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or_else(|| {
                format!(
                    "cpio header field {name} is not hex: {:?}",
                    String::from_utf8_lossy(field)
                )
            })?;
    }
    let [ino, mode, _uid, _gid, nlink, _mtime, filesize, devmajor, devminor, _, _, namesize, checksum] =
        f;
    Ok(Header {
        ino,
        mode,
        nlink,
        filesize,
        devmajor,
        devminor,
        namesize,
        checksum,
        crc,
    })
}

/// `N_ALIGN`: name field length so that header + name end 4-byte aligned.
pub(super) fn name_field_len(namesize: u32) -> u64 {
    // From a u32 the sum stays far below u64::MAX: neither addition saturates.
    (u64::from(namesize).saturating_add(1) & !3).saturating_add(2)
}

/// Normalises an archive name (`./a//b/` → `a/b`, `.` → root). Refuses `..` components and
/// absolute names: the kernel would resolve both inside `/`, but no sane initrd tool writes
/// them and an extractor trusting them escapes its target directory.
pub(super) fn clean_name(raw: &str) -> std::result::Result<String, String> {
    if raw.starts_with('/') {
        return Err(format!("absolute path name {raw:?} refused"));
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("path name with '..' refused: {raw:?}")),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

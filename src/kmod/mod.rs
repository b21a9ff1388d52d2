//! Kernel modules and kernels: read a `.ko` (ELF, `.modinfo`, `__versions`, exports,
//! appended PKCS#7 signature), read a bzImage (release, exported symbols with CRCs,
//! built-in certificates) and decide whether the kernel's loader would accept the module.
//!
//! - [`module::Module`] — one module file (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`).
//! - [`kernel::Kernel`] — a `vmlinuz` (bzImage) and everything the loader checks against.
//! - [`verdict::Target`] + [`verdict::check`] — the loader's rules in the kernel's order.
//! - [`alias::fnmatch`] — glob matching of module aliases (kmod's fnmatch), linear in practice.
//! - [`inspect::ModuleReport`] — what `remaster inspect MODULE.ko` prints.

pub mod alias;
pub mod inspect;
pub mod kernel;
pub mod module;
pub mod signature;
pub mod verdict;

use std::io::Read;

/// Why a module or kernel image could not be read. Always one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmodError {
    /// The compressed container (xz, zstd, gzip...) is damaged or too large.
    #[error("{0}")]
    Decompress(String),
    /// The bytes are not an ELF object of the expected kind, or its tables are inconsistent.
    #[error("{0}")]
    Elf(String),
    /// The appended module signature is malformed.
    #[error("{0}")]
    Signature(String),
    /// The kernel image (bzImage) is malformed or uses a payload compression we cannot decode.
    #[error("{0}")]
    Kernel(String),
}

/// Largest decompressed module accepted (the biggest in-tree modules are ~30 MiB).
pub const MAX_MODULE_SIZE: u64 = 256 << 20;
/// Largest decompressed kernel ELF accepted (a distribution vmlinux is ~60–80 MiB).
pub const MAX_KERNEL_SIZE: u64 = 1 << 30;

/// Compression of a module file or a kernel payload, recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
    Lzma,
    Bzip2,
    Lzo,
    Lz4Legacy,
}

impl Compression {
    /// Identifies the compression from the first bytes.
    pub fn detect(data: &[u8]) -> Compression {
        if data.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if data.starts_with(b"BZh") {
            Compression::Bzip2
        } else if data.starts_with(&[0x89, b'L', b'Z', b'O']) {
            Compression::Lzo
        } else if data.starts_with(&[0x02, 0x21, 0x4c, 0x18]) {
            Compression::Lz4Legacy
        } else if data.starts_with(&[0x5d, 0x00, 0x00]) {
            Compression::Lzma
        } else {
            Compression::None
        }
    }

    /// Name as used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Lzma => "lzma",
            Compression::Bzip2 => "bzip2",
            Compression::Lzo => "lzo",
            Compression::Lz4Legacy => "lz4-legacy",
        }
    }
}

/// Decompresses one stream (gzip member, xz stream, zstd frame, lzma-alone) of `data`,
/// ignoring anything after it (bzImage payloads end with a 4-byte size), refusing output
/// larger than `cap`. `Compression::None` returns the bytes unchanged.
pub fn decompress(data: &[u8], cap: u64) -> Result<(Compression, Vec<u8>), KmodError> {
    decompress_sized(data, cap, 0)
}

/// [`decompress`] with the expected output size (a hint, e.g. the size a bzImage payload
/// ends with): the output buffer is reserved once instead of growing by doubling, which
/// saves copying and page faults on a 60 MiB kernel. The hint is capped at `cap`.
pub fn decompress_sized(
    data: &[u8],
    cap: u64,
    expected: u64,
) -> Result<(Compression, Vec<u8>), KmodError> {
    let kind = Compression::detect(data);
    let reader: Box<dyn Read + '_> = match kind {
        Compression::None => return Ok((kind, data.to_vec())),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(data)),
        Compression::Xz => {
            // A hostile header can ask for a multi-GiB dictionary: cap the decoder's memory.
            let stream = liblzma::stream::Stream::new_stream_decoder(
                crate::initrd::compress::XZ_MEMLIMIT,
                0,
            )
            .map_err(|e| KmodError::Decompress(format!("xz decoder: {e}")))?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(data, stream))
        }
        Compression::Lzma => {
            let stream =
                liblzma::stream::Stream::new_lzma_decoder(crate::initrd::compress::XZ_MEMLIMIT)
                    .map_err(|e| KmodError::Decompress(format!("lzma decoder: {e}")))?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(data, stream))
        }
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(data)
                .map_err(|e| KmodError::Decompress(format!("zstd decoder: {e}")))?
                .single_frame(),
        ),
        Compression::Bzip2 | Compression::Lzo | Compression::Lz4Legacy => {
            return Err(KmodError::Decompress(format!(
                "{}-compressed data is not supported (supported: gzip, xz, zstd, lzma)",
                kind.name()
            )))
        }
    };
    let mut out = Vec::with_capacity(usize::try_from(expected.min(cap)).unwrap_or(0));
    reader
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| KmodError::Decompress(format!("corrupt {} data: {e}", kind.name())))?;
    if out.len() as u64 > cap {
        return Err(KmodError::Decompress(format!(
            "{} data decompresses to more than {} MiB",
            kind.name(),
            cap >> 20
        )));
    }
    Ok((kind, out))
}

/// Reads a NUL-terminated string starting at `offset` (lossy UTF-8); `None` if out of range
/// or unterminated.
pub(crate) fn c_str_at(data: &[u8], offset: usize) -> Option<String> {
    let tail = data.get(offset..)?;
    let end = tail.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(tail.get(..end)?).into_owned())
}

/// Finds the first occurrence of `needle` in `hay` at or after `from`.
pub(crate) fn find_bytes(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(hay.get(from..)?, needle).map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_xz_is_one_line_error() {
        let mut data = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 1];
        data.extend_from_slice(&[0x55; 64]);
        let err = decompress(&data, MAX_MODULE_SIZE).unwrap_err().to_string();
        assert!(err.starts_with("corrupt xz data"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn cap_is_enforced() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &vec![0u8; 4096]).unwrap();
        let gz = enc.finish().unwrap();
        let err = decompress(&gz, 1024).unwrap_err().to_string();
        assert!(err.contains("more than"), "{err}");
        assert_eq!(decompress(&gz, 8192).unwrap().1.len(), 4096);
    }

    #[test]
    fn find_bytes_works() {
        assert_eq!(find_bytes(b"abcabd", b"abd", 0), Some(3));
        assert_eq!(find_bytes(b"abcabd", b"abe", 0), None);
        assert_eq!(find_bytes(b"ab", b"abc", 0), None);
    }
}

//! Kernel modules and kernels: read a `.ko` (ELF, `.modinfo`, `__versions`, exports,
//! appended PKCS#7 signature), read a kernel (x86 bzImage or arm64 Image / EFI zboot: release, exported symbols with CRCs,
//! built-in certificates) and decide whether the kernel's loader would accept the module.
//!
//! - [`module::Module`] — one module file (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`).
//! - [`kernel::Kernel`] — a `vmlinuz` (x86 bzImage, or an arm64 Image / compressed Image /
//!   EFI zboot read by [`arm64`]) and everything the loader checks against.
//! - [`verdict::Target`] + [`verdict::check`] — the loader's rules in the kernel's order.
//! - [`alias::fnmatch`] — glob matching of module aliases (kmod's fnmatch), linear in practice.
//! - [`inspect::ModuleReport`] — what `remaster inspect MODULE.ko` prints.

pub mod alias;
pub mod arm64;
pub mod inspect;
pub mod kernel;
pub mod module;
pub mod signature;
pub mod verdict;

use crate::codec::{self, Codec, Streams};

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
    /// The kernel image (bzImage, arm64 Image, EFI zboot) is malformed or uses a payload
    /// compression we cannot decode.
    #[error("{0}")]
    Kernel(String),
}

/// Largest decompressed module accepted (the biggest in-tree modules are ~30 MiB).
pub const MAX_MODULE_SIZE: u64 = 256 << 20;
/// Largest decompressed kernel ELF accepted (a distribution vmlinux is ~60–80 MiB).
pub const MAX_KERNEL_SIZE: u64 = 1 << 30;

/// Decompresses one stream (gzip member, xz stream, zstd frame, lzma-alone) of `data`,
/// ignoring anything after it (bzImage payloads end with a 4-byte size), refusing output
/// larger than `cap`. Data without a known magic is returned unchanged.
pub fn decompress(data: &[u8], cap: u64) -> Result<(Codec, Vec<u8>), KmodError> {
    decompress_sized(data, cap, 0)
}

/// [`decompress`] with the expected output size (a hint, e.g. the size a bzImage payload
/// ends with): the output buffer is reserved once instead of growing by doubling, which
/// saves copying and page faults on a 60 MiB kernel. The hint is capped at `cap`.
pub fn decompress_sized(
    data: &[u8],
    cap: u64,
    expected: u64,
) -> Result<(Codec, Vec<u8>), KmodError> {
    codec::decode_capped(data, cap, expected, Streams::First)
        .map_err(|e| KmodError::Decompress(e.0))
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

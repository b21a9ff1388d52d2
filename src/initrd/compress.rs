//! The compression of a new overlay segment, as the user asks for it ([`Compression`]):
//! a choice among the kernel-safe encoders of [`crate::codec`], or "as the base initrd".

use super::{InitrdError, Result};
use crate::codec::{self, Codec};
use serde::Serialize;

/// Compression for a new overlay segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// Same as the base initrd's first compressed segment (xz if it is one remaster cannot
    /// write; none if the base has no compressed segment).
    AsBase,
    /// xz, LZMA2 with a 1 MiB dictionary and a CRC32 check (what dracut `--xz` writes and the
    /// kernel accepts; never liblzma's CRC64 default).
    Xz,
    /// zstd level 19 (window far below the kernel decoder's limit).
    Zstd,
    /// gzip level 9, no file name, mtime 0.
    Gzip,
    /// Plain newc.
    None,
}

impl Compression {
    /// Parses `xz`, `zstd`, `gzip`, `none` (and `auto`/`as-base`).
    pub fn parse(s: &str) -> Option<Compression> {
        Some(match s {
            "xz" => Compression::Xz,
            "zstd" => Compression::Zstd,
            "gzip" | "gz" => Compression::Gzip,
            "none" => Compression::None,
            "auto" | "as-base" => Compression::AsBase,
            _ => return None,
        })
    }

    /// Resolves [`Compression::AsBase`] against the codec of the base's first compressed
    /// segment ([`super::Listing::first_compression`]).
    pub fn resolve(self, base: Option<Codec>) -> Compression {
        if self != Compression::AsBase {
            return self;
        }
        match base {
            Some(Codec::Gzip) => Compression::Gzip,
            Some(Codec::Zstd) => Compression::Zstd,
            Some(_) => Compression::Xz,
            None => Compression::None,
        }
    }

    /// Compresses `data` into one stream the kernel can unpack.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>> {
        let codec = match self {
            Compression::Xz => Codec::Xz,
            Compression::Zstd => Codec::Zstd,
            Compression::Gzip => Codec::Gzip,
            Compression::None | Compression::AsBase => Codec::None,
        };
        codec::encode(codec, data)
            .map_err(|e| InitrdError::new(format!("compressing overlay: {e}")))
    }
}

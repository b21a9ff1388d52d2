//! Compressors: magic sniffing as `lib/decompress.c` does it, one-stream decoders that report
//! how many input bytes the stream used (the kernel continues right after them), kernel-safe
//! encoders for the overlay, and capped whole-buffer decoding for `.ko.xz`/`.ko.zst`/`.ko.gz`.

use super::{InitrdError, Result};
use serde::Serialize;
use std::io::{Read, Write};

/// The compressor of one initramfs segment, by magic (`lib/decompress.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentKind {
    /// Plain newc cpio data.
    None,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
    Lzma,
    Lzo,
    Lz4Legacy,
}

impl SegmentKind {
    /// Short name as used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::None => "none",
            SegmentKind::Gzip => "gzip",
            SegmentKind::Xz => "xz",
            SegmentKind::Zstd => "zstd",
            SegmentKind::Bzip2 => "bzip2",
            SegmentKind::Lzma => "lzma",
            SegmentKind::Lzo => "lzo",
            SegmentKind::Lz4Legacy => "lz4-legacy",
        }
    }
}

/// Sniffs a compression magic like the kernel's `decompress_method` (table in
/// `lib/decompress.c`). `None` means no known magic.
pub fn sniff(head: &[u8]) -> Option<SegmentKind> {
    let starts = |m: &[u8]| head.len() >= m.len() && &head[..m.len()] == m;
    if starts(&[0x1f, 0x8b]) || starts(&[0x1f, 0x9e]) {
        Some(SegmentKind::Gzip)
    } else if starts(b"BZh") {
        Some(SegmentKind::Bzip2)
    } else if starts(&[0x5d, 0x00, 0x00]) {
        Some(SegmentKind::Lzma)
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(SegmentKind::Xz)
    } else if starts(&[0x89, b'L', b'Z']) {
        Some(SegmentKind::Lzo)
    } else if starts(&[0x02, 0x21, 0x4c, 0x18]) {
        Some(SegmentKind::Lz4Legacy)
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(SegmentKind::Zstd)
    } else {
        None
    }
}

/// Integrity check of an xz stream (stream header flags, byte 7 low nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum XzCheck {
    None,
    Crc32,
    Crc64,
    Sha256,
    /// A reserved check id.
    Other(u8),
}

impl XzCheck {
    /// From the 12-byte xz stream header (None if too short).
    pub fn from_header(head: &[u8]) -> Option<XzCheck> {
        let flags = *head.get(7)?;
        Some(match flags & 0x0f {
            0 => XzCheck::None,
            1 => XzCheck::Crc32,
            4 => XzCheck::Crc64,
            10 => XzCheck::Sha256,
            n => XzCheck::Other(n),
        })
    }
    /// The kernel's xz decoder (`lib/xz`, no `XZ_DEC_ANY_CHECK`) accepts only these.
    pub fn kernel_accepts(self) -> bool {
        matches!(self, XzCheck::None | XzCheck::Crc32)
    }
}

/// Memory limit for the xz decoder (the dictionary of a hostile stream could ask for 1.5 GiB).
pub const XZ_MEMLIMIT: u64 = 256 << 20;

/// One compressed stream being decoded. `step` feeds input, fills output, and says how much
/// of each it used and whether the stream has ended.
pub(crate) enum StreamDecoder {
    Xz(liblzma::stream::Stream),
    Zstd(zstd::zstd_safe::DCtx<'static>),
    /// Raw deflate after a gzip header parsed by the walker; the CRC of the output so far.
    Gzip(flate2::Decompress, crc32fast::Hasher),
}

pub(crate) struct Step {
    pub consumed: usize,
    pub produced: usize,
    pub ended: bool,
}

impl StreamDecoder {
    pub(crate) fn new(kind: SegmentKind) -> Result<StreamDecoder> {
        match kind {
            // flags 0: one stream only, no CONCATENATED: the kernel treats each xz stream as
            // its own segment.
            SegmentKind::Xz => liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                .map(StreamDecoder::Xz)
                .map_err(|e| InitrdError::new(format!("xz decoder: {e:?}"))),
            SegmentKind::Zstd => Ok(StreamDecoder::Zstd(zstd::zstd_safe::DCtx::create())),
            SegmentKind::Gzip => Ok(StreamDecoder::Gzip(
                flate2::Decompress::new(false),
                crc32fast::Hasher::new(),
            )),
            other => Err(InitrdError::new(format!(
                "{} segments are recognised but not decoded by remaster",
                other.name()
            ))),
        }
    }

    pub(crate) fn step(&mut self, input: &[u8], output: &mut [u8]) -> Result<Step, String> {
        match self {
            StreamDecoder::Xz(s) => {
                let (i0, o0) = (s.total_in(), s.total_out());
                let status = s
                    .process(input, output, liblzma::stream::Action::Run)
                    .map_err(|e| match e {
                        liblzma::stream::Error::Data => "xz data is corrupt".to_string(),
                        liblzma::stream::Error::Format => "not a valid xz stream".to_string(),
                        liblzma::stream::Error::Options => {
                            "xz stream uses unsupported options".to_string()
                        }
                        liblzma::stream::Error::MemLimit => format!(
                            "xz stream needs more than {} MiB of dictionary",
                            XZ_MEMLIMIT >> 20
                        ),
                        other => format!("xz decoder error {other:?}"),
                    })?;
                Ok(Step {
                    consumed: usize::try_from(s.total_in() - i0).unwrap_or(0),
                    produced: usize::try_from(s.total_out() - o0).unwrap_or(0),
                    ended: status == liblzma::stream::Status::StreamEnd,
                })
            }
            StreamDecoder::Zstd(d) => {
                let mut inb = zstd::zstd_safe::InBuffer::around(input);
                let mut outb = zstd::zstd_safe::OutBuffer::around(output);
                let r = d.decompress_stream(&mut outb, &mut inb).map_err(|code| {
                    format!(
                        "zstd data is corrupt: {}",
                        zstd::zstd_safe::get_error_name(code)
                    )
                })?;
                Ok(Step {
                    consumed: inb.pos(),
                    produced: outb.pos(),
                    ended: r == 0,
                })
            }
            StreamDecoder::Gzip(d, crc) => {
                let (i0, o0) = (d.total_in(), d.total_out());
                let status = d
                    .decompress(input, output, flate2::FlushDecompress::None)
                    .map_err(|e| format!("gzip data is corrupt: {e}"))?;
                let produced = usize::try_from(d.total_out() - o0).unwrap_or(0);
                if let Some(out) = output.get(..produced) {
                    crc.update(out);
                }
                Ok(Step {
                    consumed: usize::try_from(d.total_in() - i0).unwrap_or(0),
                    produced,
                    ended: status == flate2::Status::StreamEnd,
                })
            }
        }
    }
}

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

    /// Resolves [`Compression::AsBase`] against the base's segments.
    pub fn resolve(self, base_segments: &[super::walk::Segment]) -> Compression {
        if self != Compression::AsBase {
            return self;
        }
        match base_segments
            .iter()
            .map(|s| s.compression)
            .find(|k| *k != SegmentKind::None)
        {
            Some(SegmentKind::Gzip) => Compression::Gzip,
            Some(SegmentKind::Zstd) => Compression::Zstd,
            Some(_) => Compression::Xz,
            None => Compression::None,
        }
    }

    /// Compresses `data` into one stream the kernel can unpack.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>> {
        let err = |e: std::io::Error| InitrdError::new(format!("compressing overlay: {e}"));
        match self {
            Compression::None | Compression::AsBase => Ok(data.to_vec()),
            Compression::Xz => {
                let mut opts = liblzma::stream::LzmaOptions::new_preset(XZ_PRESET)
                    .map_err(|e| InitrdError::new(format!("xz options: {e:?}")))?;
                opts.dict_size(1 << 20);
                let mut filters = liblzma::stream::Filters::new();
                filters.lzma2(&opts);
                let stream = liblzma::stream::Stream::new_stream_encoder(
                    &filters,
                    liblzma::stream::Check::Crc32,
                )
                .map_err(|e| InitrdError::new(format!("xz encoder: {e:?}")))?;
                let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
                enc.write_all(data).map_err(err)?;
                enc.finish().map_err(err)
            }
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 19).map_err(err)?;
                enc.include_checksum(true).map_err(err)?;
                enc.set_pledged_src_size(Some(data.len() as u64))
                    .map_err(err)?;
                enc.write_all(data).map_err(err)?;
                enc.finish().map_err(err)
            }
            Compression::Gzip => {
                let mut enc = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(Vec::new(), flate2::Compression::best());
                enc.write_all(data).map_err(err)?;
                enc.finish().map_err(err)
            }
        }
    }
}

/// xz preset for what remaster compresses (overlays, modules). Preset 1 (fast match
/// finder) compresses a module 5× faster than the default preset 6 and costs ~7% size; the
/// overlay mostly carries already-compressed RPMs and modules, where presets barely differ.
/// The dictionary stays 1 MiB (as dracut and the kernel's `modules_install` use).
const XZ_PRESET: u32 = 1;

/// Decompresses a whole small file (a `.ko.xz`, `.ko.zst`, `.ko.gz`) by its magic, refusing
/// more than `cap` output bytes. Data without a known magic is returned as is.
pub fn decompress_capped(data: &[u8], cap: u64) -> Result<Vec<u8>> {
    fn capped(mut r: impl Read, cap: u64, what: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        (&mut r)
            .take(cap.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| InitrdError::new(format!("{what} data is corrupt: {e}")))?;
        if out.len() as u64 > cap {
            return Err(InitrdError::new(format!(
                "{what} data decompresses to more than {cap} bytes"
            )));
        }
        Ok(out)
    }
    match sniff(data) {
        Some(SegmentKind::Xz) => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                XZ_MEMLIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(|e| InitrdError::new(format!("xz decoder: {e:?}")))?;
            capped(
                liblzma::read::XzDecoder::new_stream(data, stream),
                cap,
                "xz",
            )
        }
        Some(SegmentKind::Zstd) => capped(
            zstd::stream::read::Decoder::new(data)
                .map_err(|e| InitrdError::new(format!("zstd decoder: {e}")))?,
            cap,
            "zstd",
        ),
        Some(SegmentKind::Gzip) => capped(flate2::read::MultiGzDecoder::new(data), cap, "gzip"),
        _ => Ok(data.to_vec()),
    }
}

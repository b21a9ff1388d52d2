//! Compression, defined once for the whole crate: the magic → [`Codec`] table (the kernel's
//! `lib/decompress.c` order), the xz stream check, capped decoders for whole buffers and
//! for streams, the incremental one-stream decoder the initramfs walker drives, and the
//! kernel-safe encoders remaster writes with. Every decoder bounds its memory: xz
//! dictionaries by [`XZ_MEMLIMIT`], zstd windows by the library's default limit, and the
//! output by the caller's cap. A leaf: it imports nothing from the rest of the crate.
//!
//! Used by the initramfs walker and overlay (initrd), the module and kernel readers (kmod),
//! the kmod RPM payload (dud) and file sniffing (inspect).

use serde::Serialize;
use std::io::{BufRead, Read, Write};

/// A compression format, recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Codec {
    /// Not compressed (no known magic).
    None,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
    Lzma,
    Lzo,
    Lz4Legacy,
}

/// The magic table, in the order of the kernel's `decompress_method` (`lib/decompress.c`);
/// the magics are the formats' own, a little longer than the kernel's two bytes where that
/// avoids false matches.
const MAGIC: &[(&[u8], Codec)] = &[
    (&[0x1f, 0x8b], Codec::Gzip),
    (&[0x1f, 0x9e], Codec::Gzip),
    (b"BZh", Codec::Bzip2),
    (&[0x5d, 0x00, 0x00], Codec::Lzma),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Codec::Xz),
    (&[0x89, b'L', b'Z'], Codec::Lzo),
    (&[0x02, 0x21, 0x4c, 0x18], Codec::Lz4Legacy),
    (&[0x28, 0xb5, 0x2f, 0xfd], Codec::Zstd),
];

/// Memory limit for the xz and lzma decoders (the dictionary of a hostile stream could ask
/// for 1.5 GiB, and liblzma's default is no limit).
pub const XZ_MEMLIMIT: u64 = 256 << 20;

/// A decoding failure, on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

/// How much of the input a decoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// Only the first stream (gzip member, xz stream, zstd frame): a kernel payload is
    /// followed by its 4-byte size, which is not another stream.
    First,
    /// Every concatenated stream, as `xz -d`, `zcat` and the module loaders read a file.
    All,
}

impl Codec {
    /// The codec whose magic starts `head`, if any (the kernel's rule for initramfs
    /// segments and payloads).
    pub fn sniff(head: &[u8]) -> Option<Codec> {
        MAGIC
            .iter()
            .find(|(magic, _)| head.starts_with(magic))
            .map(|&(_, codec)| codec)
    }

    /// [`Codec::sniff`], with [`Codec::None`] for data without a known magic.
    pub fn detect(data: &[u8]) -> Codec {
        Codec::sniff(data).unwrap_or(Codec::None)
    }

    /// Short name as used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Xz => "xz",
            Codec::Zstd => "zstd",
            Codec::Bzip2 => "bzip2",
            Codec::Lzma => "lzma",
            Codec::Lzo => "lzo",
            Codec::Lz4Legacy => "lz4-legacy",
        }
    }

    /// A reader of the decoded bytes of `r` (which starts with this codec's magic). Plain
    /// data ([`Codec::None`]) passes through. bzip2, lzo and lz4 are recognised, not decoded.
    pub fn reader<'a>(
        self,
        r: impl BufRead + 'a,
        streams: Streams,
    ) -> Result<Box<dyn Read + 'a>, CodecError> {
        let flags = match streams {
            Streams::First => 0,
            Streams::All => liblzma::stream::CONCATENATED,
        };
        Ok(match self {
            Codec::None => Box::new(r),
            Codec::Gzip => match streams {
                Streams::First => Box::new(flate2::bufread::GzDecoder::new(r)),
                Streams::All => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            },
            Codec::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, flags)
                    .map_err(|e| CodecError(format!("xz decoder: {e}")))?;
                Box::new(liblzma::bufread::XzDecoder::new_stream(r, stream))
            }
            Codec::Lzma => {
                let stream = liblzma::stream::Stream::new_lzma_decoder(XZ_MEMLIMIT)
                    .map_err(|e| CodecError(format!("lzma decoder: {e}")))?;
                Box::new(liblzma::bufread::XzDecoder::new_stream(r, stream))
            }
            Codec::Zstd => {
                // zstd's default window limit (128 MiB) bounds the decoder's memory.
                let d = zstd::stream::read::Decoder::with_buffer(r)
                    .map_err(|e| CodecError(format!("zstd decoder: {e}")))?;
                match streams {
                    Streams::First => Box::new(d.single_frame()),
                    Streams::All => Box::new(d),
                }
            }
            Codec::Bzip2 | Codec::Lzo | Codec::Lz4Legacy => {
                return Err(CodecError(format!(
                    "{}-compressed data is not supported (supported: gzip, xz, zstd, lzma)",
                    self.name()
                )))
            }
        })
    }
}

/// Decodes `data` by its magic, refusing more than `cap` output bytes; `expected` (e.g. the
/// size a bzImage payload ends with, or 0) reserves the output once instead of growing it.
/// Data without a known magic is returned as it is.
pub fn decode_capped(
    data: &[u8],
    cap: u64,
    expected: u64,
    streams: Streams,
) -> Result<(Codec, Vec<u8>), CodecError> {
    let codec = Codec::detect(data);
    if codec == Codec::None {
        return Ok((codec, data.to_vec()));
    }
    let reader = codec.reader(data, streams)?;
    let mut out = Vec::with_capacity(usize::try_from(expected.min(cap)).unwrap_or(0));
    reader
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| CodecError(format!("corrupt {} data: {e}", codec.name())))?;
    if out.len() as u64 > cap {
        return Err(CodecError(format!(
            "{} data decompresses to more than {cap} bytes",
            codec.name()
        )));
    }
    Ok((codec, out))
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

/// One compressed stream being decoded incrementally (the initramfs walker drives it through
/// a fixed buffer and needs to know where the stream ended in its input). `step` feeds
/// input, fills output, and says how much of each it used and whether the stream has ended.
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
    pub(crate) fn new(codec: Codec) -> Result<StreamDecoder, CodecError> {
        match codec {
            // flags 0: one stream only, no CONCATENATED: the kernel treats each xz stream as
            // its own segment.
            Codec::Xz => liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                .map(StreamDecoder::Xz)
                .map_err(|e| CodecError(format!("xz decoder: {e:?}"))),
            Codec::Zstd => Ok(StreamDecoder::Zstd(zstd::zstd_safe::DCtx::create())),
            Codec::Gzip => Ok(StreamDecoder::Gzip(
                flate2::Decompress::new(false),
                crc32fast::Hasher::new(),
            )),
            other => Err(CodecError(format!(
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

/// xz preset for what remaster compresses (overlays, modules). Preset 1 (fast match
/// finder) compresses a module 5× faster than the default preset 6 and costs ~7% size; the
/// overlay mostly carries already-compressed RPMs and modules, where presets barely differ.
/// The dictionary stays 1 MiB (as dracut and the kernel's `modules_install` use).
const XZ_PRESET: u32 = 1;

/// Compresses `data` into one stream the kernel (and kmod) can read: xz LZMA2 with a 1 MiB
/// dictionary and a CRC32 check (what dracut `--xz` writes; never liblzma's CRC64
/// default, which the kernel's decoder rejects), zstd level 19 with a checksum, gzip level 9
/// with no file name and mtime 0. Other codecs return the bytes unchanged.
pub fn encode(codec: Codec, data: &[u8]) -> Result<Vec<u8>, CodecError> {
    let err = |e: std::io::Error| CodecError(format!("compressing with {}: {e}", codec.name()));
    match codec {
        Codec::Xz => {
            let mut opts = liblzma::stream::LzmaOptions::new_preset(XZ_PRESET)
                .map_err(|e| CodecError(format!("xz options: {e:?}")))?;
            opts.dict_size(1 << 20);
            let mut filters = liblzma::stream::Filters::new();
            filters.lzma2(&opts);
            let stream = liblzma::stream::Stream::new_stream_encoder(
                &filters,
                liblzma::stream::Check::Crc32,
            )
            .map_err(|e| CodecError(format!("xz encoder: {e:?}")))?;
            let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
            enc.write_all(data).map_err(err)?;
            enc.finish().map_err(err)
        }
        Codec::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 19).map_err(err)?;
            enc.include_checksum(true).map_err(err)?;
            enc.set_pledged_src_size(Some(data.len() as u64))
                .map_err(err)?;
            enc.write_all(data).map_err(err)?;
            enc.finish().map_err(err)
        }
        Codec::Gzip => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            enc.write_all(data).map_err(err)?;
            enc.finish().map_err(err)
        }
        _ => Ok(data.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_are_recognised_and_plain_data_is_none() {
        assert_eq!(Codec::sniff(&[0x1f, 0x8b, 8]), Some(Codec::Gzip));
        assert_eq!(Codec::sniff(b"\xfd7zXZ\x00\x00\x01"), Some(Codec::Xz));
        assert_eq!(Codec::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Some(Codec::Zstd));
        assert_eq!(Codec::sniff(b"BZh9"), Some(Codec::Bzip2));
        assert_eq!(Codec::sniff(b"070701"), None);
        assert_eq!(Codec::detect(b"\x7fELF"), Codec::None);
        assert_eq!(Codec::sniff(&[0x1f]), None);
    }

    #[test]
    fn round_trips_through_every_encoder() {
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [Codec::Xz, Codec::Zstd, Codec::Gzip] {
            let packed = encode(codec, &data).unwrap();
            assert_eq!(Codec::detect(&packed), codec);
            for streams in [Streams::First, Streams::All] {
                let (found, out) = decode_capped(&packed, 1 << 20, 0, streams).unwrap();
                assert_eq!((found, out.len()), (codec, data.len()), "{codec:?}");
                assert_eq!(out, data);
            }
        }
        let xz = encode(Codec::Xz, b"x").unwrap();
        assert_eq!(XzCheck::from_header(&xz), Some(XzCheck::Crc32));
    }

    #[test]
    fn the_cap_and_corruption_are_one_line_errors() {
        let gz = encode(Codec::Gzip, &[0u8; 4096]).unwrap();
        let err = decode_capped(&gz, 1024, 0, Streams::All).unwrap_err().0;
        assert!(err.contains("more than 1024 bytes"), "{err}");
        let mut xz = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 1];
        xz.extend_from_slice(&[0x55; 64]);
        let err = decode_capped(&xz, 1 << 20, 0, Streams::First)
            .unwrap_err()
            .0;
        assert!(err.starts_with("corrupt xz data"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn all_streams_reads_concatenated_ones_first_stops_after_one() {
        let mut two = encode(Codec::Xz, b"one ").unwrap();
        two.extend(encode(Codec::Xz, b"two").unwrap());
        let (_, all) = decode_capped(&two, 1024, 0, Streams::All).unwrap();
        assert_eq!(all, b"one two");
        let (_, first) = decode_capped(&two, 1024, 0, Streams::First).unwrap();
        assert_eq!(first, b"one ");
    }
}

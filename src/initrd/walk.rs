//! Kernel-exact initramfs walker.
//!
//! Follows `init/initramfs.c` (`unpack_to_rootfs`, `flush_buffer`, `do_header`, `do_name`,
//! `clean_path`, `maybe_link`): at each position a `'0'` at a 4-byte aligned offset starts a
//! newc entry, a zero byte is skipped, anything else is a compressed stream whose decoder
//! reports how many bytes it used, and the walk continues right after them. So any number of
//! compressed and uncompressed segments may follow each other (lsinitrd and 3cpio stop after
//! the first compressed one; the kernel does not).
//!
//! The walker replays the entries on a small in-memory model of the rootfs (types, modes,
//! sizes, symlink targets; no file data unless asked for) so the listing is the tree the
//! kernel leaves behind: later entries overwrite earlier ones, an entry of another type
//! deletes the old path first (a directory entry for `lib` deletes the `lib -> usr/lib`
//! symlink), parents are resolved through symlinks.
//!
//! The cpio reader is hand-written: the `cpio` crate reads one archive from a `Read` and has no
//! notion of zero padding, concatenated archives or seeking over data (crates.md §3).
//!
//! Memory stays bounded: uncompressed data is seeked over, compressed data is decoded through
//! a fixed buffer and dropped, only requested files are kept (up to a cap), and the total
//! decoded size is capped (decompression bombs).

use super::{InitrdError, Result};
use crate::codec::{Codec, StreamDecoder, XzCheck};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};

/// Longest name / symlink target the kernel accepts (`PATH_MAX`); longer entries are skipped.
const PATH_MAX: u64 = 4096;
/// Limit on symlink hops while resolving a path (the kernel's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Limits for walking untrusted images.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions {
    /// Total decompressed bytes may not exceed `input length × max_ratio` (plus 64 MiB).
    pub max_ratio: u64,
    /// Absolute cap on the total decompressed bytes.
    pub hard_limit: u64,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            max_ratio: 100,
            hard_limit: 16 << 30,
        }
    }
}

/// One segment of the image: a run of uncompressed newc archives, or one compressed stream.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// Byte offset in the image.
    pub offset: u64,
    /// Bytes the segment occupies in the image (compressed size; padding excluded).
    pub size: u64,
    /// Size of the newc data inside (None when remaster cannot decode the compressor).
    pub uncompressed_size: Option<u64>,
    pub compression: Codec,
    /// For xz: the integrity check from the stream header.
    pub xz_check: Option<XzCheck>,
    /// newc entries (TRAILER!!! excluded) and archives (TRAILER!!! seen) inside.
    pub entries: u64,
    pub archives: u64,
    /// Why the kernel would refuse this segment (and stop unpacking), if it would.
    pub kernel_refuses: Option<String>,
}

/// Type of a file in the unpacked tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDev,
    BlockDev,
    Fifo,
    Socket,
}

impl FileKind {
    fn from_mode(mode: u32) -> Option<FileKind> {
        Some(match mode & 0o170000 {
            0o100000 => FileKind::File,
            0o040000 => FileKind::Dir,
            0o120000 => FileKind::Symlink,
            0o020000 => FileKind::CharDev,
            0o060000 => FileKind::BlockDev,
            0o010000 => FileKind::Fifo,
            0o140000 => FileKind::Socket,
            _ => return None,
        })
    }
    /// One letter as in `ls -l`.
    pub fn letter(self) -> char {
        match self {
            FileKind::File => '-',
            FileKind::Dir => 'd',
            FileKind::Symlink => 'l',
            FileKind::CharDev => 'c',
            FileKind::BlockDev => 'b',
            FileKind::Fifo => 'p',
            FileKind::Socket => 's',
        }
    }
}

/// One path of the unpacked tree as the kernel leaves it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    /// Path relative to the root, symlinked parents resolved (`usr/lib/...`, never `lib/...`
    /// when `lib` is a symlink).
    pub path: String,
    pub kind: FileKind,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// File size (0 for non-files).
    pub size: u64,
    /// Symlink target as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Index of the segment that wrote it last.
    pub segment: usize,
}

/// The result of a walk: segments and the effective tree.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// Length of the image in bytes.
    pub image_size: u64,
    pub segments: Vec<Segment>,
    /// The effective tree, sorted by path.
    pub entries: BTreeMap<String, EntryInfo>,
    /// Things the kernel does silently that deserve a look (dropped entries, bad gzip CRC...).
    pub warnings: Vec<String>,
    /// If the kernel would stop unpacking ("Initramfs unpacking failed: ..."): where and why.
    /// Entries after that point are not in `entries`.
    pub kernel_error: Option<String>,
    /// Set when remaster could not follow the whole image (a compressor it cannot decode):
    /// the kernel would unpack more than `entries` shows.
    pub incomplete: Option<String>,
}

impl Listing {
    /// The codec of the first compressed segment, if any (what an overlay "as the base"
    /// is compressed with).
    pub fn first_compression(&self) -> Option<Codec> {
        self.segments
            .iter()
            .map(|s| s.compression)
            .find(|c| *c != Codec::None)
    }

    /// Resolves `path` through the tree's symlinks (all components, the last one too when
    /// `follow_last`). Returns the canonical path and the entry there, if any (missing parents
    /// are kept literally); `None` when a parent is not a directory or on a symlink loop.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Option<(String, Option<&EntryInfo>)> {
        let canon = resolve_in(
            |p| {
                self.entries.get(p).map(|e| match e.kind {
                    FileKind::Dir => Lookup::Dir,
                    FileKind::Symlink => Lookup::Symlink(e.target.clone().unwrap_or_default()),
                    _ => Lookup::Other,
                })
            },
            path,
            follow_last,
            true,
            &std::cell::Cell::new(0),
        )
        .ok()?;
        let entry = self.entries.get(&canon);
        Some((canon, entry))
    }

    /// Whether `path` (taken literally, parents resolved) is a symlink in the tree.
    pub fn is_symlink(&self, path: &str) -> bool {
        matches!(self.resolve(path, false), Some((_, Some(e))) if e.kind == FileKind::Symlink)
    }

    /// Kernel module trees: `(kver, canonical dir path)` for every `lib/modules/<kver>`
    /// directory (usr-merged or not).
    pub fn module_trees(&self) -> Vec<(String, String)> {
        self.entries
            .values()
            .filter(|e| e.kind == FileKind::Dir)
            .filter_map(|e| {
                let rest = e
                    .path
                    .strip_prefix("usr/lib/modules/")
                    .or_else(|| e.path.strip_prefix("lib/modules/"))?;
                (!rest.is_empty() && !rest.contains('/'))
                    .then(|| (rest.to_string(), e.path.clone()))
            })
            .collect()
    }

    /// Module files (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`) under a module tree directory.
    pub fn modules_in(&self, tree: &str) -> Vec<&EntryInfo> {
        let prefix = format!("{tree}/");
        self.entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(_, e)| e)
            .filter(|e| e.kind == FileKind::File && is_module_name(&e.path))
            .collect()
    }
}

/// Whether a file name is a kernel module (`.ko` plus the compressions kmod reads).
pub fn is_module_name(path: &str) -> bool {
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// Walks an initramfs image and returns its segments and effective tree.
pub fn list<R: Read + Seek>(r: R) -> Result<Listing> {
    let (listing, _) = walk(r, &WalkOptions::default(), &|_: &str| false, 0)?;
    Ok(listing)
}

/// Walks an image and returns the effective (last-wins) contents of the regular files whose
/// canonical path satisfies `want`, sorted by path. Fails if they add up to more than `cap`
/// bytes.
pub fn read_files<R: Read + Seek>(
    r: R,
    want: impl Fn(&str) -> bool,
    cap: u64,
) -> Result<Vec<(String, Vec<u8>)>> {
    let (_, files) = walk(r, &WalkOptions::default(), &want, cap)?;
    Ok(files)
}

/// Requested files: canonical path and contents, sorted by path.
pub type Files = Vec<(String, Vec<u8>)>;

/// The walker itself: listing plus the requested files.
pub fn walk<R: Read + Seek>(
    r: R,
    opts: &WalkOptions,
    want: &dyn Fn(&str) -> bool,
    cap: u64,
) -> Result<(Listing, Files)> {
    let mut input = Input::new(r)?;
    let image_size = input.len;
    let decode_limit = opts.hard_limit.min(
        image_size
            .saturating_mul(opts.max_ratio)
            .saturating_add(64 << 20),
    );
    let mut w = Walker {
        fs: Fs::default(),
        segments: Vec::new(),
        warnings: Vec::new(),
        want,
        cap_left: cap,
        decoded_total: 0,
        decode_limit,
    };
    let mut kernel_error = None;
    let mut incomplete = None;
    // The run of uncompressed archives being read, if any.
    let mut plain: Option<Segment> = None;
    loop {
        let pos = input.pos;
        let Some(b) = input.peek()? else { break };
        if b == b'0' && pos.is_multiple_of(4) {
            let seg = plain.get_or_insert(Segment {
                offset: pos,
                size: 0,
                uncompressed_size: Some(0),
                compression: Codec::None,
                xz_check: None,
                entries: 0,
                archives: 0,
                kernel_refuses: None,
            });
            let idx = w.segments.len();
            let mut counts = (0u64, 0u64);
            let mut parser = Parser {
                offset_base: 0,
                where_: "",
            };
            parser.entry(&mut input, &mut w, idx, true, &mut counts)?;
            w.fs.check_budget()?;
            seg.entries += counts.0;
            seg.archives += counts.1;
            seg.size = input.pos - seg.offset;
            seg.uncompressed_size = Some(seg.size);
            // do_reset: eat zeros; what follows must be 4-byte aligned.
            input.skip_zeros()?;
            if input.peek()?.is_some() && !input.pos.is_multiple_of(4) {
                return Err(InitrdError::at(
                    input.pos,
                    "broken padding after a cpio entry (next data is not 4-byte aligned)",
                ));
            }
            continue;
        }
        if b == 0 {
            input.skip_zeros()?;
            continue;
        }
        if let Some(seg) = plain.take() {
            w.segments.push(seg);
        }
        let head = input.peek_n(12)?;
        let Some(kind) = Codec::sniff(&head) else {
            return Err(InitrdError::at(
                pos,
                format!(
                    "invalid magic {} (neither newc at a 4-byte aligned offset nor a known compressor)",
                    hex(&head[..head.len().min(6)])
                ),
            ));
        };
        let mut seg = Segment {
            offset: pos,
            size: 0,
            uncompressed_size: None,
            compression: kind,
            xz_check: None,
            entries: 0,
            archives: 0,
            kernel_refuses: None,
        };
        let mut apply = true;
        match kind {
            Codec::Xz => {
                let check = XzCheck::from_header(&head);
                seg.xz_check = check;
                if let Some(c) = check.filter(|c| !c.kernel_accepts()) {
                    let why = format!(
                        "xz integrity check {c:?} is not supported by the kernel's xz decoder (use --check=crc32); the kernel will refuse this segment and stop unpacking"
                    );
                    seg.kernel_refuses = Some(why.clone());
                    kernel_error = Some(format!("at offset {pos}: {why}"));
                    apply = false;
                }
            }
            Codec::Gzip => {
                if head.get(1) == Some(&0x9e) || head.get(2) != Some(&8) {
                    return Err(InitrdError::at(
                        pos,
                        "gzip segment with a header the kernel cannot decode (magic 1f 9e or method not deflate)",
                    ));
                }
                let flags = head.get(3).copied().unwrap_or(0);
                if flags & !0x08 != 0 {
                    return Err(InitrdError::at(
                        pos,
                        format!("gzip header flags {flags:#04x}: the kernel's gunzip only skips FNAME; rewrite it with plain gzip -n"),
                    ));
                }
            }
            Codec::Zstd => {}
            other => {
                let why = format!(
                    "{} segment: recognised but not decoded by remaster; the listing stops here although the kernel (with CONFIG_RD_{}) would go on",
                    other.name(),
                    other.name().to_uppercase().replace("-LEGACY", "")
                );
                seg.size = input.len - pos;
                incomplete = Some(format!("at offset {pos}: {why}"));
                w.segments.push(seg);
                break;
            }
        }
        let idx = w.segments.len();
        w.decode_segment(&mut input, &mut seg, idx, apply)?;
        w.segments.push(seg);
        if !apply {
            break;
        }
    }
    if let Some(seg) = plain.take() {
        w.segments.push(seg);
    }
    let files = w.fs.wanted_files(want);
    let entries = w.fs.listing();
    Ok((
        Listing {
            image_size,
            segments: w.segments,
            entries,
            warnings: w.warnings,
            kernel_error,
            incomplete,
        },
        files,
    ))
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

struct Walker<'w> {
    fs: Fs,
    segments: Vec<Segment>,
    warnings: Vec<String>,
    want: &'w dyn Fn(&str) -> bool,
    cap_left: u64,
    decoded_total: u64,
    decode_limit: u64,
}

impl Walker<'_> {
    /// Decodes one compressed stream starting at the input position and replays its entries
    /// (`flush_buffer` rules: entries, zero padding, more archives; the stream must end on an
    /// entry boundary).
    fn decode_segment<R: Read + Seek>(
        &mut self,
        input: &mut Input<R>,
        seg: &mut Segment,
        idx: usize,
        apply: bool,
    ) -> Result<()> {
        let start = input.pos;
        let name = seg.compression.name();
        let ctx = |e: InitrdError| {
            InitrdError::new(format!("{name} segment at offset {start}: {}", e.message))
        };
        let mut gzip_trailer = false;
        if seg.compression == Codec::Gzip {
            // 10-byte header, then a NUL-terminated name if FNAME (as __gunzip does).
            let head = input.peek_n(10)?;
            let flags = head.get(3).copied().unwrap_or(0);
            input.skip(10).map_err(ctx)?;
            if flags & 0x08 != 0 {
                let mut n = 0u64;
                loop {
                    let Some(b) = input.peek()? else {
                        return Err(ctx(InitrdError::new("truncated gzip header")));
                    };
                    input.skip(1).map_err(ctx)?;
                    n += 1;
                    if b == 0 || n > PATH_MAX {
                        break;
                    }
                }
            }
            gzip_trailer = true;
        }
        let decoder =
            StreamDecoder::new(seg.compression).map_err(|e| ctx(InitrdError::new(e.0)))?;
        let budget = self.decode_limit.saturating_sub(self.decoded_total);
        let mut dec = Decoded {
            input,
            dec: decoder,
            buf: vec![0u8; 256 << 10],
            start: 0,
            end: 0,
            pos: 0,
            ended: false,
            budget,
            seg_offset: start,
        };
        let mut counts = (0u64, 0u64);
        let mut parser = Parser {
            offset_base: start,
            where_: name,
        };
        let result = (|| -> Result<()> {
            loop {
                // Reset state: skip zeros, then the next byte must start an aligned entry.
                dec.skip_zeros()?;
                let Some(b) = dec.peek()? else { break };
                if !dec.pos.is_multiple_of(4) {
                    return Err(parser.err(dec.pos, "broken padding (entry not 4-byte aligned)"));
                }
                if b != b'0' {
                    return Err(parser.err(dec.pos, "junk within compressed archive"));
                }
                parser.entry(&mut dec, self, idx, apply, &mut counts)?;
                self.fs.check_budget()?;
            }
            Ok(())
        })();
        result.map_err(|e| {
            if e.message.starts_with(name) {
                e
            } else {
                ctx(e)
            }
        })?;
        let decoded = dec.pos;
        let crc = match &dec.dec {
            StreamDecoder::Gzip(_, h) => Some(h.clone().finalize()),
            _ => None,
        };
        let consumed_end = dec.input.pos;
        drop(dec);
        if gzip_trailer {
            // The kernel skips the 8-byte trailer without checking it; we check and warn.
            let t = input.peek_n(8)?;
            if t.len() < 8 {
                return Err(InitrdError::at(
                    consumed_end,
                    "gzip segment truncated (trailer missing)",
                ));
            }
            let stored = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
            if Some(stored) != crc {
                self.warnings.push(format!(
                    "gzip segment at offset {start}: CRC32 mismatch (the kernel does not check it)"
                ));
            }
            input.skip(8)?;
        }
        self.decoded_total = self.decoded_total.saturating_add(decoded);
        seg.size = input.pos - start;
        seg.uncompressed_size = Some(decoded);
        seg.entries = counts.0;
        seg.archives = counts.1;
        Ok(())
    }
}

/// A byte stream the newc parser reads: the image itself or a decoded segment.
trait Source {
    /// Offset of the next byte in this stream (absolute in the image, or in the decoded data).
    fn pos(&self) -> u64;
    /// Buffered bytes (refilling if empty); empty at the end of the stream.
    fn fill(&mut self) -> Result<&[u8]>;
    fn consume(&mut self, n: usize);
    /// Skips `n` bytes; error if the stream ends first.
    fn skip(&mut self, n: u64) -> Result<()>;

    fn peek(&mut self) -> Result<Option<u8>> {
        Ok(self.fill()?.first().copied())
    }
    fn skip_zeros(&mut self) -> Result<()> {
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(());
            }
            let n = buf.iter().take_while(|b| **b == 0).count();
            let all = n == buf.len();
            self.consume(n);
            if !all {
                return Ok(());
            }
        }
    }
    /// Reads exactly `out.len()` bytes; false if the stream ended first.
    fn read_exact_or_eof(&mut self, out: &mut [u8]) -> Result<bool> {
        let mut done = 0;
        while done < out.len() {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(false);
            }
            let n = buf.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&buf[..n]);
            self.consume(n);
            done += n;
        }
        Ok(true)
    }
}

/// Buffered view of the image with absolute positions; seeks over data instead of reading it.
struct Input<R> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Absolute offset of `buf[start]`.
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Input<R> {
    fn new(mut r: R) -> Result<Self> {
        let len = r.seek(SeekFrom::End(0))?;
        r.seek(SeekFrom::Start(0))?;
        Ok(Input {
            r,
            buf: vec![0u8; 256 << 10],
            start: 0,
            end: 0,
            pos: 0,
            len,
        })
    }

    /// Up to `n` bytes from the current position without consuming them.
    fn peek_n(&mut self, n: usize) -> Result<Vec<u8>> {
        if self.end - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n.min(self.buf.len()) {
                let got = self.r.read(&mut self.buf[self.end..])?;
                if got == 0 {
                    break;
                }
                self.end += got;
            }
        }
        let have = (self.end - self.start).min(n);
        Ok(self.buf[self.start..self.start + have].to_vec())
    }
}

impl<R: Read + Seek> Source for Input<R> {
    fn pos(&self) -> u64 {
        self.pos
    }
    fn fill(&mut self) -> Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = self.r.read(&mut self.buf)?;
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.pos += n as u64;
    }
    fn skip(&mut self, n: u64) -> Result<()> {
        let target = self
            .pos
            .checked_add(n)
            .filter(|t| *t <= self.len)
            .ok_or_else(|| {
                InitrdError::at(
                    self.pos,
                    format!(
                        "truncated: {n} more bytes expected, the image ends at {}",
                        self.len
                    ),
                )
            })?;
        let buffered = (self.end - self.start) as u64;
        if n <= buffered {
            self.start += n as usize;
        } else {
            self.r.seek(SeekFrom::Start(target))?;
            self.start = 0;
            self.end = 0;
        }
        self.pos = target;
        Ok(())
    }
}

/// The decoded bytes of one compressed segment.
struct Decoded<'a, R> {
    input: &'a mut Input<R>,
    dec: StreamDecoder,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Decoded offset of `buf[start]`.
    pos: u64,
    ended: bool,
    /// Decoded bytes still allowed (bomb cap).
    budget: u64,
    seg_offset: u64,
}

impl<R: Read + Seek> Source for Decoded<'_, R> {
    fn pos(&self) -> u64 {
        self.pos
    }
    fn fill(&mut self) -> Result<&[u8]> {
        while self.start == self.end && !self.ended {
            let chunk = self.input.fill()?;
            let at_eof = chunk.is_empty();
            let step = self.dec.step(chunk, &mut self.buf).map_err(|m| {
                InitrdError::new(format!("at decompressed offset {}: {m}", self.pos))
            })?;
            self.input.consume(step.consumed);
            self.start = 0;
            self.end = step.produced;
            if step.produced as u64 > self.budget {
                return Err(InitrdError::new(format!(
                    "decompressed data exceeds the limit (decompression bomb?) at decompressed offset {}",
                    self.pos
                )));
            }
            self.budget -= step.produced as u64;
            if step.ended {
                self.ended = true;
            } else if at_eof && step.produced == 0 {
                return Err(InitrdError::new(format!(
                    "truncated: the compressed stream starting at offset {} ends before its end marker (image ends at {})",
                    self.seg_offset, self.input.len
                )));
            } else if step.consumed == 0 && step.produced == 0 {
                return Err(InitrdError::new("decoder made no progress"));
            }
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.pos += n as u64;
    }
    fn skip(&mut self, mut n: u64) -> Result<()> {
        while n > 0 {
            let avail = self.fill()?.len();
            if avail == 0 {
                return Err(InitrdError::new(format!(
                    "truncated: decompressed data ends at {} inside an entry ({n} more bytes expected)",
                    self.pos
                )));
            }
            let k = (avail as u64).min(n) as usize;
            self.consume(k);
            n -= k as u64;
        }
        Ok(())
    }
}

/// A parsed newc header.
struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    filesize: u32,
    devmajor: u32,
    devminor: u32,
    namesize: u32,
    checksum: u32,
    crc: bool,
}

const HEADER_LEN: usize = 110;

fn parse_header(h: &[u8; HEADER_LEN]) -> std::result::Result<Header, String> {
    let crc = match &h[..6] {
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
    for (i, v) in f.iter_mut().enumerate() {
        let field = &h[6 + i * 8..14 + i * 8];
        let s = std::str::from_utf8(field).ok();
        *v = s
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or_else(|| {
                format!(
                    "cpio header field {} is not hex: {:?}",
                    NAMES[i],
                    String::from_utf8_lossy(field)
                )
            })?;
    }
    Ok(Header {
        ino: f[0],
        mode: f[1],
        nlink: f[4],
        filesize: f[6],
        devmajor: f[7],
        devminor: f[8],
        namesize: f[11],
        checksum: f[12],
        crc,
    })
}

/// `N_ALIGN`: name field length so that header + name end 4-byte aligned.
fn name_field_len(namesize: u64) -> u64 {
    ((namesize + 1) & !3) + 2
}

struct Parser {
    /// Image offset of the segment (0 for uncompressed data, whose offsets are absolute).
    offset_base: u64,
    where_: &'static str,
}

impl Parser {
    fn err(&self, pos: u64, msg: impl std::fmt::Display) -> InitrdError {
        if self.where_.is_empty() {
            InitrdError::at(pos, msg)
        } else {
            InitrdError::new(format!(
                "{} segment at offset {}: at decompressed offset {pos}: {msg}",
                self.where_, self.offset_base
            ))
        }
    }

    /// Reads one newc entry (header, name, data, padding) at the source position and replays
    /// it on the tree. `counts` = (entries, archives).
    fn entry<S: Source>(
        &mut self,
        src: &mut S,
        w: &mut Walker<'_>,
        seg_idx: usize,
        apply: bool,
        counts: &mut (u64, u64),
    ) -> Result<()> {
        let start = src.pos();
        let mut raw = [0u8; HEADER_LEN];
        if !src.read_exact_or_eof(&mut raw)? {
            return Err(self.err(start, "truncated cpio header"));
        }
        let h = parse_header(&raw).map_err(|m| self.err(start, m))?;
        let namesize = u64::from(h.namesize);
        let body = u64::from(h.filesize);
        let field = name_field_len(namesize);
        let next = (start + HEADER_LEN as u64 + field + body + 3) & !3;
        let skip_rest = |src: &mut S, this: &Parser| -> Result<()> {
            let here = src.pos();
            src.skip(next.saturating_sub(here))
                .map_err(|e| this.err(start, format!("entry data: {}", e.message)))
        };
        if namesize == 0 || namesize > PATH_MAX {
            w.warnings.push(format!(
                "{}: entry with name size {namesize} skipped (the kernel ignores it)",
                self.err(start, "").message.trim_end_matches(": ")
            ));
            return skip_rest(src, self);
        }
        let mut name_buf = vec![0u8; field as usize];
        if !src.read_exact_or_eof(&mut name_buf)? {
            return Err(self.err(start, "truncated cpio name"));
        }
        if name_buf.get(namesize as usize - 1) != Some(&0) {
            return Err(self.err(start, "cpio name is not NUL-terminated"));
        }
        let nul = name_buf.iter().position(|b| *b == 0).unwrap_or(0);
        let raw_name = String::from_utf8_lossy(&name_buf[..nul]).into_owned();
        if raw_name == "TRAILER!!!" {
            counts.1 += 1;
            w.fs.hardlinks.clear();
            return skip_rest(src, self);
        }
        counts.0 += 1;
        let name = clean_name(&raw_name).map_err(|m| self.err(start, m))?;
        let Some(kind) = FileKind::from_mode(h.mode) else {
            w.warnings.push(format!(
                "{}: {raw_name:?} has unknown file type (mode {:o}); the kernel ignores it",
                self.err(start, "").message.trim_end_matches(": "),
                h.mode
            ));
            return skip_rest(src, self);
        };
        let what = Entry {
            name,
            kind,
            mode: h.mode,
            size: body,
            ino: h.ino,
            nlink: h.nlink,
            dev: (h.devmajor, h.devminor),
            segment: seg_idx,
            target: None,
        };
        match kind {
            FileKind::Symlink => {
                if body > PATH_MAX {
                    w.warnings.push(format!(
                        "{}: symlink {raw_name:?} target longer than PATH_MAX skipped (as the kernel does)",
                        self.err(start, "").message.trim_end_matches(": ")
                    ));
                    return skip_rest(src, self);
                }
                let mut t = vec![0u8; body as usize];
                if !src.read_exact_or_eof(&mut t)? {
                    return Err(self.err(start, "truncated symlink target"));
                }
                let nul = t.iter().position(|b| *b == 0).unwrap_or(t.len());
                let target = String::from_utf8_lossy(&t[..nul]).into_owned();
                if apply {
                    let mut e = what;
                    e.target = Some(target);
                    if let Err(m) = w.fs.apply(&e, None) {
                        w.warnings.push(format!(
                            "{}: {m}",
                            self.err(start, "").message.trim_end_matches(": ")
                        ));
                    }
                }
                skip_rest(src, self)
            }
            FileKind::File => {
                let canon = if apply {
                    w.fs.canonical(&what.name)
                } else {
                    None
                };
                let wanted = canon.as_deref().is_some_and(|c| (w.want)(c))
                    || (apply && w.fs.linked_wanted(&h));
                let mut data = None;
                if wanted || h.crc {
                    if wanted && body > w.cap_left {
                        return Err(self.err(
                            start,
                            format!("requested file {:?} ({body} bytes) exceeds the remaining read cap of {} bytes", what.name, w.cap_left),
                        ));
                    }
                    let mut sum = 0u32;
                    let mut buf = Vec::new();
                    let mut left = body;
                    while left > 0 {
                        let chunk = src.fill()?;
                        if chunk.is_empty() {
                            return Err(self.err(start, "truncated file data"));
                        }
                        let n = (chunk.len() as u64).min(left) as usize;
                        if h.crc {
                            sum = chunk[..n]
                                .iter()
                                .fold(sum, |s, b| s.wrapping_add(u32::from(*b)));
                        }
                        if wanted {
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        src.consume(n);
                        left -= n as u64;
                    }
                    if h.crc && sum != h.checksum {
                        return Err(self.err(
                            start,
                            format!("bad checksum for {:?} (070702 archive)", what.name),
                        ));
                    }
                    if wanted {
                        w.cap_left -= body;
                        data = Some(buf);
                    }
                }
                if apply {
                    if let Err(m) = w.fs.apply(&what, data) {
                        w.warnings.push(format!(
                            "{}: {m}",
                            self.err(start, "").message.trim_end_matches(": ")
                        ));
                    }
                }
                skip_rest(src, self)
            }
            _ => {
                if body > 0 {
                    // do_header: a non-file with a body is skipped entirely.
                    w.warnings.push(format!(
                        "{}: {raw_name:?} is not a regular file but has {body} data bytes; the kernel skips it",
                        self.err(start, "").message.trim_end_matches(": ")
                    ));
                } else if apply {
                    if let Err(m) = w.fs.apply(&what, None) {
                        w.warnings.push(format!(
                            "{}: {m}",
                            self.err(start, "").message.trim_end_matches(": ")
                        ));
                    }
                }
                skip_rest(src, self)
            }
        }
    }
}

/// Normalises an archive name (`./a//b/` → `a/b`, `.` → root). Refuses `..` components and
/// absolute names: the kernel would resolve both inside `/`, but no sane initrd tool writes
/// them and an extractor trusting them escapes its target directory.
fn clean_name(raw: &str) -> std::result::Result<String, String> {
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

struct Entry {
    name: String,
    kind: FileKind,
    mode: u32,
    size: u64,
    ino: u32,
    nlink: u32,
    dev: (u32, u32),
    segment: usize,
    target: Option<String>,
}

#[derive(Debug, Clone)]
struct Node {
    kind: FileKind,
    mode: u32,
    /// Inode index for regular files.
    inode: usize,
    target: Option<String>,
    segment: usize,
}

#[derive(Debug, Default, Clone)]
struct Inode {
    size: u64,
    data: Option<Vec<u8>>,
    wanted: bool,
}

enum Lookup {
    Dir,
    Symlink(String),
    Other,
}

/// Path bytes looked up while resolving names, in total for one walk (or one
/// [`Listing::resolve`]). Each resolution is linear in the components it processes (at most
/// [`MAX_SYMLINKS`] + 1 paths of `PATH_MAX`), but an image of many entries named through a
/// long symlinked chain (`s/x` with `s` → `d/d/d/…`) would multiply that by the number of
/// entries; a real initramfs looks up a few MB.
const MAX_RESOLVE_BYTES: u64 = 256 << 20;
/// Entries and name bytes the tree model may hold: names are at most PATH_MAX each, but the
/// decode budget allows gigabytes of them.
const MAX_TREE_NODES: usize = 1_000_000;
const MAX_TREE_BYTES: u64 = 256 << 20;
const RESOLVE_BUDGET: &str = "path resolution budget exceeded (more than 256 MiB of path components looked up; symlinks to long directory chains)";

/// Resolves a path through symlinks; `Err` if a parent is missing or not a directory, on a
/// loop, or when the lookups counted in `spent` pass [`MAX_RESOLVE_BYTES`].
///
/// The candidate path is kept incrementally (one push or truncate per component) and the
/// "is this the last component" test uses a running count, so a resolution costs
/// O(components × component length) plus the lookups.
fn resolve_in(
    lookup: impl Fn(&str) -> Option<Lookup>,
    path: &str,
    follow_last: bool,
    allow_missing: bool,
    spent: &std::cell::Cell<u64>,
) -> std::result::Result<String, &'static str> {
    let real = |c: &str| !c.is_empty() && c != ".";
    // `cand` is the resolved prefix; `ends` the length of `cand` before each component.
    let mut cand = String::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut todo: std::collections::VecDeque<String> =
        path.split('/').map(str::to_string).collect();
    // Components in `todo` that are neither empty nor ".".
    let mut pending = todo.iter().filter(|c| real(c)).count();
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if !real(&c) {
            continue;
        }
        pending = pending.saturating_sub(1);
        if c == ".." {
            if let Some(end) = ends.pop() {
                cand.truncate(end);
            }
            continue;
        }
        let last = pending == 0;
        let before = cand.len();
        if !cand.is_empty() {
            cand.push('/');
        }
        cand.push_str(&c);
        let total = spent.get().saturating_add(cand.len() as u64);
        spent.set(total);
        if total > MAX_RESOLVE_BYTES {
            return Err(RESOLVE_BUDGET);
        }
        let found = lookup(&cand);
        match found {
            Some(Lookup::Symlink(target)) if !last || follow_last => {
                cand.truncate(before);
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err("too many levels of symbolic links");
                }
                if target.starts_with('/') {
                    cand.clear();
                    ends.clear();
                }
                for t in target.split('/').rev() {
                    if real(t) {
                        pending = pending.saturating_add(1);
                    }
                    todo.push_front(t.to_string());
                }
            }
            Some(Lookup::Dir) => ends.push(before),
            Some(_) => {
                if last {
                    ends.push(before)
                } else {
                    return Err("a parent is not a directory");
                }
            }
            None => {
                if last || allow_missing {
                    ends.push(before)
                } else {
                    return Err("a parent directory does not exist");
                }
            }
        }
    }
    Ok(cand)
}

/// The rootfs model the entries are replayed on.
#[derive(Default)]
struct Fs {
    nodes: BTreeMap<String, Node>,
    inodes: Vec<Inode>,
    /// Hard-link table of the current archive: (major, minor, ino, mode) → canonical path.
    hardlinks: HashMap<(u32, u32, u32, u32), String>,
    /// Path bytes looked up so far (see [`MAX_RESOLVE_BYTES`]).
    resolved: std::cell::Cell<u64>,
    /// Path and symlink-target bytes of the entries replayed so far (see [`MAX_TREE_BYTES`]).
    stored: u64,
}

impl Fs {
    fn lookup(&self, p: &str) -> Option<Lookup> {
        self.nodes.get(p).map(|n| match n.kind {
            FileKind::Dir => Lookup::Dir,
            FileKind::Symlink => Lookup::Symlink(n.target.clone().unwrap_or_default()),
            _ => Lookup::Other,
        })
    }

    /// Fails the walk once name resolution has used up its budget (the entries would
    /// otherwise be reported as dropped by the kernel, which they are not).
    fn check_budget(&self) -> Result<()> {
        if self.resolved.get() > MAX_RESOLVE_BYTES {
            return Err(InitrdError::new(RESOLVE_BUDGET));
        }
        if self.stored > MAX_TREE_BYTES || self.nodes.len() > MAX_TREE_NODES {
            return Err(InitrdError::new(format!(
                "tree budget exceeded: more than {MAX_TREE_NODES} entries or {} MiB of names \
                 (a real initramfs has a few thousand)",
                MAX_TREE_BYTES >> 20
            )));
        }
        Ok(())
    }

    fn canonical(&self, name: &str) -> Option<String> {
        resolve_in(|p| self.lookup(p), name, false, false, &self.resolved).ok()
    }

    fn linked_wanted(&self, h: &Header) -> bool {
        h.nlink >= 2
            && self
                .hardlinks
                .get(&(h.devmajor, h.devminor, h.ino, h.mode))
                .and_then(|p| self.nodes.get(p))
                .and_then(|n| self.inodes.get(n.inode))
                .is_some_and(|i| i.wanted && i.data.is_some())
    }

    fn has_children(&self, p: &str) -> bool {
        let prefix = format!("{p}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// `clean_path`: remove an existing path of another type (`kind` None = any type).
    /// Returns false if a non-empty directory stays in the way.
    fn clean_path(&mut self, p: &str, kind: Option<FileKind>) -> bool {
        let Some(old) = self.nodes.get(p) else {
            return true;
        };
        if Some(old.kind) == kind {
            return true;
        }
        if old.kind == FileKind::Dir && self.has_children(p) {
            return false;
        }
        self.nodes.remove(p);
        true
    }

    /// Replays one entry (`do_name` / `do_symlink`); Err = the kernel drops it (message).
    fn apply(&mut self, e: &Entry, data: Option<Vec<u8>>) -> std::result::Result<(), String> {
        if e.name.is_empty() {
            // "." : the root directory; mkdir fails with EEXIST, chmod applies. Nothing to model.
            return Ok(());
        }
        let path = resolve_in(|p| self.lookup(p), &e.name, false, false, &self.resolved)
            .map_err(|m| format!("{:?} dropped by the kernel: {m}", e.name))?;
        let target_len = e.target.as_ref().map_or(0, String::len);
        self.stored = self
            .stored
            .saturating_add(path.len() as u64)
            .saturating_add(target_len as u64);
        let perm = e.mode & 0o7777;
        match e.kind {
            FileKind::Dir => {
                if !self.clean_path(&path, Some(FileKind::Dir)) {
                    return Err(format!("{path:?}: non-empty directory in the way"));
                }
                let node = self.nodes.entry(path).or_insert(Node {
                    kind: FileKind::Dir,
                    mode: perm,
                    inode: 0,
                    target: None,
                    segment: e.segment,
                });
                node.mode = perm;
                node.segment = e.segment;
            }
            FileKind::Symlink => {
                if !self.clean_path(&path, None) {
                    return Err(format!(
                        "symlink {path:?}: a non-empty directory is in the way"
                    ));
                }
                self.nodes.insert(
                    path,
                    Node {
                        kind: FileKind::Symlink,
                        mode: 0o777,
                        inode: 0,
                        target: e.target.clone(),
                        segment: e.segment,
                    },
                );
            }
            FileKind::File => {
                if !self.clean_path(&path, Some(FileKind::File)) {
                    return Err(format!(
                        "file {path:?}: a non-empty directory is in the way"
                    ));
                }
                let key = (e.dev.0, e.dev.1, e.ino, e.mode);
                let mut linked = false;
                if e.nlink >= 2 {
                    match self.hardlinks.get(&key).cloned() {
                        Some(old) => {
                            let old_inode = self
                                .nodes
                                .get(&old)
                                .filter(|n| n.kind == FileKind::File)
                                .map(|n| n.inode);
                            self.clean_path(&path, None);
                            let Some(inode) = old_inode else {
                                return Err(format!("hard link {path:?} to vanished {old:?}"));
                            };
                            self.nodes.insert(
                                path.clone(),
                                Node {
                                    kind: FileKind::File,
                                    mode: perm,
                                    inode,
                                    target: None,
                                    segment: e.segment,
                                },
                            );
                            linked = true;
                        }
                        None => {
                            self.hardlinks.insert(key, path.clone());
                        }
                    }
                }
                let inode = match self.nodes.get(&path) {
                    Some(n) if n.kind == FileKind::File => n.inode,
                    _ => {
                        self.inodes.push(Inode::default());
                        self.inodes.len() - 1
                    }
                };
                self.nodes.insert(
                    path,
                    Node {
                        kind: FileKind::File,
                        mode: perm,
                        inode,
                        target: None,
                        segment: e.segment,
                    },
                );
                if let Some(ino) = self.inodes.get_mut(inode) {
                    // O_TRUNC unless linked; then truncate to the body length if it has one.
                    if !linked || e.size > 0 {
                        ino.size = e.size;
                        ino.wanted = data.is_some();
                        ino.data = data;
                    }
                }
            }
            other => {
                if !self.clean_path(&path, Some(other)) {
                    return Err(format!("{path:?}: non-empty directory in the way"));
                }
                self.nodes.entry(path).or_insert(Node {
                    kind: other,
                    mode: perm,
                    inode: 0,
                    target: None,
                    segment: e.segment,
                });
            }
        }
        Ok(())
    }

    fn listing(&self) -> BTreeMap<String, EntryInfo> {
        self.nodes
            .iter()
            .map(|(p, n)| {
                let size = if n.kind == FileKind::File {
                    self.inodes.get(n.inode).map_or(0, |i| i.size)
                } else {
                    0
                };
                (
                    p.clone(),
                    EntryInfo {
                        path: p.clone(),
                        kind: n.kind,
                        mode: n.mode,
                        size,
                        target: n.target.clone(),
                        segment: n.segment,
                    },
                )
            })
            .collect()
    }

    fn wanted_files(&mut self, want: &dyn Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (p, n) in &self.nodes {
            if n.kind != FileKind::File || !want(p) {
                continue;
            }
            if let Some(data) = self.inodes.get(n.inode).and_then(|i| i.data.as_ref()) {
                out.push((p.clone(), data.clone()));
            }
        }
        out
    }
}

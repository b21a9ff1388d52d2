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
//! The pieces have a file each: the newc header (`newc`), the byte sources (`source`: the
//! image, or one compressed stream through a fixed buffer) and the rootfs model (`rootfs`);
//! this file drives them.
//!
//! Memory stays bounded: uncompressed data is seeked over, compressed data is decoded through
//! a fixed buffer and dropped, only requested files are kept (up to a cap), and the total
//! decoded size is capped (decompression bombs).
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{InitrdError, Result};
use crate::codec::{Codec, StreamDecoder, XzCheck};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Seek};

use super::newc::{clean_name, hex, name_field_len, parse_header, Header, HEADER_LEN};
use super::rootfs::{resolve_in, Entry, Fs, Lookup};
pub use super::rootfs::{EntryInfo, FileKind};
use super::source::{Decoded, Input, Source};

/// Longest name / symlink target the kernel accepts (`PATH_MAX`); longer entries are skipped.
const PATH_MAX: u64 = 4096;

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
            // Counts are at most the image length / 110 and the input only moves forward
            // (pos >= offset): none of these saturates.
            seg.entries = seg.entries.saturating_add(counts.0);
            seg.archives = seg.archives.saturating_add(counts.1);
            seg.size = input.pos.saturating_sub(seg.offset);
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
                    hex(head.get(..6).unwrap_or(&head))
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
        match compressed_head(pos, kind, &head, &mut seg)? {
            Head::Decode => {}
            Head::KernelRefuses(why) => {
                kernel_error = Some(format!("at offset {pos}: {why}"));
                apply = false;
            }
            Head::NotDecoded(why) => {
                // A byte was just peeked at pos, so pos < len: never saturates.
                seg.size = input.len.saturating_sub(pos);
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

/// What the header of a compressed segment says about walking it.
enum Head {
    /// Decode it and replay its entries.
    Decode,
    /// The kernel refuses it (and stops unpacking there): decode it for the listing only.
    KernelRefuses(String),
    /// Recognised but not decoded by remaster: the listing stops here.
    NotDecoded(String),
}

/// Checks the header of a compressed segment at `pos` the way the kernel's decompressors
/// will: an xz check the kernel cannot verify, a gzip header its gunzip cannot skip, a
/// codec remaster does not decode. Records the xz check and the refusal on `seg`.
fn compressed_head(pos: u64, kind: Codec, head: &[u8], seg: &mut Segment) -> Result<Head> {
    match kind {
        Codec::Xz => {
            let check = XzCheck::from_header(head);
            seg.xz_check = check;
            if let Some(c) = check.filter(|c| !c.kernel_accepts()) {
                let why = format!(
                    "xz integrity check {c:?} is not supported by the kernel's xz decoder (use --check=crc32); the kernel will refuse this segment and stop unpacking"
                );
                seg.kernel_refuses = Some(why.clone());
                return Ok(Head::KernelRefuses(why));
            }
            Ok(Head::Decode)
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
            Ok(Head::Decode)
        }
        Codec::Zstd => Ok(Head::Decode),
        other => Ok(Head::NotDecoded(format!(
            "{} segment: recognised but not decoded by remaster; the listing stops here although the kernel (with CONFIG_RD_{}) would go on",
            other.name(),
            other.name().to_uppercase().replace("-LEGACY", "")
        ))),
    }
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
                // The name ends at its NUL, or after PATH_MAX + 1 bytes.
                for _ in 0..=PATH_MAX {
                    let Some(b) = input.peek()? else {
                        return Err(ctx(InitrdError::new("truncated gzip header")));
                    };
                    input.skip(1).map_err(ctx)?;
                    if b == 0 {
                        break;
                    }
                }
            }
            gzip_trailer = true;
        }
        let decoder =
            StreamDecoder::new(seg.compression).map_err(|e| ctx(InitrdError::new(e.0)))?;
        let budget = self.decode_limit.saturating_sub(self.decoded_total);
        let mut dec = Decoded::new(input, decoder, budget, start);
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
            let Some(stored) = t
                .first_chunk::<8>()
                .and_then(|t| t.first_chunk::<4>())
                .map(|crc| u32::from_le_bytes(*crc))
            else {
                return Err(InitrdError::at(
                    consumed_end,
                    "gzip segment truncated (trailer missing)",
                ));
            };
            if Some(stored) != crc {
                self.warnings.push(format!(
                    "gzip segment at offset {start}: CRC32 mismatch (the kernel does not check it)"
                ));
            }
            input.skip(8)?;
        }
        self.decoded_total = self.decoded_total.saturating_add(decoded);
        // The input only moves forward from start: never saturates.
        seg.size = input.pos.saturating_sub(start);
        seg.uncompressed_size = Some(decoded);
        seg.entries = counts.0;
        seg.archives = counts.1;
        Ok(())
    }
}

/// Where an entry starts, and where the next one starts (after its data and padding).
#[derive(Clone, Copy)]
struct EntryAt {
    start: u64,
    next: u64,
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
        let field = name_field_len(h.namesize);
        // The entry's end, rounded up to 4 (padding): past u64 only on a crafted offset.
        let next = start
            .checked_add(HEADER_LEN as u64)
            .and_then(|n| n.checked_add(field))
            .and_then(|n| n.checked_add(body))
            .and_then(|n| n.checked_add(3))
            .map(|n| n & !3)
            .ok_or_else(|| self.err(start, "entry end overflows a 64-bit offset"))?;
        let at = EntryAt { start, next };
        if namesize == 0 || namesize > PATH_MAX {
            self.warn_at(
                w,
                start,
                format!("entry with name size {namesize} skipped (the kernel ignores it)"),
            );
            return self.skip_rest(src, at);
        }
        let mut name_buf = vec![0u8; field as usize];
        if !src.read_exact_or_eof(&mut name_buf)? {
            return Err(self.err(start, "truncated cpio name"));
        }
        // namesize counts the NUL: its last byte must be one (1 <= namesize <= PATH_MAX here).
        let name_end = name_buf
            .get(..namesize as usize)
            .and_then(<[u8]>::split_last);
        if name_end.is_none_or(|(last, _)| *last != 0) {
            return Err(self.err(start, "cpio name is not NUL-terminated"));
        }
        let name_bytes = name_buf.split(|b| *b == 0).next().unwrap_or_default();
        let raw_name = String::from_utf8_lossy(name_bytes).into_owned();
        // Each entry takes at least HEADER_LEN bytes of a u64-sized stream: the counts
        // never saturate.
        if raw_name == "TRAILER!!!" {
            counts.1 = counts.1.saturating_add(1);
            w.fs.hardlinks.clear();
            return self.skip_rest(src, at);
        }
        counts.0 = counts.0.saturating_add(1);
        let name = clean_name(&raw_name).map_err(|m| self.err(start, m))?;
        let Some(kind) = FileKind::from_mode(h.mode) else {
            self.warn_at(
                w,
                start,
                format!(
                    "{raw_name:?} has unknown file type (mode {:o}); the kernel ignores it",
                    h.mode
                ),
            );
            return self.skip_rest(src, at);
        };
        let entry = Entry {
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
            FileKind::Symlink => self.symlink_entry(src, w, at, entry, &raw_name, apply),
            FileKind::File => self.file_entry(src, w, at, entry, &h, apply),
            _ => {
                if body > 0 {
                    // do_header: a non-file with a body is skipped entirely.
                    self.warn_at(
                        w,
                        start,
                        format!("{raw_name:?} is not a regular file but has {body} data bytes; the kernel skips it"),
                    );
                } else if apply {
                    self.apply_entry(w, start, &entry, None);
                }
                self.skip_rest(src, at)
            }
        }
    }

    /// A symlink: its target is the entry's data (at most PATH_MAX, as the kernel reads it).
    fn symlink_entry<S: Source>(
        &mut self,
        src: &mut S,
        w: &mut Walker<'_>,
        at: EntryAt,
        mut entry: Entry,
        raw_name: &str,
        apply: bool,
    ) -> Result<()> {
        let body = entry.size;
        if body > PATH_MAX {
            self.warn_at(
                w,
                at.start,
                format!(
                    "symlink {raw_name:?} target longer than PATH_MAX skipped (as the kernel does)"
                ),
            );
            return self.skip_rest(src, at);
        }
        let mut t = vec![0u8; body as usize];
        if !src.read_exact_or_eof(&mut t)? {
            return Err(self.err(at.start, "truncated symlink target"));
        }
        if apply {
            let target = t.split(|b| *b == 0).next().unwrap_or_default();
            entry.target = Some(String::from_utf8_lossy(target).into_owned());
            self.apply_entry(w, at.start, &entry, None);
        }
        self.skip_rest(src, at)
    }

    /// A regular file: its data is read only when it is wanted (or checksummed, 070702);
    /// otherwise seeked over.
    fn file_entry<S: Source>(
        &mut self,
        src: &mut S,
        w: &mut Walker<'_>,
        at: EntryAt,
        entry: Entry,
        h: &Header,
        apply: bool,
    ) -> Result<()> {
        let (start, body) = (at.start, entry.size);
        let canon = if apply {
            w.fs.canonical(&entry.name)
        } else {
            None
        };
        let wanted =
            canon.as_deref().is_some_and(|c| (w.want)(c)) || (apply && w.fs.linked_wanted(h));
        let mut data = None;
        if wanted || h.crc {
            let cap_after = match w.cap_left.checked_sub(body) {
                Some(c) => c,
                None if wanted => {
                    return Err(self.err(
                        start,
                        format!("requested file {:?} ({body} bytes) exceeds the remaining read cap of {} bytes", entry.name, w.cap_left),
                    ))
                }
                None => 0,
            };
            let mut sum = 0u32;
            let mut buf = Vec::new();
            let mut left = body;
            while left > 0 {
                let chunk = src.fill()?;
                if chunk.is_empty() {
                    return Err(self.err(start, "truncated file data"));
                }
                // The first `left` bytes of the chunk, or all of it when shorter.
                let part = usize::try_from(left)
                    .ok()
                    .and_then(|l| chunk.get(..l))
                    .unwrap_or(chunk);
                if h.crc {
                    sum = part.iter().fold(sum, |s, b| s.wrapping_add(u32::from(*b)));
                }
                if wanted {
                    buf.extend_from_slice(part);
                }
                let n = part.len();
                src.consume(n);
                // n <= left: never saturates.
                left = left.saturating_sub(n as u64);
            }
            if h.crc && sum != h.checksum {
                return Err(self.err(
                    start,
                    format!("bad checksum for {:?} (070702 archive)", entry.name),
                ));
            }
            if wanted {
                w.cap_left = cap_after;
                data = Some(buf);
            }
        }
        if apply {
            self.apply_entry(w, start, &entry, data);
        }
        self.skip_rest(src, at)
    }

    /// Replays an entry on the rootfs model; what the kernel would refuse becomes a warning.
    fn apply_entry(&self, w: &mut Walker<'_>, start: u64, entry: &Entry, data: Option<Vec<u8>>) {
        if let Err(m) = w.fs.apply(entry, data) {
            self.warn_at(w, start, m);
        }
    }

    /// A warning about the entry at `start`, located as errors are.
    fn warn_at(&self, w: &mut Walker<'_>, start: u64, message: impl std::fmt::Display) {
        let place = self.err(start, "").message;
        w.warnings
            .push(format!("{}: {message}", place.trim_end_matches(": ")));
    }

    /// Skips to the next entry (the data not read, and the padding).
    fn skip_rest<S: Source>(&self, src: &mut S, at: EntryAt) -> Result<()> {
        let here = src.pos();
        src.skip(at.next.saturating_sub(here))
            .map_err(|e| self.err(at.start, format!("entry data: {}", e.message)))
    }
}

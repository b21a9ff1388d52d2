//! Reading an arm64 kernel: the three forms an aarch64 `vmlinuz` takes, and the facts the
//! module loader checks against, found in the flat `Image`.
//!
//! Forms (`Documentation/arch/arm64/booting.rst`, `drivers/firmware/efi/libstub/zboot-header.S`):
//! - **`Image`**: `objcopy -O binary` of vmlinux with a 64-byte header, `ARM\x64` at 0x38,
//!   and (with the EFI stub) a PE/COFF `MZ` header at 0. Debian 12 ships this as
//!   `/boot/vmlinuz-*-arm64` (6.1 and 6.12, observed), the aarch64 boot ISO's kernel.
//! - **`Image.gz`** (or another codec): the whole file is one compressed stream of an Image.
//! - **EFI zboot** (`CONFIG_EFI_ZBOOT`, 6.1+): a small PE/COFF decompressor; `zimg` at 4,
//!   the payload's offset (u32 at 8) and size (u32 at 12), and the compression's name
//!   (NUL-terminated at 24, e.g. `gzip`, `zstd22`). The payload is a compressed Image.
//!
//! The Image is not an ELF file: it has no section headers and no symbols, so `__ksymtab*`
//! cannot be found by name as in a bzImage's payload. They are found by their shape instead,
//! which the linker script (`include/asm-generic/vmlinux.lds.h`, `RO_DATA`) fixes:
//! `__ksymtab` (12-byte PREL32 `struct kernel_symbol`s sorted by name), `__ksymtab_gpl`
//! (likewise), `__kcrctab` and `__kcrctab_gpl` (u32 CRCs parallel to them), then
//! `__ksymtab_strings`, back to back. The entries' offsets are relative to the entry, so
//! they resolve in file offsets without knowing where the Image is loaded. A candidate pair
//! of tables is accepted only if the CRC arrays it implies end exactly where the first string
//! its entries name begins (measured on Debian's 6.1 and 6.12 arm64 Images: 0 bytes apart;
//! every CRC equals the kernel's `Module.symvers`). Hand-written because no crate reads a
//! kernel's export tables out of a flat image.
//!
//! The release comes from `linux_banner` (`Linux version <release> (...) #1 SMP ...`), the
//! vermagic and the built-in certificates from scans of the whole Image (as for a vmlinux
//! without `.rodata`).
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use super::module::Export;
use super::{decompress, KmodError, MAX_KERNEL_SIZE};
use crate::codec::{Codec, Streams};

/// `ARM\x64` at [`IMAGE_MAGIC_AT`] in an arm64 Image header.
pub const IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";
pub const IMAGE_MAGIC_AT: usize = 0x38;
/// `zimg` at offset 4 of an EFI zboot image.
pub const ZBOOT_MAGIC: &[u8; 4] = b"zimg";

/// Which of the arm64 forms a file is, from its first 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// A plain Image (`ARM\x64` at 0x38).
    Image,
    /// An Image compressed as a whole (`Image.gz` ...).
    Compressed(Codec),
    /// An EFI zboot image: payload (offset, size) and the header's compression name.
    Zboot {
        offset: u64,
        size: u64,
        comp_type: String,
    },
}

/// The form of the kernel whose first bytes are `head`; `None` if it is none of them.
pub fn identify(head: &[u8]) -> Option<Form> {
    if head.starts_with(b"MZ") && head.get(4..8) == Some(&ZBOOT_MAGIC[..]) {
        let u32_at = |o: usize| -> Option<u64> {
            let b: [u8; 4] = head.get(o..o.checked_add(4)?)?.try_into().ok()?;
            Some(u64::from(u32::from_le_bytes(b)))
        };
        let comp_type = head
            .get(24..IMAGE_MAGIC_AT)
            .map(|b| b.split(|&c| c == 0).next().unwrap_or_default())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        return Some(Form::Zboot {
            offset: u32_at(8)?,
            size: u32_at(12)?,
            comp_type,
        });
    }
    if head.get(IMAGE_MAGIC_AT..IMAGE_MAGIC_AT.saturating_add(4)) == Some(&IMAGE_MAGIC[..]) {
        return Some(Form::Image);
    }
    match Codec::detect(head) {
        Codec::None => None,
        codec => Some(Form::Compressed(codec)),
    }
}

/// Where the Image's bytes are in a file of form `form` and `len` bytes: (offset, length).
pub fn payload_range(form: &Form, len: u64) -> Result<(u64, u64), KmodError> {
    match form {
        Form::Image | Form::Compressed(_) => Ok((0, len)),
        Form::Zboot { offset, size, .. } => {
            let end = offset.checked_add(*size).filter(|&e| e <= len);
            if end.is_none() || *size == 0 {
                return Err(KmodError::Kernel(format!(
                    "EFI zboot payload ({size} bytes at {offset}) lies outside the {len}-byte \
                     file (truncated?)"
                )));
            }
            Ok((*offset, *size))
        }
    }
}

/// The compression of the payload (`None` for a plain Image).
pub fn payload_codec(form: &Form, payload_head: &[u8]) -> Codec {
    match form {
        Form::Image => Codec::None,
        Form::Compressed(codec) => *codec,
        Form::Zboot { .. } => Codec::detect(payload_head),
    }
}

/// The decompressed Image of a kernel file of form `form`, capped at [`MAX_KERNEL_SIZE`].
pub fn image_bytes<'a>(data: &'a [u8], form: &Form) -> Result<Cow<'a, [u8]>, KmodError> {
    let (offset, size) = payload_range(form, data.len() as u64)?;
    let payload = usize::try_from(offset)
        .ok()
        .and_then(|o| data.get(o..)?.get(..usize::try_from(size).ok()?))
        .ok_or_else(|| KmodError::Kernel("arm64 kernel payload lies outside the file".into()))?;
    let image: Cow<'a, [u8]> = match payload_codec(form, payload) {
        Codec::None if matches!(form, Form::Image) => Cow::Borrowed(payload),
        Codec::None => {
            return Err(KmodError::Kernel(format!(
                "EFI zboot payload has an unknown compression (header says \"{}\")",
                match form {
                    Form::Zboot { comp_type, .. } => comp_type.as_str(),
                    _ => "",
                }
            )))
        }
        codec @ (Codec::Lzo | Codec::Lz4Legacy | Codec::Bzip2) => {
            return Err(KmodError::Kernel(format!(
                "arm64 kernel payload is {}-compressed, which remaster cannot decode \
                 (supported: gzip, xz, zstd, lzma)",
                codec.name()
            )))
        }
        _ => Cow::Owned(
            decompress(payload, MAX_KERNEL_SIZE)
                .map_err(|e| KmodError::Kernel(format!("arm64 kernel payload: {e}")))?
                .1,
        ),
    };
    if image.get(IMAGE_MAGIC_AT..IMAGE_MAGIC_AT.saturating_add(4)) != Some(&IMAGE_MAGIC[..]) {
        return Err(KmodError::Kernel(
            "decompressed kernel is not an arm64 Image (no \"ARM\\x64\" magic at 0x38)".into(),
        ));
    }
    Ok(image)
}

const BANNER: &[u8] = b"Linux version ";
/// Longest banner accepted (a real one is ~200 bytes).
const BANNER_MAX: usize = 512;

/// The banner text after `Linux version ` at `at` (up to the newline or NUL), if it is
/// one: printable, starting with a release (no `%`: format strings say `%s version`).
fn banner_at(data: &[u8], at: usize) -> Option<String> {
    let text = data.get(at.checked_add(BANNER.len())?..)?;
    let text = text.get(..text.len().min(BANNER_MAX))?;
    let end = text.iter().position(|&b| b == b'\n' || b == 0)?;
    let line = text.get(..end)?;
    let release = line.split(|&b| b == b' ').next()?;
    let ok = !release.is_empty()
        && release
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"._+-~".contains(&b))
        && line.iter().all(|&b| (0x20..0x7f).contains(&b));
    ok.then(|| String::from_utf8_lossy(line).into_owned())
}

/// Whether a banner carries a build number (`#1 SMP`): the one `/proc/version` shows. 6.1+
/// also keep a copy without it (`# SMP`, init/version.c's fallback).
fn numbered(banner: &str) -> bool {
    banner
        .split_once(" #")
        .is_some_and(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The kernel_version string (`<release> (builder) (compiler) #1 SMP ...`) of an Image.
pub fn banner(image: &[u8]) -> Option<String> {
    let mut first = None;
    let mut from = 0;
    while let Some(at) = super::find_bytes(image, BANNER, from) {
        from = at.saturating_add(1);
        if let Some(b) = banner_at(image, at) {
            if numbered(&b) {
                return Some(b);
            }
            first.get_or_insert(b);
        }
    }
    first
}

/// [`banner`] over a stream of Image bytes (a plain Image read from the ISO, or a
/// decompressing reader), reading at most `cap` bytes and stopping at the numbered banner.
/// Returns the banner and the bytes read.
pub fn banner_from_reader(mut r: impl Read, cap: u64) -> std::io::Result<(Option<String>, u64)> {
    const CHUNK: usize = 1 << 20;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK.saturating_add(BANNER_MAX));
    let mut read = 0u64;
    let mut first = None;
    loop {
        let keep = buf.len();
        let mut limited = (&mut r).take(CHUNK as u64);
        let n = limited.read_to_end(&mut buf)?;
        read = read.saturating_add(n as u64);
        let done = n == 0 || read >= cap;
        // Banners that start in the new bytes (or the kept tail) and end in the buffer.
        let mut from = keep.saturating_sub(BANNER_MAX);
        while let Some(at) = super::find_bytes(&buf, BANNER, from) {
            from = at.saturating_add(1);
            if let Some(b) = banner_at(&buf, at) {
                if numbered(&b) {
                    return Ok((Some(b), read));
                }
                first.get_or_insert(b);
            }
        }
        if done {
            return Ok((first, read));
        }
        // Keep a tail long enough to hold a banner cut at the chunk's end.
        let tail = buf.len().saturating_sub(BANNER_MAX.saturating_mul(2));
        buf.drain(..tail);
    }
}

/// A reader of the Image inside the payload `r` of form `form` (decompressing if needed).
pub fn image_reader<'a>(
    form: &Form,
    payload_head: &[u8],
    r: impl std::io::BufRead + 'a,
) -> Result<Box<dyn Read + 'a>, KmodError> {
    let codec = payload_codec(form, payload_head);
    if codec == Codec::None && !matches!(form, Form::Image) {
        return Err(KmodError::Kernel(
            "EFI zboot payload has an unknown compression".into(),
        ));
    }
    codec
        .reader(r, Streams::First)
        .map_err(|e| KmodError::Kernel(format!("arm64 kernel payload: {e}")))
}

/// The Image without the Authenticode signature a signed EFI stub ends with (the PE
/// certificate table): the certificates in it vouch for the Image to the firmware; the
/// kernel does not trust them for modules, so they must not be taken for built-in keys.
pub fn without_authenticode(image: &[u8]) -> &[u8] {
    let Ok(pe) = object::read::pe::PeFile64::parse(image) else {
        return image;
    };
    let Some(dir) = pe.data_directory(object::pe::IMAGE_DIRECTORY_ENTRY_SECURITY) else {
        return image;
    };
    match dir.address_range() {
        (_, 0) => image,
        (offset, _) => usize::try_from(offset)
            .ok()
            .and_then(|o| image.get(..o))
            .unwrap_or(image),
    }
}

/// Exported symbols of an Image and whether they carry CRCs (MODVERSIONS).
pub fn exports(image: &[u8]) -> Result<(HashMap<String, Export>, bool), KmodError> {
    let runs = sorted_runs(image);
    let mut best: Option<Tables> = None;
    // Adjacent runs (same stride phase, the second starting where the first ends) are
    // __ksymtab and __ksymtab_gpl; a lone run may be either table with the other empty.
    // (Looked up by start offset: a hostile Image may hold many runs.)
    let by_start: HashMap<usize, usize> = runs.iter().map(|r| (r.start, r.end)).collect();
    for a in &runs {
        let mut candidates = vec![(a.start, a.end, a.end)];
        if let Some(&end) = by_start.get(&a.end) {
            candidates.push((a.start, a.end, end));
        }
        for (start, mid, end) in candidates {
            if let Some(t) = fit_tables(image, start, mid, end) {
                if best.as_ref().is_none_or(|b| t.count() > b.count()) {
                    best = Some(t);
                }
            }
        }
    }
    let tables = best.ok_or_else(|| {
        KmodError::Kernel(
            "arm64 Image: no export table (__ksymtab) found: built without CONFIG_MODULES, \
             or a layout remaster does not know"
                .into(),
        )
    })?;
    let mut out = HashMap::new();
    let n_plain = tables.plain_count();
    for (i, entry) in (tables.start..tables.end).step_by(12).enumerate() {
        let Some(name) = name_at(image, entry) else {
            continue;
        };
        let namespace = target(image, entry.saturating_add(8))
            .and_then(|t| super::c_str_at(image, t))
            .filter(|ns| !ns.is_empty());
        let crc = tables.crcs.then(|| {
            let at = i.checked_mul(4).and_then(|o| tables.end.checked_add(o));
            at.and_then(|at| image.get(at..at.checked_add(4)?))
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
        });
        let name = String::from_utf8_lossy(name).into_owned();
        out.insert(
            name.clone(),
            Export {
                name,
                crc: crc.flatten(),
                gpl_only: i >= n_plain,
                namespace,
            },
        );
    }
    Ok((out, tables.crcs))
}

/// A run of consecutive 12-byte entries whose names are valid and strictly increasing.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
}

/// The two export tables found: entries [start, mid) plain, [mid, end) GPL-only.
struct Tables {
    start: usize,
    mid: usize,
    end: usize,
    crcs: bool,
}

impl Tables {
    fn count(&self) -> usize {
        self.end.saturating_sub(self.start) / 12
    }
    fn plain_count(&self) -> usize {
        self.mid.saturating_sub(self.start) / 12
    }
}

/// Shortest run considered a table (a kernel with modules exports thousands of symbols).
const MIN_RUN: usize = 32;

/// The file offset a PREL32 field at `at` points to.
fn target(image: &[u8], at: usize) -> Option<usize> {
    let b: [u8; 4] = image.get(at..at.checked_add(4)?)?.try_into().ok()?;
    let rel = i64::from(i32::from_le_bytes(b));
    let t = i64::try_from(at).ok()?.checked_add(rel)?;
    usize::try_from(t).ok().filter(|&t| t < image.len())
}

/// The symbol name of the `kernel_symbol` at `entry`: a C identifier, NUL-terminated.
fn name_at(image: &[u8], entry: usize) -> Option<&[u8]> {
    let t = target(image, entry.checked_add(4)?)?;
    let tail = image.get(t..)?;
    let first = *tail.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let end = tail.iter().take(256).position(|&b| b == 0)?;
    let name = tail.get(..end)?;
    name.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$')
        .then_some(name)
}

/// Every maximal run of sorted entries at least [`MIN_RUN`] long, for the three phases of
/// a 12-byte stride over 4-byte-aligned offsets.
fn sorted_runs(image: &[u8]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut close = |start: Option<usize>, end: usize| {
        if let Some(start) = start {
            if end.saturating_sub(start) / 12 >= MIN_RUN {
                runs.push(Run { start, end });
            }
        }
    };
    for phase in [0usize, 4, 8] {
        let mut run_start: Option<usize> = None;
        let mut prev: Option<&[u8]> = None;
        let mut at = phase;
        while at.saturating_add(12) <= image.len() {
            let name = name_at(image, at);
            let extends = matches!((name, prev), (Some(n), Some(p)) if n > p);
            if !extends {
                close(run_start, at);
                run_start = name.map(|_| at);
            }
            prev = name;
            at = at.saturating_add(12);
        }
        close(run_start, at);
    }
    runs
}

/// Checks that entries [start, end) (plain up to mid) are the export tables: the CRC arrays
/// (4 bytes per entry, or none without MODVERSIONS) must end where the lowest string the
/// entries name starts, give or take alignment. A stray sorted entry just before or after
/// a table is trimmed (up to 3 each side).
fn fit_tables(image: &[u8], start: usize, mid: usize, end: usize) -> Option<Tables> {
    for trim_start in 0..4usize {
        for trim_end in 0..4usize {
            let s = start.checked_add(trim_start.checked_mul(12)?)?;
            let e = end.checked_sub(trim_end.checked_mul(12)?)?;
            let m = mid.clamp(s, e);
            if e.saturating_sub(s) / 12 < MIN_RUN {
                continue;
            }
            let lowest = (s..e)
                .step_by(12)
                .filter_map(|entry| target(image, entry.checked_add(4)?))
                .min()?;
            let count = e.saturating_sub(s) / 12;
            let crc_end = e.checked_add(count.checked_mul(4)?)?;
            let crcs = match lowest.checked_sub(crc_end) {
                Some(pad) if pad < 16 => true,
                _ => match lowest.checked_sub(e) {
                    Some(pad) if pad < 16 => false,
                    _ => continue,
                },
            };
            return Some(Tables {
                start: s,
                mid: m,
                end: e,
                crcs,
            });
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests index fixtures they built
mod tests {
    use super::*;

    /// A fake Image: header, then tables of `names` (first `plain` plain), CRCs, strings.
    pub(crate) fn fake_image(names: &[&str], plain: usize, crcs: bool) -> Vec<u8> {
        let mut img = vec![0u8; 0x1000];
        img[0..2].copy_from_slice(b"MZ");
        img[IMAGE_MAGIC_AT..IMAGE_MAGIC_AT + 4].copy_from_slice(IMAGE_MAGIC);
        let banner = b"Linux version 9.9.9-arm64 (x@y) #1 SMP\n\0";
        img[0x200..0x200 + banner.len()].copy_from_slice(banner);
        let magic = b"\09.9.9-arm64 SMP mod_unload modversions aarch64\0";
        img[0x300..0x300 + magic.len()].copy_from_slice(magic);
        let tab = img.len();
        let n = names.len();
        let crc_at = tab + 12 * n;
        let strings = crc_at + if crcs { 4 * n } else { 0 };
        img.resize(strings, 0);
        let mut str_off = strings;
        let mut blob = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let e = tab + 12 * i;
            let name_rel = (str_off as i64 - (e as i64 + 4)) as i32;
            img[e + 4..e + 8].copy_from_slice(&name_rel.to_le_bytes());
            // namespace: the NUL ending this name (the empty string)
            let ns_rel = ((str_off + name.len()) as i64 - (e as i64 + 8)) as i32;
            img[e + 8..e + 12].copy_from_slice(&ns_rel.to_le_bytes());
            if crcs {
                img[crc_at + 4 * i..crc_at + 4 * i + 4]
                    .copy_from_slice(&(0x1000_0000u32 + i as u32).to_le_bytes());
            }
            blob.extend_from_slice(name.as_bytes());
            blob.push(0);
            str_off += name.len() + 1;
        }
        let _ = plain;
        img.extend_from_slice(&blob);
        img.extend_from_slice(&[0u8; 64]);
        img
    }

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i:04}")).collect()
    }

    #[test]
    fn finds_both_tables_and_crcs() {
        let mut all = names("b_sym", 40);
        all.extend(names("a_gpl", 40));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let img = fake_image(&refs, 40, true);
        let (ex, crcs) = exports(&img).unwrap();
        assert!(crcs);
        assert_eq!(ex.len(), 80);
        assert_eq!(ex["b_sym0003"].crc, Some(0x1000_0003));
        assert!(!ex["b_sym0003"].gpl_only);
        assert!(ex["a_gpl0000"].gpl_only);
        assert_eq!(ex["a_gpl0000"].crc, Some(0x1000_0028));
        assert_eq!(ex["a_gpl0000"].namespace, None);
        assert_eq!(banner(&img).as_deref(), Some("9.9.9-arm64 (x@y) #1 SMP"));
    }

    #[test]
    fn no_crcs_and_no_tables() {
        let all = names("sym", 50);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let img = fake_image(&refs, 50, false);
        let (ex, crcs) = exports(&img).unwrap();
        assert!(!crcs);
        assert_eq!(ex["sym0049"].crc, None);
        let err = exports(&img[..0x1000]).unwrap_err().to_string();
        assert!(err.contains("no export table"), "{err}");
    }

    #[test]
    fn forms() {
        let img = fake_image(&["a"], 1, false);
        assert_eq!(identify(&img[..64]), Some(Form::Image));
        assert_eq!(
            identify(b"\x1f\x8b\x08\0rest"),
            Some(Form::Compressed(Codec::Gzip))
        );
        let mut z = vec![0u8; 64];
        z[0..2].copy_from_slice(b"MZ");
        z[4..8].copy_from_slice(ZBOOT_MAGIC);
        z[8..12].copy_from_slice(&0x100u32.to_le_bytes());
        z[12..16].copy_from_slice(&0x20u32.to_le_bytes());
        z[24..28].copy_from_slice(b"gzip");
        let form = identify(&z).unwrap();
        assert_eq!(
            form,
            Form::Zboot {
                offset: 0x100,
                size: 0x20,
                comp_type: "gzip".into()
            }
        );
        assert!(payload_range(&form, 0x110).is_err());
        assert_eq!(payload_range(&form, 0x120).unwrap(), (0x100, 0x20));
        assert_eq!(identify(b"hello world"), None);
    }

    /// Every byte of a small Image flipped, and every truncation: errors, never a panic.
    #[test]
    fn mutated_images_never_panic() {
        let mut all = names("b_sym", 40);
        all.extend(names("a_gpl", 40));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let img = fake_image(&refs, 40, true);
        let parse = |d: &[u8]| {
            let _ = crate::kmod::kernel::Kernel::parse(d);
            let _ = crate::kmod::kernel::read_header(d);
        };
        for at in (0..img.len()).step_by(3) {
            let mut m = img.clone();
            m[at] ^= 0xff;
            parse(&m);
            parse(&img[..at]);
        }
        // zboot headers with hostile offsets and sizes around a gzip'd Image.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &img).unwrap();
        let gz = enc.finish().unwrap();
        for (off, size) in [
            (0u32, 0u32),
            (64, u32::MAX),
            (u32::MAX, 64),
            (u32::MAX, u32::MAX),
            (64, 1),
            (64, gz.len() as u32),
        ] {
            let mut z = vec![0u8; 64];
            z[0..2].copy_from_slice(b"MZ");
            z[4..8].copy_from_slice(ZBOOT_MAGIC);
            z[8..12].copy_from_slice(&off.to_le_bytes());
            z[12..16].copy_from_slice(&size.to_le_bytes());
            z.extend_from_slice(&gz);
            parse(&z);
            let _ = crate::kmod::kernel::read_header_from(std::io::Cursor::new(&z), z.len() as u64);
        }
    }

    #[test]
    fn streamed_banner_matches() {
        let mut img = vec![b'x'; (1 << 20) - 20];
        img.extend_from_slice(b"\0Linux version 1.2.3 (a) # SMP\n\0");
        img.extend_from_slice(&vec![b'y'; 3 << 20]);
        img.extend_from_slice(b"\0Linux version 1.2.3 (a) #7 SMP\n\0");
        let (b, _) = banner_from_reader(&img[..], u64::MAX).unwrap();
        assert_eq!(b.as_deref(), Some("1.2.3 (a) #7 SMP"));
        assert_eq!(banner(&img), b);
        let (b, read) = banner_from_reader(&img[..], 2 << 20).unwrap();
        assert_eq!(b.as_deref(), Some("1.2.3 (a) # SMP"));
        assert!(read <= 2 << 20);
    }
}

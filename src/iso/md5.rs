//! isomd5sum: the media checksum implanted in the primary volume descriptor.
//!
//! Hand-written because no crate implements isomd5sum's implanted format; the MD5 itself
//! is `iso::digest` (a latency-ordered MD5). The byte layout and the fragment rule reproduce
//! isomd5sum 1.2.3 (`implantisomd5` / `checkisomd5`) exactly, so `checkisomd5` accepts what
//! we implant and the 512-byte field is byte-identical to `implantisomd5 --force`:
//!
//! - the digest covers bytes `[0, volume_size - 15 * 2048)` of the image, with the
//!   512-byte application-use field of the PVD (absolute byte 0x8373) read as spaces;
//! - the data is hashed in 32 KiB chunks from offset 0; after a chunk that started at
//!   `offset` is hashed, if `offset / (total / 21)` changed, a copy of the running MD5 is
//!   finalised and the first character of `printf("%x")` of each of its first three bytes
//!   is appended to the fragment sums (20 fragments, 60 characters).

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::digest::Md5;
use super::format::iso9660::{vd, FIRST_DESCRIPTOR_SECTOR};
use serde::Serialize;

/// ISO 9660 logical sector size.
pub const SECTOR_SIZE: u64 = super::SECTOR;
/// Byte offset of the primary volume descriptor (sector 16). isomd5sum only supports a PVD
/// in this position (its search loop for later positions is broken).
pub const PVD_OFFSET: u64 = FIRST_DESCRIPTOR_SECTOR as u64 * SECTOR_SIZE;
/// Offset of the application-use field inside the PVD (ECMA-119 8.4.32).
const APPDATA_IN_PVD: u64 = vd::APP_USE as u64;
/// Absolute byte offset of the implanted field (0x8373).
pub const APPDATA_OFFSET: u64 = PVD_OFFSET + APPDATA_IN_PVD;
/// Length of the application-use field.
pub const APPDATA_LEN: usize = vd::APP_USE_LEN;
/// Sectors at the end of the volume that isomd5sum leaves out (burned-CD read problems).
pub const SKIP_SECTORS: u64 = 15;
/// Number of fragment checkpoints implantisomd5 writes.
pub const FRAGMENT_COUNT: u64 = 20;
/// Length of the fragment sum string (3 characters per fragment).
const FRAGMENT_SUM_LEN: usize = 60;
/// isomd5sum reads 16 sectors at a time; the fragment rule depends on this chunking.
const CHUNK: usize = 16 * SECTOR_SIZE as usize;
/// Offset of the big-endian half of the volume space size inside the PVD.
const VOLUME_SIZE_BE_IN_PVD: u64 = vd::VOLUME_SPACE_SIZE_BE as u64;

/// The parsed (or computed) content of the implanted field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImplantField {
    /// `ISO MD5SUM`: 32 lower-case hex characters as stored.
    pub md5: String,
    /// `SKIPSECTORS`.
    pub skip_sectors: i64,
    /// `RHLISOSTATUS` (1 only with `implantisomd5 --supported-iso`).
    pub supported: bool,
    /// `FRAGMENT SUMS`: as stored (checkisomd5 takes 60 characters, whatever they are).
    pub fragment_sums: String,
    /// `FRAGMENT COUNT`.
    pub fragment_count: i64,
}

impl ImplantField {
    /// The 512-byte field text exactly as implantisomd5 writes it, space padded.
    pub fn to_bytes(&self) -> io::Result<[u8; APPDATA_LEN]> {
        let text = format!(
            "ISO MD5SUM = {};SKIPSECTORS = {};RHLISOSTATUS={};FRAGMENT SUMS = {};FRAGMENT COUNT = {};THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS ISO!!",
            self.md5,
            self.skip_sectors,
            u8::from(self.supported),
            self.fragment_sums,
            self.fragment_count
        );
        let mut out = [b' '; APPDATA_LEN];
        // implantisomd5 refuses when the text would reach the last byte.
        if text.len() >= APPDATA_LEN {
            return Err(invalid_data(format!(
                "isomd5sum field text is {} bytes, more than fits in the {APPDATA_LEN}-byte application-use field",
                text.len()
            )));
        }
        out.get_mut(..text.len())
            .ok_or_else(|| invalid_data("isomd5sum field too long"))?
            .copy_from_slice(text.as_bytes());
        Ok(out)
    }
}

/// Why an implanted checksum does not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    /// Fragment checkpoint `index` (1-based, of `count`) differs: the data before that point
    /// changed. checkisomd5 stops here.
    Fragment { index: u64, count: i64 },
    /// Every fragment matched but the full MD5 differs (a change in the last fragment).
    Full { expected: String, computed: String },
    /// The file ends before the end of the checksummed range.
    Truncated { file_len: u64, needed: u64 },
    /// The field cannot be checked (sizes in it do not make sense for this volume).
    Unusable { reason: String },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Fragment { index, count } => {
                write!(f, "fragment {index} of {count} does not match")
            }
            Mismatch::Full { expected, computed } => {
                write!(f, "MD5 {computed} does not match the implanted {expected}")
            }
            Mismatch::Truncated { file_len, needed } => write!(
                f,
                "file is {file_len} bytes but the checksum covers {needed} bytes (truncated image?)"
            ),
            Mismatch::Unusable { reason } => write!(f, "{reason}"),
        }
    }
}

/// Result of [`check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Md5Status {
    /// No implanted checksum (checkisomd5: "No checksum information found").
    Absent,
    /// The implanted checksum matches (checkisomd5 exit 0).
    Valid { field: ImplantField },
    /// The implanted checksum does not match (checkisomd5 exit 1).
    Invalid {
        field: ImplantField,
        mismatch: Mismatch,
    },
}

fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Parse a 512-byte application-use field the way isomd5sum 1.2.3 does. Returns `None`
/// when it carries no checksum (needs at least `ISO MD5SUM` and `SKIPSECTORS`).
pub fn parse_field(field: &[u8]) -> Option<ImplantField> {
    // isomd5sum copies the 512 bytes and terminates them at the last byte.
    let mut buf = [0u8; APPDATA_LEN];
    let n = field.len().min(APPDATA_LEN - 1);
    buf.get_mut(..n)?.copy_from_slice(field.get(..n)?);
    let at = |i: usize| buf.get(i).copied().unwrap_or(0);
    let starts_with =
        |i: usize, s: &str| -> bool { s.bytes().enumerate().all(|(k, b)| at(i + k) == b) };
    // Text from `i` up to the next ';' (or the end), strtol-parsed; the whole text must be
    // numeric like isomd5sum's check (`*endptr == '\0'`).
    let number_until_semicolon = |i: usize| -> Option<(i64, usize)> {
        let mut end = i;
        while end < APPDATA_LEN && at(end) != b';' && at(end) != 0 {
            end += 1;
        }
        // A NUL inside the text terminates the C string before the ';'.
        let text = std::str::from_utf8(buf.get(i..end)?).ok()?;
        let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
        let value = if trimmed.is_empty() {
            0
        } else {
            trimmed.parse::<i64>().ok()?
        };
        // isomd5sum continues right after the number text (at the ';').
        let mut next = end;
        while next < APPDATA_LEN && at(next) != b';' {
            next += 1;
        }
        Some((value, next))
    };

    let mut md5: Option<String> = None;
    let mut skip: Option<i64> = None;
    let mut supported: Option<bool> = None;
    let mut sums: Option<String> = None;
    let mut count: Option<i64> = None;
    let mut i = 0usize;
    while i < APPDATA_LEN {
        if starts_with(i, "ISO MD5SUM = ") {
            i += 13;
            if i + 32 >= APPDATA_LEN {
                return None;
            }
            md5 = Some(String::from_utf8_lossy(buf.get(i..i + 32)?).into_owned());
            i += 32;
            while i < APPDATA_LEN && at(i) != b';' {
                i += 1;
            }
        } else if starts_with(i, "SKIPSECTORS = ") {
            if let Some((v, next)) = number_until_semicolon(i + 14) {
                skip = Some(v);
                i = next;
                if i >= APPDATA_LEN {
                    return None;
                }
            }
        } else if starts_with(i, "RHLISOSTATUS=") {
            if let Some((v, next)) = number_until_semicolon(i + 13) {
                supported = Some(v != 0);
                i = next;
            }
        } else if starts_with(i, "FRAGMENT SUMS = ") {
            i += 16;
            if i + FRAGMENT_SUM_LEN >= APPDATA_LEN {
                return None;
            }
            let raw = buf.get(i..i + FRAGMENT_SUM_LEN)?;
            // The C string stops at a NUL.
            let raw = raw.split(|&b| b == 0).next().unwrap_or(&[]);
            sums = Some(String::from_utf8_lossy(raw).into_owned());
            i += FRAGMENT_SUM_LEN;
            while i < APPDATA_LEN && at(i) != b';' {
                i += 1;
            }
        } else if starts_with(i, "FRAGMENT COUNT = ") {
            if let Some((v, next)) = number_until_semicolon(i + 17) {
                count = Some(v);
                i = next;
            }
        }
        i += 1;
        if md5.is_some()
            && skip.is_some()
            && supported.is_some()
            && sums.is_some()
            && count.is_some()
        {
            break;
        }
    }
    Some(ImplantField {
        md5: md5?,
        skip_sectors: skip?,
        supported: supported.unwrap_or(false),
        fragment_sums: sums.unwrap_or_default(),
        // isomd5sum's defaults when the key is missing.
        fragment_count: count.unwrap_or(FRAGMENT_COUNT as i64),
    })
}

/// Read the PVD: checks it sits at sector 16 and returns (volume size in bytes, field).
fn read_pvd<R: Read + Seek>(r: &mut R) -> io::Result<(u64, [u8; APPDATA_LEN])> {
    let mut pvd = [0u8; SECTOR_SIZE as usize];
    r.seek(SeekFrom::Start(PVD_OFFSET))?;
    r.read_exact(&mut pvd).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            invalid_data("not an ISO 9660 image: file ends before the primary volume descriptor")
        } else {
            e
        }
    })?;
    if pvd.get(vd::TYPE) != Some(&vd::TYPE_PRIMARY) || !vd::has_standard_id(&pvd) {
        return Err(invalid_data(
            "not an ISO 9660 image: no primary volume descriptor at sector 16",
        ));
    }
    let be = pvd
        .get(VOLUME_SIZE_BE_IN_PVD as usize..VOLUME_SIZE_BE_IN_PVD as usize + 4)
        .ok_or_else(|| invalid_data("short PVD"))?;
    let sectors = u32::from_be_bytes([be[0], be[1], be[2], be[3]]);
    let mut field = [0u8; APPDATA_LEN];
    field.copy_from_slice(
        pvd.get(APPDATA_IN_PVD as usize..APPDATA_IN_PVD as usize + APPDATA_LEN)
            .ok_or_else(|| invalid_data("short PVD"))?,
    );
    Ok((u64::from(sectors) * SECTOR_SIZE, field))
}

/// Read the implanted field without hashing anything (cheap; for `inspect`).
pub fn read_field<R: Read + Seek>(r: &mut R) -> io::Result<Option<ImplantField>> {
    let (_, field) = read_pvd(r)?;
    Ok(parse_field(&field))
}

/// Volume size in bytes from the PVD (big-endian u32 at PVD + 84, × 2048).
pub fn volume_size<R: Read + Seek>(r: &mut R) -> io::Result<u64> {
    Ok(read_pvd(r)?.0)
}

/// Streaming isomd5sum digest: feed the image bytes in order from offset 0 (any slicing);
/// the application-use field is read as spaces and bytes past the digest range are
/// ignored. Lets a writer compute the checksum on the fly while it writes the image.
#[derive(Clone)]
pub struct Md5Stream {
    total: u64,
    fragment_size: u64,
    fragment_chars: usize,
    hasher: Md5,
    pos: u64,
    chunk_fill: usize,
    previous_fragment: u64,
    fragments: Vec<(u64, String)>,
    /// The record's fields that the digest does not decide (written by [`Md5Stream::finish`]).
    skip_sectors: i64,
    fragment_count: i64,
    supported: bool,
}

impl Md5Stream {
    /// A stream for an image whose PVD volume size is `volume_bytes`, with implantisomd5's
    /// parameters (15 skipped sectors, 20 fragments).
    pub fn new(volume_bytes: u64) -> io::Result<Self> {
        Self::with_params(volume_bytes, SKIP_SECTORS as i64, FRAGMENT_COUNT as i64)
    }

    /// A stream for the output of an edit whose input carried the 512-byte application-use
    /// field `input_field`: the new record keeps every field of the input's isomd5sum
    /// record that the edit does not change (`RHLISOSTATUS`, i.e. the "supported" flag of
    /// `implantisomd5 --supported-iso`, and `SKIPSECTORS` / `FRAGMENT COUNT`); only the
    /// digest and the fragment sums are new. Without a record in the input, or with
    /// parameters no checker could use for this volume, implantisomd5's defaults apply.
    pub fn for_output(volume_bytes: u64, input_field: &[u8]) -> io::Result<Self> {
        let Some(old) = parse_field(input_field) else {
            return Self::new(volume_bytes);
        };
        let mut stream = Self::with_params(volume_bytes, old.skip_sectors, old.fragment_count)
            .or_else(|_| Self::new(volume_bytes))?;
        stream.supported = old.supported;
        Ok(stream)
    }

    /// A stream with the parameters read from an implanted field (for checking).
    pub fn with_params(
        volume_bytes: u64,
        skip_sectors: i64,
        fragment_count: i64,
    ) -> io::Result<Self> {
        let skip = u64::try_from(skip_sectors)
            .ok()
            .and_then(|s| s.checked_mul(SECTOR_SIZE))
            .ok_or_else(|| invalid_data(format!("invalid SKIPSECTORS {skip_sectors}")))?;
        let count = u64::try_from(fragment_count)
            .map_err(|_| invalid_data(format!("invalid FRAGMENT COUNT {fragment_count}")))?;
        let total = volume_bytes.saturating_sub(skip);
        let fragment_size = total / count.saturating_add(1);
        if total == 0 || (count > 0 && fragment_size == 0) {
            return Err(invalid_data(format!(
                "volume of {volume_bytes} bytes is too small for an isomd5sum checksum"
            )));
        }
        let fragment_chars = (FRAGMENT_SUM_LEN as u64).checked_div(count).unwrap_or(0) as usize;
        Ok(Md5Stream {
            total,
            fragment_size,
            fragment_chars,
            hasher: Md5::new(),
            pos: 0,
            chunk_fill: 0,
            previous_fragment: 0,
            fragments: Vec::new(),
            skip_sectors,
            fragment_count,
            supported: false,
        })
    }

    /// Length of the digest range (volume size minus the skipped sectors).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes consumed so far (capped at [`Md5Stream::total`]).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// True once the whole digest range has been fed.
    pub fn is_complete(&self) -> bool {
        self.pos >= self.total
    }

    /// Fragment checkpoints reached so far: (fragment index, its characters).
    pub fn fragments(&self) -> &[(u64, String)] {
        &self.fragments
    }

    /// Feed the next bytes of the image.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.pos < self.total {
            let room_in_chunk = CHUNK - self.chunk_fill;
            let left = usize::try_from(self.total - self.pos).unwrap_or(usize::MAX);
            let n = data.len().min(room_in_chunk).min(left);
            let (piece, rest) = data.split_at(n);
            self.hash_blanking_appdata(piece);
            self.pos += n as u64;
            self.chunk_fill += n;
            if self.chunk_fill == CHUNK || self.pos == self.total {
                let chunk_start = self.pos - self.chunk_fill as u64;
                self.chunk_fill = 0;
                self.end_of_chunk(chunk_start);
            }
            data = rest;
        }
    }

    fn hash_blanking_appdata(&mut self, piece: &[u8]) {
        let start = self.pos;
        let end = start + piece.len() as u64;
        let app_end = APPDATA_OFFSET + APPDATA_LEN as u64;
        if end <= APPDATA_OFFSET || start >= app_end {
            self.hasher.update(piece);
            return;
        }
        let blank_from = APPDATA_OFFSET.max(start) - start;
        let blank_to = app_end.min(end) - start;
        let (before, rest) = piece.split_at(blank_from as usize);
        let (_, after) = rest.split_at((blank_to - blank_from) as usize);
        self.hasher.update(before);
        self.hasher
            .update(&[b' '; APPDATA_LEN][..(blank_to - blank_from) as usize]);
        self.hasher.update(after);
    }

    fn end_of_chunk(&mut self, chunk_start: u64) {
        if self.fragment_size == 0 {
            return;
        }
        let current = chunk_start / self.fragment_size;
        if current != self.previous_fragment {
            let digest = self.hasher.clone().finalize();
            let chars: String = digest
                .iter()
                .take(self.fragment_chars.min(16))
                .filter_map(|b| format!("{b:x}").chars().next())
                .collect();
            self.fragments.push((current, chars));
            self.previous_fragment = current;
        }
    }

    /// The field implantisomd5 would write for these bytes. Errors if the range was not
    /// fed completely.
    pub fn finish(self) -> io::Result<ImplantField> {
        if !self.is_complete() {
            return Err(invalid_data(format!(
                "image ends at byte {} but the isomd5sum range needs {} bytes (truncated image?)",
                self.pos, self.total
            )));
        }
        let digest = self.hasher.finalize();
        let md5: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let fragment_sums: String = self.fragments.iter().map(|(_, s)| s.as_str()).collect();
        Ok(ImplantField {
            md5,
            skip_sectors: self.skip_sectors,
            supported: self.supported,
            fragment_sums,
            fragment_count: self.fragment_count,
        })
    }

    fn full_hex(&self) -> String {
        self.hasher
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Read into `buf` until it is full or the reader ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(buf.get_mut(filled..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Feed `stream` from `r` (positioned at 0) in 32 KiB chunks; `on_chunk` may stop early by
/// returning false. Returns false when the file ended before the range did.
fn drive<R: Read + Seek>(
    r: &mut R,
    stream: &mut Md5Stream,
    progress: &mut dyn FnMut(u64, u64),
    mut on_chunk: impl FnMut(&Md5Stream) -> bool,
) -> io::Result<bool> {
    r.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; CHUNK];
    progress(0, stream.total());
    while !stream.is_complete() {
        let want = usize::try_from(stream.total() - stream.position())
            .unwrap_or(CHUNK)
            .min(CHUNK);
        let got = read_full(r, buf.get_mut(..want).unwrap_or(&mut []))?;
        if got == 0 {
            return Ok(false);
        }
        stream.update(buf.get(..got).unwrap_or(&[]));
        progress(stream.position(), stream.total());
        if !on_chunk(stream) {
            break;
        }
    }
    Ok(true)
}

/// Compute the field implantisomd5 would implant into this image (read-only).
pub fn compute<R: Read + Seek>(r: &mut R) -> io::Result<ImplantField> {
    compute_with_progress(r, &mut |_, _| {})
}

/// [`compute`] with a progress callback `(bytes done, bytes total)`.
pub fn compute_with_progress<R: Read + Seek>(
    r: &mut R,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<ImplantField> {
    let volume = volume_size(r)?;
    let mut stream = Md5Stream::new(volume)?;
    drive(r, &mut stream, progress, |_| true)?;
    stream.finish()
}

/// Write a field into the image (at 0x8373).
pub fn write_field<W: Write + Seek>(w: &mut W, field: &ImplantField) -> io::Result<()> {
    let bytes = field.to_bytes()?;
    w.seek(SeekFrom::Start(APPDATA_OFFSET))?;
    w.write_all(&bytes)?;
    w.flush()
}

/// Compute and implant the checksum like `implantisomd5 --force` (any previous field is
/// replaced; `RHLISOSTATUS=0`). Returns the implanted field.
pub fn implant<F: Read + Write + Seek>(f: &mut F) -> io::Result<ImplantField> {
    implant_with_progress(f, &mut |_, _| {})
}

/// [`implant`] with a progress callback `(bytes done, bytes total)`.
pub fn implant_with_progress<F: Read + Write + Seek>(
    f: &mut F,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<ImplantField> {
    let field = compute_with_progress(f, progress)?;
    write_field(f, &field)?;
    Ok(field)
}

/// Verify the implanted checksum like `checkisomd5` (fragments first, stopping at the
/// first bad one, then the full MD5).
pub fn check<R: Read + Seek>(r: &mut R) -> io::Result<Md5Status> {
    check_with_progress(r, &mut |_, _| {})
}

/// [`check`] with a progress callback `(bytes done, bytes total)`.
pub fn check_with_progress<R: Read + Seek>(
    r: &mut R,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<Md5Status> {
    let (volume, raw) = read_pvd(r)?;
    let Some(field) = parse_field(&raw) else {
        return Ok(Md5Status::Absent);
    };
    let mut stream = match Md5Stream::with_params(volume, field.skip_sectors, field.fragment_count)
    {
        Ok(s) => s,
        Err(e) => {
            return Ok(Md5Status::Invalid {
                field,
                mismatch: Mismatch::Unusable {
                    reason: e.to_string(),
                },
            })
        }
    };
    // checkisomd5 compares against exactly 60 stored characters.
    let expected: Vec<u8> = field.fragment_sums.bytes().collect();
    let chars = stream.fragment_chars;
    let mut bad_fragment: Option<u64> = None;
    let mut checked = 0usize;
    let complete = drive(r, &mut stream, progress, |s| {
        for (index, got) in s.fragments().iter().skip(checked) {
            checked += 1;
            let from = (*index as usize).saturating_sub(1).saturating_mul(chars);
            let ok = got
                .bytes()
                .enumerate()
                .all(|(k, b)| expected.get(from + k).copied() == Some(b));
            if !ok {
                bad_fragment = Some(*index);
                return false;
            }
        }
        true
    })?;
    if let Some(index) = bad_fragment {
        return Ok(Md5Status::Invalid {
            mismatch: Mismatch::Fragment {
                index,
                count: field.fragment_count,
            },
            field,
        });
    }
    if !complete {
        let needed = stream.total();
        return Ok(Md5Status::Invalid {
            mismatch: Mismatch::Truncated {
                file_len: stream.position(),
                needed,
            },
            field,
        });
    }
    let computed = stream.full_hex();
    if computed != field.md5 {
        return Ok(Md5Status::Invalid {
            mismatch: Mismatch::Full {
                expected: field.md5.clone(),
                computed,
            },
            field,
        });
    }
    Ok(Md5Status::Valid { field })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn fake_iso(sectors: u32) -> Vec<u8> {
        let mut v = vec![0u8; sectors as usize * 2048];
        for (i, b) in v.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let p = PVD_OFFSET as usize;
        v[p] = 1;
        v[p + 1..p + 6].copy_from_slice(b"CD001");
        v[p + 80..p + 84].copy_from_slice(&sectors.to_le_bytes());
        v[p + 84..p + 88].copy_from_slice(&sectors.to_be_bytes());
        v
    }

    #[test]
    fn implant_then_check_valid_and_flip_invalid() {
        let mut iso = Cursor::new(fake_iso(600));
        let field = implant(&mut iso).unwrap();
        assert_eq!(field.fragment_sums.len(), 60);
        assert!(matches!(check(&mut iso).unwrap(), Md5Status::Valid { .. }));
        // Re-implanting over an implanted field gives the same field (field read as spaces).
        assert_eq!(compute(&mut iso).unwrap(), field);
        let mut bytes = iso.into_inner();
        bytes[100_000] ^= 1;
        let st = check(&mut Cursor::new(&mut bytes)).unwrap();
        assert!(matches!(st, Md5Status::Invalid { .. }), "{st:?}");
    }

    #[test]
    fn streaming_in_odd_slices_equals_compute() {
        let iso = fake_iso(300);
        let whole = compute(&mut Cursor::new(&iso)).unwrap();
        let mut s = Md5Stream::new(300 * 2048).unwrap();
        for piece in iso.chunks(777) {
            s.update(piece);
        }
        assert_eq!(s.finish().unwrap(), whole);
    }

    #[test]
    fn parse_roundtrip_and_absent() {
        let f = ImplantField {
            md5: "0123456789abcdef0123456789abcdef".into(),
            skip_sectors: 15,
            supported: false,
            fragment_sums: "a".repeat(60),
            fragment_count: 20,
        };
        assert_eq!(parse_field(&f.to_bytes().unwrap()), Some(f));
        assert_eq!(parse_field(&[b' '; 512]), None);
        assert_eq!(parse_field(b""), None);
        assert_eq!(parse_field(b"ISO MD5SUM = "), None);
    }

    #[test]
    fn output_keeps_the_input_record_fields_it_can() {
        let iso = fake_iso(300);
        let old = |skip: i64, supported: bool, count: i64| {
            ImplantField {
                md5: "0".repeat(32),
                skip_sectors: skip,
                supported,
                fragment_sums: "a".repeat(60),
                fragment_count: count,
            }
            .to_bytes()
            .unwrap()
        };
        let out = |field: &[u8]| {
            let mut s = Md5Stream::for_output(300 * 2048, field).unwrap();
            s.update(&iso);
            s.finish().unwrap()
        };
        let kept = out(&old(30, true, 10));
        assert_eq!(
            (kept.skip_sectors, kept.supported, kept.fragment_count),
            (30, true, 10)
        );
        assert_eq!(kept.fragment_sums.len(), 60);
        assert!(!out(&old(15, false, 20)).supported);
        // No record, or parameters no checker can use here: implantisomd5's defaults.
        let fresh = out(&[b' '; APPDATA_LEN]);
        assert_eq!(
            (fresh.skip_sectors, fresh.supported, fresh.fragment_count),
            (15, false, 20)
        );
        let unusable = out(&old(-1, true, 20));
        assert_eq!((unusable.skip_sectors, unusable.supported), (15, true));
    }

    #[test]
    fn garbage_and_tiny_inputs_error() {
        assert!(compute(&mut Cursor::new(vec![0u8; 10])).is_err());
        assert!(check(&mut Cursor::new(vec![0u8; 40000])).is_err());
        // Volume size bigger than the file: error, not panic.
        let mut iso = fake_iso(40);
        let p = PVD_OFFSET as usize;
        iso[p + 84..p + 88].copy_from_slice(&1000u32.to_be_bytes());
        assert!(compute(&mut Cursor::new(&iso)).is_err());
        // Volume smaller than the skipped sectors.
        iso[p + 84..p + 88].copy_from_slice(&15u32.to_be_bytes());
        assert!(compute(&mut Cursor::new(&iso)).is_err());
    }
}

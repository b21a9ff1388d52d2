//! Reading a kmod RPM: identity, Provides/Requires, file list, and the kernel modules and
//! depmod.d files carried in its payload.
//!
//! The `rpm` crate parses the headers and streams the payload. Its header parser indexes
//! the data store with offsets and counts taken from the file unchecked (a hostile header
//! makes it panic or allocate gigabytes), so [`read_header_bytes`] first reads both headers
//! with size caps and checks every index entry against its store; only bytes that passed
//! are handed to the crate.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::cell::RefCell;
use std::io::{self, Cursor, Read};
use std::rc::Rc;

use serde::Serialize;

use crate::codec::{Codec, Streams};

use super::rpmvercmp::sense_operator;

/// Caps applied while reading an RPM (all from untrusted size fields).
#[derive(Debug, Clone, Copy)]
pub struct RpmLimits {
    /// Largest module (or depmod.d file) whose bytes are kept; larger ones are an error.
    pub max_module_bytes: u64,
    /// Largest signature + main header accepted.
    pub max_header_bytes: u32,
    /// Most header index entries accepted per header.
    pub max_index_entries: u32,
}

impl Default for RpmLimits {
    fn default() -> Self {
        RpmLimits {
            max_module_bytes: 128 << 20,
            max_header_bytes: 64 << 20,
            max_index_entries: 100_000,
        }
    }
}

/// Why an RPM could not be read. Displays on one line.
#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    #[error("not an RPM package (bad lead magic)")]
    NotRpm,
    #[error("truncated RPM: {0}")]
    Truncated(&'static str),
    #[error("corrupt RPM header: {0}")]
    CorruptHeader(String),
    #[error("corrupt RPM payload: {0}")]
    CorruptPayload(String),
    /// `size` is what the payload delivered before reading stopped (the header's own
    /// size field may disagree with the payload in a hostile package).
    #[error("module {path} holds more than the {limit}-byte limit (stopped after {size} bytes of payload)")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("read error: {0}")]
    Io(#[from] io::Error),
}

/// One Provides/Requires entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub name: String,
    /// rpm sense flags (RPMSENSE_*), as stored.
    pub flags: u32,
    /// Empty when unversioned.
    pub version: String,
}

impl Dependency {
    /// The comparison operator (`>=`, `=`, ...) or "" when unversioned.
    pub fn operator(&self) -> &'static str {
        sense_operator(self.flags)
    }
    /// True when the dependency carries a version.
    pub fn is_versioned(&self) -> bool {
        !self.version.is_empty()
    }
    /// `kernel(sym) = 0xCRC` → `Some(("sym", crc))`.
    pub fn kabi_symbol(&self) -> Option<(&str, u32)> {
        let sym = self.name.strip_prefix("kernel(")?.strip_suffix(')')?;
        let hex = self
            .version
            .strip_prefix("0x")
            .or_else(|| self.version.strip_prefix("0X"))?;
        let crc = u64::from_str_radix(hex, 16).ok()?;
        Some((sym, u32::try_from(crc).ok()?))
    }
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.version.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{} {} {}", self.name, self.operator(), self.version)
        }
    }
}

/// One entry of the RPM's file list (from the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpmFileInfo {
    /// Absolute install path, e.g. `/lib/modules/<kver>/extra/x/x.ko`.
    pub path: String,
    pub size: u64,
    /// st_mode bits (type + permissions).
    pub mode: u32,
}

/// How a module file is compressed, by its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleCompression {
    None,
    Xz,
    Zst,
    Gz,
    Bz2,
}

impl ModuleCompression {
    /// The compression of a module path (`.ko`, `.ko.xz`, ...), or None if not a module.
    pub fn of_path(path: &str) -> Option<ModuleCompression> {
        let name = path.rsplit('/').next().unwrap_or(path);
        if name.ends_with(".ko") {
            Some(ModuleCompression::None)
        } else if name.ends_with(".ko.xz") {
            Some(ModuleCompression::Xz)
        } else if name.ends_with(".ko.zst") {
            Some(ModuleCompression::Zst)
        } else if name.ends_with(".ko.gz") {
            Some(ModuleCompression::Gz)
        } else if name.ends_with(".ko.bz2") {
            Some(ModuleCompression::Bz2)
        } else {
            None
        }
    }
}

/// A kernel module file taken from the payload.
#[derive(Debug, Clone)]
pub struct ModuleFile {
    /// Absolute path in the RPM.
    pub path: String,
    /// The module name (basename before `.ko`).
    pub name: String,
    pub compression: ModuleCompression,
    /// The file bytes as stored (still compressed for `.ko.xz` etc.).
    pub bytes: Vec<u8>,
}

/// An `/etc/depmod.d/*.conf` (or `/usr/lib/depmod.d`) file from the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepmodConf {
    pub path: String,
    pub text: String,
}

/// What remaster needs from a kmod RPM.
#[derive(Debug, Clone)]
pub struct KmodRpm {
    /// File name the RPM was read from (for messages); set by the caller.
    pub file_name: String,
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    /// Payload compressor from the header (`xz`, `zstd`, `gzip`, ...).
    pub payload_compressor: String,
    pub provides: Vec<Dependency>,
    pub requires: Vec<Dependency>,
    pub files: Vec<RpmFileInfo>,
    pub modules: Vec<ModuleFile>,
    pub depmod_confs: Vec<DepmodConf>,
}

impl KmodRpm {
    /// `name-version-release.arch`.
    pub fn nvra(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
    /// Every `Provides: kernel-modules ...` entry.
    pub fn kernel_modules_provides(&self) -> impl Iterator<Item = &Dependency> {
        self.provides.iter().filter(|d| d.name == "kernel-modules")
    }
    /// Requires on the kernel package itself: `kernel`, `kernel-core`, `kernel-uname-r`,
    /// `kernel-core-uname-r` (versioned or not).
    pub fn kernel_requires(&self) -> impl Iterator<Item = &Dependency> {
        self.requires.iter().filter(|d| {
            matches!(
                d.name.as_str(),
                "kernel" | "kernel-core" | "kernel-uname-r" | "kernel-core-uname-r"
            )
        })
    }
    /// Every `Requires: kernel(sym) = 0xCRC` entry as (symbol, crc).
    pub fn kabi_requires(&self) -> impl Iterator<Item = (&str, u32)> {
        self.requires.iter().filter_map(Dependency::kabi_symbol)
    }
}

const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];

/// Reads the lead, signature header (with its padding) and main header, checking every
/// size field and index entry so that the `rpm` crate cannot index out of bounds on
/// them. Returns the bytes read (lead through the end of the main header).
pub fn read_header_bytes(input: &mut impl Read, limits: &RpmLimits) -> Result<Vec<u8>, RpmError> {
    let mut out = vec![0u8; LEAD_SIZE];
    read_exact(input, &mut out, "lead")?;
    if out.get(..4) != Some(&LEAD_MAGIC[..]) {
        return Err(RpmError::NotRpm);
    }
    let sig_store = read_one_header(input, &mut out, limits, "signature header")?;
    let padding = 8usize.wrapping_sub(sig_store % 8) % 8;
    let mut pad = [0u8; 8];
    read_exact(
        input,
        pad.get_mut(..padding).unwrap_or_default(),
        "signature padding",
    )?;
    out.extend_from_slice(pad.get(..padding).unwrap_or_default());
    read_one_header(input, &mut out, limits, "main header")?;
    Ok(out)
}

fn read_exact(input: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<(), RpmError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => RpmError::Truncated(what),
        _ => RpmError::Io(e),
    })
}

/// Reads one header structure (16-byte intro, index, store) into `out`; returns the
/// store size.
fn read_one_header(
    input: &mut impl Read,
    out: &mut Vec<u8>,
    limits: &RpmLimits,
    what: &'static str,
) -> Result<usize, RpmError> {
    let mut intro = [0u8; 16];
    read_exact(input, &mut intro, what)?;
    if intro.get(..3) != Some(&HEADER_MAGIC[..]) || intro.get(3) != Some(&1) {
        return Err(RpmError::CorruptHeader(format!("{what}: bad magic")));
    }
    let be32 = |b: &[u8], at: usize| -> u32 {
        let mut w = [0u8; 4];
        if let Some(s) = b.get(at..at.saturating_add(4)) {
            w.copy_from_slice(s);
        }
        u32::from_be_bytes(w)
    };
    let entries = be32(&intro, 8);
    let store = be32(&intro, 12);
    if entries == 0 || entries > limits.max_index_entries {
        return Err(RpmError::CorruptHeader(format!(
            "{what}: {entries} index entries"
        )));
    }
    let index_len = u64::from(entries).saturating_mul(16);
    let total = index_len
        .saturating_add(u64::from(store))
        .saturating_add(out.len() as u64);
    if total > u64::from(limits.max_header_bytes) {
        return Err(RpmError::CorruptHeader(format!(
            "{what}: {total} bytes exceeds the {}-byte limit",
            limits.max_header_bytes
        )));
    }
    let index_len = index_len as usize;
    let store_len = store as usize;
    let start = out.len();
    out.extend_from_slice(&intro);
    // Bounded by max_header_bytes just above.
    out.resize(
        start
            .saturating_add(16)
            .saturating_add(index_len)
            .saturating_add(store_len),
        0,
    );
    let body = out.get_mut(start.saturating_add(16)..).unwrap_or_default();
    read_exact(input, body, what)?;
    let index = body.get(..index_len).unwrap_or_default();
    for entry in index.chunks_exact(16) {
        let kind = be32(entry, 4);
        let offset = be32(entry, 8);
        let count = u64::from(be32(entry, 12));
        let unit: u64 = match kind {
            0 => 0,
            1 | 2 | 7 => 1,
            3 => 2,
            4 => 4,
            5 => 8,
            // Strings: each item needs at least its NUL terminator.
            6 | 8 | 9 => 1,
            _ => {
                return Err(RpmError::CorruptHeader(format!(
                    "{what}: unknown data type {kind}"
                )))
            }
        };
        // Offsets are signed in the format; a negative one reads as > i32::MAX here.
        if offset > i32::MAX as u32 || u64::from(offset) > store as u64 {
            return Err(RpmError::CorruptHeader(format!(
                "{what}: entry offset {offset} outside the {store}-byte store"
            )));
        }
        let need = count.saturating_mul(unit);
        if u64::from(offset).saturating_add(need) > u64::from(store) {
            return Err(RpmError::CorruptHeader(format!(
                "{what}: entry of {count} items at {offset} overruns the {store}-byte store"
            )));
        }
    }
    Ok(store_len)
}

/// Reads a kmod RPM from a stream positioned at its first byte. Keeps the bytes of every
/// module file (`*.ko`, `*.ko.{xz,zst,gz,bz2}`) and depmod.d `.conf` file; other payload
/// data is decompressed and skipped, never held.
pub fn read_kmod_rpm<R: Read + 'static>(
    mut input: R,
    limits: &RpmLimits,
) -> Result<KmodRpm, RpmError> {
    let head = read_header_bytes(&mut input, limits)?;
    let metadata = rpm::PackageMetadata::parse(&mut Cursor::new(&head))
        .map_err(|e| RpmError::CorruptHeader(e.to_string()))?;
    let header_err = |e: rpm::Error| RpmError::CorruptHeader(e.to_string());
    let optional = |r: Result<&str, rpm::Error>| r.map(str::to_owned).unwrap_or_default();
    let name = metadata.get_name().map_err(header_err)?.to_owned();
    let version = metadata.get_version().map_err(header_err)?.to_owned();
    let release = metadata.get_release().map_err(header_err)?.to_owned();
    let arch = optional(metadata.get_arch());
    let summary = optional(metadata.get_summary());
    let epoch = metadata.get_epoch().ok();
    let payload_compressor = optional(
        metadata
            .header
            .get_entry_data_as_string(rpm::IndexTag::RPMTAG_PAYLOADCOMPRESSOR),
    );
    let convert = |deps: Vec<rpm::Dependency>| -> Vec<Dependency> {
        deps.into_iter()
            .map(|d| Dependency {
                name: d.name,
                flags: d.flags.bits(),
                version: d.version,
            })
            .collect()
    };
    let provides = convert(metadata.get_provides().map_err(header_err)?);
    let requires = convert(metadata.get_requires().map_err(header_err)?);
    let files: Vec<RpmFileInfo> = metadata
        .get_file_entries()
        .map_err(header_err)?
        .iter()
        .map(|f| RpmFileInfo {
            path: f.path().to_string_lossy().into_owned(),
            size: f.size() as u64,
            mode: u32::from(f.mode().raw_mode()),
        })
        .collect();
    let wanted = |path: &str| ModuleCompression::of_path(path).is_some() || is_depmod_conf(path);
    let want_payload = files.iter().any(|f| wanted(&f.path));

    let mut modules = Vec::new();
    let mut depmod_confs = Vec::new();
    if want_payload {
        let payload_err = |e: rpm::Error| RpmError::CorruptPayload(e.to_string());
        // The payload is decompressed here (capped decoder memory) and its cpio headers
        // checked on the way; the crate sees an uncompressed payload (it picks the decoder by
        // magic), so its own unbounded decoders and name allocation never meet hostile data.
        let payload = Rc::new(RefCell::new(CpioNameGuard::new(payload_decoder(
            io::BufReader::new(input),
        )?)));
        let stream = io::BufReader::new(Cursor::new(head).chain(Shared(Rc::clone(&payload))));
        let mut reader = rpm::PackageReader::parse(stream).map_err(payload_err)?;
        while let Some(mut file) = reader.next_file().map_err(payload_err)? {
            let path = file.metadata.path().to_string_lossy().into_owned();
            let is_regular = file.metadata.file_type() == rpm::FileType::Regular;
            if !is_regular || !wanted(&path) || !file.has_payload() {
                file.finish()
                    .map_err(|e| RpmError::CorruptPayload(e.to_string()))?;
                continue;
            }
            let mut bytes = Vec::new();
            (&mut file)
                .take(limits.max_module_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|e| RpmError::CorruptPayload(format!("{path}: {e}")))?;
            if bytes.len() as u64 > limits.max_module_bytes {
                return Err(RpmError::TooLarge {
                    path,
                    size: bytes.len() as u64,
                    limit: limits.max_module_bytes,
                });
            }
            file.finish()
                .map_err(|e| RpmError::CorruptPayload(format!("{path}: {e}")))?;
            if let Some(compression) = ModuleCompression::of_path(&path) {
                let base = path.rsplit('/').next().unwrap_or(&path);
                let name = base.split(".ko").next().unwrap_or(base).to_owned();
                modules.push(ModuleFile {
                    path,
                    name,
                    compression,
                    bytes,
                });
            } else {
                depmod_confs.push(DepmodConf {
                    path,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
        }
        drop(reader);
        drain_payload(&payload)?;
    }
    modules.sort_by(|a, b| a.path.cmp(&b.path));
    depmod_confs.sort_by(|a, b| a.path.cmp(&b.path));

    Ok(KmodRpm {
        file_name: String::new(),
        name,
        epoch,
        version,
        release,
        arch,
        summary,
        payload_compressor,
        provides,
        requires,
        files,
        modules,
        depmod_confs,
    })
}

/// How much decompressed data after the cpio trailer is read to reach the compressed
/// stream's end (rpm pads the archive to 512 bytes; more is not checked).
const MAX_PAYLOAD_TAIL: u64 = 1 << 20;

/// Reads the payload to the end of its compressed stream. The `rpm` crate stops at the cpio
/// trailer, so without this a payload cut inside its xz index and footer (or gzip trailer,
/// zstd epilogue) would read as whole, where rpm itself refuses the package (its payload
/// digest no longer matches).
fn drain_payload<R: Read>(payload: &RefCell<R>) -> Result<(), RpmError> {
    let mut inner = payload
        .try_borrow_mut()
        .map_err(|_| RpmError::CorruptPayload("payload reader still in use".into()))?;
    io::copy(&mut (&mut *inner).take(MAX_PAYLOAD_TAIL), &mut io::sink())
        .map_err(|e| RpmError::CorruptPayload(format!("the payload ends early: {e}")))?;
    Ok(())
}

/// One reader handed to the `rpm` crate and drained afterwards by [`drain_payload`].
struct Shared<R>(Rc<RefCell<R>>);

impl<R: Read> Read for Shared<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .try_borrow_mut()
            .map_err(|_| io::Error::other("payload reader in use twice"))?
            .read(buf)
    }
}

/// The payload decoder, chosen by magic as the `rpm` crate does, with the decoder memory
/// capped: liblzma's default lets a hostile header ask for a 4 GiB dictionary.
fn payload_decoder<'a>(mut r: impl io::BufRead + 'a) -> Result<Box<dyn Read + 'a>, RpmError> {
    let head = r.fill_buf()?;
    match Codec::sniff(head) {
        Some(codec @ (Codec::Xz | Codec::Zstd | Codec::Gzip)) => codec
            .reader(r, Streams::All)
            .map_err(|e| RpmError::CorruptPayload(e.0)),
        None if head.starts_with(b"07070") || head.is_empty() => Ok(Box::new(r)),
        _ => {
            let magic: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
            Err(RpmError::CorruptPayload(format!(
                "unsupported payload compression (magic {}; supported: xz, zstd, gzip, none)",
                magic.join(" ")
            )))
        }
    }
}

/// Passes a newc cpio stream through unchanged, failing on an entry whose name size is
/// implausible: the `rpm` crate allocates `c_namesize` bytes (up to 4 GiB) before it checks
/// the length. Anything that is not a newc header (trailer padding, stripped `07070X`
/// entries, garbage) ends the checking; the crate reports real format errors itself.
struct CpioNameGuard<R> {
    inner: R,
    /// Header bytes read ahead and not yet passed on.
    pending: Vec<u8>,
    pending_at: usize,
    /// Bytes of name, data and padding left before the next header.
    skip: u64,
    checking: bool,
}

const NEWC_HEADER_LEN: usize = 110;
const MAX_CPIO_NAME: u64 = 4096;

impl<R: Read> CpioNameGuard<R> {
    fn new(inner: R) -> Self {
        CpioNameGuard {
            inner,
            pending: Vec::new(),
            pending_at: 0,
            skip: 0,
            checking: true,
        }
    }

    fn hex_field(header: &[u8], at: usize) -> Option<u64> {
        let field = std::str::from_utf8(header.get(at..at.saturating_add(8))?).ok()?;
        u64::from_str_radix(field, 16).ok()
    }

    /// At a header boundary: read the next header ahead and check it.
    fn next_header(&mut self) -> io::Result<()> {
        let mut header = vec![0u8; NEWC_HEADER_LEN];
        let mut filled = 0;
        while filled < header.len() {
            match self
                .inner
                .read(header.get_mut(filled..).unwrap_or_default())?
            {
                0 => break,
                n => filled = filled.saturating_add(n),
            }
        }
        header.truncate(filled);
        let newc = header.starts_with(b"070701") || header.starts_with(b"070702");
        let sizes = (Self::hex_field(&header, 94), Self::hex_field(&header, 54));
        match (newc && filled == NEWC_HEADER_LEN, sizes) {
            (true, (Some(name_len), Some(file_len))) => {
                if name_len > MAX_CPIO_NAME {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("payload cpio entry with a {name_len}-byte name"),
                    ));
                }
                // name_len ≤ MAX_CPIO_NAME, file_len ≤ 0xFFFFFFFF (8 hex digits).
                let name_end = (NEWC_HEADER_LEN as u64)
                    .saturating_add(name_len)
                    .next_multiple_of(4);
                self.skip = name_end
                    .saturating_sub(NEWC_HEADER_LEN as u64)
                    .saturating_add(file_len.next_multiple_of(4));
            }
            _ => self.checking = false,
        }
        self.pending = header;
        self.pending_at = 0;
        Ok(())
    }
}

impl<R: Read> Read for CpioNameGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pending_at == self.pending.len() && self.skip == 0 && self.checking {
            self.next_header()?;
        }
        if let Some(rest) = self
            .pending
            .get(self.pending_at..)
            .filter(|r| !r.is_empty())
        {
            let n = rest.len().min(buf.len());
            if let (Some(to), Some(from)) = (buf.get_mut(..n), rest.get(..n)) {
                to.copy_from_slice(from);
            }
            self.pending_at = self.pending_at.saturating_add(n);
            return Ok(n);
        }
        if !self.checking {
            return self.inner.read(buf);
        }
        let want = (buf.len() as u64).min(self.skip) as usize;
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        if n == 0 {
            // Truncated payload: stop checking, the crate reports the short read.
            self.checking = false;
        }
        self.skip = self.skip.saturating_sub(n as u64);
        Ok(n)
    }
}

fn is_depmod_conf(path: &str) -> bool {
    (path.starts_with("/etc/depmod.d/")
        || path.starts_with("/usr/lib/depmod.d/")
        || path.starts_with("/lib/depmod.d/"))
        && path.ends_with(".conf")
}

/// Reads a kmod RPM file; errors name the file.
pub fn read_kmod_rpm_file(path: &std::path::Path) -> crate::Result<KmodRpm> {
    let file = std::fs::File::open(path).map_err(|e| crate::Error::input(path, e))?;
    let mut rpm =
        read_kmod_rpm(file, &RpmLimits::default()).map_err(|e| crate::Error::input(path, e))?;
    rpm.file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(rpm)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests index fixtures they built
mod tests {
    use super::*;

    #[test]
    fn kabi_symbol_parsing() {
        let d = Dependency {
            name: "kernel(scsi_dma_map)".into(),
            flags: 8,
            version: "0xc6da616e".into(),
        };
        assert_eq!(d.kabi_symbol(), Some(("scsi_dma_map", 0xc6da616e)));
        assert_eq!(d.to_string(), "kernel(scsi_dma_map) = 0xc6da616e");
        let k = Dependency {
            name: "kernel".into(),
            flags: 12,
            version: "6.1.0-50".into(),
        };
        assert_eq!(k.kabi_symbol(), None);
    }

    #[test]
    fn module_suffixes() {
        assert_eq!(
            ModuleCompression::of_path("/lib/modules/x/a.ko"),
            Some(ModuleCompression::None)
        );
        assert_eq!(
            ModuleCompression::of_path("/lib/modules/x/a.ko.xz"),
            Some(ModuleCompression::Xz)
        );
        assert_eq!(ModuleCompression::of_path("/lib/modules/x/a.kox"), None);
        assert_eq!(ModuleCompression::of_path("/etc/a.ko.conf"), None);
    }

    #[test]
    fn garbage_is_one_line_error() {
        let e = read_kmod_rpm(Cursor::new(vec![0u8; 10]), &RpmLimits::default()).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let mut lead = vec![0u8; 200];
        lead[..4].copy_from_slice(&LEAD_MAGIC);
        let e = read_kmod_rpm(Cursor::new(lead), &RpmLimits::default()).unwrap_err();
        assert!(e.to_string().contains("bad magic"), "{e}");
    }
}

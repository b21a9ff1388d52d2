//! Reading a kernel image. x86 (bzImage / `vmlinuz`), `Documentation/x86/boot.rst`:
//! the `uname -r` release from the setup header, the compressed payload, and from the
//! decompressed ELF (`vmlinux.bin`, stripped but with section headers) every exported
//! symbol with its CRC, GPL-ness and namespace, the vermagic string and the built-in
//! trusted certificates. arm64 kernels (Image, compressed Image, EFI zboot) are recognised
//! by the same entry points ([`read_header`], [`read_header_from`], [`Kernel::parse`]) and
//! read by arm64.rs into the same [`KernelHeader`] and [`Kernel`].
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use object::elf;
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, FileKind};
use serde::Serialize;

use super::arm64;
use super::module::Export;
use super::signature::{scan_certificates, TrustedCert};
use super::{decompress_sized, KmodError, MAX_KERNEL_SIZE};
use crate::codec::Codec;

/// The architecture a kernel image is for, which decides the modules it can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelArch {
    X86_64,
    Aarch64,
}

impl KernelArch {
    /// `uname -m`: the installer's `rpms/<arch>/` directory and RPM architecture.
    pub fn uname_m(self) -> &'static str {
        match self {
            KernelArch::X86_64 => "x86_64",
            KernelArch::Aarch64 => "aarch64",
        }
    }

    /// The ELF `e_machine` of its modules (`elf_check_arch()`).
    pub fn elf_machine(self) -> u16 {
        match self {
            KernelArch::X86_64 => super::module::EM_X86_64,
            KernelArch::Aarch64 => super::module::EM_AARCH64,
        }
    }

    /// Whether this architecture's `apply_relocate_add()` knows RELA relocation `r_type`
    /// (arch/x86/kernel/module.c, arch/arm64/kernel/module.c, 6.1; the same sets in 5.14).
    /// x86's `R_X86_64_8` is taken only for clang CFI's `__typeid__` symbols; it counts as
    /// known here (remaster does not look at which symbol it names).
    pub fn knows_rela(self, r_type: u32) -> bool {
        use object::elf::*;
        let known: &[object::elf::RelocationType] = match self {
            KernelArch::X86_64 => &[
                R_X86_64_NONE,
                R_X86_64_64,
                R_X86_64_32,
                R_X86_64_32S,
                R_X86_64_PC32,
                R_X86_64_PLT32,
                R_X86_64_PC64,
                R_X86_64_8,
            ],
            KernelArch::Aarch64 => &[
                R_ARM_NONE,
                R_AARCH64_NONE,
                R_AARCH64_ABS64,
                R_AARCH64_ABS32,
                R_AARCH64_ABS16,
                R_AARCH64_PREL64,
                R_AARCH64_PREL32,
                R_AARCH64_PREL16,
                R_AARCH64_MOVW_UABS_G0_NC,
                R_AARCH64_MOVW_UABS_G0,
                R_AARCH64_MOVW_UABS_G1_NC,
                R_AARCH64_MOVW_UABS_G1,
                R_AARCH64_MOVW_UABS_G2_NC,
                R_AARCH64_MOVW_UABS_G2,
                R_AARCH64_MOVW_UABS_G3,
                R_AARCH64_MOVW_SABS_G0,
                R_AARCH64_MOVW_SABS_G1,
                R_AARCH64_MOVW_SABS_G2,
                R_AARCH64_MOVW_PREL_G0_NC,
                R_AARCH64_MOVW_PREL_G0,
                R_AARCH64_MOVW_PREL_G1_NC,
                R_AARCH64_MOVW_PREL_G1,
                R_AARCH64_MOVW_PREL_G2_NC,
                R_AARCH64_MOVW_PREL_G2,
                R_AARCH64_MOVW_PREL_G3,
                R_AARCH64_LD_PREL_LO19,
                R_AARCH64_ADR_PREL_LO21,
                R_AARCH64_ADR_PREL_PG_HI21_NC,
                R_AARCH64_ADR_PREL_PG_HI21,
                R_AARCH64_ADD_ABS_LO12_NC,
                R_AARCH64_LDST8_ABS_LO12_NC,
                R_AARCH64_LDST16_ABS_LO12_NC,
                R_AARCH64_LDST32_ABS_LO12_NC,
                R_AARCH64_LDST64_ABS_LO12_NC,
                R_AARCH64_LDST128_ABS_LO12_NC,
                R_AARCH64_TSTBR14,
                R_AARCH64_CONDBR19,
                R_AARCH64_JUMP26,
                R_AARCH64_CALL26,
            ],
        };
        known.iter().any(|k| k.0 == r_type)
    }

    /// The line the kernel prints for a RELA relocation type it does not know.
    pub fn unknown_rela_message(self, module: &str, r_type: u32) -> String {
        match self {
            KernelArch::X86_64 => format!("{module}: Unknown rela relocation: {r_type}"),
            KernelArch::Aarch64 => {
                format!("module {module}: unsupported RELA relocation: {r_type}")
            }
        }
    }

    /// As [`super::module::ElfIdent::describe`] names a module's: "ELF64 x86-64".
    pub fn describe(self) -> &'static str {
        match self {
            KernelArch::X86_64 => "ELF64 x86-64",
            KernelArch::Aarch64 => "ELF64 aarch64",
        }
    }
}

/// How the kernel file is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// x86 bzImage (setup header + compressed ELF payload).
    BzImage,
    /// arm64 `Image` (flat binary, usually with an EFI stub).
    Arm64Image,
    /// An arm64 `Image` compressed as a whole (`Image.gz`).
    Arm64Compressed,
    /// An EFI zboot image (PE/COFF decompressor + compressed arm64 `Image`).
    EfiZboot,
}

impl ImageFormat {
    /// Its name in reports (as in JSON).
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::BzImage => "bz-image",
            ImageFormat::Arm64Image => "arm64-image",
            ImageFormat::Arm64Compressed => "arm64-compressed",
            ImageFormat::EfiZboot => "efi-zboot",
        }
    }
}

/// The parts of the kernel's header we use: for a bzImage its setup header, for an arm64
/// kernel the banner and where its Image lies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelHeader {
    /// `uname -r` (first word of the kernel_version string), e.g. `5.14.0-284.11.1.el9_2.x86_64`.
    pub release: String,
    /// The whole kernel_version string (`<release> (builder) #1 SMP ...`).
    pub version_string: String,
    /// Boot protocol version, e.g. 0x020f (0 for arm64 kernels, which have none).
    pub protocol: u16,
    /// Compression of the payload, from its magic bytes.
    pub compression: Codec,
    /// File offset and length of the compressed payload (arm64: of the Image, compressed
    /// or not; the whole file but for EFI zboot).
    pub payload_offset: usize,
    pub payload_length: usize,
    /// Which architecture the kernel runs on.
    pub arch: KernelArch,
    /// How the file is packed.
    pub format: ImageFormat,
}

/// A kernel as the module loader sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Kernel {
    pub header: KernelHeader,
    /// Size of the decompressed ELF.
    pub vmlinux_size: usize,
    /// Whether the kernel carries symbol CRCs (`CONFIG_MODVERSIONS`: `__kcrctab*` present).
    pub modversions: bool,
    /// CRC of `module_layout` if the kernel exports it (5.14, 6.1; later kernels dropped it).
    pub module_layout_crc: Option<u32>,
    /// The kernel's vermagic (`UTS_RELEASE " SMP preempt mod_unload modversions "`), if found.
    pub vermagic: Option<String>,
    /// Certificates compiled into the kernel (`system_certificates`): keys it trusts for
    /// module signatures without MOK/db.
    pub trusted_certs: Vec<TrustedCert>,
    /// Number of exported symbols.
    pub export_count: usize,
    #[serde(skip)]
    exports: HashMap<String, Export>,
}

impl Kernel {
    /// Parses a kernel: a bzImage (header, payload decompression (gzip, xz, zstd, lzma),
    /// exports) or an arm64 kernel (Image, compressed Image or EFI zboot; see arm64.rs).
    pub fn parse(vmlinuz: &[u8]) -> Result<Kernel, KmodError> {
        if !is_bzimage(vmlinuz) {
            if let Some(form) = arm64::identify(vmlinuz) {
                let image = arm64::image_bytes(vmlinuz, &form)?;
                let header = arm64_header(&form, vmlinuz, &image)?;
                return Kernel::from_arm64_image(header, &image);
            }
        }
        let header = read_header(vmlinuz)?;
        let payload = vmlinuz
            .get(header.payload_offset..)
            .and_then(|p| p.get(..header.payload_length))
            .ok_or_else(|| KmodError::Kernel("bzImage payload lies outside the file".into()))?;
        let (_, vmlinux) = match header.compression {
            Codec::None => {
                return Err(KmodError::Kernel(format!(
                    "bzImage payload has an unknown compression (magic {})",
                    payload
                        .iter()
                        .take(6)
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )))
            }
            Codec::Bzip2 | Codec::Lzo | Codec::Lz4Legacy => {
                return Err(KmodError::Kernel(format!(
                    "kernel {}: bzImage payload is {}-compressed, which remaster cannot decode \
                     (supported: gzip, xz, zstd, lzma)",
                    header.release,
                    header.compression.name()
                )))
            }
            // The payload ends with the decompressed size (little-endian u32), as the
            // kernel's own decompressor expects.
            _ => decompress_sized(payload, MAX_KERNEL_SIZE, bzimage_output_size(payload)).map_err(
                |e| KmodError::Kernel(format!("kernel {}: payload: {e}", header.release)),
            )?,
        };
        Kernel::from_vmlinux(header, &vmlinux)
    }

    /// Reads exports, vermagic and certificates from a decompressed kernel ELF.
    pub fn from_vmlinux(header: KernelHeader, vmlinux: &[u8]) -> Result<Kernel, KmodError> {
        if FileKind::parse(vmlinux).ok() != Some(FileKind::Elf64) {
            return Err(KmodError::Kernel(
                "decompressed kernel payload is not an ELF64 file".into(),
            ));
        }
        let bad = |e: object::read::Error| {
            KmodError::Kernel(format!("decompressed kernel ELF is malformed: {e}"))
        };
        let file = elf::FileHeader64::<Endianness>::parse(vmlinux).map_err(bad)?;
        let endian = file.endian().map_err(bad)?;
        let sections = file.sections(endian, vmlinux).map_err(bad)?;

        // Allocated sections with file contents, for VA → bytes.
        let mut mapped: Vec<(u64, &[u8])> = Vec::new();
        let mut by_name: HashMap<&[u8], (u64, &[u8])> = HashMap::new();
        for section in sections.iter() {
            let name = sections.section_name(endian, section).unwrap_or(b"");
            let Ok(bytes) = section.data(endian, vmlinux) else {
                continue;
            };
            let addr = section.sh_addr(endian);
            if section.sh_flags(endian).0 & elf::SHF_ALLOC.0 != 0 && !bytes.is_empty() {
                mapped.push((addr, bytes));
            }
            by_name.insert(name, (addr, bytes));
        }
        mapped.sort_by_key(|m| m.0);
        let c_str_at_va = |va: u64| -> Option<String> {
            let idx = mapped.partition_point(|m| m.0 <= va).checked_sub(1)?;
            let (addr, bytes) = mapped.get(idx)?;
            let off = usize::try_from(va.checked_sub(*addr)?).ok()?;
            super::c_str_at(bytes, off)
        };

        let mut exports = HashMap::new();
        let mut modversions = false;
        for (table, crcs, gpl_only) in [
            (&b"__ksymtab"[..], &b"__kcrctab"[..], false),
            (b"__ksymtab_gpl", b"__kcrctab_gpl", true),
        ] {
            let Some(&(addr, entries)) = by_name.get(table) else {
                continue;
            };
            let crc_bytes = by_name.get(crcs).map(|c| c.1);
            modversions |= crc_bytes.is_some_and(|c| !c.is_empty());
            for (i, entry) in entries.chunks_exact(12).enumerate() {
                let field = |n: usize| -> i64 {
                    i64::from(bytes_at(entry, n).map_or(0, i32::from_le_bytes))
                };
                let entry_va = addr.wrapping_add((i as u64).wrapping_mul(12));
                let name_va = entry_va.wrapping_add(4).wrapping_add_signed(field(4));
                let Some(name) = c_str_at_va(name_va) else {
                    return Err(KmodError::Kernel(format!(
                        "{}: entry {i} names an address outside the image",
                        String::from_utf8_lossy(table)
                    )));
                };
                let ns_offset = field(8);
                let namespace = (ns_offset != 0)
                    .then(|| c_str_at_va(entry_va.wrapping_add(8).wrapping_add_signed(ns_offset)))
                    .flatten()
                    .filter(|ns| !ns.is_empty());
                let crc = crc_bytes
                    .and_then(|c| bytes_at(c, i.checked_mul(4)?))
                    .map(u32::from_le_bytes);
                exports.insert(
                    name.clone(),
                    Export {
                        name,
                        crc,
                        gpl_only,
                        namespace,
                    },
                );
            }
        }
        if exports.is_empty() {
            return Err(KmodError::Kernel(
                "kernel exports no symbols (no __ksymtab): built without CONFIG_MODULES?".into(),
            ));
        }

        // `vermagic[]` is a const string: look in .rodata first (a 60 MiB image scan is slower).
        let vermagic = by_name
            .get(&b".rodata"[..])
            .and_then(|s| find_vermagic(s.1, &header.release))
            .or_else(|| find_vermagic(vmlinux, &header.release));
        let cert_area = by_name
            .get(&b".init.rodata"[..])
            .map(|s| s.1)
            .unwrap_or(vmlinux);
        let trusted_certs = scan_certificates(cert_area);
        Ok(Kernel {
            module_layout_crc: exports.get("module_layout").and_then(|e| e.crc),
            vmlinux_size: vmlinux.len(),
            modversions,
            vermagic,
            trusted_certs,
            export_count: exports.len(),
            exports,
            header,
        })
    }

    /// Reads exports, vermagic and certificates from a (decompressed) arm64 Image.
    pub fn from_arm64_image(header: KernelHeader, image: &[u8]) -> Result<Kernel, KmodError> {
        let (exports, modversions) = arm64::exports(image)?;
        let vermagic = find_vermagic(image, &header.release);
        let trusted_certs = scan_certificates(arm64::without_authenticode(image));
        Ok(Kernel {
            module_layout_crc: exports.get("module_layout").and_then(|e| e.crc),
            vmlinux_size: image.len(),
            modversions,
            vermagic,
            trusted_certs,
            export_count: exports.len(),
            exports,
            header,
        })
    }

    /// The architecture of the kernel (and of the modules it loads).
    pub fn arch(&self) -> KernelArch {
        self.header.arch
    }

    /// `uname -r` of this kernel.
    pub fn release(&self) -> &str {
        &self.header.release
    }

    /// The exported symbol `name`, if the kernel exports it.
    pub fn export(&self, name: &str) -> Option<&Export> {
        self.exports.get(name)
    }

    /// All exports (unordered).
    pub fn exports(&self) -> impl Iterator<Item = &Export> {
        self.exports.values()
    }
}

/// `N` bytes at `at`, or None when they are not all there.
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Bytes of a bzImage [`read_header_from`] reads for its setup header, and of its payload
/// for the compression magic.
pub const SETUP_READ: u64 = 64 * 1024;
pub const PAYLOAD_MAGIC_READ: u64 = 64;

/// Whether `data` starts with a bzImage setup header.
fn is_bzimage(data: &[u8]) -> bool {
    data.get(0x202..0x206) == Some(b"HdrS")
}

/// The header of an arm64 kernel of form `form` whose Image is `image`.
fn arm64_header(form: &arm64::Form, file: &[u8], image: &[u8]) -> Result<KernelHeader, KmodError> {
    let version_string = arm64::banner(image).ok_or_else(no_banner)?;
    arm64_header_with(form, file.len() as u64, version_string, |o, l| {
        file.get(o..)
            .and_then(|p| p.get(..l.min(PAYLOAD_MAGIC_READ as usize)))
            .map(<[u8]>::to_vec)
    })
}

fn no_banner() -> KmodError {
    KmodError::Kernel(
        "arm64 kernel: no \"Linux version\" banner in the Image, so its release is unknown".into(),
    )
}

fn arm64_header_with(
    form: &arm64::Form,
    len: u64,
    version_string: String,
    payload_head: impl FnOnce(usize, usize) -> Option<Vec<u8>>,
) -> Result<KernelHeader, KmodError> {
    let release = version_string
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let (offset, length) = arm64::payload_range(form, len)?;
    let too_big = || KmodError::Kernel("arm64 kernel is larger than this host can address".into());
    let payload_offset = usize::try_from(offset).map_err(|_| too_big())?;
    let payload_length = usize::try_from(length).map_err(|_| too_big())?;
    let head = payload_head(payload_offset, payload_length).unwrap_or_default();
    Ok(KernelHeader {
        release,
        version_string,
        protocol: 0,
        compression: arm64::payload_codec(form, &head),
        payload_offset,
        payload_length,
        arch: KernelArch::Aarch64,
        format: match form {
            arm64::Form::Image => ImageFormat::Arm64Image,
            arm64::Form::Compressed(_) => ImageFormat::Arm64Compressed,
            arm64::Form::Zboot { .. } => ImageFormat::EfiZboot,
        },
    })
}

/// Reads the header of a kernel held in memory: a bzImage's setup header, or an arm64
/// kernel's banner (decompressing its Image if it is compressed).
pub fn read_header(data: &[u8]) -> Result<KernelHeader, KmodError> {
    if !is_bzimage(data) {
        if let Some(form) = arm64::identify(data) {
            if form == arm64::Form::Image {
                return arm64_header(&form, data, data);
            }
            let image = arm64::image_bytes(data, &form)?;
            return arm64_header(&form, data, &image);
        }
    }
    parse_header(data, data.len() as u64, |offset, len| {
        data.get(offset..)
            .and_then(|p| p.get(..len.min(PAYLOAD_MAGIC_READ as usize)))
            .map(<[u8]>::to_vec)
    })
}

/// Reads the setup header of the `len`-byte bzImage `r` reads, touching only its setup
/// sectors and the first bytes of its payload (a few KiB of a 10 MiB kernel). Returns the
/// header and the bytes read.
pub fn read_header_from<R: Read + Seek>(
    mut r: R,
    len: u64,
) -> Result<(KernelHeader, u64), KmodError> {
    let io = |e: std::io::Error| KmodError::Kernel(format!("reading the kernel: {e}"));
    let mut setup = Vec::new();
    r.seek(SeekFrom::Start(0)).map_err(io)?;
    (&mut r)
        .take(SETUP_READ)
        .read_to_end(&mut setup)
        .map_err(io)?;
    let mut read = setup.len() as u64;
    if !is_bzimage(&setup) {
        if let Some(form) = arm64::identify(&setup) {
            return read_arm64_header_from(r, len, form, read);
        }
    }
    let header = parse_header(&setup, len, |offset, payload_len| {
        let mut magic = Vec::new();
        r.seek(SeekFrom::Start(offset as u64)).ok()?;
        (&mut r)
            .take(PAYLOAD_MAGIC_READ.min(payload_len as u64))
            .read_to_end(&mut magic)
            .ok()?;
        read = read.saturating_add(magic.len() as u64);
        Some(magic)
    })?;
    Ok((header, read))
}

/// [`read_header_from`] for an arm64 kernel of form `form`: streams its Image (decompressing
/// it if needed) up to the banner, so a compressed kernel is never held whole.
fn read_arm64_header_from<R: Read + Seek>(
    mut r: R,
    len: u64,
    form: arm64::Form,
    already: u64,
) -> Result<(KernelHeader, u64), KmodError> {
    let io = |e: std::io::Error| KmodError::Kernel(format!("reading the kernel: {e}"));
    let (offset, length) = arm64::payload_range(&form, len)?;
    r.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut payload = std::io::BufReader::new((&mut r).take(length));
    let head = std::io::BufRead::fill_buf(&mut payload)
        .map_err(io)?
        .iter()
        .take(PAYLOAD_MAGIC_READ as usize)
        .copied()
        .collect::<Vec<u8>>();
    let image = arm64::image_reader(&form, &head, payload)?;
    let (banner, read) = arm64::banner_from_reader(image, MAX_KERNEL_SIZE).map_err(|e| {
        KmodError::Kernel(format!("arm64 kernel payload: corrupt or unreadable: {e}"))
    })?;
    let version_string = banner.ok_or_else(no_banner)?;
    let header = arm64_header_with(&form, len, version_string, |_, _| Some(head))?;
    // Bytes of the file read: the Image's bytes for a plain Image, at most the payload.
    Ok((header, already.saturating_add(read.min(length))))
}

/// The header fields of `setup` (the image's first bytes) in a `len`-byte image; `payload`
/// gives the first bytes of the payload at (offset, length), `None` if they lie outside.
fn parse_header(
    data: &[u8],
    len: u64,
    payload: impl FnOnce(usize, usize) -> Option<Vec<u8>>,
) -> Result<KernelHeader, KmodError> {
    let not_bz = || {
        KmodError::Kernel(
            "not a bzImage kernel (no \"HdrS\" setup header) nor an arm64 one (no \"ARM\\x64\" \
             Image header, no EFI zboot \"zimg\" header)"
                .into(),
        )
    };
    let u16_at = |o: usize| bytes_at(data, o).map(u16::from_le_bytes);
    let u32_at = |o: usize| bytes_at(data, o).map(u32::from_le_bytes);
    if data.get(0x202..0x206) != Some(b"HdrS") || u16_at(0x1fe) != Some(0xaa55) {
        return Err(not_bz());
    }
    let protocol = u16_at(0x206).ok_or_else(not_bz)?;
    if protocol < 0x208 {
        return Err(KmodError::Kernel(format!(
            "bzImage boot protocol {}.{:02} predates payload fields (needs 2.08)",
            protocol >> 8,
            protocol & 0xff
        )));
    }
    let version_string = match u16_at(0x20e).ok_or_else(not_bz)? {
        0 => String::new(),
        ptr => super::c_str_at(data, usize::from(ptr).saturating_add(0x200)).unwrap_or_default(),
    };
    let release = version_string
        .split(' ')
        .next()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| KmodError::Kernel("bzImage has no kernel_version string".into()))?
        .to_string();
    let setup_sects = match data.get(0x1f1).copied().ok_or_else(not_bz)? {
        0 => 4,
        n => usize::from(n),
    };
    // setup_sects ≤ 255: the sum saturates only on a hostile u32 on a 32-bit host.
    let payload_offset = setup_sects
        .saturating_add(1)
        .saturating_mul(512)
        .saturating_add(u32_at(0x248).ok_or_else(not_bz)? as usize);
    let payload_length = u32_at(0x24c).ok_or_else(not_bz)? as usize;
    let outside = || {
        KmodError::Kernel(format!(
            "bzImage payload ({payload_length} bytes at {payload_offset}) lies outside the \
             {len}-byte file (truncated?)"
        ))
    };
    let end = payload_offset
        .checked_add(payload_length)
        .ok_or_else(outside)?;
    if end as u64 > len {
        return Err(outside());
    }
    let head = payload(payload_offset, payload_length).ok_or_else(outside)?;
    Ok(KernelHeader {
        release,
        version_string,
        protocol,
        compression: Codec::detect(&head),
        payload_offset,
        payload_length,
        arch: KernelArch::X86_64,
        format: ImageFormat::BzImage,
    })
}

/// Finds `"<release> <flags>"` with the loader's flag words (`SMP`, `mod_unload`,
/// `modversions`...) as a NUL-terminated string in the image.
fn find_vermagic(vmlinux: &[u8], release: &str) -> Option<String> {
    let mut needle = release.as_bytes().to_vec();
    needle.push(b' ');
    let mut from = 0;
    while let Some(at) = super::find_bytes(vmlinux, &needle, from) {
        from = at.saturating_add(1);
        // Must start a string.
        if at > 0 && vmlinux.get(at.saturating_sub(1)) != Some(&0) {
            continue;
        }
        let Some(s) = super::c_str_at(vmlinux, at) else {
            continue;
        };
        if s.len() < 200
            && s.contains("mod_unload")
            && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Some(s);
        }
    }
    None
}

/// The decompressed size a bzImage payload ends with (a hint: 0 when absent).
fn bzimage_output_size(payload: &[u8]) -> u64 {
    payload
        .len()
        .checked_sub(4)
        .and_then(|at| payload.get(at..))
        .and_then(|b| b.try_into().ok())
        .map_or(0, |b: [u8; 4]| u64::from(u32::from_le_bytes(b)))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests index fixtures they built
mod tests {
    use super::*;

    fn fake_bzimage(payload: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 0x1000];
        d[0x1f1] = 1; // setup_sects = 1 → protected-mode code at 0x400
        d[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
        d[0x202..0x206].copy_from_slice(b"HdrS");
        d[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        d[0x20e..0x210].copy_from_slice(&0x300u16.to_le_bytes());
        d[0x500..0x50f].copy_from_slice(b"9.9.9-test #1 \0");
        d[0x248..0x24c].copy_from_slice(&0x200u32.to_le_bytes());
        d[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        d[0x600..0x600 + payload.len()].copy_from_slice(payload);
        d
    }

    #[test]
    fn header_and_unknown_compression() {
        let img = fake_bzimage(b"\x11\x22\x33\x44 not compressed");
        let h = read_header(&img).unwrap();
        assert_eq!(h.release, "9.9.9-test");
        assert_eq!(h.payload_offset, 0x600);
        let err = Kernel::parse(&img).unwrap_err().to_string();
        assert!(err.contains("unknown compression"), "{err}");
    }

    #[test]
    fn unsupported_compression_is_named() {
        let img = fake_bzimage(b"\x02\x21\x4c\x18 lz4");
        let err = Kernel::parse(&img).unwrap_err().to_string();
        assert!(err.contains("lz4-legacy"), "{err}");
    }

    #[test]
    fn corrupt_payload_is_one_line() {
        let img = fake_bzimage(b"\xfd7zXZ\x00\x00\x01garbage garbage");
        let err = Kernel::parse(&img).unwrap_err().to_string();
        assert!(err.contains("corrupt xz"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn truncated_and_not_bzimage() {
        let img = fake_bzimage(b"\x1f\x8b\x08 abc");
        assert!(read_header(&img[..0x300]).is_err());
        assert!(read_header(&img[..0x5f0])
            .unwrap_err()
            .to_string()
            .contains("outside"));
        assert!(read_header(b"hello").is_err());
    }
}

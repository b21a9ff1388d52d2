//! Reading a kernel module file: `.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`.
//!
//! A module is an ELF relocatable object (`ET_REL`). What the loader looks at:
//! `.modinfo` (NUL-separated `key=value` records), `__versions` (the CRCs the module was
//! built against), `.gnu.linkonce.this_module`, the undefined symbols it imports, and —
//! for modules that other modules depend on — its own exports (`__ksymtab*`, `__kcrctab*`).
//! In a `.ko` the export tables are not yet relocated, so exports are read through the
//! symbols `__ksymtab_<name>`, `__crc_<name>`, `__kstrtabns_<name>` and relocations.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::HashMap;

use object::elf;
use object::read::elf::{FileHeader, Rel, Rela, SectionHeader, SectionTable, Sym};
use object::{Endian, Endianness, FileKind, SectionIndex};
use serde::Serialize;

use super::signature::{split_signature, ModuleSignature};
use super::{decompress, KmodError, MAX_MODULE_SIZE};
use crate::codec::Codec;

/// One `__versions` entry: a symbol the module imports and the CRC it was built against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolVersion {
    pub name: String,
    pub crc: u32,
}

/// A symbol exported by a module or by the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Export {
    pub name: String,
    /// The symbol's CRC (`None` when built without MODVERSIONS).
    pub crc: Option<u32>,
    /// Exported with `EXPORT_SYMBOL_GPL` (usable only by GPL-compatible modules).
    pub gpl_only: bool,
    /// Symbol namespace (`EXPORT_SYMBOL_NS`), importers need `import_ns=`.
    pub namespace: Option<String>,
}

/// A symbol the module needs from the kernel or another module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndefinedSymbol {
    pub name: String,
    /// Weak references may stay unresolved.
    pub weak: bool,
}

/// ELF identification of the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfIdent {
    /// 32 or 64.
    pub class_bits: u8,
    pub little_endian: bool,
    /// `e_machine` (62 = x86-64).
    pub machine: u16,
    /// Human name of `e_machine`.
    pub machine_name: String,
    /// `e_type` (1 = ET_REL, what a module must be).
    pub elf_type: u16,
}

impl ElfIdent {
    /// "ELF64 x86-64" style.
    pub fn describe(&self) -> String {
        format!("ELF{} {}", self.class_bits, self.machine_name)
    }
}

/// A parsed kernel module.
#[derive(Debug, Clone, Serialize)]
pub struct Module {
    /// Compression of the file as given.
    pub compression: Codec,
    /// Size of the ELF part (uncompressed, without the signature).
    pub elf_size: usize,
    pub elf: ElfIdent,
    /// All `.modinfo` records in file order.
    pub modinfo: Vec<(String, String)>,
    /// `name=` (the loader requires it).
    pub name: Option<String>,
    pub vermagic: Option<String>,
    /// `depends=` split on commas.
    pub depends: Vec<String>,
    pub aliases: Vec<String>,
    pub license: Option<String>,
    pub import_ns: Vec<String>,
    pub srcversion: Option<String>,
    /// `intree=Y` (absent for out-of-tree modules, which taint the kernel with `O`).
    pub intree: bool,
    /// `retpoline=Y`.
    pub retpoline: bool,
    pub softdeps: Vec<String>,
    /// Whether `.gnu.linkonce.this_module` exists ("No module found in object" otherwise).
    pub has_this_module: bool,
    /// `__versions` entries; `None` when the section is absent (no MODVERSIONS).
    pub versions: Option<Vec<SymbolVersion>>,
    /// Symbols this module exports, sorted by name.
    pub exports: Vec<Export>,
    /// Undefined symbols in symbol-table order (the order the loader resolves them).
    pub undefined: Vec<UndefinedSymbol>,
    /// The appended signature, if any.
    pub signature: Option<ModuleSignature>,
    /// Relocation types the loader applies (those into allocated sections), each once, in
    /// the order `apply_relocations()` meets them (section order, then entry order).
    pub relocation_types: Vec<RelocationType>,
}

/// A relocation type found in a module: `rela` for `SHT_RELA` sections, else `SHT_REL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RelocationType {
    pub rela: bool,
    pub r_type: u32,
}

impl Module {
    /// Parses a module file's bytes (compressed or not, signed or not).
    pub fn parse(data: &[u8]) -> Result<Module, KmodError> {
        let (compression, plain) = decompress(data, MAX_MODULE_SIZE)?;
        let (elf_bytes, signature) = split_signature(&plain)?;
        let mut module = parse_elf(elf_bytes)?;
        module.compression = compression;
        module.signature = signature;
        Ok(module)
    }

    /// The module name: `name=` from `.modinfo`, as the loader prints it.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("(unnamed module)")
    }

    /// The kernel release the module was built for: the first word of `vermagic=`.
    pub fn built_for(&self) -> Option<&str> {
        self.vermagic.as_deref()?.split(' ').next()
    }

    /// First value of a `.modinfo` key.
    pub fn modinfo_value(&self, key: &str) -> Option<&str> {
        self.modinfo
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `license=` is one the kernel treats as GPL-compatible
    /// (`license_is_gpl_compatible()` in `include/linux/license.h`).
    pub fn is_gpl_compatible(&self) -> bool {
        matches!(
            self.license.as_deref(),
            Some(
                "GPL"
                    | "GPL v2"
                    | "GPL and additional rights"
                    | "Dual BSD/GPL"
                    | "Dual MIT/GPL"
                    | "Dual MPL/GPL"
            )
        )
    }

    /// CRC recorded in `__versions` for `symbol`.
    pub fn version_of(&self, symbol: &str) -> Option<u32> {
        self.versions
            .as_ref()?
            .iter()
            .find(|v| v.name == symbol)
            .map(|v| v.crc)
    }
}

/// `e_machine` value of x86-64 (`EM_X86_64`).
pub const EM_X86_64: u16 = 62;
/// `e_machine` value of arm64 (`EM_AARCH64`).
pub const EM_AARCH64: u16 = 183;

fn machine_name(machine: u16) -> String {
    match machine {
        EM_X86_64 => "x86-64".into(),
        3 => "i386".into(),
        EM_AARCH64 => "aarch64".into(),
        40 => "arm".into(),
        21 => "ppc64".into(),
        22 => "s390".into(),
        243 => "riscv".into(),
        other => format!("machine {other}"),
    }
}

fn malformed(e: impl std::fmt::Display) -> KmodError {
    KmodError::Elf(format!("malformed ELF: {e}"))
}

/// Parses the ELF part of a module (after decompression and signature removal).
pub fn parse_elf(data: &[u8]) -> Result<Module, KmodError> {
    if !data.starts_with(b"\x7fELF") {
        return Err(KmodError::Elf(
            "not an ELF file (no \\x7fELF magic): not a kernel module".into(),
        ));
    }
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => parse_elf_generic::<elf::FileHeader64<Endianness>>(data),
        Ok(FileKind::Elf32) => parse_elf_generic::<elf::FileHeader32<Endianness>>(data),
        Ok(_) | Err(_) => Err(KmodError::Elf(
            "unknown ELF class (neither ELF32 nor ELF64)".into(),
        )),
    }
}

/// Where relocations point: (section, offset) → (symbol index, addend).
type RelocMap = HashMap<(usize, u64), (usize, i64)>;

fn parse_elf_generic<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Result<Module, KmodError> {
    let header = Elf::parse(data).map_err(malformed)?;
    let endian = header.endian().map_err(malformed)?;
    let ident = ElfIdent {
        class_bits: if header.is_class_64() { 64 } else { 32 },
        little_endian: endian.is_little_endian(),
        machine: header.e_machine(endian).0,
        machine_name: machine_name(header.e_machine(endian).0),
        elf_type: header.e_type(endian).0,
    };
    let sections = header.sections(endian, data).map_err(malformed)?;
    let section_data = |name: &[u8]| -> Result<Option<&[u8]>, KmodError> {
        match sections.section_by_name(endian, name) {
            Some((_, s)) => s.data(endian, data).map(Some).map_err(|_| {
                KmodError::Elf(format!(
                    "malformed ELF: section {} lies outside the file",
                    String::from_utf8_lossy(name)
                ))
            }),
            None => Ok(None),
        }
    };

    let modinfo = section_data(b".modinfo")?
        .map(parse_modinfo)
        .unwrap_or_default();
    let all = |key: &str| -> Vec<String> {
        modinfo
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let first = |key: &str| {
        modinfo
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let depends = first("depends")
        .map(|d| {
            d.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();

    let word = if header.is_class_64() { 8 } else { 4 };
    let versions = section_data(b"__versions")?.map(|v| parse_versions(v, word, endian));
    let has_this_module = sections
        .section_by_name(endian, b".gnu.linkonce.this_module")
        .is_some();

    let (exports, undefined) = read_symbols::<Elf>(data, endian, &sections)?;
    let relocation_types = relocation_types::<Elf>(data, endian, &sections)?;

    Ok(Module {
        compression: Codec::None,
        elf_size: data.len(),
        elf: ident,
        name: first("name"),
        vermagic: first("vermagic"),
        depends,
        aliases: all("alias"),
        license: first("license"),
        import_ns: all("import_ns"),
        srcversion: first("srcversion"),
        intree: first("intree").as_deref() == Some("Y"),
        retpoline: first("retpoline").as_deref() == Some("Y"),
        softdeps: all("softdep"),
        has_this_module,
        versions,
        exports,
        undefined,
        signature: None,
        relocation_types,
        modinfo,
    })
}

/// The distinct relocation types `apply_relocations()` would apply: relocation sections
/// whose target section is allocated (`SHF_ALLOC`), in section and entry order.
fn relocation_types<'data, Elf: FileHeader<Endian = Endianness>>(
    data: &'data [u8],
    endian: Endianness,
    sections: &SectionTable<'data, Elf, &'data [u8]>,
) -> Result<Vec<RelocationType>, KmodError> {
    let mut out: Vec<RelocationType> = Vec::new();
    let mut add = |t: RelocationType| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    for (_, section) in sections.enumerate() {
        let target = section.sh_info(endian) as usize;
        let Ok(target_header) = sections.section(SectionIndex(target)) else {
            continue;
        };
        if target_header.sh_flags(endian).0 & elf::SHF_ALLOC.0 == 0 {
            continue;
        }
        if let Some((relas, _)) = section.rela(endian, data).map_err(malformed)? {
            for r in relas {
                add(RelocationType {
                    rela: true,
                    r_type: r.r_type(endian, false).0,
                });
            }
        } else if let Some((rels, _)) = section.rel(endian, data).map_err(malformed)? {
            for r in rels {
                add(RelocationType {
                    rela: false,
                    r_type: r.r_type(endian).0,
                });
            }
        }
    }
    Ok(out)
}

/// `.modinfo`: NUL-separated `key=value` records (padding NULs in between).
fn parse_modinfo(data: &[u8]) -> Vec<(String, String)> {
    data.split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let text = String::from_utf8_lossy(r);
            let (k, v) = text.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// `__versions`: `struct modversion_info { unsigned long crc; char name[64 - sizeof(long)]; }`.
/// Only the low 32 bits of the CRC are meaningful (the loader compares a u32).
fn parse_versions(data: &[u8], word: usize, endian: Endianness) -> Vec<SymbolVersion> {
    data.chunks_exact(64)
        .filter_map(|rec| {
            let (crc_bytes, name) = rec.split_at(word);
            let crc = read_word(crc_bytes, endian) as u32;
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let name = String::from_utf8_lossy(name.get(..end)?).into_owned();
            (!name.is_empty()).then_some(SymbolVersion { name, crc })
        })
        .collect()
}

fn read_word(bytes: &[u8], endian: Endianness) -> u64 {
    let mut v: u64 = 0;
    if endian.is_little_endian() {
        for &b in bytes.iter().rev() {
            v = v << 8 | b as u64;
        }
    } else {
        for &b in bytes {
            v = v << 8 | b as u64;
        }
    }
    v
}

fn read_u32(bytes: &[u8], offset: u64, endian: Endianness) -> Option<u32> {
    let start = usize::try_from(offset).ok()?;
    let b = bytes.get(start..start.checked_add(4)?)?;
    Some(read_word(b, endian) as u32)
}

/// Exports (with CRCs, GPL-ness, namespaces) and undefined symbols of a relocatable module.
fn read_symbols<'data, Elf: FileHeader<Endian = Endianness>>(
    data: &'data [u8],
    endian: Endianness,
    sections: &SectionTable<'data, Elf, &'data [u8]>,
) -> Result<(Vec<Export>, Vec<UndefinedSymbol>), KmodError> {
    let symbols = sections
        .symbols(endian, data, elf::SHT_SYMTAB)
        .map_err(malformed)?;
    let relocs = relocations_into::<Elf>(
        data,
        endian,
        sections,
        &[
            b"__ksymtab",
            b"__ksymtab_gpl",
            b"__kcrctab",
            b"__kcrctab_gpl",
        ],
    )?;

    let section_name = |index: usize| -> &[u8] {
        sections
            .section(SectionIndex(index))
            .ok()
            .and_then(|s| sections.section_name(endian, s).ok())
            .unwrap_or(b"")
    };
    let section_bytes = |index: usize| -> &[u8] {
        sections
            .section(SectionIndex(index))
            .ok()
            .and_then(|s| s.data(endian, data).ok())
            .unwrap_or(&[])
    };

    // Symbol name → (section index, value, shndx) for the helper symbols.
    let mut by_name: HashMap<&[u8], (elf::SymbolSection, u64)> = HashMap::new();
    let mut ksymtab: Vec<(String, usize, u64)> = Vec::new();
    let mut undefined = Vec::new();
    for (_, sym) in symbols.enumerate().skip(1) {
        let name = symbols.symbol_name(endian, sym).map_err(malformed)?;
        if name.is_empty() {
            continue;
        }
        let shndx = sym.st_shndx(endian);
        let value: u64 = sym.st_value(endian).into();
        if shndx == elf::SHN_UNDEF {
            undefined.push(UndefinedSymbol {
                name: String::from_utf8_lossy(name).into_owned(),
                weak: sym.st_bind() == elf::STB_WEAK,
            });
            continue;
        }
        if let Some(export) = name.strip_prefix(b"__ksymtab_") {
            let sec = shndx.0 as usize;
            let sec_name = section_name(sec);
            if sec_name == b"__ksymtab" || sec_name == b"__ksymtab_gpl" {
                ksymtab.push((String::from_utf8_lossy(export).into_owned(), sec, value));
            }
        }
        if name.starts_with(b"__crc_") || name.starts_with(b"__kstrtabns_") {
            by_name.insert(name, (shndx, value));
        }
    }

    // Resolves the target of a relocation to (section, offset) of the referenced byte.
    let reloc_target = |sec: usize, offset: u64| -> Option<(elf::SymbolSection, u64)> {
        let &(sym_index, addend) = relocs.get(&(sec, offset))?;
        let sym = symbols.symbol(object::SymbolIndex(sym_index)).ok()?;
        let base: u64 = sym.st_value(endian).into();
        Some((sym.st_shndx(endian), base.wrapping_add(addend as u64)))
    };

    let mut exports = Vec::with_capacity(ksymtab.len());
    for (name, sec, value) in ksymtab {
        let gpl_only = section_name(sec) == b"__ksymtab_gpl";
        let crc = by_name
            .get(format!("__crc_{name}").as_bytes())
            .and_then(|&(shndx, v)| {
                if shndx == elf::SHN_ABS {
                    // ≤ 5.18: absolute symbol whose value is the CRC.
                    return Some(v as u32);
                }
                // ≥ 5.19: a u32 in __kcrctab*, possibly still to be relocated.
                let sec = shndx.0 as usize;
                if let Some((tshndx, tval)) = reloc_target(sec, v) {
                    if tshndx == elf::SHN_ABS {
                        return Some(tval as u32);
                    }
                }
                read_u32(section_bytes(sec), v, endian)
            });
        let namespace = match by_name.get(format!("__kstrtabns_{name}").as_bytes()) {
            Some(&(shndx, v)) => usize::try_from(v)
                .ok()
                .and_then(|off| super::c_str_at(section_bytes(shndx.0 as usize), off)),
            None => reloc_target(sec, value.wrapping_add(8)).and_then(|(tsec, off)| {
                usize::try_from(off)
                    .ok()
                    .and_then(|off| super::c_str_at(section_bytes(tsec.0 as usize), off))
            }),
        }
        .filter(|ns| !ns.is_empty());
        exports.push(Export {
            name,
            crc,
            gpl_only,
            namespace,
        });
    }
    exports.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((exports, undefined))
}

/// Relocations whose target section is one of `targets`, keyed by (section, offset).
fn relocations_into<'data, Elf: FileHeader<Endian = Endianness>>(
    data: &'data [u8],
    endian: Endianness,
    sections: &SectionTable<'data, Elf, &'data [u8]>,
    targets: &[&[u8]],
) -> Result<RelocMap, KmodError> {
    let mut map = RelocMap::new();
    for (_, section) in sections.enumerate() {
        let target = section.sh_info(endian) as usize;
        let Ok(target_header) = sections.section(SectionIndex(target)) else {
            continue;
        };
        let Ok(target_name) = sections.section_name(endian, target_header) else {
            continue;
        };
        if !targets.contains(&target_name) {
            continue;
        }
        if let Some((relas, _)) = section.rela(endian, data).map_err(malformed)? {
            for r in relas {
                map.insert(
                    (target, r.r_offset(endian).into()),
                    (r.r_sym(endian, false) as usize, r.r_addend(endian).into()),
                );
            }
        } else if let Some((rels, _)) = section.rel(endian, data).map_err(malformed)? {
            for r in rels {
                map.insert(
                    (target, r.r_offset(endian).into()),
                    (r.r_sym(endian) as usize, 0),
                );
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests index fixtures they built
mod tests {
    use super::*;

    #[test]
    fn not_elf() {
        let err = Module::parse(b"hello world").unwrap_err().to_string();
        assert!(err.starts_with("not an ELF file"), "{err}");
    }

    #[test]
    fn truncated_elf() {
        let err = Module::parse(b"\x7fELF\x02\x01\x01\0\0\0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ELF"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn modinfo_records() {
        let recs = parse_modinfo(b"license=GPL\0\0\0alias=a\0alias=b\0depends=\0");
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[1], ("alias".into(), "a".into()));
    }

    #[test]
    fn versions_records() {
        let mut rec = vec![0u8; 128];
        rec[..8].copy_from_slice(&0xdead_beef_u64.to_le_bytes());
        rec[8..21].copy_from_slice(b"module_layout");
        rec[64..72].copy_from_slice(&0x1234_u64.to_le_bytes());
        rec[72..78].copy_from_slice(b"printk");
        let v = parse_versions(&rec, 8, Endianness::Little);
        assert_eq!(v[0].name, "module_layout");
        assert_eq!(v[0].crc, 0xdead_beef);
        assert_eq!(v[1].crc, 0x1234);
    }
}

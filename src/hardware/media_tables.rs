//! The RHEL 9.0–9.3 in-driver tables, read from the module's own bytes when it has them.
//!
//! RHEL's mpt3sas (and the other drivers with `#ifdef CONFIG_RHEL_DIFFERENCES` blocks) carries
//! `static const struct pci_device_id rh_disabled_pci_table[]` (and `rh_unmaintained_…`,
//! `rh_deprecated_…`), checked in the probe. Static data has no modalias, but a kernel module
//! keeps its symbol table (`--strip-debug` only), so the array is found by name in `.symtab`
//! and read from its section: `pci_device_id` entries (vendor, device, subvendor, subdevice,
//! class, class_mask as u32, driver_data as u64; 32 bytes, or 40 where the kernel has the
//! `override_only` field, Linux 5.15+ and backports), ending with a zero entry. The size is
//! the one for which the array's only zero entry is its last. Vendor and device are
//! constants, never relocated. What this cannot read: the
//! 9.4+ central list (`rh_disabled_pci_devices` in vmlinux: the installer's vmlinuz has no
//! symbol table) — the built-in table answers for it.

use object::elf;
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{Endianness, SectionIndex};
use serde::Serialize;

/// The tables found in one module (`None` from [`read`] when it has none of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RhTables {
    pub disabled: Vec<(u16, u16)>,
    pub unmaintained: Vec<(u16, u16)>,
    pub deprecated: Vec<(u16, u16)>,
}

/// `struct pci_device_id` on 64-bit: with `override_only` (padded), and without.
const ENTRY_SIZES: [usize; 2] = [40, 32];
const PCI_ANY_ID: u32 = 0xffff_ffff;
const MAX_ENTRIES: usize = 4096;

/// Reads the `rh_*_pci_table` arrays of an uncompressed x86-64 module.
pub fn read(data: &[u8]) -> Option<RhTables> {
    let header = elf::FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, data).ok()?;
    let symbols = sections.symbols(endian, data, elf::SHT_SYMTAB).ok()?;
    let mut tables = RhTables::default();
    let mut found = false;
    for (_, sym) in symbols.enumerate().skip(1) {
        let Ok(name) = symbols.symbol_name(endian, sym) else {
            continue;
        };
        let slot = match name {
            b"rh_disabled_pci_table" => &mut tables.disabled,
            b"rh_unmaintained_pci_table" => &mut tables.unmaintained,
            b"rh_deprecated_pci_table" => &mut tables.deprecated,
            _ => continue,
        };
        // A regular section index (not undefined, absolute or extended).
        let Some(shndx) = sym.st_shndx(endian).index() else {
            continue;
        };
        let Ok(section) = sections.section(SectionIndex(usize::from(shndx))) else {
            continue;
        };
        let Ok(bytes) = section.data(endian, data) else {
            continue;
        };
        let start = usize::try_from(sym.st_value(endian)).ok()?;
        let len = usize::try_from(sym.st_size(endian)).ok()?;
        let Some(array) = start.checked_add(len).and_then(|end| bytes.get(start..end)) else {
            continue;
        };
        let ids = |e: &[u8]| {
            let word = |i: usize| {
                e.get(i..i + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes)
                    .unwrap_or(0)
            };
            (word(0), word(4))
        };
        let Some(size) = ENTRY_SIZES.into_iter().find(|&size| {
            array.len() % size == 0
                && array
                    .chunks_exact(size)
                    .position(|e| ids(e) == (0, 0))
                    .is_some_and(|first_zero| first_zero + 1 == array.len() / size)
        }) else {
            continue;
        };
        found = true;
        for e in array.chunks_exact(size).take(MAX_ENTRIES) {
            let (vendor, device) = ids(e);
            if vendor == 0 && device == 0 {
                break;
            }
            if vendor != PCI_ANY_ID && device != PCI_ANY_ID {
                slot.push((vendor as u16, device as u16));
            }
        }
    }
    found.then_some(tables)
}

/// The tables of the initrd module called `module` (files: the initrd's module tree as
/// (path, bytes), possibly compressed), with the path read.
pub fn for_module(files: &[(String, Vec<u8>)], module: &str) -> Option<(String, RhTables)> {
    let want = module.replace('-', "_");
    files.iter().find_map(|(path, bytes)| {
        let base = path.rsplit('/').next()?;
        let stem = base.split(".ko").next()?;
        if !base.contains(".ko") || stem.replace('-', "_") != want {
            return None;
        }
        let (_, plain) = crate::kmod::decompress(bytes, crate::kmod::MAX_MODULE_SIZE).ok()?;
        Some((path.clone(), read(&plain)?))
    })
}

//! Volume descriptors (ECMA-119 §8): primary, supplementary (Joliet), boot record. The field
//! offsets are `format::iso9660::vd` and `format::eltorito`, shared with the writer.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::{Read, Seek};

use super::format::iso9660::{dr, vd, FIRST_DESCRIPTOR_SECTOR};
use super::format::{eltorito, le32, ucs2be};
use super::{read_at, IsoError, SECTOR};

/// What a volume descriptor is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DescriptorKind {
    /// Primary volume descriptor (type 1).
    Primary,
    /// Supplementary descriptor with a Joliet escape sequence (level 1–3).
    Joliet { level: u8 },
    /// Other supplementary or enhanced descriptor (type 2).
    Supplementary,
    /// Boot record (type 0); El Torito when `catalog_lba` is set.
    BootRecord { catalog_lba: u32 },
    /// Volume partition descriptor or unknown type.
    Other { code: u8 },
}

/// The root directory record of a descriptor: its extent and where the record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RootRef {
    pub lba: u32,
    pub size: u32,
    /// Absolute byte offset of the 34-byte root record inside the descriptor.
    pub record_offset: u64,
}

/// Path table location of a primary/supplementary descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PathTables {
    pub size: u32,
    pub l_lba: u32,
    pub m_lba: u32,
}

/// One volume descriptor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VolumeDescriptor {
    /// Sector number (16, 17, ...).
    pub sector: u32,
    pub kind: DescriptorKind,
    /// Volume identifier (trailing spaces removed; UCS-2 decoded for Joliet).
    pub volume_id: String,
    /// Volume space size in 2048-byte sectors (primary/supplementary only, else 0).
    pub volume_space_size: u32,
    /// Root directory (primary/supplementary only).
    #[serde(skip)]
    pub root: Option<RootRef>,
    #[serde(skip)]
    pub path_tables: Option<PathTables>,
}

impl VolumeDescriptor {
    /// Byte offset of the descriptor.
    pub fn offset(&self) -> u64 {
        u64::from(self.sector) * SECTOR
    }

    /// Absolute byte offset of a field of the descriptor (a `format::iso9660::vd` offset).
    pub fn field_offset(&self, field: usize) -> u64 {
        self.offset().saturating_add(field as u64)
    }
}

/// Most descriptors read before giving up on finding a terminator.
const MAX_DESCRIPTORS: u32 = 64;

/// Reads descriptors from sector 16 to the set terminator.
pub fn read_descriptors<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
) -> Result<Vec<VolumeDescriptor>, IsoError> {
    if file_len < 17 * SECTOR {
        return Err(IsoError::NotIso(format!(
            "{file_len} bytes is too small for an ISO 9660 image"
        )));
    }
    let mut out = Vec::new();
    for sector in FIRST_DESCRIPTOR_SECTOR..FIRST_DESCRIPTOR_SECTOR + MAX_DESCRIPTORS {
        let offset = u64::from(sector) * SECTOR;
        if offset.saturating_add(SECTOR) > file_len {
            break;
        }
        let b = read_at(r, offset, SECTOR as usize, file_len, "volume descriptor")?;
        if !vd::has_standard_id(&b) {
            if sector == FIRST_DESCRIPTOR_SECTOR {
                return Err(IsoError::NotIso(
                    "no CD001 volume descriptor at sector 16".into(),
                ));
            }
            break;
        }
        let code = b.get(vd::TYPE).copied().unwrap_or(0);
        if code == vd::TYPE_TERMINATOR {
            break;
        }
        let kind = match code {
            vd::TYPE_BOOT_RECORD => {
                if b.get(eltorito::BOOT_SYSTEM_ID) == Some(eltorito::EL_TORITO_ID.as_slice()) {
                    DescriptorKind::BootRecord {
                        catalog_lba: le32(&b, eltorito::CATALOG_POINTER),
                    }
                } else {
                    DescriptorKind::Other { code }
                }
            }
            vd::TYPE_PRIMARY => DescriptorKind::Primary,
            vd::TYPE_SUPPLEMENTARY => match vd::joliet_level(&b) {
                Some(level) => DescriptorKind::Joliet { level },
                None => DescriptorKind::Supplementary,
            },
            _ => DescriptorKind::Other { code },
        };
        let has_tree = matches!(
            kind,
            DescriptorKind::Primary | DescriptorKind::Joliet { .. } | DescriptorKind::Supplementary
        );
        let (volume_id, volume_space_size, root, path_tables) = if has_tree {
            let id_bytes = b
                .get(vd::VOLUME_ID..vd::VOLUME_ID + vd::VOLUME_ID_LEN)
                .unwrap_or_default();
            let volume_id = if matches!(kind, DescriptorKind::Joliet { .. }) {
                ucs2be(id_bytes).trim_end().to_string()
            } else {
                String::from_utf8_lossy(id_bytes).trim_end().to_string()
            };
            let root_record = dr::DirRecord(b.get(vd::ROOT_RECORD..).unwrap_or_default());
            let root = RootRef {
                lba: root_record.extent(),
                size: root_record.data_len(),
                record_offset: offset.saturating_add(vd::ROOT_RECORD as u64),
            };
            let (size, l_lba, m_lba) = vd::path_tables(&b);
            let pt = PathTables { size, l_lba, m_lba };
            (volume_id, vd::volume_space_size(&b), Some(root), Some(pt))
        } else {
            (String::new(), 0, None, None)
        };
        out.push(VolumeDescriptor {
            sector,
            kind,
            volume_id,
            volume_space_size,
            root,
            path_tables,
        });
    }
    if !out.iter().any(|d| d.kind == DescriptorKind::Primary) {
        return Err(IsoError::NotIso("no primary volume descriptor".into()));
    }
    Ok(out)
}

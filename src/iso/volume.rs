//! Volume descriptors (ECMA-119 §8): primary, supplementary (Joliet), boot record.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::{Read, Seek};

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
}

/// Most descriptors read before giving up on finding a terminator.
const MAX_DESCRIPTORS: u32 = 64;

/// `N` bytes at `at`, or None when they are not all there.
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    bytes_at(b, at).map_or(0, u32::from_le_bytes)
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    bytes_at(b, at).map_or(0, u32::from_be_bytes)
}

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    bytes_at(b, at).map_or(0, u16::from_le_bytes)
}

/// Decodes UCS-2 big-endian (Joliet), replacing unpaired surrogates.
pub(crate) fn ucs2be(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| bytes_at(c, 0).map_or(0, u16::from_be_bytes))
        .collect();
    String::from_utf16_lossy(&units)
}

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
    for sector in 16..16 + MAX_DESCRIPTORS {
        let offset = u64::from(sector) * SECTOR;
        if offset.saturating_add(SECTOR) > file_len {
            break;
        }
        let b = read_at(r, offset, SECTOR as usize, file_len, "volume descriptor")?;
        if b.get(1..6) != Some(b"CD001") {
            if sector == 16 {
                return Err(IsoError::NotIso(
                    "no CD001 volume descriptor at sector 16".into(),
                ));
            }
            break;
        }
        let code = b.first().copied().unwrap_or(0);
        if code == 255 {
            break;
        }
        let kind = match code {
            0 => {
                if b.get(7..30) == Some(b"EL TORITO SPECIFICATION".as_slice()) {
                    DescriptorKind::BootRecord {
                        catalog_lba: le32(&b, 71),
                    }
                } else {
                    DescriptorKind::Other { code }
                }
            }
            1 => DescriptorKind::Primary,
            2 => match b.get(88..91) {
                Some(b"%/@") => DescriptorKind::Joliet { level: 1 },
                Some(b"%/C") => DescriptorKind::Joliet { level: 2 },
                Some(b"%/E") => DescriptorKind::Joliet { level: 3 },
                _ => DescriptorKind::Supplementary,
            },
            _ => DescriptorKind::Other { code },
        };
        let has_tree = matches!(
            kind,
            DescriptorKind::Primary | DescriptorKind::Joliet { .. } | DescriptorKind::Supplementary
        );
        let (volume_id, volume_space_size, root, path_tables) = if has_tree {
            let id_bytes = b.get(40..72).unwrap_or_default();
            let volume_id = if matches!(kind, DescriptorKind::Joliet { .. }) {
                ucs2be(id_bytes).trim_end().to_string()
            } else {
                String::from_utf8_lossy(id_bytes).trim_end().to_string()
            };
            let root = RootRef {
                lba: le32(&b, 156 + 2),
                size: le32(&b, 156 + 10),
                record_offset: offset.saturating_add(156),
            };
            let pt = PathTables {
                size: le32(&b, 132),
                l_lba: le32(&b, 140),
                m_lba: be32(&b, 148),
            };
            (volume_id, le32(&b, 80), Some(root), Some(pt))
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

//! `inspect` report of an ISO: label, size, descriptors, El Torito, system area, hard
//! links, files, isomd5sum field presence. Fields are public so the pipeline can add
//! sections (kernels, initrds, boot configs); JSON field order is the struct order.

use std::io::Write;

use serde::Serialize;

use super::eltorito::BootCatalog;
use super::sysarea::SystemArea;
use super::volume::VolumeDescriptor;
use super::{Image, NodeKind};

/// One file of the primary tree.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Path with a leading slash, e.g. `/isolinux/initrd.img`.
    pub path: String,
    /// First sector of the (first) extent.
    pub lba: u32,
    pub size: u64,
    /// Number of extents (more than one only for files > 4 GiB).
    pub extents: usize,
}

/// What the PVD application-use field holds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Md5Field {
    /// An `ISO MD5SUM = ` text is present (validity is checked by `iso::md5`).
    pub present: bool,
    /// The field text without trailing spaces/NULs, if it is printable ASCII.
    pub text: Option<String>,
}

impl Md5Field {
    /// Parses the 512-byte application-use field.
    pub fn parse(app_use: &[u8]) -> Md5Field {
        let trimmed: &[u8] = {
            let end = app_use
                .iter()
                .rposition(|&b| b != b' ' && b != 0)
                .map_or(0, |p| p + 1);
            app_use.get(..end).unwrap_or(&[])
        };
        let text = (!trimmed.is_empty()
            && trimmed.iter().all(|b| b.is_ascii_graphic() || *b == b' '))
        .then(|| String::from_utf8_lossy(trimmed).into_owned());
        Md5Field {
            present: text.as_deref().is_some_and(|t| t.contains("ISO MD5SUM = ")),
            text,
        }
    }
}

/// The `inspect` report of an ISO image.
#[derive(Debug, Clone, Serialize)]
pub struct IsoReport {
    /// Volume identifier of the PVD.
    pub label: String,
    /// Joliet volume identifier, if any.
    pub joliet_label: Option<String>,
    /// Size of the image file in bytes.
    pub file_size: u64,
    /// Volume size per PVD, in bytes.
    pub volume_size: u64,
    pub rock_ridge: bool,
    pub joliet: bool,
    pub descriptors: Vec<VolumeDescriptor>,
    pub el_torito: Option<BootCatalog>,
    pub system_area: SystemArea,
    /// Paths sharing one data extent.
    pub hardlink_groups: Vec<Vec<String>>,
    pub md5: Md5Field,
    pub files: Vec<FileEntry>,
    /// Bytes read from the image to produce this report.
    pub bytes_read: u64,
}

impl IsoReport {
    /// Builds the report from an opened image.
    pub fn from_image(image: &Image) -> IsoReport {
        let mut files: Vec<FileEntry> = image
            .primary
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::File)
            .map(|n| FileEntry {
                path: format!("/{}", n.path),
                lba: n.extents.first().map_or(0, |e| e.lba),
                size: n.size,
                extents: n.extents.len(),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        IsoReport {
            label: image.volume_id().to_string(),
            joliet_label: image
                .descriptors
                .iter()
                .find(|d| matches!(d.kind, super::DescriptorKind::Joliet { .. }))
                .map(|d| d.volume_id.clone()),
            file_size: image.file_len,
            volume_size: image.volume_bytes(),
            rock_ridge: image.primary.rock_ridge,
            joliet: image.joliet.is_some(),
            descriptors: image.descriptors.clone(),
            el_torito: image.boot_catalog.clone(),
            system_area: image.system_area.clone(),
            hardlink_groups: image.hardlink_groups(),
            md5: Md5Field::parse(&image.app_use),
            files,
            bytes_read: image.bytes_read,
        }
    }
}

impl crate::report::Report for IsoReport {
    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "Volume id:   {}", self.label)?;
        if let Some(j) = &self.joliet_label {
            writeln!(out, "Joliet id:   {j}")?;
        }
        writeln!(
            out,
            "Size:        {} bytes (volume {} bytes){}{}",
            self.file_size,
            self.volume_size,
            if self.rock_ridge { ", Rock Ridge" } else { "" },
            if self.joliet { ", Joliet" } else { "" }
        )?;
        match &self.el_torito {
            Some(cat) => {
                writeln!(
                    out,
                    "El Torito:   catalog at sector {} ({})",
                    cat.lba,
                    cat.path.as_deref().unwrap_or("-")
                )?;
                for e in &cat.entries {
                    writeln!(
                        out,
                        "  {:<5} {} emul={} load_size={} lba={} {}{}",
                        e.platform,
                        if e.bootable { "bootable" } else { "no-boot " },
                        e.emulation,
                        e.load_size,
                        e.lba,
                        e.path.as_deref().unwrap_or("-"),
                        if e.boot_info_table {
                            " (boot-info-table)"
                        } else {
                            ""
                        }
                    )?;
                }
            }
            None => writeln!(out, "El Torito:   none")?,
        }
        for p in &self.system_area.mbr {
            writeln!(
                out,
                "MBR p{}:      status={:#04x} type={:#04x} start={} sectors={} {}",
                p.number,
                p.status,
                p.part_type,
                p.start,
                p.sectors,
                p.path.as_deref().unwrap_or("")
            )?;
        }
        if let Some(gpt) = &self.system_area.gpt {
            writeln!(
                out,
                "GPT:         backup at {} (primary crc {}), usable {}..{}, {} entries",
                gpt.primary.alternate_lba,
                if gpt.primary.header_crc_ok && gpt.primary.entries_crc_ok {
                    "ok"
                } else {
                    "BAD"
                },
                gpt.primary.first_usable,
                gpt.primary.last_usable,
                gpt.primary.num_entries
            )?;
            for p in &gpt.partitions {
                writeln!(
                    out,
                    "  GPT p{}:    {} {}..{} {}",
                    p.number,
                    p.name,
                    p.first_lba,
                    p.last_lba,
                    p.path.as_deref().unwrap_or("")
                )?;
            }
        }
        for g in &self.hardlink_groups {
            writeln!(out, "Hard links:  {}", g.join(" = "))?;
        }
        writeln!(
            out,
            "MD5 field:   {}",
            if self.md5.present {
                "present"
            } else {
                "absent"
            }
        )?;
        writeln!(out, "Files:       {}", self.files.len())?;
        for f in &self.files {
            writeln!(out, "  {:>8} {:>12} {}", f.lba, f.size, f.path)?;
        }
        Ok(())
    }
}

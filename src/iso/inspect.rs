//! `inspect` report of an ISO: label, size, descriptors, El Torito, system area, hard
//! links, files, isomd5sum field presence. Fields are public so the pipeline can add
//! sections (kernels, initrds, boot configs); JSON field order is the struct order.
//!
//! Files are summarised by default: a DVD holds thousands of packages, which say nothing
//! about how the media boots. The summary counts files and bytes per top-level directory
//! and lists the boot-relevant files in full: those at the root (`.treeinfo`,
//! `.discinfo`), in the boot directories (`isolinux/`, `EFI/`, `images/`, `LiveOS/`,
//! `boot/`) and those El Torito or a partition points at. A boot directory holding more
//! than [`BOOT_DIR_LIST_MAX`] files itself (GRUB's module directories) is summarised like a
//! top-level one. Every file is listed only on request ([`IsoReport::list_files`]).

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

/// Files and bytes under one directory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DirSummary {
    /// With a leading slash, e.g. `/AppStream`; `/` for the files at the root itself.
    pub path: String,
    pub files: usize,
    /// Sum of the file sizes (a hard-linked extent counts once per name).
    pub bytes: u64,
}

/// Top-level directories whose files are listed in the summary (compared ignoring case:
/// media without Rock Ridge carry upper-case names).
pub const BOOT_DIRS: &[&str] = &["isolinux", "EFI", "images", "LiveOS", "boot"];

/// A boot directory with more files than this (directly inside it) is summarised.
pub const BOOT_DIR_LIST_MAX: usize = 32;

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
    /// Number of files in the primary tree, and the sum of their sizes (a hard-linked
    /// extent counts once per name).
    pub file_count: usize,
    pub file_bytes: u64,
    /// Per top-level directory (`/` for the files at the root), sorted by path.
    pub directories: Vec<DirSummary>,
    /// The boot-relevant files (see the module header), sorted by path.
    pub boot_files: Vec<FileEntry>,
    /// Boot directories summarised instead of listed (more than [`BOOT_DIR_LIST_MAX`]
    /// files directly inside).
    pub boot_dirs_summarised: Vec<DirSummary>,
    /// Every file, sorted by path: only when asked for ([`IsoReport::list_files`],
    /// `inspect --files`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileEntry>>,
    /// Bytes read from the image to produce this report.
    pub bytes_read: u64,
}

/// `/dir` of a path without a leading slash, `/` for a file at the root.
fn top_dir(path: &str) -> String {
    match path.split_once('/') {
        Some((top, _)) => format!("/{top}"),
        None => "/".to_string(),
    }
}

/// The directory holding `path` (with a leading slash; `/` for the root).
fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("/", |(dir, _)| dir)
}

/// The boot-relevant files of `files` and the boot directories summarised instead.
fn boot_files(
    files: &[FileEntry],
    named: &std::collections::HashSet<String>,
) -> (Vec<FileEntry>, Vec<DirSummary>) {
    let in_boot_dir = |f: &FileEntry| {
        let rel = f.path.trim_start_matches('/');
        match rel.split_once('/') {
            None => true,
            Some((top, _)) => BOOT_DIRS.iter().any(|d| d.eq_ignore_ascii_case(top)),
        }
    };
    let mut per_dir: std::collections::BTreeMap<&str, DirSummary> = Default::default();
    for f in files.iter().filter(|f| in_boot_dir(f)) {
        let dir = parent_dir(&f.path);
        let e = per_dir.entry(dir).or_insert_with(|| DirSummary {
            path: if dir.is_empty() {
                "/".into()
            } else {
                dir.into()
            },
            files: 0,
            bytes: 0,
        });
        e.files += 1;
        e.bytes += f.size;
    }
    let listed = files
        .iter()
        .filter(|f| {
            named.contains(&f.path)
                || (in_boot_dir(f)
                    && per_dir
                        .get(parent_dir(&f.path))
                        .is_some_and(|d| d.files <= BOOT_DIR_LIST_MAX))
        })
        .cloned()
        .collect();
    let summarised = per_dir
        .into_values()
        .filter(|d| d.files > BOOT_DIR_LIST_MAX)
        .collect();
    (listed, summarised)
}

impl IsoReport {
    /// Adds the list of every file (`inspect --files`).
    pub fn list_files(&mut self, image: &Image) {
        self.files = Some(all_files(image));
    }

    /// Builds the report from an opened image (files summarised, see the module header).
    pub fn from_image(image: &Image) -> IsoReport {
        let files = all_files(image);
        let mut directories: std::collections::BTreeMap<String, DirSummary> = Default::default();
        for f in &files {
            let top = top_dir(f.path.trim_start_matches('/'));
            let e = directories.entry(top.clone()).or_insert(DirSummary {
                path: top,
                files: 0,
                bytes: 0,
            });
            e.files += 1;
            e.bytes += f.size;
        }
        // Files El Torito and the partitions point at, wherever they are.
        let with_slash = |p: &Option<String>| {
            p.as_deref()
                .map(|p| format!("/{}", p.trim_start_matches('/')))
        };
        let mut named = std::collections::HashSet::new();
        if let Some(cat) = &image.boot_catalog {
            named.extend(with_slash(&cat.path));
            named.extend(cat.entries.iter().filter_map(|e| with_slash(&e.path)));
        }
        named.extend(
            image
                .system_area
                .mbr
                .iter()
                .filter_map(|p| with_slash(&p.path)),
        );
        if let Some(gpt) = &image.system_area.gpt {
            named.extend(gpt.partitions.iter().filter_map(|p| with_slash(&p.path)));
        }
        let (boot_files, boot_dirs_summarised) = boot_files(&files, &named);
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
            file_count: files.len(),
            file_bytes: files.iter().map(|f| f.size).sum(),
            directories: directories.into_values().collect(),
            boot_files,
            boot_dirs_summarised,
            files: None,
            bytes_read: image.bytes_read,
        }
    }
}

/// Every file of the primary tree, sorted by path.
fn all_files(image: &Image) -> Vec<FileEntry> {
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
    files
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
        writeln!(
            out,
            "Files:       {} ({} bytes){}",
            self.file_count,
            self.file_bytes,
            if self.files.is_none() {
                "; every file: --files"
            } else {
                ""
            }
        )?;
        for d in &self.directories {
            writeln!(
                out,
                "  {:<24} {:>7} files {:>14} bytes",
                d.path, d.files, d.bytes
            )?;
        }
        writeln!(
            out,
            "Boot files:  {} (sector, bytes, path)",
            self.boot_files.len()
        )?;
        for f in &self.boot_files {
            writeln!(out, "  {:>10} {:>12} {}", f.lba, f.size, f.path)?;
        }
        for d in &self.boot_dirs_summarised {
            writeln!(
                out,
                "  {:>10} {:>12} {}/ ({} files; every file: --files)",
                "", d.bytes, d.path, d.files
            )?;
        }
        if let Some(files) = &self.files {
            writeln!(out, "All files:   {} (sector, bytes, path)", files.len())?;
            for f in files {
                writeln!(out, "  {:>10} {:>12} {}", f.lba, f.size, f.path)?;
            }
        }
        Ok(())
    }
}

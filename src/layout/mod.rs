//! The boot layout of an installer ISO, detected from what is on the media (El Torito
//! entries, the system area, which loaders and configs exist), never from a release number.
//!
//! A [`BootLayout`] names the boot chains (BIOS: isolinux or GRUB2's El Torito image;
//! UEFI: an EFI system image that is a file of the tree or an appended partition), every
//! boot config with the firmware paths that read it, and what the writer can do with the
//! layout. Every command uses it: the plan edits exactly its configs, `inspect` shows it,
//! `verify` checks each config, and media of a layout that is not known here are refused
//! with what was found and what is missing.
//!
//! Each layout family is one file (`el8`, `el9`, `el10`, `aarch64`): its detection rule
//! and its description. Adding a layout is adding a file and a line to [`FAMILIES`].

mod aarch64;
mod el10;
mod el8;
mod el9;

use serde::Serialize;

use crate::boot::ConfigKind;
use crate::iso::Image;

/// A way firmware starts the installer from this medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Firmware {
    /// BIOS booting the El Torito image from a CD (or an IODD-like USB CD-ROM).
    BiosCd,
    /// BIOS booting a dd'd stick through the MBR code.
    BiosUsb,
    /// UEFI booting the El Torito EFI image from a CD (or a USB CD-ROM).
    UefiCd,
    /// UEFI booting a dd'd stick whose firmware honours El Torito (OVMF does).
    UefiUsb,
    /// UEFI booting a dd'd stick through its EFI system partition alone.
    UefiUsbEsp,
}

impl Firmware {
    pub fn name(self) -> &'static str {
        match self {
            Firmware::BiosCd => "BIOS-CD",
            Firmware::BiosUsb => "BIOS-USB",
            Firmware::UefiCd => "UEFI-CD",
            Firmware::UefiUsb => "UEFI-USB",
            Firmware::UefiUsbEsp => "UEFI-USB-ESP",
        }
    }
}

/// The BIOS loader of the El Torito BIOS entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "loader", rename_all = "kebab-case")]
pub enum BiosChain {
    /// isolinux.bin (EL8, EL9), with its boot-info table; the MBR code is isohybrid's.
    Isolinux { image: String },
    /// GRUB2's `i386-pc-eltorito` core (EL10, Fedora 37+), with its boot-info table and
    /// `--grub2-boot-info`; the MBR code is `boot_hybrid.img` pointing at it.
    Grub2 { image: String },
}

/// Where the UEFI firmware finds the EFI system image (a FAT file system).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EfiImage {
    /// A file of the ISO 9660 tree (`images/efiboot.img`): El Torito and any MBR/GPT
    /// entry point at its extent.
    File { path: String },
    /// An appended partition that is no file of the tree (EL10: GPT partition 2); byte
    /// range in the image.
    Partition { number: u32, offset: u64, len: u64 },
}

impl EfiImage {
    /// How configs inside it are named: `images/efiboot.img:EFI/BOOT/grub.cfg`,
    /// `partition 2:EFI/BOOT/grub.cfg`.
    pub fn label(&self) -> String {
        match self {
            EfiImage::File { path } => path.clone(),
            EfiImage::Partition { number, .. } => format!("partition {number}"),
        }
    }
}

/// Where a boot config lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "in", content = "path", rename_all = "kebab-case")]
pub enum ConfigSite {
    /// A file of the ISO 9660 tree.
    Tree(String),
    /// A file inside the EFI system image.
    EfiImage(String),
}

/// One boot config of the layout and the firmware paths that read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigRole {
    pub site: ConfigSite,
    pub kind: ConfigKind,
    /// The firmware paths that read it (empty: kept in step for loaders not booted here,
    /// e.g. the IA32 loader's BOOT.conf, or firmware that boots the FAT image alone).
    pub read_by: Vec<Firmware>,
}

/// The layout families this version knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// EL8: mkisofs + `isohybrid --uefi` (isolinux, in-tree efiboot.img, 1 MiB padding with
    /// the backup GPT after the volume, BOOT.conf).
    El8Isohybrid,
    /// EL9: xorriso, isolinux for BIOS, in-tree efiboot.img as El Torito EFI image and
    /// MBR/GPT partition.
    El9Isolinux,
    /// EL10 / Fedora 37+: GRUB2 for BIOS, the ESP as an appended GPT partition, a second
    /// ISO 9660 tree for partition 1 (`-partition_offset 16`).
    El10Grub2,
    /// aarch64 (EL8–10): UEFI only, one El Torito EFI entry, no partition table.
    Aarch64Uefi,
}

/// What remaster can write on a layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "writes", content = "why", rename_all = "kebab-case")]
pub enum Support {
    /// Every edit, growing the image included.
    Full,
    /// Edits that keep the volume's size (config edits, a new label); growing edits
    /// (`--add-dud`, `--add-rpm`, `--add-module`, `--add`) are refused, for this reason.
    NoGrowth(&'static str),
    /// `inspect`, `check` and `verify` only; no edit, for this reason.
    ReadOnly(&'static str),
}

/// The boot layout of an ISO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootLayout {
    pub family: Family,
    /// A human name: "EL9 (isolinux BIOS, in-tree efiboot.img)".
    pub name: &'static str,
    /// `x86_64` or `aarch64`: the architecture of the loaders (and so of the kernel).
    pub arch: &'static str,
    pub bios: Option<BiosChain>,
    pub efi: Option<EfiImage>,
    /// Every config a loader of this layout may read (some may be absent on the media:
    /// [`crate::remaster::media::Media::configs`] holds those present).
    pub configs: Vec<ConfigRole>,
    /// A second ISO 9660 tree for partition 1 (`-partition_offset 16`).
    pub partition_tree: bool,
    pub support: Support,
}

impl BootLayout {
    /// The configs in the ISO 9660 tree.
    pub fn tree_configs(&self) -> impl Iterator<Item = (&str, &ConfigRole)> {
        self.configs.iter().filter_map(|c| match &c.site {
            ConfigSite::Tree(p) => Some((p.as_str(), c)),
            ConfigSite::EfiImage(_) => None,
        })
    }

    /// The configs inside the EFI system image.
    pub fn efi_configs(&self) -> impl Iterator<Item = (&str, &ConfigRole)> {
        self.configs.iter().filter_map(|c| match &c.site {
            ConfigSite::EfiImage(p) => Some((p.as_str(), c)),
            ConfigSite::Tree(_) => None,
        })
    }

    /// The installer kernel and initrd for network boot: lorax puts them in
    /// `images/pxeboot/` on every family (EL8 and EL9 hard-link them under `isolinux/`;
    /// EL10 and aarch64 have only these). `remaster pxe` copies them.
    pub fn pxeboot_files(&self) -> (&'static str, &'static str) {
        match self.family {
            Family::El8Isohybrid
            | Family::El9Isolinux
            | Family::El10Grub2
            | Family::Aarch64Uefi => ("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"),
        }
    }

    /// The firmware paths this medium offers, in a fixed order.
    pub fn firmware(&self) -> Vec<Firmware> {
        let mut all: Vec<Firmware> = self
            .configs
            .iter()
            .flat_map(|c| c.read_by.iter().copied())
            .collect();
        all.sort_by_key(|f| *f as u8);
        all.dedup();
        all
    }

    /// Fails with the layout's name and reason unless it supports `growing` edits (or, with
    /// `growing` false, any edit).
    pub fn check_writable(&self, growing: bool) -> Result<(), String> {
        match (&self.support, growing) {
            (Support::Full, _) | (Support::NoGrowth(_), false) => Ok(()),
            (Support::NoGrowth(why), true) => Err(format!(
                "{} media: edits that grow the image (a driver, an added file) are not supported yet: {why}",
                self.name
            )),
            (Support::ReadOnly(why), _) => Err(format!(
                "{} media: remaster cannot edit them yet ({why}); `remaster inspect` shows what it found",
                self.name
            )),
        }
    }
}

/// Media whose boot layout none of the families recognises: what was found, and what each
/// known layout would need.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown boot layout: found {found}; known layouts: {known}")]
pub struct UnknownLayout {
    pub found: String,
    pub known: String,
}

/// What detection looks at, gathered once from the image.
pub(crate) struct Found<'i> {
    pub image: &'i Image,
    /// Path of the BIOS El Torito image (platform 0), if it is a file.
    pub bios_image: Option<&'i str>,
    /// Whether there is a BIOS El Torito entry at all.
    pub bios_entry: bool,
    /// The EFI El Torito entry (platform 0xEF): its file, if it is one, and its LBA.
    pub efi_entry: Option<(Option<&'i str>, u32)>,
    /// Bytes of the file after the ISO 9660 volume (isohybrid padding, appended partitions).
    pub after_volume: u64,
}

impl<'i> Found<'i> {
    fn of(image: &'i Image) -> Found<'i> {
        let entries = image
            .boot_catalog
            .as_ref()
            .map(|c| c.entries.as_slice())
            .unwrap_or_default();
        let bios = entries.iter().find(|e| e.platform_id == 0);
        let efi = entries.iter().find(|e| e.platform_id == 0xEF);
        Found {
            image,
            bios_image: bios.and_then(|e| e.path.as_deref()),
            bios_entry: bios.is_some(),
            efi_entry: efi.map(|e| (e.path.as_deref(), e.lba)),
            after_volume: image.file_len.saturating_sub(image.volume_bytes()),
        }
    }

    pub fn has(&self, path: &str) -> bool {
        self.image.find(path).is_some()
    }

    /// The config roles of `candidates`, in order. Whether each exists is for the reader
    /// to find out (files inside the EFI image are read later).
    pub fn roles(&self, candidates: &[(ConfigSite, ConfigKind, &[Firmware])]) -> Vec<ConfigRole> {
        candidates
            .iter()
            .map(|(site, kind, read_by)| ConfigRole {
                site: site.clone(),
                kind: *kind,
                read_by: read_by.to_vec(),
            })
            .collect()
    }

    /// One line: what the media has that layouts are recognised by.
    fn describe(&self) -> String {
        let bios = match (self.bios_entry, self.bios_image) {
            (false, _) => "no BIOS El Torito entry".to_string(),
            (true, Some(p)) => format!("BIOS El Torito image /{p}"),
            (true, None) => "a BIOS El Torito image that is no file".to_string(),
        };
        let efi = match self.efi_entry {
            None => "no EFI El Torito entry".to_string(),
            Some((Some(p), _)) => format!("EFI El Torito image /{p}"),
            Some((None, lba)) => format!("an EFI El Torito image at block {lba} that is no file"),
        };
        let sa = &self.image.system_area;
        let table = match (&sa.gpt, sa.mbr_signature) {
            (Some(g), _) => format!("a GPT with {} partitions", g.partitions.len()),
            (None, true) => format!("an MBR with {} partitions", sa.mbr.len()),
            (None, false) => "no partition table".to_string(),
        };
        format!(
            "{bios}, {efi}, {table}, {} bytes after the ISO 9660 volume",
            self.after_volume
        )
    }
}

/// A family: its detection rule, which describes the layout when it matches.
type Detect = fn(&Found) -> Option<BootLayout>;

/// The known families, most specific first.
const FAMILIES: &[(&str, Detect)] = &[
    (el10::NAME, el10::detect),
    (el8::NAME, el8::detect),
    (el9::NAME, el9::detect),
    (aarch64::NAME, aarch64::detect),
];

/// The boot layout of `image`.
pub fn detect(image: &Image) -> Result<BootLayout, UnknownLayout> {
    let found = Found::of(image);
    FAMILIES
        .iter()
        .find_map(|(_, detect)| detect(&found))
        .ok_or_else(|| UnknownLayout {
            found: found.describe(),
            known: FAMILIES
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join("; "),
        })
}

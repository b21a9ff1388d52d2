//! Reading a driver update disk (an ISO image or a directory) and judging it by the
//! installer's own rules ([`crate::dud::rules`] writes those rules down once). The files
//! follow the installer's pipeline:
//!
//! - [`tree`]: the container, an ISO image or a directory, as a sorted entry list plus
//!   readers for its files;
//! - [`layout`]: `find_repos`/`find_isos` over that list (repos, `rhdd3`, top-level ISOs);
//! - [`scan`]: opening a disk: the layout, every RPM of every `rpms/<arch>/`, nested images;
//! - [`dd_list`]: which RPMs `dd_list` takes for the installer kernel;
//! - [`findings`]: the disk-level verdicts ("the installer would ... because ...");
//! - [`rpm_findings`]: the verdicts on one RPM, step by step as dd_list and dd_extract go;
//! - [`loaded`]: the modules the installer would load, by the same rules;
//! - [`kabi`]: the RPM's kABI pins against the media kernel's exports.
//!
//! This file holds the model of a scanned disk ([`Dud`]).

use std::path::PathBuf;

use serde::Serialize;

use super::rpm::KmodRpm;

pub mod dd_list;
pub mod finding;
pub mod findings;
pub mod kabi;
pub mod layout;
pub mod loaded;
pub mod rpm_findings;
pub mod scan;
pub mod tree;

pub use super::rules::{
    extracts_compressed_modules, installed_module_path, major_release, InstallerContext,
};
pub use dd_list::{dd_list_verdict, evr_satisfies, DdListVerdict};
pub use finding::{Finding, Severity};
pub use findings::installer_findings;
pub use kabi::kabi_findings;
pub use layout::{analyse_layout, EntryKind, Layout, RpmDir, TreeEntry};
pub use loaded::{installer_loaded_modules, LoadedModule};
pub use rpm_findings::rpm_findings;
pub use scan::{open_dud, open_dud_bytes_for, open_dud_for, scan_dud};
pub use tree::ReadSeek;

/// What kind of container the DUD is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DudKind {
    Iso,
    Directory,
}

/// An RPM found in a `rpms/<arch>/` directory that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableRpm {
    pub path: String,
    pub error: String,
}

/// A driver update disk as read from an ISO image or a directory.
#[derive(Debug)]
pub struct Dud {
    /// Host path of the ISO or directory (for a nested ISO: the outer source).
    pub source: PathBuf,
    /// Path of this DUD inside its parent (nested ISOs), or "" at the top.
    pub inner_path: String,
    pub kind: DudKind,
    /// ISO volume id (`OEMDRV` for vendor DUDs).
    pub volume_id: Option<String>,
    pub layout: Layout,
    /// Every readable RPM in every `rpms/<arch>/` directory (their `file_name` is the path
    /// inside the DUD).
    pub rpms: Vec<KmodRpm>,
    pub unreadable_rpms: Vec<UnreadableRpm>,
    /// DUDs read from top-level `*.iso` files (the installer opens them only when the disk
    /// has no repo for its architecture).
    pub nested: Vec<Dud>,
    /// Nested ISOs that could not be read.
    pub unreadable_nested: Vec<UnreadableRpm>,
}

impl Dud {
    /// Human label: the source path plus the nested path, if any.
    pub fn label(&self) -> String {
        if self.inner_path.is_empty() {
            self.source.display().to_string()
        } else {
            format!("{}:{}", self.source.display(), self.inner_path)
        }
    }

    /// True when the installer finds at least one repo for `arch` here or in a nested ISO
    /// it would examine.
    pub fn has_repo_for(&self, arch: &str) -> bool {
        self.layout.repos(arch).next().is_some() || self.nested.iter().any(|n| n.has_repo_for(arch))
    }
}

/// Errors while reading a DUD container. One line each.
#[derive(Debug, thiserror::Error)]
pub enum DudError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a readable ISO 9660 image: {0}")]
    Iso(crate::iso::IsoError),
    #[error("{0}")]
    Layout(String),
    /// A budget of the whole scan ran out (see [`ScanBudget`]): fatal, not a per-image error.
    #[error("{0}")]
    Budget(String),
}

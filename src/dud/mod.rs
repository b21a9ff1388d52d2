//! Driver update disks (DDv3) and kmod RPMs.
//!
//! - [`rpm`]: read a kmod RPM (identity, Provides/Requires, files, module bytes).
//! - [`ddv3`]: read a DUD (ISO or directory) and judge it by the installer's own rules.
//! - [`budget`]: the budgets of one DUD scan, nested images included.
//! - [`create`]: write a DDv3 ISO from RPMs (`remaster dud create`).
//! - [`inspect`]: reports for `remaster inspect dd.iso|x.rpm`.
//! - [`rpmvercmp`]: librpm's version comparison, as dd_list uses it.
//! - [`rules`]: the installer's driver-update rules, written down once.
pub mod budget;
pub mod create;
pub mod ddv3;
pub mod inspect;
pub mod rpm;
pub mod rpmvercmp;
pub mod rules;

pub use create::{dud_image_bytes, write_dud, CreateOptions, CreatedDud};
pub use ddv3::{
    installer_findings, installer_loaded_modules, kabi_findings, open_dud, open_dud_bytes_for,
    open_dud_for, scan_dud, Dud, Finding, InstallerContext, Layout, LoadedModule, Severity,
};
pub use inspect::{DudReport, RpmReport};
pub use rpm::{read_kmod_rpm, read_kmod_rpm_file, KmodRpm, RpmLimits};

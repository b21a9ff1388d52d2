//! remaster: bake third-party kernel drivers into RHEL-family installer boot ISOs.
//!
//! The library follows the pipeline: `codec` (every compression format, once), `iso` (read and graft-write ISO 9660 images),
//! `initrd` (kernel-exact initramfs walking, overlays, module indexes), `kmod` (modules,
//! kernels and the load verdict), `dud` (driver update disks and kmod RPMs), `boot`
//! (boot menu command lines, efiboot.img edits) and `remaster` (plan, check, write).
//! Parsers take bytes or `Read + Seek`; only the pipeline and the CLI touch the filesystem.
//! The CLI (`commands`, feature `cli`) is the only part that prints.

pub mod boot;
pub mod codec;
/// The command line (feature `cli`, on by default): argument parsing, printing, progress
/// and signals live here, never in the engine.
#[cfg(feature = "cli")]
pub mod commands;
pub mod dud;
pub mod error;
pub mod hardware;
pub mod initrd;
pub mod iso;
pub mod kmod;
pub mod layout;
pub mod remaster;
pub mod report;

pub use error::{Cause, Error, Kind as ErrorKind, Result};

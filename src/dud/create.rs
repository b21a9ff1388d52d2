//! `remaster dud create`: writes a DDv3 driver update disk ISO from kmod RPMs, the way
//! vendors (ddiskit, ELRepo) make them: a file `rhdd3` ("Driver Update Disk version 3")
//! and `rpms/<arch>/<rpm>` byte-identical, ISO 9660 + Rock Ridge + Joliet, volume id
//! `OEMDRV`, owner 0:0, directories 0555, files 0444.
//!
//! Written with hadris-iso's writer. Deterministic: every date is SOURCE_DATE_EPOCH (or
//! 1980-01-01 when unset). Atomic: a temporary file beside the destination, fsync, rename
//! (`iso::output_guard`: locked while written, removed by the next run if a run is killed).

use std::path::{Path, PathBuf};

use hadris_fs::{Content, DateTime, NoClock, Node, Owner, Permissions, SetAttr};
use hadris_iso::{IsoId, IsoLevel, IsoOptions};
use serde::Serialize;

use super::rpm::read_kmod_rpm_file;
use crate::iso::output_guard;

/// The `rhdd3` text (kept here for callers that import it from `create`).
pub use super::rules::RHDD3_TEXT;
use super::rules::{DEFAULT_ARCH, RHDD3, RPMS_DIR};

/// Options for [`write_dud`].
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Replace an existing destination.
    pub force: bool,
    /// Volume id; `OEMDRV` lets the installer find the disk by itself.
    pub volume_id: String,
    /// `rpms/<arch>/` directory name (the installer's `uname -m`).
    pub arch: String,
    /// Timestamp for every date in the image; `None` → SOURCE_DATE_EPOCH, else 1980-01-01.
    pub time: Option<DateTime>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            force: false,
            volume_id: "OEMDRV".into(),
            arch: DEFAULT_ARCH.into(),
            time: None,
        }
    }
}

/// What [`write_dud`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedDud {
    pub path: PathBuf,
    pub size: u64,
    /// Paths inside the image of the RPMs, in input order.
    pub rpm_paths: Vec<String>,
    /// Non-fatal notes (e.g. an RPM without a versioned `Provides: kernel-modules`).
    pub warnings: Vec<String>,
}

/// The planned image: tree, options and notes, shared by the file and memory writers.
struct Plan {
    tree: hadris_fs::Tree,
    options: IsoOptions,
    rpm_paths: Vec<String>,
    warnings: Vec<String>,
}

fn plan(rpms: &[PathBuf], opts: &CreateOptions) -> crate::Result<Plan> {
    if rpms.is_empty() {
        return Err(crate::Error::Usage(
            "dud create needs at least one RPM".into(),
        ));
    }
    let mut warnings = Vec::new();
    let mut tree = hadris_fs::Tree::new();
    let time = match opts.time {
        Some(t) => t,
        None => hadris_fs::host::source_date_epoch()
            .map_err(|e| crate::Error::Usage(e.to_string()))?
            .unwrap_or(NoClock::TIME),
    };
    let attrs = |mode: u32| {
        SetAttr::new()
            .with_permissions(Permissions::new(mode))
            .with_owner(Owner::new(0, 0))
            .with_modified(time)
            .with_accessed(time)
            .with_created(time)
    };
    let tree_err = |e: hadris_fs::PathError| crate::Error::Usage(format!("dud layout: {e}"));
    tree.insert(
        RHDD3,
        Node::file(Content::bytes(RHDD3_TEXT.as_bytes())).with_attrs(attrs(0o444)),
    )
    .map_err(tree_err)?;
    tree.insert(RPMS_DIR, Node::dir().with_attrs(attrs(0o555)))
        .map_err(tree_err)?;
    let arch_dir = format!("{RPMS_DIR}/{}", opts.arch);
    tree.insert(&arch_dir, Node::dir().with_attrs(attrs(0o555)))
        .map_err(tree_err)?;

    let mut rpm_paths = Vec::new();
    for rpm_path in rpms {
        let rpm = read_kmod_rpm_file(rpm_path)?;
        if rpm.kernel_modules_provides().all(|p| !p.is_versioned()) {
            warnings.push(format!(
                "{}: no versioned `Provides: kernel-modules`; the installer will skip it",
                rpm_path.display()
            ));
        }
        let base = rpm_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // dd_list only globs `*.rpm`, so a differently named file would be invisible.
        let name = if base.ends_with(".rpm") && !base.starts_with('.') {
            base
        } else {
            format!("{}.rpm", rpm.nvra())
        };
        let inner = format!("{arch_dir}/{name}");
        if tree.get(&inner).is_some() {
            return Err(crate::Error::Usage(format!(
                "two RPMs would both be stored as {inner}"
            )));
        }
        let content =
            hadris_fs::host::file(rpm_path).map_err(|e| crate::Error::input(rpm_path, e))?;
        tree.insert(&inner, Node::file(content).with_attrs(attrs(0o444)))
            .map_err(tree_err)?;
        rpm_paths.push(format!("/{inner}"));
    }

    let options = IsoOptions::new()
        .with_id(IsoId::Volume, &opts.volume_id)
        .with_id(IsoId::Application, "REMASTER DUD CREATE")
        .with_level(IsoLevel::L2)
        .with_rock_ridge()
        .with_joliet()
        .with_time(time);
    Ok(Plan {
        tree,
        options,
        rpm_paths,
        warnings,
    })
}

/// Builds the same DDv3 image as [`write_dud`] in memory (for embedding as `/dd.iso` in an
/// initrd overlay). DUDs are small: the image is the RPMs plus ~50 KiB.
pub fn dud_image_bytes(
    rpms: &[PathBuf],
    opts: &CreateOptions,
) -> crate::Result<(Vec<u8>, CreatedDud)> {
    let plan = plan(rpms, opts)?;
    let mut image: Vec<u8> = Vec::new();
    let report = hadris_iso::sync::write(&mut image, &plan.tree, &plan.options)
        .map_err(|e| crate::Error::Usage(format!("cannot lay out the DUD image: {e:?}")))?;
    let mut warnings = plan.warnings;
    warnings.extend(report.warnings().iter().map(|w| format!("{w:?}")));
    let size = usize::try_from(report.size())
        .map_err(|_| crate::Error::Usage("DUD image too large".into()))?;
    image.resize(size, 0);
    let created = CreatedDud {
        path: PathBuf::new(),
        size: report.size(),
        rpm_paths: plan.rpm_paths,
        warnings,
    };
    Ok((image, created))
}

/// Writes a DDv3 ISO holding `rpms` untouched. Refuses to overwrite `out` unless
/// `opts.force`; checks every input is a readable RPM first.
pub fn write_dud(rpms: &[PathBuf], out: &Path, opts: &CreateOptions) -> crate::Result<CreatedDud> {
    if !opts.force && out.symlink_metadata().is_ok() {
        return Err(crate::Error::output(
            out,
            "already exists; pass --force to replace it",
        ));
    }
    // Built in memory (DUDs are small, see `dud_image_bytes`), so its size is known before
    // the first byte: the temporary output is locked, marked and reserved like an ISO's
    // (`iso::output_guard`), and a killed run's leftover is removed by the next one.
    let (image, created) = dud_image_bytes(rpms, opts)?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let len = image.len() as u64;
    let temp = output_guard::create(&dir, ".remaster-dud-", out, len)?;
    output_guard::reserve(temp.as_file(), out, len)?;
    {
        use std::os::unix::fs::FileExt;
        let file = temp.as_file();
        file.write_all_at(&image, 0)
            .and_then(|_| file.sync_all())
            .and_then(|_| output_guard::seal(file, len))
            .map_err(|e| output_guard::write_failed(out, file, len, e))?;
    }
    if opts.force {
        temp.persist(out)
            .map_err(|e| crate::Error::output(out, e.error))?;
    } else {
        temp.persist_noclobber(out)
            .map_err(|e| crate::Error::output(out, e.error))?;
    }
    if let Ok(d) = std::fs::File::open(&dir) {
        // Make the rename durable; failure here leaves a complete file anyway.
        let _ = d.sync_all();
    }
    Ok(CreatedDud {
        path: out.to_path_buf(),
        ..created
    })
}

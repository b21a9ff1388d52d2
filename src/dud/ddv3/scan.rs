//! Opening a driver update disk: read its tree, find the layout, read every RPM of every
//! `rpms/<arch>/` directory and, whatever the layout, the top-level `*.iso` images (whether
//! the installer opens them depends on the architecture, which the findings know). The
//! scan's [`ScanBudget`] bounds the whole recursion.

use std::path::Path;

use super::findings::no_driver_disk_message;
use super::layout::{analyse_layout, Layout};
use super::tree::Tree;
use super::{Dud, DudError, DudKind, UnreadableRpm};
use crate::dud::budget::{Metered, ScanBudget};
use crate::dud::rpm::{read_kmod_rpm, KmodRpm, RpmLimits};
use crate::dud::rules::{ARCHES, DEFAULT_ARCH};

/// How deep top-level `*.iso` files are followed (the installer has no limit; real DUDs
/// nest at most once). How many are mounted in total is capped by [`ScanBudget`].
const MAX_NESTING: u32 = 4;

/// Opens a DUD (ISO file or directory) and requires that the installer would find a
/// driver repo in it for one of the architectures the tool handles ([`ARCHES`]; which one
/// the media needs, the findings judge); otherwise a one-line error saying why and how to
/// fix.
pub fn open_dud(path: &Path) -> crate::Result<Dud> {
    let dud = scan_dud(path)?;
    if !has_repo_for_an_arch(&dud) {
        return Err(crate::Error::input(
            path,
            no_driver_disk_message(&dud, DEFAULT_ARCH),
        ));
    }
    Ok(dud)
}

/// [`open_dud`] for the installer of architecture `arch` (`uname -m`: `x86_64`, `aarch64`),
/// which reads only `rpms/<arch>/`.
pub fn open_dud_for(path: &Path, arch: &str) -> crate::Result<Dud> {
    let dud = scan_dud(path)?;
    if !dud.has_repo_for(arch) {
        return Err(crate::Error::input(
            path,
            no_driver_disk_message(&dud, arch),
        ));
    }
    Ok(dud)
}

/// Opens a DUD ISO held in memory (`verify` reads `/dd.iso` out of an initrd) for the
/// installer of architecture `arch`, with the same checks as [`open_dud_for`]; `name` only
/// labels messages. No temporary file: `verify` is read-only and must work where there is no
/// writable /tmp (an empty root, a rescue shell).
pub fn open_dud_bytes_for(name: &Path, bytes: Vec<u8>, arch: &str) -> crate::Result<Dud> {
    let dud = scan_dud_bytes(name, bytes)?;
    if !dud.has_repo_for(arch) {
        return Err(crate::Error::input(
            name,
            no_driver_disk_message(&dud, arch),
        ));
    }
    Ok(dud)
}

/// Reads a DUD ISO held in memory, within the scan budget of its size.
fn scan_dud_bytes(name: &Path, bytes: Vec<u8>) -> crate::Result<Dud> {
    let budget = ScanBudget::for_file(bytes.len() as u64);
    let cursor = std::io::Cursor::new(bytes);
    let tree = Tree::mount_iso(Box::new(Metered::new(cursor, budget.clone())))
        .map_err(|e| scan_error(name, e, &budget))?;
    read_tree(name, String::new(), tree, 0, &budget).map_err(|e| scan_error(name, e, &budget))
}

/// Whether the installer of one of [`ARCHES`] would find a repo in the disk.
fn has_repo_for_an_arch(dud: &Dud) -> bool {
    ARCHES.iter().any(|arch| dud.has_repo_for(arch))
}

/// The one-line error of a scan of `path`: a budget that ran out is the cause, whatever
/// error it surfaced as; an unreadable image keeps the ISO reader's typed cause.
fn scan_error(path: &Path, e: DudError, budget: &ScanBudget) -> crate::Error {
    match (budget.exceeded(), e) {
        (Some(msg), _) => crate::Error::input(path, msg),
        (None, DudError::Iso(e)) => e.into_input(path),
        (None, e) => crate::Error::input(path, e),
    }
}

/// Reads a DUD (ISO file or directory) without judging it: the layout, every RPM in any
/// `rpms/<arch>/`, and (when there is no repo) top-level `*.iso` files.
pub fn scan_dud(path: &Path) -> crate::Result<Dud> {
    let meta = std::fs::metadata(path).map_err(|e| crate::Error::input(path, e))?;
    let budget = if meta.is_dir() {
        ScanBudget::for_directory()
    } else {
        ScanBudget::for_file(meta.len())
    };
    let tree = if meta.is_dir() {
        Tree::Dir(path.to_path_buf(), budget.clone())
    } else {
        let file = std::fs::File::open(path).map_err(|e| crate::Error::input(path, e))?;
        Tree::mount_iso(Box::new(Metered::new(file, budget.clone())))
            .map_err(|e| scan_error(path, e, &budget))?
    };
    read_tree(path, String::new(), tree, 0, &budget).map_err(|e| scan_error(path, e, &budget))
}

/// Reads one disk (the top or a nested image at `depth`): its layout, its RPMs and, up to
/// [`MAX_NESTING`], its top-level images.
fn read_tree(
    source: &Path,
    inner_path: String,
    tree: Tree,
    depth: u32,
    budget: &ScanBudget,
) -> Result<Dud, DudError> {
    let entries = tree.entries(budget)?;
    let layout = analyse_layout(&entries);
    let (rpms, unreadable_rpms) = read_rpms(&tree, &layout, budget)?;
    let (nested, unreadable_nested) = if depth < MAX_NESTING {
        read_nested(source, &inner_path, &tree, &layout, depth, budget)?
    } else {
        (Vec::new(), Vec::new())
    };
    let (kind, volume_id) = match &tree {
        Tree::Dir(..) => (DudKind::Directory, None),
        Tree::Iso { volume_id, .. } => (DudKind::Iso, Some(volume_id.clone())),
    };
    Ok(Dud {
        source: source.to_path_buf(),
        inner_path,
        kind,
        volume_id,
        layout,
        rpms,
        unreadable_rpms,
        nested,
        unreadable_nested,
    })
}

/// A budget that ran out anywhere below stops the whole scan: per-image errors are kept
/// as findings, but a spent budget would otherwise turn into thousands of them.
fn spent(budget: &ScanBudget) -> Result<(), DudError> {
    match budget.exceeded() {
        Some(msg) => Err(DudError::Budget(msg)),
        None => Ok(()),
    }
}

/// Every `*.rpm` of every `rpms/<arch>/` directory, read (module bytes and depmod.d files
/// kept, counted against the budget) or recorded as unreadable.
fn read_rpms(
    tree: &Tree,
    layout: &Layout,
    budget: &ScanBudget,
) -> Result<(Vec<KmodRpm>, Vec<UnreadableRpm>), DudError> {
    let mut rpms = Vec::new();
    let mut unreadable = Vec::new();
    for path in layout.rpm_dirs.iter().flat_map(|d| &d.rpm_files) {
        let read = tree.open(path).and_then(|stream| {
            read_kmod_rpm(stream, &RpmLimits::default())
                .map_err(|e| DudError::Layout(e.to_string()))
        });
        spent(budget)?;
        match read {
            Ok(mut rpm) => {
                let kept = rpm
                    .modules
                    .iter()
                    .map(|m| m.bytes.len() as u64)
                    .chain(rpm.depmod_confs.iter().map(|c| c.text.len() as u64))
                    .sum();
                budget.keep(kept).map_err(DudError::Budget)?;
                rpm.file_name = path.clone();
                rpms.push(rpm);
            }
            Err(e) => unreadable.push(UnreadableRpm {
                path: path.clone(),
                error: e.to_string(),
            }),
        }
    }
    Ok((rpms, unreadable))
}

/// The top-level `*.iso` images, each mounted and read as a disk of its own (one level
/// deeper), or recorded as unreadable.
fn read_nested(
    source: &Path,
    inner_path: &str,
    tree: &Tree,
    layout: &Layout,
    depth: u32,
    budget: &ScanBudget,
) -> Result<(Vec<Dud>, Vec<UnreadableRpm>), DudError> {
    let mut nested = Vec::new();
    let mut unreadable = Vec::new();
    for iso in &layout.top_level_isos {
        let inner = format!("{inner_path}{iso}");
        budget.mount_nested().map_err(DudError::Budget)?;
        let result = tree
            .open(iso)
            .and_then(Tree::mount_iso)
            .and_then(|t| read_tree(source, inner.clone(), t, depth + 1, budget));
        spent(budget)?;
        match result {
            Ok(dud) => nested.push(dud),
            Err(e) => unreadable.push(UnreadableRpm {
                path: inner,
                error: e.to_string(),
            }),
        }
    }
    Ok((nested, unreadable))
}

//! Reading a driver update disk (an ISO image or a directory) and judging it by the RHEL 9
//! installer's own rules, as anaconda's code behaves (installer-driver-updates.md,
//! "Confirmed by executing anaconda's own code"):
//!
//! - `driver_updates.py::find_repos`: a repo is any directory, at any depth, holding a FILE
//!   named exactly `rhdd3` and a directory `rpms/<uname -m>/`.
//! - `find_isos`: only when no repo exists, top-level `*.iso` files (suffix case-insensitive)
//!   are processed recursively.
//! - `dd_list`: an RPM is used only if a versioned `Provides: kernel-modules <op> V` is
//!   satisfied by rpmvercmp against the full `uname -r`; unversioned provides are ignored.
//! - `dd_extract -m`: modules must sit under `/lib/modules/`; anaconda < 34.25.5.11
//!   (RHEL <= 9.4) only extracts files ending exactly in `.ko`.
//!
//! ISO images are read with hadris-iso (Rock Ridge > Joliet > primary tree).
//!
//! Over 800 lines (about 90 of them tests): the split by concern (DUD model, tree, scan,
//! installer findings, dd_list, kABI) is still to do, see the open structure issue.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;

use super::budget::{Metered, ScanBudget};
use super::rpm::{read_kmod_rpm, KmodRpm, ModuleCompression, RpmLimits};
use super::rpmvercmp::sense_matches;

/// Most directory entries walked in one image (hostile images can loop or be huge); the
/// whole scan, nested images included, has its own total in [`ScanBudget`].
const MAX_ENTRIES: usize = 100_000;
/// Deepest path walked.
const MAX_DEPTH: usize = 64;
/// How deep top-level `*.iso` files are followed (the installer has no limit; real DUDs
/// nest at most once). How many are mounted in total is capped by [`ScanBudget`].
const MAX_NESTING: u32 = 4;

/// A readable and seekable byte stream (host file or a file inside an ISO).
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

type IsoDevice = hadris_storage::sync::StreamDevice<
    hadris_storage::ReadOnly<hadris_io::StdIo<Box<dyn ReadSeek>>>,
>;
type IsoVolume = hadris_fs::sync::Volume<hadris_iso::sync::IsoFs<IsoDevice>>;

/// What kind of container the DUD is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DudKind {
    Iso,
    Directory,
}

/// Kind of an entry in the DUD tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Other,
}

/// One entry of the DUD's tree; `path` is absolute within the DUD (`/rpms/x86_64/a.rpm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
}

/// A `rpms/<arch>/` directory and what sits beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpmDir {
    /// The directory holding `rpms/` (and, for a valid repo, `rhdd3`), e.g. `/`.
    pub parent: String,
    pub arch: String,
    /// True when `parent` holds a regular file named exactly `rhdd3`.
    pub has_rhdd3: bool,
    /// `*.rpm` files directly in `rpms/<arch>/` (dd_list's non-recursive glob).
    pub rpm_files: Vec<String>,
}

impl RpmDir {
    /// `<parent>/rpms/<arch>`.
    pub fn path(&self) -> String {
        join(&join(&self.parent, "rpms"), &self.arch)
    }
}

/// Where the installer-relevant pieces were found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// Every `rpms/<arch>/` directory, with or without `rhdd3` beside it.
    pub rpm_dirs: Vec<RpmDir>,
    /// Directories holding a regular file `rhdd3`.
    pub rhdd3_dirs: Vec<String>,
    /// `rhdd3` entries that are not regular files (ignored by the installer).
    pub rhdd3_not_files: Vec<String>,
    /// Top-level `*.iso` files.
    pub top_level_isos: Vec<String>,
    /// Kernel module files lying in the tree outside any RPM (`ks-modules/...`).
    pub bare_modules: Vec<String>,
}

impl Layout {
    /// The repos the installer would use on `arch` (`rhdd3` + `rpms/<arch>/`).
    pub fn repos(&self, arch: &str) -> impl Iterator<Item = &RpmDir> {
        let arch = arch.to_owned();
        self.rpm_dirs
            .iter()
            .filter(move |d| d.has_rhdd3 && d.arch == arch)
    }
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
    Iso(String),
    #[error("{0}")]
    Layout(String),
    /// A budget of the whole scan ran out (see [`ScanBudget`]): fatal, not a per-image error.
    #[error("{0}")]
    Budget(String),
}

/// Opens a DUD (ISO file or directory) and requires that the installer would find a
/// driver repo for x86_64 in it; otherwise a one-line error saying why and how to fix.
pub fn open_dud(path: &Path) -> crate::Result<Dud> {
    open_dud_for(path, "x86_64")
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

/// Opens a DUD ISO held in memory (`verify` reads `/dd.iso` out of an initrd), with the same
/// checks as [`open_dud`]; `name` only labels messages. No temporary file: `verify` is
/// read-only and must work where there is no writable /tmp (an empty root, a rescue shell).
pub fn open_dud_bytes(name: &Path, bytes: Vec<u8>) -> crate::Result<Dud> {
    open_dud_bytes_for(name, bytes, "x86_64")
}

/// [`open_dud_bytes`] for the installer of another architecture (as [`open_dud_for`]).
pub fn open_dud_bytes_for(name: &Path, bytes: Vec<u8>, arch: &str) -> crate::Result<Dud> {
    let budget = ScanBudget::for_file(bytes.len() as u64);
    let mut cursor = std::io::Cursor::new(bytes);
    crate::iso::Image::open(&mut cursor).map_err(|e| e.into_input(name))?;
    cursor.set_position(0);
    let tree = Tree::mount_iso(Box::new(Metered::new(cursor, budget.clone())))
        .map_err(|e| crate::Error::input(name, e))?;
    let dud =
        read_tree(name, String::new(), tree, 0, &budget).map_err(|e| match budget.exceeded() {
            Some(msg) => crate::Error::input(name, msg),
            None => crate::Error::input(name, e),
        })?;
    if !dud.has_repo_for(arch) {
        return Err(crate::Error::input(
            name,
            no_driver_disk_message(&dud, arch),
        ));
    }
    Ok(dud)
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
        let mut file = std::fs::File::open(path).map_err(|e| crate::Error::input(path, e))?;
        // The crate's own ISO reader first: on a hostile image it names the cause
        // (directory loop, extent past the end, truncation) where hadris only reports
        // "corrupt filesystem data" or reads zeros.
        crate::iso::Image::open(&mut file).map_err(|e| e.into_input(path))?;
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(|e| crate::Error::input(path, e))?;
        Tree::mount_iso(Box::new(Metered::new(file, budget.clone())))
            .map_err(|e| crate::Error::input(path, e))?
    };
    read_tree(path, String::new(), tree, 0, &budget).map_err(|e| {
        // A budget that ran out is the cause, whatever error it surfaced as.
        match budget.exceeded() {
            Some(msg) => crate::Error::input(path, msg),
            None => crate::Error::input(path, e),
        }
    })
}

enum Tree {
    /// A directory; its files are read through the scan's read budget.
    Dir(PathBuf, Rc<ScanBudget>),
    Iso {
        volume: IsoVolume,
        volume_id: String,
        /// Primary-tree names, shown lowercased as Linux does.
        lowercase: bool,
    },
}

impl Tree {
    fn mount_iso(stream: Box<dyn ReadSeek>) -> Result<Tree, DudError> {
        let block = hadris_storage::BlockSize::new(2048)
            .ok_or_else(|| DudError::Iso("bad block size".into()))?;
        let device = IsoDevice::new(
            hadris_storage::ReadOnly::new(hadris_io::StdIo::new(stream)),
            block,
        )
        .map_err(|e| DudError::Iso(format!("{e:?}")))?;
        let mut fs = hadris_iso::sync::IsoFs::mount(device, hadris_fs::MountOptions::new())
            .map_err(|e| DudError::Iso(one_line_debug(&e)))?;
        // The installer mounts with Linux isofs: Rock Ridge, else Joliet, else the primary
        // tree with names lowercased (map=normal). Linux never reads the ISO 9660:1999 tree.
        if fs.namespace() == hadris_iso::Namespace::Enhanced {
            fs = hadris_iso::sync::IsoFs::mount_namespace(
                fs.into_inner(),
                hadris_fs::MountOptions::new(),
                hadris_iso::Namespace::Primary,
            )
            .map_err(|e| DudError::Iso(one_line_debug(&e)))?;
        }
        let lowercase = fs.namespace() == hadris_iso::Namespace::Primary;
        let volume_id = String::from_utf8_lossy(fs.info().id(hadris_iso::IsoId::Volume))
            .trim()
            .to_owned();
        Ok(Tree::Iso {
            volume: hadris_fs::sync::Volume::new(fs),
            volume_id,
            lowercase,
        })
    }

    fn entries(&self, budget: &ScanBudget) -> Result<Vec<TreeEntry>, DudError> {
        let mut out = Vec::new();
        match self {
            Tree::Dir(root, _) => {
                for entry in walkdir::WalkDir::new(root)
                    .follow_links(true)
                    .max_depth(MAX_DEPTH)
                    .min_depth(1)
                    .sort_by_file_name()
                {
                    let entry = entry.map_err(|e| DudError::Io(e.into()))?;
                    let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
                    let path = format!("/{}", rel.to_string_lossy());
                    let ft = entry.file_type();
                    let (kind, size) = if ft.is_dir() {
                        (EntryKind::Dir, 0)
                    } else if ft.is_file() {
                        (
                            EntryKind::File,
                            entry.metadata().map(|m| m.len()).unwrap_or(0),
                        )
                    } else {
                        (EntryKind::Other, 0)
                    };
                    push_capped(&mut out, TreeEntry { path, kind, size }, budget)?;
                }
            }
            Tree::Iso {
                volume, lowercase, ..
            } => {
                let walk = volume
                    .walk("/")
                    .map_err(|e| DudError::Iso(one_line_debug(&e)))?;
                for entry in walk {
                    let entry = entry.map_err(|e| DudError::Iso(one_line_debug(&e)))?;
                    let mut path = String::from_utf8_lossy(entry.path()).into_owned();
                    if *lowercase {
                        path = linux_primary_name(&path);
                    }
                    if path.matches('/').count() > MAX_DEPTH {
                        return Err(DudError::Layout(format!(
                            "directory tree deeper than {MAX_DEPTH} levels"
                        )));
                    }
                    let meta = entry.entry().metadata();
                    let kind = match meta.file_type() {
                        hadris_fs::FileType::File => EntryKind::File,
                        hadris_fs::FileType::Dir => EntryKind::Dir,
                        _ => EntryKind::Other,
                    };
                    push_capped(
                        &mut out,
                        TreeEntry {
                            path,
                            kind,
                            size: meta.len(),
                        },
                        budget,
                    )?;
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn open(&self, path: &str) -> Result<Box<dyn ReadSeek>, DudError> {
        match self {
            Tree::Dir(root, budget) => Ok(Box::new(Metered::new(
                std::fs::File::open(root.join(path.trim_start_matches('/')))?,
                budget.clone(),
            ))),
            Tree::Iso { volume, .. } => {
                let file = volume
                    .open(path, hadris_fs::OpenOptions::new().read())
                    .map_err(|e| DudError::Iso(format!("{path}: {}", one_line_debug(&e))))?;
                Ok(Box::new(file))
            }
        }
    }
}

/// How Linux isofs (map=normal) shows primary-tree names: lower case, without the `;1`
/// version and without a trailing dot (`RHDD3.;1` → `rhdd3`).
fn linux_primary_name(path: &str) -> String {
    path.split('/')
        .map(|part| {
            let part = part.split(';').next().unwrap_or(part);
            let part = part.strip_suffix('.').unwrap_or(part);
            part.to_ascii_lowercase()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn push_capped(
    out: &mut Vec<TreeEntry>,
    entry: TreeEntry,
    budget: &ScanBudget,
) -> Result<(), DudError> {
    budget.entry().map_err(DudError::Budget)?;
    if out.len() >= MAX_ENTRIES {
        return Err(DudError::Layout(format!(
            "more than {MAX_ENTRIES} entries; not a driver disk"
        )));
    }
    out.push(entry);
    Ok(())
}

fn one_line_debug(e: &dyn std::fmt::Debug) -> String {
    format!("{e:?}").replace('\n', " ")
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn parent_and_name(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", path.get(1..).unwrap_or("")),
        Some(i) => (
            path.get(..i).unwrap_or("/"),
            path.get(i + 1..).unwrap_or(""),
        ),
        None => ("/", path),
    }
}

/// Finds the layout pieces in a sorted entry list (find_repos + find_isos + bare modules).
pub fn analyse_layout(entries: &[TreeEntry]) -> Layout {
    let kinds: HashMap<&str, EntryKind> =
        entries.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    let mut layout = Layout::default();
    for entry in entries {
        let (parent, name) = parent_and_name(&entry.path);
        if name == "rhdd3" {
            if entry.kind == EntryKind::File {
                layout.rhdd3_dirs.push(parent.to_owned());
            } else {
                layout.rhdd3_not_files.push(entry.path.clone());
            }
        }
        if entry.kind == EntryKind::Dir {
            let (grand, rpms) = parent_and_name(parent);
            if rpms == "rpms" && parent != "/" {
                let has_rhdd3 = kinds.get(join(grand, "rhdd3").as_str()) == Some(&EntryKind::File);
                let prefix = join(&entry.path, "");
                let rpm_files = entries
                    .iter()
                    .filter(|e| e.kind != EntryKind::Dir)
                    .filter_map(|e| e.path.strip_prefix(&prefix).map(|rest| (e, rest)))
                    .filter(|(_, rest)| {
                        !rest.contains('/') && rest.ends_with(".rpm") && !rest.starts_with('.')
                    })
                    .map(|(e, _)| e.path.clone())
                    .collect();
                layout.rpm_dirs.push(RpmDir {
                    parent: grand.to_owned(),
                    arch: name.to_owned(),
                    has_rhdd3,
                    rpm_files,
                });
            }
        }
        if entry.kind == EntryKind::File
            && parent == "/"
            && name.to_ascii_lowercase().ends_with(".iso")
        {
            layout.top_level_isos.push(entry.path.clone());
        }
        if entry.kind == EntryKind::File && ModuleCompression::of_path(name).is_some() {
            layout.bare_modules.push(entry.path.clone());
        }
    }
    layout
}

fn read_tree(
    source: &Path,
    inner_path: String,
    tree: Tree,
    depth: u32,
    budget: &ScanBudget,
) -> Result<Dud, DudError> {
    // A budget that ran out anywhere below stops the whole scan: per-image errors are kept
    // as findings, but a spent budget would otherwise turn into thousands of them.
    let spent = |budget: &ScanBudget| budget.exceeded().map(DudError::Budget);
    let entries = tree.entries(budget)?;
    let layout = analyse_layout(&entries);
    let mut rpms = Vec::new();
    let mut unreadable_rpms = Vec::new();
    for dir in &layout.rpm_dirs {
        for path in &dir.rpm_files {
            let read = tree.open(path).and_then(|stream| {
                read_kmod_rpm(stream, &RpmLimits::default())
                    .map_err(|e| DudError::Layout(e.to_string()))
            });
            if let Some(e) = spent(budget) {
                return Err(e);
            }
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
                Err(e) => unreadable_rpms.push(UnreadableRpm {
                    path: path.clone(),
                    error: e.to_string(),
                }),
            }
        }
    }
    let mut nested = Vec::new();
    let mut unreadable_nested = Vec::new();
    // Read nested images whatever the layout: whether the installer opens them depends on
    // the architecture, which installer_findings knows.
    if depth < MAX_NESTING {
        for iso in &layout.top_level_isos {
            let inner = format!("{inner_path}{iso}");
            budget.mount_nested().map_err(DudError::Budget)?;
            let result = tree
                .open(iso)
                .and_then(Tree::mount_iso)
                .and_then(|t| read_tree(source, inner.clone(), t, depth + 1, budget));
            if let Some(e) = spent(budget) {
                return Err(e);
            }
            match result {
                Ok(dud) => nested.push(dud),
                Err(e) => unreadable_nested.push(UnreadableRpm {
                    path: inner,
                    error: e.to_string(),
                }),
            }
        }
    }
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

fn no_driver_disk_message(dud: &Dud, arch: &str) -> String {
    let mut why = Vec::new();
    for d in &dud.layout.rpm_dirs {
        if !d.has_rhdd3 {
            why.push(format!("{} has no file rhdd3 beside it", d.path()));
        } else if d.arch != arch {
            why.push(format!("only {} (not rpms/{arch})", d.path()));
        }
    }
    for p in &dud.layout.rhdd3_not_files {
        why.push(format!("{p} is not a regular file"));
    }
    if !dud.layout.bare_modules.is_empty() {
        why.push(format!(
            "bare modules such as {} are ignored",
            dud.layout
                .bare_modules
                .first()
                .map(String::as_str)
                .unwrap_or("")
        ));
    }
    if why.is_empty() {
        why.push("no directory holds rhdd3 and rpms/".to_owned());
    }
    format!(
        "not a driver update disk: the installer would print \"No driver disks found\" ({}); \
         it needs a file rhdd3 beside rpms/{arch}/*.rpm — build one with `remaster dud create KMOD.rpm -o dd.iso`",
        why.join("; ")
    )
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The installer (or dnf) uses it as intended.
    Ok,
    /// Used, with a caveat worth knowing.
    Warn,
    /// The installer silently skips it.
    Ignored,
    /// It would fail: the installed system's dnf or the kernel rejects it.
    Refused,
}

/// One explained verdict about a DUD, an RPM in it, or a module in an RPM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The RPM (path inside the DUD or file name) the finding is about, if any.
    pub rpm: Option<String>,
    pub message: String,
    /// How to fix it, when known.
    pub fix: Option<String>,
}

impl Finding {
    fn new(severity: Severity, rpm: Option<&str>, message: String, fix: Option<String>) -> Self {
        Finding {
            severity,
            rpm: rpm.map(str::to_owned),
            message,
            fix,
        }
    }
}

impl std::fmt::Display for Finding {
    /// `[Severity] message — fix`, one line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:?}] {}", self.severity, self.message)?;
        match &self.fix {
            Some(fix) => write!(f, " — {fix}"),
            None => Ok(()),
        }
    }
}

/// An RPM built for another architecture than the installer's (`uname -m`): dd_list does
/// not look at the RPM's arch, so its modules are extracted, and the kernel refuses them
/// (`Invalid architecture in ELF header`). `noarch` and an unknown arch pass.
fn arch_finding(rpm: &KmodRpm, ctx: &InstallerContext) -> Option<Finding> {
    let arch = rpm.arch.as_str();
    if arch.is_empty() || arch == "noarch" || arch == ctx.arch {
        return None;
    }
    Some(Finding::new(
        Severity::Refused,
        Some(rpm.file_name.as_str()),
        format!(
            "{} is built for {arch}; this installer runs {} (uname -m), whose kernel refuses \
             {arch} modules (Invalid module format)",
            rpm.nvra(),
            ctx.arch
        ),
        Some(format!(
            "use the {} build of this driver (ELRepo: kmod-*.el9.{}.rpm), under rpms/{}/",
            ctx.arch, ctx.arch, ctx.arch
        )),
    ))
}

/// The installer the DUD is meant for: the boot ISO's kernel, release and architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallerContext {
    /// The installer kernel's `uname -r` (e.g. `5.14.0-284.11.1.el9_2.x86_64`).
    pub kernel_release: String,
    /// The OS release of the media (e.g. `9.2`), if known.
    pub os_release: Option<String>,
    /// `uname -m` (`x86_64`, or `aarch64` on aarch64 media: the arch of the kernel).
    pub arch: String,
}

/// Whether the media's anaconda extracts compressed modules (`.ko.xz` ...): from
/// anaconda-34.25.5.11 (RHEL 9.5) on. `None` when the release is unknown or unparsable.
/// EL8's anaconda (rhel-8 branch) never does: its `dd_extract` takes "only .ko files".
pub fn extracts_compressed_modules(os_release: Option<&str>) -> Option<bool> {
    let (major, minor) = major_minor(os_release?)?;
    Some(major > 9 || (major == 9 && minor >= 5))
}

/// The major release (`8` of `8.10`), if the release is known and parsable.
pub fn major_release(os_release: Option<&str>) -> Option<u32> {
    major_minor(os_release?).map(|(major, _)| major)
}

fn major_minor(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(['.', '-', '_']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Why the installer of `release` skips compressed modules, and what to do about it.
fn compressed_skip_reason(release: &str) -> (&'static str, &'static str) {
    if major_release(Some(release)) == Some(8) {
        (
            "EL8's anaconda (rhel-8 branch) never extracts compressed modules",
            "use a kmod RPM with an uncompressed .ko (ELRepo ships plain .ko for EL8)",
        )
    } else {
        (
            "anaconda < 34.25.5.11, RHEL <= 9.4",
            "use a kmod RPM with an uncompressed .ko (ELRepo ships plain .ko), or media of RHEL 9.5 or later",
        )
    }
}

/// Result of dd_list on one RPM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdListVerdict {
    /// Flags `modules firmwares`: the RPM's files are extracted and it is installed.
    Modules { provide: String },
    /// Only `installer-enhancement` matched: binaries/libraries, no modules.
    EnhancementOnly,
    /// Not listed at all (silently skipped), with the reason.
    Skipped(String),
}

/// anaconda `dd_list` `dlabelProvides` over the RPM's Provides.
pub fn dd_list_verdict(rpm: &KmodRpm, kernel_release: &str) -> DdListVerdict {
    const ANACONDA_VERSION: &str = "19.0";
    let mut reasons = Vec::new();
    let mut enhancement = false;
    for provide in &rpm.provides {
        if provide.name != "kernel-modules" && provide.name != "installer-enhancement" {
            continue;
        }
        if provide.version.is_empty() {
            reasons.push(format!(
                "`Provides: {}` has no version (dd_list ignores unversioned provides)",
                provide.name
            ));
            continue;
        }
        if provide.name == "kernel-modules" {
            let legacy = provide.version.starts_with("2.6.32-131")
                || provide.version.starts_with("2.6.32-71");
            if legacy || sense_matches(kernel_release, &provide.version, provide.flags) {
                return DdListVerdict::Modules {
                    provide: provide.to_string(),
                };
            }
            reasons.push(format!(
                "`Provides: {provide}` is not satisfied by the installer kernel {kernel_release} (rpmvercmp)"
            ));
        } else if sense_matches(ANACONDA_VERSION, &provide.version, provide.flags) {
            enhancement = true;
        }
    }
    if enhancement {
        return DdListVerdict::EnhancementOnly;
    }
    if reasons.is_empty() {
        reasons.push("it has no `Provides: kernel-modules <op> <version>`".to_owned());
    }
    DdListVerdict::Skipped(reasons.join("; "))
}

/// rpm's dependency match of an installed `have` (`[E:]V[-R]`) against `want` with the
/// sense flags (librpm `rpmdsCompare`: epoch, then version, then release only when both
/// sides carry one).
pub fn evr_satisfies(have: &str, want: &str, sense: u32) -> bool {
    use std::cmp::Ordering;
    fn split(evr: &str) -> (&str, &str, Option<&str>) {
        let (epoch, rest) = match evr.split_once(':') {
            Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e, r),
            _ => ("0", evr),
        };
        match rest.rsplit_once('-') {
            Some((v, r)) => (epoch, v, Some(r)),
            None => (epoch, rest, None),
        }
    }
    let (e1, v1, r1) = split(have);
    let (e2, v2, r2) = split(want);
    let mut order = super::rpmvercmp::rpmvercmp(e1, e2);
    if order == Ordering::Equal {
        order = super::rpmvercmp::rpmvercmp(v1, v2);
    }
    if order == Ordering::Equal {
        if let (Some(r1), Some(r2)) = (r1, r2) {
            order = super::rpmvercmp::rpmvercmp(r1, r2);
        }
    }
    use super::rpmvercmp::{RPMSENSE_EQUAL, RPMSENSE_GREATER, RPMSENSE_LESS};
    match order {
        Ordering::Less => sense & RPMSENSE_LESS != 0,
        Ordering::Equal => sense & RPMSENSE_EQUAL != 0,
        Ordering::Greater => sense & RPMSENSE_GREATER != 0,
    }
}

/// Where the installer would place a module from the RPM: `/lib/modules/<uname -r>/updates/`
/// plus the path after the kernel-version directory (and a following `kernel/`).
pub fn installed_module_path(rpm_path: &str, kernel_release: &str) -> Option<String> {
    let rest = rpm_path.trim_start_matches("./").trim_start_matches('/');
    let rest = rest.strip_prefix("lib/modules/")?;
    let (_kver, rel) = rest.split_once('/')?;
    let rel = rel.strip_prefix("kernel/").unwrap_or(rel);
    Some(format!("/lib/modules/{kernel_release}/updates/{rel}"))
}

/// The installer's verdicts on a DUD for one installer: which repos it finds, which RPMs
/// dd_list takes, which modules dd_extract unpacks and loads, and what it ignores. Each
/// finding says "the installer would ... because ...".
pub fn installer_findings(dud: &Dud, ctx: &InstallerContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let label = dud.label();
    let repos: Vec<&RpmDir> = dud.layout.repos(&ctx.arch).collect();
    let any_repo = !repos.is_empty();

    for dir in &dud.layout.rpm_dirs {
        if !dir.has_rhdd3 {
            out.push(Finding::new(
                Severity::Ignored,
                None,
                format!(
                    "{} is ignored: there is no file named exactly `rhdd3` in {}",
                    dir.path(),
                    dir.parent
                ),
                Some(format!(
                    "add a file {} (text \"Driver Update Disk version 3\"), or rebuild with `remaster dud create`",
                    join(&dir.parent, "rhdd3")
                )),
            ));
        } else if dir.arch != ctx.arch {
            out.push(Finding::new(
                Severity::Ignored,
                None,
                format!(
                    "{} is ignored: the installer only reads rpms/{} (uname -m)",
                    dir.path(),
                    ctx.arch
                ),
                None,
            ));
        }
    }
    for path in &dud.layout.rhdd3_not_files {
        out.push(Finding::new(
            Severity::Ignored,
            None,
            format!("{path} is not a regular file; the installer needs a FILE named rhdd3"),
            Some("replace it with a file".into()),
        ));
    }
    if !dud.layout.bare_modules.is_empty() {
        let shown: Vec<&str> = dud
            .layout
            .bare_modules
            .iter()
            .take(3)
            .map(String::as_str)
            .collect();
        out.push(Finding::new(
            Severity::Ignored,
            None,
            format!(
                "the installer ignores bare kernel modules lying in the disk ({}{}); it only loads modules packaged in RPMs under rpms/{}/ beside rhdd3",
                shown.join(", "),
                if dud.layout.bare_modules.len() > 3 { ", ..." } else { "" },
                ctx.arch
            ),
            Some(
                "package the module as a kmod RPM (or use the vendor's, e.g. ELRepo kmod-*) and run `remaster --add-rpm KMOD.rpm` or `remaster dud create KMOD.rpm -o dd.iso`"
                    .into(),
            ),
        ));
    }

    if any_repo {
        for iso in &dud.layout.top_level_isos {
            out.push(Finding::new(
                Severity::Ignored,
                None,
                format!("{iso} is not examined: the installer only opens top-level ISO files when the disk has no driver repo"),
                None,
            ));
        }
        for repo in &repos {
            out.push(Finding::new(
                Severity::Ok,
                None,
                format!(
                    "{label}: driver repo {} found (rhdd3 in {})",
                    repo.path(),
                    repo.parent
                ),
                None,
            ));
            if repo.rpm_files.is_empty() {
                out.push(Finding::new(
                    Severity::Ignored,
                    None,
                    format!("{} holds no *.rpm files", repo.path()),
                    None,
                ));
            }
            for path in &repo.rpm_files {
                if let Some(rpm) = dud.rpms.iter().find(|r| &r.file_name == path) {
                    out.extend(rpm_findings(rpm, ctx));
                } else if let Some(bad) = dud.unreadable_rpms.iter().find(|u| &u.path == path) {
                    out.push(Finding::new(
                        Severity::Ignored,
                        Some(path),
                        format!("dd_list cannot read this RPM and skips it: {}", bad.error),
                        Some("replace it with an intact copy".into()),
                    ));
                }
            }
        }
    } else {
        for nested in &dud.nested {
            out.push(Finding::new(
                Severity::Ok,
                None,
                format!(
                    "no driver repo at the top; the installer opens the top-level image {}",
                    nested.inner_path
                ),
                None,
            ));
            out.extend(installer_findings(nested, ctx));
        }
        for bad in &dud.unreadable_nested {
            out.push(Finding::new(
                Severity::Ignored,
                None,
                format!("{} cannot be mounted: {}", bad.path, bad.error),
                None,
            ));
        }
        if dud.nested.is_empty() {
            out.push(Finding::new(
                Severity::Refused,
                None,
                format!("{label}: {}", no_driver_disk_message(dud, &ctx.arch)),
                None,
            ));
        }
    }
    out
}

/// Findings for one RPM inside a repo the installer uses.
pub fn rpm_findings(rpm: &KmodRpm, ctx: &InstallerContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = Some(rpm.file_name.as_str());
    if let Some(f) = arch_finding(rpm, ctx) {
        out.push(f);
    }
    match dd_list_verdict(rpm, &ctx.kernel_release) {
        DdListVerdict::Skipped(reason) => {
            out.push(Finding::new(
                Severity::Ignored,
                name,
                format!(
                    "the installer would skip {} (dd_list lists nothing, silently) because {reason}",
                    rpm.nvra()
                ),
                Some(format!(
                    "use the build of this driver made for the installer kernel {} (its `Provides: kernel-modules >= ...` must not be newer)",
                    ctx.kernel_release
                )),
            ));
            return out;
        }
        DdListVerdict::EnhancementOnly => {
            out.push(Finding::new(
                Severity::Warn,
                name,
                format!(
                    "{} is used only as an installer enhancement (binaries/libraries); no kernel modules are taken from it",
                    rpm.nvra()
                ),
                None,
            ));
            return out;
        }
        DdListVerdict::Modules { provide } => out.push(Finding::new(
            Severity::Ok,
            name,
            format!(
                "dd_list accepts {}: `Provides: {provide}` is satisfied by {}; the package is also installed on the target system",
                rpm.nvra(),
                ctx.kernel_release
            ),
            None,
        )),
    }

    for req in rpm.kernel_requires().filter(|r| r.is_versioned()) {
        // `*-uname-r` is provided with the exact `uname -r`; `kernel`/`kernel-core` with
        // the package's version-release, i.e. `uname -r` without its `.<arch>` suffix.
        let have = if req.name.ends_with("-uname-r") {
            ctx.kernel_release.clone()
        } else {
            let suffix = format!(".{}", ctx.arch);
            ctx.kernel_release
                .strip_suffix(&suffix)
                .unwrap_or(&ctx.kernel_release)
                .to_owned()
        };
        if !evr_satisfies(&have, &req.version, req.flags) {
            out.push(Finding::new(
                Severity::Warn,
                name,
                format!(
                    "`Requires: {req}` is not met by the media's kernel ({have}); dnf on the installed system needs that kernel from the install repos or the package install fails"
                ),
                Some("use the kmod build made for the media's kernel".into()),
            ));
        }
    }

    let compressed_ok = extracts_compressed_modules(ctx.os_release.as_deref());
    let release = ctx.os_release.as_deref().unwrap_or("unknown");
    let mut loads = 0usize;
    let module_paths: Vec<(&str, ModuleCompression)> = rpm
        .files
        .iter()
        .filter_map(|f| ModuleCompression::of_path(&f.path).map(|c| (f.path.as_str(), c)))
        .collect();
    for (path, compression) in &module_paths {
        let under_lib = path.starts_with("/lib/modules/");
        if !under_lib {
            let why = if path.starts_with("/usr/lib/modules/") {
                "it lies under /usr/lib/modules: dd_extract unpacks it to /updates/usr/lib/... but only /lib/modules/... is copied and loaded"
            } else {
                "it does not lie under /lib/modules/"
            };
            out.push(Finding::new(
                Severity::Ignored,
                name,
                format!("the installer never loads {path} because {why}"),
                Some(
                    "the kmod RPM must install its modules under /lib/modules/<kver>/ (ELRepo and ddiskit packages do)"
                        .into(),
                ),
            ));
            continue;
        }
        if *compression != ModuleCompression::None {
            match compressed_ok {
                Some(false) => {
                    let (why, fix) = compressed_skip_reason(release);
                    out.push(Finding::new(
                        Severity::Ignored,
                        name,
                        format!(
                            "the installer would skip {path} because dd_extract on release {release} ({why}) only extracts files ending in .ko; the package is still installed on the target"
                        ),
                        Some(fix.into()),
                    ));
                    continue;
                }
                None => {
                    out.push(Finding::new(
                        Severity::Warn,
                        name,
                        format!(
                            "{path} is compressed: installers up to RHEL 9.4 (anaconda < 34.25.5.11) skip it; the media release is unknown"
                        ),
                        Some("give the media release, or use an uncompressed .ko".into()),
                    ));
                    loads += 1;
                    continue;
                }
                Some(true) => {}
            }
        }
        loads += 1;
        let dest = installed_module_path(path, &ctx.kernel_release).unwrap_or_default();
        out.push(Finding::new(
            Severity::Ok,
            name,
            format!("{path} would be extracted to {dest} and loaded"),
            None,
        ));
        if let Some(kver) = path
            .strip_prefix("/lib/modules/")
            .and_then(|r| r.split('/').next())
        {
            if kver != ctx.kernel_release {
                out.push(Finding::new(
                    Severity::Warn,
                    name,
                    format!(
                        "{path} was packaged for kernel {kver}, the installer runs {}; the directory name does not matter, the module's vermagic and symbol CRCs decide whether it loads",
                        ctx.kernel_release
                    ),
                    None,
                ));
            }
        }
    }
    if module_paths.is_empty() {
        out.push(Finding::new(
            Severity::Warn,
            name,
            format!("{} carries no kernel module files", rpm.nvra()),
            None,
        ));
    } else if loads == 0 {
        out.push(Finding::new(
            Severity::Ignored,
            name,
            format!(
                "nothing from {} would load in the installer because each of its modules is skipped, although the package is accepted and installed on the target",
                rpm.nvra()
            ),
            Some("without a loaded driver the installer may not see the disks; fix the module packaging as noted above".into()),
        ));
    }
    out
}

/// A module the installer would extract and load from a DUD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadedModule {
    /// The RPM (path inside its DUD).
    pub rpm: String,
    /// The RPM's package name (recorded in /run/install/dd_packages, installed on target).
    pub package: String,
    /// Module path inside the RPM.
    pub path: String,
    /// Module name (basename before `.ko`).
    pub name: String,
    /// Where the installer puts it: `/lib/modules/<uname -r>/updates/...`.
    pub destination: String,
}

/// The modules the installer would load from this DUD (following nested ISOs only when
/// the installer would), by the same rules as [`installer_findings`]. A compressed module
/// with an unknown media release counts as loaded.
pub fn installer_loaded_modules(dud: &Dud, ctx: &InstallerContext) -> Vec<LoadedModule> {
    let mut out = Vec::new();
    let repos: Vec<&RpmDir> = dud.layout.repos(&ctx.arch).collect();
    if repos.is_empty() {
        for nested in &dud.nested {
            out.extend(installer_loaded_modules(nested, ctx));
        }
        return out;
    }
    let compressed_ok = extracts_compressed_modules(ctx.os_release.as_deref()) != Some(false);
    for repo in repos {
        for path in &repo.rpm_files {
            let Some(rpm) = dud.rpms.iter().find(|r| &r.file_name == path) else {
                continue;
            };
            if !matches!(
                dd_list_verdict(rpm, &ctx.kernel_release),
                DdListVerdict::Modules { .. }
            ) {
                continue;
            }
            for f in &rpm.files {
                let Some(compression) = ModuleCompression::of_path(&f.path) else {
                    continue;
                };
                if compression != ModuleCompression::None && !compressed_ok {
                    continue;
                }
                let Some(destination) = installed_module_path(&f.path, &ctx.kernel_release) else {
                    continue;
                };
                let base = f.path.rsplit('/').next().unwrap_or(&f.path);
                out.push(LoadedModule {
                    rpm: path.clone(),
                    package: rpm.name.clone(),
                    path: f.path.clone(),
                    name: base.split(".ko").next().unwrap_or(base).to_owned(),
                    destination,
                });
            }
        }
    }
    out
}

/// Checks the RPM's kABI pins (`Requires: kernel(sym) = 0xCRC`) against the CRCs the ISO
/// kernel exports. A mismatch means dnf on the installed system cannot satisfy the
/// package's dependencies (the install of the kmod fails).
pub fn kabi_findings(rpm: &KmodRpm, kernel_exports: &HashMap<String, u32>) -> Vec<Finding> {
    let name = Some(rpm.file_name.as_str());
    let mut missing = Vec::new();
    let mut differ = Vec::new();
    let mut total = 0usize;
    for (sym, want) in rpm.kabi_requires() {
        total += 1;
        match kernel_exports.get(sym) {
            None => missing.push(sym.to_owned()),
            Some(have) if *have != want => differ.push(format!(
                "{sym} (wants 0x{want:08x}, kernel has 0x{have:08x})"
            )),
            Some(_) => {}
        }
    }
    if total == 0 {
        return vec![Finding::new(
            Severity::Warn,
            name,
            format!(
                "{} has no kABI requirements (`Requires: kernel(sym) = 0xCRC`); only the module itself can be checked",
                rpm.nvra()
            ),
            None,
        )];
    }
    let mut out = Vec::new();
    let bad = missing.len() + differ.len();
    if bad == 0 {
        out.push(Finding::new(
            Severity::Ok,
            name,
            format!(
                "all {total} kABI requirements of {} match the kernel's exported symbol CRCs",
                rpm.nvra()
            ),
            None,
        ));
        return out;
    }
    let mut parts = Vec::new();
    if !differ.is_empty() {
        parts.push(format!(
            "{} with another CRC: {}{}",
            differ.len(),
            differ
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if differ.len() > 5 { ", ..." } else { "" }
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "{} not exported: {}{}",
            missing.len(),
            missing
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        ));
    }
    out.push(Finding::new(
        Severity::Refused,
        name,
        format!(
            "{bad} of {total} kABI requirements of {} are not met by the kernel ({}); dnf on the installed system would refuse the package",
            rpm.nvra(),
            parts.join("; ")
        ),
        Some("use the kmod build made for this exact kernel (e.g. the ELRepo el9_N build matching the media)".into()),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind,
            size: 1,
        }
    }

    #[test]
    fn layout_rules() {
        use EntryKind::*;
        let entries = vec![
            e("/a", Dir),
            e("/a/rhdd3", File),
            e("/a/rpms", Dir),
            e("/a/rpms/x86_64", Dir),
            e("/a/rpms/x86_64/k.rpm", File),
            e("/a/rpms/x86_64/sub", Dir),
            e("/a/rpms/x86_64/sub/deep.rpm", File),
            e("/b", Dir),
            e("/b/rhdd3", Dir),
            e("/b/rpms", Dir),
            e("/b/rpms/x86_64", Dir),
            e("/c.ISO", File),
            e("/d", Dir),
            e("/d/e.iso", File),
            e("/ks-modules", Dir),
            e("/ks-modules/x86_64", Dir),
            e("/ks-modules/x86_64/6.1/m.ko.xz", File),
        ];
        let l = analyse_layout(&entries);
        assert_eq!(l.rhdd3_dirs, vec!["/a"]);
        assert_eq!(l.rhdd3_not_files, vec!["/b/rhdd3"]);
        assert_eq!(l.repos("x86_64").count(), 1);
        assert_eq!(
            l.repos("x86_64").next().unwrap().rpm_files,
            vec!["/a/rpms/x86_64/k.rpm"]
        );
        assert_eq!(l.top_level_isos, vec!["/c.ISO"]);
        assert_eq!(l.bare_modules, vec!["/ks-modules/x86_64/6.1/m.ko.xz"]);
        assert_eq!(l.rpm_dirs.len(), 2);
    }

    #[test]
    fn compressed_module_release_rule() {
        assert_eq!(extracts_compressed_modules(Some("9.2")), Some(false));
        assert_eq!(extracts_compressed_modules(Some("9.4")), Some(false));
        assert_eq!(extracts_compressed_modules(Some("9.5")), Some(true));
        assert_eq!(extracts_compressed_modules(Some("10.0")), Some(true));
        assert_eq!(extracts_compressed_modules(Some("8.10")), Some(false));
        assert_eq!(extracts_compressed_modules(None), None);
    }

    #[test]
    fn evr_matching() {
        let ge = 4 | 8;
        assert!(evr_satisfies(
            "5.14.0-284.11.1.el9_2",
            "5.14.0-284.11.1.el9_2",
            ge
        ));
        assert!(!evr_satisfies(
            "5.14.0-284.11.1.el9_2",
            "5.14.0-570.12.1.el9_6",
            ge
        ));
        assert!(evr_satisfies("5.14.0-284.11.1.el9_2", "5.14.0", ge));
        assert!(!evr_satisfies("5.14.0-284", "1:5.14.0", ge));
        assert!(evr_satisfies("6.1.0-50-amd64", "6.1.0-50", ge));
    }

    #[test]
    fn module_destination() {
        assert_eq!(
            installed_module_path(
                "/lib/modules/5.14.0-284.11.1.el9_2.x86_64/extra/mpt3sas/mpt3sas.ko",
                "5.14.0-284.30.1.el9_2.x86_64"
            )
            .as_deref(),
            Some("/lib/modules/5.14.0-284.30.1.el9_2.x86_64/updates/extra/mpt3sas/mpt3sas.ko")
        );
        assert_eq!(
            installed_module_path("/lib/modules/k/kernel/drivers/x.ko", "r").as_deref(),
            Some("/lib/modules/r/updates/drivers/x.ko")
        );
        assert_eq!(installed_module_path("/usr/lib/modules/k/x.ko", "r"), None);
    }
}

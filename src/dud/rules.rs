//! The installer's driver-update rules, written down once.
//!
//! Every part of the tool that needs to know how anaconda treats a driver update disk asks
//! here: the DUD reader and its findings ([`super::ddv3`]), `dud create` (what a disk must
//! hold), the remaster plan (which modules the installer itself would skip, whether `dd=` is
//! read), and through them `check` and `verify`. A rule fixed here is fixed for all of them.
//!
//! As anaconda's code behaves (installer-driver-updates.md, "Confirmed by executing
//! anaconda's own code"):
//!
//! - `driver_updates.py::find_repos`: a repo is any directory, at any depth, holding a FILE
//!   named exactly [`RHDD3`] and a directory `rpms/<uname -m>/` ([`RPMS_DIR`], [`ARCHES`]).
//! - `find_isos`: only when no repo exists, top-level `*.iso` files (suffix
//!   case-insensitive) are processed recursively.
//! - `dd_list`: an RPM is used only if a versioned `Provides: kernel-modules <op> V` is
//!   satisfied by rpmvercmp against the full `uname -r` (see [`super::ddv3::dd_list_verdict`]).
//! - `dd_extract -m`: modules must sit under [`MODULES_ROOT`]; which file names it extracts
//!   depends on the installer generation ([`Generation`]): EL8's anaconda and anaconda <
//!   34.25.5.11 (RHEL <= 9.4) take only names ending exactly in `.ko`, later ones also
//!   `.ko.xz`/`.ko.zst`/`.ko.gz`. Extracted modules land in `updates/`
//!   ([`installed_module_path`]).
//! - The boot option naming a disk is `inst.dd=`; EL8's dracut hook also reads `dd=`
//!   (`getargs dd= inst.dd=`), RHEL 9 dropped that alias ([`Generation::reads_dd_alias`]).

/// The file whose presence marks a DDv3 repo directory (its content is not read).
pub const RHDD3: &str = "rhdd3";

/// The `rhdd3` text ddiskit writes (anaconda does not read it, only its presence).
pub const RHDD3_TEXT: &str = "Driver Update Disk version 3";

/// The directory beside `rhdd3` holding one directory per architecture.
pub const RPMS_DIR: &str = "rpms";

/// The `rpms/<uname -m>/` architectures this tool handles: a disk opened for a driver must
/// have a repo for one of them (which one the media needs, the findings judge with the
/// media's [`InstallerContext::arch`]). Supporting another architecture's DUDs starts with
/// one entry here.
pub const ARCHES: &[&str] = &["x86_64", "aarch64"];

/// The architecture of the media the tool edits by default (`uname -m` of its installer).
pub const DEFAULT_ARCH: &str = "x86_64";

/// Where `dd_extract -m` takes modules from inside an RPM (and where the installer copies
/// and loads them from).
pub const MODULES_ROOT: &str = "/lib/modules/";

/// Every boot-option key any installer generation reads as a driver update disk location
/// (`inst.dd=`, and EL8's `dd=` alias).
pub const DUD_ARG_KEYS: &[&str] = &["inst.dd", "dd"];

/// The installer the DUD is meant for: the boot ISO's kernel, release and architecture.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstallerContext {
    /// The installer kernel's `uname -r` (e.g. `5.14.0-284.11.1.el9_2.x86_64`).
    pub kernel_release: String,
    /// The OS release of the media (e.g. `9.2`), if known.
    pub os_release: Option<String>,
    /// `uname -m` (normally `x86_64`).
    pub arch: String,
}

impl InstallerContext {
    /// The installer generation the rules go by (from the media's release).
    pub fn generation(&self) -> Generation {
        Generation::of_release(self.os_release.as_deref())
    }
}

/// Which anaconda the media carries, as far as the DUD rules differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// EL8 (rhel-8 branch): plain `.ko` only; reads `dd=` as `inst.dd=`.
    El8,
    /// Any other release before RHEL 9.5 (anaconda < 34.25.5.11): plain `.ko` only.
    Before9_5,
    /// RHEL 9.5 and later: compressed modules are extracted too.
    From9_5,
    /// The media's release is unknown or unparsable.
    Unknown,
}

impl Generation {
    /// The generation of an installer from the media's OS release (`9.2`, `8.10`, `10.0`).
    pub fn of_release(os_release: Option<&str>) -> Generation {
        match os_release.and_then(major_minor) {
            None => Generation::Unknown,
            Some((8, _)) => Generation::El8,
            Some((major, minor)) if major > 9 || (major == 9 && minor >= 5) => Generation::From9_5,
            Some(_) => Generation::Before9_5,
        }
    }

    /// Whether `dd_extract` takes compressed modules (`.ko.xz` ...); `None` when unknown.
    pub fn extracts_compressed_modules(self) -> Option<bool> {
        match self {
            Generation::El8 | Generation::Before9_5 => Some(false),
            Generation::From9_5 => Some(true),
            Generation::Unknown => None,
        }
    }

    /// Whether the installer reads `dd=` as an alias of `inst.dd=` (EL8's anaconda,
    /// `getargs dd= inst.dd=`; RHEL 9 removed it).
    pub fn reads_dd_alias(self) -> bool {
        self == Generation::El8
    }

    /// Why this installer skips compressed modules, and what to do about it.
    pub fn compressed_skip_reason(self) -> (&'static str, &'static str) {
        if self == Generation::El8 {
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
}

/// Whether the media's anaconda extracts compressed modules (`.ko.xz` ...): from
/// anaconda-34.25.5.11 (RHEL 9.5) on. `None` when the release is unknown or unparsable.
/// EL8's anaconda (rhel-8 branch) never does: its `dd_extract` takes "only .ko files".
pub fn extracts_compressed_modules(os_release: Option<&str>) -> Option<bool> {
    Generation::of_release(os_release).extracts_compressed_modules()
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

/// `<parent>/rpms/<arch>`: the repo directory the installer globs for `*.rpm`.
pub fn repo_dir(parent: &str, arch: &str) -> String {
    join(&join(parent, RPMS_DIR), arch)
}

/// Where the installer would place a module from the RPM: `/lib/modules/<uname -r>/updates/`
/// plus the path after the kernel-version directory (and a following `kernel/`). `None`
/// for a path outside [`MODULES_ROOT`], which `dd_extract` never copies.
pub fn installed_module_path(rpm_path: &str, kernel_release: &str) -> Option<String> {
    let rest = rpm_path.trim_start_matches("./").trim_start_matches('/');
    let rest = rest.strip_prefix(MODULES_ROOT.trim_start_matches('/'))?;
    let (_kver, rel) = rest.split_once('/')?;
    let rel = rel.strip_prefix("kernel/").unwrap_or(rel);
    Some(format!("{MODULES_ROOT}{kernel_release}/updates/{rel}"))
}

/// What `dd_extract -m` does with one module file of an RPM that `dd_list` accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleFate {
    /// Not under [`MODULES_ROOT`]: never copied or loaded (`usr_lib`: it lies under
    /// `/usr/lib/modules/`, which dd_extract unpacks but never copies).
    OutsideModulesRoot { usr_lib: bool },
    /// Compressed, and this installer extracts only names ending in `.ko`.
    CompressedSkipped,
    /// Extracted to `destination` and loaded. `release_unknown`: it is compressed and the
    /// media's release is unknown, so it loads only on RHEL 9.5 and later.
    Extracted {
        destination: Option<String>,
        release_unknown: bool,
    },
}

/// The fate of the module file `path` (inside an accepted RPM; `compressed` by its suffix)
/// on the installer of `generation` running `kernel_release`.
pub fn module_fate(
    path: &str,
    compressed: bool,
    generation: Generation,
    kernel_release: &str,
) -> ModuleFate {
    if !path.starts_with(MODULES_ROOT) {
        return ModuleFate::OutsideModulesRoot {
            usr_lib: path.starts_with("/usr/lib/modules/"),
        };
    }
    let release_unknown = compressed && generation.extracts_compressed_modules().is_none();
    if compressed && generation.extracts_compressed_modules() == Some(false) {
        return ModuleFate::CompressedSkipped;
    }
    ModuleFate::Extracted {
        destination: installed_module_path(path, kernel_release),
        release_unknown,
    }
}

/// `dir/name` with one slash.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_module_release_rule() {
        assert_eq!(extracts_compressed_modules(Some("9.2")), Some(false));
        assert_eq!(extracts_compressed_modules(Some("9.4")), Some(false));
        assert_eq!(extracts_compressed_modules(Some("9.5")), Some(true));
        assert_eq!(extracts_compressed_modules(Some("10.0")), Some(true));
        assert_eq!(extracts_compressed_modules(Some("8.10")), Some(false));
        assert_eq!(extracts_compressed_modules(Some("7.9")), Some(false));
        assert_eq!(extracts_compressed_modules(None), None);
        assert!(Generation::of_release(Some("8")).reads_dd_alias());
        assert!(!Generation::of_release(Some("9.6")).reads_dd_alias());
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
        assert_eq!(repo_dir("/", "x86_64"), "/rpms/x86_64");
        assert_eq!(repo_dir("/a", "x86_64"), "/a/rpms/x86_64");
    }
}

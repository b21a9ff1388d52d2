//! Drivers to add, from `--add-dud`, `--add-rpm` and `--add-module`: the DUD image to embed
//! as `/dd*.iso`, the modules to put in the overlay, and what the installer's own rules say.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dud::{self, ddv3::DdListVerdict, Finding, KmodRpm, Severity};
use crate::kmod::module::Module;
use crate::remaster::media::{read_capped, Media};
use crate::{Error, Result};

const MODULE_FILE_CAP: u64 = 256 << 20;
const DUD_FILE_CAP: u64 = 1 << 30;

/// How a driver was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriverKind {
    Dud,
    Rpm,
    Module,
}

/// A module the overlay will carry.
#[derive(Debug, Clone)]
pub struct AddedModule {
    /// Module name (`mpt3sas`).
    pub name: String,
    /// Where it came from (`dd.iso:rpms/x86_64/kmod-x.rpm:/lib/modules/.../x.ko`).
    pub origin: String,
    /// The file bytes as given (possibly compressed).
    pub bytes: Vec<u8>,
    pub module: Module,
}

/// One driver argument, read and judged by the installer's rules.
pub struct Driver {
    pub source: PathBuf,
    pub kind: DriverKind,
    /// The DDv3 image to embed in the initrd (DUDs and RPMs; none for bare modules).
    pub dud_image: Option<Vec<u8>>,
    pub findings: Vec<Finding>,
    pub modules: Vec<AddedModule>,
    pub warnings: Vec<String>,
    /// The kmod RPMs carried (their kABI requirements are judged once the kernel is read).
    rpms: Vec<KmodRpm>,
}

impl Driver {
    /// Reads a driver argument against the media.
    pub fn load(kind: DriverKind, source: &Path, media: &Media) -> Result<Driver> {
        match kind {
            DriverKind::Dud => load_dud(source, media),
            DriverKind::Rpm => load_rpm(source, media),
            DriverKind::Module => load_module(source),
        }
    }

    /// The build's version, to pick the newest among candidates that load: the RPM's
    /// `[epoch:]version-release`, or a bare module's `version=`.
    pub fn version(&self) -> Option<String> {
        if let Some(r) = self.rpms.first() {
            return Some(match r.epoch {
                Some(e) => format!("{e}:{}-{}", r.version, r.release),
                None => format!("{}-{}", r.version, r.release),
            });
        }
        self.modules
            .first()?
            .module
            .modinfo_value("version")
            .map(str::to_string)
    }

    /// Adds what the kernel's exported symbol CRCs say of the RPMs' kABI requirements.
    /// Kept apart from [`Driver::load`] so that everything else runs while the kernel is
    /// still being read.
    pub fn judge_kabi(&mut self, exports: &std::collections::HashMap<String, u32>) {
        for rpm in &self.rpms {
            self.findings.extend(dud::kabi_findings(rpm, exports));
        }
        if self.kind == DriverKind::Dud
            && !self.rpms.is_empty()
            && !self.findings.iter().any(|f| f.severity == Severity::Ok)
        {
            self.warnings.push(format!(
                "{}: the installer alone would take nothing from this DUD (see findings); the overlay still carries its modules",
                self.source.display()
            ));
        }
    }
}

/// The DUD remaster builds for the media: `rpms/<uname -m of its kernel>/`.
fn dud_options(ctx: &dud::InstallerContext) -> dud::CreateOptions {
    dud::CreateOptions {
        arch: ctx.arch.clone(),
        ..Default::default()
    }
}

fn load_dud(source: &Path, media: &Media) -> Result<Driver> {
    let ctx = media.installer_context();
    let dud = dud::open_dud_for(source, &ctx.arch)?;
    let findings = dud::installer_findings(&dud, &ctx);
    let dud_image = if source.is_dir() {
        // A directory DUD is embedded as the same DDv3 image `dud create` writes.
        let rpm_paths: Vec<PathBuf> = dud
            .layout
            .repos(&ctx.arch)
            .flat_map(|repo| repo.rpm_files.iter().map(|f| source.join(f)))
            .collect();
        dud::dud_image_bytes(&rpm_paths, &dud_options(&ctx))?.0
    } else {
        read_capped(source, DUD_FILE_CAP)?
    };
    let label = source.display().to_string();
    let modules = modules_of_rpms(&label, &dud.rpms, media)?;
    if modules.is_empty() {
        return Err(Error::Refused(format!(
            "{label}: no kernel module in any of its RPMs for this ISO's kernel {}; the installer would load nothing",
            media.kver()
        )));
    }
    Ok(Driver {
        source: source.to_path_buf(),
        kind: DriverKind::Dud,
        dud_image: Some(dud_image),
        findings,
        modules,
        warnings: Vec::new(),
        rpms: dud.rpms,
    })
}

fn load_rpm(source: &Path, media: &Media) -> Result<Driver> {
    let mut rpm = dud::read_kmod_rpm_file(source)?;
    rpm.file_name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ctx = media.installer_context();
    let findings = dud::ddv3::rpm_findings(&rpm, &ctx);
    let (image, created) = dud::dud_image_bytes(&[source.to_path_buf()], &dud_options(&ctx))?;
    let label = source.display().to_string();
    let modules = modules_of_rpms(&label, std::slice::from_ref(&rpm), media)?;
    if modules.is_empty() {
        return Err(Error::input(
            source,
            "this RPM carries no kernel module (.ko, .ko.xz, .ko.zst, .ko.gz)",
        ));
    }
    Ok(Driver {
        source: source.to_path_buf(),
        kind: DriverKind::Rpm,
        dud_image: Some(image),
        findings,
        modules,
        warnings: created.warnings,
        rpms: vec![rpm],
    })
}

fn load_module(source: &Path) -> Result<Driver> {
    let bytes = read_capped(source, MODULE_FILE_CAP)?;
    let module = Module::parse(&bytes).map_err(|e| Error::input(source, e))?;
    // The name goes into rd.driver.pre, the overlay file name and the module indexes; a
    // corrupt .modinfo (e.g. overlapping another section) has none.
    let Some(name) = module.name.clone() else {
        return Err(Error::input(
            source,
            "the module has no name= in .modinfo (corrupt or overlapping .modinfo section?)",
        ));
    };
    let warning = format!(
        "{}: a bare module reaches the installer only; the installed system will not get {name} and may not find its root disk. Ship it as a kmod RPM (--add-rpm) or a DUD (--add-dud) so the installer also installs it",
        source.display()
    );
    Ok(Driver {
        source: source.to_path_buf(),
        kind: DriverKind::Module,
        dud_image: None,
        findings: Vec::new(),
        modules: vec![AddedModule {
            name,
            origin: source.display().to_string(),
            bytes,
            module,
        }],
        warnings: vec![warning],
        rpms: Vec::new(),
    })
}

/// The modules to carry from a set of kmod RPMs: those of the RPMs the installer's dd_list
/// would accept for this kernel; when it would accept none, all of them (so the verdict can
/// say why they would not load either).
fn modules_of_rpms(label: &str, rpms: &[KmodRpm], media: &Media) -> Result<Vec<AddedModule>> {
    let accepted: Vec<&KmodRpm> = rpms
        .iter()
        .filter(|r| {
            matches!(
                dud::ddv3::dd_list_verdict(r, media.kver()),
                DdListVerdict::Modules { .. }
            )
        })
        .collect();
    let chosen: Vec<&KmodRpm> = if accepted.is_empty() {
        rpms.iter().collect()
    } else {
        accepted
    };
    let mut out: Vec<AddedModule> = Vec::new();
    for rpm in chosen {
        for file in &rpm.modules {
            let origin = format!("{label}:{}:{}", rpm.file_name, file.path);
            let module = Module::parse(&file.bytes)
                .map_err(|e| Error::input(label, format!("{origin}: {e}")))?;
            if out.iter().any(|m| m.name == file.name) {
                continue;
            }
            out.push(AddedModule {
                name: file.name.clone(),
                origin,
                bytes: file.bytes.clone(),
                module,
            });
        }
    }
    Ok(out)
}

//! The modules the installer would load from a disk: the repos it finds, the RPMs dd_list
//! takes, the module files dd_extract copies; the same rules ([`crate::dud::rules`]) as
//! the findings, so what `check` reports and what the plan carries cannot disagree.

use serde::Serialize;

use super::dd_list::{dd_list_verdict, DdListVerdict};
use super::layout::RpmDir;
use super::Dud;
use crate::dud::rpm::ModuleCompression;
use crate::dud::rules::{module_fate, InstallerContext, ModuleFate};

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
    let generation = ctx.generation();
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
                let compressed = compression != ModuleCompression::None;
                let ModuleFate::Extracted {
                    destination: Some(destination),
                    ..
                } = module_fate(&f.path, compressed, generation, &ctx.kernel_release)
                else {
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

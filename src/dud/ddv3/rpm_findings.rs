//! The installer's verdicts on one RPM inside a repo it uses, step by step as the installer
//! goes: `dd_list` (does it list the RPM for this kernel?), the package's kernel `Requires`
//! (does dnf on the installed system accept it?), then `dd_extract` on each module file
//! (by [`crate::dud::rules::module_fate`]) and a summary when nothing would load.

use super::dd_list::{dd_list_verdict, evr_satisfies, DdListVerdict};
use super::finding::{Finding, Severity};
use crate::dud::rpm::{KmodRpm, ModuleCompression};
use crate::dud::rules::{module_fate, InstallerContext, ModuleFate, MODULES_ROOT};

/// Findings for one RPM inside a repo the installer uses.
pub fn rpm_findings(rpm: &KmodRpm, ctx: &InstallerContext) -> Vec<Finding> {
    let mut out: Vec<Finding> = arch_finding(rpm, ctx).into_iter().collect();
    let listed = dd_list_finding(rpm, ctx);
    let takes_modules = listed.severity == Severity::Ok;
    out.push(listed);
    if takes_modules {
        out.extend(kernel_requires_findings(rpm, ctx));
        out.extend(module_findings(rpm, ctx));
    }
    out
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

/// What `dd_list` makes of the RPM: listed with its modules (Ok), listed as an installer
/// enhancement only (Warn), or silently skipped (Ignored).
fn dd_list_finding(rpm: &KmodRpm, ctx: &InstallerContext) -> Finding {
    let name = Some(rpm.file_name.as_str());
    match dd_list_verdict(rpm, &ctx.kernel_release) {
        DdListVerdict::Skipped(reason) => Finding::new(
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
        ),
        DdListVerdict::EnhancementOnly => Finding::new(
            Severity::Warn,
            name,
            format!(
                "{} is used only as an installer enhancement (binaries/libraries); no kernel modules are taken from it",
                rpm.nvra()
            ),
            None,
        ),
        DdListVerdict::Modules { provide } => Finding::new(
            Severity::Ok,
            name,
            format!(
                "dd_list accepts {}: `Provides: {provide}` is satisfied by {}; the package is also installed on the target system",
                rpm.nvra(),
                ctx.kernel_release
            ),
            None,
        ),
    }
}

/// The package's versioned kernel `Requires` against the media's kernel: dnf on the
/// installed system must satisfy them from the install repos.
fn kernel_requires_findings(rpm: &KmodRpm, ctx: &InstallerContext) -> Vec<Finding> {
    let name = Some(rpm.file_name.as_str());
    let mut out = Vec::new();
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
    out
}

/// `dd_extract -m` on each module file of the RPM, then a summary when the RPM carries no
/// module or none of them would load.
fn module_findings(rpm: &KmodRpm, ctx: &InstallerContext) -> Vec<Finding> {
    let name = Some(rpm.file_name.as_str());
    let mut out = Vec::new();
    let generation = ctx.generation();
    let module_paths: Vec<(&str, ModuleCompression)> = rpm
        .files
        .iter()
        .filter_map(|f| ModuleCompression::of_path(&f.path).map(|c| (f.path.as_str(), c)))
        .collect();
    let mut loads = 0usize;
    for (path, compression) in &module_paths {
        let compressed = *compression != ModuleCompression::None;
        let fate = module_fate(path, compressed, generation, &ctx.kernel_release);
        if matches!(fate, ModuleFate::Extracted { .. }) {
            loads += 1;
        }
        out.extend(module_fate_findings(path, fate, name, ctx));
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

/// The findings that explain one module file's fate.
fn module_fate_findings(
    path: &str,
    fate: ModuleFate,
    name: Option<&str>,
    ctx: &InstallerContext,
) -> Vec<Finding> {
    let release = ctx.os_release.as_deref().unwrap_or("unknown");
    match fate {
        ModuleFate::OutsideModulesRoot { usr_lib } => {
            let why = if usr_lib {
                "it lies under /usr/lib/modules: dd_extract unpacks it to /updates/usr/lib/... but only /lib/modules/... is copied and loaded"
            } else {
                "it does not lie under /lib/modules/"
            };
            vec![Finding::new(
                Severity::Ignored,
                name,
                format!("the installer never loads {path} because {why}"),
                Some(
                    "the kmod RPM must install its modules under /lib/modules/<kver>/ (ELRepo and ddiskit packages do)"
                        .into(),
                ),
            )]
        }
        ModuleFate::CompressedSkipped => {
            let (why, fix) = ctx.generation().compressed_skip_reason();
            vec![Finding::new(
                Severity::Ignored,
                name,
                format!(
                    "the installer would skip {path} because dd_extract on release {release} ({why}) only extracts files ending in .ko; the package is still installed on the target"
                ),
                Some(fix.into()),
            )]
        }
        ModuleFate::Extracted {
            release_unknown: true,
            ..
        } => vec![Finding::new(
            Severity::Warn,
            name,
            format!(
                "{path} is compressed: installers up to RHEL 9.4 (anaconda < 34.25.5.11) skip it; the media release is unknown"
            ),
            Some("give the media release, or use an uncompressed .ko".into()),
        )],
        ModuleFate::Extracted { destination, .. } => {
            let mut out = vec![Finding::new(
                Severity::Ok,
                name,
                format!(
                    "{path} would be extracted to {} and loaded",
                    destination.unwrap_or_default()
                ),
                None,
            )];
            if let Some(kver) = path
                .strip_prefix(MODULES_ROOT)
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
            out
        }
    }
}

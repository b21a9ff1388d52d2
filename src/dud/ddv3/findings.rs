//! The installer's verdicts on a whole disk, each saying "the installer would ... because
//! ...": which `rpms/<arch>/` directories it ignores and why, the repos it finds, the RPMs
//! it reads there (judged by [`super::rpm_findings`]), and the nested images it opens only
//! when the disk has no repo for its architecture.

use super::finding::{Finding, Severity};
use super::rpm_findings::rpm_findings;
use super::Dud;
use crate::dud::rules::{join, InstallerContext, RHDD3, RHDD3_TEXT};

pub(super) fn no_driver_disk_message(dud: &Dud, arch: &str) -> String {
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

/// The installer's verdicts on a DUD for one installer: which repos it finds, which RPMs
/// dd_list takes, which modules dd_extract unpacks and loads, and what it ignores. Each
/// finding says "the installer would ... because ...".
pub fn installer_findings(dud: &Dud, ctx: &InstallerContext) -> Vec<Finding> {
    let mut out = ignored_layout_findings(dud, ctx);
    if dud.layout.repos(&ctx.arch).next().is_some() {
        out.extend(repo_findings(dud, ctx));
    } else {
        out.extend(nested_findings(dud, ctx));
    }
    out
}

/// What `find_repos` passes over: `rpms/` directories without `rhdd3` or for another
/// architecture, `rhdd3` entries that are not files, bare modules outside any RPM.
fn ignored_layout_findings(dud: &Dud, ctx: &InstallerContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for dir in &dud.layout.rpm_dirs {
        if !dir.has_rhdd3 {
            out.push(Finding::new(
                Severity::Ignored,
                None,
                format!(
                    "{} is ignored: there is no file named exactly `{RHDD3}` in {}",
                    dir.path(),
                    dir.parent
                ),
                Some(format!(
                    "add a file {} (text \"{RHDD3_TEXT}\"), or rebuild with `remaster dud create`",
                    join(&dir.parent, RHDD3)
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
    out
}

/// A disk with a repo for the installer's architecture: nested images are not opened; each
/// repo's RPMs are judged.
fn repo_findings(dud: &Dud, ctx: &InstallerContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let label = dud.label();
    for iso in &dud.layout.top_level_isos {
        out.push(Finding::new(
            Severity::Ignored,
            None,
            format!("{iso} is not examined: the installer only opens top-level ISO files when the disk has no driver repo"),
            None,
        ));
    }
    for repo in dud.layout.repos(&ctx.arch) {
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
    out
}

/// A disk without a repo for the installer's architecture: the installer opens its
/// top-level images instead (and finds no driver disk when there is none).
fn nested_findings(dud: &Dud, ctx: &InstallerContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let label = dud.label();
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
    out
}

//! `remaster inspect dd.iso|x.rpm [--json]`: what a DUD or kmod RPM holds and what the
//! installer would do with it.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;

use super::ddv3::{
    installer_findings, installer_loaded_modules, kabi_findings, rpm_findings, Dud, DudKind,
    Finding, InstallerContext, Layout, Severity, UnreadableRpm,
};
use super::rpm::{DepmodConf, KmodRpm, ModuleCompression, RpmFileInfo};
use crate::report::Report;

/// A module file inside an RPM (bytes left out).
#[derive(Debug, Clone, Serialize)]
pub struct ModuleSummary {
    pub path: String,
    pub name: String,
    pub compression: ModuleCompression,
    pub size: u64,
}

/// Everything `inspect` shows about one kmod RPM.
#[derive(Debug, Clone, Serialize)]
pub struct RpmReport {
    pub file: String,
    pub nvra: String,
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    pub payload_compressor: String,
    /// Every Provides, as rpm prints them (`kernel-modules >= 6.1.0-50`).
    pub provides: Vec<String>,
    /// Requires other than kABI symbol pins.
    pub requires: Vec<String>,
    /// Number of `Requires: kernel(sym) = 0xCRC` pins.
    pub kabi_requires: usize,
    pub files: Vec<RpmFileInfo>,
    pub modules: Vec<ModuleSummary>,
    pub depmod_confs: Vec<DepmodConf>,
    /// Installer verdicts (needs the installer context) and kABI verdicts (needs the
    /// kernel's exports); kernel-independent notes otherwise.
    pub findings: Vec<Finding>,
}

impl RpmReport {
    /// Builds the report; `ctx` adds the installer's verdicts, `exports` the kABI check.
    pub fn new(
        rpm: &KmodRpm,
        ctx: Option<&InstallerContext>,
        exports: Option<&HashMap<String, u32>>,
    ) -> Self {
        let mut findings = match ctx {
            Some(ctx) => rpm_findings(rpm, ctx),
            None => static_rpm_findings(rpm),
        };
        if let Some(exports) = exports {
            findings.extend(kabi_findings(rpm, exports));
        }
        RpmReport {
            file: rpm.file_name.clone(),
            nvra: rpm.nvra(),
            name: rpm.name.clone(),
            epoch: rpm.epoch,
            version: rpm.version.clone(),
            release: rpm.release.clone(),
            arch: rpm.arch.clone(),
            summary: rpm.summary.clone(),
            payload_compressor: rpm.payload_compressor.clone(),
            provides: rpm.provides.iter().map(ToString::to_string).collect(),
            requires: rpm
                .requires
                .iter()
                .filter(|d| d.kabi_symbol().is_none())
                .map(ToString::to_string)
                .collect(),
            kabi_requires: rpm.kabi_requires().count(),
            files: rpm.files.clone(),
            modules: rpm
                .modules
                .iter()
                .map(|m| ModuleSummary {
                    path: m.path.clone(),
                    name: m.name.clone(),
                    compression: m.compression,
                    size: m.bytes.len() as u64,
                })
                .collect(),
            depmod_confs: rpm.depmod_confs.clone(),
            findings,
        }
    }
}

/// Checks that do not depend on the installer kernel or release.
fn static_rpm_findings(rpm: &KmodRpm) -> Vec<Finding> {
    let name = Some(rpm.file_name.clone());
    let mut out = Vec::new();
    let kmods: Vec<_> = rpm.kernel_modules_provides().collect();
    if kmods.is_empty() {
        out.push(Finding {
            severity: Severity::Ignored,
            rpm: name.clone(),
            message: "no `Provides: kernel-modules`: the installer's dd_list skips this RPM".into(),
            fix: Some(
                "use a kmod RPM built for driver update disks (ELRepo kmod-*, ddiskit)".into(),
            ),
        });
    } else if kmods.iter().all(|p| !p.is_versioned()) {
        out.push(Finding {
            severity: Severity::Ignored,
            rpm: name.clone(),
            message: "`Provides: kernel-modules` has no version: dd_list ignores unversioned provides and skips this RPM".into(),
            fix: Some("use a kmod RPM with `Provides: kernel-modules >= <kernel>`".into()),
        });
    } else {
        out.push(Finding {
            severity: Severity::Ok,
            rpm: name.clone(),
            message: format!(
                "dd_list uses it when the installer kernel satisfies: {}",
                kmods
                    .iter()
                    .filter(|p| p.is_versioned())
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            fix: None,
        });
    }
    for f in &rpm.files {
        let Some(compression) = ModuleCompression::of_path(&f.path) else {
            continue;
        };
        if !f.path.starts_with("/lib/modules/") {
            out.push(Finding {
                severity: Severity::Ignored,
                rpm: name.clone(),
                message: format!(
                    "the installer never loads {}: only modules under /lib/modules/ are copied and loaded",
                    f.path
                ),
                fix: None,
            });
        } else if compression != ModuleCompression::None {
            out.push(Finding {
                severity: Severity::Warn,
                rpm: name.clone(),
                message: format!(
                    "{} is compressed: installers up to RHEL 9.4 (anaconda < 34.25.5.11) skip it",
                    f.path
                ),
                fix: None,
            });
        }
    }
    out
}

/// Everything `inspect` shows about a driver update disk.
#[derive(Debug, Clone, Serialize)]
pub struct DudReport {
    pub source: String,
    pub inner_path: String,
    pub kind: DudKind,
    pub volume_id: Option<String>,
    pub layout: Layout,
    pub rpms: Vec<RpmReport>,
    pub unreadable_rpms: Vec<UnreadableRpm>,
    pub nested: Vec<DudReport>,
    /// Layout and (with a context) installer verdicts for the whole disk, RPMs included.
    pub findings: Vec<Finding>,
    /// True when some module would be loaded by the installer (needs a context).
    pub installer_loads_a_module: Option<bool>,
}

impl DudReport {
    /// Builds the report; `ctx` adds the installer's verdicts, `exports` kABI checks.
    pub fn new(
        dud: &Dud,
        ctx: Option<&InstallerContext>,
        exports: Option<&HashMap<String, u32>>,
    ) -> Self {
        let arch_ctx = InstallerContext {
            kernel_release: String::new(),
            os_release: None,
            arch: super::rules::DEFAULT_ARCH.into(),
        };
        let findings: Vec<Finding> = match ctx {
            Some(ctx) => installer_findings(dud, ctx),
            // Without the installer kernel only the layout can be judged.
            None => installer_findings(dud, &arch_ctx)
                .into_iter()
                .filter(|f| f.rpm.is_none())
                .collect(),
        };
        let installer_loads_a_module =
            ctx.map(|ctx| !installer_loaded_modules(dud, ctx).is_empty());
        let mut findings = findings;
        if let Some(exports) = exports {
            for rpm in &dud.rpms {
                findings.extend(kabi_findings(rpm, exports));
            }
        }
        DudReport {
            source: dud.source.display().to_string(),
            inner_path: dud.inner_path.clone(),
            kind: dud.kind,
            volume_id: dud.volume_id.clone(),
            layout: dud.layout.clone(),
            rpms: dud
                .rpms
                .iter()
                .map(|r| RpmReport::new(r, None, None))
                .collect(),
            unreadable_rpms: dud.unreadable_rpms.clone(),
            nested: dud
                .nested
                .iter()
                .map(|n| DudReport::new(n, None, None))
                .collect(),
            findings,
            installer_loads_a_module,
        }
    }
}

fn write_findings(out: &mut dyn Write, findings: &[Finding], indent: &str) -> io::Result<()> {
    for f in findings {
        let tag = match f.severity {
            Severity::Ok => "ok",
            Severity::Warn => "WARN",
            Severity::Ignored => "IGNORED",
            Severity::Refused => "REFUSED",
        };
        writeln!(out, "{indent}[{tag}] {}", f.message)?;
        if let Some(fix) = &f.fix {
            writeln!(out, "{indent}    fix: {fix}")?;
        }
    }
    Ok(())
}

fn write_rpm(out: &mut dyn Write, r: &RpmReport, indent: &str) -> io::Result<()> {
    writeln!(out, "{indent}RPM {} ({})", r.nvra, r.file)?;
    writeln!(out, "{indent}  payload: {}", r.payload_compressor)?;
    writeln!(out, "{indent}  provides: {}", r.provides.join(", "))?;
    writeln!(
        out,
        "{indent}  requires: {} (+{} kABI symbol pins)",
        r.requires.join(", "),
        r.kabi_requires
    )?;
    for m in &r.modules {
        writeln!(out, "{indent}  module {} ({} bytes)", m.path, m.size)?;
    }
    for c in &r.depmod_confs {
        writeln!(out, "{indent}  depmod.d {}: {}", c.path, c.text.trim())?;
    }
    Ok(())
}

impl Report for RpmReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        write_rpm(out, self, "")?;
        write_findings(out, &self.findings, "")
    }
}

impl Report for DudReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        fn body(r: &DudReport, out: &mut dyn Write, indent: &str) -> io::Result<()> {
            let what = match r.kind {
                DudKind::Iso => "ISO image",
                DudKind::Directory => "directory",
            };
            let name = if r.inner_path.is_empty() {
                r.source.clone()
            } else {
                format!("{}:{}", r.source, r.inner_path)
            };
            writeln!(out, "{indent}Driver update disk {name} ({what})")?;
            if let Some(id) = &r.volume_id {
                writeln!(out, "{indent}  volume id: {id}")?;
            }
            for d in &r.layout.rpm_dirs {
                writeln!(
                    out,
                    "{indent}  {} ({} RPMs, rhdd3 beside: {})",
                    d.path(),
                    d.rpm_files.len(),
                    if d.has_rhdd3 { "yes" } else { "no" }
                )?;
            }
            for rpm in &r.rpms {
                write_rpm(out, rpm, &format!("{indent}  "))?;
            }
            for bad in &r.unreadable_rpms {
                writeln!(out, "{indent}  unreadable {}: {}", bad.path, bad.error)?;
            }
            for n in &r.nested {
                body(n, out, &format!("{indent}  "))?;
            }
            Ok(())
        }
        body(self, out, "")?;
        write_findings(out, &self.findings, "")?;
        if let Some(loads) = self.installer_loads_a_module {
            writeln!(
                out,
                "verdict: {}",
                if loads {
                    "the installer loads a driver from this disk"
                } else {
                    "the installer loads NOTHING from this disk"
                }
            )?;
        }
        Ok(())
    }
}

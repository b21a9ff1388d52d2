//! What the plan reports: per driver its modules and verdicts, the overlays, every config
//! edit, and the whole plan in human and JSON form (`--dry-run`, `--json`).

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::boot::EntryChange;
use crate::dud::Finding;
use crate::initrd::Compression;
use crate::kmod::verdict::{SecureBoot, Verdict};
use crate::report::Report;

use super::DriverKind;

/// One added module: where it goes and whether the kernel would take it.
#[derive(Debug, Clone, Serialize)]
pub struct ModulePlan {
    pub name: String,
    pub origin: String,
    /// Path in the initrd overlay.
    pub destination: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriverPlan {
    pub source: PathBuf,
    pub kind: DriverKind,
    /// `/dd.iso`, `/dd-2.iso`... in the initrd (DUDs and RPMs).
    pub embedded_as: Option<String>,
    pub installer_findings: Vec<Finding>,
    pub modules: Vec<ModulePlan>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverlayPlan {
    /// The initrd names that get the overlay (they share one extent).
    pub initrd_paths: Vec<String>,
    pub base_bytes: u64,
    pub compression: Compression,
    /// Bytes appended (padding + compressed segment).
    pub appended_bytes: u64,
    /// Paths in the overlay (after routing through the base's symlinks).
    pub entries: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigPlan {
    pub location: String,
    pub changed: bool,
    pub entries: Vec<EntryChange>,
    pub file_changes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Everything `remaster` will do, printable before it does it (`--dry-run`, `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// Show every installer finding in the human output (`-v`), not only the non-ok ones.
    #[serde(skip)]
    pub verbose: bool,
    /// Print only the media, drivers, overlays, warnings and refusals: `remaster pxe`
    /// writes no ISO and prints its own part (boot configs, MD5 and size are the ISO's).
    #[serde(skip)]
    pub drivers_only: bool,
    pub input: PathBuf,
    pub output: PathBuf,
    pub volume_id: String,
    pub kernel: String,
    pub kernel_release: String,
    pub os_release: Option<String>,
    pub secure_boot: SecureBoot,
    pub drivers: Vec<DriverPlan>,
    pub overlays: Vec<OverlayPlan>,
    pub configs: Vec<ConfigPlan>,
    pub added_files: Vec<String>,
    pub treeinfo_updated: Vec<String>,
    pub implant_md5: bool,
    pub output_bytes: u64,
    /// Problems that stop the write (unless `write_refused`).
    pub refusals: Vec<String>,
    /// `--write-refused` is in effect: refusals do not stop the write.
    pub write_refused: bool,
    pub warnings: Vec<String>,
    /// Every candidate build and why it was taken or skipped (when candidates competed).
    pub candidates: Vec<super::candidates::CandidateRow>,
    /// `--pci`: per device, whether the added driver is what makes it work.
    pub devices: Vec<crate::hardware::DeviceAnswer>,
}

impl Report for PlanReport {
    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "remaster {} -> {}",
            self.input.display(),
            self.output.display()
        )?;
        writeln!(
            out,
            "  media: {} (label {}), kernel {} ({}){}",
            self.input.display(),
            self.volume_id,
            self.kernel_release,
            self.kernel,
            self.os_release
                .as_deref()
                .map(|r| format!(", release {r}"))
                .unwrap_or_default()
        )?;
        for line in super::candidates::table_lines(&self.candidates)
            .iter()
            .filter(|_| !self.candidates.is_empty())
        {
            writeln!(out, "  {line}")?;
        }
        for d in &self.drivers {
            writeln!(
                out,
                "  driver {} ({:?}){}",
                d.source.display(),
                d.kind,
                d.embedded_as
                    .as_deref()
                    .map(|p| format!(" -> {p} in the initrd"))
                    .unwrap_or_default()
            )?;
            for f in d
                .installer_findings
                .iter()
                .filter(|f| self.verbose || f.severity != crate::dud::Severity::Ok)
            {
                writeln!(out, "    installer: {f}")?;
            }
            for m in &d.modules {
                let verdict = m.verdict.outcome.label();
                writeln!(out, "    module {} -> {}: {verdict}", m.name, m.destination)?;
                writeln!(out, "      {}", m.verdict.summary)?;
            }
        }
        for o in &self.overlays {
            writeln!(
                out,
                "  initrd {}: +{} bytes ({:?} overlay, {} entries) after {} base bytes kept as they are",
                o.initrd_paths.join(" = "),
                o.appended_bytes,
                o.compression,
                o.entries.len(),
                o.base_bytes
            )?;
        }
        for c in self.configs.iter().filter(|_| !self.drivers_only) {
            let changed: Vec<&EntryChange> =
                c.entries.iter().filter(|e| !e.changes.is_empty()).collect();
            writeln!(
                out,
                "  {}: {}",
                c.location,
                if c.changed {
                    format!("{} entries edited", changed.len())
                } else {
                    "unchanged".into()
                }
            )?;
            for e in changed {
                writeln!(out, "    {}: {}", e.title, e.changes.join(", "))?;
            }
            for fc in &c.file_changes {
                writeln!(out, "    {fc}")?;
            }
        }
        for f in &self.added_files {
            writeln!(out, "  add {f}")?;
        }
        if !self.treeinfo_updated.is_empty() && !self.drivers_only {
            writeln!(
                out,
                "  .treeinfo checksums updated: {}",
                self.treeinfo_updated.join(", ")
            )?;
        }
        if !self.drivers_only {
            writeln!(
                out,
                "  media check MD5: {}",
                if self.implant_md5 {
                    "re-implanted last"
                } else {
                    "not implanted (--no-md5)"
                }
            )?;
            writeln!(out, "  output size: {} bytes", self.output_bytes)?;
        }
        for d in &self.devices {
            writeln!(out, "  PCI {}", crate::hardware::plan_line(d))?;
            writeln!(out, "    media: {}", d.summary)?;
            writeln!(out, "    decided by: {}", d.decided_by)?;
            for n in &d.notes {
                writeln!(out, "    note: {n}")?;
            }
        }
        for w in &self.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        for r in &self.refusals {
            writeln!(out, "  REFUSED: {r}")?;
        }
        if self.write_refused {
            writeln!(
                out,
                "  --write-refused: {}",
                if self.refusals.is_empty() {
                    "in effect (nothing was refused)".to_string()
                } else {
                    format!(
                        "in effect: the output is written despite {} refusal(s)",
                        self.refusals.len()
                    )
                }
            )?;
        }
        Ok(())
    }
}

/// The refusals on one line, with the way out.
pub fn refusal_line(report: &PlanReport) -> String {
    format!(
        "{} — nothing written; --write-refused writes anyway (the installer will not load what was refused)",
        report.refusals.join("; ")
    )
}

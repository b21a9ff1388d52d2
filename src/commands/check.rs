//! `remaster check ISO ITEM...`: will these drivers load on this ISO's kernel, and will the
//! installer take them? Exit 0 = every module LOADS, 1 = something is REFUSED, 5 = loads only
//! with Secure Boot off.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::sniff::{sniff, FileKind};
use super::{secure_boot, CheckArgs};
use crate::dud::{self, Finding, Severity};
use crate::hardware::{self, distro::Distribution, DeviceAnswer};
use crate::kmod::module::Module;
use crate::kmod::verdict::{self, Outcome, SecureBoot, Verdict};
use crate::remaster::candidates::{self, Candidate, CandidateRow};
use crate::remaster::media::{read_capped, Media};
use crate::report::{emit, Report};
use crate::{Error, Result};

/// Exit status of `check` when a module loads only with Secure Boot off.
pub const EXIT_LOADS_ONLY_WITHOUT_SECURE_BOOT: i32 = 5;

#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    pub item: PathBuf,
    pub kind: &'static str,
    /// The installer's own rules (RPMs and DUDs) and kABI requirements.
    pub findings: Vec<Finding>,
    pub verdicts: Vec<Verdict>,
}

/// What `--pci-from` read.
#[derive(Debug, Clone, Serialize)]
pub struct PciFrom {
    pub file: PathBuf,
    /// `storage-and-network` (class 01/02 and lines without a class) or `all`.
    pub selection: &'static str,
    pub devices_read: usize,
    /// The lines left out (other classes), for the record.
    pub left_out: Vec<String>,
}

/// A device asked about: `(vendor, device)` and the lspci line it came from.
pub type AskedDevice = ((u16, u16), Option<String>);

/// The devices asked about: `--pci` specs, then the `--pci-from` file's devices (each once).
pub fn pci_devices(
    specs: &[String],
    from: Option<&std::path::Path>,
    all: bool,
) -> Result<(Vec<AskedDevice>, Option<PciFrom>)> {
    let mut devices: Vec<AskedDevice> = Vec::new();
    for spec in specs {
        let id = parse_pci(spec)?;
        if !devices.iter().any(|(d, _)| *d == id) {
            devices.push((id, None));
        }
    }
    let Some(file) = from else {
        return Ok((devices, None));
    };
    let bytes = read_capped(file, 4 << 20)?;
    let text = String::from_utf8_lossy(&bytes);
    let parsed = crate::hardware::lspci::parse(&text);
    if parsed.is_empty() {
        return Err(Error::input(
            file,
            "no device line with a [vvvv:dddd] pair; give the output of `lspci -nn` run on the target machine",
        ));
    }
    let mut left_out = Vec::new();
    for d in &parsed {
        if !all && !d.is_storage_or_network() {
            left_out.push(d.line.clone());
            continue;
        }
        let id = (d.vendor, d.device);
        if !devices.iter().any(|(x, _)| *x == id) {
            devices.push((id, Some(d.line.clone())));
        }
    }
    Ok((
        devices,
        Some(PciFrom {
            file: file.to_path_buf(),
            selection: if all { "all" } else { "storage-and-network" },
            devices_read: parsed.len(),
            left_out,
        }),
    ))
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub iso: PathBuf,
    pub kernel_release: String,
    pub os_release: Option<String>,
    pub secure_boot: SecureBoot,
    pub items: Vec<ItemReport>,
    /// With several candidates for the same modules (or a directory of builds): every
    /// candidate and why it would be taken or skipped, as the main command decides.
    pub candidates: Vec<CandidateRow>,
    /// Why no candidate would do (none loads; a dependency nobody provides).
    pub candidate_refusals: Vec<String>,
    /// The distribution and release read from the media (for the device answers).
    pub distribution: Distribution,
    /// One answer per device of `--pci` / `--pci-from`.
    pub pci: Vec<DeviceAnswer>,
    pub pci_from: Option<PciFrom>,
    /// `loads`, `refused` or `loads-only-without-secure-boot`.
    pub outcome: &'static str,
    /// Print every problem (`-v`), not just the first few.
    #[serde(skip)]
    pub verbose: bool,
}

/// Problems listed per module in the human output without `-v`.
const PROBLEMS_SHOWN: usize = 5;

impl Report for CheckReport {
    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{}: kernel {}{}, Secure Boot {:?}",
            self.iso.display(),
            self.kernel_release,
            self.os_release
                .as_deref()
                .map(|r| format!(", release {r}"))
                .unwrap_or_default(),
            self.secure_boot
        )?;
        for item in &self.items {
            writeln!(out, "{} ({}):", item.item.display(), item.kind)?;
            for f in &item.findings {
                writeln!(out, "  installer: {f}")?;
            }
            for v in &item.verdicts {
                writeln!(out, "  {}", v.summary)?;
                // The summary already states the refusing problem.
                let rest: Vec<_> = v
                    .problems
                    .iter()
                    .filter(|p| !v.summary.contains(&p.detail))
                    .collect();
                let others = rest.len();
                let shown = if self.verbose {
                    others
                } else {
                    others.min(PROBLEMS_SHOWN)
                };
                for p in rest.iter().take(shown) {
                    writeln!(out, "    also: {}", p.detail)?;
                }
                if shown < others {
                    writeln!(
                        out,
                        "    ... and {} more (-v or --json lists them all)",
                        others - shown
                    )?;
                }
            }
        }
        if !self.candidates.is_empty() {
            for line in candidates::table_lines(&self.candidates) {
                writeln!(out, "{line}")?;
            }
        }
        for r in &self.candidate_refusals {
            writeln!(out, "REFUSED: {r}")?;
        }
        if let Some(f) = &self.pci_from {
            writeln!(
                out,
                "{}: {} devices, {} asked about ({}){}",
                f.file.display(),
                f.devices_read,
                f.devices_read.saturating_sub(f.left_out.len()),
                if f.selection == "all" {
                    "every device"
                } else {
                    "storage and network controllers"
                },
                if f.left_out.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} others left out (--all-devices takes them)",
                        f.left_out.len()
                    )
                }
            )?;
        }
        if !self.pci.is_empty() {
            writeln!(
                out,
                "distribution: {} (name from {}, release from {})",
                self.distribution.label(),
                self.distribution
                    .name_source
                    .as_deref()
                    .unwrap_or("nowhere"),
                self.distribution
                    .release_source
                    .as_deref()
                    .unwrap_or("nowhere")
            )?;
        }
        for p in &self.pci {
            for line in p.human() {
                writeln!(out, "{line}")?;
            }
        }
        writeln!(
            out,
            "verdict: {}",
            self.outcome.to_uppercase().replace('-', " ")
        )
    }
}

pub fn run(args: CheckArgs) -> Result<i32> {
    // Bad --pci / --pci-from input fails before the media is read.
    let (devices, pci_from) = pci_devices(&args.pci, args.pci_from.as_deref(), args.all_devices)?;
    let mut media = Media::open_deep(&args.iso)?;
    let sb = secure_boot(args.secure_boot);
    let enrolled = super::trusted_keys(&args.trust_key)?;
    let ctx = media.installer_context();
    let exports = media.export_crcs()?;
    let (items, cands, from_dir) = read_items(&args.items, &ctx, &exports)?;
    let added: Vec<Module> = items.iter().flat_map(|i| i.3.iter().cloned()).collect();
    let target = media.target(&added, &enrolled)?;
    let mut refused = false;
    let mut groups: std::collections::BTreeMap<Vec<String>, usize> = Default::default();
    for c in cands.iter().filter(|c| c.load_error.is_none()) {
        *groups.entry(c.names()).or_default() += 1;
    }
    let selection = if from_dir || groups.values().any(|&n| n > 1) {
        let sel = candidates::select(&cands, &media.base_modules, &target.kernel, sb);
        refused |= !sel.refusals.is_empty();
        Some(sel)
    } else {
        None
    };
    let mut sb_only = false;
    let mut reports = Vec::new();
    // With a candidate table, only the candidates taken decide the outcome.
    let counted = |item: &PathBuf| {
        selection.as_ref().is_none_or(|s| {
            s.rows
                .iter()
                .any(|r| &r.source == item && r.role != candidates::Role::Skipped)
        })
    };
    for (item, kind, findings, modules) in items {
        let counts = counted(&item);
        refused |= counts && findings.iter().any(|f| f.severity == Severity::Refused);
        let verdicts: Vec<Verdict> = modules
            .iter()
            .map(|m| verdict::check(m, &target, sb))
            .collect();
        for v in verdicts.iter().filter(|_| counts) {
            match v.outcome {
                Outcome::Loads => {}
                Outcome::Refused { .. } => refused = true,
                Outcome::LoadsOnlyWithoutSecureBoot { .. } => sb_only = true,
            }
        }
        reports.push(ItemReport {
            item,
            kind,
            findings,
            verdicts,
        });
    }
    let distribution = if devices.is_empty() {
        hardware::distro::Distribution {
            name: None,
            family: None,
            release: media.os_release.clone(),
            name_source: None,
            release_source: None,
        }
    } else {
        media.distribution()
    };
    let pci: Vec<DeviceAnswer> = devices
        .into_iter()
        .map(|(id, line)| {
            hardware::answer(
                id,
                line,
                &media.base_modules,
                &media.module_files,
                &added,
                &distribution,
            )
        })
        .collect();
    let (outcome, code) = if refused {
        ("refused", crate::error::EXIT_REFUSED)
    } else if sb_only {
        (
            "loads-only-without-secure-boot",
            EXIT_LOADS_ONLY_WITHOUT_SECURE_BOOT,
        )
    } else {
        ("loads", 0)
    };
    let report = CheckReport {
        iso: args.iso.clone(),
        kernel_release: media.kver().to_string(),
        os_release: media.os_release.clone(),
        secure_boot: sb,
        items: reports,
        candidates: selection
            .as_ref()
            .map(|s| s.rows.clone())
            .unwrap_or_default(),
        candidate_refusals: selection.map(|s| s.refusals).unwrap_or_default(),
        distribution,
        pci,
        pci_from,
        outcome,
        verbose: args.out.verbose > 0,
    };
    emit(&report, args.out.json).map_err(|e| Error::output("<stdout>", e))?;
    Ok(code)
}

/// One checked input: its path, kind, the installer's findings and the modules in it.
type Item = (PathBuf, &'static str, Vec<Finding>, Vec<Module>);

/// Reads every item given to `check`: a module, RPM or DUD, or a directory that is no DUD,
/// whose every module, RPM and DUD is a candidate (an unreadable one is a candidate that
/// failed to load, not an error). Returns the items, the candidates and whether a directory
/// supplied them.
fn read_items(
    args_items: &[PathBuf],
    ctx: &dud::InstallerContext,
    exports: &std::collections::HashMap<String, u32>,
) -> Result<(Vec<Item>, Vec<Candidate>, bool)> {
    let mut items: Vec<Item> = Vec::new();
    let mut cands: Vec<Candidate> = Vec::new();
    let mut from_dir = false;
    for arg in args_items {
        // A directory that is no DUD: every module, RPM and DUD in it is a candidate.
        let files = match check_dir_candidates(arg)? {
            Some(files) => {
                from_dir = true;
                files.into_iter().map(|f| (f, true)).collect()
            }
            None => vec![(arg.clone(), false)],
        };
        for (item, in_dir) in files {
            let (kind, mut findings, modules, version) = match load_item(&item, ctx, exports) {
                Ok(loaded) => loaded,
                Err(e) if in_dir => {
                    cands.push(Candidate {
                        source: item.clone(),
                        kind: "unreadable",
                        modules: Vec::new(),
                        installer_takes: false,
                        installer_reason: None,
                        version: None,
                        load_error: Some(e.to_string()),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            if modules.is_empty() {
                // E.g. a DUD whose only RPM is unreadable: nothing would load, so the answer
                // to "will it load?" is no, not an empty LOADS.
                findings.push(Finding {
                    severity: Severity::Refused,
                    rpm: None,
                    message: format!("{}: no readable kernel module in it; the installer would load nothing", item.display()),
                    fix: Some("replace the unreadable or missing RPMs (see the findings above) with intact copies".into()),
                });
            }
            cands.push(Candidate {
                source: item.clone(),
                kind,
                modules: modules.clone(),
                installer_takes: kind == "module" || candidates::installer_takes(&findings),
                installer_reason: candidates::installer_reason(&findings),
                version,
                load_error: None,
            });
            items.push((item, kind, findings, modules));
        }
    }
    Ok((items, cands, from_dir))
}

/// What one item is: kind, installer findings, modules and version (RPM EVR or `version=`).
type LoadedItem = (&'static str, Vec<Finding>, Vec<Module>, Option<String>);

fn load_item(
    item: &std::path::Path,
    ctx: &dud::InstallerContext,
    exports: &std::collections::HashMap<String, u32>,
) -> Result<LoadedItem> {
    let evr = |r: &dud::KmodRpm| match r.epoch {
        Some(e) => format!("{e}:{}-{}", r.version, r.release),
        None => format!("{}-{}", r.version, r.release),
    };
    Ok(match sniff(item)? {
        FileKind::Module => {
            let bytes = read_capped(item, 256 << 20)?;
            let m = Module::parse(&bytes).map_err(|e| Error::input(item, e))?;
            let version = m.modinfo_value("version").map(str::to_string);
            ("module", Vec::new(), vec![m], version)
        }
        FileKind::Rpm => {
            let rpm = dud::read_kmod_rpm_file(item)?;
            let mut findings = dud::ddv3::rpm_findings(&rpm, ctx);
            findings.extend(dud::kabi_findings(&rpm, exports));
            let version = Some(evr(&rpm));
            ("rpm", findings, parse_modules(item, &[rpm])?, version)
        }
        FileKind::Iso | FileKind::DudDirectory => {
            let d = dud::scan_dud(item)?;
            let mut findings = dud::installer_findings(&d, ctx);
            for rpm in &d.rpms {
                findings.extend(dud::kabi_findings(rpm, exports));
            }
            let version = d.rpms.first().map(evr);
            ("dud", findings, parse_modules(item, &d.rpms)?, version)
        }
        other => {
            return Err(Error::input(
                item,
                format!("a {other:?} is not a driver; give a module, kmod RPM or DUD"),
            ))
        }
    })
}

/// The candidates in a directory argument of `check` (sorted), or `None` for a file or a
/// DUD directory (one with `rhdd3`).
fn check_dir_candidates(path: &std::path::Path) -> Result<Option<Vec<PathBuf>>> {
    if !path.is_dir() || path.join(dud::rules::RHDD3).is_file() {
        return Ok(None);
    }
    let mut all = Vec::new();
    for kind in ["module", "rpm", "dud"] {
        if let Ok(Some(files)) = candidates::expand_dir(kind, path) {
            all.extend(files);
        }
    }
    all.sort();
    all.dedup();
    if all.is_empty() {
        return Err(Error::input(
            path,
            "a directory with no module, RPM, DUD ISO or DUD directory in it",
        ));
    }
    Ok(Some(all))
}

fn parse_modules(item: &std::path::Path, rpms: &[dud::KmodRpm]) -> Result<Vec<Module>> {
    rpms.iter()
        .flat_map(|r| r.modules.iter())
        .map(|f| {
            Module::parse(&f.bytes).map_err(|e| Error::input(item, format!("{}: {e}", f.path)))
        })
        .collect()
}

/// `1000:0072` → (0x1000, 0x0072).
pub fn parse_pci(spec: &str) -> Result<(u16, u16)> {
    let bad = || {
        Error::Usage(format!(
            "--pci {spec}: expected VENDOR:DEVICE in hex, e.g. 1000:0072"
        ))
    };
    let (v, d) = spec.split_once(':').ok_or_else(bad)?;
    Ok((
        u16::from_str_radix(v, 16).map_err(|_| bad())?,
        u16::from_str_radix(d, 16).map_err(|_| bad())?,
    ))
}

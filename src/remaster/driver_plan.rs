//! Drivers through the plan: `prepare_drivers` turns the loaded drivers into overlay
//! entries (bytes only, no verdict yet), `judge_drivers` runs the verdicts last, once the
//! kernel read on its own thread is needed.

use crate::initrd::{self, Compression, OverlayEntry};
use crate::kmod::verdict::{self, Outcome};
use crate::{Error, Result};

use super::report::{DriverPlan, ModulePlan};
use super::{dud_file_name, AddedModule, Driver, DriverKind, Media, Options, OVERLAY_DUD_CAP};

/// What the drivers put into the overlay and onto the command lines.
pub(super) struct DriverStep {
    pub(super) drivers: Vec<Driver>,
    /// Per driver: the `/dd*.iso` it is embedded as (DUDs and RPMs).
    pub(super) embedded_as: Vec<Option<String>>,
    /// Per driver, per module: its path in the overlay.
    pub(super) destinations: Vec<Vec<String>>,
    pub(super) overlay_entries: Vec<OverlayEntry>,
    pub(super) dud_paths: Vec<String>,
    pub(super) driver_pre: Vec<String>,
    /// The candidate table, when candidates competed (candidates.rs).
    pub(super) selection: Option<super::candidates::Selection>,
}

/// Reads every driver argument and lays out the overlay: the DUDs as `/dd*.iso`, the
/// modules under `updates/` (compressed like the in-box ones), regenerated indexes and
/// modules-load.d entries. Needs no kernel exports: the kernel is still being read while
/// this runs, and [`judge_drivers`] gives the verdicts afterwards.
pub(super) fn prepare_drivers(
    media: &Media,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<DriverStep> {
    let kver = media.kver().to_string();
    // Several candidates (or a directory of builds): the one that loads is taken, see
    // candidates.rs; otherwise every driver as given.
    let (drivers, selection) = super::candidates::load_drivers(media, opts)?;
    let dud_count = drivers.iter().filter(|d| d.dud_image.is_some()).count();
    if dud_count > OVERLAY_DUD_CAP {
        return Err(Error::Usage(format!(
            "{dud_count} driver update disks; at most {OVERLAY_DUD_CAP} are supported"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in drivers.iter().flat_map(|d| d.modules.iter()) {
        if !seen.insert(m.name.clone()) {
            return Err(Error::Usage(format!(
                "module {} is added twice ({}); keep one",
                m.name, m.origin
            )));
        }
    }
    let suffix = media.module_suffix();
    let module_dir = media
        .module_dir
        .clone()
        .unwrap_or_else(|| format!("usr/lib/modules/{kver}"));
    let mut step = DriverStep {
        drivers: Vec::new(),
        embedded_as: Vec::new(),
        destinations: Vec::new(),
        overlay_entries: Vec::new(),
        dud_paths: Vec::new(),
        driver_pre: Vec::new(),
        selection,
    };
    let mut dud_index = 0usize;
    let mut added_for_depmod: Vec<(String, Vec<u8>)> = Vec::new();
    for d in &drivers {
        step.embedded_as.push(d.dud_image.as_ref().map(|image| {
            dud_index += 1;
            let name = dud_file_name(dud_index, dud_count);
            step.overlay_entries
                .push(OverlayEntry::file(name.clone(), image.clone(), 0o644));
            step.dud_paths.push(format!("/{name}"));
            format!("/{name}")
        }));
        let mut destinations = Vec::new();
        for m in &d.modules {
            let (file_name, bytes) = module_file(m, suffix)?;
            let rel = format!("updates/{file_name}");
            let destination = format!("{module_dir}/{rel}");
            step.overlay_entries.push(OverlayEntry::file(
                destination.clone(),
                bytes.clone(),
                0o644,
            ));
            added_for_depmod.push((rel, bytes));
            step.overlay_entries.push(OverlayEntry::file(
                format!("etc/modules-load.d/remaster-{}.conf", m.name),
                format!("{}\n", m.name).into_bytes(),
                0o644,
            ));
            step.driver_pre.push(m.name.clone());
            destinations.push(format!("/{destination}"));
        }
        step.destinations.push(destinations);
        if matches!(d.kind, DriverKind::Dud | DriverKind::Rpm)
            && !d.modules.iter().any(|m| m.bytes.starts_with(b"\x7fELF"))
        {
            // Compressed modules in a DUD RPM (an --add-rpm is carried as a DUD too): the
            // installer's own extraction skips them on EL8 and RHEL <= 9.4; the overlay does
            // not depend on that.
            let release = media.installer_release();
            if crate::dud::rules::extracts_compressed_modules(release.as_deref()) == Some(false) {
                warnings.push(format!(
                    "{}: its modules are compressed; the installer of release {} would skip them (its dd_extract takes only files ending in .ko), but the overlay carries them so stage 1 loads them anyway (the RPM is still installed on the target)",
                    d.source.display(),
                    release.as_deref().unwrap_or("?")
                ));
            }
        }
    }
    if !added_for_depmod.is_empty() {
        let indexes = initrd::depmod::generate_for_parsed_tree(
            &media.module_files,
            &media.module_symbols,
            &kver,
            &added_for_depmod,
        )
        .map_err(|e| {
            Error::input(
                &opts.input,
                format!("regenerating module indexes for {kver}: {e}"),
            )
        })?;
        for (name, bytes) in indexes {
            step.overlay_entries.push(OverlayEntry::file(
                format!("{module_dir}/{name}"),
                bytes,
                0o644,
            ));
        }
        if media.module_dir.is_none() {
            warnings.push(format!(
                "the initrd has no module tree for {kver}; one is created for the added modules"
            ));
        }
    }
    step.drivers = drivers;
    Ok(step)
}

/// Judges each added module against the ISO's kernel, the initrd's modules and the other
/// added modules (a driver may depend on another one added with it), and each RPM's kABI
/// requirements against the kernel's exports. The first step that needs the kernel read.
pub(super) fn judge_drivers(
    media: &Media,
    opts: &Options,
    step: DriverStep,
    warnings: &mut Vec<String>,
    refusals: &mut Vec<String>,
) -> Result<Vec<DriverPlan>> {
    let mut drivers = step.drivers;
    if drivers.is_empty() {
        return Ok(Vec::new());
    }
    let exports = media.export_crcs()?;
    let added: Vec<crate::kmod::module::Module> = drivers
        .iter()
        .flat_map(|d| d.modules.iter().map(|m| m.module.clone()))
        .collect();
    let target = media.target(&added, &opts.trusted_keys)?;
    let mut driver_plans = Vec::new();
    for ((d, embedded_as), destinations) in drivers
        .iter_mut()
        .zip(step.embedded_as)
        .zip(step.destinations)
    {
        d.judge_kabi(&exports);
        let mut modules = Vec::new();
        for (m, destination) in d.modules.iter().zip(destinations) {
            let v = verdict::check(&m.module, &target, opts.secure_boot);
            match &v.outcome {
                Outcome::Loads => {}
                Outcome::Refused { .. } => refusals.push(format!("{}: {}", m.origin, v.summary)),
                Outcome::LoadsOnlyWithoutSecureBoot { message, .. } => warnings.push(format!(
                    "{}: loads only with Secure Boot off; under Secure Boot the kernel prints \"{message}\". Either disable Secure Boot for the installation, or enrol the signer's key with `mokutil --import` before booting this ISO (then --trust-key CERT makes the verdict count it)",
                    m.name
                )),
            }
            modules.push(ModulePlan {
                name: m.name.clone(),
                origin: m.origin.clone(),
                destination,
                verdict: v,
            });
        }
        warnings.extend(d.warnings.iter().cloned());
        driver_plans.push(DriverPlan {
            source: d.source.clone(),
            kind: d.kind,
            embedded_as,
            installer_findings: d.findings.clone(),
            modules,
            warnings: d.warnings.clone(),
        });
    }
    Ok(driver_plans)
}

/// The module file for the overlay, compressed like the in-box modules: `(file name, bytes)`.
pub(super) fn module_file(m: &AddedModule, suffix: &str) -> Result<(String, Vec<u8>)> {
    let given = crate::codec::Codec::detect(&m.bytes);
    let plain = given == crate::codec::Codec::None;
    match (suffix, plain) {
        (".ko.xz", true) => {
            let xz = Compression::Xz
                .compress(&m.bytes)
                .map_err(|e| Error::input(&m.origin, format!("compressing {}: {e}", m.name)))?;
            Ok((format!("{}.ko.xz", m.name), xz))
        }
        _ => {
            let ext = match given {
                crate::codec::Codec::Xz => ".ko.xz",
                crate::codec::Codec::Zstd => ".ko.zst",
                crate::codec::Codec::Gzip => ".ko.gz",
                _ => ".ko",
            };
            Ok((format!("{}{ext}", m.name), m.bytes.clone()))
        }
    }
}

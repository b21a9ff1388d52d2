//! The main pipeline: open the media, read the drivers, judge them, plan every change,
//! then write one ISO in a single streaming pass.
//!
//! `plan` does all the reading and deciding (and fails before anything is written);
//! `execute` hands the plan to the ISO graft writer. `--dry-run` stops after `plan`.

pub mod candidates;
pub mod drivers;
pub mod media;
pub mod preflight;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::boot::{self, CmdlineEdits, EntryChange};
use crate::dud::Finding;
use crate::initrd::{self, Compression, OverlayEntry};
use crate::iso::write::{self as isowrite, EditPlan, NewContent, WriteOptions, WriteSummary};
use crate::kmod::verdict::{self, Outcome, SecureBoot, Verdict};
use crate::report::Report;
use crate::{Error, Result};

pub use drivers::{AddedModule, Driver, DriverKind};
pub use media::Media;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub input: PathBuf,
    pub output: PathBuf,
    pub duds: Vec<PathBuf>,
    pub rpms: Vec<PathBuf>,
    pub modules: Vec<PathBuf>,
    /// Extra kernel arguments for every install entry.
    pub cmdline: Vec<String>,
    /// Argument keys to remove from every install entry.
    pub rm_args: Vec<String>,
    /// Files to add: (source on disk, destination path in the ISO).
    pub add: Vec<(PathBuf, String)>,
    pub ks: Option<PathBuf>,
    pub volid: Option<String>,
    pub implant_md5: bool,
    /// Overwrite an existing output (`--force`). Never implies `write_refused`.
    pub force: bool,
    /// Write even though a verdict refused (`--write-refused`): only when asked by name.
    pub write_refused: bool,
    pub secure_boot: SecureBoot,
    /// Keys the user says are enrolled in MOK/db on the target (`--trust-key`).
    pub trusted_keys: Vec<crate::kmod::signature::TrustedCert>,
    pub compression: Compression,
    /// `--pci`/`--pci-from`: devices to answer for (vendor:device, the lspci line).
    pub pci: Vec<((u16, u16), Option<String>)>,
}

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
    pub candidates: Vec<candidates::CandidateRow>,
    /// `--pci`: per device, whether the added driver is what makes it work.
    pub devices: Vec<crate::hardware::DeviceAnswer>,
}

/// A plan ready to write.
pub struct Plan {
    pub report: PlanReport,
    prepared: isowrite::Prepared,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

const OVERLAY_DUD_CAP: usize = 16;

/// Reads everything, judges the drivers and plans every change. Writes nothing. With
/// `early_checksum` and drivers to judge, the isomd5sum of the planned output is computed
/// from the moment the layout is known, while the verdicts wait for the kernel (see
/// [`isowrite::Prepared::start_checksum`]); pass false when the plan will not be written.
pub fn plan(opts: &Options, early_checksum: bool) -> Result<(Media, Plan)> {
    // Wrong paths and an existing output fail here, before the media is read.
    preflight::check(opts)?;
    // Only drivers need the kernel's exports and the initrd's walk; plain edits stay light.
    let has_drivers = !(opts.duds.is_empty() && opts.rpms.is_empty() && opts.modules.is_empty());
    let growing = has_drivers || !opts.add.is_empty() || opts.ks.is_some();
    // --pci needs the initrd's modules too.
    let mut media =
        Media::open_for_edit(&opts.input, has_drivers || !opts.pci.is_empty(), growing)?;
    refuse_damaged_input(&media.image, &opts.input)?;
    let kver = media.kver().to_string();
    let mut warnings: Vec<String> = Vec::new();
    let mut refusals: Vec<String> = Vec::new();

    check_boot_paths(&media)?;

    let mut step = prepare_drivers(&media, opts, &mut warnings)?;
    let overlay_entries = std::mem::take(&mut step.overlay_entries);
    let dud_paths = std::mem::take(&mut step.dud_paths);
    let driver_pre = std::mem::take(&mut step.driver_pre);
    let selection = step.selection.take().unwrap_or_default();
    refusals.extend(selection.refusals.iter().cloned());

    let mut edit = EditPlan {
        implant_md5: opts.implant_md5,
        // SOURCE_DATE_EPOCH or 0: the same inputs give the same bytes.
        mtime: i64::try_from(initrd::overlay::mtime_from_env()).unwrap_or(0),
        // The overlay and configs below come from the input as opened now: the writer
        // refuses if it has changed by the time it is written.
        input_stamp: Some(
            isowrite::InputStamp::of_file(&media.file).map_err(|e| Error::input(&opts.input, e))?,
        ),
        ..Default::default()
    };

    let mut changed_digests: Vec<(String, String)> = Vec::new();
    let overlays = plan_overlays(
        &mut media,
        opts,
        &overlay_entries,
        &mut edit,
        &mut changed_digests,
    )?;

    // Files to add, and the kickstart.
    let label_after = opts
        .volid
        .clone()
        .unwrap_or_else(|| media.image.volume_id().to_string());
    let mut cmdline_add = opts.cmdline.clone();
    let mut added_files = Vec::new();
    for (src, dest) in &opts.add {
        edit.add.push((dest.clone(), NewContent::File(src.clone())));
        added_files.push(format!("/{}", dest.trim_start_matches('/')));
    }
    if let Some(ks) = &opts.ks {
        let name = ks
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::input(ks, "not a file name"))?;
        if media.image.find(&name).is_some() {
            edit.replace
                .push((name.clone(), NewContent::File(ks.clone())));
        } else {
            edit.add.push((name.clone(), NewContent::File(ks.clone())));
        }
        added_files.push(format!("/{name}"));
        cmdline_add.push(boot::ks_arg(&label_after, &name));
    }

    // Boot configs.
    let edits = CmdlineEdits {
        add: cmdline_add,
        remove_keys: opts.rm_args.clone(),
        volume_label_rename: opts
            .volid
            .as_ref()
            .map(|new| (media.image.volume_id().to_string(), new.clone())),
        dud_paths,
        driver_pre,
    };
    let configs = plan_configs(
        &media,
        opts,
        &edits,
        &mut edit,
        &mut changed_digests,
        &mut warnings,
    )?;

    let treeinfo_updated = plan_treeinfo(&mut media, opts, &changed_digests, &mut edit)?;
    edit.volume_id = opts.volid.clone();

    let file = media
        .file
        .try_clone()
        .map_err(|e| Error::input(&opts.input, e))?;
    let mut prepared = isowrite::prepare_opened(&opts.input, file, &media.image, edit)?;
    // Only the verdicts are worth overlapping: without drivers the write hashes as it goes
    // (one read of the input instead of two).
    if early_checksum && has_drivers {
        prepared.start_checksum()?;
    }
    let added_for_pci: Vec<crate::kmod::module::Module> = step
        .drivers
        .iter()
        .flat_map(|d| d.modules.iter().map(|m| m.module.clone()))
        .collect();
    let devices = if opts.pci.is_empty() {
        Vec::new()
    } else {
        let dist = crate::hardware::media_distribution(&mut media);
        opts.pci
            .iter()
            .map(|(id, line)| {
                crate::hardware::answer(
                    *id,
                    line.clone(),
                    &media.base_modules,
                    &media.module_files,
                    &added_for_pci,
                    &dist,
                )
            })
            .collect()
    };
    // Last: the verdicts wait for the kernel, read on its own thread meanwhile.
    let driver_plans = judge_drivers(&media, opts, step, &mut warnings, &mut refusals)?;
    let report = PlanReport {
        verbose: false,
        input: opts.input.clone(),
        output: opts.output.clone(),
        volume_id: label_after,
        kernel: media.kernel_path.clone(),
        kernel_release: kver,
        os_release: media.os_release.clone(),
        secure_boot: opts.secure_boot,
        drivers: driver_plans,
        overlays,
        configs,
        added_files,
        treeinfo_updated,
        implant_md5: opts.implant_md5,
        output_bytes: prepared.output_bytes(),
        refusals,
        write_refused: opts.write_refused,
        warnings,
        candidates: selection.rows,
        devices,
    };
    Ok((media, Plan { report, prepared }))
}

/// What the drivers put into the overlay and onto the command lines.
struct DriverStep {
    drivers: Vec<Driver>,
    /// Per driver: the `/dd*.iso` it is embedded as (DUDs and RPMs).
    embedded_as: Vec<Option<String>>,
    /// Per driver, per module: its path in the overlay.
    destinations: Vec<Vec<String>>,
    overlay_entries: Vec<OverlayEntry>,
    dud_paths: Vec<String>,
    driver_pre: Vec<String>,
    /// The candidate table, when candidates competed (candidates.rs).
    selection: Option<candidates::Selection>,
}

/// Reads every driver argument and lays out the overlay: the DUDs as `/dd*.iso`, the
/// modules under `updates/` (compressed like the in-box ones), regenerated indexes and
/// modules-load.d entries. Needs no kernel exports: the kernel is still being read while
/// this runs, and [`judge_drivers`] gives the verdicts afterwards.
fn prepare_drivers(
    media: &Media,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<DriverStep> {
    let kver = media.kver().to_string();
    // Several candidates (or a directory of builds): the one that loads is taken, see
    // candidates.rs; otherwise every driver as given.
    let (drivers, selection) = candidates::load_drivers(media, opts)?;
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
        if d.kind == DriverKind::Dud && !d.modules.iter().any(|m| m.bytes.starts_with(b"\x7fELF")) {
            // Compressed modules in a DUD RPM: the installer's own extraction skips them on
            // old releases; the overlay does not depend on that.
            if crate::dud::ddv3::extracts_compressed_modules(media.os_release.as_deref())
                == Some(false)
            {
                warnings.push(format!(
                    "{}: its modules are compressed; the installer of release {} would skip them, but the overlay carries them so stage 1 loads them anyway (the RPM is still installed on the target)",
                    d.source.display(),
                    media.os_release.as_deref().unwrap_or("?")
                ));
            }
        }
    }
    if !added_for_depmod.is_empty() {
        let indexes = initrd::generate_for_tree(&media.module_files, &kver, &added_for_depmod)
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
fn judge_drivers(
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

/// The overlay appended to each initrd (one per distinct extent; every name sharing it gets
/// the same content so the writer keeps them one extent), and the new initrds' digests.
fn plan_overlays(
    media: &mut Media,
    opts: &Options,
    entries: &[OverlayEntry],
    edit: &mut EditPlan,
    digests: &mut Vec<(String, String)>,
) -> Result<Vec<OverlayPlan>> {
    let mut overlays = Vec::new();
    if !entries.is_empty() {
        for index in 0..media.initrds.len() {
            let initrd = media.initrds[index].clone();
            let listing = initrd.listing()?;
            let mtime = u64::try_from(edit.mtime).unwrap_or(0);
            let appended =
                initrd::build_overlay(listing, entries, opts.compression, initrd.len, mtime)
                    .map_err(|e| {
                        Error::input(&opts.input, format!("{}: {e}", initrd.paths.join(", ")))
                    })?;
            let planned = initrd::overlay::plan_overlay(listing, entries).map_err(|e| {
                Error::input(&opts.input, format!("{}: {e}", initrd.paths.join(", ")))
            })?;
            let digest = {
                let mut reader = media
                    .initrd_reader(index)?
                    .chain(std::io::Cursor::new(&appended));
                boot::treeinfo::sha256_hex(&mut reader).map_err(|e| Error::input(&opts.input, e))?
            };
            // Every name gets the same content: the writer keeps them one extent.
            for p in &initrd.paths {
                edit.replace
                    .push((p.clone(), NewContent::OriginalPlus(appended.clone())));
                digests.push((p.clone(), digest.clone()));
            }
            overlays.push(OverlayPlan {
                initrd_paths: initrd.paths.clone(),
                base_bytes: initrd.len,
                compression: opts.compression.resolve(listing.first_compression()),
                appended_bytes: appended.len() as u64,
                entries: planned.keys().cloned().collect(),
            });
        }
    }
    Ok(overlays)
}

/// The edited boot configs: ISO 9660 files are replaced; the grub.cfg inside efiboot.img is
/// edited on a copy now (a FAT image too full fails here, before anything is written) and
/// written over the image in place.
fn plan_configs(
    media: &Media,
    opts: &Options,
    edits: &CmdlineEdits,
    edit: &mut EditPlan,
    digests: &mut Vec<(String, String)>,
    warnings: &mut Vec<String>,
) -> Result<Vec<ConfigPlan>> {
    let mut configs = Vec::new();
    // Edited files inside the EFI system image: (path in the FAT, new bytes).
    let mut efi_edits: Vec<(String, Vec<u8>)> = Vec::new();
    for config in &media.configs {
        let edited = boot::edit_config(config.kind, &config.text, edits)
            .map_err(|e| Error::input(&opts.input, format!("{}: {e}", config.location)))?;
        let changed = edited.text != config.text;
        if changed {
            if let crate::layout::ConfigSite::EfiImage(p) = &config.site {
                efi_edits.push((p.clone(), edited.text.clone().into_bytes()));
            } else {
                edit.replace.push((
                    config.location.clone(),
                    NewContent::Bytes(edited.text.clone().into_bytes()),
                ));
            }
        }
        if edits.adds_something() && edited.installer_entries_changed() == 0 {
            warnings.push(format!(
                "{}: no installer entry found to edit",
                config.location
            ));
        }
        warnings.extend(
            edited
                .warnings
                .iter()
                .map(|w| format!("{}: {w}", config.location)),
        );
        configs.push(ConfigPlan {
            location: config.location.clone(),
            changed,
            entries: edited.entries,
            file_changes: edited.file_changes,
            warnings: edited.warnings,
        });
    }
    if efi_edits.is_empty() {
        return Ok(configs);
    }
    let efi_path = match media.layout.as_ref().ok().and_then(|l| l.efi.as_ref()) {
        Some(crate::layout::EfiImage::File { path }) => path.clone(),
        other => {
            return Err(Error::input(
                &opts.input,
                format!(
                "{}: editing an EFI system image that is no file of the tree is not supported yet",
                other.map_or_else(|| "EFI image".to_string(), |e| e.label())
            ),
            ))
        }
    };
    let fat = media.efiboot.clone().ok_or_else(|| {
        Error::input(
            &opts.input,
            format!("{efi_path}: the EFI image was not read"),
        )
    })?;
    // Edit a copy now: a FAT image too full fails here, before anything is written.
    let mut image = std::io::Cursor::new(fat);
    for (p, bytes) in &efi_edits {
        boot::efiboot::replace_file(&mut image, p, bytes)
            .map_err(|e| Error::input(&opts.input, format!("{efi_path}: {e}")))?;
    }
    let edited = image.into_inner();
    let digest = boot::treeinfo::sha256_hex(&mut edited.as_slice())
        .map_err(|e| Error::input(&opts.input, e))?;
    digests.push((efi_path.clone(), digest));
    edit.replace.push((efi_path, NewContent::InPlace(edited)));
    Ok(configs)
}

/// `.treeinfo` `[checksums]` of the files that changed; returns the paths updated.
fn plan_treeinfo(
    media: &mut Media,
    opts: &Options,
    digests: &[(String, String)],
    edit: &mut EditPlan,
) -> Result<Vec<String>> {
    let mut treeinfo_updated = Vec::new();
    if media.image.find(".treeinfo").is_some() && !digests.is_empty() {
        let text = media
            .image
            .read_file(&mut media.file, ".treeinfo", 1 << 20)
            .map_err(|e| e.into_input(&opts.input))?;
        let text = String::from_utf8_lossy(&text).into_owned();
        let updated = boot::treeinfo::update_checksums(&text, digests);
        if updated.text != text {
            edit.replace.push((
                ".treeinfo".into(),
                NewContent::Bytes(updated.text.into_bytes()),
            ));
        }
        treeinfo_updated = updated.updated;
    }
    Ok(treeinfo_updated)
}

/// Every boot path of the ISO must see the edits: refuse media where a firmware path of the
/// layout would read no config (that path would boot without the edits). Media without El
/// Torito and layouts remaster cannot edit were refused when the media was opened
/// ([`Media::open_for_edit`]).
fn check_boot_paths(media: &Media) -> Result<()> {
    let layout = media
        .layout
        .as_ref()
        .map_err(|e| Error::input(&media.path, e))?;
    for role in layout.configs.iter().filter(|r| !r.read_by.is_empty()) {
        if media.configs.iter().any(|c| c.site == role.site) {
            continue;
        }
        let location = match (&role.site, &layout.efi) {
            (crate::layout::ConfigSite::Tree(p), _) => p.clone(),
            (crate::layout::ConfigSite::EfiImage(p), Some(efi)) => format!("{}:{p}", efi.label()),
            (crate::layout::ConfigSite::EfiImage(p), None) => p.clone(),
        };
        let paths: Vec<&str> = role.read_by.iter().map(|f| f.name()).collect();
        return Err(Error::input(
            &media.path,
            format!(
                "{location} is missing: {} would start the installer without the edits; restore it from the original media",
                paths.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Refuses an input whose damage the writer would carry over or silently "repair": a file
/// shorter than its volume (an incomplete download; the grown image would hide the missing
/// tail) and a GPT whose CRCs do not match (the writer recomputes them over whatever the
/// table holds, laundering the corruption).
fn refuse_damaged_input(image: &crate::iso::Image, path: &Path) -> Result<()> {
    let volume = image.volume_bytes();
    if volume > image.file_len {
        return Err(Error::input(
            path,
            format!("truncated image: the volume is {volume} bytes but the file has {} (incomplete download or copy?)", image.file_len),
        ));
    }
    if let Some(gpt) = &image.system_area.gpt {
        let broken = if !gpt.primary.header_crc_ok {
            Some("header")
        } else if !gpt.primary.entries_crc_ok {
            Some("partition entry array")
        } else {
            None
        };
        if let Some(part) = broken {
            return Err(Error::input(
                path,
                format!("the GPT {part} CRC does not match: the partition table is corrupt; use an intact copy of the ISO"),
            ));
        }
    }
    Ok(())
}

/// Writes the planned ISO. Refuses when a verdict refused (unless `write_refused`; `force`
/// only allows overwriting the output).
pub fn execute(
    plan: Plan,
    opts: &Options,
    progress: Option<&mut dyn FnMut(u64, u64)>,
) -> Result<WriteSummary> {
    if !plan.report.refusals.is_empty() && !opts.write_refused {
        return Err(Error::Refused(refusal_line(&plan.report)));
    }
    isowrite::write_prepared(
        plan.prepared,
        &opts.output,
        WriteOptions {
            force: opts.force,
            progress,
        },
    )
}

/// The refusals on one line, with the way out.
pub fn refusal_line(report: &PlanReport) -> String {
    format!(
        "{} — nothing written; --write-refused writes anyway (the installer will not load what was refused)",
        report.refusals.join("; ")
    )
}

/// The module file for the overlay, compressed like the in-box modules: `(file name, bytes)`.
fn module_file(m: &AddedModule, suffix: &str) -> Result<(String, Vec<u8>)> {
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
        for line in candidates::table_lines(&self.candidates)
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
        for c in &self.configs {
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
        if !self.treeinfo_updated.is_empty() {
            writeln!(
                out,
                "  .treeinfo checksums updated: {}",
                self.treeinfo_updated.join(", ")
            )?;
        }
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

/// The name of the `index`-th (1-based) of `count` DUDs in the initrd root: `dd.iso` for
/// one, `dd-1.iso`, `dd-2.iso`... for several. `verify` recognises them by [`is_dud_file_name`].
pub fn dud_file_name(index: usize, count: usize) -> String {
    if count == 1 {
        "dd.iso".to_string()
    } else {
        format!("dd-{index}.iso")
    }
}

/// Whether an initrd path is one of the names [`dud_file_name`] gives.
pub fn is_dud_file_name(p: &str) -> bool {
    p == "dd.iso"
        || p.strip_prefix("dd-")
            .and_then(|r| r.strip_suffix(".iso"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Default output path: `<stem>-remastered.iso` beside the input.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    input.with_file_name(format!("{stem}-remastered.iso"))
}

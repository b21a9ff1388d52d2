//! The main pipeline: open the media, read the drivers, judge them, plan every change,
//! then write one ISO in a single streaming pass.
//!
//! `plan` does all the reading and deciding (and fails before anything is written);
//! `execute` hands the plan to the ISO graft writer. `--dry-run` stops after `plan`.

pub mod candidates;
mod driver_plan;
pub mod drivers;
mod edits;
pub mod media;
pub mod preflight;
pub mod pxe;
mod report;

use std::path::{Path, PathBuf};

use crate::boot::{self, CmdlineEdits};
use crate::initrd::{self, Compression};
use crate::iso::write::{self as isowrite, EditPlan, NewContent, WriteOptions, WriteSummary};
use crate::kmod::verdict::SecureBoot;
use crate::{Error, Result};

use driver_plan::{judge_drivers, prepare_drivers};
pub use drivers::{AddedModule, Driver, DriverKind};
use edits::{plan_configs, plan_overlays, plan_treeinfo};
pub use media::Media;
pub use report::{refusal_line, ConfigPlan, DriverPlan, ModulePlan, OverlayPlan, PlanReport};

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

/// A plan ready to write.
pub struct Plan {
    pub report: PlanReport,
    prepared: isowrite::Prepared,
    /// The command-line edits every installer entry gets (the PXE snippets apply the same).
    pub(crate) cmdline_edits: CmdlineEdits,
    /// Per initrd path: the bytes appended to it (the PXE initrd is its base plus these).
    pub(crate) initrd_overlays: Vec<(String, Vec<u8>)>,
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
    plan_checked(opts, early_checksum)
}

/// [`plan`] after its preflight (`remaster pxe` checks its output directory itself).
pub(crate) fn plan_checked(opts: &Options, early_checksum: bool) -> Result<(Media, Plan)> {
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
    let initrd_overlays: Vec<(String, Vec<u8>)> = edit
        .replace
        .iter()
        .filter_map(|(path, content)| match content {
            NewContent::OriginalPlus(appended) => Some((path.clone(), appended.clone())),
            _ => None,
        })
        .collect();

    // Files to add, and the kickstart.
    let label_after = opts
        .volid
        .clone()
        .unwrap_or_else(|| media.image.volume_id().to_string());
    let mut cmdline_add = opts.cmdline.clone();
    let added_files = plan_additions(&media, opts, &label_after, &mut edit, &mut cmdline_add)?;

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
        dd_alias: media.reads_dd_alias(),
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
    let devices = answer_devices(&mut media, opts, &step);
    // Last: the verdicts wait for the kernel, read on its own thread meanwhile.
    let driver_plans = judge_drivers(&media, opts, step, &mut warnings, &mut refusals)?;
    let report = PlanReport {
        verbose: false,
        drivers_only: false,
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
    Ok((
        media,
        Plan {
            report,
            prepared,
            cmdline_edits: edits,
            initrd_overlays,
        },
    ))
}

/// Files to add (`--add`) and the kickstart (`--ks`: replaced when the ISO has the name,
/// added otherwise, and named on every install entry's command line). Returns the ISO paths
/// added or replaced, as the report lists them.
fn plan_additions(
    media: &Media,
    opts: &Options,
    label_after: &str,
    edit: &mut EditPlan,
    cmdline_add: &mut Vec<String>,
) -> Result<Vec<String>> {
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
        cmdline_add.push(boot::ks_arg(label_after, &name));
    }
    Ok(added_files)
}

/// `--pci`: for each device, which module of the media or of the added drivers claims it.
fn answer_devices(
    media: &mut Media,
    opts: &Options,
    step: &driver_plan::DriverStep,
) -> Vec<crate::hardware::DeviceAnswer> {
    if opts.pci.is_empty() {
        return Vec::new();
    }
    let added: Vec<crate::kmod::module::Module> = step
        .drivers
        .iter()
        .flat_map(|d| d.modules.iter().map(|m| m.module.clone()))
        .collect();
    let dist = media.distribution();
    opts.pci
        .iter()
        .map(|(id, line)| {
            crate::hardware::answer(
                *id,
                line.clone(),
                &media.base_modules,
                &media.module_files,
                &added,
                &dist,
            )
        })
        .collect()
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

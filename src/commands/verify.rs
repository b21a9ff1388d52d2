//! `remaster verify OUT.iso`: re-reads a written ISO (or the stick it was dd'd to, read-only)
//! and checks what a boot needs: boot records, the implanted MD5, initrds that walk to the
//! end with the overlay, `inst.dd=` on every install entry, labels, DUDs and module verdicts.
//!
//! A driver update disk is checked where the media claims one, and only there: a `/dd*.iso`
//! in the initrd (what remaster embeds) must be named by `inst.dd=` on every install entry,
//! and every file an entry's `inst.dd=`/`dd=` names inside the initrd must be there and be a
//! disk the installer takes. Media without any DUD (stock media, `--cmdline`/`--ks` edits)
//! are not expected to have one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{verify_layout, VerifyArgs};
use crate::boot;
use crate::dud::{self, Severity};
use crate::initrd;
use crate::iso::md5::{self, Md5Status};
use crate::iso::Image;
use crate::kmod::module::Module;
use crate::kmod::verdict::{self, Outcome, SecureBoot};
use crate::layout::BootLayout as Layout;
use crate::remaster::media::Media;
use crate::report::{emit, Report};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct VerifyCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub iso: PathBuf,
    pub ok: bool,
    pub checks: Vec<VerifyCheck>,
}

impl Report for VerifyReport {
    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for c in &self.checks {
            writeln!(
                out,
                "{} {}: {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )?;
        }
        writeln!(
            out,
            "{}: {}",
            self.iso.display(),
            if self.ok { "verified" } else { "NOT OK" }
        )
    }
}

pub fn run(args: VerifyArgs) -> Result<i32> {
    let bar = super::progress_bar(&args.out, 0);
    if let Some(b) = &bar {
        b.set_message("media check");
    }
    let mut tick = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let report = verify(&args.iso, &mut tick)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    emit(&report, args.out.json).map_err(|e| Error::output("<stdout>", e))?;
    Ok(if report.ok {
        0
    } else {
        crate::error::EXIT_REFUSED
    })
}

/// The files inside the initrd that install entries name as driver update disks
/// (`inst.dd=/x`, `inst.dd=file:/x`, `inst.dd=path:/x`, and EL8's `dd=`), as initrd paths
/// without the leading `/`, each with the entries naming it. Other locations (devices,
/// labels, URLs) are not in the ISO and are not checked.
fn claimed_initrd_files(
    configs: &[crate::remaster::media::BootConfig],
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut claims: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in configs {
        for e in boot::parse_entries(c.kind, &c.text) {
            if !e.kind.is_installer() {
                continue;
            }
            for arg in &e.args {
                let Some((key, value)) = arg.split_once('=') else {
                    continue;
                };
                if !dud::rules::DUD_ARG_KEYS.contains(&key) {
                    continue;
                }
                let file = value
                    .strip_prefix("file:")
                    .or_else(|| value.strip_prefix("path:"))
                    .unwrap_or(value);
                if !file.starts_with('/') {
                    continue;
                }
                let p = file.trim_start_matches('/').to_string();
                if p.is_empty() {
                    continue;
                }
                let by = format!("{}: {}", c.location, e.title);
                let list = claims.entry(p).or_default();
                if !list.contains(&by) {
                    list.push(by);
                }
            }
        }
    }
    claims
}

/// The checks' results, in the order they ran.
#[derive(Default)]
struct Checks(Vec<VerifyCheck>);

impl Checks {
    fn add(&mut self, name: &str, ok: bool, detail: String) {
        self.0.push(VerifyCheck {
            name: name.into(),
            ok,
            detail,
        })
    }
}

/// Runs every check; an unreadable input is an error, a failed check is a report line.
pub fn verify(path: &std::path::Path, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport> {
    let mut media = Media::open_deep(path)?;
    let mut checks = Checks::default();
    let image = media.image.clone();
    let layout = media.layout.as_ref().ok().cloned();

    boot_record_checks(&mut checks, &image, layout.as_ref());
    system_area_checks(&mut checks, path, &image, layout.as_ref());
    layout_checks(&mut checks, &image, &mut media.file, layout.as_ref());
    md5_check(&mut checks, &mut media.file, progress);
    let dud_names = initrd_checks(&mut checks, path, &mut media)?;
    boot_entry_checks(&mut checks, &media, &image, &dud_names);
    added_module_checks(&mut checks, &media)?;

    let checks = checks.0;
    let ok = checks.iter().all(|c| c.ok);
    Ok(VerifyReport {
        iso: path.to_path_buf(),
        ok,
        checks,
    })
}

/// The El Torito catalog: every entry names a file (or the appended ESP), and isolinux's
/// boot-info table is current.
fn boot_record_checks(checks: &mut Checks, image: &Image, layout: Option<&Layout>) {
    let mut check = |name: &str, ok: bool, detail: String| checks.add(name, ok, detail);
    let grub2_bios = matches!(
        layout.and_then(|l| l.bios.as_ref()),
        Some(crate::layout::BiosChain::Grub2 { .. })
    );
    match &image.boot_catalog {
        Some(cat) => {
            // An entry naming no file is fine where it is the appended ESP (EL10: checked
            // against GPT p2 below).
            let dangling: Vec<String> = cat
                .entries
                .iter()
                .filter(|e| {
                    e.path.is_none() && !verify_layout::is_appended_esp(layout, e.lba, e.load_size)
                })
                .map(|e| format!("{} entry at sector {}", e.platform, e.lba))
                .collect();
            check(
                "el-torito",
                dangling.is_empty() && !cat.entries.is_empty(),
                if dangling.is_empty() {
                    format!(
                        "{} entries: {}",
                        cat.entries.len(),
                        cat.entries
                            .iter()
                            .map(|e| format!(
                                "{} -> {}",
                                e.platform,
                                e.path.as_deref().unwrap_or("the appended ESP")
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    format!("entries point at no file: {}", dangling.join(", "))
                },
            );
            let bios_entries: Vec<_> = cat.entries.iter().filter(|e| e.platform_id == 0).collect();
            let bios_table = bios_entries.iter().all(|e| e.boot_info_table);
            // GRUB2's core: its own check below (bi_pvd may be 64 after an xorriso replay).
            // UEFI-only media (aarch64) have no BIOS image, so nothing to check.
            if !grub2_bios && !bios_entries.is_empty() {
                check(
                    "boot-info-table",
                    bios_table,
                    if bios_table {
                        "isolinux boot-info table matches".into()
                    } else {
                        "a BIOS boot image's boot-info table is stale".into()
                    },
                );
            }
        }
        None => check(
            "el-torito",
            false,
            "no El Torito boot catalog: the ISO cannot boot as a CD".into(),
        ),
    }
}

/// The volume size, the hybrid GPT (both headers, the ESP partition) and MBR.
fn system_area_checks(checks: &mut Checks, path: &Path, image: &Image, layout: Option<&Layout>) {
    let mut check = |name: &str, ok: bool, detail: String| checks.add(name, ok, detail);
    let volume = image.volume_bytes();
    check(
        "volume-size",
        volume <= image.file_len,
        format!("PVD volume {volume} bytes, file {} bytes", image.file_len),
    );
    // On a block device (a written stick) the image ends where its volume ends: the rest of
    // the device is not the image's, and the backup GPT sits at the image's end, as dd
    // leaves it.
    let image_end = if crate::iso::device::is_block_device(path) {
        volume
    } else {
        image.file_len
    };
    if let Some(gpt) = &image.system_area.gpt {
        // The backup where the primary header says, valid, inside the file (xorriso's
        // replay leaves ~300 KiB behind it; a stick is larger than the image anyway).
        let backup_at_end = gpt
            .backup
            .as_ref()
            .is_some_and(|b| b.my_lba + 1 == image.file_len / 512);
        let backup_ok = gpt.backup.as_ref().is_some_and(|b| {
            b.header_crc_ok
                && b.entries_crc_ok
                && b.my_lba == gpt.primary.alternate_lba
                && b.my_lba < image_end / 512
        });
        let primary_ok = gpt.primary.header_crc_ok && gpt.primary.entries_crc_ok;
        check(
            "gpt",
            primary_ok && backup_ok,
            format!(
                "primary header/entries CRC {}, backup {}",
                if primary_ok { "valid" } else { "INVALID" },
                if backup_ok && backup_at_end {
                    "valid at the last sector"
                } else if backup_ok {
                    "valid where the primary header says"
                } else {
                    "missing, invalid or not at the end"
                }
            ),
        );
        let esp = gpt
            .partitions
            .iter()
            .any(|p| p.path.as_deref() == Some(crate::remaster::media::EFIBOOT_PATH));
        // (EL10: an in-tree efiboot.img is a plain copy; the firmware boots the appended
        // ESP, checked as efi-entry.)
        let appended_esp = matches!(
            layout.and_then(|l| l.efi.as_ref()),
            Some(crate::layout::EfiImage::Partition { .. })
        );
        if image.find(crate::remaster::media::EFIBOOT_PATH).is_some() && !appended_esp {
            check(
                "esp-partition",
                esp,
                if esp {
                    "a GPT partition covers images/efiboot.img".into()
                } else {
                    "no GPT partition covers images/efiboot.img: a dd'd stick will not boot UEFI"
                        .into()
                },
            );
        }
    }
    if !image.system_area.mbr.is_empty() {
        // isohybrid: a partition from sector 0 over the volume; a protective MBR (EL10):
        // 0xEE from sector 1 over the whole GPT disk.
        let backup_end = image
            .system_area
            .gpt
            .as_ref()
            .and_then(|g| g.backup.as_ref())
            .map_or(image.file_len / 512, |b| b.my_lba + 1);
        let covers = image.system_area.mbr.iter().any(|p| {
            (p.start == 0
                && u64::from(p.sectors) * 512
                    >= volume.min(image.file_len).saturating_sub(2048 * 16))
                || (p.part_type == 0xEE
                    && p.start == 1
                    && (u64::from(p.start) + u64::from(p.sectors) >= backup_end
                        || p.sectors == u32::MAX))
        });
        check(
            "mbr",
            covers,
            format!(
                "{} MBR partitions; one covers the image: {}",
                image.system_area.mbr.len(),
                if covers { "yes" } else { "no" }
            ),
        );
    }
}

/// The checks of the media's layout family: the EL10 GRUB2 BIOS pointers, the EFI entry =
/// p2, the partition-1 view.
fn layout_checks(
    checks: &mut Checks,
    image: &Image,
    file: &mut std::fs::File,
    layout: Option<&Layout>,
) {
    let grub2 = match layout {
        Some(l) => verify_layout::grub2_checks(image, file, l),
        None => Vec::new(),
    };
    for (name, ok, detail) in grub2
        .into_iter()
        .chain(verify_layout::partition_checks(image, layout))
    {
        checks.add(name, ok, detail);
    }
}

/// The implanted MD5 (what the media check of the default boot entry runs).
fn md5_check(checks: &mut Checks, file: &mut std::fs::File, progress: &mut dyn FnMut(u64, u64)) {
    let mut check = |name: &str, ok: bool, detail: String| checks.add(name, ok, detail);
    match md5::check_with_progress(file, progress) {
        Ok(Md5Status::Valid { .. }) => check(
            "isomd5sum",
            true,
            "implanted MD5 valid (checkisomd5 would pass)".into(),
        ),
        Ok(Md5Status::Absent) => check(
            "isomd5sum",
            false,
            "no implanted MD5: the default rd.live.check entry would halt the boot".into(),
        ),
        Ok(Md5Status::Invalid { mismatch, .. }) => check(
            "isomd5sum",
            false,
            format!("implanted MD5 does not match ({mismatch:?}): the media check would fail"),
        ),
        Err(e) => check("isomd5sum", false, format!("cannot check: {e}")),
    }
}

/// Each initrd walks to the end, has the DUDs the boot entries name and keeps the usr-merge
/// symlinks; the DUDs inside the first one are judged. Returns the `/dd*.iso` names of the
/// first initrd.
fn initrd_checks(checks: &mut Checks, path: &Path, media: &mut Media) -> Result<Vec<String>> {
    // What the boot entries claim: driver update disks inside the initrd.
    let claims = claimed_initrd_files(&media.configs);
    let mut dud_names: Vec<String> = Vec::new();
    for (index, i) in media.initrds.clone().iter().enumerate() {
        let mut check = |name: &str, ok: bool, detail: String| checks.add(name, ok, detail);
        let l = i.listing()?;
        let clean = l.kernel_error.is_none() && l.incomplete.is_none();
        let duds: Vec<String> = l
            .entries
            .keys()
            .filter(|p| crate::remaster::is_dud_file_name(p))
            .cloned()
            .collect();
        let absent: Vec<String> = claims
            .iter()
            .filter(|(p, _)| {
                l.entries
                    .get(p.as_str())
                    .is_none_or(|e| e.kind != initrd::FileKind::File)
            })
            .map(|(p, by)| match by.as_slice() {
                [one] => format!("/{p} (named by {one})"),
                [first, ..] => format!("/{p} (named by {} boot entries, first {first})", by.len()),
                [] => format!("/{p}"),
            })
            .collect();
        if !absent.is_empty() {
            check(
                "dud",
                false,
                format!(
                    "{}: boot entries name driver update disks the initrd does not have: {}",
                    i.paths.join(" = "),
                    absent.join("; ")
                ),
            );
        }
        check(
            "initrd",
            clean,
            format!(
                "{}: {} segments{}{}; driver update disks: [{}]",
                i.paths.join(" = "),
                l.segments.len(),
                l.kernel_error
                    .as_deref()
                    .map(|e| format!(", kernel would fail: {e}"))
                    .unwrap_or_default(),
                l.incomplete
                    .as_deref()
                    .map(|e| format!(", not followed to the end: {e}"))
                    .unwrap_or_default(),
                duds.join(", ")
            ),
        );
        let links_ok = ["bin", "sbin", "lib", "lib64"].iter().all(|p| {
            l.entries
                .get(*p)
                .is_none_or(|e| e.kind == initrd::FileKind::Symlink)
        });
        check(
            "usr-merge",
            links_ok,
            if links_ok {
                "bin, sbin, lib, lib64 are still symlinks (or absent)".into()
            } else {
                "an overlay replaced a usr-merge symlink: the initramfs is broken".into()
            },
        );
        if index == 0 {
            dud_names = duds;
            embedded_dud_checks(checks, path, media, &claims)?;
        }
    }
    Ok(dud_names)
}

/// Every DUD inside the first initrd (what remaster embeds, and what boot entries name)
/// is one the installer takes.
fn embedded_dud_checks(
    checks: &mut Checks,
    path: &Path,
    media: &mut Media,
    claims: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<()> {
    let mut check = |name: &str, ok: bool, detail: String| checks.add(name, ok, detail);
    let reader = media.initrd_reader(0)?;
    let wanted = |p: &str| {
        crate::remaster::is_dud_file_name(p) || (p.ends_with(".iso") && claims.contains_key(p))
    };
    let files = initrd::read_files(reader, wanted, 2 << 30).map_err(|e| Error::input(path, e))?;
    let arch = media.installer_context().arch;
    for (name, bytes) in files {
        match dud::open_dud_bytes_for(Path::new(&format!("/{name}")), bytes, &arch) {
            Ok(d) => {
                let findings = dud::installer_findings(&d, &media.installer_context());
                let bad: Vec<String> = findings
                    .iter()
                    .filter(|f| f.severity >= Severity::Ignored)
                    .map(|f| f.message.clone())
                    .collect();
                let loads =
                    !dud::installer_loaded_modules(&d, &media.installer_context()).is_empty();
                check(
                    "dud",
                    bad.is_empty() || loads,
                    format!(
                        "/{name}: {}",
                        if bad.is_empty() {
                            "the installer takes it".to_string()
                        } else {
                            bad.join("; ")
                        }
                    ),
                );
            }
            Err(e) => check("dud", false, format!("/{name}: {e}")),
        }
    }
    Ok(())
}

/// Every installer entry carries `inst.dd=` for each embedded DUD; labels match the volume.
fn boot_entry_checks(checks: &mut Checks, media: &Media, image: &Image, dud_names: &[String]) {
    let mut check = |name: &str, ok: bool, detail: String| checks.add(name, ok, detail);
    let label = image.volume_id().to_string();
    for c in &media.configs {
        let entries = boot::parse_entries(c.kind, &c.text);
        let installers: Vec<&boot::BootEntry> =
            entries.iter().filter(|e| e.kind.is_installer()).collect();
        let missing: Vec<String> = installers
            .iter()
            .filter(|e| {
                !dud_names
                    .iter()
                    .all(|d| e.has_arg(&format!("inst.dd=/{d}")))
            })
            .map(|e| e.title.clone())
            .collect();
        check(
            "inst.dd",
            missing.is_empty() && !installers.is_empty(),
            if missing.is_empty() {
                format!(
                    "{}: all {} installer entries carry inst.dd for [{}]",
                    c.location,
                    installers.len(),
                    dud_names.join(", ")
                )
            } else {
                format!(
                    "{}: entries without inst.dd: {}",
                    c.location,
                    missing.join(", ")
                )
            },
        );
        let labels = boot::referenced_volume_labels(c.kind, &c.text);
        let wrong: Vec<&String> = labels.iter().filter(|l| **l != label).collect();
        check(
            "labels",
            wrong.is_empty(),
            format!(
                "{}: references {:?}; volume label {label:?}",
                c.location, labels
            ),
        );
    }
}

/// The modules added under `updates/` would load on the media's kernel.
fn added_module_checks(checks: &mut Checks, media: &Media) -> Result<()> {
    let mut check = |name: &str, ok: bool, detail: String| checks.add(name, ok, detail);
    let target = media.target(&[], &[])?;
    let updates = media.module_dir.as_ref().map(|d| format!("{d}/updates/"));
    for (p, bytes) in &media.module_files {
        if !updates.as_ref().is_some_and(|u| p.starts_with(u.as_str()))
            || !initrd::walk::is_module_name(p)
        {
            continue;
        }
        match Module::parse(bytes) {
            Ok(m) => {
                let v = verdict::check(&m, &target, SecureBoot::Unknown);
                check(
                    "module",
                    !matches!(v.outcome, Outcome::Refused { .. }),
                    format!("/{p}: {}", v.summary),
                );
            }
            Err(e) => check("module", false, format!("/{p}: {e}")),
        }
    }
    Ok(())
}

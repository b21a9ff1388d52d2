//! The edits of the media: the initrd overlays, the boot configs (in the tree and in the
//! EFI system image) and `.treeinfo`'s checksums, as entries of the writer's plan.

use std::io::Read;

use crate::boot::{self, CmdlineEdits};
use crate::initrd::{self, OverlayEntry};
use crate::iso::write::{EditPlan, NewContent};
use crate::{Error, Result};

use super::report::{ConfigPlan, OverlayPlan};
use super::{Media, Options};

/// The overlay appended to each initrd (one per distinct extent; every name sharing it gets
/// the same content so the writer keeps them one extent), and the new initrds' digests.
pub(super) fn plan_overlays(
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
pub(super) fn plan_configs(
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
    let efi = media.layout.as_ref().ok().and_then(|l| l.efi.as_ref());
    let efi_path = match efi {
        Some(crate::layout::EfiImage::File { path }) => path.clone(),
        Some(other @ crate::layout::EfiImage::Partition { .. }) => other.label(),
        None => {
            return Err(Error::input(
                &opts.input,
                "the media has configs inside an EFI image but no EFI image",
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
    // An appended partition (EL10) is no file of the tree: the writer puts it over the
    // partition, in place or at its new place behind the grown data.
    if let Some(crate::layout::EfiImage::Partition { .. }) = efi {
        edit.appended_esp = Some(edited);
        return Ok(configs);
    }
    let digest = boot::treeinfo::sha256_hex(&mut edited.as_slice())
        .map_err(|e| Error::input(&opts.input, e))?;
    digests.push((efi_path.clone(), digest));
    edit.replace.push((efi_path, NewContent::InPlace(edited)));
    Ok(configs)
}

/// `.treeinfo` `[checksums]` of the files that changed; returns the paths updated.
pub(super) fn plan_treeinfo(
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

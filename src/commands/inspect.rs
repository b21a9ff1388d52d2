//! `remaster inspect FILE`: explains an ISO, initrd, kernel, module, RPM or DUD.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use serde::Serialize;

use super::sniff::{sniff, FileKind};
use super::InspectArgs;
use crate::boot::{self, BootEntry};
use crate::initrd::{self, InitrdReport};
use crate::iso::inspect::IsoReport;
use crate::iso::Image;
use crate::kmod::inspect::ModuleReport;
use crate::kmod::kernel::{read_header_from, KernelHeader};
use crate::kmod::module::Module;
use crate::layout::{BootLayout, Firmware};
use crate::remaster::media::{read_capped, read_configs, BootConfig, INITRD_PATHS, KERNEL_PATHS};
use crate::report::{emit, Report};
use crate::{Error, Result};

/// A kernel found on the ISO.
#[derive(Debug, Clone, Serialize)]
pub struct KernelInfo {
    pub paths: Vec<String>,
    #[serde(flatten)]
    pub header: KernelHeader,
}

/// An initrd found on the ISO.
#[derive(Debug, Clone, Serialize)]
pub struct InitrdInfo {
    /// Names sharing the extent.
    pub paths: Vec<String>,
    pub size: u64,
    /// Compression of the first segment (`xz`, `zstd`, `gzip`, `none`...).
    pub first_compression: Option<String>,
    /// The full walk (with `--initrd`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walk: Option<InitrdReport>,
}

/// A boot config and its entries.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigInfo {
    pub location: String,
    /// The firmware paths that read it (per the layout).
    pub read_by: Vec<Firmware>,
    pub entries: Vec<BootEntry>,
    /// Labels the config refers to (`inst.stage2=hd:LABEL=`, `search -l`).
    pub referenced_labels: Vec<String>,
}

/// `inspect` of an ISO: the image report plus what remaster knows about boot media.
#[derive(Debug, Clone, Serialize)]
pub struct MediaInspect {
    #[serde(flatten)]
    pub iso: IsoReport,
    /// The boot layout detected from the media.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<BootLayout>,
    /// Why no known layout matched (then `layout` is absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout_error: Option<String>,
    pub kernels: Vec<KernelInfo>,
    pub initrds: Vec<InitrdInfo>,
    pub boot_configs: Vec<ConfigInfo>,
}

impl Report for MediaInspect {
    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.iso.human(out)?;
        match (&self.layout, &self.layout_error) {
            (Some(l), _) => {
                let writes = match &l.support {
                    crate::layout::Support::Full => "remaster edits it".to_string(),
                    crate::layout::Support::NoGrowth(why) => {
                        format!("remaster edits it, but cannot grow it yet: {why}")
                    }
                    crate::layout::Support::ReadOnly(why) => {
                        format!("remaster does not edit it yet: {why}")
                    }
                };
                writeln!(out, "Layout:      {} ({writes})", l.name)?;
            }
            (None, Some(e)) => writeln!(out, "Layout:      {e}")?,
            (None, None) => {}
        }
        for k in &self.kernels {
            writeln!(
                out,
                "Kernel:      {} ({}, {} payload)",
                k.header.release,
                k.paths.join(" = "),
                k.header.compression.name()
            )?;
        }
        for i in &self.initrds {
            writeln!(
                out,
                "Initrd:      {} ({} bytes, {})",
                i.paths.join(" = "),
                i.size,
                i.first_compression.as_deref().unwrap_or("unknown")
            )?;
            if let Some(w) = &i.walk {
                w.human(out)?;
            }
        }
        for c in &self.boot_configs {
            let read_by: Vec<&str> = c.read_by.iter().map(|f| f.name()).collect();
            writeln!(
                out,
                "Boot config: {} (read by: {}; labels: {})",
                c.location,
                if read_by.is_empty() {
                    "no firmware path booted here".to_string()
                } else {
                    read_by.join(", ")
                },
                c.referenced_labels.join(", ")
            )?;
            for e in &c.entries {
                writeln!(
                    out,
                    "  [{:?}{}] {}: {} {}",
                    e.kind,
                    if e.is_default { ", default" } else { "" },
                    e.title,
                    e.kernel.as_deref().unwrap_or("-"),
                    e.args.join(" ")
                )?;
            }
        }
        Ok(())
    }
}

pub fn run(args: InspectArgs) -> Result<i32> {
    let path = &args.file;
    match sniff(path)? {
        FileKind::Iso => emit(&inspect_iso(path, args.initrd, args.files)?, args.out.json),
        FileKind::Initrd => {
            let file = File::open(path).map_err(|e| Error::input(path, e))?;
            let report = initrd::inspect(file).map_err(|e| Error::input(path, e))?;
            emit(&report, args.out.json)
        }
        FileKind::Module => {
            let bytes = read_capped(path, 256 << 20)?;
            let module = Module::parse(&bytes).map_err(|e| Error::input(path, e))?;
            emit(
                &ModuleReport::new(path.display().to_string(), module),
                args.out.json,
            )
        }
        FileKind::Kernel => {
            let bytes = read_capped(path, 128 << 20)?;
            let kernel =
                crate::kmod::kernel::Kernel::parse(&bytes).map_err(|e| Error::input(path, e))?;
            emit(&KernelReport(kernel), args.out.json)
        }
        FileKind::Rpm => {
            let rpm = crate::dud::read_kmod_rpm_file(path)?;
            emit(&crate::dud::RpmReport::new(&rpm, None, None), args.out.json)
        }
        FileKind::DudDirectory => {
            let dud = crate::dud::scan_dud(path)?;
            emit(&crate::dud::DudReport::new(&dud, None, None), args.out.json)
        }
    }
    .map_err(|e| Error::output("<stdout>", e))?;
    Ok(0)
}

/// A kernel image's report (header, exports count, trusted certificates).
#[derive(Serialize)]
struct KernelReport(crate::kmod::kernel::Kernel);

impl Report for KernelReport {
    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let k = &self.0;
        writeln!(out, "release:     {}", k.header.release)?;
        writeln!(out, "version:     {}", k.header.version_string)?;
        writeln!(
            out,
            "image:       {} ({})",
            k.header.format.name(),
            k.header.arch.uname_m()
        )?;
        writeln!(
            out,
            "payload:     {} ({} bytes at {})",
            k.header.compression.name(),
            k.header.payload_length,
            k.header.payload_offset
        )?;
        writeln!(out, "vermagic:    {}", k.vermagic.as_deref().unwrap_or("-"))?;
        writeln!(
            out,
            "modversions: {}",
            if k.modversions { "yes" } else { "no" }
        )?;
        writeln!(
            out,
            "module_layout CRC: {}",
            k.module_layout_crc
                .map_or("-".into(), |c| format!("0x{c:08x}"))
        )?;
        writeln!(out, "exports:     {}", k.export_count)?;
        for c in &k.trusted_certs {
            writeln!(out, "trusts:      {c:?}")?;
        }
        Ok(())
    }
}

/// Builds the ISO report reading only metadata, the kernels' setup headers, the first bytes
/// of the initrds and the boot configs (plus whole initrds with `walk_initrds`). Files are
/// summarised (`iso::inspect`); `list_files` adds every file.
pub fn inspect_iso(path: &Path, walk_initrds: bool, list_files: bool) -> Result<MediaInspect> {
    let mut file = File::open(path).map_err(|e| Error::input(path, e))?;
    let image = Image::open(&mut file).map_err(|e| e.into_input(path))?;
    let mut kernels: Vec<KernelInfo> = Vec::new();
    let mut kernel_bytes = 0u64;
    for p in KERNEL_PATHS {
        let Some(node) = image.find(p) else { continue };
        if kernels.iter().any(|k| {
            k.paths
                .iter()
                .any(|q| image.hardlinks_of(q).contains(&node.path))
        }) {
            continue;
        }
        let offset = node.extents.first().map_or(0, |e| e.offset());
        let reader = fscommon::StreamSlice::new(&mut file, offset, offset + node.size)
            .map_err(|e| Error::input(path, e))?;
        let (header, read) = read_header_from(reader, node.size)
            .map_err(|e| Error::input(path, format!("{p}: {e}")))?;
        kernel_bytes += read;
        kernels.push(KernelInfo {
            paths: image.hardlinks_of(p),
            header,
        });
    }
    let mut initrds: Vec<InitrdInfo> = Vec::new();
    for p in INITRD_PATHS {
        let Some(node) = image.find(p) else { continue };
        if initrds.iter().any(|i| i.paths.contains(&node.path)) {
            continue;
        }
        let mut head = Vec::new();
        image
            .file_reader(&mut file, node)
            .take(16)
            .read_to_end(&mut head)
            .map_err(|e| Error::input(path, e))?;
        let first_compression = crate::codec::Codec::sniff(&head).map(|k| k.name().to_string());
        let walk = if walk_initrds {
            let offset = node.extents.first().map_or(0, |e| e.offset());
            let slice = fscommon::StreamSlice::new(&mut file, offset, offset + node.size)
                .map_err(|e| Error::input(path, e))?;
            Some(initrd::inspect(slice).map_err(|e| Error::input(path, format!("{p}: {e}")))?)
        } else {
            None
        };
        initrds.push(InitrdInfo {
            paths: image.hardlinks_of(p),
            size: node.size,
            first_compression,
            walk,
        });
    }
    let layout = crate::layout::detect(&image);
    let boot_configs: Vec<ConfigInfo> = match &layout {
        Ok(l) => match read_configs(l, &image, &mut file, path) {
            Ok((configs, _)) => configs,
            // A damaged EFI image is shown by what is missing, not by refusing the report.
            Err(_) => {
                let tree_only = BootLayout {
                    efi: None,
                    ..l.clone()
                };
                read_configs(&tree_only, &image, &mut file, path)?.0
            }
        },
        Err(_) => Vec::new(),
    }
    .iter()
    .map(config_info)
    .collect();
    let mut iso = IsoReport::from_image(&image);
    if list_files {
        iso.list_files(&image);
    }
    iso.bytes_read = image.bytes_read + kernel_bytes;
    let (layout, layout_error) = match layout {
        Ok(l) => (Some(l), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(MediaInspect {
        iso,
        layout,
        layout_error,
        kernels,
        initrds,
        boot_configs,
    })
}

fn config_info(config: &BootConfig) -> ConfigInfo {
    ConfigInfo {
        location: config.location.clone(),
        read_by: config.read_by.clone(),
        entries: boot::parse_entries(config.kind, &config.text),
        referenced_labels: boot::referenced_volume_labels(config.kind, &config.text),
    }
}

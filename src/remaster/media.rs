//! The boot ISO as a target: its image metadata, the kernel it boots, its initrd(s), its
//! boot configs and its release. Everything the verdict and the plan need, read once.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use fscommon::StreamSlice;

use crate::boot::{self, ConfigKind};
use crate::hardware::distro::{self, Distribution};
use crate::initrd::{self, Listing};
use crate::iso::{Image, Node};
use crate::kmod::kernel::{read_header, read_header_from, Kernel, KernelHeader};
use crate::kmod::module::Module;
use crate::kmod::signature::TrustedCert;
use crate::kmod::verdict::Target;
use crate::layout::{BootLayout, ConfigSite, EfiImage, Firmware, UnknownLayout};
use crate::{Error, Result};

/// Where lorax puts the installer kernel and initrd (both names share one extent).
pub const KERNEL_PATHS: &[&str] = &["isolinux/vmlinuz", "images/pxeboot/vmlinuz"];
pub const INITRD_PATHS: &[&str] = &["isolinux/initrd.img", "images/pxeboot/initrd.img"];
/// The El Torito EFI image of EL8/EL9/aarch64 media (a file of the tree); which configs
/// exist and where the EFI image is come from the layout ([`crate::layout`]).
pub const EFIBOOT_PATH: &str = "images/efiboot.img";

const KERNEL_CAP: u64 = 128 << 20;
const CONFIG_CAP: u64 = 1 << 20;
const EFIBOOT_CAP: u64 = 64 << 20;
/// Bytes of the base module tree read out of an initrd (a RHEL 9 initrd carries ~60 MiB).
const MODULE_TREE_CAP: u64 = 1 << 30;

/// One initrd: the paths sharing its extent, its byte range in the ISO and its listing.
#[derive(Debug, Clone)]
pub struct InitrdImage {
    pub paths: Vec<String>,
    pub offset: u64,
    pub len: u64,
    /// The walk (read by `open_deep`).
    pub listing: Option<Listing>,
}

impl InitrdImage {
    /// The walk (media opened with [`Media::open_deep`]).
    pub fn listing(&self) -> Result<&Listing> {
        self.listing.as_ref().ok_or_else(|| {
            Error::Usage(format!(
                "{}: the initrd was not walked (internal: open the media deep)",
                self.paths.join(", ")
            ))
        })
    }
}

/// A boot config found on the ISO (or inside the EFI system image).
#[derive(Debug, Clone)]
pub struct BootConfig {
    /// `isolinux/isolinux.cfg`, `EFI/BOOT/grub.cfg`, `images/efiboot.img:EFI/BOOT/grub.cfg`
    /// or `partition 2:EFI/BOOT/grub.cfg`.
    pub location: String,
    pub site: ConfigSite,
    pub kind: ConfigKind,
    /// The firmware paths that read it (from the layout).
    pub read_by: Vec<Firmware>,
    pub text: String,
}

impl BootConfig {
    /// Inside the EFI system image (edited in that FAT image, not as a file of the tree).
    pub fn in_efiboot(&self) -> bool {
        matches!(self.site, ConfigSite::EfiImage(_))
    }
}

/// The boot ISO opened as a remaster target.
pub struct Media {
    pub path: PathBuf,
    pub file: File,
    pub image: Image,
    /// The boot layout, detected from the media (an unknown one is refused by the main
    /// command, shown by inspect and check).
    pub layout: std::result::Result<BootLayout, UnknownLayout>,
    pub kernel_path: String,
    /// The kernel's setup header (release), always read.
    pub kernel_header: KernelHeader,
    /// The kernel with its exports (read by `open_deep`: only drivers need it).
    kernel: PendingKernel,
    /// Release from `.discinfo` (line 2, e.g. `9.2`) or the initrd's `.buildstamp`.
    pub os_release: Option<String>,
    /// Distinct initrd extents (normally one, named twice).
    pub initrds: Vec<InitrdImage>,
    /// Module tree of the kernel in the first initrd: canonical dir and files (path, bytes).
    pub module_dir: Option<String>,
    pub module_files: Vec<(String, Vec<u8>)>,
    /// Those of `module_files` that are modules, parsed once. Unparsable files are skipped:
    /// the kernel would never load them either.
    pub base_modules: Vec<Module>,
    /// What depmod reads from each of those modules, by path, read from the same
    /// decompression as `base_modules` so that regenerating the indexes does not
    /// decompress the tree again.
    pub module_symbols: initrd::depmod::ParsedModules,
    /// The layout's configs that are present on the media.
    pub configs: Vec<BootConfig>,
    /// The EFI system image's bytes (small FAT image: the efiboot.img file or the appended
    /// ESP), when the layout has one.
    pub efiboot: Option<Vec<u8>>,
}

/// Reads each module of the initrd's tree once: one decompression gives both the module the
/// verdicts judge (unparsable ones are skipped: the kernel would never load them either)
/// and what depmod needs of it (unreadable ones keep their error: depmod refuses them).
/// One module's plain bytes are held at a time, under depmod's per-module cap.
fn read_base_modules(
    module_files: &[(String, Vec<u8>)],
) -> (Vec<Module>, initrd::depmod::ParsedModules) {
    let mut modules = Vec::new();
    let mut symbols = initrd::depmod::ParsedModules::new();
    for (path, bytes) in module_files {
        if !initrd::walk::is_module_name(path) {
            continue;
        }
        let read = initrd::depmod::decompress_module(bytes).map(|(codec, plain)| {
            if let Ok(module) = Module::parse_decompressed(&plain, codec) {
                modules.push(module);
            }
            initrd::depmod::read_symbols(&plain)
        });
        symbols.insert(path.clone(), read.and_then(|r| r));
    }
    (modules, symbols)
}

impl Media {
    /// Opens `path` read-only for edits that need no driver verdict: metadata, the kernel's
    /// setup header, the configs and efiboot.img (memory stays small whatever the media).
    pub fn open(path: &Path) -> Result<Media> {
        Media::open_with(path, false, None)
    }

    /// Opens `path` read-only and gathers the whole target: also the kernel's exports, the
    /// initrds' walks and the module tree of the first initrd. Never the rest of the ISO.
    pub fn open_deep(path: &Path) -> Result<Media> {
        Media::open_with(path, true, None)
    }

    /// Opens `path` to edit it ([`Media::open_deep`] when `deep`): refuses media without El
    /// Torito and media whose layout remaster does not know or cannot edit (`growing`: the
    /// edit grows the image) right after the metadata, before anything else is read.
    pub fn open_for_edit(path: &Path, deep: bool, growing: bool) -> Result<Media> {
        Media::open_with(path, deep, Some(growing))
    }

    fn open_with(path: &Path, deep: bool, edit: Option<bool>) -> Result<Media> {
        let input_err = |e: &dyn std::fmt::Display| Error::input(path, e);
        let mut file = File::open(path).map_err(|e| input_err(&e))?;
        let image = Image::open(&mut file).map_err(|e| e.into_input(path))?;
        let layout = crate::layout::detect(&image);
        if let Some(growing) = edit {
            if image.boot_catalog.is_none() {
                return Err(Error::input(path, "no El Torito boot catalog: not a bootable installer ISO (remaster keeps boot records, it does not create them)"));
            }
            let known = layout.as_ref().map_err(|e| Error::input(path, e))?;
            known
                .check_writable(growing)
                .map_err(|e| Error::input(path, e))?;
        }

        let kernel_path = KERNEL_PATHS
            .iter()
            .find(|p| image.find(p).is_some())
            .ok_or_else(|| {
                Error::input(path, "no installer kernel (isolinux/vmlinuz or images/pxeboot/vmlinuz): not a RHEL-family boot ISO")
            })?
            .to_string();
        let kernel_err =
            |e: crate::kmod::KmodError| Error::input(path, format!("{kernel_path}: {e}"));
        let (kernel_header, kernel) = if deep {
            let vmlinuz = image
                .read_file(&mut file, &kernel_path, KERNEL_CAP)
                .map_err(|e| e.into_input(path))?;
            let header = read_header(&vmlinuz).map_err(kernel_err)?;
            // Decompressing the kernel (~0.5 s) runs beside the initrd walk, the drivers
            // and the overlay: only the verdicts wait for it.
            let label = kernel_path.clone();
            let kernel = PendingKernel::spawn(move || {
                Kernel::parse(&vmlinuz).map_err(|e| format!("{label}: {e}"))
            });
            (header, kernel)
        } else {
            // Plain edits need only the release: the setup header, not the whole kernel.
            let node = image.find(&kernel_path).ok_or_else(|| {
                Error::input(path, format!("{kernel_path}: no such file in the image"))
            })?;
            let (offset, len) = single_extent(node)
                .map_err(|e| Error::input(path, format!("{kernel_path}: {e}")))?;
            let reader =
                StreamSlice::new(&mut file, offset, offset + len).map_err(|e| input_err(&e))?;
            let (header, _) = read_header_from(reader, len).map_err(kernel_err)?;
            (header, PendingKernel::none())
        };
        Media::open_rest(
            path,
            file,
            image,
            layout,
            deep,
            &kernel_path,
            &kernel_header,
            kernel,
        )
    }

    /// Everything but the kernel: initrds, module tree, configs, efiboot.img, release.
    #[allow(clippy::too_many_arguments)] // the pieces open_with read, handed over once
    fn open_rest(
        path: &Path,
        mut file: File,
        image: Image,
        layout: std::result::Result<BootLayout, UnknownLayout>,
        deep: bool,
        kernel_path: &str,
        kernel_header: &KernelHeader,
        kernel: PendingKernel,
    ) -> Result<Media> {
        let input_err = |e: &dyn std::fmt::Display| Error::input(path, e);
        let kver = kernel_header.release.clone();

        // One walk of the first initrd gives both its listing and the files of the module
        // tree of this kernel (under either spelling of the usr-merged path; the tree is
        // picked from the listing afterwards).
        let tree_prefixes = [
            format!("usr/lib/modules/{kver}/"),
            format!("lib/modules/{kver}/"),
        ];
        let in_a_tree = |p: &str| tree_prefixes.iter().any(|t| p.starts_with(t.as_str()));
        let mut initrds: Vec<InitrdImage> = Vec::new();
        let mut tree_files: Vec<(String, Vec<u8>)> = Vec::new();
        for p in INITRD_PATHS {
            let Some(node) = image.find(p) else { continue };
            let (offset, len) =
                single_extent(node).map_err(|e| Error::input(path, format!("{p}: {e}")))?;
            if initrds.iter().any(|i| i.offset == offset) {
                continue; // another name of an initrd already read (hard link)
            }
            let listing = if deep {
                let slice =
                    StreamSlice::new(&mut file, offset, offset + len).map_err(|e| input_err(&e))?;
                let first = initrds.is_empty();
                let want = |p: &str| first && in_a_tree(p);
                let (listing, files) =
                    initrd::walk::walk(slice, &Default::default(), &want, MODULE_TREE_CAP)
                        .map_err(|e| Error::input(path, format!("{p}: {e}")))?;
                if first {
                    tree_files = files;
                }
                Some(listing)
            } else {
                None
            };
            initrds.push(InitrdImage {
                paths: image.hardlinks_of(p),
                offset,
                len,
                listing,
            });
        }
        if initrds.is_empty() {
            return Err(Error::input(
                path,
                "no installer initrd (isolinux/initrd.img or images/pxeboot/initrd.img)",
            ));
        }

        let module_dir = initrds[0]
            .listing
            .as_ref()
            .and_then(|l| l.module_trees().into_iter().find(|(v, _)| *v == kver))
            .map(|(_, dir)| dir);
        let module_files: Vec<(String, Vec<u8>)> = match &module_dir {
            Some(dir) => {
                let prefix = format!("{dir}/");
                tree_files
                    .into_iter()
                    .filter(|(p, _)| p.starts_with(&prefix))
                    .collect()
            }
            None => Vec::new(),
        };

        let (base_modules, module_symbols) = read_base_modules(&module_files);

        let (configs, efiboot) = match &layout {
            Ok(layout) => read_configs(layout, &image, &mut file, path)?,
            Err(_) => (Vec::new(), None),
        };

        let os_release = discinfo_release(&image, &mut file)
            .or_else(|| buildstamp_release(&initrds[0], &mut file));

        Ok(Media {
            path: path.to_path_buf(),
            file,
            image,
            layout,
            kernel_path: kernel_path.to_string(),
            kernel_header: kernel_header.clone(),
            kernel,
            os_release,
            initrds,
            module_dir,
            base_modules,
            module_symbols,
            module_files,
            configs,
            efiboot,
        })
    }

    /// The kernel release (`uname -r`).
    pub fn kver(&self) -> &str {
        &self.kernel_header.release
    }

    /// The verdict target: the ISO kernel plus the initrd's modules plus `extra`; the
    /// kernel also trusts `enrolled` keys (MOK/db keys the user says are enrolled).
    pub fn target(&self, extra: &[Module], enrolled: &[TrustedCert]) -> Result<Target> {
        let mut modules = self.base_modules.clone();
        modules.extend(extra.iter().cloned());
        let mut kernel = self.kernel()?.clone();
        kernel.trusted_certs.extend(enrolled.iter().cloned());
        Ok(Target::new(kernel, modules))
    }

    /// The kernel with its exports (media opened with [`Media::open_deep`]); waits for
    /// the reader when it has not finished yet.
    pub fn kernel(&self) -> Result<&Kernel> {
        self.kernel.get().map_err(|e| Error::input(&self.path, e))
    }

    /// Exported symbol CRCs of the kernel and the initrd's modules (for RPM kABI checks:
    /// on the installed system `kernel(sym)` is provided by the kernel and its modules).
    pub fn export_crcs(&self) -> Result<std::collections::HashMap<String, u32>> {
        let mut map: std::collections::HashMap<String, u32> = self
            .base_modules
            .iter()
            .flat_map(|m| m.exports.iter())
            .filter_map(|e| Some((e.name.clone(), e.crc?)))
            .collect();
        map.extend(
            self.kernel()?
                .exports()
                .filter_map(|e| Some((e.name.clone(), e.crc?))),
        );
        Ok(map)
    }

    /// The compression suffix the in-box modules use (`.ko.xz` on RHEL 9), by majority.
    pub fn module_suffix(&self) -> &'static str {
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (p, _) in &self.module_files {
            let suffix = [".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
                .into_iter()
                .find(|s| p.ends_with(s));
            if let Some(s) = suffix {
                *counts.entry(s).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map_or(".ko.xz", |(s, _)| s)
    }

    /// The installer context for the DUD rules. Without a recorded release (lorax's EL8
    /// boot.iso has no .discinfo; a .buildstamp may be missing too), media of the EL8
    /// layout count as release 8: their installer is EL8's anaconda whatever the minor.
    pub fn installer_context(&self) -> crate::dud::InstallerContext {
        crate::dud::InstallerContext {
            kernel_release: self.kver().to_string(),
            os_release: self.installer_release(),
            arch: self.kernel_header.arch.uname_m().into(),
        }
    }

    /// The release the installer rules go by: the media's, else "8" for the EL8 layout.
    pub fn installer_release(&self) -> Option<String> {
        self.os_release.clone().or_else(|| {
            matches!(&self.layout, Ok(l) if l.family == crate::layout::Family::El8Isohybrid)
                .then(|| "8".to_string())
        })
    }

    /// Whether the installer reads `dd=` as an alias of `inst.dd=` (EL8's anaconda,
    /// `getargs dd= inst.dd=`; RHEL 9 removed it).
    pub fn reads_dd_alias(&self) -> bool {
        crate::dud::rules::Generation::of_release(self.installer_release().as_deref())
            .reads_dd_alias()
    }

    /// Reads the distribution from the media: `.treeinfo`, `.discinfo`, the volume label and,
    /// when none of those names it, the initrd's `.buildstamp`.
    pub fn distribution(&mut self) -> Distribution {
        let read = |media: &mut Media, p: &str| {
            media.image.find(p)?;
            let bytes = media.image.read_file(&mut media.file, p, 1 << 20).ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        };
        let treeinfo = read(self, ".treeinfo");
        let discinfo = read(self, ".discinfo");
        let volume_id = self.image.volume_id().trim().to_string();
        let mut d = distro::detect(&distro::Sources {
            treeinfo: treeinfo.as_deref(),
            discinfo: discinfo.as_deref(),
            volume_id: Some(&volume_id)
                .filter(|v| !v.is_empty())
                .map(|v| v.as_str()),
            buildstamp: None,
        });
        if d.name.is_none() || d.release.is_none() {
            let stamp = self.buildstamp();
            if let Some(stamp) = stamp {
                let b = distro::detect(&distro::Sources {
                    buildstamp: Some(&stamp),
                    ..Default::default()
                });
                if d.name.is_none() {
                    d.family = b.family;
                    d.name = b.name;
                    d.name_source = b.name_source;
                }
                if d.release.is_none() {
                    d.release = b.release;
                    d.release_source = b.release_source;
                }
            }
        }
        d
    }

    /// The first initrd's `.buildstamp` (lorax writes `Product=` and `Version=`), if any.
    pub fn buildstamp(&mut self) -> Option<String> {
        let initrd = self.initrds.first()?.clone();
        buildstamp_text(&initrd, &mut self.file)
    }

    /// A reader over one initrd's bytes in the ISO.
    pub fn initrd_reader(&mut self, index: usize) -> Result<StreamSlice<&mut File>> {
        let i = self
            .initrds
            .get(index)
            .ok_or_else(|| Error::input(&self.path, "no such initrd"))?;
        let (start, end) = (i.offset, i.offset + i.len);
        StreamSlice::new(&mut self.file, start, end).map_err(|e| Error::input(&self.path, e))
    }
}

/// The kernel, being read on its own thread: the first caller of [`PendingKernel::get`]
/// waits for it; later callers get the same result.
struct PendingKernel {
    job: std::sync::Mutex<Option<std::thread::JoinHandle<std::result::Result<Kernel, String>>>>,
    parsed: std::sync::OnceLock<std::result::Result<Kernel, String>>,
}

impl PendingKernel {
    fn spawn(read: impl FnOnce() -> std::result::Result<Kernel, String> + Send + 'static) -> Self {
        let job = std::thread::Builder::new()
            .name("kernel".into())
            .spawn(read)
            .map_err(|e| format!("cannot start the kernel reader: {e}"));
        match job {
            Ok(handle) => PendingKernel {
                job: std::sync::Mutex::new(Some(handle)),
                parsed: std::sync::OnceLock::new(),
            },
            Err(e) => PendingKernel {
                job: std::sync::Mutex::new(None),
                parsed: std::sync::OnceLock::from(Err(e)),
            },
        }
    }

    fn none() -> Self {
        PendingKernel {
            job: std::sync::Mutex::new(None),
            parsed: std::sync::OnceLock::from(Err(
                "the kernel's exports were not read (internal: open the media deep)".to_string(),
            )),
        }
    }

    fn get(&self) -> std::result::Result<&Kernel, String> {
        self.parsed
            .get_or_init(|| {
                let job = self.job.lock().ok().and_then(|mut j| j.take());
                match job {
                    Some(handle) => handle
                        .join()
                        .unwrap_or_else(|_| Err("the kernel reader failed".to_string())),
                    None => Err("the kernel reader failed".to_string()),
                }
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The layout's configs that are present, and the EFI system image's bytes: tree configs
/// from the ISO 9660 tree, the others from inside the EFI image (a file of the tree or an
/// appended partition). A config missing from the media is left out here; the main command
/// refuses media where a firmware path would read none.
pub fn read_configs<R: Read + Seek>(
    layout: &BootLayout,
    image: &Image,
    r: &mut R,
    path: &Path,
) -> Result<(Vec<BootConfig>, Option<Vec<u8>>)> {
    let mut configs = Vec::new();
    for (p, role) in layout.tree_configs() {
        if image.find(p).is_none() {
            continue;
        }
        let bytes = image
            .read_file(r, p, CONFIG_CAP)
            .map_err(|e| e.into_input(path))?;
        configs.push(BootConfig {
            location: p.to_string(),
            site: role.site.clone(),
            kind: role.kind,
            read_by: role.read_by.clone(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    let Some(efi) = &layout.efi else {
        return Ok((configs, None));
    };
    let fat = read_efi_image(efi, image, r).map_err(|e| Error::input(path, e))?;
    for (p, role) in layout.efi_configs() {
        let bytes =
            match boot::efiboot::read_file(std::io::Cursor::new(&fat), p, CONFIG_CAP as usize) {
                Ok(bytes) => bytes,
                Err(boot::efiboot::EfibootError::NotFound { .. }) => continue,
                Err(e) => return Err(Error::input(path, format!("{}: {e}", efi.label()))),
            };
        configs.push(BootConfig {
            location: format!("{}:{p}", efi.label()),
            site: role.site.clone(),
            kind: role.kind,
            read_by: role.read_by.clone(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    Ok((configs, Some(fat)))
}

/// The bytes of the EFI system image: the file of the tree, or the appended partition.
pub fn read_efi_image<R: Read + Seek>(
    efi: &EfiImage,
    image: &Image,
    r: &mut R,
) -> std::result::Result<Vec<u8>, String> {
    match efi {
        EfiImage::File { path } => image
            .read_file(r, path, EFIBOOT_CAP)
            .map_err(|e| e.to_string()),
        EfiImage::Partition { offset, len, .. } => {
            if *len > EFIBOOT_CAP {
                return Err(format!(
                    "{}: the EFI system partition has {len} bytes, more than the {EFIBOOT_CAP} remaster reads",
                    efi.label()
                ));
            }
            crate::iso::read_at(
                r,
                *offset,
                *len as usize,
                image.file_len,
                "EFI system partition",
            )
            .map_err(|e| format!("{}: {e}", efi.label()))
        }
    }
}

/// The byte range of a file stored in one extent (initrds always are; a multi-extent
/// initrd > 4 GiB is not something a bootloader loads).
fn single_extent(node: &Node) -> std::result::Result<(u64, u64), String> {
    match node.extents.as_slice() {
        [e] => Ok((e.offset(), u64::from(e.len))),
        [] => Ok((0, 0)),
        _ => Err("stored in several extents (> 4 GiB); not a loadable initrd".into()),
    }
}

fn discinfo_release(image: &Image, file: &mut File) -> Option<String> {
    let bytes = image.read_file(file, ".discinfo", 4096).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    // Line 2 is the release: "9.2" or "Rocky Linux 9.2"; keep the version.
    let line = text.lines().nth(1)?.trim();
    line.split_whitespace()
        .rev()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}

fn buildstamp_text(initrd: &InitrdImage, file: &mut File) -> Option<String> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let slice = StreamSlice::new(file, initrd.offset, initrd.offset + initrd.len).ok()?;
    let files = initrd::read_files(slice, |p| p == ".buildstamp", 64 * 1024).ok()?;
    let (_, bytes) = files.first()?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

fn buildstamp_release(initrd: &InitrdImage, file: &mut File) -> Option<String> {
    let text = buildstamp_text(initrd, file)?;
    text.lines()
        .find_map(|l| l.strip_prefix("Version="))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Reads a whole small file from disk with a cap.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::input(path, e))?;
    let len = file.metadata().map_err(|e| Error::input(path, e))?.len();
    if len > cap {
        return Err(Error::input(
            path,
            format!("{len} bytes, more than the {cap} accepted here"),
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    file.take(cap)
        .read_to_end(&mut out)
        .map_err(|e| Error::input(path, e))?;
    Ok(out)
}

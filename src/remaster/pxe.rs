//! `remaster pxe`: the same driver, for installs that start from a PXE server instead of a
//! stick (issue 17 §3). Writes into a directory the ISO's installer kernel (byte copy), its
//! installer initrd with the overlay the ISO path appends, and boot snippets for GRUB (UEFI
//! PXE / HTTP boot) and pxelinux (BIOS PXE), each with the complete kernel line on one line.
//!
//! Nothing is planned twice: the main pipeline's [`super::plan_checked`] reads the media,
//! judges the drivers (the same verdicts and refusals as the ISO path) and builds the overlay
//! and the command-line edits; this module takes the overlay bytes and the edits from that
//! plan. The kernel line is the ISO's own install entry put through the same edit engine
//! ([`crate::boot::edit_config`]), with the media-bound `inst.stage2=hd:LABEL=…` replaced by
//! the network source:
//! - `inst.repo=URL` when the media carries a package repository (a DVD: `.treeinfo` names a
//!   variant repository whose `repodata/repomd.xml` is on the media, or `repodata/` at the
//!   root): anaconda then takes both its stage 2 (`URL/images/install.img`, found through
//!   `URL/.treeinfo`) and the packages from URL;
//! - `inst.stage2=URL` otherwise (a boot ISO has no packages): the installer image comes from
//!   URL, the packages from the kickstart or the network repositories chosen in the installer.
//!   `inst.repo=` would point anaconda at a tree without packages and stop the install.
//!
//! The directory appears by rename only when complete: the files are written into a
//! temporary directory beside it, fsynced, and renamed over (an existing non-empty directory
//! only with `force`, exchanged atomically and then removed).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Media, Options, PlanReport};
use crate::boot::cmdline::{encode_arg, Dialect};
use crate::boot::{self, arg_key, CmdlineEdits, ConfigKind, EntryKind};
use crate::iso::write::{test_pause, InputStamp, PartialOutput};
use crate::{Error, Result};

/// What `remaster pxe` was asked for.
#[derive(Debug, Clone)]
pub struct PxeOptions {
    /// The driver options of the main command; `output` is the directory to write.
    pub base: Options,
    /// Where the ISO's tree is served (`http://`, `https://`, `ftp://` or `nfs:`).
    pub repo: String,
    /// The directory's path on the TFTP/HTTP server, as the snippets name the files
    /// (empty: the server's root).
    pub server_path: String,
}

/// How the installer finds the rest of itself over the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallSource {
    /// `inst.stage2=URL`: a boot ISO (installer image only).
    Stage2,
    /// `inst.repo=URL`: a DVD carrying the package repositories.
    Repo,
}

impl InstallSource {
    pub fn key(self) -> &'static str {
        match self {
            InstallSource::Stage2 => "inst.stage2",
            InstallSource::Repo => "inst.repo",
        }
    }
}

/// The PXE part of the plan (printed with the driver plan, `--json` too).
#[derive(Debug, Clone, Serialize)]
pub struct PxeReport {
    pub directory: PathBuf,
    /// The ISO paths copied: the kernel and the initrd.
    pub kernel_from: String,
    pub initrd_from: String,
    pub initrd_base_bytes: u64,
    pub overlay_bytes: u64,
    pub install_source: InstallSource,
    /// Why that source: what was (not) found on the media.
    pub install_source_why: String,
    /// The installer entry the kernel line was taken from (`isolinux/isolinux.cfg: "Install …"`).
    pub entry_from: String,
    /// The kernel arguments, as the kernel receives them.
    pub kernel_args: Vec<String>,
    /// GRUB's commands in grub.cfg (`linuxefi`/`initrdefi` when the media's own EFI
    /// grub.cfg uses them, `linux`/`initrd` otherwise).
    pub grub_commands: (String, String),
    /// The files the directory will hold.
    pub files: Vec<String>,
}

/// A plan ready to write.
#[derive(Debug)]
pub struct PxePlan {
    pub report: PlanReport,
    pub pxe: PxeReport,
    kernel_node: String,
    initrd_node: String,
    overlay: Vec<u8>,
    /// (path in the directory, text).
    snippets: Vec<(String, String)>,
    stamp: InputStamp,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct PxeSummary {
    pub directory: PathBuf,
    /// (file, bytes).
    pub files: Vec<(String, u64)>,
}

/// The name of the BIOS snippet in the directory.
pub const PXELINUX_SNIPPET: &str = "pxelinux.cfg/default";
/// The name of the UEFI snippet.
pub const GRUB_SNIPPET: &str = "grub.cfg";

/// Reads the media, judges the drivers and plans every file. Writes nothing.
pub fn plan(opts: &PxeOptions) -> Result<(Media, PxePlan)> {
    preflight(opts)?;
    let (mut media, mut plan) = super::plan_checked(&opts.base, false)?;
    plan.report.drivers_only = true;
    // No boot config of the ISO and no .treeinfo is written here.
    plan.report.configs.clear();
    plan.report.treeinfo_updated.clear();
    let layout = media
        .layout
        .as_ref()
        .map_err(|e| Error::input(&opts.base.input, e))?
        .clone();
    let (kernel_node, initrd_node) = installer_files(&media, &layout)?;
    let initrd_base_bytes = media.image.find(&initrd_node).map_or(0, |n| n.size);
    let overlay = plan
        .initrd_overlays
        .iter()
        .find(|(p, _)| *p == initrd_node)
        .map(|(_, bytes)| bytes.clone())
        .unwrap_or_default();

    let (source, why) = install_source(&mut media, &opts.base.input)?;
    let (entry_from, title, args) = kernel_args(&media, &plan.cmdline_edits, source, &opts.repo)?;
    let grub = grub_commands(&media);
    let prefix = server_prefix(&opts.server_path);
    let mut snippets = vec![(
        GRUB_SNIPPET.to_string(),
        grub_snippet(&title, &args, &prefix, &grub, &opts.base.input),
    )];
    if layout.bios.is_some() {
        snippets.push((
            PXELINUX_SNIPPET.to_string(),
            pxelinux_snippet(&title, &args, &prefix, &opts.base.input),
        ));
    }
    let mut files = vec!["vmlinuz".to_string(), "initrd.img".to_string()];
    files.extend(snippets.iter().map(|(p, _)| p.clone()));
    let stamp = InputStamp::of_file(&media.file).map_err(|e| Error::input(&opts.base.input, e))?;
    let pxe = PxeReport {
        directory: opts.base.output.clone(),
        kernel_from: kernel_node.clone(),
        initrd_from: initrd_node.clone(),
        initrd_base_bytes,
        overlay_bytes: overlay.len() as u64,
        install_source: source,
        install_source_why: why,
        entry_from,
        kernel_args: args,
        grub_commands: grub,
        files,
    };
    Ok((
        media,
        PxePlan {
            report: plan.report,
            pxe,
            kernel_node,
            initrd_node,
            overlay,
            snippets,
            stamp,
        },
    ))
}

/// Refuses the job the way the main command does (a refusal unless `write_refused`), then
/// writes the directory.
pub fn execute(media: &mut Media, plan: PxePlan, opts: &PxeOptions) -> Result<PxeSummary> {
    if !plan.report.refusals.is_empty() && !opts.base.write_refused {
        return Err(Error::Refused(super::refusal_line(&plan.report)));
    }
    write_dir(media, &plan, &opts.base.output, opts.base.force)
}

/// Inputs that exist, a URL the installer can fetch from, and an output directory that is
/// absent, empty or (with `force`) to be replaced.
fn preflight(opts: &PxeOptions) -> Result<()> {
    super::preflight::check_inputs(&opts.base)?;
    let url = opts.repo.as_str();
    let scheme_ok = ["http://", "https://", "ftp://", "nfs:"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if !scheme_ok || url.contains(char::is_whitespace) {
        return Err(Error::Usage(format!(
            "--repo {url}: give the URL where the ISO's tree is served (http://, https://, ftp:// or nfs:), without spaces"
        )));
    }
    if opts.server_path.contains(char::is_whitespace) {
        return Err(Error::Usage(format!(
            "--server-path {}: a path without spaces",
            opts.server_path
        )));
    }
    let dir = &opts.base.output;
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::output(
                dir,
                "exists and is not a directory; choose another output directory (-o DIR)",
            ))
        }
        Ok(_) => {
            let empty = std::fs::read_dir(dir)
                .map_err(|e| Error::output(dir, e))?
                .next()
                .is_none();
            if !empty && !opts.base.force {
                return Err(Error::output(
                    dir,
                    "is not empty (use --force to replace it)",
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::output(dir, e)),
    }
    let parent = parent_of(dir);
    match std::fs::metadata(&parent) {
        Ok(m) if m.is_dir() => Ok(()),
        _ => Err(Error::output(
            dir,
            format!(
                "the directory {} does not exist; create it or choose another output",
                parent.display()
            ),
        )),
    }
}

fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The installer kernel and initrd lorax puts for network boot (the layout's PXE files),
/// else the kernel and initrd the media boots.
fn installer_files(media: &Media, layout: &crate::layout::BootLayout) -> Result<(String, String)> {
    let (kernel, initrd) = layout.pxeboot_files();
    let kernel = if media.image.find(kernel).is_some() {
        kernel.to_string()
    } else {
        media.kernel_path.clone()
    };
    let initrd = if media.image.find(initrd).is_some() {
        initrd.to_string()
    } else {
        media
            .initrds
            .first()
            .and_then(|i| i.paths.first().cloned())
            .ok_or_else(|| Error::input(&media.path, "no installer initrd"))?
    };
    Ok((kernel, initrd))
}

/// `inst.repo` for media with a package repository, else `inst.stage2` (module header).
fn install_source(media: &mut Media, input: &Path) -> Result<(InstallSource, String)> {
    let mut repos: Vec<(String, String)> = Vec::new();
    if media.image.find(".treeinfo").is_some() {
        let text = media
            .image
            .read_file(&mut media.file, ".treeinfo", 1 << 20)
            .map_err(|e| e.into_input(input))?;
        repos = treeinfo_repositories(&String::from_utf8_lossy(&text));
    }
    for (section, dir) in &repos {
        let dir = dir.trim_matches('/').trim_start_matches("./");
        let repomd = if dir.is_empty() || dir == "." {
            "repodata/repomd.xml".to_string()
        } else {
            format!("{dir}/repodata/repomd.xml")
        };
        if media.image.find(&repomd).is_some() {
            return Ok((
                InstallSource::Repo,
                format!("the media carries the package repository /{repomd} (.treeinfo [{section}]): inst.repo= gives the installer both its image and the packages"),
            ));
        }
    }
    if media.image.find("repodata/repomd.xml").is_some() {
        return Ok((
            InstallSource::Repo,
            "the media carries a package repository (/repodata/repomd.xml): inst.repo= gives the installer both its image and the packages".into(),
        ));
    }
    Ok((
        InstallSource::Stage2,
        "a boot ISO without package repositories: inst.stage2= loads the installer image (URL/images/install.img); the packages come from the kickstart or the installer's network source".into(),
    ))
}

/// `(section, repository)` of every `[variant-*]` section of a `.treeinfo` (productmd INI).
fn treeinfo_repositories(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        if !section.to_ascii_lowercase().starts_with("variant-") {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            if key.trim() == "repository" && !value.trim().is_empty() {
                out.push((section.clone(), value.trim().to_string()));
            }
        }
    }
    out
}

/// The installer entry's arguments after the ISO path's edits, with the media-bound source
/// replaced by the network one: `(where from, entry title, args)`. Taken from the first
/// config (in the layout's order: BIOS first) with an `Install` entry.
fn kernel_args(
    media: &Media,
    edits: &CmdlineEdits,
    source: InstallSource,
    url: &str,
) -> Result<(String, String, Vec<String>)> {
    let mut edits = edits.clone();
    edits.volume_label_rename = None;
    // The source replaces the media's `inst.stage2=hd:LABEL=…` in place (same key) or, for
    // `inst.repo`, takes its place at the end; no media check without the medium.
    let other = match source {
        InstallSource::Stage2 => InstallSource::Repo,
        InstallSource::Repo => InstallSource::Stage2,
    };
    edits
        .remove_keys
        .extend([other.key(), "rd.live.check"].map(String::from));
    edits.add.push(format!("{}={url}", source.key()));
    for config in media.configs.iter().filter(|c| !c.in_efiboot()) {
        let original = boot::parse_entries(config.kind, &config.text);
        if !original.iter().any(|e| e.kind == EntryKind::Install) {
            continue;
        }
        let edited = boot::edit_config(config.kind, &config.text, &edits)
            .map_err(|e| Error::input(&media.path, format!("{}: {e}", config.location)))?;
        let entries = boot::parse_entries(config.kind, &edited.text);
        let Some(entry) = entries.iter().find(|e| e.kind == EntryKind::Install) else {
            continue;
        };
        // The loader's own argument (isolinux `initrd=`) is the snippet's to write.
        let args: Vec<String> = entry
            .args
            .iter()
            .filter(|a| arg_key(a) != "initrd")
            .cloned()
            .collect();
        return Ok((
            format!("{}: \"{}\"", config.location, entry.title),
            entry.title.clone(),
            args,
        ));
    }
    Err(Error::input(
        &media.path,
        "no installer entry (Install …) in the media's boot configs to take the kernel line from",
    ))
}

/// `linuxefi`/`initrdefi` when the grub.cfg the media's UEFI boot reads uses them (EL8,
/// EL9, EL10 x86_64: the shim + grubx64.efi a PXE server serves from the same media takes
/// them), `linux`/`initrd` otherwise (aarch64 media use these).
fn grub_commands(media: &Media) -> (String, String) {
    use crate::layout::Firmware;
    let efi = media.configs.iter().any(|c| {
        c.kind == ConfigKind::Grub
            && c.read_by.iter().any(|f| {
                matches!(
                    f,
                    Firmware::UefiCd | Firmware::UefiUsb | Firmware::UefiUsbEsp
                )
            })
            && c.text
                .lines()
                .any(|l| l.split_whitespace().next() == Some("linuxefi"))
    });
    if efi {
        ("linuxefi".into(), "initrdefi".into())
    } else {
        ("linux".into(), "initrd".into())
    }
}

/// `--server-path` as a prefix of the file names: "" or `path/`.
fn server_prefix(path: &str) -> String {
    let p = path.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

fn joined(args: &[String], dialect: Dialect) -> String {
    args.iter()
        .map(|a| encode_arg(a, dialect))
        .collect::<Vec<_>>()
        .join(" ")
}

fn grub_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn source_name(input: &Path) -> String {
    input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// GRUB for UEFI PXE / HTTP boot: paths from the server's root (GRUB takes them relative to
/// `$root`, the TFTP or HTTP server it was loaded from).
fn grub_snippet(
    title: &str,
    args: &[String],
    prefix: &str,
    (linux, initrd): &(String, String),
    input: &Path,
) -> String {
    format!(
        "# Written by remaster pxe from {src}: UEFI PXE (TFTP) and HTTP boot.\n\
         # Serve this directory at /{prefix} on the server GRUB is loaded from.\n\
         set default=0\n\
         set timeout=5\n\
         menuentry {title} --class fedora --class gnu-linux --class gnu --class os {{\n\
         \t{linux} /{prefix}vmlinuz {args}\n\
         \t{initrd} /{prefix}initrd.img\n\
         }}\n",
        src = source_name(input).replace('\n', " "),
        title = grub_quote(title),
        args = joined(args, Dialect::Grub),
    )
}

/// pxelinux for BIOS PXE: paths relative to the TFTP root; `append` carries the whole
/// kernel line (syslinux passes it to the kernel verbatim).
fn pxelinux_snippet(title: &str, args: &[String], prefix: &str, input: &Path) -> String {
    format!(
        "# Written by remaster pxe from {src}: BIOS PXE (pxelinux).\n\
         # Serve this directory at /{prefix} on the TFTP server.\n\
         default install\n\
         prompt 1\n\
         timeout 50\n\
         label install\n\
         \x20 menu label {title}\n\
         \x20 kernel {prefix}vmlinuz\n\
         \x20 append initrd={prefix}initrd.img {args}\n",
        src = source_name(input).replace('\n', " "),
        title = title.replace(['\n', '\r'], " "),
        args = joined(args, Dialect::Isolinux),
    )
}

/// Writes every file into a temporary directory beside `dir`, fsyncs, then renames it.
fn write_dir(media: &mut Media, plan: &PxePlan, dir: &Path, force: bool) -> Result<PxeSummary> {
    let parent = parent_of(dir);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Usage(format!("{}: give a directory name", dir.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.remaster-"))
        .tempdir_in(&parent)
        .map_err(|e| {
            Error::output(
                dir,
                format!(
                    "creating a temporary directory in {}: {e}",
                    parent.display()
                ),
            )
        })?;
    // An interrupt (SIGINT/SIGTERM/SIGHUP, commands::install_signal_cleanup) removes it.
    let registered = PartialOutput::register(tmp.path())?;
    test_pause();
    let out_err = |p: &Path, e: &dyn std::fmt::Display| Error::output(p, e);
    let mut files = Vec::new();

    let kernel_len = copy_from_iso(media, &plan.kernel_node, &[], &tmp.path().join("vmlinuz"))?;
    files.push(("vmlinuz".to_string(), kernel_len));
    let initrd_len = copy_from_iso(
        media,
        &plan.initrd_node,
        &plan.overlay,
        &tmp.path().join("initrd.img"),
    )?;
    files.push(("initrd.img".to_string(), initrd_len));
    for (rel, text) in &plan.snippets {
        let path = tmp.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| out_err(p, &e))?;
        }
        let mut f = File::create(&path).map_err(|e| out_err(&path, &e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| out_err(&path, &e))?;
        files.push((rel.clone(), text.len() as u64));
    }
    for sub in ["pxelinux.cfg", ""] {
        let p = tmp.path().join(sub);
        if p.is_dir() {
            File::open(&p)
                .and_then(|d| d.sync_all())
                .map_err(|e| out_err(&p, &e))?;
        }
    }
    // The media must still be what was planned (the overlay was built from it).
    let now = InputStamp::of_path(&media.path).map_err(|e| Error::input(&media.path, e))?;
    if now != plan.stamp {
        return Err(Error::input(
            &media.path,
            "changed while it was read; nothing written, run remaster again",
        ));
    }
    registered.commit(|| rename_into_place(tmp.path(), dir, force))?;
    File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| out_err(&parent, &e))?;
    // After an exchange the temporary path holds the old directory: dropping removes it.
    drop(tmp);
    Ok(PxeSummary {
        directory: dir.to_path_buf(),
        files,
    })
}

/// Renames the finished directory to `dir`: over nothing or an empty directory by plain
/// rename, over a non-empty one (with `force`) by an atomic exchange.
fn rename_into_place(tmp: &Path, dir: &Path, force: bool) -> Result<()> {
    use rustix::io::Errno;
    let Err(e) = std::fs::rename(tmp, dir) else {
        return Ok(());
    };
    let code = e.raw_os_error();
    let not_empty =
        code == Some(Errno::NOTEMPTY.raw_os_error()) || code == Some(Errno::EXIST.raw_os_error());
    if !not_empty {
        return Err(Error::output(dir, e));
    }
    if !force {
        return Err(Error::output(
            dir,
            "is not empty (use --force to replace it)",
        ));
    }
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        tmp,
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(|e| Error::output(dir, format!("replacing it: {e}")))
}

/// Copies an ISO file (its extents, in order) and then `extra` into `to`, fsynced.
fn copy_from_iso(media: &mut Media, iso_path: &str, extra: &[u8], to: &Path) -> Result<u64> {
    let node = media
        .image
        .find(iso_path)
        .ok_or_else(|| Error::input(&media.path, format!("{iso_path}: no such file")))?
        .clone();
    let mut out = File::create(to).map_err(|e| Error::output(to, e))?;
    let mut reader = media.image.file_reader(&mut media.file, &node);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::input(&media.path, format!("{iso_path}: {e}"))),
        };
        out.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| Error::output(to, e))?;
        total += n as u64;
    }
    if total != node.size {
        return Err(Error::input(
            &media.path,
            format!("{iso_path}: read {total} of {} bytes", node.size),
        ));
    }
    out.write_all(extra).map_err(|e| Error::output(to, e))?;
    out.sync_all().map_err(|e| Error::output(to, e))?;
    Ok(total + extra.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_repositories() {
        let text = "[header]\nversion = 1.2\n[tree]\nvariants = AppStream,BaseOS\n\
                    [variant-BaseOS]\nid = BaseOS\nrepository = BaseOS\n\
                    [variant-AppStream]\nrepository = AppStream\n[images-x86_64]\nkernel = images/pxeboot/vmlinuz\n";
        assert_eq!(
            treeinfo_repositories(text),
            vec![
                ("variant-BaseOS".to_string(), "BaseOS".to_string()),
                ("variant-AppStream".to_string(), "AppStream".to_string())
            ]
        );
        assert!(treeinfo_repositories("[general]\nrepository = .\n").is_empty());
    }

    #[test]
    fn snippets_put_the_kernel_line_on_one_line() {
        let args = vec![
            "inst.stage2=http://h/x".to_string(),
            "quiet".to_string(),
            "a=b c".to_string(),
        ];
        let g = grub_snippet(
            "Install X",
            &args,
            "pxe/",
            &("linuxefi".into(), "initrdefi".into()),
            Path::new("x.iso"),
        );
        assert!(g.contains("\tlinuxefi /pxe/vmlinuz inst.stage2=http://h/x quiet 'a=b c'\n"));
        assert!(g.contains("\tinitrdefi /pxe/initrd.img\n"));
        let p = pxelinux_snippet("Install X", &args, "", Path::new("x.iso"));
        assert!(p.contains("  append initrd=initrd.img inst.stage2=http://h/x quiet a=\"b c\"\n"));
        assert_eq!(server_prefix("/a/b/"), "a/b/");
    }
}

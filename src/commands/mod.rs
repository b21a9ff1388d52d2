//! The CLI definition (clap derive) and one function per subcommand. `main.rs` only parses
//! arguments and prints; everything here returns an exit code or a crate [`Error`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use std::io::IsTerminal;

use crate::initrd::Compression;
use crate::kmod::verdict::SecureBoot;
use crate::remaster::Options;
use crate::report::{emit, Report};
use crate::{Error, Result};

pub mod check;
pub mod dud;
pub mod inspect;
pub mod pxe;
pub mod sniff;
pub mod verify;
mod verify_layout;

/// Bake third-party kernel drivers into RHEL-family installer boot ISOs.
///
/// `remaster ISO --add-dud dd.iso -o OUT.iso` writes one hybrid ISO (BIOS + UEFI; CD, IODD
/// and dd'd USB) whose installer loads the driver, after proving the module loads on the
/// ISO's kernel.
#[derive(Debug, Parser)]
#[command(
    name = "remaster",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit codes: 0 ok; 1 refused by a verdict (nothing written; --dry-run too), or verify found a problem; 2 usage; 3 input error; 4 output error; 70 internal error (please report it); check: 5 loads only without Secure Boot."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub remaster: RemasterArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Explain an ISO, initrd, kernel module, RPM or driver update disk.
    Inspect(InspectArgs),
    /// Will these drivers load on this ISO's kernel, and will the installer take them?
    Check(CheckArgs),
    /// Verify a remastered ISO (boot records, md5, initrd overlay, boot entries, drivers).
    Verify(VerifyArgs),
    /// Write the PXE files for a network install with the driver: vmlinuz, the initrd
    /// with the overlay, GRUB and pxelinux snippets.
    Pxe(pxe::PxeArgs),
    /// Driver update disk tools.
    #[command(subcommand)]
    Dud(DudCommand),
    /// Generate the man page or shell completions (for packagers and `cargo install` users).
    #[command(subcommand)]
    Generate(GenerateCommand),
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Write remaster.1 (and one page per subcommand) into DIR.
    Man {
        /// Directory to write the pages to, e.g. ~/.local/share/man/man1.
        dir: PathBuf,
    },
    /// Print a completion script for SHELL on stdout.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum DudCommand {
    /// Write a DDv3 driver update disk ISO (rhdd3 + rpms/x86_64/) around kmod RPMs.
    Create(DudCreateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecureBootArg {
    On,
    Off,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// Like the base initrd's compression (default).
    Auto,
    Xz,
    Zstd,
    Gzip,
    None,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON (schema: docs/json.md) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Args)]
pub struct RemasterArgs {
    /// The boot ISO to remaster (never modified).
    #[arg(required = true)]
    pub iso: Option<PathBuf>,
    /// Output ISO (default: <ISO stem>-remastered.iso beside the input).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Add a DDv3 driver update disk (ISO or directory); repeatable.
    #[arg(long = "add-dud", value_name = "DUD")]
    pub add_dud: Vec<PathBuf>,
    /// Add a kmod RPM (remaster wraps it in a DUD); repeatable.
    #[arg(long = "add-rpm", value_name = "RPM")]
    pub add_rpm: Vec<PathBuf>,
    /// Add a bare module for the installer only (the installed system will not get it).
    #[arg(long = "add-module", value_name = "KO")]
    pub add_module: Vec<PathBuf>,
    /// Append these kernel arguments to every install entry.
    #[arg(long)]
    pub cmdline: Option<String>,
    /// Remove these kernel arguments (by key, space separated) from every install entry.
    #[arg(long = "rm-args", value_name = "KEYS")]
    pub rm_args: Option<String>,
    /// Add a file or directory to the ISO: SRC or SRC=ISO_PATH; repeatable.
    #[arg(long = "add", value_name = "PATH")]
    pub add: Vec<String>,
    /// Add a kickstart file and inst.ks=hd:LABEL=<label>:/<name> to every install entry.
    #[arg(long)]
    pub ks: Option<PathBuf>,
    /// New volume label (every inst.stage2 / search -l reference follows).
    #[arg(long)]
    pub volid: Option<String>,
    /// Do not implant the media-check MD5.
    #[arg(long = "no-md5")]
    pub no_md5: bool,
    /// Overwrite an existing output (only that: a REFUSED verdict still stops the write).
    #[arg(long)]
    pub force: bool,
    /// Write the output even though a driver's verdict is REFUSED (the kernel or the
    /// installer would reject it). Never implied by --force.
    #[arg(long = "write-refused")]
    pub write_refused: bool,
    /// Print the plan and stop.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// With `-o /dev/sdX`: allow writing to a disk the kernel does not mark removable
    /// (a USB stick is removable; an internal or some USB-SATA disks are not).
    #[arg(long = "fixed-disk")]
    pub fixed_disk: bool,
    /// Secure Boot on the target machine, for the verdict.
    #[arg(long = "secure-boot", value_enum, default_value = "unknown")]
    pub secure_boot: SecureBootArg,
    /// A certificate (DER or PEM) enrolled in MOK/db on the target machine, e.g. ELRepo's
    /// Secure Boot key: modules it signs count as trusted (and are verified). Repeatable.
    #[arg(long = "trust-key", value_name = "CERT")]
    pub trust_key: Vec<PathBuf>,
    /// Compression of the appended initrd overlay.
    #[arg(long = "overlay-compression", value_enum, default_value = "auto")]
    pub overlay_compression: CompressionArg,
    /// Say, in the plan, whether the added driver is what makes PCI device VVVV:DDDD work.
    /// Repeatable.
    #[arg(long, value_name = "VENDOR:DEVICE")]
    pub pci: Vec<String>,
    /// The same for the storage and network controllers of this `lspci -nn` output.
    #[arg(long = "pci-from", value_name = "LSPCI.TXT")]
    pub pci_from: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An ISO, initrd, vmlinuz, module (.ko[.xz|.zst|.gz]), RPM or DUD.
    pub file: PathBuf,
    /// For an ISO: also walk its initrd(s).
    #[arg(long)]
    pub initrd: bool,
    /// For an ISO: list every file (by default, counts and sizes per top-level directory
    /// and the boot-relevant files).
    #[arg(long)]
    pub files: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The boot ISO whose kernel and installer are the target.
    pub iso: PathBuf,
    /// Modules, kmod RPMs or DUDs to judge.
    pub items: Vec<PathBuf>,
    /// Secure Boot on the target machine.
    #[arg(long = "secure-boot", value_enum, default_value = "unknown")]
    pub secure_boot: SecureBootArg,
    /// A certificate (DER or PEM) enrolled in MOK/db on the target machine: modules it
    /// signs count as trusted (and are verified). Repeatable.
    #[arg(long = "trust-key", value_name = "CERT")]
    pub trust_key: Vec<PathBuf>,
    /// Does this ISO drive PCI device VVVV:DDDD (in-box, disabled by the release, or only
    /// with an added driver)? Repeatable.
    #[arg(long, value_name = "VENDOR:DEVICE")]
    pub pci: Vec<String>,
    /// The same for every storage and network controller in this `lspci -nn` output from
    /// the target machine.
    #[arg(long = "pci-from", value_name = "LSPCI.TXT")]
    pub pci_from: Option<PathBuf>,
    /// With --pci-from: every device, not only storage and network controllers.
    #[arg(long = "all-devices", requires = "pci_from")]
    pub all_devices: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A remastered ISO (or a block device it was written to, read-only).
    pub iso: PathBuf,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DudCreateArgs {
    /// kmod RPMs to put under rpms/x86_64/.
    #[arg(required = true)]
    pub rpms: Vec<PathBuf>,
    /// The DUD ISO to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Runs the parsed command line; returns the exit code on success.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Some(Command::Inspect(args)) => inspect::run(args),
        Some(Command::Check(args)) => check::run(args),
        Some(Command::Verify(args)) => verify::run(args),
        Some(Command::Dud(DudCommand::Create(args))) => dud::create(args),
        Some(Command::Pxe(args)) => pxe::run(args),
        Some(Command::Generate(what)) => generate(what),
        None => remaster(cli.remaster),
    }
}

fn generate(what: GenerateCommand) -> Result<i32> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    match what {
        GenerateCommand::Man { dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
            clap_mangen::generate_to(cmd, &dir).map_err(|e| Error::output(&dir, e))?;
        }
        GenerateCommand::Completions { shell } => {
            clap_complete::generate(shell, &mut cmd, "remaster", &mut std::io::stdout());
        }
    }
    Ok(0)
}

/// Reads the `--trust-key` certificates.
pub(crate) fn trusted_keys(files: &[PathBuf]) -> Result<Vec<crate::kmod::signature::TrustedCert>> {
    files
        .iter()
        .map(|f| {
            let bytes = crate::remaster::media::read_capped(f, 1 << 20)?;
            crate::kmod::signature::TrustedCert::enrolled_from_file_bytes(&bytes)
                .map_err(|e| Error::input(f, e))
        })
        .collect()
}

pub(crate) fn secure_boot(arg: SecureBootArg) -> SecureBoot {
    match arg {
        SecureBootArg::On => SecureBoot::On,
        SecureBootArg::Off => SecureBoot::Off,
        SecureBootArg::Unknown => SecureBoot::Unknown,
    }
}

pub(crate) fn compression(arg: CompressionArg) -> Compression {
    match arg {
        CompressionArg::Auto => Compression::AsBase,
        CompressionArg::Xz => Compression::Xz,
        CompressionArg::Zstd => Compression::Zstd,
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::None => Compression::None,
    }
}

/// `SRC` or `SRC=ISO_PATH`; a directory adds every file below it.
fn parse_add(spec: &str) -> Result<Vec<(PathBuf, String)>> {
    let (src, dest) = match spec.split_once('=') {
        Some((s, d)) => (PathBuf::from(s), d.trim_matches('/').to_string()),
        None => {
            let src = PathBuf::from(spec);
            let name = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (src, name)
        }
    };
    if dest.is_empty() || dest.split('/').any(|c| c == ".." || c == ".") {
        return Err(Error::Usage(format!(
            "--add {spec}: give SRC or SRC=PATH with a plain ISO path"
        )));
    }
    let meta = std::fs::metadata(&src).map_err(|e| Error::input(&src, e))?;
    if !meta.is_dir() {
        return Ok(vec![(src, dest)]);
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::input(&src, e))?;
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(&src)
                .map_err(|e| Error::input(&src, e))?;
            out.push((
                entry.path().to_path_buf(),
                format!("{dest}/{}", rel.to_string_lossy()),
            ));
        }
    }
    Ok(out)
}

/// A byte progress bar on stderr, when it is a terminal and neither `--quiet` nor `--json`.
pub(crate) fn progress_bar(out: &OutputArgs, total: u64) -> Option<indicatif::ProgressBar> {
    if out.quiet || out.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

pub(crate) fn split_words(flag: &str, s: &Option<String>) -> Result<Vec<String>> {
    match s {
        Some(s) => crate::boot::split_args(s).map_err(|e| Error::Usage(format!("{flag}: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// Before writing: SIGINT, SIGTERM and SIGHUP remove the temporary output
/// (`iso::write::abort_partial_outputs`) and exit with 128 + the signal number; SIGXFSZ (a
/// file size limit, `ulimit -f`) is caught so that the write fails with EFBIG and is
/// reported like a full disk instead of killing the process. Best effort: if the handlers
/// cannot be installed, the write still never leaves a partial file at the output's name.
pub(crate) fn install_signal_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(SIGXFSZ, flag) {
        eprintln!("remaster: warning: cannot catch SIGXFSZ: {e}");
    }
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("remaster: warning: cannot install the interrupt handler: {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let removed = crate::iso::write::abort_partial_outputs();
                let what = match removed.as_slice() {
                    [] => String::new(),
                    paths => format!(
                        "; removed the partial output {}",
                        paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                eprintln!("remaster: interrupted by signal {signal}{what}");
                std::process::exit(128 + signal);
            }
        });
    if let Err(e) = spawned {
        eprintln!("remaster: warning: cannot install the interrupt handler: {e}");
    }
}

/// The main job: plan, print the plan, write, print the summary.
fn remaster(args: RemasterArgs) -> Result<i32> {
    let input = args
        .iso
        .clone()
        .ok_or_else(|| Error::Usage("give the boot ISO to remaster".into()))?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| crate::remaster::default_output(&input));
    let mut add = Vec::new();
    for spec in &args.add {
        add.extend(parse_add(spec)?);
    }
    // `-o /dev/sdX`: the device is checked before the media is read, the image is written to
    // a temporary file, then copied to the device, read back and verified (src/iso/device.rs).
    let mut image_dir = None;
    let mut device = None;
    let output = if crate::iso::device::is_block_device(&output) {
        let dir = tempfile::Builder::new()
            .prefix(".remaster-device-")
            .tempdir()
            .map_err(|e| Error::output(std::env::temp_dir(), e))?;
        let mut files = vec![input.clone(), dir.path().to_path_buf()];
        files.extend(args.add_dud.iter().cloned());
        files.extend(args.add_rpm.iter().cloned());
        files.extend(args.add_module.iter().cloned());
        files.extend(args.ks.iter().cloned());
        files.extend(add.iter().map(|(src, _)| src.clone()));
        device = Some(crate::iso::device::preflight(
            &output,
            &files,
            args.fixed_disk,
        )?);
        let image = dir.path().join("image.iso");
        image_dir = Some(dir);
        image
    } else {
        output
    };
    let opts = Options {
        input,
        output,
        duds: args.add_dud.clone(),
        rpms: args.add_rpm.clone(),
        modules: args.add_module.clone(),
        cmdline: split_words("--cmdline", &args.cmdline)?,
        rm_args: split_words("--rm-args", &args.rm_args)?,
        add,
        ks: args.ks.clone(),
        volid: args.volid.clone(),
        implant_md5: !args.no_md5,
        force: args.force,
        write_refused: args.write_refused,
        secure_boot: secure_boot(args.secure_boot),
        trusted_keys: trusted_keys(&args.trust_key)?,
        compression: compression(args.overlay_compression),
        pci: check::pci_devices(&args.pci, args.pci_from.as_deref(), false)?.0,
    };
    let json = args.out.json;
    let (_media, mut plan) = crate::remaster::plan(&opts, !args.dry_run)?;
    if let Some(device) = &device {
        crate::iso::device::check_size(device, plan.report.output_bytes)?;
    }
    plan.report.verbose = args.out.verbose > 0;
    if !json {
        let stderr = std::io::stderr();
        plan.report
            .human(&mut stderr.lock())
            .map_err(|e| Error::output("<stderr>", e))?;
        if !plan.report.refusals.is_empty() && opts.write_refused && !args.dry_run {
            eprintln!(
                "remaster: WARNING: --write-refused given: writing although it was refused: {}",
                plan.report.refusals.join("; ")
            );
        }
    }
    if args.dry_run {
        if json {
            emit(&plan.report, true).map_err(|e| Error::output("<stdout>", e))?;
        }
        return Ok(if plan.report.refusals.is_empty() {
            0
        } else {
            crate::error::EXIT_REFUSED
        });
    }
    let report = plan.report.clone();
    let bar = progress_bar(&args.out, report.output_bytes);
    let mut tick = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    install_signal_cleanup();
    let summary = crate::remaster::execute(plan, &opts, Some(&mut tick))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(device) = &device {
        return write_device(&args, device, &summary.output, image_dir);
    }
    if !json {
        iodd_note(&summary.output, args.out.verbose > 0);
    }
    if json {
        #[derive(serde::Serialize)]
        struct Done<'a> {
            plan: &'a crate::remaster::PlanReport,
            written: &'a crate::iso::write::WriteSummary,
        }
        let done = Done {
            plan: &report,
            written: &summary,
        };
        serde_json::to_writer_pretty(std::io::stdout(), &done)
            .map_err(|e| Error::output("<stdout>", e))?;
        println!();
    } else {
        eprintln!(
            "wrote {} ({} bytes{}); check it with: remaster verify {}",
            summary.output.display(),
            summary.output_bytes,
            if summary.md5_implanted {
                ", media-check MD5 implanted"
            } else {
                ""
            },
            summary.output.display()
        );
    }
    Ok(0)
}

/// `-o /dev/sdX` after the image is written: copy it to the device, read it back, then run
/// `verify` on the device; the exit code is verify's.
fn write_device(
    args: &RemasterArgs,
    device: &crate::iso::device::Device,
    image: &std::path::Path,
    image_dir: Option<tempfile::TempDir>,
) -> Result<i32> {
    let len = std::fs::metadata(image)
        .map_err(|e| Error::output(image, e))?
        .len();
    let bar = progress_bar(&args.out, len.saturating_mul(2));
    if let Some(b) = &bar {
        b.set_message(format!("{} (write, read back)", device.path.display()));
    }
    let mut tick = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let written = crate::iso::device::write_image(image, device, &mut tick);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    drop(image_dir);
    written?;
    if !args.out.json {
        eprintln!(
            "wrote {} ({len} bytes, flushed, read back and identical); verifying it",
            device.path.display()
        );
    }
    verify::run(VerifyArgs {
        iso: device.path.clone(),
        out: OutputArgs {
            json: args.out.json,
            quiet: args.out.quiet,
            verbose: args.out.verbose,
        },
    })
}

/// IODD firmware presents only ISO files stored in one piece: say so when the output is
/// fragmented (FIEMAP), and with -v also when it is not.
fn iodd_note(output: &std::path::Path, verbose: bool) {
    match crate::iso::device::fragment_count(output) {
        Some(n) if n > 1 => eprintln!(
            "remaster: note: {} is fragmented ({n} pieces on disk); IODD devices refuse fragmented ISO files: copy it to a freshly formatted or defragmented partition",
            output.display()
        ),
        Some(_) if verbose => eprintln!(
            "remaster: {} is contiguous (one piece on disk), as IODD devices need",
            output.display()
        ),
        _ => {}
    }
}

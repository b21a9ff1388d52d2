//! The CLI definition (clap derive) and one function per subcommand. `main.rs` only parses
//! arguments and prints; everything here returns an exit code or a crate [`Error`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::Result;

/// Bake third-party kernel drivers into RHEL-family installer boot ISOs.
///
/// `remaster ISO --add-dud dd.iso -o OUT.iso` writes one hybrid ISO (BIOS + UEFI; CD, IODD
/// and dd'd USB) whose installer loads the driver, after proving the module loads on the
/// ISO's kernel.
#[derive(Debug, Parser)]
#[command(name = "remaster", version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
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
    /// Driver update disk tools.
    #[command(subcommand)]
    Dud(DudCommand),
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
    /// Overwrite an existing output; write even if a driver's verdict is REFUSED.
    #[arg(long)]
    pub force: bool,
    /// Print the plan and stop.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Secure Boot on the target machine, for the verdict.
    #[arg(long = "secure-boot", value_enum, default_value = "unknown")]
    pub secure_boot: SecureBootArg,
    /// Compression of the appended initrd overlay.
    #[arg(long = "overlay-compression", value_enum, default_value = "auto")]
    pub overlay_compression: CompressionArg,
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
    /// Which modules claim this PCI device (VVVV:DDDD)?
    #[arg(long, value_name = "VENDOR:DEVICE")]
    pub pci: Option<String>,
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
        Some(Command::Inspect(_)) | Some(Command::Check(_)) | Some(Command::Verify(_)) | Some(Command::Dud(_)) | None => {
            let _ = cli.remaster;
            Err(crate::Error::Usage("not wired yet".into()))
        }
    }
}

//! `remaster pxe`: the PXE files for a network install with the same driver (the engine is
//! [`crate::remaster::pxe`]). Prints the plan like the main command, refuses the same way,
//! then writes the directory.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::SecureBootArg;
use super::{compression, secure_boot, split_words, trusted_keys, CompressionArg, OutputArgs};
use crate::remaster::pxe::{self, PxeOptions, PxeReport};
use crate::remaster::Options;
use crate::report::Report;
use crate::{Error, Result};

#[derive(Debug, Args)]
#[command(
    after_help = "Writes DIR/vmlinuz (the ISO's installer kernel, unchanged), DIR/initrd.img (its installer initrd with the driver overlay the ISO path appends), DIR/grub.cfg (UEFI PXE and HTTP boot) and DIR/pxelinux.cfg/default (BIOS PXE). Each snippet carries the whole kernel line: inst.dd=/dd.iso, rd.driver.pre=, the ISO's own install arguments, and inst.stage2=URL (boot ISO) or inst.repo=URL (DVD with package repositories)."
)]
pub struct PxeArgs {
    /// The boot ISO whose installer kernel and initrd to use (never modified).
    pub iso: PathBuf,
    /// The directory to write (absent or empty; --force replaces a non-empty one).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Where the ISO's tree is served for the installer (http://, https://, ftp:// or nfs:).
    /// Becomes inst.stage2=URL for a boot ISO, inst.repo=URL for a DVD with repositories.
    #[arg(long, value_name = "URL")]
    pub repo: String,
    /// DIR's path on the TFTP/HTTP server, as the snippets name vmlinuz and initrd.img
    /// (default: the server's root).
    #[arg(long = "server-path", value_name = "PATH")]
    pub server_path: Option<String>,
    /// Add a DDv3 driver update disk (ISO or directory); repeatable.
    #[arg(long = "add-dud", value_name = "DUD")]
    pub add_dud: Vec<PathBuf>,
    /// Add a kmod RPM (remaster wraps it in a DUD); repeatable.
    #[arg(long = "add-rpm", value_name = "RPM")]
    pub add_rpm: Vec<PathBuf>,
    /// Add a bare module for the installer only (the installed system will not get it).
    #[arg(long = "add-module", value_name = "KO")]
    pub add_module: Vec<PathBuf>,
    /// Append these kernel arguments to the kernel line.
    #[arg(long)]
    pub cmdline: Option<String>,
    /// Remove these kernel arguments (by key, space separated) from the kernel line.
    #[arg(long = "rm-args", value_name = "KEYS")]
    pub rm_args: Option<String>,
    /// Replace a non-empty output directory (only that: a REFUSED verdict still stops it).
    #[arg(long)]
    pub force: bool,
    /// Write even though a driver's verdict is REFUSED. Never implied by --force.
    #[arg(long = "write-refused")]
    pub write_refused: bool,
    /// Print the plan and stop.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Secure Boot on the target machine, for the verdict.
    #[arg(long = "secure-boot", value_enum, default_value = "unknown")]
    pub secure_boot: SecureBootArg,
    /// A certificate (DER or PEM) enrolled in MOK/db on the target machine. Repeatable.
    #[arg(long = "trust-key", value_name = "CERT")]
    pub trust_key: Vec<PathBuf>,
    /// Compression of the appended initrd overlay.
    #[arg(long = "overlay-compression", value_enum, default_value = "auto")]
    pub overlay_compression: CompressionArg,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// The PXE part of the plan, after the driver plan.
fn human(p: &PxeReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "pxe -> {}", p.directory.display())?;
    writeln!(out, "  vmlinuz: /{} (copied as it is)", p.kernel_from)?;
    writeln!(
        out,
        "  initrd.img: /{} ({} bytes) + {} bytes of overlay",
        p.initrd_from, p.initrd_base_bytes, p.overlay_bytes
    )?;
    writeln!(
        out,
        "  {}=: {}",
        p.install_source.key(),
        p.install_source_why
    )?;
    writeln!(out, "  kernel line (from {}):", p.entry_from)?;
    writeln!(out, "    {}", p.kernel_args.join(" "))?;
    writeln!(out, "  files: {}", p.files.join(", "))?;
    Ok(())
}

pub fn run(args: PxeArgs) -> Result<i32> {
    let opts = PxeOptions {
        base: Options {
            input: args.iso.clone(),
            output: args.output.clone(),
            duds: args.add_dud.clone(),
            rpms: args.add_rpm.clone(),
            modules: args.add_module.clone(),
            cmdline: split_words("--cmdline", &args.cmdline)?,
            rm_args: split_words("--rm-args", &args.rm_args)?,
            add: Vec::new(),
            ks: None,
            volid: None,
            implant_md5: false,
            force: args.force,
            write_refused: args.write_refused,
            secure_boot: secure_boot(args.secure_boot),
            trusted_keys: trusted_keys(&args.trust_key)?,
            compression: compression(args.overlay_compression),
            pci: Vec::new(),
        },
        repo: args.repo.clone(),
        server_path: args.server_path.clone().unwrap_or_default(),
    };
    let json = args.out.json;
    let (mut media, mut plan) = pxe::plan(&opts)?;
    plan.report.verbose = args.out.verbose > 0;
    if !json {
        let stderr = std::io::stderr();
        let mut err = stderr.lock();
        plan.report
            .human(&mut err)
            .and_then(|()| human(&plan.pxe, &mut err))
            .map_err(|e| Error::output("<stderr>", e))?;
        if !plan.report.refusals.is_empty() && args.write_refused && !args.dry_run {
            eprintln!(
                "remaster: WARNING: --write-refused given: writing although it was refused: {}",
                plan.report.refusals.join("; ")
            );
        }
    }
    #[derive(serde::Serialize)]
    struct Out<'a> {
        plan: &'a crate::remaster::PlanReport,
        pxe: &'a PxeReport,
        #[serde(skip_serializing_if = "Option::is_none")]
        written: Option<&'a pxe::PxeSummary>,
    }
    if args.dry_run {
        if json {
            print_json(&Out {
                plan: &plan.report,
                pxe: &plan.pxe,
                written: None,
            })?;
        }
        return Ok(if plan.report.refusals.is_empty() {
            0
        } else {
            crate::error::EXIT_REFUSED
        });
    }
    let report = plan.report.clone();
    let pxe_report = plan.pxe.clone();
    super::install_signal_cleanup();
    let summary = pxe::execute(&mut media, plan, &opts)?;
    if json {
        print_json(&Out {
            plan: &report,
            pxe: &pxe_report,
            written: Some(&summary),
        })?;
    } else {
        eprintln!(
            "wrote {}: {}",
            summary.directory.display(),
            summary
                .files
                .iter()
                .map(|(f, n)| format!("{f} ({n} bytes)"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(0)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    serde_json::to_writer_pretty(std::io::stdout(), value)
        .map_err(|e| Error::output("<stdout>", e))?;
    println!();
    Ok(())
}

//! Checks of the arguments and the output that need no reading of the media: run first, so
//! a wrong path or an existing output is reported on one line before the ISO is read and
//! before the plan is printed (the writer checks the output again just before it renames,
//! since the directory may change in between).

use std::path::Path;

use super::Options;
use crate::{Error, Result};

/// Fails on the first problem: the input ISO or a named input file (`--ks`, `--add-dud`,
/// `--add-rpm`, `--add-module`, `--add` sources) that does not exist, an output that is one
/// of the inputs (also through a symlink or a hard link), an existing output without
/// `force`, an output that is a directory, and an output directory that does not exist.
pub fn check(opts: &Options) -> Result<()> {
    exists(&opts.input)?;
    check_output(opts)?;
    for path in named_inputs(opts) {
        exists(path)?;
    }
    Ok(())
}

/// The input ISO and every named input file exist (`remaster pxe` checks its output
/// directory itself).
pub(crate) fn check_inputs(opts: &Options) -> Result<()> {
    exists(&opts.input)?;
    for path in named_inputs(opts) {
        exists(path)?;
    }
    Ok(())
}

fn named_inputs(opts: &Options) -> impl Iterator<Item = &Path> {
    opts.ks
        .iter()
        .chain(&opts.duds)
        .chain(&opts.rpms)
        .chain(&opts.modules)
        .map(|p| p.as_path())
        .chain(opts.add.iter().map(|(src, _)| src.as_path()))
}

fn exists(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::input(path, "no such file; check the path"))
        }
        Err(e) => Err(Error::input_cause(path, e)),
    }
}

fn check_output(opts: &Options) -> Result<()> {
    let output = opts.output.as_path();
    let inputs = std::iter::once(opts.input.as_path()).chain(named_inputs(opts));
    for input in inputs {
        if input == output || same_file(input, output) {
            return Err(Error::Usage(format!(
                "the output {} is the input {}; choose another output file (-o)",
                output.display(),
                input.display()
            )));
        }
    }
    if let Ok(meta) = output.symlink_metadata() {
        if meta.is_dir() {
            return Err(Error::output(
                output,
                "is a directory; give the output file's name (-o DIR/NAME.iso)",
            ));
        }
        if !opts.force {
            return Err(Error::output(
                output,
                "already exists (use --force to overwrite)",
            ));
        }
    }
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::output(
            output,
            format!(
                "{} is not a directory; choose another output",
                dir.display()
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::output(
            output,
            format!(
                "the directory {} does not exist; create it or choose another output",
                dir.display()
            ),
        )),
        Err(e) => Err(Error::output(output, format!("{}: {e}", dir.display()))),
    }
}

/// True if `a` and `b` name the same existing file (also through symlinks/hard links).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

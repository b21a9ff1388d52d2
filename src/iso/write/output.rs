//! The atomic output: identity stamps of inputs (refuse an input that changed while it was
//! read), the registry of temporary outputs that a signal handler removes, preallocation,
//! and the checks on the destination before anything is planned or written.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Error;

/// True if `a` and `b` name the same existing file (also through symlinks/hard links).
pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Identity and version of an input file (device, inode, size, modification time). If it
/// differs between planning and the end of writing, the input changed while it was read
/// and the output is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputStamp {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) len: u64,
    pub(super) mtime: i64,
    pub(super) mtime_nsec: i64,
}

impl InputStamp {
    /// The stamp of an open file.
    pub fn of_file(file: &File) -> io::Result<Self> {
        Ok(Self::of_metadata(&file.metadata()?))
    }

    /// The stamp of the file a path names now.
    pub fn of_path(path: &Path) -> io::Result<Self> {
        Ok(Self::of_metadata(&std::fs::metadata(path)?))
    }

    pub(super) fn of_metadata(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        InputStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

pub(super) fn changed_input(path: &Path) -> Error {
    Error::input(
        path,
        "changed while it was being read (size or modification time differ); nothing was written: run again once it no longer changes",
    )
}

/// Fails unless `path` and the open `file` still carry `stamp`.
pub(super) fn check_unchanged(
    path: &Path,
    file: Option<&File>,
    stamp: &InputStamp,
) -> crate::Result<()> {
    let now_path = InputStamp::of_path(path).map_err(|e| Error::input(path, e))?;
    let now_file = match file {
        Some(f) => Some(InputStamp::of_file(f).map_err(|e| Error::input(path, e))?),
        None => None,
    };
    if now_path != *stamp || now_file.is_some_and(|s| s != *stamp) {
        return Err(changed_input(path));
    }
    Ok(())
}

/// Temporary outputs being written, for [`abort_partial_outputs`]. Renames happen under
/// this lock, so a signal handler either removes a temporary file before its rename (which
/// then fails) or finds it already renamed (the output is complete).
pub(super) struct PartialOutputs {
    pub(super) paths: Vec<PathBuf>,
    pub(super) aborted: bool,
}

pub(super) static PARTIAL_OUTPUTS: Mutex<PartialOutputs> = Mutex::new(PartialOutputs {
    paths: Vec::new(),
    aborted: false,
});

pub(super) fn partial_outputs() -> std::sync::MutexGuard<'static, PartialOutputs> {
    PARTIAL_OUTPUTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the temporary files of writes in progress and makes every later rename fail.
/// For a SIGINT/SIGTERM handler (run on a normal thread, e.g. signal-hook's iterator),
/// which should exit the process right after. Returns the removed paths.
pub fn abort_partial_outputs() -> Vec<PathBuf> {
    let mut state = partial_outputs();
    state.aborted = true;
    let paths = std::mem::take(&mut state.paths);
    paths
        .into_iter()
        .filter(|p| std::fs::remove_file(p).is_ok() || std::fs::remove_dir_all(p).is_ok())
        .collect()
}

/// A temporary output of another writer (`remaster pxe`'s directory): removed by
/// [`abort_partial_outputs`] while it is registered, and committed (renamed) under the same
/// lock, so an interrupt either removes it before the rename or finds it renamed.
pub struct PartialOutput(Registered);

impl PartialOutput {
    /// Registers `path` (a file or a directory); fails once an interrupt aborted the writes.
    pub fn register(path: &Path) -> crate::Result<Self> {
        Registered::new(path).map(PartialOutput)
    }

    /// Runs `commit` (the rename into place) unless an interrupt came first.
    pub fn commit<T>(self, commit: impl FnOnce() -> crate::Result<T>) -> crate::Result<T> {
        let state = partial_outputs();
        if state.aborted {
            return Err(Error::output(&self.0 .0, "interrupted"));
        }
        let done = commit();
        drop(state);
        done
    }
}

/// The test pause of [`TEST_PAUSE_ENV`], for other writers (`remaster pxe`).
pub fn test_pause() {
    if let Some(ms) = std::env::var(TEST_PAUSE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Keeps a temporary output registered for [`abort_partial_outputs`] while it lives.
pub(super) struct Registered(PathBuf);

impl Registered {
    pub(super) fn new(path: &Path) -> crate::Result<Self> {
        let mut state = partial_outputs();
        if state.aborted {
            return Err(Error::output(path, "interrupted"));
        }
        state.paths.push(path.to_path_buf());
        Ok(Registered(path.to_path_buf()))
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        partial_outputs().paths.retain(|p| *p != self.0);
    }
}

/// Test-only hook (documented in tests/faults.rs): when set to a number of milliseconds,
/// [`write`] sleeps that long after it created and reserved the temporary output and
/// before it streams, so a test can change the input or send a signal at a known moment.
pub(super) const TEST_PAUSE_ENV: &str = "REMASTER_TEST_PAUSE_AFTER_PLAN_MS";

/// Refuses an output that is the input, and an existing output without `force`.
pub(super) fn check_output(input: &Path, output: &Path, force: bool) -> crate::Result<()> {
    if same_file(input, output) || input == output {
        return Err(Error::Usage(format!(
            "the output {} is the input; choose another output file",
            output.display()
        )));
    }
    if output.symlink_metadata().is_ok() && !force {
        return Err(Error::output(
            output,
            "already exists (use --force to overwrite)",
        ));
    }
    Ok(())
}

//! Running the built `remaster` binary from integration tests.

use std::path::Path;
use std::process::{Command, Output};

use super::fixtures::run_tool;

/// The binary under test, with a fixed SOURCE_DATE_EPOCH so outputs are comparable.
pub fn remaster_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_remaster"));
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    cmd
}

/// Exit status, stdout and stderr of a run, for assertion messages.
pub fn output_text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// SHA-256 of a file (hex), to show an input was not modified.
pub fn file_sha256(path: &Path) -> String {
    let (ok, out) = run_tool("sha256sum", &[&path.to_string_lossy()]);
    assert!(ok, "sha256sum {}: {out}", path.display());
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

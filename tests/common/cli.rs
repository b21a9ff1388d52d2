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

/// The binary set up for an edit of `input` into `out` (`--cmdline x=y`), with the test
/// seams of the writer (pause after planning, no preallocation) cleared and the output
/// captured: the fault and output-space tests start from this and add what they test.
pub fn edit_cmd(input: &Path, out: &Path) -> Command {
    let mut cmd = remaster_bin();
    cmd.arg(input)
        .args(["--cmdline", "x=y", "-o"])
        .arg(out)
        .env_remove("REMASTER_TEST_PAUSE_AFTER_PLAN_MS")
        .env_remove("REMASTER_TEST_NO_PREALLOCATE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
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

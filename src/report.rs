//! Human and JSON output. Every command's result implements [`Report`]: JSON comes from
//! serde (schema documented in docs/json.md), the human form from `human`.

use std::io::{self, Write};

/// Where the engine sends notices a user should see although nothing failed (a leftover
/// of a killed run removed, ...): the embedding program installs a hook (the CLI prints to
/// stderr); without one they are dropped. The engine itself never prints.
static NOTICE_HOOK: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Installs the notice hook (once per process; later calls are ignored).
pub fn set_notice_hook(hook: fn(&str)) {
    let _ = NOTICE_HOOK.set(hook);
}

/// Sends a notice to the installed hook.
pub fn notice(message: &str) {
    if let Some(hook) = NOTICE_HOOK.get() {
        hook(message);
    }
}

pub trait Report: serde::Serialize {
    /// Writes the human-readable form.
    fn human(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// Prints a report to stdout in the requested form (the CLI's; the engine never prints).
#[cfg(feature = "cli")]
pub fn emit(report: &dyn ErasedReport, json: bool) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report.json_value()?)?;
        writeln!(out)
    } else {
        report.human_dyn(&mut out)
    }
}

/// Object-safe view of a [`Report`] so the CLI can hold any of them.
pub trait ErasedReport {
    fn json_value(&self) -> io::Result<serde_json::Value>;
    fn human_dyn(&self, out: &mut dyn Write) -> io::Result<()>;
}

impl<T: Report> ErasedReport for T {
    fn json_value(&self) -> io::Result<serde_json::Value> {
        serde_json::to_value(self).map_err(io::Error::other)
    }
    fn human_dyn(&self, out: &mut dyn Write) -> io::Result<()> {
        self.human(out)
    }
}

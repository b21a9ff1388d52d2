//! Human and JSON output. Every command's result implements [`Report`]: JSON comes from
//! serde (schema documented in docs/json.md), the human form from `human`.

use std::io::{self, Write};

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

//! One explained verdict about a DUD, an RPM in it or a module in an RPM, and how serious it
//! is: the vocabulary every step of the installer's findings (disk, RPM, kABI) speaks.

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The installer (or dnf) uses it as intended.
    Ok,
    /// Used, with a caveat worth knowing.
    Warn,
    /// The installer silently skips it.
    Ignored,
    /// It would fail: the installed system's dnf or the kernel rejects it.
    Refused,
}

/// One explained verdict about a DUD, an RPM in it, or a module in an RPM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The RPM (path inside the DUD or file name) the finding is about, if any.
    pub rpm: Option<String>,
    pub message: String,
    /// How to fix it, when known.
    pub fix: Option<String>,
}

impl Finding {
    pub(super) fn new(
        severity: Severity,
        rpm: Option<&str>,
        message: String,
        fix: Option<String>,
    ) -> Self {
        Finding {
            severity,
            rpm: rpm.map(str::to_owned),
            message,
            fix,
        }
    }
}

impl std::fmt::Display for Finding {
    /// `[Severity] message — fix`, one line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:?}] {}", self.severity, self.message)?;
        match &self.fix {
            Some(fix) => write!(f, " — {fix}"),
            None => Ok(()),
        }
    }
}

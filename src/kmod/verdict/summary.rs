//! The verdict in words: the one-line summary a user reads first and the report's lines.

use std::io::{self, Write};

use super::{Check, Outcome, Problem, SecureBoot, Verdict};
use crate::kmod::kernel::Kernel;
use crate::kmod::module::Module;
use crate::report::Report;

impl Verdict {
    /// The verdict with its summary.
    pub(super) fn finish(
        name: String,
        module: &Module,
        kernel: &Kernel,
        secure_boot: SecureBoot,
        outcome: Outcome,
        problems: Vec<Problem>,
        warnings: Vec<String>,
    ) -> Verdict {
        let mut verdict = Verdict {
            module: name,
            built_for: module.built_for().map(str::to_string),
            kernel_release: kernel.release().to_string(),
            kernel_arch: kernel.arch().uname_m().to_string(),
            secure_boot,
            outcome,
            problems,
            warnings,
            summary: String::new(),
        };
        verdict.summary = summarize(&verdict);
        verdict
    }
}

/// "Use a build for el9_2" — the distribution tag of a release, or the release itself.
fn build_hint(release: &str) -> String {
    release
        .split('.')
        .find(|part| {
            part.strip_prefix("el")
                .is_some_and(|r| r.chars().next().is_some_and(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .unwrap_or_else(|| release.to_string())
}

fn summarize(v: &Verdict) -> String {
    let file = if v.module == "(unnamed module)" {
        "the module".to_string()
    } else {
        format!("{}.ko", v.module)
    };
    let built = v
        .built_for
        .as_deref()
        .map(|b| format!("{file} was built for {b}; "))
        .unwrap_or_else(|| format!("{file}: "));
    let boots = format!("this ISO boots {}", v.kernel_release);
    let hint = build_hint(&v.kernel_release);
    match &v.outcome {
        Outcome::Loads => {
            let taint = if v.warnings.is_empty() {
                String::new()
            } else {
                format!(" (with warnings: {})", v.warnings.join("; "))
            };
            format!("{built}{boots}: the kernel would load it{taint}.")
        }
        Outcome::LoadsOnlyWithoutSecureBoot { message, reason } => format!(
            "{built}{boots}: loads only with Secure Boot off — {reason}; under Secure Boot the \
             kernel would refuse it ({message}). Disable Secure Boot for the install or enrol \
             the signing key in MOK/db (and pass the certificate with --trust-key)."
        ),
        Outcome::Refused {
            reason,
            insmod_error,
            ..
        } => {
            let first = v
                .problems
                .iter()
                .find(|p| p.check == Check::ElfHeader && p.fatal)
                .or_else(|| v.problems.iter().find(|p| p.fatal))
                .map(|p| p.check);
            let missing: Vec<&str> = v
                .problems
                .iter()
                .filter(|p| p.check == Check::Dependency)
                .filter_map(|p| p.detail.strip_prefix("depends on module "))
                .filter_map(|d| d.split(',').next())
                .collect();
            let reason = if first == Some(Check::Symbol) && !missing.is_empty() {
                format!("{reason} (missing dependencies: {})", missing.join(", "))
            } else {
                reason.clone()
            };
            let advice = match first {
                Some(Check::Signature) => " Disable Secure Boot for the install, or enrol its \
                                           signing key in MOK/db (and pass the certificate \
                                           with --trust-key)."
                    .to_string(),
                Some(Check::SignatureMismatch) => " Use the module exactly as its vendor \
                                                   signed it (or sign it again)."
                    .to_string(),
                Some(Check::Symbol) | Some(Check::Dependency) => {
                    " Add the modules it depends on, or use a build for this kernel.".to_string()
                }
                Some(Check::Namespace) => {
                    " The module must be rebuilt with the MODULE_IMPORT_NS() it needs.".to_string()
                }
                Some(Check::GplOnly) => {
                    " Only a GPL-compatible module may use GPL-only exports.".to_string()
                }
                Some(Check::ElfHeader) | Some(Check::ModuleStruct) => {
                    format!(" Use a kernel module built for {}.", v.kernel_arch)
                }
                _ => format!(" Use a build for {hint}."),
            };
            format!(
                "{built}{boots}: {reason} — the kernel would refuse it ({insmod_error}).{advice}"
            )
        }
    }
}

impl Report for Verdict {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.summary)?;
        for p in &self.problems {
            let tag = if p.fatal { "refused" } else { "note" };
            writeln!(out, "  {tag}: {}", p.detail)?;
            for m in &p.kernel_messages {
                writeln!(out, "    kernel: {m}")?;
            }
        }
        for w in &self.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint() {
        assert_eq!(build_hint("5.14.0-284.11.1.el9_2.x86_64"), "el9_2");
        assert_eq!(build_hint("6.1.0-50-amd64"), "6.1.0-50-amd64");
    }
}

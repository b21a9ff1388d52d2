//! anaconda's `dd_list`: which RPMs of a repo it lists for the installer kernel
//! (`dlabelProvides` over `Provides: kernel-modules`/`installer-enhancement`), and rpm's
//! dependency match used to judge an RPM's `Requires` against the media kernel.

use crate::dud::rpm::KmodRpm;
use crate::dud::rpmvercmp::{self, sense_matches};

/// Result of dd_list on one RPM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdListVerdict {
    /// Flags `modules firmwares`: the RPM's files are extracted and it is installed.
    Modules { provide: String },
    /// Only `installer-enhancement` matched: binaries/libraries, no modules.
    EnhancementOnly,
    /// Not listed at all (silently skipped), with the reason.
    Skipped(String),
}

/// anaconda `dd_list` `dlabelProvides` over the RPM's Provides.
pub fn dd_list_verdict(rpm: &KmodRpm, kernel_release: &str) -> DdListVerdict {
    const ANACONDA_VERSION: &str = "19.0";
    let mut reasons = Vec::new();
    let mut enhancement = false;
    for provide in &rpm.provides {
        if provide.name != "kernel-modules" && provide.name != "installer-enhancement" {
            continue;
        }
        if provide.version.is_empty() {
            reasons.push(format!(
                "`Provides: {}` has no version (dd_list ignores unversioned provides)",
                provide.name
            ));
            continue;
        }
        if provide.name == "kernel-modules" {
            let legacy = provide.version.starts_with("2.6.32-131")
                || provide.version.starts_with("2.6.32-71");
            if legacy || sense_matches(kernel_release, &provide.version, provide.flags) {
                return DdListVerdict::Modules {
                    provide: provide.to_string(),
                };
            }
            reasons.push(format!(
                "`Provides: {provide}` is not satisfied by the installer kernel {kernel_release} (rpmvercmp)"
            ));
        } else if sense_matches(ANACONDA_VERSION, &provide.version, provide.flags) {
            enhancement = true;
        }
    }
    if enhancement {
        return DdListVerdict::EnhancementOnly;
    }
    if reasons.is_empty() {
        reasons.push("it has no `Provides: kernel-modules <op> <version>`".to_owned());
    }
    DdListVerdict::Skipped(reasons.join("; "))
}

/// rpm's dependency match of an installed `have` (`[E:]V[-R]`) against `want` with the
/// sense flags (librpm `rpmdsCompare`: epoch, then version, then release only when both
/// sides carry one).
pub fn evr_satisfies(have: &str, want: &str, sense: u32) -> bool {
    use std::cmp::Ordering;
    fn split(evr: &str) -> (&str, &str, Option<&str>) {
        let (epoch, rest) = match evr.split_once(':') {
            Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e, r),
            _ => ("0", evr),
        };
        match rest.rsplit_once('-') {
            Some((v, r)) => (epoch, v, Some(r)),
            None => (epoch, rest, None),
        }
    }
    let (e1, v1, r1) = split(have);
    let (e2, v2, r2) = split(want);
    let mut order = rpmvercmp::rpmvercmp(e1, e2);
    if order == Ordering::Equal {
        order = rpmvercmp::rpmvercmp(v1, v2);
    }
    if order == Ordering::Equal {
        if let (Some(r1), Some(r2)) = (r1, r2) {
            order = rpmvercmp::rpmvercmp(r1, r2);
        }
    }
    use rpmvercmp::{RPMSENSE_EQUAL, RPMSENSE_GREATER, RPMSENSE_LESS};
    match order {
        Ordering::Less => sense & RPMSENSE_LESS != 0,
        Ordering::Equal => sense & RPMSENSE_EQUAL != 0,
        Ordering::Greater => sense & RPMSENSE_GREATER != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_matching() {
        let ge = 4 | 8;
        assert!(evr_satisfies(
            "5.14.0-284.11.1.el9_2",
            "5.14.0-284.11.1.el9_2",
            ge
        ));
        assert!(!evr_satisfies(
            "5.14.0-284.11.1.el9_2",
            "5.14.0-570.12.1.el9_6",
            ge
        ));
        assert!(evr_satisfies("5.14.0-284.11.1.el9_2", "5.14.0", ge));
        assert!(!evr_satisfies("5.14.0-284", "1:5.14.0", ge));
        assert!(evr_satisfies("6.1.0-50-amd64", "6.1.0-50", ge));
    }
}

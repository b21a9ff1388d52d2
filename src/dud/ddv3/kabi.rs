//! The RPM's kABI pins (`Requires: kernel(sym) = 0xCRC`) against the CRCs the media
//! kernel exports: what dnf on the installed system decides about the package.

use std::collections::HashMap;

use super::finding::{Finding, Severity};
use crate::dud::rpm::KmodRpm;

/// Checks the RPM's kABI pins (`Requires: kernel(sym) = 0xCRC`) against the CRCs the ISO
/// kernel exports. A mismatch means dnf on the installed system cannot satisfy the
/// package's dependencies (the install of the kmod fails).
pub fn kabi_findings(rpm: &KmodRpm, kernel_exports: &HashMap<String, u32>) -> Vec<Finding> {
    let name = Some(rpm.file_name.as_str());
    let mut missing = Vec::new();
    let mut differ = Vec::new();
    let mut total = 0usize;
    for (sym, want) in rpm.kabi_requires() {
        total += 1;
        match kernel_exports.get(sym) {
            None => missing.push(sym.to_owned()),
            Some(have) if *have != want => differ.push(format!(
                "{sym} (wants 0x{want:08x}, kernel has 0x{have:08x})"
            )),
            Some(_) => {}
        }
    }
    if total == 0 {
        return vec![Finding::new(
            Severity::Warn,
            name,
            format!(
                "{} has no kABI requirements (`Requires: kernel(sym) = 0xCRC`); only the module itself can be checked",
                rpm.nvra()
            ),
            None,
        )];
    }
    let mut out = Vec::new();
    let bad = missing.len() + differ.len();
    if bad == 0 {
        out.push(Finding::new(
            Severity::Ok,
            name,
            format!(
                "all {total} kABI requirements of {} match the kernel's exported symbol CRCs",
                rpm.nvra()
            ),
            None,
        ));
        return out;
    }
    let mut parts = Vec::new();
    if !differ.is_empty() {
        parts.push(format!(
            "{} with another CRC: {}{}",
            differ.len(),
            differ
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if differ.len() > 5 { ", ..." } else { "" }
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "{} not exported: {}{}",
            missing.len(),
            missing
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        ));
    }
    out.push(Finding::new(
        Severity::Refused,
        name,
        format!(
            "{bad} of {total} kABI requirements of {} are not met by the kernel ({}); dnf on the installed system would refuse the package",
            rpm.nvra(),
            parts.join("; ")
        ),
        Some("use the kmod build made for this exact kernel (e.g. the ELRepo el9_N build matching the media)".into()),
    ));
    out
}

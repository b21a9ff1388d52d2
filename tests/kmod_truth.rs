//! Ground truth: boot the real Debian 6.1.0-50 kernel in QEMU, insmod every case module,
//! and assert that `kmod::verdict::check` predicted what the kernel did — outcome and the
//! first kernel message. Secure Boot is simulated with `module.sig_enforce=1` (the same
//! enforcement `efi: lockdown` turns on; testing-notes.md shows Debian under real Secure Boot
//! has `sig_enforce=Y` and prints the same messages).
//!
//! Needs `scripts/build-kmod-fixtures.sh` (run automatically, cached) and qemu-system-x86.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::path::{Path, PathBuf};

use common::direct_boot::{boot, BootCase, CaseResult};
use remaster::kmod::kernel::Kernel;
use remaster::kmod::module::Module;
use remaster::kmod::verdict::{check, Outcome, SecureBoot, Target};

const KVER: &str = "6.1.0-50-amd64";

fn fixtures() -> PathBuf {
    common::fixtures::kmod_fixtures()
}

struct Case {
    name: &'static str,
    /// Dependencies from the target tree inserted before the case module (paths below
    /// lib/modules/<kver>/kernel/).
    deps: &'static [&'static str],
    /// The case module, in cases/.
    file: &'static str,
}

/// Order matters: dependencies loaded by an earlier case stay loaded.
const CASES: &[Case] = &[
    Case {
        name: "mpt3sas from the other build",
        deps: &[
            "drivers/scsi/scsi_common.ko",
            "drivers/scsi/scsi_mod.ko",
            "drivers/scsi/raid_class.ko",
            "drivers/scsi/scsi_transport_sas.ko",
        ],
        file: "mpt3sas_other.ko",
    },
    Case {
        name: "mpt3sas from the same build",
        deps: &[],
        file: "mpt3sas_same.ko",
    },
    Case {
        name: "mptsas without mptscsih/mptbase",
        deps: &[],
        file: "mptsas_nodeps.ko",
    },
    Case {
        name: "out-of-tree module built against the other headers",
        deps: &[],
        file: "tiny_other.ko",
    },
    Case {
        name: "other-headers module without __versions",
        deps: &[],
        file: "tiny_nover_other.ko",
    },
    Case {
        name: "GPL-only export used by a BSD-licensed module",
        deps: &[],
        file: "tiny_gpl_bsd.ko",
    },
    Case {
        name: "namespaced export without import_ns",
        deps: &[],
        file: "tiny_ns.ko",
    },
    Case {
        name: "wrong architecture (i386 object)",
        deps: &[],
        file: "wrong_arch.ko",
    },
    Case {
        name: "unsigned out-of-tree module for this kernel",
        deps: &[],
        file: "tiny_same.ko",
    },
    Case {
        name: "signed with a throwaway key",
        deps: &[],
        file: "tiny_signed.ko",
    },
    Case {
        name: "Debian-signed module changed after signing",
        deps: &[],
        file: "megaraid_sas_tampered.ko",
    },
];

fn read_module(path: &Path) -> Module {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Module::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_taint_noise(line: &str) -> bool {
    line.contains("taints kernel")
        || line.contains("tainting kernel")
        || line.contains("kernel tainted")
        || line.starts_with("Disabling lock debugging due to kernel taint")
        || line.starts_with("tiny: loaded")
}

/// Runs all cases under one Secure Boot setting and compares with `check`.
fn run(secure_boot: SecureBoot, append: &str, tag: &str) {
    let kmod = fixtures();
    let tree = kmod.join(format!("kernel/{KVER}/lib/modules/{KVER}/kernel"));
    let vmlinuz = kmod.join(format!("kernel/{KVER}/boot/vmlinuz-{KVER}"));
    let kernel = Kernel::parse(&std::fs::read(&vmlinuz).expect("vmlinuz")).expect("kernel");

    let mut boot_cases = Vec::new();
    for case in CASES {
        let file = kmod.join("cases").join(case.file);
        let module = read_module(&file);
        let mut files: Vec<PathBuf> = case.deps.iter().map(|d| tree.join(d)).collect();
        files.push(file);
        boot_cases.push(BootCase {
            name: case.name.to_string(),
            files,
            module_name: module.name.clone().unwrap_or_else(|| "none".into()),
        });
    }
    let work = tempfile::Builder::new()
        .prefix(&format!("kmod-truth-{tag}-"))
        .tempdir()
        .unwrap();
    let results = boot(
        &vmlinuz,
        &kmod.join("initrd-base"),
        &boot_cases,
        append,
        work.path(),
    )
    .unwrap_or_else(|e| panic!("QEMU boot ({tag}): {e}"));
    assert_eq!(results.len(), CASES.len(), "every case ran: {results:#?}");

    // The modules loaded so far form the target's module set, as they would in an initrd.
    let mut loaded: Vec<Module> = Vec::new();
    let mut report = String::new();
    let mut failures = Vec::new();
    for (case, result) in CASES.iter().zip(&results) {
        for dep in case.deps {
            loaded.push(read_module(&tree.join(dep)));
        }
        let module = read_module(&kmod.join("cases").join(case.file));
        let target = Target::new(kernel.clone(), loaded.clone());
        let verdict = check(&module, &target, secure_boot);
        let truth = describe(result);
        report.push_str(&format!(
            "[{tag}] {}: kernel: {truth}\n[{tag}] {}: predicted: {:?}\n",
            case.name, case.name, verdict.outcome
        ));
        if let Err(why) = compare(&verdict.outcome, result) {
            failures.push(format!(
                "{}: {why}\n  truth: {truth}\n  summary: {}",
                case.name, verdict.summary
            ));
            continue;
        }
        let refusal_lines: Vec<String> = result
            .kernel_lines
            .iter()
            .filter(|l| !is_taint_noise(l))
            .cloned()
            .collect();
        let expected = verdict.expected_kernel_log();
        if !expected.is_empty() && refusal_lines != expected {
            let why = format!("kernel log {refusal_lines:?} != predicted {expected:?}");
            failures.push(format!(
                "{}: {why}\n  truth: {truth}\n  summary: {}",
                case.name, verdict.summary
            ));
        }
    }
    eprintln!("{report}");
    assert!(
        failures.is_empty(),
        "predictions differ from the kernel:\n{}",
        failures.join("\n")
    );
}

fn describe(r: &CaseResult) -> String {
    let (file, rc, out) = r.last_insmod().cloned().unwrap_or_default();
    format!(
        "{file} rc={rc} loaded={} insmod=\"{out}\" log={:?}",
        r.loaded, r.kernel_lines
    )
}

fn compare(predicted: &Outcome, r: &CaseResult) -> Result<(), String> {
    let (_, rc, out) = r.last_insmod().cloned().ok_or("no insmod ran")?;
    let first = r.kernel_lines.iter().find(|l| !is_taint_noise(l)).cloned();
    match predicted {
        Outcome::Loads => {
            if rc != 0 || !r.loaded {
                return Err(format!("predicted Loads, insmod rc={rc}: {out}"));
            }
            Ok(())
        }
        Outcome::Refused {
            message,
            insmod_error,
            ..
        } => {
            if rc == 0 || r.loaded {
                return Err(format!("predicted refusal ({message}), but it loaded"));
            }
            // An empty message: the kernel refuses without logging (pr_devel only).
            let expected_first = (!message.is_empty()).then_some(message.as_str());
            if first.as_deref() != expected_first {
                return Err(format!(
                    "predicted first message {message:?}, kernel said {first:?}"
                ));
            }
            if !out.contains(insmod_error.as_str()) {
                return Err(format!(
                    "predicted insmod error {insmod_error:?}, got {out:?}"
                ));
            }
            Ok(())
        }
        Outcome::LoadsOnlyWithoutSecureBoot { .. } => {
            Err("check with a definite Secure Boot setting must not be conditional".into())
        }
    }
}

#[test]
fn kernel_agrees_with_check_secure_boot_off() {
    run(SecureBoot::Off, "", "sb-off");
}

#[test]
fn kernel_agrees_with_check_secure_boot_on() {
    run(SecureBoot::On, "module.sig_enforce=1", "sb-on");
}

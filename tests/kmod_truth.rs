//! Ground truth: boot the real Debian 6.1.0-50 kernel in QEMU, insmod every case module,
//! and assert that `kmod::verdict::check` predicted what the kernel did — outcome and the
//! first kernel message. Secure Boot is simulated with `module.sig_enforce=1` (the same
//! enforcement `efi: lockdown` turns on; Debian under real Secure Boot has
//! `sig_enforce=Y` and prints the same messages, as tests/boot_matrix.rs's Secure Boot run
//! shows).
//!
//! Needs `scripts/build-kmod-fixtures.sh` (run automatically, cached) and qemu-system-x86.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::path::{Path, PathBuf};

use common::direct_boot::{boot, BootCase, CaseResult};
use remaster::kmod::kernel::Kernel;
use remaster::kmod::module::Module;
use remaster::kmod::verdict::{check, Outcome, SecureBoot, Target};

/// A kernel under test: its release and the directory of its case modules.
struct KernelUnderTest {
    kver: &'static str,
    cases_dir: &'static str,
    cases: &'static [Case],
}

const DEBIAN_6_1: KernelUnderTest = KernelUnderTest {
    kver: "6.1.0-50-amd64",
    cases_dir: "cases",
    cases: CASES_6_1,
};

/// lib.sh's EL10_KVER: Debian's 6.12, the base of EL10.
const DEBIAN_6_12: KernelUnderTest = KernelUnderTest {
    kver: "6.12.118+deb12-amd64",
    cases_dir: "cases-el10",
    cases: CASES_6_12,
};

fn fixtures() -> PathBuf {
    common::fixtures::kmod_fixtures()
}

struct Case {
    name: &'static str,
    /// For 6.12: the first line of the kernel's refusal (taint lines aside) with Secure
    /// Boot off and on, as 6.12.118 printed it; "" when it loaded the module or refused it
    /// without a line. Checked against the boot, independently of remaster's prediction,
    /// so that a change in the kernel's wording shows.
    printed: Option<[&'static str; 2]>,
    /// Dependencies from the target tree inserted before the case module (paths below
    /// lib/modules/<kver>/kernel/).
    deps: &'static [&'static str],
    /// The case module, in the target's cases directory.
    file: &'static str,
}

/// Order matters: dependencies loaded by an earlier case stay loaded.
const CASES_6_1: &[Case] = &[
    Case {
        printed: None,
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
        printed: None,
        name: "mpt3sas from the same build",
        deps: &[],
        file: "mpt3sas_same.ko",
    },
    Case {
        printed: None,
        name: "mptsas without mptscsih/mptbase",
        deps: &[],
        file: "mptsas_nodeps.ko",
    },
    Case {
        printed: None,
        name: "out-of-tree module built against the other headers",
        deps: &[],
        file: "tiny_other.ko",
    },
    Case {
        printed: None,
        name: "other-headers module without __versions",
        deps: &[],
        file: "tiny_nover_other.ko",
    },
    Case {
        printed: None,
        name: "GPL-only export used by a BSD-licensed module",
        deps: &[],
        file: "tiny_gpl_bsd.ko",
    },
    Case {
        printed: None,
        name: "namespaced export without import_ns",
        deps: &[],
        file: "tiny_ns.ko",
    },
    Case {
        printed: None,
        name: "wrong architecture (i386 object)",
        deps: &[],
        file: "wrong_arch.ko",
    },
    Case {
        printed: None,
        name: "unsigned out-of-tree module for this kernel",
        deps: &[],
        file: "tiny_same.ko",
    },
    Case {
        printed: None,
        name: "signed with a throwaway key",
        deps: &[],
        file: "tiny_signed.ko",
    },
    Case {
        printed: None,
        name: "Debian-signed module changed after signing",
        deps: &[],
        file: "megaraid_sas_tampered.ko",
    },
    Case {
        printed: None,
        name: "signed by openssl cms (authenticated attributes, S/MIME capabilities)",
        deps: &[],
        file: "tiny_authattrs.ko",
    },
    Case {
        printed: None,
        name: "signed by openssl cms -nosmimecap (authenticated attributes)",
        deps: &[],
        file: "tiny_authattrs_nocaps.ko",
    },
];

/// 6.12: modules ship as .ko.xz (insmod decompresses them; the kernel checks the module
/// inside, which is what was signed).
const CASES_6_12: &[Case] = &[
    Case {
        name: "mpt3sas from the other 6.12 build (6.12.117)",
        printed: Some([
            "",
            "Loading of module with unavailable key is rejected",
        ]),
        deps: &[
            "drivers/scsi/scsi_common.ko.xz",
            "drivers/scsi/scsi_mod.ko.xz",
            "drivers/scsi/raid_class.ko.xz",
            "drivers/scsi/scsi_transport_sas.ko.xz",
        ],
        file: "mpt3sas_other.ko.xz",
    },
    Case {
        name: "mpt3sas built for 6.1 (another struct module)",
        printed: Some([
            "module mpt3sas: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time",
            "Loading of module with unavailable key is rejected",
        ]),
        deps: &[],
        file: "../cases/mpt3sas_same.ko",
    },
    Case {
        name: "mpt3sas as shipped (ECDSA P-384 signature)",
        printed: Some([
            "",
            "",
        ]),
        deps: &[],
        file: "mpt3sas_same.ko.xz",
    },
    Case {
        name: "megaraid_sas as shipped (ECDSA P-384 signature)",
        printed: Some([
            "",
            "",
        ]),
        deps: &[],
        file: "megaraid_sas_same.ko",
    },
    Case {
        name: "megaraid_sas changed after signing",
        printed: Some([
            "",
            "",
        ]),
        deps: &[],
        file: "megaraid_sas_tampered.ko",
    },
    Case {
        name: "mptsas without mptscsih/mptbase",
        printed: Some([
            "mptsas: Unknown symbol mpt_put_msg_frame_hi_pri (err -2)",
            "mptsas: Unknown symbol mpt_put_msg_frame_hi_pri (err -2)",
        ]),
        deps: &[],
        file: "mptsas_nodeps.ko.xz",
    },
    Case {
        name: "out-of-tree module built against the other 6.12 headers",
        printed: Some([
            "",
            "Loading of unsigned module is rejected",
        ]),
        deps: &[],
        file: "tiny_other.ko",
    },
    Case {
        name: "other-headers module without __versions",
        printed: Some([
            "tiny: version magic '6.12.117+deb12-amd64 SMP preempt mod_unload modversions ' should be '6.12.118+deb12-amd64 SMP preempt mod_unload modversions '",
            "Loading of unsigned module is rejected",
        ]),
        deps: &[],
        file: "tiny_nover_other.ko",
    },
    Case {
        name: "unsigned out-of-tree module for this kernel",
        printed: Some([
            "",
            "Loading of unsigned module is rejected",
        ]),
        deps: &[],
        file: "tiny_same.ko",
    },
    Case {
        name: "signed with a throwaway P-384 key",
        printed: Some([
            "",
            "Loading of module with unavailable key is rejected",
        ]),
        deps: &[],
        file: "tiny_signed_ec.ko",
    },
    Case {
        name: "signed by openssl cms (authenticated attributes, S/MIME capabilities)",
        printed: Some([
            "PKCS7: S/MIME Caps only allowed with Authenticode",
            "PKCS7: S/MIME Caps only allowed with Authenticode",
        ]),
        deps: &[],
        file: "tiny_authattrs.ko",
    },
    Case {
        name: "signed by openssl cms -nosmimecap (authenticated attributes)",
        printed: Some([
            "PKCS7: Invalid module sig (has authattrs)",
            "PKCS7: Invalid module sig (has authattrs)",
        ]),
        deps: &[],
        file: "tiny_authattrs_nocaps.ko",
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
        // Unrelated to the module: TCG under load makes the clock watchdog speak up.
        || line.starts_with("clocksource: ")
}

/// Runs all cases of `under` in one boot with one Secure Boot setting and compares with
/// `check`.
fn run(under: &KernelUnderTest, secure_boot: SecureBoot, append: &str, tag: &str) {
    let kmod = fixtures();
    let kver = under.kver;
    let cases_dir = kmod.join(under.cases_dir);
    let tree = kmod.join(format!("kernel/{kver}/lib/modules/{kver}/kernel"));
    let vmlinuz = kmod.join(format!("kernel/{kver}/boot/vmlinuz-{kver}"));
    let kernel = Kernel::parse(&std::fs::read(&vmlinuz).expect("vmlinuz")).expect("kernel");

    let mut boot_cases = Vec::new();
    for case in under.cases {
        let file = cases_dir.join(case.file);
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
    assert_eq!(
        results.len(),
        under.cases.len(),
        "every case ran: {results:#?}"
    );

    // The modules loaded so far form the target's module set, as they would in an initrd.
    let mut loaded: Vec<Module> = Vec::new();
    let mut report = String::new();
    let mut failures = Vec::new();
    for (case, result) in under.cases.iter().zip(&results) {
        for dep in case.deps {
            loaded.push(read_module(&tree.join(dep)));
        }
        let module = read_module(&cases_dir.join(case.file));
        let target = Target::new(kernel.clone(), loaded.clone());
        let verdict = check(&module, &target, secure_boot);
        let truth = describe(result);
        report.push_str(&format!(
            "[{tag}] {}: kernel: {truth}\n[{tag}] {}: predicted: {:?}\n",
            case.name, case.name, verdict.outcome
        ));
        let first = match result.loaded {
            true => "",
            false => result
                .kernel_lines
                .iter()
                .find(|l| !is_taint_noise(l))
                .map_or("", String::as_str),
        };
        if let Some(printed) = case.printed {
            let recorded = printed[usize::from(secure_boot == SecureBoot::On)];
            if first != recorded {
                failures.push(format!(
                    "{}: the kernel printed {first:?}, recorded here as {recorded:?}",
                    case.name
                ));
            }
        }
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

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn kernel_agrees_with_check_secure_boot_off() {
    run(&DEBIAN_6_1, SecureBoot::Off, "", "sb-off");
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn kernel_agrees_with_check_secure_boot_on() {
    run(&DEBIAN_6_1, SecureBoot::On, "module.sig_enforce=1", "sb-on");
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn kernel_6_12_agrees_with_check_secure_boot_off() {
    run(&DEBIAN_6_12, SecureBoot::Off, "", "6.12-sb-off");
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn kernel_6_12_agrees_with_check_secure_boot_on() {
    run(
        &DEBIAN_6_12,
        SecureBoot::On,
        "module.sig_enforce=1",
        "6.12-sb-on",
    );
}

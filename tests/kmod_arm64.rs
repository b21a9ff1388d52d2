//! arm64 kernels and modules, on Debian's real arm64 packages (scripts/build-kmod-fixtures-arm64.sh):
//! the reader finds what the kernel's own build records say (banner, `Module.symvers`, the
//! signing key of its modules) in the Image, its gzip'd form and an EFI zboot wrapping; the
//! verdict accepts the same build and refuses another build, a module without `__versions`
//! from another build and modules of the other architecture (both ways), each for the
//! kernel's reason. The full tier boots the arm64 kernel in qemu-system-aarch64 (TCG) and
//! checks every verdict against what the kernel really did, recording its messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::direct_boot::{boot_on, BootCase, CaseResult, AARCH64};
use remaster::codec::Codec;
use remaster::kmod::kernel::{read_header, read_header_from, ImageFormat, Kernel, KernelArch};
use remaster::kmod::module::Module;
use remaster::kmod::verdict::{check, Check, Outcome, SecureBoot, Target};

const KVER: &str = "6.1.0-50-arm64";
const OTHER_KVER: &str = "6.1.0-47-arm64";

fn fx() -> PathBuf {
    common::fixtures::kmod_arm64_fixtures()
}

fn image_path() -> PathBuf {
    fx().join(format!("kernel/{KVER}/boot/vmlinuz-{KVER}"))
}

fn tree(kver: &str) -> PathBuf {
    fx().join(format!("kernel/{kver}/lib/modules/{kver}/kernel"))
}

fn kernel() -> &'static Kernel {
    static K: OnceLock<Kernel> = OnceLock::new();
    K.get_or_init(|| Kernel::parse(&std::fs::read(image_path()).unwrap()).unwrap())
}

fn module(path: &Path) -> Module {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Module::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn case(name: &str) -> Module {
    module(&fx().join("cases").join(name))
}

const DEPS: &[&str] = &[
    "drivers/scsi/scsi_common.ko",
    "drivers/scsi/scsi_mod.ko",
    "drivers/scsi/raid_class.ko",
    "drivers/scsi/scsi_transport_sas.ko",
];

fn target() -> Target {
    let deps = DEPS.iter().map(|d| module(&tree(KVER).join(d))).collect();
    Target::new(kernel().clone(), deps)
}

/// `Module.symvers` of the kernel's build (linux-headers): vmlinux's exports.
fn symvers() -> HashMap<String, (u32, bool)> {
    std::fs::read_to_string(fx().join("Module.symvers"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.get(2) == Some(&"vmlinux")).then(|| {
                let crc = u32::from_str_radix(f[0].trim_start_matches("0x"), 16).unwrap();
                (f[1].to_string(), (crc, f[3].ends_with("_GPL")))
            })
        })
        .collect()
}

#[test]
fn reads_release_banner_and_vermagic_from_the_image() {
    let k = kernel();
    let h = &k.header;
    assert_eq!(h.release, KVER);
    assert_eq!(h.arch, KernelArch::Aarch64);
    assert_eq!(h.format, ImageFormat::Arm64Image);
    assert_eq!(h.compression, Codec::None);
    // Oracle: the banner as `strings` shows it (the numbered one, as /proc/version).
    let strings = std::process::Command::new("strings")
        .args(["-n", "20"])
        .arg(image_path())
        .output()
        .unwrap();
    let banner = format!("Linux version {}", h.version_string);
    assert!(
        String::from_utf8_lossy(&strings.stdout)
            .lines()
            .any(|l| l == banner),
        "{banner}"
    );
    assert!(
        h.version_string.contains(" #1 SMP Debian"),
        "{}",
        h.version_string
    );
    // Oracle: modinfo of a module of the same build.
    let modinfo = std::process::Command::new("modinfo")
        .args(["-F", "vermagic"])
        .arg(fx().join("cases/mpt3sas_same.ko"))
        .output()
        .unwrap();
    assert_eq!(
        k.vermagic.as_deref().map(str::trim_end),
        Some(String::from_utf8_lossy(&modinfo.stdout).trim_end())
    );
}

#[test]
fn exports_and_crcs_equal_module_symvers() {
    let k = kernel();
    let symvers = symvers();
    assert!(k.modversions);
    assert_eq!(k.export_count, symvers.len());
    for (name, (crc, gpl)) in &symvers {
        let e = k.export(name).unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(e.crc, Some(*crc), "{name}");
        assert_eq!(e.gpl_only, *gpl, "{name}");
    }
    assert_eq!(k.module_layout_crc, Some(symvers["module_layout"].0));
    // And the CRCs a module of the same build recorded in its __versions.
    let m = case("mpt3sas_same.ko");
    for v in m.versions.as_ref().unwrap() {
        if let Some(e) = k.export(&v.name) {
            assert_eq!(e.crc, Some(v.crc), "{}", v.name);
        }
    }
}

#[test]
fn builtin_key_is_the_one_its_modules_are_signed_with() {
    let k = kernel();
    // Only the build key is built in; the Authenticode signature's certificate (Debian's
    // Secure Boot signer, at the end of the signed Image) is not a module key.
    let subjects: Vec<&str> = k.trusted_certs.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects, vec!["CN=Build time autogenerated kernel key"]);
    // Oracle: the key serial modinfo reads from the module's signature.
    let modinfo = std::process::Command::new("modinfo")
        .args(["-F", "sig_key"])
        .arg(fx().join("cases/mpt3sas_same.ko"))
        .output()
        .unwrap();
    assert_eq!(
        k.trusted_certs[0].serial,
        String::from_utf8_lossy(&modinfo.stdout).trim()
    );
}

#[test]
fn gzip_and_zboot_forms_read_the_same() {
    let k = kernel();
    for (file, format, offset) in [
        ("vmlinuz.gz", ImageFormat::Arm64Compressed, 0usize),
        ("vmlinuz.zboot", ImageFormat::EfiZboot, 0x1000),
    ] {
        let bytes = std::fs::read(fx().join(file)).unwrap();
        let other = Kernel::parse(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(other.header.format, format, "{file}");
        assert_eq!(other.header.compression, Codec::Gzip, "{file}");
        assert_eq!(other.header.payload_offset, offset, "{file}");
        assert_eq!(other.header.release, KVER);
        assert_eq!(other.header.version_string, k.header.version_string);
        assert_eq!(other.export_count, k.export_count);
        assert_eq!(other.module_layout_crc, k.module_layout_crc);
        assert_eq!(other.trusted_certs, k.trusted_certs);
        // The header readers (in memory and streamed) agree with the full parse.
        assert_eq!(read_header(&bytes).unwrap(), other.header, "{file}");
        let (h, _) = read_header_from(std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(h, other.header, "{file}");
    }
    let image = std::fs::read(image_path()).unwrap();
    let (h, read) = read_header_from(std::io::Cursor::new(&image), image.len() as u64).unwrap();
    assert_eq!(h, k.header);
    assert!(read < image.len() as u64, "stops at the banner: {read}");
}

#[test]
fn damaged_arm64_kernels_are_one_line_errors() {
    let gz = std::fs::read(fx().join("vmlinuz.gz")).unwrap();
    let zboot = std::fs::read(fx().join("vmlinuz.zboot")).unwrap();
    let image = std::fs::read(image_path()).unwrap();
    let mut bad_zboot = zboot.clone();
    bad_zboot[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut unknown = zboot.clone();
    unknown[0x1000..0x1004].copy_from_slice(b"ABCD");
    let mut no_tables = image[..0x10000].to_vec();
    no_tables.extend_from_slice(b"\0Linux version 9.9 (x) #1 SMP\n\0");
    for (what, bytes, want) in [
        ("truncated gzip", &gz[..gz.len() / 2], "gzip"),
        ("zboot size past the end", &bad_zboot[..], "outside"),
        (
            "zboot payload of unknown compression",
            &unknown[..],
            "unknown compression",
        ),
        (
            "Image without export tables",
            &no_tables[..],
            "no export table",
        ),
        ("Image cut before its banner", &image[..0x100000], "banner"),
    ] {
        let e = Kernel::parse(bytes).unwrap_err().to_string();
        assert!(e.contains(want), "{what}: {e}");
        assert!(!e.contains('\n'), "{what}: {e}");
    }
}

#[test]
fn verdicts_on_the_arm64_kernel() {
    let t = target();
    let same = check(&case("mpt3sas_same.ko"), &t, SecureBoot::On);
    assert!(same.loads(), "{}", same.summary);
    assert!(same.warnings.is_empty(), "{:?}", same.warnings);

    let other = check(&case("mpt3sas_other.ko"), &t, SecureBoot::Off);
    assert_refused(
        &other,
        "mpt3sas: disagrees about version of symbol module_layout",
        Check::ModuleLayout,
    );

    let bad = check(&case("mpt3sas_badreloc.ko"), &t, SecureBoot::Off);
    assert_refused(
        &bad,
        "module mpt3sas: unsupported RELA relocation: 549",
        Check::Relocation,
    );
    // Every relocation type Debian's modules use is one the loader applies.
    for m in ["mpt3sas_same.ko", "mpt3sas_nover_same.ko"] {
        let types = &case(m).relocation_types;
        assert!(types.len() > 3, "{types:?}");
        assert!(
            types
                .iter()
                .all(|t| t.rela && KernelArch::Aarch64.knows_rela(t.r_type)),
            "{m}: {types:?}"
        );
    }

    let nover = check(&case("mpt3sas_nover_other.ko"), &t, SecureBoot::Off);
    assert_refused(
        &nover,
        &format!(
            "mpt3sas: version magic '{OTHER_KVER} SMP mod_unload modversions aarch64' should be \
             '{KVER} SMP mod_unload modversions aarch64'"
        ),
        Check::Vermagic,
    );
}

#[test]
fn modules_of_the_other_architecture_are_refused_first_for_it() {
    // x86_64 module on the arm64 kernel, and the arm64 module on the x86_64 kernel.
    let x86_module = case("mpt3sas_x86_64.ko");
    assert_eq!(x86_module.elf.machine, 62);
    let v = check(&x86_module, &target(), SecureBoot::Off);
    assert_refused(
        &v,
        "Invalid architecture in ELF header: 62",
        Check::ElfHeader,
    );
    assert!(
        v.summary
            .contains("the module is ELF64 x86-64, the kernel (6.1.0-50-arm64) is ELF64 aarch64"),
        "{}",
        v.summary
    );
    assert!(
        v.summary
            .ends_with("Use a kernel module built for aarch64."),
        "{}",
        v.summary
    );
    // Under Secure Boot the kernel's first line is the signature's (its check runs first),
    // but the reason given is still the architecture.
    let v = check(&x86_module, &target(), SecureBoot::On);
    let Outcome::Refused {
        message, reason, ..
    } = &v.outcome
    else {
        panic!("{}", v.summary)
    };
    assert_eq!(
        message,
        "Loading of module with unavailable key is rejected"
    );
    assert!(reason.starts_with("the module is ELF64 x86-64"), "{reason}");

    let x86 = Kernel::parse(&std::fs::read(fx().join("x86/vmlinuz")).unwrap()).unwrap();
    assert_eq!(x86.arch(), KernelArch::X86_64);
    let arm_module = case("mpt3sas_same.ko");
    let v = check(&arm_module, &Target::new(x86, Vec::new()), SecureBoot::Off);
    assert_refused(
        &v,
        "Invalid architecture in ELF header: 183",
        Check::ElfHeader,
    );
    assert!(
        v.summary.ends_with("Use a kernel module built for x86_64."),
        "{}",
        v.summary
    );
}

fn assert_refused(v: &remaster::kmod::verdict::Verdict, first: &str, why: Check) {
    match &v.outcome {
        Outcome::Refused {
            message,
            insmod_error,
            errno,
            ..
        } => {
            assert_eq!(message, first, "{}", v.summary);
            assert_eq!(insmod_error, "Invalid module format", "{}", v.summary);
            assert_eq!(*errno, -8);
        }
        other => panic!("expected a refusal, got {other:?}: {}", v.summary),
    }
    assert_eq!(
        v.problems.iter().find(|p| p.fatal).map(|p| p.check),
        Some(why)
    );
}

// ------------------------------------------------------------------ ground truth in QEMU

struct Case {
    name: &'static str,
    file: &'static str,
    deps: &'static [&'static str],
    /// What the arm64 6.1.0-50 kernel printed first (taint lines aside), Secure Boot off
    /// and on (`module.sig_enforce=1`); "" when it loaded the module.
    printed: [&'static str; 2],
}

/// Order matters: dependencies loaded by an earlier case stay loaded.
const CASES: &[Case] = &[
    Case {
        name: "mpt3sas from the same build (Debian-signed)",
        file: "mpt3sas_same.ko",
        deps: DEPS,
        printed: ["", ""],
    },
    Case {
        name: "mpt3sas from another build (6.1.0-47-arm64)",
        file: "mpt3sas_other.ko",
        deps: &[],
        // Each Debian build signs with its own throwaway build key.
        printed: [
            "mpt3sas: disagrees about version of symbol module_layout",
            "Loading of module with unavailable key is rejected",
        ],
    },
    Case {
        name: "mpt3sas from another build, __versions stripped",
        file: "mpt3sas_nover_other.ko",
        deps: &[],
        printed: [
            "mpt3sas: version magic '6.1.0-47-arm64 SMP mod_unload modversions aarch64' should be '6.1.0-50-arm64 SMP mod_unload modversions aarch64'",
            "Loading of unsigned module is rejected",
        ],
    },
    Case {
        name: "mpt3sas from the same build, __versions stripped",
        file: "mpt3sas_nover_same.ko",
        deps: &[],
        printed: ["", "Loading of unsigned module is rejected"],
    },
    Case {
        name: "mpt3sas with a relocation type arm64 does not apply",
        file: "mpt3sas_badreloc.ko",
        deps: &[],
        printed: [
            "module mpt3sas: unsupported RELA relocation: 549",
            "Loading of unsigned module is rejected",
        ],
    },
    Case {
        name: "mpt3sas for x86_64",
        file: "mpt3sas_x86_64.ko",
        deps: &[],
        printed: [
            "Invalid architecture in ELF header: 62",
            "Loading of module with unavailable key is rejected",
        ],
    },
];

fn is_noise(line: &str) -> bool {
    line.contains("taints kernel")
        || line.contains("tainting kernel")
        || line.contains("kernel tainted")
        || line.starts_with("Disabling lock debugging due to kernel taint")
        || line.starts_with("clocksource: ")
        || line.starts_with("mpt3sas version")
        || line.starts_with("raid_class")
}

fn run(secure_boot: SecureBoot, append: &str, tag: &str) {
    let kver_tree = tree(KVER);
    let cases: Vec<BootCase> = CASES
        .iter()
        .map(|c| {
            let mut files: Vec<PathBuf> = c.deps.iter().map(|d| kver_tree.join(d)).collect();
            files.push(fx().join("cases").join(c.file));
            BootCase {
                name: c.name.into(),
                files,
                module_name: "mpt3sas".into(),
            }
        })
        .collect();
    let work = tempfile::Builder::new()
        .prefix(&format!("kmod-arm64-{tag}-"))
        .tempdir()
        .unwrap();
    let start = std::time::Instant::now();
    let results = boot_on(
        &AARCH64,
        &image_path(),
        &fx().join("initrd-base"),
        &cases,
        append,
        work.path(),
    )
    .unwrap_or_else(|e| panic!("QEMU arm64 boot ({tag}): {e}"));
    eprintln!("[{tag}] boot took {:.1} s", start.elapsed().as_secs_f64());
    assert_eq!(results.len(), CASES.len(), "every case ran: {results:#?}");
    let t = target();
    let mut failures = Vec::new();
    for (c, r) in CASES.iter().zip(&results) {
        let v = check(&case(c.file), &t, secure_boot);
        let first = if r.loaded {
            ""
        } else {
            r.kernel_lines
                .iter()
                .find(|l| !is_noise(l))
                .map_or("", String::as_str)
        };
        eprintln!(
            "[{tag}] {}: kernel {:?} {:?}; predicted {}",
            c.name,
            describe(r),
            first,
            v.summary
        );
        let recorded = c.printed[usize::from(secure_boot == SecureBoot::On)];
        if first != recorded {
            failures.push(format!(
                "{}: the kernel printed {first:?}, recorded {recorded:?}",
                c.name
            ));
        }
        let predicted = match &v.outcome {
            Outcome::Loads => "",
            Outcome::Refused { message, .. } => message.as_str(),
            Outcome::LoadsOnlyWithoutSecureBoot { .. } => "conditional",
        };
        if predicted != first || v.loads() != r.loaded {
            failures.push(format!(
                "{}: predicted {predicted:?} (loads={}), kernel {first:?} (loaded={})",
                c.name,
                v.loads(),
                r.loaded
            ));
        }
        // busybox's insmod words errno in lower case ("invalid module format").
        if let (Outcome::Refused { insmod_error, .. }, Some((_, _, out))) =
            (&v.outcome, r.last_insmod())
        {
            if !out.to_lowercase().contains(&insmod_error.to_lowercase()) {
                failures.push(format!(
                    "{}: insmod said {out:?}, predicted {insmod_error:?}",
                    c.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn describe(r: &CaseResult) -> String {
    let (file, rc, out) = r.last_insmod().cloned().unwrap_or_default();
    format!(
        "{file} rc={rc} loaded={} insmod={out:?} log={:?}",
        r.loaded, r.kernel_lines
    )
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn arm64_kernel_agrees_with_check_secure_boot_off() {
    run(SecureBoot::Off, "", "sb-off");
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn arm64_kernel_agrees_with_check_secure_boot_on() {
    run(SecureBoot::On, "module.sig_enforce=1", "sb-on");
}

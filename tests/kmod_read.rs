//! Module and kernel readers against real oracles: kmod's `modinfo` and
//! `modprobe --dump-modversions`, binutils' `nm`, the kernel headers' `Module.symvers`
//! (the build's own record of every export, CRC, licence and namespace), `depmod` +
//! `modprobe --resolve-alias` for PCI alias matching; and bad input (no panics).
//!
//! Needs `scripts/build-kmod-fixtures.sh` (run automatically, cached).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use remaster::codec::Codec;
use remaster::kmod::inspect::ModuleReport;
use remaster::kmod::kernel::Kernel;
use remaster::kmod::module::Module;
use remaster::kmod::verdict::{check, modules_for_pci, Outcome, SecureBoot, Target};
use remaster::report::Report;

const KVER: &str = "6.1.0-50-amd64";

fn fixtures() -> PathBuf {
    common::fixtures::kmod_fixtures()
}

fn tree() -> PathBuf {
    fixtures().join(format!("kernel/{KVER}/lib/modules/{KVER}/kernel"))
}

fn vmlinuz_path() -> PathBuf {
    fixtures().join(format!("kernel/{KVER}/boot/vmlinuz-{KVER}"))
}

fn kernel() -> &'static Kernel {
    static K: OnceLock<Kernel> = OnceLock::new();
    K.get_or_init(|| Kernel::parse(&std::fs::read(vmlinuz_path()).unwrap()).unwrap())
}

fn module(path: &Path) -> Module {
    Module::parse(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn modinfo(path: &Path, field: &str) -> Vec<String> {
    run("modinfo", &["-F", field, path.to_str().unwrap()])
        .lines()
        .map(str::to_string)
        .collect()
}

/// A sample of real modules: SCSI/SAS stack, namespaced importers/exporters, networking.
fn sample_modules() -> Vec<PathBuf> {
    let t = tree();
    let mut v: Vec<PathBuf> = [
        "drivers/scsi/mpt3sas/mpt3sas.ko",
        "drivers/scsi/scsi_transport_sas.ko",
        "drivers/scsi/scsi_mod.ko",
        "drivers/message/fusion/mptbase.ko",
        "drivers/message/fusion/mptsas.ko",
        "drivers/usb/storage/usb-storage.ko",
        "drivers/usb/storage/uas.ko",
        "drivers/net/ethernet/intel/e1000/e1000.ko",
        "drivers/scsi/megaraid/megaraid_sas.ko",
    ]
    .iter()
    .map(|p| t.join(p))
    .collect();
    for case in [
        "tiny_same.ko",
        "tiny_other.ko",
        "tiny_signed.ko",
        "tiny_ns.ko",
        "tiny_nover_other.ko",
        "mpt3sas_other.ko",
    ] {
        v.push(fixtures().join("cases").join(case));
    }
    v
}

#[test]
fn modinfo_fields_agree_with_kmod() {
    for path in sample_modules() {
        let m = module(&path);
        let ctx = path.display().to_string();
        assert_eq!(
            modinfo(&path, "name"),
            m.name.iter().cloned().collect::<Vec<_>>(),
            "{ctx}"
        );
        assert_eq!(
            modinfo(&path, "vermagic"),
            m.vermagic.iter().cloned().collect::<Vec<_>>(),
            "{ctx}"
        );
        assert_eq!(
            modinfo(&path, "license"),
            m.license.iter().cloned().collect::<Vec<_>>(),
            "{ctx}"
        );
        assert_eq!(modinfo(&path, "alias"), m.aliases, "{ctx}");
        assert_eq!(modinfo(&path, "import_ns"), m.import_ns, "{ctx}");
        assert_eq!(modinfo(&path, "softdep"), m.softdeps, "{ctx}");
        let deps: Vec<String> = modinfo(&path, "depends")
            .iter()
            .flat_map(|d| {
                d.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(deps, m.depends, "{ctx}");
        assert_eq!(modinfo(&path, "intree") == ["Y"], m.intree, "{ctx}");
        assert_eq!(modinfo(&path, "retpoline") == ["Y"], m.retpoline, "{ctx}");
        assert_eq!(
            modinfo(&path, "srcversion"),
            m.srcversion.iter().cloned().collect::<Vec<_>>(),
            "{ctx}"
        );
        // Signature: signer (issuer CN), key serial, hash.
        let sig = m.signature.as_ref();
        assert_eq!(
            modinfo(&path, "signer"),
            sig.and_then(|s| s.issuer_cn.clone())
                .into_iter()
                .collect::<Vec<_>>(),
            "{ctx}"
        );
        assert_eq!(
            modinfo(&path, "sig_key"),
            sig.and_then(|s| s.serial.clone())
                .into_iter()
                .collect::<Vec<_>>(),
            "{ctx}"
        );
        assert_eq!(
            modinfo(&path, "sig_hashalgo"),
            sig.map(|s| s.hash_algorithm.clone())
                .into_iter()
                .collect::<Vec<_>>(),
            "{ctx}"
        );

        // __versions vs modprobe --dump-modversions.
        let dumped: Vec<(u32, String)> =
            run("modprobe", &["--dump-modversions", path.to_str().unwrap()])
                .lines()
                .filter_map(|l| {
                    let (crc, name) = l.split_once('\t')?;
                    Some((
                        u32::from_str_radix(crc.trim_start_matches("0x"), 16).ok()?,
                        name.to_string(),
                    ))
                })
                .collect();
        let ours: Vec<(u32, String)> = m
            .versions
            .iter()
            .flatten()
            .map(|v| (v.crc, v.name.clone()))
            .collect();
        assert_eq!(dumped, ours, "{ctx}");

        // Undefined symbols vs nm.
        let nm: BTreeSet<String> = run("nm", &["--undefined-only", path.to_str().unwrap()])
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_string))
            .collect();
        let undef: BTreeSet<String> = m.undefined.iter().map(|u| u.name.clone()).collect();
        assert_eq!(nm, undef, "{ctx}");
        assert_eq!(m.elf.machine, 62, "{ctx}");
    }
}

/// Module.symvers lines: crc, symbol, module path, export type, namespace.
fn symvers() -> Vec<(u32, String, String, bool, Option<String>)> {
    let path = fixtures().join(format!(
        "headers/{KVER}/usr/src/linux-headers-{KVER}/Module.symvers"
    ));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let crc = u32::from_str_radix(f.first()?.trim_start_matches("0x"), 16).ok()?;
            Some((
                crc,
                f.get(1)?.to_string(),
                f.get(2)?.to_string(),
                *f.get(3)? == "EXPORT_SYMBOL_GPL",
                f.get(4).filter(|n| !n.is_empty()).map(|n| n.to_string()),
            ))
        })
        .collect()
}

#[test]
fn kernel_exports_agree_with_module_symvers() {
    let k = kernel();
    assert_eq!(k.release(), KVER);
    assert!(k.modversions);
    assert_eq!(
        k.vermagic.as_deref(),
        Some("6.1.0-50-amd64 SMP preempt mod_unload modversions ")
    );
    let vmlinux: Vec<_> = symvers().into_iter().filter(|s| s.2 == "vmlinux").collect();
    assert_eq!(vmlinux.len(), k.export_count, "export count");
    for (crc, name, _, gpl, ns) in &vmlinux {
        let e = k
            .export(name)
            .unwrap_or_else(|| panic!("{name} not found in the kernel image"));
        assert_eq!(e.crc, Some(*crc), "{name}");
        assert_eq!(e.gpl_only, *gpl, "{name}");
        assert_eq!(&e.namespace, ns, "{name}");
    }
    let layout = vmlinux
        .iter()
        .find(|s| s.1 == "module_layout")
        .expect("6.1 exports module_layout");
    assert_eq!(k.module_layout_crc, Some(layout.0));
    // The in-tree modules are signed with the kernel's build key, which is built in.
    let signed = module(&tree().join("drivers/scsi/mpt3sas/mpt3sas.ko"));
    let sig = signed.signature.as_ref().unwrap();
    assert!(
        k.trusted_certs.iter().any(|c| c.matches(sig)),
        "{:?}",
        k.trusted_certs
    );
}

/// Every in-tree module's signature verifies with the built-in key it names; the same
/// module changed after signing, or with a changed signature, does not (the kernel's answer
/// to those is in kmod_truth.rs).
#[test]
fn signatures_verify_with_the_built_in_key() {
    use remaster::kmod::signature::{Cryptography, SignatureCheck};
    let k = kernel();
    let mut verified = 0;
    for path in sample_modules()
        .into_iter()
        .filter(|p| p.starts_with(tree()))
    {
        let m = module(&path);
        let sig = m.signature.as_ref().expect("in-tree modules are signed");
        let cert = k
            .trusted_certs
            .iter()
            .find(|c| c.matches(sig))
            .expect("signed by a built-in key");
        assert_eq!(
            sig.verify_with(cert),
            Cryptography::Valid,
            "{}",
            path.display()
        );
        assert_eq!(
            sig.kernel_check(&k.trusted_certs, k.release()),
            SignatureCheck::Valid(cert),
            "{}",
            path.display()
        );
        verified += 1;
    }
    assert!(verified >= 5, "{verified}");

    let tampered = module(&fixtures().join("cases/megaraid_sas_tampered.ko"));
    let sig = tampered.signature.as_ref().unwrap();
    let cert = k.trusted_certs.iter().find(|c| c.matches(sig)).unwrap();
    assert!(
        matches!(sig.verify_with(cert), Cryptography::Invalid(_)),
        "a changed module must not verify"
    );

    // The signature bytes changed instead: the PKCS#7 blob sits right before the 12-byte
    // struct module_signature and the marker; its last byte is the signature's.
    let mut bytes = std::fs::read(tree().join("drivers/scsi/megaraid/megaraid_sas.ko")).unwrap();
    let last_sig_byte = bytes.len() - MODULE_SIG_TRAILER - 1;
    bytes[last_sig_byte] ^= 1;
    let changed = Module::parse(&bytes).unwrap();
    let sig = changed.signature.as_ref().unwrap();
    let cert = k.trusted_certs.iter().find(|c| c.matches(sig)).unwrap();
    assert!(matches!(sig.verify_with(cert), Cryptography::Invalid(_)));
}

/// `struct module_signature` (12 bytes) plus `~Module signature appended~\n`.
const MODULE_SIG_TRAILER: usize = 12 + 28;

#[test]
fn module_exports_agree_with_module_symvers() {
    let all = symvers();
    for (rel, symvers_name) in [
        (
            "drivers/scsi/scsi_transport_sas.ko",
            "drivers/scsi/scsi_transport_sas",
        ),
        (
            "drivers/message/fusion/mptbase.ko",
            "drivers/message/fusion/mptbase",
        ),
        (
            "drivers/usb/storage/usb-storage.ko",
            "drivers/usb/storage/usb-storage",
        ),
    ] {
        let m = module(&tree().join(rel));
        let want: BTreeMap<String, (Option<u32>, bool, Option<String>)> = all
            .iter()
            .filter(|s| s.2 == symvers_name)
            .map(|s| (s.1.clone(), (Some(s.0), s.3, s.4.clone())))
            .collect();
        let got: BTreeMap<String, (Option<u32>, bool, Option<String>)> = m
            .exports
            .iter()
            .map(|e| (e.name.clone(), (e.crc, e.gpl_only, e.namespace.clone())))
            .collect();
        assert!(!want.is_empty(), "{rel}");
        assert_eq!(got, want, "{rel}");
    }
}

#[test]
fn compressed_modules_read_the_same() {
    let plain = module(&fixtures().join("cases/tiny_same.ko"));
    for (ext, kind) in [("xz", Codec::Xz), ("zst", Codec::Zstd), ("gz", Codec::Gzip)] {
        let m = module(&fixtures().join(format!("cases/tiny_same.ko.{ext}")));
        assert_eq!(m.compression, kind);
        assert_eq!(m.modinfo, plain.modinfo);
        assert_eq!(m.versions, plain.versions);
        assert_eq!(m.undefined, plain.undefined);
    }
}

#[test]
fn pci_alias_matching_agrees_with_modprobe() {
    // depmod over a symlinked copy of the target tree → modules.alias → modprobe -R.
    let tmp = tempfile::tempdir().unwrap();
    let moddir = tmp.path().join(format!("lib/modules/{KVER}"));
    std::fs::create_dir_all(&moddir).unwrap();
    std::os::unix::fs::symlink(tree(), moddir.join("kernel")).unwrap();
    let src = fixtures().join(format!("kernel/{KVER}/lib/modules/{KVER}"));
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        std::fs::copy(src.join(f), moddir.join(f)).unwrap();
    }
    let st = Command::new("depmod")
        .arg("-b")
        .arg(tmp.path())
        .arg(KVER)
        .status()
        .unwrap();
    assert!(st.success(), "depmod");

    // Only modules with PCI aliases matter; read those.
    let mut modules = Vec::new();
    for entry in walk(&tree()) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.windows(10).any(|w| w == b"alias=pci:") {
            modules.push(Module::parse(&bytes).unwrap());
        }
    }
    for (vendor, device) in [
        (0x1000u16, 0x0072u16),
        (0x1000, 0x0073),
        (0x8086, 0x100e),
        (0x1000, 0x0030),
        (0x10ec, 0x8168),
        (0x1af4, 0x1001),
        (0x15ad, 0x07c0),
    ] {
        let ours = modules_for_pci(vendor, device, &modules);
        let modalias =
            format!("pci:v0000{vendor:04X}d0000{device:04X}sv00000000sd00000000bc00sc00i00");
        let mut theirs: Vec<String> = run(
            "modprobe",
            &[
                "-d",
                tmp.path().to_str().unwrap(),
                "-S",
                KVER,
                "-R",
                &modalias,
            ],
        )
        .lines()
        .map(|l| l.replace('-', "_"))
        .collect();
        theirs.sort();
        let ours_norm: Vec<String> = ours.iter().map(|n| n.replace('-', "_")).collect();
        assert_eq!(ours_norm, theirs, "{vendor:04x}:{device:04x}");
        assert!(!ours.is_empty(), "{vendor:04x}:{device:04x}");
    }
    assert!(modules_for_pci(0x1000, 0x0072, &modules).contains(&"mpt3sas".to_string()));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in walkdir_simple(dir) {
        if e.extension().is_some_and(|x| x == "ko") {
            out.push(e);
        }
    }
    out
}

fn walkdir_simple(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn verdicts_with_unknown_secure_boot_and_human_summary() {
    let k = kernel().clone();
    let target = Target::new(k, vec![]);
    let tiny = module(&fixtures().join("cases/tiny_same.ko"));
    let v = check(&tiny, &target, SecureBoot::Unknown);
    assert!(
        matches!(&v.outcome, Outcome::LoadsOnlyWithoutSecureBoot { message, .. } if message == "Loading of unsigned module is rejected"),
        "{:?}",
        v.outcome
    );
    let other = module(&fixtures().join("cases/tiny_other.ko"));
    let v = check(&other, &target, SecureBoot::Unknown);
    let Outcome::Refused { message, errno, .. } = &v.outcome else {
        panic!("{:?}", v.outcome)
    };
    assert_eq!(
        message,
        "tiny: disagrees about version of symbol module_layout"
    );
    assert_eq!(*errno, -8);
    let layout = kernel().module_layout_crc.unwrap();
    let theirs = other.version_of("module_layout").unwrap();
    assert_eq!(
        v.summary,
        format!(
            "tiny.ko was built for 6.1.0-47-amd64; this ISO boots 6.1.0-50-amd64: module_layout \
             CRC 0x{theirs:08x} != 0x{layout:08x} — the kernel would refuse it (Invalid module \
             format). Use a build for 6.1.0-50-amd64."
        )
    );
    let mut human = Vec::new();
    v.human(&mut human).unwrap();
    assert!(String::from_utf8(human).unwrap().starts_with(&v.summary));
    // Missing dependency is reported as such, besides the unknown symbols.
    let mptsas = module(&tree().join("drivers/message/fusion/mptsas.ko"));
    let v = check(&mptsas, &target, SecureBoot::Off);
    assert!(v
        .problems
        .iter()
        .any(|p| p.detail.contains("depends on module mptscsih")));
    // With its dependencies in the target set it loads.
    let deps = [
        "drivers/message/fusion/mptbase.ko",
        "drivers/message/fusion/mptscsih.ko",
        "drivers/scsi/scsi_transport_sas.ko",
        "drivers/scsi/scsi_mod.ko",
        "drivers/scsi/scsi_common.ko",
    ];
    let target = Target::new(
        kernel().clone(),
        deps.iter().map(|d| module(&tree().join(d))).collect(),
    );
    let v = check(&mptsas, &target, SecureBoot::On);
    assert!(v.loads(), "{:?}", v.outcome);
}

#[test]
fn inspect_report_human_and_json() {
    let m = module(&fixtures().join("cases/tiny_signed.ko"));
    let report = ModuleReport::new("tiny_signed.ko", m);
    let mut out = Vec::new();
    report.human(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("signer:      remaster throwaway test key"),
        "{text}"
    );
    assert!(
        text.contains("alias:       pci:v00001000d00000072sv*sd*bc*sc*i*"),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["name"], "tiny");
    assert_eq!(json["signature"]["hash_algorithm"], "sha256");
    assert_eq!(json["elf"]["machine"], 62);
}

/// Deterministic xorshift for mutations.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn bad_modules_give_one_line_errors() {
    let good = std::fs::read(fixtures().join("cases/tiny_signed.ko")).unwrap();
    let one_line = |r: Result<Module, remaster::kmod::KmodError>| {
        if let Err(e) = r {
            let s = e.to_string();
            assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
        }
    };
    // Not ELF.
    let e = Module::parse(b"this is a text file\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("not an ELF file"), "{e}");
    // Truncated at every 97th length (also cuts the signature trailer).
    for len in (0..good.len()).step_by(97) {
        one_line(Module::parse(&good[..len]));
    }
    // Bogus section header offset / sizes.
    let mut bogus = good.clone();
    bogus[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes()); // e_shoff
    let e = Module::parse(&bogus).unwrap_err().to_string();
    assert!(e.starts_with("malformed ELF"), "{e}");
    let shoff = u64::from_le_bytes(good[0x28..0x30].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(good[0x3c..0x3e].try_into().unwrap()) as usize;
    for i in 1..shnum {
        let mut b = good.clone();
        let at = shoff + i * 64 + 0x20; // sh_size
        b[at..at + 8].copy_from_slice(&(u64::MAX / 3).to_le_bytes());
        one_line(Module::parse(&b));
    }
    // Corrupt xz.
    let mut xz = std::fs::read(fixtures().join("cases/tiny_same.ko.xz")).unwrap();
    let mid = xz.len() / 2;
    for b in &mut xz[mid..mid + 16] {
        *b ^= 0x5a;
    }
    let e = Module::parse(&xz).unwrap_err().to_string();
    assert!(e.starts_with("corrupt xz data"), "{e}");
    // Random byte mutations: never a panic.
    let mut seed = 0x1234_5678_9abc_def1u64;
    for _ in 0..3000 {
        let mut b = good.clone();
        for _ in 0..(1 + rng(&mut seed) % 8) {
            let at = (rng(&mut seed) as usize) % b.len();
            b[at] = rng(&mut seed) as u8;
        }
        one_line(Module::parse(&b));
    }
}

#[test]
fn bad_kernels_give_one_line_errors() {
    let img = std::fs::read(vmlinuz_path()).unwrap();
    let header = remaster::kmod::kernel::read_header(&img).unwrap();
    assert_eq!(header.compression, Codec::Xz);
    // Unknown payload compression.
    let mut unknown = img.clone();
    unknown[header.payload_offset..header.payload_offset + 6].copy_from_slice(b"ABCDEF");
    let e = Kernel::parse(&unknown).unwrap_err().to_string();
    assert!(e.contains("unknown compression"), "{e}");
    // bzip2 magic: named, not decoded.
    let mut bz = img.clone();
    bz[header.payload_offset..header.payload_offset + 4].copy_from_slice(b"BZh9");
    let e = Kernel::parse(&bz).unwrap_err().to_string();
    assert!(e.contains("bzip2"), "{e}");
    // Truncated image.
    let e = Kernel::parse(&img[..img.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(e.contains("outside"), "{e}");
    // Corrupt payload.
    let mut corrupt = img.clone();
    let mid = header.payload_offset + header.payload_length / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b ^= 0xa5;
    }
    let e = Kernel::parse(&corrupt).unwrap_err().to_string();
    assert!(!e.contains('\n') && e.contains("payload"), "{e}");
    // A module is not a kernel.
    let e = Kernel::parse(&std::fs::read(fixtures().join("cases/tiny_same.ko")).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a bzImage"), "{e}");
}

/// Rebuilds the fixture bzImage with its payload recompressed by `cmd` (a real compressor),
/// patching payload_length, and checks the kernel reads the same.
#[test]
fn gzip_zstd_lzma_payloads_read_the_same() {
    let img = std::fs::read(vmlinuz_path()).unwrap();
    let header = remaster::kmod::kernel::read_header(&img).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let payload = &img[header.payload_offset..header.payload_offset + header.payload_length];
    std::fs::write(tmp.path().join("payload.xz"), payload).unwrap();
    let vmlinux = tmp.path().join("vmlinux");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xz -dc --single-stream '{}' > '{}'",
            tmp.path().join("payload.xz").display(),
            vmlinux.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let size = std::fs::metadata(&vmlinux).unwrap().len() as u32;
    for (kind, cmd) in [
        (Codec::Gzip, "gzip -1 -n -c"),
        (Codec::Zstd, "zstd -q -1 -c"),
        (Codec::Lzma, "xz --format=lzma -0 -c"),
    ] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} '{}'", vmlinux.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}");
        let mut new_payload = out.stdout;
        new_payload.extend_from_slice(&size.to_le_bytes()); // like size_append
        let mut bz = img[..header.payload_offset].to_vec();
        bz.extend_from_slice(&new_payload);
        bz[0x24c..0x250].copy_from_slice(&(new_payload.len() as u32).to_le_bytes());
        let k = Kernel::parse(&bz).unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert_eq!(k.header.compression, kind);
        assert_eq!(k.export_count, kernel().export_count, "{cmd}");
        assert_eq!(k.module_layout_crc, kernel().module_layout_crc, "{cmd}");
        assert_eq!(k.vermagic, kernel().vermagic, "{cmd}");
    }
}

/// A 5.14-style (RHEL 9) export layout, assembled with `as`: `__crc_<sym>` is an absolute
/// symbol whose value is the CRC, `__kcrctab` holds a relocation to it, and the namespace
/// string is reached through the third PREL32 field.
#[test]
fn rhel_5_14_style_absolute_crc_symbols() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("exp.s");
    std::fs::write(
        &src,
        r#"
        .text
        .globl foo
foo:    ret
        .globl bar
bar:    ret
        .globl __crc_foo
        .set __crc_foo, 0x12345678
        .globl __crc_bar
        .set __crc_bar, 0x9abcdef0
        .section __ksymtab_strings,"aMS",@progbits,1
__kstrtab_foo:   .asciz "foo"
__kstrtab_bar:   .asciz "bar"
__kstrtabns_bar: .asciz "MY_NS"
__kstrtabns_foo: .asciz ""
        .section __ksymtab,"a"
        .balign 4
__ksymtab_foo:
        .long foo - .
        .long __kstrtab_foo - .
        .long __kstrtabns_foo - .
        .section __ksymtab_gpl,"a"
        .balign 4
__ksymtab_bar:
        .long bar - .
        .long __kstrtab_bar - .
        .long __kstrtabns_bar - .
        .section __kcrctab,"a"
        .long __crc_foo
        .section __kcrctab_gpl,"a"
        .long __crc_bar
        .section .modinfo,"a"
        .asciz "license=GPL"
        .asciz "name=exp"
"#,
    )
    .unwrap();
    let obj = tmp.path().join("exp.ko");
    let st = Command::new("as")
        .arg("--64")
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "as");
    // Variant without `__kstrtabns_*` symbols (assembler-local labels): namespaces must then
    // come from the relocations of the third field.
    let text = std::fs::read_to_string(&src)
        .unwrap()
        .replace("__kstrtabns_", ".Lkstrtabns_");
    let src2 = tmp.path().join("exp-local.s");
    std::fs::write(&src2, text).unwrap();
    let stripped = tmp.path().join("exp-local.ko");
    let st = Command::new("as")
        .arg("--64")
        .arg("-o")
        .arg(&stripped)
        .arg(&src2)
        .status()
        .unwrap();
    assert!(st.success(), "as");
    let nm = run("nm", &[stripped.to_str().unwrap()]);
    assert!(!nm.contains("__kstrtabns"), "{nm}");
    for path in [&obj, &stripped] {
        let m = module(path);
        let got: Vec<(String, Option<u32>, bool, Option<String>)> = m
            .exports
            .iter()
            .map(|e| (e.name.clone(), e.crc, e.gpl_only, e.namespace.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "bar".to_string(),
                    Some(0x9abc_def0),
                    true,
                    Some("MY_NS".to_string())
                ),
                ("foo".to_string(), Some(0x1234_5678), false, None),
            ],
            "{}",
            path.display()
        );
    }
}

/// `--trust-key`: a key the user says is enrolled in MOK/db makes the modules it signs load
/// under Secure Boot (with a warning that this depends on the enrolment), in PEM or DER;
/// the signature is still verified, so a module changed after signing is refused.
#[test]
fn trusted_key_counts_as_enrolled_and_is_still_verified() {
    use remaster::kmod::signature::TrustedCert;
    use remaster::kmod::verdict::Check;
    let signed_path = fixtures().join("cases/tiny_signed.ko");
    let signed = module(&signed_path);
    let pem = std::fs::read(fixtures().join("throwaway.crt")).unwrap();
    let scratch = common::fixtures::scratch_dir();
    let der_path = scratch.path().join("throwaway.der");
    run(
        "openssl",
        &[
            "x509",
            "-in",
            fixtures().join("throwaway.crt").to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            der_path.to_str().unwrap(),
        ],
    );
    let der = std::fs::read(&der_path).unwrap();
    let target = |enrolled: Option<&[u8]>| {
        let mut k = kernel().clone();
        if let Some(bytes) = enrolled {
            k.trusted_certs
                .push(TrustedCert::enrolled_from_file_bytes(bytes).unwrap());
        }
        Target::new(k, Vec::new())
    };
    let without = check(&signed, &target(None), SecureBoot::On);
    assert!(
        matches!(without.outcome, Outcome::Refused { .. }),
        "{without:?}"
    );
    for cert in [&pem, &der] {
        let with = check(&signed, &target(Some(cert)), SecureBoot::On);
        assert_eq!(with.outcome, Outcome::Loads, "{}", with.summary);
        assert!(
            with.warnings.iter().any(|w| w.contains("--trust-key")),
            "{:?}",
            with.warnings
        );
    }
    // Changed after signing: refused with or without Secure Boot, whatever the user trusts.
    let mut bytes = std::fs::read(&signed_path).unwrap();
    let at = bytes
        .windows(12)
        .position(|w| w == b"description=")
        .expect("tiny has a description")
        + 12;
    bytes[at] ^= 0x20;
    let changed = Module::parse(&bytes).unwrap();
    for sb in [SecureBoot::On, SecureBoot::Off] {
        let v = check(&changed, &target(Some(&pem)), sb);
        assert!(
            matches!(v.outcome, Outcome::Refused { errno: -129, .. }),
            "{v:?}"
        );
        assert_eq!(v.problems[0].check, Check::SignatureMismatch);
    }
    // A file that is no certificate: one-line error.
    let err = TrustedCert::enrolled_from_file_bytes(b"not a certificate").unwrap_err();
    assert!(
        err.to_string().contains("not an X.509 certificate"),
        "{err}"
    );

    // The CLI: exit 1 (refused) without the key, 0 with it.
    let iso = common::fixtures::fixture_iso();
    let status = |extra: &[&str]| {
        let out = common::cli::remaster_bin()
            .arg("check")
            .arg(&iso)
            .arg(&signed_path)
            .args(["--secure-boot", "on"])
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), common::cli::output_text(&out))
    };
    assert_eq!(status(&[]).0, Some(1));
    let (code, text) = status(&["--trust-key", der_path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("verdict: LOADS"), "{text}");
}

/// Debian's 6.12 (the base of EL10) signs its modules with an ECDSA P-384 build key: every
/// sampled module's signature verifies with the built-in key it names (modinfo agrees on the
/// signer and digest), and a changed module or signature byte does not. A module signed by
/// sign-file with a throwaway P-384 key verifies once its certificate is given as enrolled
/// (`--trust-key`). The kernel's own answer to these is in kmod_truth.rs.
#[test]
fn ecdsa_signatures_of_6_12_verify_with_the_built_in_key() {
    use remaster::kmod::signature::{SignatureCheck, TrustedCert};
    const EL10_KVER: &str = "6.12.118+deb12-amd64";
    let root = fixtures().join(format!("kernel/{EL10_KVER}"));
    let k = Kernel::parse(&std::fs::read(root.join(format!("boot/vmlinuz-{EL10_KVER}"))).unwrap())
        .unwrap();
    let tree = root.join(format!("lib/modules/{EL10_KVER}/kernel"));
    let release = k.release().to_string();
    for rel in [
        "drivers/scsi/mpt3sas/mpt3sas.ko.xz",
        "drivers/scsi/scsi_transport_sas.ko.xz",
        "drivers/scsi/scsi_mod.ko.xz",
        "drivers/message/fusion/mptbase.ko.xz",
        "drivers/net/ethernet/intel/e1000/e1000.ko.xz",
        "drivers/scsi/megaraid/megaraid_sas.ko.xz",
    ] {
        let path = tree.join(rel);
        let m = module(&path);
        let sig = m.signature.as_ref().expect("in-tree modules are signed");
        assert_eq!(
            modinfo(&path, "sig_hashalgo"),
            std::slice::from_ref(&sig.hash_algorithm),
            "{rel}"
        );
        assert_eq!(
            modinfo(&path, "signer"),
            [sig.issuer_cn.clone().unwrap()],
            "{rel}"
        );
        assert!(
            sig.signature_algorithm.starts_with("ecdsa-with-"),
            "{rel}: {sig:?}"
        );
        match sig.kernel_check(&k.trusted_certs, &release) {
            SignatureCheck::Valid(cert) => {
                assert_eq!(cert.key_algorithm(), "ECDSA P-384", "{rel}")
            }
            other => panic!("{rel}: {other:?}"),
        }
    }
    let rejected = |m: &Module, certs: &[TrustedCert]| {
        matches!(
            m.signature.as_ref().unwrap().kernel_check(certs, &release),
            SignatureCheck::Rejected {
                kernel_message: None,
                ..
            }
        )
    };
    let cases = fixtures().join("cases-el10");
    let tampered = module(&cases.join("megaraid_sas_tampered.ko"));
    assert!(
        rejected(&tampered, &k.trusted_certs),
        "a changed module must not verify"
    );
    let mut bytes = std::fs::read(cases.join("megaraid_sas_same.ko")).unwrap();
    let last_sig_byte = bytes.len() - MODULE_SIG_TRAILER - 1;
    bytes[last_sig_byte] ^= 1;
    assert!(rejected(&Module::parse(&bytes).unwrap(), &k.trusted_certs));

    // sign-file with a throwaway P-384 key: unknown to the kernel, valid once enrolled.
    let signed = module(&cases.join("tiny_signed_ec.ko"));
    let sig = signed.signature.as_ref().unwrap();
    assert_eq!(sig.hash_algorithm, "sha384");
    assert_eq!(
        sig.kernel_check(&k.trusted_certs, &release),
        SignatureCheck::UnavailableKey
    );
    let pem = std::fs::read(fixtures().join("throwaway-ec.crt")).unwrap();
    let enrolled = [TrustedCert::enrolled_from_file_bytes(&pem).unwrap()];
    assert!(matches!(
        sig.kernel_check(&enrolled, &release),
        SignatureCheck::Valid(_)
    ));
    let mut bytes = std::fs::read(cases.join("tiny_signed_ec.ko")).unwrap();
    let at = bytes
        .windows(12)
        .position(|w| w == b"description=")
        .unwrap();
    bytes[at + 12] ^= 0x20;
    assert!(rejected(&Module::parse(&bytes).unwrap(), &enrolled));
}

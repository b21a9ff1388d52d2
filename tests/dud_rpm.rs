//! The kmod RPM reader against rpm(8) and rpm2cpio|cpio as oracles, and on corrupt input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod dud_support;

use std::collections::BTreeSet;
use std::io::Cursor;
use std::process::Command;

use dud_support::{fixtures, rpm, run, Rng, VARIANTS};
use remaster::dud::rpm::{read_kmod_rpm, read_kmod_rpm_file, ModuleCompression, RpmLimits};

fn rpm_q(path: &std::path::Path, args: &[&str]) -> Vec<String> {
    let out = run(Command::new("rpm").arg("-qp").args(args).arg(path));
    out.lines().map(str::to_owned).collect()
}

#[test]
fn identity_provides_requires_and_files_match_rpm() {
    for variant in VARIANTS {
        let path = rpm(variant);
        let ours = read_kmod_rpm_file(&path).expect("read");
        let qf = rpm_q(
            &path,
            &[
                "--qf",
                "%{NAME}\\n%{VERSION}\\n%{RELEASE}\\n%{ARCH}\\n%{PAYLOADCOMPRESSOR}\\n",
            ],
        );
        assert_eq!(
            qf,
            vec![
                ours.name.clone(),
                ours.version.clone(),
                ours.release.clone(),
                ours.arch.clone(),
                ours.payload_compressor.clone()
            ],
            "{variant}"
        );
        let provides: BTreeSet<String> = rpm_q(&path, &["--provides"]).into_iter().collect();
        let our_provides: BTreeSet<String> = ours.provides.iter().map(|d| d.to_string()).collect();
        assert_eq!(our_provides, provides, "{variant} provides");
        let requires: BTreeSet<String> = rpm_q(&path, &["--requires"]).into_iter().collect();
        let our_requires: BTreeSet<String> = ours.requires.iter().map(|d| d.to_string()).collect();
        assert_eq!(our_requires, requires, "{variant} requires");
        let files: BTreeSet<String> = rpm_q(&path, &["-l"]).into_iter().collect();
        let our_files: BTreeSet<String> = ours.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(our_files, files, "{variant} files");
        // kABI pins are what the script put there from the module's __versions.
        assert!(ours.kabi_requires().count() > 100, "{variant}: kABI pins");
    }
}

#[test]
fn module_and_depmod_bytes_match_rpm2cpio_extraction() {
    for variant in VARIANTS {
        let path = rpm(variant);
        let ours = read_kmod_rpm_file(&path).expect("read");
        let dir = tempfile::tempdir().expect("tempdir");
        let script = format!(
            "rpm2cpio '{}' | cpio -idm --quiet --no-absolute-filenames",
            path.display()
        );
        run(Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path()));
        assert_eq!(ours.modules.len(), 1, "{variant}: one module");
        for m in &ours.modules {
            let extracted = std::fs::read(dir.path().join(m.path.trim_start_matches('/')))
                .expect("extracted module");
            assert_eq!(m.bytes, extracted, "{variant}: {}", m.path);
            assert_eq!(m.name, "megaraid_sas");
        }
        assert_eq!(ours.depmod_confs.len(), 1, "{variant}: one depmod.d file");
        for c in &ours.depmod_confs {
            let extracted =
                std::fs::read_to_string(dir.path().join(c.path.trim_start_matches('/')))
                    .expect("extracted conf");
            assert_eq!(c.text, extracted);
            assert!(c.text.starts_with("override megaraid_sas * weak-updates/"));
        }
    }
    // And the packaged module is the kernel's own file.
    let good = read_kmod_rpm_file(&rpm("good")).expect("read");
    let reference = std::fs::read(fixtures().join("good-megaraid_sas.ko")).expect("ko");
    assert_eq!(good.modules[0].bytes, reference);
    assert_eq!(good.modules[0].compression, ModuleCompression::None);
    let koxz = read_kmod_rpm_file(&rpm("koxz")).expect("read");
    assert_eq!(koxz.modules[0].compression, ModuleCompression::Xz);
    assert!(koxz.modules[0]
        .bytes
        .starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]));
}

#[test]
fn provides_carry_operator_and_version() {
    let (kver, other) = dud_support::kvers();
    let want = |variant: &str| {
        read_kmod_rpm_file(&rpm(variant))
            .expect("read")
            .kernel_modules_provides()
            .map(|d| (d.operator().to_owned(), d.version.clone()))
            .collect::<Vec<_>>()
    };
    let dep = |k: &str| k.trim_end_matches("-amd64").to_owned();
    assert_eq!(want("good"), vec![(">=".to_owned(), dep(&kver))]);
    assert_eq!(want("other"), vec![(">=".to_owned(), dep(&other))]);
    assert_eq!(want("unver"), vec![(String::new(), String::new())]);
}

#[test]
fn size_cap_is_enforced() {
    let bytes = std::fs::read(rpm("good")).expect("rpm");
    let limits = RpmLimits {
        max_module_bytes: 1000,
        ..RpmLimits::default()
    };
    let err = read_kmod_rpm(Cursor::new(bytes), &limits).expect_err("over the cap");
    assert!(err.to_string().contains("limit"), "{err}");
}

fn assert_one_line_error_or_ok(bytes: Vec<u8>, what: &str) {
    match read_kmod_rpm(Cursor::new(bytes), &RpmLimits::default()) {
        Ok(_) => {}
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{what}: multi-line error {msg:?}");
            assert!(!msg.is_empty(), "{what}: empty error");
        }
    }
}

#[test]
fn truncated_rpms_give_one_line_errors() {
    let bytes = std::fs::read(rpm("good")).expect("rpm");
    let mut cut = 0usize;
    while cut < bytes.len() {
        let truncated = bytes[..cut].to_vec();
        let r = read_kmod_rpm(Cursor::new(truncated), &RpmLimits::default());
        let e = r.expect_err("a truncated RPM must not read");
        assert!(!e.to_string().contains('\n'));
        cut += if cut < 4096 { 7 } else { 997 };
    }
}

/// A payload cut inside its compressed stream's end (xz index and footer, zstd epilogue,
/// gzip trailer) holds every cpio entry, but rpm refuses it (payload digest): so must we.
#[test]
fn rpms_cut_in_the_payload_stream_end_do_not_read() {
    for variant in ["good", "zstd", "gzip"] {
        let bytes = std::fs::read(rpm(variant)).expect("rpm");
        for tail in 1..=64 {
            let truncated = bytes[..bytes.len() - tail].to_vec();
            let r = read_kmod_rpm(Cursor::new(truncated), &RpmLimits::default());
            let e = r.expect_err(&format!("{variant}: {tail} bytes cut off must not read"));
            assert!(!e.to_string().contains('\n'));
        }
    }
}

#[test]
fn corrupted_rpms_never_panic() {
    for variant in ["good", "zstd", "gzip"] {
        let bytes = std::fs::read(rpm(variant)).expect("rpm");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64);
        // Header region: flip bytes and plant hostile 32-bit values (huge counts, negative
        // offsets) where index entries live.
        for round in 0..800 {
            let mut b = bytes.clone();
            let n = 1 + rng.below(4);
            for _ in 0..n {
                let at = rng.below(6000.min(b.len()));
                if round % 2 == 0 {
                    b[at] ^= 1 << rng.below(8);
                } else {
                    let v: [u8; 4] = match rng.below(4) {
                        0 => [0xff; 4],
                        1 => [0x7f, 0xff, 0xff, 0xff],
                        2 => [0x80, 0, 0, 0],
                        _ => [0, 0, 0x10, 0],
                    };
                    let at = at & !3;
                    if at + 4 <= b.len() {
                        b[at..at + 4].copy_from_slice(&v);
                    }
                }
            }
            assert_one_line_error_or_ok(b, variant);
        }
        // Payload region: corrupt compressed bytes.
        for _ in 0..60 {
            let mut b = bytes.clone();
            let at = 6000 + rng.below(b.len() - 6000);
            b[at] ^= 0x55;
            assert_one_line_error_or_ok(b, variant);
        }
    }
    // Not an RPM at all.
    let e = read_kmod_rpm_file(&fixtures().join("dd-good.iso")).expect_err("an ISO");
    assert!(e.to_string().contains("not an RPM"), "{e}");
    assert!(e.to_string().contains("dd-good.iso"), "{e}");
}

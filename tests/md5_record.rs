//! The output's isomd5sum record keeps every field of the input's record that the edit does
//! not change: `RHLISOSTATUS` (the "supported" flag of `implantisomd5 --supported-iso`),
//! `SKIPSECTORS` and `FRAGMENT COUNT`; only the digest and the fragment sums are new.
//! Through the real binary on the fixture, with `implantisomd5` making the inputs and
//! `checkisomd5 --verbose` as the oracle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::fixtures::{fixture_iso, scratch_dir};

/// Byte offset of the PVD application-use field, where isomd5sum keeps its record.
const RECORD_AT: u64 = 0x8373;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn remaster(input: &Path, out: &Path) {
    run(Command::new(env!("CARGO_BIN_EXE_remaster"))
        .arg(input)
        .args(["--cmdline", "x=y", "-o"])
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(Stdio::null()));
}

/// checkisomd5's summary lines (without the progress), after a passing check.
fn checkisomd5_verbose(iso: &Path) -> String {
    let text = run(Command::new("checkisomd5").arg("--verbose").arg(iso));
    let text: String = text
        .split("Checking:")
        .next()
        .unwrap_or_default()
        .to_string()
        + text.rsplit('%').next().unwrap_or_default();
    assert!(text.contains("the result is: PASS"), "{text}");
    text
}

fn record(iso: &Path) -> String {
    let mut buf = [0u8; 512];
    std::fs::File::open(iso)
        .unwrap()
        .read_exact_at(&mut buf, RECORD_AT)
        .unwrap();
    String::from_utf8_lossy(&buf).trim_end().to_string()
}

/// `KEY=value` or `KEY = value` of a record.
fn field<'a>(record: &'a str, key: &str) -> &'a str {
    record
        .split(';')
        .find_map(|f| f.strip_prefix(key))
        .map(|v| v.trim_start_matches([' ', '=']))
        .unwrap_or_else(|| panic!("{key} missing in {record}"))
}

#[test]
fn supported_flag_survives_the_edit() {
    let dir = scratch_dir();
    let input = dir.path().join("supported.iso");
    std::fs::copy(fixture_iso(), &input).unwrap();
    run(Command::new("implantisomd5")
        .args(["--force", "--supported-iso"])
        .arg(&input));
    assert!(checkisomd5_verbose(&input).contains("Supported ISO: yes"));
    let out = dir.path().join("out.iso");
    remaster(&input, &out);
    let report = checkisomd5_verbose(&out);
    assert!(report.contains("Supported ISO: yes"), "{report}");
    let (old, new) = (record(&input), record(&out));
    assert_eq!(field(&new, "RHLISOSTATUS"), "1", "{new}");
    assert_ne!(field(&new, "ISO MD5SUM"), field(&old, "ISO MD5SUM"));
}

#[test]
fn unsupported_flag_stays_unsupported() {
    let dir = scratch_dir();
    let input = fixture_iso();
    assert!(checkisomd5_verbose(&input).contains("Supported ISO: no"));
    let out = dir.path().join("out.iso");
    remaster(&input, &out);
    let report = checkisomd5_verbose(&out);
    assert!(report.contains("Supported ISO: no"), "{report}");
    assert_eq!(field(&record(&out), "RHLISOSTATUS"), "0");
}

/// A record with other parameters than implantisomd5's (15 skipped sectors, 20 fragments):
/// the output keeps them, and checkisomd5, which reads them from the record, passes.
#[test]
fn skip_sectors_and_fragment_count_are_kept() {
    let dir = scratch_dir();
    let input = dir.path().join("params.iso");
    std::fs::copy(fixture_iso(), &input).unwrap();
    run(Command::new("implantisomd5")
        .args(["--force", "--supported-iso"])
        .arg(&input));
    let old = record(&input)
        .replace("SKIPSECTORS = 15;", "SKIPSECTORS = 30;")
        .replace("FRAGMENT COUNT = 20;", "FRAGMENT COUNT = 10;");
    assert!(old.contains("SKIPSECTORS = 30;") && old.contains("FRAGMENT COUNT = 10;"));
    let mut padded = old.into_bytes();
    padded.resize(512, b' ');
    std::fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .unwrap()
        .write_all_at(&padded, RECORD_AT)
        .unwrap();
    let out = dir.path().join("out.iso");
    remaster(&input, &out);
    let new = record(&out);
    assert_eq!(field(&new, "SKIPSECTORS"), "30", "{new}");
    assert_eq!(field(&new, "FRAGMENT COUNT"), "10", "{new}");
    assert_eq!(field(&new, "RHLISOSTATUS"), "1", "{new}");
    let report = checkisomd5_verbose(&out);
    assert!(
        report.contains("Fragment count: 10") && report.contains("Supported ISO: yes"),
        "{report}"
    );
}

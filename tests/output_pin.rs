//! Pins the bytes remaster writes: for the fixture ISO and a fixed set of edits, the SHA-256 of
//! each output (with SOURCE_DATE_EPOCH fixed by `remaster_bin`) is compared with the digest
//! recorded below, so any change to output bytes — a refactor that should change nothing, or a
//! deliberate format change — shows up here and must be re-pinned on purpose.
//!
//! The digests are keyed by the fixture ISO's own digest: the fixture is rebuilt from Debian
//! packages, so a package update changes the input and with it every output. Then this test
//! fails with the new fixture digest; check that the change is the input's (the other tests
//! pass), and re-pin: `REMASTER_REPIN=1 cargo test --test output_pin -- --nocapture` prints
//! the lines to paste into `PINS`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::cli::{file_sha256, output_text, remaster_bin};
use common::fixtures::*;

/// (fixture ISO sha256, case name, output sha256)
const PINS: &[(&str, &str, &str)] = &[
    (
        "12254cb1248fe2515026837379c6e0243a228d4a7c2b1dafaa5f08246e6f10d0",
        "cmdline-ks-volid",
        "18e0884f059efc115464ea6fede84021ce1953d55ed65ea921f3547a0f03d127",
    ),
    (
        "12254cb1248fe2515026837379c6e0243a228d4a7c2b1dafaa5f08246e6f10d0",
        "add-module",
        "bec819d71fde80c9e00b7c641a01e945cb9aae23cef19f4c2b00936067227367",
    ),
];

/// The edits pinned: each exercises a different part of the writer.
fn cases(dir: &Path) -> Vec<(&'static str, Vec<String>)> {
    let ks = dir.join("pin.ks");
    fs::write(&ks, "# remaster output pin\ntext\nreboot\n").expect("write ks");
    let module = fixture_kernel_dir()
        .join("lib/modules")
        .join(fixture_kver())
        .join("kernel/drivers/scsi/megaraid/megaraid_sas.ko");
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        // Config edits, efiboot.img in place, label change, a replaced and an added file.
        (
            "cmdline-ks-volid",
            s(&[
                "--cmdline",
                "pin.test=1",
                "--rm-args",
                "quiet",
                "--volid",
                "PIN-LABEL",
                "--ks",
                &ks.to_string_lossy(),
            ]),
        ),
        // The initrd overlay (module, depmod indexes, modules-load.d), image growth.
        (
            "add-module",
            s(&["--add-module", &module.to_string_lossy()]),
        ),
    ]
}

#[test]
fn outputs_are_byte_identical_to_the_pinned_digests() {
    let input = fixture_iso();
    let input_sha = file_sha256(&input);
    let dir = scratch_dir();
    let repin = std::env::var_os("REMASTER_REPIN").is_some();
    let mut unpinned = Vec::new();
    for (name, args) in cases(dir.path()) {
        let out: PathBuf = dir.path().join(format!("{name}.iso"));
        let o = remaster_bin()
            .arg(&input)
            .args(&args)
            .args(["-q", "-o"])
            .arg(&out)
            .output()
            .expect("run remaster");
        assert!(o.status.success(), "{name}: {}", output_text(&o));
        let sha = file_sha256(&out);
        let pinned = PINS
            .iter()
            .find(|(fixture, case, _)| *fixture == input_sha && *case == name);
        match pinned {
            Some((_, _, want)) => assert_eq!(
                &sha, want,
                "{name}: output bytes changed; if deliberate, re-pin (see the file header)"
            ),
            None => unpinned.push(format!("    (\"{input_sha}\", \"{name}\", \"{sha}\"),")),
        }
        fs::remove_file(&out).ok();
    }
    if repin {
        println!("{}", unpinned.join("\n"));
        return;
    }
    assert!(
        unpinned.is_empty(),
        "no pinned digest for fixture {input_sha} (a Debian package changed the fixture?); \
         re-pin (see the file header):\n{}",
        unpinned.join("\n")
    );
}

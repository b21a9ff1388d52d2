//! Safety of the command line (issue 15 §1), through the built binary: `--force` only
//! overwrites and never writes past a REFUSED verdict (`--write-refused` does, by name);
//! argument and output problems are reported on one line before any work; exit codes follow
//! the documented classes and the library's errors can be matched by kind; `verify` expects a
//! driver update disk only where the media claims one; the clap definition is consistent.
//! Run: `cargo test --test cli_safety` (no QEMU; a few remasters of the 44 MB fixture).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use clap::{CommandFactory, Parser};
use common::cli::{file_sha256, output_text, remaster_bin};
use common::fixtures::{fixture_iso, scratch_dir};
use remaster::commands::Cli;
use remaster::ErrorKind;

fn run(args: &[OsString]) -> Output {
    remaster_bin().args(args).output().expect("run remaster")
}

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The library's typed error for a command line (what the binary would print and exit with).
fn library_error(args: &[OsString]) -> remaster::Error {
    let mut argv = vec![OsString::from("remaster")];
    argv.extend(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).expect("the command line parses");
    remaster::commands::run(cli).expect_err("must fail")
}

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn help_documents_the_split_of_force_and_write_refused() {
    let o = run(&os(&[&"--help"]));
    assert!(o.status.success(), "{}", output_text(&o));
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--write-refused"), "{help}");
    assert!(help.contains("70 internal error"), "{help}");
    let force = help
        .split("--force")
        .nth(1)
        .and_then(|rest| rest.split("--write-refused").next())
        .unwrap_or_default();
    assert!(
        force.contains("Overwrite") && !force.to_lowercase().contains("write even"),
        "--force help must only promise overwriting: {force}"
    );
}

/// Re-running yesterday's command with `--force` to replace the output must not silence a
/// refusal; `--write-refused` writes past it, says so in the plan and warns.
#[test]
fn force_overwrites_but_never_writes_a_refused_driver() {
    let dir = scratch_dir();
    let iso = fixture_iso();
    let refused = dud_support::rpm("other");
    let out = dir.path().join("out.iso");
    fs::write(&out, b"yesterday's output").unwrap();

    let o = run(&os(&[
        &iso,
        &"--add-rpm",
        &refused,
        &"--force",
        &"-o",
        &out,
    ]));
    assert_eq!(o.status.code(), Some(1), "{}", output_text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("remaster: ") && last.contains("nothing written"),
        "{err}"
    );
    assert!(
        last.contains("--write-refused"),
        "the refusal names the flag: {last}"
    );
    assert!(!last.contains("--force writes"), "{last}");
    assert_eq!(fs::read(&out).unwrap(), b"yesterday's output");
    assert_eq!(listing(dir.path()), ["out.iso"], "temporary files left");
    let e = library_error(&os(&[
        &iso,
        &"--add-rpm",
        &refused,
        &"--json",
        &"--force",
        &"-o",
        &out,
    ]));
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");

    // The plan says when --write-refused is in effect (text and JSON).
    let o = run(&os(&[
        &iso,
        &"--add-rpm",
        &refused,
        &"--write-refused",
        &"--dry-run",
        &"--json",
        &"-o",
        &dir.path().join("never.iso"),
    ]));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json plan");
    assert_eq!(plan["write_refused"], true, "{}", output_text(&o));
    assert!(!plan["refusals"].as_array().unwrap().is_empty());

    let o = run(&os(&[
        &iso,
        &"--add-rpm",
        &refused,
        &"--force",
        &"--write-refused",
        &"-o",
        &out,
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", output_text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--write-refused: in effect"), "{err}");
    assert!(err.contains("WARNING: --write-refused"), "{err}");
    assert!(fs::metadata(&out).unwrap().len() > 1 << 20, "not written");

    // --write-refused does not imply --force either.
    let o = run(&os(&[&iso, &"--write-refused", &"-o", &out]));
    assert_eq!(o.status.code(), Some(4), "{}", output_text(&o));
}

/// Wrong paths and outputs fail on one line before the ISO is read (the input here is not
/// even an ISO, so a check made after reading it would report that instead) and before the
/// plan is printed.
#[test]
fn argument_and_output_problems_come_first_on_one_line() {
    let dir = scratch_dir();
    let d = dir.path();
    let junk = d.join("junk.iso");
    fs::write(&junk, vec![0x55u8; 100_000]).unwrap();
    let existing = d.join("exists.iso");
    fs::write(&existing, b"keep me").unwrap();
    let symlink = d.join("symlink.iso");
    std::os::unix::fs::symlink(&junk, &symlink).unwrap();
    let hardlink = d.join("hardlink.iso");
    fs::hard_link(&junk, &hardlink).unwrap();
    let ks = d.join("ks.cfg");
    fs::write(&ks, b"text\n").unwrap();
    let subdir = d.join("subdir");
    fs::create_dir(&subdir).unwrap();
    let missing = d.join("missing");
    let before = listing(d);
    let fresh = d.join("fresh.iso");

    let cases: Vec<(Vec<OsString>, i32, ErrorKind, String)> = vec![
        (
            os(&[&junk, &"-o", &existing]),
            4,
            ErrorKind::Output,
            "already exists".into(),
        ),
        (
            os(&[&junk, &"-o", &junk]),
            2,
            ErrorKind::Usage,
            "is the input".into(),
        ),
        (
            os(&[&junk, &"-o", &symlink, &"--force"]),
            2,
            ErrorKind::Usage,
            "is the input".into(),
        ),
        (
            os(&[&junk, &"-o", &hardlink, &"--force"]),
            2,
            ErrorKind::Usage,
            "is the input".into(),
        ),
        (
            os(&[&junk, &"--ks", &ks, &"-o", &ks, &"--force"]),
            2,
            ErrorKind::Usage,
            "is the input".into(),
        ),
        (
            os(&[&junk, &"-o", &missing.join("out.iso")]),
            4,
            ErrorKind::Output,
            "does not exist".into(),
        ),
        (
            os(&[&junk, &"-o", &subdir, &"--force"]),
            4,
            ErrorKind::Output,
            "is a directory".into(),
        ),
        (
            os(&[&junk, &"--ks", &missing.join("ks.cfg"), &"-o", &fresh]),
            3,
            ErrorKind::Input,
            "missing/ks.cfg".into(),
        ),
        (
            os(&[&junk, &"--add-dud", &missing.join("dd.iso"), &"-o", &fresh]),
            3,
            ErrorKind::Input,
            "missing/dd.iso".into(),
        ),
        (
            os(&[&junk, &"--add-rpm", &missing.join("k.rpm"), &"-o", &fresh]),
            3,
            ErrorKind::Input,
            "missing/k.rpm".into(),
        ),
        (
            os(&[&junk, &"--add-module", &missing.join("m.ko"), &"-o", &fresh]),
            3,
            ErrorKind::Input,
            "missing/m.ko".into(),
        ),
        (
            os(&[&junk, &"--trust-key", &missing.join("k.der"), &"-o", &fresh]),
            3,
            ErrorKind::Input,
            "missing/k.der".into(),
        ),
        (
            os(&[&missing.join("in.iso"), &"-o", &fresh]),
            3,
            ErrorKind::Input,
            "missing/in.iso".into(),
        ),
    ];
    for (args, code, kind, needle) in &cases {
        let o = run(args);
        let text = output_text(&o);
        assert_eq!(o.status.code(), Some(*code), "{args:?}\n{text}");
        assert!(o.stdout.is_empty(), "{args:?}\n{text}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line only\n{text}");
        assert!(
            err.starts_with("remaster: ") && err.contains(needle.as_str()),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("not an ISO"),
            "{args:?}: read the ISO first: {err}"
        );
        let e = library_error(args);
        assert_eq!(e.kind(), *kind, "{args:?}: {e}");
        assert_eq!(e.exit_code(), *code, "{args:?}: {e}");
    }
    let e = library_error(&cases[0].0);
    assert_eq!(e.path(), Some(existing.as_path()));

    // With real media: still one line, no plan printed before it.
    let iso = fixture_iso();
    let o = run(&os(&[&iso, &"--cmdline", &"a=b", &"-o", &existing]));
    assert_eq!(o.status.code(), Some(4), "{}", output_text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).lines().count(),
        1,
        "{}",
        output_text(&o)
    );
    // A hard link to the real input (same filesystem as the fixture cache).
    let linked = iso.with_file_name(format!("hardlink-{}.iso", std::process::id()));
    fs::hard_link(&iso, &linked).unwrap();
    let o = run(&os(&[&iso, &"-o", &linked, &"--force"]));
    fs::remove_file(&linked).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is the input"),
        "{}",
        output_text(&o)
    );

    assert_eq!(fs::read(&existing).unwrap(), b"keep me");
    assert_eq!(listing(d), before, "files created or removed");
}

/// Usage errors of the writer exit 2 (not rewrapped as errors of the ISO), and no message
/// advises something the command line cannot do.
#[test]
fn writer_usage_errors_exit_2_and_say_what_the_user_can_do() {
    let dir = scratch_dir();
    let iso = fixture_iso();
    let src = dir.path().join("isolinux.cfg");
    fs::write(&src, b"x\n").unwrap();
    let out = dir.path().join("out.iso");
    let add = format!("{}=isolinux/isolinux.cfg", src.display());
    let o = run(&os(&[&iso, &"--add", &add, &"-o", &out]));
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("replace it"), "the CLI cannot replace: {err}");
    assert!(err.contains("--add SRC="), "{err}");
    assert_eq!(
        library_error(&os(&[&iso, &"--add", &add, &"-o", &out])).kind(),
        ErrorKind::Usage
    );

    let o = run(&os(&[&iso, &"--volid", &"X".repeat(40), &"-o", &out]));
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert!(!out.exists());
}

/// An ISO read error inside the writer's planner is an input error (exit 3) with the typed
/// cause (the offset too, where the cause knows one), named after the file once the caller knows it.
#[test]
fn a_read_error_while_planning_is_an_input_error_with_its_cause() {
    use remaster::iso::write::{plan_layout, EditPlan, NewContent};
    let iso = fixture_iso();
    let bytes = fs::read(&iso).unwrap();
    let image = remaster::iso::Image::open(std::io::Cursor::new(&bytes)).unwrap();
    // The reader ends after the volume descriptors: the root directory cannot be read.
    let mut short = std::io::Cursor::new(bytes[..18 * 2048].to_vec());
    let plan = EditPlan {
        add: vec![("new.txt".into(), NewContent::Bytes(b"x".to_vec()))],
        ..Default::default()
    };
    let e = plan_layout(&image, &mut short, &plan).expect_err("the root cannot be read");
    assert_eq!(e.kind(), ErrorKind::Input, "{e}");
    assert_eq!(e.exit_code(), 3);
    assert!(
        matches!(e.cause(), Some(remaster::Cause::Context { .. })),
        "{e:?}"
    );
    let e = e.in_file(&iso);
    assert_eq!(e.path(), Some(iso.as_path()), "{e}");
    assert!(e.to_string().contains("reading /"), "{e}");
}

fn verify(iso: &Path) -> (Option<i32>, String) {
    let o = remaster_bin()
        .arg("verify")
        .arg(iso)
        .arg("-q")
        .output()
        .expect("run verify");
    (o.status.code(), output_text(&o))
}

fn remaster_to(dir: &Path, name: &str, extra: &[&dyn AsRef<std::ffi::OsStr>]) -> PathBuf {
    let out = dir.join(name);
    let mut args = os(&[&fixture_iso()]);
    args.extend(os(extra));
    args.extend(os(&[&"-q", &"-o", &out]));
    let o = run(&args);
    assert!(o.status.success(), "{}", output_text(&o));
    out
}

/// Stock media and remaster's own --cmdline/--ks outputs verify OK; an entry whose
/// `inst.dd=` names a DUD the initrd lacks is still NOT OK.
#[test]
fn verify_expects_a_dud_only_where_the_media_claims_one() {
    let iso = fixture_iso();
    let before = file_sha256(&iso);
    let (code, text) = verify(&iso);
    assert_eq!(code, Some(0), "stock media:\n{text}");
    assert!(text.contains("verified"), "{text}");

    let dir = scratch_dir();
    let ks = dir.path().join("ks.cfg");
    fs::write(&ks, b"text\n").unwrap();
    for (name, extra) in [
        ("cmdline.iso", os(&[&"--cmdline", &"console=ttyS0"])),
        ("ks.iso", os(&[&"--ks", &ks])),
    ] {
        let extra: Vec<&dyn AsRef<std::ffi::OsStr>> = extra
            .iter()
            .map(|a| a as &dyn AsRef<std::ffi::OsStr>)
            .collect();
        let out = remaster_to(dir.path(), name, &extra);
        let (code, text) = verify(&out);
        assert_eq!(code, Some(0), "{name}:\n{text}");
    }

    let claims = remaster_to(
        dir.path(),
        "claims.iso",
        &[&"--cmdline", &"inst.dd=/dd.iso"],
    );
    let (code, text) = verify(&claims);
    assert_eq!(code, Some(1), "{text}");
    let fail = text
        .lines()
        .find(|l| l.starts_with("FAIL dud:"))
        .unwrap_or_else(|| panic!("no FAIL dud line:\n{text}"));
    assert!(fail.contains("/dd.iso"), "{fail}");
    assert_eq!(file_sha256(&iso), before, "the input changed");
}

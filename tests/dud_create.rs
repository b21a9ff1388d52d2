//! `dud create`: the written ISO checked with xorriso and rpm as oracles, determinism,
//! atomicity, and our own reader.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod dud_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use dud_support::{fixtures, kvers, rpm, run};
use remaster::dud::create::{write_dud, CreateOptions, RHDD3_TEXT};
use remaster::dud::ddv3::{installer_loaded_modules, open_dud, InstallerContext};

fn opts() -> CreateOptions {
    CreateOptions {
        // A fixed time independent of the environment (SOURCE_DATE_EPOCH = 1700000000).
        time: Some(hadris_fs::DateTime::from_unix_seconds(1_700_000_000).expect("time")),
        ..CreateOptions::default()
    }
}

fn xorriso_find(iso: &Path) -> Vec<String> {
    let out = run(Command::new("xorriso")
        .arg("-indev")
        .arg(iso)
        .args(["-find", "/", "-exec", "lsdl"]));
    out.lines().map(str::to_owned).collect()
}

fn extract(iso: &Path, inner: &str, to: &Path) -> Vec<u8> {
    run(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", inner])
        .arg(to));
    std::fs::read(to).expect("extracted")
}

#[test]
fn written_dud_is_read_by_xorriso_rpm_and_ourselves() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("dd.iso");
    let inputs = vec![rpm("good"), rpm("koxz")];
    let created = write_dud(&inputs, &out, &opts()).expect("write");
    assert_eq!(created.size, std::fs::metadata(&out).expect("meta").len());

    let listing = xorriso_find(&out);
    let text = listing.join("\n");
    assert!(text.contains("'/rhdd3'"), "{text}");
    assert!(text.contains("'/rpms/x86_64'"), "{text}");
    for input in &inputs {
        let name = input
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let inner = format!("/rpms/x86_64/{name}");
        let line = listing
            .iter()
            .find(|l| l.contains(&format!("'{inner}'")))
            .unwrap_or_else(|| panic!("{inner} missing: {text}"));
        // Rock Ridge: read-only file owned by root, like vendor DUDs.
        assert!(line.starts_with("-r--r--r--"), "{line}");
        let extracted = extract(&out, &inner, &tmp.path().join(&name));
        assert_eq!(
            extracted,
            std::fs::read(input).expect("input"),
            "{name} byte-identical"
        );
        let q = run(Command::new("rpm")
            .args(["-qp", "--qf", "%{NAME}"])
            .arg(tmp.path().join(&name)));
        assert!(q.starts_with("kmod-megaraid_sas-"), "{q}");
    }
    let rhdd3 = extract(&out, "/rhdd3", &tmp.path().join("rhdd3"));
    assert_eq!(rhdd3, RHDD3_TEXT.as_bytes());
    let pvd = run(Command::new("xorriso")
        .arg("-indev")
        .arg(&out)
        .arg("-pvd_info"));
    assert!(pvd.contains("Volume Id    : OEMDRV"), "{pvd}");
    let joliet = run(Command::new("xorriso")
        .args(["-rockridge", "off", "-joliet", "on", "-indev"])
        .arg(&out)
        .args(["-find", "/rpms/x86_64"]));
    assert!(
        joliet.contains("kmod-megaraid_sas-good"),
        "Joliet tree: {joliet}"
    );

    let dud = open_dud(&out).expect("our reader accepts it");
    assert_eq!(dud.rpms.len(), 2);
    let ctx = InstallerContext {
        kernel_release: kvers().0,
        os_release: Some("9.2".into()),
        arch: "x86_64".into(),
    };
    let loaded = installer_loaded_modules(&dud, &ctx);
    assert_eq!(
        loaded.len(),
        1,
        "only the plain .ko loads on 9.2: {loaded:?}"
    );
}

#[test]
fn same_inputs_give_same_bytes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let inputs = vec![rpm("good"), rpm("zstd")];
    let a = tmp.path().join("a.iso");
    let b = tmp.path().join("b.iso");
    write_dud(&inputs, &a, &opts()).expect("a");
    write_dud(&inputs, &b, &opts()).expect("b");
    assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
    // Another time gives other bytes (the time is really used).
    let c = tmp.path().join("c.iso");
    let other = CreateOptions {
        time: Some(hadris_fs::DateTime::from_unix_seconds(1_600_000_000).expect("t")),
        ..CreateOptions::default()
    };
    write_dud(&inputs, &c, &other).expect("c");
    assert_ne!(std::fs::read(&a).expect("a"), std::fs::read(&c).expect("c"));
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("e").path())
        .filter(|p| p.to_string_lossy().contains(".remaster-dud-"))
        .collect()
}

#[test]
fn refuses_overwrite_and_bad_inputs_leave_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("dd.iso");
    std::fs::write(&out, b"keep me").expect("write");
    let err = write_dud(&[rpm("good")], &out, &opts()).expect_err("exists");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).expect("kept"), b"keep me");

    let forced = CreateOptions {
        force: true,
        ..opts()
    };
    write_dud(&[rpm("good")], &out, &forced).expect("forced");
    assert!(open_dud(&out).is_ok());

    // A corrupt "RPM": one-line error naming it; no output, no temp file.
    let bad = tmp.path().join("bad.rpm");
    let mut bytes = std::fs::read(rpm("good")).expect("rpm");
    bytes.truncate(200);
    std::fs::write(&bad, &bytes).expect("write");
    let out2 = tmp.path().join("dd2.iso");
    let err = write_dud(std::slice::from_ref(&bad), &out2, &opts()).expect_err("corrupt");
    let msg = err.to_string();
    assert!(msg.contains("bad.rpm") && !msg.contains('\n'), "{msg}");
    assert!(!out2.exists());
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );

    // Not an RPM at all.
    let err = write_dud(&[fixtures().join("dd-good.iso")], &out2, &opts()).expect_err("iso");
    assert!(err.to_string().contains("not an RPM"), "{err}");
    // No inputs, duplicate names.
    assert!(write_dud(&[], &out2, &opts()).is_err());
    let err = write_dud(&[rpm("good"), rpm("good")], &out2, &opts()).expect_err("dup");
    assert!(err.to_string().contains("both"), "{err}");
    assert!(!out2.exists());
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn unversioned_provide_is_warned_about() {
    let tmp = tempfile::tempdir().expect("tmp");
    let created = write_dud(&[rpm("unver")], &tmp.path().join("u.iso"), &opts()).expect("written");
    assert!(
        created.warnings.iter().any(|w| w.contains("skip")),
        "{:?}",
        created.warnings
    );
}

#[test]
fn source_date_epoch_is_honoured() {
    let tmp = tempfile::tempdir().expect("tmp");
    let explicit = tmp.path().join("explicit.iso");
    let from_env = tmp.path().join("env.iso");
    write_dud(&[rpm("good")], &explicit, &opts()).expect("explicit");
    // Only this test reads the variable (the others pass an explicit time).
    std::env::set_var("SOURCE_DATE_EPOCH", "1700000000");
    let result = write_dud(&[rpm("good")], &from_env, &CreateOptions::default());
    std::env::remove_var("SOURCE_DATE_EPOCH");
    result.expect("env");
    assert_eq!(
        std::fs::read(&explicit).expect("a"),
        std::fs::read(&from_env).expect("b")
    );
}

#[test]
fn in_memory_image_equals_file_image() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("dd.iso");
    let inputs = vec![rpm("good")];
    write_dud(&inputs, &out, &opts()).expect("file");
    let (bytes, created) =
        remaster::dud::create::dud_image_bytes(&inputs, &opts()).expect("memory");
    assert_eq!(created.size, bytes.len() as u64);
    assert_eq!(bytes, std::fs::read(&out).expect("file"));
}

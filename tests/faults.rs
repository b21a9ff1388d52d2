//! Faults while writing, against the real binary (`remaster ISO --cmdline x=y -o OUT`):
//! a file size limit (EFBIG, like a full disk), SIGKILL and SIGINT in the middle of the
//! write, and an input that changes while it is being written. In every case the output
//! appears complete or not at all, and the input is unchanged.
//!
//! What a `kill -9` can leave: the temporary file `.remaster-XXXXXX.tmp` beside the
//! destination (nothing can remove it when the process is killed outright); never a file at
//! the output's name. SIGINT / SIGTERM / SIGHUP remove it.
//!
//! Test-only hook: `REMASTER_TEST_PAUSE_AFTER_PLAN_MS=N` makes the writer sleep N ms after it
//! created and reserved the temporary output and before it writes the first byte, so that
//! a test can change the input at a known moment (see `iso::write`).
//!
//! Fixtures: scripts/build-fixture-iso.sh (small fixture, and the ~1 GiB one with
//! FIXTURE_INSTALL_IMG_MB=900), built on demand and cached in $REMASTER_FIXTURES.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::cli::{edit_cmd, file_sha256};
use common::fixtures::{fixture_iso, fixture_iso_sized, names_in, scratch_dir};

/// (len, mtime) of a file: enough to see that a multi-GiB input was not touched.
fn stamp(path: &Path) -> (u64, std::time::SystemTime) {
    let m = std::fs::metadata(path).unwrap();
    (m.len(), m.modified().unwrap())
}

fn temp_files_in(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with(".remaster-"))
        .collect()
}

/// The lines remaster printed as its error (the plan report also goes to stderr).
fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("remaster: "))
        .map(str::to_owned)
        .collect()
}

/// Bytes the process has written through write(2) & co. (`wchar` of /proc/PID/io).
fn bytes_written(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until the child has written `at_least` bytes (it is then in the middle of the
/// output, which is far larger), panicking if it exits first or takes too long.
fn wait_until_writing(child: &mut Child, at_least: u64) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("remaster exited ({status}) before it had written {at_least} bytes");
        }
        if bytes_written(child.id()).is_some_and(|n| n >= at_least) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "remaster did not write {at_least} bytes within 300 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until a temporary output appears in `dir`.
fn wait_for_temp(child: &mut Child, dir: &Path) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Some(name) = temp_files_in(dir).into_iter().next() {
            return dir.join(name);
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("remaster exited ({status}) before creating its temporary output");
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no temporary output appeared in {} within 300 s",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A file size limit far below the output: EFBIG must be reported (exit 4, one line naming
/// the output) before anything appears, the temporary file removed, the input unchanged.
#[test]
fn file_size_limit_fails_cleanly() {
    let iso = fixture_iso();
    let before = file_sha256(&iso);
    let dir = scratch_dir();
    let out = dir.path().join("out.iso");
    let plain = edit_cmd(&iso, &out);
    // `ulimit -f` counts 512-byte blocks in sh (dash): 4 MiB, the fixture is ~40 MiB.
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg("ulimit -f 8192 && exec \"$0\" \"$@\"")
        .arg(plain.get_program())
        .args(plain.get_args())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(Stdio::null());
    let output = limited.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(4),
        "exit status; stderr:\n{stderr}"
    );
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "exactly one error line; stderr:\n{stderr}");
    assert!(
        errors[0].contains(&out.display().to_string()),
        "the error names the output: {}",
        errors[0]
    );
    assert!(
        errors[0].contains("File too large") || errors[0].contains("ulimit"),
        "the error says why: {}",
        errors[0]
    );
    assert_eq!(names_in(dir.path()), Vec::<String>::new(), "nothing left");
    assert_eq!(file_sha256(&iso), before, "the input must never change");
}

/// Where the full-disk test gets its small filesystem: an 8 MiB tmpfs mounted in a temp dir,
/// directly when the test runs as root (as CI does), else inside a new user and mount
/// namespace (`unshare -Urm`, util-linux) where an unprivileged user may mount a tmpfs.
/// Runs the remaster of `iso` into `<mnt>/out.iso` there; returns its output and what was
/// left in the mount, or None when neither way can mount.
fn remaster_on_a_full_disk(iso: &Path, mnt: &Path) -> Option<(Output, Vec<String>)> {
    let out = mnt.join("out.iso");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "remaster-faults"])
        .arg(mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = Command::new("umount").arg(&self.0).status();
            }
        }
        let _unmount = Unmount(mnt.to_path_buf());
        let output = edit_cmd(iso, &out).output().unwrap();
        return Some((output, names_in(mnt)));
    }
    // The mount exists only inside the namespace: run remaster and list the mount there.
    const LEFT: &str = "remaster-faults-left:";
    let script = format!(
        "mount -t tmpfs -o size=8m remaster-faults \"$1\" || exit 97; \
         \"$2\" \"$3\" --cmdline x=y -o \"$1/out.iso\"; rc=$?; \
         echo {LEFT}; ls -A \"$1\"; exit $rc"
    );
    let output = Command::new("unshare")
        .args(["-Urm", "sh", "-c", &script, "sh"])
        .arg(mnt)
        .arg(env!("CARGO_BIN_EXE_remaster"))
        .arg(iso)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if output.status.code() == Some(97) || output.status.code().is_none() {
        return None;
    }
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (_, left) = stdout.split_once(LEFT)?;
    let left = left.split_whitespace().map(str::to_owned).collect();
    Some((output, left))
}

/// A full disk behaves the same through the preallocation: a tiny tmpfs. Skipped with a
/// note where no tmpfs can be mounted (the size limit test above covers EFBIG), but never
/// under CI=true: CI runs as root, so it must run there.
#[test]
fn full_disk_fails_before_writing() {
    let iso = fixture_iso();
    let dir = scratch_dir();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let Some((output, left)) = remaster_on_a_full_disk(&iso, &mnt) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the full-disk test, but no tmpfs could be mounted (as root, or with unshare -Urm)"
        );
        eprintln!("note: cannot mount a tmpfs here; full-disk test skipped (EFBIG is tested)");
        return;
    };
    let out = mnt.join("out.iso");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "stderr:\n{stderr}");
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "stderr:\n{stderr}");
    assert!(
        errors[0].contains(&out.display().to_string())
            && errors[0].contains("No space left on device"),
        "{}",
        errors[0]
    );
    assert_eq!(left, Vec::<String>::new(), "nothing left");
}

/// SIGKILL in the middle of writing the ~1 GiB fixture: no output at its name (a temporary
/// `.remaster-*` file may remain, see the module doc), the input unchanged.
#[test]
fn sigkill_mid_write_leaves_no_output() {
    let iso = fixture_iso_sized(900);
    let before = stamp(&iso);
    let dir = scratch_dir();
    let out = dir.path().join("out.iso");
    let mut child = edit_cmd(&iso, &out).spawn().unwrap();
    wait_until_writing(&mut child, 64 << 20);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        !out.exists(),
        "a killed write must not leave {}",
        out.display()
    );
    for name in names_in(dir.path()) {
        assert!(
            name.starts_with(".remaster-") && name.ends_with(".tmp"),
            "only the documented temporary file may remain, found {name}"
        );
    }
    assert_eq!(stamp(&iso), before, "the input must never change");
}

/// SIGINT (Ctrl-C) in the middle of the write: exit ≠ 0, no output, no temporary file.
#[test]
fn sigint_mid_write_removes_the_temporary_file() {
    let iso = fixture_iso_sized(900);
    let before = stamp(&iso);
    let dir = scratch_dir();
    let out = dir.path().join("out.iso");
    let mut child = edit_cmd(&iso, &out).spawn().unwrap();
    wait_until_writing(&mut child, 64 << 20);
    // The shell's builtin kill: no extra package needed.
    let sent = Command::new("sh")
        .args(["-c", "kill -INT \"$0\"", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "stderr:\n{stderr}");
    assert!(stderr.contains("interrupted"), "stderr:\n{stderr}");
    assert!(!out.exists());
    assert_eq!(names_in(dir.path()), Vec::<String>::new(), "nothing left");
    assert_eq!(stamp(&iso), before, "the input must never change");
}

/// The input grows by one byte after planning, while the output is being written: refused
/// (input error, one line naming the input), no output, no temporary file.
#[test]
fn input_changed_during_write_is_refused() {
    let dir = scratch_dir();
    let input = dir.path().join("in.iso");
    std::fs::copy(fixture_iso(), &input).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("out.iso");
    let mut child = edit_cmd(&input, &out)
        .env("REMASTER_TEST_PAUSE_AFTER_PLAN_MS", "1500")
        .spawn()
        .unwrap();
    // The temporary output exists: planning is over and the pause has begun.
    wait_for_temp(&mut child, &out_dir);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        f.write_all(b"!").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "stderr:\n{stderr}");
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "stderr:\n{stderr}");
    assert!(
        errors[0].contains(&input.display().to_string()) && errors[0].contains("changed"),
        "{}",
        errors[0]
    );
    assert_eq!(names_in(&out_dir), Vec::<String>::new(), "nothing left");
}

/// The same run without interference succeeds (so the tests above fail for the reason
/// they name), and leaves only the output.
#[test]
fn undisturbed_run_writes_only_the_output() {
    let iso = fixture_iso();
    let dir = scratch_dir();
    let out = dir.path().join("out.iso");
    let output = edit_cmd(&iso, &out)
        .env("REMASTER_TEST_PAUSE_AFTER_PLAN_MS", "10")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(names_in(dir.path()), vec!["out.iso".to_string()]);
    let check = Command::new("checkisomd5").arg(&out).output().unwrap();
    assert!(
        check.status.success(),
        "checkisomd5: {}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// SIGTERM while the writer holds its reserved temporary output (the test pause makes the
/// moment certain): exit 143, no output, no temporary file.
#[test]
fn sigterm_removes_the_temporary_file() {
    let iso = fixture_iso();
    let dir = scratch_dir();
    let out = dir.path().join("out.iso");
    let mut child = edit_cmd(&iso, &out)
        .env("REMASTER_TEST_PAUSE_AFTER_PLAN_MS", "20000")
        .spawn()
        .unwrap();
    let temp = wait_for_temp(&mut child, dir.path());
    let sent = Command::new("sh")
        .args(["-c", "kill -TERM \"$0\"", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("removed the partial output {}", temp.display())),
        "stderr:\n{stderr}"
    );
    assert_eq!(names_in(dir.path()), Vec::<String>::new(), "nothing left");
}

/// Through the library: an input that changed after the caller planned from it (the
/// pipeline stamps it when it opens it) is refused before anything is created.
#[test]
fn input_changed_after_planning_is_refused_by_the_writer() {
    use remaster::iso::write::{write, EditPlan, InputStamp, NewContent, WriteOptions};
    let dir = scratch_dir();
    let input = dir.path().join("in.iso");
    std::fs::copy(fixture_iso(), &input).unwrap();
    let planned = InputStamp::of_path(&input).unwrap();
    let plan = || EditPlan {
        replace: vec![(
            "isolinux/isolinux.cfg".into(),
            NewContent::Bytes(b"default linux\n".to_vec()),
        )],
        input_stamp: Some(planned),
        ..Default::default()
    };
    let opts = || WriteOptions {
        force: false,
        progress: None,
    };
    // Unchanged: written.
    let ok = dir.path().join("ok.iso");
    write(&input, &ok, plan(), opts()).unwrap();
    std::fs::remove_file(&ok).unwrap();
    // Same size, new content and mtime (a rewrite in place): refused.
    std::thread::sleep(Duration::from_millis(20));
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&input)
            .unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(&[0]).unwrap();
    }
    let out = dir.path().join("out.iso");
    let e = write(&input, &out, plan(), opts()).unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains("changed"), "{e}");
    assert_eq!(names_in(dir.path()), vec!["in.iso".to_string()]);
}

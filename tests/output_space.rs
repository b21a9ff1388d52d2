//! Full-size outputs, against the real binary (`remaster ISO --cmdline x=y -o OUT`):
//!
//! - the temporary output of a run killed with SIGKILL is reported and removed by the next
//!   run into the same folder, while the temporary output of a run that is still writing
//!   (paused mid-write) is left alone;
//! - where the filesystem cannot preallocate, too little free space is refused before the
//!   first byte, in one line with both numbers; a disk that fills up during the write
//!   anyway leaves nothing behind and is reported in the same words.
//!
//! Test-only hooks (see `iso::output_guard` and `iso::write`):
//! `REMASTER_TEST_NO_PREALLOCATE=1` makes preallocation report "unsupported", as on exFAT
//! through FUSE; `REMASTER_TEST_PAUSE_AFTER_PLAN_MS=N` makes the writer sleep N ms after it
//! created and reserved its temporary output, before the first byte.
//!
//! The space tests mount a small tmpfs in a temporary directory, which needs root. Without
//! root they are skipped with a note, except under CI (`CI=true`), where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::cli::edit_cmd;
use common::fixtures::{fixture_iso, fixture_iso_sized, names_in, scratch_dir};

const PAUSE_ENV: &str = "REMASTER_TEST_PAUSE_AFTER_PLAN_MS";
const NO_PREALLOCATE_ENV: &str = "REMASTER_TEST_NO_PREALLOCATE";

fn temp_files_in(dir: &Path) -> Vec<PathBuf> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with(".remaster-") && n.ends_with(".tmp"))
        .map(|n| dir.join(n))
        .collect()
}

/// Waits until a temporary output other than `known` appears in `dir`.
fn wait_for_new_temp(child: &mut Child, dir: &Path, known: &[PathBuf]) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Some(p) = temp_files_in(dir).into_iter().find(|p| !known.contains(p)) {
            return p;
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

/// Waits until `path` has at least `len` bytes allocated (its preallocation is done).
fn wait_for_allocation(child: &mut Child, path: &Path, len: u64) {
    use std::os::unix::fs::MetadataExt;
    let start = Instant::now();
    while std::fs::metadata(path).map_or(0, |m| m.blocks() * 512) < len {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("remaster exited ({status}) before reserving its temporary output");
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{} was not preallocated to {len} bytes within 300 s",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("remaster: "))
        .map(str::to_owned)
        .collect()
}

fn checkisomd5_passes(iso: &Path) {
    let check = Command::new("checkisomd5").arg(iso).output().unwrap();
    assert!(
        check.status.success(),
        "checkisomd5 {}: {}",
        iso.display(),
        String::from_utf8_lossy(&check.stdout)
            .lines()
            .filter(|l| !l.contains("Checking:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A `kill -9` leaves a full-size temporary output; the next run into the folder reports
/// it (one line: path and bytes freed) and removes it, and leaves alone the temporary
/// output of a run that is still writing. The killed run is started while the live one
/// holds its file, so its own scan must leave that file alone too.
#[test]
fn killed_runs_leftover_is_removed_and_a_live_runs_file_is_not() {
    let iso = fixture_iso();
    let iso_len = std::fs::metadata(&iso).unwrap().len();
    let dir = scratch_dir();
    // A: alive, paused after reserving its temporary output.
    let mut live = edit_cmd(&iso, &dir.path().join("live.iso"))
        .env(PAUSE_ENV, "120000")
        .spawn()
        .unwrap();
    let live_temp = wait_for_new_temp(&mut live, dir.path(), &[]);
    let live_ino = std::fs::metadata(&live_temp).unwrap().ino();
    // C: killed with SIGKILL once its temporary output exists.
    let mut killed = edit_cmd(&iso, &dir.path().join("killed.iso"))
        .env(PAUSE_ENV, "120000")
        .spawn()
        .unwrap();
    let leftover = wait_for_new_temp(&mut killed, dir.path(), std::slice::from_ref(&live_temp));
    // The file appears before its space is reserved: kill only once it holds the whole
    // image (the run is then paused), so the leftover is the full-size one a DVD user sees.
    wait_for_allocation(&mut killed, &leftover, iso_len);
    killed.kill().unwrap();
    let killed_out = killed.wait_with_output().unwrap();
    assert!(!killed_out.status.success());
    assert!(
        !String::from_utf8_lossy(&killed_out.stderr).contains("removed"),
        "the killed run's scan must not remove the live run's file:\n{}",
        String::from_utf8_lossy(&killed_out.stderr)
    );
    let leftover_len = std::fs::metadata(&leftover).unwrap().len();
    assert!(
        leftover_len >= iso_len,
        "the leftover is full size: {leftover_len} < {iso_len}"
    );
    // B: a normal run into the same folder.
    let next = dir.path().join("next.iso");
    let out = edit_cmd(&iso, &next).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("remaster: removed"))
        .collect();
    assert_eq!(reports.len(), 1, "one line per leftover; stderr:\n{stderr}");
    let freed: u64 = reports[0]
        .split('(')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in: {}", reports[0]));
    assert!(
        reports[0].contains(&leftover.display().to_string()) && freed >= iso_len,
        "{}",
        reports[0]
    );
    assert!(!leftover.exists(), "the leftover is removed");
    checkisomd5_passes(&next);
    // The live run's file is untouched and still its own.
    assert!(
        live.try_wait().unwrap().is_none(),
        "the live run still runs"
    );
    assert_eq!(std::fs::metadata(&live_temp).unwrap().ino(), live_ino);
    let sent = Command::new("sh")
        .args(["-c", "kill -TERM \"$0\"", &live.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let live_out = live.wait_with_output().unwrap();
    let live_err = String::from_utf8_lossy(&live_out.stderr);
    assert_eq!(live_out.status.code(), Some(143), "stderr:\n{live_err}");
    assert!(
        live_err.contains(&format!(
            "removed the partial output {}",
            live_temp.display()
        )),
        "stderr:\n{live_err}"
    );
    assert_eq!(names_in(dir.path()), vec!["next.iso".to_string()]);
}

/// Bytes the process has written through write(2) & co. (`wchar` of /proc/PID/io).
fn bytes_written(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// SIGKILL in the middle of writing the ~1 GiB fixture (after 64 MiB): the leftover holds
/// written data and the rest of the reserved size; the next run into the folder (the
/// small fixture) reports it with about 1 GiB freed and removes it.
#[test]
fn sigkill_mid_write_leftover_is_removed_by_the_next_run() {
    let big = fixture_iso_sized(900);
    let big_len = std::fs::metadata(&big).unwrap().len();
    let dir = scratch_dir();
    let mut child = edit_cmd(&big, &dir.path().join("big.iso")).spawn().unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("remaster exited ({status}) before it had written 64 MiB");
        }
        if bytes_written(child.id()).is_some_and(|n| n >= 64 << 20) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let temps = temp_files_in(dir.path());
    assert_eq!(temps.len(), 1, "{:?}", names_in(dir.path()));
    let leftover = &temps[0];
    assert!(std::fs::metadata(leftover).unwrap().len() >= big_len);
    let mut head = vec![0u8; 1 << 20];
    std::os::unix::fs::FileExt::read_exact_at(
        &std::fs::File::open(leftover).unwrap(),
        &mut head,
        0,
    )
    .unwrap();
    assert!(
        head.iter().any(|&b| b != 0),
        "killed mid-write: the leftover starts with written data"
    );
    let out = edit_cmd(&fixture_iso(), &dir.path().join("next.iso"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("remaster: removed {}", leftover.display())))
        .unwrap_or_else(|| panic!("no report of the leftover:\n{stderr}"));
    let freed: u64 = line
        .rsplit('(')
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in: {line}"));
    assert!(freed >= 900 << 20, "{line}");
    assert_eq!(names_in(dir.path()), vec!["next.iso".to_string()]);
}

/// Same for `dud create`: a leftover of a killed `remaster` run beside the DUD's destination
/// is removed by `dud create`, and a temporary file that is not marked (name alone) is not.
#[test]
fn dud_create_removes_leftovers_too_but_not_by_name_alone() {
    let iso = fixture_iso();
    let dir = scratch_dir();
    let mut killed = edit_cmd(&iso, &dir.path().join("killed.iso"))
        .env(PAUSE_ENV, "120000")
        .spawn()
        .unwrap();
    let leftover = wait_for_new_temp(&mut killed, dir.path(), &[]);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let impostor = dir.path().join(".remaster-user01.tmp");
    std::fs::write(&impostor, vec![0u8; 100_000]).unwrap();
    let rpms = dud_support::rpm("good");
    let out = Command::new(env!("CARGO_BIN_EXE_remaster"))
        .args(["dud", "create"])
        .arg(&rpms)
        .arg("-o")
        .arg(dir.path().join("dd.iso"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("remaster: removed {}", leftover.display())),
        "stderr:\n{stderr}"
    );
    assert!(!leftover.exists());
    assert!(impostor.exists(), "a file with the name alone is not ours");
}

#[path = "dud_support/mod.rs"]
mod dud_support;

/// A small tmpfs mounted in a temporary directory for the life of the value.
struct SmallFs {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mounts a tmpfs of `size` (mount's syntax, e.g. `8m`); None (test skipped) when this
    /// process may not mount, unless under CI, where the test must run.
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = scratch_dir();
        let mnt = dir.path().join("small");
        std::fs::create_dir(&mnt).unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "remaster-space",
            ])
            .arg(&mnt)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cannot mount a tmpfs at {} (CI runs these tests as root)",
                mnt.display()
            );
            eprintln!("note: cannot mount a tmpfs here (not root?); space test skipped");
            return None;
        }
        Some(SmallFs { mnt, _dir: dir })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

/// `not enough space: needs N bytes, M bytes free (...)`: (N, M).
fn space_numbers(line: &str) -> (u64, u64) {
    let after = |key: &str| -> u64 {
        line.split(key)
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.trim_end_matches(',').parse().ok())
            .unwrap_or_else(|| panic!("no number after {key:?} in: {line}"))
    };
    let needs = after("needs ");
    let free = after("bytes, ");
    (needs, free)
}

/// No preallocation (the test seam) on an 8 MiB filesystem, a ~44 MB output: refused
/// before the first byte, exit 4, one line naming the output with both numbers; nothing
/// left on the filesystem. With preallocation, the same refusal in the same words.
#[test]
fn no_preallocation_and_too_little_space_is_refused_before_writing() {
    let Some(fs) = SmallFs::mount("8m") else {
        return;
    };
    let iso = fixture_iso();
    let out = fs.mnt.join("out.iso");
    let output = edit_cmd(&iso, &out)
        .env(NO_PREALLOCATE_ENV, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "stderr:\n{stderr}");
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "stderr:\n{stderr}");
    let line = &errors[0];
    assert!(
        line.contains(&out.display().to_string())
            && line.contains("not enough space")
            && line.contains("checked before writing")
            && line.contains("free space or choose another destination"),
        "{line}"
    );
    let (needs, free) = space_numbers(line);
    assert!(needs > 8 << 20 && free <= 8 << 20 && free > 0, "{line}");
    assert_eq!(names_in(&fs.mnt), Vec::<String>::new(), "nothing left");
    // With preallocation (tmpfs has it): refused at the reservation, in the same words.
    let output = edit_cmd(&iso, &out).output().unwrap();
    let errors = error_lines(&output);
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("not enough space: needs")
            && errors[0].contains("No space left on device"),
        "{}",
        errors[0]
    );
    assert_eq!(space_numbers(&errors[0]).0, needs, "{}", errors[0]);
    assert_eq!(names_in(&fs.mnt), Vec::<String>::new(), "nothing left");
}

/// No preallocation and enough space at the check, but the filesystem fills up while the
/// writer is paused before its first byte: the write fails with ENOSPC, exit 4, one line
/// worded like the refusal, and no partial file is left.
#[test]
fn disk_filling_up_during_the_write_leaves_nothing_and_says_so() {
    let Some(fs) = SmallFs::mount("64m") else {
        return;
    };
    let iso = fixture_iso();
    let out = fs.mnt.join("out.iso");
    let mut child = edit_cmd(&iso, &out)
        .env(NO_PREALLOCATE_ENV, "1")
        .env(PAUSE_ENV, "1500")
        .spawn()
        .unwrap();
    wait_for_new_temp(&mut child, &fs.mnt, &[]);
    // Fill the filesystem while the writer sleeps.
    {
        use std::io::Write;
        let mut filler = std::fs::File::create(fs.mnt.join("filler")).unwrap();
        let chunk = vec![0x55u8; 1 << 20];
        while filler.write_all(&chunk).is_ok() {}
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "stderr:\n{stderr}");
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "stderr:\n{stderr}");
    let line = &errors[0];
    assert!(
        line.contains(&out.display().to_string())
            && line.contains("not enough space: needs")
            && line.contains("No space left on device")
            && line.contains("while writing")
            && line.contains("free space or choose another destination"),
        "{line}"
    );
    let (needs, _free) = space_numbers(line);
    assert!(needs > 30 << 20, "{line}");
    assert_eq!(
        names_in(&fs.mnt),
        vec!["filler".to_string()],
        "no partial left"
    );
}

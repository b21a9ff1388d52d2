//! Hostile inputs (issue 7 §2): runs the built `remaster` binary on every case of the corpus
//! that `scripts/make-hostile-corpus.sh` derives from the real fixtures (truncated and
//! bit-flipped ISOs, directory loops, extents past the end, El Torito catalog outside, GPT
//! with bad CRCs, cpio with `../` and absolute names, huge size fields, xz/zstd bombs, corrupt
//! RPM headers and payloads, DUDs without rhdd3, ELF modules with bad sections, bzImages with
//! bad offsets). The manifest and the meaning of `reject` / `tolerate` are documented in
//! scripts/make-hostile-corpus.py and docs/fuzzing.md.
//!
//! Every case, whatever its expectation: no panic (exit 101, "panicked" on stderr), no death
//! by a signal (an allocation above the address-space limit aborts), no hang (killed after
//! [`CASE_TIMEOUT`]), the input file's SHA-256 and its directory unchanged, nothing in the
//! output directory unless the main job succeeded, and whenever the exit code is not 0:
//! stderr's last line is `remaster: <the hostile file>: <cause>` — except for the refusal
//! `check` and `verify` print as their report (exit 1, stdout naming the file). `reject`
//! cases must fail (or be refused) and name an expected cause; `tolerate` cases (mutations
//! that may leave a readable file) may succeed. `HOSTILE_FILTER=substring` runs only
//! matching cases; `HOSTILE_THREADS` (default 2) sets the parallelism.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A case taking longer than this is a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Virtual memory limit of the child (ulimit -v, KiB): an attempt to allocate gigabytes from
/// a size field aborts the process, which fails the case.
const MEMORY_LIMIT_KIB: u64 = 3 << 20;

#[derive(Debug, Clone, serde::Deserialize)]
struct Case {
    name: String,
    input: String,
    args: Vec<String>,
    expect: String,
    cause: String,
    why: String,
}

#[derive(serde::Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("REMASTER_FIXTURES") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("fixtures").join("build"),
    }
}

/// Builds (or finds cached) the corpus through its script; panics with the script's output
/// and the command to run by hand if it cannot.
fn corpus() -> (PathBuf, Vec<Case>) {
    let script = repo_root().join("scripts/make-hostile-corpus.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("REMASTER_FIXTURES", fixtures_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "the hostile corpus could not be built; run scripts/setup.sh then \
         scripts/make-hostile-corpus.sh by hand:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let m: Manifest =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    (dir, m.cases)
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sha256sum: {e}"));
    assert!(out.status.success(), "sha256sum {} failed", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What one run did.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    timed_out: bool,
    left_in_out_dir: Vec<String>,
}

/// Runs the binary on one case in a fresh output directory (also its working directory).
fn run_case(case: &Case, input: &Path) -> Outcome {
    let out_dir = tempfile::tempdir().expect("temporary directory");
    let logs = tempfile::tempdir().expect("temporary directory");
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| {
            a.replace("{input}", &input.to_string_lossy())
                .replace("{out}", &out_dir.path().join("out.iso").to_string_lossy())
        })
        .collect();
    let stdout_path = logs.path().join("stdout");
    let stderr_path = logs.path().join("stderr");
    let start = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_remaster"))
        .args(&args)
        .current_dir(out_dir.path())
        .env_remove("RUST_BACKTRACE")
        .env("SOURCE_DATE_EPOCH", "1683849600")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn remaster");
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for remaster") {
            break status;
        }
        if start.elapsed() > CASE_TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for killed remaster");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Outcome {
        code: status.code(),
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
        elapsed,
        timed_out,
        left_in_out_dir: listing(out_dir.path()),
    }
}

/// The problems with one outcome (empty: the case passed).
fn judge(case: &Case, input: &Path, o: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    if o.timed_out {
        problems.push(format!("hung: killed after {CASE_TIMEOUT:?}"));
        return problems;
    }
    let last = o.stderr.trim_end().lines().last().unwrap_or("").to_owned();
    match o.code {
        None => problems.push(format!("killed by a signal (abort, stack overflow or allocation above {MEMORY_LIMIT_KIB} KiB); stderr: {last}")),
        Some(101) => problems.push(format!("exit 101 (panic): {last}")),
        _ => {}
    }
    if o.stderr.contains("panicked") {
        problems.push("stderr mentions a panic (even a caught one)".into());
    }
    let failed = o.code != Some(0);
    let input_s = input.to_string_lossy();
    let names_cause = |text: &str| {
        let text = text.replace(input_s.as_ref(), "").to_lowercase();
        case.cause
            .split('|')
            .any(|c| text.contains(&c.to_lowercase()))
    };
    // `check` and `verify` answer with a report on stdout and exit 1 (check: 5 = loads only
    // without Secure Boot) when the input is readable but refused; that is not an error line.
    let command = case.args.first().map(String::as_str).unwrap_or("");
    let verdict_code = match command {
        "check" => matches!(o.code, Some(1) | Some(5)),
        "verify" => o.code == Some(1),
        _ => false,
    };
    let verdict = verdict_code && !last.starts_with("remaster: ");
    if verdict {
        let refusal = match command {
            "check" => o.code == Some(1) && o.stdout.contains("verdict: REFUSED"),
            _ => o.stdout.contains("NOT OK"),
        };
        if case.expect == "reject" && !refusal {
            problems.push(format!(
                "exit {:?} without a refusal on stdout, but this input must be refused",
                o.code
            ));
        }
        if case.expect == "reject" && !names_cause(&o.stdout) {
            problems.push(format!(
                "the refusal on stdout does not name the cause (one of {:?})",
                case.cause
            ));
        }
        if !o.stdout.contains(input_s.as_ref()) {
            problems.push("the report on stdout does not name the input file".into());
        }
    } else if case.expect == "reject" && !failed {
        problems.push("exit 0, but this input must be refused".into());
    }
    if failed && !verdict && o.code.is_some() && o.code != Some(101) {
        if !last.starts_with("remaster: ") {
            problems.push(format!(
                "last stderr line does not start with \"remaster: \": {last:?}"
            ));
        }
        if !last.contains(input_s.as_ref()) {
            problems.push(format!(
                "last stderr line does not name the input file: {last:?}"
            ));
        }
        if case.expect == "reject" && !names_cause(&last) {
            problems.push(format!(
                "error does not name the cause (one of {:?}): {last:?}",
                case.cause
            ));
        }
    }
    // inspect, check and verify never write; the main job and `dud create` only on success.
    let writes = !matches!(command, "inspect" | "check" | "verify");
    if (failed || !writes) && !o.left_in_out_dir.is_empty() {
        problems.push(format!(
            "left files in the output directory: {:?}",
            o.left_in_out_dir
        ));
    }
    problems
}

#[test]
fn manifest_covers_every_category_of_issue_7() {
    let (_, cases) = corpus();
    // The generator must keep producing each kind the issue names (prefixes of case names).
    for prefix in [
        "iso-truncated-",
        "iso-bitflip-",
        "iso-dir-loop-",
        "iso-kernel-extent-past-end",
        "iso-catalog-outside",
        "iso-gpt-bad-header-crc",
        "iso-gpt-bad-entries-crc",
        "cpio-dotdot",
        "cpio-absolute",
        "cpio-filesize-huge",
        "iso-initrd-size-huge",
        "initrd-xz-bomb",
        "initrd-zstd-bomb",
        "rpm-store-size-huge",
        "rpm-entry-offset-outside",
        "rpm-payload-",
        "dud-no-rhdd3",
        "elf-overlap-",
        "elf-modinfo-past-end",
        "bz-payload-offset-past-end",
    ] {
        assert!(
            cases.iter().any(|c| c.name.starts_with(prefix)),
            "no corpus case named {prefix}*"
        );
    }
    let rejects = cases.iter().filter(|c| c.expect == "reject").count();
    assert!(
        rejects * 4 >= cases.len() * 3,
        "most cases must be strict rejections ({rejects} of {})",
        cases.len()
    );
    for c in &cases {
        assert!(
            c.expect == "reject" || c.expect == "tolerate",
            "{}: expect {:?}",
            c.name,
            c.expect
        );
        assert!(
            c.expect == "tolerate" || !c.cause.is_empty(),
            "{}: a reject case needs a cause",
            c.name
        );
    }
}

#[test]
fn hostile_corpus() {
    let (dir, cases) = corpus();
    let filter = std::env::var("HOSTILE_FILTER").unwrap_or_default();
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| c.name.contains(&filter))
        .collect();
    assert!(
        !cases.is_empty(),
        "no case matches HOSTILE_FILTER={filter:?}"
    );
    // Group by input: hash once before and once after all of its cases.
    let mut groups: BTreeMap<String, Vec<Case>> = BTreeMap::new();
    for c in cases {
        groups.entry(c.input.clone()).or_default().push(c);
    }
    let groups: Vec<(String, Vec<Case>)> = groups.into_iter().collect();
    let threads: usize = std::env::var("HOSTILE_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let log: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((input_rel, cases)) = groups.get(i) else {
                    break;
                };
                let input = dir.join(input_rel);
                let input_dir = input.parent().expect("input has a directory").to_path_buf();
                assert!(
                    input.is_file(),
                    "{} missing: rebuild with scripts/make-hostile-corpus.sh --force",
                    input.display()
                );
                let hash_before = sha256(&input);
                let dir_before = listing(&input_dir);
                for case in cases {
                    let o = run_case(case, &input);
                    let problems = judge(case, &input, &o);
                    let last = o.stderr.trim_end().lines().last().unwrap_or("").to_owned();
                    log.lock().unwrap().insert(
                        case.name.clone(),
                        format!(
                            "{:<48} {:>5} {:>6.2}s {}",
                            case.name,
                            o.code.map_or("sig".into(), |c| c.to_string()),
                            o.elapsed.as_secs_f64(),
                            last
                        ),
                    );
                    for p in problems {
                        results.lock().unwrap().push((
                            case.name.clone(),
                            format!("{p}  [{}; {}]", case.why, case.args.join(" ")),
                        ));
                    }
                }
                if sha256(&input) != hash_before {
                    results
                        .lock()
                        .unwrap()
                        .push((input_rel.clone(), "the input file changed".into()));
                }
                if listing(&input_dir) != dir_before {
                    results.lock().unwrap().push((
                        input_rel.clone(),
                        format!("the input's directory changed: {:?}", listing(&input_dir)),
                    ));
                }
            });
        }
    });
    let mut lines: Vec<(String, String)> = log.into_inner().unwrap().into_iter().collect();
    lines.sort();
    for (_, l) in &lines {
        eprintln!("{l}");
    }
    let failures = results.into_inner().unwrap();
    eprintln!(
        "{} cases in {:.1}s, {} problems",
        lines.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    let report: Vec<String> = failures.iter().map(|(n, p)| format!("{n}: {p}")).collect();
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        report.join("\n")
    );
}

// --- Crashers found by the fuzz targets (fuzz/), kept as regression tests -----------------

/// boot_config: a bare `rd.driver.pre` (no `=`) was merged into `rd.driver.pre,mpt3sas`,
/// an argument dracut does not know (the driver was not pre-loaded), and editing again added
/// a second one: edit_config was not idempotent.
#[test]
fn fuzz_regression_bare_rd_driver_pre() {
    use remaster::boot::{edit_config, CmdlineEdits, ConfigKind};
    let edits = CmdlineEdits {
        dud_paths: vec!["/dd.iso".into()],
        driver_pre: vec!["mpt3sas".into()],
        ..CmdlineEdits::default()
    };
    for (kind, text) in [
        (
            ConfigKind::Grub,
            "menuentry 'Install Rocky Linux 9.2' {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=X rd.driver.pre quiet\n\tinitrdefi /images/pxeboot/initrd.img\n}\n",
        ),
        (
            ConfigKind::Isolinux,
            "label linux\n  menu label ^Install Rocky Linux 9.2\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=X rd.driver.pre quiet\n",
        ),
    ] {
        let once = edit_config(kind, text, &edits).expect("edit");
        assert!(once.text.contains(" rd.driver.pre=mpt3sas "), "{kind:?}: {}", once.text);
        assert!(!once.text.contains("rd.driver.pre,"), "{kind:?}: {}", once.text);
        let twice = edit_config(kind, &once.text, &edits).expect("second edit");
        assert_eq!(once.text, twice.text, "{kind:?}: editing twice differs from once");
    }
}

/// kmod_module / kmod_kernel: an lzma-alone (or xz) header may ask for a 4 GiB dictionary;
/// the decoder allocated it (malloc of 2.3 GB under the fuzzer). Now the decoder's memory is
/// capped and the error says so.
#[test]
fn fuzz_regression_lzma_dictionary_is_capped() {
    let mut data = vec![0x5d, 0x00, 0x00, 0xff, 0xff];
    data.extend_from_slice(&[0xff; 8]);
    data.extend_from_slice(&[0x42; 256]);
    let err =
        remaster::kmod::decompress(&data, 1 << 20).expect_err("a 4 GiB dictionary must be refused");
    let msg = err.to_string().to_lowercase();
    assert!(msg.contains("memory") || msg.contains("limit"), "{msg}");
}

/// boot_config: a quote never closed swallowed the rest of grub.cfg into the last word of a
/// `linux` command (or the rest of an isolinux `append` into one kernel parameter), so the
/// added arguments landed inside the quote and a second edit added them again. GRUB and the
/// kernel misread such a file too; edit_config now refuses it.
#[test]
fn fuzz_regression_grub_unterminated_quote() {
    use remaster::boot::{edit_config, parse_entries, BootError, CmdlineEdits, ConfigKind};
    let edits = CmdlineEdits {
        dud_paths: vec!["/dd.iso".into()],
        driver_pre: vec!["mpt3sas".into()],
        ..CmdlineEdits::default()
    };
    let text = "menuentry 'Install Rocky Linux 9.2' {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=X quiet Rocky Linux 9.2 in text mode' --class os {\n\tinitrdefi /images/pxeboot/initrd.img\n}\n";
    let _ = parse_entries(ConfigKind::Grub, text);
    match edit_config(ConfigKind::Grub, text, &edits) {
        Err(BootError::UnterminatedQuote { line }) => assert_eq!(line, 2),
        other => panic!("expected UnterminatedQuote, got {other:?}"),
    }
    // isolinux: an odd number of `"` in an append line (found by the same target).
    let isolinux = "label linux\n  menu label ^Install\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=X quiet\"console=ttyS0\n";
    match edit_config(ConfigKind::Isolinux, isolinux, &edits) {
        Err(BootError::UnterminatedQuote { line }) => assert_eq!(line, 4),
        other => panic!("expected UnterminatedQuote, got {other:?}"),
    }
    let balanced = isolinux.replace("quiet\"console=ttyS0", "quiet \"console=ttyS0\"");
    let once = edit_config(ConfigKind::Isolinux, &balanced, &edits).expect("edit");
    let twice = edit_config(ConfigKind::Isolinux, &once.text, &edits).expect("second edit");
    assert_eq!(once.text, twice.text);
    // grub: a backslash ending the file escaped the space before the appended arguments.
    let trailing = "menuentry 'Install' {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=X console\\";
    assert!(matches!(
        edit_config(ConfigKind::Grub, trailing, &edits),
        Err(BootError::UnterminatedQuote { line: 2 })
    ));
    // Closed quotes are still edited.
    let closed = text.replace(" Rocky Linux 9.2 in text mode' --class os {", "");
    let once = edit_config(ConfigKind::Grub, &closed, &edits).expect("edit");
    let twice = edit_config(ConfigKind::Grub, &once.text, &edits).expect("second edit");
    assert_eq!(once.text, twice.text);
}

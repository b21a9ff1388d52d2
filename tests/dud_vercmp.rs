//! rpmvercmp against librpm itself (librpmio's `rpmvercmp` through ctypes, `rpm --eval
//! '%{lua: rpm.vercmp(a, b)}'` and python3-rpm's `labelCompare`, what rpmdev-vercmp calls)
//! over a generated list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod dud_support;

use std::cmp::Ordering;
use std::process::Command;

use dud_support::{run, Rng};
use remaster::dud::rpmvercmp::rpmvercmp;

/// Version strings built from pieces that hit every rpmvercmp branch.
fn generated_versions() -> Vec<String> {
    let pieces = [
        "0",
        "1",
        "01",
        "2",
        "10",
        "007",
        "9999999999999999999999",
        "a",
        "b",
        "Z",
        "rc",
        "el9",
        "_",
        ".",
        "-",
        "+",
        "~",
        "^",
        "~rc1",
        "^git",
        ".x86_64",
        "el9_2",
        "284.11.1",
    ];
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut out = vec![
        "5.14.0-284.11.1.el9_2.x86_64".to_owned(),
        "5.14.0-570.12.1.el9_6.x86_64".to_owned(),
        "5.14.0-284.11.1.el9_2".to_owned(),
        "6.1.0-50-amd64".to_owned(),
        "6.1.0-50".to_owned(),
        "6.1.0-47".to_owned(),
        "2.6.32-131".to_owned(),
        String::new(),
    ];
    for _ in 0..400 {
        let n = 1 + rng.below(5);
        let s: String = (0..n).map(|_| pieces[rng.below(pieces.len())]).collect();
        out.push(s);
    }
    out
}

fn generated_pairs() -> Vec<(String, String)> {
    let versions = generated_versions();
    let mut rng = Rng(42);
    let mut pairs = Vec::new();
    for i in 0..versions.len() {
        pairs.push((versions[i].clone(), versions[i].clone()));
        for _ in 0..3 {
            let j = rng.below(versions.len());
            pairs.push((versions[i].clone(), versions[j].clone()));
        }
    }
    pairs
}

fn ordering(answer: &str, a: &str, b: &str) -> Ordering {
    match answer.parse::<i64>() {
        Ok(n) if n < 0 => Ordering::Less,
        Ok(0) => Ordering::Equal,
        Ok(_) => Ordering::Greater,
        Err(_) => panic!("oracle said {answer:?} for {a:?} {b:?}"),
    }
}

/// The oracle is librpmio's own `rpmvercmp()` (the function dd_list calls), reached from
/// python3 through ctypes: no headers or compiler needed, only the rpm package.
#[test]
fn agrees_with_librpmio_rpmvercmp() {
    let pairs = generated_pairs();
    let script = r#"
import ctypes, sys
lib = ctypes.CDLL("librpmio.so.9")
lib.rpmvercmp.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
for line in sys.stdin.buffer.read().split(b"\n"):
    if not line:
        continue
    a, b = line.split(b"\t")
    print(lib.rpmvercmp(a, b))
"#;
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (with the rpm package's librpmio.so.9) is needed as the oracle");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), input.as_bytes())
        .expect("write pairs");
    let out = child.wait_with_output().expect("oracle");
    assert!(out.status.success(), "oracle failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<&str> = text.split_whitespace().collect();
    let usable: Vec<_> = pairs.iter().collect();
    assert_eq!(answers.len(), usable.len(), "one answer per pair");
    for ((a, b), answer) in usable.iter().zip(answers) {
        assert_eq!(
            rpmvercmp(a, b),
            ordering(answer, a, b),
            "rpmvercmp({a:?}, {b:?})"
        );
    }
    assert!(usable.len() > 1500);
}

/// Second oracle: rpm's Lua `rpm.vercmp`, which parses E:V-R first, so only strings
/// without `-`, `:` and not empty compare as plain rpmvercmp there.
#[test]
fn agrees_with_rpm_lua_vercmp_on_plain_versions() {
    let pairs: Vec<_> = generated_pairs()
        .into_iter()
        .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !(a.clone() + b).contains(['-', ':']))
        .collect();
    let mut lua = String::from("%{lua:\n");
    for (a, b) in &pairs {
        // rpm's Lua print() appends to the macro output without a separator.
        lua.push_str(&format!(
            "print(rpm.vercmp([==[{a}]==], [==[{b}]==]) .. \",\")\n"
        ));
    }
    lua.push('}');
    let out = run(Command::new("rpm").arg("--eval").arg(&lua));
    let answers: Vec<&str> = out
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(answers.len(), pairs.len());
    for ((a, b), answer) in pairs.iter().zip(answers) {
        assert_eq!(
            rpmvercmp(a, b),
            ordering(answer, a, b),
            "rpmvercmp({a:?}, {b:?})"
        );
    }
    assert!(pairs.len() > 500, "{} pairs", pairs.len());
}

/// Third oracle: `rpm.labelCompare` of rpm's Python bindings (Debian python3-rpm, in
/// scripts/test-deps.txt), the function rpmdev-vercmp calls (rpmdevtools itself is not
/// packaged for Debian). With equal epochs and releases it compares the versions with
/// librpm's rpmvercmp, over the generated plain versions. Without python3-rpm the test is skipped
/// on a developer machine and fails under CI=true, where it must run.
#[test]
fn agrees_with_python_rpm_label_compare() {
    // The system interpreter: python3-rpm is built for it (a pyenv python3 lacks it).
    let python = "/usr/bin/python3";
    let probe = Command::new(python).args(["-c", "import rpm"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3-rpm is missing: scripts/setup.sh installs it (scripts/test-deps.txt); \
             this oracle must run in CI: {probe:?}"
        );
        eprintln!("python3-rpm not installed (apt-get install python3-rpm); skipped");
        return;
    }
    // labelCompare takes the version of an E:V-R: plain versions only (as the Lua oracle).
    let mut pairs: Vec<(String, String)> = generated_pairs()
        .into_iter()
        .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !(a.clone() + b).contains(['-', ':']))
        .collect();
    for (a, b) in [
        ("284.11.1.el9_2.x86_64", "570.12.1.el9_6.x86_64"),
        ("1.0~rc1", "1.0"),
        ("6.1.0^git1", "6.1.0"),
    ] {
        pairs.push((a.to_string(), b.to_string()));
    }
    let script = r#"
import rpm, sys
for line in sys.stdin.buffer.read().decode().split("\n"):
    if not line:
        continue
    a, b = line.split("\t")
    print(rpm.labelCompare(("0", a, "1"), ("0", b, "1")))
"#;
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), input.as_bytes())
        .expect("write pairs");
    let out = child.wait_with_output().expect("oracle");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(answers.len(), pairs.len(), "one answer per pair");
    for ((a, b), answer) in pairs.iter().zip(answers) {
        assert_eq!(
            rpmvercmp(a, b),
            ordering(answer, a, b),
            "rpmvercmp({a:?}, {b:?})"
        );
    }
    assert!(pairs.len() > 500, "{} pairs", pairs.len());
}

//! The release artifacts of scripts/dist.sh (issue 17 §1): the static executable and the RPM.
//!
//! - `dist/remaster` has no dynamic loader (PT_INTERP) and needs no shared library
//!   (DT_NEEDED), read with `object` and with binutils' readelf as the oracle; the checker is
//!   shown to catch the dynamic test build, so it cannot pass by reading nothing.
//! - It runs `inspect`, `check`, a full `--add-dud` and `verify` inside an empty root (a chroot
//!   holding only the binary and its inputs, no /proc, /dev, /tmp, /lib or environment), and
//!   its output is byte-identical to the development build's and passes `checkisomd5`.
//! - The RPM (packaging/remaster.spec, rpmbuild) lists exactly the binary, the man pages and
//!   the bash/zsh/fish completions in their standard places, requires nothing but rpmlib
//!   features, and the binary unpacked from it (`rpm2cpio | cpio`) is dist/remaster and runs.
//!
//! Full tier only: scripts/dist.sh builds the static release binary, several minutes on two
//! cores from a cold target dir (seconds when the dir is cached). It builds into
//! `$CARGO_TARGET_DIR` (else `target/`) and writes the artifacts under Cargo's test tmpdir,
//! not the repository's dist/. The empty root needs chroot (root, as CI runs) or an
//! unprivileged user namespace (`unshare -r`); without either the test fails under CI=true
//! and is skipped with a message elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::cli::{file_sha256, output_text, remaster_bin};
use common::fixtures::*;

/// The artifacts directory, built once per test binary by scripts/dist.sh.
fn dist() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dist");
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/dist.sh"))
            .env("DIST_DIR", &dir)
            .output()
            .expect("run scripts/dist.sh");
        assert!(
            out.status.success(),
            "scripts/dist.sh failed:\n{}",
            output_text(&out)
        );
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        dir
    })
}

/// (has PT_INTERP, DT_NEEDED entries) of an ELF executable, read with `object`.
fn dynamic_needs(bin: &Path) -> (bool, usize) {
    use object::elf::{FileHeader64, DT_NEEDED, PT_INTERP};
    use object::read::elf::{Dyn, FileHeader, ProgramHeader};
    use object::Endianness;
    let data = fs::read(bin).expect("read binary");
    let header = FileHeader64::<Endianness>::parse(&*data).expect("ELF64 header");
    let endian = header.endian().expect("endianness");
    let mut interp = false;
    let mut needed = 0;
    for ph in header
        .program_headers(endian, &*data)
        .expect("program headers")
    {
        if ph.p_type(endian) == PT_INTERP {
            interp = true;
        }
        if let Some(entries) = ph.dynamic(endian, &*data).expect("dynamic segment") {
            needed += entries
                .iter()
                .filter(|d| d.tag(endian) == DT_NEEDED)
                .count();
        }
    }
    (interp, needed)
}

#[test]
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "full tier: builds the static release binary (scripts/dist.sh)"
)]
fn the_dist_binary_has_no_interpreter_and_needs_no_library() {
    // The checker catches a dynamic executable: the test build of the same program is one.
    let dev = Path::new(env!("CARGO_BIN_EXE_remaster"));
    let (interp, needed) = dynamic_needs(dev);
    assert!(
        interp && needed > 0,
        "the dynamic dev build reads as static: the check reads nothing"
    );

    let bin = dist().join("remaster");
    assert_eq!(
        dynamic_needs(&bin),
        (false, 0),
        "{} is not static",
        bin.display()
    );
    // The oracle: binutils' readelf.
    let (ok, headers) = run_tool("readelf", &["-lW", &bin.to_string_lossy()]);
    assert!(ok, "readelf -l: {headers}");
    assert!(
        headers.contains("LOAD"),
        "readelf shows no segments:\n{headers}"
    );
    assert!(
        !headers.contains("INTERP"),
        "readelf shows an interpreter:\n{headers}"
    );
    let (ok, dynamic) = run_tool("readelf", &["-dW", &bin.to_string_lossy()]);
    assert!(ok, "readelf -d: {dynamic}");
    assert!(
        !dynamic.contains("(NEEDED)"),
        "readelf shows needed libraries:\n{dynamic}"
    );
}

/// The full path of a program (the command below runs with an empty environment, no PATH).
fn on_path(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} not found (util-linux, coreutils)"))
}

/// How to enter an empty root: chroot as root, else an unprivileged user namespace when the
/// kernel allows one. None (test skipped) when neither is possible, a failure under CI=true.
/// Decided once, before the binary runs, so a binary that cannot run inside the root fails
/// the test instead of skipping it.
fn root_entry() -> Option<Vec<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user.
    if fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        return Some(vec![on_path("chroot")]);
    }
    let unshare = on_path("unshare");
    let probe = Command::new(&unshare)
        .args(["--map-root-user", "true"])
        .output()
        .expect("run unshare");
    if probe.status.success() {
        return Some(vec![unshare, "--map-root-user".into(), "--root".into()]);
    }
    let why = format!(
        "cannot enter an empty root: not root, and `unshare --map-root-user` fails: {}",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{why} (CI runs as root)"
    );
    eprintln!("SKIPPED: {why}");
    None
}

/// Runs `/remaster ARGS` inside `root` with an empty environment (but SOURCE_DATE_EPOCH, to
/// compare outputs).
fn in_empty_root(entry: &[PathBuf], root: &Path, args: &[&str]) -> Output {
    let (program, entry_args) = entry.split_first().expect("entry command");
    Command::new(program)
        .args(entry_args)
        .arg(root)
        .arg("/remaster")
        .args(args)
        .env_clear()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run chroot/unshare")
}

#[test]
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "full tier: builds the static release binary (scripts/dist.sh)"
)]
fn the_dist_binary_remasters_inside_an_empty_root() {
    let scratch = scratch_dir();
    let root = scratch.path().join("root");
    fs::create_dir(&root).expect("root");
    fs::copy(dist().join("remaster"), root.join("remaster")).expect("binary");
    fs::copy(fixture_iso(), root.join("boot.iso")).expect("iso");
    fs::copy(
        dud_support::fixtures().join("dd-good.iso"),
        root.join("dd.iso"),
    )
    .expect("dud");

    let Some(entry) = root_entry() else {
        return;
    };
    let o = in_empty_root(&entry, &root, &["inspect", "/boot.iso"]);
    assert!(o.status.success(), "inspect:\n{}", output_text(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(FIXTURE_LABEL), "inspect:\n{text}");
    assert!(
        text.contains(&fixture_kver()),
        "inspect names no kernel:\n{text}"
    );

    let o = in_empty_root(&entry, &root, &["check", "/boot.iso", "/dd.iso"]);
    assert!(o.status.success(), "check:\n{}", output_text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("verdict: LOADS"),
        "check:\n{}",
        output_text(&o)
    );

    let args = ["/boot.iso", "--add-dud", "/dd.iso", "-q", "-o", "/out.iso"];
    let o = in_empty_root(&entry, &root, &args);
    assert!(o.status.success(), "--add-dud:\n{}", output_text(&o));
    let o = in_empty_root(&entry, &root, &["verify", "/out.iso"]);
    assert!(o.status.success(), "verify:\n{}", output_text(&o));

    // Nothing but the output was added to the root (no temp file, no lock left behind).
    let mut names: Vec<String> = fs::read_dir(&root)
        .expect("list root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["boot.iso", "dd.iso", "out.iso", "remaster"]);

    // Oracles: the media check, and the development build's bytes for the same edit.
    let out = root.join("out.iso");
    let (ok, log) = run_tool("checkisomd5", &["--verbose", &out.to_string_lossy()]);
    assert!(ok, "checkisomd5 {}: {log}", out.display());
    let dev_out = scratch.path().join("dev.iso");
    let o = remaster_bin()
        .current_dir(&root)
        .args(["boot.iso", "--add-dud", "dd.iso", "-q", "-o"])
        .arg(&dev_out)
        .output()
        .expect("run dev build");
    assert!(o.status.success(), "dev build:\n{}", output_text(&o));
    assert_eq!(
        file_sha256(&out),
        file_sha256(&dev_out),
        "the static binary wrote other bytes than the development build"
    );
}

/// The single RPM scripts/dist.sh wrote.
fn dist_rpm() -> PathBuf {
    let rpms: Vec<PathBuf> = fs::read_dir(dist())
        .expect("list dist")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();
    assert_eq!(
        rpms.len(),
        1,
        "expected one RPM in {}: {rpms:?}",
        dist().display()
    );
    rpms.into_iter().next().expect("one rpm")
}

fn rpm_query(rpm: &Path, args: &[&str]) -> String {
    let mut all: Vec<&str> = vec!["-qp"];
    all.extend_from_slice(args);
    let rpm_arg = rpm.to_string_lossy();
    all.push(&rpm_arg);
    let (ok, text) = run_tool("rpm", &all);
    assert!(ok, "rpm {all:?}: {text}");
    text
}

#[test]
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "full tier: builds the static release binary (scripts/dist.sh)"
)]
fn the_rpm_installs_the_binary_man_pages_and_completions() {
    let rpm = dist_rpm();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        rpm.file_name().map(|n| n.to_string_lossy().into_owned()),
        Some(format!("remaster-{version}-1.x86_64.rpm"))
    );
    let info = rpm_query(&rpm, &["--qf", "%{NAME} %{VERSION} %{ARCH} %{LICENSE}\n"]);
    assert_eq!(info.trim(), format!("remaster {version} x86_64 MIT"));

    let files = rpm_query(&rpm, &["-l"]);
    let mut listed: Vec<&str> = files.lines().collect();
    listed.sort_unstable();
    let man = "/usr/share/man/man1";
    let mut expected = vec![
        "/usr/bin/remaster".to_string(),
        "/usr/share/bash-completion".into(),
        "/usr/share/bash-completion/completions".into(),
        "/usr/share/bash-completion/completions/remaster".into(),
        "/usr/share/fish".into(),
        "/usr/share/fish/vendor_completions.d".into(),
        "/usr/share/fish/vendor_completions.d/remaster.fish".into(),
        "/usr/share/zsh".into(),
        "/usr/share/zsh/site-functions".into(),
        "/usr/share/zsh/site-functions/_remaster".into(),
    ];
    for page in [
        "remaster",
        "remaster-check",
        "remaster-dud",
        "remaster-dud-create",
        "remaster-generate",
        "remaster-generate-completions",
        "remaster-generate-man",
        "remaster-inspect",
        "remaster-pxe",
        "remaster-verify",
    ] {
        expected.push(format!("{man}/{page}.1.gz"));
    }
    expected.sort_unstable();
    assert_eq!(listed, expected, "rpm -qlp {}", rpm.display());

    // Static: nothing to require but rpm's own payload features (no libc.so.6, no rtld).
    let requires = rpm_query(&rpm, &["--requires"]);
    for line in requires.lines() {
        assert!(
            line.starts_with("rpmlib("),
            "the RPM requires {line}:\n{requires}"
        );
    }

    // Unpacked the way rpm would install it, the binary is dist/remaster and runs.
    let root = scratch_dir();
    let o = Command::new("bash")
        .arg("-c")
        .arg("rpm2cpio \"$1\" | cpio -idm --quiet")
        .arg("bash")
        .arg(&rpm)
        .current_dir(root.path())
        .output()
        .expect("rpm2cpio | cpio");
    assert!(o.status.success(), "rpm2cpio | cpio:\n{}", output_text(&o));
    let bin = root.path().join("usr/bin/remaster");
    assert_eq!(file_sha256(&bin), file_sha256(&dist().join("remaster")));
    let o = Command::new(&bin).arg("--version").output().expect("run");
    assert!(o.status.success(), "--version:\n{}", output_text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("remaster {version}")
    );
    let o = Command::new(&bin)
        .arg("inspect")
        .arg(fixture_iso())
        .output()
        .expect("run");
    assert!(o.status.success(), "inspect:\n{}", output_text(&o));

    // The man page is roff with the program's name and commands (gzip as oracle).
    let page = root.path().join("usr/share/man/man1/remaster.1.gz");
    let o = Command::new("gzip")
        .arg("-dc")
        .arg(&page)
        .output()
        .expect("gzip");
    assert!(o.status.success(), "gzip -dc {}", page.display());
    let roff = String::from_utf8_lossy(&o.stdout);
    assert!(
        roff.contains(".TH remaster 1"),
        "no .TH in {}:\n{roff}",
        page.display()
    );
    for sub in ["inspect", "check", "verify", "\\-\\-add\\-dud"] {
        assert!(roff.contains(sub), "remaster.1 does not mention {sub}");
    }

    // bash loads the completion and registers it for `remaster`.
    let bash = root
        .path()
        .join("usr/share/bash-completion/completions/remaster");
    let o = Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && complete -p remaster")
        .arg("bash")
        .arg(&bash)
        .output()
        .expect("bash");
    assert!(o.status.success(), "bash completion:\n{}", output_text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("remaster"));
    // zsh's compinit picks up files by their #compdef line; fish by the file name.
    let zsh = fs::read_to_string(root.path().join("usr/share/zsh/site-functions/_remaster"))
        .expect("zsh completion");
    assert!(
        zsh.starts_with("#compdef remaster"),
        "zsh completion:\n{zsh}"
    );
    let fish = fs::read_to_string(
        root.path()
            .join("usr/share/fish/vendor_completions.d/remaster.fish"),
    )
    .expect("fish completion");
    assert!(
        fish.contains("complete -c remaster"),
        "fish completion:\n{fish}"
    );
}

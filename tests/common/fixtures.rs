//! The fixture ISO and its inputs, built on demand by `scripts/build-fixture-iso.sh` into the
//! cache `$REMASTER_FIXTURES` (default `<repo>/fixtures/build`). The script itself decides
//! whether the cached ISO is stale (stamp = hash of the script, the init and the parameters),
//! and serialises concurrent builds with a lock, so calling these from many tests is cheap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Volume id of the fixture (and of Rocky 9.2's boot.iso).
pub const FIXTURE_LABEL: &str = "Rocky-9-2-x86_64-dvd";

/// install.img size (MiB) of the default, small fixture used by tests.
pub const SMALL_INSTALL_IMG_MB: u32 = 16;

/// The repository root (where Cargo.toml and scripts/ are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixture cache: `$REMASTER_FIXTURES`, else `<repo>/fixtures/build` (as scripts/lib.sh).
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("REMASTER_FIXTURES") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("fixtures").join("build"),
    }
}

/// uname -r of the fixture ISO's kernel: `$FIXTURE_KVER`, else scripts/lib.sh's default.
pub fn fixture_kver() -> String {
    if let Some(v) = std::env::var_os("FIXTURE_KVER").filter(|v| !v.is_empty()) {
        return v.to_string_lossy().into_owned();
    }
    lib_sh_default("FIXTURE_KVER")
}

/// uname -r of the other-ABI Debian kernel (its modules must be refused by the fixture kernel).
pub fn other_kver() -> String {
    if let Some(v) = std::env::var_os("OTHER_KVER").filter(|v| !v.is_empty()) {
        return v.to_string_lossy().into_owned();
    }
    lib_sh_default("OTHER_KVER")
}

/// Reads `NAME=${NAME:-value}` from scripts/lib.sh so the default lives in one place.
pub fn lib_sh_default(name: &str) -> String {
    let lib = repo_root().join("scripts/lib.sh");
    let text = std::fs::read_to_string(&lib)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", lib.display()));
    let prefix = format!("{name}=${{{name}:-");
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix)?.split('}').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{name} default not found in {}", lib.display()))
}

/// The unpacked Debian linux-image of the fixture kernel: `boot/vmlinuz-<kver>`,
/// `boot/config-<kver>`, `lib/modules/<kver>/...` (ensures the fixture ISO is built first).
pub fn fixture_kernel_dir() -> PathBuf {
    fixture_iso();
    fixtures_dir().join("kernel").join(fixture_kver())
}

/// The module fixtures of scripts/build-kmod-fixtures.sh (`kernel/`, `headers/`, `cases/`,
/// `initrd-base/`), built once per cache (the script's stamp names its version).
pub fn kmod_fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let kmod = fixtures_dir().join("kmod");
        if !kmod.join(".built-v3").exists() {
            let status = Command::new("bash")
                .arg(repo_root().join("scripts/build-kmod-fixtures.sh"))
                .env("REMASTER_FIXTURES", fixtures_dir())
                .status()
                .expect("run scripts/build-kmod-fixtures.sh");
            assert!(
                status.success(),
                "scripts/build-kmod-fixtures.sh failed; run it by hand (see scripts/test-deps.txt)"
            );
        }
        kmod
    })
    .clone()
}

/// `$REMASTER_FIXTURES/kmod-arm64`, built through scripts/build-kmod-fixtures-arm64.sh
/// (Debian arm64 kernels and modules; needs `dpkg --add-architecture arm64`).
pub fn kmod_arm64_fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = fixtures_dir().join("kmod-arm64");
        if !dir.join(".built-v3").exists() {
            let status = Command::new("bash")
                .arg(repo_root().join("scripts/build-kmod-fixtures-arm64.sh"))
                .env("REMASTER_FIXTURES", fixtures_dir())
                .status()
                .expect("run scripts/build-kmod-fixtures-arm64.sh");
            assert!(
                status.success(),
                "scripts/build-kmod-fixtures-arm64.sh failed; run scripts/setup.sh (arm64 packages)"
            );
        }
        dir
    })
    .clone()
}

/// The small fixture ISO (`$REMASTER_FIXTURES/iso/boot.iso`), built or refreshed through
/// scripts/build-fixture-iso.sh. Panics with the script's output if it cannot be built.
pub fn fixture_iso() -> PathBuf {
    fixture_iso_sized(SMALL_INSTALL_IMG_MB)
}

/// The fixture ISO with an install.img of `install_img_mb` MiB (e.g. 900 for benchmarks; each
/// size has its own cache directory).
pub fn fixture_iso_sized(install_img_mb: u32) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<u32, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(iso) = built.get(&install_img_mb) {
        return iso.clone();
    }
    let script = repo_root().join("scripts/build-fixture-iso.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("REMASTER_FIXTURES", fixtures_dir())
        .env("FIXTURE_INSTALL_IMG_MB", install_img_mb.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "fixture ISO build failed ({}); run scripts/setup.sh (installs scripts/test-deps.txt) \
         then scripts/build-fixture-iso.sh by hand:\n{stderr}",
        out.status
    );
    let iso = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    assert!(
        iso.is_file(),
        "scripts/build-fixture-iso.sh printed {iso:?}, which is not a file\n{stderr}"
    );
    built.insert(install_img_mb, iso.clone());
    iso
}

/// The pristine fixture's `sgdisk -v` output, recorded when it was built: xorriso's isohybrid
/// layout has overlapping MBR/GPT entries by design, so compare against this, not against "no
/// problems".
pub fn sgdisk_baseline(iso: &Path) -> String {
    let path = iso.with_file_name("sgdisk-v.baseline.txt");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (rebuild: scripts/build-fixture-iso.sh --force)",
            path.display()
        )
    })
}

/// Names in `dir`, sorted (the scratch directories hold only what a test put there).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

/// A fresh scratch directory inside the fixture cache (same filesystem as the ISO, so copies
/// are cheap); removed when dropped.
pub fn scratch_dir() -> tempfile::TempDir {
    let base = fixtures_dir().join("scratch");
    std::fs::create_dir_all(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
    tempfile::tempdir_in(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()))
}

/// Extracts `iso_path` from `iso` into `dest` with `xorriso -osirrox` (the oracle's view
/// of the file). Panics with xorriso's log when it cannot.
pub fn extract_from_iso(iso: &Path, iso_path: &str, dest: &Path) {
    let (ok, log) = run_tool(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            iso.to_str().unwrap(),
            "-extract",
            iso_path,
            dest.to_str().unwrap(),
        ],
    );
    assert!(
        ok && dest.exists(),
        "cannot extract {iso_path} from {}:\n{log}",
        iso.display()
    );
}

/// Runs an external oracle and returns (success, stdout + stderr). Panics only if the program
/// cannot be started (then the message names scripts/setup.sh).
pub fn run_tool(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (install it: scripts/setup.sh)"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

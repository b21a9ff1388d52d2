//! Shared helpers for the dud integration tests: the RPM/DUD fixtures built (cached) by
//! scripts/build-rpm-fixtures.sh, and external oracles.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The fixture directory ($REMASTER_FIXTURES/rpm), built through the script on first use.
/// Panics with the command to run when it cannot be built (never silently passes).
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = repo.join("scripts/build-rpm-fixtures.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "fixture build failed; run `scripts/build-rpm-fixtures.sh` by hand:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// The fixture RPM of a variant (good, zstd, gzip, newer, unver, koxz, usrlib, other).
pub fn rpm(variant: &str) -> PathBuf {
    let dir = fixtures().join("rpms");
    let prefix = format!("kmod-megaraid_sas-{variant}-");
    std::fs::read_dir(&dir)
        .expect("rpms dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .unwrap_or_else(|| panic!("no {prefix}*.rpm in {}", dir.display()))
}

pub const VARIANTS: &[&str] = &[
    "good", "zstd", "gzip", "newer", "unver", "koxz", "usrlib", "other",
];

/// (FIXTURE_KVER, OTHER_KVER) as the script used them.
pub fn kvers() -> (String, String) {
    let text = std::fs::read_to_string(fixtures().join("kvers")).expect("kvers");
    let mut lines = text.lines().map(str::to_owned);
    (
        lines.next().expect("kver"),
        lines.next().expect("other kver"),
    )
}

/// Runs a command and returns stdout; panics with stderr when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A kernel's exported symbol CRCs from its Module.symvers.
pub fn exports(kver: &str) -> std::collections::HashMap<String, u32> {
    let text = std::fs::read_to_string(fixtures().join(format!("Module.symvers-{kver}")))
        .expect("Module.symvers");
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let crc = f.next()?.strip_prefix("0x")?;
            let sym = f.next()?;
            Some((sym.to_owned(), u32::from_str_radix(crc, 16).ok()?))
        })
        .collect()
}

/// Deterministic pseudo-random numbers (xorshift) for corruption tests.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

//! The EL8-like fixture ISO (genisoimage -T, `isohybrid --uefi`, implantisomd5), built on
//! demand by `scripts/build-fixture-el8.sh` into `$REMASTER_FIXTURES/iso-el8/` (cached by the
//! script's stamp, serialised by its lock). Layout and the facts it pins: docs/fixtures.md,
//! ../shared/reference/el8-boot-iso-layout.md.

use super::fixtures::{fixtures_dir, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Volume id of the EL8 fixture (Rocky 8.10's pattern).
pub const EL8_LABEL: &str = "Rocky-8-10-x86_64-dvd";

/// The small EL8 fixture ISO (`$REMASTER_FIXTURES/iso-el8/boot.iso`), built or refreshed
/// through scripts/build-fixture-el8.sh. Panics with the script's output if it cannot be built.
pub fn el8_fixture_iso() -> PathBuf {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let script = repo_root().join("scripts/build-fixture-el8.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("REMASTER_FIXTURES", fixtures_dir())
            .env_remove("FIXTURE_INSTALL_IMG_MB")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "EL8 fixture build failed ({}); run scripts/setup.sh (installs \
             scripts/test-deps.txt, e.g. genisoimage, faketime) then scripts/build-fixture-el8.sh:\n{stderr}",
            out.status
        );
        let iso = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        assert!(iso.is_file(), "{} printed {iso:?}\n{stderr}", script.display());
        iso
    })
    .clone()
}

/// A baseline the build left beside the EL8 ISO.
pub fn el8_artifact(iso: &Path, name: &str) -> String {
    let path = iso.with_file_name(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (rebuild: scripts/build-fixture-el8.sh --force)",
            path.display()
        )
    })
}

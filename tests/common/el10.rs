//! The EL10-like fixture ISO (GRUB2 BIOS, appended ESP as GPT partition 2), built on demand by
//! `scripts/build-fixture-el10.sh` into `$REMASTER_FIXTURES/iso-el10/` (cached by the script's
//! stamp, serialised by its lock), and the raw-image helpers the EL10 tests share. Layout and
//! the facts it pins: docs/fixtures.md.

use super::fixtures::{fixtures_dir, lib_sh_default, repo_root, run_tool};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Volume id of the EL10 fixture (Rocky 10.0's pattern).
pub const EL10_LABEL: &str = "Rocky-10-0-x86_64-dvd";

/// uname -r of the EL10 fixture's kernel: `$EL10_KVER`, else scripts/lib.sh's default.
pub fn el10_kver() -> String {
    if let Some(v) = std::env::var_os("EL10_KVER").filter(|v| !v.is_empty()) {
        return v.to_string_lossy().into_owned();
    }
    lib_sh_default("EL10_KVER")
}

/// The small EL10 fixture ISO (`$REMASTER_FIXTURES/iso-el10/boot.iso`), built or refreshed
/// through scripts/build-fixture-el10.sh. Panics with the script's output if it cannot be built.
pub fn el10_fixture_iso() -> PathBuf {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let script = repo_root().join("scripts/build-fixture-el10.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("REMASTER_FIXTURES", fixtures_dir())
            .env_remove("FIXTURE_INSTALL_IMG_MB")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "EL10 fixture build failed ({}); run scripts/setup.sh (installs \
             scripts/test-deps.txt, e.g. grub-pc-bin) then scripts/build-fixture-el10.sh:\n{stderr}",
            out.status
        );
        let iso = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        assert!(iso.is_file(), "{} printed {iso:?}\n{stderr}", script.display());
        iso
    })
    .clone()
}

/// A file the build left beside the EL10 ISO (baselines, `efiboot.img`).
pub fn el10_artifact(iso: &Path, name: &str) -> String {
    let path = iso.with_file_name(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (rebuild: scripts/build-fixture-el10.sh --force)",
            path.display()
        )
    })
}

/// One GPT entry as sgdisk reports it: (first sector, last sector) in 512-byte units.
pub fn gpt_partition(image: &Path, number: u32) -> (u64, u64) {
    let (ok, out) = run_tool("sgdisk", &["-i", &number.to_string(), image_str(image)]);
    assert!(ok, "sgdisk -i {number} {}:\n{out}", image.display());
    let field = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("sgdisk -i {number}: no {name:?}:\n{out}"))
    };
    (field("First sector: "), field("Last sector: "))
}

/// The path as &str (fixture paths are UTF-8).
pub fn image_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// Byte offsets of every occurrence of `needle` in `hay` within `range`.
pub fn find_all(hay: &[u8], needle: &[u8], range: std::ops::Range<usize>) -> Vec<usize> {
    let end = range.end.min(hay.len());
    if needle.is_empty() || range.start >= end {
        return Vec::new();
    }
    hay[range.start..end]
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| range.start + i)
        .collect()
}

/// Re-implants the ISO's MD5 after a deliberate in-place edit (so the only fault in a broken
/// copy is the one the test made).
pub fn reimplant_md5(iso: &Path) {
    let (ok, out) = run_tool("implantisomd5", &["--force", image_str(iso)]);
    assert!(ok, "implantisomd5 --force {}:\n{out}", iso.display());
    let (ok, out) = run_tool("checkisomd5", &[image_str(iso)]);
    assert!(
        ok,
        "checkisomd5 {} after re-implanting:\n{out}",
        iso.display()
    );
}

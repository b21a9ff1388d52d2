//! The aarch64 fixture ISO (an EL9 aarch64 boot.iso stand-in: one El Torito EFI entry on
//! images/efiboot.img, no MBR or GPT, Debian's arm64 kernel and busybox), built on demand by
//! `scripts/build-fixture-aarch64.sh` into `$REMASTER_FIXTURES/iso-aarch64/` (cached by the
//! script's stamp, serialised by its lock). Layout: docs/fixtures.md,
//! ../shared/reference/aarch64-boot-iso-layout.md. Boot it with
//! `BootOptions { guest: Guest::Aarch64, .. }` (common::boot).

use super::fixtures::{fixtures_dir, lib_sh_default, repo_root};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Volume id of the aarch64 fixture (Rocky 9.2 aarch64's pattern).
pub const AARCH64_LABEL: &str = "Rocky-9-2-aarch64-dvd";

/// uname -r of the fixture's arm64 kernel (`$ARM64_KVER`, else lib.sh's default).
pub fn aarch64_kver() -> String {
    if let Some(v) = std::env::var_os("ARM64_KVER").filter(|v| !v.is_empty()) {
        return v.to_string_lossy().into_owned();
    }
    lib_sh_default("ARM64_KVER")
}

/// The unpacked arm64 kernel package (`boot/vmlinuz-<kver>`, `lib/modules/<kver>/`), left by
/// the fixture build.
pub fn aarch64_kernel_dir() -> PathBuf {
    fixtures_dir().join("kernel").join(aarch64_kver())
}

/// The aarch64 fixture ISO, built or refreshed through scripts/build-fixture-aarch64.sh.
/// Panics with the script's output if it cannot be built.
pub fn aarch64_fixture_iso() -> PathBuf {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let script = repo_root().join("scripts/build-fixture-aarch64.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("REMASTER_FIXTURES", fixtures_dir())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "aarch64 fixture build failed ({}); run scripts/setup.sh (adds the arm64 \
             architecture, installs grub-efi-arm64-bin, qemu-efi-aarch64) then \
             scripts/build-fixture-aarch64.sh:\n{stderr}",
            out.status
        );
        let iso = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        assert!(
            iso.is_file(),
            "{} printed {iso:?}\n{stderr}",
            script.display()
        );
        iso
    })
    .clone()
}

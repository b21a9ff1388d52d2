//! Boot an ISO in QEMU (TCG) the ways users boot installer media and read the report the
//! fixture init prints on the serial console (format: docs/fixtures.md).
//!
//! ```ignore
//! let report = boot(&iso, BootMode::UefiUsbEsp, &BootOptions::default());
//! assert!(report.reached_report, "{}", report.tail());
//! assert_eq!(report.mediacheck, Some(MediaCheck::Pass));
//! ```
//!
//! The QEMU set-up of a mode is the same for every media layout; [`Layout`] says which modes a
//! layout's matrix boots and which boot configuration each mode reads.
//!
//! At most `REMASTER_BOOT_JOBS` (default 2) guests run at once per test process; each boot
//! takes ~15-25 s under TCG. KVM is never used: on these nested machines /dev/kvm exists but
//! guests die with "KVM internal error ... emulation failure".

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The ways the matrices boot an ISO. The QEMU set-up of a mode does not depend on the media
/// layout; what the firmware then reads does ([`Layout::config_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootMode {
    /// SeaBIOS, ISO as an IDE CD-ROM (i440fx): El Torito BIOS entry → isolinux (EL9) or
    /// images/eltorito.img = GRUB2 i386-pc (EL10).
    BiosCd,
    /// OVMF, ISO as a CD-ROM on AHCI (q35): El Torito EFI entry (efiboot.img on EL9, the
    /// appended ESP = GPT partition 2 on EL10) → shim → grub, which reads the ISO 9660
    /// /EFI/BOOT/grub.cfg (grub sees the whole CD as its $cmdpath device).
    UefiCd,
    /// SeaBIOS, ISO as a USB disk on xHCI: MBR code (isohdpfx on EL9, GRUB's boot_hybrid.img
    /// on EL10) → isolinux / GRUB2 core.
    BiosUsb,
    /// OVMF, ISO as a USB disk on xHCI. EL9: OVMF finds the El Torito EFI image on a disk, so
    /// grub reads the ISO 9660 /EFI/BOOT/grub.cfg, as in UefiCd. EL10: the GPT is valid, OVMF
    /// boots GPT partition 2 (the ESP) and grub reads the grub.cfg inside it.
    UefiUsb,
    /// OVMF, USB disk, El Torito hidden on a scratch copy (boot record identifier in sector 17
    /// changed) so the firmware can only boot the ESP partition (EL9: MBR p2 / GPT entry 2 =
    /// images/efiboot.img; EL10: GPT partition 2, the appended ESP) like most real PCs do with
    /// a dd'd stick; grub then reads the grub.cfg INSIDE the ESP.
    /// The copy's MD5 is re-implanted only if the original's was valid (host checkisomd5), so
    /// `mediacheck` still tells whether the original ISO's implanted MD5 is right.
    UefiUsbEsp,
    /// OVMF, IODD-like USB CD-ROM: usb-bot + scsi-cd on xHCI (the UEFI USB-CD mode).
    UsbCd,
    /// SeaBIOS, IODD-like USB CD-ROM (in the EL10 matrix; extra mode for EL9, not in `ALL`).
    BiosUsbCd,
}

/// A boot-media layout the fixtures model: which modes its matrix boots and which copy of the
/// boot configuration each mode's firmware path ends up reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// RHEL 9 / lorax rhel9-branch: isolinux for BIOS, images/efiboot.img in ISO 9660 as the El
    /// Torito EFI image and isohybrid MBR p2 / GPT entry 2 (scripts/build-fixture-iso.sh).
    El9,
    /// RHEL 10 / lorax 37.3+: GRUB2 for BIOS (images/eltorito.img, boot_hybrid.img MBR,
    /// boot/grub2/), the ESP only as appended GPT partition 2, which the El Torito EFI entry
    /// points at (scripts/build-fixture-el10.sh).
    El10,
    /// RHEL 8 / lorax rhel8-branch: mkisofs + `isohybrid --uefi`: isolinux for BIOS,
    /// images/efiboot.img in ISO 9660 as the El Torito EFI image and MBR p2 (0xEF), both GPT
    /// entries "basic data", the backup GPT after the volume (scripts/build-fixture-el8.sh).
    /// The same configs are read as on EL9 (BOOT.conf by none of these modes).
    El8,
    /// aarch64 (EL8–10) / lorax aarch64.tmpl: UEFI only, one El Torito EFI entry on
    /// images/efiboot.img, no MBR or GPT (scripts/build-fixture-aarch64.sh). Booted with
    /// [`Guest::Aarch64`]: AAVMF finds the El Torito image on the CD, the stick and the USB
    /// CD-ROM alike, and grub reads the ISO 9660 /EFI/BOOT/grub.cfg in each.
    Aarch64,
}

/// The machine QEMU emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Guest {
    /// qemu-system-x86_64: `pc` with SeaBIOS, `q35` with OVMF.
    #[default]
    X86_64,
    /// qemu-system-aarch64 `-M virt` (cortex-a72, TCG) with AAVMF (Debian qemu-efi-aarch64)
    /// in pflash; the CD is a virtio-scsi CD-ROM, USB modes as on x86 (qemu-xhci). UEFI
    /// modes only. `-cpu max` would emulate pointer authentication and SVE, which makes TCG
    /// several times slower (measured: /init reached at 31 s against 8.5 s).
    Aarch64,
}

/// One of the boot configuration files a layout carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootConfig {
    /// EL9 /isolinux/isolinux.cfg (ISO 9660).
    Isolinux,
    /// EL10 /boot/grub2/grub.cfg (ISO 9660), read by GRUB2 i386-pc.
    GrubBios,
    /// /EFI/BOOT/grub.cfg in the ISO 9660 tree.
    GrubEfiIso,
    /// EFI/BOOT/grub.cfg inside the ESP image (EL9 images/efiboot.img, EL10 GPT partition 2).
    GrubEfiEsp,
}

impl Layout {
    /// The modes this layout's boot matrix boots.
    pub fn modes(self) -> &'static [BootMode] {
        match self {
            Layout::El9 | Layout::El8 => &BootMode::ALL,
            Layout::El10 => &[
                BootMode::BiosCd,
                BootMode::UefiCd,
                BootMode::BiosUsb,
                BootMode::UefiUsb,
                BootMode::UefiUsbEsp,
                BootMode::UsbCd,
                BootMode::BiosUsbCd,
            ],
            Layout::Aarch64 => &[BootMode::UefiCd, BootMode::UefiUsb, BootMode::UsbCd],
        }
    }

    /// The configuration file the boot loader reads in `mode` (QEMU 7.2, SeaBIOS 1.16,
    /// OVMF 2022.11; confirmed with a distinct marker in every copy: boot_matrix.rs
    /// `esp_mode_reads_the_grub_cfg_inside_efiboot_img`, boot_matrix_el10.rs
    /// `each_mode_reads_the_config_the_layout_says`).
    pub fn config_read(self, mode: BootMode) -> BootConfig {
        match (self, mode) {
            (
                Layout::El9 | Layout::El8,
                BootMode::BiosCd | BootMode::BiosUsb | BootMode::BiosUsbCd,
            ) => BootConfig::Isolinux,
            (Layout::El10, BootMode::BiosCd | BootMode::BiosUsb | BootMode::BiosUsbCd) => {
                BootConfig::GrubBios
            }
            (Layout::El9 | Layout::El8, BootMode::UefiCd | BootMode::UefiUsb | BootMode::UsbCd) => {
                BootConfig::GrubEfiIso
            }
            (Layout::El10, BootMode::UefiCd | BootMode::UsbCd) => BootConfig::GrubEfiIso,
            (Layout::El10, BootMode::UefiUsb) => BootConfig::GrubEfiEsp,
            (Layout::Aarch64, BootMode::BiosCd | BootMode::BiosUsb | BootMode::BiosUsbCd) => {
                panic!("aarch64 media have no BIOS boot")
            }
            (Layout::Aarch64, BootMode::UefiCd | BootMode::UefiUsb | BootMode::UsbCd) => {
                BootConfig::GrubEfiIso
            }
            (_, BootMode::UefiUsbEsp) => BootConfig::GrubEfiEsp,
        }
    }
}

impl BootMode {
    /// The six modes of the EL9 boot matrix (`Layout::El9.modes()`).
    pub const ALL: [BootMode; 6] = [
        BootMode::BiosCd,
        BootMode::UefiCd,
        BootMode::BiosUsb,
        BootMode::UefiUsb,
        BootMode::UefiUsbEsp,
        BootMode::UsbCd,
    ];

    /// Short kebab-case name (also accepted by [`BootMode::from_name`] and scripts/boot.sh).
    pub fn name(self) -> &'static str {
        match self {
            BootMode::BiosCd => "bios-cd",
            BootMode::UefiCd => "uefi-cd",
            BootMode::BiosUsb => "bios-usb",
            BootMode::UefiUsb => "uefi-usb",
            BootMode::UefiUsbEsp => "uefi-usb-esp",
            BootMode::UsbCd => "usb-cd",
            BootMode::BiosUsbCd => "bios-usb-cd",
        }
    }

    /// Inverse of [`BootMode::name`].
    pub fn from_name(name: &str) -> Option<BootMode> {
        [BootMode::BiosUsbCd]
            .into_iter()
            .chain(BootMode::ALL)
            .find(|m| m.name() == name)
    }

    /// True when the firmware is OVMF.
    pub fn is_uefi(self) -> bool {
        !matches!(
            self,
            BootMode::BiosCd | BootMode::BiosUsb | BootMode::BiosUsbCd
        )
    }

    /// True when the guest sees the ISO as a CD-ROM (sr0), false for a USB disk (sda).
    pub fn is_cdrom(self) -> bool {
        matches!(
            self,
            BootMode::BiosCd | BootMode::UefiCd | BootMode::UsbCd | BootMode::BiosUsbCd
        )
    }
}

/// How to boot.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// Kill QEMU after this long (default `$REMASTER_BOOT_TIMEOUT` seconds, else 180; a TCG
    /// boot takes ~15-25 s on an idle host, 60 s on a busy one).
    pub timeout: Duration,
    /// Guest RAM in MiB (default 1024).
    pub memory_mib: u32,
    /// UEFI modes only: Secure Boot on (q35 + SMM, OVMF secboot code, Microsoft keys enrolled).
    pub secure_boot: bool,
    /// Extra QEMU arguments, e.g. an emulated HBA with a disk behind it:
    /// `-device megasas,id=hba -drive if=none,id=d0,file=disk.img,format=raw
    ///  -device scsi-hd,drive=d0,bus=hba.0`.
    pub extra_args: Vec<String>,
    /// Stop early (QEMU killed, `reached_report` false) as soon as the serial log contains one
    /// of these strings, e.g. "Shell>" when a test expects OVMF to find nothing to boot.
    pub stop_on: Vec<String>,
    /// Keep the serial log at this path (it is always in `BootReport::raw_log` too).
    pub keep_log: Option<PathBuf>,
    /// The emulated machine (default x86_64).
    pub guest: Guest,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            timeout: Duration::from_secs(
                std::env::var("REMASTER_BOOT_TIMEOUT")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(180),
            ),
            memory_mib: 1024,
            secure_boot: false,
            extra_args: Vec::new(),
            stop_on: Vec::new(),
            keep_log: None,
            guest: Guest::X86_64,
        }
    }
}

/// Result of the init's `rd.live.check` media check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaCheck {
    /// checkisomd5 accepted the boot medium.
    Pass,
    /// checkisomd5 rejected it, or no boot medium was found.
    Fail,
    /// rd.live.check was not on the kernel command line.
    Skipped,
}

/// One line of /proc/modules as the init reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedModule {
    /// Module name as in /proc/modules (underscores).
    pub name: String,
    /// The file kmod resolves the name to (`modinfo -n`, through modules.dep), e.g.
    /// `/lib/modules/<kver>/updates/mpt3sas.ko.xz`; `/sys/module/<name>` if unresolvable.
    pub path: String,
    /// Taint flags from /proc/modules, e.g. "(E)" or "(OE)"; empty if none.
    pub flags: String,
}

/// Everything the fixture init reported, parsed from the serial log.
#[derive(Debug, Clone, Default)]
pub struct BootReport {
    /// The mode that was booted.
    pub mode: Option<BootMode>,
    /// The whole serial log (firmware, boot loader, kernel, report).
    pub raw_log: String,
    /// QEMU's own stderr (errors starting the guest end up here).
    pub qemu_stderr: String,
    /// True if the log holds a complete REMASTER-REPORT-BEGIN … END block.
    pub reached_report: bool,
    /// QEMU was killed at `timeout` (or by a `stop_on` match).
    pub timed_out: bool,
    /// Wall time from QEMU start to exit.
    pub elapsed: Duration,
    /// Every `key=value` line of the report in order (repeated keys kept).
    pub fields: Vec<(String, String)>,
    /// `uname -r` of the booted kernel.
    pub kernel: String,
    /// /proc/cmdline.
    pub cmdline: String,
    /// "bios" or "uefi" (whether /sys/firmware/efi exists).
    pub firmware: String,
    /// The kernel logged "Secure boot enabled".
    pub secure_boot: bool,
    /// /sys/module/module/parameters/sig_enforce ("Y"/"N").
    pub sig_enforce: String,
    /// /proc/sys/kernel/tainted.
    pub tainted: u64,
    /// Loaded modules (/proc/modules).
    pub modules: Vec<LoadedModule>,
    /// Each explicit modprobe the init ran (rd.driver.pre, modules-load.d):
    /// `<name> source=<rd.driver.pre|modules-load:FILE> rc=<N> [msg=<modprobe output>]`.
    pub modprobes: Vec<String>,
    /// PCI functions: `<slot> <vendor>:<device> class=<class> driver=<name|none>`, e.g.
    /// `0000:00:04.0 1000:0060 class=010400 driver=none` for an HBA without its driver.
    pub pci: Vec<String>,
    /// Block devices seen (/sys/class/block): name → size in bytes.
    pub blockdevs: BTreeMap<String, u64>,
    /// The device whose ISO 9660 volume id matched inst.stage2=hd:LABEL=… (sr0, sda, …).
    pub boot_medium: Option<String>,
    /// Files of interest: path → present (see docs/fixtures.md for which paths are listed).
    pub files: BTreeMap<String, bool>,
    /// /bin /sbin /lib /lib64 → link target ("usr/lib"), or "NOT-A-SYMLINK directory"/"MISSING".
    pub symlinks: BTreeMap<String, String>,
    /// rd.live.check result; None if the report did not say.
    pub mediacheck: Option<MediaCheck>,
    /// checkisomd5's own output lines.
    pub mediacheck_output: Vec<String>,
    /// Kernel log lines about modules, signatures, lockdown, initramfs unpacking.
    pub dmesg: Vec<String>,
}

impl BootReport {
    /// The module named `name` (dashes and underscores are equivalent), if loaded.
    pub fn module(&self, name: &str) -> Option<&LoadedModule> {
        let want = name.replace('-', "_");
        self.modules.iter().find(|m| m.name == want)
    }

    /// True if `word` is one of the kernel command line's words (or `key=...` when `word`
    /// ends with '=').
    pub fn cmdline_has(&self, word: &str) -> bool {
        self.cmdline.split_whitespace().any(|w| {
            if word.ends_with('=') {
                w.starts_with(word)
            } else {
                w == word
            }
        })
    }

    /// Presence of a reported file; None if the report did not list it.
    pub fn file_present(&self, path: &str) -> Option<bool> {
        self.files.get(path).copied()
    }

    /// True if all four usr-merge symlinks are intact (RHEL 9 layout).
    pub fn usr_merge_intact(&self) -> bool {
        ["/bin", "/sbin", "/lib", "/lib64"].iter().all(|l| {
            self.symlinks.get(*l).map(String::as_str)
                == Some(format!("usr/{}", l.trim_start_matches('/')).as_str())
        })
    }

    /// The last lines of the serial log, for assertion messages.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.raw_log.lines().collect();
        let start = lines.len().saturating_sub(40);
        format!(
            "mode {:?}, reached_report {}, timed_out {}, {:.1} s\n--- serial log tail ---\n{}\n--- qemu stderr ---\n{}",
            self.mode,
            self.reached_report,
            self.timed_out,
            self.elapsed.as_secs_f64(),
            lines[start..].join("\n"),
            self.qemu_stderr
        )
    }
}

/// Parses the report block out of a serial log (usable on logs saved by scripts/boot.sh).
pub fn parse_report(log: &str) -> BootReport {
    let mut report = BootReport {
        raw_log: log.to_owned(),
        ..BootReport::default()
    };
    let mut inside = false;
    for raw in log.lines() {
        let line = raw.trim_end_matches('\r');
        if line.contains("REMASTER-REPORT-BEGIN") {
            inside = true;
            report.fields.clear();
            continue;
        }
        if !inside {
            continue;
        }
        if line.contains("REMASTER-REPORT-END") {
            report.reached_report = true;
            break;
        }
        if let Some(rest) = line.strip_prefix("dmesg-module: ") {
            report.dmesg.push(rest.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("mediacheck-output: ") {
            report.mediacheck_output.push(rest.to_owned());
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty() || key.contains(' ') {
            continue; // a kernel message interleaved with the report
        }
        report.fields.push((key.to_owned(), value.to_owned()));
        match key {
            "kernel" => report.kernel = value.to_owned(),
            "cmdline" => report.cmdline = value.to_owned(),
            "firmware" => report.firmware = value.to_owned(),
            "secureboot" => report.secure_boot = value == "on",
            "sig_enforce" => report.sig_enforce = value.to_owned(),
            "tainted" => report.tainted = value.trim().parse().unwrap_or(0),
            "modprobe" => report.modprobes.push(value.to_owned()),
            "pci" => report.pci.push(value.to_owned()),
            "module" => {
                let mut parts = value.splitn(3, ' ');
                report.modules.push(LoadedModule {
                    name: parts.next().unwrap_or_default().to_owned(),
                    path: parts.next().unwrap_or_default().to_owned(),
                    flags: parts.next().unwrap_or_default().trim().to_owned(),
                });
            }
            "blockdev" => {
                if let Some((name, size)) = value.split_once(' ') {
                    report
                        .blockdevs
                        .insert(name.to_owned(), size.trim().parse().unwrap_or(0));
                }
            }
            "bootmedium" => report.boot_medium = Some(value.to_owned()).filter(|v| v != "none"),
            "file" => {
                if let Some((path, state)) = value.rsplit_once(' ') {
                    report.files.insert(path.to_owned(), state == "present");
                }
            }
            "symlink" => {
                if let Some((link, target)) = value.split_once(" -> ") {
                    report.symlinks.insert(link.to_owned(), target.to_owned());
                } else if let Some((link, what)) = value.split_once(' ') {
                    report.symlinks.insert(link.to_owned(), what.to_owned());
                }
            }
            "mediacheck" => {
                report.mediacheck = match value {
                    "PASS" => Some(MediaCheck::Pass),
                    "FAIL" => Some(MediaCheck::Fail),
                    "SKIPPED" => Some(MediaCheck::Skipped),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    report
}

/// Limits concurrent guests in this process (2 cores shared by everything on the host).
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
}
static SLOTS: Slots = Slots {
    used: Mutex::new(0),
    freed: Condvar::new(),
};
struct SlotGuard;
impl SlotGuard {
    fn acquire() -> SlotGuard {
        let max = std::env::var("REMASTER_BOOT_JOBS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2usize)
            .max(1);
        let mut used = SLOTS.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used >= max {
            used = SLOTS.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += 1;
        SlotGuard
    }
}
impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut used = SLOTS.used.lock().unwrap_or_else(|p| p.into_inner());
        *used -= 1;
        SLOTS.freed.notify_one();
    }
}

const OVMF_DIR: &str = "/usr/share/OVMF";
const AAVMF_DIR: &str = "/usr/share/AAVMF";
const ELTORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";

/// Makes `iso`'s El Torito boot record unrecognisable on a copy in `dir` (sector 17, boot
/// system identifier), so UEFI firmware boots the ESP instead. Re-implants the MD5 only if
/// the original's implanted MD5 is valid, so a broken original stays broken.
pub fn hide_el_torito_copy(iso: &Path, dir: &Path) -> PathBuf {
    let copy = dir.join("esp-only.iso");
    fs::copy(iso, &copy)
        .unwrap_or_else(|e| panic!("copy {} → {}: {e}", iso.display(), copy.display()));
    hide_el_torito(iso, &copy);
    copy
}

/// True for a block device (a loop device standing in for a stick).
pub fn is_block_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// Whether sector 17 of `image` still names El Torito.
fn has_el_torito(image: &Path) -> bool {
    let mut f = File::open(image).unwrap_or_else(|e| panic!("{}: {e}", image.display()));
    let mut id = vec![0u8; ELTORITO_ID.len()];
    f.seek(SeekFrom::Start(17 * 2048 + 7))
        .and_then(|_| f.read_exact(&mut id))
        .unwrap_or_else(|e| panic!("{}: {e}", image.display()));
    id == ELTORITO_ID
}

/// [`hide_el_torito_copy`] in place, for a scratch block device (a loop device written by
/// the test): the UefiUsbEsp mode of [`boot`] boots a block device as it is, so call this
/// first. The MD5 is re-implanted only if it was valid before.
pub fn hide_el_torito_in_place(device: &Path) {
    hide_el_torito(device, device);
}

/// Hides El Torito in `copy` (a copy of `iso`, or `iso` itself); re-implants the MD5 of
/// `copy` only if `iso`'s was valid before the change.
fn hide_el_torito(iso: &Path, copy: &Path) {
    let original_ok = Command::new("checkisomd5")
        .arg(iso)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(copy)
        .unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
    let at = 17 * 2048 + 7;
    let mut id = vec![0u8; ELTORITO_ID.len()];
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.read_exact(&mut id))
        .unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
    assert_eq!(
        id,
        ELTORITO_ID,
        "{}: no El Torito boot record in sector 17",
        iso.display()
    );
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.write_all(b"NO TORITO SPECIFICATION"))
        .unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
    f.sync_all()
        .unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
    drop(f);
    if original_ok {
        let status = Command::new("implantisomd5")
            .args(["--force"])
            .arg(copy)
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("implantisomd5: {e} (scripts/setup.sh)"));
        assert!(
            status.success(),
            "implantisomd5 --force {} failed",
            copy.display()
        );
    }
}

/// Boots `iso` in `mode` and returns the parsed report (never panics because the guest failed:
/// check `reached_report`). Panics only if QEMU or OVMF is missing.
/// `iso` may be a block device (a loop device the test wrote the image to; QEMU opens it
/// as root); the USB modes never write to it (`snapshot=on`). In the UefiUsbEsp mode a
/// block device is booted as it is: hide its El Torito first ([`hide_el_torito_in_place`]).
pub fn boot(iso: &Path, mode: BootMode, opts: &BootOptions) -> BootReport {
    let device = is_block_device(iso);
    assert!(
        iso.is_file() || device,
        "boot: {} is not a file or block device",
        iso.display()
    );
    let work = tempfile::Builder::new()
        .prefix("remaster-boot-")
        .tempdir()
        .unwrap_or_else(|e| panic!("tempdir: {e}"));
    let iso = if mode == BootMode::UefiUsbEsp && !device {
        hide_el_torito_copy(iso, work.path())
    } else {
        if mode == BootMode::UefiUsbEsp {
            assert!(
                !has_el_torito(iso),
                "{}: hide El Torito first (hide_el_torito_in_place)",
                iso.display()
            );
        }
        iso.to_path_buf()
    };
    let iso_arg = iso
        .to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", iso.display()))
        .replace(',', ",,");
    let log_path = work.path().join("serial.log");
    let aarch64 = opts.guest == Guest::Aarch64;
    assert!(
        !aarch64 || (mode.is_uefi() && mode != BootMode::UefiUsbEsp),
        "{mode:?} is not an aarch64 boot mode"
    );
    let mut args: Vec<String> = vec![
        "-accel".into(),
        "tcg".into(),
        "-cpu".into(),
        if aarch64 { "cortex-a72" } else { "max" }.into(),
        "-m".into(),
        opts.memory_mib.to_string(),
        "-nographic".into(),
        "-monitor".into(),
        "none".into(),
        "-serial".into(),
        format!("file:{}", log_path.display()),
        "-no-reboot".into(),
        "-nodefaults".into(),
    ];
    let mut push = |a: &[&str]| args.extend(a.iter().map(|s| s.to_string()));
    if aarch64 {
        let vars_copy = work.path().join("AAVMF_VARS.fd");
        let vars_src = Path::new(AAVMF_DIR).join("AAVMF_VARS.fd");
        fs::copy(&vars_src, &vars_copy).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (install qemu-efi-aarch64: scripts/setup.sh)",
                vars_src.display()
            )
        });
        push(&["-machine", "virt"]);
        push(&[
            "-drive",
            &format!("if=pflash,format=raw,unit=0,readonly=on,file={AAVMF_DIR}/AAVMF_CODE.fd"),
        ]);
        push(&[
            "-drive",
            &format!("if=pflash,format=raw,unit=1,file={}", vars_copy.display()),
        ]);
    } else if mode.is_uefi() {
        push(&["-vga", "std"]);
        // q35 for every UEFI mode so that Secure Boot (needs SMM) changes nothing else.
        let (code, vars) = if opts.secure_boot {
            ("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd")
        } else {
            ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd")
        };
        let vars_copy = work.path().join("OVMF_VARS.fd");
        let vars_src = Path::new(OVMF_DIR).join(vars);
        fs::copy(&vars_src, &vars_copy).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (install ovmf: scripts/setup.sh)",
                vars_src.display()
            )
        });
        push(&[
            "-machine",
            if opts.secure_boot {
                "q35,smm=on"
            } else {
                "q35"
            },
        ]);
        if opts.secure_boot {
            push(&["-global", "driver=cfi.pflash01,property=secure,value=on"]);
        }
        push(&[
            "-drive",
            &format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_DIR}/{code}"),
        ]);
        push(&[
            "-drive",
            &format!("if=pflash,format=raw,unit=1,file={}", vars_copy.display()),
        ]);
    } else {
        push(&["-vga", "std", "-machine", "pc"]);
    }
    match mode {
        BootMode::BiosCd => {
            push(&[
                "-drive",
                &format!("file={iso_arg},media=cdrom,readonly=on,if=ide,index=2,format=raw"),
                "-boot",
                "order=d",
            ]);
        }
        BootMode::UefiCd if aarch64 => {
            push(&[
                "-device",
                "virtio-scsi-pci,id=scsi",
                "-drive",
                &format!("if=none,id=cd,file={iso_arg},media=cdrom,readonly=on,format=raw"),
                "-device",
                "scsi-cd,bus=scsi.0,drive=cd,bootindex=0",
            ]);
        }
        BootMode::UefiCd => {
            push(&[
                "-drive",
                &format!("if=none,id=cd,file={iso_arg},media=cdrom,readonly=on,format=raw"),
            ]);
            push(&["-device", "ide-cd,drive=cd,bus=ide.0,bootindex=0"]);
        }
        BootMode::BiosUsb | BootMode::UefiUsb | BootMode::UefiUsbEsp => {
            push(&["-device", "qemu-xhci,id=xhci"]);
            push(&[
                "-drive",
                &format!("if=none,id=stick,format=raw,file={iso_arg},snapshot=on"),
            ]);
            push(&["-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0"]);
        }
        BootMode::UsbCd | BootMode::BiosUsbCd => {
            push(&[
                "-device",
                "qemu-xhci,id=xhci",
                "-device",
                "usb-bot,id=bot,bus=xhci.0",
            ]);
            push(&[
                "-drive",
                &format!("if=none,id=cd,file={iso_arg},media=cdrom,readonly=on,format=raw"),
            ]);
            push(&["-device", "scsi-cd,bus=bot.0,drive=cd,bootindex=0"]);
        }
    }
    args.extend(opts.extra_args.iter().cloned());
    let mut report = run_guest(&args, work.path(), &log_path, opts);
    report.mode = Some(mode);
    report
}

/// QEMU's direct kernel boot (`-kernel`/`-initrd`/`-append`, SeaBIOS, as a PXE loader hands
/// over): what `remaster pxe` output boots like. `mode` of the report stays None.
pub fn boot_kernel(kernel: &Path, initrd: &Path, append: &str, opts: &BootOptions) -> BootReport {
    let work = tempfile::Builder::new()
        .prefix("remaster-boot-")
        .tempdir()
        .unwrap_or_else(|e| panic!("tempdir: {e}"));
    let log_path = work.path().join("serial.log");
    let mut args: Vec<String> = ["-accel", "tcg", "-cpu", "max", "-machine", "pc", "-m"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(opts.memory_mib.to_string());
    args.extend(
        [
            "-nographic",
            "-monitor",
            "none",
            "-no-reboot",
            "-nodefaults",
            "-vga",
            "std",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.push("-serial".into());
    args.push(format!("file:{}", log_path.display()));
    args.push("-kernel".into());
    args.push(kernel.display().to_string());
    args.push("-initrd".into());
    args.push(initrd.display().to_string());
    args.push("-append".into());
    args.push(append.to_string());
    args.extend(opts.extra_args.iter().cloned());
    run_guest(&args, work.path(), &log_path, opts)
}

/// Runs QEMU with `args` until the guest powers off, the report is complete, or the timeout.
fn run_guest(args: &[String], work: &Path, log_path: &Path, opts: &BootOptions) -> BootReport {
    let stderr_path = work.join("qemu.stderr");
    let _slot = SlotGuard::acquire();
    let started = Instant::now();
    let program = if opts.guest == Guest::Aarch64 {
        "qemu-system-aarch64"
    } else {
        "qemu-system-x86_64"
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            File::create(&stderr_path).unwrap_or_else(|e| panic!("{}: {e}", stderr_path.display())),
        )
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e} (scripts/setup.sh)"));
    let mut timed_out = false;
    let mut report_seen_at: Option<Instant> = None;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        let log = fs::read(log_path).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        if report_seen_at.is_none() && log.contains("REMASTER-REPORT-END") {
            report_seen_at = Some(Instant::now());
        }
        let stop = opts.stop_on.iter().any(|s| log.contains(s.as_str()));
        let hung_after_report =
            report_seen_at.is_some_and(|t| t.elapsed() > Duration::from_secs(10));
        if stop || started.elapsed() > opts.timeout || hung_after_report {
            timed_out = !hung_after_report;
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let elapsed = started.elapsed();
    let raw = String::from_utf8_lossy(&fs::read(log_path).unwrap_or_default()).into_owned();
    if let Some(keep) = &opts.keep_log {
        let _ = fs::write(keep, &raw);
    }
    let mut report = parse_report(&raw);
    report.timed_out = timed_out;
    report.elapsed = elapsed;
    report.qemu_stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    report
}

/// QEMU arguments for a blank 64 MiB disk behind an emulated LSI MegaRAID SAS HBA (driver
/// megaraid_sas; a PCI device on q35 and on aarch64's virt alike). The image lives in `dir`.
pub fn hba_args(dir: &Path) -> Vec<String> {
    let disk = dir.join("hba-disk.img");
    std::fs::File::create(&disk)
        .and_then(|f| f.set_len(64 << 20))
        .unwrap_or_else(|e| panic!("{}: {e}", disk.display()));
    [
        "-device",
        "megasas,id=hba",
        "-drive",
        &format!("if=none,id=hbadisk,file={},format=raw", disk.display()),
        "-device",
        "scsi-hd,drive=hbadisk,bus=hba.0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Whether the guest saw the disk of [`hba_args`] (the only 64 MiB block device).
pub fn disk_behind_hba(report: &BootReport) -> bool {
    report.blockdevs.values().any(|size| *size == 64 << 20)
}

/// What a boot of a `--add-dud` output shows: `inst.dd=/dd.iso` and `marker` (the edited
/// config was read) on the command line, /dd.iso in the initramfs root, and `driver` loaded
/// from the overlay (`/<kver>/updates/`).
pub fn assert_driver_from_overlay(
    r: &BootReport,
    mode: BootMode,
    marker: &str,
    driver: &str,
    kver: &str,
) {
    assert!(r.cmdline_has("inst.dd=/dd.iso"), "{mode:?}: {}", r.cmdline);
    assert!(
        r.cmdline_has(marker),
        "{mode:?}: the edited config was not read: {}",
        r.cmdline
    );
    assert_eq!(
        r.file_present("/dd.iso"),
        Some(true),
        "{mode:?}: /dd.iso not in the initramfs root"
    );
    let m = r
        .module(driver)
        .unwrap_or_else(|| panic!("{mode:?}: {driver} not loaded\n{}", r.tail()));
    assert!(
        m.path.contains(&format!("/{kver}/updates/")),
        "{mode:?}: {driver} not loaded from the overlay: {m:?}"
    );
}

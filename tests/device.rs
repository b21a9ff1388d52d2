//! `-o /dev/sdX` (issue 17 §2): loop devices stand in for the USB stick. The image is written,
//! read back and verified on the device, and is byte for byte the file output of the same
//! edit (checkisomd5 as the oracle); every refusal leaves the device untouched and is one
//! line. Also the IODD note: a file output on a filesystem with only scattered free space is
//! reported as fragmented (FIEMAP), one on a fresh filesystem as contiguous.
//!
//! The written stick also boots (full tier): QEMU opens the loop device as a USB disk, in
//! BIOS-USB and in UEFI-USB-via-ESP (El Torito hidden on the device, as most PCs boot a dd'd
//! stick), and the fixture init reports the driver loaded from the overlay.
//!
//! Needs root (losetup, partx, mount; CI runs as root): skipped with a message otherwise,
//! failed under CI=true. Partition nodes are made with mknod from sysfs, since containers
//! often have no udev.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::boot::{boot, hide_el_torito_in_place, BootMode, BootOptions, BootReport, MediaCheck};
use common::cli::{file_sha256, output_text, remaster_bin};
use common::fixtures::*;

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// False (test skipped) when not root; a failure under CI=true.
fn root_or_skip() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "loop device tests need root (CI runs as root)"
    );
    eprintln!("SKIPPED: loop device tests need root");
    false
}

fn sh(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?}:\n{}", output_text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// A loop device over a sparse file, detached (and its partition nodes and mount removed)
/// when dropped.
struct Loop {
    dev: PathBuf,
    backing: PathBuf,
    nodes: Vec<PathBuf>,
    mount: Option<PathBuf>,
}

impl Loop {
    fn new(dir: &Path, name: &str, mib: u64) -> Loop {
        let backing = dir.join(format!("{name}.img"));
        let f = fs::File::create(&backing).expect("backing file");
        f.set_len(mib << 20).expect("size");
        drop(f);
        let dev = sh(Command::new("losetup")
            .args(["--find", "--show", "--partscan"])
            .arg(&backing));
        Loop {
            dev: PathBuf::from(dev),
            backing,
            nodes: Vec::new(),
            mount: None,
        }
    }

    /// Adds one partition (sgdisk), makes the kernel see it (partx) and a node for it in
    /// `dir` (mknod from sysfs); returns the node.
    fn partition(&mut self, dir: &Path) -> PathBuf {
        sh(Command::new("sgdisk")
            .args(["-n", "1:2048:+16M", "-t", "1:8300"])
            .arg(&self.dev));
        let _ = Command::new("partx").arg("-a").arg(&self.dev).output();
        let name = self
            .dev
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let sys = format!("/sys/block/{name}/{name}p1/dev");
        let dev = fs::read_to_string(&sys).unwrap_or_else(|e| panic!("{sys}: {e}"));
        let (major, minor) = dev.trim().split_once(':').expect("MAJ:MIN");
        let node = dir.join(format!("{name}p1"));
        sh(Command::new("mknod").arg(&node).args(["b", major, minor]));
        self.nodes.push(node.clone());
        node
    }

    fn mount(&mut self, node: &Path, at: &Path) {
        // 4 KiB blocks: 128 MiB block groups, so a fresh filesystem has room for the image
        // in one piece (with 1 KiB blocks, 8 MiB groups split it at their metadata).
        sh(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096"])
            .arg(node));
        fs::create_dir_all(at).expect("mount point");
        sh(Command::new("mount").arg(node).arg(at));
        self.mount = Some(at.to_path_buf());
    }

    fn digest(&self) -> String {
        file_sha256(&self.backing)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if let Some(m) = &self.mount {
            let _ = Command::new("umount").arg(m).status();
        }
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        for n in &self.nodes {
            let _ = fs::remove_file(n);
        }
        let _ = fs::remove_file(&self.backing);
    }
}

/// The oracle: e2fsprogs' filefrag. Pieces = extents whose start is not where the previous
/// one ended (filefrag -v prints that "expected" block in its fifth column).
fn filefrag_pieces(file: &Path) -> usize {
    let text = sh(Command::new("filefrag").arg("-v").arg(file));
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| {
            l.trim_start()
                .split(':')
                .next()
                .is_some_and(|n| n.trim().parse::<u32>().is_ok())
        })
        .map(|l| l.split(':').map(|f| f.trim().to_owned()).collect())
        .collect();
    assert!(!rows.is_empty(), "filefrag -v {}:\n{text}", file.display());
    1 + rows
        .iter()
        .filter(|r| r.get(4).is_some_and(|e| e.parse::<u64>().is_ok()))
        .count()
}

fn dud() -> PathBuf {
    dud_support::fixtures().join("dd-good.iso")
}

#[test]
fn writes_the_image_to_the_device_reads_it_back_and_verifies_it() {
    if !root_or_skip() {
        return;
    }
    let dir = scratch_dir();
    let stick = Loop::new(dir.path(), "stick", 64);
    let tmp = dir.path().join("tmp");
    fs::create_dir(&tmp).expect("tmp");
    let o = remaster_bin()
        .arg(fixture_iso())
        .arg("--add-dud")
        .arg(dud())
        .args(["-q", "--fixed-disk", "-o"])
        .arg(&stick.dev)
        .env("TMPDIR", &tmp)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", output_text(&o));
    // The temporary image is gone.
    let left: Vec<_> = fs::read_dir(&tmp).expect("tmp").collect();
    assert!(left.is_empty(), "left in $TMPDIR: {left:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("read back and identical"), "{stderr}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("ok   isomd5sum"), "verify ran:\n{stdout}");
    assert!(stdout.contains("ok   gpt"), "verify ran:\n{stdout}");

    // The device holds exactly the file output of the same edit, then what was there.
    let file = dir.path().join("file.iso");
    let o = remaster_bin()
        .arg(fixture_iso())
        .arg("--add-dud")
        .arg(dud())
        .arg("-q")
        .arg("-o")
        .arg(&file)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", output_text(&o));
    let want = fs::read(&file).expect("file output");
    let got = fs::read(&stick.backing).expect("stick");
    assert!(
        got.get(..want.len()) == Some(&want[..]),
        "the device does not hold the image"
    );
    // The oracle reads the device itself.
    let (ok, log) = run_tool("checkisomd5", &[&stick.dev.to_string_lossy()]);
    assert!(ok, "checkisomd5 {}: {log}", stick.dev.display());
}

/// Runs remaster into `device` and checks a one-line refusal (exit 4) that names `why` and
/// leaves the device's bytes as they were.
fn refused(stick: &Loop, device: &Path, input: &Path, extra: &[&str], why: &str) {
    let before = stick.digest();
    let o: Output = remaster_bin()
        .arg(input)
        .args(["--cmdline", "x=1", "-q"])
        .args(extra)
        .arg("-o")
        .arg(device)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{why}:\n{}", output_text(&o));
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    assert!(stderr.contains("refused, nothing written"), "{stderr}");
    assert!(stderr.contains(why), "expected {why:?}:\n{stderr}");
    assert_eq!(stick.digest(), before, "{why}: the device was written");
}

#[test]
fn refuses_before_writing() {
    if !root_or_skip() {
        return;
    }
    let dir = scratch_dir();
    let iso = fixture_iso();

    // A fixed (non-removable) disk without --fixed-disk: loop devices are not removable.
    let stick = Loop::new(dir.path(), "fixed", 64);
    refused(
        &stick,
        &stick.dev,
        &iso,
        &[],
        "is not a removable disk; if you really mean it, add --fixed-disk",
    );

    // Smaller than the image.
    let small = Loop::new(dir.path(), "small", 16);
    refused(
        &small,
        &small.dev,
        &iso,
        &["--fixed-disk"],
        "the device holds 16777216 bytes, the image needs",
    );

    // A partition, and a disk with a mounted partition.
    let mut disk = Loop::new(dir.path(), "disk", 64);
    let part = disk.partition(dir.path());
    refused(
        &disk,
        &part,
        &iso,
        &["--fixed-disk"],
        "is a partition; give the whole disk, /dev/",
    );
    let mnt = dir.path().join("mnt");
    disk.mount(&part, &mnt);
    refused(
        &disk,
        &disk.dev,
        &iso,
        &["--fixed-disk"],
        &format!("is mounted on {}", mnt.display()),
    );

    // The device that is the input (an ISO read from a stick, written back to it).
    let src = Loop::new(dir.path(), "src", 64);
    fs::write(&src.backing, fs::read(&iso).expect("iso")).expect("copy iso");
    refused(
        &src,
        &src.dev,
        &src.dev,
        &["--fixed-disk"],
        "it is the input",
    );
}

#[test]
fn reports_whether_a_file_output_is_contiguous() {
    if !root_or_skip() {
        return;
    }
    let dir = scratch_dir();
    let mut lo = Loop::new(dir.path(), "iodd", 160);
    let whole = lo.dev.clone();
    let mnt = dir.path().join("iodd");
    lo.mount(&whole, &mnt);
    let run = |out: &Path| {
        let o = remaster_bin()
            .arg(fixture_iso())
            .args(["--cmdline", "x=1", "-v", "-o"])
            .arg(out)
            .output()
            .expect("run");
        assert!(o.status.success(), "{}", output_text(&o));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let fresh = run(&mnt.join("fresh.iso"));
    assert!(
        fresh.contains("is contiguous (one piece on disk)"),
        "{fresh}"
    );
    fs::remove_file(mnt.join("fresh.iso")).expect("rm");

    // Scatter the free space: fill the filesystem with 256 KiB files, delete every other.
    let mut n = 0;
    loop {
        let f = mnt.join(format!("fill{n}"));
        if fs::write(&f, vec![0x5a; 256 << 10]).is_err() {
            let _ = fs::remove_file(&f);
            break;
        }
        n += 1;
    }
    sh(&mut Command::new("sync"));
    for i in (0..n).step_by(2) {
        fs::remove_file(mnt.join(format!("fill{i}"))).expect("rm");
    }
    sh(&mut Command::new("sync"));
    let scattered = run(&mnt.join("scattered.iso"));
    let pieces = filefrag_pieces(&mnt.join("scattered.iso"));
    assert!(pieces > 1, "filling did not fragment the free space");
    assert!(
        scattered.contains(&format!("is fragmented ({pieces} pieces on disk)"))
            && scattered.contains("IODD devices refuse"),
        "filefrag counts {pieces} pieces:\n{scattered}"
    );
}

/// What every boot of the stick must show: its installer started from the device (the boot
/// medium found by label is the USB disk), with the DUD in the initramfs and the driver
/// loaded from the overlay, and the media check passed on the device.
fn assert_stick_boot(r: &BootReport, mode: BootMode) {
    assert!(r.reached_report, "{mode:?}\n{}", r.tail());
    assert_eq!(
        r.boot_medium.as_deref(),
        Some("sda"),
        "{mode:?}: {}",
        r.tail()
    );
    assert!(r.cmdline_has("inst.dd=/dd.iso"), "{mode:?}: {}", r.cmdline);
    assert_eq!(r.file_present("/dd.iso"), Some(true), "{mode:?}");
    let m = r
        .module("megaraid_sas")
        .unwrap_or_else(|| panic!("{mode:?}: megaraid_sas not loaded\n{}", r.tail()));
    assert!(
        m.path.contains(&format!("/{}/updates/", fixture_kver())),
        "{mode:?}: not loaded from the overlay: {m:?}"
    );
    assert_eq!(
        r.mediacheck,
        Some(MediaCheck::Pass),
        "{mode:?}: {:?}",
        r.mediacheck_output
    );
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn the_written_stick_boots_bios_usb_and_uefi_usb_esp_with_the_driver() {
    if !root_or_skip() {
        return;
    }
    let dir = scratch_dir();
    let stick = Loop::new(dir.path(), "boot", 64);
    let o = remaster_bin()
        .arg(fixture_iso())
        .arg("--add-dud")
        .arg(dud())
        .args(["-q", "--fixed-disk", "-o"])
        .arg(&stick.dev)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", output_text(&o));

    let r = boot(&stick.dev, BootMode::BiosUsb, &BootOptions::default());
    assert_stick_boot(&r, BootMode::BiosUsb);
    assert_eq!(r.firmware, "bios");

    // Most PCs boot a dd'd stick through its EFI system partition, never El Torito.
    hide_el_torito_in_place(&stick.dev);
    let r = boot(&stick.dev, BootMode::UefiUsbEsp, &BootOptions::default());
    assert_stick_boot(&r, BootMode::UefiUsbEsp);
    assert_eq!(r.firmware, "uefi");
}

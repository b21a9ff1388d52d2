//! QEMU direct-kernel-boot harness for module ground truth: builds a tiny initramfs
//! (busybox-static + kmod from `scripts/build-kmod-fixtures.sh`'s `initrd-base/`), whose
//! init `insmod`s each case's module files in order, prints the kernel's new log lines,
//! whether the case's module is in /proc/modules, removes it again, and powers off.
//! Self-contained: uses only std and the `cpio` / `qemu-system-x86_64` (or, for arm64,
//! `qemu-system-aarch64`) programs.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One case: module files inserted in order (dependencies first, the case module last).
#[derive(Debug, Clone)]
pub struct BootCase {
    pub name: String,
    pub files: Vec<PathBuf>,
    /// Module name of the last file (what /proc/modules would list), for the load check.
    pub module_name: String,
}

/// What happened to one case inside the guest.
#[derive(Debug, Clone, Default)]
pub struct CaseResult {
    pub name: String,
    /// (file name, exit status, insmod output) per inserted file.
    pub insmods: Vec<(String, i32, String)>,
    /// Kernel log lines produced by the case, timestamps removed.
    pub kernel_lines: Vec<String>,
    /// Whether the case's module was listed in /proc/modules after the inserts.
    pub loaded: bool,
}

impl CaseResult {
    /// The insmod result of the case module (the last file).
    pub fn last_insmod(&self) -> Option<&(String, i32, String)> {
        self.insmods.last()
    }
}

const APPLETS: &[&str] = &[
    "sh", "mount", "dmesg", "sed", "cat", "poweroff", "echo", "grep", "ls", "sleep", "sync",
];

/// The QEMU machine a kernel boots on.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    /// The QEMU program (and the Debian package that has it, for the error).
    pub qemu: &'static str,
    pub package: &'static str,
    pub args: &'static [&'static str],
    /// The serial console's name in the kernel's command line.
    pub console: &'static str,
}

/// x86_64 PC (qemu-system-x86).
pub const X86_64: Machine = Machine {
    qemu: "qemu-system-x86_64",
    package: "qemu-system-x86",
    args: &["-accel", "tcg", "-cpu", "max", "-m", "512"],
    console: "ttyS0",
};

/// arm64 `virt` board (qemu-system-arm): the kernel's Image booted directly, no firmware.
pub const AARCH64: Machine = Machine {
    qemu: "qemu-system-aarch64",
    package: "qemu-system-arm",
    args: &[
        "-M",
        "virt",
        "-accel",
        "tcg",
        "-cpu",
        "cortex-a57",
        "-m",
        "512",
    ],
    console: "ttyAMA0",
};

/// Boots `kernel` with an initramfs running `cases`; `append` is added to the command line
/// (e.g. `module.sig_enforce=1`). Returns one result per case, in order.
pub fn boot(
    kernel: &Path,
    initrd_base: &Path,
    cases: &[BootCase],
    append: &str,
    workdir: &Path,
) -> Result<Vec<CaseResult>, String> {
    boot_on(&X86_64, kernel, initrd_base, cases, append, workdir)
}

/// [`boot`] on `machine`.
pub fn boot_on(
    machine: &Machine,
    kernel: &Path,
    initrd_base: &Path,
    cases: &[BootCase],
    append: &str,
    workdir: &Path,
) -> Result<Vec<CaseResult>, String> {
    let root = workdir.join("root");
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| format!("clean {}: {e}", root.display()))?;
    }
    copy_tree(initrd_base, &root)?;
    for applet in APPLETS {
        let link = root.join("usr/bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link).map_err(|e| e.to_string())?;
        }
    }
    let kmod_links = ["insmod", "rmmod"];
    for l in kmod_links {
        let link = root.join("usr/sbin").join(l);
        if !link.exists() {
            std::os::unix::fs::symlink("../bin/kmod", &link).map_err(|e| e.to_string())?;
        }
    }
    let mut script = String::from(
        "#!/bin/sh\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sys /sys\n\
         mount -t devtmpfs dev /dev\n\
         dmesg -c >/dev/null\n",
    );
    for (i, case) in cases.iter().enumerate() {
        let dir = root.join(format!("cases/{i:02}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let _ = writeln!(script, "echo '@@CASE {}'", case.name);
        for (j, file) in case.files.iter().enumerate() {
            let fname = format!(
                "{j:02}_{}",
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            std::fs::copy(file, dir.join(&fname))
                .map_err(|e| format!("copy {}: {e}", file.display()))?;
            let _ = writeln!(
                script,
                "out=$(/usr/sbin/insmod /cases/{i:02}/{fname} 2>&1); rc=$?\n\
                 echo \"@@INSMOD {fname} rc=$rc $out\""
            );
            if j + 1 < case.files.len() {
                // Dependencies: keep only the case module's own kernel lines.
                script.push_str("dmesg -c >/dev/null\n");
            }
        }
        let _ = writeln!(
            script,
            "dmesg -c | sed 's/^/@@DMESG /'\n\
             if grep -q '^{m} ' /proc/modules; then echo '@@LOADED'; /usr/sbin/rmmod {m} >/dev/null 2>&1; fi\n\
             dmesg -c >/dev/null",
            m = case.module_name
        );
    }
    script.push_str("echo '@@END'\nsync\npoweroff -f\n");
    let init = root.join("init");
    std::fs::write(&init, script).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;

    let initrd = workdir.join("test-initrd.cpio");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && find . | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --quiet > '{}'",
            root.display(),
            initrd.display()
        ))
        .status()
        .map_err(|e| format!("cpio: {e}"))?;
    if !status.success() {
        return Err("cpio failed".into());
    }

    let log = workdir.join("serial.log");
    let _ = std::fs::remove_file(&log);
    let mut child = Command::new(machine.qemu)
        .args(machine.args)
        .arg("-no-reboot")
        .args(["-display", "none", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(&initrd)
        .arg("-append")
        .arg(format!(
            "console={} loglevel=1 panic=-1 {append}",
            machine.console
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e} (install {})", machine.qemu, machine.package))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if !status.success() {
                return Err(format!("qemu exited with {status}"));
            }
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "guest did not power off within 300 s; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    if !text.contains("@@END") {
        return Err(format!("guest output incomplete; see {}", log.display()));
    }
    Ok(parse_log(&text))
}

fn parse_log(text: &str) -> Vec<CaseResult> {
    let mut results: Vec<CaseResult> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix("@@CASE ") {
            results.push(CaseResult {
                name: name.to_string(),
                ..Default::default()
            });
            continue;
        }
        let Some(cur) = results.last_mut() else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("@@INSMOD ") {
            let mut parts = rest.splitn(3, ' ');
            let file = parts.next().unwrap_or_default().to_string();
            let rc = parts
                .next()
                .and_then(|r| r.strip_prefix("rc="))
                .and_then(|r| r.parse().ok())
                .unwrap_or(-1);
            cur.insmods
                .push((file, rc, parts.next().unwrap_or_default().to_string()));
        } else if let Some(rest) = line.strip_prefix("@@DMESG ") {
            // "[    1.234567] text" → "text"
            let text = match rest.find("] ") {
                Some(i) if rest.starts_with('[') => &rest[i + 2..],
                _ => rest,
            };
            cur.kernel_lines.push(text.to_string());
        } else if line == "@@LOADED" {
            cur.loaded = true;
        }
    }
    results
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cp -a {} {} failed", from.display(), to.display()))
    }
}

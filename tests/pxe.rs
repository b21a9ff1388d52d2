//! `remaster pxe` (issue 17 §3): the PXE directory of the EL9 fixture with a vendor DUD.
//! Oracles: xorriso (the ISO's own kernel and initrd bytes), xz + cpio (the appended
//! overlay unpacked over the base like the kernel does), kmod's modprobe (the regenerated
//! module indexes resolve the driver to the overlay), the main command's isolinux.cfg (the
//! same kernel arguments), and in the full tier QEMU's direct kernel boot with the append
//! line of the written pxelinux snippet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::boot::{boot_kernel, BootOptions};
use common::cli::{output_text, remaster_bin};
use common::fixtures::*;

const URL: &str = "http://10.0.2.2/rocky9";
const DRIVER: &str = "megaraid_sas";

fn dud() -> PathBuf {
    dud_support::fixtures().join("dd-good.iso")
}

fn pxe(out: &Path, extra: &[&str]) -> Output {
    remaster_bin()
        .arg("pxe")
        .arg(fixture_iso())
        .arg("--add-dud")
        .arg(dud())
        .args(["--repo", URL, "-q"])
        .args(extra)
        .arg("-o")
        .arg(out)
        .output()
        .expect("run remaster pxe")
}

/// Every file below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}

/// The one `append` line of the pxelinux snippet, without the `append` word.
fn pxelinux_append(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("pxelinux.cfg/default")).expect("pxelinux snippet");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("append "))
        .collect();
    assert_eq!(lines.len(), 1, "one append line:\n{text}");
    lines[0]
        .trim_start()
        .trim_start_matches("append ")
        .to_owned()
}

/// Unpacks a newc cpio stream (`data`, maybe compressed) into `root` with cpio(1).
fn unpack(data: &[u8], root: &Path) {
    fs::create_dir_all(root).unwrap();
    let plain = if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
        let mut xz = Command::new("xz")
            .args(["-dc"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("xz");
        let mut stdin = xz.stdin.take().unwrap();
        let input = data.to_vec();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(&input).unwrap();
        });
        let o = xz.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(o.status.success(), "xz -dc failed");
        o.stdout
    } else {
        data.to_vec()
    };
    let mut cpio = Command::new("cpio")
        .args(["-idm", "--quiet", "--no-absolute-filenames"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cpio");
    {
        use std::io::Write;
        cpio.stdin.take().unwrap().write_all(&plain).unwrap();
    }
    let o = cpio.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "cpio: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn writes_kernel_initrd_and_one_line_snippets() {
    let dir = scratch_dir();
    let out = dir.path().join("pxe");
    let o = pxe(&out, &[]);
    assert!(o.status.success(), "{}", output_text(&o));
    assert_eq!(
        tree(&out),
        ["grub.cfg", "initrd.img", "pxelinux.cfg/default", "vmlinuz"]
    );
    assert_eq!(names_in(dir.path()), ["pxe"], "temporary directory left");

    // vmlinuz is the ISO's, byte for byte.
    let iso_kernel = dir.path().join("iso-vmlinuz");
    extract_from_iso(&fixture_iso(), "/images/pxeboot/vmlinuz", &iso_kernel);
    assert!(
        fs::read(out.join("vmlinuz")).unwrap() == fs::read(&iso_kernel).unwrap(),
        "vmlinuz differs from the ISO's"
    );

    // initrd.img = the ISO's initrd, then the overlay (4-byte aligned, kernel rules).
    let iso_initrd = dir.path().join("iso-initrd");
    extract_from_iso(&fixture_iso(), "/images/pxeboot/initrd.img", &iso_initrd);
    let base = fs::read(&iso_initrd).unwrap();
    let initrd = fs::read(out.join("initrd.img")).unwrap();
    assert!(initrd.len() > base.len() + 1000, "no overlay appended");
    assert!(initrd.starts_with(&base), "the base initrd was not kept");
    let pad = base.len().next_multiple_of(4) - base.len();
    assert!(initrd[base.len()..base.len() + pad].iter().all(|b| *b == 0));
    let overlay = &initrd[base.len() + pad..];

    // Unpacked like the kernel: the base, then the overlay over it.
    let root = dir.path().join("root");
    unpack(&base, &root);
    unpack(overlay, &root);
    assert_eq!(
        fs::read(root.join("dd.iso")).unwrap(),
        fs::read(dud()).unwrap(),
        "/dd.iso is not the DUD"
    );
    let kver = fixture_kver();
    let module = format!("usr/lib/modules/{kver}/updates/{DRIVER}.ko.xz");
    assert!(root.join(&module).is_file(), "{module} missing");
    assert!(
        root.join("usr/bin").is_dir() && fs::read_link(root.join("bin")).is_ok(),
        "the usr-merge symlinks were replaced"
    );
    // kmod reads the overlay's indexes: the name and the HBA's PCI alias resolve to it.
    let r = root.to_str().unwrap();
    for name in [
        DRIVER,
        "pci:v00001000d00000079sv00001000sd00009261bc01sc04i00",
    ] {
        let (ok, text) = run_tool("modprobe", &["-d", r, "-S", &kver, "--show-depends", name]);
        assert!(
            ok && text.contains(&format!("/updates/{DRIVER}.ko.xz")),
            "modprobe --show-depends {name}: {text}"
        );
    }

    // The snippets: the whole kernel line on one line, with the ISO path's arguments.
    let append = pxelinux_append(&out);
    let args: Vec<&str> = append.split_whitespace().collect();
    for want in [
        "initrd=initrd.img",
        "inst.dd=/dd.iso",
        &format!("rd.driver.pre={DRIVER}"),
        &format!("inst.stage2={URL}"),
        "quiet",
    ] {
        assert!(args.contains(&want), "{want} missing: {append}");
    }
    assert!(
        !append.contains("hd:LABEL") && !append.contains("rd.live.check"),
        "{append}"
    );
    let grub = fs::read_to_string(out.join("grub.cfg")).unwrap();
    let linux: Vec<&str> = grub
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("linuxefi "))
        .collect();
    assert_eq!(linux.len(), 1, "{grub}");
    assert_eq!(
        linux[0],
        format!(
            "linuxefi /vmlinuz {}",
            append.trim_start_matches("initrd=initrd.img ")
        ),
        "grub and pxelinux differ"
    );
    assert!(
        grub.lines().any(|l| l.trim() == "initrdefi /initrd.img"),
        "{grub}"
    );
    let (ok, log) = run_tool(
        "grub-script-check",
        &[out.join("grub.cfg").to_str().unwrap()],
    );
    assert!(ok, "grub-script-check: {log}");

    // The same arguments as the ISO the main command writes, but for the network source.
    let iso = dir.path().join("out.iso");
    let o = remaster_bin()
        .arg(fixture_iso())
        .arg("--add-dud")
        .arg(dud())
        .args(["-q", "-o"])
        .arg(&iso)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", output_text(&o));
    // The initrd is the very one the ISO path writes (same overlay, same bytes).
    let iso_path_initrd = dir.path().join("iso-path-initrd");
    extract_from_iso(&iso, "/images/pxeboot/initrd.img", &iso_path_initrd);
    assert!(
        fs::read(&iso_path_initrd).unwrap() == initrd,
        "initrd.img differs from the remastered ISO's"
    );
    let cfg = dir.path().join("isolinux.cfg");
    extract_from_iso(&iso, "/isolinux/isolinux.cfg", &cfg);
    let cfg = fs::read_to_string(&cfg).unwrap();
    let iso_append = cfg
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("append ") && !l.contains("rd.live.check") && l.contains("inst.dd"))
        .unwrap_or_else(|| panic!("no install entry:\n{cfg}"));
    let iso_args: Vec<&str> = iso_append
        .split_whitespace()
        .skip(1)
        .map(|a| {
            if a.starts_with("inst.stage2=") {
                "inst.stage2=URL"
            } else {
                a
            }
        })
        .collect();
    let pxe_args: Vec<&str> = args
        .iter()
        .map(|a| {
            if a.starts_with("inst.stage2=") {
                "inst.stage2=URL"
            } else {
                a
            }
        })
        .collect();
    assert_eq!(pxe_args, iso_args, "the ISO's install entry: {iso_append}");
}

#[test]
fn refuses_like_the_iso_path_and_never_leaves_a_partial_directory() {
    let dir = scratch_dir();
    let run = |out: &Path, rpm: Option<&Path>, extra: &[&str]| {
        let mut cmd = remaster_bin();
        cmd.arg("pxe").arg(fixture_iso());
        match rpm {
            Some(r) => cmd.arg("--add-rpm").arg(r),
            None => cmd.arg("--add-dud").arg(dud()),
        };
        cmd.args(["-q"]).args(extra).arg("-o").arg(out);
        cmd.output().expect("run")
    };
    let one_line = |o: &Output, code: i32, why: &str| {
        assert_eq!(o.status.code(), Some(code), "{why}: {}", output_text(o));
        let err = String::from_utf8_lossy(&o.stderr);
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("remaster: ") && last.contains(why),
            "{why}:\n{err}"
        );
    };

    // A driver for another kernel: refused (exit 1), nothing written; --write-refused writes.
    let refused = dud_support::rpm("other");
    let out = dir.path().join("refused");
    let o = run(&out, Some(&refused), &["--repo", URL]);
    one_line(&o, 1, "nothing written; --write-refused writes anyway");
    assert_eq!(
        names_in(dir.path()),
        Vec::<String>::new(),
        "something written"
    );
    let o = run(&out, Some(&refused), &["--repo", URL, "--write-refused"]);
    assert!(o.status.success(), "{}", output_text(&o));
    assert!(out.join("initrd.img").is_file());

    // A non-empty directory: refused without --force (untouched), replaced with it.
    let full = dir.path().join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("old.txt"), b"keep").unwrap();
    let o = run(&full, None, &["--repo", URL]);
    one_line(&o, 4, "is not empty (use --force to replace it)");
    assert_eq!(tree(&full), ["old.txt"]);
    let o = run(&full, None, &["--repo", URL, "--force"]);
    assert!(o.status.success(), "{}", output_text(&o));
    assert_eq!(
        tree(&full),
        ["grub.cfg", "initrd.img", "pxelinux.cfg/default", "vmlinuz"]
    );
    // An empty directory needs no --force.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let o = run(&empty, None, &["--repo", URL]);
    assert!(o.status.success(), "{}", output_text(&o));

    // A file where the directory should be; a URL the installer cannot fetch from.
    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    let o = run(&file, None, &["--repo", URL]);
    one_line(&o, 4, "exists and is not a directory");
    let o = run(&dir.path().join("nourl"), None, &["--repo", "hd:LABEL=X"]);
    one_line(&o, 2, "--repo hd:LABEL=X: give the URL");
    assert_eq!(
        names_in(dir.path()),
        ["empty", "file", "full", "refused"],
        "temporary directories left"
    );
}

/// QEMU boots the written kernel and initrd with the pxelinux snippet's append line, as a
/// PXE loader would: the fixture init reports the driver loaded from the overlay.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn boots_the_written_files_with_the_snippet_line() {
    let dir = scratch_dir();
    let out = dir.path().join("pxe");
    let o = pxe(&out, &[]);
    assert!(o.status.success(), "{}", output_text(&o));
    let append = pxelinux_append(&out);
    let r = boot_kernel(
        &out.join("vmlinuz"),
        &out.join("initrd.img"),
        &append,
        &BootOptions::default(),
    );
    assert!(r.reached_report, "{}", r.tail());
    assert_eq!(
        r.cmdline.trim(),
        append.trim(),
        "the kernel got another line"
    );
    assert!(r.cmdline_has("inst.dd=/dd.iso"), "{}", r.cmdline);
    assert!(
        r.cmdline_has(&format!("inst.stage2={URL}")),
        "{}",
        r.cmdline
    );
    assert_eq!(r.file_present("/dd.iso"), Some(true), "{}", r.tail());
    let m = r
        .module(DRIVER)
        .unwrap_or_else(|| panic!("{DRIVER} not loaded\n{:?}\n{}", r.modprobes, r.tail()));
    assert!(
        m.path.contains(&format!("/{}/updates/", fixture_kver())),
        "{DRIVER} not loaded from the overlay: {m:?}"
    );
    assert!(r.usr_merge_intact(), "{:?}", r.symlinks);
}

/// `--dry-run --json` of `remaster pxe` on `iso`: the pxe part of the plan.
fn pxe_plan(iso: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = remaster_bin()
        .arg("pxe")
        .arg(iso)
        .arg("--add-dud")
        .arg(dud())
        .args(extra)
        .args(["--repo", URL, "--dry-run", "--json", "-o"])
        .arg(out)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", output_text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    doc["pxe"].clone()
}

/// A copy of the fixture with a DVD's `[variant-BaseOS]` in .treeinfo, and (`repodata`) the
/// repository's `BaseOS/repodata/repomd.xml` (xorriso replays the boot records).
fn dvd_like(dir: &Path, repodata: bool) -> PathBuf {
    let src = dir.join(format!("tree-{repodata}"));
    fs::create_dir_all(src.join("BaseOS/repodata")).unwrap();
    let ti = src.join("treeinfo");
    extract_from_iso(&fixture_iso(), "/.treeinfo", &ti);
    let mut text = fs::read_to_string(&ti).unwrap();
    text.push_str("\n[variant-BaseOS]\nid = BaseOS\npackages = BaseOS/Packages\nrepository = BaseOS\ntype = variant\nuid = BaseOS\n");
    fs::remove_file(&ti).unwrap();
    fs::write(&ti, text).unwrap();
    let mut args = vec![
        "-indev".to_string(),
        fixture_iso().display().to_string(),
        "-outdev".into(),
        dir.join(format!("dvd-{repodata}.iso"))
            .display()
            .to_string(),
        "-boot_image".into(),
        "any".into(),
        "replay".into(),
        "-padding".into(),
        "0".into(),
        "-map".into(),
        ti.display().to_string(),
        "/.treeinfo".into(),
    ];
    if repodata {
        let repomd = src.join("BaseOS/repodata/repomd.xml");
        fs::write(&repomd, "<repomd/>\n").unwrap();
        args.extend(["-map".into(), repomd.display().to_string()]);
        args.push("/BaseOS/repodata/repomd.xml".into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, log) = run_tool("xorriso", &refs);
    assert!(ok, "xorriso: {log}");
    dir.join(format!("dvd-{repodata}.iso"))
}

/// A boot ISO gets inst.stage2=URL; media with a package repository inst.repo=URL (and no
/// inst.stage2 left); a .treeinfo naming a variant whose repository is not on the media (a
/// boot ISO's) still inst.stage2.
#[test]
fn stage2_for_a_boot_iso_repo_for_a_dvd() {
    let dir = scratch_dir();
    let out = dir.path().join("never");
    let args_of = |plan: &serde_json::Value| -> Vec<String> {
        plan["kernel_args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let boot_iso = pxe_plan(
        &fixture_iso(),
        &out,
        &[
            "--cmdline",
            "ip=dhcp inst.ks=http://10.0.2.2/ks.cfg",
            "--rm-args",
            "quiet",
        ],
    );
    assert_eq!(boot_iso["install_source"], "stage2", "{boot_iso}");
    let args = args_of(&boot_iso);
    assert!(args.contains(&format!("inst.stage2={URL}")), "{args:?}");
    // --cmdline and --rm-args apply as on the ISO path.
    assert!(
        args.contains(&"ip=dhcp".to_owned())
            && args.contains(&"inst.ks=http://10.0.2.2/ks.cfg".to_owned()),
        "{args:?}"
    );
    assert!(!args.contains(&"quiet".to_owned()), "{args:?}");

    let dvd = pxe_plan(&dvd_like(dir.path(), true), &out, &[]);
    assert_eq!(dvd["install_source"], "repo", "{dvd}");
    let args = args_of(&dvd);
    assert!(args.contains(&format!("inst.repo={URL}")), "{args:?}");
    assert!(
        !args.iter().any(|a| a.starts_with("inst.stage2=")),
        "{args:?}"
    );
    assert!(args.contains(&"inst.dd=/dd.iso".to_owned()), "{args:?}");

    let no_repo = pxe_plan(&dvd_like(dir.path(), false), &out, &[]);
    assert_eq!(no_repo["install_source"], "stage2", "{no_repo}");
    assert!(!out.exists(), "--dry-run wrote");
}

/// SIGTERM while the temporary directory exists (the writer's test pause makes the moment
/// certain): exit 143, the temporary directory removed, no output directory.
#[test]
fn sigterm_removes_the_temporary_directory() {
    let dir = scratch_dir();
    let out = dir.path().join("pxe");
    let mut child = remaster_bin()
        .arg("pxe")
        .arg(fixture_iso())
        .arg("--add-dud")
        .arg(dud())
        .args(["--repo", URL, "-q", "-o"])
        .arg(&out)
        .env("REMASTER_TEST_PAUSE_AFTER_PLAN_MS", "20000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let started = std::time::Instant::now();
    let temp = loop {
        if let Some(name) = names_in(dir.path())
            .into_iter()
            .find(|n| n.starts_with(".pxe.remaster-"))
        {
            break dir.path().join(name);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "remaster ended before writing"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no temporary directory"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{}", output_text(&o));
    assert!(
        stderr.contains(&format!("removed the partial output {}", temp.display())),
        "{stderr}"
    );
    assert_eq!(names_in(dir.path()), Vec::<String>::new(), "left behind");
}

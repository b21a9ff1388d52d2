//! Issue 16, through the binary: "does this ISO drive my controller at all" (`check --pci`,
//! `--pci-from`, the plan's `--pci`) and "which of these builds is the right one" (candidate
//! directories, dependencies).
//!
//! Media: the EL9 fixture with mpt3sas (and its dependencies) in the initrd, relabelled by
//! xorriso as Rocky 9.2 (its own `.treeinfo`), Rocky 9.4 and AlmaLinux 9.4 (`.discinfo` and
//! label; `.treeinfo` removed), and the plain fixture (no mpt3sas) relabelled as a 10.0
//! release whose `.discinfo` carries only the number (the name then comes from the label).
//! Oracles: kmod's `modinfo` for the alias the answers start from; the kernel messages of
//! the skip reasons are those tests/kmod_truth.rs checks against the real kernels.
//! Run: `cargo test --test hardware` (no QEMU; a few remasters of the 44 MB fixture).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;
#[path = "dud_support/mod.rs"]
mod dud_support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::cli::{output_text, remaster_bin};
use common::fixtures::{fixture_iso, fixture_kver, kmod_fixtures, run_tool, scratch_dir};

struct Media {
    rocky92: PathBuf,
    rocky94: PathBuf,
    alma94: PathBuf,
    el10: PathBuf,
    /// Candidates: mpt3sas for the fixture kernel, for the other build, the other build
    /// without __versions, the fixture build unsigned, and its two dependencies.
    cands: PathBuf,
    /// The same without the dependencies.
    nodeps: PathBuf,
}

fn scsi_dir() -> PathBuf {
    let kver = fixture_kver();
    kmod_fixtures()
        .join("kernel")
        .join(&kver)
        .join("lib/modules")
        .join(&kver)
        .join("kernel/drivers/scsi")
}

fn run(cmd: &mut std::process::Command) -> Output {
    cmd.output().expect("run remaster")
}

fn relabel(src: &Path, out: &Path, volid: &str, discinfo_line2: &str, keep_treeinfo: bool) {
    let disc = out.with_extension("discinfo");
    std::fs::write(
        &disc,
        format!("1683849600.000000\n{discinfo_line2}\nx86_64\n"),
    )
    .unwrap();
    let mut args = vec![
        "-indev",
        src.to_str().unwrap(),
        "-outdev",
        out.to_str().unwrap(),
        "-boot_image",
        "any",
        "replay",
        "-volid",
        volid,
        "-update",
        disc.to_str().unwrap(),
        "/.discinfo",
    ];
    if !keep_treeinfo {
        args.extend(["-rm", "/.treeinfo", "--"]);
    }
    let (ok, log) = run_tool("xorriso", &args);
    assert!(ok, "xorriso relabel {volid}: {log}");
}

fn media() -> &'static Media {
    static M: OnceLock<Media> = OnceLock::new();
    M.get_or_init(|| {
        // A fixed directory, replaced by each run: statics are never dropped, so a TempDir
        // here would leave ~250 MB behind per run.
        let d = &common::fixtures::fixtures_dir().join("scratch/hardware-issue16");
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        let scsi = scsi_dir();
        let mpt = scsi.join("mpt3sas/mpt3sas.ko");
        // Oracle: kmod's modinfo says this mpt3sas lists SAS2008.
        let (ok, aliases) = run_tool("modinfo", &["-F", "alias", mpt.to_str().unwrap()]);
        assert!(
            ok && aliases.contains("pci:v00001000d00000072sv*sd*bc*sc*i*"),
            "{aliases}"
        );
        // The fixture with mpt3sas and its dependencies in the initrd.
        let inbox = d.join("inbox.iso");
        let o = run(remaster_bin()
            .arg(fixture_iso())
            .arg("--add-module")
            .arg(scsi.join("raid_class.ko"))
            .arg("--add-module")
            .arg(scsi.join("scsi_transport_sas.ko"))
            .arg("--add-module")
            .arg(&mpt)
            .arg("-q")
            .arg("-o")
            .arg(&inbox));
        assert!(o.status.success(), "{}", output_text(&o));
        let m = Media {
            rocky92: d.join("rocky92.iso"),
            rocky94: d.join("rocky94.iso"),
            alma94: d.join("alma94.iso"),
            el10: d.join("rocky10.iso"),
            cands: d.join("cands"),
            nodeps: d.join("nodeps"),
        };
        relabel(
            &inbox,
            &m.rocky92,
            "Rocky-9-2-x86_64-dvd",
            "Rocky Linux 9.2",
            true,
        );
        relabel(
            &inbox,
            &m.rocky94,
            "Rocky-9-4-x86_64-dvd",
            "Rocky Linux 9.4",
            false,
        );
        relabel(
            &inbox,
            &m.alma94,
            "AlmaLinux-9-4-x86_64-dvd",
            "AlmaLinux 9.4",
            false,
        );
        relabel(
            &fixture_iso(),
            &m.el10,
            "Rocky-10-0-x86_64-dvd",
            "10.0",
            false,
        );
        // Only the relabelled copies are needed.
        let _ = std::fs::remove_file(&inbox);

        let cases = kmod_fixtures().join("cases");
        std::fs::create_dir_all(&m.nodeps).unwrap();
        std::fs::copy(
            cases.join("mpt3sas_same.ko"),
            m.nodeps.join("mpt3sas-fixture.ko"),
        )
        .unwrap();
        std::fs::copy(
            cases.join("mpt3sas_other.ko"),
            m.nodeps.join("mpt3sas-other.ko"),
        )
        .unwrap();
        let (ok, log) = run_tool(
            "objcopy",
            &[
                "--remove-section=__versions",
                "--strip-symbol=__versions",
                cases.join("mpt3sas_other.ko").to_str().unwrap(),
                m.nodeps.join("mpt3sas-nover.ko").to_str().unwrap(),
            ],
        );
        assert!(ok, "{log}");
        // The fixture build with its signature cut off.
        let signed = std::fs::read(cases.join("mpt3sas_same.ko")).unwrap();
        let magic = b"~Module signature appended~\n";
        assert!(signed.ends_with(magic));
        let at = signed.len() - magic.len();
        let sig_len = u32::from_be_bytes(signed[at - 4..at].try_into().unwrap()) as usize;
        std::fs::write(
            m.nodeps.join("mpt3sas-unsigned.ko"),
            &signed[..at - 12 - sig_len],
        )
        .unwrap();
        std::fs::create_dir_all(&m.cands).unwrap();
        for f in std::fs::read_dir(&m.nodeps).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, m.cands.join(f.file_name().unwrap())).unwrap();
        }
        for dep in ["raid_class.ko", "scsi_transport_sas.ko"] {
            std::fs::copy(scsi.join(dep), m.cands.join(dep)).unwrap();
        }
        m
    })
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(o)))
}

fn check_pci(iso: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let o = run(remaster_bin()
        .arg("check")
        .arg(iso)
        .args(["--pci", "1000:0072", "--json"])
        .args(extra));
    let v = json(&o);
    (o, v)
}

#[test]
fn sas2008_gets_the_three_answers_each_with_its_source() {
    let m = media();
    // Rocky 9.2: mpt3sas lists it, RHEL 9.0–9.3's in-driver table disables it.
    let (o, v) = check_pci(&m.rocky92, &[]);
    let p = &v["pci"][0];
    assert_eq!(p["device"], "1000:0072", "{}", output_text(&o));
    assert_eq!(p["initrd_modules"][0], "mpt3sas");
    assert_eq!(p["answer"], "inbox-disabled");
    let s = p["summary"].as_str().unwrap();
    assert!(
        s.starts_with("in-box driver lists it but Rocky Linux 9.2 disables it — add a driver"),
        "{s}"
    );
    let by = p["decided_by"].as_str().unwrap();
    assert!(
        by.contains("rh_disabled_pci_table") && by.contains("59918cf6"),
        "{by}"
    );
    assert_eq!(p["support_entry"]["from"], serde_json::json!([9, 0]));
    assert_eq!(p["support_entry"]["to"], serde_json::json!([9, 3]));
    assert_eq!(v["distribution"]["name_source"], ".treeinfo");

    // Rocky 9.4: same answer, the kernel's central list decides.
    let (o, v) = check_pci(&m.rocky94, &[]);
    let p = &v["pci"][0];
    assert_eq!(p["answer"], "inbox-disabled", "{}", output_text(&o));
    assert!(p["summary"]
        .as_str()
        .unwrap()
        .starts_with("in-box driver lists it but Rocky Linux 9.4 disables it — add a driver"));
    assert!(p["decided_by"]
        .as_str()
        .unwrap()
        .contains("pci_rh_check_status"));
    assert_eq!(v["distribution"]["release_source"], ".discinfo line 2");

    // AlmaLinux 9.4: re-enabled in its stock kernel.
    let (o, v) = check_pci(&m.alma94, &[]);
    let p = &v["pci"][0];
    assert_eq!(p["answer"], "inbox-supported", "{}", output_text(&o));
    assert!(p["summary"]
        .as_str()
        .unwrap()
        .starts_with("in-box driver supports it — no driver needed"));
    assert!(p["decided_by"]
        .as_str()
        .unwrap()
        .contains("2024-05-06-announcing-94-stable"));
    assert_eq!(v["distribution"]["family"], "alma-linux");

    // 10.0: no in-box module lists it (RHEL 10 compiles the ID out); the name from the label.
    let (o, v) = check_pci(&m.el10, &[]);
    let p = &v["pci"][0];
    assert_eq!(p["answer"], "no-driver", "{}", output_text(&o));
    assert_eq!(p["summary"], "no driver on this media claims it");
    let by = p["decided_by"].as_str().unwrap();
    assert!(
        by.contains("no in-box module lists 1000:0072")
            && by.contains("ELRepo-mpt3sas-RHEL_DIFFERENCES.patch"),
        "{by}"
    );
    assert_eq!(v["distribution"]["name"], "Rocky Linux");
    assert_eq!(v["distribution"]["name_source"], "volume label");
    assert_eq!(v["distribution"]["release"], "10.0");

    // Human output: the same sentence and the source.
    let o = run(remaster_bin()
        .arg("check")
        .arg(&m.rocky92)
        .args(["--pci", "1000:0072"]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("PCI 1000:0072: in-box driver lists it but Rocky Linux 9.2 disables it")
            && text.contains("decided by:"),
        "{text}"
    );
}

#[test]
fn pci_from_takes_storage_and_network_controllers() {
    let m = media();
    let dir = scratch_dir();
    let lspci = dir.path().join("lspci.txt");
    std::fs::write(
        &lspci,
        "00:00.0 Host bridge [0600]: Intel Corporation 440FX - 82441FX PMC [Natoma] [8086:1237] (rev 02)\n\
         00:1f.2 SATA controller [0106]: Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode] [8086:2922] (rev 02)\n\
         01:00.0 Serial Attached SCSI controller [0107]: Broadcom / LSI SAS2008 PCI-Express Fusion-MPT SAS-2 [Falcon] [1000:0072] (rev 03)\n\
         \tSubsystem: Dell 6Gbps SAS HBA Adapter [1028:1f1c]\n\
         02:00.0 Ethernet controller [0200]: Intel Corporation 82574L Gigabit Network Connection [8086:10d3]\n",
    )
    .unwrap();
    let o = run(remaster_bin()
        .arg("check")
        .arg(&m.alma94)
        .arg("--pci-from")
        .arg(&lspci)
        .arg("--json"));
    let v = json(&o);
    let answers: Vec<(String, String)> = v["pci"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["device"].as_str().unwrap().into(),
                p["answer"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            ("8086:2922".to_string(), "inbox-supported".to_string()), // ahci
            ("1000:0072".to_string(), "inbox-supported".to_string()), // AlmaLinux 9.4
            ("8086:10d3".to_string(), "no-driver".to_string()),       // e1000e not in the initrd
        ],
        "{}",
        output_text(&o)
    );
    assert_eq!(v["pci_from"]["selection"], "storage-and-network");
    assert_eq!(v["pci_from"]["devices_read"], 4);
    assert!(v["pci_from"]["left_out"][0]
        .as_str()
        .unwrap()
        .contains("[8086:1237]"));
    assert!(v["pci"][1]["description"]
        .as_str()
        .unwrap()
        .contains("SAS2008"));
    let o = run(remaster_bin()
        .arg("check")
        .arg(&m.alma94)
        .arg("--pci-from")
        .arg(&lspci)
        .args(["--all-devices", "--json"]));
    assert_eq!(
        json(&o)["pci"].as_array().unwrap().len(),
        4,
        "{}",
        output_text(&o)
    );
    // Not lspci output at all: an input error naming the file.
    std::fs::write(&lspci, "hello\n").unwrap();
    let o = run(remaster_bin()
        .arg("check")
        .arg(&m.alma94)
        .arg("--pci-from")
        .arg(&lspci));
    assert_eq!(o.status.code(), Some(3), "{}", output_text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lspci -nn"));
}

/// The plan row of the candidate whose file name is `name`.
fn row<'a>(rows: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["source"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
}

#[test]
fn the_build_that_loads_is_chosen_in_every_order_with_its_dependencies() {
    let m = media();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&m.cands)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let n = files.len();
    // As a directory, and as files in several orders (sorted, reversed, rotations that put
    // each of the first three files first, each also reversed).
    let mut orders: Vec<Vec<PathBuf>> = vec![vec![m.cands.clone()]];
    for k in 0..3 {
        let mut o = files.clone();
        o.rotate_left(k);
        orders.push(o.clone());
        o.reverse();
        orders.push(o);
    }
    for order in &orders {
        let mut cmd = remaster_bin();
        cmd.arg(fixture_iso())
            .args(["--dry-run", "--json", "--pci", "1000:0072"])
            .arg("-o")
            .arg(m.cands.with_file_name("never.iso"));
        for f in order {
            cmd.arg("--add-module").arg(f);
        }
        let o = run(&mut cmd);
        assert_eq!(o.status.code(), Some(0), "{order:?}\n{}", output_text(&o));
        let v = json(&o);
        let rows = v["candidates"].as_array().unwrap();
        assert_eq!(rows.len(), n, "{order:?}");
        assert_eq!(
            row(rows, "mpt3sas-fixture.ko")["role"],
            "chosen",
            "{order:?}"
        );
        // Each skip explained with the kernel's own line.
        let other = row(rows, "mpt3sas-other.ko");
        assert_eq!(other["role"], "skipped");
        assert!(
            other["reason"]
                .as_str()
                .unwrap()
                .contains("mpt3sas: disagrees about version of symbol module_layout"),
            "{other}"
        );
        let nover = row(rows, "mpt3sas-nover.ko");
        assert!(
            nover["reason"]
                .as_str()
                .unwrap()
                .contains("mpt3sas: version magic '6.1.0-47-amd64"),
            "{nover}"
        );
        let unsigned = row(rows, "mpt3sas-unsigned.ko");
        assert_eq!(unsigned["verdict"], "LOADS ONLY WITHOUT SECURE BOOT");
        assert!(unsigned["reason"]
            .as_str()
            .unwrap()
            .contains("Secure Boot off"));
        for dep in ["raid_class.ko", "scsi_transport_sas.ko"] {
            assert_eq!(row(rows, dep)["role"], "dependency", "{order:?}");
        }
        // Carried in load order: the dependencies before mpt3sas, the others not at all.
        let carried: Vec<&str> = v["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["modules"][0]["name"].as_str().unwrap())
            .collect();
        assert_eq!(carried.len(), 3, "{carried:?}");
        assert_eq!(carried[2], "mpt3sas", "{carried:?}");
        assert_eq!(
            v["drivers"][2]["source"].as_str().unwrap(),
            row(rows, "mpt3sas-fixture.ko")["source"].as_str().unwrap()
        );
        assert!(
            v["refusals"].as_array().unwrap().is_empty(),
            "{}",
            v["refusals"]
        );
        // The plan: the added driver is what makes the device work (no in-box mpt3sas).
        assert_eq!(v["devices"][0]["added_makes_it_work"], true);
    }
    // check prints the same table and decides by the chosen candidates only.
    let o = run(remaster_bin().arg("check").arg(fixture_iso()).arg(&m.cands));
    assert_eq!(o.status.code(), Some(0), "{}", output_text(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("candidates (6):") && text.contains("CHOSEN"),
        "{text}"
    );
}

#[test]
fn a_dependency_nobody_provides_is_refused_naming_module_and_symbols() {
    let m = media();
    let out = m.nodeps.with_file_name("nodeps-out.iso");
    let o = run(remaster_bin()
        .arg(fixture_iso())
        .arg("--add-module")
        .arg(&m.nodeps)
        .arg("--json")
        .arg("--dry-run")
        .arg("-o")
        .arg(&out));
    assert_eq!(o.status.code(), Some(1), "{}", output_text(&o));
    let v = json(&o);
    let refusals = v["refusals"].to_string();
    assert!(
        refusals.contains("none of the 4 candidates loads on this ISO's kernel 6.1.0-50-amd64"),
        "{refusals}"
    );
    assert!(
        refusals.contains("mpt3sas: needs module(s) scsi_transport_sas, raid_class")
            && refusals.contains("sas_attach_transport")
            && refusals.contains("raid_class_attach"),
        "{refusals}"
    );
    // The least bad kept for the verdict is the build for this kernel.
    let rows = v["candidates"].as_array().unwrap();
    assert_eq!(row(rows, "mpt3sas-fixture.ko")["role"], "chosen");
    // Without --dry-run nothing is written.
    let o = run(remaster_bin()
        .arg(fixture_iso())
        .arg("--add-module")
        .arg(&m.nodeps)
        .arg("-q")
        .arg("-o")
        .arg(&out));
    assert_eq!(o.status.code(), Some(1), "{}", output_text(&o));
    assert!(!out.exists());
    // check says the same.
    let o = run(remaster_bin()
        .arg("check")
        .arg(fixture_iso())
        .arg(&m.nodeps)
        .arg("--json"));
    assert_eq!(o.status.code(), Some(1), "{}", output_text(&o));
    let v = json(&o);
    assert!(v["candidate_refusals"]
        .to_string()
        .contains("scsi_transport_sas"));
    assert_eq!(v["outcome"], "refused");
}

/// The chosen build loads: the remaster of the candidate directory (the fixture build of
/// mpt3sas plus its two dependencies taken from the same directory) booted in QEMU (BIOS,
/// CD): the fixture init's report shows all three loaded from the overlay's `updates/`,
/// each rd.driver.pre modprobe succeeding.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn the_chosen_build_and_its_dependencies_load_in_qemu() {
    use common::boot::{boot, BootMode, BootOptions};
    let m = media();
    let dir = scratch_dir();
    let out = dir.path().join("chosen.iso");
    let o = run(remaster_bin()
        .arg(fixture_iso())
        .arg("--add-module")
        .arg(&m.cands)
        .arg("-q")
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "{}", output_text(&o));
    let report = boot(&out, BootMode::BiosCd, &BootOptions::default());
    eprintln!("boot bios-cd {:.1} s", report.elapsed.as_secs_f64());
    assert!(report.reached_report, "{}", report.tail());
    for name in ["mpt3sas", "raid_class", "scsi_transport_sas"] {
        let loaded = report.module(name).unwrap_or_else(|| {
            panic!(
                "{name} not loaded: {:?}\n{:?}",
                report.modules, report.modprobes
            )
        });
        assert!(loaded.path.contains("/updates/"), "{loaded:?}");
    }
    assert!(
        report
            .modprobes
            .iter()
            .filter(|p| p.contains("source=rd.driver.pre"))
            .all(|p| p.contains("rc=0")),
        "{:?}",
        report.modprobes
    );
}

/// Where the media shows the disabling itself, it decides: an in-box "mpt3sas" built (kbuild,
/// against the fixture kernel's headers) with RHEL 9.0-style `rh_disabled_pci_table` (SAS2008)
/// and `rh_unmaintained_pci_table` (1000:0087), on media labelled AlmaLinux 9.4 — where the
/// built-in table says SAS2008 is re-enabled. The module's own table wins and the answer says
/// so. Oracle for the premise: binutils' readelf sees the two static tables in `.symtab`.
#[test]
fn the_media_s_own_rhel_table_decides_over_the_built_in_one() {
    let kver = fixture_kver();
    let headers = kmod_fixtures()
        .join("headers")
        .join(&kver)
        .join("usr/src")
        .join(format!("linux-headers-{kver}"));
    let dir = scratch_dir();
    let src = dir.path().join("fake");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("Kbuild"), "obj-m := mpt3sas.o\n").unwrap();
    std::fs::write(
        src.join("mpt3sas.c"),
        r#"#include <linux/module.h>
#include <linux/pci.h>
static const struct pci_device_id ids[] = {
	{ PCI_VDEVICE(LSI_LOGIC, 0x0072) },
	{ PCI_VDEVICE(LSI_LOGIC, 0x0087) },
	{ PCI_VDEVICE(LSI_LOGIC, 0x0097) },
	{ }
};
MODULE_DEVICE_TABLE(pci, ids);
/* As RHEL 9.0's mpt3sas_scsih.c under CONFIG_RHEL_DIFFERENCES. */
static const struct pci_device_id rh_disabled_pci_table[] __used = {
	{ PCI_VDEVICE(LSI_LOGIC, 0x0072) },
	{ }
};
static const struct pci_device_id rh_unmaintained_pci_table[] __used = {
	{ PCI_VDEVICE(LSI_LOGIC, 0x0087) },
	{ }
};
static int __init fake_init(void) { return 0; }
static void __exit fake_exit(void) { }
module_init(fake_init);
module_exit(fake_exit);
MODULE_LICENSE("GPL");
"#,
    )
    .unwrap();
    let (ok, log) = run_tool(
        "make",
        &[
            "-s",
            "-C",
            headers.to_str().unwrap(),
            &format!("M={}", src.display()),
            "CC=gcc-12",
            "CONFIG_DEBUG_INFO_BTF_MODULES=",
            "modules",
        ],
    );
    assert!(ok, "kbuild: {log}");
    let ko = src.join("mpt3sas.ko");
    let (ok, log) = run_tool("objcopy", &["--strip-debug", ko.to_str().unwrap()]);
    assert!(ok, "{log}");
    let (ok, syms) = run_tool("readelf", &["-sW", ko.to_str().unwrap()]);
    assert!(
        ok && syms.contains("rh_disabled_pci_table") && syms.contains("rh_unmaintained_pci_table"),
        "{syms}"
    );
    let inbox = dir.path().join("inbox.iso");
    let o = run(remaster_bin()
        .arg(fixture_iso())
        .arg("--add-module")
        .arg(&ko)
        .arg("-q")
        .arg("-o")
        .arg(&inbox));
    assert!(o.status.success(), "{}", output_text(&o));
    let alma = dir.path().join("alma94.iso");
    relabel(
        &inbox,
        &alma,
        "AlmaLinux-9-4-x86_64-dvd",
        "AlmaLinux 9.4",
        false,
    );
    let o = run(remaster_bin().arg("check").arg(&alma).args([
        "--pci",
        "1000:0072",
        "--pci",
        "1000:0087",
        "--pci",
        "1000:0097",
        "--json",
    ]));
    let v = json(&o);
    let p = &v["pci"];
    assert_eq!(p[0]["answer"], "inbox-disabled", "{}", output_text(&o));
    assert!(p[0]["summary"]
        .as_str()
        .unwrap()
        .starts_with("in-box driver lists it but AlmaLinux 9.4 disables it — add a driver"));
    let by = p[0]["decided_by"].as_str().unwrap();
    assert!(
        by.starts_with("the media:")
            && by.contains("updates/mpt3sas.ko.xz")
            && by.contains("ReEnabled"),
        "{by}"
    );
    assert!(p[0]["notes"].to_string().contains("disagree"));
    assert_eq!(p[1]["answer"], "inbox-supported");
    assert!(p[1]["summary"].as_str().unwrap().contains("unmaintained"));
    assert_eq!(p[2]["answer"], "inbox-supported");
    assert!(p[2]["summary"]
        .as_str()
        .unwrap()
        .contains("not in its rh_disabled_pci_table"));
}

/// kmod RPM candidates under the installer's rules: of the good build, the other build and
/// two that load but that dd_list would skip (`kernel-modules >= 6.1.0-60`, unversioned), the
/// good one is taken whatever the order, and each skip says why (the kernel's line, dd_list).
#[test]
fn rpm_candidates_are_judged_by_the_kernel_and_the_installer() {
    let variants = ["newer", "other", "unver", "good"];
    let files: Vec<PathBuf> = variants.iter().map(|v| dud_support::rpm(v)).collect();
    let out = scratch_dir();
    for k in 0..variants.len() {
        let mut order = files.clone();
        order.rotate_left(k);
        let mut cmd = remaster_bin();
        cmd.arg(fixture_iso())
            .args(["--dry-run", "--json", "-o"])
            .arg(out.path().join("never.iso"));
        for f in &order {
            cmd.arg("--add-rpm").arg(f);
        }
        let o = run(&mut cmd);
        assert_eq!(o.status.code(), Some(0), "{}", output_text(&o));
        let v = json(&o);
        let rows = v["candidates"].as_array().unwrap();
        let by = |variant: &str| {
            rows.iter()
                .find(|r| {
                    r["source"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("kmod-megaraid_sas-{variant}-"))
                })
                .unwrap()
        };
        assert_eq!(by("good")["role"], "chosen", "{rows:?}");
        for skipped in ["newer", "unver"] {
            let r = by(skipped);
            assert_eq!(
                (r["role"].as_str(), r["verdict"].as_str()),
                (Some("skipped"), Some("LOADS"))
            );
            assert!(r["reason"].as_str().unwrap().contains("dd_list"), "{r}");
        }
        assert!(by("other")["reason"]
            .as_str()
            .unwrap()
            .contains("megaraid_sas: disagrees about version of symbol module_layout"));
        let drivers = v["drivers"].as_array().unwrap();
        assert_eq!(drivers.len(), 1);
        assert!(drivers[0]["source"].as_str().unwrap().contains("-good-"));
    }
}

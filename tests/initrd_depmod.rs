//! depmod regeneration against the real thing: a subset of Debian's 6.1.0-50-amd64 module tree
//! (scsi, fusion, md/raid456 and their deps) plus modules copied under updates/ as overrides.
//! Oracle: `depmod -b` on the same tree; kmod's `modprobe`/`modinfo` must resolve the added
//! modules through ONLY our generated indexes.
//!
//! Needs the unpacked kernel: `scripts/make-test-initrds.sh kernel` (run automatically, cached in
//! $REMASTER_FIXTURES, default <repo>/fixtures/build as in scripts/lib.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use remaster::initrd::depmod::{generate_indexes, DepmodInput};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const KVER: &str = "6.1.0-50-amd64";

fn fixtures() -> PathBuf {
    common::fixtures::fixtures_dir()
}

fn kernel_modules() -> PathBuf {
    let dir = fixtures()
        .join("kernel")
        .join(KVER)
        .join("lib/modules")
        .join(KVER);
    if !dir.join("modules.order").exists() {
        let st = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/make-test-initrds.sh"
        ))
        .arg("kernel")
        .env("REMASTER_FIXTURES", fixtures())
        .status()
        .expect("run scripts/make-test-initrds.sh kernel");
        assert!(
            st.success(),
            "scripts/make-test-initrds.sh kernel failed: fixture kernel missing"
        );
    }
    assert!(
        dir.join("modules.order").exists(),
        "run scripts/make-test-initrds.sh kernel"
    );
    dir
}

const SUBSET: &[&str] = &[
    "kernel/drivers/scsi",
    "kernel/drivers/message",
    "kernel/drivers/md",
    "kernel/crypto",
    "kernel/lib",
];

fn copy_subset(
    src: &Path,
    dst: &Path,
    dirs: &[&str],
    overrides: &[(&str, &str, &str)],
) -> Vec<(String, Vec<u8>)> {
    let mut mods = Vec::new();
    for sub in dirs {
        for e in walkdir::WalkDir::new(src.join(sub)) {
            let e = e.unwrap();
            if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "ko") {
                let rel = e
                    .path()
                    .strip_prefix(src)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                let to = dst.join(&rel);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(e.path(), &to).unwrap();
                mods.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    for (from, to, comp) in overrides {
        let raw = std::fs::read(src.join(from)).unwrap();
        let bytes = match *comp {
            "xz" => remaster::initrd::Compression::Xz.compress(&raw).unwrap(),
            "zst" => remaster::initrd::Compression::Zstd.compress(&raw).unwrap(),
            _ => raw,
        };
        let p = dst.join(to);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &bytes).unwrap();
        mods.push((to.to_string(), bytes));
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    mods
}

fn run_ok(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (install kmod)"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Reads a kmod index into key → values (priority, value), by walking the trie.
fn read_index(b: &[u8]) -> BTreeMap<String, Vec<(u32, String)>> {
    fn be(b: &[u8], o: usize) -> u32 {
        u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
    }
    fn cstr(b: &[u8], o: &mut usize) -> String {
        let end = b[*o..].iter().position(|x| *x == 0).unwrap() + *o;
        let s = String::from_utf8(b[*o..end].to_vec()).unwrap();
        *o = end + 1;
        s
    }
    fn node(b: &[u8], off: u32, key: String, out: &mut BTreeMap<String, Vec<(u32, String)>>) {
        let mut o = (off & 0x0fff_ffff) as usize;
        let mut key = key;
        if off & 0x8000_0000 != 0 {
            key.push_str(&cstr(b, &mut o));
        }
        let mut children = Vec::new();
        if off & 0x2000_0000 != 0 {
            let (first, last) = (b[o], b[o + 1]);
            o += 2;
            for ch in first..=last {
                let c = be(b, o);
                o += 4;
                if c != 0 {
                    children.push((ch, c));
                }
            }
        }
        if off & 0x4000_0000 != 0 {
            let n = be(b, o);
            o += 4;
            let mut vals = Vec::new();
            for _ in 0..n {
                let p = be(b, o);
                o += 4;
                vals.push((p, cstr(b, &mut o)));
            }
            out.insert(key.clone(), vals);
        }
        for (ch, c) in children {
            let mut k = key.clone();
            k.push(ch as char);
            node(b, c, k, out);
        }
    }
    assert_eq!(&b[..8], &[0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1]);
    let mut out = BTreeMap::new();
    node(b, be(b, 8), String::new(), &mut out);
    out
}

fn sorted_lines(b: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(b)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

struct Trees {
    _tmp: tempfile::TempDir,
    oracle: PathBuf,
    ours: PathBuf,
    ours_files: Vec<(String, Vec<u8>)>,
}

fn build(dirs: &[&str], overrides: &[(&str, &str, &str)]) -> Trees {
    let src = kernel_modules();
    let tmp = tempfile::tempdir().unwrap();
    let oracle = tmp.path().join("oracle");
    let ours = tmp.path().join("ours");
    let om = oracle.join("lib/modules").join(KVER);
    let um = ours.join("lib/modules").join(KVER);
    copy_subset(&src, &om, dirs, overrides);
    let mods = copy_subset(&src, &um, dirs, overrides);
    run_ok("depmod", &["-b", oracle.to_str().unwrap(), KVER]);
    let order = std::fs::read(src.join("modules.order")).unwrap();
    let builtin = std::fs::read(src.join("modules.builtin")).unwrap();
    let modinfo = std::fs::read(src.join("modules.builtin.modinfo")).unwrap();
    let input = DepmodInput {
        modules: mods
            .iter()
            .map(|(p, d)| (p.as_str(), d.as_slice()))
            .collect(),
        modules_order: Some(&order),
        modules_builtin: Some(&builtin),
        modules_builtin_modinfo: Some(&modinfo),
        search: Vec::new(),
    };
    let files = generate_indexes(&input).unwrap();
    for (name, data) in &files {
        std::fs::write(um.join(name), data).unwrap();
    }
    Trees {
        _tmp: tmp,
        oracle,
        ours,
        ours_files: files,
    }
}

fn compare_with_oracle(t: &Trees, bytes_exact: bool) {
    let om = t.oracle.join("lib/modules").join(KVER);
    let mut names = BTreeSet::new();
    for (name, ours) in &t.ours_files {
        names.insert(name.clone());
        let theirs =
            std::fs::read(om.join(name)).unwrap_or_else(|e| panic!("depmod wrote no {name}: {e}"));
        if name.ends_with(".bin") {
            if theirs.is_empty() || ours.is_empty() {
                assert_eq!(ours, &theirs, "{name}");
                continue;
            }
            if bytes_exact {
                assert!(ours == &theirs, "{name} differs from depmod's bytes");
            } else {
                // Priorities of the (unordered) updates modules depend on depmod's hash order.
                let strip = |m: BTreeMap<String, Vec<(u32, String)>>| -> BTreeMap<String, BTreeSet<String>> {
                    m.into_iter().map(|(k, v)| (k, v.into_iter().map(|x| x.1).collect())).collect()
                };
                assert_eq!(
                    strip(read_index(ours)),
                    strip(read_index(&theirs)),
                    "{name}"
                );
            }
        } else if name == "modules.dep" && bytes_exact {
            assert_eq!(
                String::from_utf8_lossy(ours),
                String::from_utf8_lossy(&theirs),
                "{name}"
            );
        } else {
            assert_eq!(sorted_lines(ours), sorted_lines(&theirs), "{name}");
        }
    }
    // every index file depmod wrote, we wrote too
    for e in std::fs::read_dir(&om).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        if n.starts_with("modules.")
            && ![
                "modules.order",
                "modules.builtin",
                "modules.builtin.modinfo",
            ]
            .contains(&n.as_str())
        {
            assert!(names.contains(&n), "we do not write {n}");
        }
    }
}

#[test]
fn one_override_is_byte_identical_to_depmod() {
    let t = build(
        SUBSET,
        &[(
            "kernel/drivers/scsi/megaraid/megaraid_sas.ko",
            "updates/megaraid_sas.ko.xz",
            "xz",
        )],
    );
    compare_with_oracle(&t, true);
    let dep = String::from_utf8(t.ours_files[0].1.clone()).unwrap();
    assert!(
        dep.contains("updates/megaraid_sas.ko.xz:"),
        "override listed"
    );
    assert!(
        !dep.contains("kernel/drivers/scsi/megaraid/megaraid_sas.ko:"),
        "in-box copy dropped"
    );
}

#[test]
fn kmod_resolves_added_modules_through_our_indexes_only() {
    let t = build(
        SUBSET,
        &[
            (
                "kernel/drivers/scsi/megaraid/megaraid_sas.ko",
                "updates/megaraid_sas.ko.xz",
                "xz",
            ),
            (
                "kernel/drivers/scsi/scsi_transport_sas.ko",
                "updates/scsi_transport_sas.ko.zst",
                "zst",
            ),
        ],
    );
    compare_with_oracle(&t, false);
    let root = t.ours.to_str().unwrap();
    let um = format!("{root}/lib/modules/{KVER}");
    // Dependency chain through an override: mptsas -> mptscsih -> mptbase, scsi_transport_sas (updates).
    let out = run_ok(
        "modprobe",
        &["-d", root, "-S", KVER, "--show-depends", "mptsas"],
    );
    for want in [
        format!("insmod {um}/updates/scsi_transport_sas.ko.zst"),
        format!("insmod {um}/kernel/drivers/message/fusion/mptbase.ko"),
        format!("insmod {um}/kernel/drivers/message/fusion/mptscsih.ko"),
        format!("insmod {um}/kernel/drivers/message/fusion/mptsas.ko"),
    ] {
        assert!(
            out.lines().any(|l| l.trim() == want),
            "missing {want:?} in:\n{out}"
        );
    }
    let pos = |s: &str| out.find(s).unwrap();
    assert!(
        pos("mptbase.ko") < pos("mptscsih.ko") && pos("mptscsih.ko") < pos("mptsas.ko"),
        "{out}"
    );
    // Alias (a concrete modalias of a megaraid_sas PCI id) -> the added module.
    let out = run_ok(
        "modprobe",
        &[
            "-d",
            root,
            "-S",
            KVER,
            "--show-depends",
            "pci:v00001000d00000060sv00001000sd00001111bc01sc04i00",
        ],
    );
    assert!(
        out.contains(&format!("{um}/updates/megaraid_sas.ko.xz")),
        "{out}"
    );
    // Symbol -> the added module.
    let out = run_ok(
        "modprobe",
        &[
            "-d",
            root,
            "-S",
            KVER,
            "--show-depends",
            "symbol:sas_attach_transport",
        ],
    );
    assert!(
        out.contains(&format!("{um}/updates/scsi_transport_sas.ko.zst")),
        "{out}"
    );
    // modinfo finds the added module's file and reads it.
    let out = run_ok("modinfo", &["-b", root, "-k", KVER, "megaraid_sas"]);
    assert!(
        out.contains(&format!("{um}/updates/megaraid_sas.ko.xz")),
        "{out}"
    );
    assert!(
        out.contains("pci:v00001000d00000060sv*sd*bc*sc*i*"),
        "{out}"
    );
    // raid456 and its async_tx chain resolve too.
    let out = run_ok(
        "modprobe",
        &["-d", root, "-S", KVER, "--show-depends", "raid456"],
    );
    for m in [
        "async_tx.ko",
        "raid6_pq.ko",
        "async_pq.ko",
        "md-mod.ko",
        "raid456.ko",
    ] {
        assert!(out.contains(m), "{m} missing:\n{out}");
    }
}

/// The whole Debian tree (~4000 modules): slow, run with `cargo test --test initrd_depmod -- --ignored`.
#[test]
#[ignore]
fn whole_tree_is_byte_identical_to_depmod() {
    let t = build(
        &["kernel"],
        &[(
            "kernel/drivers/scsi/megaraid/megaraid_sas.ko",
            "updates/megaraid_sas.ko.xz",
            "xz",
        )],
    );
    compare_with_oracle(&t, true);
}

//! The fixture ISO's real dracut-made initrd (xz CRC32, usr-merged; scripts/build-fixture-iso.sh,
//! cached in $REMASTER_FIXTURES/iso/boot.iso): the walker lists exactly what `cpio -t` lists,
//! and an overlay with a regenerated module index is appended, routed and verified.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use common::fixtures::{extract_from_iso, fixture_iso};
use remaster::codec::{Codec, XzCheck};
use remaster::initrd::depmod::generate_for_tree;
use remaster::initrd::walk::{list, read_files};
use remaster::initrd::{build_overlay, Compression, OverlayEntry};
use std::collections::BTreeSet;
use std::io::Cursor;
use std::process::Command;

fn fixture_initrd() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("initrd.img");
    extract_from_iso(&fixture_iso(), "/images/pxeboot/initrd.img", &out);
    std::fs::read(out).unwrap()
}

fn sh_pipe(cmd: &str, input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut c = Command::new("sh")
        .args(["-c", cmd])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut si = c.stdin.take().unwrap();
    let data = input.to_vec();
    let t = std::thread::spawn(move || si.write_all(&data));
    let o = c.wait_with_output().unwrap();
    let _ = t.join();
    assert!(o.status.success(), "{cmd}");
    o.stdout
}

#[test]
fn fixture_initrd_walks_like_cpio_and_takes_an_overlay() {
    let base = fixture_initrd();
    let l = list(Cursor::new(&base)).unwrap();
    assert_eq!(l.segments[0].compression, Codec::Xz);
    assert_eq!(l.segments[0].xz_check, Some(XzCheck::Crc32));
    let ours: BTreeSet<String> = l.entries.keys().cloned().collect();
    let theirs: BTreeSet<String> = String::from_utf8(sh_pipe("xz -dc | cpio -t --quiet", &base))
        .unwrap()
        .lines()
        .map(|n| n.trim_start_matches("./").to_string())
        .filter(|n| n != "." && !n.is_empty())
        .collect();
    assert_eq!(ours, theirs);
    let trees = l.module_trees();
    assert_eq!(trees.len(), 1, "{trees:?}");
    let (kver, tree) = trees[0].clone();
    assert!(l.is_symlink("lib") && l.is_symlink("usr/../lib64"));

    let files = read_files(
        Cursor::new(&base),
        |p| p.starts_with(&format!("{tree}/")),
        256 << 20,
    )
    .unwrap();
    let (mpath, mbytes) = files
        .iter()
        .find(|(p, _)| remaster::initrd::walk::is_module_name(p))
        .cloned()
        .expect("a module in the fixture initrd");
    let name = mpath.rsplit('/').next().unwrap().to_string();
    let added = vec![(format!("updates/{name}"), mbytes)];
    let idx = generate_for_tree(&files, &kver, &added).unwrap();
    let mut entries = vec![OverlayEntry::file(
        format!("lib/modules/{kver}/{}", added[0].0),
        added[0].1.clone(),
        0o644,
    )];
    for (n, d) in &idx {
        entries.push(OverlayEntry::file(
            format!("lib/modules/{kver}/{n}"),
            d.clone(),
            0o644,
        ));
    }
    let tail = build_overlay(&l, &entries, Compression::AsBase, base.len() as u64, 0).unwrap();
    let img = [base.clone(), tail].concat();
    let after = list(Cursor::new(&img)).unwrap();
    assert_eq!(after.segments.len(), 2);
    assert_eq!(after.segments[1].xz_check, Some(XzCheck::Crc32));
    assert!(after
        .entries
        .contains_key(&format!("{tree}/updates/{name}")));
    assert_eq!(after.entries[&format!("{tree}/modules.dep")].segment, 1);
    for s in ["lib", "lib64", "bin", "sbin"] {
        assert!(after.is_symlink(s), "{s}");
    }
    let dep = read_files(
        Cursor::new(&img),
        |p| p == format!("{tree}/modules.dep"),
        1 << 20,
    )
    .unwrap();
    let dep = String::from_utf8(dep[0].1.clone()).unwrap();
    assert!(dep.contains(&format!("updates/{name}:")), "{dep}");
    assert!(
        !dep.contains(&format!(
            "{}:",
            mpath.strip_prefix(&format!("{tree}/")).unwrap()
        )),
        "in-box copy overridden"
    );
}

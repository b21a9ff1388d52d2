//! The graft writer, checked with xorriso, osirrox, fsck.fat and sgdisk as oracles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod iso_support;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use iso_support::*;
use remaster::iso::write::{
    plan_layout, prepare, write, write_prepared, EditPlan, NewContent, WriteOptions,
};
use remaster::iso::Image;

fn opts(force: bool) -> WriteOptions<'static> {
    WriteOptions {
        force,
        progress: None,
    }
}

/// Every directory's `.` points at itself and `..` at its parent (root: itself), in both
/// trees, with the directory's size.
fn assert_dot_records_consistent(iso: &Path) {
    let bytes = std::fs::read(iso).unwrap();
    let image = Image::open(std::io::Cursor::new(&bytes)).unwrap();
    let rec = |off: u64| {
        let o = off as usize;
        (
            u32::from_le_bytes(bytes[o + 2..o + 6].try_into().unwrap()),
            u32::from_be_bytes(bytes[o + 6..o + 10].try_into().unwrap()),
            u32::from_le_bytes(bytes[o + 10..o + 14].try_into().unwrap()),
        )
    };
    for tree in [Some(&image.primary), image.joliet.as_ref()]
        .into_iter()
        .flatten()
    {
        for n in tree
            .nodes
            .iter()
            .filter(|n| n.kind == remaster::iso::NodeKind::Dir)
        {
            let own = n.extents[0];
            let parent = tree.nodes[n.parent].extents[0];
            assert_eq!(
                rec(n.dot_record.unwrap()),
                (own.lba, own.lba, own.len),
                "/{} .",
                n.path
            );
            let dotdot = rec(n.dotdot_record.unwrap());
            if tree.kind == remaster::iso::TreeKind::Joliet && dotdot.0 == own.lba {
                // libisofs writes Joliet `..` records naming the directory itself.
                assert_eq!(
                    dotdot,
                    (own.lba, own.lba, own.len),
                    "/{} .. (joliet)",
                    n.path
                );
            } else {
                assert_eq!(
                    dotdot,
                    (parent.lba, parent.lba, parent.len),
                    "/{} ..",
                    n.path
                );
            }
            assert_eq!(
                rec(n.records[0]),
                (own.lba, own.lba, own.len),
                "/{} record",
                n.path
            );
        }
    }
}

fn extract(iso: &Path, to: &Path) {
    run(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", "/"])
        .arg(to));
}

fn files_under(dir: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Reads a file from a FAT image on any Read+Write+Seek stream.
fn image_of(iso: &Path) -> Image {
    Image::open(File::open(iso).unwrap()).unwrap()
}

fn fat_read(stream: impl Read + Write + Seek, path: &str) -> Vec<u8> {
    let fs = fatfs::FileSystem::new(stream, fatfs::FsOptions::new()).unwrap();
    let mut out = Vec::new();
    fs.root_dir()
        .open_file(path)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

struct FullEdit {
    overlay: Vec<u8>,
    isolinux_cfg: Vec<u8>,
    grub_cfg: Vec<u8>,
    added_small: Vec<u8>,
    added_file: PathBuf,
}

/// Replace both initrd names with original+overlay, replace isolinux.cfg, add a file to an
/// existing and to a new directory, change the volume id, edit grub.cfg inside efiboot.img;
/// then check everything the oracles can see.
fn full_edit_and_check(input: &Path, work: &Path) {
    let image = Image::open(File::open(input).unwrap()).unwrap();
    let input_bytes = std::fs::read(input).unwrap();
    let mut f = File::open(input).unwrap();
    let old_cfg = image
        .read_file(&mut f, "isolinux/isolinux.cfg", 1 << 20)
        .unwrap();
    let efi = image.find("images/efiboot.img").unwrap().extents[0];
    let old_grub = {
        let mut region = input_bytes
            [efi.offset() as usize..(efi.offset() + u64::from(efi.len)) as usize]
            .to_vec();
        fat_read(std::io::Cursor::new(&mut region[..]), "EFI/BOOT/grub.cfg")
    };
    let edit = FullEdit {
        overlay: noise(70_001, 3),
        isolinux_cfg: [old_cfg.clone(), b"  append inst.dd=/dd.iso\n".to_vec()].concat(),
        grub_cfg: [
            old_grub.clone(),
            b"# remaster: inst.dd=/dd.iso rd.driver.pre=mpt3sas\n".repeat(20),
        ]
        .concat(),
        added_small: b"Driver Update Disk version 3".to_vec(),
        added_file: work.join("dd.iso.src"),
    };
    std::fs::write(&edit.added_file, noise(123_457, 4)).unwrap();
    let initrds = image.hardlinks_of("isolinux/initrd.img");
    assert_eq!(
        initrds.len(),
        2,
        "the initrd names must share one extent: {initrds:?}"
    );
    // The FAT image edited beforehand, written over its own extent.
    let efiboot = {
        let mut region = input_bytes
            [efi.offset() as usize..(efi.offset() + u64::from(efi.len)) as usize]
            .to_vec();
        let fs = fatfs::FileSystem::new(
            std::io::Cursor::new(&mut region[..]),
            fatfs::FsOptions::new(),
        )
        .unwrap();
        {
            let mut file = fs.root_dir().open_file("EFI/BOOT/grub.cfg").unwrap();
            file.truncate().unwrap();
            file.write_all(&edit.grub_cfg).unwrap();
        }
        fs.unmount().unwrap();
        region
    };
    let plan = EditPlan {
        replace: initrds
            .iter()
            .map(|p| (p.clone(), NewContent::OriginalPlus(edit.overlay.clone())))
            .chain([
                (
                    "isolinux/isolinux.cfg".to_string(),
                    NewContent::Bytes(edit.isolinux_cfg.clone()),
                ),
                (
                    "/images/efiboot.img".to_string(),
                    NewContent::InPlace(efiboot),
                ),
            ])
            .collect(),
        add: vec![
            (
                "isolinux/rhdd3".into(),
                NewContent::Bytes(edit.added_small.clone()),
            ),
            (
                "remaster/dud/dd image.iso".into(),
                NewContent::File(edit.added_file.clone()),
            ),
        ],
        volume_id: Some("NEW-LABEL-9".into()),
        implant_md5: false,
        mtime: 1_700_000_000,
        input_stamp: None,
        appended_esp: None,
    };
    let out = work.join("out.iso");
    let mut calls = 0u64;
    let mut last = (0, 0);
    let mut progress = |done: u64, total: u64| {
        calls += 1;
        last = (done, total);
    };
    let summary = write(
        input,
        &out,
        plan,
        WriteOptions {
            force: false,
            progress: Some(&mut progress),
        },
    )
    .unwrap();
    assert!(calls > 0 && last.0 == last.1, "progress {last:?}");
    let out_bytes = std::fs::read(&out).unwrap();
    assert_eq!(out_bytes.len() as u64, summary.output_bytes);
    assert_eq!(
        std::fs::read(input).unwrap(),
        input_bytes,
        "the input must never change"
    );

    // El Torito and system area: the same as the input except sizes.
    let rin = xorriso_boot_report(input);
    let rout = xorriso_boot_report(&out);
    let same = |p: &str| assert_eq!(fields(&rin, p), fields(&rout, p), "{p}");
    for p in [
        "El Torito catalog",
        "El Torito cat path",
        "El Torito boot img",
        "El Torito img path",
        "El Torito img opts",
        "MBR heads",
        "MBR secs",
        "MBR partition path",
        "GPT partition name",
        "GPT type GUID",
        "GPT partition path",
        "GPT entry array",
        "GPT disk GUID",
    ] {
        same(p);
    }
    let size512 = out_bytes.len() as u64 / 512;
    assert_eq!(
        fields(&rout, "ISO image size/512")[0][0],
        size512.to_string()
    );
    let mbr_in = fields(&rin, "MBR partition :");
    let mbr_out = fields(&rout, "MBR partition :");
    assert_eq!(
        mbr_out[1], mbr_in[1],
        "MBR p2 (efiboot.img) must not change"
    );
    assert_eq!(mbr_out[0][..4], mbr_in[0][..4]);
    assert_eq!(
        mbr_out[0][4],
        size512.to_string(),
        "MBR p1 covers the whole output"
    );
    let gpt_in = fields(&rin, "GPT start and size");
    let gpt_out = fields(&rout, "GPT start and size");
    assert_eq!(
        gpt_out[1], gpt_in[1],
        "GPT p2 (efiboot.img) must not change"
    );
    let range = &fields(&rout, "GPT lba range")[0];
    assert_eq!(
        range[2],
        (size512 - 1).to_string(),
        "backup GPT at the new end"
    );
    let grow = size512
        - fields(&rin, "ISO image size/512")[0][0]
            .parse::<u64>()
            .unwrap();
    assert_eq!(
        gpt_out[0][2].parse::<u64>().unwrap(),
        gpt_in[0][2].parse::<u64>().unwrap() + grow
    );
    // sgdisk finds nothing beyond the input's baseline; our parser sees valid CRCs.
    let sg = |p: &Path| {
        let o = Command::new("sgdisk").arg("-v").arg(p).output().unwrap();
        String::from_utf8_lossy(&o.stdout).replace(&p.display().to_string(), "X")
    };
    assert_eq!(sg(input), sg(&out));
    assert_dot_records_consistent(&out);
    let reopened = Image::open(File::open(&out).unwrap()).unwrap();
    let gpt = reopened.system_area.gpt.as_ref().unwrap();
    let backup = gpt
        .backup
        .as_ref()
        .expect("backup GPT where the primary says");
    assert!(
        gpt.primary.header_crc_ok
            && gpt.primary.entries_crc_ok
            && backup.header_crc_ok
            && backup.entries_crc_ok
    );
    assert_eq!(backup.my_lba, size512 - 1);
    assert_eq!(reopened.volume_id(), "NEW-LABEL-9");
    assert!(
        !remaster::iso::inspect::Md5Field::parse(&reopened.app_use).present,
        "a stale isomd5sum must not survive an edit"
    );
    assert_eq!(reopened.volume_bytes(), out_bytes.len() as u64);
    assert!(reopened.descriptors.iter().all(|d| d.volume_space_size == 0
        || u64::from(d.volume_space_size) * 2048 == out_bytes.len() as u64));
    let jl = reopened
        .descriptors
        .iter()
        .find(|d| matches!(d.kind, remaster::iso::DescriptorKind::Joliet { .. }))
        .unwrap();
    assert_eq!(jl.volume_id, "NEW-LABEL-9");
    assert!(run(Command::new("xorriso")
        .arg("-indev")
        .arg(&out)
        .arg("-pvd_info"))
    .contains("NEW-LABEL-9"));

    // Both initrd names: one extent, xorriso agrees.
    let lbas = xorriso_lbas(&out);
    let lba_of = |p: &str| {
        lbas.iter()
            .find(|l| l.0 == p)
            .unwrap_or_else(|| panic!("{p} missing"))
            .clone()
    };
    let a = lba_of("/isolinux/initrd.img");
    let b = lba_of("/images/pxeboot/initrd.img");
    assert_eq!((a.1, a.2), (b.1, b.2));
    // The Joliet tree (xorriso without Rock Ridge) names the same extents.
    let joliet = run(Command::new("xorriso")
        .args(["-rockridge", "off", "-indev"])
        .arg(&out)
        .args(["-find", "/", "-exec", "report_lba"]));
    let mut jl: Vec<(String, u32, u64)> = joliet
        .lines()
        .filter_map(|l| l.strip_prefix("File data lba:"))
        .map(|rest| {
            let f: Vec<&str> = rest.splitn(5, ',').map(str::trim).collect();
            (
                f[4].trim_matches('\'').to_string(),
                f[1].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    jl.sort();
    assert_eq!(jl, lbas, "Joliet and Rock Ridge trees disagree");
    let plain = run(Command::new("xorriso")
        .args(["-read_fs", "ecma119", "-indev"])
        .arg(&out)
        .args(["-find", "/", "-exec", "report_lba"]));
    let mut pl: Vec<(u32, u64)> = plain
        .lines()
        .filter_map(|l| l.strip_prefix("File data lba:"))
        .map(|rest| {
            let f: Vec<&str> = rest.splitn(5, ',').map(str::trim).collect();
            (f[1].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect();
    // (Symlinks are empty files in the plain tree: compare non-empty data only.)
    pl.retain(|l| l.1 > 0);
    pl.sort();
    let mut rr: Vec<(u32, u64)> = lbas
        .iter()
        .map(|l| (l.1, l.2))
        .filter(|l| l.1 > 0)
        .collect();
    rr.sort();
    assert_eq!(pl, rr, "plain ISO 9660 and Rock Ridge trees disagree");
    // Unmoved: boot images, catalog, kernel.
    for p in [
        "/isolinux/isolinux.bin",
        "/images/efiboot.img",
        "/isolinux/vmlinuz",
    ] {
        assert_eq!(
            lba_of(p),
            xorriso_lbas(input).into_iter().find(|l| l.0 == p).unwrap(),
            "{p} moved"
        );
    }

    // Every file through osirrox equals what was intended.
    let xin = work.join("xin");
    let xout = work.join("xout");
    extract(input, &xin);
    extract(&out, &xout);
    let fin = files_under(&xin);
    let fout = files_under(&xout);
    let added: BTreeSet<String> = ["isolinux/rhdd3", "remaster/dud/dd image.iso"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(fout, fin.union(&added).cloned().collect(), "file lists");
    for p in &fout {
        if xout
            .join(p)
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
        {
            assert_eq!(
                std::fs::read_link(xout.join(p)).unwrap(),
                std::fs::read_link(xin.join(p)).unwrap()
            );
            continue;
        }
        let got = std::fs::read(xout.join(p)).unwrap_or_else(|_| {
            std::fs::read_link(xout.join(p))
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        });
        let want = match p.as_str() {
            p if initrds.iter().any(|i| i == p) => {
                [std::fs::read(xin.join(p)).unwrap(), edit.overlay.clone()].concat()
            }
            "isolinux/isolinux.cfg" => edit.isolinux_cfg.clone(),
            "isolinux/rhdd3" => edit.added_small.clone(),
            "remaster/dud/dd image.iso" => std::fs::read(&edit.added_file).unwrap(),
            "images/efiboot.img" => continue,
            p => std::fs::read(xin.join(p)).unwrap_or_else(|_| {
                std::fs::read_link(xin.join(p))
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            }),
        };
        assert!(
            got == want,
            "content of /{p} differs from what was intended"
        );
    }
    // The FAT image: fsck clean and the new grub.cfg inside.
    let efi_img = xout.join("images/efiboot.img");
    run(Command::new("fsck.fat").arg("-n").arg(&efi_img));
    let grub = run(Command::new("mtype")
        .arg("-i")
        .arg(&efi_img)
        .arg("::EFI/BOOT/grub.cfg"));
    assert_eq!(grub.as_bytes(), &edit.grub_cfg[..]);

    // Bytes outside the edited regions are identical to the input.
    let mut allowed: BTreeSet<u64> = (0..8).collect(); // MBR + primary GPT (LBA 0..63 of 512)
    allowed.insert(16);
    for d in &image.descriptors {
        if matches!(d.kind, remaster::iso::DescriptorKind::Joliet { .. }) {
            allowed.insert(u64::from(d.sector));
        }
    }
    let sectors_of =
        |e: remaster::iso::Extent| u64::from(e.lba)..u64::from(e.lba) + e.sectors().max(1);
    allowed.extend(sectors_of(
        image.find("isolinux/isolinux.cfg").unwrap().extents[0],
    ));
    allowed.extend(sectors_of(efi));
    // Directories: regenerated ones, and `..` records repointed when a parent moved.
    for tree in [Some(&image.primary), image.joliet.as_ref()]
        .into_iter()
        .flatten()
    {
        for (_, e) in &tree.dir_extents {
            allowed.extend(sectors_of(*e));
        }
    }
    let old_backup = image
        .system_area
        .gpt
        .as_ref()
        .unwrap()
        .backup
        .as_ref()
        .unwrap()
        .my_lba
        * 512
        / 2048;
    allowed.insert(old_backup);
    let mut changed = Vec::new();
    for (s, (x, y)) in input_bytes
        .chunks(2048)
        .zip(out_bytes.chunks(2048))
        .enumerate()
    {
        if x != y {
            changed.push(s as u64);
        }
    }
    let outside: Vec<u64> = changed
        .iter()
        .copied()
        .filter(|s| !allowed.contains(s))
        .collect();
    assert!(
        outside.is_empty(),
        "sectors changed outside the edited regions: {outside:?}"
    );
    let initrd_old = image.find("isolinux/initrd.img").unwrap().extents[0];
    assert!(!changed.iter().any(|s| sectors_of(initrd_old).contains(s)));
    assert!(
        changed.iter().any(|s| sectors_of(efi).contains(s)),
        "the efiboot.img edit must show"
    );
}

#[test]
fn full_edit_on_a_lorax_like_iso() {
    let t = build_iso(0);
    run(Command::new("implantisomd5").arg(&t.iso));
    assert_dot_records_consistent(&t.iso);
    full_edit_and_check(&t.iso, t.dir.path());
}

#[test]
fn full_edit_on_the_fixture() {
    let iso = fixture_iso();
    let work = tempfile::tempdir().unwrap();
    full_edit_and_check(&iso, work.path());
}

#[test]
fn empty_plan_copies_byte_for_byte_and_output_is_deterministic() {
    let t = build_iso(0);
    let out = t.dir.path().join("same.iso");
    write(&t.iso, &out, EditPlan::default(), opts(false)).unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&t.iso).unwrap());

    let plan = || EditPlan {
        replace: vec![(
            "isolinux/initrd.img".into(),
            NewContent::OriginalPlus(vec![7; 10_000]),
        )],
        add: vec![("x/y.txt".into(), NewContent::Bytes(b"y".to_vec()))],
        mtime: 1_600_000_000,
        ..Default::default()
    };
    let a = t.dir.path().join("a.iso");
    let b = t.dir.path().join("b.iso");
    write(&t.iso, &a, plan(), opts(false)).unwrap();
    write(&t.iso, &b, plan(), opts(false)).unwrap();
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    // Only one of the two hard links replaced: the other keeps the old extent.
    let image = Image::open(File::open(&a).unwrap()).unwrap();
    assert_ne!(
        image.find("isolinux/initrd.img").unwrap().extents,
        image.find("images/pxeboot/initrd.img").unwrap().extents
    );
    let layout = plan_layout(
        &Image::open(File::open(&t.iso).unwrap()).unwrap(),
        &mut File::open(&t.iso).unwrap(),
        &plan(),
    )
    .unwrap();
    assert_eq!(layout.output_bytes, std::fs::metadata(&a).unwrap().len());
}

#[test]
fn many_additions_relocate_the_root_directory_in_both_trees() {
    let t = build_iso(0);
    let out = t.dir.path().join("many.iso");
    let add: Vec<(String, NewContent)> = (0..60)
        .map(|i| {
            (
                format!("a fairly long added file name number {i:03}.txt"),
                NewContent::Bytes(format!("file {i}\n").into_bytes()),
            )
        })
        .chain([(
            "deep/a/b/new.txt".to_string(),
            NewContent::Bytes(b"new\n".to_vec()),
        )])
        .collect();
    let summary = write(
        &t.iso,
        &out,
        EditPlan {
            add,
            ..Default::default()
        },
        opts(false),
    )
    .unwrap();
    assert_dot_records_consistent(&out);
    let root = summary
        .placements
        .iter()
        .find(|p| p.what == "dir:/")
        .unwrap();
    assert!(
        !root.in_place,
        "the root should have outgrown its sector: {root:?}"
    );
    assert!(summary
        .placements
        .iter()
        .any(|p| p.what == "joliet-dir:/" && !p.in_place));
    let x = t.dir.path().join("x");
    extract(&out, &x);
    for i in 0..60 {
        assert_eq!(
            std::fs::read_to_string(
                x.join(format!("a fairly long added file name number {i:03}.txt"))
            )
            .unwrap(),
            format!("file {i}\n")
        );
    }
    assert_eq!(
        std::fs::read_to_string(x.join("deep/a/b/new.txt")).unwrap(),
        "new\n"
    );
    assert_eq!(
        std::fs::read_to_string(x.join("deep/a/b/c/d/e/f/g/h/Deep File Name.txt")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        std::fs::read_to_string(x.join("isolinux/isolinux.cfg")).unwrap(),
        ISOLINUX_CFG
    );
    // The reader sees consistent `.`/`..` (it follows them for nothing, but xorriso does)
    // and the Joliet tree (xorriso without Rock Ridge).
    let image = Image::open(File::open(&out).unwrap()).unwrap();
    assert_eq!(
        image.joliet.as_ref().unwrap().files().count(),
        image.primary.files().count()
    );
    let joliet = run(Command::new("xorriso")
        .args(["-rockridge", "off", "-indev"])
        .arg(&out)
        .args(["-find", "/", "-name", "*059*"]));
    assert!(joliet.contains("number 059"), "{joliet}");
    let _ = SeekFrom::Start(0);
}

#[test]
fn bad_inputs_and_outputs_fail_cleanly_leaving_nothing() {
    let t = build_iso(0);
    let dir = t.dir.path().join("outdir");
    std::fs::create_dir(&dir).unwrap();
    let input_before = std::fs::read(&t.iso).unwrap();
    let entries = |d: &Path| std::fs::read_dir(d).unwrap().count();
    let one_line = |e: remaster::Error| {
        let s = e.to_string();
        assert!(!s.contains('\n') && !s.is_empty(), "{s}");
        s
    };

    // Not an ISO; truncated ISO.
    let junk = dir.join("junk.iso");
    std::fs::write(&junk, noise(300_000, 1)).unwrap();
    let e =
        one_line(write(&junk, &dir.join("o1.iso"), EditPlan::default(), opts(false)).unwrap_err());
    assert!(e.contains("not an ISO"), "{e}");
    let cut = dir.join("cut.iso");
    std::fs::write(&cut, &input_before[..input_before.len() / 2]).unwrap();
    one_line(write(&cut, &dir.join("o2.iso"), EditPlan::default(), opts(false)).unwrap_err());
    std::fs::remove_file(&junk).unwrap();
    std::fs::remove_file(&cut).unwrap();
    assert_eq!(entries(&dir), 0);

    // Output = input, also through a symlink and a hard link, even with force.
    for force in [false, true] {
        one_line(write(&t.iso, &t.iso, EditPlan::default(), opts(force)).unwrap_err());
        let link = dir.join("link.iso");
        std::os::unix::fs::symlink(&t.iso, &link).unwrap();
        one_line(write(&t.iso, &link, EditPlan::default(), opts(force)).unwrap_err());
        std::fs::remove_file(&link).unwrap();
        std::fs::hard_link(&t.iso, &link).unwrap();
        one_line(write(&t.iso, &link, EditPlan::default(), opts(force)).unwrap_err());
        std::fs::remove_file(&link).unwrap();
    }
    // Existing output without force: refused, untouched; with force: replaced.
    let existing = dir.join("existing.iso");
    std::fs::write(&existing, b"keep me").unwrap();
    let e = one_line(write(&t.iso, &existing, EditPlan::default(), opts(false)).unwrap_err());
    assert!(e.contains("exists"), "{e}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    write(&t.iso, &existing, EditPlan::default(), opts(true)).unwrap();
    assert_eq!(std::fs::read(&existing).unwrap(), input_before);
    std::fs::remove_file(&existing).unwrap();

    // Unwritable / missing output directories.
    one_line(
        write(
            &t.iso,
            Path::new("/proc/remaster-test.iso"),
            EditPlan::default(),
            opts(false),
        )
        .unwrap_err(),
    );
    one_line(
        write(
            &t.iso,
            &dir.join("missing/out.iso"),
            EditPlan::default(),
            opts(false),
        )
        .unwrap_err(),
    );

    // Plan errors: boot images cannot move, unknown paths, duplicates.
    for plan in [
        EditPlan {
            replace: vec![("images/efiboot.img".into(), NewContent::Bytes(vec![0; 10]))],
            ..Default::default()
        },
        EditPlan {
            replace: vec![(
                "isolinux/isolinux.bin".into(),
                NewContent::Bytes(vec![0; 10]),
            )],
            ..Default::default()
        },
        EditPlan {
            replace: vec![("no/such/file".into(), NewContent::Bytes(vec![]))],
            ..Default::default()
        },
        EditPlan {
            add: vec![("isolinux/isolinux.cfg".into(), NewContent::Bytes(vec![]))],
            ..Default::default()
        },
        EditPlan {
            add: vec![("isolinux/isolinux.cfg/x".into(), NewContent::Bytes(vec![]))],
            ..Default::default()
        },
        EditPlan {
            volume_id: Some("x".repeat(33)),
            ..Default::default()
        },
        EditPlan {
            add: vec![("x".into(), NewContent::File(dir.join("no-such-source")))],
            ..Default::default()
        },
    ] {
        one_line(write(&t.iso, &dir.join("o3.iso"), plan, opts(false)).unwrap_err());
    }
    // An in-place edit that changes the file's size is refused; nothing is left behind.
    let efiboot_len = image_of(&t.iso).find("images/efiboot.img").unwrap().size as usize;
    let plan = EditPlan {
        add: vec![("big.bin".into(), NewContent::Bytes(vec![1; 3 << 20]))],
        replace: vec![(
            "images/efiboot.img".into(),
            NewContent::InPlace(vec![0; efiboot_len - 1]),
        )],
        ..Default::default()
    };
    let e = one_line(write(&t.iso, &dir.join("o4.iso"), plan, opts(false)).unwrap_err());
    assert!(e.contains("changed its size"), "{e}");
    assert_eq!(entries(&dir), 0, "nothing may be left behind");
    assert_eq!(
        std::fs::read(&t.iso).unwrap(),
        input_before,
        "the input must never change"
    );
}

#[test]
fn appended_partition_layout_edits_in_place_grows_files_adds_files() {
    let t = build_iso(0);
    let iso = t.dir.path().join("appended.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-o"])
        .arg(&iso)
        .args([
            "-isohybrid-mbr",
            "/usr/lib/ISOLINUX/isohdpfx.bin",
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
        ])
        .args([
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-no-emul-boot",
            "-partition_offset",
            "16",
            "-appended_part_as_gpt",
        ])
        .args([
            "-append_partition",
            "2",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        ])
        .arg(t.tree.join("images/efiboot.img"))
        .args([
            "-eltorito-alt-boot",
            "-e",
            "--interval:appended_partition_2:all::",
            "-no-emul-boot",
            "-R",
            "-J",
            "-V",
            "App-9",
        ])
        .arg(&t.tree));
    let before = xorriso_boot_report(&iso);
    // Fits in place: allowed, system area untouched.
    let out = t.dir.path().join("inplace.iso");
    let plan = EditPlan {
        replace: vec![(
            "isolinux/isolinux.cfg".into(),
            NewContent::Bytes(b"default linux\n".to_vec()),
        )],
        ..Default::default()
    };
    write(&iso, &out, plan, opts(false)).unwrap();
    assert_eq!(xorriso_boot_report(&out), before);
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        std::fs::metadata(&iso).unwrap().len()
    );
    let x = t.dir.path().join("x");
    extract(&out, &x);
    assert_eq!(
        std::fs::read(x.join("isolinux/isolinux.cfg")).unwrap(),
        b"default linux\n"
    );
    // Adding files: the directories of both views are regenerated; the file reads the same
    // from the whole image and from partition 1 (block 16 on) alone.
    let plan = EditPlan {
        add: vec![("sub/big".into(), NewContent::Bytes(vec![1; 100_000]))],
        ..Default::default()
    };
    let added = t.dir.path().join("added.iso");
    write(&iso, &added, plan, opts(false)).unwrap();
    let p1 = t.dir.path().join("added-p1.img");
    std::fs::write(&p1, &std::fs::read(&added).unwrap()[16 * 2048..]).unwrap();
    for (image, dir) in [(&added, "xa"), (&p1, "xp")] {
        let x = t.dir.path().join(dir);
        extract(image, &x);
        assert_eq!(std::fs::read(x.join("sub/big")).unwrap(), vec![1; 100_000]);
    }
    // Growing a file: the appended partition moves behind the new data (tests/remaster_el10.rs
    // checks this layout in depth).
    let big = vec![b'#'; 100_000];
    let plan = EditPlan {
        replace: vec![(
            "isolinux/isolinux.cfg".into(),
            NewContent::Bytes(big.clone()),
        )],
        ..Default::default()
    };
    let grown = t.dir.path().join("grown.iso");
    write(&iso, &grown, plan, opts(false)).unwrap();
    let v = run(Command::new("sgdisk").arg("-v").arg(&grown));
    assert!(v.contains("No problems found"), "{v}");
    // 49 new blocks, yet the partitions behind p1 move by whole 16-sector units: their
    // alignment (which sgdisk reports) stays the input's.
    let v_in = run(Command::new("sgdisk").arg("-v").arg(&iso));
    assert_eq!(
        v.contains("Caution"),
        v_in.contains("Caution"),
        "{v_in}\n{v}"
    );
    let x = t.dir.path().join("xg");
    extract(&grown, &x);
    assert_eq!(std::fs::read(x.join("isolinux/isolinux.cfg")).unwrap(), big);
}

#[test]
fn implanted_md5_passes_checkisomd5() {
    let t = build_iso(0);
    run(Command::new("implantisomd5").arg(&t.iso));
    let out = t.dir.path().join("md5.iso");
    let plan = EditPlan {
        replace: vec![(
            "isolinux/isolinux.cfg".into(),
            NewContent::Bytes(b"changed\n".to_vec()),
        )],
        add: vec![("new.bin".into(), NewContent::Bytes(vec![9; 100_000]))],
        implant_md5: true,
        ..Default::default()
    };
    write(&t.iso, &out, plan, opts(false)).unwrap();
    run(Command::new("checkisomd5").arg(&out));

    // Computed on the fly (with a region edit and growth) = implantisomd5 --force afterwards.
    // Deterministic bytes in the boot code area (a FAT edit would stamp the time).
    let efiboot = {
        let image = image_of(&t.iso);
        let mut f = File::open(&t.iso).unwrap();
        let mut bytes = image
            .read_file(&mut f, "images/efiboot.img", 64 << 20)
            .unwrap();
        bytes[0x100..0x100 + 15].copy_from_slice(b"edited in place");
        bytes
    };
    let plan = |md5: bool| EditPlan {
        add: vec![("grown.bin".into(), NewContent::Bytes(vec![5; 300_000]))],
        replace: vec![(
            "images/efiboot.img".into(),
            NewContent::InPlace(efiboot.clone()),
        )],
        implant_md5: md5,
        mtime: 1_600_000_000,
        ..Default::default()
    };
    let ours = t.dir.path().join("fly.iso");
    let theirs = t.dir.path().join("after.iso");
    write(&t.iso, &ours, plan(true), opts(false)).unwrap();
    write(&t.iso, &theirs, plan(false), opts(false)).unwrap();
    run(Command::new("implantisomd5").arg("--force").arg(&theirs));
    let (a, b) = (
        std::fs::read(&ours).unwrap(),
        std::fs::read(&theirs).unwrap(),
    );
    assert!(
        a.windows(15).any(|w| w == b"edited in place"),
        "the region edit is in the output"
    );
    assert!(
        a == b,
        "the on-the-fly isomd5sum must equal implantisomd5 --force"
    );
    run(Command::new("checkisomd5").arg(&ours));

    // The same through a separate hashing pass started before the write (what `remaster`
    // does while the verdicts run): same bytes.
    let early = t.dir.path().join("early.iso");
    let mut prepared = prepare(&t.iso, plan(true)).unwrap();
    prepared.start_checksum().unwrap();
    write_prepared(prepared, &early, opts(false)).unwrap();
    assert!(
        std::fs::read(&early).unwrap() == b,
        "the early isomd5sum pass must equal implantisomd5 --force"
    );
    // A pass started and then abandoned (a refused plan) stops; nothing is written.
    let mut abandoned = prepare(&t.iso, plan(true)).unwrap();
    abandoned.start_checksum().unwrap();
    drop(abandoned);
    let leftovers: Vec<_> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".remaster-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

//! efiboot.img edits against the real tools: mkfs.fat + mtools build lorax-like images
//! (label ANACONDA, EFI/BOOT/*, lorax's size estimate with little slack), fsck.fat and
//! mtools check the result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use remaster::boot::efiboot::{self, EfibootError};

fn tool(name: &str) -> Command {
    let mut c = Command::new(name);
    c.env("MTOOLS_SKIP_CHECK", "1");
    c
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (install dosfstools and mtools: scripts/test-deps.txt)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

const GRUB_CFG: &str = "set default=\"1\"\n\nfunction load_video {\n  insmod efi_gop\n  insmod all_video\n}\n\nload_video\nset gfxpayload=keep\ninsmod gzio\ninsmod part_gpt\ninsmod ext2\n\nset timeout=60\n\nsearch --no-floppy --set=root -l 'Rocky-9-2-x86_64-dvd'\n\nmenuentry 'Install Rocky Linux 9.2' --class fedora --class gnu-linux --class gnu --class os {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd quiet\n\tinitrdefi /images/pxeboot/initrd.img\n}\nmenuentry 'Test this media & install Rocky Linux 9.2' --class fedora --class gnu-linux --class gnu --class os {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd rd.live.check quiet\n\tinitrdefi /images/pxeboot/initrd.img\n}\n";

/// The EFI/BOOT files of a RHEL 9 efiboot.img (sizes like the real ones), relative paths.
fn efi_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("EFI/BOOT/BOOTX64.EFI", noise(946_736, 1)),
        ("EFI/BOOT/mmx64.efi", noise(858_472, 2)),
        ("EFI/BOOT/grubx64.efi", noise(2_540_040, 3)),
        ("EFI/BOOT/fonts/unicode.pf2", noise(2_408_275, 4)),
        ("EFI/BOOT/grub.cfg", GRUB_CFG.as_bytes().to_vec()),
    ]
}

/// mkefiboot's recipe: size = Σ files rounded up to 2048 + 256 × 2048 (+ `extra` bytes),
/// `mkfs.msdos -n ANACONDA`, then the tree copied in.
fn build_image(dir: &Path, name: &str, files: &[(&str, Vec<u8>)], extra: u64) -> PathBuf {
    let src = dir.join(format!("{name}.src"));
    for (p, data) in files {
        let path = src.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
    }
    let size: u64 = files
        .iter()
        .map(|(_, d)| (d.len() as u64).div_ceil(2048) * 2048)
        .sum::<u64>()
        + 256 * 2048
        + extra;
    let img = dir.join(format!("{name}.img"));
    run(tool("mkfs.fat")
        .args(["-C", "-n", "ANACONDA", "-i", "12345678"])
        .arg(&img)
        .arg((size / 1024).to_string()));
    let i = img.to_str().unwrap();
    run(tool("mmd").args(["-i", i, "::EFI", "::EFI/BOOT", "::EFI/BOOT/fonts"]));
    for (p, _) in files {
        run(tool("mcopy")
            .args(["-i", i])
            .arg(src.join(p))
            .arg(format!("::{p}")));
    }
    img
}

fn fsck_clean(img: &Path) {
    let out = tool("fsck.fat").arg("-n").arg(img).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "fsck.fat -n: {text}");
    assert!(
        !text.contains("Free cluster summary wrong") && !text.contains("differ"),
        "{text}"
    );
}

fn mtype(img: &Path, path: &str) -> Vec<u8> {
    run(tool("mtype")
        .args(["-i", img.to_str().unwrap()])
        .arg(format!("::{path}")))
}

fn mcopy_out(img: &Path, path: &str, dir: &Path) -> Vec<u8> {
    let dst = dir.join("out.bin");
    let _ = fs::remove_file(&dst);
    run(tool("mcopy")
        .args(["-n", "-i", img.to_str().unwrap()])
        .arg(format!("::{path}"))
        .arg(&dst));
    fs::read(&dst).unwrap()
}

fn label(img: &Path) -> Vec<u8> {
    run(tool("mlabel").args(["-s", "-i", img.to_str().unwrap(), "::"]))
}

fn replace(
    img: &Path,
    path: &str,
    content: &[u8],
) -> Result<efiboot::ReplaceOutcome, EfibootError> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    efiboot::replace_file(f, path, content)
}

fn longer_cfg() -> String {
    GRUB_CFG
        .replace(" quiet\n", " quiet inst.dd=/dd.iso rd.driver.pre=mpt3sas\n")
        .repeat(12)
}

#[test]
fn replace_grub_cfg_in_lorax_like_image() {
    let dir = tempfile::tempdir().unwrap();
    let files = efi_files();
    let img = build_image(dir.path(), "efiboot", &files, 0);
    let before = fs::read(&img).unwrap();
    let label_before = label(&img);
    fsck_clean(&img);

    let original =
        efiboot::read_file(fs::File::open(&img).unwrap(), "EFI/BOOT/grub.cfg", 1 << 20).unwrap();
    assert_eq!(original, GRUB_CFG.as_bytes());
    let space = efiboot::space(fs::File::open(&img).unwrap()).unwrap();
    assert_eq!(&space.label, b"ANACONDA   ");
    assert!(space.free_clusters > 0);

    let new_cfg = longer_cfg();
    assert!(new_cfg.len() > 4 * GRUB_CFG.len());
    let outcome = replace(&img, "EFI/BOOT/grub.cfg", new_cfg.as_bytes()).unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.new_len, new_cfg.len() as u64);

    let after = fs::read(&img).unwrap();
    assert_eq!(after.len(), before.len(), "image size must not change");
    assert_eq!(
        &after[..512],
        &before[..512],
        "boot sector (label, BPB) untouched"
    );
    assert_eq!(label(&img), label_before);
    fsck_clean(&img);
    assert_eq!(mtype(&img, "EFI/BOOT/grub.cfg"), new_cfg.as_bytes());
    for (p, data) in &files {
        if !p.ends_with("grub.cfg") {
            assert_eq!(&mcopy_out(&img, p, dir.path()), data, "{p} changed");
        }
    }
    assert_eq!(
        efiboot::read_file(fs::File::open(&img).unwrap(), "/efi/boot/GRUB.CFG", 1 << 20).unwrap(),
        new_cfg.as_bytes()
    );
    // Same content again: nothing written.
    let again = replace(&img, "EFI/BOOT/grub.cfg", new_cfg.as_bytes()).unwrap();
    assert!(!again.changed);
    assert_eq!(fs::read(&img).unwrap(), after);

    // Shrinking back frees the clusters again and stays clean.
    replace(&img, "EFI/BOOT/grub.cfg", GRUB_CFG.as_bytes()).unwrap();
    fsck_clean(&img);
    assert_eq!(mtype(&img, "EFI/BOOT/grub.cfg"), GRUB_CFG.as_bytes());
    let space_back = efiboot::space(fs::File::open(&img).unwrap()).unwrap();
    assert_eq!(space_back.free_clusters, space.free_clusters);
}

#[test]
fn deterministic_output() {
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), "a", &efi_files(), 0);
    let copy = dir.path().join("b.img");
    fs::copy(&img, &copy).unwrap();
    let cfg = longer_cfg();
    replace(&img, "EFI/BOOT/grub.cfg", cfg.as_bytes()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    replace(&copy, "EFI/BOOT/grub.cfg", cfg.as_bytes()).unwrap();
    assert_eq!(fs::read(&img).unwrap(), fs::read(&copy).unwrap());
}

#[test]
fn too_full_image_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let files = efi_files();
    let img = build_image(dir.path(), "full", &files, 0);
    let space = efiboot::space(fs::File::open(&img).unwrap()).unwrap();
    // Fill the free space (lorax leaves ~0.5 MiB), leaving one cluster.
    let fill = (u64::from(space.free_clusters) - 1) * u64::from(space.cluster_size);
    let filler = dir.path().join("filler.bin");
    fs::write(&filler, noise(fill as usize, 9)).unwrap();
    run(tool("mcopy")
        .args(["-i", img.to_str().unwrap()])
        .arg(&filler)
        .arg("::EFI/BOOT/filler.bin"));
    let full_space = efiboot::space(fs::File::open(&img).unwrap()).unwrap();
    assert_eq!(full_space.free_clusters, 1);
    let before = fs::read(&img).unwrap();
    let big = "x".repeat(3 * space.cluster_size as usize + 100);
    let err = replace(&img, "EFI/BOOT/grub.cfg", big.as_bytes()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EfibootError::NoSpace { .. }), "{msg}");
    assert!(
        msg.contains(&format!("{} bytes free", space.cluster_size)),
        "{msg}"
    );
    assert!(msg.contains("needs") && msg.contains("mkefiboot"), "{msg}");
    assert!(!msg.contains('\n'));
    assert_eq!(fs::read(&img).unwrap(), before, "image must be unchanged");
    // What fits still works.
    let fits = "y".repeat(space.cluster_size as usize + 10);
    replace(&img, "EFI/BOOT/grub.cfg", fits.as_bytes()).unwrap();
    fsck_clean(&img);
    assert_eq!(mtype(&img, "EFI/BOOT/grub.cfg"), fits.as_bytes());
}

#[test]
fn replace_inside_a_larger_file_via_stream_slice() {
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), "inner", &efi_files(), 0);
    let image = fs::read(&img).unwrap();
    let head = noise(1 << 20, 11);
    let tail = noise(300_000, 12);
    let outer = dir.path().join("outer.iso");
    let mut all = head.clone();
    all.extend_from_slice(&image);
    all.extend_from_slice(&tail);
    fs::write(&outer, &all).unwrap();

    let cfg = longer_cfg();
    {
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&outer)
            .unwrap();
        let start = head.len() as u64;
        let slice = fscommon::StreamSlice::new(f, start, start + image.len() as u64).unwrap();
        efiboot::replace_file(slice, "EFI/BOOT/grub.cfg", cfg.as_bytes()).unwrap();
    }
    let mut f = fs::File::open(&outer).unwrap();
    let mut got = Vec::new();
    f.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), all.len());
    assert_eq!(&got[..head.len()], &head[..]);
    assert_eq!(&got[head.len() + image.len()..], &tail[..]);
    // The region is a clean FAT with the new file; same bytes as editing the image alone.
    let region = dir.path().join("region.img");
    fs::write(&region, &got[head.len()..head.len() + image.len()]).unwrap();
    fsck_clean(&region);
    assert_eq!(mtype(&region, "EFI/BOOT/grub.cfg"), cfg.as_bytes());
    replace(&img, "EFI/BOOT/grub.cfg", cfg.as_bytes()).unwrap();
    assert_eq!(fs::read(&img).unwrap(), fs::read(&region).unwrap());
    // Reading through a slice works too.
    f.seek(SeekFrom::Start(0)).unwrap();
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&outer)
        .unwrap();
    let slice = fscommon::StreamSlice::new(f, head.len() as u64, (head.len() + image.len()) as u64)
        .unwrap();
    assert_eq!(
        efiboot::read_file(slice, "EFI/BOOT/grub.cfg", 1 << 20).unwrap(),
        cfg.as_bytes()
    );
}

#[test]
fn corrupt_images_error_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), "c", &efi_files(), 0);
    let good = fs::read(&img).unwrap();
    let mut seed = 5u64;
    for round in 0..40 {
        let mut bad = good.clone();
        // Scribble over the boot sector, FATs and root directory.
        for _ in 0..(8 + round) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pos = ((seed >> 33) as usize) % 64 * 1024;
            bad[pos] = (seed >> 20) as u8;
        }
        let p = dir.path().join("bad.img");
        fs::write(&p, &bad).unwrap();
        let _ = efiboot::read_file(fs::File::open(&p).unwrap(), "EFI/BOOT/grub.cfg", 1 << 20);
        let _ = replace(&p, "EFI/BOOT/grub.cfg", longer_cfg().as_bytes());
    }
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(b"not a filesystem").unwrap();
    assert!(efiboot::read_file(f, "EFI/BOOT/grub.cfg", 100).is_err());
}

/// Every FAT12 entry pointing at itself: each directory's cluster chain is a cycle. The
/// lookup must stop (bounded scan) instead of looping forever.
#[test]
fn cyclic_cluster_chains_terminate() {
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), "cyc", &efi_files(), 0);
    let mut b = fs::read(&img).unwrap();
    let bytes_per_sector = u16::from_le_bytes([b[11], b[12]]) as usize;
    let reserved = u16::from_le_bytes([b[14], b[15]]) as usize;
    let fats = b[16] as usize;
    let fat_sectors = u16::from_le_bytes([b[22], b[23]]) as usize;
    let fat_len = fat_sectors * bytes_per_sector;
    for copy in 0..fats {
        let base = (reserved + copy * fat_sectors) * bytes_per_sector;
        let mut k = 0usize;
        while 3 * k + 2 < fat_len {
            let (e0, e1) = (2 * k as u16, 2 * k as u16 + 1);
            if k > 0 {
                b[base + 3 * k] = (e0 & 0xff) as u8;
                b[base + 3 * k + 1] = ((e0 >> 8) & 0x0f) as u8 | (((e1 & 0x0f) as u8) << 4);
                b[base + 3 * k + 2] = (e1 >> 4) as u8;
            }
            k += 1;
        }
    }
    fs::write(&img, &b).unwrap();
    // Small files and directories ended by a free entry still read; what matters is that
    // every call returns.
    let _ = efiboot::read_file(fs::File::open(&img).unwrap(), "EFI/BOOT/grub.cfg", 1 << 20);
    let _ = efiboot::read_file(
        fs::File::open(&img).unwrap(),
        "EFI/BOOT/fonts/unicode.pf2",
        1 << 24,
    );
    let _ = replace(&img, "EFI/BOOT/grub.cfg", longer_cfg().as_bytes());
    let _ = efiboot::space(fs::File::open(&img).unwrap());
}

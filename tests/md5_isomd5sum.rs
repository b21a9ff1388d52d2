//! isomd5sum against the real tools: xorriso builds the images, `implantisomd5` and
//! `checkisomd5` (isomd5sum 1.2.3) are the oracles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod iso_support;

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use remaster::iso::md5::{self, Md5Status, Mismatch, APPDATA_LEN, APPDATA_OFFSET};

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} not found: install the packages in scripts/test-deps.txt (xorriso, isomd5sum, isolinux, dosfstools, mtools)"
    );
    Command::new(name)
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Build an ISO holding files of the given sizes; `hybrid` adds the lorax isohybrid
/// MBR/GPT and El Torito BIOS + EFI entries.
fn build_iso(dir: &Path, name: &str, sizes: &[usize], hybrid: bool) -> PathBuf {
    let tree = dir.join(format!("{name}.tree"));
    fs::create_dir_all(tree.join("data")).unwrap();
    for (i, &s) in sizes.iter().enumerate() {
        fs::write(
            tree.join(format!("data/f{i}.bin")),
            iso_support::noise(s, i as u64 + 7),
        )
        .unwrap();
    }
    let iso = dir.join(format!("{name}.iso"));
    let mut cmd = tool("xorriso");
    cmd.args(["-as", "mkisofs", "-quiet", "-o"]).arg(&iso);
    if hybrid {
        fs::create_dir_all(tree.join("isolinux")).unwrap();
        fs::create_dir_all(tree.join("images")).unwrap();
        fs::copy(
            "/usr/lib/ISOLINUX/isolinux.bin",
            tree.join("isolinux/isolinux.bin"),
        )
        .expect("/usr/lib/ISOLINUX/isolinux.bin (package isolinux)");
        let efi = tree.join("images/efiboot.img");
        run(tool("mkfs.fat")
            .args(["-C", "-n", "ANACONDA"])
            .arg(&efi)
            .arg("1440"));
        cmd.args(iso_support::HYBRID_BOOT_ARGS);
    }
    cmd.args(["-R", "-J", "-V", "Rocky-9-2-x86_64-dvd"])
        .arg(&tree);
    run(&mut cmd);
    iso
}

fn field_of(path: &Path) -> Vec<u8> {
    let mut f = fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(APPDATA_OFFSET)).unwrap();
    let mut buf = vec![0u8; APPDATA_LEN];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// checkisomd5's verdict from its output: "PASS", "FAIL" or "NA".
fn checkisomd5(path: &Path) -> String {
    let out = tool("checkisomd5").arg(path).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for verdict in ["PASS", "FAIL", "NA"] {
        if text.contains(&format!("the result is: {verdict}")) {
            return verdict.to_string();
        }
    }
    panic!("unexpected checkisomd5 output: {text}");
}

fn ours_implant(path: &Path) -> md5::ImplantField {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    md5::implant(&mut f).unwrap()
}

fn ours_check(path: &Path) -> Md5Status {
    md5::check(&mut fs::File::open(path).unwrap()).unwrap()
}

fn flip(path: &Path, offset: u64) {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut b = [0u8];
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[b[0] ^ 0x5a]).unwrap();
}

fn round_trip(dir: &Path, iso: &Path) {
    let ours = dir.join("ours.iso");
    let theirs = dir.join("theirs.iso");
    fs::copy(iso, &ours).unwrap();
    fs::copy(iso, &theirs).unwrap();

    // Fresh image: no field.
    assert_eq!(ours_check(&ours), Md5Status::Absent);
    assert_eq!(checkisomd5(&ours), "NA");

    // Ours → checkisomd5 passes; the field is byte-identical to implantisomd5's.
    let field = ours_implant(&ours);
    assert_eq!(field.fragment_sums.len(), 60, "{field:?}");
    assert_eq!(checkisomd5(&ours), "PASS");
    run(tool("implantisomd5").arg("--force").arg(&theirs));
    assert_eq!(field_of(&ours), field_of(&theirs));
    assert_eq!(fs::read(&ours).unwrap(), fs::read(&theirs).unwrap());

    // implantisomd5's → ours says Valid.
    assert!(matches!(ours_check(&theirs), Md5Status::Valid { .. }));

    // Re-implanting over an existing field (`--force` semantics) gives the same bytes.
    ours_implant(&ours);
    assert_eq!(field_of(&ours), field_of(&theirs));

    // A flipped byte early in the image: both fail, ours names a fragment.
    let early = dir.join("early.iso");
    fs::copy(&ours, &early).unwrap();
    flip(&early, 40_000);
    assert_eq!(checkisomd5(&early), "FAIL");
    match ours_check(&early) {
        Md5Status::Invalid {
            mismatch: Mismatch::Fragment { index, .. },
            ..
        } => assert_eq!(index, 1),
        other => panic!("expected a fragment mismatch, got {other:?}"),
    }

    // A flipped byte in the last checksummed sector: caught by the last fragment (when the
    // final chunk starts a new fragment) or else only by the full sum.
    let volume = md5::volume_size(&mut fs::File::open(&ours).unwrap()).unwrap();
    let late = dir.join("late.iso");
    fs::copy(&ours, &late).unwrap();
    flip(&late, volume - 16 * 2048 + 5);
    assert_eq!(checkisomd5(&late), "FAIL");
    match ours_check(&late) {
        Md5Status::Invalid {
            mismatch: Mismatch::Full { .. },
            ..
        }
        | Md5Status::Invalid {
            mismatch: Mismatch::Fragment { index: 20, .. },
            ..
        } => {}
        other => panic!("expected a late mismatch, got {other:?}"),
    }

    // A byte in the skipped tail is not covered, by either tool.
    let tail = dir.join("tail.iso");
    fs::copy(&ours, &tail).unwrap();
    flip(&tail, volume - 2048);
    assert_eq!(checkisomd5(&tail), "PASS");
    assert!(matches!(ours_check(&tail), Md5Status::Valid { .. }));
}

#[test]
fn plain_isos_of_varied_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for (i, sizes) in [
        vec![700_000usize],
        vec![1_048_576, 3],
        vec![3_000_001, 65_537, 12],
    ]
    .iter()
    .enumerate()
    {
        let sub = dir.path().join(format!("p{i}"));
        fs::create_dir_all(&sub).unwrap();
        let iso = build_iso(&sub, "plain", sizes, false);
        round_trip(&sub, &iso);
    }
}

#[test]
fn hybrid_iso_with_mbr_and_gpt() {
    let dir = tempfile::tempdir().unwrap();
    let iso = build_iso(dir.path(), "hybrid", &[2_500_000, 777], true);
    // The system area really is isohybrid (MBR boot signature and a GPT header at LBA 1).
    let bytes = fs::read(&iso).unwrap();
    assert_eq!(&bytes[510..512], &[0x55, 0xaa]);
    assert_eq!(&bytes[512..520], b"EFI PART");
    round_trip(dir.path(), &iso);
}

/// Below 21 × 32 KiB of checksummed data isomd5sum skips fragment numbers: implantisomd5
/// writes fewer than 60 characters and checkisomd5 then rejects its own sum. We reproduce
/// both sides of that behaviour exactly.
#[test]
fn tiny_iso_matches_isomd5sum_quirk() {
    let dir = tempfile::tempdir().unwrap();
    let iso = build_iso(dir.path(), "tiny", &[100_000], false);
    let ours = dir.path().join("ours.iso");
    let theirs = dir.path().join("theirs.iso");
    fs::copy(&iso, &ours).unwrap();
    fs::copy(&iso, &theirs).unwrap();
    let field = ours_implant(&ours);
    assert!(field.fragment_sums.len() < 60);
    run(tool("implantisomd5").arg(&theirs));
    assert_eq!(field_of(&ours), field_of(&theirs));
    assert_eq!(checkisomd5(&theirs), "FAIL");
    assert!(matches!(ours_check(&theirs), Md5Status::Invalid { .. }));
}

#[test]
fn garbage_and_truncated_files_error_or_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    fs::write(&junk, iso_support::noise(100_000, 3)).unwrap();
    assert!(md5::compute(&mut fs::File::open(&junk).unwrap()).is_err());
    assert!(md5::check(&mut fs::File::open(&junk).unwrap()).is_err());
    fs::write(&junk, b"tiny").unwrap();
    assert!(md5::compute(&mut fs::File::open(&junk).unwrap()).is_err());

    // An implanted image cut short: Invalid (Truncated), not a panic.
    let iso = build_iso(dir.path(), "cut", &[1_500_000], false);
    ours_implant(&iso);
    let bytes = fs::read(&iso).unwrap();
    fs::write(&iso, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        ours_check(&iso),
        Md5Status::Invalid {
            mismatch: Mismatch::Truncated { .. },
            ..
        }
    ));
    assert!(md5::compute(&mut fs::File::open(&iso).unwrap()).is_err());
}

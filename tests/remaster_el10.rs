//! remaster edits EL10 media (GRUB2 BIOS, the ESP appended as GPT partition 2, a second ISO
//! 9660 tree for partition 1): `--add-module` (a 6.12 module the fixture's initrd lacks) and
//! `--cmdline` on the EL10 fixture (scripts/build-fixture-el10.sh), and files added with
//! `--add` and `--ks` (new records in all four trees: both views, ISO 9660 and Joliet), checked with outside
//! oracles — xorriso (El Torito, system area, extraction from the whole image AND from
//! partition 1 cut out alone), sgdisk -v, checkisomd5, fsck.fat and mtools on the ESP — and
//! then booted in every mode of the EL10 matrix (`--features boot-tests`).
//! Run: `cargo test --test remaster_el10` (no QEMU, ~10 s);
//! `cargo test --features boot-tests --test remaster_el10 -- --test-threads=1` (8 boots).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

mod common;

use common::boot::*;
use common::cli::*;
use common::el10::*;
use common::fixtures::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const MARKER: &str = "remaster.el10marker=1";

/// A module of the fixture's 6.12 kernel package that its initrd does not carry.
fn megaraid_sas() -> PathBuf {
    let kver = el10_kver();
    let p = fixtures_dir().join(format!(
        "kernel/{kver}/lib/modules/{kver}/kernel/drivers/scsi/megaraid/megaraid_sas.ko.xz"
    ));
    assert!(
        p.is_file(),
        "{} missing: run scripts/build-fixture-el10.sh",
        p.display()
    );
    p
}

fn run_remaster(input: &Path, args: &[&str], out: &Path) {
    let o = remaster_bin()
        .arg(input)
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", output_text(&o));
}

/// The fixture with `--add-module megaraid_sas --cmdline MARKER`, written once per run.
fn edited() -> PathBuf {
    static OUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = scratch_dir();
        let out = dir.path().join("el10-module.iso");
        let module = megaraid_sas();
        run_remaster(
            &el10_fixture_iso(),
            &[
                "--add-module",
                module.to_str().unwrap(),
                "--cmdline",
                MARKER,
            ],
            &out,
        );
        (dir, out)
    })
    .1
    .clone()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn xorriso(iso: &Path, args: &[&str]) -> String {
    let mut all = vec!["-indev", image_str(iso)];
    all.extend_from_slice(args);
    let (ok, out) = run_tool("xorriso", &all);
    assert!(ok, "xorriso {args:?}:\n{out}");
    out
}

/// Partition `n` of `image` cut out into a file of its own.
fn cut_partition(image: &Path, n: u32, dest: &Path) {
    let (first, last) = gpt_partition(image, n);
    let (ok, out) = run_tool(
        "dd",
        &[
            &format!("if={}", image_str(image)),
            &format!("of={}", image_str(dest)),
            "bs=512",
            &format!("skip={first}"),
            &format!("count={}", last - first + 1),
            "status=none",
        ],
    );
    assert!(ok, "{out}");
}

/// (path, first block, size) of every file xorriso finds in `iso`.
fn file_extents(iso: &Path) -> Vec<(String, u64, u64)> {
    let out = xorriso(
        iso,
        &["-find", "/", "-type", "f", "-exec", "report_lba", "--"],
    );
    out.lines()
        .filter_map(|l| l.strip_prefix("File data lba:"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            Some((
                f.get(4)?.trim_matches('\'').to_string(),
                f.get(1)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

const FILES: [&str; 3] = [
    "/images/pxeboot/initrd.img",
    "/boot/grub2/grub.cfg",
    "/EFI/BOOT/grub.cfg",
];

/// The oracles on an edited image: both views, the system area, the ESP, the MD5.
fn check_edited(out: &Path, grown: bool) {
    let fixture = el10_fixture_iso();
    let scratch = scratch_dir();
    let dir = scratch.path();
    let image = fs::read(out).unwrap();

    // GPT: valid, p1 from block 16 up to p2, p2 = the ESP (same size), p3 the gap behind it.
    let (ok, v) = run_tool("sgdisk", &["-v", image_str(out)]);
    assert!(
        ok && v.contains("No problems found") && !v.contains("Caution"),
        "sgdisk -v:\n{v}"
    );
    let (p1_first, p1_last) = gpt_partition(out, 1);
    let (p2_first, p2_last) = gpt_partition(out, 2);
    let (p3_first, p3_last) = gpt_partition(out, 3);
    let (o2_first, o2_last) = gpt_partition(&fixture, 2);
    let (o3_first, o3_last) = gpt_partition(&fixture, 3);
    assert_eq!(p1_first, 64);
    assert_eq!(p2_first, p1_last + 1, "p1 ends where the ESP starts");
    assert_eq!(p2_last - p2_first, o2_last - o2_first, "ESP size");
    assert_eq!(p3_first, p2_last + 1);
    assert_eq!(p3_last - p3_first, o3_last - o3_first, "gap size");
    assert_eq!(
        grown,
        p2_first > o2_first,
        "ESP moved: {p2_first} vs {o2_first}"
    );
    assert_eq!(
        image.len() as u64 - (p3_last + 1) * 512,
        fs::metadata(&fixture).unwrap().len() - (o3_last + 1) * 512,
        "the backup GPT area behind the gap keeps its size"
    );

    // El Torito: BIOS = eltorito.img with both patches, EFI = exactly p2.
    let r = xorriso(out, &["-report_el_torito", "as_mkisofs"]);
    assert!(
        r.contains("-b '/images/eltorito.img'")
            && r.contains("-boot-info-table")
            && r.contains("--grub2-boot-info"),
        "{r}"
    );
    let want_e = format!(
        "-e '--interval:appended_partition_2_start_{}s_size_{}d:all::'",
        p2_first / 4,
        p2_last - p2_first + 1
    );
    assert!(r.contains(&want_e), "want {want_e}:\n{r}");
    let sa = xorriso(out, &["-report_system_area", "plain"]);
    assert!(sa.contains("protective-msdos-label"), "{sa}");

    // BIOS pointers: eltorito.img did not move and all three numbers name it.
    let extents = file_extents(out);
    let (_, eltorito, elt_len) = extents
        .iter()
        .find(|(p, _, _)| p == "/images/eltorito.img")
        .cloned()
        .expect("eltorito.img");
    let (_, eltorito_before, _) = file_extents(&fixture)
        .into_iter()
        .find(|(p, _, _)| p == "/images/eltorito.img")
        .unwrap();
    assert_eq!(eltorito, eltorito_before);
    let e = eltorito as usize * 2048;
    assert_eq!(u64_at(&image, 0x1B0), eltorito * 4 + 4, "MBR u64 at 0x1B0");
    assert_eq!(
        u64_at(&image, e + 2548),
        eltorito * 4 + 5,
        "--grub2-boot-info"
    );
    assert_eq!(u32_at(&image, e + 8), 16, "bi_pvd");
    assert_eq!(u32_at(&image, e + 12) as u64, eltorito, "bi_file");
    assert_eq!(u32_at(&image, e + 16) as u64, elt_len, "bi_length");
    let sum = (64..elt_len as usize)
        .step_by(4)
        .fold(0u32, |s, i| s.wrapping_add(u32_at(&image, e + i)));
    assert_eq!(u32_at(&image, e + 20), sum, "bi_csum");
    // Protective MBR: 0xEE from sector 1 over the whole image.
    assert_eq!(image[0x1BE + 4], 0xEE);
    assert_eq!(u32_at(&image, 0x1BE + 12) as usize, image.len() / 512 - 1);

    // Every file inside p1.
    for (p, lba, len) in &extents {
        assert!(
            (lba * 2048 + len) <= (p1_last + 1) * 512,
            "{p} at block {lba} ({len} bytes) lies past p1's end {p1_last}"
        );
    }

    // Volume sizes keep the input's relations.
    let vs = |block: usize| u32_at(&image, block * 2048 + 80) as u64;
    assert_eq!(vs(16), image.len() as u64 / 2048, "PVD@16: the whole image");
    assert_eq!(
        vs(18),
        p2_first / 4,
        "Joliet SVD@18: the ISO data (as the input)"
    );
    assert_eq!(vs(32), (p1_last + 1 - 64) / 4, "PVD@32: p1");
    assert_eq!(vs(33), (p1_last + 1 - 64) / 4, "SVD@33: p1");

    // The same files from the whole image and from partition 1 alone.
    let p1 = dir.join("p1.img");
    cut_partition(out, 1, &p1);
    let original_initrd = dir.join("initrd.orig");
    extract_from_iso(&fixture, FILES[0], &original_initrd);
    for f in FILES {
        let a = dir.join("whole");
        let b = dir.join("part");
        let _ = fs::remove_file(&a);
        let _ = fs::remove_file(&b);
        extract_from_iso(out, f, &a);
        extract_from_iso(&p1, f, &b);
        let (a, b) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
        assert!(
            a == b,
            "{f}: partition 1 shows other bytes than the whole image"
        );
        if f == FILES[0] {
            let orig = fs::read(&original_initrd).unwrap();
            assert_eq!(grown, a.len() > orig.len(), "initrd grew");
            assert!(a.starts_with(&orig), "the original initrd stays a prefix");
        } else {
            let text = String::from_utf8(a).unwrap();
            let kernel_lines: Vec<&str> = text
                .lines()
                .map(str::trim_start)
                .filter(|l| l.starts_with("linux"))
                .collect();
            assert_eq!(kernel_lines.len(), 5, "{f}");
            for l in kernel_lines {
                assert!(l.contains(MARKER), "{f}: {l}");
            }
        }
    }
    let pvd = xorriso(&p1, &["-pvd_info"]);
    assert!(pvd.contains(EL10_LABEL), "{pvd}");

    // The ESP: a clean FAT whose grub.cfg = the ISO 9660 one.
    let esp = dir.join("esp.img");
    cut_partition(out, 2, &esp);
    let (ok, fsck) = run_tool("fsck.fat", &["-n", image_str(&esp)]);
    assert!(ok, "fsck.fat -n:\n{fsck}");
    let (ok, cfg) = run_tool("mtype", &["-i", image_str(&esp), "::EFI/BOOT/grub.cfg"]);
    assert!(ok, "{cfg}");
    let iso_cfg = dir.join("efi.cfg");
    extract_from_iso(out, "/EFI/BOOT/grub.cfg", &iso_cfg);
    assert_eq!(cfg, fs::read_to_string(&iso_cfg).unwrap(), "ESP grub.cfg");

    // Media check over the whole image; remaster's own verify.
    let (ok, md5) = run_tool("checkisomd5", &[image_str(out)]);
    assert!(ok, "checkisomd5:\n{md5}");
    let o = remaster_bin().arg("verify").arg(out).output().unwrap();
    assert!(o.status.success(), "{}", output_text(&o));
}

#[test]
fn add_module_and_cmdline_grow_inside_p1_and_keep_both_views() {
    check_edited(&edited(), true);
}

#[test]
fn cmdline_alone_edits_in_place() {
    let scratch = scratch_dir();
    let out = scratch.path().join("cmdline.iso");
    run_remaster(&el10_fixture_iso(), &["--cmdline", MARKER], &out);
    assert_eq!(
        fs::metadata(&out).unwrap().len(),
        fs::metadata(el10_fixture_iso()).unwrap().len()
    );
    check_edited(&out, false);
}

#[test]
fn same_inputs_same_bytes() {
    let scratch = scratch_dir();
    let again = scratch.path().join("again.iso");
    let module = megaraid_sas();
    run_remaster(
        &el10_fixture_iso(),
        &[
            "--add-module",
            module.to_str().unwrap(),
            "--cmdline",
            MARKER,
        ],
        &again,
    );
    assert_eq!(file_sha256(&again), file_sha256(&edited()));
}

/// Deterministic content of `len` bytes for an added file (`seed` tells the files apart).
fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Files added by `--add`: one into the root, one into an existing subdirectory, one into
/// two new directories (which makes every tree's path tables be rebuilt).
fn added_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("/extra.txt", b"added to the root\n".to_vec()),
        ("/images/extra.bin", content(7, 5000)),
        ("/drivers/new/deep.bin", content(9, 3000)),
    ]
}

/// The fixture with [`added_files`] added, written once per run.
fn added() -> PathBuf {
    static OUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = scratch_dir();
        let out = dir.path().join("el10-add.iso");
        let mut args = Vec::new();
        for (i, (iso_path, bytes)) in added_files().into_iter().enumerate() {
            let src = dir.path().join(format!("src{i}"));
            fs::write(&src, bytes).unwrap();
            args.push("--add".to_string());
            args.push(format!(
                "{}={}",
                src.display(),
                iso_path.trim_start_matches('/')
            ));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_remaster(&el10_fixture_iso(), &args, &out);
        (dir, out)
    })
    .1
    .clone()
}

const KS: &[u8] = b"# remaster el10 kickstart\ntext\nreboot\n";

/// The fixture with `--ks` naming a kickstart the media does not have, written once per run.
fn ks_added() -> PathBuf {
    static OUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = scratch_dir();
        let ks = dir.path().join("el10-test.ks");
        fs::write(&ks, KS).unwrap();
        let out = dir.path().join("el10-ks.iso");
        run_remaster(&el10_fixture_iso(), &["--ks", ks.to_str().unwrap()], &out);
        (dir, out)
    })
    .1
    .clone()
}

/// Directories as (path, block).
type Dirs = Vec<(String, u64)>;

/// The path table of one tree as isoinfo reads it, against the directories isoinfo finds by
/// walking the directory records: (path, block) each, the root as "/".
fn path_table_vs_directories(iso: &Path, joliet: bool) -> (Dirs, Dirs) {
    let mut args = vec!["-i", image_str(iso)];
    if joliet {
        args.push("-J");
    }
    let (ok, table) = run_tool("isoinfo", &[&args[..], &["-p"]].concat());
    assert!(ok, "isoinfo -p:\n{table}");
    // "   4:    1 570b EXTRA": number, parent number, block (hex), name.
    let mut paths: Vec<String> = Vec::new();
    let mut from_table = Vec::new();
    for l in table
        .lines()
        .filter(|l| l.contains(':') && !l.starts_with("Path table"))
    {
        let (_, rest) = l.split_once(':').unwrap();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let parent: usize = f[0].parse().unwrap();
        let lba = u64::from_str_radix(f[1], 16).unwrap();
        let path = match f.get(2) {
            None => "/".to_string(),
            Some(name) => format!("{}{name}/", paths[parent - 1]),
        };
        paths.push(path.clone());
        from_table.push((path, lba));
    }
    let (ok, listing) = run_tool("isoinfo", &[&args[..], &["-l"]].concat());
    assert!(ok, "isoinfo -l:\n{listing}");
    let mut from_dirs = Vec::new();
    let mut lines = listing.lines();
    while let Some(l) = lines.next() {
        let Some(dir) = l.strip_prefix("Directory listing of ") else {
            continue;
        };
        let dot = lines.next().unwrap();
        let lba = dot
            .split('[')
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        from_dirs.push((dir.trim().to_string(), lba.parse().unwrap()));
    }
    from_table.sort();
    from_dirs.sort();
    (from_table, from_dirs)
}

/// The oracles on an image with files added: the files with their bytes from the whole image
/// and from partition 1 cut out alone (xorriso with Rock Ridge, isoinfo through Joliet), the
/// same extents in both views, every tree's path table = its directories (isoinfo), all data
/// inside p1 with the ESP moved behind it, sgdisk -v, fsck.fat, checkisomd5, verify.
fn check_added(out: &Path, files: &[(&str, Vec<u8>)]) {
    let fixture = el10_fixture_iso();
    let scratch = scratch_dir();
    let dir = scratch.path();
    let (ok, v) = run_tool("sgdisk", &["-v", image_str(out)]);
    assert!(
        ok && v.contains("No problems found") && !v.contains("Caution"),
        "sgdisk -v:\n{v}"
    );
    let (p1_first, p1_last) = gpt_partition(out, 1);
    let (p2_first, p2_last) = gpt_partition(out, 2);
    let (o2_first, o2_last) = gpt_partition(&fixture, 2);
    assert_eq!(p1_first, 64);
    assert_eq!(p2_first, p1_last + 1, "p1 ends where the ESP starts");
    assert_eq!(p2_last - p2_first, o2_last - o2_first, "ESP size");
    assert!(p2_first > o2_first, "the ESP moved behind the new data");
    let p1 = dir.join("p1.img");
    cut_partition(out, 1, &p1);
    let whole = file_extents(out);
    let part = file_extents(&p1);
    for (path, bytes) in files {
        for (view, iso) in [("whole image", out), ("partition 1", p1.as_path())] {
            let got = dir.join("got");
            let _ = fs::remove_file(&got);
            extract_from_iso(iso, path, &got);
            assert!(
                fs::read(&got).unwrap() == *bytes,
                "{path} from the {view}: other bytes"
            );
            let joliet = std::process::Command::new("isoinfo")
                .args(["-i", image_str(iso), "-J", "-x", path])
                .output()
                .unwrap();
            assert!(
                joliet.status.success() && joliet.stdout == *bytes,
                "{path} through Joliet from the {view}: other bytes"
            );
        }
        let find = |list: &[(String, u64, u64)]| {
            list.iter()
                .find(|(p, _, _)| p == path)
                .map(|(_, lba, len)| (*lba, *len))
                .unwrap_or_else(|| panic!("{path} not listed"))
        };
        let (lba, len) = find(&whole);
        let (part_lba, part_len) = find(&part);
        assert_eq!(
            (lba, len),
            (part_lba + 16, part_len),
            "{path}: both views, one extent"
        );
        assert!(
            lba * 2048 + len <= (p1_last + 1) * 512,
            "{path} at block {lba} lies past p1's end {p1_last}"
        );
    }
    for (view, iso) in [("whole image", out), ("partition 1", p1.as_path())] {
        for joliet in [false, true] {
            let (table, dirs) = path_table_vs_directories(iso, joliet);
            assert_eq!(
                table, dirs,
                "{view} (joliet {joliet}): path table vs directories"
            );
        }
    }
    let esp = dir.join("esp.img");
    cut_partition(out, 2, &esp);
    let (ok, fsck) = run_tool("fsck.fat", &["-n", image_str(&esp)]);
    assert!(ok, "fsck.fat -n:\n{fsck}");
    let (ok, md5) = run_tool("checkisomd5", &[image_str(out)]);
    assert!(ok, "checkisomd5:\n{md5}");
    let (code, report) = verify(out);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("ok   partition-tree:"), "{report}");
}

/// `--add` into the root, an existing subdirectory and new directories: both views' trees
/// (ISO 9660 with Rock Ridge and Joliet) name the same new extents inside p1.
#[test]
fn added_files_reach_both_views() {
    check_added(&added(), &added_files());
}

/// So many files added to the root that it outgrows its sector and moves: both views' root
/// records (in their primary and Joliet descriptors), every `..` naming the root and both
/// path tables follow, each view with its own addresses (the root's Rock Ridge `.` entry and
/// its continuation area are copied, so Rock Ridge names still read from partition 1).
#[test]
fn added_files_that_move_the_root_reach_both_views() {
    let scratch = scratch_dir();
    let out = scratch.path().join("root-moved.iso");
    let mut files = Vec::new();
    let mut args = Vec::new();
    for i in 0..40u8 {
        let iso_path = format!("/added-file-with-a-long-name-{i}.txt");
        let bytes = content(i, 100 + usize::from(i));
        let src = scratch.path().join(format!("src{i}"));
        fs::write(&src, &bytes).unwrap();
        args.push("--add".to_string());
        args.push(format!("{}={}", src.display(), &iso_path[1..]));
        files.push((iso_path, bytes));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_remaster(&el10_fixture_iso(), &args, &out);
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, b)| (p.as_str(), b.clone())).collect();
    check_added(&out, &files);
    // The root moved in both views (the fixture's roots are at blocks 35 and 16 + 50).
    let p1 = scratch.path().join("p1.img");
    cut_partition(&out, 1, &p1);
    for (iso, old_root) in [(&out, 35u64), (&p1, 50)] {
        let (table, _) = path_table_vs_directories(iso, false);
        let root = table.iter().find(|(p, _)| p == "/").unwrap().1;
        assert_ne!(root, old_root, "{}: the root did not move", iso.display());
    }
}

/// `--ks` with a kickstart the media lacks: the file is added in both views, and all three
/// configs name it.
#[test]
fn ks_file_is_added_in_both_views() {
    let out = ks_added();
    check_added(&out, &[("/el10-test.ks", KS.to_vec())]);
    let scratch = scratch_dir();
    let p1 = scratch.path().join("p1.img");
    cut_partition(&out, 1, &p1);
    let esp = scratch.path().join("esp.img");
    cut_partition(&out, 2, &esp);
    let (ok, esp_cfg) = run_tool("mtype", &["-i", image_str(&esp), "::EFI/BOOT/grub.cfg"]);
    assert!(ok, "{esp_cfg}");
    let mut configs = vec![esp_cfg];
    for f in ["/boot/grub2/grub.cfg", "/EFI/BOOT/grub.cfg"] {
        let got = scratch.path().join("cfg");
        let _ = fs::remove_file(&got);
        extract_from_iso(&p1, f, &got);
        configs.push(fs::read_to_string(&got).unwrap());
    }
    let want = format!("inst.ks=hd:LABEL={EL10_LABEL}:/el10-test.ks");
    for text in configs {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("linux"))
            .collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines.iter().all(|l| l.contains(&want)), "{text}");
    }
}

/// The `--ks` image booted from a stick through BIOS (GRUB reads boot/grub2/grub.cfg through
/// the whole-disk tree): the kickstart argument on the kernel's command line, stage 2's
/// label found, and the media check passing over a volume that carries the new file.
#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn ks_added_bios_usb() {
    let report = boot(&ks_added(), BootMode::BiosUsb, &BootOptions::default());
    eprintln!(
        "boot el10 ks bios-usb {:.1} s",
        report.elapsed.as_secs_f64()
    );
    assert!(report.reached_report, "{}", report.tail());
    let want = format!("inst.ks=hd:LABEL={EL10_LABEL}:/el10-test.ks");
    assert!(report.cmdline_has(&want), "{}", report.cmdline);
    assert!(
        report.boot_medium.as_deref().is_some_and(|m| m != "none"),
        "stage 2's label not found\n{}",
        report.tail()
    );
    assert_eq!(
        report.mediacheck,
        Some(MediaCheck::Pass),
        "{:?}\n{}",
        report.mediacheck_output,
        report.tail()
    );
}

/// The edited image in one mode: the marker from the config the mode reads, megaraid_sas
/// loaded by rd.driver.pre from the overlay's updates/, stage 2's label found, media check.
fn boot_edited(mode: BootMode) {
    assert!(Layout::El10.modes().contains(&mode));
    let report = boot(&edited(), mode, &BootOptions::default());
    eprintln!(
        "boot el10 edited {} {:.1} s",
        mode.name(),
        report.elapsed.as_secs_f64()
    );
    assert!(report.reached_report, "{mode:?}\n{}", report.tail());
    assert_eq!(report.kernel, el10_kver(), "{mode:?}");
    assert!(
        report.cmdline_has(MARKER),
        "{mode:?} ({:?}) booted without the edit: {}",
        Layout::El10.config_read(mode),
        report.cmdline
    );
    assert!(
        report.cmdline_has("rd.driver.pre=megaraid_sas"),
        "{mode:?}: {}",
        report.cmdline
    );
    let m = report
        .module("megaraid_sas")
        .unwrap_or_else(|| panic!("{mode:?}: megaraid_sas not loaded\n{}", report.tail()));
    assert!(
        m.path
            .ends_with(&format!("{}/updates/megaraid_sas.ko.xz", el10_kver())),
        "{mode:?}: {m:?}"
    );
    assert!(
        report.boot_medium.as_deref().is_some_and(|m| m != "none"),
        "{mode:?}: stage 2's label not found\n{}",
        report.tail()
    );
    assert_eq!(
        report.mediacheck,
        Some(MediaCheck::Pass),
        "{mode:?}: {:?}\n{}",
        report.mediacheck_output,
        report.tail()
    );
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn edited_bios_cd() {
    boot_edited(BootMode::BiosCd);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn edited_uefi_cd() {
    boot_edited(BootMode::UefiCd);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn edited_bios_usb() {
    boot_edited(BootMode::BiosUsb);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn edited_uefi_usb() {
    boot_edited(BootMode::UefiUsb);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn edited_uefi_usb_esp() {
    boot_edited(BootMode::UefiUsbEsp);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn edited_usb_cd_uefi() {
    boot_edited(BootMode::UsbCd);
}

#[cfg_attr(
    not(feature = "boot-tests"),
    ignore = "boots QEMU: the full tier (scripts/test.sh) runs it"
)]
#[test]
fn edited_usb_cd_bios() {
    boot_edited(BootMode::BiosUsbCd);
}

/// `remaster verify` exit code and stdout.
fn verify(iso: &Path) -> (Option<i32>, String) {
    let o = remaster_bin().arg("verify").arg(iso).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// OK on the stock fixture, on a pungi-style `xorriso -boot_image any replay` remaster (with
/// its MD5 implanted again, as mkksiso does), on our output and on our edit of the replay.
#[test]
fn verify_passes_stock_replay_and_ours() {
    let fixture = el10_fixture_iso();
    let scratch = scratch_dir();
    let dvd = scratch.path().join("dvd.iso");
    let efiboot = fixture.with_file_name("efiboot.img");
    let (ok, out) = run_tool(
        "xorriso",
        &[
            "-indev",
            image_str(&fixture),
            "-outdev",
            image_str(&dvd),
            "-boot_image",
            "any",
            "replay",
            "-joliet",
            "on",
            "-map",
            image_str(&efiboot),
            "/images/efiboot.img",
        ],
    );
    assert!(ok, "{out}");
    reimplant_md5(&dvd);
    // Our edit of the replayed image (no Gap1, padding behind the backup GPT, its
    // protective MBR ending at the backup GPT) verifies too.
    let dvd_edited = scratch.path().join("dvd-edited.iso");
    let module = megaraid_sas();
    run_remaster(
        &dvd,
        &[
            "--add-module",
            module.to_str().unwrap(),
            "--cmdline",
            MARKER,
        ],
        &dvd_edited,
    );
    for iso in [fixture, dvd, edited(), dvd_edited] {
        let (code, out) = verify(&iso);
        assert_eq!(code, Some(0), "{}:\n{out}", iso.display());
        for name in [
            "grub2-boot-info",
            "efi-entry",
            "partition-1",
            "partition-tree",
        ] {
            assert!(out.contains(&format!("ok   {name}:")), "{name}:\n{out}");
        }
    }
}

/// Rewrites the GPT of `image` (both copies, CRCs recomputed) after `edit` changed the entry
/// array.
fn rewrite_gpt(image: &mut [u8], edit: impl Fn(&mut [u8])) {
    let h = 512;
    let entries_lba = u64_at(image, h + 72) as usize;
    let n = u32_at(image, h + 80) as usize;
    let size = u32_at(image, h + 84) as usize;
    let backup_lba = u64_at(image, h + 32) as usize;
    let mut entries = image[entries_lba * 512..entries_lba * 512 + n * size].to_vec();
    edit(&mut entries);
    let crc = crc32fast::hash(&entries);
    let fix = |image: &mut [u8], at: usize, entries_at: usize| {
        image[entries_at..entries_at + entries.len()].copy_from_slice(&entries);
        image[at + 88..at + 92].copy_from_slice(&crc.to_le_bytes());
        image[at + 16..at + 20].copy_from_slice(&[0; 4]);
        let hcrc = crc32fast::hash(&image[at..at + 92]);
        image[at + 16..at + 20].copy_from_slice(&hcrc.to_le_bytes());
    };
    fix(image, h, entries_lba * 512);
    let b = backup_lba * 512;
    let backup_entries = u64_at(image, b + 72) as usize * 512;
    fix(image, b, backup_entries);
}

/// Each structure left stale fails its own line of `verify` (exit 1): the grub2 boot info, the
/// El Torito EFI entry, p1's end, the partition tree.
#[test]
fn verify_fails_each_stale_structure() {
    let ours = edited();
    let good = fs::read(&ours).unwrap();
    let scratch = scratch_dir();
    let eltorito = file_extents(&ours)
        .into_iter()
        .find(|(p, _, _)| p == "/images/eltorito.img")
        .unwrap()
        .1 as usize;
    let (p1_first, p1_last) = gpt_partition(&ours, 1);
    let (p2_first, _) = gpt_partition(&ours, 2);
    let catalog = u32_at(&good, 17 * 2048 + 71) as usize * 2048;
    let efi_entry = (0..4 * 2048)
        .step_by(32)
        .map(|at| catalog + at)
        .find(|&at| at != catalog && u32_at(&good, at + 8) as u64 == p2_first / 4)
        .expect("the EFI entry");
    // The partition tree's record of the initrd, stale: the fixture's extent (the initrd's
    // directory did not move, so the record is at the same place in both).
    let image = remaster::iso::Image::open(fs::File::open(&ours).unwrap()).unwrap();
    let rec = image
        .partition
        .as_ref()
        .unwrap()
        .primary
        .find("images/pxeboot/initrd.img")
        .unwrap()
        .records[0] as usize;
    let fixture = fs::read(el10_fixture_iso()).unwrap();
    assert_ne!(good[rec + 2..rec + 18], fixture[rec + 2..rec + 18]);
    type Break = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Break)> = vec![
        (
            "grub2-boot-info",
            Box::new(move |b| {
                let at = eltorito * 2048 + 2548;
                b[at..at + 8].copy_from_slice(&(((eltorito + 16) * 4 + 5) as u64).to_le_bytes());
            }),
        ),
        (
            "efi-entry",
            Box::new(move |b| {
                let lba = u32_at(b, efi_entry + 8) + 4;
                b[efi_entry + 8..efi_entry + 12].copy_from_slice(&lba.to_le_bytes());
            }),
        ),
        (
            "partition-1",
            Box::new(move |b| {
                rewrite_gpt(b, |e| {
                    assert_eq!(u64_at(e, 32), p1_first);
                    e[40..48].copy_from_slice(&(p1_last - 4096).to_le_bytes());
                })
            }),
        ),
        (
            "partition-tree",
            Box::new(move |b| b[rec + 2..rec + 18].copy_from_slice(&fixture[rec + 2..rec + 18])),
        ),
    ];
    for (name, broke) in cases {
        let mut bytes = good.clone();
        broke(&mut bytes);
        let out = scratch.path().join(format!("{name}.iso"));
        fs::write(&out, bytes).unwrap();
        reimplant_md5(&out);
        let (code, report) = verify(&out);
        assert_eq!(code, Some(1), "{name} left stale, verify passed:\n{report}");
        assert!(
            report.contains(&format!("FAIL {name}:")),
            "{name}:\n{report}"
        );
    }
}

/// `--volid` renames both views' descriptors (whole disk and partition 1) and the label in
/// all three configs; `--rm-args` edits them in place; the result verifies.
#[test]
fn volid_and_rm_args_reach_both_views_and_all_configs() {
    let scratch = scratch_dir();
    let out = scratch.path().join("volid.iso");
    run_remaster(
        &el10_fixture_iso(),
        &["--volid", "NEW-EL10-LABEL", "--rm-args", "quiet"],
        &out,
    );
    let p1 = scratch.path().join("p1.img");
    cut_partition(&out, 1, &p1);
    for iso in [&out, &p1] {
        let pvd = xorriso(iso, &["-pvd_info"]);
        assert!(pvd.contains("Volume Id    : NEW-EL10-LABEL"), "{pvd}");
    }
    let esp = scratch.path().join("esp.img");
    cut_partition(&out, 2, &esp);
    let (ok, esp_cfg) = run_tool("mtype", &["-i", image_str(&esp), "::EFI/BOOT/grub.cfg"]);
    assert!(ok, "{esp_cfg}");
    let bios = scratch.path().join("bios.cfg");
    extract_from_iso(&p1, "/boot/grub2/grub.cfg", &bios);
    for text in [esp_cfg, fs::read_to_string(&bios).unwrap()] {
        assert!(
            text.contains("inst.stage2=hd:LABEL=NEW-EL10-LABEL") && !text.contains(" quiet"),
            "{text}"
        );
    }
    let (code, report) = verify(&out);
    assert_eq!(code, Some(0), "{report}");
}

//! The graft writer: a new ISO from an input ISO in one streaming pass with a minimal diff.
//!
//! How an edit is laid out ([`plan_layout`]):
//! - Every byte of the input is copied unchanged except the patched ranges listed in the
//!   [`Layout`]; new data goes to new extents after the old end of the volume.
//! - Extents that need not change never move: El Torito boot images, the boot catalog and
//!   files covered by an MBR/GPT partition (efiboot.img) cannot be replaced; they can be
//!   rewritten in place ([`NewContent::InPlace`]: same size, same extent).
//! - A replaced file whose new content is small [`NewContent::Bytes`] that fits the sectors
//!   it had (and whose extent no other name shares) is rewritten in place; otherwise it gets
//!   a new extent. Paths sharing one extent (hard links) that are replaced with equal
//!   content keep sharing one new extent. Every directory record naming a replaced extent
//!   (ISO 9660 and Joliet) gets the new LBA and size; its Rock Ridge data is untouched.
//! - Added files: the directory that receives them is regenerated (old records copied,
//!   new records inserted in sort order). If it still fits its old extent it is rewritten in
//!   place, else it moves to the end and every record pointing at it (its entry in the
//!   parent, its `.`, its children's `..`, the descriptor's root record) is repointed. New
//!   directories are created at the end. Both trees are handled (on EL10 media all four:
//!   ISO 9660 and Joliet of the whole disk and of partition 1, the latter with addresses
//!   relative to the partition; see `appended`); if any directory moved or was created,
//!   that tree's path tables are rebuilt at the end.
//! - If the volume grew: PVD and SVD volume sizes, MBR partitions that covered the old end,
//!   the GPT (partitions covering the old end, last_usable, primary header, backup entries
//!   and header at the new end, CRCs) follow. The tail is padded as xorriso does: 300 KiB,
//!   then up to a 1 MiB boundary when the input was 1 MiB aligned; the backup GPT is in the
//!   last 512-byte sectors, inside the volume. The stale old backup header is zeroed.
//!   An image laid out by `isohybrid --uefi` (EL8: the backup GPT in a 1 MiB padding after
//!   the volume) is re-laid as isohybrid lays it instead (`isohybrid`).
//! - In-place edits become patches applied over everything else. The output is then
//!   written once, sequentially (through
//!   `sink`: direct I/O from aligned buffers); with `implant_md5` every byte also goes
//!   through [`Md5Stream`] (on a second thread, or in a read-only pass started earlier by
//!   [`Prepared::start_checksum`]) and the field is written last, so nothing of the output
//!   is read back. When anything changes,
//!   the PVD application-use field (the old isomd5sum) is blanked, so an output written
//!   without `implant_md5` carries no checksum rather than a stale one.
//! - Faults: see [`write`] (temporary file, preallocation, fsync, rename, input stamps).
//!
//! The phases live in one file each: the data model (`model`), planning (`layout`, with
//! directory generation in `dirgen`, path tables in `path_table` and the grown system area
//! in `system_area`), patch merging (`patch`), the streaming pass (`stream`) and the atomic
//! output (`output`).

mod appended;
mod dirgen;
mod isohybrid;
mod layout;
mod model;
mod output;
mod patch;
mod path_table;
mod stream;
mod system_area;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use layout::plan_layout;
pub use model::{EditPlan, Layout, NewContent, Placement};
pub use output::{abort_partial_outputs, test_pause, InputStamp, PartialOutput};

use super::md5::Md5Stream;
use super::output_guard;
use super::sink::Pace;
use super::Image;
use crate::Error;
use model::Source;
use output::{
    changed_input, check_output, check_unchanged, partial_outputs, Registered, TEST_PAUSE_ENV,
};
use stream::{stream, ChecksumPass};

#[derive(Default)]
pub struct WriteOptions<'a> {
    /// Overwrite an existing output file.
    pub force: bool,
    /// Called with (bytes written, total bytes) while streaming.
    pub progress: Option<&'a mut dyn FnMut(u64, u64)>,
}

/// What [`write`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WriteSummary {
    pub output: PathBuf,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub placements: Vec<Placement>,
    pub md5_implanted: bool,
}

impl crate::report::Report for WriteSummary {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Wrote {} ({} bytes; input {} bytes){}",
            self.output.display(),
            self.output_bytes,
            self.input_bytes,
            if self.md5_implanted {
                ", isomd5sum implanted"
            } else {
                ""
            }
        )?;
        for p in &self.placements {
            writeln!(
                out,
                "  {:<32} lba {:>9} {:>12} bytes{}",
                p.what,
                p.lba,
                p.len,
                if p.in_place { " (in place)" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// Writes `output` from `input` with `plan` applied, in one sequential pass (the isomd5sum
/// is computed on the fly and written last; nothing of the output is read back).
///
/// Safety of the result: the input is opened read-only. The output is written to a
/// temporary file `.remaster-*` in the destination directory, preallocated (a full disk is
/// reported before any byte is written; where the filesystem cannot preallocate, its free
/// space is checked instead), fsync'ed and renamed: the output appears complete or not at
/// all. On an error the temporary file is removed; a SIGINT/SIGTERM handler that calls
/// [`abort_partial_outputs`] removes it too; only a `kill -9` (or a crash of the machine)
/// can leave it behind, never at the output's name, and the next run into the same folder
/// removes it (see [`output_guard`]). An input (the ISO, or a file
/// added from disk) whose size or modification time changed between planning (see
/// [`EditPlan::input_stamp`]) and the end of writing is refused before the rename.
/// Refuses an existing output without `opts.force` and an output that is the input.
pub fn write(
    input: &Path,
    output: &Path,
    plan: EditPlan,
    opts: WriteOptions<'_>,
) -> crate::Result<WriteSummary> {
    check_output(input, output, opts.force)?;
    write_prepared(prepare(input, plan)?, output, opts)
}

/// An edit laid out against its input, ready to stream: [`prepare`] it, optionally
/// [`Prepared::start_checksum`], then [`write_prepared`].
pub struct Prepared {
    input: PathBuf,
    file: File,
    input_stamp: InputStamp,
    layout: Arc<Layout>,
    /// The isomd5sum to compute while writing (when implanting and no checksum pass runs).
    md5: Option<Md5Stream>,
    /// The isomd5sum pass started by [`Prepared::start_checksum`] (when implanting).
    checksum: Option<ChecksumPass>,
}

/// Opens `input` and lays `plan` out against it: everything the
/// write needs, nothing written.
pub fn prepare(input: &Path, plan: EditPlan) -> crate::Result<Prepared> {
    let mut file = File::open(input).map_err(|e| Error::input(input, e))?;
    let image = Image::open(&mut file).map_err(|e| e.into_input(input))?;
    prepare_opened(input, file, &image, plan)
}

/// [`prepare`] for media the caller has already opened: `file` is `input` opened
/// read-only and `image` was parsed from it, so the metadata is read once.
pub fn prepare_opened(
    input: &Path,
    mut file: File,
    image: &Image,
    plan: EditPlan,
) -> crate::Result<Prepared> {
    let input_stamp = InputStamp::of_file(&file).map_err(|e| Error::input(input, e))?;
    if plan.input_stamp.is_some_and(|s| s != input_stamp) {
        return Err(changed_input(input));
    }
    let layout = plan_layout(image, &mut file, &plan).map_err(|e| e.in_file(input))?;
    let md5 = if plan.implant_md5 {
        if image.pvd().offset() != crate::iso::md5::PVD_OFFSET {
            return Err(Error::input(
                input,
                "cannot implant an isomd5sum: the primary volume descriptor is not at sector 16",
            ));
        }
        Some(
            Md5Stream::for_output(layout.volume_bytes, &image.app_use)
                .map_err(|e| Error::input(input, e))?,
        )
    } else {
        None
    };
    Ok(Prepared {
        input: input.to_path_buf(),
        file,
        input_stamp,
        layout: Arc::new(layout),
        md5,
        checksum: None,
    })
}

impl Prepared {
    /// Size of the output file in bytes.
    pub fn output_bytes(&self) -> u64 {
        self.layout.output_bytes
    }

    /// Starts computing the isomd5sum of the planned output on its own thread now: a pass
    /// that reads and hashes but writes nothing, so it may run while the plan's checks
    /// (the module verdicts) still do. [`write_prepared`] then only writes, and implants
    /// the result. Hashing is the floor of every write (one sequential MD5 over the whole
    /// output), so starting it early is what shortens the run. No-op without `implant_md5`.
    pub fn start_checksum(&mut self) -> crate::Result<()> {
        let Some(md5) = self.md5.take() else {
            return Ok(());
        };
        let file = self
            .file
            .try_clone()
            .map_err(|e| Error::input(&self.input, e))?;
        let layout = Arc::clone(&self.layout);
        let pace = Arc::new(Pace::default());
        let pass_pace = Arc::clone(&pace);
        let job = std::thread::Builder::new()
            .name("isomd5sum-pass".into())
            .spawn(move || {
                stream(&file, None, &layout, Some(md5), Some(&pass_pace), &mut None)
                    .map(|(_, md5)| md5)
            })
            .map_err(|e| Error::input(&self.input, e))?;
        self.checksum = Some(ChecksumPass {
            pace,
            job: Some(job),
        });
        Ok(())
    }
}

/// Writes a [`prepare`]d edit to `output` (see [`write`]).
pub fn write_prepared(
    prepared: Prepared,
    output: &Path,
    mut opts: WriteOptions<'_>,
) -> crate::Result<WriteSummary> {
    let Prepared {
        input,
        file,
        input_stamp,
        layout,
        md5,
        checksum,
    } = prepared;
    let implant_md5 = md5.is_some() || checksum.is_some();
    let input = input.as_path();
    check_output(input, output, opts.force)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let oerr = |e: &dyn std::fmt::Display| Error::output(output, e);
    let tmp = output_guard::create(&dir, ".remaster-", output, layout.output_bytes)?;
    let registered = Registered::new(tmp.path())?;
    output_guard::reserve(tmp.as_file(), output, layout.output_bytes)?;
    let werr = |e| output_guard::write_failed(output, tmp.as_file(), layout.output_bytes, e);
    if let Some(ms) = std::env::var(TEST_PAUSE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let (written, md5) = match checksum {
        Some(pass) => {
            let (written, _) = stream(
                &file,
                Some(tmp.as_file()),
                &layout,
                None,
                Some(&pass.pace),
                &mut opts.progress,
            )
            .map_err(werr)?;
            (written, Some(pass.finish().map_err(|e| oerr(&e))?))
        }
        None => stream(
            &file,
            Some(tmp.as_file()),
            &layout,
            md5,
            None,
            &mut opts.progress,
        )
        .map_err(werr)?,
    };
    if written != layout.output_bytes {
        return Err(oerr(&format!(
            "internal error: wrote {written} bytes, planned {}",
            layout.output_bytes
        )));
    }
    if let Some(md5) = md5 {
        use std::os::unix::fs::FileExt;
        let field = md5
            .finish()
            .and_then(|f| f.to_bytes())
            .map_err(|e| oerr(&e))?;
        tmp.as_file()
            .write_all_at(&field, crate::iso::md5::APPDATA_OFFSET)
            .map_err(werr)?;
    }
    tmp.as_file().sync_all().map_err(werr)?;
    output_guard::seal(tmp.as_file(), layout.output_bytes).map_err(werr)?;
    let len = tmp.as_file().metadata().map_err(|e| oerr(&e))?.len();
    if len != layout.output_bytes {
        return Err(oerr(&format!(
            "internal error: the file has {len} bytes, planned {}",
            layout.output_bytes
        )));
    }
    check_unchanged(input, Some(&file), &input_stamp)?;
    for (_, src) in &layout.segments {
        if let Source::File { path, stamp, .. } = src {
            check_unchanged(path, None, stamp)?;
        }
    }
    {
        let state = partial_outputs();
        if state.aborted {
            return Err(oerr(&"interrupted"));
        }
        tmp.persist(output).map_err(|e| oerr(&e.error))?;
    }
    drop(registered);
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(WriteSummary {
        output: output.to_path_buf(),
        input_bytes: layout.input_bytes,
        output_bytes: layout.output_bytes,
        placements: layout.placements.clone(),
        md5_implanted: implant_md5,
    })
}

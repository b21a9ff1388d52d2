//! The one sequential pass: the input with its patches, then the appended segments, then
//! the padding and the backup GPT, through the sink (and the isomd5sum when asked). Also
//! the hashing-only pass that may run ahead of the write.

use std::fs::File;
use std::io;
use std::sync::Arc;

use super::model::{Layout, Source};
use crate::iso::md5::Md5Stream;
use crate::iso::sink::{Pace, Sink};
use crate::iso::SECTOR;

/// Streams the output of `layout` from `input` into `out` (nowhere for a hashing-only
/// pass), feeding every byte in order to `md5` when given. Returns the bytes streamed and
/// the finished checksum stream.
pub(super) fn stream(
    input: &File,
    out: Option<&File>,
    layout: &Layout,
    md5: Option<Md5Stream>,
    pace: Option<&Pace>,
    progress: &mut Option<&mut dyn FnMut(u64, u64)>,
) -> io::Result<(u64, Option<Md5Stream>)> {
    let mut sink = Sink::new(out, layout.output_bytes, md5, pace, progress)?;
    // 1. The input, patched: copy the gaps, write the patches.
    let old_end = layout.copy_end.div_ceil(SECTOR) * SECTOR;
    let mut pos = 0u64;
    let copy_gap = |sink: &mut Sink, from: u64, to: u64| -> io::Result<()> {
        let real_end = to.min(layout.copy_end);
        if real_end > from {
            sink.copy(input, from, real_end - from)?;
        }
        sink.zeros(to - real_end.max(from))
    };
    for (off, data) in &layout.patches {
        if *off >= old_end {
            break;
        }
        copy_gap(&mut sink, pos, *off)?;
        let end = (off + data.len() as u64).min(old_end);
        sink.write(data.get(..(end - off) as usize).unwrap_or(data))?;
        pos = end;
    }
    copy_gap(&mut sink, pos, old_end)?;
    // 2. Appended extents.
    for (lba, src) in &layout.segments {
        let at = u64::from(*lba) * SECTOR;
        sink.zeros(at.saturating_sub(sink.position()))?;
        match src {
            Source::Bytes(b) => sink.write(b)?,
            Source::OriginalPlus { offset, len, tail } => {
                sink.copy(input, *offset, *len)?;
                sink.write(tail)?;
            }
            Source::File { path, len, .. } => sink.copy(&File::open(path)?, 0, *len)?,
        }
        let pad = (SECTOR - sink.position() % SECTOR) % SECTOR;
        sink.zeros(pad)?;
    }
    // 3. Padding and the backup GPT.
    let tail_at = layout.output_bytes.saturating_sub(layout.tail.len() as u64);
    sink.zeros(tail_at.saturating_sub(sink.position()))?;
    sink.write(&layout.tail)?;
    sink.finish()
}

/// A running hashing-only pass (see [`Prepared::start_checksum`]). Dropping it stops it.
pub(super) struct ChecksumPass {
    pub(super) pace: Arc<Pace>,
    pub(super) job: Option<std::thread::JoinHandle<io::Result<Option<Md5Stream>>>>,
}

impl ChecksumPass {
    pub(super) fn finish(mut self) -> io::Result<Md5Stream> {
        self.job
            .take()
            .ok_or_else(|| io::Error::other("the isomd5sum pass stopped"))?
            .join()
            .map_err(|_| io::Error::other("the isomd5sum pass failed"))??
            .ok_or_else(|| io::Error::other("the isomd5sum pass computed nothing"))
    }
}

impl Drop for ChecksumPass {
    fn drop(&mut self) {
        self.pace.cancel();
        if let Some(job) = self.job.take() {
            let _ = job.join();
        }
    }
}

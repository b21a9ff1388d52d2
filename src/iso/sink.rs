//! Where the writer's output bytes go, in order: the output file, the isomd5sum (on a
//! second thread) and the progress callback.
//!
//! Why it is shaped this way (measured on a 1 GiB ISO, see README § Measured):
//! - The output is assembled in a few large, page-aligned buffers. Each full buffer is
//!   written with `O_DIRECT` when the filesystem allows it. Buffered writes of 1 GiB cost
//!   0.3–1.9 s of kernel CPU in copies and writeback, and the final fsync then waits
//!   0.4–0.6 s for the dirty pages. Direct writes cost about 0.2 s of CPU and leave almost
//!   nothing for fsync, so the second core stays free for MD5, the real floor.
//! - The same buffer goes to the hashing thread after it has been written, so every byte
//!   is copied once, from the input's page cache into the buffer.
//! - A filesystem without `O_DIRECT` (tmpfs, some FUSE) or one that refuses a write's
//!   alignment falls back to ordinary writes for the rest of the file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use super::md5::Md5Stream;

/// Size of one output buffer. Direct writes of 4 MiB reach the disk's sequential speed.
const BUFFER: usize = 4 << 20;
/// Buffers circulating between the writer and the hashing thread (bounded memory:
/// `BUFFERS × BUFFER` bytes).
const BUFFERS: usize = 4;
/// Alignment for direct I/O: the page size covers every logical block size in use.
const ALIGN: usize = 4096;

/// A heap buffer whose usable part starts on an [`ALIGN`] boundary, as `O_DIRECT`
/// requires. Built on a plain `Vec` (its heap address does not change when the value
/// moves between threads), so no unsafe allocation is needed.
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let storage = vec![0u8; len + ALIGN];
        let start = (ALIGN - storage.as_ptr() as usize % ALIGN) % ALIGN;
        AlignedBuf { storage, start }
    }

    fn bytes(&self) -> &[u8] {
        self.storage
            .get(self.start..self.start + BUFFER)
            .unwrap_or(&self.storage)
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.start, self.start + BUFFER);
        let whole = self.storage.len();
        self.storage
            .get_mut(start.min(whole)..end.min(whole))
            .unwrap_or_default()
    }
}

/// Computes the isomd5sum on a second thread. Buffers travel writer → hasher (filled)
/// and back (empty); a fixed number circulate, in order.
struct HashThread {
    filled: Option<mpsc::SyncSender<(AlignedBuf, usize)>>,
    empty: mpsc::Receiver<AlignedBuf>,
    worker: Option<std::thread::JoinHandle<Md5Stream>>,
}

fn hasher_stopped() -> io::Error {
    io::Error::other("the isomd5sum thread stopped")
}

impl HashThread {
    fn start(mut md5: Md5Stream) -> io::Result<Self> {
        let (filled_tx, filled_rx) = mpsc::sync_channel::<(AlignedBuf, usize)>(BUFFERS);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<AlignedBuf>(BUFFERS);
        for _ in 0..BUFFERS {
            empty_tx
                .send(AlignedBuf::new(BUFFER))
                .map_err(|_| hasher_stopped())?;
        }
        let worker = std::thread::Builder::new()
            .name("isomd5sum".into())
            .spawn(move || {
                for (buf, n) in filled_rx {
                    md5.update(buf.bytes().get(..n).unwrap_or_default());
                    if empty_tx.send(buf).is_err() {
                        break;
                    }
                }
                md5
            })?;
        Ok(HashThread {
            filled: Some(filled_tx),
            empty: empty_rx,
            worker: Some(worker),
        })
    }

    fn finish(mut self) -> io::Result<Md5Stream> {
        drop(self.filled.take());
        self.worker
            .take()
            .ok_or_else(hasher_stopped)?
            .join()
            .map_err(|_| io::Error::other("the isomd5sum thread failed"))
    }
}

/// Couples a hashing-only pass and a writing-only pass over the same output bytes (the
/// isomd5sum computed while the plan's checks still run, the file written once they pass).
/// The hashing pass stays at most [`LEAD`] bytes ahead of the writing pass once that has
/// started, so both read the input while it is still in the page cache.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    written: AtomicU64,
    cancelled: AtomicBool,
}

/// How far the hashing pass may run ahead of the writing pass.
const LEAD: u64 = 256 << 20;

impl Pace {
    /// Stops the hashing pass at its next buffer.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Called by the hashing pass before it reads bytes from `position` on.
    fn hold(&self, position: u64) -> io::Result<()> {
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return Err(io::Error::other("checksum pass cancelled"));
            }
            let written = self.written.load(Ordering::Relaxed);
            if written == 0 || position <= written + LEAD {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Switches `O_DIRECT` on or off for `file`; false when the filesystem refuses it.
fn set_direct(file: &File, on: bool) -> bool {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let Ok(flags) = fcntl_getfl(file) else {
        return false;
    };
    let wanted = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    wanted == flags || fcntl_setfl(file, wanted).is_ok()
}

/// Counts the bytes written and reports progress every `PIECE` bytes and at the end.
struct Meter<'a, 'p> {
    done: u64,
    total: u64,
    reported: u64,
    progress: &'a mut Option<&'p mut dyn FnMut(u64, u64)>,
}

/// Bytes between two progress reports.
const PIECE: u64 = 64 << 20;

impl Meter<'_, '_> {
    fn advance(&mut self, n: u64) {
        self.done += n;
        if self.done - self.reported >= PIECE || self.done == self.total {
            self.reported = self.done;
            if let Some(p) = self.progress.as_mut() {
                p(self.done, self.total);
            }
        }
    }
}

/// The output of one write: bytes are appended in order with [`Sink::write`],
/// [`Sink::zeros`] and [`Sink::copy`], then [`Sink::finish`] flushes the last buffer and
/// returns the finished checksum stream.
pub(crate) struct Sink<'a, 'p> {
    /// None: a hashing-only pass.
    out: Option<&'a File>,
    direct: bool,
    pace: Option<&'a Pace>,
    hasher: Option<HashThread>,
    /// Buffers in use when not hashing (the hasher owns the pool otherwise).
    spare: Option<AlignedBuf>,
    current: Option<AlignedBuf>,
    filled: usize,
    /// File offset of the current buffer's first byte.
    flushed: u64,
    meter: Meter<'a, 'p>,
}

impl<'a, 'p> Sink<'a, 'p> {
    /// Starts writing `total` bytes into `out` (from offset 0; nowhere for a hashing-only
    /// pass), hashing them with `md5` when given and reporting to `progress`. With `pace`,
    /// a writing pass publishes how far it got and a hashing-only pass keeps close to it.
    pub(crate) fn new(
        out: Option<&'a File>,
        total: u64,
        md5: Option<Md5Stream>,
        pace: Option<&'a Pace>,
        progress: &'a mut Option<&'p mut dyn FnMut(u64, u64)>,
    ) -> io::Result<Self> {
        let hasher = md5.map(HashThread::start).transpose()?;
        let spare = hasher.is_none().then(|| AlignedBuf::new(BUFFER));
        if let Some(p) = progress.as_mut() {
            p(0, total);
        }
        Ok(Sink {
            out,
            direct: out.is_some_and(|f| set_direct(f, true)),
            pace,
            hasher,
            spare,
            current: None,
            filled: 0,
            flushed: 0,
            meter: Meter {
                done: 0,
                total,
                reported: 0,
                progress,
            },
        })
    }

    /// Bytes appended so far.
    pub(crate) fn position(&self) -> u64 {
        self.meter.done
    }

    /// The unfilled part of the current buffer (taking a buffer when none is current).
    fn space(&mut self) -> io::Result<&mut [u8]> {
        if self.current.is_none() {
            if let (None, Some(pace)) = (self.out, self.pace) {
                pace.hold(self.flushed)?;
            }
            let buf = match (&self.hasher, self.spare.take()) {
                (_, Some(buf)) => buf,
                (Some(h), None) => h.empty.recv().map_err(|_| hasher_stopped())?,
                (None, None) => AlignedBuf::new(BUFFER),
            };
            self.current = Some(buf);
            self.filled = 0;
        }
        let filled = self.filled;
        Ok(self
            .current
            .as_mut()
            .map(|b| b.bytes_mut().get_mut(filled..).unwrap_or_default())
            .unwrap_or_default())
    }

    /// Marks `n` more bytes of the current buffer as filled; writes it out when full.
    fn commit(&mut self, n: usize) -> io::Result<()> {
        self.filled += n;
        self.meter.advance(n as u64);
        if self.filled >= BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the filled part of the current buffer and hands it to the hasher.
    fn flush(&mut self) -> io::Result<()> {
        let Some(buf) = self.current.take() else {
            return Ok(());
        };
        let n = self.filled;
        if let Some(out) = self.out {
            let data = buf.bytes().get(..n).unwrap_or_default();
            match out.write_all_at(data, self.flushed) {
                // A direct write the filesystem will not take (alignment of the last,
                // partial buffer, or no direct I/O after all): write it, and the rest,
                // through the page cache.
                Err(e)
                    if self.direct
                        && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
                    self.direct = !set_direct(out, false);
                    if self.direct {
                        return Err(e);
                    }
                    out.write_all_at(data, self.flushed)?;
                }
                other => other?,
            }
            if let Some(pace) = self.pace {
                pace.written
                    .store(self.flushed + n as u64, Ordering::Relaxed);
            }
        }
        self.flushed += n as u64;
        self.filled = 0;
        match &self.hasher {
            Some(h) => h
                .filled
                .as_ref()
                .ok_or_else(hasher_stopped)?
                .send((buf, n))
                .map_err(|_| hasher_stopped())?,
            None => self.spare = Some(buf),
        }
        Ok(())
    }

    /// Appends `data`.
    pub(crate) fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let space = self.space()?;
            let n = data.len().min(space.len());
            let (piece, rest) = data.split_at(n);
            space
                .get_mut(..n)
                .unwrap_or_default()
                .copy_from_slice(piece);
            self.commit(n)?;
            data = rest;
        }
        Ok(())
    }

    /// Appends `len` zero bytes.
    pub(crate) fn zeros(&mut self, len: u64) -> io::Result<()> {
        let mut left = len;
        while left > 0 {
            let space = self.space()?;
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(space.len());
            space.get_mut(..n).unwrap_or_default().fill(0);
            self.commit(n)?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Appends exactly `len` bytes of `from` starting at `offset`, read straight into the
    /// output buffers.
    pub(crate) fn copy(&mut self, from: &File, offset: u64, len: u64) -> io::Result<()> {
        let mut done = 0u64;
        while done < len {
            let space = self.space()?;
            let n = usize::try_from(len - done)
                .unwrap_or(usize::MAX)
                .min(space.len());
            from.read_exact_at(space.get_mut(..n).unwrap_or_default(), offset + done)
                .map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "source ended {} bytes early (did it change while being read?)",
                                len - done
                            ),
                        )
                    } else {
                        e
                    }
                })?;
            self.commit(n)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Writes what is left, stops hashing and leaves the file in ordinary (buffered)
    /// mode for the caller's last small writes. Returns the bytes written and the
    /// checksum stream.
    pub(crate) fn finish(mut self) -> io::Result<(u64, Option<Md5Stream>)> {
        self.flush()?;
        if let (Some(out), true) = (self.out, self.direct) {
            set_direct(out, false);
        }
        let md5 = self.hasher.take().map(HashThread::finish).transpose()?;
        Ok((self.flushed, md5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_full_size() {
        for _ in 0..8 {
            let mut b = AlignedBuf::new(BUFFER);
            assert_eq!(b.bytes().as_ptr() as usize % ALIGN, 0);
            assert_eq!(b.bytes().len(), BUFFER);
            assert_eq!(b.bytes_mut().len(), BUFFER);
        }
    }

    #[test]
    fn sink_writes_in_order_across_buffers_with_and_without_hashing() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let src: Vec<u8> = (0..(BUFFER * 2 + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        std::fs::write(&src_path, &src).unwrap();
        let from = File::open(&src_path).unwrap();
        for hash in [false, true] {
            let out_path = dir.path().join(format!("out-{hash}"));
            let out = File::create(&out_path).unwrap();
            let mut expected = Vec::new();
            let mut progress = None;
            // Not a multiple of any block size: the last direct write is refused with
            // EINVAL and must fall back to an ordinary write.
            let total = (BUFFER * 3 + 1000) as u64;
            let md5 = hash.then(|| Md5Stream::new(total).unwrap());
            let mut sink = Sink::new(Some(&out), total, md5, None, &mut progress).unwrap();
            sink.write(b"head").unwrap();
            expected.extend_from_slice(b"head");
            sink.copy(&from, 3, src.len() as u64 - 3).unwrap();
            expected.extend_from_slice(&src[3..]);
            let pad = total - expected.len() as u64;
            sink.zeros(pad).unwrap();
            expected.resize(total as usize, 0);
            assert_eq!(sink.position(), total);
            let (written, md5) = sink.finish().unwrap();
            assert_eq!(written, total);
            assert_eq!(md5.is_some(), hash);
            if let Some(md5) = md5 {
                let mut direct = Md5Stream::new(total).unwrap();
                direct.update(&expected);
                assert_eq!(
                    md5.finish().unwrap().to_bytes().unwrap(),
                    direct.finish().unwrap().to_bytes().unwrap()
                );
            }
            drop(out);
            assert!(std::fs::read(&out_path).unwrap() == expected);
        }
    }

    #[test]
    fn copy_past_the_end_of_the_source_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        std::fs::write(&src_path, b"short").unwrap();
        let from = File::open(&src_path).unwrap();
        let out = File::create(dir.path().join("out")).unwrap();
        let mut progress = None;
        let mut sink = Sink::new(Some(&out), 100, None, None, &mut progress).unwrap();
        let err = sink.copy(&from, 0, 100).unwrap_err();
        assert!(err.to_string().contains("ended 100 bytes early"), "{err}");
    }
}

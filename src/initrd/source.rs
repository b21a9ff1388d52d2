//! The byte sources the walker reads entries from: the image itself (uncompressed data is
//! seeked over, never read) and one compressed stream decoded through a fixed buffer, under
//! the walk's decompression budget.

use std::io::{Read, Seek, SeekFrom};

use super::{InitrdError, Result};
use crate::codec::StreamDecoder;

/// A byte stream the newc parser reads: the image itself or a decoded segment.
pub(super) trait Source {
    /// Offset of the next byte in this stream (absolute in the image, or in the decoded data).
    fn pos(&self) -> u64;
    /// Buffered bytes (refilling if empty); empty at the end of the stream.
    fn fill(&mut self) -> Result<&[u8]>;
    fn consume(&mut self, n: usize);
    /// Skips `n` bytes; error if the stream ends first.
    fn skip(&mut self, n: u64) -> Result<()>;

    fn peek(&mut self) -> Result<Option<u8>> {
        Ok(self.fill()?.first().copied())
    }
    fn skip_zeros(&mut self) -> Result<()> {
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(());
            }
            let n = buf.iter().take_while(|b| **b == 0).count();
            let all = n == buf.len();
            self.consume(n);
            if !all {
                return Ok(());
            }
        }
    }
    /// Reads exactly `out.len()` bytes; false if the stream ended first.
    fn read_exact_or_eof(&mut self, out: &mut [u8]) -> Result<bool> {
        let mut done = 0;
        while done < out.len() {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(false);
            }
            let n = buf.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&buf[..n]);
            self.consume(n);
            done += n;
        }
        Ok(true)
    }
}

/// Buffered view of the image with absolute positions; seeks over data instead of reading it.
pub(super) struct Input<R> {
    pub(super) r: R,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    /// Absolute offset of `buf[start]`.
    pub(super) pos: u64,
    pub(super) len: u64,
}

impl<R: Read + Seek> Input<R> {
    pub(super) fn new(mut r: R) -> Result<Self> {
        let len = r.seek(SeekFrom::End(0))?;
        r.seek(SeekFrom::Start(0))?;
        Ok(Input {
            r,
            buf: vec![0u8; 256 << 10],
            start: 0,
            end: 0,
            pos: 0,
            len,
        })
    }

    /// Up to `n` bytes from the current position without consuming them.
    pub(super) fn peek_n(&mut self, n: usize) -> Result<Vec<u8>> {
        if self.end - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n.min(self.buf.len()) {
                let got = self.r.read(&mut self.buf[self.end..])?;
                if got == 0 {
                    break;
                }
                self.end += got;
            }
        }
        let have = (self.end - self.start).min(n);
        Ok(self.buf[self.start..self.start + have].to_vec())
    }
}

impl<R: Read + Seek> Source for Input<R> {
    fn pos(&self) -> u64 {
        self.pos
    }
    fn fill(&mut self) -> Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = self.r.read(&mut self.buf)?;
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.pos += n as u64;
    }
    fn skip(&mut self, n: u64) -> Result<()> {
        let target = self
            .pos
            .checked_add(n)
            .filter(|t| *t <= self.len)
            .ok_or_else(|| {
                InitrdError::at(
                    self.pos,
                    format!(
                        "truncated: {n} more bytes expected, the image ends at {}",
                        self.len
                    ),
                )
            })?;
        let buffered = (self.end - self.start) as u64;
        if n <= buffered {
            self.start += n as usize;
        } else {
            self.r.seek(SeekFrom::Start(target))?;
            self.start = 0;
            self.end = 0;
        }
        self.pos = target;
        Ok(())
    }
}

/// The decoded bytes of one compressed segment.
pub(super) struct Decoded<'a, R> {
    pub(super) input: &'a mut Input<R>,
    pub(super) dec: StreamDecoder,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    /// Decoded offset of `buf[start]`.
    pub(super) pos: u64,
    pub(super) ended: bool,
    /// Decoded bytes still allowed (bomb cap).
    pub(super) budget: u64,
    pub(super) seg_offset: u64,
}

impl<R: Read + Seek> Source for Decoded<'_, R> {
    fn pos(&self) -> u64 {
        self.pos
    }
    fn fill(&mut self) -> Result<&[u8]> {
        while self.start == self.end && !self.ended {
            let chunk = self.input.fill()?;
            let at_eof = chunk.is_empty();
            let step = self.dec.step(chunk, &mut self.buf).map_err(|m| {
                InitrdError::new(format!("at decompressed offset {}: {m}", self.pos))
            })?;
            self.input.consume(step.consumed);
            self.start = 0;
            self.end = step.produced;
            if step.produced as u64 > self.budget {
                return Err(InitrdError::new(format!(
                    "decompressed data exceeds the limit (decompression bomb?) at decompressed offset {}",
                    self.pos
                )));
            }
            self.budget -= step.produced as u64;
            if step.ended {
                self.ended = true;
            } else if at_eof && step.produced == 0 {
                return Err(InitrdError::new(format!(
                    "truncated: the compressed stream starting at offset {} ends before its end marker (image ends at {})",
                    self.seg_offset, self.input.len
                )));
            } else if step.consumed == 0 && step.produced == 0 {
                return Err(InitrdError::new("decoder made no progress"));
            }
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.pos += n as u64;
    }
    fn skip(&mut self, mut n: u64) -> Result<()> {
        while n > 0 {
            let avail = self.fill()?.len();
            if avail == 0 {
                return Err(InitrdError::new(format!(
                    "truncated: decompressed data ends at {} inside an entry ({n} more bytes expected)",
                    self.pos
                )));
            }
            let k = (avail as u64).min(n) as usize;
            self.consume(k);
            n -= k as u64;
        }
        Ok(())
    }
}

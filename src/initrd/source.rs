//! The byte sources the walker reads entries from: the image itself (uncompressed data is
//! seeked over, never read) and one compressed stream decoded through a fixed buffer, under
//! the walk's decompression budget.
//!
//! Both keep their unread bytes in a [`Window`] (a fixed buffer and the range not yet
//! consumed), whose one invariant, `start <= end <= buf.len()`, is what makes its few
//! additions and subtractions exact.
//!
//! Parser rules (issue 15): no indexing/slicing and no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

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
        let mut rest = out;
        while !rest.is_empty() {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(false);
            }
            let n = rest.iter_mut().zip(buf).map(|(d, s)| *d = *s).count();
            self.consume(n);
            rest = std::mem::take(&mut rest).get_mut(n..).unwrap_or_default();
        }
        Ok(true)
    }
}

/// A fixed buffer and the part of it not consumed yet, `buf[start..end]`.
///
/// Invariant: `start <= end <= buf.len()` (every method keeps it). The additions below
/// cannot overflow because each result stays at most `buf.len()`.
pub(super) struct Window {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Window {
    pub(super) fn new(size: usize) -> Self {
        Window {
            buf: vec![0u8; size],
            start: 0,
            end: 0,
        }
    }
    /// The unread bytes.
    fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }
    fn is_empty(&self) -> bool {
        self.start >= self.end
    }
    /// Drops up to `n` unread bytes; returns how many were dropped.
    fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.data().len());
        // start + n <= end (n is at most the unread length): never saturates.
        self.start = self.start.saturating_add(n);
        n
    }
    /// The whole buffer, to be refilled from its start; then [`Window::filled`].
    fn whole(&mut self) -> &mut [u8] {
        &mut self.buf
    }
    /// After the buffer was refilled from its start with `n` bytes.
    fn filled(&mut self, n: usize) {
        self.start = 0;
        self.end = n.min(self.buf.len());
    }
    /// Moves the unread bytes to the front and returns the free space after them.
    fn compact(&mut self) -> &mut [u8] {
        let unread = self.data().len();
        self.buf.copy_within(self.start..self.end, 0);
        self.start = 0;
        self.end = unread;
        self.buf.get_mut(unread..).unwrap_or_default()
    }
    /// After `n` bytes were read into the space [`Window::compact`] returned.
    fn grew(&mut self, n: usize) {
        // end + n <= buf.len() for an honest reader; the min keeps the invariant otherwise.
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }
}

/// Buffered view of the image with absolute positions; seeks over data instead of reading it.
pub(super) struct Input<R> {
    r: R,
    window: Window,
    /// Absolute offset of the first unread byte.
    pub(super) pos: u64,
    pub(super) len: u64,
}

impl<R: Read + Seek> Input<R> {
    pub(super) fn new(mut r: R) -> Result<Self> {
        let len = r.seek(SeekFrom::End(0))?;
        r.seek(SeekFrom::Start(0))?;
        Ok(Input {
            r,
            window: Window::new(256 << 10),
            pos: 0,
            len,
        })
    }

    /// Up to `n` bytes from the current position without consuming them.
    pub(super) fn peek_n(&mut self, n: usize) -> Result<Vec<u8>> {
        if self.window.data().len() < n {
            loop {
                let have = self.window.data().len();
                let space = self.window.compact();
                if have >= n || space.is_empty() {
                    break;
                }
                let got = self.r.read(space)?;
                if got == 0 {
                    break;
                }
                self.window.grew(got);
            }
        }
        Ok(self.window.data().iter().take(n).copied().collect())
    }
}

impl<R: Read + Seek> Source for Input<R> {
    fn pos(&self) -> u64 {
        self.pos
    }
    fn fill(&mut self) -> Result<&[u8]> {
        if self.window.is_empty() {
            let got = self.r.read(self.window.whole())?;
            self.window.filled(got);
        }
        Ok(self.window.data())
    }
    fn consume(&mut self, n: usize) {
        let n = self.window.consume(n);
        // pos stays at most the image length (a u64): never saturates.
        self.pos = self.pos.saturating_add(n as u64);
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
        match usize::try_from(n) {
            Ok(k) if k <= self.window.data().len() => {
                self.window.consume(k);
            }
            _ => {
                self.r.seek(SeekFrom::Start(target))?;
                self.window.filled(0);
            }
        }
        self.pos = target;
        Ok(())
    }
}

/// The decoded bytes of one compressed segment.
pub(super) struct Decoded<'a, R> {
    pub(super) input: &'a mut Input<R>,
    pub(super) dec: StreamDecoder,
    window: Window,
    /// Decoded offset of the first unread byte.
    pub(super) pos: u64,
    ended: bool,
    /// Decoded bytes still allowed (bomb cap).
    budget: u64,
    seg_offset: u64,
}

impl<'a, R: Read + Seek> Decoded<'a, R> {
    /// The decoded stream of the segment starting at `seg_offset` (the input is positioned
    /// at its compressed data), allowed to produce at most `budget` bytes.
    pub(super) fn new(
        input: &'a mut Input<R>,
        dec: StreamDecoder,
        budget: u64,
        seg_offset: u64,
    ) -> Self {
        Decoded {
            input,
            dec,
            window: Window::new(256 << 10),
            pos: 0,
            ended: false,
            budget,
            seg_offset,
        }
    }
}

impl<R: Read + Seek> Source for Decoded<'_, R> {
    fn pos(&self) -> u64 {
        self.pos
    }
    fn fill(&mut self) -> Result<&[u8]> {
        while self.window.is_empty() && !self.ended {
            let chunk = self.input.fill()?;
            let at_eof = chunk.is_empty();
            let step = self.dec.step(chunk, self.window.whole()).map_err(|m| {
                InitrdError::new(format!("at decompressed offset {}: {m}", self.pos))
            })?;
            self.input.consume(step.consumed);
            self.window.filled(step.produced);
            self.budget = self
                .budget
                .checked_sub(step.produced as u64)
                .ok_or_else(|| {
                    InitrdError::new(format!(
                        "decompressed data exceeds the limit (decompression bomb?) at decompressed offset {}",
                        self.pos
                    ))
                })?;
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
        Ok(self.window.data())
    }
    fn consume(&mut self, n: usize) {
        let n = self.window.consume(n);
        // pos stays at most the bytes decoded, which the budget (a u64) caps: never saturates.
        self.pos = self.pos.saturating_add(n as u64);
    }
    fn skip(&mut self, n: u64) -> Result<()> {
        let mut left = n;
        while left > 0 {
            let avail = self.fill()?.len();
            if avail == 0 {
                return Err(InitrdError::new(format!(
                    "truncated: decompressed data ends at {} inside an entry ({left} more bytes expected)",
                    self.pos
                )));
            }
            let k = usize::try_from(left).map_or(avail, |l| l.min(avail));
            self.consume(k);
            // k <= left: never saturates.
            left = left.saturating_sub(k as u64);
        }
        Ok(())
    }
}

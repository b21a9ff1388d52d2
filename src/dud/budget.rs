//! One budget for a whole driver-update-disk scan, nested images included.
//!
//! A DUD ISO may hold top-level `*.iso` files, which the installer opens recursively. Caps per
//! image (entries, depth) multiply along that recursion: K nested records all pointing back at
//! the image itself give 1+K+K²+… mounts from a file of a few KiB. So every cap here counts
//! across the whole scan and cannot be multiplied by nesting:
//!
//! - nested images mounted in total ([`MAX_NESTED_IMAGES`]), besides the depth limit;
//! - directory entries listed in total ([`MAX_TOTAL_ENTRIES`]);
//! - bytes read from the source file in total (4 × its size + 64 MiB: every byte of a real
//!   disk is read about once, a nested image once more), counted by [`Metered`] under the
//!   ISO reader so that reads through nested images are counted too;
//! - module and depmod.d bytes kept in memory in total ([`MAX_KEPT_BYTES`]).
//!
//! Exceeding one is fatal for the scan, and the error says which budget it was.
//!
//! No indexing/slicing or unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;

/// Nested `*.iso` images mounted across the whole scan (real disks nest at most once, with
/// one image per architecture or release).
pub const MAX_NESTED_IMAGES: u32 = 16;
/// Directory entries listed across the whole scan, nested images included.
pub const MAX_TOTAL_ENTRIES: usize = 100_000;
/// Module and depmod.d bytes kept in memory across the whole scan.
pub const MAX_KEPT_BYTES: u64 = 512 << 20;
/// Fixed part of the read budget (metadata, small images).
const READ_SLACK: u64 = 64 << 20;
/// Read budget for a directory DUD, whose size is not known up front.
const DIR_READ_BUDGET: u64 = 2 << 30;

/// The budgets of one scan. Shared (through `Rc`) with the readers that count bytes.
#[derive(Debug)]
pub struct ScanBudget {
    read: Cell<u64>,
    read_limit: u64,
    nested: Cell<u32>,
    entries: Cell<usize>,
    kept: Cell<u64>,
    /// The first budget exceeded.
    exceeded: Cell<Option<Which>>,
}

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Nested,
    Entries,
    Kept,
    Read,
}

impl ScanBudget {
    /// Budget for a scan of an ISO file of `len` bytes.
    pub fn for_file(len: u64) -> Rc<ScanBudget> {
        Self::with_read_limit(len.saturating_mul(4).saturating_add(READ_SLACK))
    }

    /// Budget for a scan of a directory.
    pub fn for_directory() -> Rc<ScanBudget> {
        Self::with_read_limit(DIR_READ_BUDGET)
    }

    fn with_read_limit(read_limit: u64) -> Rc<ScanBudget> {
        Rc::new(ScanBudget {
            read: Cell::new(0),
            read_limit,
            nested: Cell::new(0),
            entries: Cell::new(0),
            kept: Cell::new(0),
            exceeded: Cell::new(None),
        })
    }

    /// The budget exceeded so far, if any (the scan must stop with it).
    pub fn exceeded(&self) -> Option<String> {
        let what = match self.exceeded.get()? {
            Which::Nested => {
                format!("more than {MAX_NESTED_IMAGES} nested *.iso images in total (budget: nested images)")
            }
            Which::Entries => {
                format!(
                    "more than {MAX_TOTAL_ENTRIES} directory entries in total (budget: entries)"
                )
            }
            Which::Kept => format!(
                "more than {} MiB of module data in total (budget: kept bytes)",
                MAX_KEPT_BYTES >> 20
            ),
            Which::Read => format!(
                "read more than {} bytes, 4 times the disk's size (budget: bytes read)",
                self.read_limit
            ),
        };
        Some(format!(
            "driver update disk scan stopped: {what}; nested images looping back or a hostile disk"
        ))
    }

    fn trip(&self, what: Which) -> Option<String> {
        if self.exceeded.get().is_none() {
            self.exceeded.set(Some(what));
        }
        self.exceeded()
    }

    /// Counts one nested image about to be mounted.
    pub fn mount_nested(&self) -> Result<(), String> {
        let n = self.nested.get().saturating_add(1);
        self.nested.set(n);
        if n > MAX_NESTED_IMAGES {
            return Err(self.trip(Which::Nested).unwrap_or_default());
        }
        Ok(())
    }

    /// Counts one directory entry listed.
    pub fn entry(&self) -> Result<(), String> {
        let n = self.entries.get().saturating_add(1);
        self.entries.set(n);
        if n > MAX_TOTAL_ENTRIES {
            return Err(self.trip(Which::Entries).unwrap_or_default());
        }
        Ok(())
    }

    /// Counts `bytes` of module data kept in memory.
    pub fn keep(&self, bytes: u64) -> Result<(), String> {
        let n = self.kept.get().saturating_add(bytes);
        self.kept.set(n);
        if n > MAX_KEPT_BYTES {
            return Err(self.trip(Which::Kept).unwrap_or_default());
        }
        Ok(())
    }

    fn count_read(&self, bytes: usize) -> io::Result<()> {
        let n = self.read.get().saturating_add(bytes as u64);
        self.read.set(n);
        if n > self.read_limit {
            let msg = self.trip(Which::Read).unwrap_or_default();
            return Err(io::Error::other(msg));
        }
        Ok(())
    }
}

/// A reader that counts every byte it delivers against the scan's read budget and fails once
/// it is spent.
pub struct Metered<R> {
    inner: R,
    budget: Rc<ScanBudget>,
}

impl<R> Metered<R> {
    pub fn new(inner: R, budget: Rc<ScanBudget>) -> Self {
        Metered { inner, budget }
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(msg) = self.budget.exceeded() {
            return Err(io::Error::other(msg));
        }
        let n = self.inner.read(buf)?;
        self.budget.count_read(n)?;
        Ok(n)
    }
}

impl<R: Seek> Seek for Metered<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests index fixtures they built
mod tests {
    use super::*;

    #[test]
    fn read_budget_trips_and_names_itself() {
        let budget = ScanBudget::with_read_limit(10);
        let mut r = Metered::new(io::Cursor::new(vec![0u8; 100]), budget.clone());
        let mut buf = [0u8; 8];
        assert!(r.read(&mut buf).is_ok());
        assert!(r.read(&mut buf).is_err());
        assert!(budget.exceeded().is_some_and(|m| m.contains("bytes read")));
        // Once spent, every later read fails without touching the source.
        assert!(r.read(&mut buf).is_err());
    }

    #[test]
    fn nested_images_are_counted_across_the_scan() {
        let budget = ScanBudget::for_file(0);
        for _ in 0..MAX_NESTED_IMAGES {
            assert!(budget.mount_nested().is_ok());
        }
        let err = budget.mount_nested().err().unwrap_or_default();
        assert!(err.contains("nested images"), "{err}");
    }
}

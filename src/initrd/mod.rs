//! Initramfs images as the Linux kernel sees them.
//!
//! - [`walk`]: kernel-exact segment walker (`init/initramfs.c` rules: newc at 4-aligned
//!   offsets, zero padding, any number of compressed segments, later entries win), giving a
//!   [`walk::Listing`] of the effective file tree and [`walk::read_files`] for file contents.
//! - [`inspect`]: the `remaster inspect INITRD` report built on the walker.
//! - [`overlay`]: a deterministic newc overlay routed through the base's usr-merge symlinks,
//!   compressed and padded for appending.
//! - [`compress`]: the overlay's compression option (the codecs themselves: [`crate::codec`]).
//! - [`depmod`]: kmod's module indexes (modules.dep(.bin), alias, symbols, ...) regenerated for
//!   a module tree plus added modules.

pub mod compress;
pub mod depmod;
pub mod inspect;
mod newc;
pub mod overlay;
mod rootfs;
mod source;
pub mod walk;

/// An initrd problem on one line: what, and where (byte offset in the file, and inside a
/// compressed segment the offset in its decompressed stream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InitrdError {
    /// The whole message, already one line, offsets included.
    pub message: String,
}

impl InitrdError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        InitrdError {
            message: message.into().replace('\n', " "),
        }
    }
    pub(crate) fn at(offset: u64, message: impl std::fmt::Display) -> Self {
        InitrdError::new(format!("at offset {offset}: {message}"))
    }
}

impl From<std::io::Error> for InitrdError {
    fn from(e: std::io::Error) -> Self {
        InitrdError::new(format!("read error: {e}"))
    }
}

/// Result type of the initrd module.
pub type Result<T, E = InitrdError> = std::result::Result<T, E>;

pub use compress::Compression;
pub use depmod::{generate_for_tree, generate_indexes, DepmodInput};

pub use inspect::{inspect, InitrdReport};
pub use overlay::{build_overlay, OverlayEntry, OverlayKind};
pub use walk::{list, read_files, EntryInfo, FileKind, Listing, Segment};

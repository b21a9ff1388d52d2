//! The on-disk formats of a hybrid boot ISO, each defined once: ISO 9660 ([`iso9660`]:
//! volume descriptors, directory records, path table records, the SUSP / Rock Ridge entries),
//! El Torito ([`eltorito`]: boot record, catalog entries, boot-info fields), the MBR
//! ([`mbr`]) and the GPT ([`gpt`]). Offsets and lengths are named constants; small typed
//! views decode a structure and encoders build one. The readers (`iso/volume.rs`, `dir.rs`,
//! `eltorito.rs`, `sysarea.rs`, `md5.rs`) and the writer (`iso/write/*`) both build on these
//! definitions, as gimli-rs/object builds `read/` and `write/` on one `elf.rs`: no byte
//! offset of a format is written out in two places.
//!
//! Hand-written because no kept crate covers these structures at this level: hadris-iso
//! reads one mounted namespace and writes whole new images (the writer here patches records
//! in place, by byte offset, in both trees), and the gpt crate rewrites the entry count and
//! `last_usable` that must stay as xorriso / isohybrid wrote them.
//!
//! Every decoder returns 0 / `None` for bytes that are not there and every setter leaves a
//! too-short buffer alone: no indexing, no unchecked arithmetic (denied below).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod eltorito;
pub mod gpt;
pub mod iso9660;
pub mod mbr;

/// `N` bytes at `at`, or None when they are not all there.
pub(crate) fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Little-endian u16 at `at` (0 when short).
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    bytes_at(b, at).map_or(0, u16::from_le_bytes)
}

/// Little-endian u32 at `at` (0 when short).
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    bytes_at(b, at).map_or(0, u32::from_le_bytes)
}

/// Big-endian u32 at `at` (0 when short).
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    bytes_at(b, at).map_or(0, u32::from_be_bytes)
}

/// Little-endian u64 at `at` (0 when short).
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    bytes_at(b, at).map_or(0, u64::from_le_bytes)
}

/// Little-endian u64 at `at`, `None` when short (for fields whose absence is reported).
pub(crate) fn le64_opt(b: &[u8], at: usize) -> Option<u64> {
    bytes_at(b, at).map(u64::from_le_bytes)
}

/// Copies `v` to `at` (left alone when the buffer is too short).
pub(crate) fn put(b: &mut [u8], at: usize, v: &[u8]) {
    if let Some(dst) = at.checked_add(v.len()).and_then(|end| b.get_mut(at..end)) {
        dst.copy_from_slice(v);
    }
}

/// Writes a little-endian u32 at `at`.
pub(crate) fn set_le32(b: &mut [u8], at: usize, v: u32) {
    put(b, at, &v.to_le_bytes());
}

/// Writes a little-endian u64 at `at`.
pub(crate) fn set_le64(b: &mut [u8], at: usize, v: u64) {
    put(b, at, &v.to_le_bytes());
}

/// ECMA-119 §7.2.3 both-byte-order u16: little-endian, then big-endian.
pub fn both16(v: u16) -> [u8; 4] {
    let [l0, l1] = v.to_le_bytes();
    let [b0, b1] = v.to_be_bytes();
    [l0, l1, b0, b1]
}

/// ECMA-119 §7.3.3 both-byte-order u32: little-endian, then big-endian.
pub fn both32(v: u32) -> [u8; 8] {
    let [l0, l1, l2, l3] = v.to_le_bytes();
    let [b0, b1, b2, b3] = v.to_be_bytes();
    [l0, l1, l2, l3, b0, b1, b2, b3]
}

/// Decodes UCS-2 big-endian (Joliet), replacing unpaired surrogates.
pub(crate) fn ucs2be(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| bytes_at(c, 0).map_or(0, u16::from_be_bytes))
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_byte_orders() {
        assert_eq!(both32(0x0102_0304), [4, 3, 2, 1, 1, 2, 3, 4]);
        assert_eq!(both16(1), [1, 0, 0, 1]);
    }

    #[test]
    fn short_buffers_read_zero_and_are_not_written() {
        let mut b = [0u8; 6];
        assert_eq!(le32(&b, 4), 0);
        assert_eq!(le64_opt(&b, 0), None);
        set_le32(&mut b, 4, u32::MAX);
        assert_eq!(b, [0; 6]);
        set_le32(&mut b, 2, 0x0403_0201);
        assert_eq!(b, [0, 0, 1, 2, 3, 4]);
        assert_eq!(le16(&b, 2), 0x0201);
        assert_eq!(be32(&b, 2), 0x0102_0304);
    }
}

//! Patches of the copied input: merging overlapping ones, and turning in-place region
//! edits (efiboot.img) into patches so that the output is still written once, in order.

use std::fs::File;
use std::io;
use std::path::Path;

use super::model::{norm_path, Layout, Patch, RegionEdit};
use crate::iso::{read_at, Image, NodeKind};
use crate::Error;

/// Sorts patches and merges overlapping ones (a later patch wins where they overlap).
pub(super) fn merge_patches(mut patches: Vec<Patch>) -> Vec<Patch> {
    patches.sort_by_key(|p| p.0);
    let mut out: Vec<Patch> = Vec::with_capacity(patches.len());
    for (off, data) in patches {
        if let Some((last_off, last)) = out.last_mut() {
            let last_end = *last_off + last.len() as u64;
            if off <= last_end {
                let rel = (off - *last_off) as usize;
                let end = rel + data.len();
                if end > last.len() {
                    last.resize(end, 0);
                }
                last[rel..end].copy_from_slice(&data);
                continue;
            }
        }
        out.push((off, data));
    }
    out
}

/// Largest file a [`RegionEdit`] may edit: the edit runs on an in-memory copy of the file
/// before it is streamed (efiboot.img is a few MiB).
pub(super) const REGION_EDIT_CAP: u64 = 64 << 20;

/// `patches` without the bytes inside `[start, end)`.
pub(super) fn carve(patches: Vec<Patch>, start: u64, end: u64) -> Vec<Patch> {
    let mut out = Vec::with_capacity(patches.len() + 1);
    for (off, data) in patches {
        let p_end = off + data.len() as u64;
        if p_end <= start || off >= end {
            out.push((off, data));
            continue;
        }
        if off < start {
            out.push((
                off,
                data.get(..(start - off) as usize).unwrap_or(&[]).to_vec(),
            ));
        }
        if p_end > end {
            out.push((
                end,
                data.get((end - off) as usize..).unwrap_or(&[]).to_vec(),
            ));
        }
    }
    out
}

/// Runs the region edits on in-memory copies of their files (as they will be output: the
/// input's bytes with the layout's patches) and turns each result into a patch, so the
/// output is written once, in order, and hashed on the fly.
pub(super) fn apply_region_edits(
    layout: &mut Layout,
    image: &Image,
    input_path: &Path,
    input: &mut File,
    edits: Vec<RegionEdit>,
) -> crate::Result<()> {
    for edit in edits {
        let path = norm_path(&edit.iso_path);
        if layout.extents.contains_key(&path) {
            return Err(Error::input(
                input_path,
                format!("cannot edit /{path} in place: it is also replaced or added"),
            ));
        }
        let node = image.primary.find(&path).ok_or_else(|| {
            Error::input(
                input_path,
                format!("cannot edit /{path}: no such file in the image"),
            )
        })?;
        let ext = match node.extents.as_slice() {
            [e] if node.kind == NodeKind::File => *e,
            _ => {
                return Err(Error::input(
                    input_path,
                    format!("cannot edit /{path}: not a single-extent file"),
                ))
            }
        };
        let start = ext.offset();
        let len = u64::from(ext.len);
        let end = start + len;
        if end > layout.copy_end || len > REGION_EDIT_CAP {
            return Err(Error::input(
                input_path,
                format!("cannot edit /{path} in place: it is larger than {REGION_EDIT_CAP} bytes or extends past the end of the image"),
            ));
        }
        let mut bytes = read_at(input, start, len as usize, image.file_len, &path)
            .map_err(|e| Error::input(input_path, e))?;
        for (off, data) in &layout.patches {
            let from = (*off).max(start);
            let to = (off + data.len() as u64).min(end);
            if from < to {
                let src = data.get((from - off) as usize..(to - off) as usize);
                let dst = bytes.get_mut((from - start) as usize..(to - start) as usize);
                if let (Some(src), Some(dst)) = (src, dst) {
                    dst.copy_from_slice(src);
                }
            }
        }
        let mut region = io::Cursor::new(bytes);
        (edit.edit)(&mut region)?;
        let bytes = region.into_inner();
        if bytes.len() as u64 != len {
            return Err(Error::input(
                input_path,
                format!(
                    "the in-place edit of /{path} changed its size from {len} to {} bytes",
                    bytes.len()
                ),
            ));
        }
        let mut patches = carve(std::mem::take(&mut layout.patches), start, end);
        patches.push((start, bytes));
        layout.patches = merge_patches(patches);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_patches_merge_later_wins() {
        let p = merge_patches(vec![
            (10, vec![1; 4]),
            (0, vec![2; 4]),
            (12, vec![3; 4]),
            (30, vec![4]),
        ]);
        assert_eq!(
            p,
            vec![(0, vec![2; 4]), (10, vec![1, 1, 3, 3, 3, 3]), (30, vec![4])]
        );
    }

    #[test]
    fn carve_removes_exactly_the_region() {
        let p = vec![
            (0, vec![1; 10]),
            (12, vec![2; 4]),
            (18, vec![3; 10]),
            (40, vec![4]),
        ];
        assert_eq!(
            carve(p, 5, 20),
            vec![(0, vec![1; 5]), (20, vec![3; 8]), (40, vec![4])]
        );
        assert_eq!(
            carve(vec![(0, vec![1; 30])], 5, 20),
            vec![(0, vec![1; 5]), (20, vec![1; 10])]
        );
    }
}

//! Patches of the copied input: overwrites at byte offsets, merged so that the output is
//! written once, in order.

use super::model::Patch;

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
}

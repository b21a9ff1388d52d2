//! Path tables (ECMA-119 §9.4): rebuilt for a tree when any of its directories moved or
//! was created, from the tree as it will be after the edit.

use std::collections::HashMap;

use super::dirgen::{ucs2_bytes, Child, Planner, TreeId};
use super::model::usage;
use crate::iso::dir::{NodeKind, Tree, TreeKind};
use crate::iso::format::iso9660::pt;
use crate::Error;

/// Path table (ECMA-119 §9.4) in little- or big-endian form.
pub(super) fn path_table(dirs: &[(Vec<u8>, u16, u32)], big_endian: bool) -> Vec<u8> {
    let mut t = Vec::new();
    for (ident, parent, lba) in dirs {
        pt::encode(&mut t, ident, *parent, *lba, big_endian);
    }
    t
}

/// The directories of a tree after the edit, in path-table order: (identifier, parent
/// number, LBA as the tree names it: relative to partition 1 for a partition-view tree).
pub(super) fn final_dirs(
    planner: &Planner,
    tree: &Tree,
    id: TreeId,
    _fixes: &HashMap<u64, Vec<u8>>,
) -> Result<Vec<(Vec<u8>, u16, u32)>, Error> {
    let kind = id.kind;
    let shift = planner.shift(id);
    // A node of the final tree: existing node index or new job.
    #[derive(Clone, Copy, PartialEq)]
    enum D {
        Old(usize),
        New(usize),
    }
    let lba_of = |d: D| -> u32 {
        let lba = match d {
            D::Old(i) => {
                let path = tree
                    .nodes
                    .get(i)
                    .map(|n| n.path.clone())
                    .unwrap_or_default();
                match planner.job_index.get(&(id, path)) {
                    Some(&j) => planner.jobs.get(j).map_or(0, |j| j.ext.lba),
                    None => tree
                        .nodes
                        .get(i)
                        .and_then(|n| n.extents.first())
                        .map_or(0, |e| e.lba),
                }
            }
            D::New(j) => planner.jobs.get(j).map_or(0, |j| j.ext.lba),
        };
        lba.saturating_sub(shift)
    };
    let ident_of = |d: D| -> Vec<u8> {
        match d {
            D::Old(i) => tree.nodes.get(i).map_or(Vec::new(), |n| match kind {
                TreeKind::Iso9660 => n.ident.as_bytes().to_vec(),
                TreeKind::Joliet => ucs2_bytes(&n.ident),
            }),
            D::New(j) => planner.jobs.get(j).map_or(Vec::new(), |j| j.ident.clone()),
        }
    };
    let children_of = |d: D| -> Vec<D> {
        let mut out = Vec::new();
        let job = match d {
            D::Old(i) => {
                if let Some(n) = tree.nodes.get(i) {
                    out.extend(
                        n.children
                            .iter()
                            .filter(|&&c| {
                                tree.nodes.get(c).is_some_and(|c| c.kind == NodeKind::Dir)
                            })
                            .map(|&c| D::Old(c)),
                    );
                    planner.job_index.get(&(id, n.path.clone())).copied()
                } else {
                    None
                }
            }
            D::New(j) => Some(j),
        };
        if let Some(j) = job.and_then(|j| planner.jobs.get(j)) {
            for c in &j.children {
                if let Child::Dir { job } = c {
                    out.push(D::New(*job));
                }
            }
        }
        out.sort_by_key(|&c| ident_of(c));
        out
    };
    let mut table: Vec<(Vec<u8>, u16, u32)> = vec![(vec![0], 1, lba_of(D::Old(0)))];
    let mut level = vec![D::Old(0)];
    let mut number = 1usize;
    while !level.is_empty() {
        let mut next_level = Vec::new();
        for (k, &d) in level.iter().enumerate() {
            let parent_number = number - level.len() + k + 1;
            for c in children_of(d) {
                if table.len() >= 65_535 {
                    return Err(usage("more than 65535 directories: path table overflow"));
                }
                table.push((ident_of(c), parent_number as u16, lba_of(c)));
                next_level.push(c);
            }
        }
        number += next_level.len();
        level = next_level;
    }
    Ok(table)
}

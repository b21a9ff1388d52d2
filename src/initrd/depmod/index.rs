//! kmod's index format (the `.bin` files): a radix trie, magic 0xB007F457, version
//! 0x00020001, big-endian offsets with flag bits (libkmod-index.c, `index_insert` /
//! `index_write` of depmod.c). Hand-written: no crate writes it. Written without recursion,
//! so a deep trie (nested alias keys) cannot overflow the stack.

use super::Result;
use crate::initrd::InitrdError;
use std::collections::BTreeMap;

const INDEX_MAGIC: u32 = 0xB007_F457;
const INDEX_VERSION: u32 = 0x0002_0001;
const NODE_PREFIX: u32 = 0x8000_0000;
const NODE_VALUES: u32 = 0x4000_0000;
const NODE_CHILDS: u32 = 0x2000_0000;
const CHILD_MAX: u8 = 128;
/// Longest index key accepted (bounds the trie's depth).
const MAX_KEY_LEN: usize = 2048;

#[derive(Default)]
struct Node {
    prefix: Vec<u8>,
    children: BTreeMap<u8, Node>,
    /// (priority, value), sorted by priority; a new value goes before equal priorities.
    values: Vec<(u32, String)>,
}

/// kmod's radix trie (`index_insert` / `index_write` of depmod.c).
pub(super) struct Index {
    root: Node,
}

impl Index {
    pub(super) fn new() -> Self {
        Index {
            root: Node::default(),
        }
    }

    pub(super) fn insert(&mut self, key: &str, value: &str, priority: u32) -> Result<()> {
        let key = key.as_bytes();
        // The trie is as deep as its longest key; the writer is iterative, but dropping a
        // Node recurses. Real keys (module names, aliases, `symbol:` + KSYM_NAME_LEN) are
        // far shorter.
        if key.len() > MAX_KEY_LEN {
            return Err(InitrdError::new(format!(
                "module index key of {} bytes (longer than {MAX_KEY_LEN}: a hostile alias or symbol name?)",
                key.len()
            )));
        }
        if key.iter().any(|b| *b >= CHILD_MAX || *b == 0) {
            return Err(InitrdError::new(format!(
                "index key {:?} has non-ASCII bytes",
                String::from_utf8_lossy(key)
            )));
        }
        let mut node = &mut self.root;
        let mut i = 0;
        loop {
            // Split the node if its prefix is not a prefix of the rest of the key.
            let common = node
                .prefix
                .iter()
                .zip(&key[i..])
                .take_while(|(a, b)| a == b)
                .count();
            if common < node.prefix.len() {
                let ch = node.prefix[common];
                let tail = node.prefix[common + 1..].to_vec();
                let mut child = std::mem::take(node);
                child.prefix = tail;
                node.prefix = key[i..i + common].to_vec();
                node.children.insert(ch, child);
            }
            i += common;
            let Some(&ch) = key.get(i) else {
                let pos = node
                    .values
                    .iter()
                    .position(|(p, _)| *p >= priority)
                    .unwrap_or(node.values.len());
                node.values.insert(pos, (priority, value.to_string()));
                return Ok(());
            };
            match node.children.entry(ch) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(Node {
                        prefix: key[i + 1..].to_vec(),
                        children: BTreeMap::new(),
                        values: vec![(priority, value.to_string())],
                    });
                    return Ok(());
                }
                std::collections::btree_map::Entry::Occupied(o) => node = o.into_mut(),
            }
            i += 1;
        }
    }

    pub(super) fn write(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
        out.extend_from_slice(&INDEX_VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        let root = write_node(&self.root, &mut out)?;
        out[8..12].copy_from_slice(&root.to_be_bytes());
        Ok(out)
    }
}

/// One node being written: its children `first..=last`, the next one to visit and the
/// offsets of those written so far.
struct Frame<'a> {
    node: &'a Node,
    first: u8,
    last: u8,
    next: u16,
    child_offs: Vec<u32>,
}

impl<'a> Frame<'a> {
    fn new(node: &'a Node) -> Self {
        let (first, last) = match (node.children.keys().next(), node.children.keys().last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => (CHILD_MAX, 0),
        };
        Frame {
            node,
            first,
            last,
            next: u16::from(first),
            child_offs: Vec::new(),
        }
    }
}

/// Children first (post-order), then the node: prefix, child table, values. Iterative (an
/// explicit stack), so a deep trie cannot overflow the thread's stack (issue 15).
fn write_node(root: &Node, out: &mut Vec<u8>) -> Result<u32> {
    let mut stack = vec![Frame::new(root)];
    loop {
        let Some(top) = stack.last_mut() else {
            return Err(InitrdError::new("module index writer: empty stack"));
        };
        if top.first < CHILD_MAX && top.next <= u16::from(top.last) {
            let ch = u8::try_from(top.next).unwrap_or(CHILD_MAX);
            top.next += 1;
            match top.node.children.get(&ch) {
                Some(c) => stack.push(Frame::new(c)),
                None => top.child_offs.push(0),
            }
            continue;
        }
        let Some(done) = stack.pop() else {
            return Err(InitrdError::new("module index writer: empty stack"));
        };
        let offset = emit_node(&done, out)?;
        match stack.last_mut() {
            Some(parent) => parent.child_offs.push(offset),
            None => return Ok(offset),
        }
    }
}

/// Writes one node whose children are already written; returns its offset | flags.
fn emit_node(f: &Frame<'_>, out: &mut Vec<u8>) -> Result<u32> {
    let node = f.node;
    let offset = u32::try_from(out.len())
        .ok()
        .filter(|o| *o < 0x1000_0000)
        .ok_or_else(|| InitrdError::new("module index larger than 256 MiB"))?;
    let mut flags = 0;
    if !node.prefix.is_empty() {
        out.extend_from_slice(&node.prefix);
        out.push(0);
        flags |= NODE_PREFIX;
    }
    if !f.child_offs.is_empty() {
        out.push(f.first);
        out.push(f.last);
        for c in &f.child_offs {
            out.extend_from_slice(&c.to_be_bytes());
        }
        flags |= NODE_CHILDS;
    }
    if !node.values.is_empty() {
        out.extend_from_slice(&(node.values.len() as u32).to_be_bytes());
        for (p, v) in &node.values {
            out.extend_from_slice(&p.to_be_bytes());
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        flags |= NODE_VALUES;
    }
    Ok(offset | flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trie_splits_and_orders_values() {
        let mut idx = Index::new();
        idx.insert("abc", "1", 5).unwrap();
        idx.insert("abd", "2", 1).unwrap();
        idx.insert("ab", "3", 0).unwrap();
        idx.insert("ab", "4", 0).unwrap();
        let root = &idx.root;
        assert!(root.prefix.is_empty());
        let a = &root.children[&b'a'];
        assert_eq!(a.prefix, b"b");
        assert_eq!(a.values, vec![(0, "4".into()), (0, "3".into())]);
        assert_eq!(a.children.len(), 2);
        let bytes = idx.write().unwrap();
        assert_eq!(&bytes[..8], &[0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1]);
    }

    #[test]
    fn deep_trie_is_written_on_a_small_stack() {
        // Nested keys b, ab, aab, …: the trie is as deep as the longest key. The recursive
        // writer needed a stack frame per level; this one runs on a 64 KiB thread.
        let mut idx = Index::new();
        for n in 0..MAX_KEY_LEN {
            let key = format!("{}b", "a".repeat(n));
            idx.insert(&key, "m", 0).unwrap();
        }
        let bytes = std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn_scoped(s, || idx.write())
                .unwrap()
                .join()
                .unwrap()
        })
        .unwrap();
        assert!(bytes.len() > MAX_KEY_LEN * 8);
        let too_long = "a".repeat(MAX_KEY_LEN + 1);
        let err = idx.insert(&too_long, "m", 0).unwrap_err().to_string();
        assert!(err.contains("longer than"), "{err}");
    }
}

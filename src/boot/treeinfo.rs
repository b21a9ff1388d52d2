//! `.treeinfo` (productmd INI) checksums: `[checksums]` lines `path = sha256:<hex>` are
//! updated for files whose content changed; every other byte is kept. The volume id does
//! not appear in `.treeinfo`, so a label change needs nothing here.

use std::io::{self, Read};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// One `[checksums]` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeinfoChecksum {
    /// Path relative to the tree root, as written (`images/pxeboot/initrd.img`).
    pub path: String,
    /// Algorithm name (`sha256`).
    pub algorithm: String,
    /// Lower-case hex digest as written.
    pub hex: String,
    /// 1-based line number.
    pub line: usize,
}

/// Result of [`update_checksums`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeinfoEdit {
    pub text: String,
    /// Paths whose checksum line was rewritten.
    pub updated: Vec<String>,
    /// Changed paths with no `[checksums]` line (nothing to update; not an error).
    pub not_listed: Vec<String>,
}

/// Streaming SHA-256 of a reader, lower-case hex.
pub fn sha256_hex<R: Read>(r: &mut R) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(buf.get(..n).unwrap_or(&[]));
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A `[checksums]` line with the spans needed to rewrite its value.
struct Line<'a> {
    entry: TreeinfoChecksum,
    value_start: usize,
    value_end: usize,
    _raw: &'a str,
}

fn normalize(path: &str) -> &str {
    path.trim().trim_start_matches("./").trim_start_matches('/')
}

fn checksum_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pos = 0usize;
    for (idx, raw_line) in text.split('\n').enumerate() {
        let line_start = pos;
        pos += raw_line.len() + 1;
        let content = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let trimmed = content.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') || trimmed.is_empty() {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        if section != "checksums" {
            continue;
        }
        let Some((key, value)) = content.split_once('=') else {
            continue;
        };
        let value_trimmed = value.trim();
        let Some((algo, hex)) = value_trimmed.split_once(':') else {
            continue;
        };
        let lead = value.len() - value.trim_start().len();
        let value_start = line_start + key.len() + 1 + lead;
        out.push(Line {
            entry: TreeinfoChecksum {
                path: normalize(key).to_string(),
                algorithm: algo.trim().to_ascii_lowercase(),
                hex: hex.trim().to_string(),
                line: idx + 1,
            },
            value_start,
            value_end: value_start + value_trimmed.len(),
            _raw: content,
        });
    }
    out
}

/// Every `[checksums]` entry (for `verify`).
pub fn checksums(text: &str) -> Vec<TreeinfoChecksum> {
    checksum_lines(text).into_iter().map(|l| l.entry).collect()
}

/// Rewrite the checksum of each changed file: `changed` holds (path relative to the tree
/// root, new SHA-256 hex). Lines using another algorithm are rewritten as `sha256:`.
pub fn update_checksums(text: &str, changed: &[(String, String)]) -> TreeinfoEdit {
    let lines = checksum_lines(text);
    let mut reps: Vec<(usize, usize, String)> = Vec::new();
    let mut updated = Vec::new();
    let mut not_listed = Vec::new();
    for (path, hex) in changed {
        let want = normalize(path);
        let mut found = false;
        for l in lines.iter().filter(|l| l.entry.path == want) {
            found = true;
            let new_value = format!("sha256:{}", hex.to_ascii_lowercase());
            if text.get(l.value_start..l.value_end) != Some(new_value.as_str()) {
                reps.push((l.value_start, l.value_end, new_value));
                updated.push(want.to_string());
            }
        }
        if !found {
            not_listed.push(want.to_string());
        }
    }
    reps.sort_by_key(|r| r.0);
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (s, e, t) in reps {
        if s < pos {
            continue;
        }
        out.push_str(text.get(pos..s).unwrap_or(""));
        out.push_str(&t);
        pos = e;
    }
    out.push_str(text.get(pos..).unwrap_or(""));
    TreeinfoEdit {
        text: out,
        updated,
        not_listed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREEINFO: &str = "[header]\r\ntype = productmd.treeinfo\r\nversion = 1.2\r\n\r\n[checksums]\r\nimages/efiboot.img = sha256:aaaa\r\nimages/pxeboot/initrd.img = sha256:bbbb\r\nimages/pxeboot/vmlinuz=sha256:cccc\r\n\r\n[images-x86_64]\r\ninitrd.img = images/pxeboot/initrd.img\r\n";

    #[test]
    fn updates_only_the_value() {
        let h = "ab".repeat(32);
        let e = update_checksums(
            TREEINFO,
            &[
                ("/images/pxeboot/initrd.img".into(), h.clone()),
                ("isolinux/initrd.img".into(), h.clone()),
            ],
        );
        assert_eq!(e.updated, vec!["images/pxeboot/initrd.img"]);
        assert_eq!(e.not_listed, vec!["isolinux/initrd.img"]);
        assert_eq!(
            e.text,
            TREEINFO.replace("sha256:bbbb", &format!("sha256:{h}"))
        );
        // Idempotent.
        let again = update_checksums(&e.text, &[("images/pxeboot/initrd.img".into(), h)]);
        assert_eq!(again.text, e.text);
        assert!(again.updated.is_empty());
        assert_eq!(checksums(TREEINFO).len(), 3);
        assert_eq!(checksums(TREEINFO)[2].hex, "cccc");
    }

    #[test]
    fn sha256_of_reader() {
        assert_eq!(
            sha256_hex(&mut &b"abc"[..]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

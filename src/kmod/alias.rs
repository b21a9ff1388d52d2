//! Glob matching of module aliases (`pci:v00001000d*sv*sd*bc*sc*i*`), as kmod does it with
//! `fnmatch(3)` (no flags): `*` any run, `?` one byte, `[...]` a set with ranges and `!`/`^`
//! negation (a `]` right after `[` or `[!` is a member), `\` escapes the next byte, a `[`
//! without a closing `]` is literal. One difference, kept from the matcher this replaces:
//! letters compare ASCII case-insensitively (modpost writes hex in upper case, some vendor
//! aliases in lower case).
//!
//! Hand-written because the crates (`glob`, `globset`, `wildmatch`) differ from fnmatch in
//! the details above or build a regex per pattern. Iterative, no recursion: on a mismatch
//! it resumes after the last `*` with one more text byte consumed, which is enough because
//! a later `*` subsumes every earlier choice. Time O(pattern × text), memory O(1): an alias
//! made of many `*` (issue 15; the recursive matcher took ~10^14 steps) is no slower than
//! any other.
//!
//! No indexing/slicing or unchecked arithmetic (denied below), like the other parsers.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

/// What one pattern element (not `*`) at `p` says about byte `c`, and where the next
/// element starts.
fn element(pattern: &[u8], p: usize, c: u8) -> (bool, usize) {
    let Some(&first) = pattern.get(p) else {
        return (false, p);
    };
    let next = p.saturating_add(1);
    match first {
        b'?' => (true, next),
        b'\\' => match pattern.get(next) {
            Some(&e) => (e.eq_ignore_ascii_case(&c), next.saturating_add(1)),
            None => (c == b'\\', next),
        },
        b'[' => match bracket(pattern, next, c) {
            Some(r) => r,
            None => (c == b'[', next),
        },
        _ => (first.eq_ignore_ascii_case(&c), next),
    }
}

/// A `[...]` set whose body starts at `start`: (matched, index after `]`), or None when no
/// `]` closes it (then the `[` is a literal).
fn bracket(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i = i.saturating_add(1);
    }
    let c = c.to_ascii_uppercase();
    let mut hit = false;
    let mut first = true;
    loop {
        let &b = pattern.get(i)?;
        if b == b']' && !first {
            return Some((hit != negate, i.saturating_add(1)));
        }
        first = false;
        let (lo, after) = match b {
            b'\\' => (*pattern.get(i.saturating_add(1))?, i.saturating_add(2)),
            _ => (b, i.saturating_add(1)),
        };
        // A range `a-z` (a `-` before the closing `]` is a member).
        let is_range = pattern.get(after) == Some(&b'-')
            && pattern
                .get(after.saturating_add(1))
                .is_some_and(|&h| h != b']');
        if is_range {
            let h_at = after.saturating_add(1);
            let (hi, after_hi) = match pattern.get(h_at) {
                Some(b'\\') => (
                    *pattern.get(h_at.saturating_add(1))?,
                    h_at.saturating_add(2),
                ),
                Some(&h) => (h, h_at.saturating_add(1)),
                None => return None,
            };
            hit |= lo.to_ascii_uppercase() <= c && c <= hi.to_ascii_uppercase();
            i = after_hi;
        } else {
            hit |= lo.to_ascii_uppercase() == c;
            i = after;
        }
    }
}

/// True when `text` matches the glob `pattern` (see the module header for the rules).
pub fn fnmatch(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Resume point after the last `*`: (pattern index after it, text index it now covers to).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(&c) = text.get(t) {
            if pattern.get(p) == Some(&b'*') {
                p = p.saturating_add(1);
                star = Some((p, t));
                continue;
            }
            if p < pattern.len() {
                let (ok, next) = element(pattern, p, c);
                if ok {
                    p = next;
                    t = t.saturating_add(1);
                    continue;
                }
            }
            // Mismatch: let the last `*` swallow one more byte, or fail.
            match star {
                Some((sp, st)) => {
                    let st = st.saturating_add(1);
                    star = Some((sp, st));
                    p = sp;
                    t = st;
                }
                None => return false,
            }
        } else {
            // Text used up: only `*`s may remain.
            return pattern
                .get(p..)
                .is_some_and(|rest| rest.iter().all(|&b| b == b'*'));
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // tests index fixtures they built
mod tests {
    use super::fnmatch;
    use std::time::{Duration, Instant};

    fn m(p: &str, t: &str) -> bool {
        fnmatch(p.as_bytes(), t.as_bytes())
    }

    #[test]
    fn fnmatch_semantics() {
        assert!(m(
            "pci:v00001000d00000072sv*sd*bc*sc*i*",
            "pci:v00001000d00000072sv00001028sd00001F1Cbc01sc04i00"
        ));
        assert!(m("pci:v00001000d*", "pci:v00001000d00000072"));
        assert!(!m("pci:v00001000d*", "pci:v00001001d00000072"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("***", "abc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(m("[a-]", "-"));
        assert!(m("[", "["));
        assert!(m("a[b", "a[b"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("*[0-9A-F]", "pci:vF"));
        // Case-insensitive, as the recursive matcher it replaces was.
        assert!(m("pci:v0000abcd*", "pci:v0000ABCD0001"));
        assert!(m("*d000000[6-7]?", "pci:v00001000d00000072"));
        assert!(!m("*d000000[6-7]?", "pci:v00001000d00000082"));
    }

    #[test]
    fn glob_bomb_finishes_fast() {
        // The alias of issue 15 (R4): many `*` and a byte the text does not have, so every
        // split fails; the recursive matcher needed ~C(55,17) steps.
        let pattern = format!("pci:v{}X{}", "*".repeat(38), "sv*sd*bc*sc*i*");
        let text = "pci:v00001000d00000072sv00001028sd00001F1Cbc01sc04i00".repeat(4);
        let start = Instant::now();
        assert!(!fnmatch(pattern.as_bytes(), text.as_bytes()));
        let long = format!("{}b", "*a".repeat(2000));
        assert!(!fnmatch(long.as_bytes(), "a".repeat(4000).as_bytes()));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}

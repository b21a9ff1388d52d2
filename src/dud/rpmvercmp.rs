//! rpm's version comparison (`rpmvercmp`) and anaconda's `dd_list` use of it.
//!
//! Hand-written because it must reproduce librpm's exact byte-level behaviour (the
//! `rpm-version` crate follows a different, newer algorithm for some edge cases); the
//! installer's acceptance of a driver RPM is decided by exactly this function.

use std::cmp::Ordering;

/// Compares two version strings exactly as librpm's `rpmvercmp()` (rpm 4.15+, with `~` and
/// `^`): alternating numeric and alphabetic segments, ASCII only, other bytes separate.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (0usize, 0usize);
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let is_sep = |c: u8| c != 0 && !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';

    while at(a, one) != 0 || at(b, two) != 0 {
        while is_sep(at(a, one)) {
            one += 1;
        }
        while is_sep(at(b, two)) {
            two += 1;
        }
        let (c1, c2) = (at(a, one), at(b, two));

        // A tilde sorts before everything, even the end of the string.
        if c1 == b'~' || c2 == b'~' {
            if c1 != b'~' {
                return Ordering::Greater;
            }
            if c2 != b'~' {
                return Ordering::Less;
            }
            one += 1;
            two += 1;
            continue;
        }
        // A caret sorts after the end of the string but before anything else.
        if c1 == b'^' || c2 == b'^' {
            if c1 == 0 {
                return Ordering::Less;
            }
            if c2 == 0 {
                return Ordering::Greater;
            }
            if c1 != b'^' {
                return Ordering::Greater;
            }
            if c2 != b'^' {
                return Ordering::Less;
            }
            one += 1;
            two += 1;
            continue;
        }
        if c1 == 0 || c2 == 0 {
            break;
        }

        let numeric = c1.is_ascii_digit();
        let in_segment = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let mut end1 = one;
        while in_segment(at(a, end1)) {
            end1 += 1;
        }
        let mut end2 = two;
        while in_segment(at(b, end2)) {
            end2 += 1;
        }
        // `one` always starts a segment here, so end1 > one.
        if end2 == two {
            // Segments of different kinds: numeric is newer than alphabetic.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let mut seg1 = a.get(one..end1).unwrap_or_default();
        let mut seg2 = b.get(two..end2).unwrap_or_default();
        if numeric {
            while seg1.first() == Some(&b'0') {
                seg1 = seg1.get(1..).unwrap_or_default();
            }
            while seg2.first() == Some(&b'0') {
                seg2 = seg2.get(1..).unwrap_or_default();
            }
            match seg1.len().cmp(&seg2.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match seg1.cmp(seg2) {
            Ordering::Equal => {}
            other => return other,
        }
        one = end1;
        two = end2;
    }
    match (at(a, one) == 0, at(b, two) == 0) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, _) => Ordering::Greater,
    }
}

/// rpm's dependency sense bits (`RPMSENSE_LESS`, `_GREATER`, `_EQUAL`).
pub const RPMSENSE_LESS: u32 = 1 << 1;
/// See [`RPMSENSE_LESS`].
pub const RPMSENSE_GREATER: u32 = 1 << 2;
/// See [`RPMSENSE_LESS`].
pub const RPMSENSE_EQUAL: u32 = 1 << 3;

/// anaconda `utils/dd/dd_list.c` `matchVersions(version, cmp, sense)`: true when
/// `rpmvercmp(version, cmp)` falls on a side the sense flags allow. `version` is the
/// running kernel's `uname -r`, `cmp` the version of `Provides: kernel-modules`.
pub fn sense_matches(version: &str, cmp: &str, sense: u32) -> bool {
    match rpmvercmp(version, cmp) {
        Ordering::Less => sense & RPMSENSE_LESS != 0,
        Ordering::Equal => sense & RPMSENSE_EQUAL != 0,
        Ordering::Greater => sense & RPMSENSE_GREATER != 0,
    }
}

/// The comparison operator rpm prints for sense flags (`>=`, `=`, ...); empty if none.
pub fn sense_operator(sense: u32) -> &'static str {
    match (
        sense & RPMSENSE_LESS != 0,
        sense & RPMSENSE_GREATER != 0,
        sense & RPMSENSE_EQUAL != 0,
    ) {
        (true, false, false) => "<",
        (true, false, true) => "<=",
        (false, true, false) => ">",
        (false, true, true) => ">=",
        (false, false, true) => "=",
        (true, true, true) => "<=>",
        (true, true, false) => "<>",
        (false, false, false) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// Cases from rpm's own test suite (tests/rpmvercmp.at) and the kernel versions that
    /// matter for driver disks.
    #[test]
    fn known_rpm_comparisons() {
        let table: &[(&str, &str, Ordering)] = &[
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0", "1.0", Greater),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1a", "2.0.1a", Equal),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p10", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("8", "xyz.4", Greater),
            ("1.0aa", "1.0a", Greater),
            ("6.0.rc1", "6.0", Greater),
            ("10b2", "10a1", Greater),
            ("1.0010", "1.9", Greater),
            ("1.05", "1.5", Equal),
            ("1.0", "1", Greater),
            ("2.50", "2.5", Greater),
            ("fc4", "fc.4", Equal),
            ("FC5", "fc4", Less),
            ("2a", "2.0", Less),
            ("1.0", "1.fc4", Greater),
            ("3.0.0_fc", "3.0.0.fc", Equal),
            ("1++", "1_", Equal),
            ("+", "_", Equal),
            ("_", "+", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
            (
                "5.14.0-284.11.1.el9_2.x86_64",
                "5.14.0-284.11.1.el9_2.x86_64",
                Equal,
            ),
            (
                "5.14.0-284.11.1.el9_2.x86_64",
                "5.14.0-570.12.1.el9_6.x86_64",
                Less,
            ),
            (
                "5.14.0-284.11.1.el9_2.x86_64",
                "5.14.0-284.11.1.el9_2",
                Greater,
            ),
            ("6.1.0-50-amd64", "6.1.0-50", Greater),
            ("6.1.0-50-amd64", "6.1.0-60", Less),
        ];
        for (a, b, want) in table {
            assert_eq!(rpmvercmp(a, b), *want, "rpmvercmp({a:?}, {b:?})");
        }
    }

    #[test]
    fn dd_list_sense() {
        let el92 = "5.14.0-284.11.1.el9_2.x86_64";
        let ge = RPMSENSE_GREATER | RPMSENSE_EQUAL;
        assert!(sense_matches(el92, "5.14.0-284.11.1.el9_2.x86_64", ge));
        assert!(!sense_matches(el92, "5.14.0-570.12.1.el9_6.x86_64", ge));
        assert!(sense_matches(el92, el92, RPMSENSE_EQUAL));
        assert!(!sense_matches(
            el92,
            "5.14.0-284.11.1.el9_2",
            RPMSENSE_EQUAL
        ));
        assert_eq!(sense_operator(ge), ">=");
    }
}

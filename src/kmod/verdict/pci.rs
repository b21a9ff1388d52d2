//! Which modules claim a PCI device (`check --pci 1000:0072`), by their `alias=` globs.

use crate::kmod::module::Module;

/// Names of the modules whose `alias=` entries match PCI device `vendor:device`
/// (what `check --pci 1000:0072` asks). An alias such as
/// `pci:v00001000d00000072sv*sd*bc*sc*i*` is glob-matched (fnmatch: `*`, `?`, `[...]`)
/// against the device's `pci:v0000VVVVd0000DDDD` part. Aliases that restrict the subsystem
/// or class (e.g. ahci's `pci:v00008086d*sv*sd*bc01sc06i*`) are not counted, nor those whose
/// vendor and device are both `*`: neither is decided by vendor:device alone.
pub fn modules_for_pci(vendor: u16, device: u16, modules: &[Module]) -> Vec<String> {
    let concrete = format!("pci:v0000{vendor:04X}d0000{device:04X}");
    let mut names: Vec<String> = modules
        .iter()
        .filter(|m| {
            m.aliases.iter().any(|alias| {
                let Some(rest) = alias.strip_prefix("pci:v") else {
                    return false;
                };
                // Vendor/device part of the pattern: up to "sv" (or the end). The rest
                // (subsystem, class) must be all wildcards: modpost writes such an alias as
                // exactly "sv*sd*bc*sc*i*".
                let (head, tail) = match rest.find("sv") {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, ""),
                };
                if !(tail.is_empty() || tail == "sv*sd*bc*sc*i*") {
                    return false;
                }
                // A real vendor/device pattern is short; longer ones are not PCI aliases.
                // (The matcher is O(pattern × text) whatever the pattern, see alias.rs.)
                if head.len() > 40 {
                    return false;
                }
                let pattern = format!("pci:v{head}");
                let wildcard_only = head.trim_matches(|c| c == '*' || c == 'd').is_empty();
                !wildcard_only && fnmatch(pattern.as_bytes(), concrete.as_bytes())
            })
        })
        .map(|m| m.display_name().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The alias glob matcher (kept here for existing callers; see [`super::alias`]).
pub use crate::kmod::alias::fnmatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(fnmatch(
            b"pci:v00001000d00000072",
            b"pci:v00001000d00000072"
        ));
        assert!(fnmatch(b"pci:v00001000d*", b"pci:v00001000d00000072"));
        assert!(fnmatch(
            b"pci:v00001000d0000007[0-4]",
            b"pci:v00001000d00000072"
        ));
        assert!(!fnmatch(
            b"pci:v00001000d0000007[!2]",
            b"pci:v00001000d00000072"
        ));
        assert!(!fnmatch(
            b"pci:v00001000d00000073",
            b"pci:v00001000d00000072"
        ));
        assert!(fnmatch(b"a?c", b"abc"));
    }
}

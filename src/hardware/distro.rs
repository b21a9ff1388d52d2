//! Which distribution and release a boot ISO is, from what the media says about itself:
//! `.treeinfo` (`[release]`/`[general]`, DVDs), `.discinfo` line 2 (`9.2` or `Rocky Linux 9.2`),
//! the volume label (`Rocky-9-2-x86_64-dvd`, `AlmaLinux-9-4-x86_64-dvd`,
//! `RHEL-9-4-0-BaseOS-x86_64`) and, last, the initrd's `.buildstamp` (`Product=`,
//! `Version=`). The name and the release may come from different places; each says which.

use serde::Serialize;

use super::support::{Family, Release};

#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    /// `Rocky Linux`, `AlmaLinux`, `Red Hat Enterprise Linux`; `None` when nothing names it.
    pub name: Option<String>,
    /// Whose rules apply: `rhel` (RHEL and its unchanged rebuilds) or `alma-linux`;
    /// `None` for a name the table does not know.
    pub family: Option<Family>,
    /// `9.2`.
    pub release: Option<String>,
    /// Where the name was read (`.treeinfo [release] name`, `.discinfo line 2`, `volume label`...).
    pub name_source: Option<String>,
    pub release_source: Option<String>,
}

impl Distribution {
    /// `(9, 2)`; a release without a minor (`9`, CentOS Stream) counts as its newest minor.
    pub fn release_tuple(&self) -> Option<Release> {
        parse_release(self.release.as_deref()?)
    }

    /// `Rocky Linux 9.2`, `release 9.2`, `an unnamed distribution`.
    pub fn label(&self) -> String {
        match (&self.name, &self.release) {
            (Some(n), Some(r)) => format!("{n} {r}"),
            (Some(n), None) => n.clone(),
            (None, Some(r)) => format!("release {r}"),
            (None, None) => "this distribution".into(),
        }
    }
}

pub fn parse_release(s: &str) -> Option<Release> {
    let mut parts = s.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(m) => m.parse().ok()?,
        None => super::support::ANY_MINOR,
    };
    Some((major, minor))
}

/// The family whose rules apply to a distribution name.
pub fn family_of(name: &str) -> Option<Family> {
    let n = name.to_ascii_lowercase().replace([' ', '-', '_'], "");
    if n.starts_with("almalinux") {
        Some(Family::AlmaLinux)
    } else if [
        "redhat",
        "rhel",
        "rocky",
        "centos",
        "oraclelinux",
        "ol",
        "circle",
        "navy",
        "eurolinux",
    ]
    .iter()
    .any(|p| n.starts_with(p))
    {
        Some(Family::Rhel)
    } else {
        None
    }
}

/// The texts the media carries, each optional.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    pub treeinfo: Option<&'a str>,
    pub discinfo: Option<&'a str>,
    pub volume_id: Option<&'a str>,
    pub buildstamp: Option<&'a str>,
}

/// Reads name and release, each from the first source that has it.
pub fn detect(s: &Sources) -> Distribution {
    let mut found: Vec<(Option<String>, Option<String>, &str)> = Vec::new();
    if let Some(t) = s.treeinfo {
        let (n, r) = treeinfo(t);
        found.push((n, r, ".treeinfo"));
    }
    if let Some(d) = s.discinfo {
        let (n, r) = discinfo(d);
        found.push((n, r, ".discinfo line 2"));
    }
    if let Some(v) = s.volume_id {
        let (n, r) = volume_label(v);
        found.push((n, r, "volume label"));
    }
    if let Some(b) = s.buildstamp {
        let (n, r) = buildstamp(b);
        found.push((n, r, "initrd .buildstamp"));
    }
    let name = found
        .iter()
        .find_map(|(n, _, src)| Some((n.clone()?, *src)));
    let release = found
        .iter()
        .find_map(|(_, r, src)| Some((r.clone()?, *src)));
    Distribution {
        family: name.as_ref().and_then(|(n, _)| family_of(n)),
        name_source: name.as_ref().map(|(_, s)| s.to_string()),
        name: name.map(|(n, _)| n),
        release_source: release.as_ref().map(|(_, s)| s.to_string()),
        release: release.map(|(r, _)| r),
    }
}

fn ini_value<'a>(text: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim()).filter(|v| !v.is_empty());
                }
            }
        }
    }
    None
}

fn treeinfo(text: &str) -> (Option<String>, Option<String>) {
    let name = ini_value(text, "release", "name")
        .or_else(|| ini_value(text, "general", "family"))
        .map(str::to_string);
    let release = ini_value(text, "release", "version")
        .or_else(|| ini_value(text, "general", "version"))
        .filter(|v| parse_release(v).is_some())
        .map(str::to_string);
    (name, release)
}

/// Line 2: `9.2` or `Rocky Linux 9.2`.
fn discinfo(text: &str) -> (Option<String>, Option<String>) {
    let Some(line) = text.lines().nth(1).map(str::trim) else {
        return (None, None);
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let release = words
        .iter()
        .rev()
        .find(|w| parse_release(w).is_some())
        .map(|w| w.to_string());
    let name_words: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| parse_release(w).is_none())
        .collect();
    let name = Some(name_words.join(" ")).filter(|n| !n.is_empty());
    (name, release)
}

/// `Rocky-9-2-x86_64-dvd`, `AlmaLinux-9-4-x86_64-dvd`, `RHEL-9-4-0-BaseOS-x86_64`,
/// `OL-9-4-0-BaseOS-x86_64`, `CentOS-Stream-9-BaseOS-x86_64`.
fn volume_label(label: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = label.split('-').collect();
    let Some(first_num) = parts.iter().position(|p| p.parse::<u32>().is_ok()) else {
        return (None, None);
    };
    let product = parts.get(..first_num).unwrap_or_default().join(" ");
    let name = match product.as_str() {
        "" => None,
        "RHEL" => Some("Red Hat Enterprise Linux".to_string()),
        "OL" => Some("Oracle Linux".to_string()),
        "Rocky" => Some("Rocky Linux".to_string()),
        other => Some(other.to_string()),
    };
    let major = parts.get(first_num).copied();
    let minor = parts
        .get(first_num + 1)
        .filter(|p| p.parse::<u32>().is_ok());
    let release = match (major, minor) {
        (Some(m), Some(n)) => Some(format!("{m}.{n}")),
        (Some(m), None) => Some(m.to_string()),
        _ => None,
    };
    (name, release)
}

fn buildstamp(text: &str) -> (Option<String>, Option<String>) {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    (
        get("Product="),
        get("Version=").filter(|v| parse_release(v).is_some()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(
            volume_label("Rocky-9-2-x86_64-dvd"),
            (Some("Rocky Linux".into()), Some("9.2".into()))
        );
        assert_eq!(
            volume_label("AlmaLinux-9-4-x86_64-dvd"),
            (Some("AlmaLinux".into()), Some("9.4".into()))
        );
        assert_eq!(
            volume_label("RHEL-9-4-0-BaseOS-x86_64"),
            (Some("Red Hat Enterprise Linux".into()), Some("9.4".into()))
        );
        assert_eq!(
            volume_label("CentOS-Stream-9-BaseOS-x86_64"),
            (Some("CentOS Stream".into()), Some("9".into()))
        );
        assert_eq!(volume_label("OEMDRV"), (None, None));
    }

    #[test]
    fn precedence_and_sources() {
        let d = detect(&Sources {
            treeinfo: None,
            discinfo: Some("1683849600.0\n9.4\nx86_64\n"),
            volume_id: Some("RHEL-9-4-0-BaseOS-x86_64"),
            buildstamp: None,
        });
        assert_eq!(d.label(), "Red Hat Enterprise Linux 9.4");
        assert_eq!(d.release_source.as_deref(), Some(".discinfo line 2"));
        assert_eq!(d.name_source.as_deref(), Some("volume label"));
        assert_eq!(d.family, Some(Family::Rhel));
        let d = detect(&Sources {
            treeinfo: Some("[general]\nfamily = AlmaLinux\nversion = 9.4\n"),
            discinfo: Some("1\nRocky Linux 9.2\nx86_64\n"),
            volume_id: Some("Rocky-9-2-x86_64-dvd"),
            buildstamp: None,
        });
        assert_eq!(
            (d.label().as_str(), d.family),
            ("AlmaLinux 9.4", Some(Family::AlmaLinux))
        );
        assert_eq!(d.name_source.as_deref(), Some(".treeinfo"));
        assert_eq!(family_of("Oracle Linux"), Some(Family::Rhel));
        assert_eq!(family_of("Debian"), None);
        assert_eq!(parse_release("10.1"), Some((10, 1)));
    }
}

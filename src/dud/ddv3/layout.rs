//! `find_repos` and `find_isos` over a disk's entry list: which directories are repos
//! (`rhdd3` beside `rpms/<arch>/`), which `rhdd3` entries are not files, the top-level
//! `*.iso` files and bare modules lying outside any RPM. Only where things are: whether
//! the installer takes them is [`super::findings`]' business.

use std::collections::HashMap;

use serde::Serialize;

use crate::dud::rpm::ModuleCompression;
use crate::dud::rules::{self, join, RHDD3, RPMS_DIR};

/// Kind of an entry in the DUD tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Other,
}

/// One entry of the DUD's tree; `path` is absolute within the DUD (`/rpms/x86_64/a.rpm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
}

/// A `rpms/<arch>/` directory and what sits beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpmDir {
    /// The directory holding `rpms/` (and, for a valid repo, `rhdd3`), e.g. `/`.
    pub parent: String,
    pub arch: String,
    /// True when `parent` holds a regular file named exactly `rhdd3`.
    pub has_rhdd3: bool,
    /// `*.rpm` files directly in `rpms/<arch>/` (dd_list's non-recursive glob).
    pub rpm_files: Vec<String>,
}

impl RpmDir {
    /// `<parent>/rpms/<arch>`.
    pub fn path(&self) -> String {
        rules::repo_dir(&self.parent, &self.arch)
    }
}

/// Where the installer-relevant pieces were found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// Every `rpms/<arch>/` directory, with or without `rhdd3` beside it.
    pub rpm_dirs: Vec<RpmDir>,
    /// Directories holding a regular file `rhdd3`.
    pub rhdd3_dirs: Vec<String>,
    /// `rhdd3` entries that are not regular files (ignored by the installer).
    pub rhdd3_not_files: Vec<String>,
    /// Top-level `*.iso` files.
    pub top_level_isos: Vec<String>,
    /// Kernel module files lying in the tree outside any RPM (`ks-modules/...`).
    pub bare_modules: Vec<String>,
}

impl Layout {
    /// The repos the installer would use on `arch` (`rhdd3` + `rpms/<arch>/`).
    pub fn repos(&self, arch: &str) -> impl Iterator<Item = &RpmDir> {
        let arch = arch.to_owned();
        self.rpm_dirs
            .iter()
            .filter(move |d| d.has_rhdd3 && d.arch == arch)
    }
}

pub(super) fn parent_and_name(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", path.get(1..).unwrap_or("")),
        Some(i) => (
            path.get(..i).unwrap_or("/"),
            path.get(i + 1..).unwrap_or(""),
        ),
        None => ("/", path),
    }
}

/// Finds the layout pieces in a sorted entry list (find_repos + find_isos + bare modules).
pub fn analyse_layout(entries: &[TreeEntry]) -> Layout {
    let kinds: HashMap<&str, EntryKind> =
        entries.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    let mut layout = Layout::default();
    for entry in entries {
        let (parent, name) = parent_and_name(&entry.path);
        if name == RHDD3 {
            if entry.kind == EntryKind::File {
                layout.rhdd3_dirs.push(parent.to_owned());
            } else {
                layout.rhdd3_not_files.push(entry.path.clone());
            }
        }
        if entry.kind == EntryKind::Dir {
            let (grand, rpms) = parent_and_name(parent);
            if rpms == RPMS_DIR && parent != "/" {
                let has_rhdd3 = kinds.get(join(grand, RHDD3).as_str()) == Some(&EntryKind::File);
                let prefix = join(&entry.path, "");
                let rpm_files = entries
                    .iter()
                    .filter(|e| e.kind != EntryKind::Dir)
                    .filter_map(|e| e.path.strip_prefix(&prefix).map(|rest| (e, rest)))
                    .filter(|(_, rest)| {
                        !rest.contains('/') && rest.ends_with(".rpm") && !rest.starts_with('.')
                    })
                    .map(|(e, _)| e.path.clone())
                    .collect();
                layout.rpm_dirs.push(RpmDir {
                    parent: grand.to_owned(),
                    arch: name.to_owned(),
                    has_rhdd3,
                    rpm_files,
                });
            }
        }
        if entry.kind == EntryKind::File
            && parent == "/"
            && name.to_ascii_lowercase().ends_with(".iso")
        {
            layout.top_level_isos.push(entry.path.clone());
        }
        if entry.kind == EntryKind::File && ModuleCompression::of_path(name).is_some() {
            layout.bare_modules.push(entry.path.clone());
        }
    }
    layout
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind,
            size: 1,
        }
    }

    #[test]
    fn layout_rules() {
        use EntryKind::*;
        let entries = vec![
            e("/a", Dir),
            e("/a/rhdd3", File),
            e("/a/rpms", Dir),
            e("/a/rpms/x86_64", Dir),
            e("/a/rpms/x86_64/k.rpm", File),
            e("/a/rpms/x86_64/sub", Dir),
            e("/a/rpms/x86_64/sub/deep.rpm", File),
            e("/b", Dir),
            e("/b/rhdd3", Dir),
            e("/b/rpms", Dir),
            e("/b/rpms/x86_64", Dir),
            e("/c.ISO", File),
            e("/d", Dir),
            e("/d/e.iso", File),
            e("/ks-modules", Dir),
            e("/ks-modules/x86_64", Dir),
            e("/ks-modules/x86_64/6.1/m.ko.xz", File),
        ];
        let l = analyse_layout(&entries);
        assert_eq!(l.rhdd3_dirs, vec!["/a"]);
        assert_eq!(l.rhdd3_not_files, vec!["/b/rhdd3"]);
        assert_eq!(l.repos("x86_64").count(), 1);
        assert_eq!(
            l.repos("x86_64").next().unwrap().rpm_files,
            vec!["/a/rpms/x86_64/k.rpm"]
        );
        assert_eq!(l.top_level_isos, vec!["/c.ISO"]);
        assert_eq!(l.bare_modules, vec!["/ks-modules/x86_64/6.1/m.ko.xz"]);
        assert_eq!(l.rpm_dirs.len(), 2);
    }
}

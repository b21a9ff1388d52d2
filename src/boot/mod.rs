//! Boot configuration of the installer ISO: menu entries of `isolinux/isolinux.cfg` and
//! `EFI/BOOT/grub.cfg` (also the copy inside `images/efiboot.img`), kernel command-line
//! edits on every installer entry, the FAT edit of efiboot.img, and `.treeinfo` checksums.
//!
//! Everything here is a pure function over text or a `Read + Write + Seek`; the pipeline
//! decides which files to feed in and where the results go.

pub mod cmdline;
pub mod efiboot;
pub mod grub;
pub mod isolinux;
pub mod treeinfo;

use serde::Serialize;

pub use cmdline::{
    arg_key, dud_device_note, dud_problem, ks_arg, label_problems, referenced_labels, split_args,
    udev_escape, udev_unescape, CmdlineEdits,
};

use cmdline::{
    apply_replacements, edit_line, validate_edits, CmdLine, Dialect, LineEdit, Replacement,
};

/// The syntax of a boot config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    /// syslinux/isolinux (`label`, `kernel`, `append`).
    Isolinux,
    /// GRUB 2 script (`menuentry`, `linux`/`linuxefi`).
    Grub,
}

impl ConfigKind {
    fn dialect(self) -> Dialect {
        match self {
            ConfigKind::Isolinux => Dialect::Isolinux,
            ConfigKind::Grub => Dialect::Grub,
        }
    }
}

/// The config syntax of a file, from its name (`isolinux/isolinux.cfg`, `EFI/BOOT/grub.cfg`,
/// `boot/grub2/grub.cfg`, `EFI/BOOT/BOOT.conf`...). None for files we do not edit
/// (`isolinux/grub.conf` is legacy GRUB and unused on x86).
pub fn detect_kind(path: &str) -> Option<ConfigKind> {
    let name = path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    match name.as_str() {
        "isolinux.cfg" | "syslinux.cfg" | "extlinux.conf" => Some(ConfigKind::Isolinux),
        "grub.cfg" | "boot.conf" => Some(ConfigKind::Grub),
        _ => None,
    }
}

/// What a menu entry boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The installer kernel (install, text, basic graphics, FIPS...).
    Install,
    /// The installer with `rd.live.check` (media test; the lorax default).
    Check,
    /// The installer with `inst.rescue`.
    Rescue,
    /// memtest86+ (never edited).
    Memtest,
    /// Boot from the local disk: isolinux `localboot`, grub `chainloader` / `exit` (never
    /// edited).
    LocalBoot,
    /// Anything else (menu commands, another kernel).
    Other,
}

impl EntryKind {
    /// Entries that boot the installer kernel and get the command-line edits.
    pub fn is_installer(self) -> bool {
        matches!(
            self,
            EntryKind::Install | EntryKind::Check | EntryKind::Rescue
        )
    }
}

/// One menu entry of a boot config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootEntry {
    /// Menu text (isolinux `menu label` without `^`, or the label name; grub title).
    pub title: String,
    /// isolinux `label` name.
    pub label: Option<String>,
    /// Enclosing submenu title, if any.
    pub submenu: Option<String>,
    pub kind: EntryKind,
    /// Kernel path as written (`vmlinuz`, `/images/pxeboot/vmlinuz`).
    pub kernel: Option<String>,
    /// Kernel arguments as the kernel receives them (quotes removed), all command lines
    /// of the entry in order.
    pub args: Vec<String>,
    /// The entry is the menu default (isolinux `menu default` / `default <label>`, grub
    /// `set default=` by index or title).
    pub is_default: bool,
    /// 1-based line where the entry starts.
    pub line: usize,
}

impl BootEntry {
    /// Labels referenced by `inst.stage2=hd:LABEL=` (unescaped).
    pub fn stage2_labels(&self) -> Vec<String> {
        self.args
            .iter()
            .filter(|a| arg_key(a) == "inst.stage2")
            .flat_map(|a| referenced_labels(a))
            .collect()
    }

    /// True if the entry carries `arg` exactly.
    pub fn has_arg(&self, arg: &str) -> bool {
        self.args.iter().any(|a| a == arg)
    }
}

/// Changes made to one entry (for the plan printout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryChange {
    pub title: String,
    pub kind: EntryKind,
    pub line: usize,
    /// Human-readable changes ("added inst.dd=/dd.iso", "removed inst.dd=OEMDRV (...)").
    /// Empty when the entry is unchanged.
    pub changes: Vec<String>,
}

/// Result of [`edit_config`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EditedConfig {
    /// The new file text; identical to the input outside the edited arguments.
    pub text: String,
    /// Every entry with its changes (unchanged entries have none).
    pub entries: Vec<EntryChange>,
    /// Changes outside menu entries (grub `search -l`, isolinux global `append`).
    pub file_changes: Vec<String>,
    /// Problems found that were not fixed (wrong driver-update forms when no DUD is added,
    /// installer entries without a command line, unbalanced braces...).
    pub warnings: Vec<String>,
}

impl EditedConfig {
    /// One line per change for the plan printout, prefixed with `file` (e.g.
    /// `EFI/BOOT/grub.cfg: "Install Rocky Linux 9.2" (install): added inst.dd=/dd.iso`),
    /// then the warnings (`file: warning: ...`).
    pub fn summary(&self, file: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.entries {
            let kind = serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            for c in &e.changes {
                out.push(format!("{file}: \"{}\" ({kind}): {c}", e.title));
            }
        }
        for c in &self.file_changes {
            out.push(format!("{file}: {c}"));
        }
        for w in &self.warnings {
            out.push(format!("{file}: warning: {w}"));
        }
        out
    }

    /// Number of installer entries that were changed.
    pub fn installer_entries_changed(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.kind.is_installer() && !e.changes.is_empty())
            .count()
    }
}

/// Errors of the boot-config edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootError {
    /// The requested edit itself is wrong (bad argument, wrong driver-update form...).
    #[error("{0}")]
    InvalidEdit(String),
    /// Arguments were to be added but the file has no installer entry with a command line.
    #[error("no installer boot entry with a kernel command line found in this {kind:?} config; nothing to add the arguments to")]
    NoInstallerEntry { kind: ConfigKind },
    /// A quote opened at `line` is never closed: GRUB rejects the whole file, the kernel
    /// glues the rest of an isolinux `append` into one parameter, and arguments appended
    /// after it would land inside the quote.
    #[error("line {line}: a quote is never closed or a backslash ends the file (GRUB or the kernel would misread everything after it); fix it, the file is not edited")]
    UnterminatedQuote { line: usize },
}

/// A word of the config that names a volume label (grub `search -l`).
#[derive(Debug, Clone)]
pub(crate) struct LabelWord {
    pub start: usize,
    pub end: usize,
    pub value: String,
    pub line: usize,
}

/// An entry with the spans needed to edit it.
#[derive(Debug, Clone)]
pub(crate) struct ParsedEntry {
    pub entry: BootEntry,
    pub cmdlines: Vec<CmdLine>,
}

/// Parser output shared by both syntaxes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedConfig {
    pub entries: Vec<ParsedEntry>,
    /// Command lines outside any entry (isolinux global `append`).
    pub loose_cmdlines: Vec<CmdLine>,
    pub label_words: Vec<LabelWord>,
    pub warnings: Vec<String>,
    /// Line of a quote never closed, if any.
    pub unterminated_quote: Option<usize>,
}

/// Normalised kernel path: without a grub device prefix `(...)`, leading `/`, lower case.
fn normalize_kernel_path(path: &str) -> String {
    let p = if path.starts_with('(') {
        path.split_once(')').map_or(path, |(_, rest)| rest)
    } else {
        path
    };
    p.trim_start_matches('/').to_ascii_lowercase()
}

/// Classify an entry from its kernel, arguments and local-boot commands.
pub(crate) fn classify(kernel: Option<&str>, args: &[String], local_boot: bool) -> EntryKind {
    if local_boot {
        return EntryKind::LocalBoot;
    }
    let Some(kernel) = kernel else {
        return EntryKind::Other;
    };
    let path = normalize_kernel_path(kernel);
    let base = path.rsplit('/').next().unwrap_or(&path);
    if base.contains("memtest") {
        return EntryKind::Memtest;
    }
    let has_key = |k: &str| args.iter().any(|a| arg_key(a) == k);
    let live_image = args
        .iter()
        .any(|a| a.starts_with("root=live:") || a.starts_with("boot=casper"));
    let installer_path = matches!(
        path.as_str(),
        "vmlinuz" | "isolinux/vmlinuz" | "images/pxeboot/vmlinuz"
    );
    let installer =
        base.starts_with("vmlinuz") && !live_image && (installer_path || has_key("inst.stage2"));
    if !installer {
        return EntryKind::Other;
    }
    if has_key("rd.live.check") {
        EntryKind::Check
    } else if has_key("inst.rescue") {
        EntryKind::Rescue
    } else {
        EntryKind::Install
    }
}

fn parse(kind: ConfigKind, text: &str) -> ParsedConfig {
    match kind {
        ConfigKind::Isolinux => isolinux::parse(text),
        ConfigKind::Grub => grub::parse(text),
    }
}

/// The menu entries of a boot config (for `inspect` / `verify`). Never fails: unparsable
/// parts are skipped.
pub fn parse_entries(kind: ConfigKind, text: &str) -> Vec<BootEntry> {
    parse(kind, text)
        .entries
        .into_iter()
        .map(|e| e.entry)
        .collect()
}

/// Labels a config refers to: `hd:LABEL=` in any entry and grub `search -l` (unescaped,
/// deduplicated, in order of appearance). Each must equal the ISO volume id.
pub fn referenced_volume_labels(kind: ConfigKind, text: &str) -> Vec<String> {
    let parsed = parse(kind, text);
    let mut out: Vec<String> = Vec::new();
    let loose: Vec<String> = parsed
        .loose_cmdlines
        .iter()
        .flat_map(|c| c.args.iter().map(|a| a.value.clone()))
        .collect();
    let from_args = parsed
        .entries
        .iter()
        .flat_map(|e| e.entry.args.iter())
        .chain(loose.iter())
        .flat_map(|a| referenced_labels(a));
    let from_search = parsed.label_words.iter().map(|w| w.value.clone());
    for l in from_args.chain(from_search) {
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

/// Apply `edits` to every installer entry of a config (and the label rename everywhere),
/// keeping every other byte of `text` as it was. Editing twice gives the same text as
/// editing once.
///
/// Per command line, in order: remove `remove_keys`; rename label references; drop wrong
/// driver-update forms (`inst.dd=OEMDRV`, `init.dd=`, `dd=`, `inst.dd=hd:LABEL=X:/f.iso`,
/// bare `inst.dd`) when `dud_paths` is non-empty, else warn about them; add `add`; add
/// `inst.dd=<path>` for each DUD; merge `rd.driver.pre`. New arguments are appended after
/// the last one (grub: single-quoted when they contain characters GRUB would interpret,
/// e.g. the `\x20` of a label). Memtest, local-boot and other entries are never edited.
pub fn edit_config(
    kind: ConfigKind,
    text: &str,
    edits: &CmdlineEdits,
) -> Result<EditedConfig, BootError> {
    validate_edits(edits).map_err(BootError::InvalidEdit)?;
    let parsed = parse(kind, text);
    if let Some(line) = parsed.unterminated_quote {
        return Err(BootError::UnterminatedQuote { line });
    }
    let dialect = kind.dialect();
    let mut reps: Vec<Replacement> = Vec::new();
    let mut warnings = parsed.warnings.clone();
    let mut file_changes = Vec::new();
    let mut entries = Vec::new();
    let mut installer_lines = 0usize;
    let mut label_refs_seen = 0usize;

    if let Some((_, new)) = &edits.volume_label_rename {
        warnings.extend(label_problems(new));
    }

    for pe in &parsed.entries {
        let e = &pe.entry;
        let installer = e.kind.is_installer();
        let mut changes = Vec::new();
        if installer && pe.cmdlines.is_empty() {
            warnings.push(format!(
                "line {}: installer entry \"{}\" has no kernel command line; not edited",
                e.line, e.title
            ));
        }
        if installer {
            installer_lines += pe.cmdlines.len();
        }
        if e.kind == EntryKind::Other && !pe.cmdlines.is_empty() && edits.adds_something() {
            warnings.push(format!(
                "line {}: entry \"{}\" boots {}, which is not the installer kernel; left unchanged",
                e.line,
                e.title,
                e.kernel.as_deref().unwrap_or("an unknown kernel")
            ));
        }
        for cl in &pe.cmdlines {
            let out = edit_line(
                &LineEdit {
                    text,
                    cmdline: cl,
                    dialect,
                    installer,
                },
                edits,
            );
            label_refs_seen += out
                .changes
                .iter()
                .filter(|c| c.starts_with("label: "))
                .count();
            reps.extend(out.replacements);
            changes.extend(out.changes);
            warnings.extend(
                out.warnings
                    .into_iter()
                    .map(|w| format!("{w} (entry \"{}\")", e.title)),
            );
        }
        entries.push(EntryChange {
            title: e.title.clone(),
            kind: e.kind,
            line: e.line,
            changes,
        });
    }

    // Global isolinux `append`: only the label rename applies.
    for cl in &parsed.loose_cmdlines {
        let out = edit_line(
            &LineEdit {
                text,
                cmdline: cl,
                dialect,
                installer: false,
            },
            edits,
        );
        label_refs_seen += out
            .changes
            .iter()
            .filter(|c| c.starts_with("label: "))
            .count();
        reps.extend(out.replacements);
        file_changes.extend(
            out.changes
                .into_iter()
                .map(|c| format!("line {}: {c}", cl.line)),
        );
    }

    if let Some((old, new)) = &edits.volume_label_rename {
        for w in &parsed.label_words {
            if &w.value == old {
                reps.push(Replacement {
                    start: w.start,
                    end: w.end,
                    text: format!("'{}'", new.replace('\'', "'\\''")),
                });
                file_changes.push(format!("line {}: search label {old} -> {new}", w.line));
                label_refs_seen += 1;
            }
        }
        if label_refs_seen == 0 && old != new {
            let present = referenced_volume_labels(kind, text);
            if !present.iter().any(|l| l == new) {
                warnings.push(format!(
                    "no reference to the old volume label \"{old}\" found (labels referenced: {})",
                    if present.is_empty() {
                        "none".to_string()
                    } else {
                        present.join(", ")
                    }
                ));
            }
        }
    }

    if edits.adds_something() && installer_lines == 0 {
        return Err(BootError::NoInstallerEntry { kind });
    }

    Ok(EditedConfig {
        text: apply_replacements(text, reps),
        entries,
        file_changes,
        warnings,
    })
}

/// Byte offsets where each line starts (for line numbers of spans).
pub(crate) fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// 1-based line number of byte `pos`.
pub(crate) fn line_of(starts: &[usize], pos: usize) -> usize {
    match starts.binary_search(&pos) {
        Ok(i) => i + 1,
        Err(i) => i,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let a = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            classify(
                Some("vmlinuz"),
                &a(&["inst.stage2=hd:LABEL=X", "quiet"]),
                false
            ),
            EntryKind::Install
        );
        assert_eq!(
            classify(
                Some("/images/pxeboot/vmlinuz"),
                &a(&["rd.live.check"]),
                false
            ),
            EntryKind::Check
        );
        assert_eq!(
            classify(
                Some("($root)/images/pxeboot/vmlinuz"),
                &a(&["inst.rescue"]),
                false
            ),
            EntryKind::Rescue
        );
        assert_eq!(classify(Some("memtest"), &[], false), EntryKind::Memtest);
        assert_eq!(classify(None, &[], true), EntryKind::LocalBoot);
        assert_eq!(classify(Some("vesamenu.c32"), &[], false), EntryKind::Other);
        assert_eq!(
            classify(Some("/boot/vmlinuz-6.1"), &a(&["root=/dev/sda1"]), false),
            EntryKind::Other
        );
        assert_eq!(detect_kind("EFI/BOOT/grub.cfg"), Some(ConfigKind::Grub));
        assert_eq!(
            detect_kind("/isolinux/ISOLINUX.CFG"),
            Some(ConfigKind::Isolinux)
        );
        assert_eq!(detect_kind("isolinux/grub.conf"), None);
    }
}

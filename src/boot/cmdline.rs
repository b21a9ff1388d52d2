//! Kernel command-line arguments inside boot configs: the argument model shared by the
//! isolinux and grub parsers, the edit engine (add / remove / rename label / DUD /
//! rd.driver.pre), udev label escaping and the classification of wrong driver-update forms.
//!
//! Edits never re-render a line: every argument carries its byte span in the file, and an
//! edit is a list of span replacements, so untouched bytes (indentation, quoting, comments,
//! CRLF) stay exactly as they were.
//!
//! Over 800 lines with its tests (about 70); the code alone is about 750.

use serde::Serialize;

/// Which quoting rules a command line follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// syslinux passes the `append` text verbatim to the kernel; only the kernel's own
    /// double quotes group words.
    Isolinux,
    /// GRUB script words: quotes and backslashes are removed before the kernel sees them.
    Grub,
}

/// One argument of a command line in a config file.
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    /// Byte span of the argument's raw text in the whole file.
    pub start: usize,
    pub end: usize,
    /// The argument as the kernel receives it.
    pub value: String,
    /// GRUB only: an unquoted `\xNN` whose backslash GRUB itself would drop; `value` keeps
    /// the udev escape the author meant.
    pub eaten_escape: bool,
}

/// A kernel command line (isolinux `append`, grub `linux`/`linuxefi`/`linux16`).
#[derive(Debug, Clone)]
pub(crate) struct CmdLine {
    pub args: Vec<Arg>,
    /// Where appended arguments go (end of the last word; before any line ending).
    pub insert_at: usize,
    /// 1-based line number, for messages.
    pub line: usize,
}

/// A text replacement in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replacement {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Apply non-overlapping replacements (any order) to `text`.
pub(crate) fn apply_replacements(text: &str, mut reps: Vec<Replacement>) -> String {
    reps.sort_by(|a, b| a.start.cmp(&b.start).then(a.end.cmp(&b.end)));
    let mut out = String::with_capacity(text.len() + 256);
    let mut pos = 0usize;
    for r in reps {
        if r.start < pos || r.end < r.start || r.end > text.len() {
            // Overlapping or out-of-range replacement: cannot happen with spans from our
            // parsers; skip rather than corrupt.
            continue;
        }
        out.push_str(text.get(pos..r.start).unwrap_or(""));
        out.push_str(&r.text);
        pos = r.end;
    }
    out.push_str(text.get(pos..).unwrap_or(""));
    out
}

/// What to change on the installer entries of a boot config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CmdlineEdits {
    /// Arguments to add (already split, e.g. by [`split_args`]), as the kernel should see
    /// them. An argument already present with the same value is not added again; the same
    /// key with another value is replaced (except repeatable keys such as `console`,
    /// `inst.dd`, `ip`, which get the new value added).
    pub add: Vec<String>,
    /// Keys to remove (`inst.ks`, `quiet`...): every argument with that key goes.
    pub remove_keys: Vec<String>,
    /// Rename the volume label: every `hd:LABEL=` / `CDLABEL=` reference and grub's
    /// `search -l` label equal to `.0` becomes `.1` (in every entry, installer or not).
    pub volume_label_rename: Option<(String, String)>,
    /// Driver update disks inside the initrd: each gets `inst.dd=<path>` (e.g. `/dd.iso`).
    /// When non-empty, pre-existing wrong driver-update arguments are removed.
    pub dud_paths: Vec<String>,
    /// Modules for `rd.driver.pre=` (merged into an existing comma list).
    pub driver_pre: Vec<String>,
    /// The installer reads `dd=` as an alias of `inst.dd=` (EL8's anaconda: `getargs dd=
    /// inst.dd=`): `dd=` values are judged as `inst.dd=` ones instead of as a removed form.
    pub dd_alias: bool,
}

impl CmdlineEdits {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty()
            && self.remove_keys.is_empty()
            && self.volume_label_rename.is_none()
            && self.dud_paths.is_empty()
            && self.driver_pre.is_empty()
    }

    /// True when something is added to installer entries.
    pub(crate) fn adds_something(&self) -> bool {
        !self.add.is_empty() || !self.dud_paths.is_empty() || !self.driver_pre.is_empty()
    }
}

/// Keys the kernel or dracut accept several times; adding one never replaces another.
const REPEATABLE_KEYS: &[&str] = &[
    "console",
    "inst.dd",
    "inst.addrepo",
    "ip",
    "nameserver",
    "bond",
    "team",
    "vlan",
    "bridge",
    "ifname",
    "rd.driver.pre",
    "rd.driver.post",
    "rd.driver.blacklist",
    "modprobe.blacklist",
    "rd.znet",
    "rd.dasd",
    "rd.zfcp",
];

/// The key of an argument: the text before the first `=` (the whole text for a flag).
pub fn arg_key(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(k, _)| k)
}

/// Split a user-supplied argument string (`--cmdline "…"`) like a POSIX shell would
/// (mkksiso uses Python's shlex): whitespace separates, quotes group and are removed.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("unbalanced ' in \"{s}\"")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err(format!("unbalanced \" in \"{s}\"")),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("unbalanced \" in \"{s}\"")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err(format!("trailing backslash in \"{s}\"")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Escape a volume label the way udev names `/dev/disk/by-label/` links (and lorax writes
/// `inst.stage2=hd:LABEL=`): ASCII alphanumerics, `#+-.:=@_` and non-ASCII characters stay,
/// every other byte becomes `\xNN` (space → `\x20`).
pub fn udev_escape(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) || !c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

/// Undo [`udev_escape`] (`\xNN` → byte); other text is kept.
pub fn udev_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let (Some(b'\\'), Some(b'x' | b'X'), Some(h), Some(l)) = (
            bytes.get(i),
            bytes.get(i + 1),
            bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            bytes.get(i + 3).and_then(|c| (*c as char).to_digit(16)),
        ) {
            out.push((h * 16 + l) as u8);
            i += 4;
        } else {
            out.push(bytes.get(i).copied().unwrap_or(b' '));
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `inst.ks=hd:LABEL=<label>:/<file name>` for a kickstart placed at the ISO root (mkksiso
/// `--ks`). Pass it in [`CmdlineEdits::add`]; an existing `inst.ks` is replaced.
pub fn ks_arg(volume_label: &str, file_name: &str) -> String {
    format!(
        "inst.ks=hd:LABEL={}:/{}",
        udev_escape(volume_label),
        file_name.trim_start_matches('/')
    )
}

/// Problems with a volume label used as a boot reference (ISO 9660 limit, characters).
pub fn label_problems(label: &str) -> Vec<String> {
    let mut out = Vec::new();
    if label.is_empty() {
        out.push("the volume label is empty".to_string());
    }
    if label.len() > 32 {
        out.push(format!(
            "volume label \"{label}\" is {} bytes; ISO 9660 keeps 32, so inst.stage2=hd:LABEL= would no longer match (dracut: \"/dev/root does not exist\")",
            label.len()
        ));
    }
    if label.contains(char::is_whitespace) {
        out.push(format!(
            "volume label \"{label}\" contains spaces; they are written as \\x20 in hd:LABEL= (udev escaping)"
        ));
    }
    out
}

/// The label inside a `...LABEL=<label>[:path]` reference of an argument, if any: returns
/// (byte range of the escaped label inside `value`, unescaped label).
fn label_refs(value: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let Some(eq) = value.find('=') else {
        return out;
    };
    let rest_start = eq + 1;
    let rest = value.get(rest_start..).unwrap_or("");
    let mut search_from = 0;
    while let Some(found) = rest.get(search_from..).and_then(|r| r.find("LABEL=")) {
        let p = search_from + found;
        let before = rest.get(..p).unwrap_or("");
        let is_ref = p == 0 || before.ends_with(':') || before.ends_with("CD");
        let label_start = p + "LABEL=".len();
        let label_len = rest
            .get(label_start..)
            .map_or(0, |l| l.find(':').unwrap_or(l.len()));
        if is_ref && label_len > 0 {
            let escaped = rest.get(label_start..label_start + label_len).unwrap_or("");
            out.push((
                rest_start + label_start..rest_start + label_start + label_len,
                udev_unescape(escaped),
            ));
        }
        search_from = label_start;
    }
    out
}

/// The volume labels an argument refers to (`inst.stage2=hd:LABEL=X` → `X`, unescaped).
pub fn referenced_labels(arg: &str) -> Vec<String> {
    label_refs(arg).into_iter().map(|(_, l)| l).collect()
}

/// Replace every reference to label `old` in `value` by `new`; None if there was none.
fn rename_label(value: &str, old: &str, new: &str) -> Option<String> {
    let refs = label_refs(value);
    let mut out = value.to_string();
    let mut changed = false;
    for (range, label) in refs.into_iter().rev() {
        if label == old {
            out.replace_range(range, &udev_escape(new));
            changed = true;
        }
    }
    changed.then_some(out)
}

/// Looks like a kernel block device name (`sdb1`, `sr0`, `nvme0n1p1`, `mapper/x`).
fn looks_like_device_name(v: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "sd", "vd", "hd", "sr", "xvd", "nvme", "mmcblk", "dm-", "md", "loop", "scd", "fd",
        "mapper/", "disk/", "cdrom",
    ];
    PREFIXES.iter().any(|p| {
        v.strip_prefix(p).is_some_and(|rest| {
            rest.is_empty()
                || p.ends_with('/')
                || rest.starts_with(|c: char| c.is_ascii_alphanumeric())
        })
    }) && !v.chars().any(|c| c.is_ascii_uppercase())
}

/// Why a driver-update argument will not work (anaconda's `dracut/parse-anaconda-dd.sh` and
/// `driver-updates-genrules.sh`), or None, for RHEL 9 and later installers (`dd=` is not
/// read).
pub fn dud_problem(arg: &str) -> Option<String> {
    dud_problem_with(arg, false)
}

/// [`dud_problem`] for an installer that reads `dd=` as an alias of `inst.dd=` when
/// `dd_alias` (EL8, el8-boot-iso-layout.md §6): its values follow the `inst.dd=` rules.
pub fn dud_problem_with(arg: &str, dd_alias: bool) -> Option<String> {
    let key = arg_key(arg);
    let value = arg.split_once('=').map(|(_, v)| v);
    match (key, value) {
        ("init.dd", _) => Some(format!(
            "`{arg}`: `init.dd` is not a boot option (typo of inst.dd); the installer ignores it"
        )),
        ("dd", Some(v)) if dd_alias => dud_value_problem(arg, v),
        ("dd", Some(_)) => Some(format!(
            "`{arg}`: the `dd=` alias was removed in RHEL 9; only `inst.dd=` is read"
        )),
        ("inst.dd", None) => Some(
            "`inst.dd` without a value opens the interactive driver menu (the boot waits for a keypress) and turns off OEMDRV autodetection; inst.dd=<location> entries are not processed automatically"
                .to_string(),
        ),
        ("inst.dd", Some(v)) => dud_value_problem(arg, v),
        _ => None,
    }
}

fn dud_value_problem(arg: &str, v: &str) -> Option<String> {
    if v.is_empty() {
        return Some(format!("`{arg}`: empty driver update location"));
    }
    let lower = v.to_ascii_lowercase();
    for prefix in ["hd:", "cdrom:"] {
        if let Some(spec) = lower.strip_prefix(prefix) {
            // `hd:<device>:<path>` works only for a single .rpm; a non-.rpm value is taken
            // whole as a device name that never appears.
            if let Some(colon) = spec.find(':') {
                let path = spec.get(colon + 1..).unwrap_or("");
                if !path.is_empty() && !path.ends_with(".rpm") {
                    return Some(format!(
                        "`{arg}`: a path on a device works only for a single .rpm; anything else is taken whole as a device name (/dev/disk/by-label/…:{path}) that never appears, so dracut waits in the initqueue until it times out. Use inst.dd=/dd.iso (DUD inside the initrd) or inst.dd=hd:LABEL=<label> (DUD tree on that device)"
                    ));
                }
            }
            return None;
        }
    }
    if v.starts_with('/') || v.contains(':') {
        // A file inside the initrd, a URL, file:/path:, or another prefix.
        return None;
    }
    for p in ["LABEL=", "CDLABEL=", "UUID=", "PARTUUID=", "PARTLABEL="] {
        if v.starts_with(p) {
            return None;
        }
    }
    if looks_like_device_name(v) {
        return None;
    }
    Some(format!(
        "`{arg}` names the device /dev/{v}, not a filesystem label, so it never appears and dracut waits until it times out; use inst.dd=hd:LABEL={v} for a labelled disk{}",
        if v.eq_ignore_ascii_case("OEMDRV") {
            " (or no inst.dd at all: OEMDRV is autodetected), or inst.dd=/dd.iso for a DUD inside the initrd"
        } else {
            ", or inst.dd=/dd.iso for a DUD inside the initrd"
        }
    ))
}

/// A valid `inst.dd=` naming a device: dracut waits for it (anaconda's
/// `driver-updates-genrules.sh` adds an initqueue wait for the device), so a medium that is absent at boot (IODD presents one ISO at a time) stalls the
/// boot until the initqueue timeout.
pub fn dud_device_note(arg: &str) -> Option<String> {
    dud_device_note_with(arg, false)
}

/// [`dud_device_note`], also for `dd=` when the installer reads that alias (EL8).
pub fn dud_device_note_with(arg: &str, dd_alias: bool) -> Option<String> {
    let v = arg
        .strip_prefix("inst.dd=")
        .or_else(|| arg.strip_prefix("dd=").filter(|_| dd_alias))?;
    let lower = v.to_ascii_lowercase();
    let device = lower.starts_with("hd:")
        || lower.starts_with("cdrom:")
        || ["label=", "cdlabel=", "uuid=", "partuuid=", "partlabel="]
            .iter()
            .any(|p| lower.starts_with(p));
    device.then(|| {
        format!(
            "`{arg}` makes dracut wait for that device; if it is not present at boot, the installer stops in the initqueue until the timeout"
        )
    })
}

/// Characters GRUB takes literally in an unquoted word.
fn grub_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.,:=/+@%^~!".contains(c)
}

/// Raw text for a new or rewritten argument in the given dialect.
pub(crate) fn encode_arg(value: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Isolinux => {
            if value.contains(char::is_whitespace) && !value.contains('"') {
                match value.split_once('=') {
                    Some((k, v)) => format!("{k}=\"{v}\""),
                    None => format!("\"{value}\""),
                }
            } else {
                value.to_string()
            }
        }
        Dialect::Grub => {
            if !value.is_empty() && value.chars().all(grub_safe) {
                value.to_string()
            } else {
                format!("'{}'", value.replace('\'', "'\\''"))
            }
        }
    }
}

/// Working copy of one argument during an edit.
struct Item {
    /// Index into the original args, or None for an added argument.
    orig: Option<usize>,
    value: String,
    changed: bool,
    deleted: bool,
}

/// Context of one command line being edited.
pub(crate) struct LineEdit<'a> {
    pub text: &'a str,
    pub cmdline: &'a CmdLine,
    pub dialect: Dialect,
    /// Installer entries get every edit; others only the label rename.
    pub installer: bool,
}

/// Result of editing one command line.
#[derive(Default)]
pub(crate) struct LineOutcome {
    pub replacements: Vec<Replacement>,
    pub changes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Edit one command line. `edits` must have been validated ([`validate_edits`]).
pub(crate) fn edit_line(ctx: &LineEdit<'_>, edits: &CmdlineEdits) -> LineOutcome {
    let mut out = LineOutcome::default();
    let mut items: Vec<Item> = ctx
        .cmdline
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| Item {
            orig: Some(i),
            value: a.value.clone(),
            changed: false,
            deleted: false,
        })
        .collect();

    if ctx.installer {
        // 1. remove keys
        for key in &edits.remove_keys {
            for it in items.iter_mut().filter(|it| !it.deleted) {
                if arg_key(&it.value) == key {
                    it.deleted = true;
                    out.changes.push(format!("removed {}", it.value));
                }
            }
        }
    }

    // 2. label rename (every entry)
    if let Some((old, new)) = &edits.volume_label_rename {
        for it in items.iter_mut().filter(|it| !it.deleted) {
            if let Some(renamed) = rename_label(&it.value, old, new) {
                out.changes
                    .push(format!("label: {} -> {}", it.value, renamed));
                it.value = renamed;
                it.changed = true;
            }
        }
    }

    if ctx.installer {
        // 3. wrong driver-update forms
        for it in items.iter_mut().filter(|it| !it.deleted) {
            if let Some(problem) = dud_problem_with(&it.value, edits.dd_alias) {
                if edits.dud_paths.is_empty() {
                    out.warnings
                        .push(format!("line {}: {problem}", ctx.cmdline.line));
                } else {
                    it.deleted = true;
                    out.changes.push(format!(
                        "removed {} (wrong driver-update form: {problem})",
                        it.value
                    ));
                }
            } else if let Some(note) = dud_device_note_with(&it.value, edits.dd_alias) {
                out.warnings
                    .push(format!("line {}: {note}", ctx.cmdline.line));
            }
        }
        // 4. add
        for arg in &edits.add {
            if let Some(new) = add_arg(&mut items, arg, &mut out.changes) {
                items.push(new);
            }
        }
        // 5. inst.dd
        for path in &edits.dud_paths {
            let arg = format!("inst.dd={path}");
            if let Some(new) = add_arg(&mut items, &arg, &mut out.changes) {
                items.push(new);
            }
        }
        // 6. rd.driver.pre
        merge_driver_pre(&mut items, &edits.driver_pre, &mut out.changes);

        for (it, arg) in items
            .iter()
            .filter_map(|it| Some((it, ctx.cmdline.args.get(it.orig?)?)))
        {
            if arg.eaten_escape && !it.deleted && !it.changed {
                out.warnings.push(format!(
                    "line {}: GRUB drops the backslash of an unquoted \\xNN in `{}`; quote the argument ('…')",
                    ctx.cmdline.line, it.value
                ));
            }
        }
    }

    out.replacements = render(ctx, &items);
    out
}

/// Add `arg` (replacing a same-key argument); returns a new item for the caller to push.
fn add_arg(items: &mut [Item], arg: &str, changes: &mut Vec<String>) -> Option<Item> {
    let key = arg_key(arg);
    let live = |it: &&Item| !it.deleted;
    if items.iter().filter(live).any(|it| it.value == arg) {
        return None;
    }
    let repeatable = REPEATABLE_KEYS.contains(&key);
    let has_value = arg.contains('=');
    if !repeatable && has_value {
        let mut first = true;
        let mut replaced = false;
        for it in items.iter_mut().filter(|it| !it.deleted) {
            if arg_key(&it.value) == key {
                if first {
                    changes.push(format!("replaced {} -> {}", it.value, arg));
                    it.value = arg.to_string();
                    it.changed = true;
                    first = false;
                    replaced = true;
                } else {
                    changes.push(format!("removed duplicate {}", it.value));
                    it.deleted = true;
                }
            }
        }
        if replaced {
            return None;
        }
    }
    changes.push(format!("added {arg}"));
    Some(Item {
        orig: None,
        value: arg.to_string(),
        changed: true,
        deleted: false,
    })
}

fn merge_driver_pre(items: &mut Vec<Item>, modules: &[String], changes: &mut Vec<String>) {
    if modules.is_empty() {
        return;
    }
    let existing: Vec<String> = items
        .iter()
        .filter(|it| !it.deleted && arg_key(&it.value) == "rd.driver.pre")
        .flat_map(|it| {
            it.value
                .split_once('=')
                .map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    let mut missing: Vec<&str> = Vec::new();
    for m in modules {
        if !existing.iter().any(|e| e == m) && !missing.contains(&m.as_str()) {
            missing.push(m);
        }
    }
    if missing.is_empty() {
        return;
    }
    if let Some(it) = items
        .iter_mut()
        .find(|it| !it.deleted && arg_key(&it.value) == "rd.driver.pre")
    {
        let old = it.value.clone();
        // A bare `rd.driver.pre` (no `=`) gets its `=`, not a comma: `rd.driver.pre,x` is
        // another argument to dracut and loads nothing.
        let sep = if !old.contains('=') {
            "="
        } else if old.ends_with('=') || old.ends_with(',') {
            ""
        } else {
            ","
        };
        it.value = format!("{old}{sep}{}", missing.join(","));
        it.changed = true;
        changes.push(format!("replaced {old} -> {}", it.value));
    } else {
        let arg = format!("rd.driver.pre={}", missing.join(","));
        changes.push(format!("added {arg}"));
        items.push(Item {
            orig: None,
            value: arg,
            changed: true,
            deleted: false,
        });
    }
}

/// Turn the edited items into span replacements.
fn render(ctx: &LineEdit<'_>, items: &[Item]) -> Vec<Replacement> {
    let bytes = ctx.text.as_bytes();
    let mut reps = Vec::new();
    let mut appended = String::new();
    for it in items {
        match it.orig.and_then(|i| ctx.cmdline.args.get(i)) {
            Some(arg) if it.deleted => {
                // Remove the argument and the blanks before it.
                let mut start = arg.start;
                while start > 0 && matches!(bytes.get(start - 1), Some(b' ') | Some(b'\t')) {
                    start -= 1;
                }
                reps.push(Replacement {
                    start,
                    end: arg.end,
                    text: String::new(),
                });
            }
            Some(arg) if it.changed => reps.push(Replacement {
                start: arg.start,
                end: arg.end,
                text: encode_arg(&it.value, ctx.dialect),
            }),
            Some(_) => {}
            None if !it.deleted => {
                appended.push(' ');
                appended.push_str(&encode_arg(&it.value, ctx.dialect));
            }
            None => {}
        }
    }
    if !appended.is_empty() {
        reps.push(Replacement {
            start: ctx.cmdline.insert_at,
            end: ctx.cmdline.insert_at,
            text: appended,
        });
    }
    reps
}

/// Check the requested edits before touching anything.
pub(crate) fn validate_edits(edits: &CmdlineEdits) -> Result<(), String> {
    for a in &edits.add {
        if a.is_empty() || arg_key(a).is_empty() {
            return Err(format!("empty kernel argument in \"{a}\""));
        }
        if a.contains(['\n', '\r']) {
            return Err(format!("kernel argument \"{a}\" contains a line break"));
        }
        if let Some(problem) = dud_problem_with(a, edits.dd_alias) {
            return Err(problem);
        }
    }
    for k in &edits.remove_keys {
        if k.is_empty() || k.contains('=') || k.contains(char::is_whitespace) {
            return Err(format!(
                "--rm-args takes argument keys only (no '=' or spaces): \"{k}\""
            ));
        }
    }
    for p in &edits.dud_paths {
        let arg = format!("inst.dd={p}");
        if p.is_empty() || p.contains(char::is_whitespace) {
            return Err(format!("invalid driver update path \"{p}\""));
        }
        if let Some(problem) = dud_problem(&arg) {
            return Err(problem);
        }
    }
    for m in &edits.driver_pre {
        if m.is_empty() || m.contains([',', '=', ' ', '\t', '\n']) {
            return Err(format!("invalid module name for rd.driver.pre: \"{m}\""));
        }
    }
    if let Some((old, new)) = &edits.volume_label_rename {
        if old.is_empty() || new.is_empty() {
            return Err("volume label rename needs a non-empty old and new label".into());
        }
        if new.contains(['\n', '\r', '\0']) {
            return Err(format!(
                "new volume label \"{new}\" contains a control character"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udev_escape_roundtrip() {
        assert_eq!(udev_escape("Rocky-9-2-x86_64-dvd"), "Rocky-9-2-x86_64-dvd");
        assert_eq!(udev_escape("My Disk/1"), "My\\x20Disk\\x2f1");
        assert_eq!(udev_unescape("My\\x20Disk\\x2f1"), "My Disk/1");
        assert_eq!(udev_unescape("bad\\x2"), "bad\\x2");
    }

    #[test]
    fn split_args_like_shell() {
        assert_eq!(
            split_args(r#"a "b c" 'd e' f\ g"#).unwrap(),
            vec!["a", "b c", "d e", "f g"]
        );
        assert!(split_args("'open").is_err());
        assert!(split_args("").unwrap().is_empty());
    }

    #[test]
    fn dud_forms() {
        assert!(dud_problem("inst.dd=OEMDRV").is_some());
        assert!(dud_problem("init.dd=/dd.iso").is_some());
        assert!(dud_problem("dd=/dd.iso").is_some());
        assert!(dud_problem("inst.dd=hd:LABEL=X:/dd.iso").is_some());
        assert!(dud_problem("inst.dd").is_some());
        assert!(dud_problem("inst.dd=hd:LABEL=X:/d/kmod.rpm").is_none());
        assert!(dud_problem("inst.dd=hd:LABEL=OEMDRV").is_none());
        assert!(dud_problem("inst.dd=/dd.iso").is_none());
        assert!(dud_problem("inst.dd=https://x/dd.iso").is_none());
        assert!(dud_problem("inst.dd=sdb1").is_none());
        assert!(dud_problem("inst.dd=cdrom:/dev/sr0").is_none());
        assert!(dud_problem("inst.dd=LABEL=OEMDRV").is_none());
    }

    #[test]
    fn label_references() {
        assert_eq!(
            referenced_labels("inst.stage2=hd:LABEL=A\\x20B"),
            vec!["A B".to_string()]
        );
        assert_eq!(
            referenced_labels("inst.ks=hd:LABEL=X:/ks.cfg"),
            vec!["X".to_string()]
        );
        assert_eq!(
            referenced_labels("root=live:CDLABEL=Fedora"),
            vec!["Fedora".to_string()]
        );
        assert!(referenced_labels("quiet").is_empty());
        assert!(referenced_labels("foo=NOTALABEL=x").is_empty());
        assert_eq!(
            rename_label("inst.ks=hd:LABEL=X:/ks.cfg", "X", "Y Z").as_deref(),
            Some("inst.ks=hd:LABEL=Y\\x20Z:/ks.cfg")
        );
    }

    #[test]
    fn grub_encoding() {
        assert_eq!(
            encode_arg("inst.dd=/dd.iso", Dialect::Grub),
            "inst.dd=/dd.iso"
        );
        assert_eq!(
            encode_arg("inst.stage2=hd:LABEL=A\\x20B", Dialect::Grub),
            "'inst.stage2=hd:LABEL=A\\x20B'"
        );
        assert_eq!(encode_arg("a=b c", Dialect::Isolinux), "a=\"b c\"");
    }
}

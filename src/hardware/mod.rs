//! "Does this ISO drive my controller at all?" Per PCI device: which in-box module claims it
//! (the initrd's own module aliases), whether that claim holds on this distribution and
//! release ([`support`], the built-in table, with the distribution read from the media by
//! [`distro`]), and which added module claims it.
//!
//! What the media itself can show, preferred over the built-in table: the alias lists of its
//! modules (RHEL 10 compiles the disabled IDs out, so there the aliases alone decide) and the
//! RHEL 9.0–9.3 in-driver tables (`rh_disabled_pci_table`...), static data found through the
//! module's symbol table ([`media_tables`]). The 9.4+ central list (`rh_disabled_pci_devices`)
//! is static data of vmlinux, and the installer's vmlinuz carries no symbol table, so it is
//! not readable; the built-in table answers for it and `decided_by` says which source decided.
//!
//! [`answer`] is about 160 lines: one decision table (no in-box claim / a claim the media's
//! tables disable / one the built-in table disables / a claim that holds), each branch
//! writing the same three results, kept together so the table reads as one.

pub mod distro;
pub mod lspci;
pub mod media_tables;
pub mod support;

use serde::Serialize;

use crate::kmod::module::Module;
use crate::kmod::verdict::modules_for_pci;
use distro::Distribution;
use support::{Entry, Family, State};

/// The three answers a user acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// "in-box driver supports it — no driver needed"
    InboxSupported,
    /// "in-box driver lists it but <distro> <release> disables it — add a driver"
    InboxDisabled,
    /// "no driver on this media claims it"
    NoDriver,
}

/// One device's answer.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAnswer {
    /// `1000:0072`.
    pub device: String,
    /// The `lspci -nn` line it came from (`--pci-from`).
    pub description: Option<String>,
    /// Modules of the ISO's initrd whose aliases match.
    pub initrd_modules: Vec<String>,
    /// Added modules whose aliases match.
    pub added_modules: Vec<String>,
    pub answer: Answer,
    /// The sentence for people (starts with the wording).
    pub summary: String,
    /// Which source decided: the media's aliases and/or the built-in table entry.
    pub decided_by: String,
    /// The built-in table entry that applies, if any.
    pub support_entry: Option<Entry>,
    /// With added drivers: whether an added driver is what makes the device work.
    pub added_makes_it_work: Option<bool>,
    pub notes: Vec<String>,
}

fn same_module(a: &str, b: &str) -> bool {
    a.replace('-', "_") == b.replace('-', "_")
}

/// Answers for `vendor:device` on media whose initrd carries `base` and with `added`.
pub fn answer(
    (vendor, device): (u16, u16),
    description: Option<String>,
    base: &[Module],
    base_files: &[(String, Vec<u8>)],
    added: &[Module],
    dist: &Distribution,
) -> DeviceAnswer {
    let id = format!("{vendor:04x}:{device:04x}");
    let initrd_modules = modules_for_pci(vendor, device, base);
    let added_modules = modules_for_pci(vendor, device, added);
    let mut notes = Vec::new();
    let release = dist.release_tuple();
    let family = match (dist.family, release) {
        (Some(f), _) => Some(f),
        (None, Some(_)) => {
            notes.push(format!(
                "distribution {} not recognised: RHEL's rules assumed",
                dist.name.as_deref().unwrap_or("(unnamed)")
            ));
            Some(Family::Rhel)
        }
        (None, None) => None,
    };
    let entry = match (family, release) {
        (Some(f), Some(r)) => support::lookup(vendor, device, f, r).copied(),
        _ => {
            notes.push(
                "the media names no release: RHEL-family disabled-hardware rules not checked"
                    .into(),
            );
            None
        }
    };
    let cite = |e: &Entry| {
        format!(
            "built-in table: {} {} on {} {}: {} [{}]",
            id,
            e.driver,
            e.family.label(),
            e.range(),
            e.mechanism,
            e.source
        )
    };
    let who = dist.label();
    let (answer, mut summary, decided_by) = if initrd_modules.is_empty() {
        let mut decided = format!("the initrd's module aliases: no in-box module lists {id}");
        if let Some(e) = entry.filter(|e| e.state == State::Removed) {
            decided.push_str(&format!(" (as expected: {})", cite(&e)));
        }
        (
            Answer::NoDriver,
            "no driver on this media claims it".to_string(),
            decided,
        )
    } else {
        let mods = initrd_modules.join(", ");
        let applies = entry.filter(|e| initrd_modules.iter().any(|m| same_module(m, e.driver)));
        // The media's own in-driver tables, when a claiming module has them, decide.
        let own = initrd_modules
            .iter()
            .find_map(|m| media_tables::for_module(base_files, m).map(|t| (m.clone(), t)));
        let table_note = |verdict: &str| match applies {
            Some(e) => format!("; the built-in table says {:?} ({})", e.state, cite(&e)),
            None => format!("; the built-in table has no entry ({verdict})"),
        };
        let key = (vendor, device);
        if let Some((m, (path, t))) = own {
            let in_list = |l: &[(u16, u16)]| l.contains(&key);
            let (answer, summary) = if in_list(&t.disabled) {
                (
                    Answer::InboxDisabled,
                    format!("in-box driver lists it but {who} disables it — add a driver ({m}: its rh_disabled_pci_table)"),
                )
            } else if in_list(&t.unmaintained) || in_list(&t.deprecated) {
                (
                    Answer::InboxSupported,
                    format!("in-box driver supports it — no driver needed ({m}; in its rh_unmaintained/deprecated table: works, with a warning)"),
                )
            } else {
                (
                    Answer::InboxSupported,
                    format!("in-box driver supports it — no driver needed ({m}; not in its rh_disabled_pci_table)"),
                )
            };
            let decided = format!(
                "the media: the initrd's module aliases ({mods}) and {m}'s own RHEL tables read from /{path} (disabled {}, unmaintained {}, deprecated {} IDs){}",
                t.disabled.len(),
                t.unmaintained.len(),
                t.deprecated.len(),
                table_note("not consulted")
            );
            if applies.is_some_and(|e| e.state.works() != (answer == Answer::InboxSupported)) {
                notes.push(
                    "the media's own table and the built-in table disagree; the media's decided"
                        .to_string(),
                );
            }
            (answer, summary, decided)
        } else {
            match applies {
            Some(e) if !e.state.works() => (
                Answer::InboxDisabled,
                format!("in-box driver lists it but {who} disables it — add a driver ({mods}: {})", e.mechanism),
                format!("the initrd's module aliases ({mods}) and the {}", cite(&e)),
            ),
            Some(e) => {
                let how = match e.state {
                    State::ReEnabled => format!("{who} re-enables it"),
                    State::Unmaintained => format!("{who} marks it unmaintained: works, with a warning"),
                    _ => format!("{who} marks it deprecated: works, with a warning"),
                };
                (
                    Answer::InboxSupported,
                    format!("in-box driver supports it — no driver needed ({mods}; {how})"),
                    format!("the initrd's module aliases ({mods}) and the {}", cite(&e)),
                )
            }
            None => (
                Answer::InboxSupported,
                format!("in-box driver supports it — no driver needed ({mods})"),
                format!(
                    "the initrd's module aliases ({mods}); the built-in table has no entry for {id} on {who}"
                ),
            ),
        }
        }
    };
    if !added_modules.is_empty() {
        summary.push_str(&format!(
            "; added driver {} claims it",
            added_modules.join(", ")
        ));
        if let (Some(e), Some((9, minor))) = (entry, release) {
            if e.state == State::Disabled && (4..=5).contains(&minor) {
                notes.push(format!(
                    "inference (kernel-modules.md §6.2, ELRepo bug 1530): on {who} the kernel's central check may refuse {id} for an out-of-tree driver too (fixed in 9.6); 9.2/9.3 or 9.6+ media avoid it"
                ));
            }
        }
    }
    let added_makes_it_work = if added.is_empty() {
        None
    } else {
        Some(!added_modules.is_empty() && answer != Answer::InboxSupported)
    };
    DeviceAnswer {
        device: id,
        description,
        initrd_modules,
        added_modules,
        answer,
        summary,
        decided_by,
        support_entry: entry,
        added_makes_it_work,
        notes,
    }
}

/// The plan's one line for a device: whether the added driver is what makes it work.
pub fn plan_line(a: &DeviceAnswer) -> String {
    let added = a.added_modules.join(", ");
    match (a.answer, a.added_modules.is_empty()) {
        (Answer::InboxSupported, true) => format!(
            "{}: the in-box driver supports it; the added drivers are not needed for it",
            a.device
        ),
        (Answer::InboxSupported, false) => format!(
            "{}: the in-box driver already supports it; the added {added} claims it too (loaded first)",
            a.device
        ),
        (_, false) => format!(
            "{}: the added driver {added} is what makes it work ({})",
            a.device,
            match a.answer {
                Answer::InboxDisabled => "the in-box driver lists it but this release disables it",
                _ => "no in-box driver claims it",
            }
        ),
        (_, true) => format!(
            "{}: nothing on the remastered media drives it ({}); add a driver that lists it",
            a.device, a.summary
        ),
    }
}

impl DeviceAnswer {
    /// Human lines (for `check` and the plan).
    pub fn human(&self) -> Vec<String> {
        let mut out = vec![format!(
            "PCI {}{}: {}",
            self.device,
            self.description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            self.summary
        )];
        out.push(format!("  decided by: {}", self.decided_by));
        for n in &self.notes {
            out.push(format!("  note: {n}"));
        }
        out
    }
}

//! Picking the build that loads: `--add-dud`/`--add-rpm`/`--add-module` (and `check`) take
//! several candidates, or a directory of many builds (e.g. every kmod-mpt3sas ELRepo
//! published for el9_0 … el9_6). Candidates carrying the same module names compete; each is
//! judged against this ISO's kernel (the loader's verdict) and the installer's rules (the
//! DUD findings), and the one that loads is taken, the newest among equals. Every candidate
//! gets a row saying why it was taken or skipped, with the kernel's own refusal line.
//!
//! Dependencies: a group whose modules `depends=` on modules the initrd lacks is judged after
//! the groups that provide them, against the initrd plus those choices, and they are carried
//! in that order. A dependency nobody provides is refused with the module and the symbols.
//!
//! [`select`] stays about 160 lines: one pass over the groups in dependency order, whose
//! branches (taken, skipped, refused, missing dependency) share the rows and choices made so
//! far.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dud::rpmvercmp::rpmvercmp;
use crate::kmod::kernel::Kernel;
use crate::kmod::module::Module;
use crate::kmod::verdict::{self, Check, Outcome, SecureBoot, Target, Verdict};
use crate::{Error, Result};

/// One candidate build, as read (or not) from its file.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub source: PathBuf,
    /// `dud`, `rpm`, `module`.
    pub kind: &'static str,
    pub modules: Vec<Module>,
    /// Whether the installer's own rules take it (a DUD/RPM with an `ok` finding; always for
    /// a bare module, which only the overlay carries).
    pub installer_takes: bool,
    /// The first installer finding against it, when it does not.
    pub installer_reason: Option<String>,
    /// RPM `[epoch:]version-release`, or the module's `version=`.
    pub version: Option<String>,
    /// Why it could not be read at all (only for files found in a directory).
    pub load_error: Option<String>,
}

impl Candidate {
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self
            .modules
            .iter()
            .map(|m| m.display_name().replace('-', "_"))
            .collect();
        n.sort();
        n.dedup();
        n
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Chosen,
    /// Chosen because a chosen module needs it.
    Dependency,
    Skipped,
}

/// One row of the candidate table.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateRow {
    pub source: PathBuf,
    pub kind: &'static str,
    pub modules: Vec<String>,
    /// The kernel release the modules were built for (vermagic).
    pub built_for: Option<String>,
    pub version: Option<String>,
    /// `LOADS`, `REFUSED`, `LOADS ONLY WITHOUT SECURE BOOT`, `UNREADABLE`.
    pub verdict: String,
    pub role: Role,
    pub reason: String,
}

/// The outcome of [`select`].
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Indices into the candidates, in load order (dependencies first).
    pub chosen: Vec<usize>,
    /// One row per candidate, in the order given.
    pub rows: Vec<CandidateRow>,
    pub refusals: Vec<String>,
}

/// Files of a directory argument that can be candidates of `kind` (`dud`, `rpm`, `module`),
/// sorted by name; a DUD directory (with `rhdd3`) is itself one candidate. `None` for a path
/// that is no directory.
pub fn expand_dir(kind: &str, path: &Path) -> Result<Option<Vec<PathBuf>>> {
    if !path.is_dir() {
        return Ok(None);
    }
    if kind == "dud" && path.join(crate::dud::rules::RHDD3).is_file() {
        return Ok(None);
    }
    let mut out = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|e| Error::input(path, e))?;
    for entry in entries {
        let p = entry.map_err(|e| Error::input(path, e))?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let take = match kind {
            "rpm" => name.ends_with(".rpm") && p.is_file(),
            "module" => {
                [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
                    .iter()
                    .any(|s| name.ends_with(s))
                    && p.is_file()
            }
            _ => {
                (name.ends_with(".iso") && p.is_file())
                    || p.join(crate::dud::rules::RHDD3).is_file()
            }
        };
        if take {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::input(
            path,
            format!("a directory with no {kind} candidates in it"),
        ));
    }
    Ok(Some(out))
}

/// Rank of a candidate: lower is better.
fn rank(verdicts: &[Verdict], installer_takes: bool) -> u8 {
    let worst = verdicts
        .iter()
        .map(|v| match v.outcome {
            Outcome::Loads => 0,
            Outcome::LoadsOnlyWithoutSecureBoot { .. } => 2,
            Outcome::Refused { .. } => 3,
        })
        .max()
        .unwrap_or(3);
    if worst == 0 && !installer_takes {
        1
    } else {
        worst
    }
}

fn label(verdicts: &[Verdict]) -> String {
    verdicts
        .iter()
        .map(|v| v.outcome.label())
        .max_by_key(|l| match *l {
            "LOADS" => 0,
            "LOADS ONLY WITHOUT SECURE BOOT" => 1,
            _ => 2,
        })
        .unwrap_or("REFUSED")
        .to_string()
}

/// Newer first; then by path, so that the choice never depends on the order given.
fn newer_first(a: &Candidate, b: &Candidate) -> Ordering {
    let v = match (&a.version, &b.version) {
        (Some(x), Some(y)) => rpmvercmp(y, x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    v.then_with(|| a.source.cmp(&b.source))
}

/// The symbols a refused verdict could not resolve (`Unknown symbol X`).
fn unknown_symbols(v: &Verdict) -> Vec<String> {
    v.problems
        .iter()
        .filter(|p| p.check == Check::Symbol)
        .flat_map(|p| p.kernel_messages.iter())
        .filter_map(|m| m.split("Unknown symbol ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Chooses among `cands` (see the module header). `base` = the initrd's modules.
pub fn select(
    cands: &[Candidate],
    base: &[Module],
    kernel: &Kernel,
    secure_boot: SecureBoot,
) -> Selection {
    let groups = group_candidates(cands);
    let needs = |key: &Vec<String>| group_needs(&groups, base, key);
    let order = dependency_order(&groups, &needs);
    let mut chosen_modules: Vec<Module> = Vec::new();
    let mut sel = Selection::default();
    let mut row_of: BTreeMap<usize, CandidateRow> = BTreeMap::new();
    let mut group_choice: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let kver = kernel.release().to_string();
    for key in &order {
        let mut modules = base.to_vec();
        modules.extend(chosen_modules.iter().cloned());
        let target = Target::new(kernel.clone(), modules);
        let mut judged: Vec<(usize, &Candidate, Vec<Verdict>, u8)> = groups
            .get(key)
            .into_iter()
            .flatten()
            .map(|&(i, c)| {
                let v: Vec<Verdict> = c
                    .modules
                    .iter()
                    .map(|m| verdict::check(m, &target, secure_boot))
                    .collect();
                let r = rank(&v, c.installer_takes);
                (i, c, v, r)
            })
            .collect();
        // Best rank; then a build for this very kernel (the least bad refusal names the real
        // problem, e.g. a missing dependency); then the newest; then the path.
        let other_build = |c: &Candidate| {
            c.modules
                .first()
                .and_then(|m| m.built_for())
                .is_none_or(|b| b != kver)
        };
        judged.sort_by(|a, b| {
            a.3.cmp(&b.3)
                .then_with(|| other_build(a.1).cmp(&other_build(b.1)))
                .then_with(|| newer_first(a.1, b.1))
        });
        let Some((best, best_c, best_v, best_rank)) = judged.first().cloned() else {
            continue;
        };
        let names = key.join(", ");
        if best_rank >= 3 && judged.len() > 1 {
            sel.refusals.push(format!(
                "{names}: none of the {} candidates loads on this ISO's kernel {kver}; fetch a build for {kver}",
                judged.len()
            ));
        }
        // A chosen module that needs modules nobody provides: name them and the symbols.
        for v in &best_v {
            let missing: Vec<String> = v
                .problems
                .iter()
                .filter(|p| p.check == Check::Dependency)
                .filter_map(|p| p.detail.strip_prefix("depends on module "))
                .filter_map(|d| d.split(',').next())
                .map(str::to_string)
                .collect();
            if !missing.is_empty() {
                sel.refusals.push(format!(
                    "{}: needs module(s) {} (symbols: {}), which neither the initrd nor the candidates provide; add a build of them for {kver}",
                    v.module,
                    missing.join(", "),
                    unknown_symbols(v).join(", ")
                ));
            }
        }
        chosen_modules.extend(best_c.modules.iter().cloned());
        group_choice.insert(key.clone(), best);
        sel.chosen.push(best);
        for (i, c, v, r) in &judged {
            let reason = if *i == best {
                match (r, judged.len()) {
                    (3, 1) => {
                        "the only candidate for these modules (refused, see the verdict)".into()
                    }
                    (_, 1) => "the only candidate for these modules".into(),
                    (3, _) => {
                        "refused like every other candidate; the least bad is kept for the verdict"
                            .into()
                    }
                    _ => "loads on this ISO's kernel; the newest that does".into(),
                }
            } else if *r >= 3 {
                let refused = v.iter().find(|v| !v.loads());
                match refused.map(|v| &v.outcome) {
                    Some(Outcome::Refused {
                        message, reason, ..
                    }) => format!("the kernel would refuse it: \"{message}\" — {reason}"),
                    _ => "the kernel would refuse it".into(),
                }
            } else if *r == 2 {
                "loads only with Secure Boot off; a candidate that loads either way is taken".into()
            } else if *r == 1 {
                format!(
                    "loads, but the installer would not take it ({})",
                    c.installer_reason.as_deref().unwrap_or("see its findings")
                )
            } else {
                format!("also loads; {} is newer", best_c.source.display())
            };
            row_of.insert(
                *i,
                CandidateRow {
                    source: c.source.clone(),
                    kind: c.kind,
                    modules: c.names(),
                    built_for: c
                        .modules
                        .first()
                        .and_then(|m| m.built_for())
                        .map(str::to_string),
                    version: c.version.clone(),
                    verdict: label(v),
                    role: if *i == best {
                        Role::Chosen
                    } else {
                        Role::Skipped
                    },
                    reason,
                },
            );
        }
    }
    // Groups some other chosen group needs are dependencies.
    for key in &order {
        let needed_by: Vec<String> = order
            .iter()
            .filter(|k| *k != key && needs(k).iter().any(|n| key.contains(n)))
            .map(|k| k.join(", "))
            .collect();
        if let (false, Some(&i)) = (needed_by.is_empty(), group_choice.get(key)) {
            if let Some(row) = row_of.get_mut(&i) {
                row.role = Role::Dependency;
                row.reason = format!("needed by {}; {}", needed_by.join(", "), row.reason);
            }
        }
    }
    for (i, c) in cands.iter().enumerate() {
        let row = row_of.remove(&i).unwrap_or_else(|| CandidateRow {
            source: c.source.clone(),
            kind: c.kind,
            modules: c.names(),
            built_for: None,
            version: c.version.clone(),
            verdict: "UNREADABLE".into(),
            role: Role::Skipped,
            reason: c
                .load_error
                .clone()
                .unwrap_or_else(|| "carries no kernel module".into()),
        });
        sel.rows.push(row);
    }
    sel
}

/// Candidates carrying the same module names form a group (unreadable and empty ones none).
fn group_candidates(cands: &[Candidate]) -> BTreeMap<Vec<String>, Vec<(usize, &Candidate)>> {
    let mut groups: BTreeMap<Vec<String>, Vec<(usize, &Candidate)>> = BTreeMap::new();
    for (i, c) in cands.iter().enumerate() {
        if c.load_error.is_none() && !c.modules.is_empty() {
            groups.entry(c.names()).or_default().push((i, c));
        }
    }
    groups
}

/// The names a group's modules depend on that neither the initrd (`base`) nor the group
/// itself provides.
fn group_needs(
    groups: &BTreeMap<Vec<String>, Vec<(usize, &Candidate)>>,
    base: &[Module],
    key: &[String],
) -> BTreeSet<String> {
    let base_names: BTreeSet<String> = base
        .iter()
        .map(|m| m.display_name().replace('-', "_"))
        .collect();
    groups
        .get(key)
        .into_iter()
        .flatten()
        .flat_map(|(_, c)| c.modules.iter())
        .flat_map(|m| m.depends.iter())
        .map(|d| d.replace('-', "_"))
        .filter(|d| !base_names.contains(d) && !key.contains(d))
        .collect()
}

/// The groups in dependency order (providers first); ties by name; a cycle keeps name order.
fn dependency_order(
    groups: &BTreeMap<Vec<String>, Vec<(usize, &Candidate)>>,
    needs: &dyn Fn(&Vec<String>) -> BTreeSet<String>,
) -> Vec<Vec<String>> {
    let keys: Vec<Vec<String>> = groups.keys().cloned().collect();
    let provider = |name: &str| keys.iter().find(|k| k.iter().any(|n| n == name));
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut left: Vec<Vec<String>> = keys.clone();
    while !left.is_empty() {
        let ready = left.iter().position(|k| {
            needs(k)
                .iter()
                .filter_map(|n| provider(n))
                .all(|p| order.contains(p) || p == k)
        });
        let k = left.remove(ready.unwrap_or(0));
        order.push(k);
    }
    order
}

/// The table as text lines (plan and check).
pub fn table_lines(rows: &[CandidateRow]) -> Vec<String> {
    let mut out = vec![format!("candidates ({}):", rows.len())];
    for r in rows {
        out.push(format!(
            "  {:<10} {:<10} {} [{}]{}{}",
            match r.role {
                Role::Chosen => "CHOSEN",
                Role::Dependency => "DEPENDENCY",
                Role::Skipped => "skipped",
            },
            match r.verdict.as_str() {
                "LOADS ONLY WITHOUT SECURE BOOT" => "SB-OFF",
                v => v,
            },
            r.source.display(),
            r.modules.join(", "),
            r.version
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            r.built_for
                .as_deref()
                .map(|b| format!(" built for {b}"))
                .unwrap_or_default()
        ));
        out.push(format!("             {}", r.reason));
    }
    out
}

/// Reads the `--add-*` arguments of the main command: directories are expanded into their
/// candidates (a file there that cannot be read becomes a skipped row; a file named on the
/// command line still fails the run as before). When a directory was given or several
/// candidates carry the same modules, [`select`] decides which are carried, in load order;
/// otherwise every driver is carried as given and there is no table.
pub fn load_drivers(
    media: &super::Media,
    opts: &super::Options,
) -> Result<(Vec<super::Driver>, Option<Selection>)> {
    use super::{Driver, DriverKind};
    let mut loaded: Vec<Option<Driver>> = Vec::new();
    let mut cands: Vec<Candidate> = Vec::new();
    let mut from_dir = false;
    for (kind, name, list) in [
        (DriverKind::Dud, "dud", &opts.duds),
        (DriverKind::Rpm, "rpm", &opts.rpms),
        (DriverKind::Module, "module", &opts.modules),
    ] {
        for source in list {
            let files = match expand_dir(name, source)? {
                Some(files) => {
                    from_dir = true;
                    files.into_iter().map(|f| (f, true)).collect()
                }
                None => vec![(source.clone(), false)],
            };
            for (file, in_dir) in files {
                match Driver::load(kind, &file, media) {
                    Ok(d) => {
                        cands.push(candidate_of(&d, name));
                        loaded.push(Some(d));
                    }
                    Err(e) if in_dir => {
                        cands.push(Candidate {
                            source: file,
                            kind: name,
                            modules: Vec::new(),
                            installer_takes: false,
                            installer_reason: None,
                            version: None,
                            load_error: Some(e.to_string()),
                        });
                        loaded.push(None);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let mut sizes: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for c in cands.iter().filter(|c| c.load_error.is_none()) {
        *sizes.entry(c.names()).or_default() += 1;
    }
    if !from_dir && sizes.values().all(|&n| n <= 1) {
        return Ok((loaded.into_iter().flatten().collect(), None));
    }
    let mut kernel = media.kernel()?.clone();
    kernel
        .trusted_certs
        .extend(opts.trusted_keys.iter().cloned());
    let sel = select(&cands, &media.base_modules, &kernel, opts.secure_boot);
    let drivers = sel
        .chosen
        .iter()
        .filter_map(|&i| loaded.get_mut(i).and_then(Option::take))
        .collect();
    Ok((drivers, Some(sel)))
}

/// Whether the installer's own rules take a DUD/RPM: something is accepted and nothing is
/// skipped or refused.
pub fn installer_takes(findings: &[crate::dud::Finding]) -> bool {
    use crate::dud::Severity;
    findings.iter().any(|f| f.severity == Severity::Ok)
        && !findings
            .iter()
            .any(|f| matches!(f.severity, Severity::Ignored | Severity::Refused))
}

/// The first finding saying why the installer would not take it.
pub fn installer_reason(findings: &[crate::dud::Finding]) -> Option<String> {
    use crate::dud::Severity;
    findings
        .iter()
        .find(|f| matches!(f.severity, Severity::Ignored | Severity::Refused))
        .map(|f| f.message.clone())
}

/// A loaded driver as a candidate.
pub fn candidate_of(d: &super::Driver, kind: &'static str) -> Candidate {
    let takes = d.kind == super::DriverKind::Module || installer_takes(&d.findings);
    Candidate {
        source: d.source.clone(),
        kind,
        modules: d.modules.iter().map(|m| m.module.clone()).collect(),
        installer_takes: takes,
        installer_reason: installer_reason(&d.findings),
        version: d.version(),
        load_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(path: &str, version: Option<&str>) -> Candidate {
        Candidate {
            source: PathBuf::from(path),
            kind: "rpm",
            modules: Vec::new(),
            installer_takes: true,
            installer_reason: None,
            version: version.map(str::to_string),
            load_error: None,
        }
    }

    /// Newest first by rpmvercmp, then by path: the same choice whatever the order given.
    #[test]
    fn newest_among_equals() {
        let a = cand(
            "b/kmod-mpt3sas-43.100.00.00-5.el9_5.rpm",
            Some("43.100.00.00-5.el9_5"),
        );
        let b = cand(
            "a/kmod-mpt3sas-43.100.00.00-6.el9_5.rpm",
            Some("43.100.00.00-6.el9_5"),
        );
        let c = cand(
            "c/kmod-mpt3sas-43.100.00.00-10.el9_5.rpm",
            Some("43.100.00.00-10.el9_5"),
        );
        let d = cand("d/mpt3sas.ko", None);
        let e = cand("a/mpt3sas.ko", None);
        let want = ["c/", "a/kmod", "b/", "a/mpt3sas.ko", "d/"];
        for order in [
            vec![&a, &b, &c, &d, &e],
            vec![&e, &d, &c, &b, &a],
            vec![&c, &e, &a, &d, &b],
        ] {
            let mut v = order.clone();
            v.sort_by(|x, y| newer_first(x, y));
            let got: Vec<String> = v.iter().map(|c| c.source.display().to_string()).collect();
            for (g, w) in got.iter().zip(want) {
                assert!(g.starts_with(w), "{got:?}");
            }
        }
    }

    #[test]
    fn table_marks_every_role() {
        let rows = vec![CandidateRow {
            source: PathBuf::from("x.ko"),
            kind: "module",
            modules: vec!["x".into()],
            built_for: Some("6.1.0-47-amd64".into()),
            version: None,
            verdict: "LOADS ONLY WITHOUT SECURE BOOT".into(),
            role: Role::Skipped,
            reason: "why".into(),
        }];
        let lines = table_lines(&rows);
        assert!(
            lines[1].contains("skipped") && lines[1].contains("SB-OFF"),
            "{lines:?}"
        );
        assert!(lines[2].trim() == "why");
    }
}

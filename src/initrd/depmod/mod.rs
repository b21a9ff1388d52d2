//! The module indexes kmod reads (`modules.dep`, `modules.alias`, `modules.symbols`, their
//! `.bin` tries, `modules.softdep`, `modules.devname`, `modules.builtin(.alias).bin`),
//! regenerated for a module tree plus added modules, as `depmod` (kmod 30) writes them.
//!
//! Rules followed (kmod `tools/depmod.c`): a module's name is its basename up to the first
//! `.`, `-` → `_`; of two modules with the same name the one in the better search directory
//! wins (`search updates extra built-in weak-updates`, RHEL's `dist.conf`; kmod's default is
//! just `updates` first), the other one vanishes from every index; modules are numbered in
//! `modules.order` order, unlisted ones after; exports are the `__crc_<sym>` symbols (or the
//! `__ksymtab_strings` section without modversions); dependencies are the undefined symbols
//! (and unmatched `__versions` entries) exported by another module, listed transitively in
//! depmod's topological order.
//!
//! The `.bin` writer ([`index`]) is hand-written: no crate writes kmod's index format.

mod index;

use super::{InitrdError, Result};
use crate::codec::{decode_capped, Codec, Streams};
use index::Index;
use std::collections::HashMap;

/// Largest decompressed module accepted (the biggest in-tree modules are ~20 MiB).
pub const MODULE_CAP: u64 = 256 << 20;

/// What `depmod` reads from `lib/modules/<kver>/`.
#[derive(Debug, Clone, Default)]
pub struct DepmodInput<'a> {
    /// Every module file: path relative to the module directory (`kernel/drivers/...ko.xz`,
    /// `updates/foo.ko`) and its bytes (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`). Base modules
    /// and added ones alike; priority comes from the path.
    pub modules: Vec<(&'a str, &'a [u8])>,
    /// `modules.order`, if present.
    pub modules_order: Option<&'a [u8]>,
    /// `modules.builtin`, if present (gives `modules.builtin.bin`).
    pub modules_builtin: Option<&'a [u8]>,
    /// `modules.builtin.modinfo`, if present (gives `modules.builtin.alias.bin`).
    pub modules_builtin_modinfo: Option<&'a [u8]>,
    /// depmod.d `search` order; empty = RHEL's `updates extra built-in weak-updates`.
    pub search: Vec<String>,
}

/// The files depmod writes, in depmod's order: (file name, contents).
pub type IndexFiles = Vec<(String, Vec<u8>)>;

struct Module {
    relpath: String,
    name: String,
    /// (key, value) of `.modinfo`, in order.
    info: Vec<(String, String)>,
    exports: Vec<String>,
    /// Undefined symbols in symtab order, then unmatched `__versions` names.
    needs: Vec<String>,
    rank: usize,
    sort_idx: i64,
}

/// Module name from a path, as kmod's `path_to_modname`.
pub fn modname(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split('.')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| if c == '-' { '_' } else { c })
        .collect()
}

fn search_rank(search: &[String], relpath: &str) -> usize {
    let default: Vec<String> = ["updates", "extra", "built-in", "weak-updates"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let list = if search.is_empty() { &default } else { search };
    let builtin = list
        .iter()
        .position(|s| s == "built-in")
        .unwrap_or(list.len());
    list.iter()
        .position(|s| s != "built-in" && relpath.starts_with(&format!("{s}/")))
        .unwrap_or(builtin)
}

/// What depmod reads from one module's ELF: `.modinfo`, exports and needed symbols.
#[derive(Debug, Clone)]
pub struct ModuleSymbols {
    /// (key, value) of `.modinfo`, in order.
    info: Vec<(String, String)>,
    exports: Vec<String>,
    /// Undefined symbols in symtab order, then unmatched `__versions` names.
    needs: Vec<String>,
}

/// What depmod read from each module of a tree, by the module's path, for a caller that
/// decompresses the modules anyway (the media reader): an entry here is used instead of
/// decompressing the module's bytes again. `Err` holds why the module is unreadable.
pub type ParsedModules = HashMap<String, std::result::Result<ModuleSymbols, String>>;

/// [`ParsedModules`] entries by the module path given in [`DepmodInput::modules`].
type ParsedByPath<'a> = HashMap<&'a str, &'a std::result::Result<ModuleSymbols, String>>;

/// Decompresses a module file as depmod reads it (every concatenated stream, at most
/// [`MODULE_CAP`] bytes); data without a compression magic comes back as it is.
pub fn decompress_module(bytes: &[u8]) -> std::result::Result<(Codec, Vec<u8>), String> {
    decode_capped(bytes, MODULE_CAP, 0, Streams::All).map_err(|e| e.0)
}

/// Reads what depmod needs from one module (decompressing it first).
fn parse_module(relpath: &str, bytes: &[u8]) -> Result<Module> {
    let symbols = decompress_module(bytes).and_then(|(_, elf)| read_symbols(&elf));
    module_from(relpath, symbols)
}

/// The indexed module of `relpath` from what was read of it (or why it was unreadable).
fn module_from(
    relpath: &str,
    symbols: std::result::Result<ModuleSymbols, String>,
) -> Result<Module> {
    let symbols = symbols.map_err(|m| InitrdError::new(format!("module {relpath}: {m}")))?;
    Ok(Module {
        relpath: relpath.to_string(),
        name: modname(relpath),
        info: symbols.info,
        exports: symbols.exports,
        needs: symbols.needs,
        rank: 0,
        sort_idx: 0,
    })
}

/// Reads what depmod needs from a decompressed module's ELF.
pub fn read_symbols(elf: &[u8]) -> std::result::Result<ModuleSymbols, String> {
    use object::{Object, ObjectSection, ObjectSymbol};
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF module: {e}"))?;
    let mut info = Vec::new();
    if let Some(s) = file.section_by_name(".modinfo") {
        let data = s.data().map_err(|e| format!(".modinfo: {e}"))?;
        for rec in data.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let rec = String::from_utf8_lossy(rec);
            if let Some((k, v)) = rec.split_once('=') {
                info.push((k.to_string(), v.to_string()));
            }
        }
    }
    let mut exports = Vec::new();
    let mut needs = Vec::new();
    for sym in file.symbols() {
        let Ok(name) = sym.name() else { continue };
        if let Some(x) = name.strip_prefix("__crc_") {
            exports.push(x.to_string());
        }
        if sym.is_undefined() && !name.is_empty() {
            needs.push(name.to_string());
        }
    }
    if exports.is_empty() {
        if let Some(s) = file.section_by_name("__ksymtab_strings") {
            let data = s.data().map_err(|e| format!("__ksymtab_strings: {e}"))?;
            exports.extend(
                data.split(|b| *b == 0)
                    .filter(|r| !r.is_empty())
                    .map(|r| String::from_utf8_lossy(r).into_owned()),
            );
        }
    }
    if let Some(s) = file.section_by_name("__versions") {
        // struct modversion_info { unsigned long crc; char name[64 - sizeof(long)]; }
        let data = s.data().map_err(|e| format!("__versions: {e}"))?;
        if data.len() % 64 == 0 {
            let seen: std::collections::HashSet<String> = needs.iter().cloned().collect();
            for rec in data.chunks_exact(64) {
                let n = &rec[8..];
                let n = &n[..n.iter().position(|b| *b == 0).unwrap_or(n.len())];
                let n = String::from_utf8_lossy(n).into_owned();
                if !n.is_empty() && !seen.contains(&n) {
                    needs.push(n);
                }
            }
        }
    }
    Ok(ModuleSymbols {
        info,
        exports,
        needs,
    })
}

fn is_module_path(p: &str) -> bool {
    super::walk::is_module_name(p)
        && !p
            .split('/')
            .rev()
            .skip(1)
            .any(|c| c == "build" || c == "source")
}

/// `alias_normalize`: `-` → `_` outside `[...]`; None on unmatched brackets.
fn alias_normalize(a: &str) -> Option<String> {
    let mut out = String::with_capacity(a.len());
    let mut in_bracket = false;
    for c in a.chars() {
        match c {
            '[' if !in_bracket => {
                in_bracket = true;
                out.push(c)
            }
            ']' if in_bracket => {
                in_bracket = false;
                out.push(c)
            }
            ']' => return None,
            '-' if !in_bracket => out.push('_'),
            c => out.push(c),
        }
    }
    (!in_bracket).then_some(out)
}

/// Generates every index file depmod would write for this tree.
pub fn generate_indexes(input: &DepmodInput<'_>) -> Result<IndexFiles> {
    generate(input, &ParsedByPath::new())
}

/// [`generate_indexes`], taking a module's symbols from `parsed` where it holds them.
fn generate(input: &DepmodInput<'_>, parsed: &ParsedByPath<'_>) -> Result<IndexFiles> {
    let mods = select_modules(input, parsed)?;
    let graph = Graph::new(&mods)?;
    let mut files: IndexFiles = Vec::new();
    modules_dep(&mods, &graph, &mut files)?;
    modules_alias(&mods, &mut files)?;
    modules_softdep(&mods, &mut files);
    modules_symbols(&mods, &graph, &mut files)?;
    modules_builtin(input, &mut files)?;
    modules_devname(&mods, &mut files);
    Ok(files)
}

/// The modules depmod indexes, in its index order: the best-ranked one per name (first one
/// on a tie), numbered in `modules.order` order, the others after in input order.
fn select_modules(input: &DepmodInput<'_>, parsed: &ParsedByPath<'_>) -> Result<Vec<Module>> {
    // Collect modules, keeping the best-ranked one per name (first one on a tie).
    let mut by_name: HashMap<String, Module> = HashMap::new();
    let mut seq = 0i64;
    for (given, bytes) in &input.modules {
        let path = given.trim_start_matches('/');
        if !is_module_path(path) {
            continue;
        }
        let rank = search_rank(&input.search, path);
        let name = modname(path);
        if let Some(old) = by_name.get(&name) {
            if old.rank <= rank {
                continue;
            }
        }
        let mut m = match parsed.get(given) {
            Some(symbols) => module_from(path, (*symbols).clone())?,
            None => parse_module(path, bytes)?,
        };
        m.rank = rank;
        seq += 1;
        m.sort_idx = seq;
        by_name.insert(name, m);
    }
    // modules.order numbering (idx - total < 0), then the others in input order.
    if let Some(order) = input.modules_order {
        let text = String::from_utf8_lossy(order);
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let total = lines.len() as i64 + 1;
        let by_uncrel: HashMap<String, String> = by_name
            .values()
            .map(|m| {
                let dir = m.relpath.rsplit_once('/').map_or("", |(d, _)| d);
                let base = m.relpath.rsplit('/').next().unwrap_or("");
                let stem = base.split('.').next().unwrap_or("");
                let unc = if dir.is_empty() {
                    format!("{stem}.ko")
                } else {
                    format!("{dir}/{stem}.ko")
                };
                (unc, m.name.clone())
            })
            .collect();
        for (i, l) in lines.iter().enumerate() {
            let l = l.strip_suffix('\n').unwrap_or(l);
            if let Some(m) = by_uncrel.get(l).and_then(|n| by_name.get_mut(n)) {
                m.sort_idx = i as i64 + 1 - total;
            }
        }
    }
    let mut mods: Vec<Module> = by_name.into_values().collect();
    mods.sort_by_key(|m| m.sort_idx);

    Ok(mods)
}

/// Who exports what, and the dependency graph in depmod's topological order.
struct Graph<'m> {
    /// Symbol → exporting module (the last exporter in index order wins, as kmod's
    /// hash_add replaces).
    owner: HashMap<&'m str, usize>,
    /// Direct dependencies of each module, sorted by `dep_sort`.
    deps: Vec<Vec<usize>>,
    /// Position of each module in depmod's topological order.
    dep_sort: Vec<usize>,
}

impl<'m> Graph<'m> {
    fn new(mods: &'m [Module]) -> Result<Graph<'m>> {
        let n = mods.len();
        // Symbols: last exporter in index order wins (kmod's hash_add replaces).
        let mut owner: HashMap<&str, usize> = HashMap::new();
        for (i, m) in mods.iter().enumerate() {
            for s in &m.exports {
                owner.insert(s.as_str(), i);
            }
        }
        // Direct dependencies in first-use order, and user counts.
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut users = vec![0usize; n];
        for (i, m) in mods.iter().enumerate() {
            for s in &m.needs {
                let s = s.strip_prefix('.').unwrap_or(s);
                if let Some(&o) = owner.get(s) {
                    if !deps[i].contains(&o) {
                        deps[i].push(o);
                        users[o] += 1;
                    }
                }
            }
        }
        // Topological order (modules without users first), exactly as depmod's stack walk.
        let mut dep_sort = vec![usize::MAX; n];
        let mut roots: Vec<usize> = (0..n).filter(|i| users[*i] == 0).collect();
        let mut left = users;
        let mut sorted = 0;
        while let Some(src) = roots.pop() {
            dep_sort[src] = sorted;
            sorted += 1;
            for &d in &deps[src] {
                left[d] -= 1;
                if left[d] == 0 {
                    roots.push(d);
                }
            }
        }
        if sorted < n {
            let cyc: Vec<&str> = (0..n)
                .filter(|i| left[*i] > 0)
                .map(|i| mods[i].name.as_str())
                .collect();
            return Err(InitrdError::new(format!(
                "module dependency cycle among: {}",
                cyc.join(" ")
            )));
        }
        for d in deps.iter_mut() {
            d.sort_by_key(|x| dep_sort[*x]);
        }
        Ok(Graph {
            owner,
            deps,
            dep_sort,
        })
    }

    /// Every module `i` depends on, directly or not (kmod's
    /// `mod_fill_all_unique_dependencies`: depth first, each module once), in `dep_sort`
    /// order. An explicit stack: a dependency chain is as long as the module list.
    fn all_deps(&self, i: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        let mut seen = vec![false; self.deps.len()];
        let mut stack: Vec<(usize, usize)> = vec![(i, 0)];
        while let Some((m, k)) = stack.pop() {
            let Some(&d) = self.deps.get(m).and_then(|ds| ds.get(k)) else {
                continue;
            };
            stack.push((m, k + 1));
            if !seen.get(d).copied().unwrap_or(true) {
                if let Some(s) = seen.get_mut(d) {
                    *s = true;
                }
                out.push(d);
                stack.push((d, 0));
            }
        }
        out.sort_by_key(|x| self.dep_sort[*x]);
        out
    }
}

/// `modules.dep` and its `.bin`.
fn modules_dep(mods: &[Module], graph: &Graph<'_>, files: &mut IndexFiles) -> Result<()> {
    let mut dep_txt = String::new();
    let mut dep_idx = Index::new();
    for (i, m) in mods.iter().enumerate() {
        let mut line = format!("{}:", m.relpath);
        for d in graph.all_deps(i) {
            line.push(' ');
            line.push_str(&mods[d].relpath);
        }
        dep_txt.push_str(&line);
        dep_txt.push('\n');
        dep_idx.insert(&m.name, &line, i as u32)?;
    }
    files.push(("modules.dep".into(), dep_txt.into_bytes()));
    files.push(("modules.dep.bin".into(), dep_idx.write()?));
    Ok(())
}

/// `modules.alias` and its `.bin`.
fn modules_alias(mods: &[Module], files: &mut IndexFiles) -> Result<()> {
    let mut alias_txt = String::from("# Aliases extracted from modules themselves.\n");
    let mut alias_idx = Index::new();
    for (i, m) in mods.iter().enumerate() {
        for (k, v) in &m.info {
            if k == "alias" {
                alias_txt.push_str(&format!("alias {v} {}\n", m.name));
                if let Some(a) = alias_normalize(v) {
                    alias_idx.insert(&a, &m.name, i as u32)?;
                }
            }
        }
    }
    files.push(("modules.alias".into(), alias_txt.into_bytes()));
    files.push(("modules.alias.bin".into(), alias_idx.write()?));
    Ok(())
}

/// `modules.softdep`.
fn modules_softdep(mods: &[Module], files: &mut IndexFiles) {
    let mut soft = String::from("# Soft dependencies extracted from modules themselves.\n");
    for m in mods {
        for (k, v) in &m.info {
            if k == "softdep" {
                soft.push_str(&format!("softdep {} {v}\n", m.name));
            }
        }
    }
    files.push(("modules.softdep".into(), soft.into_bytes()));
}

/// `modules.symbols` and its `.bin` (depmod prints them in hash order; sorted here).
fn modules_symbols(mods: &[Module], graph: &Graph<'_>, files: &mut IndexFiles) -> Result<()> {
    let mut syms: Vec<(&str, usize)> = graph.owner.iter().map(|(s, o)| (*s, *o)).collect();
    syms.sort();
    let mut sym_txt = String::from("# Aliases for symbols, used by symbol_request().\n");
    let mut sym_idx = Index::new();
    for (s, o) in &syms {
        sym_txt.push_str(&format!("alias symbol:{s} {}\n", mods[*o].name));
        sym_idx.insert(&format!("symbol:{s}"), &mods[*o].name, *o as u32)?;
    }
    files.push(("modules.symbols".into(), sym_txt.into_bytes()));
    files.push(("modules.symbols.bin".into(), sym_idx.write()?));
    Ok(())
}

/// `modules.builtin.bin` and `modules.builtin.alias.bin` (depmod leaves an empty file when
/// the source is missing).
fn modules_builtin(input: &DepmodInput<'_>, files: &mut IndexFiles) -> Result<()> {
    let builtin = match input.modules_builtin {
        None => Vec::new(),
        Some(b) => {
            let mut idx = Index::new();
            for l in String::from_utf8_lossy(b).lines() {
                if l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
                    idx.insert(&modname(l), "", 0)?;
                }
            }
            idx.write()?
        }
    };
    files.push(("modules.builtin.bin".into(), builtin));
    let builtin_alias = match input.modules_builtin_modinfo {
        None => Vec::new(),
        Some(b) => {
            let mut idx = Index::new();
            for rec in b.split(|c| *c == 0).filter(|r| !r.is_empty()) {
                let rec = String::from_utf8_lossy(rec);
                let Some((module, kv)) = rec.split_once('.') else {
                    continue;
                };
                let Some(("alias", value)) = kv.split_once('=') else {
                    continue;
                };
                if module.is_empty() || value.is_empty() {
                    continue;
                }
                if let Some(a) = alias_normalize(value) {
                    idx.insert(&a, module, 0)?;
                }
            }
            idx.write()?
        }
    };
    files.push(("modules.builtin.alias.bin".into(), builtin_alias));
    Ok(())
}

/// `modules.devname`: modules with a `devname:` alias and a char/block major:minor.
fn modules_devname(mods: &[Module], files: &mut IndexFiles) {
    let mut devname = String::new();
    for m in mods {
        let mut name = None;
        let mut dev = None;
        for (k, v) in &m.info {
            if k != "alias" {
                continue;
            }
            if let Some(d) = v.strip_prefix("devname:") {
                name = Some(d.to_string());
            } else if let Some(t) = parse_major_minor(v, "char-major-") {
                dev = Some(('c', t));
            } else if let Some(t) = parse_major_minor(v, "block-major-") {
                dev = Some(('b', t));
            }
            if name.is_some() && dev.is_some() {
                break;
            }
        }
        if let (Some(nm), Some((t, (maj, min)))) = (name, dev) {
            if devname.is_empty() {
                devname.push_str("# Device nodes to trigger on-demand module loading.\n");
            }
            devname.push_str(&format!("{} {nm} {t}{maj}:{min}\n", m.name));
        }
    }
    files.push(("modules.devname".into(), devname.into_bytes()));
}

fn parse_major_minor(v: &str, prefix: &str) -> Option<(u32, u32)> {
    let rest = v.strip_prefix(prefix)?;
    let (a, b) = rest.split_once('-')?;
    // sscanf("%u-%u") reads the leading digits of each part.
    let num = |s: &str| -> Option<u32> {
        let d: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
        d.parse().ok()
    };
    Some((num(a)?, num(b)?))
}

/// Convenience for the pipeline: builds the index files from [`super::walk::read_files`]
/// output (full paths under `usr/lib/modules/<kver>/` or `lib/modules/<kver>/`) plus added
/// modules given relative to the module directory (e.g. `updates/mpt3sas.ko.xz`), which
/// override same-named base modules by search priority (an added file at the same relative
/// path as a base file replaces it).
pub fn generate_for_tree(
    base_files: &[(String, Vec<u8>)],
    kver: &str,
    added: &[(String, Vec<u8>)],
) -> Result<IndexFiles> {
    generate_for_parsed_tree(base_files, &ParsedModules::new(), kver, added)
}

/// [`generate_for_tree`] for a tree whose modules the caller has already read
/// ([`ParsedModules`] by their paths in `base_files`): those are not decompressed again.
pub fn generate_for_parsed_tree(
    base_files: &[(String, Vec<u8>)],
    parsed: &ParsedModules,
    kver: &str,
    added: &[(String, Vec<u8>)],
) -> Result<IndexFiles> {
    let prefixes = [
        format!("usr/lib/modules/{kver}/"),
        format!("lib/modules/{kver}/"),
    ];
    let mut input = DepmodInput::default();
    let mut by_path = ParsedByPath::new();
    for (p, d) in base_files {
        let Some(rel) = prefixes.iter().find_map(|x| p.strip_prefix(x.as_str())) else {
            continue;
        };
        match rel {
            "modules.order" => input.modules_order = Some(d),
            "modules.builtin" => input.modules_builtin = Some(d),
            "modules.builtin.modinfo" => input.modules_builtin_modinfo = Some(d),
            _ => {
                if is_module_path(rel) && !added.iter().any(|(a, _)| a == rel) {
                    input.modules.push((rel, d));
                    if let Some(symbols) = parsed.get(p) {
                        by_path.insert(rel, symbols);
                    }
                }
            }
        }
    }
    for (p, d) in added {
        input.modules.push((p.as_str(), d));
    }
    generate(&input, &by_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modname_and_alias_rules() {
        assert_eq!(
            modname("kernel/drivers/scsi/mpt3sas/mpt3sas.ko.xz"),
            "mpt3sas"
        );
        assert_eq!(modname("updates/snd-hda-intel.ko"), "snd_hda_intel");
        assert_eq!(
            alias_normalize("pci:v-[a-b]*").as_deref(),
            Some("pci:v_[a-b]*")
        );
        assert_eq!(alias_normalize("a]"), None);
        assert_eq!(search_rank(&[], "updates/x.ko"), 0);
        assert_eq!(search_rank(&[], "kernel/x.ko"), 2);
        assert_eq!(search_rank(&[], "weak-updates/x.ko"), 3);
    }
}

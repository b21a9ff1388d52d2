//! `remaster inspect INITRD`: segments, files, symlinks and module trees as the kernel would
//! unpack them.

use super::walk::{list, EntryInfo, FileKind, Segment};
use super::Result;
use serde::Serialize;
use std::io::{self, Read, Seek, Write};

/// One `lib/modules/<kver>` tree found in the image.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleTree {
    pub kver: String,
    /// Canonical directory path (e.g. `usr/lib/modules/5.14.0-284.el9.x86_64`).
    pub path: String,
    /// Whether the depmod indexes kmod needs are present.
    pub has_modules_dep_bin: bool,
    /// Module file paths (canonical, full).
    pub modules: Vec<String>,
}

/// A symlink of the unpacked tree (usr-merge links such as `lib -> usr/lib`).
#[derive(Debug, Clone, Serialize)]
pub struct SymlinkInfo {
    pub path: String,
    pub target: String,
}

/// The inspect report (JSON schema: these fields).
#[derive(Debug, Clone, Serialize)]
pub struct InitrdReport {
    pub image_size: u64,
    pub segments: Vec<Segment>,
    pub module_trees: Vec<ModuleTree>,
    pub symlinks: Vec<SymlinkInfo>,
    /// The effective tree (last entry wins), sorted by path.
    pub files: Vec<EntryInfo>,
    pub warnings: Vec<String>,
    pub kernel_error: Option<String>,
    pub incomplete: Option<String>,
}

/// Walks the image and builds the report.
pub fn inspect<R: Read + Seek>(r: R) -> Result<InitrdReport> {
    let listing = list(r)?;
    let module_trees = listing
        .module_trees()
        .into_iter()
        .map(|(kver, path)| ModuleTree {
            has_modules_dep_bin: listing
                .entries
                .get(&format!("{path}/modules.dep.bin"))
                .is_some_and(|e| e.kind == FileKind::File),
            modules: listing
                .modules_in(&path)
                .into_iter()
                .map(|e| e.path.clone())
                .collect(),
            kver,
            path,
        })
        .collect();
    let symlinks = listing
        .entries
        .values()
        .filter(|e| e.kind == FileKind::Symlink)
        .map(|e| SymlinkInfo {
            path: e.path.clone(),
            target: e.target.clone().unwrap_or_default(),
        })
        .collect();
    Ok(InitrdReport {
        image_size: listing.image_size,
        segments: listing.segments,
        module_trees,
        symlinks,
        files: listing.entries.into_values().collect(),
        warnings: listing.warnings,
        kernel_error: listing.kernel_error,
        incomplete: listing.incomplete,
    })
}

impl crate::report::Report for InitrdReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "initrd: {} bytes, {} segment(s)",
            self.image_size,
            self.segments.len()
        )?;
        for (i, s) in self.segments.iter().enumerate() {
            let unc = s
                .uncompressed_size
                .map_or("?".to_string(), |u| u.to_string());
            let check = s
                .xz_check
                .map_or(String::new(), |c| format!(" check={c:?}"));
            writeln!(
                out,
                "  #{i} offset {} size {} -> {} bytes, {}{check}, {} entries, {} archive(s){}",
                s.offset,
                s.size,
                unc,
                s.compression.name(),
                s.entries,
                s.archives,
                s.kernel_refuses
                    .as_ref()
                    .map_or(String::new(), |r| format!("  REFUSED BY KERNEL: {r}"))
            )?;
        }
        if let Some(e) = &self.kernel_error {
            writeln!(out, "kernel would stop unpacking: {e}")?;
        }
        if let Some(e) = &self.incomplete {
            writeln!(out, "listing incomplete: {e}")?;
        }
        for w in &self.warnings {
            writeln!(out, "warning: {w}")?;
        }
        writeln!(out, "symlinks:")?;
        for s in &self.symlinks {
            writeln!(out, "  {} -> {}", s.path, s.target)?;
        }
        writeln!(out, "module trees:")?;
        for t in &self.module_trees {
            writeln!(
                out,
                "  {} ({}): {} modules{}",
                t.kver,
                t.path,
                t.modules.len(),
                if t.has_modules_dep_bin {
                    ""
                } else {
                    ", no modules.dep.bin"
                }
            )?;
        }
        writeln!(out, "files ({}):", self.files.len())?;
        for f in &self.files {
            write!(
                out,
                "  {}{:04o} {:>10} #{} {}",
                f.kind.letter(),
                f.mode,
                f.size,
                f.segment,
                f.path
            )?;
            if let Some(t) = &f.target {
                write!(out, " -> {t}")?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

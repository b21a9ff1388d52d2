//! `remaster inspect MODULE.ko[.xz|.zst|.gz] [--json]`: what a module says about itself.

use std::io::{self, Write};

use serde::Serialize;

use super::module::Module;
use crate::report::Report;

/// Report on one module file. JSON: the file name plus every [`Module`] field.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleReport {
    /// The file as the user named it.
    pub file: String,
    #[serde(flatten)]
    pub module: Module,
}

impl ModuleReport {
    /// Wraps a parsed module for printing; `file` is shown as given.
    pub fn new(file: impl Into<String>, module: Module) -> ModuleReport {
        ModuleReport {
            file: file.into(),
            module,
        }
    }
}

impl Report for ModuleReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let m = &self.module;
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        writeln!(out, "file:        {}", self.file)?;
        writeln!(out, "name:        {}", m.display_name())?;
        writeln!(
            out,
            "format:      {}, {}",
            m.elf.describe(),
            if m.compression.name() == "none" {
                "uncompressed".to_string()
            } else {
                format!("{}-compressed", m.compression.name())
            }
        )?;
        writeln!(out, "vermagic:    {}", opt(&m.vermagic))?;
        writeln!(out, "license:     {}", opt(&m.license))?;
        writeln!(out, "srcversion:  {}", opt(&m.srcversion))?;
        writeln!(out, "depends:     {}", m.depends.join(","))?;
        writeln!(out, "intree:      {}", if m.intree { "Y" } else { "N" })?;
        writeln!(out, "retpoline:   {}", if m.retpoline { "Y" } else { "N" })?;
        for ns in &m.import_ns {
            writeln!(out, "import_ns:   {ns}")?;
        }
        for s in &m.softdeps {
            writeln!(out, "softdep:     {s}")?;
        }
        for a in &m.aliases {
            writeln!(out, "alias:       {a}")?;
        }
        match &m.signature {
            None => writeln!(out, "signature:   none (unsigned)")?,
            Some(sig) => {
                let who = sig
                    .issuer_cn
                    .clone()
                    .or_else(|| sig.issuer.clone())
                    .unwrap_or_else(|| "-".into());
                writeln!(out, "signer:      {who}")?;
                if let Some(serial) = &sig.serial {
                    writeln!(out, "sig_key:     {serial}")?;
                }
                if let Some(skid) = &sig.subject_key_id {
                    writeln!(out, "sig_skid:    {skid}")?;
                }
                writeln!(
                    out,
                    "sig_hashalgo: {} ({})",
                    sig.hash_algorithm, sig.signature_algorithm
                )?;
            }
        }
        match &m.versions {
            None => writeln!(out, "modversions: none (no __versions section)")?,
            Some(v) => {
                writeln!(out, "modversions: {} symbols", v.len())?;
                for e in v {
                    writeln!(out, "  0x{:08x}  {}", e.crc, e.name)?;
                }
            }
        }
        writeln!(out, "exports:     {}", m.exports.len())?;
        for e in &m.exports {
            let crc = e
                .crc
                .map(|c| format!("0x{c:08x}"))
                .unwrap_or_else(|| "-".repeat(10));
            let kind = if e.gpl_only {
                "EXPORT_SYMBOL_GPL"
            } else {
                "EXPORT_SYMBOL"
            };
            let ns = e.namespace.as_deref().unwrap_or("");
            writeln!(out, "  {crc}  {}  {kind} {ns}", e.name)?;
        }
        writeln!(out, "undefined:   {}", m.undefined.len())?;
        for u in &m.undefined {
            writeln!(out, "  {}{}", u.name, if u.weak { " (weak)" } else { "" })?;
        }
        Ok(())
    }
}

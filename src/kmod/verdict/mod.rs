//! Would the target kernel load this module? The loader's checks, in the kernel's order.
//!
//! Order in `load_module()` — identical in Linux 5.14 (RHEL 9, `kernel/module.c`) and 6.1
//! (Debian 12, `kernel/module/main.c`):
//! 1. `module_sig_check()` — under enforcement (Secure Boot) an unsigned module or one
//!    signed by a key the kernel does not trust is refused *before anything else*:
//!    `Loading of unsigned module is rejected` / `Loading of module with unavailable key is
//!    rejected` (-EKEYREJECTED, "Key was rejected by service"). RHEL may instead take the
//!    lockdown branch: `Lockdown: insmod: unsigned module loading is restricted; see man
//!    kernel_lockdown.7` (-EPERM). Without enforcement: loads, taint `E`.
//! 2. `elf_validity_check()` — `ET_REL`, `e_machine` (the kernel's own: x86_64 62, aarch64
//!    183), header sizes, -ENOEXEC. 6.1 prints `Invalid architecture in ELF header: N`
//!    (observed on amd64 and arm64); whether a RHEL 5.14 build prints these lines is not
//!    verified (the refusal itself is the same). A module for the other architecture is
//!    refused for that reason first in the verdict, even where the kernel's first line is the
//!    signature's (Secure Boot): no signature makes it load.
//! 3. `setup_load_info()` — `.gnu.linkonce.this_module` required; in 6.12 (not 6.1)
//!    (`elf_validity_cache_copy()`) also of the kernel's own `sizeof(struct module)`, which
//!    refuses most modules built for another kernel before their versions are looked at.
//! 4. `check_modstruct_version()` — `module_layout` CRC (both 5.14 and 6.1 export it;
//!    upstream removed it in 6.3, where this step disappears).
//! 5. `check_modinfo()` — vermagic (`same_magic`: the release is skipped only when the
//!    module has `__versions` and the kernel has MODVERSIONS), out-of-tree and licence taints.
//! 6. `simplify_symbols()` — every undefined symbol in symbol-table order: not exported
//!    (or GPL-only for a non-GPL module) → `Unknown symbol X (err -2)`; CRC mismatch →
//!    `disagrees about version of symbol X` then `Unknown symbol X (err -22)`; namespace not
//!    imported → `module uses symbol (X) from namespace NS, but does not import it.` then
//!    `Unknown symbol X (err -22)`.
//! 7. `apply_relocations()` — a RELA type the arch's `apply_relocate_add()` does not know:
//!    `module X: unsupported RELA relocation: N` (arm64, observed) / `X: Unknown rela
//!    relocation: N` (x86_64), -ENOEXEC; 64-bit kernels apply no REL sections.
//!
//! `depends=` is not checked by the kernel; modprobe loads those modules first. A dependency
//! missing from the target shows up as unknown symbols; it is reported separately.
//!
//! Differences 5.14 ↔ 6.1 that matter here: none in the order. Both export `module_layout`
//! (Debian 6.1.0-50: CRC 0xbce1a965, also in its Module.symvers) and check it first; 6.1 keeps
//! symbol CRCs as data in `__kcrctab*` (5.19+) where 5.14 uses absolute `__crc_*` symbols —
//! the module reader handles both. Under Secure Boot Debian sets `sig_enforce` (the
//! `Loading of ... is rejected` lines, verified in QEMU with `module.sig_enforce=1`); a RHEL
//! kernel may word the same refusal as the lockdown line above.
//!
//! The signature is verified as `mod_verify_sig()` does (signature.rs: RSA PKCS#1 v1.5 and
//! ECDSA P-256/P-384, over SHA-1, SHA-2 and SHA-3). A signature that does not verify, or
//! one with authenticated attributes, is refused with -EKEYREJECTED even without Secure
//! Boot (checked against the real 6.1 and 6.12 kernels in tests/kmod_truth.rs); an
//! algorithm the kernel's PKCS#7 parser does not know is "module with unsupported crypto".
//!
//! Not modelled: blacklists. MOK/db keys count as trusted only where the user says they are
//! enrolled (`--trust-key`); otherwise only the kernel's built-in certificates do.
//!
//! One file per concern: the verdict's types here, the loader's steps in the kernel's order
//! ([`check`], judge.rs), the one-line summary and report (summary.rs), and which modules
//! claim a PCI device (pci.rs).

use std::collections::HashMap;

use serde::Serialize;

use super::kernel::Kernel;
use super::module::{Export, Module};

mod judge;
mod pci;
mod summary;

pub use judge::{check, same_magic};
pub use pci::{fnmatch, modules_for_pci};

/// Whether the machine that will boot the ISO enforces module signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecureBoot {
    On,
    Off,
    Unknown,
}

/// The kernel of the ISO plus the modules available to satisfy dependencies (from its initrd).
#[derive(Debug, Clone)]
pub struct Target {
    pub kernel: Kernel,
    modules: Vec<Module>,
    /// symbol → index into `modules` of its exporter (first one wins, like the kernel's
    /// list walk).
    module_exports: HashMap<String, usize>,
}

impl Target {
    /// Builds a target from the kernel and the modules the initrd carries.
    pub fn new(kernel: Kernel, initrd_modules: Vec<Module>) -> Target {
        let mut module_exports = HashMap::new();
        for (i, m) in initrd_modules.iter().enumerate() {
            for e in &m.exports {
                module_exports.entry(e.name.clone()).or_insert(i);
            }
        }
        Target {
            kernel,
            modules: initrd_modules,
            module_exports,
        }
    }

    /// The modules available besides the kernel.
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// The module called `name` (`-` and `_` are equivalent, as for modprobe).
    pub fn module(&self, name: &str) -> Option<&Module> {
        let want = normalize(name);
        self.modules
            .iter()
            .find(|m| m.name.as_deref().map(normalize) == Some(want.clone()))
    }

    /// Finds an export the way `find_symbol()` does: kernel first, then modules.
    /// Returns the export and the providing module's name (`None` = the kernel).
    fn find_export(&self, symbol: &str) -> Option<(&Export, Option<&str>)> {
        if let Some(e) = self.kernel.export(symbol) {
            return Some((e, None));
        }
        let m = self.modules.get(*self.module_exports.get(symbol)?)?;
        let e = m.exports.iter().find(|e| e.name == symbol)?;
        Some((e, Some(m.display_name())))
    }
}

fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// Which loader rule a problem comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Signature,
    /// A signature that does not verify: fatal whatever the Secure Boot state.
    SignatureMismatch,
    ElfHeader,
    ModuleStruct,
    ModuleLayout,
    Vermagic,
    Symbol,
    SymbolVersion,
    GplOnly,
    Namespace,
    /// A relocation type the architecture's loader does not apply.
    Relocation,
    Dependency,
}

/// One problem found. `fatal` ones make the loader refuse the module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub check: Check,
    pub fatal: bool,
    /// The kernel log lines this problem produces, exactly as printed (without the
    /// timestamp), if any.
    pub kernel_messages: Vec<String>,
    /// Explanation for people.
    pub detail: String,
}

/// The result of `load_module()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// The kernel accepts it (possibly with taint warnings).
    Loads,
    /// The kernel refuses it. `message` is the first kernel log line of the refusal.
    Refused {
        message: String,
        reason: String,
        /// The errno `init_module` returns (negative), e.g. -8 (ENOEXEC).
        errno: i32,
        /// What `insmod` prints for that errno ("Invalid module format"...).
        insmod_error: String,
    },
    /// Loads only if Secure Boot (signature enforcement) is off; `message` is what the
    /// kernel prints when it is on.
    LoadsOnlyWithoutSecureBoot { message: String, reason: String },
}

impl Outcome {
    /// `LOADS`, `REFUSED` or `LOADS ONLY WITHOUT SECURE BOOT`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Loads => "LOADS",
            Outcome::Refused { .. } => "REFUSED",
            Outcome::LoadsOnlyWithoutSecureBoot { .. } => "LOADS ONLY WITHOUT SECURE BOOT",
        }
    }
}

/// The verdict of [`check`].
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub module: String,
    /// The release from the module's vermagic.
    pub built_for: Option<String>,
    pub kernel_release: String,
    /// `uname -m` of the kernel (`x86_64`, `aarch64`).
    pub kernel_arch: String,
    pub secure_boot: SecureBoot,
    pub outcome: Outcome,
    /// Every problem found, in the loader's order (fatal or not).
    pub problems: Vec<Problem>,
    /// Kernel warnings a successful load prints (taints).
    pub warnings: Vec<String>,
    /// The one-line summary (same as the human rendering).
    pub summary: String,
}

impl Verdict {
    /// Whether the module loads under the stated Secure Boot setting.
    pub fn loads(&self) -> bool {
        matches!(self.outcome, Outcome::Loads)
    }

    /// The refusal lines the kernel log should show, in order (taint warnings excluded):
    /// for a refusal while resolving symbols every failing symbol's lines, otherwise the
    /// refusing check's line(s). Empty when the module loads.
    pub fn expected_kernel_log(&self) -> Vec<String> {
        let Outcome::Refused { message, .. } = &self.outcome else {
            return Vec::new();
        };
        if message.is_empty() {
            return Vec::new(); // refused without a log line (a signature that does not verify)
        }
        let Some(first) = self
            .problems
            .iter()
            .find(|p| p.kernel_messages.first() == Some(message))
        else {
            return vec![message.clone()];
        };
        let symbol_stage = |c: Check| {
            matches!(
                c,
                Check::Symbol | Check::SymbolVersion | Check::GplOnly | Check::Namespace
            )
        };
        if symbol_stage(first.check) {
            self.problems
                .iter()
                .filter(|p| symbol_stage(p.check))
                .flat_map(|p| p.kernel_messages.iter().cloned())
                .collect()
        } else {
            first.kernel_messages.clone()
        }
    }
}

const ENOENT: i32 = -2;
const ENOEXEC: i32 = -8;
const EINVAL: i32 = -22;
const EKEYREJECTED: i32 = super::signature::EKEYREJECTED;
const EBADMSG: i32 = super::signature::EBADMSG;

fn insmod_error(errno: i32) -> &'static str {
    match errno {
        ENOEXEC => "Invalid module format",
        ENOENT => "Unknown symbol in module",
        EINVAL => "Invalid parameters",
        EKEYREJECTED => "Key was rejected by service",
        EBADMSG => "Bad message",
        _ => "error",
    }
}

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
//! About 950 lines of code and 40 of tests: the verdict's types, the loader's steps
//! ([`check`]) and their summary stay together so the order the kernel checks in reads
//! top to bottom.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;

use super::kernel::{Kernel, THIS_MODULE_SIZE_MESSAGE};
use super::module::{Export, Module};
use super::signature::SignatureCheck;
use crate::report::Report;

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

/// Decides whether `target`'s kernel would load `module`.
pub fn check(module: &Module, target: &Target, secure_boot: SecureBoot) -> Verdict {
    let mut j = Judge {
        module,
        target,
        kernel: &target.kernel,
        secure_boot,
        name: module.display_name().to_string(),
        problems: Vec::new(),
        warnings: Vec::new(),
        refusal: None,
    };
    // The loader's order: signature, ELF header, struct module, then (for a module) the
    // version checks, the taints and the symbols; `depends=` is modprobe's.
    let sig = j.signature();
    let elf_ok = j.elf_header();
    if elf_ok && j.module_struct() {
        let vermagic_ok = j.versions();
        if j.refusal.is_none() && vermagic_ok {
            j.taints(sig.map(|(_, reason)| reason));
        }
        j.symbols();
        j.relocations();
    }
    j.depends();
    j.verdict(sig)
}

/// One verdict being made: the problems and warnings in the order the loader meets them.
struct Judge<'a> {
    module: &'a Module,
    target: &'a Target,
    kernel: &'a Kernel,
    secure_boot: SecureBoot,
    name: String,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    /// (problem index, errno) of the first fatal problem after the signature step.
    refusal: Option<(usize, i32)>,
}

impl Judge<'_> {
    /// A fatal problem; the first one decides the refusal.
    fn fatal(&mut self, check: Check, messages: Vec<String>, detail: String, errno: i32) {
        self.problems.push(Problem {
            check,
            fatal: true,
            kernel_messages: messages,
            detail,
        });
        if self.refusal.is_none() {
            self.refusal = Some((self.problems.len() - 1, errno));
        }
    }

    /// try_to_force_load(): with CONFIG_MODULE_FORCE_LOAD (RHEL, Debian) a missing version
    /// or vermagic only taints; the reason printed is the symbol name.
    fn force(&mut self, why: &str) {
        self.warnings
            .push(format!("{}: {why}: kernel tainted.", self.name));
    }

    /// Step 1, the signature: `mod_verify_sig()` (signature.rs follows it step by step).
    /// A signature that does not verify is fatal even without enforcement (only
    /// "unsigned", "unsupported crypto" and "unavailable key" are forgiven then). Returns
    /// the signature problem (index, reason) that Secure Boot would make fatal.
    fn signature(&mut self) -> Option<(usize, &'static str)> {
        let (module, kernel, name) = (self.module, self.kernel, self.name.clone());
        let sig_check = module
            .signature
            .as_ref()
            .map(|sig| sig.kernel_check(&kernel.trusted_certs, kernel.release()));
        let mut mismatch = None;
        let mut unsupported = None;
        let trusted = match &sig_check {
            Some(SignatureCheck::Valid(cert)) => Some(*cert),
            Some(SignatureCheck::Unchecked(cert, why)) => {
                self.warnings.push(format!(
                    "{name}: signed by a key this kernel trusts; the signature itself was not verified ({why})"
                ));
                Some(*cert)
            }
            Some(SignatureCheck::UnsupportedCrypto(why)) => {
                unsupported = Some(why.clone());
                None
            }
            Some(SignatureCheck::Rejected {
                why,
                kernel_message,
                errno,
            }) => {
                mismatch = Some((why.clone(), kernel_message.clone(), *errno));
                None
            }
            Some(SignatureCheck::UnavailableKey) | None => None,
        };
        if let Some(cert) = trusted.filter(|c| c.enrolled) {
            self.warnings.push(format!(
                "{name}: signed by \"{}\", trusted because --trust-key says it is enrolled in MOK/db; under Secure Boot it loads only if that key really is enrolled on the machine",
                cert.subject
            ));
        }
        let sig_reason = match &sig_check {
            None => Some("unsigned module"),
            Some(SignatureCheck::UnsupportedCrypto(_)) => Some("module with unsupported crypto"),
            Some(SignatureCheck::UnavailableKey) => Some("module with unavailable key"),
            Some(_) => None,
        };
        let signer = module
            .signature
            .as_ref()
            .and_then(|s| s.issuer_cn.clone().or_else(|| s.subject_key_id.clone()));
        let sig_problem = sig_reason.map(|reason| {
            let detail = match (&signer, &unsupported) {
                (_, Some(why)) => format!(
                    "{why}: the kernel cannot check the signature (it must be made with an \
                     algorithm the kernel knows to load under Secure Boot)"
                ),
                (None, None) => "the module is unsigned".to_string(),
                (Some(who), None) => format!(
                    "signed by \"{who}\", a key this kernel does not have built in (it must be \
                     enrolled in MOK/db to load under Secure Boot)"
                ),
            };
            self.problems.push(Problem {
                check: Check::Signature,
                fatal: self.secure_boot == SecureBoot::On,
                kernel_messages: vec![format!("Loading of {reason} is rejected")],
                detail,
            });
            (self.problems.len() - 1, reason)
        });
        if let Some((why, kernel_message, errno)) = mismatch {
            // The kernel logs nothing for a signature that does not verify (pr_devel);
            // insmod reports the errno.
            self.fatal(
                Check::SignatureMismatch,
                kernel_message.into_iter().collect(),
                why,
                errno,
            );
        }
        sig_problem
    }

    /// Step 2, the ELF header. Returns whether it is one the loader goes on with.
    fn elf_header(&mut self) -> bool {
        let elf = &self.module.elf;
        if elf.elf_type != 1 {
            self.fatal(
                Check::ElfHeader,
                vec![format!("Invalid ELF header type: {} != 1", elf.elf_type)],
                format!("not a relocatable object (ELF type {})", elf.elf_type),
                ENOEXEC,
            );
        } else if elf.machine != self.kernel.arch().elf_machine() {
            let arch = self.kernel.arch();
            self.fatal(
                Check::ElfHeader,
                vec![format!(
                    "Invalid architecture in ELF header: {}",
                    elf.machine
                )],
                format!(
                    "the module is {}, the kernel ({}) is {}: a module runs only on the \
                     architecture it was built for",
                    elf.describe(),
                    self.kernel.release(),
                    arch.describe()
                ),
                ENOEXEC,
            );
        } else if elf.class_bits != 64 {
            self.fatal(
                Check::ElfHeader,
                vec!["Invalid ELF section header size".to_string()],
                format!("the module is {}, the kernel is ELF64", elf.describe()),
                ENOEXEC,
            );
        }
        self.problems.iter().all(|p| p.check != Check::ElfHeader)
    }

    /// The module's name as the loader prints it (`info->name`, from .modinfo).
    fn loader_name(&self) -> String {
        self.module
            .name
            .clone()
            .unwrap_or_else(|| "(missing .modinfo section or name field)".into())
    }

    /// Step 3, struct module. Returns whether the object is a module the loader goes on with.
    fn module_struct(&mut self) -> bool {
        if self.module.has_this_module {
            return self.module_struct_size();
        }
        let who = self.loader_name();
        self.fatal(
            Check::ModuleStruct,
            vec![format!("{who}: No module found in object")],
            "no .gnu.linkonce.this_module section: not a kernel module".into(),
            ENOEXEC,
        );
        false
    }

    /// Kernels that check it (see [`Kernel::checks_this_module_size`]) refuse a module whose
    /// `struct module` has another size than their own, before any version check. The
    /// kernel's size is that of its own modules' sections (the initrd's); without them it is
    /// unknown and the step is skipped.
    fn module_struct_size(&mut self) -> bool {
        if !self.kernel.checks_this_module_size {
            return true;
        }
        let Some(size) = self.module.this_module_size else {
            return true;
        };
        let Some(kernel_size) = self
            .target
            .modules()
            .iter()
            .find_map(|m| m.this_module_size)
        else {
            return true;
        };
        if size == kernel_size {
            return true;
        }
        let who = self.loader_name();
        self.fatal(
            Check::ModuleStruct,
            vec![format!("module {who}: {THIS_MODULE_SIZE_MESSAGE}")],
            format!(
                "struct module is {size} bytes in this module and {kernel_size} in the \
                 kernel's own modules: it was built for another kernel"
            ),
            ENOEXEC,
        );
        false
    }

    /// Steps 4 and 5, module_layout and vermagic. Returns whether vermagic passed.
    fn versions(&mut self) -> bool {
        let (module, kernel, name) = (self.module, self.kernel, self.name.clone());
        let has_versions = module.versions.is_some();
        if let Some(kernel_crc) = kernel.module_layout_crc {
            match module.version_of("module_layout") {
                Some(crc) if crc != kernel_crc => self.fatal(
                    Check::ModuleLayout,
                    vec![format!(
                        "{name}: disagrees about version of symbol module_layout"
                    )],
                    format!("module_layout CRC 0x{crc:08x} != 0x{kernel_crc:08x}"),
                    ENOEXEC,
                ),
                Some(_) => {}
                None if has_versions => self
                    .warnings
                    .push(format!("{name}: no symbol version for module_layout")),
                None => self.force("module_layout"),
            }
        }
        match (&module.vermagic, &kernel.vermagic) {
            (None, _) => self.force("bad vermagic"),
            (Some(m), Some(k)) => {
                if !same_magic(m, k, has_versions && kernel.modversions) {
                    self.fatal(
                        Check::Vermagic,
                        vec![format!("{name}: version magic '{m}' should be '{k}'")],
                        if has_versions {
                            format!("vermagic flags differ: '{m}' vs '{k}'")
                        } else {
                            format!(
                                "the module has no symbol CRCs, so the whole vermagic must \
                                 match: '{m}' vs '{k}'"
                            )
                        },
                        ENOEXEC,
                    );
                }
            }
            (Some(_), None) => {}
        }
        self.problems.iter().all(|p| p.check != Check::Vermagic)
    }

    /// The taints a module that passed the header checks gets, in the loader's order.
    fn taints(&mut self, sig_reason: Option<&str>) {
        let (module, name) = (self.module, self.name.clone());
        if !module.intree {
            self.warnings
                .push(format!("{name}: loading out-of-tree module taints kernel."));
        }
        if !module.is_gpl_compatible() {
            let lic = module.license.as_deref().unwrap_or("unspecified");
            self.warnings
                .push(format!("{name}: module license '{lic}' taints kernel."));
        }
        // Printed after check_modinfo(), once per boot (pr_notice_once).
        if sig_reason.is_some() && self.secure_boot != SecureBoot::On {
            self.warnings.push(format!(
                "{name}: module verification failed: signature and/or required key \
                 missing - tainting kernel"
            ));
        }
    }

    /// Step 6, the symbols, in symbol-table order: each must be exported (GPL-only ones only to
    /// GPL-compatible modules), with the same CRC, from a namespace the module imports.
    fn symbols(&mut self) {
        let (module, target, kernel, name) =
            (self.module, self.target, self.kernel, self.name.clone());
        let has_versions = module.versions.is_some();
        let gpl_ok = module.is_gpl_compatible();
        let mut last_errno = None;
        let mut first_symbol_problem = None;
        for sym in &module.undefined {
            let found = target
                .find_export(&sym.name)
                .filter(|(e, _)| gpl_ok || !e.gpl_only);
            let Some((export, provider)) = found else {
                if sym.weak {
                    continue;
                }
                let gpl_only_hit = target.find_export(&sym.name).is_some();
                let detail = if gpl_only_hit {
                    format!(
                        "{} is exported GPL-only and the module's license is '{}'",
                        sym.name,
                        module.license.as_deref().unwrap_or("unspecified")
                    )
                } else {
                    format!(
                        "{} is exported neither by kernel {} nor by its modules",
                        sym.name,
                        kernel.release()
                    )
                };
                self.problems.push(Problem {
                    check: if gpl_only_hit {
                        Check::GplOnly
                    } else {
                        Check::Symbol
                    },
                    fatal: true,
                    kernel_messages: vec![format!(
                        "{name}: Unknown symbol {} (err {ENOENT})",
                        sym.name
                    )],
                    detail,
                });
                first_symbol_problem.get_or_insert(self.problems.len() - 1);
                last_errno = Some(ENOENT);
                continue;
            };
            let from = provider
                .map(|p| format!("module {p}"))
                .unwrap_or_else(|| format!("kernel {}", kernel.release()));
            if let Some(kcrc) = export.crc {
                match module.version_of(&sym.name) {
                    Some(mcrc) if mcrc != kcrc => {
                        self.problems.push(Problem {
                            check: Check::SymbolVersion,
                            fatal: true,
                            kernel_messages: vec![
                                format!("{name}: disagrees about version of symbol {}", sym.name),
                                format!("{name}: Unknown symbol {} (err {EINVAL})", sym.name),
                            ],
                            detail: format!(
                                "{} CRC 0x{mcrc:08x} != 0x{kcrc:08x} in {from}",
                                sym.name
                            ),
                        });
                        first_symbol_problem.get_or_insert(self.problems.len() - 1);
                        last_errno = Some(EINVAL);
                        continue;
                    }
                    Some(_) => {}
                    None if has_versions => self
                        .warnings
                        .push(format!("{name}: no symbol version for {}", sym.name)),
                    None => self.force(&sym.name),
                }
            }
            if let Some(ns) = &export.namespace {
                if !module.import_ns.iter().any(|i| i == ns) {
                    self.problems.push(Problem {
                        check: Check::Namespace,
                        fatal: true,
                        kernel_messages: vec![
                            format!(
                                "{name}: module uses symbol ({}) from namespace {ns}, but does \
                                 not import it.",
                                sym.name
                            ),
                            format!("{name}: Unknown symbol {} (err {EINVAL})", sym.name),
                        ],
                        detail: format!(
                            "{} is in namespace {ns}, which the module does not import",
                            sym.name
                        ),
                    });
                    first_symbol_problem.get_or_insert(self.problems.len() - 1);
                    last_errno = Some(EINVAL);
                }
            }
        }
        if let (Some(index), Some(errno)) = (first_symbol_problem, last_errno) {
            if self.refusal.is_none() {
                self.refusal = Some((index, errno));
            }
        }
    }

    /// Step 7, `apply_relocations()` (after the symbols resolved): the first relocation of a
    /// type the architecture's `apply_relocate_add()` does not know stops the load; 64-bit
    /// kernels apply no `SHT_REL` sections at all.
    fn relocations(&mut self) {
        if self.refusal.is_some() {
            return;
        }
        let arch = self.kernel.arch();
        let name = self.name.clone();
        let bad = self
            .module
            .relocation_types
            .iter()
            .find(|t| !t.rela || !arch.knows_rela(t.r_type));
        let Some(t) = bad else { return };
        let (message, detail) = if t.rela {
            (
                arch.unknown_rela_message(&name, t.r_type),
                format!(
                    "relocation type {} is one the {} module loader does not apply",
                    t.r_type,
                    arch.uname_m()
                ),
            )
        } else {
            (
                format!("module {name}: REL relocation unsupported"),
                "REL relocations (without addend): 64-bit kernels apply only RELA".to_string(),
            )
        };
        self.fatal(Check::Relocation, vec![message], detail, ENOEXEC);
    }

    /// `depends=` (modprobe's business, not the kernel's).
    fn depends(&mut self) {
        for dep in &self.module.depends {
            if self.target.module(dep).is_none() {
                self.problems.push(Problem {
                    check: Check::Dependency,
                    fatal: false,
                    kernel_messages: vec![],
                    detail: format!(
                        "depends on module {dep}, which the target's module set does not contain"
                    ),
                });
            }
        }
    }

    /// The outcome: the signature comes first when enforced. A module for another
    /// architecture is refused for that reason first, whatever else the loader would say:
    /// no signature or rebuild against this kernel's ABI makes it load. Its kernel log line
    /// and errno stay the kernel's (under Secure Boot an unsigned one is rejected by the
    /// signature check, which runs before `elf_validity_check()`).
    fn verdict(self, sig_problem: Option<(usize, &'static str)>) -> Verdict {
        let problems = self.problems;
        let wrong_arch = problems.iter().position(|p| {
            p.check == Check::ElfHeader
                && p.kernel_messages
                    .first()
                    .is_some_and(|m| m.starts_with("Invalid architecture"))
        });
        if let Some(i) = wrong_arch {
            let (message, errno) = match (sig_problem, self.secure_boot) {
                (Some((s, _)), SecureBoot::On) => (first_message(&problems, s), EKEYREJECTED),
                _ => (first_message(&problems, i), ENOEXEC),
            };
            let outcome = Outcome::Refused {
                message,
                reason: problems[i].detail.clone(),
                errno,
                insmod_error: insmod_error(errno).into(),
            };
            return Verdict::finish(
                self.name,
                self.module,
                self.kernel,
                self.secure_boot,
                outcome,
                problems,
                self.warnings,
            );
        }
        let outcome = match (sig_problem, self.secure_boot, self.refusal) {
            (Some((i, reason)), SecureBoot::On, _) => Outcome::Refused {
                message: first_message(&problems, i),
                reason: sig_reason_text(reason, &problems[i].detail),
                errno: EKEYREJECTED,
                insmod_error: insmod_error(EKEYREJECTED).into(),
            },
            (_, _, Some((i, errno))) => Outcome::Refused {
                message: first_message(&problems, i),
                reason: problems[i].detail.clone(),
                errno,
                insmod_error: insmod_error(errno).into(),
            },
            (Some((i, reason)), SecureBoot::Unknown, None) => Outcome::LoadsOnlyWithoutSecureBoot {
                message: first_message(&problems, i),
                reason: sig_reason_text(reason, &problems[i].detail),
            },
            _ => Outcome::Loads,
        };
        Verdict::finish(
            self.name,
            self.module,
            self.kernel,
            self.secure_boot,
            outcome,
            problems,
            self.warnings,
        )
    }
}

impl Verdict {
    /// The verdict with its summary.
    fn finish(
        name: String,
        module: &Module,
        kernel: &Kernel,
        secure_boot: SecureBoot,
        outcome: Outcome,
        problems: Vec<Problem>,
        warnings: Vec<String>,
    ) -> Verdict {
        let mut verdict = Verdict {
            module: name,
            built_for: module.built_for().map(str::to_string),
            kernel_release: kernel.release().to_string(),
            kernel_arch: kernel.arch().uname_m().to_string(),
            secure_boot,
            outcome,
            problems,
            warnings,
            summary: String::new(),
        };
        verdict.summary = summarize(&verdict);
        verdict
    }
}

/// "unsigned module" needs no further detail; "module with unavailable key" names the signer.
fn sig_reason_text(reason: &str, detail: &str) -> String {
    if reason == "unsigned module" {
        detail.to_string()
    } else {
        format!("{reason}: {detail}")
    }
}

fn first_message(problems: &[Problem], index: usize) -> String {
    problems
        .get(index)
        .and_then(|p| p.kernel_messages.first().cloned())
        .unwrap_or_default()
}

/// `same_magic()`: with CRCs on both sides the release part (up to the first space) is
/// skipped and only the flag tail compared; otherwise the whole string.
pub fn same_magic(module_magic: &str, kernel_magic: &str, has_crcs: bool) -> bool {
    if has_crcs {
        let tail = |s: &str| s.find(' ').map(|i| s[i..].to_string()).unwrap_or_default();
        tail(module_magic) == tail(kernel_magic)
    } else {
        module_magic == kernel_magic
    }
}

/// "Use a build for el9_2" — the distribution tag of a release, or the release itself.
fn build_hint(release: &str) -> String {
    release
        .split('.')
        .find(|part| {
            part.strip_prefix("el")
                .is_some_and(|r| r.chars().next().is_some_and(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .unwrap_or_else(|| release.to_string())
}

fn summarize(v: &Verdict) -> String {
    let file = if v.module == "(unnamed module)" {
        "the module".to_string()
    } else {
        format!("{}.ko", v.module)
    };
    let built = v
        .built_for
        .as_deref()
        .map(|b| format!("{file} was built for {b}; "))
        .unwrap_or_else(|| format!("{file}: "));
    let boots = format!("this ISO boots {}", v.kernel_release);
    let hint = build_hint(&v.kernel_release);
    match &v.outcome {
        Outcome::Loads => {
            let taint = if v.warnings.is_empty() {
                String::new()
            } else {
                format!(" (with warnings: {})", v.warnings.join("; "))
            };
            format!("{built}{boots}: the kernel would load it{taint}.")
        }
        Outcome::LoadsOnlyWithoutSecureBoot { message, reason } => format!(
            "{built}{boots}: loads only with Secure Boot off — {reason}; under Secure Boot the \
             kernel would refuse it ({message}). Disable Secure Boot for the install or enrol \
             the signing key in MOK/db (and pass the certificate with --trust-key)."
        ),
        Outcome::Refused {
            reason,
            insmod_error,
            ..
        } => {
            let first = v
                .problems
                .iter()
                .find(|p| p.check == Check::ElfHeader && p.fatal)
                .or_else(|| v.problems.iter().find(|p| p.fatal))
                .map(|p| p.check);
            let missing: Vec<&str> = v
                .problems
                .iter()
                .filter(|p| p.check == Check::Dependency)
                .filter_map(|p| p.detail.strip_prefix("depends on module "))
                .filter_map(|d| d.split(',').next())
                .collect();
            let reason = if first == Some(Check::Symbol) && !missing.is_empty() {
                format!("{reason} (missing dependencies: {})", missing.join(", "))
            } else {
                reason.clone()
            };
            let advice = match first {
                Some(Check::Signature) => " Disable Secure Boot for the install, or enrol its \
                                           signing key in MOK/db (and pass the certificate \
                                           with --trust-key)."
                    .to_string(),
                Some(Check::SignatureMismatch) => " Use the module exactly as its vendor \
                                                   signed it (or sign it again)."
                    .to_string(),
                Some(Check::Symbol) | Some(Check::Dependency) => {
                    " Add the modules it depends on, or use a build for this kernel.".to_string()
                }
                Some(Check::Namespace) => {
                    " The module must be rebuilt with the MODULE_IMPORT_NS() it needs.".to_string()
                }
                Some(Check::GplOnly) => {
                    " Only a GPL-compatible module may use GPL-only exports.".to_string()
                }
                Some(Check::ElfHeader) | Some(Check::ModuleStruct) => {
                    format!(" Use a kernel module built for {}.", v.kernel_arch)
                }
                _ => format!(" Use a build for {hint}."),
            };
            format!(
                "{built}{boots}: {reason} — the kernel would refuse it ({insmod_error}).{advice}"
            )
        }
    }
}

impl Report for Verdict {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.summary)?;
        for p in &self.problems {
            let tag = if p.fatal { "refused" } else { "note" };
            writeln!(out, "  {tag}: {}", p.detail)?;
            for m in &p.kernel_messages {
                writeln!(out, "    kernel: {m}")?;
            }
        }
        for w in &self.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        Ok(())
    }
}

/// Names of the modules whose `alias=` entries match PCI device `vendor:device`
/// (what `check --pci 1000:0072` asks). An alias such as
/// `pci:v00001000d00000072sv*sd*bc*sc*i*` is glob-matched (fnmatch: `*`, `?`, `[...]`)
/// against the device's `pci:v0000VVVVd0000DDDD` part. Aliases that restrict the subsystem
/// or class (e.g. ahci's `pci:v00008086d*sv*sd*bc01sc06i*`) are not counted, nor those whose
/// vendor and device are both `*`: neither is decided by vendor:device alone.
pub fn modules_for_pci(vendor: u16, device: u16, modules: &[Module]) -> Vec<String> {
    let concrete = format!("pci:v0000{vendor:04X}d0000{device:04X}");
    let mut names: Vec<String> = modules
        .iter()
        .filter(|m| {
            m.aliases.iter().any(|alias| {
                let Some(rest) = alias.strip_prefix("pci:v") else {
                    return false;
                };
                // Vendor/device part of the pattern: up to "sv" (or the end). The rest
                // (subsystem, class) must be all wildcards: modpost writes such an alias as
                // exactly "sv*sd*bc*sc*i*".
                let (head, tail) = match rest.find("sv") {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, ""),
                };
                if !(tail.is_empty() || tail == "sv*sd*bc*sc*i*") {
                    return false;
                }
                // A real vendor/device pattern is short; longer ones are not PCI aliases.
                // (The matcher is O(pattern × text) whatever the pattern, see alias.rs.)
                if head.len() > 40 {
                    return false;
                }
                let pattern = format!("pci:v{head}");
                let wildcard_only = head.trim_matches(|c| c == '*' || c == 'd').is_empty();
                !wildcard_only && fnmatch(pattern.as_bytes(), concrete.as_bytes())
            })
        })
        .map(|m| m.display_name().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The alias glob matcher (kept here for existing callers; see [`super::alias`]).
pub use super::alias::fnmatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_rules() {
        let a = "5.14.0-570.12.1.el9_6.x86_64 SMP preempt mod_unload modversions ";
        let b = "5.14.0-284.11.1.el9_2.x86_64 SMP preempt mod_unload modversions ";
        assert!(same_magic(a, b, true));
        assert!(!same_magic(a, b, false));
        assert!(!same_magic(a, "5.14.0 SMP mod_unload ", true));
    }

    #[test]
    fn globbing() {
        assert!(fnmatch(
            b"pci:v00001000d00000072",
            b"pci:v00001000d00000072"
        ));
        assert!(fnmatch(b"pci:v00001000d*", b"pci:v00001000d00000072"));
        assert!(fnmatch(
            b"pci:v00001000d0000007[0-4]",
            b"pci:v00001000d00000072"
        ));
        assert!(!fnmatch(
            b"pci:v00001000d0000007[!2]",
            b"pci:v00001000d00000072"
        ));
        assert!(!fnmatch(
            b"pci:v00001000d00000073",
            b"pci:v00001000d00000072"
        ));
        assert!(fnmatch(b"a?c", b"abc"));
    }

    #[test]
    fn hint() {
        assert_eq!(build_hint("5.14.0-284.11.1.el9_2.x86_64"), "el9_2");
        assert_eq!(build_hint("6.1.0-50-amd64"), "6.1.0-50-amd64");
    }
}

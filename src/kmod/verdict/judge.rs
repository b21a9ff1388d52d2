//! The loader's checks, one method per step of `load_module()` in the kernel's order (the
//! order and its sources are in the module header of [`super`]).

use super::{
    insmod_error, Check, Outcome, Problem, SecureBoot, Target, Verdict, EINVAL, EKEYREJECTED,
    ENOENT, ENOEXEC,
};
use crate::kmod::kernel::{Kernel, THIS_MODULE_SIZE_MESSAGE};
use crate::kmod::module::Module;
use crate::kmod::signature::SignatureCheck;

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
}

//! `isolinux.cfg` (syslinux) parsing: line based, keywords case-insensitive, any
//! indentation. An entry runs from `label` to the next `label`, `menu begin` or `menu end`.
//! `text help` … `endtext` blocks are skipped (free text).

use super::cmdline::{Arg, CmdLine};
use super::{classify, BootEntry, ParsedConfig, ParsedEntry};

/// Entry under construction.
struct Building {
    label: String,
    title: Option<String>,
    submenu: Option<String>,
    kernel: Option<String>,
    linux_kernel: bool,
    local: bool,
    menu_default: bool,
    cmdlines: Vec<CmdLine>,
    line: usize,
}

impl Building {
    fn finish(self, default_label: Option<&str>) -> ParsedEntry {
        let args: Vec<String> = self
            .cmdlines
            .iter()
            .flat_map(|c| c.args.iter().map(|a| a.value.clone()))
            .collect();
        let kernel_for_kind = if self.linux_kernel {
            self.kernel.as_deref()
        } else {
            None
        };
        let kind = classify(kernel_for_kind, &args, self.local);
        let kind = match (kind, self.kernel.as_deref()) {
            // `kernel memtest` (a COMBOOT-style image without .c32) still counts.
            (super::EntryKind::Other, Some(k)) if k.to_ascii_lowercase().contains("memtest") => {
                super::EntryKind::Memtest
            }
            (k, _) => k,
        };
        let title = self
            .title
            .map(|t| t.replace('^', ""))
            .unwrap_or_else(|| self.label.clone());
        let is_default =
            self.menu_default || default_label.is_some_and(|d| d.eq_ignore_ascii_case(&self.label));
        ParsedEntry {
            entry: BootEntry {
                title,
                label: Some(self.label),
                submenu: self.submenu,
                kind,
                kernel: self.kernel,
                args,
                is_default,
                line: self.line,
            },
            cmdlines: self.cmdlines,
        }
    }
}

/// Split `s` (starting at byte `base` of the file) into the first word and the offset of
/// the text after it and its following blanks.
fn first_word(s: &str) -> (&str, usize) {
    let trimmed = s.trim_start_matches([' ', '\t']);
    let lead = s.len() - trimmed.len();
    let end = trimmed.find([' ', '\t']).unwrap_or(trimmed.len());
    let word = trimmed.get(..end).unwrap_or("");
    let after = trimmed.get(end..).unwrap_or("");
    let rest_lead = after.len() - after.trim_start_matches([' ', '\t']).len();
    (word, lead + end + rest_lead)
}

/// Tokenise an `append` argument string that starts at byte `base` of the file: blanks
/// separate, the kernel's double quotes group.
pub(crate) fn tokenize_args(s: &str, base: usize, line: usize) -> CmdLine {
    let mut args = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while matches!(bytes.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let mut in_quote = false;
        while let Some(&b) = bytes.get(i) {
            if b == b'"' {
                in_quote = !in_quote;
            } else if !in_quote && (b == b' ' || b == b'\t') {
                break;
            }
            i += 1;
        }
        let raw = s.get(start..i).unwrap_or("");
        args.push(Arg {
            start: base + start,
            end: base + i,
            value: raw.replace('"', ""),
            eaten_escape: false,
        });
    }
    let insert_at = args
        .last()
        .map_or(base + s.trim_end_matches([' ', '\t']).len(), |a| a.end);
    CmdLine {
        args,
        insert_at,
        line,
    }
}

pub(crate) fn parse(text: &str) -> ParsedConfig {
    let mut cfg = ParsedConfig::default();
    let mut current: Option<Building> = None;
    let mut done: Vec<Building> = Vec::new();
    let mut submenus: Vec<String> = Vec::new();
    let mut default_label: Option<String> = None;
    let mut in_text = false;

    let mut line_start = 0usize;
    for (idx, raw_line) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let this_start = line_start;
        line_start += raw_line.len() + 1;
        let content = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let (kw, rest_off) = first_word(content);
        let rest = content.get(rest_off..).unwrap_or("");
        let kw_l = kw.to_ascii_lowercase();
        if in_text {
            if kw_l == "endtext" {
                in_text = false;
            }
            continue;
        }
        match kw_l.as_str() {
            "label" => {
                if let Some(b) = current.take() {
                    done.push(b);
                }
                current = Some(Building {
                    label: rest.trim_end().to_string(),
                    title: None,
                    submenu: submenus.last().cloned(),
                    kernel: None,
                    linux_kernel: false,
                    local: false,
                    menu_default: false,
                    cmdlines: Vec::new(),
                    line: line_no,
                });
            }
            "menu" => {
                let (sub, sub_rest_off) = first_word(rest);
                let sub_rest = rest.get(sub_rest_off..).unwrap_or("").trim_end();
                match sub.to_ascii_lowercase().as_str() {
                    "label" => {
                        if let Some(b) = current.as_mut() {
                            b.title = Some(sub_rest.to_string());
                        }
                    }
                    "default" => {
                        if let Some(b) = current.as_mut() {
                            b.menu_default = true;
                        }
                    }
                    "begin" => {
                        if let Some(b) = current.take() {
                            done.push(b);
                        }
                        submenus.push(sub_rest.replace('^', ""));
                    }
                    "end" => {
                        if let Some(b) = current.take() {
                            done.push(b);
                        }
                        submenus.pop();
                    }
                    _ => {}
                }
            }
            "text" if first_word(rest).0.eq_ignore_ascii_case("help") => {
                in_text = true;
            }
            "kernel" | "linux" => {
                if let Some(b) = current.as_mut() {
                    let path = first_word(rest).0;
                    let lower = path.to_ascii_lowercase();
                    b.kernel = Some(path.to_string());
                    // `kernel` also loads .c32/.com/.bin images; only real kernels count.
                    b.linux_kernel = kw_l == "linux"
                        || !(lower.ends_with(".c32")
                            || lower.ends_with(".com")
                            || lower.ends_with(".cbt")
                            || lower.ends_with(".bin")
                            || lower.ends_with(".0"));
                }
            }
            "com32" | "config" | "boot" | "bss" | "pxe" | "fdimage" | "comboot" => {
                if let Some(b) = current.as_mut() {
                    b.kernel = Some(first_word(rest).0.to_string());
                    b.linux_kernel = false;
                }
            }
            "localboot" => {
                if let Some(b) = current.as_mut() {
                    b.local = true;
                }
            }
            "default" if current.is_none() => {
                default_label = Some(first_word(rest).0.to_string());
            }
            "append" => {
                let base = this_start + rest_off;
                if rest.trim() == "-" {
                    cfg.warnings.push(format!(
                        "line {line_no}: `append -` (no arguments) left unchanged"
                    ));
                    continue;
                }
                // An odd number of `"`: the kernel would glue everything after the last
                // quote (and any argument appended to it) into one parameter.
                if rest.matches('"').count() % 2 == 1 && cfg.unterminated_quote.is_none() {
                    cfg.unterminated_quote = Some(line_no);
                    cfg.warnings
                        .push(format!("line {line_no}: a \" is never closed"));
                }
                let cl = tokenize_args(rest, base, line_no);
                match current.as_mut() {
                    Some(b) => b.cmdlines.push(cl),
                    None => cfg.loose_cmdlines.push(cl),
                }
            }
            _ => {}
        }
    }
    if let Some(b) = current.take() {
        done.push(b);
    }
    cfg.entries = done
        .into_iter()
        .map(|b| b.finish(default_label.as_deref()))
        .collect();
    if !cfg.loose_cmdlines.is_empty()
        && cfg
            .entries
            .iter()
            .any(|e| e.entry.kind.is_installer() && e.cmdlines.is_empty())
    {
        cfg.warnings.push(
            "a global `append` applies to entries without their own; it is not edited (only the label is renamed)"
                .to_string(),
        );
    }
    cfg
}

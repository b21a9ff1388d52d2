//! `grub.cfg` (GRUB 2 script) parsing: a small lexer for GRUB's word rules (quotes,
//! backslashes, `${var}`, comments, `;` and newlines ending commands, `{` `}` blocks) that
//! keeps every word's byte span, then a walk over `menuentry` / `submenu` blocks.
//! Unbalanced braces or quotes never fail: the rest of the file is taken as it comes.

use super::cmdline::{Arg, CmdLine};
use super::{classify, line_of, line_starts, BootEntry, LabelWord, ParsedConfig, ParsedEntry};

#[derive(Debug, Clone)]
struct Word {
    start: usize,
    end: usize,
    value: String,
    eaten_escape: bool,
}

#[derive(Debug, Clone)]
enum Tok {
    Word(Word),
    /// Newline or `;` (also `|`, `&`, `<`, `>`, which we do not interpret).
    Sep,
    LBrace(usize),
    RBrace(usize),
}

fn is_break(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | ';' | '{' | '}' | '|' | '&' | '<' | '>'
    )
}

/// Lexes `text`; `unterminated` gets the byte offset of the first quote never closed (or of
/// a backslash ending the file).
fn lex(text: &str, unterminated: &mut Option<usize>) -> Vec<Tok> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let pos = |i: usize| chars.get(i).map_or(text.len(), |&(p, _)| p);
    let mut toks = Vec::new();
    let mut i = 0usize;
    while let Some(c) = at(i) {
        match c {
            ' ' | '\t' | '\r' => i += 1,
            '\\' if at(i + 1) == Some('\n') => i += 2,
            '\n' | ';' | '|' | '&' | '<' | '>' => {
                toks.push(Tok::Sep);
                i += 1;
            }
            '{' => {
                toks.push(Tok::LBrace(pos(i)));
                i += 1;
            }
            '}' => {
                toks.push(Tok::RBrace(pos(i)));
                i += 1;
            }
            '#' => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            _ => {
                let start = i;
                let mut value = String::new();
                let mut eaten = false;
                while let Some(c) = at(i) {
                    if is_break(c) {
                        break;
                    }
                    match c {
                        '\'' => {
                            let quote = pos(i);
                            let mut closed = false;
                            i += 1;
                            while let Some(q) = at(i) {
                                i += 1;
                                if q == '\'' {
                                    closed = true;
                                    break;
                                }
                                value.push(q);
                            }
                            if !closed {
                                unterminated.get_or_insert(quote);
                            }
                        }
                        '"' => {
                            let quote = pos(i);
                            let mut closed = false;
                            i += 1;
                            while let Some(q) = at(i) {
                                i += 1;
                                match q {
                                    '"' => {
                                        closed = true;
                                        break;
                                    }
                                    '\\' => match at(i) {
                                        Some(n @ ('$' | '"' | '\\')) => {
                                            value.push(n);
                                            i += 1;
                                        }
                                        Some('\n') => i += 1,
                                        _ => value.push('\\'),
                                    },
                                    _ => value.push(q),
                                }
                            }
                            if !closed {
                                unterminated.get_or_insert(quote);
                            }
                        }
                        '\\' => {
                            let hex = |k: usize| at(k).is_some_and(|h| h.is_ascii_hexdigit());
                            match at(i + 1) {
                                Some('x') if hex(i + 2) && hex(i + 3) => {
                                    // GRUB would drop this backslash; keep the udev escape
                                    // the author meant and flag it.
                                    value.push_str("\\x");
                                    eaten = true;
                                    i += 2;
                                }
                                Some(n) => {
                                    value.push(n);
                                    i += 2;
                                }
                                None => {
                                    // A backslash at the very end escapes whatever gets
                                    // appended after it: as unsafe as an open quote.
                                    unterminated.get_or_insert(pos(i));
                                    i += 1;
                                }
                            }
                        }
                        '$' if at(i + 1) == Some('{') => {
                            while let Some(v) = at(i) {
                                value.push(v);
                                i += 1;
                                if v == '}' {
                                    break;
                                }
                            }
                        }
                        _ => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
                toks.push(Tok::Word(Word {
                    start: pos(start),
                    end: pos(i),
                    value,
                    eaten_escape: eaten,
                }));
            }
        }
    }
    toks
}

enum Block {
    Entry,
    Submenu,
    Other,
}

/// An open `{` block with what encloses it (kept per frame so lookups are O(1) even for
/// hostile nesting depths).
struct Frame {
    block: Block,
    /// Innermost enclosing menu entry (index into the entries being built).
    entry: Option<usize>,
    /// Innermost enclosing submenu title.
    submenu: Option<String>,
}

struct Building {
    title: String,
    submenu: Option<String>,
    kernel: Option<String>,
    local: bool,
    cmdlines: Vec<CmdLine>,
    line: usize,
    /// Position among the top-level menu items (or inside its submenu): "2" or "2>1".
    index_path: String,
}

const LINUX_COMMANDS: &[&str] = &["linux", "linuxefi", "linux16", "linux32", "multiboot"];

pub(crate) fn parse(text: &str) -> ParsedConfig {
    let starts = line_starts(text);
    let mut unterminated = None;
    let toks = lex(text, &mut unterminated);
    let mut p = Parser {
        starts,
        cfg: ParsedConfig::default(),
        building: Vec::new(),
        stack: Vec::new(),
        cmd: Vec::new(),
        default: None,
        counters: vec![0],
        submenu_paths: Vec::new(),
    };
    if let Some(at) = unterminated {
        let line = line_of(&p.starts, at);
        p.cfg.unterminated_quote = Some(line);
        p.cfg.warnings.push(format!(
            "line {line}: a quote is never closed; GRUB cannot parse this file"
        ));
    }
    for tok in toks {
        match tok {
            Tok::Word(w) => p.cmd.push(w),
            Tok::Sep => p.command(),
            Tok::LBrace(at) => p.open_block(at),
            Tok::RBrace(at) => p.close_block(at),
        }
    }
    p.command();
    p.finish()
}

/// The parse state: the entries being built, the open `{` blocks and the words of the
/// command being read.
struct Parser {
    starts: Vec<usize>,
    cfg: ParsedConfig,
    building: Vec<Building>,
    stack: Vec<Frame>,
    cmd: Vec<Word>,
    default: Option<String>,
    /// Menu item counters: top level, and one per open submenu.
    counters: Vec<usize>,
    submenu_paths: Vec<String>,
}

impl Parser {
    fn current_entry(&self) -> Option<usize> {
        self.stack.last().and_then(|f| f.entry)
    }

    /// One complete command: kernel lines of the entry it is in, `set default=`, `search`
    /// by label.
    fn command(&mut self) {
        let cmd = std::mem::take(&mut self.cmd);
        let Some(first) = cmd.first() else {
            return;
        };
        let name = first.value.as_str();
        if let Some(b) = self
            .current_entry()
            .and_then(|ei| self.building.get_mut(ei))
        {
            if LINUX_COMMANDS.contains(&name) {
                if let Some(kernel) = cmd.get(1) {
                    b.kernel.get_or_insert_with(|| kernel.value.clone());
                    let args: Vec<Arg> = cmd
                        .iter()
                        .skip(2)
                        .map(|w| Arg {
                            start: w.start,
                            end: w.end,
                            value: w.value.clone(),
                            eaten_escape: w.eaten_escape,
                        })
                        .collect();
                    let insert_at = args.last().map_or(kernel.end, |a| a.end);
                    b.cmdlines.push(CmdLine {
                        args,
                        insert_at,
                        line: line_of(&self.starts, first.start),
                    });
                }
            } else if name == "chainloader" || name == "exit" {
                b.local = true;
            }
        }
        match name {
            "set" => {
                if let Some(v) = cmd.get(1).and_then(|w| w.value.strip_prefix("default=")) {
                    self.default = Some(v.to_string());
                }
            }
            "search" | "search.fs_label" => self.search_label(name, &cmd),
            _ => {}
        }
    }

    /// `search -l LABEL` (or `search.fs_label LABEL`): the label word, for volume-id edits.
    fn search_label(&mut self, name: &str, cmd: &[Word]) {
        let by_label = name == "search.fs_label"
            || cmd.iter().skip(1).any(|w| {
                w.value == "-l"
                    || w.value == "--label"
                    || (w.value.starts_with('-')
                        && !w.value.starts_with("--")
                        && w.value.contains('l'))
            });
        if !by_label {
            return;
        }
        let mut skip_next = false;
        for w in cmd.iter().skip(1) {
            if skip_next {
                skip_next = false;
                continue;
            }
            if w.value == "--hint" || w.value == "-h" {
                skip_next = true;
                continue;
            }
            if w.value.starts_with('-') {
                continue;
            }
            self.cfg.label_words.push(LabelWord {
                start: w.start,
                end: w.end,
                value: w.value.clone(),
                line: line_of(&self.starts, w.start),
            });
            break;
        }
    }

    /// `{` at byte `p`: a menu entry, a submenu (numbered as GRUB numbers them), or another
    /// block inside whatever is open.
    fn open_block(&mut self, p: usize) {
        let cmd = std::mem::take(&mut self.cmd);
        let head = cmd.first().map(|w| w.value.clone()).unwrap_or_default();
        let title = cmd.get(1).map(|w| w.value.clone()).unwrap_or_default();
        let in_entry = self.current_entry().is_some();
        let parent_submenu = self.stack.last().and_then(|f| f.submenu.clone());
        let frame = match head.as_str() {
            "menuentry" | "submenu" if !in_entry => {
                let n = self.counters.last().copied().unwrap_or(0);
                if let Some(c) = self.counters.last_mut() {
                    *c += 1;
                }
                let index_path = match self.submenu_paths.last() {
                    Some(path) => format!("{path}>{n}"),
                    None => n.to_string(),
                };
                if head == "menuentry" {
                    self.building.push(Building {
                        title,
                        submenu: parent_submenu.clone(),
                        kernel: None,
                        local: false,
                        cmdlines: Vec::new(),
                        line: line_of(&self.starts, cmd.first().map_or(p, |w| w.start)),
                        index_path,
                    });
                    Frame {
                        block: Block::Entry,
                        entry: Some(self.building.len() - 1),
                        submenu: parent_submenu,
                    }
                } else {
                    self.counters.push(0);
                    self.submenu_paths.push(index_path);
                    Frame {
                        block: Block::Submenu,
                        entry: None,
                        submenu: Some(title),
                    }
                }
            }
            _ => Frame {
                block: Block::Other,
                entry: self.current_entry(),
                submenu: parent_submenu,
            },
        };
        self.stack.push(frame);
    }

    /// `}` at byte `p`: ends the command before it and the innermost block.
    fn close_block(&mut self, p: usize) {
        self.command();
        match self.stack.pop().map(|f| f.block) {
            Some(Block::Submenu) => {
                self.counters.pop();
                self.submenu_paths.pop();
            }
            Some(_) => {}
            None => self.cfg.warnings.push(format!(
                "line {}: unbalanced `}}` ignored",
                line_of(&self.starts, p)
            )),
        }
    }

    /// The entries, classified, with the default marked.
    fn finish(mut self) -> ParsedConfig {
        if !self.stack.is_empty() {
            self.cfg.warnings.push(format!(
                "{} unclosed `{{` block(s) at end of file",
                self.stack.len()
            ));
        }
        let default = self.default;
        self.cfg.entries = self
            .building
            .into_iter()
            .map(|b| {
                let args: Vec<String> = b
                    .cmdlines
                    .iter()
                    .flat_map(|c| c.args.iter().map(|a| a.value.clone()))
                    .collect();
                let kind = classify(b.kernel.as_deref(), &args, b.local);
                let is_default = default
                    .as_deref()
                    .is_some_and(|d| d == b.index_path || d == b.title);
                ParsedEntry {
                    entry: BootEntry {
                        title: b.title,
                        label: None,
                        submenu: b.submenu,
                        kind,
                        kernel: b.kernel,
                        args,
                        is_default,
                        line: b.line,
                    },
                    cmdlines: b.cmdlines,
                }
            })
            .collect();
        self.cfg
    }
}

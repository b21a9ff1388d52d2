//! The crate-level error. It stays typed inside the library: a [`Kind`] that decides the
//! exit code, the file it is about, the byte offset in that file where known, and the cause
//! (the module's own error type where there is one, e.g. [`IsoError`]). A library caller or a
//! test matches on [`Error::kind`], [`Error::path`], [`Error::offset`] and [`Error::cause`];
//! only the binary flattens an error to its one output line ([`Error::one_line`]).

use std::path::{Path, PathBuf};

use crate::iso::IsoError;

/// Exit codes (documented in README): 0 ok, 1 refused by verdict, 2 usage, 3 input error,
/// 4 output error, 70 internal error (a bug: sysexits' EX_SOFTWARE).
pub const EXIT_REFUSED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INPUT: i32 = 3;
pub const EXIT_OUTPUT: i32 = 4;
pub const EXIT_INTERNAL: i32 = 70;

/// The class of an error: what the user can do about it, and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A verdict refused the job (exit 1).
    Refused,
    /// The command line asks for something impossible or contradictory (exit 2).
    Usage,
    /// An input file is missing, unreadable or malformed (exit 3).
    Input,
    /// The output cannot be written (exit 4).
    Output,
    /// An invariant of remaster itself does not hold: a bug, to be reported (exit 70).
    Internal,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Refused => EXIT_REFUSED,
            Kind::Usage => EXIT_USAGE,
            Kind::Input => EXIT_INPUT,
            Kind::Output => EXIT_OUTPUT,
            Kind::Internal => EXIT_INTERNAL,
        }
    }
}

/// Why a file could not be used. Module errors keep their type, so a caller can match on
/// them (e.g. `Cause::Iso(IsoError::Truncated { .. })`); plain text is the fallback.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Iso(#[from] IsoError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Message(String),
    /// What was being read when `cause` happened (e.g. "reading /images").
    #[error("{what}: {cause}")]
    Context {
        what: String,
        #[source]
        cause: Box<Cause>,
    },
}

impl Cause {
    /// The byte offset in the file the cause is about, where the cause knows one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Cause::Iso(IsoError::Malformed { offset, .. }) => Some(*offset),
            Cause::Iso(IsoError::Truncated { end, .. }) => Some(*end),
            Cause::Context { cause, .. } => cause.offset(),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file could not be read or is malformed. `path` is empty while the file is
    /// not known yet (a parser of a reader); [`Error::in_file`] fills it in.
    #[error("{}{cause}", path_prefix(path))]
    Input {
        path: PathBuf,
        offset: Option<u64>,
        #[source]
        cause: Cause,
    },
    /// The output could not be written.
    #[error("{}{cause}", path_prefix(path))]
    Output {
        path: PathBuf,
        #[source]
        cause: Cause,
    },
    /// A verdict refused the job (the module would not load, the DUD would be ignored...).
    #[error("{0}")]
    Refused(String),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// An invariant of remaster does not hold: a bug, not something the user did.
    #[error(
        "internal error, please report it (with the command line) to the remaster developers: {0}"
    )]
    Internal(String),
}

fn path_prefix(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        String::new()
    } else {
        format!("{}: ", path.display())
    }
}

impl Error {
    /// An input error with a plain-text cause.
    pub fn input(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Self::input_cause(path, Cause::Message(message.to_string()))
    }
    /// An input error with a typed cause (its offset, if it has one, is kept).
    pub fn input_cause(path: impl Into<PathBuf>, cause: impl Into<Cause>) -> Self {
        let cause = cause.into();
        Error::Input {
            path: path.into(),
            offset: cause.offset(),
            cause,
        }
    }
    /// A read error of an input a parser reads without knowing the file's name:
    /// [`Error::in_file`] names it later. `what` says what was being read.
    pub fn reading(what: impl std::fmt::Display, cause: impl Into<Cause>) -> Self {
        Self::input_cause(
            PathBuf::new(),
            Cause::Context {
                what: what.to_string(),
                cause: Box::new(cause.into()),
            },
        )
    }
    /// An output error with a plain-text cause.
    pub fn output(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Self::output_cause(path, Cause::Message(message.to_string()))
    }
    /// An output error with a typed cause.
    pub fn output_cause(path: impl Into<PathBuf>, cause: impl Into<Cause>) -> Self {
        Error::Output {
            path: path.into(),
            cause: cause.into(),
        }
    }
    /// An internal error (a broken invariant of remaster itself).
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Error::Internal(message.to_string())
    }
    /// A problem of the input file a parser read without knowing its name: filled in with
    /// `path`. Errors that already name a file, and other kinds, are returned unchanged.
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            Error::Input {
                path: p,
                offset,
                cause,
            } if p.as_os_str().is_empty() => Error::Input {
                path: path.to_path_buf(),
                offset,
                cause,
            },
            other => other,
        }
    }
    pub fn kind(&self) -> Kind {
        match self {
            Error::Input { .. } => Kind::Input,
            Error::Output { .. } => Kind::Output,
            Error::Refused(_) => Kind::Refused,
            Error::Usage(_) => Kind::Usage,
            Error::Internal(_) => Kind::Internal,
        }
    }
    /// The file the error is about (input or output), if it names one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Input { path, .. } | Error::Output { path, .. }
                if !path.as_os_str().is_empty() =>
            {
                Some(path)
            }
            _ => None,
        }
    }
    /// The byte offset in the input file, where known.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Input { offset, .. } => *offset,
            _ => None,
        }
    }
    /// The typed cause of a file error.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Error::Input { cause, .. } | Error::Output { cause, .. } => Some(cause),
            _ => None,
        }
    }
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }
    /// The error as the binary prints it: one line (nested causes' line breaks become
    /// spaces).
    pub fn one_line(&self) -> String {
        self.to_string()
            .split(['\n', '\r'])
            .filter(|l| !l.trim().is_empty())
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_documented_exit_codes() {
        assert_eq!(Error::Refused("x".into()).exit_code(), 1);
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::input("a", "x").exit_code(), 3);
        assert_eq!(Error::output("a", "x").exit_code(), 4);
        let internal = Error::internal("bad node");
        assert_eq!(internal.exit_code(), EXIT_INTERNAL);
        assert!(internal.to_string().contains("please report"));
    }

    #[test]
    fn a_typed_cause_keeps_its_offset_and_a_pathless_one_gets_the_file() {
        let e = Error::input_cause("", IsoError::malformed("directory record", 4096, "loop"));
        assert_eq!(e.path(), None);
        let e = e.in_file(Path::new("/x.iso"));
        assert_eq!(e.kind(), Kind::Input);
        assert_eq!(e.path(), Some(Path::new("/x.iso")));
        assert_eq!(e.offset(), Some(4096));
        assert!(matches!(
            e.cause(),
            Some(Cause::Iso(IsoError::Malformed { .. }))
        ));
        assert!(e
            .to_string()
            .starts_with("/x.iso: malformed directory record"));
    }

    #[test]
    fn one_line_joins_lines() {
        let e = Error::input("f", "first\nsecond\n");
        assert_eq!(e.one_line(), "f: first second");
    }
}

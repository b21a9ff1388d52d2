//! The crate-level error: every failure becomes one line that names the file and the
//! cause, and maps to a documented exit code.

use std::path::PathBuf;

/// Exit codes (documented in README): 0 ok, 1 refused by verdict, 2 usage, 3 input error,
/// 4 output error.
pub const EXIT_REFUSED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INPUT: i32 = 3;
pub const EXIT_OUTPUT: i32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file could not be read or is malformed.
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    /// The output could not be written.
    #[error("{}: {message}", path.display())]
    Output { path: PathBuf, message: String },
    /// A verdict refused the job (the module would not load, the DUD would be ignored...).
    #[error("{0}")]
    Refused(String),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn input(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Input {
            path: path.into(),
            message: one_line(message),
        }
    }
    pub fn output(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Output {
            path: path.into(),
            message: one_line(message),
        }
    }
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } => EXIT_INPUT,
            Error::Output { .. } => EXIT_OUTPUT,
            Error::Refused(_) => EXIT_REFUSED,
            Error::Usage(_) => EXIT_USAGE,
        }
    }
}

/// Errors are printed on one line; nested causes are joined with ": ".
fn one_line(message: impl std::fmt::Display) -> String {
    message.to_string().replace('\n', " ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

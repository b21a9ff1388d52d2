//! The `remaster` command line: parses arguments, calls the library, prints one line per
//! error and exits with the documented code.

use std::io::Write;

use clap::Parser;
use remaster::commands::{self, Cli};

fn main() {
    // A stderr that cannot be written (a full disk behind a redirect) must not turn a
    // clean refusal into a panic: write and ignore the failure.
    remaster::report::set_notice_hook(|message| {
        let _ = writeln!(std::io::stderr(), "remaster: {message}");
    });
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "remaster: {}", err.one_line());
            std::process::exit(err.exit_code());
        }
    }
}

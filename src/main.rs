//! The `remaster` command line: parses arguments, calls the library, prints one line per
//! error and exits with the documented code.

use clap::Parser;
use remaster::commands::{self, Cli};

fn main() {
    remaster::report::set_notice_hook(|message| eprintln!("remaster: {message}"));
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("remaster: {}", err.one_line());
            std::process::exit(err.exit_code());
        }
    }
}

//! One function per CLI subcommand; `main.rs` only parses arguments and prints.

//! Shared test support: the cached Rocky-9.2-like fixture ISO (`fixtures`) and the six-mode
//! QEMU boot matrix that reads the fixture init's report (`boot`). Independent of `src/`.
//!
//! Use from an integration test with `mod common;` then `use common::{boot::*, fixtures::*};`.
//! Layout and report format: docs/fixtures.md.
#![allow(dead_code)] // every test binary uses a different subset

pub mod aarch64;
pub mod boot;
pub mod cli;
pub mod direct_boot;
pub mod el10;
pub mod el8;
pub mod fixtures;

//! (filled in by the iso work)
pub mod md5;

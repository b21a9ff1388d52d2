//! The main pipeline: plan, check, then write (issue 6).

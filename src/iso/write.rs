//! Graft writer (in progress).

//! (filled in by the kmod work)

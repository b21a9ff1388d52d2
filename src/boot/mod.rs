//! (filled in by the boot work)

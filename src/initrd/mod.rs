//! (filled in by the initrd work)

//! Initramfs walker (kernel-exact segments, xz/zstd/gzip/lzma/bzip2, newc): listing, symlink
//! resolution, module trees and requested file contents.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    if let Ok(listing) = remaster::initrd::list(Cursor::new(data)) {
        for (_kver, tree) in listing.module_trees() {
            let _ = listing.modules_in(&tree);
        }
        for path in listing.entries.keys().take(32) {
            let _ = listing.resolve(path, true);
            let _ = listing.is_symlink(path);
        }
    }
    let _ = remaster::initrd::read_files(
        Cursor::new(data),
        |p| p.ends_with(".ko") || p.ends_with("os-release") || p.starts_with("usr/lib/modules"),
        16 << 20,
    );
    let _ = remaster::initrd::inspect(Cursor::new(data));
});

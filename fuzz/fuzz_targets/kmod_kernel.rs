//! bzImage reader: setup header, payload bounds, payload decompression and the vmlinux ELF
//! (exports, CRCs, vermagic, trusted keys).
#![no_main]
use libfuzzer_sys::fuzz_target;
use remaster::kmod::kernel::{read_header, Kernel};

fuzz_target!(|data: &[u8]| {
    let _ = read_header(data);
    if let Ok(k) = Kernel::parse(data) {
        let _ = k.release();
        let _ = k.exports().count();
    }
});

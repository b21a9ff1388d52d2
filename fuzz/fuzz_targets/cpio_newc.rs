//! The walker's newc (cpio) parser on its own: every input is made to start with the newc
//! magic so the fuzzer spends its time in headers, names, sizes, links and padding rather
//! than in compressor detection.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let mut input = b"070701".to_vec();
    input.extend_from_slice(data);
    let _ = remaster::initrd::list(Cursor::new(&input));
    let _ = remaster::initrd::read_files(Cursor::new(&input), |_| true, 1 << 20);
});

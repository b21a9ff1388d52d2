//! The module-alias glob matcher (`kmod::alias::fnmatch`, reached by `check --pci` through
//! every initrd module's alias). Input: pattern, a NUL, text. Besides no panic and no hang
//! (libFuzzer's -timeout), two properties: every text matches itself with each byte
//! escaped, and `*` + pattern matches whatever pattern matches after any prefix.
#![no_main]
use libfuzzer_sys::fuzz_target;
use remaster::kmod::alias::fnmatch;

fuzz_target!(|data: &[u8]| {
    let (pattern, text) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"pci:v00001000d00000072"[..]),
    };
    let matched = fnmatch(pattern, text);
    let escaped: Vec<u8> = text.iter().flat_map(|&b| [b'\\', b]).collect();
    assert!(fnmatch(&escaped, text), "escaped text must match itself");
    if matched {
        let mut star = b"*".to_vec();
        star.extend_from_slice(pattern);
        let mut longer = b"prefix".to_vec();
        longer.extend_from_slice(text);
        assert!(fnmatch(&star, &longer), "'*' + pattern must match any prefix + text");
    }
});

//! depmod's index generation (`initrd::depmod::generate_indexes`): module parsing, the
//! dependency sort, the alias normalisation and the radix-trie writer. The input is split at
//! the first two `\n---\n` markers into `modules.builtin.modinfo` (NUL-separated
//! `module.key=value`, which feeds aliases straight into the trie), `modules.builtin`, and
//! one module file (`kernel/fuzz.ko`; seeds hold a real module).
#![no_main]
use libfuzzer_sys::fuzz_target;
use remaster::initrd::DepmodInput;

fn split<'a>(data: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (&data[..i], &data[i + sep.len()..]),
        None => (data, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (modinfo, rest) = split(data, b"\n---\n");
    let (builtin, module) = split(rest, b"\n---\n");
    let mut modules = Vec::new();
    if !module.is_empty() {
        modules.push(("kernel/fuzz.ko", module));
    }
    let input = DepmodInput {
        modules,
        modules_order: None,
        modules_builtin: Some(builtin),
        modules_builtin_modinfo: Some(modinfo),
        search: Vec::new(),
    };
    let _ = remaster::initrd::generate_indexes(&input);
});

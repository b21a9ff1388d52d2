//! ELF kernel module reader (.modinfo, __versions, symbols, exports, signature, compressed
//! .ko.xz/.zst/.gz), plus the report built from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use remaster::kmod::module::Module;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Module::parse(data) {
        let _ = m.display_name();
        let _ = m.built_for();
        let _ = m.is_gpl_compatible();
        let _ = m.version_of("module_layout");
        let _ = remaster::kmod::inspect::ModuleReport::new("fuzz.ko", m);
    }
});

//! kmod RPM reader: lead, signature and main headers (checked before the rpm crate sees
//! them), Provides/Requires, file list and the module files in the payload.
#![no_main]
use libfuzzer_sys::fuzz_target;
use remaster::dud::{read_kmod_rpm, RpmLimits};
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let limits = RpmLimits {
        max_module_bytes: 8 << 20,
        ..RpmLimits::default()
    };
    if let Ok(rpm) = read_kmod_rpm(Cursor::new(data.to_vec()), &limits) {
        let _ = rpm.nvra();
        let _ = rpm.kabi_requires().count();
        let _ = remaster::dud::ddv3::dd_list_verdict(&rpm, "5.14.0-284.11.1.el9_2.x86_64");
    }
});

//! Driver update disk reader: the image is written to a temporary file (the DUD API takes a
//! path, as the CLI does) and scanned: the crate's own ISO reader, layout, RPMs inside.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::Builder::new().suffix(".iso").tempfile() else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    if let Ok(dud) = remaster::dud::scan_dud(file.path()) {
        let ctx = remaster::dud::ddv3::InstallerContext {
            kernel_release: "5.14.0-284.11.1.el9_2.x86_64".into(),
            os_release: Some("9.2".into()),
            arch: "x86_64".into(),
        };
        let _ = remaster::dud::installer_findings(&dud, &ctx);
        let _ = remaster::dud::ddv3::installer_loaded_modules(&dud, &ctx);
    }
});

//! ISO 9660 reader: descriptors, both directory trees, El Torito, MBR/GPT, then every file's
//! data through the extent reader (capped).
#![no_main]
use libfuzzer_sys::fuzz_target;
use remaster::iso::Image;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    let Ok(image) = Image::open(&mut cursor) else {
        return;
    };
    let _ = image.hardlink_groups();
    let _ = image.volume_bytes();
    let paths: Vec<String> = image
        .primary
        .files()
        .map(|n| n.path.clone())
        .take(64)
        .collect();
    for p in &paths {
        let _ = image.hardlinks_of(p);
        let _ = image.read_file(&mut cursor, p, 1 << 20);
    }
    let _ = remaster::iso::inspect::IsoReport::from_image(&image);
});

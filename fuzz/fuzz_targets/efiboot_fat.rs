//! efiboot.img FAT editing: read grub.cfg, replace it in place (same image size).
#![no_main]
use libfuzzer_sys::fuzz_target;
use remaster::boot::efiboot;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let _ = efiboot::space(Cursor::new(data));
    let _ = efiboot::read_file(Cursor::new(data), "EFI/BOOT/grub.cfg", 1 << 20);
    let mut image = data.to_vec();
    let _ = efiboot::replace_file(
        Cursor::new(&mut image),
        "EFI/BOOT/grub.cfg",
        b"set timeout=5\nmenuentry 'x' {\n linux /v inst.dd=/dd.iso\n}\n",
    );
});

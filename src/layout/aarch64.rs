//! aarch64 (EL8–10): UEFI only. One El Torito EFI entry (`images/efiboot.img`, a file of
//! the tree), no BIOS loader, no MBR or GPT; `linux`/`initrd` lines. Firmware reads the ISO
//! 9660 `EFI/BOOT/grub.cfg` from a CD and from a dd'd stick alike; the copy inside
//! efiboot.img is for firmware that boots the FAT image alone; both are edited (the FAT copy
//! in place inside efiboot.img, as on EL9). Every edit is supported: the image has no MBR or
//! GPT, so a grown image keeps its empty system area and its single El Torito EFI entry (the
//! writer only moves partitions and GPTs that exist). The kernel is an arm64 Image, read by
//! src/kmod/arm64.rs. Reference: docs/layouts.md.

use super::{BootLayout, ConfigSite, EfiImage, Family, Firmware, Found, Support};
use crate::boot::ConfigKind;

pub(super) const NAME: &str = "aarch64 (UEFI only, in-tree efiboot.img)";

pub(super) fn detect(f: &Found) -> Option<BootLayout> {
    if f.bios_entry || !f.has("EFI/BOOT/BOOTAA64.EFI") {
        return None;
    }
    let Some((Some(efi), _)) = f.efi_entry else {
        return None;
    };
    let candidates = [
        (
            ConfigSite::Tree("EFI/BOOT/grub.cfg".into()),
            ConfigKind::Grub,
            &[Firmware::UefiCd, Firmware::UefiUsb][..],
        ),
        (
            ConfigSite::EfiImage("EFI/BOOT/grub.cfg".into()),
            ConfigKind::Grub,
            &[][..],
        ),
    ];
    Some(BootLayout {
        family: Family::Aarch64Uefi,
        name: NAME,
        arch: "aarch64",
        bios: None,
        efi: Some(EfiImage::File {
            path: efi.to_string(),
        }),
        configs: f.roles(&candidates),
        partition_tree: false,
        support: Support::Full,
    })
}

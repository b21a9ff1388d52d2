//! EL8 (RHEL / Rocky / Alma 8 x86_64; lorax rhel8-branch): mkisofs (TRANS.TBL, 8.3 names),
//! then `isohybrid --uefi`: isolinux for BIOS, `images/efiboot.img` in the tree as El
//! Torito EFI image and MBR partition 2, the file padded to 1 MiB with the backup GPT in the
//! padding, after the volume. `EFI/BOOT/BOOT.conf` (a copy of grub.cfg for the IA32 loader)
//! is kept in step; `isolinux/grub.conf` is not a config (nothing reads it). Every edit is
//! supported: a grown image is re-laid as isohybrid lays it (src/iso/write/isohybrid.rs).
//! Reference: docs/layouts.md.

use super::{BiosChain, BootLayout, ConfigSite, EfiImage, Family, Firmware, Found, Support};
use crate::boot::ConfigKind;

pub(super) const NAME: &str = "EL8 (isolinux BIOS, isohybrid --uefi)";

pub(super) fn detect(f: &Found) -> Option<BootLayout> {
    let bios = f.bios_image.filter(|p| p.ends_with("isolinux.bin"))?;
    if f.after_volume == 0 {
        return None;
    }
    let Some((Some(efi), _)) = f.efi_entry else {
        return None;
    };
    let candidates = [
        (
            ConfigSite::Tree("isolinux/isolinux.cfg".into()),
            ConfigKind::Isolinux,
            &[Firmware::BiosCd, Firmware::BiosUsb][..],
        ),
        (
            ConfigSite::Tree("EFI/BOOT/grub.cfg".into()),
            ConfigKind::Grub,
            &[Firmware::UefiCd, Firmware::UefiUsb][..],
        ),
        (
            ConfigSite::Tree("EFI/BOOT/BOOT.conf".into()),
            ConfigKind::Grub,
            &[][..],
        ),
        (
            ConfigSite::EfiImage("EFI/BOOT/grub.cfg".into()),
            ConfigKind::Grub,
            &[Firmware::UefiUsbEsp][..],
        ),
        (
            ConfigSite::EfiImage("EFI/BOOT/BOOT.conf".into()),
            ConfigKind::Grub,
            &[][..],
        ),
    ];
    Some(BootLayout {
        family: Family::El8Isohybrid,
        name: NAME,
        arch: "x86_64",
        bios: Some(BiosChain::Isolinux {
            image: bios.to_string(),
        }),
        efi: Some(EfiImage::File {
            path: efi.to_string(),
        }),
        configs: f.roles(&candidates),
        partition_tree: false,
        support: Support::Full,
    })
}

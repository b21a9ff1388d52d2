//! EL9 (RHEL / Rocky / Alma 9 x86_64; lorax rhel9-branch): xorriso with isolinux for BIOS,
//! `images/efiboot.img` in the tree as the El Torito EFI image and as MBR/GPT partition,
//! the backup GPT inside the volume. Reference: docs/layouts.md.

use super::{BiosChain, BootLayout, ConfigSite, EfiImage, Family, Firmware, Found, Support};
use crate::boot::ConfigKind;

pub(super) const NAME: &str = "EL9 (isolinux BIOS, in-tree efiboot.img)";

pub(super) fn detect(f: &Found) -> Option<BootLayout> {
    let bios = f.bios_image.filter(|p| p.ends_with("isolinux.bin"))?;
    if f.after_volume > 0 {
        return None; // isohybrid's padding: EL8
    }
    let efi = match f.efi_entry {
        None => None,
        Some((Some(path), _)) => Some(path),
        Some((None, _)) => return None,
    };
    let mut candidates = vec![(
        ConfigSite::Tree("isolinux/isolinux.cfg".into()),
        ConfigKind::Isolinux,
        &[Firmware::BiosCd, Firmware::BiosUsb][..],
    )];
    if efi.is_some() {
        candidates.push((
            ConfigSite::Tree("EFI/BOOT/grub.cfg".into()),
            ConfigKind::Grub,
            &[Firmware::UefiCd, Firmware::UefiUsb][..],
        ));
        candidates.push((
            ConfigSite::EfiImage("EFI/BOOT/grub.cfg".into()),
            ConfigKind::Grub,
            &[Firmware::UefiUsbEsp][..],
        ));
    }
    Some(BootLayout {
        family: Family::El9Isolinux,
        name: NAME,
        arch: "x86_64",
        bios: Some(BiosChain::Isolinux {
            image: bios.to_string(),
        }),
        efi: efi.map(|path| EfiImage::File {
            path: path.to_string(),
        }),
        configs: f.roles(&candidates),
        partition_tree: false,
        support: Support::Full,
    })
}

//! EL10 (RHEL / Rocky / Alma / CentOS Stream 10, Fedora 37+; lorax rhel10-branch): GRUB2
//! for BIOS (`images/eltorito.img`, `boot_hybrid.img` MBR code), the EFI system partition
//! appended as GPT partition 2 (no file of the tree), and a second ISO 9660 tree for
//! partition 1 (`-partition_offset 16`). Reference: docs/layouts.md.

use super::{BiosChain, BootLayout, ConfigSite, EfiImage, Family, Firmware, Found, Support};
use crate::boot::ConfigKind;

pub(super) const NAME: &str = "EL10 (GRUB2 BIOS, appended ESP)";

pub(super) fn detect(f: &Found) -> Option<BootLayout> {
    let bios = f.bios_image.filter(|p| p.ends_with("eltorito.img"))?;
    let Some((None, lba)) = f.efi_entry else {
        return None;
    };
    let start512 = u64::from(lba) * 4;
    let sa = &f.image.system_area;
    let esp = sa
        .gpt
        .iter()
        .flat_map(|g| g.partitions.iter())
        .find(|p| p.first_lba == start512 && p.path.is_none())
        .map(|p| EfiImage::Partition {
            number: p.number,
            offset: p.first_lba * 512,
            len: (p.last_lba + 1).saturating_sub(p.first_lba) * 512,
        })
        .or_else(|| {
            sa.mbr
                .iter()
                .find(|p| u64::from(p.start) == start512 && p.path.is_none())
                .map(|p| EfiImage::Partition {
                    number: u32::from(p.number),
                    offset: u64::from(p.start) * 512,
                    len: u64::from(p.sectors) * 512,
                })
        })?;
    let candidates = [
        (
            ConfigSite::Tree("boot/grub2/grub.cfg".into()),
            ConfigKind::Grub,
            &[Firmware::BiosCd, Firmware::BiosUsb][..],
        ),
        (
            ConfigSite::Tree("EFI/BOOT/grub.cfg".into()),
            ConfigKind::Grub,
            &[Firmware::UefiCd][..],
        ),
        (
            ConfigSite::Tree("EFI/BOOT/BOOT.conf".into()),
            ConfigKind::Grub,
            &[][..],
        ),
        (
            ConfigSite::EfiImage("EFI/BOOT/grub.cfg".into()),
            ConfigKind::Grub,
            &[Firmware::UefiUsb, Firmware::UefiUsbEsp][..],
        ),
    ];
    // The partition-1 view: a second volume descriptor set 16 blocks in.
    let partition_tree = f
        .image
        .system_area
        .gpt
        .as_ref()
        .is_some_and(|g| g.partitions.iter().any(|p| p.first_lba == 64));
    Some(BootLayout {
        family: Family::El10Grub2,
        name: NAME,
        arch: "x86_64",
        bios: Some(BiosChain::Grub2 {
            image: bios.to_string(),
        }),
        efi: Some(esp),
        configs: f.roles(&candidates),
        partition_tree,
        support: Support::Full,
    })
}

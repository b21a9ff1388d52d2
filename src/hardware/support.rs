//! The device-support table built into the binary: which PCI IDs an in-box RHEL-family
//! driver lists but the distribution disables, unmaintains or compiled out, per release.
//!
//! Why a table: RHEL disables hardware in ways the module's alias list does not show. On
//! RHEL 9.0–9.3 mpt3sas keeps SAS2008 (`1000:0072`) in its PCI table and refuses it at probe
//! (`rh_disabled_pci_table`); from 9.4 a central list in the kernel (`rh_messages.h`,
//! `pci_rh_check_status()`) does it; on RHEL 10 the IDs are compiled out of the table.
//! AlmaLinux re-enables many of them in its stock kernels from 8.10 and 9.4 on. None of this
//! is readable from a boot ISO's bytes except the alias list (RHEL 10) and, on 9.0–9.3, the
//! module's own static table (see `super::media_tables`), so the rest comes from here.
//!
//! Every entry names its source: the project's reference notes (`rhel-device-support.md`,
//! `kernel-modules.md`) and the public files they cite. Unit tests pin the entries the
//! issue depends on against those sources. This is the one data file: add rows here.

use serde::Serialize;

/// Which distribution's rules an entry states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Red Hat Enterprise Linux and the rebuilds that keep its kernel configuration
    /// unchanged (Rocky Linux, CentOS Stream, Oracle Linux's RHCK).
    Rhel,
    /// AlmaLinux, which re-enables RHEL-disabled PCI IDs in its stock kernels (8.10, 9.4+).
    AlmaLinux,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::Rhel => "RHEL and rebuilds",
            Family::AlmaLinux => "AlmaLinux",
        }
    }
}

/// What the distribution does with a device its in-box driver (once) supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Listed by the driver, refused at probe (in-driver table or the kernel's central list).
    Disabled,
    /// Removed from the driver's PCI table at build time: no alias at all.
    Removed,
    /// Works, with an "unmaintained hardware" warning in the kernel log.
    Unmaintained,
    /// Works, with a "deprecated hardware" warning.
    Deprecated,
    /// Re-enabled by the distribution (AlmaLinux): works.
    ReEnabled,
}

impl State {
    /// Whether the in-box driver drives the device in this state.
    pub fn works(self) -> bool {
        matches!(
            self,
            State::Unmaintained | State::Deprecated | State::ReEnabled
        )
    }
}

/// `major.minor`; `minor == ANY_MINOR` in `to` means "and every later minor of that major".
pub type Release = (u32, u32);
pub const ANY_MINOR: u32 = u32::MAX;

/// One entry of the table: a set of PCI IDs of one driver, one family, one release range.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Entry {
    #[serde(serialize_with = "ids_as_strings")]
    pub ids: &'static [(u16, u16)],
    pub driver: &'static str,
    pub family: Family,
    pub from: Release,
    pub to: Release,
    pub state: State,
    /// How the distribution does it.
    pub mechanism: &'static str,
    /// Where this is stated (document and section, and the public file it cites).
    pub source: &'static str,
}

fn ids_as_strings<S: serde::Serializer>(ids: &&[(u16, u16)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ids.iter().map(|(v, d)| format!("{v:04x}:{d:04x}")))
}

impl Entry {
    pub fn covers(&self, vendor: u16, device: u16, release: Release) -> bool {
        self.ids.contains(&(vendor, device)) && self.from <= release && release <= self.to
    }

    /// `9.0–9.3`, `9.4+`.
    pub fn range(&self) -> String {
        if self.to.1 == ANY_MINOR {
            format!("{}.{}+", self.from.0, self.from.1)
        } else {
            format!(
                "{}.{}–{}.{}",
                self.from.0, self.from.1, self.to.0, self.to.1
            )
        }
    }
}

/// mpt3sas SAS2 IDs RHEL disables: SAS2004, SAS2008, SAS2108 (3), SAS2116 (2), SSS6200.
const MPT3SAS_SAS2: &[(u16, u16)] = &[
    (0x1000, 0x0070),
    (0x1000, 0x0072),
    (0x1000, 0x0074),
    (0x1000, 0x0076),
    (0x1000, 0x0077),
    (0x1000, 0x0064),
    (0x1000, 0x0065),
    (0x1000, 0x007E),
];
/// mpt3sas SAS2208/SAS2308 IDs RHEL 9 marks unmaintained (9.0–9.3) / deprecated (9.4+).
const MPT3SAS_SAS22_23: &[(u16, u16)] = &[
    (0x1000, 0x0080),
    (0x1000, 0x0081),
    (0x1000, 0x0082),
    (0x1000, 0x0083),
    (0x1000, 0x0084),
    (0x1000, 0x0085),
    (0x1000, 0x0086),
    (0x1000, 0x0087),
    (0x1000, 0x006E),
];
/// megaraid_sas IDs RHEL disables: SAS1078R, SAS1078 Gen2, SAS1078DE, SAS1064R, Verde ZCR,
/// Dell PERC5.
const MEGARAID_DISABLED: &[(u16, u16)] = &[
    (0x1000, 0x0060),
    (0x1000, 0x0078),
    (0x1000, 0x007C),
    (0x1000, 0x0411),
    (0x1000, 0x0413),
    (0x1028, 0x0015),
];
/// The subset the RHEL 10 source compiles out (`#ifndef CONFIG_RHEL_DIFFERENCES`): SAS1064R,
/// 1078R, 1078 Gen2, Verde ZCR, Dell PERC5.
const MEGARAID_COMPILED_OUT_10: &[(u16, u16)] = &[
    (0x1000, 0x0060),
    (0x1000, 0x0078),
    (0x1000, 0x0411),
    (0x1000, 0x0413),
    (0x1028, 0x0015),
];
/// megaraid_sas "Skinny"/Gen2 IDs RHEL 9 marks unmaintained (PERC H310, 9240, H700/H800).
const MEGARAID_UNMAINTAINED: &[(u16, u16)] =
    &[(0x1000, 0x0071), (0x1000, 0x0073), (0x1000, 0x0079)];

const KM_6_1: &str = "kernel-modules.md §6.1: elrepo/packages commit 59918cf6, mpt3sas-kmod/el9/mpt3sas_scsih.c (RHEL 9.0 source, #ifdef CONFIG_RHEL_DIFFERENCES)";
const KM_6_2: &str = "kernel-modules.md §6.2/§6.3: elrepo/packages commit 2a6dedaa (9.4: \"RHEL differences patch no longer applicable\"); kernel/rh_messages.h + rh_messages.c (ctrliq/kernel-src-tree)";
const DS_1_2_MPT: &str = "rhel-device-support.md §1.2: elrepo/packages mpt3sas-kmod/el10/ELRepo-mpt3sas-RHEL_DIFFERENCES.patch (RHEL 10.1/10.2 GA source)";
const DS_1_2_MEGA: &str = "rhel-device-support.md §1.2: elrepo/packages megaraid_sas-kmod/el10/ELRepo-megaraid_sas-RHEL_DIFFERENCES.patch (RHEL 10.1/10.2 GA source)";
const DS_1_2_ALMA10: &str = "rhel-device-support.md §1.2: AlmaLinux/wiki docs/release-notes/10.0.md \"Extended hardware support\" (IDs AlmaLinux had to restore)";
const DS_1_2_LEAPP: &str = "rhel-device-support.md §1.2: AlmaLinux/leapp-data files/rocky/device_driver_deprecation_data.json (Red Hat's data: 0x1000:0x0072 available in RHEL 7 only)";
const KM_8: &str = "kernel-modules.md §8/§6.3: RHEL 9 disabled and unmaintained megaraid_sas IDs";
const DS_1_5: &str = "rhel-device-support.md §1.5: AlmaLinux content/blog/2024-05-06-announcing-94-stable.md (PCI IDs re-added from 8.10 and 9.4) and wiki release notes 9.5–9.8, 10.0–10.2";

/// The table. Entries of one family must not overlap; a distribution's own entries
/// (AlmaLinux) take precedence over the RHEL entries, which apply to every family.
pub static TABLE: &[Entry] = &[
    // --- RHEL and rebuilds -------------------------------------------------------------
    Entry {
        ids: &[(0x1000, 0x0072)],
        driver: "mpt3sas",
        family: Family::Rhel,
        from: (8, 0),
        to: (8, ANY_MINOR),
        state: State::Disabled,
        mechanism: "not enabled in RHEL 8 (Red Hat's device data: available in RHEL 7 only)",
        source: DS_1_2_LEAPP,
    },
    Entry {
        ids: MPT3SAS_SAS2,
        driver: "mpt3sas",
        family: Family::Rhel,
        from: (9, 0),
        to: (9, 3),
        state: State::Disabled,
        mechanism:
            "rh_disabled_pci_table in mpt3sas: probe returns -ENODEV (\"Disabled Hardware\")",
        source: KM_6_1,
    },
    Entry {
        ids: MPT3SAS_SAS2,
        driver: "mpt3sas",
        family: Family::Rhel,
        from: (9, 4),
        to: (9, ANY_MINOR),
        state: State::Disabled,
        mechanism: "the kernel's central list (rh_disabled_pci_devices, pci_rh_check_status())",
        source: KM_6_2,
    },
    Entry {
        ids: MPT3SAS_SAS2,
        driver: "mpt3sas",
        family: Family::Rhel,
        from: (10, 0),
        to: (10, ANY_MINOR),
        state: State::Removed,
        mechanism: "compiled out of mpt3sas_pci_table (#ifndef CONFIG_RHEL_DIFFERENCES): no alias",
        source: DS_1_2_MPT,
    },
    Entry {
        ids: MPT3SAS_SAS22_23,
        driver: "mpt3sas",
        family: Family::Rhel,
        from: (9, 0),
        to: (9, 3),
        state: State::Unmaintained,
        mechanism: "rh_unmaintained_pci_table in mpt3sas: works, with a warning",
        source: KM_6_1,
    },
    Entry {
        ids: MPT3SAS_SAS22_23,
        driver: "mpt3sas",
        family: Family::Rhel,
        from: (9, 4),
        to: (9, ANY_MINOR),
        state: State::Deprecated,
        mechanism: "the kernel's central list (rh_deprecated_pci_devices): works, with a warning",
        source: KM_6_2,
    },
    Entry {
        ids: MEGARAID_DISABLED,
        driver: "megaraid_sas",
        family: Family::Rhel,
        from: (9, 0),
        to: (9, ANY_MINOR),
        state: State::Disabled,
        mechanism: "RHEL's disabled-device list: probe refused",
        source: KM_8,
    },
    Entry {
        ids: MEGARAID_COMPILED_OUT_10,
        driver: "megaraid_sas",
        family: Family::Rhel,
        from: (10, 0),
        to: (10, ANY_MINOR),
        state: State::Removed,
        mechanism: "compiled out of megasas_pci_table (#ifndef CONFIG_RHEL_DIFFERENCES): no alias",
        source: DS_1_2_MEGA,
    },
    Entry {
        ids: &[(0x1000, 0x007C)],
        driver: "megaraid_sas",
        family: Family::Rhel,
        from: (10, 0),
        to: (10, ANY_MINOR),
        state: State::Disabled,
        mechanism: "disabled in RHEL 10 (AlmaLinux restores it)",
        source: DS_1_2_ALMA10,
    },
    Entry {
        ids: MEGARAID_UNMAINTAINED,
        driver: "megaraid_sas",
        family: Family::Rhel,
        from: (9, 0),
        to: (9, ANY_MINOR),
        state: State::Unmaintained,
        mechanism: "RHEL's unmaintained-device list: works, with a warning",
        source: KM_8,
    },
    // --- AlmaLinux: re-enabled in its stock kernels ------------------------------------
    Entry {
        ids: &[(0x1000, 0x0072)],
        driver: "mpt3sas",
        family: Family::AlmaLinux,
        from: (8, 10),
        to: (8, ANY_MINOR),
        state: State::ReEnabled,
        mechanism: "AlmaLinux re-adds the PCI ID to its stock kernel",
        source: DS_1_5,
    },
    Entry {
        ids: MPT3SAS_SAS2,
        driver: "mpt3sas",
        family: Family::AlmaLinux,
        from: (9, 4),
        to: (10, ANY_MINOR),
        state: State::ReEnabled,
        mechanism: "AlmaLinux re-adds the PCI IDs to its stock kernel",
        source: DS_1_5,
    },
    Entry {
        ids: MEGARAID_DISABLED,
        driver: "megaraid_sas",
        family: Family::AlmaLinux,
        from: (9, 4),
        to: (10, ANY_MINOR),
        state: State::ReEnabled,
        mechanism: "AlmaLinux re-adds the PCI IDs to its stock kernel",
        source: DS_1_5,
    },
];

/// The entry that decides `vendor:device` on `family` `release`: the family's own entry
/// first, else the RHEL one (AlmaLinux before 9.4 behaves like RHEL).
pub fn lookup(
    vendor: u16,
    device: u16,
    family: Family,
    release: Release,
) -> Option<&'static Entry> {
    let hit = |f: Family| {
        TABLE
            .iter()
            .find(|e| e.family == f && e.covers(vendor, device, release))
    };
    if family != Family::Rhel {
        if let Some(e) = hit(family) {
            return Some(e);
        }
    }
    hit(Family::Rhel)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries the issue depends on, pinned against their sources.
    #[test]
    fn sas2008_on_each_release() {
        // kernel-modules.md §6.1: RHEL 9.0 mpt3sas rh_disabled_pci_table has 1000:0072.
        let e = lookup(0x1000, 0x0072, Family::Rhel, (9, 2)).unwrap();
        assert_eq!(
            (e.driver, e.state, e.range().as_str()),
            ("mpt3sas", State::Disabled, "9.0–9.3")
        );
        assert!(e.source.contains("59918cf6") && e.mechanism.contains("rh_disabled_pci_table"));
        // §6.2: 9.4+ the central list.
        let e = lookup(0x1000, 0x0072, Family::Rhel, (9, 4)).unwrap();
        assert_eq!((e.state, e.range().as_str()), (State::Disabled, "9.4+"));
        assert!(e.source.contains("2a6dedaa") && e.mechanism.contains("pci_rh_check_status"));
        // rhel-device-support.md §1.2: RHEL 10 compiles the SAS2 entries out.
        let e = lookup(0x1000, 0x0072, Family::Rhel, (10, 1)).unwrap();
        assert_eq!((e.state, e.range().as_str()), (State::Removed, "10.0+"));
        assert!(e.source.contains("ELRepo-mpt3sas-RHEL_DIFFERENCES.patch"));
        // §1.5: AlmaLinux 9.4+ and 10 re-enable it; 9.2 is RHEL's behaviour.
        let e = lookup(0x1000, 0x0072, Family::AlmaLinux, (9, 4)).unwrap();
        assert_eq!((e.state, e.family), (State::ReEnabled, Family::AlmaLinux));
        assert!(e.source.contains("2024-05-06-announcing-94-stable"));
        assert!(lookup(0x1000, 0x0072, Family::AlmaLinux, (10, 0))
            .unwrap()
            .state
            .works());
        assert_eq!(
            lookup(0x1000, 0x0072, Family::AlmaLinux, (9, 2))
                .unwrap()
                .family,
            Family::Rhel
        );
        assert_eq!(
            lookup(0x1000, 0x0072, Family::AlmaLinux, (8, 10))
                .unwrap()
                .state,
            State::ReEnabled
        );
        assert_eq!(
            lookup(0x1000, 0x0072, Family::Rhel, (8, 10)).unwrap().state,
            State::Disabled
        );
    }

    #[test]
    fn other_rows_pinned() {
        // §6.1 table: every SAS2 ID, and only those, disabled on 9.0–9.3.
        for id in [
            0x0070, 0x0072, 0x0074, 0x0076, 0x0077, 0x0064, 0x0065, 0x007E,
        ] {
            assert_eq!(
                lookup(0x1000, id, Family::Rhel, (9, 0)).unwrap().state,
                State::Disabled
            );
        }
        assert_eq!(
            lookup(0x1000, 0x0086, Family::Rhel, (9, 1)).unwrap().state,
            State::Unmaintained
        );
        // 1000:0073 (PERC H310) is megaraid_sas, unmaintained, not an mpt3sas ID (§6.1 note).
        let e = lookup(0x1000, 0x0073, Family::Rhel, (9, 2)).unwrap();
        assert_eq!((e.driver, e.state), ("megaraid_sas", State::Unmaintained));
        // §8: Dell PERC5 disabled on 9; compiled out on 10 (ELRepo megaraid_sas patch).
        assert_eq!(
            lookup(0x1028, 0x0015, Family::Rhel, (9, 6)).unwrap().state,
            State::Disabled
        );
        assert_eq!(
            lookup(0x1028, 0x0015, Family::Rhel, (10, 2)).unwrap().state,
            State::Removed
        );
        // Not in the table: a device nobody disables.
        assert!(lookup(0x8086, 0x2922, Family::Rhel, (9, 2)).is_none());
        // RHEL 9.x covers every later minor; RHEL 11 is not covered.
        assert!(lookup(0x1000, 0x0072, Family::Rhel, (9, 8)).is_some());
        assert!(lookup(0x1000, 0x0072, Family::Rhel, (11, 0)).is_none());
    }

    /// Entries of one family never overlap (the lookup would depend on the order).
    #[test]
    fn no_overlaps() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                let shared = a.ids.iter().any(|id| b.ids.contains(id));
                let overlap = a.from <= b.to && b.from <= a.to;
                assert!(
                    !(a.family == b.family && shared && overlap),
                    "{} {:?} {} overlaps {}",
                    a.driver,
                    a.family,
                    a.range(),
                    b.range()
                );
            }
        }
    }
}

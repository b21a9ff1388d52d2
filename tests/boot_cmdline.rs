//! Boot-config editing on the lorax RHEL 9 menus (lorax rhel9-branch `config_files/x86/isolinux.cfg` and `grub2-efi.cfg`), rendered the way
//! lorax renders them for Rocky 9.2 (label `Rocky-9-2-x86_64-dvd`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: helpers outside #[test] may panic (Cargo.toml [lints])

use std::process::Command;

use remaster::boot::{
    edit_config, ks_arg, parse_entries, referenced_volume_labels, BootError, CmdlineEdits,
    ConfigKind, EntryKind,
};

const LABEL: &str = "Rocky-9-2-x86_64-dvd";

/// lorax `config_files/x86/isolinux.cfg` (rhel9 head, with the FIPS entry), rendered; plus
/// the memtest entry of older templates inside the Troubleshooting submenu.
const ISOLINUX: &str = r#"default vesamenu.c32
timeout 600

display boot.msg

# Clear the screen when exiting the menu, instead of leaving the menu displayed.
# For vesamenu, this means the graphical background is still displayed without
# the menu itself for as long as the screen remains in graphics mode.
menu clear
menu background splash.png
menu title Rocky Linux 9.2
menu vshift 8
menu rows 18
menu margin 8
#menu hidden
menu helpmsgrow 15
menu tabmsgrow 13

# Border Area
menu color border * #00000000 #00000000 none

# Selected item
menu color sel 0 #ffffffff #00000000 none

menu tabmsg Press Tab for full configuration options on menu items.

menu separator # insert an empty line
menu separator # insert an empty line

label linux
  menu label ^Install Rocky Linux 9.2
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd quiet

label check
  menu label Test this ^media & install Rocky Linux 9.2
  menu default
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd rd.live.check quiet

label fips
  menu label ^Install Rocky Linux 9.2 in FIPS mode
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd quiet fips=1

menu separator # insert an empty line

# utilities submenu
menu begin ^Troubleshooting
  menu title Troubleshooting Rocky Linux 9.2

label basic
  menu indent count 5
  menu label Install using ^basic graphics mode
  text help
	Try this option out if you're having trouble installing
	Rocky Linux 9.2. append inst.dd=OEMDRV (help text, not a command)
  endtext
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd nomodeset quiet

label rescue
  menu indent count 5
  menu label ^Rescue a Rocky Linux system
  text help
	If the system will not boot, this lets you access files
	and edit config files to try to get it booting again.
  endtext
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd inst.rescue quiet

label memtest
  menu label Run a ^memory test
  text help
	If your system is having issues, a problem with your
	system's memory may be the cause. Use this utility to
	see if the memory is working correctly.
  endtext
  kernel memtest

menu separator # insert an empty line

label local
  menu label Boot from ^local drive
  localboot 0xffff

menu separator # insert an empty line
menu separator # insert an empty line

label returntomain
  menu label Return to ^main menu
  menu exit

menu end
"#;

/// lorax `config_files/x86/grub2-efi.cfg` (rhel9 head), rendered.
const GRUB: &str = "set default=\"1\"

function load_video {
  insmod efi_gop
  insmod efi_uga
  insmod video_bochs
  insmod video_cirrus
  insmod all_video
}

load_video
set gfxpayload=keep
insmod gzio
insmod part_gpt
insmod ext2

set timeout=60
### END /etc/grub.d/00_header ###

search --no-floppy --set=root -l 'Rocky-9-2-x86_64-dvd'

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Install Rocky Linux 9.2' --class fedora --class gnu-linux --class gnu --class os {
\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd quiet
\tinitrdefi /images/pxeboot/initrd.img
}
menuentry 'Test this media & install Rocky Linux 9.2' --class fedora --class gnu-linux --class gnu --class os {
\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd rd.live.check quiet
\tinitrdefi /images/pxeboot/initrd.img
}
menuentry 'Install Rocky Linux 9.2 in FIPS mode' --class fedora --class gnu-linux --class gnu --class os {
\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd quiet fips=1
\tinitrdefi /images/pxeboot/initrd.img
}
submenu 'Troubleshooting -->' {
\tmenuentry 'Install Rocky Linux 9.2 in basic graphics mode' --class fedora --class gnu-linux --class gnu --class os {
\t\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd nomodeset quiet
\t\tinitrdefi /images/pxeboot/initrd.img
\t}
\tmenuentry 'Rescue a Rocky Linux system' --class fedora --class gnu-linux --class gnu --class os {
\t\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd inst.rescue quiet
\t\tinitrdefi /images/pxeboot/initrd.img
\t}
\tmenuentry 'Run a memory test' {
\t\tlinux16 /isolinux/memtest
\t}
\tmenuentry 'Boot first drive' {
\t\tchainloader (hd0)+1
\t}
\tmenuentry 'Exit to firmware' {
\t\texit
\t}
}
";

fn dud_edits() -> CmdlineEdits {
    CmdlineEdits {
        dud_paths: vec!["/dd.iso".into()],
        driver_pre: vec!["mpt3sas".into()],
        ..Default::default()
    }
}

fn installer_count(kind: ConfigKind, text: &str) -> usize {
    parse_entries(kind, text)
        .iter()
        .filter(|e| e.kind.is_installer())
        .count()
}

/// grub-script-check (grub-common) accepts the file.
fn grub_syntax_ok(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("grub.cfg");
    std::fs::write(&p, text).unwrap();
    let out = Command::new("grub-script-check")
        .arg(&p)
        .output()
        .expect("grub-script-check (package grub-common) must be installed");
    assert!(
        out.status.success(),
        "grub-script-check rejected:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fixtures_parse_as_lorax_menus() {
    let iso = parse_entries(ConfigKind::Isolinux, ISOLINUX);
    let kinds: Vec<(String, EntryKind, bool)> = iso
        .iter()
        .map(|e| (e.label.clone().unwrap(), e.kind, e.is_default))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("linux".into(), EntryKind::Install, false),
            ("check".into(), EntryKind::Check, true),
            ("fips".into(), EntryKind::Install, false),
            ("basic".into(), EntryKind::Install, false),
            ("rescue".into(), EntryKind::Rescue, false),
            ("memtest".into(), EntryKind::Memtest, false),
            ("local".into(), EntryKind::LocalBoot, false),
            ("returntomain".into(), EntryKind::Other, false),
        ]
    );
    assert_eq!(iso[1].title, "Test this media & install Rocky Linux 9.2");
    assert_eq!(iso[3].submenu.as_deref(), Some("Troubleshooting"));
    assert_eq!(iso[0].stage2_labels(), vec![LABEL.to_string()]);
    assert!(iso[1].has_arg("rd.live.check"));

    let grub = parse_entries(ConfigKind::Grub, GRUB);
    let kinds: Vec<(String, EntryKind, bool)> = grub
        .iter()
        .map(|e| (e.title.clone(), e.kind, e.is_default))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("Install Rocky Linux 9.2".into(), EntryKind::Install, false),
            (
                "Test this media & install Rocky Linux 9.2".into(),
                EntryKind::Check,
                true
            ),
            (
                "Install Rocky Linux 9.2 in FIPS mode".into(),
                EntryKind::Install,
                false
            ),
            (
                "Install Rocky Linux 9.2 in basic graphics mode".into(),
                EntryKind::Install,
                false
            ),
            (
                "Rescue a Rocky Linux system".into(),
                EntryKind::Rescue,
                false
            ),
            ("Run a memory test".into(), EntryKind::Memtest, false),
            ("Boot first drive".into(), EntryKind::LocalBoot, false),
            ("Exit to firmware".into(), EntryKind::LocalBoot, false),
        ]
    );
    assert_eq!(grub[0].kernel.as_deref(), Some("/images/pxeboot/vmlinuz"));
    assert_eq!(
        grub[4].args,
        vec![
            "inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd",
            "inst.rescue",
            "quiet"
        ]
    );
    assert_eq!(grub[3].submenu.as_deref(), Some("Troubleshooting -->"));
    assert_eq!(
        referenced_volume_labels(ConfigKind::Grub, GRUB),
        vec![LABEL.to_string()]
    );
    grub_syntax_ok(GRUB);
}

/// Every line is unchanged except the installer command lines, which equal the original
/// plus `suffix`.
fn assert_only_cmdlines_grew(before: &str, after: &str, kind: ConfigKind, suffix: &str) {
    let cmd_words: &[&str] = match kind {
        ConfigKind::Isolinux => &["append"],
        ConfigKind::Grub => &["linuxefi", "linux"],
    };
    let b: Vec<&str> = before.split('\n').collect();
    let a: Vec<&str> = after.split('\n').collect();
    assert_eq!(a.len(), b.len());
    let mut grown = 0;
    for (lb, la) in b.iter().zip(&a) {
        let first = lb.split_whitespace().next().unwrap_or("");
        if cmd_words.contains(&first) && lb.contains("inst.stage2=") {
            assert_eq!(*la, format!("{lb}{suffix}"));
            grown += 1;
        } else {
            assert_eq!(la, lb);
        }
    }
    assert_eq!(grown, installer_count(kind, before));
}

#[test]
fn every_install_entry_gets_the_dud_args_and_nothing_else_changes() {
    for (kind, text) in [(ConfigKind::Isolinux, ISOLINUX), (ConfigKind::Grub, GRUB)] {
        let out = edit_config(kind, text, &dud_edits()).unwrap();
        assert_only_cmdlines_grew(
            text,
            &out.text,
            kind,
            " inst.dd=/dd.iso rd.driver.pre=mpt3sas",
        );
        assert_eq!(out.installer_entries_changed(), 5);
        for e in &out.entries {
            if e.kind.is_installer() {
                assert_eq!(
                    e.changes,
                    vec!["added inst.dd=/dd.iso", "added rd.driver.pre=mpt3sas"]
                );
            } else {
                assert!(e.changes.is_empty(), "{e:?}");
            }
        }
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        for e in parse_entries(kind, &out.text) {
            let has = e.has_arg("inst.dd=/dd.iso") && e.has_arg("rd.driver.pre=mpt3sas");
            assert_eq!(has, e.kind.is_installer(), "{e:?}");
        }
        if kind == ConfigKind::Grub {
            grub_syntax_ok(&out.text);
        }
    }
}

#[test]
fn editing_twice_equals_editing_once() {
    let all = CmdlineEdits {
        add: vec!["inst.text".into(), "console=ttyS0,115200".into()],
        remove_keys: vec!["quiet".into()],
        volume_label_rename: Some((LABEL.into(), "My Rocky 9".into())),
        dud_paths: vec!["/dd.iso".into(), "/dd-2.iso".into()],
        driver_pre: vec!["mpt3sas".into(), "megaraid_sas".into()],
        dd_alias: false,
    };
    for (kind, text) in [(ConfigKind::Isolinux, ISOLINUX), (ConfigKind::Grub, GRUB)] {
        let once = edit_config(kind, text, &all).unwrap();
        let twice = edit_config(kind, &once.text, &all).unwrap();
        assert_eq!(twice.text, once.text);
        assert!(
            twice.entries.iter().all(|e| e.changes.is_empty()),
            "{:?}",
            twice.entries
        );
        assert!(twice.file_changes.is_empty());
        let dd = dud_edits();
        let a = edit_config(kind, text, &dd).unwrap();
        let b = edit_config(kind, &a.text, &dd).unwrap();
        assert_eq!(a.text, b.text);
    }
}

#[test]
fn rm_args_removes_keys_on_installer_entries_only() {
    let edits = CmdlineEdits {
        remove_keys: vec!["quiet".into(), "nomodeset".into()],
        ..Default::default()
    };
    let out = edit_config(ConfigKind::Isolinux, ISOLINUX, &edits).unwrap();
    for e in parse_entries(ConfigKind::Isolinux, &out.text) {
        assert!(!e.args.iter().any(|a| a == "quiet" || a == "nomodeset"));
    }
    assert!(out.text.contains(
        "  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd rd.live.check\n"
    ));
    assert!(out
        .text
        .contains("  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd\n"));
    let out = edit_config(ConfigKind::Grub, GRUB, &edits).unwrap();
    assert!(out.text.contains(
        "\t\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd\n"
    ));
    grub_syntax_ok(&out.text);
    // Keys, not key=value.
    let bad = CmdlineEdits {
        remove_keys: vec!["inst.ks=x".into()],
        ..Default::default()
    };
    assert!(matches!(
        edit_config(ConfigKind::Grub, GRUB, &bad),
        Err(BootError::InvalidEdit(_))
    ));
}

#[test]
fn volume_label_rename_with_udev_escaping() {
    let edits = CmdlineEdits {
        volume_label_rename: Some((LABEL.into(), "My Rocky 9".into())),
        ..Default::default()
    };
    let iso = edit_config(ConfigKind::Isolinux, ISOLINUX, &edits).unwrap();
    assert_eq!(
        iso.text,
        ISOLINUX.replace(
            "inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd",
            "inst.stage2=hd:LABEL=My\\x20Rocky\\x209"
        )
    );
    assert_eq!(
        referenced_volume_labels(ConfigKind::Isolinux, &iso.text),
        vec!["My Rocky 9"]
    );
    let grub = edit_config(ConfigKind::Grub, GRUB, &edits).unwrap();
    assert_eq!(
        grub.text,
        GRUB.replace(
            "inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd",
            "'inst.stage2=hd:LABEL=My\\x20Rocky\\x209'"
        )
        .replace("-l 'Rocky-9-2-x86_64-dvd'", "-l 'My Rocky 9'")
    );
    assert_eq!(grub.file_changes.len(), 1);
    assert_eq!(
        referenced_volume_labels(ConfigKind::Grub, &grub.text),
        vec!["My Rocky 9"]
    );
    grub_syntax_ok(&grub.text);
    // The kickstart reference uses the same escaping and follows a later rename.
    let ks = CmdlineEdits {
        add: vec![ks_arg("My Rocky 9", "ks.cfg")],
        ..Default::default()
    };
    let with_ks = edit_config(ConfigKind::Isolinux, &iso.text, &ks).unwrap();
    assert!(with_ks
        .text
        .contains("inst.stage2=hd:LABEL=My\\x20Rocky\\x209 quiet inst.ks=hd:LABEL=My\\x20Rocky\\x209:/ks.cfg\n"));
    let back = CmdlineEdits {
        volume_label_rename: Some(("My Rocky 9".into(), LABEL.into())),
        ..Default::default()
    };
    let renamed = edit_config(ConfigKind::Isolinux, &with_ks.text, &back).unwrap();
    assert!(renamed
        .text
        .contains("inst.ks=hd:LABEL=Rocky-9-2-x86_64-dvd:/ks.cfg"));
    // Renaming a label that is not there warns.
    let none = edit_config(
        ConfigKind::Grub,
        GRUB,
        &CmdlineEdits {
            volume_label_rename: Some(("Other".into(), "X".into())),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(none.text, GRUB);
    assert!(none.warnings.iter().any(|w| w.contains("Other")));
    // Too long for ISO 9660.
    let long = edit_config(
        ConfigKind::Isolinux,
        ISOLINUX,
        &CmdlineEdits {
            volume_label_rename: Some((LABEL.into(), "x".repeat(33))),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(long.warnings.iter().any(|w| w.contains("32")));
}

#[test]
fn lorax_style_unquoted_escape_in_grub_is_renamed_and_quoted() {
    // What mkksiso -V "A B" leaves in grub.cfg: GRUB would turn `\x20` into `x20`.
    let text = GRUB
        .replace(LABEL, "A\\x20B")
        .replace("-l 'A\\x20B'", "-l 'A B'");
    assert_eq!(
        referenced_volume_labels(ConfigKind::Grub, &text),
        vec!["A B"]
    );
    let out = edit_config(ConfigKind::Grub, &text, &dud_edits()).unwrap();
    assert!(out.warnings.iter().any(|w| w.contains("backslash")));
    let renamed = edit_config(
        ConfigKind::Grub,
        &text,
        &CmdlineEdits {
            volume_label_rename: Some(("A B".into(), "C D".into())),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(renamed
        .text
        .contains("'inst.stage2=hd:LABEL=C\\x20D' rd.live.check quiet"));
    assert!(renamed.text.contains("-l 'C D'"));
    grub_syntax_ok(&renamed.text);
}

#[test]
fn wrong_dud_forms_are_flagged_and_replaced() {
    let wrong = ISOLINUX.replace(
        "inst.rescue quiet",
        "inst.rescue quiet inst.dd=OEMDRV init.dd=/dd.iso dd=/x.iso inst.dd=hd:LABEL=DUD:/dd.iso",
    );
    // Without a DUD to add: warnings only, text unchanged.
    let out = edit_config(
        ConfigKind::Isolinux,
        &wrong,
        &CmdlineEdits {
            add: vec!["inst.text".into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(out.warnings.len(), 4, "{:?}", out.warnings);
    assert!(out.warnings.iter().any(|w| w.contains("/dev/OEMDRV")));
    assert!(out.warnings.iter().any(|w| w.contains("typo")));
    assert!(out.warnings.iter().any(|w| w.contains("removed in RHEL 9")));
    assert!(out.warnings.iter().any(|w| w.contains("initqueue")));
    assert!(out.text.contains("inst.dd=OEMDRV"));
    // With our DUD: the wrong forms go, ours comes.
    let out = edit_config(ConfigKind::Isolinux, &wrong, &dud_edits()).unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert!(out.text.contains(
        "  append initrd=initrd.img inst.stage2=hd:LABEL=Rocky-9-2-x86_64-dvd inst.rescue quiet inst.dd=/dd.iso rd.driver.pre=mpt3sas\n"
    ));
    let rescue = out
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::Rescue)
        .unwrap();
    assert_eq!(
        rescue
            .changes
            .iter()
            .filter(|c| c.contains("wrong driver-update form"))
            .count(),
        4
    );
    // Our own wrong forms are refused.
    for bad in ["inst.dd=OEMDRV", "init.dd=/dd.iso", "dd=/dd.iso"] {
        let r = edit_config(
            ConfigKind::Grub,
            GRUB,
            &CmdlineEdits {
                add: vec![bad.into()],
                ..Default::default()
            },
        );
        assert!(matches!(r, Err(BootError::InvalidEdit(_))), "{bad}");
    }
    let r = edit_config(
        ConfigKind::Grub,
        GRUB,
        &CmdlineEdits {
            dud_paths: vec!["hd:LABEL=X:/dd.iso".into()],
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(BootError::InvalidEdit(_))));
    // A correct device form stays.
    let ok = GRUB.replace(
        "inst.rescue quiet",
        "inst.rescue quiet inst.dd=hd:LABEL=OEMDRV",
    );
    let out = edit_config(ConfigKind::Grub, &ok, &dud_edits()).unwrap();
    assert!(out.text.contains(
        "inst.rescue quiet inst.dd=hd:LABEL=OEMDRV inst.dd=/dd.iso rd.driver.pre=mpt3sas\n"
    ));
    // ... with a note that dracut waits for that device.
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].contains("initqueue"));
}

#[test]
fn add_replaces_same_key_and_merges_driver_pre() {
    let text = ISOLINUX.replace(
        "rd.live.check quiet",
        "rd.live.check quiet inst.ks=hd:LABEL=X:/old.cfg rd.driver.pre=ahci",
    );
    let edits = CmdlineEdits {
        add: vec![
            ks_arg(LABEL, "ks.cfg"),
            "quiet".into(),
            "console=ttyS0".into(),
        ],
        driver_pre: vec!["mpt3sas".into(), "ahci".into()],
        ..Default::default()
    };
    let out = edit_config(ConfigKind::Isolinux, &text, &edits).unwrap();
    assert!(out.text.contains(
        "rd.live.check quiet inst.ks=hd:LABEL=Rocky-9-2-x86_64-dvd:/ks.cfg rd.driver.pre=ahci,mpt3sas console=ttyS0\n"
    ), "{}", out.text);
    // Entries without inst.ks got it appended.
    assert!(out.text.contains(
        "inst.rescue quiet inst.ks=hd:LABEL=Rocky-9-2-x86_64-dvd:/ks.cfg console=ttyS0 rd.driver.pre=mpt3sas,ahci\n"
    ), "{}", out.text);
    // console is repeatable: a second console is added, not replaced.
    let more = edit_config(
        ConfigKind::Isolinux,
        &out.text,
        &CmdlineEdits {
            add: vec!["console=tty0".into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(more.text.contains("console=ttyS0 console=tty0"));
}

#[test]
fn crlf_and_indentation_are_preserved() {
    for (kind, text) in [(ConfigKind::Isolinux, ISOLINUX), (ConfigKind::Grub, GRUB)] {
        let crlf = text.replace('\n', "\r\n");
        let lf_out = edit_config(kind, text, &dud_edits()).unwrap();
        let crlf_out = edit_config(kind, &crlf, &dud_edits()).unwrap();
        assert_eq!(crlf_out.text, lf_out.text.replace('\n', "\r\n"));
        let again = edit_config(kind, &crlf_out.text, &dud_edits()).unwrap();
        assert_eq!(again.text, crlf_out.text);
    }
    // Upper-case keywords, tabs, trailing blanks.
    let odd = "LABEL linux\r\n\tMENU LABEL Install\r\n\tKERNEL vmlinuz\r\n\tAPPEND  initrd=initrd.img   inst.stage2=hd:LABEL=X \t\r\n";
    let out = edit_config(ConfigKind::Isolinux, odd, &dud_edits()).unwrap();
    assert_eq!(
        out.text,
        "LABEL linux\r\n\tMENU LABEL Install\r\n\tKERNEL vmlinuz\r\n\tAPPEND  initrd=initrd.img   inst.stage2=hd:LABEL=X inst.dd=/dd.iso rd.driver.pre=mpt3sas \t\r\n"
    );
}

#[test]
fn other_kernels_and_missing_installer() {
    let text = "menuentry 'Debian' {\n linux /boot/vmlinuz-6.1 root=/dev/sda1 ro\n initrd /boot/initrd.img\n}\n";
    let r = edit_config(ConfigKind::Grub, text, &dud_edits());
    assert_eq!(
        r,
        Err(BootError::NoInstallerEntry {
            kind: ConfigKind::Grub
        })
    );
    // With an installer entry too, the other kernel is left alone with a warning.
    let both = format!("{text}{GRUB}");
    let out = edit_config(ConfigKind::Grub, &both, &dud_edits()).unwrap();
    assert!(out.text.starts_with(text));
    assert!(out
        .warnings
        .iter()
        .any(|w| w.contains("not the installer kernel")));
    // A rename alone needs no installer entry.
    assert!(edit_config(
        ConfigKind::Grub,
        text,
        &CmdlineEdits {
            volume_label_rename: Some(("A".into(), "B".into())),
            ..Default::default()
        }
    )
    .is_ok());
}

#[test]
fn one_line_grub_entries_and_quoted_args() {
    let text = "menuentry \"Install\" { linuxefi /images/pxeboot/vmlinuz \"inst.stage2=hd:LABEL=A\\\\x20B\" 'x=a b' ; initrdefi /images/pxeboot/initrd.img }\n";
    let entries = parse_entries(ConfigKind::Grub, text);
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].args,
        vec!["inst.stage2=hd:LABEL=A\\x20B", "x=a b"]
    );
    assert_eq!(entries[0].stage2_labels(), vec!["A B"]);
    let out = edit_config(ConfigKind::Grub, text, &dud_edits()).unwrap();
    assert_eq!(
        out.text,
        "menuentry \"Install\" { linuxefi /images/pxeboot/vmlinuz \"inst.stage2=hd:LABEL=A\\\\x20B\" 'x=a b' inst.dd=/dd.iso rd.driver.pre=mpt3sas ; initrdefi /images/pxeboot/initrd.img }\n"
    );
    grub_syntax_ok(&out.text);
}

/// Deterministic pseudo-random generator for the hostile-input test.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn hostile_text_never_panics() {
    let pieces = [
        "menuentry ",
        "submenu ",
        "'",
        "\"",
        "{",
        "}",
        "\n",
        "\r\n",
        ";",
        " ",
        "\t",
        "\\",
        "\\x2",
        "${",
        "$",
        "#",
        "linuxefi ",
        "linux ",
        "/images/pxeboot/vmlinuz ",
        "vmlinuz",
        "inst.stage2=hd:LABEL=",
        "LABEL=",
        ":",
        "=",
        "inst.dd=",
        "rd.driver.pre=",
        ",",
        "label ",
        "append ",
        "kernel ",
        "menu ",
        "default ",
        "begin",
        "end",
        "text help",
        "endtext",
        "search -l ",
        "set default=",
        "é",
        "\u{0}",
        "-",
    ];
    let edits = CmdlineEdits {
        add: vec!["inst.text".into(), "a=b c".into()],
        remove_keys: vec!["quiet".into()],
        volume_label_rename: Some(("X".into(), "Y Z".into())),
        dud_paths: vec!["/dd.iso".into()],
        driver_pre: vec!["mpt3sas".into()],
        dd_alias: false,
    };
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let n = (rng.next() % 60) as usize;
        let text: String = (0..n)
            .map(|_| pieces[(rng.next() as usize) % pieces.len()])
            .collect();
        for kind in [ConfigKind::Isolinux, ConfigKind::Grub] {
            let _ = parse_entries(kind, &text);
            let _ = referenced_volume_labels(kind, &text);
            if let Ok(out) = edit_config(kind, &text, &edits) {
                // Idempotent even on junk.
                if let Ok(again) = edit_config(kind, &out.text, &edits) {
                    assert_eq!(again.text, out.text, "input: {text:?}");
                }
            }
        }
    }
    // Huge line and deep nesting.
    let huge = format!(
        "label a\nkernel vmlinuz\nappend {}\n",
        "inst.stage2=hd:LABEL=X quiet ".repeat(50_000)
    );
    let out = edit_config(ConfigKind::Isolinux, &huge, &dud_edits()).unwrap();
    assert!(out
        .text
        .ends_with("quiet inst.dd=/dd.iso rd.driver.pre=mpt3sas \n"));
    let deep = format!(
        "{}menuentry 'x' {{ linux vmlinuz inst.stage2=hd:LABEL=X\n{}",
        "{ ".repeat(100_000),
        "}".repeat(50_000)
    );
    let _ = edit_config(ConfigKind::Grub, &deep, &dud_edits());
    let unbalanced = "menuentry 'x {\n linux vmlinuz\n";
    let _ = edit_config(ConfigKind::Grub, unbalanced, &dud_edits());
    let _ = edit_config(ConfigKind::Grub, "}}}}{{{{", &dud_edits());
}

/// Our GRUB lexer against GRUB itself: grub-emu runs `for a in <raw args>; do echo "[$a]";
/// done` for every edited kernel line, and prints exactly the arguments we parsed.
#[test]
fn grub_lexer_matches_grub_emu() {
    let edits = CmdlineEdits {
        add: vec!["a=b c".into(), "q='x'".into(), "inst.text".into()],
        volume_label_rename: Some((LABEL.into(), "My Rocky 9".into())),
        dud_paths: vec!["/dd.iso".into()],
        driver_pre: vec!["mpt3sas".into()],
        ..Default::default()
    };
    let extra = "menuentry 'odd' {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=X \"dq=a\\\\b\" 'sq=$x' ${var}x e\\ f \\\n cont\n}\n";
    let text = format!("{GRUB}{extra}");
    let out = edit_config(ConfigKind::Grub, &text, &edits).unwrap();
    let entries: Vec<_> = parse_entries(ConfigKind::Grub, &out.text)
        .into_iter()
        .filter(|e| e.kind.is_installer())
        .collect();
    // The raw argument text of each installer kernel line, in order.
    let mut script = String::from("set var=V\n");
    let mut raw_lines = 0;
    let joined = out.text.replace("\\\n", "");
    for line in joined.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("linuxefi /images/pxeboot/vmlinuz ") {
            script.push_str(&format!(
                "for a in {rest}; do echo \"[$a]\"; done\necho \"==\"\n"
            ));
            raw_lines += 1;
        }
    }
    assert_eq!(raw_lines, entries.len());
    // The fact behind our warning: unquoted `\x20` loses its backslash in GRUB.
    script.push_str("for a in A\\x20B; do echo \"[$a]\"; done\necho \"==\"\n");
    script.push_str("reboot\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("grub.cfg"), &script).unwrap();
    std::fs::write(dir.path().join("device.map"), "(hd0) /dev/null\n").unwrap();
    // grub-emu only prints with a controlling terminal: run it under script(1)'s pty, and
    // keep it in the foreground process group (timeout --foreground) so it may use it.
    let cmd = format!(
        "timeout --foreground 60 grub-emu -d '{}' -m '{}'",
        dir.path().display(),
        dir.path().join("device.map").display()
    );
    let run = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "setsid script -qec \"{cmd}\" /dev/null </dev/null 2>/dev/null | cat"
        ))
        // cargo's LD_LIBRARY_PATH (target/debug/deps) must not leak into grub-emu.
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("sh, setsid/script (util-linux, bsdutils) and grub-emu must be installed");
    // Strip ANSI escape sequences (ESC [ ... letter) and carriage returns.
    let raw = String::from_utf8_lossy(&run.stdout).to_string();
    let mut printed = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            printed.push(c);
        }
    }
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    for l in printed.lines().map(str::trim) {
        if l.len() >= 2 && l.starts_with('[') && l.ends_with(']') {
            groups
                .last_mut()
                .unwrap()
                .push(l[1..l.len() - 1].to_string());
        } else if l == "==" {
            groups.push(Vec::new());
        }
    }
    groups.pop();
    let ours: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            e.args
                .iter()
                .map(|a| {
                    if a == "${var}x" {
                        "Vx".to_string()
                    } else {
                        a.clone()
                    }
                })
                .collect()
        })
        .chain(std::iter::once(vec!["Ax20B".to_string()]))
        .collect();
    assert_eq!(
        groups,
        ours,
        "grub-emu output:\n{printed}\nstderr: {}\nscript:\n{script}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// `dd=` is an alias of `inst.dd=` on EL8 (anaconda rhel-8: `getargs dd= inst.dd=`) and was
/// removed in RHEL 9: with `dd_alias` its values follow the `inst.dd=` rules.
#[test]
fn dd_alias_is_read_on_el8_only() {
    use remaster::boot::cmdline::dud_problem_with;
    assert!(dud_problem_with("dd=/dd.iso", false).is_some());
    assert!(dud_problem_with("dd=/dd.iso", true).is_none());
    assert!(dud_problem_with("dd=hd:LABEL=OEMDRV", true).is_none());
    // The wrong forms stay wrong under either name.
    assert!(dud_problem_with("dd=OEMDRV", true).is_some());
    assert!(dud_problem_with("dd=hd:LABEL=X:/dd.iso", true).is_some());

    let text = "label linux\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=T dd=/old.iso quiet\n";
    let el8 = CmdlineEdits {
        dud_paths: vec!["/dd.iso".into()],
        dd_alias: true,
        ..Default::default()
    };
    let out = edit_config(ConfigKind::Isolinux, text, &el8).unwrap();
    assert!(out.text.contains("dd=/old.iso"), "{}", out.text);
    assert!(out.text.contains("inst.dd=/dd.iso"), "{}", out.text);
    let el9 = CmdlineEdits {
        dd_alias: false,
        ..el8.clone()
    };
    let out = edit_config(ConfigKind::Isolinux, text, &el9).unwrap();
    assert!(!out.text.contains(" dd=/old.iso"), "{}", out.text);
    assert!(out.text.contains("inst.dd=/dd.iso"), "{}", out.text);
}

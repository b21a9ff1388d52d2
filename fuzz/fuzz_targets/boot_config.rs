//! Boot config editor (isolinux and grub): parse_entries, referenced labels and edit_config,
//! whose documented contract is checked too: editing twice gives the text of editing once.
#![no_main]
use libfuzzer_sys::fuzz_target;
use remaster::boot::{
    edit_config, parse_entries, referenced_volume_labels, CmdlineEdits, ConfigKind,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let kind = if selector & 1 == 0 {
        ConfigKind::Isolinux
    } else {
        ConfigKind::Grub
    };
    let text = String::from_utf8_lossy(rest);
    let _ = parse_entries(kind, &text);
    let _ = referenced_volume_labels(kind, &text);
    let edits = CmdlineEdits {
        add: if selector & 2 == 0 {
            vec!["inst.ks=hd:LABEL=X:/ks.cfg".into()]
        } else {
            Vec::new()
        },
        remove_keys: if selector & 4 == 0 {
            vec!["quiet".into(), "rd.live.check".into()]
        } else {
            Vec::new()
        },
        volume_label_rename: (selector & 8 == 0)
            .then(|| ("Rocky-9-2-x86_64-dvd".to_string(), "NEW-LABEL".to_string())),
        dud_paths: if selector & 16 == 0 {
            vec!["/dd.iso".into()]
        } else {
            Vec::new()
        },
        driver_pre: if selector & 32 == 0 {
            vec!["mpt3sas".into()]
        } else {
            Vec::new()
        },
        dd_alias: selector & 64 == 0,
    };
    if let Ok(once) = edit_config(kind, &text, &edits) {
        let _ = once.summary("fuzz.cfg");
        let twice =
            edit_config(kind, &once.text, &edits).expect("re-editing an edited config failed");
        assert_eq!(once.text, twice.text, "edit_config is not idempotent");
    }
});

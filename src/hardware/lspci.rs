//! `lspci -nn` output from the target machine: the `[vvvv:dddd]` of each device and its class
//! code (`[0107]`). Storage (class 01) and network (class 02) controllers are the devices an
//! installer needs a driver for; the others (bridges, USB, graphics...) are left out unless
//! asked for. Lines without a class code (`lspci -n` style) are kept. Hand-written: lspci's
//! text format has no parser crate; this reads only the two bracketed hex fields.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LspciDevice {
    pub vendor: u16,
    pub device: u16,
    /// `0x0107` (SAS); `None` when the line has no class code.
    pub class: Option<u16>,
    /// The line, trimmed.
    pub line: String,
}

impl LspciDevice {
    /// Storage (01xx) or network (02xx) controller, or unknown class.
    pub fn is_storage_or_network(&self) -> bool {
        self.class.is_none_or(|c| matches!(c >> 8, 0x01 | 0x02))
    }
}

fn hex4(s: &str) -> Option<u16> {
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u16::from_str_radix(s, 16).ok())
        .flatten()
}

/// Every device line of `lspci -nn` (or `lspci -n`) output. Indented lines (`-v` detail)
/// and lines without a vendor:device pair are skipped.
pub fn parse(text: &str) -> Vec<LspciDevice> {
    let mut out = Vec::new();
    for raw in text.lines() {
        if raw.starts_with([' ', '\t']) || raw.trim().is_empty() {
            continue;
        }
        let line = raw.trim();
        // Bracketed fields: "[0107]" is the class, the last "[vvvv:dddd]" the device.
        let fields: Vec<&str> = line
            .split('[')
            .skip(1)
            .filter_map(|s| s.split_once(']').map(|(f, _)| f))
            .collect();
        let class = fields.iter().find_map(|f| hex4(f));
        let id = fields.iter().rev().find_map(|f| {
            let (v, d) = f.split_once(':')?;
            Some((hex4(v)?, hex4(d)?))
        });
        // `lspci -n`: "01:00.0 0107: 1000:0072 (rev 03)".
        let (id, class) = match id {
            Some(id) => (Some(id), class),
            None => {
                let words: Vec<&str> = line.split_whitespace().collect();
                let id = words.iter().skip(1).find_map(|w| {
                    let (v, d) = w.split_once(':')?;
                    Some((hex4(v)?, hex4(d)?))
                });
                let class = words
                    .get(1)
                    .and_then(|w| w.strip_suffix(':'))
                    .and_then(hex4);
                (id, class)
            }
        };
        if let Some((vendor, device)) = id {
            out.push(LspciDevice {
                vendor,
                device,
                class,
                line: line.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lspci_nn() {
        let text = "\
00:00.0 Host bridge [0600]: Intel Corporation 440FX - 82441FX PMC [Natoma] [8086:1237] (rev 02)
01:00.0 Serial Attached SCSI controller [0107]: Broadcom / LSI SAS2008 PCI-Express Fusion-MPT SAS-2 [Falcon] [1000:0072] (rev 03)
\tSubsystem: Dell 6Gbps SAS HBA Adapter [1028:1f1c]
02:00.0 Ethernet controller [0200]: Intel Corporation 82574L Gigabit Network Connection [8086:10d3]
03:00.0 0107: 1000:0087 (rev 05)
";
        let d = parse(text);
        assert_eq!(d.len(), 4);
        assert_eq!(
            (d[1].vendor, d[1].device, d[1].class),
            (0x1000, 0x0072, Some(0x0107))
        );
        assert_eq!(
            (d[3].vendor, d[3].device, d[3].class),
            (0x1000, 0x0087, Some(0x0107))
        );
        let kept: Vec<_> = d
            .iter()
            .filter(|d| d.is_storage_or_network())
            .map(|d| d.device)
            .collect();
        assert_eq!(kept, vec![0x0072, 0x10d3, 0x0087]);
    }
}

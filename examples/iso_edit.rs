//! Small driver for the ISO reader/writer (used by scripts/bench-iso-edit.sh until the CLI
//! is wired): `iso_edit inspect ISO` prints the JSON report.
use std::fs::File;

use remaster::iso::{inspect::IsoReport, Image};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("inspect") => {
            let path = args.get(2).ok_or("usage: iso_edit inspect ISO")?;
            let image = Image::open(File::open(path)?)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&IsoReport::from_image(&image))?
            );
        }
        _ => return Err("usage: iso_edit inspect ISO".into()),
    }
    Ok(())
}

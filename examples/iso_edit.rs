//! Small driver for the ISO reader/writer (used by scripts/bench-iso-edit.sh and for manual
//! checks until the CLI is wired):
//!   iso_edit inspect ISO
//!   iso_edit edit IN OUT [--append ISOPATH FILE]... [--replace ISOPATH FILE]...
//!                        [--add ISOPATH FILE]... [--volid ID] [--md5] [--force]
//! `--append` appends FILE to ISOPATH and to every path sharing its extent (hard links).
use std::fs::File;
use std::path::PathBuf;

use remaster::iso::write::{write, EditPlan, NewContent, WriteOptions};
use remaster::iso::{inspect::IsoReport, Image};

const USAGE: &str = "usage: iso_edit inspect ISO | iso_edit edit IN OUT [--append P F] [--replace P F] [--add P F] [--volid ID] [--md5] [--force]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("inspect") => {
            let path = args.get(1).ok_or(USAGE)?;
            let image = Image::open(File::open(path)?)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&IsoReport::from_image(&image))?
            );
        }
        Some("edit") => {
            let input = PathBuf::from(args.get(1).ok_or(USAGE)?);
            let output = PathBuf::from(args.get(2).ok_or(USAGE)?);
            let image = Image::open(File::open(&input)?)?;
            let mut plan = EditPlan {
                mtime: std::env::var("SOURCE_DATE_EPOCH")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                ..Default::default()
            };
            let mut force = false;
            let mut i = 3;
            while i < args.len() {
                let a = args[i].as_str();
                let p = args.get(i + 1).cloned().unwrap_or_default();
                let f = args.get(i + 2).cloned().unwrap_or_default();
                match a {
                    "--append" => {
                        let bytes = std::fs::read(&f)?;
                        for path in image.hardlinks_of(&p) {
                            plan.replace
                                .push((path, NewContent::OriginalPlus(bytes.clone())));
                        }
                        i += 3;
                    }
                    "--replace" => {
                        plan.replace
                            .push((p, NewContent::Bytes(std::fs::read(&f)?)));
                        i += 3;
                    }
                    "--add" => {
                        plan.add.push((p, NewContent::File(f.into())));
                        i += 3;
                    }
                    "--volid" => {
                        plan.volume_id = Some(p);
                        i += 2;
                    }
                    "--md5" => {
                        plan.implant_md5 = true;
                        i += 1;
                    }
                    "--force" => {
                        force = true;
                        i += 1;
                    }
                    _ => return Err(USAGE.into()),
                }
            }
            let summary = write(
                &input,
                &output,
                plan,
                WriteOptions {
                    force,
                    progress: None,
                },
            )?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

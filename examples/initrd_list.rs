//! Lists an initramfs the kernel way: `initrd_list IMAGE [--json]`. Used by
//! scripts/bench-initrd.sh (built with --release) and handy for debugging.

use remaster::report::Report;
use std::io::BufWriter;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: initrd_list IMAGE [--json|--summary]");
        std::process::exit(2);
    };
    let mode = args.next().unwrap_or_default();
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(3);
        }
    };
    let report = match remaster::initrd::inspect::inspect(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(3);
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let res = match mode.as_str() {
        "--json" => serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::other),
        "--summary" => {
            use std::io::Write;
            let unc: u64 = report
                .segments
                .iter()
                .filter_map(|s| s.uncompressed_size)
                .sum();
            writeln!(
                out,
                "{} segments, {} files, {} bytes decoded",
                report.segments.len(),
                report.files.len(),
                unc
            )
        }
        _ => report.human(&mut out),
    };
    if let Err(e) = res {
        eprintln!("{e}");
        std::process::exit(4);
    }
}

//! Times a verdict: `cargo run --release --example kmod_check -- VMLINUZ MODULE.ko [MODULE_DIR]`.
//! Parses the kernel, every module under MODULE_DIR (the target's module set), the module,
//! and runs `check` with Secure Boot unknown; prints the verdict and the time per stage.

use std::path::{Path, PathBuf};
use std::time::Instant;

use remaster::kmod::kernel::Kernel;
use remaster::kmod::module::Module;
use remaster::kmod::verdict::{check, SecureBoot, Target};
use remaster::report::Report;

fn modules_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            modules_under(&path, out)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".ko") || n.ends_with(".ko.xz") || n.ends_with(".ko.zst"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: kmod_check VMLINUZ MODULE.ko [MODULE_DIR]");
        std::process::exit(2);
    }
    let total = Instant::now();
    let t = Instant::now();
    let kernel = Kernel::parse(&std::fs::read(&args[1])?)?;
    let t_kernel = t.elapsed();

    let t = Instant::now();
    let mut paths = Vec::new();
    if let Some(dir) = args.get(3) {
        modules_under(Path::new(dir), &mut paths)?;
    }
    let mut set = Vec::with_capacity(paths.len());
    for p in &paths {
        set.push(Module::parse(&std::fs::read(p)?).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    let t_set = t.elapsed();

    let t = Instant::now();
    let module = Module::parse(&std::fs::read(&args[2])?)?;
    let target = Target::new(kernel, set);
    let verdict = check(&module, &target, SecureBoot::Unknown);
    let t_check = t.elapsed();

    verdict.human(&mut std::io::stdout())?;
    eprintln!(
        "kernel {:.0} ms ({} exports), {} modules {:.0} ms, module+check {:.1} ms, total {:.0} ms",
        t_kernel.as_secs_f64() * 1e3,
        target.kernel.export_count,
        paths.len(),
        t_set.as_secs_f64() * 1e3,
        t_check.as_secs_f64() * 1e3,
        total.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

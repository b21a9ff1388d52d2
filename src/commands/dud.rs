//! `remaster dud create RPM... -o dd.iso`.

use std::io::Write;

use super::DudCreateArgs;
use crate::dud::{self, CreatedDud};
use crate::report::{emit, Report};
use crate::{Error, Result};

impl Report for CreatedDud {
    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "wrote {} ({} bytes): rhdd3 + {}",
            self.path.display(),
            self.size,
            self.rpm_paths.join(", ")
        )?;
        for w in &self.warnings {
            writeln!(out, "warning: {w}")?;
        }
        Ok(())
    }
}

pub fn create(args: DudCreateArgs) -> Result<i32> {
    // rpms/<arch>/ follows the RPMs' architecture (aarch64 kmods go to rpms/aarch64/);
    // x86_64 unless every architecture-specific input RPM says otherwise.
    let mut archs: Vec<String> = Vec::new();
    for path in &args.rpms {
        if let Ok(rpm) = dud::read_kmod_rpm_file(path) {
            if !rpm.arch.is_empty() && rpm.arch != "noarch" && !archs.contains(&rpm.arch) {
                archs.push(rpm.arch);
            }
        }
    }
    let mut opts = dud::CreateOptions {
        force: args.force,
        ..Default::default()
    };
    if let [only] = archs.as_slice() {
        opts.arch = only.clone();
    }
    let created = dud::write_dud(&args.rpms, &args.output, &opts)?;
    emit(&created, args.out.json).map_err(|e| Error::output("<stdout>", e))?;
    Ok(0)
}

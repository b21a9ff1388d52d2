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
    let opts = dud::CreateOptions {
        force: args.force,
        ..Default::default()
    };
    let created = dud::write_dud(&args.rpms, &args.output, &opts)?;
    emit(&created, args.out.json).map_err(|e| Error::output("<stdout>", e))?;
    Ok(0)
}

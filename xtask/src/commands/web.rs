//! `cargo xtask web`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Build even when the sources are unchanged.
    #[arg(long)]
    pub force: bool,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { force } = self;
        let started = std::time::Instant::now();
        let (dist, built) =
            if force { (crate::web::build(workspace)?, true) } else { crate::web::build_if_changed(workspace)? };
        for (file, bytes) in crate::web::summary(&dist)? {
            println!("{file:<48} {bytes:>10}");
        }
        if built {
            println!("built the web client into {} in {:.1?}", dist.display(), started.elapsed());
        } else {
            println!("the web client's sources are unchanged; {} is current", dist.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

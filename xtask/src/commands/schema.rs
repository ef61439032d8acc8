//! `cargo xtask schema`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write nothing; fail if the schema is out of date.
    #[arg(long)]
    pub check: bool,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { check } = self;
        let path = workspace.join("environments/schema.json");
        let schema = brain2_iac::config::EnvironmentConfig::json_schema();
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(schema.as_str()) {
                bail!("{} is out of date; run `cargo xtask schema` and commit it", path.display());
            }
            eprintln!("{} is up to date", path.display());
        } else {
            std::fs::write(&path, schema)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

//! `cargo xtask dev`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The site's port (web client, sign-in, config.json); the emulator takes the next one.
    #[arg(long, default_value_t = 8600)]
    pub port: u16,
    /// Where memories, users and the emulator's state are kept between runs.
    #[arg(long, default_value = "target/dev-data")]
    pub data: PathBuf,
    /// Start from empty data (deletes what the data folder holds).
    #[arg(long)]
    pub fresh: bool,
    /// Print less: no deploy progress, only failed invocations from the functions' logs.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { port, data, fresh, quiet } = self;
        crate::dev::run(workspace, &crate::dev::Options { port, data, fresh, quiet })?;
        Ok(ExitCode::SUCCESS)
    }
}

//! `cargo xtask dev`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The environment whose templates run locally: dev, or staging or prod to rehearse them
    /// (their keys, VPC, concurrency, alarms and WAF, with IAM enforced).
    #[arg(long, default_value = crate::dev::environment::BASE_ENVIRONMENT)]
    pub env: String,
    /// The site's port (web client, sign-in, config.json); the emulator takes the next one.
    #[arg(long, default_value_t = 8600)]
    pub port: u16,
    /// Where memories, users and the emulator's state are kept between runs
    /// [default: target/dev-data, or target/dev-data-<env> for another environment].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Start from empty data (deletes what the data folder holds).
    #[arg(long)]
    pub fresh: bool,
    /// Print less: no deploy progress, only failed invocations from the functions' logs.
    #[arg(long)]
    pub quiet: bool,
    /// No guard and no IAM: any web page may use the emulator. Only for the benchmarks that
    /// measure what the guard and enforcement cost.
    #[arg(long, hide = true)]
    pub open_emulator: bool,
    /// Do not follow edits: no rebuilds, hotswaps, redeploys or tab reloads while it runs, and
    /// the web client that deploy ships (release build) instead of the local one.
    #[arg(long)]
    pub no_watch: bool,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { env, port, data, fresh, quiet, open_emulator, no_watch } = self;
        let data = data.unwrap_or_else(|| crate::dev::default_data_folder(&env));
        crate::dev::run(
            workspace,
            &crate::dev::Options { environment: env, port, data, fresh, quiet, open_emulator, watch: !no_watch },
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

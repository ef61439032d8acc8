//! `cargo xtask pytools / test`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::pytools;

#[derive(clap::Args, Debug)]
pub struct PyToolsArgs {}

impl PyToolsArgs {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let venv = pytools::ensure(workspace)?;
        eprintln!("Python tools ready in {}", venv.display());
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Extra arguments for `cargo test` (after `--`).
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

impl TestArgs {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let TestArgs { cargo_args } = self;
        pytools::ensure(workspace)?;
        pytools::ensure_emulator(workspace)?;
        crate::chromium::ensure()?;
        // The browser test serves the built client; build it once here, not inside a test.
        crate::web::build_if_changed(workspace)?;
        let status = crate::cargo(workspace)
            // The web client is a wasm32 crate: CI lints it for its own target.
            .args(["test", "--workspace", "--exclude", "brain2-web"])
            .args(&cargo_args)
            .status()
            .context("running cargo test")?;
        Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

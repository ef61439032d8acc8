//! `cargo xtask codegen`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::{codegen, pytools};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write nothing; fail if the checked-in code differs from what codegen would write.
    #[arg(long)]
    pub check: bool,
    /// Copy the schema of these types (AWS::Service::Resource) from the pinned cfn-lint first.
    #[arg(long, value_name = "TYPE")]
    pub vendor: Vec<String>,
    /// Refresh every vendored schema from the pinned cfn-lint first.
    #[arg(long, conflicts_with = "vendor")]
    pub vendor_all: bool,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { check, vendor, vendor_all } = self;
        if vendor_all || !vendor.is_empty() {
            let data = pytools::cfn_lint_data(workspace)?;
            let types = if vendor_all {
                codegen::schema_files(workspace)?
                    .iter()
                    .map(|path| {
                        let text = std::fs::read_to_string(path)?;
                        let schema: serde_json::Value = serde_json::from_str(&text)?;
                        schema["typeName"].as_str().map(str::to_owned).context("schema without typeName")
                    })
                    .collect::<Result<Vec<_>>>()?
            } else {
                vendor
            };
            for path in codegen::vendor(workspace, &data, &types)? {
                eprintln!("vendored {}", path.display());
            }
        }
        if check {
            let stale = codegen::out_of_date(workspace)?;
            if !stale.is_empty() {
                for path in &stale {
                    eprintln!("out of date: {}", path.display());
                }
                bail!("generated code is out of date; run `cargo xtask codegen` and commit the result");
            }
            eprintln!("generated code is up to date");
        } else {
            let started = std::time::Instant::now();
            let (written, removed) = codegen::write(workspace)?;
            eprintln!(
                "codegen: {} schemas, {written} files written, {removed} removed, in {:.0?}",
                codegen::schema_files(workspace)?.len(),
                started.elapsed()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

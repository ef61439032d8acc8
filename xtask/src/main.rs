use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use xtask::{codegen, pytools, workspace_root};

/// Brain2's build, synth and deploy tool.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Regenerate brain2-iac/src/aws from the CloudFormation schemas in brain2-iac/schemas.
    Codegen {
        /// Write nothing; fail if the checked-in code differs from what codegen would write.
        #[arg(long)]
        check: bool,
        /// Copy the schema of these types (AWS::Service::Resource) from the pinned cfn-lint first.
        #[arg(long, value_name = "TYPE")]
        vendor: Vec<String>,
        /// Refresh every vendored schema from the pinned cfn-lint first.
        #[arg(long, conflicts_with = "vendor")]
        vendor_all: bool,
    },
    /// Install the pinned Python tools (cfn-lint) into target/py-tools.
    PyTools,
    /// Run the whole test suite: installs the pinned Python tools, then `cargo test --workspace`.
    Test {
        /// Extra arguments for `cargo test` (after `--`).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let workspace = workspace_root();
    match cli.command {
        Cmd::Codegen { check, vendor, vendor_all } => {
            if vendor_all || !vendor.is_empty() {
                let data = pytools::cfn_lint_data(&workspace)?;
                let types = if vendor_all {
                    codegen::schema_files(&workspace)?
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
                for path in codegen::vendor(&workspace, &data, &types)? {
                    eprintln!("vendored {}", path.display());
                }
            }
            if check {
                let stale = codegen::out_of_date(&workspace)?;
                if !stale.is_empty() {
                    for path in &stale {
                        eprintln!("out of date: {}", path.display());
                    }
                    bail!("generated code is out of date; run `cargo xtask codegen` and commit the result");
                }
                eprintln!("generated code is up to date");
            } else {
                let started = std::time::Instant::now();
                let (written, removed) = codegen::write(&workspace)?;
                eprintln!(
                    "codegen: {} schemas, {written} files written, {removed} removed, in {:.0?}",
                    codegen::schema_files(&workspace)?.len(),
                    started.elapsed()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::PyTools => {
            let venv = pytools::ensure(&workspace)?;
            eprintln!("Python tools ready in {}", venv.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test { cargo_args } => {
            pytools::ensure(&workspace)?;
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
                .current_dir(&workspace)
                .args(["test", "--workspace"])
                .args(&cargo_args)
                .status()
                .context("running cargo test")?;
            Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

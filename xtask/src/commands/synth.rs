//! `cargo xtask synth`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use super::*;
use crate::synth;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// dev, staging or prod; `all` for the three.
    #[arg(long)]
    pub env: String,
    /// Only this stack: database, compute, api or frontend.
    #[arg(long)]
    pub stack: Option<String>,
    /// The output folder (ignored by git).
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// How to report policy findings: text on stderr, or also SARIF in <out>/<env>/policy.sarif.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { env, stack, out, format } = self;
        let environments: Vec<&str> =
            if env == "all" { brain2_iac::config::ENVIRONMENTS.to_vec() } else { vec![env.as_str()] };
        let out = if out.is_absolute() { out } else { workspace.join(out) };
        let mut failed = false;
        for environment in environments {
            synth::check_names(environment, stack.as_deref())?;
            let output = synth::synthesize(workspace, environment)?;
            for finding in &output.report.findings {
                eprintln!("policy: {finding}");
            }
            for (finding, reason) in &output.report.suppressed {
                eprintln!("policy: suppressed [{}] {} {}: {reason}", finding.rule, finding.stack, finding.resource);
            }
            if let ReportFormat::Sarif = format {
                let dir = out.join(environment);
                std::fs::create_dir_all(&dir)?;
                let sarif = brain2_iac::policy::to_sarif(&output.report, &|stack| {
                    format!("{}/{environment}/{stack}.template.json", out.display())
                });
                let path = dir.join("policy.sarif");
                std::fs::write(&path, serde_json::to_string_pretty(&sarif)? + "\n")?;
                eprintln!("policy findings written to {}", path.display());
            }
            if !output.report.passed() {
                eprintln!(
                    "error: {} policy finding(s) in {environment}; nothing was written for it",
                    output.report.findings.len()
                );
                failed = true;
                continue;
            }
            let dir = synth::write(&out, &output, stack.as_deref())?;
            print!("{}", synth::table(&output, stack.as_deref()));
            println!("wrote {}\n", dir.display());
        }
        Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    }
}

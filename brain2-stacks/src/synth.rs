//! `cargo xtask synth`: the Brain2 templates of an environment, checked by the policy pack,
//! written to `<out>/<env>/` with a manifest.
//!
//! It is served by this crate's `brain2-synth` binary (the `cargo xtask` launcher routes it
//! there), which links the infrastructure code and nothing else: editing a stack and running
//! synth rebuilds this crate and a small binary, not xtask and the AWS SDK. The rest of xtask
//! (diff, deploy, dev) calls the same functions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::{STACKS, brain2_app};
use anyhow::{Context, Result, bail};
use brain2_iac::cfn::Synthesized;
use brain2_iac::config::{ENVIRONMENTS, EnvironmentConfig};
use brain2_iac::policy;

/// One environment synthesized and checked, not yet written.
#[derive(Debug)]
pub struct EnvironmentOutput {
    pub environment: String,
    pub synthesized: Synthesized,
    pub report: policy::Report,
    pub elapsed: Duration,
}

/// Loads the environment's file, builds the app and runs the policy pack.
pub fn synthesize(workspace: &Path, environment: &str) -> Result<EnvironmentOutput> {
    let started = Instant::now();
    let config = EnvironmentConfig::load(workspace, environment)?;
    synthesize_config(environment, &config, started)
}

/// Builds the app from a configuration already loaded (and possibly adjusted, as `cargo xtask
/// dev` does for its local variant of dev) and runs the policy pack.
pub fn synthesize_config(environment: &str, config: &EnvironmentConfig, started: Instant) -> Result<EnvironmentOutput> {
    let app = brain2_app(environment, config).with_context(|| format!("building the {environment} stacks"))?;
    let synthesized = app.synth().with_context(|| format!("synthesizing the {environment} stacks"))?;
    // Synthesis ran the policy pack (the checkov skips come from it); its Metadata additions
    // change no rule's verdict.
    let report = synthesized.policy.clone();
    Ok(EnvironmentOutput { environment: environment.to_owned(), synthesized, report, elapsed: started.elapsed() })
}

/// Checks `--env` and `--stack` values, listing the valid ones when they are wrong.
pub fn check_names(environment: &str, stack: Option<&str>) -> Result<()> {
    if !ENVIRONMENTS.contains(&environment) {
        bail!("unknown environment {environment:?}; valid environments: {}", ENVIRONMENTS.join(", "));
    }
    if let Some(stack) = stack {
        let full = |s: &str| format!("brain2-{environment}-{s}");
        if !STACKS.iter().any(|s| *s == stack || full(s) == stack) {
            bail!("unknown stack {stack:?}; valid stacks: {}", STACKS.join(", "));
        }
    }
    Ok(())
}

/// Writes the templates (all, or one stack's) and the manifest. The folder is replaced whole
/// when writing all stacks, so no stale template survives, and only after every file is
/// written beside it, so an interrupted run leaves the previous output intact.
pub fn write(out: &Path, output: &EnvironmentOutput, stack: Option<&str>) -> Result<PathBuf> {
    let dir = out.join(&output.environment);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let manifest = serde_json::to_string_pretty(&output.synthesized.manifest())? + "\n";
    match stack {
        None => {
            let staging = out.join(format!(".{}.partial", output.environment));
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging)?;
            for s in &output.synthesized.stacks {
                std::fs::write(staging.join(format!("{}.template.json", s.name)), &s.template)?;
            }
            std::fs::write(staging.join("manifest.json"), manifest)?;
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&staging, &dir).with_context(|| format!("moving the output into {}", dir.display()))?;
        }
        Some(name) => {
            let s = output.synthesized.stack(name).with_context(|| format!("no stack {name}"))?;
            std::fs::create_dir_all(&dir)?;
            for (file, text) in [
                (format!("{}.template.json", s.name), s.template.as_str()),
                ("manifest.json".to_owned(), manifest.as_str()),
            ] {
                let temporary = dir.join(format!(".{file}.partial"));
                std::fs::write(&temporary, text)?;
                std::fs::rename(&temporary, dir.join(&file))?;
            }
        }
    }
    Ok(dir)
}

/// The table synth prints: each stack with its resource count, size and time.
pub fn table(output: &EnvironmentOutput, stack: Option<&str>) -> String {
    let mut text = format!("{:<28} {:>9} {:>9} {:>8}  {}\n", "stack", "resources", "bytes", "time", "note");
    for s in &output.synthesized.stacks {
        if stack.is_some_and(|name| name != s.short_name && name != s.name) {
            continue;
        }
        let mut notes = Vec::new();
        if s.requires_s3_upload {
            notes.push("over 51,200 bytes: deploy uploads it to S3".to_owned());
        }
        if let Some(region) = &s.region {
            notes.push(format!("region {region}"));
        }
        text.push_str(&format!(
            "{:<28} {:>9} {:>9} {:>6.1}ms  {}\n",
            s.name,
            s.resource_count,
            s.template.len(),
            s.elapsed.as_secs_f64() * 1_000.0,
            notes.join("; ")
        ));
    }
    text.push_str(&format!(
        "{} stacks in {:.1} ms (config, build, synthesis and policy pack)\n",
        output.synthesized.stacks.len(),
        output.elapsed.as_secs_f64() * 1_000.0
    ));
    text
}

/// How policy findings are reported.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Sarif,
}

/// `synth`'s arguments.
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
    /// The environment's settings from this file instead of environments/<env>.json: the local
    /// variant `cargo xtask dev` writes to synthesize stacks edited while it runs. Dev made it
    /// from an environment file it loaded and checked, with loopback origins and a local sign-in
    /// that no environment file may hold, so it is read as written and not checked again.
    #[arg(long, hide = true)]
    pub config: Option<PathBuf>,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { env, stack, out, format, config } = self;
        let environments: Vec<&str> = if env == "all" { ENVIRONMENTS.to_vec() } else { vec![env.as_str()] };
        let out = if out.is_absolute() { out } else { workspace.join(out) };
        let mut failed = false;
        for environment in environments {
            check_names(environment, stack.as_deref())?;
            let output = match &config {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    let local: EnvironmentConfig = serde_json::from_str(&text).with_context(|| {
                        format!("{}: not a local variant written by `cargo xtask dev`", path.display())
                    })?;
                    synthesize_config(environment, &local, Instant::now())?
                }
                None => synthesize(workspace, environment)?,
            };
            for finding in &output.report.findings {
                eprintln!("policy: {finding}");
            }
            for (finding, reason) in &output.report.suppressed {
                eprintln!("policy: suppressed [{}] {} {}: {reason}", finding.rule, finding.stack, finding.resource);
            }
            if let ReportFormat::Sarif = format {
                let dir = out.join(environment);
                std::fs::create_dir_all(&dir)?;
                let sarif = policy::to_sarif(&output.report, &|stack| {
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
            let dir = write(&out, &output, stack.as_deref())?;
            print!("{}", table(&output, stack.as_deref()));
            println!("wrote {}\n", dir.display());
        }
        Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    }
}

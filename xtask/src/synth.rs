//! `cargo xtask synth`: the Brain2 templates of an environment, checked by the policy pack,
//! written to `<out>/<env>/` with a manifest.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use brain2_iac::cfn::Synthesized;
use brain2_iac::config::{ENVIRONMENTS, EnvironmentConfig};
use brain2_iac::policy;
use brain2_iac::stacks::{STACKS, brain2_app};

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
    let templates: Vec<(String, serde_json::Value)> = synthesized
        .stacks
        .iter()
        .map(|s| Ok((s.name.clone(), serde_json::from_str(&s.template)?)))
        .collect::<Result<_>>()?;
    let report = policy::check(environment, &templates);
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

//! The `cargo xtask` subcommands, one module each; `main.rs` only parses and dispatches. What
//! several share (where AWS is, confirmation, Ctrl-C during stack operations) is here.

pub mod bench;
pub mod build;
pub mod codegen;
pub mod dev;
pub mod diff;
pub mod graph_check;
pub mod operate;
pub mod pr_comment;
pub mod schema;
pub mod synth;
pub mod test;
pub mod web;

use std::path::Path;

use anyhow::Result;
use brain2_iac::config::EnvironmentConfig;

use crate::synth::EnvironmentOutput;
use crate::workspace_root;

/// Where AWS is: the standard chain, unless these say otherwise.
#[derive(clap::Args, Debug, Clone)]
pub struct AwsArgs {
    /// A profile from ~/.aws/config.
    #[arg(long)]
    pub profile: Option<String>,
    /// Overrides the environment file's region.
    #[arg(long)]
    pub region: Option<String>,
    /// Send every AWS call here, e.g. a local emulator (also AWS_ENDPOINT_URL).
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The environment's file as this command deploys it: `--region` replaces the region of the
    /// database, compute and api stacks everywhere, the templates included (the site's
    /// Content-Security-Policy names the APIs' region, and its `config.json` the region).
    pub fn config(&self, workspace: &Path, environment: &str) -> Result<EnvironmentConfig> {
        let mut config = EnvironmentConfig::load(workspace, environment)?;
        if let Some(region) = &self.region {
            config.region = region.clone();
            config.validate(Path::new("--region"))?;
        }
        Ok(config)
    }

    /// [`Self::config`], synthesized and checked by the policy pack.
    pub fn synthesize(&self, workspace: &Path, environment: &str) -> Result<(EnvironmentConfig, EnvironmentOutput)> {
        let config = self.config(workspace, environment)?;
        let output = crate::synth::synthesize_config(environment, &config, std::time::Instant::now())?;
        Ok((config, output))
    }

    /// The SDK configuration; the region defaults to the environment file's.
    pub fn connect(&self, runtime: &tokio::runtime::Runtime, environment: &str) -> Result<crate::aws::Aws> {
        let config = self.config(&workspace_root(), environment)?;
        let options = crate::aws::AwsOptions {
            profile: self.profile.clone(),
            region: Some(config.region),
            endpoint_url: self.endpoint_url.clone(),
        };
        Ok(runtime.block_on(crate::aws::Aws::connect(&options)))
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Asks on the terminal; without one, the answer is no (pass --yes).
pub fn ask(question: String) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        eprintln!("{question} no terminal to ask on; pass --yes to proceed without confirmation");
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// Runs `work`; on Ctrl-C stops waiting, puts back any stack policy `--allow-replace` lifted,
/// and says what goes on in CloudFormation.
pub fn until_interrupted<T>(
    runtime: &tokio::runtime::Runtime,
    ctx: &crate::deploy::Context,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<Option<T>> {
    runtime.block_on(async {
        tokio::select! {
            result = work => result.map(Some),
            _ = tokio::signal::ctrl_c() => {
                for (stack, outcome) in ctx.restore_lifted_policies().await {
                    match outcome {
                        Ok(()) => eprintln!("interrupted: the stack policy of {stack} protects its tables and buckets again"),
                        Err(error) => eprintln!(
                            "interrupted: could not put back the stack policy of {stack} ({error:#}); deploy it again without --allow-replace to restore it"
                        ),
                    }
                }
                let stacks = ctx.running();
                if stacks.is_empty() {
                    eprintln!("interrupted: no stack operation was running; nothing was changed half-way");
                }
                for (stack, region) in stacks {
                    eprintln!("{}", crate::aws::events::Interrupted { stack, region });
                }
                Ok(None)
            }
        }
    })
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchTarget {
    /// Synthesis of all three environments in one process.
    Synth,
    /// Each Lambda's start-up, to its first call for an invocation (a local runtime API).
    ColdStart,
    /// Brain2 under `cargo xtask dev`: start-up, create-to-push latency, API throughput, no-op
    /// deploy (the ignored test xtask/tests/dev_bench.rs).
    Dev,
    /// The web client's budgets in headless Chromium: first load, first render, a 2,000-node
    /// graph, pushed changes (the ignored test xtask/tests/browser_bench.rs); then its requests
    /// during 60 s outages and time to converge after them (xtask/tests/browser_faults.rs).
    Web,
    /// `cargo xtask dev` following edits: one-line backend edits to their new answer, client
    /// edits to the reloaded tab, stack edits to their deploy (the ignored test of
    /// xtask/tests/dev_watch.rs); and `deploy --hotswap` of one function against the same change
    /// through a change set, on MiniStack (the ignored test of xtask/tests/deploy_ministack.rs).
    Watch,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Any,
    Destructive,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `deploy --region` moves the APIs, so the site must be allowed to call them there: the
    /// CSP (and everything else synthesized) takes the region the command deploys to.
    #[test]
    fn the_region_flag_reaches_the_site_s_content_security_policy() {
        let args = AwsArgs { profile: None, region: Some("eu-central-1".to_owned()), endpoint_url: None };
        let (config, output) = args.synthesize(&workspace_root(), "dev").unwrap();
        assert_eq!(config.region, "eu-central-1");
        let frontend = &output.synthesized.stack("frontend").unwrap().template;
        assert!(frontend.contains("https://*.execute-api.eu-central-1.amazonaws.com"), "{frontend}");
        assert!(frontend.contains("wss://*.execute-api.eu-central-1.amazonaws.com"));
        assert!(!frontend.contains("execute-api.eu-west-1"), "the file's region is gone");

        let typo = AwsArgs { region: Some("Frankfurt".to_owned()), ..args };
        let error = typo.config(&workspace_root(), "dev").unwrap_err().to_string();
        assert!(error.contains("--region") && error.contains("Frankfurt"), "{error}");
    }
}

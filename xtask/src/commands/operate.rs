//! `cargo xtask bootstrap / deploy / destroy / status / rollback`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::*;
use crate::{build, synth};

#[derive(clap::Args, Debug)]
pub struct BootstrapArgs {
    #[arg(long)]
    pub env: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl BootstrapArgs {
    pub fn run(self, _workspace: &Path) -> Result<ExitCode> {
        let BootstrapArgs { env, aws } = self;
        synth::check_names(&env, None)?;
        let runtime = runtime()?;
        let aws = aws.connect(&runtime, &env)?;
        let bucket = runtime.block_on(crate::operate::bootstrap(&aws, &env))?;
        println!("toolkit ready: assets bucket {} in {}", bucket.name, bucket.region);
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    #[arg(long)]
    pub env: String,
    /// Only these stacks (database, compute, api, frontend); repeatable.
    #[arg(long = "stack", value_name = "NAME")]
    pub stacks: Vec<String>,
    /// Do not ask for confirmation (prod asks before each change).
    #[arg(long)]
    pub yes: bool,
    /// How many independent stacks deploy at the same time.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Allow this table or bucket (logical id) to be replaced or deleted; repeatable.
    #[arg(long = "allow-replace", value_name = "LOGICAL_ID")]
    pub allow_replace: Vec<String>,
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Where only function code changed, put it straight into Lambda (UpdateFunctionCode, a new
    /// version, the `live` alias moved) instead of a change set, and record it so the next
    /// deploy agrees. Dev and staging only (`"hotswap": true` in the environment's file).
    #[arg(long)]
    pub hotswap: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl DeployArgs {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let DeployArgs { env, stacks, yes, concurrency, allow_replace, out, hotswap, aws } = self;
        synth::check_names(&env, None)?;
        for stack in &stacks {
            synth::check_names(&env, Some(stack))?;
        }
        let out = if out.is_absolute() { out } else { workspace.join(out) };
        let (config, output) = aws.synthesize(workspace, &env)?;
        if hotswap && (env == "prod" || !config.hotswap) {
            bail!(
                "--hotswap is refused for {env}: environments/{env}.json has \"hotswap\": false{}; deploy without --hotswap, through change sets",
                if env == "prod" { " (prod never hotswaps)" } else { "; set it to true to allow it" }
            );
        }
        for finding in &output.report.findings {
            eprintln!("policy: {finding}");
        }
        if !output.report.passed() {
            bail!("{} policy finding(s) in {env}; nothing was deployed", output.report.findings.len());
        }
        let runtime = runtime()?;
        let aws = aws.connect(&runtime, &env)?;
        let assets = runtime.block_on(crate::deploy::assets_bucket(&aws, &env))?;
        let arch = match config.lambda.architecture {
            brain2_iac::config::Architecture::Arm64 => build::Arch::Arm64,
            brain2_iac::config::Architecture::X8664 => build::Arch::X8664,
        };
        if workspace.join(&config.frontend.site_dir) == workspace.join(crate::web::DIST_DIR) {
            let (_, built) = crate::web::build_if_changed(workspace)?;
            if !built {
                println!("site: the web client's sources are unchanged; not rebuilding");
            }
        }
        let (packages, built) = build::build_if_changed(workspace, arch)?;
        if !built {
            println!("code: sources unchanged since the last {} build; not rebuilding", arch.name());
        }
        let mut settings = crate::deploy::Settings::new(&env);
        settings.yes = yes;
        settings.concurrency = concurrency;
        settings.allow_replace = allow_replace.into_iter().collect();
        let ctx =
            std::sync::Arc::new(crate::deploy::Context::new(aws, settings, Some(assets), std::sync::Arc::new(ask))?);
        if hotswap {
            let work = crate::deploy::run_hotswap(
                workspace,
                &out,
                ctx.clone(),
                &config,
                &output.synthesized,
                &packages,
                &stacks,
            );
            let Some(report) = until_interrupted(&runtime, &ctx, work)? else {
                return Ok(ExitCode::from(130));
            };
            let change_sets = report.deploy.as_ref().map_or(0, |d| d.change_sets_created);
            println!(
                "hotswapped {env} in {:.1?}: {} function(s) hotswapped, {} stack(s) through change sets ({change_sets} change set(s))",
                report.elapsed,
                report.swapped.len(),
                report.fell_back.len(),
            );
            return Ok(ExitCode::SUCCESS);
        }
        let work = crate::deploy::run(workspace, &out, ctx.clone(), &config, &output.synthesized, &packages, &stacks);
        let Some(report) = until_interrupted(&runtime, &ctx, work)? else {
            return Ok(ExitCode::from(130));
        };
        for (stack, action) in &report.stacks {
            println!("{stack:<28} {}", serde_json::to_value(action)?.as_str().unwrap_or_default());
        }
        println!(
            "deployed {env} in {:.1?}: {} change set(s), {} AWS call(s), zips {} uploaded / {} skipped",
            report.elapsed, report.change_sets_created, report.api_calls, report.zips_uploaded, report.zips_skipped
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args, Debug)]
pub struct DestroyArgs {
    #[arg(long)]
    pub env: String,
    /// Required to destroy prod.
    #[arg(long)]
    pub i_mean_prod: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl DestroyArgs {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let DestroyArgs { env, i_mean_prod, aws } = self;
        synth::check_names(&env, None)?;
        let (_, output) = aws.synthesize(workspace, &env)?;
        let runtime = runtime()?;
        let aws = aws.connect(&runtime, &env)?;
        let ctx = crate::deploy::Context::new(aws, crate::deploy::Settings::new(&env), None, std::sync::Arc::new(ask))?;
        let work = crate::operate::destroy(&ctx, &output.synthesized, i_mean_prod);
        let Some(report) = until_interrupted(&runtime, &ctx, work)? else {
            return Ok(ExitCode::from(130));
        };
        println!(
            "deleted: {}",
            if report.deleted.is_empty() { "nothing".to_owned() } else { report.deleted.join(", ") }
        );
        if !report.retained.is_empty() {
            println!("retained (DeletionPolicy Retain; delete by hand if no longer wanted):");
            for resource in &report.retained {
                println!("  {resource}");
            }
        }
        println!(
            "the toolkit stack brain2-{env}-toolkit and its assets bucket are kept (release history); delete them by hand when retiring the environment"
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(long)]
    pub env: String,
    #[arg(long)]
    pub drift: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl StatusArgs {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let StatusArgs { env, drift, aws } = self;
        synth::check_names(&env, None)?;
        let (_, output) = aws.synthesize(workspace, &env)?;
        let runtime = runtime()?;
        let aws = aws.connect(&runtime, &env)?;
        runtime.block_on(crate::operate::status(&aws, &output.synthesized, drift))?;
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    #[arg(long)]
    pub env: String,
    /// The release id to go back to (default: the one before the latest).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl RollbackArgs {
    pub fn run(self, _workspace: &Path) -> Result<ExitCode> {
        let RollbackArgs { env, to, yes, aws } = self;
        synth::check_names(&env, None)?;
        let runtime = runtime()?;
        let aws = aws.connect(&runtime, &env)?;
        let assets = runtime.block_on(crate::deploy::assets_bucket(&aws, &env))?;
        let mut settings = crate::deploy::Settings::new(&env);
        settings.yes = yes;
        let ctx =
            std::sync::Arc::new(crate::deploy::Context::new(aws, settings, Some(assets), std::sync::Arc::new(ask))?);
        let work = crate::deploy::release::rollback(ctx.clone(), to.as_deref());
        let Some(release) = until_interrupted(&runtime, &ctx, work)? else {
            return Ok(ExitCode::from(130));
        };
        println!("rolled back: recorded as release {}", release.id);
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    #[arg(long)]
    pub env: String,
    /// The moment to go back to, RFC 3339 in UTC (2026-12-04T10:15:00Z).
    #[arg(long)]
    pub to: String,
    /// The table's logical id.
    #[arg(long, default_value = crate::restore::MEMORY_TABLE)]
    pub table: String,
    /// Do not ask; required for prod.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl RestoreArgs {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let RestoreArgs { env, to, table, yes, aws } = self;
        synth::check_names(&env, None)?;
        let to = crate::restore::parse_time(&to)?;
        let (_, output) = aws.synthesize(workspace, &env)?;
        let runtime = runtime()?;
        let aws = aws.connect(&runtime, &env)?;
        // Large templates (compute's) go through the assets bucket, as deploy's do.
        let assets = Some(runtime.block_on(crate::deploy::assets_bucket(&aws, &env))?);
        let mut settings = crate::deploy::Settings::new(&env);
        settings.yes = yes;
        let ctx = crate::deploy::Context::new(aws, settings, assets, std::sync::Arc::new(ask))?;
        let work = crate::restore::restore(&ctx, &output.synthesized, &table, &to, yes);
        let Some(restored) = until_interrupted(&runtime, &ctx, work)? else {
            return Ok(ExitCode::from(130));
        };
        println!("restored: {} of {} is now {}", restored.logical_id, restored.stack, restored.table);
        if !restored.retargeted.is_empty() {
            println!("switched to it: {}", restored.retargeted.join(", "));
        }
        println!(
            "kept: {} (tagged brain2:replaced-by). Delete it once the restore is checked: turn off its deletion \
             protection, then `aws dynamodb delete-table --table-name {}`",
            restored.replaced, restored.replaced
        );
        Ok(ExitCode::SUCCESS)
    }
}

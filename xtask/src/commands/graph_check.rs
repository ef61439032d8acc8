//! `cargo xtask graph-check`: the `fsck` of Brain2. Checks the graph's invariants (ARCHITECTURE.md)
//! for one user or every user of an environment's MemoryTable, reports each violation, and with
//! `--repair` mends them. The checks and repairs are `brain2_shared::check`, the code the stress
//! test runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use brain2_shared::check::{self, UserReport};
use brain2_shared::domain::UserId;
use brain2_shared::memory::MemoryStore;

use super::*;

/// Exit code when violations remain (found without `--repair`, or left after it).
pub const VIOLATIONS_EXIT: u8 = 3;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long)]
    pub env: String,
    /// Check only this user (their `sub`, a UUID): one Query. Without it every user is checked,
    /// found by a rate-limited Scan.
    #[arg(long)]
    pub user: Option<String>,
    /// Mend what is found (idempotent; safe beside the running functions).
    #[arg(long)]
    pub repair: bool,
    /// The data of a running `cargo xtask dev --env <env>` instead of AWS.
    #[arg(long)]
    pub local: bool,
    /// `cargo xtask dev`'s data folder, with --local [default: the one dev uses for --env].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Scan pages per second when checking every user.
    #[arg(long, default_value_t = 5.0)]
    pub scan_rate: f64,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        crate::synth::check_names(&self.env, None)?;
        let user = match &self.user {
            None => None,
            Some(text) => Some(UserId(
                uuid::Uuid::parse_str(text).with_context(|| format!("--user {text:?} is not a UUID (a user's sub)"))?,
            )),
        };
        let config = brain2_iac::config::EnvironmentConfig::load(workspace, &self.env)?;
        let max_edges = usize::try_from(config.connections.max_edges_per_node)?;
        let runtime = runtime()?;
        let aws = if self.local {
            let data = self.data.clone().unwrap_or_else(|| crate::dev::default_data_folder(&self.env));
            let data = if data.is_absolute() { data } else { workspace.join(data) };
            let running = crate::dev::Running::read(&data).with_context(|| {
                format!(
                    "no running `cargo xtask dev --env {}` found in {}; start it, or pass its --data folder",
                    self.env,
                    data.display()
                )
            })?;
            if running.environment != self.env {
                bail!(
                    "the `cargo xtask dev` in {} runs {}, not {}; pass --env {}",
                    data.display(),
                    running.environment,
                    self.env,
                    running.environment
                );
            }
            runtime.block_on(running.aws())?
        } else {
            self.aws.connect(&runtime, &self.env)?
        };
        let reports = runtime.block_on(async {
            let store = memory_store(&aws, workspace, &self.env).await?;
            let users = match user {
                Some(user) => vec![user],
                None => check::users(&store, 1_000, self.scan_rate).await?,
            };
            let mut reports = Vec::with_capacity(users.len());
            for user in users {
                let now = time::OffsetDateTime::now_utc();
                let report = check::check_user(&store, user, max_edges, self.repair, now).await?;
                print_report(&report, self.repair);
                reports.push(report);
            }
            anyhow::Ok(reports)
        })?;
        let found: usize = reports.iter().map(|r| r.found.len()).sum();
        let remaining: usize = reports.iter().map(|r| r.remaining.len()).sum();
        let nodes: usize = reports.iter().map(|r| r.nodes).sum();
        let edges: usize = reports.iter().map(|r| r.edges).sum();
        println!(
            "graph-check {}: {} users, {nodes} nodes, {edges} edge items; {found} violations found{}",
            self.env,
            reports.len(),
            if self.repair { format!(", {remaining} left after repair") } else { String::new() }
        );
        if remaining > 0 {
            if !self.repair {
                eprintln!("run again with --repair to mend them");
            }
            return Ok(ExitCode::from(VIOLATIONS_EXIT));
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_report(report: &UserReport, repaired: bool) {
    let user = report.user.map(|u| u.to_string()).unwrap_or_default();
    if report.found.is_empty() {
        println!("user {user}: ok ({} nodes, {} edge items, {} postings)", report.nodes, report.edges, report.postings);
        return;
    }
    println!("user {user}: {} violations", report.found.len());
    for violation in &report.found {
        let mended = repaired && !report.remaining.contains(violation);
        println!("  {violation}{}", if mended { " (mended)" } else { "" });
    }
}

/// The environment's MemoryTable, named by the database stack's output.
pub async fn memory_store(aws: &crate::aws::Aws, workspace: &Path, environment: &str) -> Result<MemoryStore> {
    let output = crate::synth::synthesize(workspace, environment)?;
    let stack =
        output.synthesized.stack("database").with_context(|| format!("the {environment} app has no database stack"))?;
    let deployed = crate::aws::stack::describe(&aws.cloudformation(stack.region.as_deref()), &stack.name)
        .await?
        .with_context(|| {
            format!("stack {} is not deployed; deploy it first (cargo xtask deploy --env {environment})", stack.name)
        })?;
    let table = deployed
        .output("ExportMemoryTableRef")
        .with_context(|| format!("stack {} has no ExportMemoryTableRef output", stack.name))?;
    Ok(MemoryStore::new(aws.dynamodb(), table, brain2_stacks::database::KEYWORD_INDEX))
}

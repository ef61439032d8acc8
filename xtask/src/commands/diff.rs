//! `cargo xtask diff`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::*;
use crate::synth;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long)]
    pub env: String,
    /// `deployed`, or the git revision to compare with (a branch, tag or commit).
    #[arg(long, default_value = "HEAD")]
    pub against: String,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Which changes make the command fail.
    #[arg(long, value_enum, default_value_t = FailOn::Destructive)]
    pub fail_on: FailOn,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { env, against, aws, format, fail_on } = self;
        synth::check_names(&env, None)?;
        // `--region` moves the deployed stacks; a git revision is compared as its file says.
        let current = if against == "deployed" {
            aws.synthesize(workspace, &env)?.1
        } else {
            synth::synthesize(workspace, &env)?
        };
        let new = current
            .synthesized
            .stacks
            .iter()
            .map(|s| Ok((s.name.clone(), serde_json::from_str(&s.template)?)))
            .collect::<Result<std::collections::BTreeMap<_, _>>>()?;
        let report = if against == "deployed" {
            let runtime = runtime()?;
            let aws = aws.connect(&runtime, &env)?;
            let stacks = &current.synthesized.stacks;
            runtime.block_on(async {
                let old = crate::diff::deployed_templates(&aws, stacks).await?;
                let mut report = crate::diff::compare(&env, "deployed", &old, &new);
                for stack in crate::diff::confirm_with_change_sets(&aws, &current.synthesized, &mut report).await? {
                    eprintln!("note: replacements in {stack} come from the schemas only");
                }
                anyhow::Ok(report)
            })?
        } else {
            let base_dir = crate::diff::synthesize_at(workspace, &against, &env)?;
            let old = crate::diff::read_templates(&base_dir)?;
            crate::diff::compare(&env, &against, &old, &new)
        };
        match format {
            DiffFormat::Text => print!("{}", crate::diff::text(&report)),
            DiffFormat::Markdown => print!("{}", crate::diff::markdown(workspace, &report)?),
            DiffFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        }
        Ok(ExitCode::from(report.exit_code(fail_on == FailOn::Any)))
    }
}

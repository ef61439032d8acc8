//! `cargo xtask pr-comment`: puts an environment's template diff in its own comment on a pull
//! request, editing the one an earlier run made (see `crate::github`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::github::{Github, Posted};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The environment whose diff this is (each has its own comment).
    #[arg(long)]
    pub env: String,
    /// The pull request's number.
    #[arg(long)]
    pub pull_request: u64,
    /// The comment's text, e.g. `cargo xtask diff --format markdown`'s output.
    #[arg(long)]
    pub body_file: PathBuf,
    /// owner/name; GITHUB_REPOSITORY by default, as GitHub Actions sets it.
    #[arg(long)]
    pub repository: Option<String>,
    /// The REST API's address; GITHUB_API_URL by default (GitHub Actions sets it), else
    /// https://api.github.com.
    #[arg(long)]
    pub api_url: Option<String>,
}

fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { env, pull_request, body_file, repository, api_url } = self;
        crate::synth::check_names(&env, None)?;
        let repository = repository
            .or_else(|| from_env("GITHUB_REPOSITORY"))
            .context("no repository: pass --repository owner/name or set GITHUB_REPOSITORY")?;
        let api_url =
            api_url.or_else(|| from_env("GITHUB_API_URL")).unwrap_or_else(|| "https://api.github.com".to_owned());
        let token = from_env("GITHUB_TOKEN")
            .or_else(|| from_env("GH_TOKEN"))
            .context("GITHUB_TOKEN is not set: the workflow passes its token (`pull-requests: write`) in it")?;
        let path = if body_file.is_absolute() { body_file } else { workspace.join(body_file) };
        let diff = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let github = Github::new(&api_url, &repository, &token)?;
        let posted = super::runtime()?.block_on(github.post_diff(pull_request, &env, &diff))?;
        match posted {
            Posted::Created(id) => println!("{env}: comment {id} created on {repository}#{pull_request}"),
            Posted::Updated(id) => println!("{env}: comment {id} updated on {repository}#{pull_request}"),
        }
        Ok(ExitCode::SUCCESS)
    }
}

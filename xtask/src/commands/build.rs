//! `cargo xtask build`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::build;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Take the architecture from this environment's file.
    #[arg(long, conflicts_with = "arch")]
    pub env: Option<String>,
    /// arm64 (the default) or x86_64.
    #[arg(long)]
    pub arch: Option<String>,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { env, arch } = self;
        let arch = match (env, arch) {
            (Some(environment), _) => {
                let config = brain2_iac::config::EnvironmentConfig::load(workspace, &environment)?;
                match config.lambda.architecture {
                    brain2_iac::config::Architecture::Arm64 => build::Arch::Arm64,
                    brain2_iac::config::Architecture::X8664 => build::Arch::X8664,
                }
            }
            (None, Some(arch)) => build::Arch::parse(&arch)?,
            (None, None) => build::Arch::Arm64,
        };
        let started = std::time::Instant::now();
        let packages = build::build(workspace, arch)?;
        println!("{:<16} {:>12} {:>12}  {:<8} sha256", "function", "bootstrap", "zip", "glibc");
        for p in &packages {
            let glibc = p.glibc.map(|(a, b)| format!("{a}.{b}")).unwrap_or_else(|| "static".into());
            println!("{:<16} {:>12} {:>12}  {:<8} {}", p.function, p.bootstrap_bytes, p.bytes, glibc, p.sha256_hex);
        }
        println!("built {} functions for {} in {:.0?}", packages.len(), arch.name(), started.elapsed());
        let (dist, built) = crate::web::build_if_changed(workspace)?;
        println!("web client: {} {}", dist.display(), if built { "built" } else { "unchanged since the last build" });
        Ok(ExitCode::SUCCESS)
    }
}

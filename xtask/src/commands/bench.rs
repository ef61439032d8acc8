//! `cargo xtask bench`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::*;
use crate::synth;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to measure.
    #[arg(value_enum, default_value_t = BenchTarget::Synth)]
    pub what: BenchTarget,
    /// How many rounds.
    #[arg(long, default_value_t = 50)]
    pub rounds: usize,
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        match self {
            Args { what: BenchTarget::ColdStart, rounds } => {
                if rounds == 0 {
                    bail!("--rounds must be at least 1");
                }
                let results = crate::coldstart::measure(workspace, rounds)?;
                let baseline = &results[0];
                let ms = |d: std::time::Duration| format!("{:.2} ms", d.as_secs_f64() * 1_000.0);
                println!("{:<20} {:>10} {:>10} {:>10} {:>12}", "function", "median", "min", "max", "× baseline");
                for result in &results {
                    println!(
                        "{:<20} {:>10} {:>10} {:>10} {:>12}",
                        result.function,
                        ms(result.median),
                        ms(result.min),
                        ms(result.max),
                        format!("{:.2}", result.ratio(baseline))
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Args { what: what @ (BenchTarget::Dev | BenchTarget::Web | BenchTarget::Watch), .. } => {
                crate::pytools::ensure_emulator(workspace)?;
                // The web client's budgets, then its figures under faults (60 s outages).
                let tests: &[&str] = match what {
                    BenchTarget::Web => {
                        crate::chromium::ensure()?;
                        crate::web::build_if_changed(workspace)?;
                        &["--test", "browser_bench", "--test", "browser_faults"]
                    }
                    BenchTarget::Watch => {
                        crate::chromium::ensure()?;
                        &["--test", "dev_watch", "--test", "deploy_ministack"]
                    }
                    _ => &["--test", "dev_bench"],
                };
                let status = crate::cargo(workspace)
                    .args(["test", "--workspace", "--exclude", "brain2-web"])
                    .args(tests)
                    .args(["--", "--ignored", "--nocapture"])
                    .status()
                    .context("running the dev benchmarks")?;
                Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
            }
            Args { what: BenchTarget::Synth, rounds } => {
                if rounds == 0 {
                    bail!("--rounds must be at least 1");
                }
                let mut times = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    let started = std::time::Instant::now();
                    for environment in brain2_iac::config::ENVIRONMENTS {
                        let output = synth::synthesize(workspace, environment)?;
                        if !output.report.passed() {
                            bail!("{environment} fails the policy pack; run `cargo xtask synth --env {environment}`");
                        }
                    }
                    times.push(started.elapsed());
                }
                times.sort();
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1_000.0;
                println!(
                    "synth of dev, staging and prod in one process, {rounds} rounds: min {:.1} ms, median {:.1} ms, max {:.1} ms",
                    ms(times[0]),
                    ms(times[rounds / 2]),
                    ms(times[rounds - 1])
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

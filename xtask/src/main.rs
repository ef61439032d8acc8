use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use xtask::{build, codegen, pytools, synth, workspace_root};

/// Brain2's build, synth and deploy tool.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Regenerate brain2-iac/src/aws from the CloudFormation schemas in brain2-iac/schemas.
    Codegen {
        /// Write nothing; fail if the checked-in code differs from what codegen would write.
        #[arg(long)]
        check: bool,
        /// Copy the schema of these types (AWS::Service::Resource) from the pinned cfn-lint first.
        #[arg(long, value_name = "TYPE")]
        vendor: Vec<String>,
        /// Refresh every vendored schema from the pinned cfn-lint first.
        #[arg(long, conflicts_with = "vendor")]
        vendor_all: bool,
    },
    /// Synthesize an environment's templates, check them with the policy pack, and write them
    /// with a manifest to <out>/<env>/.
    Synth {
        /// dev, staging or prod; `all` for the three.
        #[arg(long)]
        env: String,
        /// Only this stack: database, compute, api or frontend.
        #[arg(long)]
        stack: Option<String>,
        /// The output folder (ignored by git).
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// How to report policy findings: text on stderr, or also SARIF in <out>/<env>/policy.sarif.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Build the six Lambdas into deterministic bootstrap zips named by their sha256, under
    /// target/lambda/<arch>/zips, with a manifest for deploy.
    Build {
        /// Take the architecture from this environment's file.
        #[arg(long, conflicts_with = "arch")]
        env: Option<String>,
        /// arm64 (the default) or x86_64.
        #[arg(long)]
        arch: Option<String>,
    },
    /// Show what a change does to an environment's templates, against a git revision (no AWS
    /// needed). Exit codes: 0 nothing at the --fail-on threshold, 2 changes (with --fail-on any),
    /// 3 destructive changes (a table or bucket replaced or removed), 1 error.
    Diff {
        #[arg(long)]
        env: String,
        /// The git revision to compare with (a branch, tag or commit).
        #[arg(long, default_value = "HEAD")]
        against: String,
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Which changes make the command fail.
        #[arg(long, value_enum, default_value_t = FailOn::Destructive)]
        fail_on: FailOn,
    },
    /// Regenerate environments/schema.json from the Rust configuration types.
    Schema {
        /// Write nothing; fail if the schema is out of date.
        #[arg(long)]
        check: bool,
    },
    /// Measure synthesis (all three environments in one process) or the Lambdas' start-up to
    /// their first call for an invocation; prints min, median and max. Compilation is excluded.
    Bench {
        /// What to measure.
        #[arg(value_enum, default_value_t = BenchTarget::Synth)]
        what: BenchTarget,
        /// How many rounds.
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// Install the pinned Python test tools (cfn-lint, moto) into target/py-tools.
    PyTools,
    /// Run the whole test suite: installs the pinned Python tools, then `cargo test --workspace`.
    Test {
        /// Extra arguments for `cargo test` (after `--`).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchTarget {
    /// Synthesis of all three environments in one process.
    Synth,
    /// Each Lambda's start-up, to its first call for an invocation (a local runtime API).
    ColdStart,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    Any,
    Destructive,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Sarif,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let workspace = workspace_root();
    match cli.command {
        Cmd::Codegen { check, vendor, vendor_all } => {
            if vendor_all || !vendor.is_empty() {
                let data = pytools::cfn_lint_data(&workspace)?;
                let types = if vendor_all {
                    codegen::schema_files(&workspace)?
                        .iter()
                        .map(|path| {
                            let text = std::fs::read_to_string(path)?;
                            let schema: serde_json::Value = serde_json::from_str(&text)?;
                            schema["typeName"].as_str().map(str::to_owned).context("schema without typeName")
                        })
                        .collect::<Result<Vec<_>>>()?
                } else {
                    vendor
                };
                for path in codegen::vendor(&workspace, &data, &types)? {
                    eprintln!("vendored {}", path.display());
                }
            }
            if check {
                let stale = codegen::out_of_date(&workspace)?;
                if !stale.is_empty() {
                    for path in &stale {
                        eprintln!("out of date: {}", path.display());
                    }
                    bail!("generated code is out of date; run `cargo xtask codegen` and commit the result");
                }
                eprintln!("generated code is up to date");
            } else {
                let started = std::time::Instant::now();
                let (written, removed) = codegen::write(&workspace)?;
                eprintln!(
                    "codegen: {} schemas, {written} files written, {removed} removed, in {:.0?}",
                    codegen::schema_files(&workspace)?.len(),
                    started.elapsed()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Synth { env, stack, out, format } => {
            let environments: Vec<&str> =
                if env == "all" { brain2_iac::config::ENVIRONMENTS.to_vec() } else { vec![env.as_str()] };
            let out = if out.is_absolute() { out } else { workspace.join(out) };
            let mut failed = false;
            for environment in environments {
                synth::check_names(environment, stack.as_deref())?;
                let output = synth::synthesize(&workspace, environment)?;
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
        Cmd::Build { env, arch } => {
            let arch = match (env, arch) {
                (Some(environment), _) => {
                    let config = brain2_iac::config::EnvironmentConfig::load(&workspace, &environment)?;
                    match config.lambda.architecture {
                        brain2_iac::config::Architecture::Arm64 => build::Arch::Arm64,
                        brain2_iac::config::Architecture::X8664 => build::Arch::X8664,
                    }
                }
                (None, Some(arch)) => build::Arch::parse(&arch)?,
                (None, None) => build::Arch::Arm64,
            };
            let started = std::time::Instant::now();
            let packages = build::build(&workspace, arch)?;
            println!("{:<16} {:>12} {:>12}  {:<8} sha256", "function", "bootstrap", "zip", "glibc");
            for p in &packages {
                let glibc = p.glibc.map(|(a, b)| format!("{a}.{b}")).unwrap_or_else(|| "static".into());
                println!("{:<16} {:>12} {:>12}  {:<8} {}", p.function, p.bootstrap_bytes, p.bytes, glibc, p.sha256_hex);
            }
            println!("built {} functions for {} in {:.0?}", packages.len(), arch.name(), started.elapsed());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Diff { env, against, format, fail_on } => {
            synth::check_names(&env, None)?;
            let base_dir = xtask::diff::synthesize_at(&workspace, &against, &env)?;
            let old = xtask::diff::read_templates(&base_dir)?;
            let current = synth::synthesize(&workspace, &env)?;
            let new = current
                .synthesized
                .stacks
                .iter()
                .map(|s| Ok((s.name.clone(), serde_json::from_str(&s.template)?)))
                .collect::<Result<std::collections::BTreeMap<_, _>>>()?;
            let report = xtask::diff::compare(&env, &against, &old, &new);
            match format {
                DiffFormat::Text => print!("{}", xtask::diff::text(&report)),
                DiffFormat::Markdown => print!("{}", xtask::diff::markdown(&workspace, &report)?),
                DiffFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
            Ok(ExitCode::from(report.exit_code(fail_on == FailOn::Any)))
        }
        Cmd::Schema { check } => {
            let path = workspace.join("environments/schema.json");
            let schema = brain2_iac::config::EnvironmentConfig::json_schema();
            if check {
                if std::fs::read_to_string(&path).ok().as_deref() != Some(schema.as_str()) {
                    bail!("{} is out of date; run `cargo xtask schema` and commit it", path.display());
                }
                eprintln!("{} is up to date", path.display());
            } else {
                std::fs::write(&path, schema)?;
                eprintln!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchTarget::ColdStart, rounds } => {
            if rounds == 0 {
                bail!("--rounds must be at least 1");
            }
            println!("{:<16} {:>10} {:>10} {:>10}", "function", "median", "min", "max");
            for (function, median, min, max) in xtask::coldstart::measure(&workspace, rounds)? {
                let ms = |d: std::time::Duration| format!("{:.2} ms", d.as_secs_f64() * 1_000.0);
                println!("{function:<16} {:>10} {:>10} {:>10}", ms(median), ms(min), ms(max));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchTarget::Synth, rounds } => {
            if rounds == 0 {
                bail!("--rounds must be at least 1");
            }
            let mut times = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let started = std::time::Instant::now();
                for environment in brain2_iac::config::ENVIRONMENTS {
                    let output = synth::synthesize(&workspace, environment)?;
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
        Cmd::PyTools => {
            let venv = pytools::ensure(&workspace)?;
            eprintln!("Python tools ready in {}", venv.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test { cargo_args } => {
            pytools::ensure(&workspace)?;
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
                .current_dir(&workspace)
                .args(["test", "--workspace"])
                .args(&cargo_args)
                .status()
                .context("running cargo test")?;
            Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

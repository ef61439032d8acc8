use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Run the whole Brain2 on this machine: the four stacks deployed to a local AWS emulator
    /// (MiniStack), a local sign-in, and the web client, until Ctrl-C.
    Dev {
        /// The site's port (web client, sign-in, config.json); the emulator takes the next one.
        #[arg(long, default_value_t = 8600)]
        port: u16,
        /// Where memories, users and the emulator's state are kept between runs.
        #[arg(long, default_value = "target/dev-data")]
        data: PathBuf,
        /// Start from empty data (deletes what the data folder holds).
        #[arg(long)]
        fresh: bool,
        /// Print less: no deploy progress, only failed invocations from the functions' logs.
        #[arg(long)]
        quiet: bool,
    },
    /// Build the web client (web/) into target/web/dist: wasm32 release build, wasm-bindgen,
    /// content-hashed assets. Skipped when its sources are unchanged.
    Web {
        /// Build even when the sources are unchanged.
        #[arg(long)]
        force: bool,
    },
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
    /// needed) or the deployed stacks. Exit codes: 0 nothing at the --fail-on threshold,
    /// 2 changes (with --fail-on any), 3 destructive changes (a table or bucket replaced or
    /// removed), 1 error.
    Diff {
        #[arg(long)]
        env: String,
        /// `deployed`, or the git revision to compare with (a branch, tag or commit).
        #[arg(long, default_value = "HEAD")]
        against: String,
        #[command(flatten)]
        aws: AwsArgs,
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Which changes make the command fail.
        #[arg(long, value_enum, default_value_t = FailOn::Destructive)]
        fail_on: FailOn,
    },
    /// Create or update the toolkit stack brain2-<env>-toolkit: the assets bucket deploy needs.
    Bootstrap {
        #[arg(long)]
        env: String,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Build (when sources changed), upload, and deploy an environment's stacks in dependency
    /// order; unchanged stacks are skipped without a change set.
    Deploy {
        #[arg(long)]
        env: String,
        /// Only these stacks (database, compute, api, frontend); repeatable.
        #[arg(long = "stack", value_name = "NAME")]
        stacks: Vec<String>,
        /// Do not ask for confirmation (prod asks before each change).
        #[arg(long)]
        yes: bool,
        /// How many independent stacks deploy at the same time.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Allow this table or bucket (logical id) to be replaced or deleted; repeatable.
        #[arg(long = "allow-replace", value_name = "LOGICAL_ID")]
        allow_replace: Vec<String>,
        #[arg(long, default_value = "out")]
        out: PathBuf,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Delete an environment's stacks, dependents first, emptying buckets marked Delete.
    Destroy {
        #[arg(long)]
        env: String,
        /// Required to destroy prod.
        #[arg(long)]
        i_mean_prod: bool,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Each stack's status, last update and outputs; --drift also runs drift detection.
    Status {
        #[arg(long)]
        env: String,
        #[arg(long)]
        drift: bool,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Put a previous release's function code back, through a change set, without rebuilding.
    Rollback {
        #[arg(long)]
        env: String,
        /// The release id to go back to (default: the one before the latest).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        aws: AwsArgs,
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
    /// Run the whole test suite: installs the pinned Python tools, MiniStack and Chromium, builds
    /// the web client, then `cargo test --workspace`.
    Test {
        /// Extra arguments for `cargo test` (after `--`).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
}

/// Where AWS is: the standard chain, unless these say otherwise.
#[derive(clap::Args, Debug, Clone)]
struct AwsArgs {
    /// A profile from ~/.aws/config.
    #[arg(long)]
    profile: Option<String>,
    /// Overrides the environment file's region.
    #[arg(long)]
    region: Option<String>,
    /// Send every AWS call here, e.g. a local emulator (also AWS_ENDPOINT_URL).
    #[arg(long)]
    endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The SDK configuration; the region defaults to the environment file's.
    fn connect(&self, runtime: &tokio::runtime::Runtime, environment: &str) -> Result<xtask::aws::Aws> {
        let config = brain2_iac::config::EnvironmentConfig::load(&workspace_root(), environment)?;
        let options = xtask::aws::AwsOptions {
            profile: self.profile.clone(),
            region: Some(self.region.clone().unwrap_or(config.region)),
            endpoint_url: self.endpoint_url.clone(),
        };
        Ok(runtime.block_on(xtask::aws::Aws::connect(&options)))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Asks on the terminal; without one, the answer is no (pass --yes).
fn ask(question: String) -> bool {
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

/// Runs `work`; on Ctrl-C stops waiting and says what goes on in CloudFormation.
fn until_interrupted<T>(
    runtime: &tokio::runtime::Runtime,
    running: impl Fn() -> std::collections::BTreeMap<String, String>,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<Option<T>> {
    runtime.block_on(async {
        tokio::select! {
            result = work => result.map(Some),
            _ = tokio::signal::ctrl_c() => {
                let stacks = running();
                if stacks.is_empty() {
                    eprintln!("interrupted: no stack operation was running; nothing was changed half-way");
                }
                for (stack, region) in stacks {
                    eprintln!("{}", xtask::aws::events::Interrupted { stack, region });
                }
                Ok(None)
            }
        }
    })
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchTarget {
    /// Synthesis of all three environments in one process.
    Synth,
    /// Each Lambda's start-up, to its first call for an invocation (a local runtime API).
    ColdStart,
    /// Brain2 under `cargo xtask dev`: start-up, create-to-push latency, API throughput, no-op
    /// deploy (the ignored test xtask/tests/dev_bench.rs).
    Dev,
    /// The web client's budgets in headless Chromium: first load, first render, a 2,000-node
    /// graph, pushed changes (the ignored test xtask/tests/browser_bench.rs).
    Web,
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
        Cmd::Web { force } => {
            let started = std::time::Instant::now();
            let (dist, built) =
                if force { (xtask::web::build(&workspace)?, true) } else { xtask::web::build_if_changed(&workspace)? };
            for (file, bytes) in xtask::web::summary(&dist)? {
                println!("{file:<48} {bytes:>10}");
            }
            if built {
                println!("built the web client into {} in {:.1?}", dist.display(), started.elapsed());
            } else {
                println!("the web client's sources are unchanged; {} is current", dist.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Dev { port, data, fresh, quiet } => {
            xtask::dev::run(&workspace, &xtask::dev::Options { port, data, fresh, quiet })?;
            Ok(ExitCode::SUCCESS)
        }
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
            let (dist, built) = xtask::web::build_if_changed(&workspace)?;
            println!(
                "web client: {} {}",
                dist.display(),
                if built { "built" } else { "unchanged since the last build" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Diff { env, against, format, fail_on, aws } => {
            synth::check_names(&env, None)?;
            let current = synth::synthesize(&workspace, &env)?;
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
                    let old = xtask::diff::deployed_templates(&aws, stacks).await?;
                    let mut report = xtask::diff::compare(&env, "deployed", &old, &new);
                    for stack in xtask::diff::confirm_with_change_sets(&aws, stacks, &mut report).await? {
                        eprintln!("note: replacements in {stack} come from the schemas only");
                    }
                    anyhow::Ok(report)
                })?
            } else {
                let base_dir = xtask::diff::synthesize_at(&workspace, &against, &env)?;
                let old = xtask::diff::read_templates(&base_dir)?;
                xtask::diff::compare(&env, &against, &old, &new)
            };
            match format {
                DiffFormat::Text => print!("{}", xtask::diff::text(&report)),
                DiffFormat::Markdown => print!("{}", xtask::diff::markdown(&workspace, &report)?),
                DiffFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
            Ok(ExitCode::from(report.exit_code(fail_on == FailOn::Any)))
        }
        Cmd::Bootstrap { env, aws } => {
            synth::check_names(&env, None)?;
            let runtime = runtime()?;
            let aws = aws.connect(&runtime, &env)?;
            let bucket = runtime.block_on(xtask::operate::bootstrap(&aws, &env))?;
            println!("toolkit ready: assets bucket {} in {}", bucket.name, bucket.region);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Deploy { env, stacks, yes, concurrency, allow_replace, out, aws } => {
            synth::check_names(&env, None)?;
            for stack in &stacks {
                synth::check_names(&env, Some(stack))?;
            }
            let out = if out.is_absolute() { out } else { workspace.join(out) };
            let output = synth::synthesize(&workspace, &env)?;
            for finding in &output.report.findings {
                eprintln!("policy: {finding}");
            }
            if !output.report.passed() {
                bail!("{} policy finding(s) in {env}; nothing was deployed", output.report.findings.len());
            }
            let runtime = runtime()?;
            let aws = aws.connect(&runtime, &env)?;
            let assets = runtime.block_on(xtask::deploy::assets_bucket(&aws, &env))?;
            let config = brain2_iac::config::EnvironmentConfig::load(&workspace, &env)?;
            let arch = match config.lambda.architecture {
                brain2_iac::config::Architecture::Arm64 => build::Arch::Arm64,
                brain2_iac::config::Architecture::X8664 => build::Arch::X8664,
            };
            if workspace.join(&config.frontend.site_dir) == workspace.join(xtask::web::DIST_DIR) {
                let (_, built) = xtask::web::build_if_changed(&workspace)?;
                if !built {
                    println!("site: the web client's sources are unchanged; not rebuilding");
                }
            }
            let (packages, built) = build::build_if_changed(&workspace, arch)?;
            if !built {
                println!("code: sources unchanged since the last {} build; not rebuilding", arch.name());
            }
            let mut settings = xtask::deploy::Settings::new(&env);
            settings.yes = yes;
            settings.concurrency = concurrency;
            settings.allow_replace = allow_replace.into_iter().collect();
            let ctx = std::sync::Arc::new(xtask::deploy::Context::new(
                aws,
                settings,
                Some(assets),
                std::sync::Arc::new(ask),
            )?);
            let work =
                xtask::deploy::run(&workspace, &out, ctx.clone(), &config, &output.synthesized, &packages, &stacks);
            let Some(report) = until_interrupted(&runtime, || ctx.running(), work)? else {
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
        Cmd::Destroy { env, i_mean_prod, aws } => {
            synth::check_names(&env, None)?;
            let output = synth::synthesize(&workspace, &env)?;
            let runtime = runtime()?;
            let aws = aws.connect(&runtime, &env)?;
            let ctx =
                xtask::deploy::Context::new(aws, xtask::deploy::Settings::new(&env), None, std::sync::Arc::new(ask))?;
            let work = xtask::operate::destroy(&ctx, &output.synthesized, i_mean_prod);
            let Some(report) = until_interrupted(&runtime, || ctx.running(), work)? else {
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
        Cmd::Status { env, drift, aws } => {
            synth::check_names(&env, None)?;
            let output = synth::synthesize(&workspace, &env)?;
            let runtime = runtime()?;
            let aws = aws.connect(&runtime, &env)?;
            runtime.block_on(xtask::operate::status(&aws, &output.synthesized, drift))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Rollback { env, to, yes, aws } => {
            synth::check_names(&env, None)?;
            let runtime = runtime()?;
            let aws = aws.connect(&runtime, &env)?;
            let assets = runtime.block_on(xtask::deploy::assets_bucket(&aws, &env))?;
            let mut settings = xtask::deploy::Settings::new(&env);
            settings.yes = yes;
            let ctx = std::sync::Arc::new(xtask::deploy::Context::new(
                aws,
                settings,
                Some(assets),
                std::sync::Arc::new(ask),
            )?);
            let work = xtask::deploy::release::rollback(ctx.clone(), to.as_deref());
            let Some(release) = until_interrupted(&runtime, || ctx.running(), work)? else {
                return Ok(ExitCode::from(130));
            };
            println!("rolled back: recorded as release {}", release.id);
            Ok(ExitCode::SUCCESS)
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
        Cmd::Bench { what: what @ (BenchTarget::Dev | BenchTarget::Web), .. } => {
            xtask::pytools::ensure_emulator(&workspace)?;
            let test = if let BenchTarget::Web = what {
                xtask::chromium::ensure()?;
                xtask::web::build_if_changed(&workspace)?;
                "browser_bench"
            } else {
                "dev_bench"
            };
            let status = xtask::cargo(&workspace)
                .args(["test", "--package", "xtask", "--test", test, "--", "--ignored", "--nocapture"])
                .status()
                .context("running the dev benchmarks")?;
            Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
            pytools::ensure_emulator(&workspace)?;
            xtask::chromium::ensure()?;
            // The browser test serves the built client; build it once here, not inside a test.
            xtask::web::build_if_changed(&workspace)?;
            let status = xtask::cargo(&workspace)
                // The web client is a wasm32 crate: CI lints it for its own target.
                .args(["test", "--workspace", "--exclude", "brain2-web"])
                .args(&cargo_args)
                .status()
                .context("running cargo test")?;
            Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

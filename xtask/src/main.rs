//! `cargo xtask`: parses the command line and hands it to the subcommand's module in
//! `xtask::commands`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{commands, workspace_root};

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
    Dev(commands::dev::Args),
    /// Build the web client (web/) into target/web/dist: wasm32 release build, wasm-bindgen,
    /// content-hashed assets. Skipped when its sources are unchanged.
    Web(commands::web::Args),
    /// Regenerate brain2-iac/src/aws from the CloudFormation schemas in brain2-iac/schemas.
    Codegen(commands::codegen::Args),
    /// Synthesize an environment's templates, check them with the policy pack, and write them
    /// with a manifest to <out>/<env>/.
    Synth(commands::synth::Args),
    /// Build the six Lambdas into deterministic bootstrap zips named by their sha256, under
    /// target/lambda/<arch>/zips, with a manifest for deploy.
    Build(commands::build::Args),
    /// Show what a change does to an environment's templates, against a git revision (no AWS
    /// needed) or the deployed stacks. Exit codes: 0 nothing at the --fail-on threshold,
    /// 2 changes (with --fail-on any), 3 destructive changes (a table or bucket replaced or
    /// removed), 1 error.
    Diff(commands::diff::Args),
    /// Put an environment's template diff in its own comment on a pull request, editing the
    /// one an earlier run made (GITHUB_TOKEN, GITHUB_API_URL, GITHUB_REPOSITORY).
    PrComment(commands::pr_comment::Args),
    /// Create or update the toolkit stack brain2-<env>-toolkit: the assets bucket deploy needs.
    Bootstrap(commands::operate::BootstrapArgs),
    /// Build (when sources changed), upload, and deploy an environment's stacks in dependency
    /// order; unchanged stacks are skipped without a change set.
    Deploy(commands::operate::DeployArgs),
    /// Delete an environment's stacks, dependents first, emptying buckets marked Delete.
    Destroy(commands::operate::DestroyArgs),
    /// Each stack's status, last update and outputs; --drift also runs drift detection.
    Status(commands::operate::StatusArgs),
    /// Put a previous release's function code back, through a change set, without rebuilding.
    Rollback(commands::operate::RollbackArgs),
    /// Restore a table (the memories by default) to a point in time through DynamoDB's
    /// point-in-time recovery, as a new table swapped into its stack by a resource import; the
    /// table it replaces is kept and named. Prod needs --yes.
    Restore(commands::operate::RestoreArgs),
    /// Check the graph's invariants for one user or all of an environment's users, report each
    /// violation, and with --repair mend them (--local: the data of a running `cargo xtask dev`).
    /// Exit codes: 0 consistent, 3 violations remain, 1 error.
    GraphCheck(commands::graph_check::Args),
    /// Regenerate environments/schema.json from the Rust configuration types.
    Schema(commands::schema::Args),
    /// Measure synthesis (all three environments in one process), the Lambdas' start-up to their
    /// first call for an invocation, Brain2 under `dev`, or the web client's budgets in Chromium.
    /// Compilation is excluded.
    Bench(commands::bench::Args),
    /// Install the pinned Python test tools (cfn-lint, moto) into target/py-tools.
    PyTools(commands::test::PyToolsArgs),
    /// Run the whole test suite: installs the pinned Python tools, MiniStack and Chromium, builds
    /// the web client, then `cargo test --workspace`.
    Test(commands::test::TestArgs),
}

fn main() -> ExitCode {
    // Before anything signs or verifies a token (the local sign-in): see jwt_crypto.
    brain2_shared::jwt_crypto::install();
    let workspace = workspace_root();
    let result = match Cli::parse().command {
        Cmd::Dev(args) => args.run(&workspace),
        Cmd::Web(args) => args.run(&workspace),
        Cmd::Codegen(args) => args.run(&workspace),
        Cmd::Synth(args) => args.run(&workspace),
        Cmd::Build(args) => args.run(&workspace),
        Cmd::Diff(args) => args.run(&workspace),
        Cmd::PrComment(args) => args.run(&workspace),
        Cmd::Bootstrap(args) => args.run(&workspace),
        Cmd::Deploy(args) => args.run(&workspace),
        Cmd::Destroy(args) => args.run(&workspace),
        Cmd::Status(args) => args.run(&workspace),
        Cmd::Rollback(args) => args.run(&workspace),
        Cmd::Restore(args) => args.run(&workspace),
        Cmd::GraphCheck(args) => args.run(&workspace),
        Cmd::Schema(args) => args.run(&workspace),
        Cmd::Bench(args) => args.run(&workspace),
        Cmd::PyTools(args) => args.run(&workspace),
        Cmd::Test(args) => args.run(&workspace),
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}

//! `brain2-synth`: `cargo xtask synth` without the rest of xtask (see `synth`'s module docs).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Synthesize an environment's templates, check them with the policy pack, and write them.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask synth")]
struct Cli {
    #[command(flatten)]
    args: brain2_stacks::synth::Args,
}

fn main() -> ExitCode {
    let workspace =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("brain2-stacks is in the workspace").to_path_buf();
    match Cli::parse().args.run(&workspace) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

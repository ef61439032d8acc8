//! `cargo xtask`, as `.cargo/config.toml` spells it: `cargo run -p xtask-launcher -- <args>`.
//!
//! The launcher depends on nothing, so it is never rebuilt. It hands the command to the binary
//! that serves it through `cargo run`, which rebuilds that binary when its sources changed:
//! - `synth` goes to `brain2-synth` (of brain2-stacks), which links the infrastructure
//!   code and nothing else. Editing a stack and synthesizing then rebuilds one small crate and
//!   binary, not xtask and the AWS SDK it links (BENCHMARKS.md, "the edit loop");
//! - everything else goes to `xtask`.
//!
//! On Unix the launcher replaces itself with cargo, and `cargo run` replaces itself with the
//! tool, so one process is left and Ctrl-C reaches it as it did before.
//!
//! Before that, it builds the binary with `cargo build` and says what the build does: a first
//! build of xtask compiles the AWS SDK for minutes, and `cargo run --quiet` alone would print
//! nothing meanwhile. A build with nothing to do prints nothing.

mod build_progress;
mod cargo_env;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The binary that serves a command line, and the arguments it takes.
///
/// Binaries are named without their package: cargo then selects the workspace's default
/// members and resolves one set of features for every host build, so xtask, brain2-synth, the
/// functions and the tests share their compiled dependencies (Cargo.toml, `default-members`).
fn route(args: &[OsString]) -> (&'static str, &[OsString]) {
    match args.first().and_then(|c| c.to_str()) {
        Some("synth") => ("brain2-synth", &args[1..]),
        _ => ("xtask", args),
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (binary, args) = route(&args);
    let manifest = workspace_manifest();
    let mut cargo = cargo_command();
    if let Err(code) = build_progress::build(&mut cargo_command(), &manifest, binary) {
        return code;
    }
    cargo.args(["run", "--quiet", "--manifest-path"]).arg(&manifest).args(["--bin", binary, "--"]).args(args);
    exec(cargo)
}

/// The workspace's own manifest. Cargo selects `default-members` only when it reads the
/// workspace root's manifest: run from inside a member's folder without this, it would select
/// that package alone (`cargo xtask` from `functions/backend` would find no `xtask` binary).
/// Only cargo's manifest is pinned; the tool still runs in the caller's folder.
fn workspace_manifest() -> PathBuf {
    // `cargo run` sets it to the launcher's folder, xtask/launcher; the build's value stands in.
    let launcher = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = launcher.parent().and_then(Path::parent).unwrap_or(&launcher);
    root.join("Cargo.toml")
}

/// A cargo command without the variables of the crate that runs this one.
fn cargo_command() -> Command {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if cargo_env::set_for_the_running_crate(&key) {
            cargo.env_remove(key.as_ref());
        }
    }
    cargo
}

#[cfg(unix)]
fn exec(mut command: Command) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let error = command.exec();
    eprintln!("error: could not run cargo: {error}");
    ExitCode::FAILURE
}

#[cfg(not(unix))]
fn exec(mut command: Command) -> ExitCode {
    match command.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1) as u8),
        Err(error) => {
            eprintln!("error: could not run cargo: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synth_goes_to_brain2_synth_and_the_rest_to_xtask() {
        let line = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        let synth = line(&["synth", "--env", "all"]);
        assert_eq!(route(&synth), ("brain2-synth", &synth[1..]));
        for other in [line(&["deploy", "--env", "prod"]), line(&["--help"]), line(&["synthesize"]), line(&[])] {
            assert_eq!(route(&other), ("xtask", &other[..]));
        }
    }
}

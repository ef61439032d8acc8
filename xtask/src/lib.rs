//! The `cargo xtask` commands, as a library so their tests can call them.

#[path = "../launcher/src/cargo_env.rs"]
mod cargo_env;

pub mod aws;
pub mod build;
pub mod chromium;
pub mod codegen;
pub mod coldstart;
pub mod commands;
pub mod deploy;
pub mod dev;
pub mod diff;
pub mod fingerprint;
pub mod github;
pub mod moto;
pub mod operate;
pub mod pytools;
pub mod restore;
pub use brain2_stacks::synth;
pub mod web;

use std::path::PathBuf;

/// The workspace root: the parent of this crate's folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").to_path_buf()
}

/// A `cargo` command for the workspace, without what `cargo run` and `cargo test` set for the
/// running crate (see `cargo_env`).
pub fn cargo(workspace: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(workspace);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if cargo_env::set_for_the_running_crate(&key) {
            command.env_remove(key.as_ref());
        }
    }
    command
}

/// Holds `target/<name>.lock` exclusively until dropped: builds that write shared files under
/// `target/` (the functions' local zips, the web client's folders) take it, so two `cargo xtask
/// dev` starting at once (or the tests' several) never write or strip the same file together.
/// The lock is the operating system's, so a killed holder releases it.
pub fn build_lock(workspace: &std::path::Path, name: &str) -> anyhow::Result<std::fs::File> {
    use anyhow::Context as _;
    let path = workspace.join("target").join(format!("{name}.lock"));
    std::fs::create_dir_all(workspace.join("target")).context("creating target/")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// A build step that failed, with what it printed on stderr (cargo's compiler errors): shown in
/// the terminal as it came, and kept for `cargo xtask dev`'s overlay in the open tabs.
#[derive(Debug)]
pub struct BuildFailed {
    pub what: String,
    pub output: String,
}

impl std::fmt::Display for BuildFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed; see its output above", self.what)
    }
}

impl std::error::Error for BuildFailed {}

/// Runs `command`, passing its stderr through line by line and keeping it: a failure is a
/// [`BuildFailed`] with that text.
pub fn run_teeing(command: std::process::Command, what: &str) -> anyhow::Result<()> {
    run_keeping_stderr(command, what, true)
}

/// Runs `command`, keeping its stderr, which is printed only when it fails (a tool that reports
/// at length on success, such as synth's suppressed policy findings): a failure is a
/// [`BuildFailed`] with that text.
pub fn run_quietly(command: std::process::Command, what: &str) -> anyhow::Result<()> {
    run_keeping_stderr(command, what, false)
}

fn run_keeping_stderr(mut command: std::process::Command, what: &str, echo: bool) -> anyhow::Result<()> {
    use std::io::BufRead as _;
    command.stderr(std::process::Stdio::piped());
    let mut child = command.spawn().map_err(|e| anyhow::anyhow!("{what}: cannot start {command:?}: {e}"))?;
    let mut kept = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line?;
            if echo {
                eprintln!("{line}");
            }
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    let status = child.wait()?;
    if !status.success() {
        if !echo {
            eprint!("{kept}");
        }
        return Err(BuildFailed { what: what.to_owned(), output: kept }.into());
    }
    Ok(())
}

//! Pinned Python tools in virtualenvs under `target/`: the test tools (cfn-lint, moto), the
//! build tools (cargo-lambda with zig) and the emulator `cargo xtask dev` runs (MiniStack).
//!
//! Tests never use whatever happens to be on PATH: they run the tools from `target/py-tools`,
//! which `cargo xtask test` (or `cargo xtask py-tools`) creates from
//! `xtask/python-requirements.txt`. `cargo xtask build` installs its own into
//! `target/build-tools` from `xtask/build-requirements.txt`, so tests never pay for zig.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The test tools' virtualenv, relative to the workspace root.
pub const VENV_DIR: &str = "target/py-tools";
const REQUIREMENTS: &str = "xtask/python-requirements.txt";
/// The build tools' virtualenv.
pub const BUILD_VENV_DIR: &str = "target/build-tools";
const BUILD_REQUIREMENTS: &str = "xtask/build-requirements.txt";
/// The local AWS emulator's virtualenv.
pub const EMULATOR_VENV_DIR: &str = "target/emulator";
const EMULATOR_REQUIREMENTS: &str = "xtask/emulator-requirements.txt";
/// Written after a successful install, holding the requirements it installed.
const STAMP: &str = "installed-requirements.txt";

pub fn venv(workspace: &Path) -> PathBuf {
    workspace.join(VENV_DIR)
}

pub fn bin(workspace: &Path, tool: &str) -> PathBuf {
    venv(workspace).join("bin").join(tool)
}

/// Creates or updates the test tools' virtualenv; does nothing when it already holds them.
pub fn ensure(workspace: &Path) -> Result<PathBuf> {
    ensure_venv(workspace, &venv(workspace), REQUIREMENTS)
}

/// Creates or updates the build tools' virtualenv.
pub fn ensure_build_tools(workspace: &Path) -> Result<PathBuf> {
    ensure_venv(workspace, &workspace.join(BUILD_VENV_DIR), BUILD_REQUIREMENTS)
}

/// Creates or updates the emulator's virtualenv (MiniStack).
pub fn ensure_emulator(workspace: &Path) -> Result<PathBuf> {
    ensure_venv(workspace, &workspace.join(EMULATOR_VENV_DIR), EMULATOR_REQUIREMENTS)
}

fn ensure_venv(workspace: &Path, venv: &Path, requirements_file: &str) -> Result<PathBuf> {
    let requirements = std::fs::read_to_string(workspace.join(requirements_file))
        .with_context(|| format!("reading {requirements_file}"))?;
    if std::fs::read_to_string(venv.join(STAMP)).ok().as_deref() == Some(requirements.as_str()) {
        return Ok(venv.to_path_buf());
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !venv.join("bin/python").exists() {
        eprintln!("creating {} with {python}", venv.display());
        let status = Command::new(&python)
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .with_context(|| format!("running {python}; install Python 3 (e.g. `apt-get install python3-venv`)"))?;
        if !status.success() {
            bail!("`{python} -m venv {}` failed; on Debian, `apt-get install python3-venv` fixes this", venv.display());
        }
    }
    eprintln!("installing pinned Python tools from {requirements_file}");
    let status = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(workspace.join(requirements_file))
        .status()
        .context("running pip inside the virtualenv")?;
    if !status.success() {
        bail!("pip could not install {requirements_file}; see its output above");
    }
    std::fs::write(venv.join(STAMP), requirements)?;
    Ok(venv.to_path_buf())
}

/// The site-packages folder of cfn-lint inside the virtualenv, for vendoring schemas.
pub fn cfn_lint_data(workspace: &Path) -> Result<PathBuf> {
    let venv = ensure(workspace)?;
    let output = Command::new(venv.join("bin/python"))
        .args(["-c", "import cfnlint, os; print(os.path.join(os.path.dirname(cfnlint.__file__), 'data'))"])
        .output()?;
    if !output.status.success() {
        bail!("cfn-lint is not importable in {}", venv.display());
    }
    Ok(PathBuf::from(String::from_utf8(output.stdout)?.trim()))
}

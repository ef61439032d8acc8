//! Debian's Chromium and ChromeDriver for the browser tests: `cargo xtask test` installs them when
//! they are missing (as it installs the Python tools), and checks that the two are the same
//! version, since a driver drives only its own browser.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL: &str = "apt-get install chromium chromium-driver";

fn version(binary: &str) -> Option<String> {
    let output = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    // "Chromium 156.0.8078.108 built on ..." / "ChromeDriver 156.0.8078.108 (...)"
    text.split_whitespace().nth(1).map(str::to_owned)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Installs Chromium and its driver with apt when missing (as root), and checks their versions.
pub fn ensure() -> Result<()> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
            bail!("the browser tests need Debian's Chromium and ChromeDriver; install them with `sudo {INSTALL}`");
        }
        eprintln!("installing Chromium and ChromeDriver for the browser tests ({INSTALL})");
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        let status = Command::new("apt-get")
            .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!("`{INSTALL}` failed; see its output above");
        }
    }
    let (browser, driver) = (version(CHROMIUM), version(CHROMEDRIVER));
    match (&browser, &driver) {
        (Some(b), Some(d)) if b == d => Ok(()),
        _ => bail!(
            "Chromium ({}) and ChromeDriver ({}) must be the same version; reinstall both with `{INSTALL}`",
            browser.as_deref().unwrap_or("unknown"),
            driver.as_deref().unwrap_or("unknown")
        ),
    }
}

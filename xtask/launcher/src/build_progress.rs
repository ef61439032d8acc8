//! `cargo build` of the binary a command runs, with its progress shown from the first second.
//!
//! A first build of xtask compiles the AWS SDK for minutes, and `cargo run --quiet` alone
//! prints nothing meanwhile. Here cargo's lines are read as they come: on a terminal one status
//! line is redrawn (crates compiled, time, the crate at hand); elsewhere (CI, a pipe) a line is
//! printed at the start, every 25 crates and after 30 s without one. Warnings and errors pass
//! through unchanged. A build with nothing to do prints nothing.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Off a terminal, a quiet stretch of a long build gets a line after this long.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// Off a terminal, a line every this many crates.
const EVERY: usize = 25;

/// What cargo prints about the build's progress, as opposed to diagnostics.
fn is_progress(line: &str) -> bool {
    ["Compiling", "Downloaded", "Downloading", "Updating", "Locking", "Adding", "Blocking", "Fresh", "Checking"]
        .iter()
        .any(|word| line.starts_with(word))
}

/// Builds `binary` (of the default members, see `route`); on failure, the exit code to leave
/// with (cargo has printed why).
pub fn build(cargo: &mut Command, manifest: &Path, binary: &str) -> Result<(), ExitCode> {
    let terminal = std::io::stderr().is_terminal();
    cargo.args(["build", "--manifest-path"]).arg(manifest).args(["--bin", binary]);
    if terminal {
        cargo.arg("--color=always");
    }
    let mut child = match cargo.stderr(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!("error: could not run cargo: {error}");
            return Err(ExitCode::FAILURE);
        }
    };
    let stderr = child.stderr.take().expect("stderr is piped");
    let started = Instant::now();
    let mut compiled = 0usize;
    let mut shown = Instant::now();
    let mut status_drawn = false;
    let mut out = std::io::stderr();
    // Read as bytes: a line that is not UTF-8 must not stop the reading, or cargo would block
    // on a full pipe.
    let mut reader = BufReader::new(stderr);
    let mut bytes = Vec::new();
    while reader.read_until(b'\n', &mut bytes).unwrap_or(0) > 0 {
        let line = String::from_utf8_lossy(&bytes).trim_end_matches(['\n', '\r']).to_owned();
        bytes.clear();
        let plain = strip_ansi(&line);
        let word = plain.trim_start();
        if word.starts_with("Finished") {
            continue;
        }
        if !is_progress(word) {
            if status_drawn {
                let _ = write!(out, "\r\x1b[2K");
                status_drawn = false;
            }
            let _ = writeln!(out, "{line}");
            continue;
        }
        if word.starts_with("Compiling") {
            compiled += 1;
        }
        let elapsed = started.elapsed().as_secs();
        if terminal {
            let _ = write!(out, "\r\x1b[2Kcargo xtask: building {binary}: {compiled} crates, {elapsed} s: {word:.60}");
            let _ = out.flush();
            status_drawn = true;
        } else if compiled == 1 || compiled.is_multiple_of(EVERY) || shown.elapsed() >= HEARTBEAT {
            let _ = writeln!(out, "cargo xtask: building {binary}: {compiled} crates, {elapsed} s: {word}");
            shown = Instant::now();
        }
    }
    if status_drawn {
        let _ = write!(out, "\r\x1b[2K");
    }
    match child.wait() {
        Ok(status) if status.success() => {
            if compiled > 0 {
                let _ = writeln!(out, "cargo xtask: {binary} built ({compiled} crates) in {:.0?}", started.elapsed());
            }
            Ok(())
        }
        Ok(status) => Err(ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8)),
        Err(error) => {
            eprintln!("error: cargo build did not finish: {error}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// `line` without ANSI colour sequences (`ESC [ … m`), to read cargo's words.
fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_progress_is_told_from_diagnostics() {
        assert!(is_progress("Compiling aws-sdk-s3 v1.157.0"));
        assert!(is_progress("Blocking waiting for file lock on build directory"));
        assert!(!is_progress("warning: unused variable: `x`"));
        assert!(!is_progress("error[E0425]: cannot find value `y` in this scope"));
        assert_eq!(strip_ansi("\x1b[1m\x1b[32m   Compiling\x1b[0m serde v1"), "   Compiling serde v1");
    }
}

//! `cargo xtask pytools / test`.
//!
//! `cargo test` runs one test binary after another, and most of Brain2's time in tests is spent
//! by binaries that wait: on the emulator, on Chromium, on a `cargo xtask dev` they started. So
//! `cargo xtask test` builds every test binary with `cargo test --no-run`, then runs `--jobs` of
//! them at a time (longest first, by the durations the last run recorded), each one's output
//! printed whole when it ends, and the doc tests last. A binary that edits the workspace's own
//! files ([`RUN_ALONE`]) runs after the others, by itself.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::pytools;

/// The last run's duration per test binary, to start the longest first next time.
const DURATIONS_FILE: &str = "target/test-durations.json";
/// Test binaries that must not share the machine's workspace with others: `dev_watch` edits
/// the sources (a handler into a compile error, among others) that every other `dev` builds.
const RUN_ALONE: &[&str] = &["xtask: test dev_watch"];
/// How often the names of binaries still running are printed, so a hang is never silent.
const STILL_RUNNING_EVERY: Duration = Duration::from_secs(120);

#[derive(clap::Args, Debug)]
pub struct PyToolsArgs {}

impl PyToolsArgs {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let venv = pytools::ensure(workspace)?;
        eprintln!("Python tools ready in {}", venv.display());
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// How many test binaries run at the same time (each still runs its own tests in parallel).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub jobs: u16,
    /// Arguments for a plain `cargo test --workspace --exclude brain2-web` instead (after `--`),
    /// for example `--test dev_e2e` (name tests, not packages: see ARCHITECTURE.md, "One feature
    /// set for host builds"): the binaries then run one after another, as cargo runs them.
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

impl TestArgs {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let TestArgs { jobs, cargo_args } = self;
        pytools::ensure(workspace)?;
        pytools::ensure_emulator(workspace)?;
        crate::chromium::ensure()?;
        // The browser test serves the built client; build it once here, not inside a test.
        crate::web::build_if_changed(workspace)?;
        if !cargo_args.is_empty() {
            let status = crate::cargo(workspace)
                // The web client is a wasm32 crate: CI lints it for its own target.
                .args(["test", "--workspace", "--exclude", "brain2-web"])
                .args(&cargo_args)
                .status()
                .context("running cargo test")?;
            return Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        let binaries = build_test_binaries(workspace)?;
        let durations_file = workspace.join(DURATIONS_FILE);
        let last = read_durations(&durations_file);
        let (alone, shared): (Vec<_>, Vec<_>) =
            binaries.into_iter().partition(|b| RUN_ALONE.contains(&b.label.as_str()));
        let started = Instant::now();
        let mut results = run_binaries(workspace, longest_first(shared, &last), usize::from(jobs))?;
        results.extend(run_binaries(workspace, longest_first(alone, &last), 1)?);
        let doc_tests = crate::cargo(workspace)
            .args(["test", "--workspace", "--exclude", "brain2-web", "--doc"])
            .status()
            .context("running cargo test --doc")?;
        let mut durations = last;
        for result in &results {
            durations.insert(result.binary.key(), result.elapsed.as_secs_f64());
        }
        // A record that cannot be written only costs the next run its order.
        let _ = std::fs::write(&durations_file, serde_json::to_vec_pretty(&durations)?);
        let failed: Vec<&str> = results.iter().filter(|r| !r.passed).map(|r| r.binary.label.as_str()).collect();
        eprintln!(
            "\n== {} test binaries in {:.0} s, {} at a time: {}",
            results.len(),
            started.elapsed().as_secs_f64(),
            jobs,
            if failed.is_empty() {
                "all passed".to_owned()
            } else {
                format!("{} failed: {}", failed.len(), failed.join(", "))
            }
        );
        if !doc_tests.success() {
            eprintln!("== the doc tests failed");
        }
        Ok(if failed.is_empty() && doc_tests.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

/// One test binary, as cargo built it.
#[derive(Debug, Clone, PartialEq)]
struct TestBinary {
    /// `package: kind name`, as the output names it.
    label: String,
    executable: PathBuf,
    /// Its package's folder: cargo runs tests there, and some read files relative to it.
    package_dir: PathBuf,
    package: String,
    integration: bool,
}

impl TestBinary {
    fn key(&self) -> String {
        self.label.clone()
    }
}

fn build_test_binaries(workspace: &Path) -> Result<Vec<TestBinary>> {
    let mut child = crate::cargo(workspace)
        .args([
            "test",
            "--workspace",
            "--exclude",
            "brain2-web",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test --no-run")?;
    let stdout = child.stdout.take().context("cargo's output")?;
    let mut binaries = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        if let Some(binary) = test_binary(&line.context("reading cargo's output")?)? {
            binaries.push(binary);
        }
    }
    if !child.wait().context("waiting for cargo test --no-run")?.success() {
        bail!("the tests did not build (cargo test --no-run failed; its errors are above)");
    }
    if binaries.is_empty() {
        bail!("cargo test --no-run announced no test binary; nothing would be tested");
    }
    Ok(binaries)
}

/// The test binary a line of cargo's JSON messages announces, if it announces one. A test
/// artifact this cannot read is an error rather than a binary silently left out.
fn test_binary(line: &str) -> Result<Option<TestBinary>> {
    let Ok(message) = serde_json::from_str::<Value>(line) else { return Ok(None) };
    if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
        return Ok(None);
    }
    let read = || -> Option<TestBinary> {
        let executable = PathBuf::from(message["executable"].as_str()?);
        let manifest = Path::new(message["manifest_path"].as_str()?);
        let target = &message["target"];
        let kind = target["kind"][0].as_str()?;
        let name = target["name"].as_str()?;
        let package = package_name(message["package_id"].as_str()?)?.to_owned();
        Some(TestBinary {
            label: format!("{package}: {kind} {name}"),
            executable,
            package_dir: manifest.parent()?.to_path_buf(),
            integration: kind == "test",
            package,
        })
    };
    match read() {
        Some(binary) => Ok(Some(binary)),
        None => bail!(
            "cargo announced a test binary this cannot read (executable, manifest_path, target or package_id missing): {line}"
        ),
    }
}

/// The name in a package id: `path+file:///w/functions/shared#brain2-shared@0.1.0`, or, when
/// the folder has the package's name, `path+file:///w/xtask#0.1.0`.
fn package_name(id: &str) -> Option<&str> {
    let (url, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, _)) => Some(name),
        None => url.rsplit('/').next(),
    }
}

fn read_durations(file: &Path) -> BTreeMap<String, f64> {
    std::fs::read(file).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// Longest first by the last run's durations; a binary not timed before goes first among its
/// kind, integration tests (which start emulators and browsers) before unit tests.
fn longest_first(mut binaries: Vec<TestBinary>, last: &BTreeMap<String, f64>) -> VecDeque<TestBinary> {
    binaries.sort_by(|a, b| {
        let weight = |binary: &TestBinary| last.get(&binary.key()).copied().unwrap_or(f64::INFINITY);
        let rank = |binary: &TestBinary| (binary.integration, binary.package == "xtask");
        weight(b).total_cmp(&weight(a)).then_with(|| rank(b).cmp(&rank(a))).then_with(|| a.label.cmp(&b.label))
    });
    binaries.into()
}

struct Outcome {
    binary: TestBinary,
    passed: bool,
    elapsed: Duration,
}

fn run_binaries(workspace: &Path, queue: VecDeque<TestBinary>, jobs: usize) -> Result<Vec<Outcome>> {
    let logs = workspace.join("target/test-logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let queue = Mutex::new(queue);
    let outcomes = Mutex::new(Vec::new());
    let running = Mutex::new(BTreeMap::<String, Instant>::new());
    let workers_left = std::sync::atomic::AtomicUsize::new(jobs);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let Some(binary) = queue.lock().expect("queue").pop_front() else { break };
                    eprintln!("== started {}", binary.label);
                    running.lock().expect("running").insert(binary.label.clone(), Instant::now());
                    let outcome = run_one(&binary, &logs, &cargo);
                    let mut running = running.lock().expect("running");
                    running.remove(&binary.label);
                    let (passed, elapsed, how, output) = match outcome {
                        Ok(ran) => (ran.status.success(), ran.elapsed, ran.status.to_string(), ran.output),
                        Err(error) => (false, Duration::ZERO, "did not run".to_owned(), format!("{error:#}\n")),
                    };
                    // Printed while `running` is held, so two binaries' outputs never interleave.
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "\n     Running {} ({})", binary.label, binary.executable.display());
                    let _ = out.write_all(output.as_bytes());
                    let verdict = if passed { "passed".to_owned() } else { format!("FAILED ({how})") };
                    let _ = writeln!(out, "== {}: {verdict} in {:.1} s", binary.label, elapsed.as_secs_f64());
                    drop(out);
                    drop(running);
                    outcomes.lock().expect("outcomes").push(Outcome { binary, passed, elapsed });
                }
                workers_left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        scope.spawn(|| {
            let mut since = Instant::now();
            while workers_left.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                std::thread::sleep(Duration::from_millis(250));
                if since.elapsed() < STILL_RUNNING_EVERY {
                    continue;
                }
                since = Instant::now();
                let running = running.lock().expect("running");
                let names: Vec<String> = running
                    .iter()
                    .map(|(label, start)| format!("{label} ({:.0} s)", start.elapsed().as_secs_f64()))
                    .collect();
                if !names.is_empty() {
                    eprintln!("== still running: {} (their output: target/test-logs/)", names.join(", "));
                }
            }
        });
    });
    Ok(outcomes.into_inner().expect("outcomes"))
}

struct Ran {
    status: std::process::ExitStatus,
    elapsed: Duration,
    output: String,
}

/// Runs one binary as cargo would (in its package's folder, with cargo's variables for that
/// package, none of xtask's own), its output kept in `target/test-logs/` and returned.
fn run_one(binary: &TestBinary, logs: &Path, cargo: &std::ffi::OsStr) -> Result<Ran> {
    let log = logs.join(format!("{}.log", binary.label.replace([':', ' ', '/'], "_")));
    let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut command = Command::new(&binary.executable);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if crate::cargo_env::set_for_the_running_crate(&key) {
            command.env_remove(key.as_ref());
        }
    }
    let started = Instant::now();
    let status = command
        .current_dir(&binary.package_dir)
        .env("CARGO", cargo)
        .env("CARGO_MANIFEST_DIR", &binary.package_dir)
        .env("CARGO_MANIFEST_PATH", binary.package_dir.join("Cargo.toml"))
        .env("CARGO_PKG_NAME", &binary.package)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("running {}", binary.executable.display()))?;
    let elapsed = started.elapsed();
    let output = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    Ok(Ran { status, elapsed, output })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(label: &str, integration: bool, package: &str) -> TestBinary {
        TestBinary {
            label: label.to_owned(),
            executable: PathBuf::from("/x"),
            package_dir: PathBuf::from("/p"),
            package: package.to_owned(),
            integration,
        }
    }

    #[test]
    fn cargo_s_messages_name_the_test_binaries_and_nothing_else() {
        let test = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/xtask#0.1.0","manifest_path":"/w/xtask/Cargo.toml","target":{"kind":["test"],"name":"dev_e2e"},"profile":{"test":true},"executable":"/w/target/debug/deps/dev_e2e-1"}"#;
        let named = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/functions/shared#brain2-shared@0.1.0","manifest_path":"/w/functions/shared/Cargo.toml","target":{"kind":["lib"],"name":"brain2_shared"},"profile":{"test":true},"executable":"/w/target/debug/deps/brain2_shared-2"}"#;
        let binary_for_tests = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/xtask#0.1.0","manifest_path":"/w/xtask/Cargo.toml","target":{"kind":["bin"],"name":"xtask"},"profile":{"test":false},"executable":"/w/target/debug/xtask"}"#;
        let library = r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0","manifest_path":"/r/serde/Cargo.toml","target":{"kind":["lib"],"name":"serde"},"profile":{"test":false},"executable":null}"#;
        let found = test_binary(test).unwrap().unwrap();
        assert_eq!(found.label, "xtask: test dev_e2e");
        assert_eq!(found.package_dir, PathBuf::from("/w/xtask"));
        assert!(found.integration);
        let found = test_binary(named).unwrap().unwrap();
        assert_eq!((found.label.as_str(), found.integration), ("brain2-shared: lib brain2_shared", false));
        assert_eq!(test_binary(binary_for_tests).unwrap(), None);
        assert_eq!(test_binary(library).unwrap(), None);
        assert_eq!(test_binary(r#"{"reason":"build-finished","success":true}"#).unwrap(), None);
        assert_eq!(test_binary("Compiling serde").unwrap(), None);
        let unreadable = test.replace(r#""executable":"/w/target/debug/deps/dev_e2e-1""#, r#""executable":null"#);
        assert!(test_binary(&unreadable).is_err(), "a test binary without its executable is an error");
    }

    #[test]
    fn the_longest_start_first_and_the_untimed_before_them() {
        let last = BTreeMap::from([("a: test slow".to_owned(), 90.0), ("a: test quick".to_owned(), 1.0)]);
        let order: Vec<String> = longest_first(
            vec![
                binary("a: test quick", true, "a"),
                binary("a: lib a", false, "a"),
                binary("a: test slow", true, "a"),
                binary("xtask: test new", true, "xtask"),
            ],
            &last,
        )
        .into_iter()
        .map(|b| b.label)
        .collect();
        assert_eq!(order, ["xtask: test new", "a: lib a", "a: test slow", "a: test quick"]);
    }
}

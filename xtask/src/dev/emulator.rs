//! MiniStack, the local AWS emulator `cargo xtask dev` deploys into: installed pinned into
//! `target/emulator`, started on 127.0.0.1 with its state under the data folder, stopped with
//! SIGINT (which is when it saves that state).
//!
//! This is the one place that knows how MiniStack is run. Its gaps, each worked around here or
//! named where it matters:
//! - it does not hand its own endpoint to the function processes; they inherit its process
//!   environment, so `AWS_ENDPOINT_URL` is set there and every SDK call of a function comes back
//!   to it (see `functions/shared/src/aws.rs` for the WebSocket management endpoint);
//! - it saves its state only at a clean shutdown: a crash (SIGKILL, power loss) loses every
//!   change since it started. A MiniStack left running by a crashed `cargo xtask dev` is found
//!   through its pid file and stopped cleanly (so saved) by the next start;
//! - it listens on every interface unless `BIND_HOST` says otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::pytools;

/// How long MiniStack may take to answer its health check after starting.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long it may take to save its state and exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
const PID_FILE: &str = "emulator.pid";
const LOG_FILE: &str = "emulator.log";

/// A running MiniStack. Dropping it stops it (and every function process it started).
#[derive(Debug)]
pub struct Emulator {
    pub endpoint: String,
    pub port: u16,
    pub log: PathBuf,
    child: Option<Child>,
    pid_file: PathBuf,
}

/// Fails, naming `--port`, when `port` is taken on the loopback; `role` says whose port it is.
pub fn check_port_free(port: u16, role: &str) -> Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    match TcpListener::bind(address) {
        Ok(_) => Ok(()),
        Err(error) => bail!(
            "port {port} on 127.0.0.1 ({role}) is not free: {error}; pick another site port with --port <PORT> (the emulator takes the one after it)"
        ),
    }
}

/// Whether `pid` is a live MiniStack process (its command line names ministack).
fn is_ministack(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains("ministack"))
        .unwrap_or(false)
}

/// Stops a MiniStack that a crashed run left behind for this data folder, so its state is
/// saved before a new one loads it.
pub fn stop_leftover(data: &Path) -> Result<()> {
    let pid_file = data.join(PID_FILE);
    let Ok(text) = std::fs::read_to_string(&pid_file) else { return Ok(()) };
    let Ok(pid) = text.trim().parse::<i32>() else {
        let _ = std::fs::remove_file(&pid_file);
        return Ok(());
    };
    if is_ministack(pid) {
        eprintln!("emulator: stopping MiniStack (pid {pid}) left running by an earlier run, saving its state");
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        let started = Instant::now();
        while is_ministack(pid) {
            if started.elapsed() > STOP_TIMEOUT {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                bail!("MiniStack (pid {pid}) did not stop within {STOP_TIMEOUT:?} of SIGINT; it was killed");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}

/// One HTTP/1.0 GET on the loopback: the status code, or `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut head = [0u8; 32];
    let read = stream.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..read]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Emulator {
    /// Installs the pinned MiniStack when needed and starts it on `port`, its state under
    /// `data/emulator-state`, and waits until it answers.
    pub fn start(workspace: &Path, data: &Path, port: u16, region: &str) -> Result<Self> {
        stop_leftover(data)?;
        check_port_free(port, "the emulator's")?;
        let venv = pytools::ensure_emulator(workspace)?;
        let program = venv.join("bin/ministack");
        let state = data.join("emulator-state");
        let s3 = data.join("emulator-s3");
        for folder in [&state, &s3] {
            std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        let log = data.join(LOG_FILE);
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(&program);
        command
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("PERSIST_STATE", "1")
            .env("STATE_DIR", &state)
            .env("S3_PERSIST", "1")
            .env("S3_DATA_DIR", &s3)
            .env("MINISTACK_REGION", region)
            // The function processes inherit this: their SDK calls come back here.
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("TMPDIR", data)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_DEFAULT_PROFILE")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group: Ctrl-C reaches `cargo xtask dev`, which stops the emulator in
            // order (state saved), then removes whatever function processes are left in the group.
            .process_group(0);
        let child = command.spawn().with_context(|| format!("starting {}", program.display()))?;
        let pid_file = data.join(PID_FILE);
        std::fs::write(&pid_file, child.id().to_string())?;
        let mut emulator = Emulator { endpoint, port, log, child: Some(child), pid_file };
        let started = Instant::now();
        loop {
            if http_status(port, "/health") == Some(200) {
                return Ok(emulator);
            }
            if let Some(child) = emulator.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                emulator.child = None;
                bail!(
                    "MiniStack exited ({status}) before it was ready; the end of {}:\n{}",
                    emulator.log.display(),
                    tail(&emulator.log, 20)
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "MiniStack did not answer on {} within {START_TIMEOUT:?}; see {}",
                    emulator.endpoint,
                    emulator.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops MiniStack: SIGINT (it saves its state), a wait, then SIGKILL to whatever is left of
    /// its process group (the function processes it started).
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGINT);
        let started = Instant::now();
        let outcome = loop {
            match child.try_wait()? {
                Some(_) => break Ok(()),
                None if started.elapsed() > STOP_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(anyhow::anyhow!(
                        "MiniStack did not stop within {STOP_TIMEOUT:?} of SIGINT and was killed; its state since the last start may be lost"
                    ));
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        // The group's id is the emulator's pid; the functions it spawned are members.
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = std::fs::remove_file(&self.pid_file);
        outcome
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("emulator: {error:#}");
        }
    }
}

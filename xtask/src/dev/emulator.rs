//! MiniStack, the local AWS emulator `cargo xtask dev` deploys into: installed pinned into
//! `target/emulator`, started with its state under the data folder, behind the guard
//! (`guard.rs`), stopped with SIGINT (which is when it saves that state).
//!
//! This is the one place that knows how MiniStack is run. Its gaps, each worked around here or
//! named where it matters:
//! - it answers any origin, serves its admin paths to anyone, and (under `AUTH=true`) gives
//!   functions credentials anyone can compute: it listens on a Unix socket in the data folder
//!   only (`emulator_launch.py`), and the guard, on the TCP port, decides what reaches it;
//! - without `AUTH=true` it evaluates no IAM: it runs with it, its root credentials and account
//!   made per data folder (`credentials.rs`), so each function runs as its execution role;
//! - it does not hand its own endpoint to the function processes; they inherit its process
//!   environment, so `AWS_ENDPOINT_URL` (the guard) is set there and every SDK call of a
//!   function comes back through the guard (see `functions/shared/src/aws.rs` for the
//!   WebSocket management endpoint);
//! - it saves its state only at a clean shutdown: the launcher saves it every
//!   [`SAVE_INTERVAL`] after requests, so a crash (SIGKILL, power loss) loses at most that;
//!   and it stops cleanly (state saved) when dev dies, however dev dies. One left running
//!   anyway is found through its pid file and stopped cleanly by the next start;
//! - its CloudFormation updates an auto-named table under the name it would generate, so a
//!   table the stack imported (restore's) was rebound to the table it replaced: the launcher
//!   updates it under its own name;
//! - its point-in-time restore copies the table as it is, whatever the time asked for (named in the
//!   restore test of `deploy_ministack.rs`, not worked around).

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::credentials::Credentials;
use super::guard::{self, Guard, Journal, Policy};
use crate::pytools;

/// How long MiniStack may take to answer its health check after starting.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long it may take to save its state and exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the launcher saves the state while requests come in: the most a crash loses.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(1);
const PID_FILE: &str = "emulator.pid";
const LOG_FILE: &str = "emulator.log";
const SOCKET_FILE: &str = "emulator.sock";
/// Its name holds "ministack", which is how a leftover is recognised (`is_ministack`).
const LAUNCHER_FILE: &str = "ministack-launch.py";
const LAUNCHER: &str = include_str!("emulator_launch.py");

/// Who may reach the emulator.
#[derive(Debug, Clone)]
pub enum Protection {
    /// Behind the guard, with IAM enforced: what `cargo xtask dev` runs. `site_origin` is the
    /// one origin whose pages may call the API routes.
    Guarded { site_origin: Option<String> },
    /// MiniStack alone on the TCP port, without AUTH: anyone may do anything. Only for the
    /// benchmarks that measure what the guard and enforcement cost (`--open-emulator`).
    Open,
}

/// A running MiniStack behind its guard. Dropping it stops both (and every function process
/// MiniStack started).
#[derive(Debug)]
pub struct Emulator {
    /// The guard's URL: what every tool and function is given.
    pub endpoint: String,
    pub port: u16,
    pub region: String,
    pub log: PathBuf,
    pub credentials: Credentials,
    /// MiniStack's socket (behind the guard), or `None` when it listens on the port itself.
    pub socket: Option<PathBuf>,
    child: Option<Child>,
    pid_file: PathBuf,
    guard: Option<GuardThread>,
}

#[derive(Debug)]
struct GuardThread {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<()>>,
    guard: Arc<Guard>,
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
/// saved before a new one loads it. Returns whether there was one.
pub fn stop_leftover(data: &Path) -> Result<bool> {
    let pid_file = data.join(PID_FILE);
    let Ok(text) = std::fs::read_to_string(&pid_file) else { return Ok(false) };
    let Ok(pid) = text.trim().parse::<i32>() else {
        let _ = std::fs::remove_file(&pid_file);
        return Ok(false);
    };
    let found = is_ministack(pid);
    if found {
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
    Ok(found)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Where the socket goes: in the data folder, unless that path is too long for a Unix socket
/// (108 bytes on Linux), then in a folder of this run's own under the system's temporary folder,
/// made private (0700) and with a random name, so no one else can have put anything there.
fn socket_path(data: &Path) -> Result<PathBuf> {
    let inside = data.join(SOCKET_FILE);
    if inside.as_os_str().len() < 100 {
        return Ok(inside);
    }
    use std::os::unix::fs::DirBuilderExt as _;
    let folder = std::env::temp_dir().join(format!("brain2-emulator-{}", uuid::Uuid::new_v4().simple()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&folder)
        .with_context(|| format!("making {} for the emulator's socket", folder.display()))?;
    Ok(folder.join(SOCKET_FILE))
}

/// Whether the emulator answers its readiness check: over its socket, or on its port.
fn ready(runtime: &tokio::runtime::Runtime, socket: Option<&Path>, port: u16) -> bool {
    runtime.block_on(async {
        let check = async {
            match socket {
                Some(socket) => guard::get_over_socket(socket, "/_ministack/health").await.map(|(status, _)| status),
                None => guard::get_over_tcp(port, "/_ministack/health").await,
            }
        };
        tokio::time::timeout(Duration::from_secs(5), check).await.ok().flatten().is_some_and(|s| s.is_success())
    })
}

impl Emulator {
    /// Installs the pinned MiniStack when needed and starts it with its state under
    /// `data/emulator-state`, behind the guard on `port`, and waits until it answers.
    /// `site_origin` is the one origin whose pages may call the API routes.
    pub fn start(workspace: &Path, data: &Path, port: u16, region: &str, protection: Protection) -> Result<Self> {
        stop_leftover(data)?;
        let venv = pytools::ensure_emulator(workspace)?;
        let credentials = Credentials::load_or_create(data)?;
        let state = data.join("emulator-state");
        let s3 = data.join("emulator-s3");
        for folder in [&state, &s3] {
            std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        let launcher = data.join(LAUNCHER_FILE);
        std::fs::write(&launcher, LAUNCHER).with_context(|| format!("writing {}", launcher.display()))?;
        let socket = match protection {
            Protection::Guarded { .. } => Some(socket_path(data)?),
            Protection::Open => None,
        };
        if let Some(socket) = &socket {
            let _ = std::fs::remove_file(socket);
        }
        let port_taken = |error: std::io::Error| {
            anyhow::anyhow!(
                "port {port} on 127.0.0.1 (the emulator's) is not free: {error}; pick another site port with --port <PORT> (the emulator takes the one after it)"
            )
        };
        // The guard's port is bound before MiniStack starts, so it is ours when its URLs name it.
        let listener = match &socket {
            Some(_) => {
                let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).map_err(port_taken)?;
                listener.set_nonblocking(true)?;
                Some(listener)
            }
            None => {
                TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).map_err(port_taken)?;
                None
            }
        };
        let bind = match &socket {
            Some(socket) => format!("unix:{}", socket.display()),
            None => format!("127.0.0.1:{port}"),
        };

        let log = data.join(LOG_FILE);
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let program = venv.join("bin/python");
        let mut command = Command::new(&program);
        command
            .arg(&launcher)
            .env("BRAIN2_EMULATOR_BIND", &bind)
            .env("BRAIN2_SAVE_INTERVAL", SAVE_INTERVAL.as_secs_f64().to_string())
            .env("BRAIN2_DEV_PID", std::process::id().to_string())
            // The port every URL it hands out carries: the guard's.
            .env("GATEWAY_PORT", port.to_string())
            .env("AUTH", if socket.is_some() { "true" } else { "false" })
            .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key)
            .env("MINISTACK_ACCOUNT_ID", &credentials.account_id)
            .env("PERSIST_STATE", "1")
            .env("STATE_DIR", &state)
            .env("S3_PERSIST", "1")
            .env("S3_DATA_DIR", &s3)
            .env("MINISTACK_REGION", region)
            // The function processes inherit this: their SDK calls come back through the guard.
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("TMPDIR", data)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_DEFAULT_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group: Ctrl-C reaches `cargo xtask dev`, which stops the emulator in
            // order (state saved), then removes whatever function processes are left in the group.
            .process_group(0);
        let child = command.spawn().with_context(|| format!("starting {}", program.display()))?;
        let pid_file = data.join(PID_FILE);
        std::fs::write(&pid_file, child.id().to_string())?;

        let guard = match (listener, &socket, protection) {
            (Some(listener), Some(socket), Protection::Guarded { site_origin }) => {
                Some(start_guard(listener, socket.clone(), Policy { port, site_origin })?)
            }
            _ => None,
        };
        let mut emulator = Emulator {
            endpoint,
            port,
            region: region.to_owned(),
            log,
            credentials,
            socket,
            child: Some(child),
            pid_file,
            guard,
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let started = Instant::now();
        loop {
            if ready(&runtime, emulator.socket.as_deref(), port) {
                if let Some(socket) = &emulator.socket {
                    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
                }
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
                    emulator.socket.as_ref().map_or_else(|| emulator.endpoint.clone(), |s| s.display().to_string()),
                    emulator.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An SDK configuration for the emulator, as its root.
    pub async fn aws(&self) -> crate::aws::Aws {
        let keys = &self.credentials;
        crate::aws::Aws::with_keys(&self.endpoint, &self.region, &keys.access_key_id, &keys.secret_access_key).await
    }

    /// Whether MiniStack still runs.
    pub fn is_running(&self) -> bool {
        self.child.as_ref().is_some_and(|child| is_ministack(child.id() as i32))
    }

    /// Returns once MiniStack is gone (it never returns while it runs).
    pub async fn exited(&self) {
        while self.is_running() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// How many requests the guard refused so far.
    pub fn refusals(&self) -> usize {
        self.guard.as_ref().map_or(0, |g| g.guard.journal.refusals())
    }

    /// Stops MiniStack: SIGINT (it saves its state), a wait, then SIGKILL to whatever is left of
    /// its process group (the function processes it started); then the guard.
    pub fn stop(&mut self) -> Result<()> {
        let outcome = self.stop_emulator();
        if let Some(guard) = self.guard.take() {
            let _ = guard.stop.send(());
            let _ = guard.thread.join();
        }
        if let Some(socket) = &self.socket {
            let _ = std::fs::remove_file(socket);
            let own_folder = socket.parent().filter(|folder| {
                folder.file_name().is_some_and(|name| name.to_string_lossy().starts_with("brain2-emulator-"))
            });
            if let Some(own_folder) = own_folder {
                let _ = std::fs::remove_dir(own_folder);
            }
        }
        outcome
    }

    fn stop_emulator(&mut self) -> Result<()> {
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
                        "MiniStack did not stop within {STOP_TIMEOUT:?} of SIGINT and was killed; its state since the last periodic save may be lost"
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

/// Serves the guard on its own thread and runtime, so that it answers whatever the caller's
/// threads do.
fn start_guard(listener: TcpListener, socket: PathBuf, policy: Policy) -> Result<GuardThread> {
    let guard = Arc::new(Guard { policy, socket, journal: Journal::default() });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = guard.clone();
    let thread = std::thread::Builder::new().name("emulator-guard".into()).spawn(move || -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            guard::serve(listener, serving, async {
                let _ = stopped.await;
            })
            .await
        })
    })?;
    Ok(GuardThread { stop, thread, guard })
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("emulator: {error:#}");
        }
    }
}

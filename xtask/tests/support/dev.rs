//! `cargo xtask dev` as a person runs it, from a test: the real command in its own process, on
//! free ports, with its own data folder; stopped with SIGINT like Ctrl-C.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use xtask::dev::Running;

/// The first build of the functions and the first install of MiniStack fit in this.
const READY_TIMEOUT: Duration = Duration::from_secs(900);

/// Two free loopback ports in a row (the site's, then the emulator's).
pub fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if first < u16::MAX && TcpListener::bind(("127.0.0.1", first + 1)).is_ok() {
            return first;
        }
    }
    panic!("no two free ports in a row on 127.0.0.1");
}

/// A fresh folder under the system's temporary folder for one test's data. It is removed with
/// its `.log` sibling when the test passes, and kept for a look when it fails (a browser test's
/// folder holds a quarter of a gigabyte).
pub fn temporary_folder(name: &str) -> TemporaryFolder {
    let dir = std::env::temp_dir().join(format!("brain2-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    TemporaryFolder(dir)
}

#[derive(Debug)]
pub struct TemporaryFolder(PathBuf);

impl std::ops::Deref for TemporaryFolder {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TemporaryFolder {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TemporaryFolder {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for a look: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
            let _ = std::fs::remove_file(self.0.with_extension("log"));
        }
    }
}

/// A running `cargo xtask dev`.
#[derive(Debug)]
pub struct Dev {
    child: Option<Child>,
    pub running: Running,
    pub output: PathBuf,
}

impl Dev {
    pub fn start(port: u16, data: &Path) -> Dev {
        Dev::start_with(port, data, &[])
    }

    /// With more arguments, such as `--env prod`.
    pub fn start_with(port: u16, data: &Path, arguments: &[&str]) -> Dev {
        Dev::start_with_env(port, data, arguments, &[])
    }

    /// With more arguments and environment variables. A fixed system: `--no-watch`, so an edit
    /// elsewhere in the workspace (another test's) never changes what it tests.
    pub fn start_with_env(port: u16, data: &Path, arguments: &[&str], variables: &[(&str, &str)]) -> Dev {
        Dev::launch(port, data, &[&["--no-watch"], arguments].concat(), variables)
    }

    /// Following edits, as a person runs it (`dev_watch.rs`).
    pub fn start_watching(port: u16, data: &Path) -> Dev {
        Dev::launch(port, data, &[], &[])
    }

    fn launch(port: u16, data: &Path, arguments: &[&str], variables: &[(&str, &str)]) -> Dev {
        let output = data.with_extension("log");
        let log = std::fs::File::options().create(true).append(true).open(&output).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["dev", "--quiet", "--port", &port.to_string(), "--data"])
            .arg(data)
            .args(arguments)
            .envs(variables.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting cargo xtask dev");
        let log_text = || std::fs::read_to_string(&output).unwrap_or_default();
        let started = Instant::now();
        loop {
            if let Ok(running) = Running::read(data)
                && running.pid == child.id()
            {
                return Dev { child: Some(child), running, output };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("cargo xtask dev exited ({status}) before it was ready:\n{}", log_text());
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
                let _ = child.wait();
                panic!("cargo xtask dev was not ready in {READY_TIMEOUT:?}:\n{}", log_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Ctrl-C: SIGINT, then waits for the command to finish stopping everything.
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal(Signal::SIGINT)
    }

    /// Waits for the command to exit on its own.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > within {
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
                let _ = child.wait();
                panic!("cargo xtask dev did not exit within {within:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` to the command and waits for it to exit.
    pub fn signal(&mut self, signal: Signal) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "cargo xtask dev did not stop within 120 s of {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://<id>.execute-api.localhost:<port>` in the emulator's path style, which needs no
    /// resolver for `*.localhost` (browsers have one; this machine's getaddrinfo does not).
    pub fn http_api(&self) -> String {
        path_style(&self.running.http_api_url, &self.running.emulator_url)
    }

    pub fn web_socket(&self) -> String {
        path_style(&self.running.web_socket_url, &self.running.emulator_url).replacen("http://", "ws://", 1)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.interrupt();
        }
    }
}

pub fn path_style(url: &str, emulator: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let api_id = host.split('.').next().unwrap();
    let path = if path.is_empty() { String::new() } else { format!("/{path}") };
    format!("{emulator}/_aws/execute-api/{api_id}{path}")
}

/// Processes whose command line mentions `needle` (the data folder: the emulator and the
/// function processes it starts run from under it).
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && pid != std::process::id() {
            found.push((pid, cmdline));
        }
    }
    found
}

/// A user signed up through the local sign-in.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
    pub refresh_token: String,
}

pub async fn sign_up(http: &reqwest::Client, dev: &Dev, email: &str) -> User {
    let response = http
        .post(format!("{}/signup", dev.running.signin_url))
        .header("apikey", &dev.running.anon_key)
        .json(&json!({ "email": email, "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "sign-up of {email}");
    let session: Value = response.json().await.unwrap();
    User {
        id: session["user"]["id"].as_str().unwrap().to_owned(),
        token: session["access_token"].as_str().unwrap().to_owned(),
        refresh_token: session["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// Imports, as the user of `token`, memories whose export is past what one Lambda answer carries:
/// each a word and then backslashes (a Windows path's kind of text), which the export escapes and
/// Lambda's answer escapes again, so 300 are past the answer's 6 MB as 1,150 plain ones would be,
/// at a quarter of the emulator's import time. Returns how many.
pub async fn import_past_one_answer(http: &reqwest::Client, dev: &Dev, token: &str) -> usize {
    const MEMORIES: usize = 300;
    let at = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let memories: Vec<Value> = (0..MEMORIES)
        .map(|i| {
            let word = format!("bulk{i:04} ");
            let content = format!("{word}{}", "\\".repeat(brain2_api::MAX_CONTENT_CHARS - word.len()));
            json!({
                "id": uuid::Uuid::now_v7().to_string(), "content": content, "tags": [], "keywords": [],
                "createdAt": at, "updatedAt": at, "version": 1, "links": []
            })
        })
        .collect();
    for part in memories.chunks(100) {
        let document = json!({ "format": "brain2-export", "version": 1, "exportedAt": at, "memories": part });
        // An import cut short (the function's timeout in the emulator) is finished by sending it again.
        let mut present = 0;
        for _ in 0..5 {
            let answer = http
                .post(format!("{}/api/import", dev.http_api()))
                .bearer_auth(token)
                .json(&document)
                .send()
                .await
                .unwrap();
            if answer.status() == 200 {
                let report: Value = answer.json().await.unwrap();
                present = report["created"].as_u64().unwrap() + report["alreadyPresent"].as_u64().unwrap();
                break;
            }
        }
        assert_eq!(present as usize, part.len(), "an import part of {} memories went in", part.len());
    }
    MEMORIES
}

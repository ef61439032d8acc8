//! Debian's headless Chromium over WebDriver (chromedriver), driven with fantoccini.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use xtask::chromium::{CHROMEDRIVER, CHROMIUM};
pub const WAIT: Duration = Duration::from_secs(30);

/// A chromedriver process on a free port. Dropping it kills the driver and every browser it
/// started (found by their profile folders), even when a test failed before closing them.
#[derive(Debug)]
pub struct Driver {
    pub url: String,
    child: Child,
    profiles: std::sync::Mutex<Vec<PathBuf>>,
}

impl Driver {
    pub fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "Chromium and its driver are missing: run the tests with `cargo xtask test`, which installs them, or `apt-get install chromium chromium-driver`"
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not listen within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { url: format!("http://127.0.0.1:{port}"), child, profiles: std::sync::Mutex::new(Vec::new()) }
    }

    /// A new browser with its own empty profile.
    pub async fn browser(&self, profile: &std::path::Path) -> Browser {
        self.start_browser(profile, false).await
    }

    /// A new browser that also records its network requests (`Browser::network_requests`).
    pub async fn browser_recording_requests(&self, profile: &std::path::Path) -> Browser {
        self.start_browser(profile, true).await
    }

    async fn start_browser(&self, profile: &std::path::Path, record_requests: bool) -> Browser {
        self.profiles.lock().unwrap().push(profile.to_path_buf());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // Offline and as root: no sandbox, no background traffic.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--no-first-run",
                    "--disable-sync", "--disable-quic", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display())],
                // Downloads land in the profile's `downloads`, unasked ([`Browser::downloaded`]).
                "prefs": {
                    "download.default_directory": profile.join("downloads"),
                    "download.prompt_for_download": false,
                },
            },
            "goog:loggingPrefs": if record_requests {
                json!({ "browser": "ALL", "performance": "ALL" })
            } else {
                json!({ "browser": "ALL" })
            },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a WebDriver session");
        let session = client.session_id().await.unwrap().unwrap_or_default();
        Browser { client, driver: self.url.clone(), session }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for profile in self.profiles.lock().map(|p| p.clone()).unwrap_or_default() {
            for (pid, _) in super::dev::processes_mentioning(&format!("--user-data-dir={}", profile.display())) {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Browser {
    pub client: Client,
    driver: String,
    session: String,
}

impl Browser {
    pub async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector} did not appear within {WAIT:?}: {e}"))
    }

    /// Waits until `script` (a JS expression) is truthy.
    pub async fn until(&self, what: &str, script: &str) {
        let started = Instant::now();
        loop {
            let value = self.client.execute(&format!("return !!({script});"), vec![]).await.unwrap();
            if value == Value::Bool(true) {
                return;
            }
            if started.elapsed() > WAIT {
                let shot = self.screenshot("failure").await;
                let console = self.console().await;
                panic!(
                    "{what}: `{script}` did not hold within {WAIT:?}; screenshot {}; console: {console:#?}",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A DevTools command, through chromedriver's CDP endpoint.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/session/{}/goog/cdp/execute", self.driver, self.session))
            .json(&json!({ "cmd": command, "params": params }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{command} failed: {body}");
        body["value"].clone()
    }

    /// ChromeDriver's own network emulation: offline, or online with `latency_ms` added.
    pub async fn network_conditions(&self, offline: bool, latency_ms: u64) {
        let response = reqwest::Client::new()
            .post(format!("{}/session/{}/chromium/network_conditions", self.driver, self.session))
            .json(&json!({ "network_conditions": {
                "offline": offline, "latency": latency_ms,
                "download_throughput": -1, "upload_throughput": -1,
            } }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(status.is_success(), "network conditions: {}", response.text().await.unwrap());
    }

    /// The requests the page sent since the last call, as `(method, url)`, CORS preflights left
    /// out (a browser made with `Driver::browser_recording_requests`).
    pub async fn network_requests(&self) -> Vec<(String, String)> {
        let response = reqwest::Client::new()
            .post(format!("{}/session/{}/se/log", self.driver, self.session))
            .json(&json!({ "type": "performance" }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        let mut requests = Vec::new();
        for entry in body["value"].as_array().cloned().unwrap_or_default() {
            let Some(message) = entry["message"].as_str() else { continue };
            let Ok(message) = serde_json::from_str::<Value>(message) else { continue };
            let message = &message["message"];
            if message["method"] != "Network.requestWillBeSent" || message["params"]["type"] == "Preflight" {
                continue;
            }
            let request = &message["params"]["request"];
            if let (Some(method), Some(url)) = (request["method"].as_str(), request["url"].as_str())
                && method != "OPTIONS"
            {
                requests.push((method.to_owned(), url.to_owned()));
            }
        }
        requests
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The browser's console since the last call (chromedriver's log endpoint).
    pub async fn console(&self) -> Vec<Value> {
        let response = reqwest::Client::new()
            .post(format!("{}/session/{}/se/log", self.driver, self.session))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["value"].as_array().cloned().unwrap_or_default()
    }

    /// Fails on any console error, CSP violations included.
    pub async fn assert_no_console_errors(&self, stage: &str) {
        self.assert_console_errors_only(stage, &[]).await;
    }

    /// Fails on any console error but the network failures `expected` names (the browser logs
    /// an answer such as a 409 that the page expects as an error, though the page handles it).
    pub async fn assert_console_errors_only(&self, stage: &str, expected: &[&str]) {
        let errors: Vec<Value> = self
            .console()
            .await
            .into_iter()
            .filter(|entry| {
                entry["level"] == "SEVERE"
                    || entry["message"].as_str().is_some_and(|m| m.contains("Content Security Policy"))
            })
            .filter(|entry| {
                let message = entry["message"].as_str().unwrap_or_default();
                !(entry["source"] == "network" && expected.iter().any(|e| message.contains(e)))
            })
            .collect();
        assert!(errors.is_empty(), "console errors at {stage}: {errors:#?}");
    }

    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = xtask::workspace_root().join("target/browser-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        path
    }

    /// Presses Tab until `script` holds for `document.activeElement` (as `el`).
    pub async fn tab_until(&self, what: &str, script: &str) {
        for _ in 0..60 {
            let holds = self.eval(&format!("const el = document.activeElement; return !!({script});")).await;
            if holds == Value::Bool(true) {
                return;
            }
            self.client.active_element().await.unwrap().send_keys("\u{E004}").await.unwrap();
        }
        panic!("Tab never reached {what}");
    }
}

/// The file whose name starts with `prefix` that the browser of `profile` saved, once complete
/// (Chromium writes `.crdownload` until then).
pub async fn downloaded(profile: &std::path::Path, prefix: &str, within: std::time::Duration) -> PathBuf {
    let folder = profile.join("downloads");
    let deadline = std::time::Instant::now() + within;
    loop {
        let names: Vec<String> = std::fs::read_dir(&folder)
            .map(|entries| {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        if let Some(name) = names.iter().find(|n| n.starts_with(prefix) && !n.ends_with(".crdownload")) {
            return folder.join(name);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no download {prefix}… in {} within {within:?}: {names:?}",
            folder.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

//! `cargo xtask dev` following edits, the way a person uses it: one `dev`, one tab in headless
//! Chromium. A handler's answer is edited and the new answer comes without a restart, then the
//! edit is undone; a client file is edited and the tab reloads itself with its draft and its
//! session kept; the backend is broken and the tab shows the compiler's error while the old code
//! still answers, until it is mended. The `#[ignore]`d benchmark (`cargo xtask bench watch`)
//! times the same loops.
//!
//! These tests edit the workspace's own files: a copy of the workspace would rebuild every
//! workspace crate from nothing (cargo keys path packages by their folder), minutes on two
//! cores, and xtask keeps its tools under the workspace's `target/`. So each edit is an
//! [`Edit`], undone on every path: when dropped (a failed assertion too), on SIGINT, SIGTERM or
//! SIGHUP of this process, and, after a SIGKILL, by the next run, from a backup under
//! `target/dev-watch-edits/`. An edit is undone only while the file still holds it, so a
//! person's own change made meanwhile is never overwritten. Tests of this file run one at a
//! time ([`ONE_AT_A_TIME`]); other test files run `dev --no-watch`, and cargo runs test files
//! one after the other.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::browser::{Browser, Driver};
use support::dev::{Dev, free_port_pair, temporary_folder};

/// A change is built and live within this (a first build after an edit, on a busy machine).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(300);
const MARKER: &str = "dev_watch";
const HANDLER: &str = "functions/backend/src/lib.rs";
const HANDLER_LINE: &str = r#"Json(json!({ "status": "ok" }))"#;
const STACK: &str = "brain2-stacks/src/compute.rs";
const STACK_LINE: &str = r#"description: "Brain2 HTTP API: memories and the graph","#;
const CLIENT: &str = "web/src/views/composer.rs";
const CLIENT_LINE: &str = r#"<label for="composer">"New memory"</label>"#;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// An edit not yet undone: the file, its original bytes, its edited bytes.
type OpenEdit = (PathBuf, Vec<u8>, Vec<u8>);
static OPEN_EDITS: Mutex<Vec<OpenEdit>> = Mutex::new(Vec::new());

fn backups() -> PathBuf {
    xtask::workspace_root().join("target/dev-watch-edits")
}

/// Puts `original` back into `path` if it still holds `edited`.
fn undo(path: &Path, original: &[u8], edited: &[u8]) {
    if std::fs::read(path).is_ok_and(|now| now == edited) {
        std::fs::write(path, original).unwrap();
    }
}

/// An edit of a workspace file, undone on every path (see the module's documentation).
struct Edit {
    path: PathBuf,
    original: Vec<u8>,
    edited: Vec<u8>,
    backup: PathBuf,
}

impl Edit {
    fn new(relative: &str, from: &str, to: &str) -> Edit {
        let path = xtask::workspace_root().join(relative);
        let original = std::fs::read(&path).unwrap();
        let text = String::from_utf8(original.clone()).unwrap();
        assert!(text.contains(from), "{relative} no longer holds {from:?}; update this test");
        assert!(to.contains(MARKER), "an edit carries the marker");
        let edited = text.replacen(from, to, 1).into_bytes();
        std::fs::create_dir_all(backups()).unwrap();
        let backup = backups().join(relative.replace('/', "__"));
        // The backup first: a kill between the two writes leaves what the next run needs.
        std::fs::write(&backup, serde_json::to_vec(&(relative, &original)).unwrap()).unwrap();
        OPEN_EDITS.lock().unwrap().push((path.clone(), original.clone(), edited.clone()));
        std::fs::write(&path, &edited).unwrap();
        Edit { path, original, edited, backup }
    }
}

impl Drop for Edit {
    fn drop(&mut self) {
        undo(&self.path, &self.original, &self.edited);
        OPEN_EDITS.lock().unwrap().retain(|(path, _, edited)| !(*path == self.path && *edited == self.edited));
        let _ = std::fs::remove_file(&self.backup);
    }
}

/// Undoes what a killed run left (its backups), then undoes open edits on SIGINT, SIGTERM and
/// SIGHUP before this process ends.
fn guard_edits(runtime: &tokio::runtime::Runtime) {
    for entry in std::fs::read_dir(backups()).into_iter().flatten().flatten() {
        if let Ok((relative, original)) =
            serde_json::from_slice::<(String, Vec<u8>)>(&std::fs::read(entry.path()).unwrap())
        {
            let path = xtask::workspace_root().join(&relative);
            let now = std::fs::read(&path).unwrap_or_default();
            if now != original && String::from_utf8_lossy(&now).contains(MARKER) {
                eprintln!("putting back {relative}, which a stopped run of this test had left edited");
                std::fs::write(&path, &original).unwrap();
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
    runtime.spawn(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut terminate, mut hangup) =
            (signal(SignalKind::terminate()).unwrap(), signal(SignalKind::hangup()).unwrap());
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
        for (path, original, edited) in OPEN_EDITS.lock().unwrap().drain(..) {
            undo(&path, &original, &edited);
        }
        let _ = std::fs::remove_dir_all(backups());
        std::process::exit(130);
    });
}

async fn health(http: &reqwest::Client, dev: &Dev) -> Option<Value> {
    let response = http.get(format!("{}/health", dev.http_api())).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Polls the health route until `check` holds; returns how long that took.
async fn answer(http: &reqwest::Client, dev: &Dev, what: &str, check: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if health(http, dev).await.is_some_and(|body| check(&body)) {
            return started.elapsed();
        }
        assert!(started.elapsed() < CHANGE_TIMEOUT, "{what} within {CHANGE_TIMEOUT:?}; dev's log:\n{}", dev.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `script` holds in the tab, beyond the browser helper's 30 s (builds take longer).
async fn until(browser: &Browser, dev: &Dev, what: &str, script: &str) -> Duration {
    let started = Instant::now();
    loop {
        // A tab in the middle of reloading has no document to ask.
        if let Ok(value) = browser.client.execute(&format!("return !!({script});"), vec![]).await
            && value == Value::Bool(true)
        {
            return started.elapsed();
        }
        if started.elapsed() > CHANGE_TIMEOUT {
            let shot = browser.screenshot("dev-watch-failure").await;
            panic!(
                "{what}: `{script}` did not hold within {CHANGE_TIMEOUT:?}; {}; dev's log:\n{}",
                shot.display(),
                dev.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last line dev printed about a reload.
fn last_reload_line(dev: &Dev) -> String {
    dev.log().lines().rev().find(|l| l.starts_with("dev: ") && l.contains(" changed → ")).unwrap_or_default().to_owned()
}

async fn sign_up(browser: &Browser, dev: &Dev) {
    browser.client.goto(&dev.running.site_url).await.unwrap();
    browser.css("#signin-toggle").await.click().await.unwrap();
    browser.css("#email").await.send_keys("watcher@example.com").await.unwrap();
    browser.css("#password").await.send_keys("a long enough password").await.unwrap();
    browser.css("#signin-submit").await.click().await.unwrap();
    browser.css("#composer").await;
}

/// The backend function's description as the emulator's Lambda has it.
async fn backend_description(dev: &Dev) -> String {
    let aws = dev.running.aws().await.unwrap();
    let function = aws
        .cloudformation(None)
        .describe_stack_resource()
        .stack_name("brain2-dev-compute")
        .logical_resource_id("BackendFunction")
        .send()
        .await
        .unwrap()
        .stack_resource_detail()
        .and_then(|d| d.physical_resource_id().map(str::to_owned))
        .unwrap();
    let configuration = aws.lambda(None).get_function_configuration().function_name(function).send().await.unwrap();
    configuration.description().unwrap_or_default().to_owned()
}

/// Polls the backend's description until `check` holds; returns how long that took.
async fn description(dev: &Dev, what: &str, check: impl Fn(&str) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check(&backend_description(dev).await) {
            return started.elapsed();
        }
        assert!(started.elapsed() < CHANGE_TIMEOUT, "{what} within {CHANGE_TIMEOUT:?}; dev's log:\n{}", dev.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const OVERLAY_SHOWN: &str = "(() => { const o = document.getElementById('brain2-dev-overlay'); return o && !o.hidden && o.textContent.includes('error'); })()";
const OVERLAY_GONE: &str =
    "(() => { const o = document.getElementById('brain2-dev-overlay'); return !o || o.hidden; })()";
const LABEL: &str = "document.querySelector('label[for=composer]')?.textContent";

#[test]
fn edits_reach_the_running_system_without_a_restart() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    guard_edits(&runtime);
    let data = temporary_folder("dev-watch");
    let dev = Dev::start_watching(free_port_pair(), &data);
    let driver = Driver::start();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        assert_eq!(health(&http, &dev).await, Some(serde_json::json!({ "status": "ok" })));
        let tab = driver.browser(&data.join("profile")).await;
        sign_up(&tab, &dev).await;
        tab.assert_no_console_errors("the first load, with the live-reload script").await;

        // A handler's answer, edited while dev runs, then put back.
        {
            let _edit = Edit::new(HANDLER, HANDLER_LINE, r#"Json(json!({ "status": "ok", "edit": "dev_watch" }))"#);
            let took = answer(&http, &dev, "the edited answer", |b| b["edit"] == MARKER).await;
            println!("backend edit → new answer in {took:.1?}");
            let line = last_reload_line(&dev);
            assert!(line.contains(HANDLER) && line.contains("hotswapped backend"), "{line}");
        }
        answer(&http, &dev, "the answer as it was", |b| b.get("edit").is_none()).await;

        // A stack: synthesized, checked and deployed through a change set; then put back.
        {
            let _edit =
                Edit::new(STACK, STACK_LINE, r#"description: "Brain2 HTTP API: memories and the graph (dev_watch)","#);
            let took = description(&dev, "the stack's change deployed", |d| d.contains(MARKER)).await;
            println!("stack edit → deployed in {took:.1?}");
            let line = last_reload_line(&dev);
            assert!(line.contains("deployed compute") && line.contains("policy passed"), "{line}");
        }
        description(&dev, "the stack as it was", |d| !d.contains(MARKER)).await;

        // A client file: the tab reloads itself, with its draft and session.
        tab.css("#composer").await.send_keys("a draft typed before the reload").await.unwrap();
        tab.eval("window.devWatchBeforeReload = true; return true;").await;
        {
            let _edit = Edit::new(CLIENT, CLIENT_LINE, r#"<label for="composer">"New memory (dev_watch)"</label>"#);
            let took = until(
                &tab,
                &dev,
                "the reloaded tab",
                &format!("!window.devWatchBeforeReload && {LABEL} === 'New memory (dev_watch)'"),
            )
            .await;
            println!("client edit → reloaded tab in {took:.1?}");
            let draft = tab.eval("return document.querySelector('#composer').value;").await;
            assert_eq!(draft, "a draft typed before the reload", "the draft survives the reload");
            assert!(last_reload_line(&dev).contains("tab(s) reloading"), "{}", last_reload_line(&dev));
            tab.assert_no_console_errors("after the reload").await;
        }
        until(&tab, &dev, "the label as it was", &format!("{LABEL} === 'New memory'")).await;
        tab.css("#composer").await;

        // A broken build: the overlay in the tab, the old code still answering; then mended.
        {
            let _edit = Edit::new(HANDLER, HANDLER_LINE, r#"Json(json!({ "status": "ok" })) dev_watch_broken"#);
            until(&tab, &dev, "the overlay", OVERLAY_SHOWN).await;
            let overlay = tab.eval("return document.getElementById('brain2-dev-overlay').textContent;").await;
            assert!(overlay.as_str().unwrap().contains("dev_watch_broken"), "{overlay}");
            assert_eq!(health(&http, &dev).await, Some(serde_json::json!({ "status": "ok" })), "the old code answers");
            tab.screenshot("dev-watch-overlay").await;
        }
        until(&tab, &dev, "the overlay gone", OVERLAY_GONE).await;
        assert_eq!(health(&http, &dev).await, Some(serde_json::json!({ "status": "ok" })));
        tab.assert_no_console_errors("the end").await;
    });
    let mut dev = dev;
    assert!(dev.interrupt().success(), "{}", dev.log());
}

/// The benchmark (`cargo xtask bench watch`): ten one-line backend edits to their new answer,
/// three client edits to the reloaded tab, three stack edits to their deploy. Prints each figure
/// and the machine's load average.
#[test]
#[ignore]
fn bench_edits_to_live() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    guard_edits(&runtime);
    let data = temporary_folder("dev-watch-bench");
    let dev = Dev::start_watching(free_port_pair(), &data);
    let driver = Driver::start();
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let summary = |name: &str, mut times: Vec<Duration>| {
        times.sort();
        let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
        println!(
            "{name}: n={} p50 {} min {} max {} (load average {})",
            times.len(),
            s(times[times.len() / 2]),
            s(times[0]),
            s(times[times.len() - 1]),
            load()
        );
    };
    runtime.block_on(async {
        let http = reqwest::Client::new();
        // One edit first, so the first build of the edited crate is not counted.
        {
            let _warm =
                Edit::new(HANDLER, HANDLER_LINE, r#"Json(json!({ "status": "ok", "edit": "dev_watch warm" }))"#);
            answer(&http, &dev, "the warm-up answer", |b| b["edit"] == "dev_watch warm").await;
        }
        answer(&http, &dev, "the answer as it was", |b| b.get("edit").is_none()).await;
        let mut backend = Vec::new();
        for round in 0..10 {
            let marker = format!("dev_watch {round}");
            {
                let _edit = Edit::new(
                    HANDLER,
                    HANDLER_LINE,
                    &format!(r#"Json(json!({{ "status": "ok", "edit": "{marker}" }}))"#),
                );
                backend.push(answer(&http, &dev, "the edited answer", |b| b["edit"] == marker.as_str()).await);
                println!("  backend edit {round}: {}", last_reload_line(&dev));
            }
            // Undone, and live again, before the next edit is timed.
            answer(&http, &dev, "the answer as it was", |b| b.get("edit").is_none()).await;
        }
        summary("one-line backend edit → new answer", backend);

        let tab = driver.browser(&data.join("profile")).await;
        sign_up(&tab, &dev).await;
        let mut client = Vec::new();
        for round in 0..3 {
            let text = format!("New memory (dev_watch {round})");
            tab.eval("window.devWatchBeforeReload = true; return true;").await;
            {
                let _edit = Edit::new(CLIENT, CLIENT_LINE, &format!(r#"<label for="composer">"{text}"</label>"#));
                client.push(
                    until(
                        &tab,
                        &dev,
                        "the reloaded tab",
                        &format!("!window.devWatchBeforeReload && {LABEL} === '{text}'"),
                    )
                    .await,
                );
                println!("  client edit {round}: {}", last_reload_line(&dev));
            }
            until(&tab, &dev, "the label as it was", &format!("{LABEL} === 'New memory'")).await;
        }
        summary("client edit → reloaded tab", client);

        let mut stack = Vec::new();
        for round in 0..3 {
            let marker = format!("dev_watch {round}");
            {
                let _edit = Edit::new(
                    STACK,
                    STACK_LINE,
                    &format!(r#"description: "Brain2 HTTP API: memories and the graph ({marker})","#),
                );
                stack.push(description(&dev, "the stack's change deployed", |d| d.contains(&marker)).await);
                println!("  stack edit {round}: {}", last_reload_line(&dev));
            }
            description(&dev, "the stack as it was", |d| !d.contains(MARKER)).await;
        }
        summary("stack edit → change deployed", stack);
    });
    let mut dev = dev;
    assert!(dev.interrupt().success(), "{}", dev.log());
}

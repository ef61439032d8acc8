//! `cargo xtask dev` following edits, the way a person uses it: one `dev`, one tab in headless
//! Chromium. A handler's answer is edited and the new answer comes without a restart; the
//! handler is then broken, and the tab shows the compiler's error while the edited code still
//! answers; then it is put back, and the overlay goes. A stack is edited and deployed through
//! a change set, then put back. A client file is edited and the tab reloads itself with its
//! draft and its session kept. The `#[ignore]`d benchmark (`cargo xtask bench watch`) times the
//! same loops.
//!
//! These tests edit the workspace's own files: a copy of the workspace would rebuild every
//! workspace crate from nothing (cargo keys path packages by their folder), minutes on two
//! cores, and xtask keeps its tools under the workspace's `target/`. So each edit is an
//! [`Edit`], undone on every path: when dropped (a failed assertion too), on SIGINT, SIGTERM or
//! SIGHUP of this process (which end the test's body, so its edits are dropped, and then fail
//! it, so dev and the browser stop as on any failure), and, after a SIGKILL, by the next run,
//! from a backup under `target/dev-watch-edits/`. An edit is undone only while the file still
//! holds it, so a person's own change made meanwhile is never overwritten. Tests of this file
//! run one at a time ([`ONE_AT_A_TIME`]); other test files run `dev --no-watch`, and `cargo xtask
//! test` runs this file alone, after the others (its `RUN_ALONE`).

mod support;

use std::future::Future;
use std::path::PathBuf;
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
/// In the backend's variables of the same file: a variable named like a secret fails the
/// policy pack (rule lambda-no-secret-env).
const STACK_ENVIRONMENT_LINE: &str = r#"("ENVIRONMENT", app.environment().into()),"#;
const CLIENT: &str = "web/src/views/composer.rs";
const CLIENT_LINE: &str = r#"<label for="composer">"New memory"</label>"#;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn backups() -> PathBuf {
    xtask::workspace_root().join("target/dev-watch-edits")
}

/// An edit of a workspace file, undone on every path (see the module's documentation).
struct Edit {
    path: PathBuf,
    original: Vec<u8>,
    edited: Vec<u8>,
    backup: PathBuf,
}

impl Edit {
    /// Replaces the first `from` in the file (a workspace path) with `to`.
    fn new(relative: &str, from: &str, to: &str) -> Edit {
        let path = xtask::workspace_root().join(relative);
        let original = std::fs::read(&path).unwrap();
        std::fs::create_dir_all(backups()).unwrap();
        let backup = backups().join(relative.replace('/', "__"));
        // The backup first: a kill between the two writes leaves what the next run needs.
        std::fs::write(&backup, serde_json::to_vec(&(relative, &original)).unwrap()).unwrap();
        let mut edit = Edit { path, edited: original.clone(), original, backup };
        edit.change(from, to);
        edit
    }

    /// Edits the file again (it keeps its original for the undo).
    fn change(&mut self, from: &str, to: &str) {
        let text = String::from_utf8(self.edited.clone()).unwrap();
        assert!(text.contains(from), "{} no longer holds {from:?}; update this test", self.path.display());
        assert!(to.contains(MARKER), "an edit carries the marker");
        assert_eq!(std::fs::read(&self.path).unwrap(), self.edited, "{} changed meanwhile", self.path.display());
        self.edited = text.replacen(from, to, 1).into_bytes();
        std::fs::write(&self.path, &self.edited).unwrap();
    }
}

impl Drop for Edit {
    fn drop(&mut self) {
        if std::fs::read(&self.path).is_ok_and(|now| now == self.edited) {
            std::fs::write(&self.path, &self.original).unwrap();
        }
        let _ = std::fs::remove_file(&self.backup);
    }
}

/// Undoes what a killed run left (its backups), where the file still carries the marker.
fn undo_edits_left_by_a_killed_run() {
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
}

/// Runs the test's `body` until it ends or this process gets SIGINT, SIGTERM or SIGHUP: then the
/// body (and every edit it holds) is dropped, and the test fails, which stops dev and the browser.
async fn unless_stopped(body: impl Future<Output = ()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut terminate, mut hangup) = (signal(SignalKind::terminate()).unwrap(), signal(SignalKind::hangup()).unwrap());
    let signal = tokio::select! {
        () = body => return,
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
        _ = hangup.recv() => "SIGHUP",
    };
    panic!("stopped by {signal}; the edits are undone");
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
    answer_after_reload(http, dev, what, check, None).await
}

/// [`answer`], polling every 250 ms until dev prints a reload line after the first
/// `reloads_seen` (printed as the change goes live), then every 10 ms, without a stream of
/// invocations of the old code competing with the rebuild for the 2 cores (a developer does not
/// poll; the polling is the benchmark's). A change live before its line is printed can be seen
/// up to 250 ms late: the figure errs long, never short.
async fn answer_after_reload(
    http: &reqwest::Client,
    dev: &Dev,
    what: &str,
    check: impl Fn(&Value) -> bool,
    reloads_seen: Option<usize>,
) -> Duration {
    let started = Instant::now();
    loop {
        if health(http, dev).await.is_some_and(|body| check(&body)) {
            return started.elapsed();
        }
        assert!(started.elapsed() < CHANGE_TIMEOUT, "{what} within {CHANGE_TIMEOUT:?}; dev's log:\n{}", dev.log());
        let reloaded = reloads_seen.is_some_and(|seen| reload_lines(dev).len() > seen);
        let pause = match reloads_seen {
            None => 100,
            Some(_) if reloaded => 10,
            Some(_) => 250,
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
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

/// The lines dev printed about reloads, one per reload.
fn reload_lines(dev: &Dev) -> Vec<String> {
    dev.log().lines().filter(|l| l.starts_with("dev: ") && l.contains(" changed → ")).map(str::to_owned).collect()
}

/// Waits for a reload line after the first `seen` that satisfies `check` (dev prints it once the
/// reload is done, a moment after its change is live); returns it.
async fn reload_line(dev: &Dev, seen: usize, what: &str, check: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        if let Some(line) = reload_lines(dev).into_iter().skip(seen).find(|l| check(l)) {
            return line;
        }
        assert!(
            started.elapsed() < CHANGE_TIMEOUT,
            "no reload line for {what} within {CHANGE_TIMEOUT:?}; dev's log:\n{}",
            dev.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
const POLICY_OVERLAY_SHOWN: &str = "(() => { const o = document.getElementById('brain2-dev-overlay'); return o && !o.hidden && o.textContent.includes('lambda-no-secret-env'); })()";
const OVERLAY_GONE: &str =
    "(() => { const o = document.getElementById('brain2-dev-overlay'); return !o || o.hidden; })()";
const LABEL: &str = "document.querySelector('label[for=composer]')?.textContent";

#[test]
fn edits_reach_the_running_system_without_a_restart() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    undo_edits_left_by_a_killed_run();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let data = temporary_folder("dev-watch");
    let dev = Dev::start_watching(free_port_pair(), &data);
    let driver = Driver::start();
    runtime.block_on(unless_stopped(async {
        let http = reqwest::Client::new();
        assert_eq!(health(&http, &dev).await, Some(serde_json::json!({ "status": "ok" })));
        let tab = driver.browser(&data.join("profile")).await;
        sign_up(&tab, &dev).await;
        tab.assert_no_console_errors("the first load, with the live-reload script").await;

        // A handler's answer, edited while dev runs; then broken: the overlay, and the edited
        // code still answers; then put back: the overlay goes and the first answer comes back.
        {
            let seen = reload_lines(&dev).len();
            let mut edit = Edit::new(HANDLER, HANDLER_LINE, r#"Json(json!({ "status": "ok", "edit": "dev_watch" }))"#);
            let took = answer(&http, &dev, "the edited answer", |b| b["edit"] == MARKER).await;
            println!("backend edit → new answer in {took:.1?}");
            reload_line(&dev, seen, "the backend edit", |l| l.contains(HANDLER) && l.contains("hotswapped backend"))
                .await;

            let seen = reload_lines(&dev).len();
            edit.change(r#""edit": "dev_watch" }))"#, r#""edit": "dev_watch" })) dev_watch_broken"#);
            until(&tab, &dev, "the overlay", OVERLAY_SHOWN).await;
            let overlay = tab.eval("return document.getElementById('brain2-dev-overlay').textContent;").await;
            assert!(overlay.as_str().unwrap().contains("dev_watch_broken"), "{overlay}");
            reload_line(&dev, seen, "the broken build", |l| l.contains("did not build")).await;
            let still = health(&http, &dev).await;
            assert_eq!(still.as_ref().map(|b| &b["edit"]), Some(&Value::from(MARKER)), "the last good code answers");
            tab.screenshot("dev-watch-overlay").await;
        }
        answer(&http, &dev, "the answer as it was", |b| b.get("edit").is_none()).await;
        until(&tab, &dev, "the overlay gone", OVERLAY_GONE).await;

        // A stack: synthesized, checked and deployed through a change set; then a policy
        // finding: the overlay, and the last good deploy stays; then put back.
        {
            let seen = reload_lines(&dev).len();
            let mut edit =
                Edit::new(STACK, STACK_LINE, r#"description: "Brain2 HTTP API: memories and the graph (dev_watch)","#);
            let took = description(&dev, "the stack's change deployed", |d| d.contains(MARKER)).await;
            println!("stack edit → deployed in {took:.1?}");
            reload_line(&dev, seen, "the stack edit", |l| {
                l.contains("deployed compute") && l.contains("policy passed")
            })
            .await;

            let seen = reload_lines(&dev).len();
            edit.change(
                STACK_ENVIRONMENT_LINE,
                r#"("ENVIRONMENT", app.environment().into()), ("DEV_WATCH_API_KEY", "dev_watch".into()),"#,
            );
            until(&tab, &dev, "the policy finding's overlay", POLICY_OVERLAY_SHOWN).await;
            reload_line(&dev, seen, "the policy finding", |l| l.contains("the stacks were not deployed")).await;
            assert!(dev.log().contains("lambda-no-secret-env"), "the finding is in the terminal:\n{}", dev.log());
            assert!(backend_description(&dev).await.contains(MARKER), "the last good deploy stays");
        }
        description(&dev, "the stack as it was", |d| !d.contains(MARKER)).await;
        until(&tab, &dev, "the overlay gone", OVERLAY_GONE).await;

        // A client file: the tab reloads itself, with its draft and session; then put back.
        tab.css("#composer").await.send_keys("a draft typed before the reload").await.unwrap();
        tab.eval("window.devWatchBeforeReload = true; return true;").await;
        {
            let seen = reload_lines(&dev).len();
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
            reload_line(&dev, seen, "the client edit", |l| l.contains(CLIENT) && l.contains("tab(s) reloading")).await;
            tab.assert_no_console_errors("after the reload").await;
        }
        until(&tab, &dev, "the label as it was", &format!("{LABEL} === 'New memory'")).await;
        assert_eq!(health(&http, &dev).await, Some(serde_json::json!({ "status": "ok" })));
        tab.assert_no_console_errors("the end").await;
    }));
    let mut dev = dev;
    assert!(dev.interrupt().success(), "{}", dev.log());
}

/// The benchmark (`cargo xtask bench watch`): ten one-line backend edits to their new answer,
/// three client edits to the reloaded tab, three stack edits to their deploy, each edit from
/// the last. Prints each figure and the machine's load average.
#[test]
#[ignore]
fn bench_edits_to_live() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    undo_edits_left_by_a_killed_run();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
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
    runtime.block_on(unless_stopped(async {
        let http = reqwest::Client::new();
        println!("load average at the start: {}", load());
        {
            // One edit first, so the first build after dev's start is not counted.
            let mut edit = Edit::new(HANDLER, HANDLER_LINE, r#"Json(json!({ "status": "ok", "edit": "dev_watch" }))"#);
            answer(&http, &dev, "the warm-up answer", |b| b["edit"] == MARKER).await;
            let mut backend = Vec::new();
            let mut last = MARKER.to_owned();
            for round in 0..10 {
                let marker = format!("dev_watch {round}");
                let seen = reload_lines(&dev).len();
                edit.change(&format!(r#""edit": "{last}""#), &format!(r#""edit": "{marker}""#));
                let check = |b: &Value| b["edit"] == marker.as_str();
                backend.push(answer_after_reload(&http, &dev, "the edited answer", check, Some(seen)).await);
                println!("  {}", reload_line(&dev, seen, "the backend edit", |l| l.contains("hotswapped")).await);
                last = marker;
            }
            summary("one-line backend edit → new answer", backend);
        }
        answer(&http, &dev, "the answer as it was", |b| b.get("edit").is_none()).await;

        let tab = driver.browser(&data.join("profile")).await;
        sign_up(&tab, &dev).await;
        {
            let mut edit = Edit::new(CLIENT, CLIENT_LINE, r#"<label for="composer">"New memory (dev_watch)"</label>"#);
            until(&tab, &dev, "the warm-up reload", &format!("{LABEL} === 'New memory (dev_watch)'")).await;
            let mut client = Vec::new();
            let mut last = "New memory (dev_watch)".to_owned();
            for round in 0..3 {
                let text = format!("New memory (dev_watch {round})");
                tab.eval("window.devWatchBeforeReload = true; return true;").await;
                let seen = reload_lines(&dev).len();
                edit.change(&format!("\"{last}\""), &format!("\"{text}\""));
                let reloaded = format!("!window.devWatchBeforeReload && {LABEL} === '{text}'");
                client.push(until(&tab, &dev, "the reloaded tab", &reloaded).await);
                println!("  {}", reload_line(&dev, seen, "the client edit", |l| l.contains("reloading")).await);
                last = text;
            }
            summary("client edit → reloaded tab", client);
        }
        until(&tab, &dev, "the label as it was", &format!("{LABEL} === 'New memory'")).await;

        {
            let mut edit =
                Edit::new(STACK, STACK_LINE, r#"description: "Brain2 HTTP API: memories and the graph (dev_watch)","#);
            description(&dev, "the warm-up deploy", |d| d.contains("(dev_watch)")).await;
            let mut stack = Vec::new();
            let mut last = MARKER.to_owned();
            for round in 0..3 {
                let marker = format!("dev_watch {round}");
                let seen = reload_lines(&dev).len();
                edit.change(&format!("graph ({last})"), &format!("graph ({marker})"));
                stack.push(description(&dev, "the stack's change deployed", |d| d.contains(&marker)).await);
                println!("  {}", reload_line(&dev, seen, "the stack edit", |l| l.contains("deployed compute")).await);
                last = marker;
            }
            summary("stack edit → change deployed", stack);
        }
        description(&dev, "the stack as it was", |d| !d.contains(MARKER)).await;
    }));
    let mut dev = dev;
    assert!(dev.interrupt().success(), "{}", dev.log());
}

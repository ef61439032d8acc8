//! `cargo xtask dev` after a crash, as a person meets it: dev killed (SIGKILL), dev losing its
//! terminal (SIGHUP), the emulator killed; each time the next start finds the data (within the
//! emulator's save interval) and runs one emulator, on the same ports. And `--fresh` never
//! empties a folder dev did not make.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use support::dev::{Dev, User, free_port_pair, processes_mentioning, sign_up, temporary_folder};

async fn create(http: &reqwest::Client, dev: &Dev, user: &User, content: &str) {
    let response = http
        .post(format!("{}/api/nodes", dev.http_api()))
        .bearer_auth(&user.token)
        .json(&json!({ "content": content }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "creating {content:?}");
}

async fn contents(http: &reqwest::Client, dev: &Dev, user: &User) -> Vec<String> {
    let response = http.get(format!("{}/api/nodes", dev.http_api())).bearer_auth(&user.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    let mut found: Vec<String> =
        page["nodes"].as_array().unwrap().iter().map(|n| n["content"].as_str().unwrap().to_owned()).collect();
    found.sort();
    found
}

/// The emulator processes of this data folder (the launcher's command line names its file).
fn emulators(data: &std::path::Path) -> Vec<u32> {
    processes_mentioning(&data.join("ministack-launch.py").display().to_string())
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

fn wait_until_no_emulator(data: &std::path::Path, after: &str) {
    let started = Instant::now();
    while !emulators(data).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "the emulator still runs 60 s after {after}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Signs in again (a restart keeps the users); the token of the first sign-up may be stale.
async fn sign_in(http: &reqwest::Client, dev: &Dev, email: &str) -> User {
    let response = http
        .post(format!("{}/token?grant_type=password", dev.running.signin_url))
        .header("apikey", &dev.running.anon_key)
        .json(&json!({ "email": email, "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "signing in {email} again");
    let session: Value = response.json().await.unwrap();
    User {
        id: session["user"]["id"].as_str().unwrap().to_owned(),
        token: session["access_token"].as_str().unwrap().to_owned(),
        refresh_token: session["refresh_token"].as_str().unwrap().to_owned(),
    }
}

#[test]
fn killed_hung_up_or_losing_its_emulator_dev_starts_again_with_its_data() {
    let data = temporary_folder("crash");
    let port = free_port_pair();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let email = "crash@example.com";

    // SIGKILL: dev gets no say; the emulator notices its parent is gone, saves and stops.
    let mut dev = Dev::start(port, &data);
    runtime.block_on(async {
        let user = sign_up(&http, &dev, email).await;
        create(&http, &dev, &user, "written before dev was killed").await;
    });
    // A second dev on the same folder is refused, and the first keeps its emulator.
    let second = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dev", "--quiet", "--port", &free_port_pair().to_string(), "--data"])
        .arg(&*data)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success() && said.contains("another `cargo xtask dev`"), "{said}");
    assert_eq!(emulators(&data).len(), 1, "the first run's emulator still runs");
    dev.signal(Signal::SIGKILL);
    wait_until_no_emulator(&data, "dev was killed");

    // The same ports again: nothing of the last run holds them.
    let mut dev = Dev::start(port, &data);
    assert_eq!(emulators(&data).len(), 1, "one emulator");
    runtime.block_on(async {
        let user = sign_in(&http, &dev, email).await;
        assert_eq!(contents(&http, &dev, &user).await, ["written before dev was killed"]);
        create(&http, &dev, &user, "written before the terminal went away").await;
    });

    // SIGHUP: stops as Ctrl-C does.
    let status = dev.signal(Signal::SIGHUP);
    assert!(status.success(), "dev exits cleanly on SIGHUP: {status}\n{}", dev.log());
    assert!(dev.log().contains("the emulator saved its state"), "{}", dev.log());
    assert!(emulators(&data).is_empty(), "nothing left running after SIGHUP");

    // The emulator killed under a running dev: dev says so and stops; what was saved survives.
    let mut dev = Dev::start(port, &data);
    runtime.block_on(async {
        let user = sign_in(&http, &dev, email).await;
        create(&http, &dev, &user, "written before the emulator was killed").await;
    });
    // A save that starts after the write's answer holds the write.
    let written = std::time::SystemTime::now();
    // The periodic save that follows the write (a second later, or later when saves are slow:
    // how much later is what BENCHMARKS.md states).
    let table = data.join("emulator-state/dynamodb.json");
    let saved_since = || std::fs::metadata(&table).and_then(|m| m.modified()).is_ok_and(|at| at > written);
    let started = Instant::now();
    while !saved_since() {
        assert!(started.elapsed() < Duration::from_secs(30), "no periodic save within 30 s of a write");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("the write was saved {:.1?} after its answer", started.elapsed());
    let emulator: i32 = std::fs::read_to_string(data.join("emulator.pid")).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(emulator), Signal::SIGKILL).unwrap();
    let status = dev.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "dev fails when its emulator dies");
    assert!(dev.log().contains("the emulator stopped on its own"), "{}", dev.log());

    let dev = Dev::start(port, &data);
    assert_eq!(emulators(&data).len(), 1, "one emulator");
    runtime.block_on(async {
        let user = sign_in(&http, &dev, email).await;
        assert_eq!(
            contents(&http, &dev, &user).await,
            [
                "written before dev was killed",
                "written before the emulator was killed",
                "written before the terminal went away"
            ]
        );
    });
}

#[test]
fn fresh_never_empties_a_folder_dev_did_not_make() {
    let data = temporary_folder("not-dev");
    std::fs::write(data.join("thesis.md"), "years of work").unwrap();
    let port = free_port_pair();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dev", "--fresh", "--quiet", "--port", &port.to_string(), "--data"])
        .arg(&*data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "dev --fresh ran on a foreign folder: {stderr}");
    assert!(stderr.contains("did not make") && stderr.contains("--data"), "{stderr}");
    assert_eq!(std::fs::read_to_string(data.join("thesis.md")).unwrap(), "years of work");
    assert_eq!(std::fs::read_dir(&*data).unwrap().count(), 1, "nothing was added either");
}

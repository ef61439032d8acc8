//! Benchmarks of Brain2 running under `cargo xtask dev`, printed, never asserted. Ignored by the
//! test run; `cargo xtask bench dev` runs them (see BENCHMARKS.md).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use support::dev::{Dev, free_port_pair, sign_up, temporary_folder};
use tokio_tungstenite::tungstenite::Message;

const MEMORIES: usize = 200;
const CLIENTS: usize = 8;
const REQUESTS_PER_CLIENT: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
}

#[test]
#[ignore = "a benchmark: run with `cargo xtask bench dev`"]
fn dev_benchmarks() {
    // What `cargo xtask dev` runs, then the same without the guard and IAM enforcement, to
    // show what they cost.
    bench("guarded, IAM enforced", &[]);
    bench("open (--open-emulator)", &["--open-emulator"]);
}

fn bench(variant: &str, arguments: &[&str]) {
    println!("== {variant}");
    let data = temporary_folder("dev-bench");
    let port = free_port_pair();

    // Cold start: empty data, binaries already built.
    let started = Instant::now();
    // The emulator sums up its periodic saves every 5 s (the crash-loss bound's cost).
    let variables = [("BRAIN2_SAVE_REPORT_SECONDS", "5")];
    let mut dev = Dev::start_with_env(port, &data, arguments, &variables);
    let cold = started.elapsed();
    dev.interrupt();
    let started = Instant::now();
    let dev = Dev::start_with_env(port, &data, arguments, &variables);
    let warm = started.elapsed();
    println!("cargo xtask dev to ready: cold (fresh data) {}, warm {}", ms(cold), ms(warm));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let user = sign_up(&http, &dev, "bench@example.com").await;
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("{}?token={}", dev.web_socket(), user.token)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Create → connect-node stores edges → ws-send-message pushes: one memory at a time,
        // each sharing a keyword with the others, so each one gets edges and a push.
        // Each memory's nodeCreated push (the backend's event), then the edgesChanged push
        // (connect-node stored its edges). Memories come in groups of ten sharing two keywords,
        // so every one but a group's first gets edges, and none reaches the edge cap.
        let mut created_latencies = Vec::with_capacity(MEMORIES);
        let mut latencies = Vec::with_capacity(MEMORIES);
        for i in 0..MEMORIES {
            let started = Instant::now();
            let response = http
                .post(format!("{}/api/nodes", dev.http_api()))
                .bearer_auth(&user.token)
                .json(&json!({ "content": format!("topic{} subject{} note{i}", i / 10, i / 10) }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let id = response.json::<Value>().await.unwrap()["nodeId"].as_str().unwrap().to_owned();
            let (mut created, mut linked) = (false, i % 10 == 0);
            while !(created && linked) {
                let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
                    .await
                    .expect("a push within 30 s")
                    .unwrap()
                    .unwrap();
                let Message::Text(text) = message else { continue };
                let pushed: Value = serde_json::from_str(text.as_str()).unwrap();
                match pushed["type"].as_str() {
                    Some("nodeCreated") if pushed["node"]["nodeId"] == id.as_str() => {
                        created = true;
                        created_latencies.push(started.elapsed());
                    }
                    Some("edgesChanged") if pushed["nodeId"] == id.as_str() => {
                        linked = true;
                        latencies.push(started.elapsed());
                    }
                    _ => {}
                }
            }
        }
        created_latencies.sort();
        println!(
            "create → nodeCreated on the WebSocket, {} memories: p50 {}, p99 {}, max {}",
            created_latencies.len(),
            ms(percentile(&created_latencies, 0.5)),
            ms(percentile(&created_latencies, 0.99)),
            ms(*created_latencies.last().unwrap())
        );
        latencies.sort();
        println!(
            "create → edges stored → edgesChanged on the WebSocket, {} memories: p50 {}, p99 {}, max {}",
            latencies.len(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap())
        );

        // GET /api/nodes with 8 concurrent clients.
        let url = Arc::new(format!("{}/api/nodes", dev.http_api()));
        let started = Instant::now();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (http, url, token) = (http.clone(), url.clone(), user.token.clone());
                tokio::spawn(async move {
                    let mut times = Vec::with_capacity(REQUESTS_PER_CLIENT);
                    for _ in 0..REQUESTS_PER_CLIENT {
                        let started = Instant::now();
                        let response = http.get(url.as_str()).bearer_auth(&token).send().await.unwrap();
                        assert_eq!(response.status(), 200);
                        response.bytes().await.unwrap();
                        times.push(started.elapsed());
                    }
                    times
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        times.sort();
        println!(
            "GET /api/nodes, {CLIENTS} concurrent clients, {} requests: {:.0} requests/s, p50 {}, p99 {}",
            times.len(),
            times.len() as f64 / elapsed.as_secs_f64(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );

        // The periodic saves with these memories stored: the longest is the bound's cost.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let emulator_log = std::fs::read_to_string(data.join("emulator.log")).unwrap_or_default();
        if let Some(line) = emulator_log.lines().rev().find(|line| line.contains("periodic saves:")) {
            println!(
                "emulator state saves with {MEMORIES} memories stored: {}",
                line.split("periodic saves: ").nth(1).unwrap_or(line)
            );
        }

        // A no-op deploy of all four stacks, as the warm start does it.
        let workspace = xtask::workspace_root();
        let aws = dev.running.aws().await.unwrap();
        let secret =
            aws.secretsmanager().describe_secret().secret_id(xtask::dev::SIGNIN_SECRET_NAME).send().await.unwrap();
        let local = xtask::dev::environment::LocalSettings {
            site_origin: dev.running.site_url.trim_end_matches('/').to_owned(),
            jwt_secret_arn: secret.arn().unwrap().to_owned(),
            anon_key: dev.running.anon_key.clone(),
        };
        let (config, _) = xtask::dev::environment::local_config(&workspace, "dev", &local).unwrap();
        let synthesized = xtask::synth::synthesize_config("dev", &config, Instant::now()).unwrap().synthesized;
        let packages = xtask::build::build_local(&workspace).unwrap();
        let assets = xtask::deploy::assets_bucket(&aws, "dev").await.unwrap();
        let parameters = xtask::deploy::code_parameters(&assets.name, &packages);
        let mut settings = xtask::deploy::Settings::new("dev");
        settings.yes = true;
        let ctx =
            Arc::new(xtask::deploy::Context::new(aws.clone(), settings, Some(assets), Arc::new(|_| true)).unwrap());
        let before = aws.calls().total();
        let started = Instant::now();
        let plans = xtask::deploy::plans(&synthesized, &parameters).unwrap();
        let results = xtask::deploy::deploy_all(ctx.clone(), plans).await.unwrap();
        let elapsed = started.elapsed();
        assert!(results.iter().all(|r| r.action == xtask::deploy::Action::Unchanged));
        println!(
            "no-op deploy of the four stacks to the emulator: {}, {} AWS calls, {} change sets",
            ms(elapsed),
            aws.calls().total() - before,
            ctx.change_sets_created()
        );
    });
    drop(dev);
}

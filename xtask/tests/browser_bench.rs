//! The web client's budgets, measured in the browser test harness (headless Chromium against
//! `cargo xtask dev`); printed, never asserted. Ignored by the test run: `cargo xtask bench web`.
//!
//! - first load: the bytes of HTML, JS, wasm and CSS, gzip-compressed as a CDN would send them;
//! - first render: navigation start to the sign-in form on screen;
//! - a graph of 2,000 memories and 10,000 links: the client's own `createGraph` (graph.js) to the
//!   first frame, then a pan to the next frame;
//! - a pushed change: the WebSocket message to the graph drawing the change (User Timing marks
//!   the client sets), over 20 memories.

mod support;

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use support::browser::Driver;
use support::dev::{Dev, free_port_pair, temporary_folder};

fn gzip_size(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

const GRAPH_SCRIPT: &str = r#"
const done = arguments[arguments.length - 1];
const scripts = performance.getEntriesByType('resource').map((e) => e.name).filter((n) => /graph-[0-9a-f]+\.js$/.test(n));
const graph = await import(scripts[0]);
const nodes = 2000, edges = 10000;
const elements = [];
for (let i = 0; i < nodes; i++) elements.push({ data: { id: 'n' + i, label: 'memory ' + i } });
let seed = 42;
const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
for (let i = 0; i < edges; i++) {
  const a = Math.floor(random() * nodes), b = Math.floor(random() * nodes);
  elements.push({ data: { id: 'e' + i, source: 'n' + a, target: 'n' + b, weight: 1 + (i % 3) } });
}
const container = document.createElement('div');
container.className = 'graph';
container.setAttribute('data-bench', '1');
document.body.appendChild(container);
container.getBoundingClientRect();
const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
const start = performance.now();
const cy = graph.createGraph(container, elements, false, () => {});
await frame();
const drawn = performance.now() - start;
const panStart = performance.now();
graph.panBy(cy, 120, 80);
await frame();
const pan = performance.now() - panStart;
done([drawn, pan, cy.nodes().length, cy.edges().length]);
"#;

#[test]
#[ignore = "a benchmark: run with `cargo xtask bench web`"]
fn web_client_budgets() {
    let workspace = xtask::workspace_root();
    let dist = workspace.join(xtask::web::DIST_DIR);
    let mut total = 0;
    for (file, _) in xtask::web::summary(&dist).unwrap() {
        if file.ends_with(".txt") {
            continue;
        }
        let size = gzip_size(&std::fs::read(dist.join(&file)).unwrap());
        println!("  {file:<48} {size:>8} bytes gzipped");
        total += size;
    }
    println!("first load (HTML, JS, wasm, CSS), gzipped: {total} bytes ({:.0} KB)", total as f64 / 1024.0);

    let data = temporary_folder("browser-bench");
    let port = free_port_pair();
    let dev = Dev::start(port, &data);
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let browser = driver.browser(&data.join("profile")).await;
        let mut renders = Vec::new();
        for _ in 0..5 {
            browser.client.goto(&dev.running.site_url).await.unwrap();
            browser.css("#email").await;
            let at = browser.eval("return performance.now();").await.as_f64().unwrap();
            renders.push(at);
            browser.client.goto("about:blank").await.unwrap();
        }
        renders.sort_by(f64::total_cmp);
        println!("first render (navigation start to the sign-in form), 5 loads: median {:.0} ms, max {:.0} ms", renders[2], renders[4]);

        browser.client.goto(&dev.running.site_url).await.unwrap();
        browser.css("#email").await;
        let result = browser.client.execute_async(&format!("(async () => {{ {GRAPH_SCRIPT} }})();"), vec![]).await.unwrap();
        let numbers: Vec<f64> = result.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        println!(
            "graph of {} memories and {} links: drawn (first frame) in {:.0} ms, a pan's next frame in {:.0} ms",
            numbers[2], numbers[3], numbers[0], numbers[1]
        );

        // Pushed changes: sign up, then write memories through the API while the page listens.
        browser.client.goto(&dev.running.site_url).await.unwrap();
        browser.css("#signin-toggle").await.click().await.unwrap();
        browser.css("#email").await.send_keys("bench@example.com").await.unwrap();
        browser.css("#password").await.send_keys("a long enough password").await.unwrap();
        browser.css("#signin-submit").await.click().await.unwrap();
        browser.css("#composer").await;
        browser.until("live", "document.querySelector('#live-status').textContent === 'live'").await;
        let session = browser.eval("return localStorage.getItem('brain2.session');").await;
        let token = serde_json::from_str::<Value>(session.as_str().unwrap()).unwrap()["access_token"].as_str().unwrap().to_owned();
        let http = reqwest::Client::new();
        let mut latencies = Vec::new();
        for i in 0..20 {
            browser.eval("performance.clearMarks(); return true;").await;
            let response = http
                .post(format!("{}/api/nodes", dev.http_api()))
                .bearer_auth(&token)
                .json(&json!({ "content": format!("pushed memory {i} about benchmarks") }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            if i == 0 {
                continue; // the first memory has nothing to link to: no push
            }
            let script = "const m = performance.getEntriesByName('brain2:live-message'); \
                const g = performance.getEntriesByName('brain2:graph-changed').filter((e) => m.length && e.startTime >= m[0].startTime); \
                return m.length && g.length ? g[0].startTime - m[0].startTime : null;";
            let mut measured = None;
            for _ in 0..150 {
                if let Some(ms) = browser.eval(script).await.as_f64() {
                    measured = Some(ms);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            latencies.push(measured.expect("a pushed change drawn within 15 s"));
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "pushed change: WebSocket message to the graph drawing it, {} pushes: median {:.0} ms, max {:.0} ms",
            latencies.len(),
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1]
        );
    });
    drop(driver);
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

//! The web client's budgets, measured in the browser test harness (headless Chromium against
//! `cargo xtask dev`); printed, never asserted. Ignored by the test run: `cargo xtask bench web`.
//!
//! - first load: the bytes of HTML, JS, wasm and CSS, gzip-compressed as a CDN would send them;
//! - first render: navigation start to the sign-in form on screen;
//! - graphs of 2,000, 5,000 and 10,000 memories with about five links each, written straight
//!   into the emulator's store (`brain2_shared::seed`) and drawn by the client's renderer in the
//!   page: the first frame, the worker's layout, the first frame of a second visit (positions
//!   kept), pan and zoom frame times (p50, p95) over a scripted pan and zoom, the JS heap, the
//!   2-hop filter and a search, each to its next frame;
//! - a pushed change: the WebSocket message to the graph drawing the change (User Timing marks
//!   the client sets), over 20 memories, and the page's API requests meanwhile (none expected).

mod support;

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use support::browser::Driver;
use support::dev::{Dev, free_port_pair, sign_up, temporary_folder};

fn gzip_size(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

/// The graphs measured: memories, with about five links each (`brain2_shared::seed::community`).
const SIZES: [usize; 3] = [2_000, 5_000, 10_000];

/// Draws a seeded graph with the client's renderer (graph.js, as the app calls it) in a
/// 1000×700 box, with no positions kept: milliseconds from `createGraph` to its first frame.
const CREATE_SCRIPT: &str = r#"
const [ids, labels, ends, weights, key] = arguments;
const done = arguments[arguments.length - 1];
(async () => {
  const url = performance.getEntriesByType('resource').map((e) => e.name).find((n) => /graph-[0-9a-f]+\.js$/.test(n));
  const graph = await import(url);
  if (window.benchView) graph.destroyGraph(window.benchView);
  if (window.benchContainer) window.benchContainer.remove();
  localStorage.removeItem(key);
  const container = document.createElement('div');
  container.className = 'graph';
  container.style.cssText = 'position: fixed; left: 0; top: 0; width: 1000px; height: 700px; z-index: 10;';
  document.body.appendChild(container);
  container.getBoundingClientRect();
  const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
  const start = performance.now();
  const view = graph.createGraph(container, ids, labels, new Uint32Array(ends), new Uint8Array(weights), false, key, graph.layoutWorkerUrl(), () => {});
  const drawn = await frame();
  Object.assign(window, { benchGraph: graph, benchView: view, benchContainer: container, benchArgs: [ids, labels, ends, weights, key] });
  done([drawn - start]);
})();
"#;

/// Once the layout is done and kept: the graph drawn again from the kept positions (a second
/// visit), then frame times over a scripted pan and zoom (the keyboard's steps), the JS heap,
/// the 2-hop filter around one node and a search, each to its next frame.
const REOPEN_SCRIPT: &str = r#"
const [around, query] = arguments;
const done = arguments[arguments.length - 1];
(async () => {
  const graph = window.benchGraph, container = window.benchContainer;
  const [ids, labels, ends, weights, key] = window.benchArgs;
  graph.destroyGraph(window.benchView);
  const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
  const percentile = (values, p) => { const s = values.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
  await frame();
  const start = performance.now();
  const view = graph.createGraph(container, ids, labels, new Uint32Array(ends), new Uint8Array(weights), false, key, graph.layoutWorkerUrl(), () => {});
  const reopened = (await frame()) - start;
  window.benchView = view;
  await new Promise((r) => setTimeout(r, 300));
  const steps = [...Array(10).fill(['pan', 40, 0]), ...Array(10).fill(['pan', 0, 40]), ...Array(6).fill(['zoom', 1.25]),
    ...Array(10).fill(['pan', -40, 0]), ...Array(6).fill(['zoom', 0.8]), ...Array(10).fill(['pan', 0, -40]),
    ...Array(6).fill(['zoom', 0.8]), ...Array(6).fill(['zoom', 1.25])];
  // Each frame's drawing, beside the intervals between frames: the interval cannot go below the
  // display's 16.7 ms, and headless Chromium's frame clock adds its own jitter to it.
  const draws = [];
  const draw = view.draw.bind(view);
  view.draw = (now) => { const begun = performance.now(); draw(now); draws.push(performance.now() - begun); };
  let last = await frame();
  const times = [];
  for (const [kind, a, b] of steps) {
    if (kind === 'pan') graph.panBy(view, a, b); else graph.zoomBy(view, a);
    const now = await frame();
    times.push(now - last);
    last = now;
  }
  await new Promise((r) => setTimeout(r, 400));
  view.draw = draw;
  const heap = performance.memory ? performance.memory.usedJSHeapSize : NaN;
  let started = performance.now();
  graph.filterHops(view, around, 2);
  const filtered = (await frame()) - started;
  const shown = view.nodeCount - [...view.flags.slice(0, view.ids.length)].filter((f, slot) => view.ids[slot] !== null && (f & 1)).length;
  graph.filterHops(view, '', 0);
  await frame();
  started = performance.now();
  const found = graph.highlight(view, query);
  const searched = (await frame()) - started;
  done([reopened, times.length, percentile(times, 0.5), percentile(times, 0.95), Math.max(...times), heap, filtered, shown, searched, found,
    draws.length, percentile(draws, 0.5), percentile(draws, 0.95), Math.max(...draws)]);
})();
"#;

/// Reads the caller's whole graph page by page, as the app does, through the emulated API;
/// says how many pages, how long each took, and where it stopped if it did.
async fn graph_data_pages(http: &reqwest::Client, dev: &Dev, token: &str) -> String {
    let started = std::time::Instant::now();
    let mut pages: Vec<f64> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = http.get(format!("{}/api/graph-data", dev.http_api())).bearer_auth(token);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page_started = std::time::Instant::now();
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        pages.push(page_started.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            return format!("page {} answered {status} after {:.0} ms: {body}", pages.len(), pages[pages.len() - 1]);
        }
        cursor = body["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    let total = started.elapsed().as_secs_f64();
    pages.sort_by(f64::total_cmp);
    format!(
        "{} pages in {total:.1} s, a page p50 {:.0} ms, max {:.0} ms",
        pages.len(),
        pages[pages.len() / 2],
        pages[pages.len() - 1]
    )
}

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

        // Graphs of 2k, 5k and 10k memories, each a user of its own, written straight into the
        // store (brain2_shared::seed: what creates and connect-node runs leave), then drawn by the
        // client's renderer in the page. The app itself cannot load them here: the emulator's
        // backend times out (10 s) reading graph-data pages of a partition this large.
        let http = reqwest::Client::new();
        let config = brain2_iac::config::EnvironmentConfig::load(&workspace, &dev.running.environment).unwrap();
        let aws = dev.running.aws().await.unwrap();
        let store = xtask::commands::graph_check::memory_store(&aws, &workspace, &dev.running.environment).await.unwrap();
        let load_average = || {
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
        };
        let numbers = |result: Value| -> Vec<f64> {
            result.as_array().unwrap().iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect()
        };
        browser.client.goto(&dev.running.site_url).await.unwrap();
        browser.css("#email").await;
        for nodes in SIZES {
            let user = sign_up(&http, &dev, &format!("graph-{nodes}@example.com")).await;
            let started = std::time::Instant::now();
            let seeded = store
                .seed(
                    brain2_shared::domain::UserId(uuid::Uuid::parse_str(&user.id).unwrap()),
                    brain2_shared::seed::community(nodes),
                    usize::try_from(config.connections.min_shared_keywords).unwrap(),
                    usize::try_from(config.connections.max_edges_per_node).unwrap(),
                    time::OffsetDateTime::now_utc(),
                )
                .await
                .unwrap();
            let edges = seeded.edges.len();
            println!("{nodes} memories and {edges} links written to the store in {:.1} s", started.elapsed().as_secs_f64());
            println!("  graph-data through the emulated API, as the app reads it: {}", graph_data_pages(&http, &dev, &user.token).await);
            let index: std::collections::HashMap<_, _> = seeded.nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
            let ids: Vec<String> = seeded.nodes.iter().map(|n| n.id.to_string()).collect();
            let labels: Vec<String> = seeded.nodes.iter().map(|n| brain2_api::label(&n.content)).collect();
            let ends: Vec<usize> = seeded.edges.iter().flat_map(|e| [index[&e.source], index[&e.target]]).collect();
            let weights: Vec<u32> = seeded.edges.iter().map(|e| e.weight).collect();
            let args = vec![json!(ids), json!(labels), json!(ends), json!(weights), json!(format!("bench.{nodes}"))];
            let first = numbers(browser.client.execute_async(CREATE_SCRIPT, args).await.unwrap());
            let started = std::time::Instant::now();
            let mut laid_out = false;
            for _ in 0..800 {
                if browser.eval("return window.benchContainer.dataset.layout === 'done';").await == json!(true) {
                    laid_out = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let layout = started.elapsed().as_secs_f64();
            let n = numbers(browser.client.execute_async(REOPEN_SCRIPT, vec![json!(ids[nodes / 2]), json!("m00042")]).await.unwrap());
            println!(
                "graph {nodes}/{edges}: first frame {:.0} ms (no positions kept: a spiral, the layout starts in its worker); layout {} in {layout:.1} s; \
                 reopened with kept positions: first frame {:.0} ms; pan and zoom ({} frames) p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; \
                 drawing each frame ({} draws) p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; \
                 JS heap {:.0} MB; 2-hop filter to its frame {:.0} ms ({} shown); search to its frame {:.0} ms ({} found); load average {}",
                first[0],
                if laid_out { "done" } else { "NOT done" },
                n[0], n[1], n[2], n[3], n[4], n[10], n[11], n[12], n[13], n[5] / 1_048_576.0, n[6], n[7], n[8], n[9],
                load_average()
            );
        }

        // Pushed changes: sign up, then write memories through the API while the page listens;
        // each is drawn from its message alone, with no API request from the page.
        browser.client.goto(&dev.running.site_url).await.unwrap();
        browser.css("#signin-toggle").await.click().await.unwrap();
        browser.css("#email").await.send_keys("bench@example.com").await.unwrap();
        browser.css("#password").await.send_keys("a long enough password").await.unwrap();
        browser.css("#signin-submit").await.click().await.unwrap();
        browser.css("#composer").await;
        browser.until("live", "document.querySelector('#live-status').textContent === 'live'").await;
        let session = browser.eval("return localStorage.getItem('brain2.session');").await;
        let token = serde_json::from_str::<Value>(session.as_str().unwrap()).unwrap()["access_token"].as_str().unwrap().to_owned();
        let api_calls = "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/')).length;";
        browser.eval("performance.setResourceTimingBufferSize(100000); return true;").await;
        let calls_before = browser.eval(api_calls).await;
        let mut latencies = Vec::new();
        for i in 0..20 {
            browser.eval("performance.clearMarks(); return true;").await;
            let response = http
                .post(format!("{}/api/nodes", dev.http_api()))
                .bearer_auth(&token)
                .json(&json!({ "content": format!("pushed memory {i} alpha{} beta{}", i * 7, i * 11) }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let script = "const m = performance.getEntriesByName('brain2:live-message'); \
                const g = performance.getEntriesByName('brain2:graph-drawn').filter((e) => m.length && e.startTime >= m[0].startTime); \
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
        println!("API requests from the page during the pushes: {}", browser.eval(api_calls).await.as_u64().unwrap() - calls_before.as_u64().unwrap());
    });
    drop(driver);
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

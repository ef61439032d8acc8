//! The pull request's diff comments against a local server that replays GitHub's REST answers
//! (`fixtures/github/`) in order and checks each request: no comment yet creates one; a later
//! run edits its own comment in place (never a person's, even one that starts with the
//! marker); three environments keep three comments; a comment past the first page is found;
//! a token without permission is named. The first case runs the real `cargo xtask pr-comment`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use xtask::github::{Github, Posted};

const REPOSITORY: &str = "brain2/brain2";
const PULL_REQUEST: u64 = 42;

fn fixture(name: &str) -> Value {
    let path = xtask::workspace_root().join("xtask/tests/fixtures/github").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A recorded comment with another id and body.
fn comment(file: &str, id: u64, body: &str) -> Value {
    let mut comment = fixture(file);
    comment["id"] = id.into();
    comment["body"] = body.into();
    comment
}

fn bot(id: u64, environment: &str) -> Value {
    comment(
        "bot-comment.json",
        id,
        &format!("<!-- brain2-diff: {environment} -->\nthe {environment} diff of an earlier push"),
    )
}

fn person(id: u64, body: &str) -> Value {
    comment("person-comment.json", id, body)
}

/// One expected request and the answer recorded for it.
#[derive(Debug, Clone)]
struct Exchange {
    method: &'static str,
    path: String,
    status: u16,
    answer: Value,
}

fn list(page: u32, comments: Vec<Value>) -> Exchange {
    let path = format!("/repos/{REPOSITORY}/issues/{PULL_REQUEST}/comments?per_page=100&page={page}");
    Exchange { method: "GET", path, status: 200, answer: Value::Array(comments) }
}

fn create(id: u64, environment: &str) -> Exchange {
    let path = format!("/repos/{REPOSITORY}/issues/{PULL_REQUEST}/comments");
    Exchange { method: "POST", path, status: 201, answer: bot(id, environment) }
}

fn update(id: u64, environment: &str) -> Exchange {
    let path = format!("/repos/{REPOSITORY}/issues/comments/{id}");
    Exchange { method: "PATCH", path, status: 200, answer: bot(id, environment) }
}

#[derive(Debug, Default)]
struct Replay {
    expected: VecDeque<Exchange>,
    /// Each request as received: method, path and query, JSON body.
    received: Vec<(String, String, Value)>,
    mismatches: Vec<String>,
}

async fn answer(State(replay): State<Arc<Mutex<Replay>>>, request: Request) -> (StatusCode, axum::Json<Value>) {
    let method = request.method().to_string();
    let path = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let authorized = request.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer ghs_test");
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut replay = replay.lock().unwrap();
    replay.received.push((method.clone(), path.clone(), body));
    let next = replay.expected.pop_front();
    match next {
        Some(exchange) if exchange.method == method && exchange.path == path && authorized => {
            (StatusCode::from_u16(exchange.status).unwrap(), axum::Json(exchange.answer))
        }
        other => {
            replay.mismatches.push(format!("got {method} {path} (authorized: {authorized}), expected {other:?}"));
            (StatusCode::IM_A_TEAPOT, axum::Json(json!({ "message": "not in the recording" })))
        }
    }
}

/// Serves `exchanges` on a free local port; returns its URL and the replay to inspect.
async fn github(exchanges: Vec<Exchange>) -> (String, Arc<Mutex<Replay>>) {
    let replay = Arc::new(Mutex::new(Replay { expected: exchanges.into(), ..Default::default() }));
    let app = axum::Router::new().fallback(answer).with_state(replay.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, replay)
}

fn finished(replay: &Arc<Mutex<Replay>>) -> Vec<(String, String, Value)> {
    let replay = replay.lock().unwrap();
    assert!(replay.mismatches.is_empty(), "{:#?}", replay.mismatches);
    assert!(replay.expected.is_empty(), "requests never made: {:#?}", replay.expected);
    replay.received.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_run_creates_the_environment_s_comment() {
    let quoting = person(1001, "Why does `<!-- brain2-diff: dev -->` show up in the page source?");
    let (url, replay) = github(vec![list(1, vec![quoting]), create(2001, "dev")]).await;
    let diff = std::env::temp_dir().join(format!("brain2-pr-comment-{}.md", std::process::id()));
    std::fs::write(&diff, "### brain2 template diff: dev against `origin/main`\n\nNo changes.\n").unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["pr-comment", "--env", "dev", "--pull-request", "42", "--body-file"])
        .arg(&diff)
        .env("GITHUB_API_URL", &url)
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_TOKEN", "ghs_test")
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&diff).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("dev: comment 2001 created on brain2/brain2#42"), "{stdout}");
    let received = finished(&replay);
    let posted = received[1].2["body"].as_str().unwrap();
    assert_eq!(
        posted,
        "<!-- brain2-diff: dev -->\n### brain2 template diff: dev against `origin/main`\n\nNo changes.\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_run_edits_its_own_comment_in_place() {
    // A person's comment that starts with the marker (pasted) is never taken over.
    let pasted = person(1001, "<!-- brain2-diff: dev -->\nI copied the bot's comment here");
    let (url, replay) =
        github(vec![list(1, vec![pasted, bot(2002, "staging"), bot(2001, "dev")]), update(2001, "dev")]).await;
    let posted = Github::new(&url, REPOSITORY, "ghs_test").unwrap().post_diff(PULL_REQUEST, "dev", "new diff").await;
    assert_eq!(posted.unwrap(), Posted::Updated(2001));
    let received = finished(&replay);
    assert_eq!(received[1].2["body"], "<!-- brain2-diff: dev -->\nnew diff");
}

#[tokio::test(flavor = "multi_thread")]
async fn three_environments_keep_three_comments() {
    let (url, replay) = github(vec![
        list(1, vec![]),
        create(3001, "dev"),
        list(1, vec![bot(3001, "dev")]),
        create(3002, "staging"),
        list(1, vec![bot(3001, "dev"), bot(3002, "staging")]),
        create(3003, "prod"),
        // The next push: each environment edits its own comment.
        list(1, vec![bot(3001, "dev"), bot(3002, "staging"), bot(3003, "prod")]),
        update(3001, "dev"),
        list(1, vec![bot(3001, "dev"), bot(3002, "staging"), bot(3003, "prod")]),
        update(3002, "staging"),
        list(1, vec![bot(3001, "dev"), bot(3002, "staging"), bot(3003, "prod")]),
        update(3003, "prod"),
    ])
    .await;
    let github = Github::new(&url, REPOSITORY, "ghs_test").unwrap();
    let mut posted = Vec::new();
    for push in ["first", "second"] {
        for environment in ["dev", "staging", "prod"] {
            let diff = format!("{environment} diff of the {push} push");
            posted.push(github.post_diff(PULL_REQUEST, environment, &diff).await.unwrap());
        }
    }
    use Posted::{Created, Updated};
    assert_eq!(posted, [Created(3001), Created(3002), Created(3003), Updated(3001), Updated(3002), Updated(3003)]);
    let received = finished(&replay);
    let bodies: Vec<&str> = received.iter().filter_map(|(_, _, body)| body["body"].as_str()).collect();
    assert_eq!(bodies[3], "<!-- brain2-diff: dev -->\ndev diff of the second push");
    assert_eq!(bodies[5], "<!-- brain2-diff: prod -->\nprod diff of the second push");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_past_the_first_page_is_found() {
    let page: Vec<Value> = (0..100).map(|i| person(5000 + i, "a review remark")).collect();
    let (url, replay) = github(vec![list(1, page), list(2, vec![bot(2001, "prod")]), update(2001, "prod")]).await;
    let posted = Github::new(&url, REPOSITORY, "ghs_test").unwrap().post_diff(PULL_REQUEST, "prod", "diff").await;
    assert_eq!(posted.unwrap(), Posted::Updated(2001));
    finished(&replay);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_permission_is_named_and_nothing_is_posted() {
    let forbidden = Exchange {
        method: "GET",
        path: format!("/repos/{REPOSITORY}/issues/{PULL_REQUEST}/comments?per_page=100&page=1"),
        status: 403,
        answer: fixture("forbidden.json"),
    };
    let (url, replay) = github(vec![forbidden]).await;
    let error = Github::new(&url, REPOSITORY, "ghs_test").unwrap().post_diff(PULL_REQUEST, "dev", "diff").await;
    let text = format!("{:#}", error.unwrap_err());
    assert!(text.contains("403") && text.contains("Resource not accessible by integration"), "{text}");
    assert!(text.contains("pull-requests: write"), "{text}");
    assert_eq!(finished(&replay).len(), 1, "no comment was posted");
}

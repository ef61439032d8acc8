//! Brain2 end to end, the way a person runs it: `cargo xtask dev` (the real command, its
//! emulator, its sign-in), two users, memories over the HTTP API, links made by connect-node,
//! live pushes over the WebSocket, isolation between users, refused tokens, deletes, an export
//! too large for one answer fetched through its link, a restart that keeps the data, and Ctrl-C
//! that leaves no process behind.

mod support;

use std::time::Duration;

use brain2_api::{GraphEdge, GraphNode, GraphPage};
use futures::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::dev::{
    Dev, User, free_port_pair, import_past_one_answer, processes_mentioning, sign_up, temporary_folder,
};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn create(http: &reqwest::Client, dev: &Dev, user: &User, content: &str) -> String {
    let response = http
        .post(format!("{}/api/nodes", dev.http_api()))
        .bearer_auth(&user.token)
        .json(&json!({ "content": content }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "creating {content:?}");
    let node: Value = response.json().await.unwrap();
    node["nodeId"].as_str().unwrap().to_owned()
}

/// The whole graph: every page of graph-data.
async fn graph(http: &reqwest::Client, dev: &Dev, user: &User) -> Graph {
    let mut graph = Graph::default();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/api/graph-data", dev.http_api());
        if let Some(cursor) = &cursor {
            url = format!("{url}?cursor={cursor}");
        }
        let response = http.get(url).bearer_auth(&user.token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let page: GraphPage = response.json().await.unwrap();
        graph.nodes.extend(page.nodes().unwrap());
        graph.edges.extend(page.edges().unwrap());
        cursor = page.next_cursor;
        if cursor.is_none() {
            return graph;
        }
    }
}

#[derive(Debug, Default)]
struct Graph {
    nodes: Vec<GraphNode>,
    edges: Vec<GraphEdge>,
}

fn edges(graph: &Graph) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> =
        graph.edges.iter().map(|e| (e.source.to_string(), e.target.to_string())).collect();
    found.sort();
    found
}

fn node_ids(graph: &Graph) -> Vec<String> {
    graph.nodes.iter().map(|n| n.id.to_string()).collect()
}

/// Polls the graph until `check` holds (connect-node runs asynchronously, off EventBridge).
async fn eventually(
    http: &reqwest::Client,
    dev: &Dev,
    user: &User,
    what: &str,
    check: impl Fn(&Graph) -> bool,
) -> Graph {
    for _ in 0..150 {
        let current = graph(http, dev, user).await;
        if check(&current) {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 15 s; the graph is {:?}", graph(http, dev, user).await);
}

async fn open_socket(dev: &Dev, token: &str) -> Result<Socket, String> {
    tokio_tungstenite::connect_async(format!("{}?token={token}", dev.web_socket()))
        .await
        .map(|(socket, _)| socket)
        .map_err(|e| e.to_string())
}

async fn next_text(socket: &mut Socket, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next()).await.ok()??.ok()?;
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).ok();
        }
    }
}

/// A token signed with the sign-in's real secret (read from the emulator), expired an hour ago.
async fn expired_token(dev: &Dev, user: &User) -> String {
    let aws = dev.running.aws().await.unwrap();
    let secret = aws
        .secretsmanager()
        .get_secret_value()
        .secret_id(xtask::dev::SIGNIN_SECRET_NAME)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({ "iss": dev.running.signin_url, "aud": "authenticated", "sub": user.id,
        "role": "authenticated", "iat": now - 7200, "exp": now - 3600 });
    brain2_shared::jwt_crypto::install();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// What two people do: sign up, write memories that link, hear the pushes (only their own),
/// are refused with bad tokens, delete. Returns Ada and the ids of her memories left.
async fn journey(http: &reqwest::Client, dev: &Dev) -> (User, Vec<String>) {
    let ada = sign_up(http, dev, "ada@example.com").await;
    let bob = sign_up(http, dev, "bob@example.com").await;

    // The site serves the configuration deploy would write, from the deployed outputs.
    let config: Value =
        http.get(format!("{}config.json", dev.running.site_url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["httpApiUrl"], dev.running.http_api_url);
    assert!(config["webSocketUrl"].as_str().unwrap().starts_with("ws://"), "{config}");
    assert_eq!(config["supabaseUrl"].as_str().unwrap(), dev.running.site_url.trim_end_matches('/'));
    // A fixed system (`--no-watch`): the page is the shipped one, without dev's live reload.
    let page = http.get(&dev.running.site_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<html") && !page.contains("/_dev/"), "{page}");
    let events = http.get(format!("{}_dev/events", dev.running.site_url)).send().await.unwrap();
    let kind = events.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(!kind.starts_with("text/event-stream"), "no live-reload channel: {kind}");

    // Both users listen; only Ada's changes may reach Ada, and nothing of hers reaches Bob.
    let mut ada_socket = open_socket(dev, &ada.token).await.expect("Ada's WebSocket");
    let mut bob_socket = open_socket(dev, &bob.token).await.expect("Bob's WebSocket");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let rust = create(http, dev, &ada, "Rust lambdas deploy with cloudformation").await;
    let stacks = create(http, dev, &ada, "cloudformation stacks written in rust").await;
    let garden = create(http, dev, &ada, "tomatoes ripen slowly in autumn").await;
    let linked = eventually(http, dev, &ada, "the link between the two Rust memories", |g| !edges(g).is_empty()).await;
    let expected = if rust < stacks { (rust.clone(), stacks.clone()) } else { (stacks.clone(), rust.clone()) };
    assert_eq!(edges(&linked), vec![expected], "only the memories sharing keywords are linked");

    // Pushes (the live format's current version, numbered 1, 2, 3… on each connection) arrive as
    // the backend and connect-node finish, in no fixed order: each memory's creation, carrying the
    // memory itself, and the new edge between the linked pair.
    let linked_pair = [rust.clone(), stacks.clone()];
    let mut created = std::collections::BTreeSet::new();
    let mut edge_seen = false;
    let mut seqs = Vec::new();
    while !(edge_seen && created.len() == 3) {
        let pushed = next_text(&mut ada_socket, Duration::from_secs(15)).await.expect("a live update for Ada");
        assert_eq!(pushed["version"], brain2_api::LIVE_FORMAT_VERSION, "{pushed}");
        seqs.push(pushed["seq"].as_u64().unwrap_or_default());
        match pushed["type"].as_str() {
            Some("nodeCreated") => {
                let node = pushed["node"]["nodeId"].as_str().unwrap().to_owned();
                assert!([&rust, &stacks, &garden].contains(&&node), "a push about one of Ada's memories: {pushed}");
                assert_eq!(pushed["node"]["version"], 1, "{pushed}");
                assert_eq!(pushed["memory"]["nodeId"], pushed["node"]["nodeId"], "the memory itself: {pushed}");
                created.insert(node);
            }
            Some("edgesChanged") => {
                let node = pushed["nodeId"].as_str().unwrap().to_owned();
                let other = pushed["added"][0]["target"].as_str().unwrap().to_owned();
                assert!(linked_pair.contains(&node) && linked_pair.contains(&other), "{pushed}");
                edge_seen = true;
            }
            _ => panic!("unexpected push {pushed}"),
        }
    }
    // Two sends may race to the socket (and the loop may stop before a later one), so the
    // numbers come in any order; each is new and counts from 1.
    let count = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert!(seqs.len() == count && seqs[0] >= 1, "numbered once each on Ada's connection: {seqs:?}");
    assert_eq!(next_text(&mut bob_socket, Duration::from_secs(2)).await, None, "Bob hears nothing of Ada's");

    // Bob sees none of Ada's data.
    let other = http.get(format!("{}/api/nodes/{rust}", dev.http_api())).bearer_auth(&bob.token).send().await.unwrap();
    assert_eq!(other.status(), 404);
    assert!(graph(http, dev, &bob).await.nodes.is_empty());

    // Bad and expired tokens are refused, on HTTP and on $connect.
    let expired = expired_token(dev, &ada).await;
    for token in ["not-a-token", expired.as_str()] {
        let refused = http.get(format!("{}/api/nodes", dev.http_api())).bearer_auth(token).send().await.unwrap();
        assert!(matches!(refused.status().as_u16(), 401 | 403), "HTTP with {token:.12}…: {}", refused.status());
        assert!(open_socket(dev, token).await.is_err(), "$connect with {token:.12}… was accepted");
    }
    let missing = http.get(format!("{}/api/nodes", dev.http_api())).send().await.unwrap();
    assert!(matches!(missing.status().as_u16(), 401 | 403), "no token: {}", missing.status());

    // A delete removes the node and its edges.
    let deleted =
        http.delete(format!("{}/api/nodes/{stacks}", dev.http_api())).bearer_auth(&ada.token).send().await.unwrap();
    assert!(deleted.status().is_success(), "delete: {}", deleted.status());
    let after = graph(http, dev, &ada).await;
    assert!(edges(&after).is_empty(), "edges left after the delete: {after:?}");
    let mut left = node_ids(&after);
    left.sort();
    let mut expected_left = vec![rust.clone(), garden.clone()];
    expected_left.sort();
    assert_eq!(left, expected_left);
    (ada, expected_left)
}

/// An export past what one Lambda answer carries, the way a user gets it: imported in parts,
/// exported as `201` and a link, the link followed as a browser follows it (through the guard to
/// the emulator's S3, which checks the presigned signature, its expiry and the backend role's
/// IAM), refused to another page, then gone with the account.
async fn a_large_export_downloads_through_its_link(http: &reqwest::Client, dev: &Dev) {
    let carol = sign_up(http, dev, "carol@example.com").await;
    let memories = import_past_one_answer(http, dev, &carol.token).await;

    let answer = http.get(format!("{}/api/export", dev.http_api())).bearer_auth(&carol.token).send().await.unwrap();
    let status = answer.status();
    let location = answer.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let body = answer.text().await.unwrap();
    if status != 201 {
        // The backend's log line reaches dev's output through the log tail.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let log = dev.log();
        panic!("export: {status} {}\n{}", &body[..body.len().min(400)], &log[log.len().saturating_sub(6_000)..]);
    }
    let link: brain2_api::ExportLink = serde_json::from_str(&body).unwrap();
    assert_eq!(location.as_deref(), Some(link.download_url.as_str()));
    assert_eq!(link.memories, memories);

    // What a click on the link sends from the site's tab: a navigation, no Origin.
    let navigation = |url: &str| {
        http.get(url)
            .header("sec-fetch-mode", "navigate")
            .header("sec-fetch-dest", "document")
            .header("sec-fetch-site", "same-site")
    };
    let download = navigation(&link.download_url).send().await.unwrap();
    assert_eq!(download.status(), 200, "{}", download.text().await.unwrap_or_default());
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"brain2-export-"), "{disposition}");
    assert!(download.headers().get("access-control-allow-origin").is_none(), "no page may read it");
    let bytes = download.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, link.bytes);
    let document: brain2_api::Export = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(document.memories.len(), memories);

    // A page of another site may not fetch it, embedded or with CORS; a link whose signature was
    // altered is refused by S3.
    let embedded = http
        .get(&link.download_url)
        .header("sec-fetch-mode", "no-cors")
        .header("sec-fetch-dest", "image")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(embedded.status(), 403);
    let other = http.get(&link.download_url).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(other.status(), 403);
    let forged = link.download_url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert_eq!(navigation(&forged).send().await.unwrap().status(), 403, "a forged signature");

    let deleted: Value = http
        .delete(format!("{}/api/account", dev.http_api()))
        .bearer_auth(&carol.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((deleted["nodes"].as_u64(), deleted["exports"].as_u64()), (Some(memories as u64), Some(1)), "{deleted}");
    let after = navigation(&link.download_url).send().await.unwrap().status();
    assert!(matches!(after.as_u16(), 403 | 404), "the link leads nowhere once the account is gone: {after}");
}

#[test]
fn brain2_runs_end_to_end_through_cargo_xtask_dev() {
    let data = temporary_folder("dev-e2e");
    let port = free_port_pair();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();

    let mut dev = Dev::start(port, &data);
    let emulator_pid: i32 = std::fs::read_to_string(data.join("emulator.pid")).unwrap().trim().parse().unwrap();
    let kept = runtime.block_on(journey(&http, &dev));
    runtime.block_on(a_large_export_downloads_through_its_link(&http, &dev));

    // Ctrl-C stops everything and leaves no process: not the emulator, not a function.
    let status = dev.interrupt();
    assert!(status.success(), "cargo xtask dev exited with {status}:\n{}", dev.log());
    assert!(!std::path::Path::new(&format!("/proc/{emulator_pid}")).exists(), "the emulator is still running");
    let left = processes_mentioning(&data.to_string_lossy());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    // A restart keeps the data (and the sign-in's users), and deploys nothing.
    let (ada, nodes) = kept;
    let mut dev = Dev::start(port, &data);
    runtime.block_on(async {
        let session = http
            .post(format!("{}/token?grant_type=password", dev.running.signin_url))
            .header("apikey", &dev.running.anon_key)
            .json(&json!({ "email": "ada@example.com", "password": "a long enough password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(session.status(), 200, "Ada signs in again after the restart");
        let session: Value = session.json().await.unwrap();
        let ada = User { token: session["access_token"].as_str().unwrap().to_owned(), ..ada };
        let mut after = node_ids(&graph(&http, &dev, &ada).await);
        after.sort();
        assert_eq!(after, nodes, "memories kept across the restart");
    });
    assert!(dev.log().contains("0 stack(s) changed"), "a warm restart deploys nothing:\n{}", dev.log());

    // graph-check over every user of the local data: the invariants hold after all of the above.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["graph-check", "--env", "dev", "--local", "--data"])
        .arg(&*data)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "graph-check: {report}{}", String::from_utf8_lossy(&check.stderr));
    assert!(report.contains("1 users, 2 nodes, 0 edge items; 0 violations found"), "{report}");
    let status = dev.interrupt();
    assert!(status.success());
    assert!(processes_mentioning(&data.to_string_lossy()).is_empty());
    std::fs::remove_dir_all(&data).unwrap();
}

/// Prod's own templates in the emulator (customer-managed keys and their policies, the VPC and
/// its endpoints, reserved and provisioned concurrency, alarms, the WAF), IAM enforced: the same
/// journey passes, and graph-check finds the invariants kept.
#[test]
fn the_prod_rehearsal_runs_the_same_journey() {
    let data = temporary_folder("dev-prod");
    let port = free_port_pair();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let mut dev = Dev::start_with(port, &data, &["--env", "prod"]);
    assert_eq!(dev.running.environment, "prod");
    for replaced in ["frontend.domain brain2.example.com", "auth: Supabase (https://brain2-prod.supabase.co)"] {
        assert!(dev.log().contains(replaced), "dev did not say it replaced {replaced}:\n{}", dev.log());
    }
    runtime.block_on(journey(&http, &dev));
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["graph-check", "--env", "prod", "--local", "--data"])
        .arg(&*data)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "graph-check: {report}{}", String::from_utf8_lossy(&check.stderr));
    assert!(report.contains("0 violations found"), "{report}");
    let status = dev.interrupt();
    assert!(status.success(), "cargo xtask dev --env prod exited with {status}:\n{}", dev.log());
    let said: Vec<String> = dev.log().lines().filter(|l| !l.starts_with("  [")).map(str::to_owned).collect();
    println!("cargo xtask dev --env prod said:\n{}", said.join("\n"));
}

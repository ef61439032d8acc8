//! The whole Brain2 flow against moto: create, connect, notify, update, delete with cascade,
//! bulk delete, and a connection going stale.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use brain2_api::{GraphEdge, GraphNode, GraphPage};
use brain2_shared::domain::NodeId;
use brain2_shared::events::NodeChanged;
use brain2_shared::keys;
use serde_json::{Value, json};
use support::*;

fn node_changed(envelope: &Value) -> EventBridgeEvent<NodeChanged> {
    serde_json::from_value(envelope.clone()).unwrap()
}

fn sort_keys(items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]) -> BTreeSet<String> {
    items.iter().map(|i| i["sk"].as_s().unwrap().clone()).collect()
}

async fn create(router: &axum::Router, user: brain2_shared::domain::UserId, content: &str) -> Value {
    let (status, body) =
        call(router, Some(user), json_request("POST", "/api/nodes", &json!({ "content": content, "tags": [] }))).await;
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn create_connect_notify_update_and_delete() {
    let world = World::new().await;
    let router = world.backend();
    let connect = world.connect_node(50);
    let user = user();

    // Create two memories that share keywords.
    let a = create(&router, user, "Rust lambdas write graph edges").await;
    let b = create(&router, user, "Graph edges link rust memories").await;
    let c = create(&router, user, "Completely unrelated gardening note").await;
    assert_eq!(a["version"], 1);
    assert_eq!(a["keywords"], json!(["edges", "graph", "lambdas", "rust", "write"]));
    assert_eq!(a["timestamp"], a["updatedAt"]);
    let (a_id, b_id) =
        (NodeId::parse(a["nodeId"].as_str().unwrap()).unwrap(), NodeId::parse(b["nodeId"].as_str().unwrap()).unwrap());

    // The backend published NodeCreated for each, under brain2.api.
    settle().await;
    let events = world.drain_events().await;
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["source"] == "brain2.api" && e["detail-type"] == "NodeCreated"));
    // Each carries the memory as the API returns it, so a live client needs no call to show it.
    let created = events.iter().find(|e| e["detail"]["nodeId"] == a["nodeId"]).unwrap();
    assert_eq!(created["detail"]["memory"], a);

    // connect-node links A and B (both directions) and announces it once: B's run finds the
    // pair A's run added.
    for event in &events {
        connect.handle(node_changed(event)).await.unwrap();
    }
    let items = world.items_of(user).await;
    let keys = sort_keys(&items);
    assert!(keys.contains(&keys::edge(a_id, b_id)) && keys.contains(&keys::edge(b_id, a_id)));
    let edge = items.iter().find(|i| i["sk"].as_s().unwrap() == &keys::edge(a_id, b_id)).unwrap();
    assert_eq!(edge["weight"].as_n().unwrap(), "3", "rust, graph and edges are shared");
    settle().await;
    let announced = world.drain_events().await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(
        (announced[0]["source"].as_str(), announced[0]["detail-type"].as_str()),
        (Some("brain2.connect-node"), Some("EdgesCreated"))
    );
    assert_eq!(announced[0]["detail"]["nodeId"], a["nodeId"]);
    assert_eq!(announced[0]["detail"]["edges"], json!([{ "target": b_id, "weight": 3 }]));

    // Redelivery changes nothing and announces nothing.
    let outcome = connect.handle(node_changed(&events[0])).await.unwrap();
    assert_eq!(
        outcome,
        connect_node::Outcome::Linked { node: a_id, edges: 1, created: vec![], removed: vec![], finished: vec![] }
    );
    assert_eq!(sort_keys(&world.items_of(user).await), keys);
    settle().await;
    assert!(world.drain_events().await.is_empty());

    // The node reads back with its edges; the graph has each edge once.
    let (status, body) = call(&router, Some(user), empty_request("GET", &format!("/api/nodes/{a_id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["edges"], json!([b_id]));
    let (_, graph) = call(&router, Some(user), empty_request("GET", "/api/graph-data")).await;
    let graph: GraphPage = serde_json::from_value(graph).unwrap();
    assert_eq!(graph.edges().unwrap().len(), 1);
    assert_eq!(graph.nodes().unwrap().len(), 3);

    // WebSocket clients of the user hear about it.
    let ws = ws_send_message::SendMessage {
        connections: world.connections.clone(),
        management: aws_sdk_apigatewaymanagement::Client::new(&world.sdk),
        environment: "test".to_owned(),
    };
    let now = time::OffsetDateTime::now_utc();
    world.connections.put("conn-1", user, now).await.unwrap();
    world.connections.put("conn-2", user, now).await.unwrap();
    world.connections.put("someone-else", support::user(), now).await.unwrap();
    let edges_created: EventBridgeEvent<Value> = serde_json::from_value(announced[0].clone()).unwrap();
    let delivery = ws.handle(edges_created).await.unwrap();
    assert_eq!(delivery.sent, ["conn-1", "conn-2"]);
    assert!(delivery.gone.is_empty() && delivery.failed.is_empty());

    // Updating A so it shares nothing removes the edges, in both directions.
    let (status, updated) = call(
        &router,
        Some(user),
        json_request("PUT", &format!("/api/nodes/{a_id}"), &json!({ "content": "Knitting patterns" })),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["version"].clone(), updated["createdAt"].clone(), updated["nodeId"].clone()),
        (json!(2), a["createdAt"].clone(), a["nodeId"].clone())
    );
    settle().await;
    let events = world.drain_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail-type"], "NodeUpdated");
    assert_eq!(events[0]["detail"]["node"]["version"], 2, "the event carries what a live client shows");
    let outcome = connect.handle(node_changed(&events[0])).await.unwrap();
    assert!(matches!(outcome, connect_node::Outcome::Linked { edges: 0, ref removed, .. } if removed == &[b_id]));
    settle().await;
    let removed = world.drain_events().await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["detail-type"], "EdgesRemoved");
    assert_eq!(removed[0]["detail"]["targets"], json!([b_id]));
    let keys = sort_keys(&world.items_of(user).await);
    assert!(!keys.contains(&keys::edge(a_id, b_id)) && !keys.contains(&keys::edge(b_id, a_id)));
    assert!(!keys.iter().any(|k| k.starts_with(&keys::posting(a_id, "rust"))), "old postings are replaced");
    assert!(keys.contains(&keys::posting(a_id, "knitting")));

    // A stale If-Match is a conflict; the current one succeeds.
    let mut stale = json_request("PUT", &format!("/api/nodes/{a_id}"), &json!({ "content": "x y z words" }));
    stale.headers_mut().insert("if-match", "1".parse().unwrap());
    let (status, body) = call(&router, Some(user), stale).await;
    assert_eq!(status, 409, "{body}");
    let mut fresh = json_request("PUT", &format!("/api/nodes/{a_id}"), &json!({ "content": "Rust graph edges again" }));
    fresh.headers_mut().insert("if-match", "\"2\"".parse().unwrap());
    assert_eq!(call(&router, Some(user), fresh).await.0, 200);
    settle().await;
    for event in world.drain_events().await {
        if event["detail-type"] == "NodeUpdated" {
            connect.handle(node_changed(&event)).await.unwrap();
        }
    }
    assert!(sort_keys(&world.items_of(user).await).contains(&keys::edge(b_id, a_id)));

    // Deleting B removes it, its postings, and its edges on both sides.
    let (status, _) = call(&router, Some(user), empty_request("DELETE", &format!("/api/nodes/{b_id}"))).await;
    assert_eq!(status, 204);
    let left = sort_keys(&world.items_of(user).await);
    assert!(!left.iter().any(|k| k.contains(&b_id.to_string())), "nothing mentions B: {left:?}");
    assert_eq!(call(&router, Some(user), empty_request("DELETE", &format!("/api/nodes/{b_id}"))).await.0, 404);

    settle().await;
    let events = world.drain_events().await;
    let deleted = events.iter().find(|e| e["detail-type"] == "NodeDeleted").expect("NodeDeleted is published");
    assert_eq!(deleted["detail"], json!({ "userId": user.to_string(), "nodeId": b_id }));

    // Bulk delete reports each id: deleted or not found; the ids that were there are gone.
    let missing = brain2_shared::domain::new_node_id();
    let (status, body) = call(
        &router,
        Some(user),
        json_request("POST", "/api/nodes/bulk-delete", &json!({ "nodeIds": [a_id, c["nodeId"], missing] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["deletedCount"].clone(), body["notFoundCount"].clone(), body["failedCount"].clone()),
        (json!(2), json!(1), json!(0))
    );
    assert_eq!(
        body["results"],
        json!([
            { "nodeId": a_id, "status": "deleted" },
            { "nodeId": c["nodeId"], "status": "deleted" },
            { "nodeId": missing, "status": "notFound" },
        ])
    );
    let left = sort_keys(&world.items_of(user).await);
    assert!(left.is_empty(), "the user's partition is empty, but holds {left:?}");
    // Nothing left to delete: a 404 that says so, not a success.
    let (status, body) =
        call(&router, Some(user), json_request("POST", "/api/nodes/bulk-delete", &json!({ "nodeIds": [a_id] }))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "none of the nodes exist");
}

#[tokio::test]
async fn another_users_node_is_a_404_like_a_missing_one() {
    let world = World::new().await;
    let router = world.backend();
    let (owner, intruder) = (user(), user());
    let node = create(&router, owner, "Private thoughts about rust").await;
    let id = node["nodeId"].as_str().unwrap();
    for request in [
        empty_request("GET", &format!("/api/nodes/{id}")),
        json_request("PUT", &format!("/api/nodes/{id}"), &json!({ "content": "mine now" })),
        empty_request("DELETE", &format!("/api/nodes/{id}")),
    ] {
        let (status, body) = call(&router, Some(intruder), request).await;
        assert_eq!((status.as_u16(), body), (404, json!({ "error": "node not found" })));
    }
    let (_, list) = call(&router, Some(intruder), empty_request("GET", "/api/nodes")).await;
    assert_eq!(list["nodes"], json!([]));
    assert_eq!(call(&router, Some(owner), empty_request("GET", &format!("/api/nodes/{id}"))).await.0, 200);
    assert_eq!(call(&router, None, empty_request("GET", "/api/nodes")).await.0, 401);
}

#[tokio::test]
async fn lists_are_paginated_with_opaque_cursors() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    for i in 0..5 {
        create(&router, user, &format!("memory number {i} about paging")).await;
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/nodes?limit=2&cursor={c}"),
            None => "/api/nodes?limit=2".to_owned(),
        };
        let (status, body) = call(&router, Some(user), empty_request("GET", &uri)).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for node in body["nodes"].as_array().unwrap() {
            assert!(seen.insert(node["nodeId"].as_str().unwrap().to_owned()), "no node twice");
            order.push(node["content"].as_str().unwrap().to_owned());
        }
        match body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(seen.len(), 5);
    let newest_first: Vec<String> = (0..5).rev().map(|i| format!("memory number {i} about paging")).collect();
    assert_eq!(order, newest_first, "pages list the newest memory first");
    let (status, body) = call(&router, Some(user), empty_request("GET", "/api/nodes?cursor=Zm9yZ2Vk")).await;
    assert_eq!(status, 400, "{body}");
}

/// Every page of graph-data at `limit` nodes a page.
async fn graph_pages(router: &axum::Router, user: brain2_shared::domain::UserId, limit: usize) -> Vec<GraphPage> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/graph-data?limit={limit}&cursor={c}"),
            None => format!("/api/graph-data?limit={limit}"),
        };
        let (status, body) = call(router, Some(user), empty_request("GET", &uri)).await;
        assert_eq!(status, 200, "{body}");
        let page: GraphPage = serde_json::from_value(body).unwrap();
        cursor = page.next_cursor.clone();
        pages.push(page);
        if cursor.is_none() {
            return pages;
        }
        assert!(pages.len() < 20);
    }
}

#[tokio::test]
async fn graph_data_pages_give_every_node_and_every_edge_once() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let mut ids = Vec::new();
    for i in 0..7 {
        let node = create(&router, user, &format!("shared graph words, and its own word{i}")).await;
        assert_eq!(node["keywords"].as_array().unwrap().len(), 4, "{node}");
        ids.push(NodeId::parse(node["nodeId"].as_str().unwrap()).unwrap());
    }
    let connect = world.connect_node(50);
    for &id in &ids {
        connect.connect(user, id).await.unwrap();
    }
    let whole = graph_pages(&router, user, 5_000).await;
    assert_eq!(whole.len(), 1, "one page holds a small graph");
    let all_nodes: Vec<GraphNode> = whole[0].nodes().unwrap();
    let all_edges: Vec<GraphEdge> = whole[0].edges().unwrap();
    assert_eq!(all_nodes.len(), 7);
    assert_eq!(all_edges.len(), 7 * 6 / 2, "every pair shares \"shared\", \"graph\" and \"words\"");
    assert!(all_edges.iter().all(|e| e.source < e.target && e.weight == 3));
    assert!(all_nodes.iter().all(|n| n.keyword_count == 4 && n.label.starts_with("shared graph words")));

    for limit in [1, 2, 3] {
        let pages = graph_pages(&router, user, limit).await;
        let nodes: Vec<GraphNode> = pages.iter().flat_map(|p| p.nodes().unwrap()).collect();
        let edges: Vec<GraphEdge> = pages.iter().flat_map(|p| p.edges().unwrap()).collect();
        assert_eq!(nodes, all_nodes, "pages of {limit} give the nodes in order, each once");
        assert_eq!(edges, all_edges, "pages of {limit} give each edge once");
        assert!(pages.iter().any(|p| !p.external_ids.is_empty()), "edges reach later pages");
    }

    for bad in ["limit=0", "limit=5001", "limit=many", "cursor=Zm9yZ2Vk", "colour=blue"] {
        let (status, body) = call(&router, Some(user), empty_request("GET", &format!("/api/graph-data?{bad}"))).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_node_with_more_than_25_neighbours_and_over_100_items_is_linked_and_deleted_whole() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    // 60 neighbours share the keyword "common" with the hub.
    for i in 0..60 {
        create(&router, user, &format!("common neighbour{i:02}")).await;
    }
    let words: Vec<String> = (0..49).map(|i| format!("word{i:02}")).collect();
    let hub = create(&router, user, &format!("common {}", words.join(" "))).await;
    let hub_id = NodeId::parse(hub["nodeId"].as_str().unwrap()).unwrap();
    assert_eq!(hub["keywords"].as_array().unwrap().len(), 49, "49 keyword postings");
    world.drain_events().await;

    let outcome = world.connect_node(100).connect(user, hub_id).await.unwrap();
    assert!(matches!(outcome, connect_node::Outcome::Linked { edges: 60, ref created, .. } if created.len() == 60));
    let items = world.items_of(user).await;
    let prefix = keys::edges_of(hub_id);
    assert_eq!(items.iter().filter(|i| i["sk"].as_s().unwrap().starts_with(&prefix)).count(), 60);
    let hub_items = items.iter().filter(|i| i["sk"].as_s().unwrap().contains(&hub_id.to_string())).count();
    assert!(hub_items > 100, "node + 49 postings + 60 edges + 60 reverse edges = {hub_items}");

    // A smaller cap keeps the highest-scoring, then lowest-id, neighbours and drops the rest.
    world.connect_node(10).connect(user, hub_id).await.unwrap();
    let items = world.items_of(user).await;
    assert_eq!(items.iter().filter(|i| i["sk"].as_s().unwrap().starts_with(&prefix)).count(), 10);
    let reverse = items
        .iter()
        .filter(|i| {
            let sk = i["sk"].as_s().unwrap();
            sk.starts_with(keys::EDGE_PREFIX) && sk.ends_with(&format!("#{hub_id}"))
        })
        .count();
    assert_eq!(reverse, 10, "dropped edges are gone from the neighbours' side too");

    let (status, _) = call(&router, Some(user), empty_request("DELETE", &format!("/api/nodes/{hub_id}"))).await;
    assert_eq!(status, 204);
    let left = world.items_of(user).await;
    assert!(!left.iter().any(|i| i["sk"].as_s().unwrap().contains(&hub_id.to_string())));
    assert_eq!(left.len(), 60 * 3, "the 60 neighbours keep their node and two postings each");
}

#[tokio::test]
async fn websocket_connections_are_stored_found_and_removed() {
    let world = World::new().await;
    let user = user();
    let event = json!({
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "connectionId": "abc123=", "apiId": "api", "stage": "live",
            "requestTimeEpoch": 0, "connectedAt": 0,
            "authorizer": { "principalId": user.to_string(), "sub": user.to_string(), "email": "", "role": "authenticated" }
        },
        "isBase64Encoded": false
    });
    let connect: ws_connect::ConnectEvent = serde_json::from_value(event.clone()).unwrap();
    let request: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest = serde_json::from_value(event).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let response = ws_connect::handle(&world.connections, connect, now).await.unwrap();
    assert_eq!(response.status_code, 200);
    assert_eq!(world.connections.of_user(user).await.unwrap(), ["abc123="]);
    let stored = world
        .dynamodb
        .get_item()
        .table_name(&world.connections_table)
        .key("connectionId", aws_sdk_dynamodb::types::AttributeValue::S("abc123=".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = stored["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires, now.unix_timestamp() + 7_200, "TTL two hours out");

    ws_disconnect::handle(&world.connections, request.clone()).await.unwrap();
    assert!(world.connections.of_user(user).await.unwrap().is_empty());
    // Disconnecting twice is fine.
    ws_disconnect::handle(&world.connections, request).await.unwrap();

    // No user in the authorizer context: refused.
    let anonymous: ws_connect::ConnectEvent = serde_json::from_value(json!({
        "requestContext": { "connectionId": "x", "requestTimeEpoch": 0, "connectedAt": 0, "authorizer": {} },
        "isBase64Encoded": false
    }))
    .unwrap();
    assert!(ws_connect::handle(&world.connections, anonymous, now).await.is_err());
}

/// moto's management API accepts every post, so the 410 answer of a connection that went away
/// is replayed with the SDK's test client; DynamoDB is Dynoxide.
/// Every call a recorded management API took: method, connection id, body.
type ManagementCalls = Arc<Mutex<Vec<(String, String, String)>>>;

/// ws-send-message against the world's connections and a management API that answers each
/// call with what `answer` gives for its method and connection: a status and an error type.
fn send_message_answering(
    world: &World,
    answer: impl Fn(&str, &str) -> (u16, Option<&'static str>) + Send + Sync + 'static,
) -> (ws_send_message::SendMessage, ManagementCalls) {
    use aws_smithy_http_client::test_util::infallible_client_fn;
    let calls = ManagementCalls::default();
    let record = calls.clone();
    let http = infallible_client_fn(move |request| {
        let method = request.method().to_string();
        let connection = request.uri().path().rsplit('/').next().unwrap_or_default().to_owned();
        let body = String::from_utf8(request.body().bytes().unwrap_or_default().to_vec()).unwrap();
        record.lock().unwrap().push((method.clone(), connection.clone(), body));
        let (status, error_type) = answer(&method, &connection);
        let mut response = http::Response::builder().status(status);
        if let Some(error_type) = error_type {
            response = response.header("x-amzn-errortype", error_type);
        }
        response.body(if status == 200 { String::new() } else { r#"{"message":null}"#.to_owned() }).unwrap()
    });
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(&world.sdk)
        .http_client(http)
        .endpoint_url("https://api.execute-api.us-east-1.amazonaws.com/live")
        .retry_config(aws_sdk_apigatewaymanagement::config::retry::RetryConfig::disabled())
        .build();
    let ws = ws_send_message::SendMessage {
        connections: world.connections.clone(),
        management: aws_sdk_apigatewaymanagement::Client::from_conf(config),
        environment: "test".to_owned(),
    };
    (ws, calls)
}

#[tokio::test]
async fn a_stale_connection_is_deleted_and_other_failures_stay_with_their_connection() {
    let world = World::new().await;
    let user = user();
    let now = time::OffsetDateTime::now_utc();
    for id in ["live-1", "gone-1", "broken-1", "broken-2"] {
        world.connections.put(id, user, now).await.unwrap();
    }
    // broken-1 takes no message but can be closed; broken-2 can be neither.
    let (ws, calls) = send_message_answering(&world, |method, connection| match (method, connection) {
        (_, "gone-1") => (410, Some("GoneException")),
        ("POST", "broken-1") | (_, "broken-2") => (500, Some("InternalServerError")),
        _ => (200, None),
    });
    let node = brain2_shared::domain::new_node_id();
    let event: EventBridgeEvent<Value> = serde_json::from_value(json!({
        "version": "0", "id": "e1", "detail-type": "NodeDeleted", "source": "brain2.api",
        "account": "123456789012", "time": "2026-11-28T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": { "userId": user.to_string(), "nodeId": node }
    }))
    .unwrap();
    let delivery = ws.handle(event).await.unwrap();
    assert_eq!(delivery.sent, ["live-1"]);
    assert_eq!(delivery.gone, ["gone-1"]);
    assert_eq!(delivery.failed, ["broken-1", "broken-2"]);
    assert_eq!(delivery.unclosed, ["broken-2"]);
    let mut remaining = world.connections.of_user(user).await.unwrap();
    remaining.sort();
    assert_eq!(remaining, ["broken-1", "broken-2", "live-1"], "only the gone connection was deleted");
    let calls = calls.lock().unwrap();
    let message: Value = serde_json::from_str(&calls.iter().find(|(_, c, _)| c == "live-1").unwrap().2).unwrap();
    assert_eq!(message, json!({ "version": 2, "seq": 1, "type": "nodeDeleted", "nodeId": node }));
    // A connection that missed the message is closed, so its client reconnects and loads
    // everything: the last change lost would otherwise show no gap. Only those are closed.
    let mut closed: Vec<&str> = calls.iter().filter(|(m, _, _)| m == "DELETE").map(|(_, c, _)| c.as_str()).collect();
    closed.sort();
    assert_eq!(closed, ["broken-1", "broken-2"]);
}

/// In an outage of the management API every post fails, and so would every close: one
/// invocation closes at most one round of connections ([`ws_send_message::MAX_CLOSES`]), so the
/// closes add one post budget to its time, not as many as the posts took. The rest are reported.
#[tokio::test]
async fn closes_after_failed_posts_stop_after_one_round() {
    let world = World::new().await;
    let user = user();
    let now = time::OffsetDateTime::now_utc();
    let ids: Vec<String> = (0..ws_send_message::MAX_CLOSES + 4).map(|i| format!("tab-{i:02}")).collect();
    for id in &ids {
        world.connections.put(id, user, now).await.unwrap();
    }
    // Posts fail; closes would succeed, so each close that is tried shows as closed.
    let (ws, calls) = send_message_answering(&world, |method, _| match method {
        "POST" => (500, Some("InternalServerError")),
        _ => (200, None),
    });
    let node = brain2_shared::domain::new_node_id();
    let deleted = event("NodeDeleted", "brain2.api", json!({ "userId": user.to_string(), "nodeId": node }));
    let delivery = ws.handle(deleted).await.unwrap();
    assert_eq!(delivery.failed, ids);
    let closes: Vec<String> =
        calls.lock().unwrap().iter().filter(|(m, _, _)| m == "DELETE").map(|(_, c, _)| c.clone()).collect();
    assert_eq!(closes.len(), ws_send_message::MAX_CLOSES, "one round of closes");
    let mut unclosed = delivery.unclosed.clone();
    unclosed.sort();
    let mut expected: Vec<String> = ids.iter().filter(|id| !closes.contains(id)).cloned().collect();
    expected.sort();
    assert_eq!(unclosed, expected, "the connections past the round are reported as left open");
}

fn event(detail_type: &str, source: &str, detail: Value) -> EventBridgeEvent<Value> {
    serde_json::from_value(json!({
        "version": "0", "id": "e1", "detail-type": detail_type, "source": source,
        "account": "123456789012", "time": "2026-12-03T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": detail
    }))
    .unwrap()
}

/// Each connection numbers its messages from 1, whatever else is sent meanwhile; a change too
/// large for API Gateway's 128 KB goes as a refetch message, numbered like the rest; an abandoned
/// delete connect-node finished is pushed as nodeDeleted.
#[tokio::test]
async fn messages_are_numbered_per_connection_and_a_change_too_large_is_a_refetch() {
    let world = World::new().await;
    let (user, other) = (user(), user());
    let now = time::OffsetDateTime::now_utc();
    world.connections.put("first", user, now).await.unwrap();
    world.connections.put("theirs", other, now).await.unwrap();
    let (ws, calls) = send_message_answering(&world, |_, _| (200, None));
    let node = brain2_shared::domain::new_node_id();
    let deleted = |source: &str, user: brain2_shared::domain::UserId| {
        event("NodeDeleted", source, json!({ "userId": user.to_string(), "nodeId": node }))
    };
    ws.handle(deleted("brain2.api", user)).await.unwrap();
    ws.handle(deleted("brain2.api", other)).await.unwrap();
    // A connection opened later starts at 1.
    world.connections.put("second", user, now).await.unwrap();
    ws.handle(deleted("brain2.connect-node", user)).await.unwrap();
    let targets: Vec<Value> = (0..3_400).map(|_| json!(node)).collect();
    let removed = event(
        "EdgesRemoved",
        "brain2.connect-node",
        json!({ "userId": user.to_string(), "nodeId": node, "targets": targets }),
    );
    let delivery = ws.handle(removed).await.unwrap();
    assert_eq!(delivery.sent, ["first", "second"]);

    let calls = calls.lock().unwrap();
    let posted: Vec<(&str, &str)> = calls
        .iter()
        .filter(|(method, _, _)| method == "POST")
        .map(|(_, c, body)| (c.as_str(), body.as_str()))
        .collect();
    let of = |connection: &str| -> Vec<Value> {
        posted.iter().filter(|(c, _)| *c == connection).map(|(_, body)| serde_json::from_str(body).unwrap()).collect()
    };
    let summary = |messages: Vec<Value>| -> Vec<(u64, String)> {
        messages.iter().map(|m| (m["seq"].as_u64().unwrap(), m["type"].as_str().unwrap().to_owned())).collect()
    };
    let pair = |seq: u64, kind: &str| (seq, kind.to_owned());
    assert_eq!(summary(of("first")), [pair(1, "nodeDeleted"), pair(2, "nodeDeleted"), pair(3, "refetch")]);
    assert_eq!(summary(of("second")), [pair(1, "nodeDeleted"), pair(2, "refetch")]);
    assert_eq!(summary(of("theirs")), [pair(1, "nodeDeleted")]);
    assert!(posted.iter().all(|(_, body)| body.len() <= brain2_api::live::MAX_LIVE_MESSAGE_BYTES));
    assert_eq!(of("first")[2], json!({ "version": 2, "seq": 3, "type": "refetch" }));
}

#[tokio::test]
async fn the_authorizer_reads_its_secret_from_secrets_manager() {
    let world = World::new().await;
    let client = aws_sdk_secretsmanager::Client::new(&world.sdk);
    let name = format!("jwt-{}", uuid::Uuid::new_v4().simple());
    let arn = client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"jwtSecret":"a-test-secret-that-is-long-enough-for-hs256"}"#)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let secret = authorizer::secret::load(&client, &arn).await.unwrap();
    assert_eq!(secret, b"a-test-secret-that-is-long-enough-for-hs256");
    let missing = authorizer::secret::load(&client, "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope").await;
    assert!(missing.unwrap_err().contains("nope"));
}

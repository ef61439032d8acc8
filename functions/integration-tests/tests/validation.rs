//! Request validation: every bad input is a 400 that says what was wrong, and routes answer the
//! methods they support.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn bad_requests_say_what_was_wrong() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let cases: Vec<(http::Request<axum::body::Body>, &str)> = vec![
        (json_request("POST", "/api/nodes", &json!({ "content": "   " })), "content must not be empty"),
        (json_request("POST", "/api/nodes", &json!({ "content": "x".repeat(5_001) })), "5001 characters"),
        (json_request("POST", "/api/nodes", &json!({ "content": "ok", "tags": vec!["t"; 21] })), "21 tags"),
        (json_request("POST", "/api/nodes", &json!({ "content": "ok", "extra": 1 })), "unknown field `extra`"),
        (json_request("POST", "/api/nodes", &json!({ "content": 5 })), "invalid type"),
        (
            http::Request::builder()
                .method("POST")
                .uri("/api/nodes")
                .header("content-type", "application/json")
                .body("{nope".into())
                .unwrap(),
            "invalid JSON body",
        ),
        (
            http::Request::builder()
                .method("POST")
                .uri("/api/nodes")
                .header("content-type", "text/plain")
                .body("{}".into())
                .unwrap(),
            "Content-Type must be application/json",
        ),
        (
            http::Request::builder()
                .method("POST")
                .uri("/api/nodes")
                .header("content-type", "application/json")
                .body(format!(r#"{{"content":"{}"}}"#, "a".repeat(70_000)).into())
                .unwrap(),
            "over 64 KiB",
        ),
        (empty_request("GET", "/api/nodes/not-a-uuid"), "is not a UUID"),
        (empty_request("GET", "/api/nodes?limit=0"), "limit"),
        (empty_request("GET", "/api/nodes?limit=1001"), "limit"),
        (json_request("POST", "/api/nodes/bulk-delete", &json!({ "nodeIds": [] })), "1 to 100"),
        (json_request("POST", "/api/nodes/bulk-delete", &json!({ "nodeIds": ["x"] })), "nodeIds[0]"),
    ];
    for (request, expected) in cases {
        let label = format!("{} {}", request.method(), request.uri());
        let (status, body) = call(&router, Some(user), request).await;
        assert_eq!(status, 400, "{label}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(expected), "{label}: {message:?} should mention {expected:?}");
    }
    let mut too_many = Vec::new();
    for _ in 0..101 {
        too_many.push(uuid::Uuid::new_v4().to_string());
    }
    let (status, _) =
        call(&router, Some(user), json_request("POST", "/api/nodes/bulk-delete", &json!({ "nodeIds": too_many })))
            .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn wrong_methods_are_405_and_health_needs_no_caller() {
    let world = World::new().await;
    let router = world.backend();
    let (status, body) = call(&router, Some(user()), empty_request("PATCH", "/api/nodes")).await;
    assert_eq!((status.as_u16(), body), (405, json!({ "error": "method not allowed" })));
    assert_eq!(call(&router, Some(user()), empty_request("DELETE", "/api/graph-data")).await.0, 405);
    let (status, body) = call(&router, None, empty_request("GET", "/health")).await;
    assert_eq!((status.as_u16(), body), (200, json!({ "status": "ok" })));
    assert_eq!(call(&router, None, empty_request("GET", "/nowhere")).await.0, 404);
}

#[tokio::test]
async fn a_create_succeeds_even_when_the_event_cannot_be_published() {
    let world = World::new().await;
    let state_router = backend::router(backend::AppState {
        store: world.memory.clone(),
        connections: None,
        // A bus that does not exist: every publish fails.
        exports: None,
        publisher: brain2_shared::events::Publisher::new(
            aws_sdk_eventbridge::Client::new(&world.sdk),
            "no-such-bus",
            brain2_shared::events::API_SOURCE,
        ),
        environment: "test".into(),
        clock: std::sync::Arc::new(time::OffsetDateTime::now_utc),
    });
    let user = user();
    let (status, body) =
        call(&state_router, Some(user), json_request("POST", "/api/nodes", &json!({ "content": "kept anyway" }))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(world.items_of(user).await.len(), 3, "the node and its postings (kept, anyway) are stored");
    // And publishing to that bus really fails, so the request above went through the failure path.
    let publisher = brain2_shared::events::Publisher::new(
        aws_sdk_eventbridge::Client::new(&world.sdk),
        "no-such-bus",
        brain2_shared::events::API_SOURCE,
    );
    assert!(publisher.publish("NodeCreated", &json!({})).await.is_err());
}

//! The IAM grants on MemoryTable are what the functions' code calls, no more and no less. The
//! backend's routes and connect-node's linking run against moto through a DynamoDB client that
//! records each call as the IAM action it needs (a transaction needs one per kind of action in
//! it: PutItem, UpdateItem, DeleteItem, ConditionCheckItem), and the test compares that with the
//! statements `brain2-stacks` (compute.rs, the one place grants are written) puts on each role.
//! The backend's S3 calls on the exports bucket are recorded and compared the same way.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use brain2_shared::domain::NodeId;
use brain2_shared::memory::MemoryStore;
use serde_json::{Value, json};
use support::*;

/// (what the call reaches: "table" or "index", the IAM action).
type Needed = BTreeSet<(&'static str, String)>;

#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Needed>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "IamActionRecorder"
    }

    // The input shows what a transaction holds and whether a query reads an index.
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut needed = self.0.lock().unwrap();
        let input = context.input();
        if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in transaction.transact_items() {
                let action = if item.put().is_some() {
                    "PutItem"
                } else if item.update().is_some() {
                    "UpdateItem"
                } else if item.delete().is_some() {
                    "DeleteItem"
                } else {
                    "ConditionCheckItem"
                };
                needed.insert(("table", format!("dynamodb:{action}")));
            }
        } else if let Some(query) = input.downcast_ref::<QueryInput>() {
            let on = if query.index_name().is_some() { "index" } else { "table" };
            needed.insert((on, "dynamodb:Query".to_owned()));
        }
        Ok(())
    }

    // Every other operation needs the action of its own name; the name is known by now.
    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_owned()).expect("every call has its metadata");
        if !matches!(operation.as_str(), "TransactWriteItems" | "Query") {
            self.0.lock().unwrap().insert(("table", format!("dynamodb:{operation}")));
        }
        Ok(())
    }
}

fn recording_client(world: &World) -> (aws_sdk_dynamodb::Client, Recorder) {
    let recorder = Recorder::default();
    let client = aws_sdk_dynamodb::Client::from_conf(world.dynamodb_config().interceptor(recorder.clone()).build());
    (client, recorder)
}

fn recording_store(world: &World) -> (MemoryStore, Recorder) {
    let (client, recorder) = recording_client(world);
    (MemoryStore::new(client, &world.memory_table, KEYWORD_INDEX), recorder)
}

/// The dev compute stack's template, where every grant is written.
fn compute_template() -> Value {
    let workspace = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = brain2_iac::config::EnvironmentConfig::load(&workspace, "dev").unwrap();
    let synthesized = brain2_stacks::brain2_app("dev", &config).unwrap().synth().unwrap();
    serde_json::from_str(&synthesized.stack("compute").unwrap().template).unwrap()
}

/// What the dev compute stack grants `role` on `table` (its logical id) and its indexes.
fn granted_on(role: &str, table: &str) -> Needed {
    let template = compute_template();
    let mut granted = Needed::new();
    for policy in template["Resources"][role]["Properties"]["Policies"].as_array().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            for resource in statement["Resource"].as_array().unwrap() {
                let text = resource.to_string();
                if !text.contains(table) {
                    continue;
                }
                let on = if text.contains("/index/") { "index" } else { "table" };
                for action in statement["Action"].as_array().unwrap() {
                    granted.insert((on, action.as_str().unwrap().to_owned()));
                }
            }
        }
    }
    granted
}

fn recorded(recorder: &Recorder) -> Needed {
    recorder.0.lock().unwrap().clone()
}

#[tokio::test]
async fn each_role_is_granted_exactly_what_its_function_calls_on_memory_table() {
    let world = World::new().await;
    let user = user();

    // connect-node: links, reweighs and unlinks as memories change.
    let (store, connect_calls) = recording_store(&world);
    let connect = connect_node::ConnectNode { store, ..world.connect_node(2) };
    let router = world.backend();
    let mut ids = Vec::new();
    for content in ["rust graph edges", "rust graph lambdas", "rust graph keywords", "garden tomatoes"] {
        let (status, body) =
            call(&router, Some(user), json_request("POST", "/api/nodes", &json!({ "content": content }))).await;
        assert_eq!(status, 201);
        ids.push(NodeId::parse(body["nodeId"].as_str().unwrap()).unwrap());
    }
    for &id in &ids {
        connect.connect(user, id).await.unwrap();
    }
    let changed = brain2_shared::domain::NodeInput { content: "garden tomatoes lambdas".into(), tags: vec![] };
    world
        .memory
        .update(user, ids[1], changed.validate().unwrap(), None, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    connect.connect(user, ids[1]).await.unwrap();
    connect.connect(user, ids[0]).await.unwrap();

    // The backend: every route, with conflicts, misses and a delete of a linked memory, search,
    // export, import, and last the account's deletion (with an open connection).
    let (store, backend_calls) = recording_store(&world);
    let (connections_client, connection_calls) = recording_client(&world);
    let connections = brain2_shared::connections::ConnectionStore::new(
        connections_client,
        &world.connections_table,
        CONNECTION_INDEX,
    );
    world.connections.put("grants-connection", user, time::OffsetDateTime::now_utc()).await.unwrap();
    let router = backend::router(backend::AppState { store, connections: Some(connections), ..world.backend_state() });
    let (_, export) = call(&router, Some(user), empty_request("GET", "/api/export")).await;
    let node = format!("/api/nodes/{}", ids[0]);
    let requests = vec![
        json_request("POST", "/api/nodes", &json!({ "content": "rust graph once more" })),
        empty_request("GET", "/api/nodes?limit=2"),
        empty_request("GET", &node),
        empty_request("GET", "/api/graph-data?limit=2"),
        json_request("PUT", &node, &json!({ "content": "rust graph edges, edited" })),
        {
            let mut stale = json_request("PUT", &node, &json!({ "content": "stale" }));
            stale.headers_mut().insert("If-Match", "1".parse().unwrap());
            stale
        },
        empty_request("DELETE", &node),
        empty_request("DELETE", &node),
        json_request("POST", "/api/nodes/bulk-delete", &json!({ "nodeIds": [ids[2].to_string(), ids[0].to_string()] })),
        empty_request("GET", "/api/search?q=rust%20tag:work%20gra"),
        empty_request("GET", "/api/graph-data?format=elements"),
        json_request("POST", "/api/import", &export),
        empty_request("DELETE", "/api/account"),
    ];
    for request in requests {
        let (status, body) = call(&router, Some(user), request).await;
        assert!(!status.is_server_error(), "{status}: {body}");
    }

    for (role, table, calls) in [
        ("BackendRole", "MemoryTable", &backend_calls),
        ("BackendRole", "ConnectionsTable", &connection_calls),
        ("ConnectNodeRole", "MemoryTable", &connect_calls),
    ] {
        let (needed, granted) = (recorded(calls), granted_on(role, table));
        let missing: Vec<_> = needed.difference(&granted).collect();
        let unused: Vec<_> = granted.difference(&needed).collect();
        assert!(missing.is_empty(), "{role} calls what it is not granted on {table}: {missing:?}");
        assert!(unused.is_empty(), "{role} is granted what its code never calls on {table}: {unused:?}");
        println!("{role} on {table}: {needed:?}");
    }
}

/// Records each S3 call as the IAM action it needs and what it reaches: `objects` (under a key)
/// or `bucket`. A presigned GetObject is recorded too: S3 authorizes its download as the signer.
#[derive(Debug, Clone, Default)]
struct S3Recorder(Arc<Mutex<BTreeSet<(&'static str, &'static str)>>>);

impl Intercept for S3Recorder {
    fn name(&self) -> &'static str {
        "S3IamActionRecorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_s3::operation::{
            delete_object::DeleteObjectInput, get_object::GetObjectInput, list_objects_v2::ListObjectsV2Input,
            put_object::PutObjectInput,
        };
        let input = context.input();
        let needed = if input.downcast_ref::<PutObjectInput>().is_some() {
            ("objects", "s3:PutObject")
        } else if input.downcast_ref::<GetObjectInput>().is_some() {
            ("objects", "s3:GetObject")
        } else if input.downcast_ref::<DeleteObjectInput>().is_some() {
            ("objects", "s3:DeleteObject")
        } else if input.downcast_ref::<ListObjectsV2Input>().is_some() {
            ("bucket", "s3:ListBucket")
        } else {
            return Err(format!("an S3 call this test does not know the action of: {input:?}").into());
        };
        self.0.lock().unwrap().insert(needed);
        Ok(())
    }
}

#[tokio::test]
async fn the_backend_is_granted_exactly_what_it_calls_on_the_exports_bucket() {
    let world = World::new().await;
    let user = user();
    seed_past_one_answer(&world.memory, user).await;
    let recorder = S3Recorder::default();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&world.sdk).interceptor(recorder.clone()).build(),
    );
    let exports = backend::exports::ExportBucket::new(s3, &world.exports_bucket);
    let router = backend::router(backend::AppState { exports: Some(exports), ..world.backend_state() });
    let (status, _) = call(&router, Some(user), empty_request("GET", "/api/export")).await;
    assert_eq!(status, 201, "an export past one answer");
    let (status, deleted) = call(&router, Some(user), empty_request("DELETE", "/api/account")).await;
    assert_eq!((status.as_u16(), deleted["exports"].as_u64()), (200, Some(1)));
    let needed: BTreeSet<(String, String)> =
        recorder.0.lock().unwrap().iter().map(|(on, action)| ((*on).to_owned(), (*action).to_owned())).collect();

    // What the dev compute stack grants BackendRole on ExportsBucket: object actions only under
    // `exports/`, and listing only with that prefix.
    let template = compute_template();
    let mut granted = BTreeSet::new();
    for policy in template["Resources"]["BackendRole"]["Properties"]["Policies"].as_array().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            for resource in statement["Resource"].as_array().unwrap() {
                let text = resource.to_string();
                if !text.contains("ExportsBucket") {
                    continue;
                }
                let on = if text.contains("/exports/*") {
                    "objects"
                } else {
                    assert_eq!(
                        statement["Condition"],
                        json!({ "StringLike": { "s3:prefix": "exports/*" } }),
                        "listing is only of exports/"
                    );
                    "bucket"
                };
                for action in statement["Action"].as_array().unwrap() {
                    granted.insert((on.to_owned(), action.as_str().unwrap().to_owned()));
                }
            }
        }
    }
    assert_eq!(needed, granted, "BackendRole on ExportsBucket: what the code calls (left), what is granted (right)");
}

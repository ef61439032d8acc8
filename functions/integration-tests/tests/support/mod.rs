//! A local AWS (moto) with the stacks' real tables, a bus whose events land in an SQS queue,
//! and handles on every handler. Each test gets its own tables, bus and queue, so tests run in
//! parallel against one server.
#![allow(dead_code)]

pub mod faults;
pub mod moto;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use axum::body::Body;
use backend::extract::Caller;
use brain2_shared::connections::ConnectionStore;
use brain2_shared::domain::UserId;
use brain2_shared::events::{API_SOURCE, CONNECT_NODE_SOURCE, Publisher};
use brain2_shared::memory::MemoryStore;
use serde_json::Value;
use tower::ServiceExt;

pub fn sdk(endpoint: &str) -> SdkConfig {
    let credentials = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}

/// Dynoxide (DynamoDB on SQLite, in memory) serving on 127.0.0.1 for the rest of the process;
/// its endpoint. Every test's DynamoDB is Dynoxide, and the rest of AWS is moto: moto's
/// TransactWriteItems snapshots the whole table, applies the actions one by one and, when one
/// fails, puts the snapshot back, undoing whatever a concurrent transaction wrote in between (a
/// bulk delete of a missing id restored a memory deleted beside it; an edge count ended one off
/// from its edges). Dynoxide's transactions are isolated and atomic, as DynamoDB's are.
pub fn dynoxide() -> &'static str {
    static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port for Dynoxide");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let database = dynoxide::Database::memory().expect("an in-memory Dynoxide database");
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                dynoxide::server::serve_on(listener, database).await;
            });
        });
        endpoint
    })
}

/// The database stack's tables as synthesized for dev: the tests use the real definitions.
pub fn table_definitions() -> Vec<(String, Value)> {
    let workspace = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = brain2_iac::config::EnvironmentConfig::load(&workspace, "dev").unwrap();
    let app = brain2_stacks::brain2_app("dev", &config).unwrap();
    let synthesized = app.synth().unwrap();
    let template: Value = serde_json::from_str(&synthesized.stack("database").unwrap().template).unwrap();
    template["Resources"].as_object().unwrap().iter().map(|(id, r)| (id.clone(), r["Properties"].clone())).collect()
}

fn key_schema(value: &Value) -> Vec<KeySchemaElement> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                .build()
                .unwrap()
        })
        .collect()
}

/// Creates a table from its CloudFormation properties under a unique name.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, properties: &Value, name: &str) {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&properties["KeySchema"])));
    for attribute in properties["AttributeDefinitions"].as_array().unwrap() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(attribute["AttributeType"].as_str().unwrap()))
                .build()
                .unwrap(),
        );
    }
    for index in properties["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index["IndexName"].as_str().unwrap())
                .set_key_schema(Some(key_schema(&index["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index["Projection"]["ProjectionType"].as_str().unwrap()))
                        .build(),
                )
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap();
    if let Some(attribute) = properties["TimeToLiveSpecification"]["AttributeName"].as_str() {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().enabled(true).attribute_name(attribute).build().unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

/// A bucket in the SDK configuration's region.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    let region = s3.config().region().map(|r| r.to_string()).unwrap_or_default();
    let mut request = s3.create_bucket().bucket(name);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    request.send().await.unwrap();
}

/// One test's world.
pub struct World {
    /// moto's endpoint, for every service but DynamoDB.
    pub sdk: SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub memory_table: String,
    pub connections_table: String,
    pub bus: String,
    pub queue_url: String,
    pub sqs: aws_sdk_sqs::Client,
    pub memory: MemoryStore,
    pub connections: ConnectionStore,
    /// The exports bucket (in moto), for exports too large for one answer.
    pub exports_bucket: String,
}

pub const KEYWORD_INDEX: &str = "KeywordIndex";
pub const CONNECTION_INDEX: &str = "connection-id-index";

impl World {
    pub async fn new() -> World {
        let endpoint = &moto::moto().endpoint;
        let sdk = sdk(endpoint);
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb_config(&sdk).build());
        let run = uuid::Uuid::new_v4().simple().to_string();
        let definitions: HashMap<String, Value> = table_definitions().into_iter().collect();
        let memory_table = format!("memory-{run}");
        let connections_table = format!("connections-{run}");
        create_table(&dynamodb, &definitions["MemoryTable"], &memory_table).await;
        create_table(&dynamodb, &definitions["ConnectionsTable"], &connections_table).await;

        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let bus = format!("bus-{run}");
        events.create_event_bus().name(&bus).send().await.unwrap();
        let queue_url = sqs.create_queue().queue_name(format!("events-{run}")).send().await.unwrap().queue_url.unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let pattern = serde_json::json!({ "source": [API_SOURCE, CONNECT_NODE_SOURCE] }).to_string();
        events.put_rule().name("all-brain2").event_bus_name(&bus).event_pattern(pattern).send().await.unwrap();
        events
            .put_targets()
            .rule("all-brain2")
            .event_bus_name(&bus)
            .targets(aws_sdk_eventbridge::types::Target::builder().id("queue").arn(queue_arn).build().unwrap())
            .send()
            .await
            .unwrap();
        let exports_bucket = format!("exports-{run}");
        create_bucket(&aws_sdk_s3::Client::new(&sdk), &exports_bucket).await;
        World {
            exports_bucket,
            memory: MemoryStore::new(dynamodb.clone(), &memory_table, KEYWORD_INDEX),
            connections: ConnectionStore::new(dynamodb.clone(), &connections_table, CONNECTION_INDEX),
            sdk,
            dynamodb,
            memory_table,
            connections_table,
            bus,
            queue_url,
            sqs,
        }
    }

    /// A DynamoDB client's configuration, to add interceptors to.
    pub fn dynamodb_config(&self) -> aws_sdk_dynamodb::config::Builder {
        dynamodb_config(&self.sdk)
    }

    pub fn publisher(&self, source: &'static str) -> Publisher {
        Publisher::new(aws_sdk_eventbridge::Client::new(&self.sdk), &self.bus, source)
    }

    pub fn exports(&self) -> backend::exports::ExportBucket {
        backend::exports::ExportBucket::from_sdk(&self.sdk, &self.exports_bucket)
    }

    pub fn backend(&self) -> axum::Router {
        backend::router(self.backend_state())
    }

    pub fn backend_state(&self) -> backend::AppState {
        backend::AppState {
            store: self.memory.clone(),
            connections: Some(self.connections.clone()),
            publisher: self.publisher(API_SOURCE),
            exports: Some(self.exports()),
            environment: "test".into(),
            clock: Arc::new(time::OffsetDateTime::now_utc),
        }
    }

    pub fn connect_node(&self, max_edges: usize) -> connect_node::ConnectNode {
        connect_node::ConnectNode {
            store: self.memory.clone(),
            publisher: self.publisher(CONNECT_NODE_SOURCE),
            min_shared_keywords: 1,
            max_edges_per_node: max_edges,
        }
    }

    /// Events published so far, as EventBridge delivered them (envelopes), oldest first.
    pub async fn drain_events(&self) -> Vec<Value> {
        let mut events = Vec::new();
        for _ in 0..20 {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap();
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                events.push(serde_json::from_str(message.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        events
    }

    /// Every MemoryTable item of a user (read straight from the table, not through the code
    /// under test).
    pub async fn items_of(&self, user: UserId) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.dynamodb
            .query()
            .table_name(&self.memory_table)
            .key_condition_expression("id = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(brain2_shared::keys::partition(user)),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap()
    }
}

/// DynamoDB on Dynoxide (see [`dynoxide`]), with `sdk`'s credentials, region and retries.
pub fn dynamodb_config(sdk: &SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(sdk).endpoint_url(dynoxide())
}

/// Memories of `user` whose JSON export is past what one Lambda answer carries
/// (`MAX_INLINE_EXPORT_BYTES`): 1,150 of about 5,000 characters, each with a keyword of its own
/// (so nothing links). Returns how many.
pub async fn seed_past_one_answer(store: &MemoryStore, user: UserId) -> usize {
    let inputs: Vec<brain2_shared::domain::ValidInput> = (0..1_150)
        .map(|i| {
            let word = format!("bulk{i:04} ");
            let content = word.repeat(brain2_api::MAX_CONTENT_CHARS / word.len()).trim_end().to_owned();
            brain2_shared::domain::ValidInput { content, tags: Vec::new() }
        })
        .collect();
    let count = inputs.len();
    store.seed(user, inputs, 1, 8, time::OffsetDateTime::now_utc()).await.unwrap();
    count
}

pub fn user() -> UserId {
    UserId(uuid::Uuid::new_v4())
}

/// Sends a request to the router as `user` and returns the status and JSON body.
pub async fn call(
    router: &axum::Router,
    user: Option<UserId>,
    request: http::Request<Body>,
) -> (http::StatusCode, Value) {
    let mut request = request;
    if let Some(user) = user {
        request.extensions_mut().insert(Caller(user));
    }
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, body)
}

pub fn json_request(method: &str, uri: &str, body: &Value) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub fn empty_request(method: &str, uri: &str) -> http::Request<Body> {
    http::Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()
}

/// Waits a moment for moto to deliver events to the queue.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

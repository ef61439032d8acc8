//! The graph's invariants under concurrency, partial failure and redelivery, against moto's
//! DynamoDB: writers race creates, updates and deletes over shared keywords while connect-node
//! gets its events duplicated and out of order, and a fault injector fails chosen calls either
//! before they are sent or after DynamoDB carried them out (the response lost). Clients retry
//! as real ones do. Afterwards graph-check must find nothing. Also: graph-check's repair mends
//! each kind of damage that data written before the invariants were enforced can hold.

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use brain2_api::graph::MAX_GRAPH_PAGE;
use brain2_shared::check;
use brain2_shared::domain::{NodeId, UserId};
use brain2_shared::events::{API_SOURCE, NodeChanged};
use brain2_shared::memory::MemoryStore;
use futures::StreamExt;
use serde_json::{Value, json};
use support::*;

/// A small deterministic generator (xorshift): the schedule of operations and faults.
#[derive(Debug)]
struct Dice(AtomicU64);

impl Dice {
    fn new(seed: u64) -> Self {
        Dice(AtomicU64::new(seed))
    }
    fn roll(&self, sides: u64) -> u64 {
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.store(x, Ordering::Relaxed);
        x % sides
    }
}

/// Fails a share of DynamoDB's write calls: before sending (nothing happened) or after the
/// response came back (the write happened, the caller hears it failed).
#[derive(Debug)]
struct FaultInjector {
    dice: Dice,
    percent: u64,
    before: AtomicUsize,
    after: AtomicUsize,
    calls: AtomicUsize,
}

const WRITES: &[&str] = &["TransactWriteItems", "BatchWriteItem", "UpdateItem", "DeleteItem", "PutItem"];

impl FaultInjector {
    fn strikes(&self, cfg: &ConfigBag) -> bool {
        let write = cfg.load::<Metadata>().is_some_and(|m| WRITES.contains(&m.name()));
        write && self.dice.roll(100) < self.percent
    }
}

#[derive(Debug, Clone)]
struct Faults(Arc<FaultInjector>);

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.calls.fetch_add(1, Ordering::Relaxed);
        if self.0.strikes(cfg) {
            self.0.before.fetch_add(1, Ordering::Relaxed);
            return Err("injected fault: the call was not sent".into());
        }
        Ok(())
    }
    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.strikes(cfg) {
            self.0.after.fetch_add(1, Ordering::Relaxed);
            return Err("injected fault: the call was carried out but its answer was lost".into());
        }
        Ok(())
    }
}

const VOCABULARY: &[&str] = &[
    "rust", "graph", "lambda", "memory", "keyword", "edges", "browser", "socket", "dynamo", "event", "index", "cloud",
];
const WRITERS: usize = 4;
const OPERATIONS_PER_WRITER: usize = 20;
const MAX_EDGES: usize = 4;
/// A client gives up on a request after this many 5xx answers (it never needs to here).
const CLIENT_ATTEMPTS: usize = 30;

fn content(dice: &Dice) -> String {
    let words = 2 + dice.roll(4) as usize;
    (0..words).map(|_| VOCABULARY[dice.roll(VOCABULARY.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
}

/// Sends a request until it gets an answer that is not a server error, as a client would.
async fn with_retries(
    router: &axum::Router,
    user: UserId,
    make: impl Fn() -> http::Request<axum::body::Body>,
    retried: &AtomicUsize,
) -> (u16, Value) {
    for _ in 0..CLIENT_ATTEMPTS {
        let (status, body) = call(router, Some(user), make()).await;
        if !status.is_server_error() {
            return (status.as_u16(), body);
        }
        retried.fetch_add(1, Ordering::Relaxed);
    }
    panic!("a request failed {CLIENT_ATTEMPTS} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invariants_hold_under_concurrent_writers_redelivery_and_faults() {
    let world = World::new().await;
    let faults = Arc::new(FaultInjector {
        dice: Dice::new(0x9e37_79b9_7f4a_7c15),
        percent: 8,
        before: AtomicUsize::new(0),
        after: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
    });
    // DynamoDB is Dynoxide here (see support::dynoxide for why); events still go through moto.
    let dynamodb_config = || aws_sdk_dynamodb::config::Builder::from(&world.sdk).endpoint_url(dynoxide());
    let table = format!("stress-{}", uuid::Uuid::new_v4().simple());
    let definitions: std::collections::HashMap<String, Value> = table_definitions().into_iter().collect();
    let plain_client = aws_sdk_dynamodb::Client::from_conf(dynamodb_config().build());
    create_table(&plain_client, &definitions["MemoryTable"], &table).await;
    let checked_store = MemoryStore::new(plain_client, &table, KEYWORD_INDEX);
    let faulty_client =
        aws_sdk_dynamodb::Client::from_conf(dynamodb_config().interceptor(Faults(faults.clone())).build());
    let faulty_store = MemoryStore::new(faulty_client, &table, KEYWORD_INDEX);
    let router = backend::router(backend::AppState {
        store: faulty_store.clone(),
        publisher: world.publisher(API_SOURCE),
        environment: "test".into(),
        clock: Arc::new(time::OffsetDateTime::now_utc),
    });
    let connect = connect_node::ConnectNode { store: faulty_store, ..world.connect_node(MAX_EDGES) };
    let user = user();
    let live: Arc<Mutex<Vec<NodeId>>> = Arc::default();
    let counts: Arc<Mutex<BTreeMap<&'static str, usize>>> = Arc::default();
    let retried = Arc::new(AtomicUsize::new(0));

    let writers = (0..WRITERS).map(|writer| {
        let (router, live, counts, retried) = (router.clone(), live.clone(), counts.clone(), retried.clone());
        async move {
            let dice = Dice::new(0x2545_f491_4f6c_dd1d ^ (writer as u64 + 1));
            for _ in 0..OPERATIONS_PER_WRITER {
                let target = {
                    let live = live.lock().unwrap();
                    (!live.is_empty()).then(|| live[dice.roll(live.len() as u64) as usize])
                };
                let roll = dice.roll(10);
                let (kind, status) = match (roll, target) {
                    (0..=4, _) | (_, None) => {
                        let text = content(&dice);
                        let make = || json_request("POST", "/api/nodes", &json!({ "content": text }));
                        let (status, body) = with_retries(&router, user, make, &retried).await;
                        assert_eq!(status, 201, "{body}");
                        live.lock().unwrap().push(NodeId::parse(body["nodeId"].as_str().unwrap()).unwrap());
                        ("create", status)
                    }
                    (5..=7, Some(id)) => {
                        let text = content(&dice);
                        let make = || json_request("PUT", &format!("/api/nodes/{id}"), &json!({ "content": text }));
                        let (status, body) = with_retries(&router, user, make, &retried).await;
                        assert!(matches!(status, 200 | 404 | 409), "{status} {body}");
                        ("update", status)
                    }
                    (_, Some(id)) => {
                        let make = || empty_request("DELETE", &format!("/api/nodes/{id}"));
                        let (status, body) = with_retries(&router, user, make, &retried).await;
                        assert!(matches!(status, 204 | 404), "{status} {body}");
                        live.lock().unwrap().retain(|n| *n != id);
                        ("delete", status)
                    }
                };
                *counts.lock().unwrap().entry(kind).or_default() += 1;
                if status == 404 {
                    *counts.lock().unwrap().entry("raced a delete (404)").or_default() += 1;
                }
            }
        }
    });
    let writing = futures::future::join_all(writers);

    // connect-node: events as EventBridge delivers them, some twice, shuffled, several at once;
    // a failed run is redelivered later, as EventBridge's retry policy does.
    let delivered = AtomicUsize::new(0);
    let redelivered = AtomicUsize::new(0);
    let dice = Dice::new(0x1234_5678_9abc_def1);
    let pending: Mutex<VecDeque<EventBridgeEvent<NodeChanged>>> = Mutex::default();
    let writers_done = std::sync::atomic::AtomicBool::new(false);
    let delivering = async {
        loop {
            let drained = world.drain_events().await;
            let mut batch: Vec<EventBridgeEvent<NodeChanged>> = pending.lock().unwrap().drain(..).collect();
            for event in drained {
                if event["source"] == API_SOURCE && event["detail-type"] != "NodeDeleted" {
                    let event: EventBridgeEvent<NodeChanged> = serde_json::from_value(event).unwrap();
                    if dice.roll(3) == 0 {
                        batch.push(event.clone());
                    }
                    batch.push(event);
                }
            }
            for i in (1..batch.len()).rev() {
                batch.swap(i, dice.roll(i as u64 + 1) as usize);
            }
            if batch.is_empty() && writers_done.load(Ordering::SeqCst) {
                break;
            }
            futures::stream::iter(batch)
                .for_each_concurrent(4, |event| {
                    let (connect, pending, delivered, redelivered) = (&connect, &pending, &delivered, &redelivered);
                    async move {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        if connect.handle(event.clone()).await.is_err() {
                            redelivered.fetch_add(1, Ordering::Relaxed);
                            pending.lock().unwrap().push_back(event);
                        }
                    }
                })
                .await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let writing = async {
        writing.await;
        settle().await;
        writers_done.store(true, Ordering::SeqCst);
    };
    tokio::join!(writing, delivering);

    let report = check::check_user(&checked_store, user, MAX_EDGES, false).await.unwrap();
    println!(
        "stress: operations {:?}; client retries after a 5xx {}; connect-node deliveries {} ({} failed and redelivered)",
        counts.lock().unwrap(),
        retried.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed),
        redelivered.load(Ordering::Relaxed),
    );
    println!(
        "stress: DynamoDB calls {}; faults injected {} before sending, {} after DynamoDB acted",
        faults.calls.load(Ordering::Relaxed),
        faults.before.load(Ordering::Relaxed),
        faults.after.load(Ordering::Relaxed),
    );
    println!(
        "stress: graph-check found {} violations in {} nodes, {} edges, {} postings",
        report.found.len(),
        report.nodes,
        report.edges,
        report.postings
    );
    assert!(faults.before.load(Ordering::Relaxed) > 0 && faults.after.load(Ordering::Relaxed) > 0);
    assert!(report.edges > 0, "the run linked memories");
    let violations: Vec<String> = report.found.iter().map(ToString::to_string).collect();
    assert!(violations.is_empty(), "graph-check found:\n{}", violations.join("\n"));
    let expected_live: BTreeSet<NodeId> = live.lock().unwrap().iter().copied().collect();
    let page = checked_store.graph_page(user, MAX_GRAPH_PAGE, None).await.unwrap().unwrap();
    let stored: BTreeSet<NodeId> = page.ids.into_iter().collect();
    assert!(expected_live.is_subset(&stored), "every node the clients created and did not delete is there");
}

fn item(pairs: &[(&str, AttributeValue)]) -> std::collections::HashMap<String, AttributeValue> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

#[tokio::test]
async fn graph_check_repairs_damage_from_before_the_invariants() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let mut ids = Vec::new();
    for text in ["rust graph", "rust lambda", "graph lambda", "rust graph lambda"] {
        let (status, body) =
            call(&router, Some(user), json_request("POST", "/api/nodes", &json!({ "content": text }))).await;
        assert_eq!(status, 201);
        ids.push(NodeId::parse(body["nodeId"].as_str().unwrap()).unwrap());
    }
    let connect = world.connect_node(3);
    for id in &ids {
        connect.connect(user, *id).await.unwrap();
    }
    assert_eq!(check::check_user(&world.memory, user, 3, false).await.unwrap().found, []);

    // Damage of every kind, written straight to the table as older code could leave it.
    let pk = brain2_shared::keys::partition(user);
    let ghost = brain2_shared::domain::new_node_id();
    let put = |attributes: std::collections::HashMap<String, AttributeValue>| {
        world.dynamodb.put_item().table_name(&world.memory_table).set_item(Some(attributes)).send()
    };
    let del = |sk: String| {
        world.dynamodb.delete_item().table_name(&world.memory_table).key("id", s(&pk)).key("sk", s(sk)).send()
    };
    // A half-deleted edge (the reverse lost), an edge to a node that is gone, an orphan posting,
    // a missing posting, a node without an edge count, and a delete that stopped part-way.
    del(brain2_shared::keys::edge(ids[1], ids[0])).await.unwrap();
    let edge = [
        ("id", s(&pk)),
        ("sk", s(brain2_shared::keys::edge(ids[2], ghost))),
        ("weight", AttributeValue::N("1".into())),
    ];
    put(item(&edge)).await.unwrap();
    let orphan = [
        ("id", s(&pk)),
        ("sk", s(brain2_shared::keys::posting(ghost, "rust"))),
        ("keyword", s(brain2_shared::keys::keyword(user, "rust"))),
    ];
    put(item(&orphan)).await.unwrap();
    del(brain2_shared::keys::posting(ids[0], "rust")).await.unwrap();
    world
        .dynamodb
        .update_item()
        .table_name(&world.memory_table)
        .key("id", s(&pk))
        .key("sk", s(brain2_shared::keys::node(ids[2])))
        .update_expression("REMOVE edgeCount")
        .send()
        .await
        .unwrap();
    world
        .dynamodb
        .update_item()
        .table_name(&world.memory_table)
        .key("id", s(&pk))
        .key("sk", s(brain2_shared::keys::node(ids[3])))
        .update_expression("SET deleting = :yes")
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();

    let found = check::check_user(&world.memory, user, 3, false).await.unwrap().found;
    let kinds: BTreeSet<String> =
        found.iter().map(|v| format!("{v:?}").split([' ', '{']).next().unwrap().to_owned()).collect();
    for kind in [
        "EdgeWithoutReverse",
        "EdgeToMissingNode",
        "OrphanPosting",
        "MissingPosting",
        "WrongEdgeCount",
        "UnfinishedDelete",
    ] {
        assert!(kinds.contains(kind), "{kind} not found in {found:?}");
    }
    let repaired = check::check_user(&world.memory, user, 3, true).await.unwrap();
    assert_eq!(repaired.remaining, [], "found {:?}", repaired.found);
    // Idempotent: a second repair finds nothing to do.
    assert_eq!(check::check_user(&world.memory, user, 3, true).await.unwrap().found, []);
    // The half-deleted node is gone for good; the others are still there.
    let page = world.memory.graph_page(user, MAX_GRAPH_PAGE, None).await.unwrap().unwrap();
    assert_eq!(page.ids.len(), 3);
}

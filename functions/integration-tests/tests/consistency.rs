//! The graph's invariants under concurrency, partial failure and redelivery, on Dynoxide
//! (see `support::dynoxide`): writers race creates, updates that drop and add keywords, and
//! deletes while connect-node runs overlap, with their events duplicated and out of order. Faults
//! are made to happen (`support::faults`): DynamoDB calls fail before they are sent or after
//! DynamoDB acted, and updates of an edge's node land between a connect-node run's reads and its
//! edge write, together with their own runs. Clients retry as real ones do. Afterwards
//! graph-check must find nothing. Also: graph-check's repair mends each kind of damage that data
//! written before the invariants were enforced can hold, and an update racing a link leaves no
//! edge its keywords do not give.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::AttributeValue;
use brain2_api::graph::MAX_GRAPH_PAGE;
use brain2_shared::check;
use brain2_shared::domain::{NodeId, NodeInput, UserId};
use brain2_shared::events::{API_SOURCE, NodeChanged};
use brain2_shared::memory::{DELETE_ABANDONED_AFTER, MemoryStore};
use connect_node::Outcome;
use serde_json::{Value, json};
use support::faults::{Dice, Elsewhere, FaultInjector, Faults, Interleave, Killed, Place};
use support::*;

const VOCABULARY: &[&str] = &[
    "rust", "graph", "lambda", "memory", "keyword", "edges", "browser", "socket", "dynamo", "event", "index", "cloud",
];
const WRITERS: usize = 4;
const OPERATIONS_PER_WRITER: usize = 20;
const MAX_EDGES: usize = 4;
/// connect-node runs in flight at once.
const DELIVERY_CONCURRENCY: usize = 8;
const MINUTE: time::Duration = time::Duration::minutes(1);
/// The share of connect-node's edge writes that an update of the edge's other node races.
const RACED_PERCENT: u64 = 15;
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
    let faults = Arc::new(FaultInjector::new(0x9e37_79b9_7f4a_7c15, 8));
    let dynamodb_config = || world.dynamodb_config();
    let table = format!("stress-{}", uuid::Uuid::new_v4().simple());
    let definitions: std::collections::HashMap<String, Value> = table_definitions().into_iter().collect();
    let plain_client = aws_sdk_dynamodb::Client::from_conf(dynamodb_config().build());
    create_table(&plain_client, &definitions["MemoryTable"], &table).await;
    let checked_store = MemoryStore::new(plain_client, &table, KEYWORD_INDEX);
    let faulty_client =
        aws_sdk_dynamodb::Client::from_conf(dynamodb_config().interceptor(Faults(faults.clone())).build());
    let faulty_store = MemoryStore::new(faulty_client, &table, KEYWORD_INDEX);
    let user = user();
    let place = Place { table: table.clone(), bus: world.bus.clone(), max_edges: MAX_EDGES };
    let raced = Arc::new(AtomicUsize::new(0));
    let racing = racing_updates(place, user, raced.clone());
    let connect_client = aws_sdk_dynamodb::Client::from_conf(
        dynamodb_config().interceptor(racing).interceptor(Faults(faults.clone())).build(),
    );
    let router = backend::router(backend::AppState {
        store: faulty_store.clone(),
        connections: None,
        exports: None,
        publisher: world.publisher(API_SOURCE),
        environment: "test".into(),
        clock: Arc::new(time::OffsetDateTime::now_utc),
    });
    let connect_store = MemoryStore::new(connect_client, &table, KEYWORD_INDEX);
    let connect = connect_node::ConnectNode { store: connect_store, ..world.connect_node(MAX_EDGES) };
    let live: Arc<Mutex<Vec<NodeId>>> = Arc::default();
    let counts: Arc<Mutex<BTreeMap<&'static str, usize>>> = Arc::default();
    let retried = Arc::new(AtomicUsize::new(0));
    // Deletes killed right after marking their node, and those the next delete finished.
    let interrupted: Arc<Mutex<BTreeSet<NodeId>>> = Arc::default();
    let unfinished: Arc<Mutex<Vec<NodeId>>> = Arc::default();
    let finished_by_delete: Arc<Mutex<BTreeSet<NodeId>>> = Arc::default();

    let writers = (0..WRITERS).map(|writer| {
        let (router, live, counts, retried) = (router.clone(), live.clone(), counts.clone(), retried.clone());
        let (interrupted, unfinished, finished_by_delete) =
            (interrupted.clone(), unfinished.clone(), finished_by_delete.clone());
        let (dynamodb_config, checked_store) = (dynamodb_config(), checked_store.clone());
        let table = table.clone();
        async move {
            let dice = Dice::new(0x2545_f491_4f6c_dd1d ^ (writer as u64 + 1));
            for _ in 0..OPERATIONS_PER_WRITER {
                let target = {
                    let live = live.lock().unwrap();
                    (!live.is_empty()).then(|| live[dice.roll(live.len() as u64) as usize])
                };
                let roll = dice.roll(10);
                let (kind, status) = match (roll, target) {
                    (0..=3, _) | (_, None) => {
                        let text = content(&dice);
                        let make = || json_request("POST", "/api/nodes", &json!({ "content": text }));
                        let (status, body) = with_retries(&router, user, make, &retried).await;
                        assert_eq!(status, 201, "{body}");
                        live.lock().unwrap().push(NodeId::parse(body["nodeId"].as_str().unwrap()).unwrap());
                        ("create", status)
                    }
                    (4..=7, Some(id)) => {
                        // One word out, another in: shared keywords come and go while links run.
                        let read = || empty_request("GET", &format!("/api/nodes/{id}"));
                        let (status, body) = with_retries(&router, user, read, &retried).await;
                        if status == 404 {
                            ("update", status)
                        } else {
                            let mut words: Vec<String> =
                                body["content"].as_str().unwrap().split(' ').map(str::to_owned).collect();
                            words.remove(dice.roll(words.len() as u64) as usize);
                            words.push(VOCABULARY[dice.roll(VOCABULARY.len() as u64) as usize].to_owned());
                            let text = words.join(" ");
                            let make = || json_request("PUT", &format!("/api/nodes/{id}"), &json!({ "content": text }));
                            let (status, body) = with_retries(&router, user, make, &retried).await;
                            assert!(matches!(status, 200 | 404 | 409), "{status} {body}");
                            ("update", status)
                        }
                    }
                    (8, Some(id)) => {
                        // Half the time, the next delete of a node whose delete was killed.
                        let again = {
                            let mut unfinished = unfinished.lock().unwrap();
                            let pick = (!unfinished.is_empty() && dice.roll(2) == 0)
                                .then(|| dice.roll(unfinished.len() as u64) as usize);
                            pick.map(|i| unfinished.swap_remove(i))
                        };
                        let id = again.unwrap_or(id);
                        let make = || empty_request("DELETE", &format!("/api/nodes/{id}"));
                        let (status, body) = with_retries(&router, user, make, &retried).await;
                        assert!(matches!(status, 204 | 404), "{status} {body}");
                        live.lock().unwrap().retain(|n| *n != id);
                        if again.is_some() && status == 204 {
                            finished_by_delete.lock().unwrap().insert(id);
                        }
                        ("delete", status)
                    }
                    (_, Some(id)) => {
                        // A delete killed right after its mark; half of them long ago, so
                        // connect-node and graph-check may finish them at once.
                        live.lock().unwrap().retain(|n| *n != id);
                        let killed = aws_sdk_dynamodb::Client::from_conf(
                            dynamodb_config.clone().interceptor(Killed::after_writes(1)).build(),
                        );
                        let now = time::OffsetDateTime::now_utc();
                        let marked_at = if dice.roll(2) == 0 { now - DELETE_ABANDONED_AFTER - MINUTE } else { now };
                        let result = MemoryStore::new(killed, &table, KEYWORD_INDEX).delete(user, id, marked_at).await;
                        match result {
                            // Another writer deleted it first.
                            Ok(gone) => {
                                assert_eq!(gone, None, "a delete killed after its mark cannot finish");
                                ("delete killed after its mark", 404)
                            }
                            Err(_) => {
                                if checked_store.get_stored(user, id).await.unwrap().is_some_and(|n| n.deleting) {
                                    interrupted.lock().unwrap().insert(id);
                                    unfinished.lock().unwrap().push(id);
                                } else {
                                    live.lock().unwrap().push(id); // the mark itself did not happen
                                }
                                ("delete killed after its mark", 500)
                            }
                        }
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

    // connect-node: events as EventBridge delivers them, some twice, in shuffled order, each
    // run started as soon as its event is taken (up to DELIVERY_CONCURRENCY at once), so runs
    // overlap one another and the writes that follow their events; a failed run is delivered
    // again later, as EventBridge's retry policy does.
    let connect = Arc::new(connect);
    let mut delivered = 0;
    let mut redelivered = 0;
    let mut finished_by_connect: Vec<NodeId> = Vec::new();
    let dice = Dice::new(0x1234_5678_9abc_def1);
    let writers_done = std::sync::atomic::AtomicBool::new(false);
    let delivering = async {
        let mut queue: Vec<EventBridgeEvent<NodeChanged>> = Vec::new();
        let mut running = tokio::task::JoinSet::new();
        loop {
            let writing_over = writers_done.load(Ordering::SeqCst);
            let drained = world.drain_events().await;
            let quiet = drained.is_empty();
            for event in drained {
                if event["source"] == API_SOURCE && event["detail-type"] != "NodeDeleted" {
                    let event: EventBridgeEvent<NodeChanged> = serde_json::from_value(event).unwrap();
                    if dice.roll(3) == 0 {
                        queue.push(event.clone());
                    }
                    queue.push(event);
                }
            }
            while let Some(done) = running.try_join_next() {
                let (event, outcome) = done.unwrap();
                match outcome {
                    Err(_) => {
                        redelivered += 1;
                        queue.push(event);
                    }
                    Ok(Outcome::DeleteFinished { node, .. }) => finished_by_connect.push(node),
                    Ok(Outcome::Linked { finished, .. }) => finished_by_connect.extend(finished),
                    Ok(Outcome::NodeGone { .. }) => {}
                }
            }
            while running.len() < DELIVERY_CONCURRENCY && !queue.is_empty() {
                let event = queue.swap_remove(dice.roll(queue.len() as u64) as usize);
                let connect = connect.clone();
                delivered += 1;
                running.spawn(async move {
                    let outcome = connect.handle(event.clone()).await;
                    (event, outcome)
                });
            }
            if writing_over && quiet && queue.is_empty() && running.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let writing = async {
        writing.await;
        settle().await;
        writers_done.store(true, Ordering::SeqCst);
    };
    tokio::join!(writing, delivering);

    // The interrupted deletes nobody met are graph-check's to finish (those marked long ago now,
    // the others once their marks are abandoned); anything else found is a violation.
    let now = time::OffsetDateTime::now_utc();
    let report = check::check_user(&checked_store, user, MAX_EDGES, false, now).await.unwrap();
    let interrupted = interrupted.lock().unwrap().clone();
    let violations: Vec<String> = report
        .found
        .iter()
        .filter(|v| !matches!(v, check::Violation::UnfinishedDelete { node } if interrupted.contains(node)))
        .map(ToString::to_string)
        .collect();
    let later = now + DELETE_ABANDONED_AFTER + MINUTE;
    let repaired = check::check_user(&checked_store, user, MAX_EDGES, true, later).await.unwrap();
    let by_graph_check =
        repaired.found.iter().filter(|v| matches!(v, check::Violation::UnfinishedDelete { .. })).count();
    println!(
        "stress: operations {:?}; client retries after a 5xx {}; connect-node deliveries {} ({} failed and \
         redelivered); updates raced into connect-node's edge writes {}",
        counts.lock().unwrap(),
        retried.load(Ordering::Relaxed),
        delivered,
        redelivered,
        raced.load(Ordering::Relaxed),
    );
    println!(
        "stress: DynamoDB calls {}; faults injected {} before sending, {} after DynamoDB acted",
        faults.calls.load(Ordering::Relaxed),
        faults.before.load(Ordering::Relaxed),
        faults.after.load(Ordering::Relaxed),
    );
    // connect-node's count is of runs that reported a finish; one that failed afterwards (an
    // injected fault) and was delivered again does not report it.
    println!(
        "stress: deletes killed after their mark {}: finished by the next delete {}, by connect-node {}, by \
         graph-check --repair {}",
        interrupted.len(),
        finished_by_delete.lock().unwrap().len(),
        finished_by_connect.iter().collect::<BTreeSet<_>>().len(),
        by_graph_check,
    );
    println!(
        "stress: graph-check found {} violations in {} nodes, {} edges, {} postings",
        violations.len(),
        report.nodes,
        report.edges,
        report.postings
    );
    assert!(faults.before.load(Ordering::Relaxed) > 0 && faults.after.load(Ordering::Relaxed) > 0);
    assert!(report.edges > 0, "the run linked memories");
    assert!(violations.is_empty(), "graph-check found:\n{}", violations.join("\n"));
    assert_eq!(repaired.remaining, [], "graph-check --repair left violations");
    for id in &interrupted {
        assert_eq!(checked_store.get_stored(user, *id).await.unwrap(), None, "every interrupted delete is finished");
    }
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
    assert_eq!(
        check::check_user(&world.memory, user, 3, false, time::OffsetDateTime::now_utc()).await.unwrap().found,
        []
    );

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

    let found = check::check_user(&world.memory, user, 3, false, time::OffsetDateTime::now_utc()).await.unwrap().found;
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
    let repaired = check::check_user(&world.memory, user, 3, true, time::OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(repaired.remaining, [], "found {:?}", repaired.found);
    // Idempotent: a second repair finds nothing to do.
    assert_eq!(
        check::check_user(&world.memory, user, 3, true, time::OffsetDateTime::now_utc()).await.unwrap().found,
        []
    );
    // The half-deleted node is gone for good; the others are still there.
    let page = world.memory.graph_page(user, MAX_GRAPH_PAGE, None).await.unwrap().unwrap();
    assert_eq!(page.ids.len(), 3);
}

/// Updates racing connect-node's edge writes: before RACED_PERCENT of them, the edge's other
/// node drops one or all of the keywords the write counts as shared, and that update's
/// connect-node run (its event's one delivery) completes, as if both had landed between the
/// run's reads and its write.
fn racing_updates(place: Place, user: UserId, raced: Arc<AtomicUsize>) -> Interleave {
    let dice = Dice::new(0x5851_f42d_4c95_7f2d);
    Interleave(Arc::new(move |input: &TransactWriteItemsInput| {
        let item = input.transact_items().first()?.put()?.item();
        let target = brain2_shared::keys::edge_target(item.get("sk")?.as_s().ok()?)?;
        if dice.roll(100) >= RACED_PERCENT {
            return None;
        }
        let shared: Vec<String> =
            item.get("sharedKeywords")?.as_l().ok()?.iter().filter_map(|k| k.as_s().ok().cloned()).collect();
        let keep = dice.roll(2) as usize; // 0: drop them all; 1: keep all but the first
        let dropped: BTreeSet<String> = shared.into_iter().take(if keep == 0 { usize::MAX } else { 1 }).collect();
        raced.fetch_add(1, Ordering::Relaxed);
        Some(place.elsewhere(move |there: Elsewhere| async move {
            let Some(node) = there.store.get(user, target).await.unwrap() else { return };
            let mut words: Vec<&str> =
                node.content.split(' ').filter(|w| !dropped.contains(&w.to_lowercase())).collect();
            if words.is_empty() {
                words.extend(VOCABULARY.iter().find(|w| !dropped.contains(**w)));
            }
            let input = NodeInput { content: words.join(" "), tags: vec![] }.validate().unwrap();
            let now = time::OffsetDateTime::now_utc();
            // Another change got there first (or a delete): this race is off.
            let Ok(_) = there.store.update(user, target, input, Some(node.version), now).await else { return };
            // This run is the delivery of the update's NodeUpdated.
            there.connect.connect(user, target).await.unwrap();
        }))
    }))
}

async fn create_node(router: &axum::Router, user: UserId, content: &str) -> NodeId {
    let (status, body) =
        call(router, Some(user), json_request("POST", "/api/nodes", &json!({ "content": content }))).await;
    assert_eq!(status, 201, "{body}");
    NodeId::parse(body["nodeId"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_drops_the_shared_keyword_while_a_link_is_made_leaves_no_unsupported_edge() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let a = create_node(&router, user, "alpha kiwi").await;
    let b = create_node(&router, user, "alpha mango").await;
    // B's run has read A ("alpha", version 1) and is about to link them when A's update drops
    // "alpha", and A's own run (which finds nothing to link) completes.
    let race = Place::of(&world, 4).elsewhere(move |there: Elsewhere| async move {
        let input = NodeInput { content: "kiwi papaya".into(), tags: vec![] };
        there.store.update(user, a, input.validate().unwrap(), None, time::OffsetDateTime::now_utc()).await.unwrap();
        there.connect.connect(user, a).await.unwrap();
    });
    let is_edge_write =
        |input: &TransactWriteItemsInput| input.transact_items().iter().any(|item| item.put().is_some());
    let client = aws_sdk_dynamodb::Client::from_conf(
        world.dynamodb_config().interceptor(Interleave::once(is_edge_write, race)).build(),
    );
    let store = MemoryStore::new(client, &world.memory_table, KEYWORD_INDEX);
    let connect = connect_node::ConnectNode { store, ..world.connect_node(4) };
    connect.connect(user, b).await.unwrap();
    let report = check::check_user(&world.memory, user, 4, false, time::OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(report.found, [], "{} edge items", report.edges);
}

#[tokio::test]
async fn a_delete_killed_after_its_mark_is_finished_by_the_next_delete_connect_node_or_graph_check() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let mut ids = Vec::new();
    for text in ["alpha one", "alpha two", "alpha three", "alpha four", "alpha five"] {
        ids.push(create_node(&router, user, text).await);
    }
    let connect = world.connect_node(10);
    for id in &ids {
        connect.connect(user, *id).await.unwrap();
    }
    let killed_delete = |id: NodeId, marked_at: time::OffsetDateTime| {
        let client =
            aws_sdk_dynamodb::Client::from_conf(world.dynamodb_config().interceptor(Killed::after_writes(1)).build());
        let store = MemoryStore::new(client, &world.memory_table, KEYWORD_INDEX);
        async move { assert!(store.delete(user, id, marked_at).await.is_err(), "killed after its mark") }
    };
    let edge_count = async |id: NodeId| world.memory.get_stored(user, id).await.unwrap().unwrap().edge_count;
    let now = time::OffsetDateTime::now_utc();
    let long_ago = now - DELETE_ABANDONED_AFTER - MINUTE;
    let later = now + DELETE_ABANDONED_AFTER + MINUTE;

    // Marked just now, it may be a delete still at work: hidden from its user, still counted by
    // its neighbours, not finished by connect-node nor reported by graph-check.
    killed_delete(ids[0], now).await;
    let (status, _) = call(&router, Some(user), empty_request("GET", &format!("/api/nodes/{}", ids[0]))).await;
    assert_eq!(status, 404);
    assert_eq!(edge_count(ids[4]).await, Some(4));
    let outcome = connect.connect(user, ids[1]).await.unwrap();
    assert!(matches!(outcome, Outcome::Linked { ref finished, .. } if finished.is_empty()), "{outcome:?}");
    assert_eq!(check::check_user(&world.memory, user, 10, false, now).await.unwrap().found, []);
    // The next delete of the same id finishes it.
    let (status, _) = call(&router, Some(user), empty_request("DELETE", &format!("/api/nodes/{}", ids[0]))).await;
    assert_eq!(status, 204);
    assert_eq!(world.memory.get_stored(user, ids[0]).await.unwrap(), None);
    assert_eq!(edge_count(ids[4]).await, Some(3));

    // Marked long ago, the delete stopped: connect-node finishes it, whether it meets the node as
    // a neighbour or as its event's node.
    killed_delete(ids[1], long_ago).await;
    let outcome = connect.connect(user, ids[2]).await.unwrap();
    assert!(matches!(outcome, Outcome::Linked { ref finished, .. } if finished == &[ids[1]]), "{outcome:?}");
    killed_delete(ids[2], long_ago).await;
    let outcome = connect.connect(user, ids[2]).await.unwrap();
    assert!(matches!(outcome, Outcome::DeleteFinished { node, ref unlinked } if node == ids[2] && unlinked.len() == 2));
    // Each is announced gone, as the backend announces a delete it finishes, so live clients
    // drop the node and its edges without loading again.
    settle().await;
    let deleted: BTreeSet<String> = world
        .drain_events()
        .await
        .into_iter()
        .filter(|e| e["source"] == "brain2.connect-node" && e["detail-type"] == "NodeDeleted")
        .filter_map(|e| e["detail"]["nodeId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(deleted, BTreeSet::from([ids[1].to_string(), ids[2].to_string()]));

    // graph-check finishes what nobody met, once its mark is abandoned.
    killed_delete(ids[3], now).await;
    assert_eq!(check::check_user(&world.memory, user, 10, true, now).await.unwrap().found, []);
    let repaired = check::check_user(&world.memory, user, 10, true, later).await.unwrap();
    assert_eq!(repaired.found, [check::Violation::UnfinishedDelete { node: ids[3] }]);
    assert_eq!(repaired.remaining, []);
    let page = world.memory.graph_page(user, MAX_GRAPH_PAGE, None).await.unwrap().unwrap();
    assert_eq!(page.ids, [ids[4]]);
    assert_eq!(edge_count(ids[4]).await, Some(0), "its neighbours' places under its cap are free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_repair_does_not_undo_a_link_made_between_its_reads_and_its_write() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let a = create_node(&router, user, "alpha one").await;
    create_node(&router, user, "alpha two").await;
    world.connect_node(4).connect(user, a).await.unwrap();
    // A's count is wrong (older code, say): 0 for its 1 edge.
    let pk = brain2_shared::keys::partition(user);
    world
        .dynamodb
        .update_item()
        .table_name(&world.memory_table)
        .key("id", s(&pk))
        .key("sk", s(brain2_shared::keys::node(a)))
        .update_expression("SET edgeCount = :wrong")
        .expression_attribute_values(":wrong", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let snapshot = check::snapshot(&world.memory, user).await.unwrap();
    let found = check::violations(&snapshot, 4, now);
    assert_eq!(found, [check::Violation::WrongEdgeCount { node: a, stored: Some(0), actual: 1 }]);

    // A new node is linked to A (and B) after the repair has read A's count and edges, before it
    // writes.
    let link = Place::of(&world, 4).elsewhere(move |there: Elsewhere| async move {
        let input = NodeInput { content: "alpha three".into(), tags: vec![] }.validate().unwrap();
        let c = there.store.create(user, input, time::OffsetDateTime::now_utc()).await.unwrap();
        there.connect.connect(user, c.id).await.unwrap();
    });
    let is_count_write = |input: &TransactWriteItemsInput| {
        input
            .transact_items()
            .iter()
            .any(|i| i.update().is_some_and(|u| u.update_expression() == "SET edgeCount = :count"))
    };
    let client = aws_sdk_dynamodb::Client::from_conf(
        world.dynamodb_config().interceptor(Interleave::once(is_count_write, link)).build(),
    );
    let repairing = MemoryStore::new(client, &world.memory_table, KEYWORD_INDEX);
    check::mend(&repairing, user, &snapshot, &found[0], now).await.unwrap();
    let after = check::check_user(&world.memory, user, 4, false, now).await.unwrap();
    assert_eq!(world.memory.edges(user, a).await.unwrap().len(), 2, "the new link is there");
    assert_eq!(after.found, [], "A's count is its 2 edges");
}

/// A seeded graph (benchmarks and the 10,000-memory browser test load one) is what creates and
/// connect-node runs leave: graph-check finds nothing wrong, and connect-node, run again on its
/// nodes, has nothing to add, reweigh or remove.
#[tokio::test]
async fn a_seeded_graph_is_what_creates_and_connect_node_would_have_stored() {
    let world = World::new().await;
    let user = user();
    let now = time::OffsetDateTime::now_utc();
    let seeded = world.memory.seed(user, brain2_shared::seed::community(300), 1, 50, now).await.unwrap();
    assert_eq!(seeded.nodes.len(), 300);
    assert!((1_300..=1_500).contains(&seeded.edges.len()), "about 5 links per memory: {}", seeded.edges.len());
    assert_eq!(check::check_user(&world.memory, user, 50, false, now).await.unwrap().found, []);
    let connect = world.connect_node(50);
    for node in seeded.nodes.iter().step_by(37) {
        let outcome = connect.connect(user, node.id).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Linked { created, removed, .. } if created.is_empty() && removed.is_empty()),
            "{outcome:?}"
        );
    }
    let page = world.memory.graph_page(user, MAX_GRAPH_PAGE, None).await.unwrap().unwrap();
    assert_eq!((page.nodes().unwrap().len(), page.edges().unwrap().len()), (300, seeded.edges.len()));
    // A graph whose nodes have more candidates than the cap is refused, not written.
    let crowded = (0..5).map(|i| NodeInput { content: format!("shared topic {i}"), tags: vec![] }.validate().unwrap());
    let other = support::user();
    assert!(world.memory.seed(other, crowded.collect(), 1, 3, now).await.is_err());
    assert!(world.items_of(other).await.is_empty());
}

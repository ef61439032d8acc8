//! What a user owns, through the backend's routes against moto: search (words, prefixes, tags,
//! ranking, paging), tags linking memories as keywords do, the first version's graph format,
//! export then import into a new account (lossless, idempotent, bounded, all or nothing), and
//! account deletion that leaves nothing of the user and another user untouched; an export past
//! one Lambda answer handed out from S3 (moto) through a presigned link. The search
//! benchmark (10,000 memories on Dynoxide) is here too, run by hand (`--ignored`, BENCHMARKS.md).

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use futures::StreamExt;

use brain2_shared::domain::{NodeId, UserId};
use serde_json::{Value, json};
use support::*;

async fn create(router: &axum::Router, user: UserId, content: &str, tags: &[&str]) -> NodeId {
    let (status, body) =
        call(router, Some(user), json_request("POST", "/api/nodes", &json!({ "content": content, "tags": tags })))
            .await;
    assert_eq!(status, 201, "{body}");
    NodeId::parse(body["nodeId"].as_str().unwrap()).unwrap()
}

async fn search(router: &axum::Router, user: UserId, query: &str) -> Value {
    let uri = format!("/api/search?q={}", query.replace(' ', "%20").replace('#', "%23"));
    let (status, body) = call(router, Some(user), empty_request("GET", &uri)).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn ids(page: &Value) -> Vec<NodeId> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| NodeId::parse(r["node"]["nodeId"].as_str().unwrap()).unwrap())
        .collect()
}

/// Links every memory the way connect-node does after its NodeCreated.
async fn link_all(world: &World, user: UserId, nodes: &[NodeId]) {
    let connect = world.connect_node(50);
    for &id in nodes {
        connect.connect(user, id).await.unwrap();
    }
}

#[tokio::test]
async fn search_finds_words_prefixes_and_tags_ranked_and_paged() {
    let world = World::new().await;
    let router = world.backend();
    let (user, other) = (user(), user());
    let graph = create(&router, user, "Graph databases and keyword indexes", &[]).await;
    let rust_graph = create(&router, user, "Rust graph renderer", &["Work"]).await;
    let tea = create(&router, user, "Green tea in the garden", &["home"]).await;
    let _others = create(&router, other, "Graph theory, someone else's", &["work"]).await;

    let page = search(&router, user, "graph").await;
    assert_eq!(page["terms"], json!(["graph"]));
    // "graph" exactly (rust_graph) ranks above "graphs"... here both hold "graph" or start it;
    // the newer of two equal matches comes first.
    assert_eq!(ids(&page), [rust_graph, graph], "the other user's memory is never found");
    assert_eq!(page["total"], 2);

    let prefix = search(&router, user, "gard").await;
    assert_eq!(ids(&prefix), [tea]);
    assert_eq!(prefix["results"][0]["matched"], json!(["garden"]));

    let tagged = search(&router, user, "tag:work").await;
    assert_eq!(ids(&tagged), [rust_graph], "tags match whatever their case");
    assert_eq!(ids(&search(&router, user, "#WORK").await), [rust_graph]);
    // Two terms: the memory matching both first, then those matching one.
    let both = search(&router, user, "tag:work graph").await;
    assert_eq!(ids(&both), [rust_graph, graph]);
    assert_eq!(both["results"][0]["score"], 8);
    assert!(ids(&search(&router, user, "zebra").await).is_empty());

    // Paging: 25 matches come as 20, then 5.
    for i in 0..23 {
        create(&router, user, &format!("note {i} about graphs"), &[]).await;
    }
    let first = search(&router, user, "graph").await;
    assert_eq!((first["total"].as_u64(), ids(&first).len()), (Some(25), 20));
    let cursor = first["nextCursor"].as_str().unwrap();
    let (status, second) =
        call(&router, Some(user), empty_request("GET", &format!("/api/search?q=graph&cursor={cursor}"))).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&second).len(), 5);
    assert!(second.get("nextCursor").is_none());
    let all: BTreeSet<NodeId> = ids(&first).into_iter().chain(ids(&second)).collect();
    assert_eq!(all.len(), 25, "no result twice");

    for bad in
        ["/api/search", "/api/search?q=%20%20", "/api/search?q=graph&cursor=next", "/api/search?q=graph&cursor=20"]
    {
        let (status, body) = call(&router, Some(user), empty_request("GET", bad)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let long = format!("/api/search?q={}", "a".repeat(201));
    assert_eq!(call(&router, Some(user), empty_request("GET", &long)).await.0, 400);
}

/// A broad query (a term with more postings than `broad_term_postings`) proves its pages
/// instead of ranking every match: walked page by page, it gives exactly what ranking every
/// memory by the documented rules gives, including queries whose proof runs past its budget and
/// falls back to reading every posting, and a memory deleted after its postings were written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broad_query_pages_exactly_as_ranking_every_memory_would() {
    use brain2_api::search::Term;
    use brain2_shared::search::SearchLimits;
    const MEMORIES: usize = 360;
    // Even memories draw from the first roots, odd ones from the last: "alp" and "bet" never
    // meet, so proving their page reads every memory and runs past the budget.
    const ROOTS: &[&str] =
        &["graph", "grain", "garden", "kitchen", "rust", "alpha", "beta", "rusty", "gravel", "music"];
    let world = World::new().await;
    let store = world.memory.clone();
    let user = user();
    let dice = faults::Dice::new(0x9e37_79b9_7f4a_7c15);
    let next = |n: usize| dice.roll(n as u64) as usize;
    let mut inputs = Vec::new();
    for i in 0..MEMORIES {
        let roots = if i % 2 == 0 { &ROOTS[..6] } else { &ROOTS[4..] };
        let words: Vec<String> = (0..2 + next(5))
            .map(|_| {
                let root = roots[next(roots.len())];
                if next(2) == 0 { root.to_owned() } else { format!("{root}{}", next(6)) }
            })
            .collect();
        let tags = vec![format!("t{}", next(6))];
        inputs.push(brain2_shared::domain::ValidInput { content: format!("memory {}", words.join(" ")), tags });
    }
    let mut created = Vec::new();
    for input in inputs {
        created.push(store.create(user, input, time::OffsetDateTime::now_utc()).await.unwrap().id);
    }
    // A delete that stopped after marking the memory: its postings stay, and a proof that meets
    // them must leave it out.
    let half_deleted = created[MEMORIES - 3];
    world
        .dynamodb
        .update_item()
        .table_name(&world.memory_table)
        .key("id", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("N#{half_deleted}")))
        .update_expression("SET deleting = :yes")
        .expression_attribute_values(":yes", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    let mut memories = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list(user, 100, cursor.as_deref()).await.unwrap().unwrap();
        memories.extend(page.nodes);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(memories.len(), MEMORIES - 1);

    let mut proven = 0;
    // A small budget sends deep pages back to reading every posting; a large one lets a proof
    // read every memory ("alp bet").
    let queries = [
        "gra",
        "graph",
        "memory",
        "tag:t3",
        "graph kitchen",
        "gra tag:t1 rust",
        "rusty3 garden",
        "alp bet",
        "music tag:t2",
    ];
    for (budget, query) in [150, 1_000].into_iter().flat_map(|budget| queries.map(|query| (budget, query))) {
        let limits = SearchLimits {
            broad_term_postings: 30,
            proof_budget: budget,
            read_on_after: 40,
            read_on_chunk: 30,
            read_on_limit: 90,
        };
        let store = store.clone().with_search_limits(limits);
        // Every memory ranked by the rules in brain2-api: terms matched, score, newest.
        let terms = brain2_shared::keywords::query_terms(query);
        let mut expected: Vec<(usize, u32, NodeId, Vec<String>)> = memories
            .iter()
            .filter_map(|node| {
                let mut matched = BTreeSet::new();
                let (mut count, mut score) = (0, 0);
                for term in &terms {
                    let best = node.keywords.iter().filter_map(|k| {
                        term.score(k).inspect(|_| {
                            matched.insert(k.clone());
                        })
                    });
                    if let Some(best) = best.max() {
                        count += 1;
                        score += best;
                    }
                }
                (count > 0).then(|| (count, score, node.id, matched.into_iter().collect()))
            })
            .collect();
        expected.sort_by_key(|e| std::cmp::Reverse((e.0, e.1, e.2)));
        assert!(expected.len() > 20, "{query}: the query is broad ({} matches)", expected.len());
        let mut walked = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.search(user, query, cursor).await.unwrap();
            assert_eq!(page.terms, terms.iter().map(Term::keyword).collect::<Vec<_>>());
            if page.total_exact {
                // Counted from postings: the half-deleted memory counts until its delete ends.
                let counted = [expected.len(), expected.len() + 1];
                assert!(counted.contains(&page.total), "{query}: an exact total, {} of {}", page.total, expected.len());
            } else {
                proven += 1;
                assert!(
                    (page.results.len()..=expected.len()).contains(&page.total),
                    "{query}: a lower bound, {} of {}",
                    page.total,
                    expected.len()
                );
            }
            walked.extend(page.results.iter().map(|hit| (hit.node.node_id, hit.score, hit.matched.clone())));
            match page.next_cursor {
                Some(next) => cursor = Some(brain2_api::search::SearchCursor::parse(&next).unwrap()),
                None => break,
            }
        }
        let expected: Vec<(NodeId, u32, Vec<String>)> =
            expected.into_iter().map(|(_, score, id, matched)| (id, score, matched)).collect();
        assert_eq!(walked, expected, "{query}: every page in rank order, nothing twice, nothing missed");
    }
    assert!(proven > 30, "broad queries proved their pages ({proven} pages)");
}

/// DynamoDB answers the proof's and the page's BatchGetItems in part (as when throttled): the
/// keys it hands back are asked again, and the pages are the same as when it answers whole.
/// Answered in part every time, search fails and says so, rather than rank without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_asks_again_for_what_batch_get_item_left_unprocessed() {
    use brain2_shared::search::SearchLimits;
    let world = World::new().await;
    let limits =
        SearchLimits { broad_term_postings: 10, proof_budget: 500, read_on_after: 1_000, ..Default::default() };
    let whole = world.memory.clone().with_search_limits(limits);
    let user = user();
    for i in 0..60 {
        let content = format!("note {i} on graphs and {}", ["kitchens", "gardens", "graphite"][i % 3]);
        let tags = vec![format!("t{}", i % 4)];
        whole
            .create(user, brain2_shared::domain::ValidInput { content, tags }, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
    }
    let in_part = |times: usize| {
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let fault = faults::BatchGetInPart { times, cut: cut.clone() };
        let client = aws_sdk_dynamodb::Client::from_conf(world.dynamodb_config().interceptor(fault).build());
        let store = brain2_shared::memory::MemoryStore::new(client, &world.memory_table, KEYWORD_INDEX)
            .with_search_limits(limits);
        (store, cut)
    };
    let (throttled, cut) = in_part(6);
    for query in ["gra", "graph kitchen", "tag:t1 gra"] {
        let (expected, found) =
            (whole.search(user, query, None).await.unwrap(), throttled.search(user, query, None).await.unwrap());
        assert_eq!(found, expected, "{query}: the same page");
        assert_eq!(found.results.len(), 20);
    }
    assert_eq!(cut.load(std::sync::atomic::Ordering::Relaxed), 6, "answers were cut");

    let (starved, _) = in_part(usize::MAX);
    let error = starved.search(user, "gra", None).await.unwrap_err().to_string();
    assert!(error.contains("BatchGetItem") && error.contains("unprocessed"), "{error}");
}

#[tokio::test]
async fn a_shared_tag_links_memories_as_a_shared_keyword_does() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let a = create(&router, user, "Sourdough starter feeding", &["Kitchen"]).await;
    let b = create(&router, user, "Sharpen the knives", &["kitchen"]).await;
    let c = create(&router, user, "Renew the passport", &[]).await;
    link_all(&world, user, &[a, b, c]).await;
    let edges = world.memory.edges(user, a).await.unwrap();
    assert_eq!(edges.len(), 1, "{edges:?}");
    assert_eq!((edges[0].target, edges[0].shared_keywords.clone()), (b, vec!["#kitchen".to_owned()]));
    assert!(world.memory.edges(user, c).await.unwrap().is_empty());
    // Dropping the tag drops the link: the edge follows the keywords, as for words.
    let (status, _) = call(
        &router,
        Some(user),
        json_request("PUT", &format!("/api/nodes/{b}"), &json!({ "content": "Sharpen the knives", "tags": [] })),
    )
    .await;
    assert_eq!(status, 200);
    link_all(&world, user, &[b]).await;
    assert!(world.memory.edges(user, a).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_first_versions_client_reads_cytoscape_elements() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let a = create(&router, user, "rust graph one", &[]).await;
    let b = create(&router, user, "rust graph two", &[]).await;
    link_all(&world, user, &[a, b]).await;
    let (status, body) = call(&router, Some(user), empty_request("GET", "/api/graph-data?format=elements")).await;
    assert_eq!(status, 200, "{body}");
    let elements = body["elements"].as_array().unwrap();
    assert_eq!(elements.len(), 3, "{body}");
    assert_eq!(elements[0]["data"], json!({ "id": a.to_string(), "label": "rust graph one" }));
    assert_eq!(elements[2]["data"]["source"], a.to_string());
    assert_eq!(elements[2]["data"]["target"], b.to_string());
    assert_eq!(elements[2]["data"]["weight"], 2);
    let (status, _) = call(&router, Some(user), empty_request("GET", "/api/graph-data?format=cytoscape")).await;
    assert_eq!(status, 400);
}

/// What an export says of memories, without what the README names as changing (times of the
/// export itself): content, tags, keywords, versions, times and links by the linked content.
fn comparable(export: &Value) -> Vec<Value> {
    let memories = export["memories"].as_array().unwrap();
    let content_of = |id: &Value| memories.iter().find(|m| m["id"] == *id).unwrap()["content"].clone();
    memories
        .iter()
        .map(|m| {
            let mut links: Vec<Value> = m["links"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| json!([content_of(&l["target"]), l["weight"], l["sharedKeywords"]]))
                .collect();
            links.sort_by_key(|l| l.to_string());
            json!({
                "id": m["id"], "content": m["content"], "tags": m["tags"], "keywords": m["keywords"],
                "createdAt": m["createdAt"], "updatedAt": m["updatedAt"], "version": m["version"], "links": links
            })
        })
        .collect()
}

#[tokio::test]
async fn export_then_import_into_a_new_account_gives_the_same_memories_tags_and_links() {
    let world = World::new().await;
    let router = world.backend();
    let (alice, bob) = (user(), user());
    let mut created = Vec::new();
    for (content, tags) in [
        ("Rust graph renderer", vec!["work"]),
        ("Graph databases and keywords", vec![]),
        ("Green tea in the garden", vec!["home", "Tea"]),
        ("Keywords link memories", vec!["work"]),
    ] {
        created.push(create(&router, alice, content, &tags).await);
    }
    let (status, _) = call(
        &router,
        Some(alice),
        json_request(
            "PUT",
            &format!("/api/nodes/{}", created[1]),
            &json!({ "content": "Graph databases and keywords, edited" }),
        ),
    )
    .await;
    assert_eq!(status, 200);
    link_all(&world, alice, &created).await;
    world.drain_events().await;

    let (status, exported) = call(&router, Some(alice), empty_request("GET", "/api/export")).await;
    assert_eq!(status, 200, "{exported}");
    assert_eq!(exported["format"], "brain2-export");
    assert_eq!(exported["memories"].as_array().unwrap().len(), 4);
    assert_eq!(exported["memories"][1]["version"], 2);
    assert!(exported["memories"][0]["links"].as_array().unwrap().len() >= 2, "{exported}");

    let (status, report) = call(&router, Some(bob), json_request("POST", "/api/import", &exported)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({ "format": "json", "memories": 4, "created": 4, "alreadyPresent": 0, "beingDeleted": [] })
    );
    // Each new memory is announced, so connect-node links it as any other.
    settle().await;
    let announced = world.drain_events().await;
    let mut imported = Vec::new();
    for event in &announced {
        assert_eq!(event["detail-type"], "NodeCreated");
        imported.push(NodeId::parse(event["detail"]["nodeId"].as_str().unwrap()).unwrap());
    }
    assert_eq!(imported.len(), 4);
    link_all(&world, bob, &imported).await;
    // What linking announced (EdgesCreated) is not the import's.
    world.drain_events().await;
    let (_, again) = call(&router, Some(bob), empty_request("GET", "/api/export")).await;
    assert_eq!(comparable(&again), comparable(&exported), "the round trip keeps memories, tags and links");

    // The same import twice adds nothing, and announces nothing: connect-node has run for each
    // memory (`linkedVersion`), whether or not it found links.
    let (status, report) = call(&router, Some(bob), json_request("POST", "/api/import", &exported)).await;
    assert_eq!(status, 200);
    assert_eq!(
        report,
        json!({ "format": "json", "memories": 4, "created": 0, "alreadyPresent": 4, "beingDeleted": [] })
    );
    settle().await;
    assert!(announced_ids(&world.drain_events().await).is_empty());
}

/// The ids of the NodeCreated events among `events`.
fn announced_ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["detail-type"] == "NodeCreated")
        .map(|e| e["detail"]["nodeId"].as_str().unwrap().to_owned())
        .collect()
}

/// An import cut short, made to happen two ways: EventBridge unreachable while the memories are
/// written (nothing announced; as if the process died between its writes and its events), and
/// the backend's DynamoDB dying after two writes. Either way what was written is announced by
/// the time the same import is sent again, and the second import finishes the rest: every
/// memory is written once and announced, so connect-node links it.
#[tokio::test]
async fn an_import_cut_short_is_finished_and_linked_by_sending_it_again() {
    use brain2_shared::events::{API_SOURCE, Publisher};
    let world = World::new().await;
    let router = world.backend();
    let (alice, bob, carol) = (user(), user(), user());
    for content in
        ["Rust graph renderer", "Graph databases and keywords", "Green tea in the garden", "Tea and keywords"]
    {
        create(&router, alice, content, &[]).await;
    }
    let (_, exported) = call(&router, Some(alice), empty_request("GET", "/api/export")).await;
    let all: BTreeSet<String> =
        exported["memories"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    world.drain_events().await;

    // EventBridge unreachable (nothing listens on the discard port): stored means succeeded, but
    // nothing is announced.
    let unreachable = aws_sdk_eventbridge::config::Builder::from(&world.sdk).endpoint_url("http://127.0.0.1:9").build();
    let mut cut_off = world.backend_state();
    cut_off.publisher = Publisher::new(aws_sdk_eventbridge::Client::from_conf(unreachable), &world.bus, API_SOURCE);
    let (status, report) =
        call(&backend::router(cut_off), Some(bob), json_request("POST", "/api/import", &exported)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 4);
    settle().await;
    assert!(world.drain_events().await.is_empty(), "nothing reached EventBridge");
    // One of them linked meanwhile (its event came some other way): its run links it to others,
    // whose own runs never happened.
    let graphs =
        exported["memories"].as_array().unwrap().iter().find(|m| m["content"] == "Graph databases and keywords");
    let graphs = graphs.unwrap()["id"].as_str().unwrap().to_owned();
    let outcome = world.connect_node(50).connect(bob, NodeId::parse(&graphs).unwrap()).await.unwrap();
    assert!(matches!(outcome, connect_node::Outcome::Linked { ref created, .. } if !created.is_empty()), "{outcome:?}");
    world.drain_events().await;
    let (status, report) = call(&router, Some(bob), json_request("POST", "/api/import", &exported)).await;
    assert_eq!(
        (status.as_u16(), &report["created"], &report["alreadyPresent"]),
        (200, &json!(0), &json!(4)),
        "{report}"
    );
    settle().await;
    let never_run: BTreeSet<String> = all.iter().filter(|id| **id != graphs).cloned().collect();
    assert_eq!(
        announced_ids(&world.drain_events().await),
        never_run,
        "each memory connect-node never ran for is announced again, linked by another's run or not"
    );

    // DynamoDB gone after two writes: the import fails, and what it wrote is announced.
    let dying = world.dynamodb_config().interceptor(faults::Killed::after_writes(2)).build();
    let mut killed = world.backend_state();
    killed.store = brain2_shared::memory::MemoryStore::new(
        aws_sdk_dynamodb::Client::from_conf(dying),
        &world.memory_table,
        KEYWORD_INDEX,
    );
    let (status, _) = call(&backend::router(killed), Some(carol), json_request("POST", "/api/import", &exported)).await;
    assert_eq!(status, 500);
    settle().await;
    let written: BTreeSet<String> = world
        .items_of(carol)
        .await
        .iter()
        .filter_map(|item| item["sk"].as_s().ok()?.strip_prefix("N#").map(str::to_owned))
        .collect();
    assert_eq!(written.len(), 2, "two writes went out");
    assert_eq!(announced_ids(&world.drain_events().await), written, "what was written is announced");
    let (status, report) = call(&router, Some(carol), json_request("POST", "/api/import", &exported)).await;
    assert_eq!(
        (status.as_u16(), &report["created"], &report["alreadyPresent"]),
        (200, &json!(2), &json!(2)),
        "{report}"
    );
    settle().await;
    let announced = announced_ids(&world.drain_events().await);
    assert!(
        all.iter().filter(|id| !written.contains(*id)).all(|id| announced.contains(id)),
        "the rest are written and announced"
    );
}

/// A memory whose delete stopped after its mark (the backend's DynamoDB gone after one write):
/// an import of it says so (`beingDeleted`) instead of counting it as there, since the delete
/// would remove it; once the delete is finished, the same import brings it back.
#[tokio::test]
async fn importing_a_memory_whose_delete_stopped_reports_it_then_brings_it_back() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let kept = create(&router, user, "Green tea in the garden", &[]).await;
    let id = create(&router, user, "Rust graph renderer", &[]).await;
    let (_, exported) = call(&router, Some(user), empty_request("GET", "/api/export")).await;
    let mut dying = world.backend_state();
    dying.store = brain2_shared::memory::MemoryStore::new(
        aws_sdk_dynamodb::Client::from_conf(
            world.dynamodb_config().interceptor(faults::Killed::after_writes(1)).build(),
        ),
        &world.memory_table,
        KEYWORD_INDEX,
    );
    let (status, _) =
        call(&backend::router(dying), Some(user), empty_request("DELETE", &format!("/api/nodes/{id}"))).await;
    assert_eq!(status, 500, "the delete stopped after its mark");

    let (status, report) = call(&router, Some(user), json_request("POST", "/api/import", &exported)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["beingDeleted"], json!([id.to_string()]), "{report}");
    assert_eq!((&report["created"], &report["alreadyPresent"]), (&json!(0), &json!(1)), "{report}");

    let (status, _) = call(&router, Some(user), empty_request("DELETE", &format!("/api/nodes/{id}"))).await;
    assert!(status == 204 || status == 404, "the next delete finishes it: {status}");
    let (_, report) = call(&router, Some(user), json_request("POST", "/api/import", &exported)).await;
    assert_eq!((&report["created"], &report["beingDeleted"]), (&json!(1), &json!([])), "{report}");
    let (status, _) = call(&router, Some(user), empty_request("GET", &format!("/api/nodes/{id}"))).await;
    assert_eq!(status, 200, "back");
    let (status, _) = call(&router, Some(user), empty_request("GET", &format!("/api/nodes/{kept}"))).await;
    assert_eq!(status, 200);
}

async fn zip_import(router: &axum::Router, user: UserId, zip: Vec<u8>) -> (http::StatusCode, Value) {
    let request = http::Request::builder()
        .method("POST")
        .uri("/api/import")
        .header("content-type", "application/zip")
        .body(axum::body::Body::from(zip))
        .unwrap();
    call(router, Some(user), request).await
}

#[tokio::test]
async fn the_markdown_export_imports_back_and_an_obsidian_vault_imports_once() {
    let world = World::new().await;
    let router = world.backend();
    let (alice, bob) = (user(), user());
    let a = create(&router, alice, "Rust graph renderer", &["work"]).await;
    let b = create(&router, alice, "Graph databases, a note", &[]).await;
    link_all(&world, alice, &[a, b]).await;
    let request = empty_request("GET", "/api/export?format=markdown");
    let response = tower::ServiceExt::oneshot(router.clone(), {
        let mut request = request;
        request.extensions_mut().insert(backend::extract::Caller(alice));
        request
    })
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains(".zip"));
    let zip = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();

    let (status, report) = zip_import(&router, bob, zip.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({ "format": "markdown", "memories": 2, "created": 2, "alreadyPresent": 0, "beingDeleted": [] })
    );
    let imported: Vec<NodeId> = world
        .drain_events()
        .await
        .iter()
        .filter(|e| e["detail-type"] == "NodeCreated" && e["detail"]["userId"] == bob.to_string())
        .map(|e| NodeId::parse(e["detail"]["nodeId"].as_str().unwrap()).unwrap())
        .collect();
    link_all(&world, bob, &imported).await;
    let (_, from_alice) = call(&router, Some(alice), empty_request("GET", "/api/export")).await;
    let (_, from_bob) = call(&router, Some(bob), empty_request("GET", "/api/export")).await;
    assert_eq!(comparable(&from_bob), comparable(&from_alice), "the Markdown round trip is lossless too");
    let (_, again) = zip_import(&router, bob, zip).await;
    assert_eq!(again["created"], 0, "{again}");

    // An Obsidian vault: front-matter tags, folders as tags, and a wikilink that links.
    let vault = {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (path, text) in [
            ("Vault/Projects/Tomatoes.md", "---\ntags: [garden]\n---\nStake them, see [[Watering]]."),
            ("Vault/Watering.md", "Every evening in July."),
            ("Vault/.obsidian/workspace.json", "{}"),
        ] {
            writer.start_file(path, options).unwrap();
            writer.write_all(text.as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    };
    let carol = user();
    let (status, report) = zip_import(&router, carol, vault.clone()).await;
    assert_eq!((status.as_u16(), report["created"].as_u64()), (200, Some(2)), "{report}");
    let (_, tagged) = call(&router, Some(carol), empty_request("GET", "/api/search?q=tag:projects%20tag:garden")).await;
    assert_eq!(tagged["results"][0]["node"]["content"], "# Tomatoes\n\nStake them, see [[Watering]].");
    let notes: Vec<NodeId> = world
        .drain_events()
        .await
        .iter()
        .filter(|e| e["detail"]["userId"] == carol.to_string())
        .map(|e| NodeId::parse(e["detail"]["nodeId"].as_str().unwrap()).unwrap())
        .collect();
    link_all(&world, carol, &notes).await;
    let edges = world.memory.edges(carol, notes[0]).await.unwrap();
    assert_eq!(edges.len(), 1, "the wikilink's target shares its title's word: {edges:?}");
    assert_eq!(edges[0].shared_keywords, ["watering"]);
    assert_eq!(zip_import(&router, carol, vault).await.1["created"], 0, "the same vault twice adds nothing");
}

#[tokio::test]
async fn a_bad_import_is_refused_whole_with_the_place_named() {
    let world = World::new().await;
    let router = world.backend();
    let user = user();
    let memory = |content: &str| {
        json!({ "id": uuid::Uuid::now_v7().to_string(), "content": content, "tags": [], "keywords": [],
                "createdAt": "2026-11-30T09:00:00Z", "updatedAt": "2026-11-30T09:00:00Z", "version": 1, "links": [] })
    };
    let document = |memories: Vec<Value>| json!({ "format": "brain2-export", "version": 1, "exportedAt": "2026-12-01T00:00:00Z", "memories": memories });
    let cases = [
        (document(vec![memory("fine"), memory("   ")]), "memories[1]: content"),
        (document(vec![memory(&"x".repeat(5_001))]), "memories[0]: content has 5001 characters"),
        (json!({ "format": "evernote", "version": 1, "exportedAt": "x", "memories": [] }), "format is \"evernote\""),
        (document((0..1_001).map(|i| memory(&format!("memory {i}"))).collect()), "at most 1000"),
    ];
    for (body, expected) in cases {
        let (status, answer) = call(&router, Some(user), json_request("POST", "/api/import", &body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(expected), "{answer} should name {expected:?}");
    }
    let plain = http::Request::builder()
        .method("POST")
        .uri("/api/import")
        .header("content-type", "text/plain")
        .body(axum::body::Body::from("hello"))
        .unwrap();
    assert_eq!(call(&router, Some(user), plain).await.0, 400);
    assert!(world.items_of(user).await.is_empty(), "nothing of a refused import is written");
}

#[tokio::test]
async fn deleting_an_account_leaves_nothing_of_the_user_and_another_user_untouched() {
    let world = World::new().await;
    let router = world.backend();
    let (leaving, staying) = (user(), user());
    let mut nodes = Vec::new();
    for content in ["rust graph one", "rust graph two", "rust graph three"] {
        nodes.push(create(&router, leaving, content, &["work"]).await);
    }
    let kept = create(&router, staying, "rust graph kept", &["work"]).await;
    link_all(&world, leaving, &nodes).await;
    link_all(&world, staying, &[kept]).await;
    let now = time::OffsetDateTime::now_utc();
    world.connections.put("leaving-1", leaving, now).await.unwrap();
    world.connections.put("leaving-2", leaving, now).await.unwrap();
    world.connections.put("staying-1", staying, now).await.unwrap();
    let staying_items = world.items_of(staying).await.len();

    let (status, deleted) = call(&router, Some(leaving), empty_request("DELETE", "/api/account")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["nodes"], 3);
    assert_eq!(deleted["edges"], 6, "three pairs, both directions");
    assert_eq!(deleted["connections"], 2);
    assert!(world.items_of(leaving).await.is_empty(), "no item of the user is left");
    assert!(world.connections.of_user(leaving).await.unwrap().is_empty());
    assert_eq!(world.items_of(staying).await.len(), staying_items, "the other user keeps every item");
    assert_eq!(world.connections.of_user(staying).await.unwrap(), ["staying-1"]);
    let (_, search) = call(&router, Some(staying), empty_request("GET", "/api/search?q=tag:work")).await;
    assert_eq!(search["total"], 1);
    // Sending it again is harmless.
    let (status, again) = call(&router, Some(leaving), empty_request("DELETE", "/api/account")).await;
    assert_eq!((status.as_u16(), again["nodes"].as_u64()), (200, Some(0)));
}

/// Sends `request` as `user`; the whole answer.
async fn respond(
    router: &axum::Router,
    user: UserId,
    mut request: http::Request<axum::body::Body>,
) -> http::Response<Vec<u8>> {
    use tower::ServiceExt as _;
    request.extensions_mut().insert(backend::extract::Caller(user));
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec())
}

/// The keys of `user`'s exports in the exports bucket.
async fn exports_of(world: &World, user: UserId) -> Vec<String> {
    let listed = aws_sdk_s3::Client::new(&world.sdk)
        .list_objects_v2()
        .bucket(&world.exports_bucket)
        .prefix(backend::exports::prefix_of(user))
        .send()
        .await
        .unwrap();
    listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn an_export_past_one_answer_is_fetched_through_a_short_lived_link_and_account_deletion_removes_it() {
    let world = World::new().await;
    let router = world.backend();
    let (large, small) = (user(), user());
    let memories = seed_past_one_answer(&world.memory, large).await;
    create(&router, small, "a small export stays inline", &["kept"]).await;

    let asked_at = time::OffsetDateTime::now_utc();
    let answer = respond(&router, large, empty_request("GET", "/api/export")).await;
    let text = String::from_utf8_lossy(answer.body()).into_owned();
    assert_eq!(answer.status(), 201, "{}", &text[..text.len().min(300)]);
    let link: brain2_api::ExportLink = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(answer.headers()["location"].to_str().unwrap(), link.download_url);
    assert_eq!((link.format, link.memories), (brain2_api::ExportFormat::Json, memories));
    assert!(link.bytes as usize > brain2_api::export::MAX_INLINE_EXPORT_BYTES, "{link:?}");
    let expires =
        time::OffsetDateTime::parse(&link.expires_at, &time::format_description::well_known::Rfc3339).unwrap();
    let (lifetime, answered_at) = (time::Duration::minutes(5), time::OffsetDateTime::now_utc());
    // The time is written to the millisecond.
    let earliest = asked_at + lifetime - time::Duration::milliseconds(1);
    assert!(earliest <= expires && expires <= answered_at + lifetime, "{expires} is 5 minutes after the ask");
    assert!(link.download_url.contains("X-Amz-Signature="), "a presigned URL: {}", link.download_url);
    assert!(link.download_url.contains("X-Amz-Expires=300"), "{}", link.download_url);

    // The link is all a browser needs: no credentials, and it saves under the export's name.
    let download = reqwest::get(&link.download_url).await.unwrap();
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"brain2-export-"), "{disposition}");
    assert_eq!(download.headers()["content-type"], "application/json");
    let bytes = download.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, link.bytes);
    let document: brain2_api::Export = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(document.memories.len(), memories);
    assert!(document.memories.iter().all(|m| m.content.len() > 4_900));

    // What fits stays inline: the same memories as Markdown (the zip compresses them), and a
    // small account's JSON.
    let zip = respond(&router, large, empty_request("GET", "/api/export?format=markdown")).await;
    assert_eq!((zip.status().as_u16(), zip.headers()["content-type"].to_str().unwrap()), (200, "application/zip"));
    let (status, inline) = call(&router, Some(small), empty_request("GET", "/api/export")).await;
    assert_eq!((status.as_u16(), inline["memories"].as_array().map(Vec::len)), (200, Some(1)));

    // Account deletion takes the user's exports with it, and only theirs.
    let (_, theirs) =
        world.exports().put(small, brain2_api::ExportFormat::Json, b"{}".to_vec(), 1, asked_at.date()).await.unwrap();
    assert_eq!(exports_of(&world, large).await.len(), 1);
    let (status, deleted) = call(&router, Some(large), empty_request("DELETE", "/api/account")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!((deleted["nodes"].as_u64(), deleted["exports"].as_u64()), (Some(memories as u64), Some(1)));
    assert!(exports_of(&world, large).await.is_empty(), "no export of the user is left");
    // moto answers 404; S3 would answer 403, as the role may list the bucket only by prefix.
    assert_eq!(reqwest::get(&link.download_url).await.unwrap().status(), 404, "the link leads nowhere");
    assert_eq!(exports_of(&world, small).await.len(), 1, "another user's export stays");
    assert_eq!(reqwest::get(&theirs.download_url).await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_account_deleted_while_its_export_is_written_keeps_no_export() {
    let world = World::new().await;
    let user = user();
    seed_past_one_answer(&world.memory, user).await;
    // The account's deletion, sent from another tab and served by another instance, lands after
    // the export read the memories and before it writes the file: it lists no export yet.
    let (table, bus, bucket) = (world.memory_table.clone(), world.bus.clone(), world.exports_bucket.clone());
    let deletion: support::faults::Work = Box::new(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let sdk = sdk(&support::moto::moto().endpoint);
            let store = brain2_shared::memory::MemoryStore::new(
                aws_sdk_dynamodb::Client::from_conf(dynamodb_config(&sdk).build()),
                &table,
                KEYWORD_INDEX,
            );
            let router = backend::router(backend::AppState {
                store,
                connections: None,
                publisher: brain2_shared::events::Publisher::new(
                    aws_sdk_eventbridge::Client::new(&sdk),
                    &bus,
                    brain2_shared::events::API_SOURCE,
                ),
                exports: Some(backend::exports::ExportBucket::from_sdk(&sdk, &bucket)),
                environment: "test".into(),
                clock: std::sync::Arc::new(time::OffsetDateTime::now_utc),
            });
            let (status, deleted) = call(&router, Some(user), empty_request("DELETE", "/api/account")).await;
            assert_eq!((status.as_u16(), deleted["exports"].as_u64()), (200, Some(0)), "{deleted}");
        });
    });
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&world.sdk).interceptor(support::faults::BeforePut::once(deletion)).build(),
    );
    let exports = backend::exports::ExportBucket::new(s3, &world.exports_bucket);
    let router = backend::router(backend::AppState { exports: Some(exports), ..world.backend_state() });

    let (status, answer) = call(&router, Some(user), empty_request("GET", "/api/export")).await;
    assert_eq!(status, 410, "{answer}");
    assert!(exports_of(&world, user).await.is_empty(), "the export did not outlive the account");
    assert!(world.items_of(user).await.is_empty());
}

#[tokio::test]
async fn an_export_whose_write_fails_leaves_no_object_behind() {
    let world = World::new().await;
    let user = user();
    seed_past_one_answer(&world.memory, user).await;
    let lost = support::faults::PutAnswerLost::default();
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&world.sdk).interceptor(lost.clone()).build());
    let exports = backend::exports::ExportBucket::new(s3, &world.exports_bucket);
    let router = backend::router(backend::AppState { exports: Some(exports), ..world.backend_state() });

    let (status, answer) = call(&router, Some(user), empty_request("GET", "/api/export")).await;
    assert_eq!(status, 500, "{answer}");
    assert!(lost.0.load(std::sync::atomic::Ordering::Relaxed) >= 1, "S3 stored the export and its answer was lost");
    assert!(exports_of(&world, user).await.is_empty(), "the object S3 stored was deleted");
    assert_eq!(world.items_of(user).await.len(), 2_300, "the memories stay");
}

/// Search at 10,000 memories, timed inside the store (what the function spends), on Dynoxide.
/// `cargo test -p brain2-integration-tests --profile measure --test ownership search_at_ten_thousand_memories -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run by hand, figures in BENCHMARKS.md"]
async fn search_at_ten_thousand_memories() {
    const MEMORIES: usize = 10_000;
    const WORDS: &[&str] = &[
        "rust", "graph", "lambda", "memory", "keyword", "edges", "browser", "socket", "dynamo", "event", "index",
        "cloud", "garden", "kitchen", "travel", "music", "reading", "project", "meeting", "budget", "design", "health",
        "family", "invoice", "recipe", "station", "physics", "history", "language", "painting",
    ];
    let world = World::new().await;
    let config = world.dynamodb_config().build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = format!("search-bench-{}", uuid::Uuid::new_v4().simple());
    let definitions: std::collections::HashMap<String, Value> = table_definitions().into_iter().collect();
    create_table(&client, &definitions["MemoryTable"], &table).await;
    let store = brain2_shared::memory::MemoryStore::new(client, &table, KEYWORD_INDEX);
    let user = user();
    let started = Instant::now();
    let dice = faults::Dice::new(0x2545_f491_4f6c_dd1d);
    let next = |n: usize| dice.roll(n as u64) as usize;
    let mut inputs = Vec::with_capacity(MEMORIES);
    for i in 0..MEMORIES {
        let words: Vec<String> =
            (0..8 + next(12)).map(|_| format!("{}{}", WORDS[next(WORDS.len())], next(40))).collect();
        let mut tags = vec![format!("tag{}", next(50))];
        // One memory in 25 is also tagged "often": 400 matches, too many to be narrow and too
        // few to find quickly by reading memories newest first.
        if i % 25 == 0 {
            tags.push("often".to_owned());
        }
        inputs.push(brain2_shared::domain::ValidInput { content: format!("memory {i}: {}", words.join(" ")), tags });
    }
    futures::stream::iter(inputs)
        .for_each_concurrent(16, |input| {
            let store = store.clone();
            async move {
                store.create(user, input, time::OffsetDateTime::now_utc()).await.unwrap();
            }
        })
        .await;
    println!("{MEMORIES} memories written in {:.1} s", started.elapsed().as_secs_f64());
    // The default limits; then, for comparison, without reading on a broad term's postings,
    // and with twice the postings read before a term counts as broad.
    let default = brain2_shared::search::SearchLimits::default();
    let without_reading_on = brain2_shared::search::SearchLimits { read_on_after: usize::MAX, ..default };
    let broad_later =
        brain2_shared::search::SearchLimits { broad_term_postings: 2 * default.broad_term_postings, ..default };
    for limits in [default, without_reading_on, broad_later] {
        let store = store.clone().with_search_limits(limits);
        println!("{limits:?}");
        let queries = [
            "graph7",
            "rust3",
            "graph1",
            "gra",
            "tag:tag7",
            "tag:often",
            "rust3 garden12",
            "kitchen",
            "kitchen (page 2)",
            "gra kitchen",
            "memory",
            "physics1 tag:tag3 mem",
        ];
        for query in queries {
            let (text, second_page) = match query.strip_suffix(" (page 2)") {
                Some(text) => (text, true),
                None => (query, false),
            };
            let after = if second_page {
                let first = store.search(user, text, None).await.unwrap();
                Some(brain2_api::search::SearchCursor::parse(&first.next_cursor.unwrap()).unwrap())
            } else {
                None
            };
            let mut times = Vec::new();
            let mut total = String::new();
            for _ in 0..30 {
                let start = Instant::now();
                let page = store.search(user, text, after).await.unwrap();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                total = format!("{}{}", page.total, if page.total_exact { "" } else { "+" });
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{query:>24}: {total:>6} matches, p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
                times[times.len() / 2],
                times[times.len() * 9 / 10],
                times[times.len() - 1]
            );
        }
    }
}

//! graph-data's compact page for 5,000 memories with 25,000 edges: its size in bytes and the
//! time to build and serialize it. `cargo bench -p brain2-api --bench graph_page`.

use std::hint::black_box;
use std::time::Instant;

use brain2_api::graph::{GraphEdge, GraphNode, GraphPage, MAX_GRAPH_PAGE_BYTES};
use brain2_api::{NodeId, label};

const WORDS: &[&str] = &[
    "rust",
    "lambda",
    "memory",
    "graph",
    "deploy",
    "garden",
    "tomatoes",
    "autumn",
    "knowledge",
    "notes",
    "meeting",
    "with",
    "the",
    "team",
    "about",
    "café",
    "über",
    "ideas",
    "for",
    "weekend",
    "reading",
    "\"quoted\"",
    "DynamoDB",
    "stacks",
    "browser",
    "links",
    "keywords",
    "shared",
    "a",
    "and",
];

/// A deterministic pseudo-random stream (xorshift), so every run measures the same graph.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let count = 5_000u64;
    let created = 1_764_500_000i64;
    let nodes: Vec<GraphNode> = (0..count)
        .map(|i| {
            let words = 8 + rng.next() % 60;
            let content: Vec<&str> = (0..words).map(|_| WORDS[(rng.next() % WORDS.len() as u64) as usize]).collect();
            GraphNode {
                // UUIDv7-like: ordered by creation.
                id: NodeId(uuid::Uuid::from_u128(((created as u128 + i as u128) << 80) | rng.next() as u128)),
                label: label(&content.join(" ")),
                keyword_count: (words as u32).min(49),
                created_at: created + i as i64 * 600,
                updated_at: created + i as i64 * 600 + (rng.next() % 3) as i64 * 86_400,
            }
        })
        .collect();
    let mut pairs = std::collections::BTreeSet::new();
    while pairs.len() < 25_000 {
        let a = rng.next() % count;
        // Mostly near neighbours in time, some far.
        let b =
            if rng.next().is_multiple_of(4) { rng.next() % count } else { (a + 1 + rng.next() % 40).min(count - 1) };
        if a != b {
            pairs.insert((a.min(b), a.max(b)));
        }
    }
    let edges: Vec<GraphEdge> = pairs
        .iter()
        .map(|&(a, b)| GraphEdge {
            source: nodes[a as usize].id,
            target: nodes[b as usize].id,
            weight: 1 + (rng.next() % 4) as u32,
        })
        .collect();

    let rounds = 20;
    let mut bytes = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        let page =
            GraphPage::new(black_box(&nodes), black_box(&edges), false, MAX_GRAPH_PAGE_BYTES, |id| id.to_string());
        assert_eq!(page.ids.len(), 5_000);
        bytes = serde_json::to_vec(&page).unwrap().len();
    }
    let per_page = started.elapsed() / rounds;
    println!("5,000 memories, 25,000 edges, generated content: {bytes} bytes, built and serialized in {per_page:?}");
}

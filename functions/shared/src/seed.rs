//! Writes a whole graph into a user's empty partition at once, item for item as the backend's
//! creates and connect-node's runs would have left it: each node with its postings, its edge
//! count and edge writes, and each edge in both directions with the weight and shared keywords
//! `scoring::edge_between` gives. For benchmarks and tests that need thousands of memories
//! (`cargo xtask bench web`, the 10,000-memory browser test), where creating them one by one
//! through the API would take hours on the emulator. BatchWriteItem without conditions: nothing
//! else may write the partition meanwhile, and `check::check_user` finds the result whole.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use time::OffsetDateTime;

use crate::domain::{Edge, Node, UserId, ValidInput};
use crate::dynamo::{self, StoreError};
use crate::memory::{self, MemoryStore};
use crate::scoring;

/// BatchWriteItem calls in flight at once.
const WRITE_PARALLELISM: usize = 8;

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeded {
    /// In creation (id) order.
    pub nodes: Vec<Node>,
    /// Undirected edges, each from its smaller end.
    pub edges: Vec<Edge>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// connect-node would have chosen among more candidates than a node may link to; the seed
    /// links every candidate, so it would store something connect-node never does.
    #[error("node {index} shares keywords with {candidates} others, more than the {max_edges} a node may link to")]
    OverCap { index: usize, candidates: usize, max_edges: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MemoryStore {
    /// Stores `inputs` as new nodes of `user`, linked as connect-node links them when no node
    /// has more candidates than `max_edges` (else nothing is written).
    pub async fn seed(
        &self,
        user: UserId,
        inputs: Vec<ValidInput>,
        min_shared: usize,
        max_edges: usize,
        now: OffsetDateTime,
    ) -> Result<Seeded, SeedError> {
        let nodes: Vec<Node> = inputs
            .into_iter()
            .map(|input| Node {
                id: crate::domain::new_node_id(),
                owner: user,
                keywords: crate::keywords::extract(&input.content),
                content: input.content,
                tags: input.tags,
                created_at: now,
                updated_at: now,
                version: 1,
            })
            .collect();
        // Who shares what: the keyword index, in memory.
        let mut holders: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, node) in nodes.iter().enumerate() {
            for keyword in &node.keywords {
                holders.entry(keyword).or_default().push(i);
            }
        }
        let mut edges = Vec::new();
        let mut degree = vec![0usize; nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            let mut candidates: Vec<usize> =
                node.keywords.iter().flat_map(|k| holders[k.as_str()].iter().copied()).filter(|&j| j != i).collect();
            candidates.sort_unstable();
            candidates.dedup();
            let others: Vec<Node> = candidates.iter().map(|&j| nodes[j].clone()).collect();
            let ranked = scoring::rank(node, &others, min_shared);
            if ranked.len() > max_edges {
                return Err(SeedError::OverCap { index: i, candidates: ranked.len(), max_edges });
            }
            degree[i] = ranked.len();
            edges.extend(ranked.into_iter().filter(|edge| edge.source < edge.target));
        }
        let mut items = Vec::with_capacity(nodes.len() * 4 + edges.len() * 2);
        for (node, degree) in nodes.iter().zip(&degree) {
            let mut item = memory::node_item(node);
            item.insert(memory::EDGE_COUNT.into(), memory::n(degree));
            if *degree > 0 {
                item.insert(memory::EDGE_WRITES.into(), memory::n(degree));
            }
            items.push(item);
            items.extend(node.keywords.iter().map(|k| memory::posting_item(user, node.id, k)));
        }
        for edge in &edges {
            let reverse = Edge { source: edge.target, target: edge.source, ..edge.clone() };
            items.push(memory::edge_item(user, edge));
            items.push(memory::edge_item(user, &reverse));
        }
        let requests: Vec<_> = items
            .into_iter()
            .map(|item| {
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("an item is set"),
                    )
                    .build()
            })
            .collect();
        let chunks: Vec<Vec<_>> = requests.chunks(dynamo::BATCH_WRITE_LIMIT).map(<[_]>::to_vec).collect();
        stream::iter(chunks)
            .map(|chunk| dynamo::batch_write(self.client(), self.table(), chunk))
            .buffer_unordered(WRITE_PARALLELISM)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(Seeded { nodes, edges })
    }
}

/// `n` memories that link as a personal knowledge base's do, in topics: each shares a keyword
/// (`alpha<k>`) with the 5 written just before or after it, and another (`beta<k>`) with 5 from
/// its cluster of 240 (one in ten from anywhere), so about 5 links per memory, in 42 clusters
/// at 10,000, and a few between them. Deterministic: the same `n` gives the same texts.
pub fn community(n: usize) -> Vec<ValidInput> {
    const GROUP: usize = 6;
    const CLUSTER: usize = 240;
    let mut seed: u64 = 42;
    let mut random = move |below: usize| {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        (seed as usize * below) / 2_147_483_648
    };
    let mut order: Vec<usize> = (0..n).collect();
    for start in (0..n).step_by(CLUSTER) {
        let end = (start + CLUSTER).min(n);
        for i in (start + 1..end).rev() {
            let j = start + random(i - start + 1);
            order.swap(i, j);
        }
    }
    for _ in 0..n / 10 {
        let (i, j) = (random(n), random(n));
        order.swap(i, j);
    }
    let mut beta = vec![0; n];
    for (position, &node) in order.iter().enumerate() {
        beta[node] = position / GROUP;
    }
    (0..n)
        .map(|i| ValidInput { content: format!("m{i:05} alpha{} beta{}", i / GROUP, beta[i]), tags: Vec::new() })
        .collect()
}

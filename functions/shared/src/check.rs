//! The graph's invariants (ARCHITECTURE.md), checked over a user's partition and mended:
//! `cargo xtask graph-check` and the stress test run this. Lambdas never do.
//!
//! A check reads one user's whole partition with a strongly consistent Query, so on a quiet
//! graph it sees a consistent picture; on a busy one a write in flight (a delete between its
//! steps) can show as a violation that the writer itself is about to mend. Every mend is
//! idempotent and conditioned on what it was decided from (the versions of the nodes it read;
//! for a count, the count and `edgeWrites` it read), so running a repair twice, or beside the
//! functions, never undoes what they wrote meanwhile: a mend whose condition fails is left to
//! the next pass or the next run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::{Edge, NodeId, UserId};
use crate::dynamo::{self, StoreError};
use crate::memory::{MemoryStore, StoredNode, Versions};
use crate::{keys, scoring};

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Violation {
    /// A delete stopped part-way: the node is still there, marked `deleting` by a delete that
    /// is no longer running (`memory::DELETE_ABANDONED_AFTER`). It is hidden from its user but
    /// holds a place under its neighbours' caps.
    UnfinishedDelete { node: NodeId },
    /// Every edge has its reverse.
    EdgeWithoutReverse { from: NodeId, to: NodeId },
    /// Both ends of every edge exist.
    EdgeToMissingNode { from: NodeId, to: NodeId },
    /// Every edge is what its nodes' keywords give now (`scoring::edge_between`): this one's
    /// nodes share no keyword.
    UnsupportedEdge { from: NodeId, to: NodeId },
    /// ... and this one's weight or shared keywords are not those of its nodes' keywords.
    MisweightedEdge { from: NodeId, to: NodeId, stored: u32, expected: u32 },
    /// Every posting matches a live node's current keywords.
    OrphanPosting { node: NodeId, keyword: String },
    /// Every keyword of a node has its posting.
    MissingPosting { node: NodeId, keyword: String },
    /// Each node has at most `max_edges_per_node` edges.
    OverCap { node: NodeId, edges: usize, max: usize },
    /// A node's `edgeCount` (which enforces the cap) matches its edges.
    WrongEdgeCount { node: NodeId, stored: Option<i64>, actual: i64 },
    /// Versions start at 1 and only increase.
    BadVersion { node: NodeId, version: u64 },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::UnfinishedDelete { node } => {
                write!(f, "node {node} is half-deleted (marked deleting by a delete that stopped)")
            }
            Violation::EdgeWithoutReverse { from, to } => write!(f, "edge {from} → {to} has no reverse"),
            Violation::EdgeToMissingNode { from, to } => write!(f, "edge {from} → {to} has a missing end"),
            Violation::UnsupportedEdge { from, to } => {
                write!(f, "edge {from} → {to} joins nodes that share no keyword")
            }
            Violation::MisweightedEdge { from, to, stored, expected } => {
                write!(f, "edge {from} → {to} weighs {stored}; its nodes' keywords give {expected}")
            }
            Violation::OrphanPosting { node, keyword } => {
                write!(f, "posting {keyword:?} of node {node} matches no live node's keywords")
            }
            Violation::MissingPosting { node, keyword } => write!(f, "node {node} has no posting for {keyword:?}"),
            Violation::OverCap { node, edges, max } => write!(f, "node {node} has {edges} edges; the cap is {max}"),
            Violation::WrongEdgeCount { node, stored, actual } => match stored {
                Some(stored) => write!(f, "node {node} counts {stored} edges but has {actual}"),
                None => write!(f, "node {node} has {actual} edges and no edge count"),
            },
            Violation::BadVersion { node, version } => write!(f, "node {node} is at version {version}"),
        }
    }
}

/// A user's partition as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub nodes: BTreeMap<NodeId, StoredNode>,
    pub edges: BTreeMap<(NodeId, NodeId), Edge>,
    pub postings: BTreeSet<(NodeId, String)>,
}

/// Reads the user's whole partition (one strongly consistent Query, all pages).
pub async fn snapshot(store: &MemoryStore, user: UserId) -> Result<Snapshot, StoreError> {
    let items = dynamo::query_partition(store.client(), store.table(), &keys::partition(user)).await?;
    let mut snapshot = Snapshot::default();
    for item in &items {
        let sort_key = dynamo::string(item, keys::SORT_KEY)?;
        let malformed =
            || StoreError::Malformed { key: sort_key.clone(), problem: "no node id in the sort key".into() };
        if sort_key.starts_with(keys::NODE_PREFIX) {
            let stored = crate::memory::stored_from(user, item)?;
            snapshot.nodes.insert(stored.node.id, stored);
        } else if sort_key.starts_with(keys::EDGE_PREFIX) {
            let edge = crate::memory::edge_from(item)?;
            snapshot.edges.insert((edge.source, edge.target), edge);
        } else if sort_key.starts_with(keys::POSTING_PREFIX) {
            let node = keys::node_in(&sort_key).ok_or_else(malformed)?;
            let keyword = keys::posting_keyword(&sort_key).ok_or_else(malformed)?.to_owned();
            snapshot.postings.insert((node, keyword));
        }
    }
    Ok(snapshot)
}

/// Every violation in `snapshot`, in a stable order. A node a delete is still working on (marked
/// less than `memory::DELETE_ABANDONED_AFTER` before `now`) is that delete's to finish.
pub fn violations(snapshot: &Snapshot, max_edges: usize, now: OffsetDateTime) -> Vec<Violation> {
    let mut found = Vec::new();
    let live = |id: &NodeId| snapshot.nodes.get(id).is_some_and(|n| !n.deleting);
    let mut degree: BTreeMap<NodeId, i64> = BTreeMap::new();
    for (from, to) in snapshot.edges.keys() {
        *degree.entry(*from).or_default() += 1;
        let ends_exist = snapshot.nodes.contains_key(from) && snapshot.nodes.contains_key(to);
        if !ends_exist {
            found.push(Violation::EdgeToMissingNode { from: *from, to: *to });
        } else if !snapshot.edges.contains_key(&(*to, *from)) {
            found.push(Violation::EdgeWithoutReverse { from: *from, to: *to });
        } else if live(from) && live(to) {
            // An edge of a node being deleted is the delete's to remove.
            let stored = &snapshot.edges[&(*from, *to)];
            match scoring::edge_between(&snapshot.nodes[from].node, &snapshot.nodes[to].node) {
                None => found.push(Violation::UnsupportedEdge { from: *from, to: *to }),
                Some(expected)
                    if expected.weight != stored.weight || expected.shared_keywords != stored.shared_keywords =>
                {
                    found.push(Violation::MisweightedEdge {
                        from: *from,
                        to: *to,
                        stored: stored.weight,
                        expected: expected.weight,
                    })
                }
                Some(_) => {}
            }
        }
    }
    for (id, stored) in &snapshot.nodes {
        if stored.deleting {
            // Its edges and postings are the delete's to remove.
            if stored.abandoned_delete(now) {
                found.push(Violation::UnfinishedDelete { node: *id });
            }
            continue;
        }
        let node = &stored.node;
        if node.version == 0 {
            found.push(Violation::BadVersion { node: *id, version: node.version });
        }
        for keyword in &node.keywords {
            if !snapshot.postings.contains(&(*id, keyword.clone())) {
                found.push(Violation::MissingPosting { node: *id, keyword: keyword.clone() });
            }
        }
        let actual = degree.get(id).copied().unwrap_or(0);
        if actual as usize > max_edges {
            found.push(Violation::OverCap { node: *id, edges: actual as usize, max: max_edges });
        }
        if stored.edge_count != Some(actual) {
            found.push(Violation::WrongEdgeCount { node: *id, stored: stored.edge_count, actual });
        }
    }
    for (node, keyword) in &snapshot.postings {
        let deleting = snapshot.nodes.get(node).is_some_and(|n| n.deleting);
        let current = live(node) && snapshot.nodes[node].node.keywords.contains(keyword);
        if !current && !deleting {
            found.push(Violation::OrphanPosting { node: *node, keyword: keyword.clone() });
        }
    }
    found.sort();
    found
}

/// What checking (and perhaps mending) one user found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserReport {
    pub user: Option<UserId>,
    pub nodes: usize,
    pub edges: usize,
    pub postings: usize,
    pub found: Vec<Violation>,
    /// After a repair: what is still there (empty when every violation was mended).
    pub remaining: Vec<Violation>,
}

/// Checks one user at `now`; with `repair`, mends what it found and checks again.
pub async fn check_user(
    store: &MemoryStore,
    user: UserId,
    max_edges: usize,
    repair: bool,
    now: OffsetDateTime,
) -> Result<UserReport, StoreError> {
    let first = snapshot(store, user).await?;
    let found = violations(&first, max_edges, now);
    let mut report = UserReport {
        user: Some(user),
        nodes: first.nodes.len(),
        edges: first.edges.len(),
        postings: first.postings.len(),
        remaining: found.clone(),
        found,
    };
    if !repair || report.found.is_empty() {
        return Ok(report);
    }
    // Structure first (deletes, edges, postings, the cap), then the counts those writes leave.
    for pass in 0..3 {
        let current = snapshot(store, user).await?;
        let found = violations(&current, max_edges, now);
        if found.is_empty() {
            break;
        }
        let (counts, structural): (Vec<&Violation>, Vec<&Violation>) =
            found.iter().partition(|v| matches!(v, Violation::WrongEdgeCount { .. }));
        let mending = if structural.is_empty() || pass == 2 { counts } else { structural };
        for violation in mending {
            mend(store, user, &current, violation, now).await?;
        }
    }
    report.remaining = violations(&snapshot(store, user).await?, max_edges, now);
    Ok(report)
}

/// Mends one violation found in `snapshot` (read at about `now`).
pub async fn mend(
    store: &MemoryStore,
    user: UserId,
    snapshot: &Snapshot,
    violation: &Violation,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    match violation {
        Violation::UnfinishedDelete { node } => store.delete(user, *node, now).await.map(drop),
        Violation::EdgeWithoutReverse { from, to } | Violation::EdgeToMissingNode { from, to } => {
            store.remove_edge(user, *from, *to).await.map(drop)
        }
        // Conditioned on the versions read: a node that moved on meanwhile is left to its own
        // connect-node run (or the next pass).
        Violation::UnsupportedEdge { from, to } => {
            store.remove_edge_at(user, *from, *to, versions_in(snapshot, *from, *to)).await.map(drop)
        }
        Violation::MisweightedEdge { from, to, .. } => {
            match scoring::edge_between(&snapshot.nodes[from].node, &snapshot.nodes[to].node) {
                Some(edge) => store.reweigh_edge(user, &edge, versions_in(snapshot, *from, *to)).await.map(drop),
                None => Ok(()),
            }
        }
        Violation::OrphanPosting { node, keyword } => {
            let version = snapshot.nodes.get(node).map(|n| n.node.version);
            store.delete_posting(user, *node, keyword, version).await.map(drop)
        }
        Violation::MissingPosting { node, keyword } => {
            store.put_posting(user, *node, keyword, snapshot.nodes[node].node.version).await.map(drop)
        }
        Violation::OverCap { node, max, .. } => {
            let mut edges: Vec<&Edge> = snapshot.edges.values().filter(|e| e.source == *node).collect();
            // The weakest go first, the larger id first among equals: what connect-node evicts.
            edges.sort_by(|a, b| a.weight.cmp(&b.weight).then(b.target.cmp(&a.target)));
            let excess = edges.len().saturating_sub(*max);
            for edge in edges.into_iter().take(excess) {
                store.remove_edge(user, edge.source, edge.target).await?;
            }
            Ok(())
        }
        // Counted afresh, not from the snapshot: see `MemoryStore::repair_edge_count`.
        Violation::WrongEdgeCount { node, .. } => store.repair_edge_count(user, *node).await.map(drop),
        // Nothing safe to do without the node's history; reported for a person to look at.
        Violation::BadVersion { .. } => Ok(()),
    }
}

fn versions_in(snapshot: &Snapshot, source: NodeId, target: NodeId) -> Versions {
    Versions { source: snapshot.nodes[&source].node.version, target: snapshot.nodes[&target].node.version }
}

/// Every user with items in the table: a paginated Scan of the key attribute only, at most
/// `pages_per_second` pages of `page_size` items. The one place a Scan is right: graph-check
/// over every user, run by an operator, rate-limited so the functions keep their capacity.
pub async fn users(store: &MemoryStore, page_size: i32, pages_per_second: f64) -> Result<Vec<UserId>, StoreError> {
    let pause = Duration::from_secs_f64(1.0 / pages_per_second.max(0.01));
    let mut users = BTreeSet::new();
    let mut start: Option<dynamo::Item> = None;
    loop {
        let output = store
            .client()
            .scan()
            .table_name(store.table())
            .projection_expression("#pk")
            .expression_attribute_names("#pk", keys::PARTITION_KEY)
            .limit(page_size)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| StoreError::call("Scan", e))?;
        for item in output.items() {
            let partition = dynamo::string(item, keys::PARTITION_KEY)?;
            if let Some(user) = partition.strip_prefix("USER#").and_then(|u| uuid::Uuid::parse_str(u).ok()) {
                users.insert(UserId(user));
            }
        }
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
        tokio::time::sleep(pause).await;
    }
    Ok(users.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Node;

    fn id(n: u128) -> NodeId {
        NodeId(uuid::Uuid::from_u128(n))
    }

    fn node(n: u128, keywords: &[&str], edge_count: Option<i64>) -> (NodeId, StoredNode) {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let node = Node {
            id: id(n),
            owner: UserId(uuid::Uuid::nil()),
            content: String::new(),
            tags: Vec::new(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            created_at: at,
            updated_at: at,
            version: 1,
        };
        (
            id(n),
            StoredNode {
                node,
                edge_count,
                edge_writes: None,
                linked_version: None,
                deleting: false,
                deleting_since: None,
            },
        )
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(1)
    }

    fn edge(a: u128, b: u128) -> ((NodeId, NodeId), Edge) {
        ((id(a), id(b)), Edge { source: id(a), target: id(b), weight: 1, shared_keywords: vec!["k".into()] })
    }

    #[test]
    fn a_consistent_graph_has_no_violations() {
        let snapshot = Snapshot {
            nodes: [node(1, &["k"], Some(1)), node(2, &["k"], Some(1))].into(),
            edges: [edge(1, 2), edge(2, 1)].into(),
            postings: [(id(1), "k".to_owned()), (id(2), "k".to_owned())].into(),
        };
        assert_eq!(violations(&snapshot, 5, now()), []);
    }

    #[test]
    fn each_invariant_has_its_violation() {
        // A mark from before marks were dated is abandoned; one a delete set a moment ago is
        // that delete's to finish.
        let mut deleting = node(4, &[], Some(0));
        deleting.1.deleting = true;
        let mut in_progress = node(5, &["k"], Some(0));
        in_progress.1.deleting = true;
        in_progress.1.deleting_since = Some(now() - time::Duration::seconds(5));
        let snapshot = Snapshot {
            nodes: [node(1, &["k", "m"], Some(2)), node(2, &["k"], None), deleting, in_progress].into(),
            edges: [edge(1, 2), edge(1, 3)].into(),
            postings: [
                (id(1), "k".to_owned()),
                (id(2), "k".to_owned()),
                (id(2), "old".to_owned()),
                (id(5), "k".to_owned()),
            ]
            .into(),
        };
        assert_eq!(
            violations(&snapshot, 1, now()),
            [
                Violation::UnfinishedDelete { node: id(4) },
                Violation::EdgeWithoutReverse { from: id(1), to: id(2) },
                Violation::EdgeToMissingNode { from: id(1), to: id(3) },
                Violation::OrphanPosting { node: id(2), keyword: "old".into() },
                Violation::MissingPosting { node: id(1), keyword: "m".into() },
                Violation::OverCap { node: id(1), edges: 2, max: 1 },
                Violation::WrongEdgeCount { node: id(2), stored: None, actual: 0 },
            ]
        );
    }

    #[test]
    fn every_edge_is_held_to_what_its_nodes_keywords_give_now() {
        let weighted = |a: u128, b: u128, shared: &[&str]| {
            let keywords: Vec<String> = shared.iter().map(|k| k.to_string()).collect();
            (
                (id(a), id(b)),
                Edge { source: id(a), target: id(b), weight: shared.len() as u32, shared_keywords: keywords },
            )
        };
        let postings = |pairs: &[(u128, &str)]| pairs.iter().map(|(n, k)| (id(*n), k.to_string())).collect();
        let snapshot = Snapshot {
            // 1 and 2 share nothing (an update dropped "k"); 3 and 4 share "k" and "m".
            nodes: [
                node(1, &["x"], Some(1)),
                node(2, &["k"], Some(1)),
                node(3, &["k", "m"], Some(1)),
                node(4, &["k", "m"], Some(1)),
            ]
            .into(),
            edges: [edge(1, 2), edge(2, 1), weighted(3, 4, &["k"]), weighted(4, 3, &["k", "m"])].into(),
            postings: postings(&[(1, "x"), (2, "k"), (3, "k"), (3, "m"), (4, "k"), (4, "m")]),
        };
        assert_eq!(
            violations(&snapshot, 5, now()),
            [
                Violation::UnsupportedEdge { from: id(1), to: id(2) },
                Violation::UnsupportedEdge { from: id(2), to: id(1) },
                Violation::MisweightedEdge { from: id(3), to: id(4), stored: 1, expected: 2 },
            ]
        );
    }
}

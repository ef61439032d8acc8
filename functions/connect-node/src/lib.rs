//! connect-node: on NodeCreated and NodeUpdated, recomputes the node's edges from the keywords
//! it shares with the user's other nodes, and publishes what changed (EdgesCreated for edges
//! added or reweighed, EdgesRemoved for edges dropped).
//!
//! The result depends only on the stored state, never on the event: a duplicated, late or
//! reordered delivery recomputes from what is stored now, and a second run finds nothing to do.
//!
//! Every edge stays what its nodes' keywords give (`scoring::edge_between`). KeywordIndex, which
//! lags the nodes, only suggests candidates; the run reads every node it may write an edge to
//! (its current neighbours and the best suggestions, strongly consistent) and scores them from
//! the keywords they have. Each add, reweigh and removal is a transaction conditioned on both
//! nodes still being at the versions read (`MemoryStore::add_edge` and friends), so an update
//! racing the run makes its write fail rather than store a weight its keywords no longer give;
//! the update's own NodeUpdated run, which starts after the update and so sees every edge
//! written before it, mends what the node now shares.
//!
//! A delete that stopped after marking its node `deleting` leaves the node hidden but counted
//! under its neighbours' caps. A run that meets such a node, as the node of its event or among
//! the nodes it reads, finishes the delete once the mark is abandoned
//! (`memory::DELETE_ABANDONED_AFTER`; before that, the delete that set it is still at work), at
//! most [`MAX_DELETES_FINISHED`] per run, and announces the node gone (NodeDeleted, as the
//! backend does for a delete it finishes; the node's edges go with it).
//!
//! Which edges: the node's candidates are the nodes sharing at least `min_shared_keywords`
//! keywords, ranked by how many they share, then by id. It links to the top `max_edges_per_node`;
//! edges that no longer hold are removed; an edge that still holds but is outside the top (one a
//! neighbour chose) stays while there is room, and the weakest of those make way for better
//! candidates or a lowered cap.

use std::collections::{BTreeMap, BTreeSet};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use brain2_shared::domain::{Edge, NodeId, UserId};
use brain2_shared::events::{self, EdgeWeight, EdgesCreated, EdgesRemoved, NodeChanged, NodeDeleted, Publisher};
use brain2_shared::memory::{AddEdge, EDGE_WRITE_PARALLELISM, MemoryStore, Unlink, Versions};
use brain2_shared::scoring;
use futures::stream::{self, StreamExt, TryStreamExt};
use time::OffsetDateTime;

/// Keyword lookups in flight at once.
pub const LOOKUP_PARALLELISM: usize = 8;

/// Abandoned deletes of other nodes one run finishes at most: each costs a transaction per edge
/// of the node, and the rest wait for the next run that meets them, or for graph-check.
pub const MAX_DELETES_FINISHED: usize = 4;

#[derive(Debug, Clone)]
pub struct ConnectNode {
    pub store: MemoryStore,
    pub publisher: Publisher,
    pub min_shared_keywords: usize,
    pub max_edges_per_node: usize,
}

/// What one event led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Linked {
        node: NodeId,
        /// The node's edges after the run.
        edges: usize,
        /// Edges added or reweighed, from the node.
        created: Vec<EdgeWeight>,
        /// Nodes it is no longer linked to.
        removed: Vec<NodeId>,
        /// Nodes whose abandoned deletes this run finished.
        finished: Vec<NodeId>,
    },
    /// The node was deleted before the event arrived (or is being deleted): nothing to link.
    NodeGone { node: NodeId },
    /// The node's own delete had stopped after marking it; this run finished it.
    DeleteFinished { node: NodeId, unlinked: Vec<NodeId> },
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Event(#[from] events::EventError),
    #[error(transparent)]
    Store(#[from] brain2_shared::dynamo::StoreError),
    #[error(transparent)]
    Publish(#[from] events::PublishError),
}

/// The writes that take a node from its `existing` edges to the ones `ranked` calls for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub remove: Vec<NodeId>,
    pub reweigh: Vec<Edge>,
    /// In rank order: when room runs out, the best are already in.
    pub add: Vec<Edge>,
}

/// `ranked`: every candidate at or above the minimum, best first (see `scoring::rank`).
pub fn plan(existing: &[Edge], ranked: &[Edge], max_edges: usize) -> Plan {
    let rank: BTreeMap<NodeId, usize> = ranked.iter().enumerate().map(|(i, e)| (e.target, i)).collect();
    let wanted: BTreeSet<NodeId> = ranked.iter().take(max_edges).map(|e| e.target).collect();
    let existing_targets: BTreeSet<NodeId> = existing.iter().map(|e| e.target).collect();
    let mut plan = Plan::default();
    // Edges that still hold, weakest first among those outside the top.
    let mut evictable: Vec<NodeId> = Vec::new();
    let mut kept = 0;
    for edge in existing {
        match rank.get(&edge.target) {
            None => plan.remove.push(edge.target),
            Some(&i) => {
                kept += 1;
                if ranked[i].weight != edge.weight || ranked[i].shared_keywords != edge.shared_keywords {
                    plan.reweigh.push(ranked[i].clone());
                }
                if !wanted.contains(&edge.target) {
                    evictable.push(edge.target);
                }
            }
        }
    }
    plan.add = ranked.iter().take(max_edges).filter(|e| !existing_targets.contains(&e.target)).cloned().collect();
    evictable.sort_by_key(|target| std::cmp::Reverse(rank[target]));
    let over = (kept + plan.add.len()).saturating_sub(max_edges);
    for target in evictable.into_iter().take(over) {
        plan.reweigh.retain(|e| e.target != target);
        plan.remove.push(target);
    }
    plan
}

impl ConnectNode {
    pub async fn handle(&self, event: EventBridgeEvent<NodeChanged>) -> Result<Outcome, ConnectError> {
        let user = events::accept(
            &event.source,
            &event.detail_type,
            &event.detail.user_id,
            events::API_SOURCE,
            &[events::NODE_CREATED, events::NODE_UPDATED],
        )?;
        self.connect(user, event.detail.node_id).await
    }

    /// Recomputes `node_id`'s edges (see the module's documentation). Reads the clock to tell
    /// an abandoned delete from one in progress.
    pub async fn connect(&self, user: UserId, node_id: NodeId) -> Result<Outcome, ConnectError> {
        let now = OffsetDateTime::now_utc();
        let node = match self.store.get_stored(user, node_id).await? {
            Some(stored) if !stored.deleting => stored.node,
            Some(stored) if stored.abandoned_delete(now) => {
                let unlinked = self.finish_delete(user, node_id, now).await?;
                return Ok(Outcome::DeleteFinished { node: node_id, unlinked });
            }
            _ => {
                tracing::info!(node = %node_id, "node is gone or being deleted; nothing to link");
                return Ok(Outcome::NodeGone { node: node_id });
            }
        };
        let matches: BTreeMap<String, Vec<NodeId>> = stream::iter(node.keywords.iter().cloned())
            .map(|keyword| {
                let store = self.store.clone();
                async move { store.nodes_with_keyword(user, &keyword).await.map(|nodes| (keyword, nodes)) }
            })
            .buffer_unordered(LOOKUP_PARALLELISM)
            .try_collect()
            .await?;
        let existing = self.store.edges(user, node_id).await?;
        // Read every node an edge may be written to: the neighbours, and as many of the index's
        // suggestions as the plan can add.
        let neighbours: BTreeSet<NodeId> = existing.iter().map(|e| e.target).collect();
        let suggested = scoring::suggest(node_id, &matches)
            .into_iter()
            .filter(|id| !neighbours.contains(id))
            .take(self.max_edges_per_node);
        let store = &self.store;
        let read: Vec<_> = stream::iter(neighbours.iter().copied().chain(suggested))
            .map(|id| async move { store.get_stored(user, id).await })
            .buffer_unordered(LOOKUP_PARALLELISM)
            .try_collect()
            .await?;
        let mut others = Vec::with_capacity(read.len());
        let mut abandoned = Vec::new();
        for stored in read.into_iter().flatten() {
            if !stored.deleting {
                others.push(stored.node);
            } else if stored.abandoned_delete(now) {
                abandoned.push(stored.node.id);
            }
        }
        let mut finished = Vec::new();
        for id in abandoned.into_iter().take(MAX_DELETES_FINISHED) {
            // Not this node's failure: the next run that meets it, or graph-check, tries again.
            match self.finish_delete(user, id, now).await {
                Ok(_) => finished.push(id),
                Err(error) => tracing::warn!(node = %id, %error, "could not finish an abandoned delete"),
            }
        }
        let version: BTreeMap<NodeId, u64> = others.iter().map(|n| (n.id, n.version)).collect();
        let ranked = scoring::rank(&node, &others, self.min_shared_keywords);
        let plan = plan(&existing, &ranked, self.max_edges_per_node);
        // A neighbour that is missing or being deleted has no version here: its edge goes
        // whatever it holds (a delete in progress removes it too; both are idempotent).
        let versions = |target: NodeId| version.get(&target).map(|v| Versions { source: node.version, target: *v });

        let removed: Vec<NodeId> = stream::iter(plan.remove)
            .map(|target| async move {
                let unlinked = match versions(target) {
                    Some(versions) => store.remove_edge_at(user, node_id, target, versions).await?,
                    None => store.remove_edge(user, node_id, target).await?,
                };
                Ok::<_, brain2_shared::dynamo::StoreError>((unlinked != Unlink::Moved).then_some(target))
            })
            .buffer_unordered(EDGE_WRITE_PARALLELISM)
            .try_filter_map(|target| async move { Ok(target) })
            .try_collect()
            .await?;
        let mut created: Vec<EdgeWeight> = Vec::new();
        let mut added = 0;
        for edge in &plan.reweigh {
            let versions = versions(edge.target).expect("a reweighed edge's target was read");
            if store.reweigh_edge(user, edge, versions).await? {
                created.push(EdgeWeight { target: edge.target, weight: edge.weight });
            }
        }
        // In rank order, one at a time: the node's room is shared by every add.
        for edge in &plan.add {
            let versions = versions(edge.target).expect("an added edge's target was read");
            match store.add_edge(user, edge, versions, self.max_edges_per_node).await? {
                AddEdge::Added => {
                    added += 1;
                    created.push(EdgeWeight { target: edge.target, weight: edge.weight });
                }
                AddEdge::Exists | AddEdge::TargetUnavailable => {}
                AddEdge::SourceUnavailable => break,
            }
        }
        // What this run leaves, from what it read and did (other runs may change it meanwhile).
        let edges = existing.len() - removed.len() + added;
        if !created.is_empty() {
            let detail = EdgesCreated { user_id: user.to_string(), node_id, edges: created.clone() };
            self.publisher.publish(events::EDGES_CREATED, &detail).await?;
        }
        if !removed.is_empty() {
            let detail = EdgesRemoved { user_id: user.to_string(), node_id, targets: removed.clone() };
            self.publisher.publish(events::EDGES_REMOVED, &detail).await?;
        }
        // Last: an import that finds a memory without it announces the memory again. Failing it
        // costs that, not this run.
        if let Err(error) = self.store.mark_linked(user, node_id, node.version).await {
            tracing::warn!(node = %node_id, %error, "could not record that the node was linked");
        }
        tracing::info!(node = %node_id, edges, created = created.len(), removed = removed.len(), "linked");
        Ok(Outcome::Linked { node: node_id, edges, created, removed, finished })
    }

    /// Finishes the delete of `id` that stopped after its mark, and announces that the node is
    /// gone: the delete that marked it never did (it stopped first), and a live client would
    /// otherwise show the node until it loads again. The node's edges go with it.
    async fn finish_delete(&self, user: UserId, id: NodeId, now: OffsetDateTime) -> Result<Vec<NodeId>, ConnectError> {
        let Some(unlinked) = self.store.delete(user, id, now).await? else {
            // Gone already: another run or delete finished it first.
            return Ok(Vec::new());
        };
        tracing::info!(node = %id, unlinked = unlinked.len(), "finished a delete that had stopped");
        let detail = NodeDeleted { user_id: user.to_string(), node_id: id };
        self.publisher.publish(events::NODE_DELETED, &detail).await?;
        Ok(unlinked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u128) -> NodeId {
        NodeId(Uuid::from_u128(n))
    }

    fn edge(target: u128, weight: u32) -> Edge {
        let shared = (0..weight).map(|i| format!("k{i}")).collect();
        Edge { source: id(0), target: id(target), weight, shared_keywords: shared }
    }

    #[test]
    fn adds_the_top_removes_what_no_longer_holds_and_reweighs_what_changed() {
        let existing = [edge(1, 1), edge(2, 2)];
        let ranked = [edge(3, 3), edge(2, 1), edge(4, 1)];
        let plan = plan(&existing, &ranked, 3);
        assert_eq!(plan.remove, [id(1)]);
        assert_eq!(plan.reweigh, [edge(2, 1)]);
        assert_eq!(plan.add, [edge(3, 3), edge(4, 1)]);
    }

    #[test]
    fn an_edge_outside_the_top_stays_while_there_is_room() {
        let existing = [edge(9, 1)];
        let ranked = [edge(1, 3), edge(9, 1)];
        assert_eq!(plan(&existing, &ranked, 1).remove, [id(9)], "no room: the weaker makes way");
        assert_eq!(plan(&existing, &ranked, 2), Plan { add: vec![edge(1, 3)], ..Plan::default() });
    }

    #[test]
    fn a_lowered_cap_evicts_the_weakest_first() {
        let existing: Vec<Edge> = (1..=5).map(|i| edge(i, 1)).collect();
        let ranked = existing.clone();
        let plan = plan(&existing, &ranked, 2);
        assert_eq!(plan.remove, [id(5), id(4), id(3)]);
        assert!(plan.add.is_empty() && plan.reweigh.is_empty());
    }

    #[test]
    fn a_second_plan_after_the_first_is_empty() {
        let ranked = [edge(1, 2), edge(2, 1)];
        assert_eq!(plan(&ranked, &ranked, 5), Plan::default());
    }
}

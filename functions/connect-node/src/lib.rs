//! connect-node: on NodeCreated and NodeUpdated, links the node to the user's other nodes that
//! share at least the configured number of keywords, capped per node, highest score first;
//! removes the edges that no longer hold; then publishes EdgesCreated. Redelivery gives the
//! same edges.

use std::collections::BTreeMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use brain2_shared::domain::{NodeId, UserId};
use brain2_shared::events::{self, EdgesCreated, NodeChanged, Publisher};
use brain2_shared::memory::MemoryStore;
use brain2_shared::scoring::choose_edges;
use futures::stream::{self, StreamExt, TryStreamExt};

/// Keyword lookups in flight at once.
pub const LOOKUP_PARALLELISM: usize = 8;

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
        edges: usize,
    },
    /// The node was deleted before the event arrived: nothing to link.
    NodeGone {
        node: NodeId,
    },
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

impl ConnectNode {
    pub async fn handle(&self, event: EventBridgeEvent<NodeChanged>) -> Result<Outcome, ConnectError> {
        let user = events::accept(
            &event.source,
            &event.detail_type,
            &event.detail.user_id,
            events::API_SOURCE,
            &[events::NODE_CREATED, events::NODE_UPDATED],
        )?;
        let detail = event.detail;
        self.connect(user, detail.node_id).await
    }

    pub async fn connect(&self, user: UserId, node_id: NodeId) -> Result<Outcome, ConnectError> {
        let Some(node) = self.store.get(user, node_id).await? else {
            tracing::info!(node = %node_id, "node is gone; nothing to link");
            return Ok(Outcome::NodeGone { node: node_id });
        };
        let matches: BTreeMap<String, Vec<NodeId>> = stream::iter(node.keywords.iter().cloned())
            .map(|keyword| {
                let store = self.store.clone();
                async move { store.nodes_with_keyword(user, &keyword).await.map(|nodes| (keyword, nodes)) }
            })
            .buffer_unordered(LOOKUP_PARALLELISM)
            .try_collect()
            .await?;
        let wanted = choose_edges(node_id, &matches, self.min_shared_keywords, self.max_edges_per_node);
        let edges = self.store.replace_edges(user, node_id, &wanted).await?;
        let detail = EdgesCreated { user_id: user.to_string(), node_id, edge_count: edges };
        self.publisher.publish(events::EDGES_CREATED, &detail).await?;
        tracing::info!(node = %node_id, edges, "linked");
        Ok(Outcome::Linked { node: node_id, edges })
    }
}

//! `GET /api/graph-data` from the table: one page of a user's graph in two kinds of Query, both
//! strongly consistent. Nodes are read in id order after the cursor, keeping only what a graph
//! shows of them (never a whole user's content at once). The page's edges are then one range
//! Query, because edge sort keys start with their source's id: `E#<first>#` to `E#<last>#~`.

use std::collections::BTreeSet;

use brain2_api::graph::{GraphEdge, GraphElements, GraphNode, GraphPage, MAX_GRAPH_PAGE_BYTES};
use time::OffsetDateTime;

use crate::domain::{NodeId, UserId};
use crate::dynamo::{self, Item, StoreError};
use crate::keys;
use crate::memory::{self, BadCursor, MemoryStore};

/// What a graph needs of a node item, by expression attribute name.
const PROJECTED: [(&str, &str); 6] = [
    ("#sk", keys::SORT_KEY),
    ("#content", "content"),
    ("#keywords", "keywords"),
    ("#created", "createdAt"),
    ("#updated", "updatedAt"),
    ("#deleting", memory::DELETING),
];

impl MemoryStore {
    /// Up to `limit` of the user's nodes after `cursor` (id order), and the edges from each of
    /// them to a larger id: each undirected edge once. See `brain2_api::graph` for the format and
    /// its 1 MB bound.
    pub async fn graph_page(
        &self,
        user: UserId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Result<GraphPage, BadCursor>, StoreError> {
        Ok(self.graph_slice(user, limit, cursor).await?.map(|(nodes, edges, more)| {
            GraphPage::new(&nodes, &edges, more, MAX_GRAPH_PAGE_BYTES, memory::encode_cursor)
        }))
    }

    /// The same nodes as Cytoscape elements, with the edges between two of them, in at most
    /// `budget` bytes (`brain2_api::GraphElements`).
    pub async fn graph_elements(
        &self,
        user: UserId,
        limit: usize,
        cursor: Option<&str>,
        budget: usize,
    ) -> Result<Result<GraphElements, BadCursor>, StoreError> {
        Ok(self
            .graph_slice(user, limit, cursor)
            .await?
            .map(|(nodes, edges, more)| GraphElements::new(&nodes, &edges, more, budget, memory::encode_cursor)))
    }

    /// Up to `limit` nodes after the cursor, the edges from each to a larger id that is on the
    /// page or after it, and whether more nodes may follow.
    #[allow(clippy::type_complexity)]
    async fn graph_slice(
        &self,
        user: UserId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Result<(Vec<GraphNode>, Vec<GraphEdge>, bool), BadCursor>, StoreError> {
        let after = match cursor.map(memory::decode_cursor).transpose() {
            Ok(after) => after,
            Err(bad) => return Ok(Err(bad)),
        };
        let (nodes, more) = self.graph_nodes(user, limit, after).await?;
        let (Some(first), Some(last)) = (nodes.first(), nodes.last()) else {
            return Ok(Ok((Vec::new(), Vec::new(), false)));
        };
        let on_page: BTreeSet<NodeId> = nodes.iter().map(|n| n.id).collect();
        let partition = keys::partition(user);
        let high = format!("{}~", keys::edges_of(last.id));
        let items =
            dynamo::query_between(self.client(), self.table(), &partition, &keys::edges_of(first.id), &high).await?;
        let mut edges = Vec::with_capacity(items.len());
        for item in &items {
            let edge = memory::edge_from(item)?;
            // From its smaller end only, from a live node, and to one that is live on this page
            // or comes after it.
            if edge.source < edge.target
                && on_page.contains(&edge.source)
                && (edge.target > last.id || on_page.contains(&edge.target))
            {
                edges.push(GraphEdge { source: edge.source, target: edge.target, weight: edge.weight });
            }
        }
        Ok(Ok((nodes, edges, more)))
    }

    /// Up to `limit` live nodes after `after`, and whether the table may hold more.
    async fn graph_nodes(
        &self,
        user: UserId,
        limit: usize,
        after: Option<NodeId>,
    ) -> Result<(Vec<GraphNode>, bool), StoreError> {
        let mut request = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PARTITION_KEY)
            .expression_attribute_values(":pk", memory::s(keys::partition(user)))
            .expression_attribute_values(":prefix", memory::s(keys::NODE_PREFIX))
            .projection_expression(PROJECTED.map(|(name, _)| name).join(", "))
            .consistent_read(true);
        for (name, attribute) in PROJECTED {
            request = request.expression_attribute_names(name, attribute);
        }
        let mut start = after.map(|id| memory::key(user, keys::node(id)));
        let mut nodes = Vec::new();
        loop {
            // Limit counts the items read, tombstones too: ask for what is still missing.
            let output = request
                .clone()
                .limit(i32::try_from(limit - nodes.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::call("Query", e))?;
            for item in output.items() {
                if !dynamo::flag(item, memory::DELETING) {
                    nodes.push(graph_node(item)?);
                }
            }
            start = output.last_evaluated_key().cloned();
            if start.is_none() || nodes.len() >= limit {
                return Ok((nodes, start.is_some()));
            }
        }
    }
}

fn graph_node(item: &Item) -> Result<GraphNode, StoreError> {
    let sort_key = dynamo::string(item, keys::SORT_KEY)?;
    let id = keys::node_in(&sort_key)
        .ok_or_else(|| StoreError::Malformed { key: sort_key.clone(), problem: "no node id in the sort key".into() })?;
    let unix = |name| memory::time_of(item, name).map(OffsetDateTime::unix_timestamp);
    Ok(GraphNode {
        id,
        label: brain2_api::label(&dynamo::string(item, "content")?),
        keyword_count: dynamo::strings(item, "keywords")?.len() as u32,
        created_at: unix("createdAt")?,
        updated_at: unix("updatedAt")?,
    })
}

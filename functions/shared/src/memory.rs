//! MemoryTable: nodes, their keyword postings and their edges, one partition per user.
//! No operation scans; each costs a bounded number of GetItem, Query, BatchWriteItem and
//! TransactWriteItems calls (see `keys` for the layout).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use base64::Engine;
use time::OffsetDateTime;

use crate::domain::{Edge, Node, NodeId, UserId, ValidInput};
use crate::dynamo::{self, Item, StoreError, TransactError};
use crate::keys;

/// The table and its keyword index.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    client: Client,
    table: String,
    keyword_index: String,
}

/// A page of nodes and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub nodes: Vec<Node>,
    pub next_cursor: Option<String>,
}

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no such node")]
    NotFound,
    #[error("the node is at version {current}, not {expected}")]
    Conflict { expected: u64, current: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A cursor the client sent back that this service did not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not one this API returned")]
pub struct BadCursor;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(user: UserId, sort_key: String) -> Item {
    Item::from([(keys::PARTITION_KEY.to_owned(), s(keys::partition(user))), (keys::SORT_KEY.to_owned(), s(sort_key))])
}

fn node_item(node: &Node) -> Item {
    let mut item = key(node.owner, keys::node(node.id));
    item.insert("nodeId".into(), s(node.id.to_string()));
    item.insert("content".into(), s(node.content.clone()));
    item.insert("tags".into(), dynamo::string_list(&node.tags));
    item.insert("keywords".into(), dynamo::string_list(&node.keywords));
    item.insert("createdAt".into(), s(crate::domain::rfc3339(node.created_at)));
    item.insert("updatedAt".into(), s(crate::domain::rfc3339(node.updated_at)));
    item.insert("version".into(), n(node.version));
    item
}

fn time_of(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
    let text = dynamo::string(item, name)?;
    OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| StoreError::Malformed { key: name.to_owned(), problem: format!("{text:?} is not RFC 3339") })
}

fn node_from(user: UserId, item: &Item) -> Result<Node, StoreError> {
    let sort_key = dynamo::string(item, keys::SORT_KEY)?;
    let id = keys::node_in(&sort_key)
        .ok_or_else(|| StoreError::Malformed { key: sort_key.clone(), problem: "no node id in the sort key".into() })?;
    Ok(Node {
        id,
        owner: user,
        content: dynamo::string(item, "content")?,
        tags: dynamo::strings(item, "tags")?,
        keywords: dynamo::strings(item, "keywords")?,
        created_at: time_of(item, "createdAt")?,
        updated_at: time_of(item, "updatedAt")?,
        version: dynamo::number(item, "version")?,
    })
}

fn posting_item(user: UserId, node: NodeId, keyword: &str) -> Item {
    let mut item = key(user, keys::posting(node, keyword));
    item.insert(keys::KEYWORD_KEY.into(), s(keys::keyword(user, keyword)));
    item
}

fn edge_item(user: UserId, edge: &Edge) -> Item {
    let mut item = key(user, keys::edge(edge.source, edge.target));
    item.insert("weight".into(), n(edge.weight));
    item.insert("sharedKeywords".into(), dynamo::string_list(&edge.shared_keywords));
    item
}

fn edge_from(item: &Item) -> Result<Edge, StoreError> {
    let sort_key = dynamo::string(item, keys::SORT_KEY)?;
    let malformed = || StoreError::Malformed { key: sort_key.clone(), problem: "not an edge key".into() };
    Ok(Edge {
        source: keys::node_in(&sort_key).ok_or_else(malformed)?,
        target: keys::edge_target(&sort_key).ok_or_else(malformed)?,
        weight: dynamo::number(item, "weight")?.try_into().unwrap_or(u32::MAX),
        shared_keywords: dynamo::strings(item, "sharedKeywords")?,
    })
}

fn put(item: Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(item)).build().expect("item is set"))
        .build()
}

fn delete(key: Item) -> WriteRequest {
    WriteRequest::builder()
        .delete_request(DeleteRequest::builder().set_key(Some(key)).build().expect("key is set"))
        .build()
}

impl MemoryStore {
    pub fn new(client: Client, table: impl Into<String>, keyword_index: impl Into<String>) -> Self {
        Self { client, table: table.into(), keyword_index: keyword_index.into() }
    }

    fn transact_put(&self, item: Item, condition: Option<(&str, Vec<(&str, AttributeValue)>)>) -> TransactWriteItem {
        let mut builder = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expression, values)) = condition {
            builder = builder.condition_expression(expression);
            for (name, value) in values {
                builder = builder.expression_attribute_values(name, value);
            }
        }
        TransactWriteItem::builder().put(builder.build().expect("table and item are set")).build()
    }

    fn transact_delete(&self, key: Item) -> TransactWriteItem {
        TransactWriteItem::builder()
            .delete(
                Delete::builder().table_name(&self.table).set_key(Some(key)).build().expect("table and key are set"),
            )
            .build()
    }

    /// Stores a new node and its postings in one transaction (at most 51 actions).
    pub async fn create(&self, user: UserId, input: ValidInput, now: OffsetDateTime) -> Result<Node, StoreError> {
        let node = Node {
            id: crate::domain::new_node_id(),
            owner: user,
            keywords: crate::keywords::extract(&input.content),
            content: input.content,
            tags: input.tags,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut actions = vec![self.transact_put(node_item(&node), Some(("attribute_not_exists(sk)", Vec::new())))];
        actions.extend(node.keywords.iter().map(|k| self.transact_put(posting_item(user, node.id, k), None)));
        dynamo::transact_write(&self.client, actions).await.map_err(|e| match e {
            TransactError::Store(e) => e,
            TransactError::ConditionFailed => {
                StoreError::Call { operation: "TransactWriteItems", message: "a fresh node id already existed".into() }
            }
        })?;
        Ok(node)
    }

    pub async fn get(&self, user: UserId, id: NodeId) -> Result<Option<Node>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user, keys::node(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::call("GetItem", e))?;
        output.item.map(|item| node_from(user, &item)).transpose()
    }

    /// The node's edges (one Query, all pages).
    pub async fn edges(&self, user: UserId, id: NodeId) -> Result<Vec<Edge>, StoreError> {
        let items =
            dynamo::query_prefix(&self.client, &self.table, &keys::partition(user), &keys::edges_of(id)).await?;
        items.iter().map(edge_from).collect()
    }

    /// A page of the user's nodes, in id order.
    pub async fn list(
        &self,
        user: UserId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Result<Page, BadCursor>, StoreError> {
        let start = match cursor.map(decode_cursor).transpose() {
            Ok(start) => start,
            Err(bad) => return Ok(Err(bad)),
        };
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PARTITION_KEY)
            .expression_attribute_names("#sk", keys::SORT_KEY)
            .expression_attribute_values(":pk", s(keys::partition(user)))
            .expression_attribute_values(":prefix", s(keys::NODE_PREFIX))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            // Node ids are UUIDv7, ordered by creation time: newest first is the reverse order.
            .scan_index_forward(false);
        if let Some(start) = start {
            request = request.set_exclusive_start_key(Some(key(user, keys::node(start))));
        }
        let output = request.send().await.map_err(|e| StoreError::call("Query", e))?;
        let nodes = output.items().iter().map(|item| node_from(user, item)).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = output
            .last_evaluated_key()
            .and_then(|k| k.get(keys::SORT_KEY))
            .and_then(|v| v.as_s().ok())
            .and_then(|sk| keys::node_in(sk))
            .map(encode_cursor);
        Ok(Ok(Page { nodes, next_cursor }))
    }

    /// Replaces content, tags and keyword postings; keeps id, owner and createdAt; bumps the
    /// version. With `expected`, a node at another version is a conflict; without it, a write
    /// that raced another is retried on the fresh version.
    pub async fn update(
        &self,
        user: UserId,
        id: NodeId,
        input: ValidInput,
        expected: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<Node, UpdateError> {
        for _ in 0..3 {
            let current = self.get(user, id).await?.ok_or(UpdateError::NotFound)?;
            if let Some(expected) = expected.filter(|e| *e != current.version) {
                return Err(UpdateError::Conflict { expected, current: current.version });
            }
            let keywords = crate::keywords::extract(&input.content);
            let updated = Node {
                content: input.content.clone(),
                tags: input.tags.clone(),
                keywords: keywords.clone(),
                updated_at: now.max(current.created_at),
                version: current.version + 1,
                ..current.clone()
            };
            let old: BTreeSet<&String> = current.keywords.iter().collect();
            let new: BTreeSet<&String> = keywords.iter().collect();
            let condition = ("version = :v", vec![(":v", n(current.version))]);
            let mut actions = vec![self.transact_put(node_item(&updated), Some(condition))];
            actions.extend(new.difference(&old).map(|k| self.transact_put(posting_item(user, id, k), None)));
            actions.extend(old.difference(&new).map(|k| self.transact_delete(key(user, keys::posting(id, k)))));
            match dynamo::transact_write(&self.client, actions).await {
                Ok(()) => return Ok(updated),
                Err(TransactError::ConditionFailed) if expected.is_none() => continue,
                Err(TransactError::ConditionFailed) => {
                    let current = self.get(user, id).await?.ok_or(UpdateError::NotFound)?;
                    return Err(UpdateError::Conflict {
                        expected: expected.unwrap_or_default(),
                        current: current.version,
                    });
                }
                Err(TransactError::Store(e)) => return Err(e.into()),
            }
        }
        let current = self.get(user, id).await?.ok_or(UpdateError::NotFound)?;
        Err(UpdateError::Conflict { expected: current.version.saturating_sub(1), current: current.version })
    }

    /// Deletes the node, its postings, and its edges in both directions. Returns false when
    /// there was no such node. The node goes last, so a failed delete can simply be retried.
    pub async fn delete(&self, user: UserId, id: NodeId) -> Result<bool, StoreError> {
        if self.get(user, id).await?.is_none() {
            return Ok(false);
        }
        let partition = keys::partition(user);
        let postings = dynamo::query_prefix(&self.client, &self.table, &partition, &keys::postings_of(id)).await?;
        let edges = self.edges(user, id).await?;
        let mut requests: Vec<WriteRequest> = Vec::with_capacity(postings.len() + 2 * edges.len() + 1);
        for posting in &postings {
            requests.push(delete(key(user, dynamo::string(posting, keys::SORT_KEY)?)));
        }
        for edge in &edges {
            requests.push(delete(key(user, keys::edge(edge.source, edge.target))));
            requests.push(delete(key(user, keys::edge(edge.target, edge.source))));
        }
        dynamo::batch_write(&self.client, &self.table, requests).await?;
        dynamo::batch_write(&self.client, &self.table, vec![delete(key(user, keys::node(id)))]).await?;
        Ok(true)
    }

    /// All of the user's nodes and edges (two Queries, all pages).
    pub async fn graph(&self, user: UserId) -> Result<(Vec<Node>, Vec<Edge>), StoreError> {
        let partition = keys::partition(user);
        let nodes = dynamo::query_prefix(&self.client, &self.table, &partition, keys::NODE_PREFIX).await?;
        let edges = dynamo::query_prefix(&self.client, &self.table, &partition, keys::EDGE_PREFIX).await?;
        Ok((
            nodes.iter().map(|item| node_from(user, item)).collect::<Result<_, _>>()?,
            edges.iter().map(edge_from).collect::<Result<_, _>>()?,
        ))
    }

    /// The user's nodes that have `keyword`, through KeywordIndex (all pages).
    pub async fn nodes_with_keyword(&self, user: UserId, keyword: &str) -> Result<Vec<NodeId>, StoreError> {
        let items = dynamo::query_index(
            &self.client,
            &self.table,
            &self.keyword_index,
            keys::KEYWORD_KEY,
            &keys::keyword(user, keyword),
        )
        .await?;
        Ok(items
            .iter()
            .filter_map(|item| item.get(keys::SORT_KEY).and_then(|v| v.as_s().ok()).and_then(|sk| keys::node_in(sk)))
            .collect())
    }

    /// Makes `node`'s edges exactly `wanted`: writes both directions of each, and deletes both
    /// directions of the edges no longer wanted. Returns how many edges the node now has.
    pub async fn replace_edges(&self, user: UserId, node: NodeId, wanted: &[Edge]) -> Result<usize, StoreError> {
        let existing: BTreeMap<NodeId, Edge> =
            self.edges(user, node).await?.into_iter().map(|e| (e.target, e)).collect();
        let mut requests = Vec::new();
        for edge in wanted {
            if existing.get(&edge.target) == Some(edge) {
                continue;
            }
            let reverse = Edge { source: edge.target, target: edge.source, ..edge.clone() };
            requests.push(put(edge_item(user, edge)));
            requests.push(put(edge_item(user, &reverse)));
        }
        let keep: BTreeSet<NodeId> = wanted.iter().map(|e| e.target).collect();
        for target in existing.keys().filter(|t| !keep.contains(t)) {
            requests.push(delete(key(user, keys::edge(node, *target))));
            requests.push(delete(key(user, keys::edge(*target, node))));
        }
        dynamo::batch_write(&self.client, &self.table, requests).await?;
        Ok(wanted.len())
    }
}

/// Cursors are the last node id, base64url-encoded: opaque to clients, and always turned back
/// into a key inside the caller's own partition.
fn encode_cursor(last: NodeId) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.to_string())
}

fn decode_cursor(cursor: &str) -> Result<NodeId, BadCursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BadCursor)?;
    NodeId::parse(std::str::from_utf8(&bytes).map_err(|_| BadCursor)?).ok_or(BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = crate::domain::new_node_id();
        assert_eq!(decode_cursor(&encode_cursor(id)), Ok(id));
        assert_eq!(decode_cursor("not base64!"), Err(BadCursor));
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("USER#someone-else");
        assert_eq!(decode_cursor(&forged), Err(BadCursor));
    }
}

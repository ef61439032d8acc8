//! MemoryTable: nodes, their keyword postings and their edges, one partition per user.
//! No operation scans; each costs a bounded number of GetItem, Query, UpdateItem, DeleteItem,
//! BatchWriteItem and TransactWriteItems calls (see `keys` for the layout).
//!
//! How the graph's invariants (ARCHITECTURE.md) are kept:
//! - A node and its postings change in one transaction (create: at most 1 + 49 actions; update:
//!   at most 1 + 2 × 49, see `keywords::MAX_KEYWORDS`), conditioned on the version read, so
//!   postings always match the node's keywords and versions only increase.
//! - An edge's two directions are written and deleted in one transaction together with both
//!   nodes' `edgeCount`. Adding one is conditioned on both nodes existing, not being deleted, and
//!   having room under the cap, so no edge lacks its reverse, points at a missing node, or takes
//!   a node over its cap, whatever runs concurrently.
//! - Every edge is what its nodes' keywords give now (`scoring::edge_between`: weight = the
//!   number of keywords both have). A writer computes an edge from the two nodes as read, and
//!   the add, reweigh or keyword-driven removal is conditioned on both nodes still being at the
//!   versions read ([`Versions`]); keywords change only with the version. So an edge write never
//!   commits on keywords that are gone, and an update after it announces NodeUpdated, whose
//!   connect-node run starts after the update, reads the edge, and mends it.
//! - A delete first marks the node `deleting` with the time (`deletingAt`; a tombstone readers
//!   treat as gone and edge writes refuse), then removes its edges pair by pair, and last the
//!   node together with its postings in one transaction. Every step is idempotent, so a delete
//!   that stopped part-way is finished by running it again: the next delete of the node, or,
//!   once the mark is older than [`DELETE_ABANDONED_AFTER`] (no Lambda that set it can still be
//!   running), connect-node when it meets the node and `graph-check --repair`.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};
use futures::stream::{self, StreamExt, TryStreamExt};
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
    search_index: String,
    search_limits: crate::search::SearchLimits,
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

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn key(user: UserId, sort_key: String) -> Item {
    Item::from([(keys::PARTITION_KEY.to_owned(), s(keys::partition(user))), (keys::SORT_KEY.to_owned(), s(sort_key))])
}

pub(crate) fn node_item(node: &Node) -> Item {
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

/// The node attributes only the store manages.
pub(crate) const EDGE_COUNT: &str = "edgeCount";
/// Raised by every write to the node's edges (add, reweigh, remove), never lowered: unlike the
/// count, which an add and a remove put back where it was, it tells a reader that any edge write
/// came between its reads (graph-check's count repair).
pub(crate) const EDGE_WRITES: &str = "edgeWrites";
pub(crate) const DELETING: &str = "deleting";
/// The node's version connect-node last computed the links of (its own event's run, whatever
/// links it found): an import finds by it a memory written but never announced.
pub(crate) const LINKED_VERSION: &str = "linkedVersion";
/// When the delete that set `deleting` began (RFC 3339); marks from before it was kept have none.
const DELETING_AT: &str = "deletingAt";

/// A `deleting` mark older than this belongs to a delete that stopped: Lambda ends every
/// invocation within 15 minutes, so no function that set it can still be working on it. Until
/// then the mark is a delete in progress, which connect-node and graph-check leave to it.
pub const DELETE_ABANDONED_AFTER: time::Duration = time::Duration::minutes(15);

/// A node item as stored: the node, how many edges it has, and whether a delete has begun.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNode {
    pub node: Node,
    /// `None` for an item written before edges were counted; graph-check sets it. Signed: a
    /// count that older data left wrong can go below zero before graph-check mends it.
    pub edge_count: Option<i64>,
    /// `None` until the node's edges are first written.
    pub edge_writes: Option<u64>,
    /// The version connect-node last linked (`None`: it never ran for this node).
    pub linked_version: Option<u64>,
    pub deleting: bool,
    /// When the delete that marked it began; `None` for a mark written before this was kept.
    pub deleting_since: Option<OffsetDateTime>,
}

impl StoredNode {
    /// Whether the node is marked `deleting` by a delete that stopped (see
    /// [`DELETE_ABANDONED_AFTER`]): one the next delete, connect-node or graph-check finishes.
    pub fn abandoned_delete(&self, now: OffsetDateTime) -> bool {
        self.deleting && self.deleting_since.is_none_or(|since| now - since >= DELETE_ABANDONED_AFTER)
    }
}

pub(crate) fn stored_from(user: UserId, item: &Item) -> Result<StoredNode, StoreError> {
    let node = node_from(user, item)?;
    Ok(StoredNode {
        edge_count: match item.get(EDGE_COUNT) {
            None => None,
            Some(AttributeValue::N(count)) => Some(count.parse().map_err(|_| StoreError::Malformed {
                key: keys::node(node.id),
                problem: format!("{EDGE_COUNT} {count:?} is not a whole number"),
            })?),
            Some(_) => {
                return Err(StoreError::Malformed {
                    key: keys::node(node.id),
                    problem: format!("{EDGE_COUNT} is not a number"),
                });
            }
        },
        edge_writes: match item.get(EDGE_WRITES) {
            None => None,
            Some(_) => Some(dynamo::number(item, EDGE_WRITES)?),
        },
        linked_version: match item.get(LINKED_VERSION) {
            None => None,
            Some(_) => Some(dynamo::number(item, LINKED_VERSION)?),
        },
        deleting: dynamo::flag(item, DELETING),
        deleting_since: match item.get(DELETING_AT) {
            None => None,
            Some(_) => Some(time_of(item, DELETING_AT)?),
        },
        node,
    })
}

pub(crate) fn time_of(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
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

pub(crate) fn posting_item(user: UserId, node: NodeId, keyword: &str) -> Item {
    let mut item = key(user, keys::posting(node, keyword));
    item.insert(keys::KEYWORD_KEY.into(), s(keys::keyword(user, keyword)));
    item
}

pub(crate) fn edge_item(user: UserId, edge: &Edge) -> Item {
    let mut item = key(user, keys::edge(edge.source, edge.target));
    item.insert("weight".into(), n(edge.weight));
    item.insert("sharedKeywords".into(), dynamo::string_list(&edge.shared_keywords));
    item
}

pub fn edge_from(item: &Item) -> Result<Edge, StoreError> {
    let sort_key = dynamo::string(item, keys::SORT_KEY)?;
    let malformed = || StoreError::Malformed { key: sort_key.clone(), problem: "not an edge key".into() };
    Ok(Edge {
        source: keys::node_in(&sort_key).ok_or_else(malformed)?,
        target: keys::edge_target(&sort_key).ok_or_else(malformed)?,
        weight: dynamo::number(item, "weight")?.try_into().unwrap_or(u32::MAX),
        shared_keywords: dynamo::strings(item, "sharedKeywords")?,
    })
}

/// What became of an attempt to add an edge pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddEdge {
    Added,
    /// The pair was already there (another run added it).
    Exists,
    /// The node the edge leaves is gone, being deleted, at its cap, or no longer at the version
    /// read.
    SourceUnavailable,
    /// The other node is gone, being deleted, at its cap, or no longer at the version read.
    TargetUnavailable,
}

/// What became of an attempt to remove an edge pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlink {
    Removed,
    /// There was no whole pair (whatever was left of one is removed).
    Absent,
    /// A node was no longer at the version read: nothing was written.
    Moved,
}

/// The versions of an edge's two nodes whose keywords the write was computed from. An edge
/// write conditioned on them commits only while both nodes still have those keywords, so what
/// it stores is what `scoring::edge_between` gives at that moment; a later update bumps the
/// version and announces NodeUpdated, whose connect-node run reads the edge and mends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub source: u64,
    pub target: u64,
}

/// The condition under which a node may gain an edge computed from its keywords at `:version`.
const ROOM_FOR_AN_EDGE: &str = "attribute_exists(sk) AND attribute_not_exists(deleting) \
     AND (attribute_not_exists(edgeCount) OR edgeCount < :max) AND version = :version";

/// Keys one BatchGetItem asks for at most (DynamoDB's limit).
pub const MAX_BATCH_GET: usize = 100;

/// What a search reads of a node: its key, keywords and delete mark (names, as some are
/// reserved words or may become so).
const KEYWORDS_PROJECTION: (&str, &[(&str, &str)]) =
    ("#sk, #keywords, #deleting", &[("#sk", keys::SORT_KEY), ("#keywords", "keywords"), ("#deleting", DELETING)]);

/// A node item's id, and its keywords as [`KEYWORDS_PROJECTION`] reads them (`None` when it is
/// being deleted, or when `item` is only a key).
fn keywords_in(item: &Item) -> Result<(NodeId, Option<Vec<String>>), StoreError> {
    let sort_key = dynamo::string(item, keys::SORT_KEY)?;
    let id = keys::node_in(&sort_key)
        .ok_or_else(|| StoreError::Malformed { key: sort_key.clone(), problem: "no node id in the sort key".into() })?;
    if dynamo::flag(item, DELETING) || !item.contains_key("keywords") {
        return Ok((id, None));
    }
    Ok((id, Some(dynamo::strings(item, "keywords")?)))
}

/// An edge write, counted on a node.
const EDGE_WRITTEN: &str = "edgeWrites = if_not_exists(edgeWrites, :zero) + :one";

impl MemoryStore {
    pub fn new(client: Client, table: impl Into<String>, keyword_index: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            keyword_index: keyword_index.into(),
            search_index: crate::search::SEARCH_INDEX.to_owned(),
            search_limits: crate::search::SearchLimits::default(),
        }
    }

    /// Search with other limits than [`crate::search::SearchLimits::default`] (tests reach a
    /// broad query's path with a few hundred memories).
    pub fn with_search_limits(mut self, limits: crate::search::SearchLimits) -> Self {
        self.search_limits = limits;
        self
    }

    pub fn search_limits(&self) -> crate::search::SearchLimits {
        self.search_limits
    }

    /// The index search reads, when it is not [`crate::search::SEARCH_INDEX`].
    pub fn with_search_index(mut self, name: impl Into<String>) -> Self {
        self.search_index = name.into();
        self
    }

    pub fn search_index(&self) -> &str {
        &self.search_index
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn transact_put(&self, item: Item, condition: Option<&str>) -> TransactWriteItem {
        let builder = Put::builder().table_name(&self.table).set_item(Some(item));
        let builder = match condition {
            Some(expression) => builder.condition_expression(expression),
            None => builder,
        };
        TransactWriteItem::builder().put(builder.build().expect("table and item are set")).build()
    }

    fn transact_delete(&self, key: Item, condition: Option<&str>) -> TransactWriteItem {
        let builder = Delete::builder().table_name(&self.table).set_key(Some(key));
        let builder = match condition {
            Some(expression) => builder.condition_expression(expression),
            None => builder,
        };
        TransactWriteItem::builder().delete(builder.build().expect("table and key are set")).build()
    }

    fn transact_update(
        &self,
        key: Item,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> TransactWriteItem {
        let mut builder = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition);
        for (name, value) in values {
            builder = builder.expression_attribute_values(name, value);
        }
        TransactWriteItem::builder().update(builder.build().expect("table, key and expression are set")).build()
    }

    /// Stores a new node and its postings in one transaction (at most 1 + 49 actions).
    pub async fn create(&self, user: UserId, input: ValidInput, now: OffsetDateTime) -> Result<Node, StoreError> {
        let node = Node {
            id: crate::domain::new_node_id(),
            owner: user,
            keywords: crate::keywords::of_memory(&input.content, &input.tags),
            content: input.content,
            tags: input.tags,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.insert(&node).await.map_err(|e| match e {
            TransactError::Store(e) => e,
            TransactError::ConditionFailed { .. } => {
                StoreError::Call { operation: "TransactWriteItems", message: "a fresh node id already existed".into() }
            }
        })?;
        Ok(node)
    }

    /// Writes a node that has no edges yet, with its postings, in one transaction conditioned
    /// on its id being new (at most 1 + 49 actions).
    pub(crate) async fn insert(&self, node: &Node) -> Result<(), TransactError> {
        let mut item = node_item(node);
        item.insert(EDGE_COUNT.into(), n(0));
        let mut actions = vec![self.transact_put(item, Some("attribute_not_exists(sk)"))];
        actions.extend(node.keywords.iter().map(|k| self.transact_put(posting_item(node.owner, node.id, k), None)));
        dynamo::transact_write(&self.client, actions).await
    }

    /// Removes items by sort key, in transactions of at most 100 unconditioned deletes (each one
    /// all or nothing; the backend links no batch operation, see `delete`).
    pub(crate) async fn remove_all(&self, user: UserId, sort_keys: Vec<String>) -> Result<(), StoreError> {
        let actions: Vec<TransactWriteItem> =
            sort_keys.into_iter().map(|sk| self.transact_delete(key(user, sk), None)).collect();
        for chunk in actions.chunks(dynamo::TRANSACT_LIMIT) {
            dynamo::transact_write(&self.client, chunk.to_vec()).await.map_err(|e| match e {
                TransactError::Store(e) => e,
                TransactError::ConditionFailed { .. } => StoreError::Call {
                    operation: "TransactWriteItems",
                    message: "an unconditioned delete reported a failed condition".into(),
                },
            })?;
        }
        Ok(())
    }

    /// The node item, tombstoned or not (strongly consistent).
    pub async fn get_stored(&self, user: UserId, id: NodeId) -> Result<Option<StoredNode>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user, keys::node(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::call("GetItem", e))?;
        output.item.map(|item| stored_from(user, &item)).transpose()
    }

    /// The node, unless it is missing or being deleted.
    pub async fn get(&self, user: UserId, id: NodeId) -> Result<Option<Node>, StoreError> {
        Ok(self.get_stored(user, id).await?.filter(|s| !s.deleting).map(|s| s.node))
    }

    /// The nodes `ids`, each `None` when missing or being deleted.
    pub async fn get_many(&self, user: UserId, ids: &[NodeId]) -> Result<Vec<(NodeId, Option<Node>)>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for item in self.batch_get_nodes(user, ids, false).await? {
            let stored = stored_from(user, &item)?;
            if !stored.deleting {
                found.insert(stored.node.id, stored.node);
            }
        }
        Ok(ids.iter().map(|id| (*id, found.remove(id))).collect())
    }

    /// The keywords of the nodes `ids`, each `None` when missing or being deleted: only what a
    /// search matches, not the content.
    pub async fn keywords_of(
        &self,
        user: UserId,
        ids: &[NodeId],
    ) -> Result<Vec<(NodeId, Option<Vec<String>>)>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for item in self.batch_get_nodes(user, ids, true).await? {
            let (id, keywords) = keywords_in(&item)?;
            found.insert(id, keywords);
        }
        Ok(ids.iter().map(|id| (*id, found.remove(id).flatten())).collect())
    }

    /// The Query of up to `limit` of the user's nodes, newest first, after the node `after`
    /// (from the newest without it).
    fn newest_nodes(
        &self,
        user: UserId,
        limit: usize,
        after: Option<NodeId>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PARTITION_KEY)
            .expression_attribute_names("#sk", keys::SORT_KEY)
            .expression_attribute_values(":pk", s(keys::partition(user)))
            .expression_attribute_values(":prefix", s(keys::NODE_PREFIX))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            // Node ids are UUIDv7, ordered by creation time: newest first is the reverse order.
            .scan_index_forward(false)
            // A client that loads again takes a memory missing from the page as deleted: the page
            // holds every write that succeeded before it was read, as graph-data's do.
            .consistent_read(true)
            .set_exclusive_start_key(after.map(|after| key(user, keys::node(after))))
    }

    /// The keywords of up to `limit` of the user's nodes, newest first, after the node `after`
    /// (from the newest without it), `None` for a node being deleted; and the last node the
    /// Query looked at, `None` when no node is older. One strongly consistent Query.
    #[allow(clippy::type_complexity)]
    pub async fn newest_keywords(
        &self,
        user: UserId,
        limit: usize,
        after: Option<NodeId>,
    ) -> Result<(Vec<(NodeId, Option<Vec<String>>)>, Option<NodeId>), StoreError> {
        let (projection, names) = KEYWORDS_PROJECTION;
        let mut request = self.newest_nodes(user, limit, after).projection_expression(projection);
        for (name, attribute) in names {
            request = request.expression_attribute_names(*name, *attribute);
        }
        let output = request.send().await.map_err(|e| StoreError::call("Query", e))?;
        let nodes = output.items().iter().map(keywords_in).collect::<Result<Vec<_>, _>>()?;
        // A key that does not parse must not read as "no older node".
        let last = match output.last_evaluated_key() {
            None => None,
            Some(last) => Some(keywords_in(last)?.0),
        };
        Ok((nodes, last))
    }

    /// The nodes `ids` (whole, or only what [`KEYWORDS_PROJECTION`] names): strongly consistent
    /// BatchGetItems of [`MAX_BATCH_GET`] keys, keys left unprocessed asked again under backoff.
    async fn batch_get_nodes(
        &self,
        user: UserId,
        ids: &[NodeId],
        keywords_only: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(ids.len());
        // Each id once (BatchGetItem refuses duplicates), at most MAX_BATCH_GET a call.
        let ids: Vec<NodeId> = ids.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
        for chunk in ids.chunks(MAX_BATCH_GET) {
            items.extend(self.batch_get_chunk(user, chunk, keywords_only).await?);
        }
        Ok(items)
    }

    async fn batch_get_chunk(
        &self,
        user: UserId,
        ids: &[NodeId],
        keywords_only: bool,
    ) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut items = Vec::with_capacity(ids.len());
        let mut keys_left: Vec<Item> = ids.iter().map(|id| key(user, keys::node(*id))).collect();
        let mut attempt = 0;
        while !keys_left.is_empty() {
            if attempt == dynamo::UNPROCESSED_ATTEMPTS {
                return Err(StoreError::Unprocessed { operation: "BatchGetItem", remaining: keys_left.len() });
            }
            if attempt > 0 {
                tokio::time::sleep(dynamo::backoff(attempt)).await;
            }
            attempt += 1;
            let mut request =
                KeysAndAttributes::builder().set_keys(Some(std::mem::take(&mut keys_left))).consistent_read(true);
            if keywords_only {
                let (projection, names) = KEYWORDS_PROJECTION;
                request = request.projection_expression(projection);
                for (name, attribute) in names {
                    request = request.expression_attribute_names(*name, *attribute);
                }
            }
            let request = request
                .build()
                .map_err(|e| StoreError::Malformed { key: keys::partition(user), problem: e.to_string() })?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| StoreError::call("BatchGetItem", e))?;
            if let Some(found) = output.responses().and_then(|r| r.get(&self.table)) {
                items.extend(found.iter().cloned());
            }
            keys_left = output
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
        }
        Ok(items)
    }

    /// The node's edges (one Query, all pages).
    pub async fn edges(&self, user: UserId, id: NodeId) -> Result<Vec<Edge>, StoreError> {
        let items =
            dynamo::query_prefix(&self.client, &self.table, &keys::partition(user), &keys::edges_of(id)).await?;
        items.iter().map(edge_from).collect()
    }

    /// A page of the user's nodes, newest first. Nodes being deleted are left out, so a page
    /// may hold fewer than `limit` while more follow.
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
        let output = self.newest_nodes(user, limit, start).send().await.map_err(|e| StoreError::call("Query", e))?;
        let mut nodes = Vec::with_capacity(output.items().len());
        for item in output.items() {
            let stored = stored_from(user, item)?;
            if !stored.deleting {
                nodes.push(stored.node);
            }
        }
        let next_cursor = output
            .last_evaluated_key()
            .and_then(|k| k.get(keys::SORT_KEY))
            .and_then(|v| v.as_s().ok())
            .and_then(|sk| keys::node_in(sk))
            .map(encode_cursor);
        Ok(Ok(Page { nodes, next_cursor }))
    }

    /// Replaces content, tags and keyword postings; keeps id, owner and createdAt; bumps the
    /// version. One transaction (at most 99 actions), conditioned on the version read and on
    /// the node not being deleted. With `expected`, a node at another version is a conflict;
    /// without it, a write that raced another is retried on the fresh version.
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
            let keywords = crate::keywords::of_memory(&input.content, &input.tags);
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
            let mut actions = vec![self.transact_update(
                key(user, keys::node(id)),
                "SET content = :content, tags = :tags, keywords = :keywords, updatedAt = :updated, version = :next",
                "version = :read AND attribute_not_exists(deleting)",
                vec![
                    (":content", s(updated.content.clone())),
                    (":tags", dynamo::string_list(&updated.tags)),
                    (":keywords", dynamo::string_list(&updated.keywords)),
                    (":updated", s(crate::domain::rfc3339(updated.updated_at))),
                    (":next", n(updated.version)),
                    (":read", n(current.version)),
                ],
            )];
            actions.extend(new.difference(&old).map(|k| self.transact_put(posting_item(user, id, k), None)));
            actions.extend(old.difference(&new).map(|k| self.transact_delete(key(user, keys::posting(id, k)), None)));
            match dynamo::transact_write(&self.client, actions).await {
                Ok(()) => return Ok(updated),
                Err(TransactError::ConditionFailed { .. }) => {
                    let current = self.get(user, id).await?.ok_or(UpdateError::NotFound)?;
                    if let Some(expected) = expected {
                        return Err(UpdateError::Conflict { expected, current: current.version });
                    }
                }
                Err(TransactError::Store(e)) => return Err(e.into()),
            }
        }
        let current = self.get(user, id).await?.ok_or(UpdateError::NotFound)?;
        Err(UpdateError::Conflict { expected: current.version.saturating_sub(1), current: current.version })
    }

    /// Deletes the node, its postings, and its edges in both directions; returns the nodes it
    /// was linked to, or `None` when there was no such node. The node is marked `deleting` (at
    /// `now`) first and removed last, so nothing links to the node in between, and a delete
    /// that stopped part-way is finished by running it again: the next delete of the node, or
    /// connect-node and graph-check once the mark is abandoned.
    pub async fn delete(
        &self,
        user: UserId,
        id: NodeId,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<NodeId>>, StoreError> {
        // Single-action transactions rather than UpdateItem and DeleteItem: the same writes, and
        // the backend links two fewer SDK operations (its zip is at the size budget). Marking
        // again dates the mark anew: this delete is in progress now.
        let mark = self.transact_update(
            key(user, keys::node(id)),
            "SET deleting = :yes, deletingAt = :now",
            "attribute_exists(sk)",
            vec![(":yes", AttributeValue::Bool(true)), (":now", s(crate::domain::rfc3339(now)))],
        );
        match dynamo::transact_write(&self.client, vec![mark]).await {
            Ok(()) => {}
            Err(TransactError::ConditionFailed { .. }) => return Ok(None),
            Err(TransactError::Store(e)) => return Err(e),
        }
        let mut unlinked = BTreeSet::new();
        // Each round removes every edge it saw; a concurrent add cannot commit after the mark,
        // so the second round normally finds none. The bound turns a surprise into an error.
        for _ in 0..4 {
            let edges = self.edges(user, id).await?;
            if edges.is_empty() {
                let partition = keys::partition(user);
                let postings =
                    dynamo::query_prefix(&self.client, &self.table, &partition, &keys::postings_of(id)).await?;
                let mut removals = postings
                    .iter()
                    .map(|p| dynamo::string(p, keys::SORT_KEY).map(|sk| self.transact_delete(key(user, sk), None)))
                    .collect::<Result<Vec<_>, _>>()?;
                // The node goes in one transaction with its postings (at most 49 when the
                // invariants hold; older data with more loses the surplus in transactions of
                // 100 first). Transactions rather than BatchWriteItem: the backend then links
                // no batch operation, about 15 KB of its zip.
                while removals.len() >= dynamo::TRANSACT_LIMIT {
                    let surplus: Vec<_> = removals.drain(..dynamo::TRANSACT_LIMIT).collect();
                    match dynamo::transact_write(&self.client, surplus).await {
                        Ok(()) | Err(TransactError::ConditionFailed { .. }) => {}
                        Err(TransactError::Store(e)) => return Err(e),
                    }
                }
                removals.push(self.transact_delete(key(user, keys::node(id)), Some("attribute_exists(deleting)")));
                match dynamo::transact_write(&self.client, removals).await {
                    // Gone already: a concurrent delete of the same node finished first, postings
                    // and all.
                    Ok(()) | Err(TransactError::ConditionFailed { .. }) => {}
                    Err(TransactError::Store(e)) => return Err(e),
                }
                return Ok(Some(unlinked.into_iter().collect()));
            }
            let removed: Vec<NodeId> = stream::iter(edges)
                .map(|edge| async move { self.remove_edge(user, id, edge.target).await.map(|_| edge.target) })
                .buffer_unordered(EDGE_WRITE_PARALLELISM)
                .try_collect()
                .await?;
            unlinked.extend(removed);
        }
        Err(StoreError::Call {
            operation: "TransactWriteItems",
            message: format!("node {id} still had edges after four rounds of removing them"),
        })
    }

    /// The user's nodes that have `keyword`, through KeywordIndex (all pages). The index is
    /// eventually consistent: callers confirm what they act on with a conditional write.
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

    /// Adds `edge` in both directions, counting it on both nodes, if both exist at `versions`,
    /// neither is being deleted, and both have fewer than `max_edges` edges. One transaction of 4
    /// actions.
    pub async fn add_edge(
        &self,
        user: UserId,
        edge: &Edge,
        versions: Versions,
        max_edges: usize,
    ) -> Result<AddEdge, StoreError> {
        let reverse = Edge { source: edge.target, target: edge.source, ..edge.clone() };
        let count = |node: NodeId, version: u64| {
            self.transact_update(
                key(user, keys::node(node)),
                &format!("SET edgeCount = if_not_exists(edgeCount, :zero) + :one, {EDGE_WRITTEN}"),
                ROOM_FOR_AN_EDGE,
                vec![(":zero", n(0)), (":one", n(1)), (":max", n(max_edges)), (":version", n(version))],
            )
        };
        let actions = vec![
            self.transact_put(edge_item(user, edge), Some("attribute_not_exists(sk)")),
            self.transact_put(edge_item(user, &reverse), Some("attribute_not_exists(sk)")),
            count(edge.source, versions.source),
            count(edge.target, versions.target),
        ];
        match dynamo::transact_write(&self.client, actions).await {
            Ok(()) => Ok(AddEdge::Added),
            Err(TransactError::ConditionFailed { failed }) if failed.iter().any(|i| *i < 2) => Ok(AddEdge::Exists),
            Err(TransactError::ConditionFailed { failed }) if failed.contains(&2) => Ok(AddEdge::SourceUnavailable),
            Err(TransactError::ConditionFailed { .. }) => Ok(AddEdge::TargetUnavailable),
            Err(TransactError::Store(e)) => Err(e),
        }
    }

    /// Rewrites the weight and shared keywords of an existing pair, both directions at once, if
    /// both nodes are at `versions` and neither is being deleted. Returns false when nothing was
    /// written: the pair is gone, or a node moved on (its own connect-node run mends the edge).
    pub async fn reweigh_edge(&self, user: UserId, edge: &Edge, versions: Versions) -> Result<bool, StoreError> {
        let reverse = Edge { source: edge.target, target: edge.source, ..edge.clone() };
        let written = |node: NodeId, version: u64| {
            self.transact_update(
                key(user, keys::node(node)),
                &format!("SET {EDGE_WRITTEN}"),
                "version = :version AND attribute_not_exists(deleting)",
                vec![(":zero", n(0)), (":one", n(1)), (":version", n(version))],
            )
        };
        let actions = vec![
            self.transact_put(edge_item(user, edge), Some("attribute_exists(sk)")),
            self.transact_put(edge_item(user, &reverse), Some("attribute_exists(sk)")),
            written(edge.source, versions.source),
            written(edge.target, versions.target),
        ];
        match dynamo::transact_write(&self.client, actions).await {
            Ok(()) => Ok(true),
            Err(TransactError::ConditionFailed { .. }) => Ok(false),
            Err(TransactError::Store(e)) => Err(e),
        }
    }

    /// Removes the edge between `a` and `b` in both directions and uncounts it on both nodes,
    /// in one transaction, whatever the nodes hold (a delete, an edge to a missing node). When
    /// there was no whole pair, whatever is left of one (a lone direction, from data written
    /// before pairs were atomic) is removed too.
    pub async fn remove_edge(&self, user: UserId, a: NodeId, b: NodeId) -> Result<Unlink, StoreError> {
        self.unlink(user, a, b, None).await
    }

    /// Removes the pair like [`Self::remove_edge`], but only while `a` and `b` are at `versions`:
    /// a removal decided from their keywords never undoes an edge that a newer version of either
    /// supports.
    pub async fn remove_edge_at(
        &self,
        user: UserId,
        a: NodeId,
        b: NodeId,
        versions: Versions,
    ) -> Result<Unlink, StoreError> {
        self.unlink(user, a, b, Some(versions)).await
    }

    async fn unlink(
        &self,
        user: UserId,
        a: NodeId,
        b: NodeId,
        versions: Option<Versions>,
    ) -> Result<Unlink, StoreError> {
        let actions = vec![
            self.transact_delete(key(user, keys::edge(a, b)), Some("attribute_exists(sk)")),
            self.transact_delete(key(user, keys::edge(b, a)), Some("attribute_exists(sk)")),
            self.uncount(user, a, versions.map(|v| v.source)),
            self.uncount(user, b, versions.map(|v| v.target)),
        ];
        match dynamo::transact_write(&self.client, actions).await {
            Ok(()) => Ok(Unlink::Removed),
            // With versions, a node condition that failed means it moved on (or is gone, and
            // then its delete took its edges): leave the pair to the run that sees it next.
            Err(TransactError::ConditionFailed { failed }) if versions.is_some() && failed.iter().any(|i| *i >= 2) => {
                Ok(Unlink::Moved)
            }
            Err(TransactError::ConditionFailed { .. }) => {
                self.remove_lone_direction(user, a, b).await?;
                self.remove_lone_direction(user, b, a).await?;
                Ok(Unlink::Absent)
            }
            Err(TransactError::Store(e)) => Err(e),
        }
    }

    /// Uncounts an edge on `node`, if it exists (and is at `version`, when given).
    fn uncount(&self, user: UserId, node: NodeId, version: Option<u64>) -> TransactWriteItem {
        let mut values = vec![(":zero", n(0)), (":one", n(1))];
        let condition = match version {
            Some(version) => {
                values.push((":version", n(version)));
                "attribute_exists(sk) AND version = :version"
            }
            None => "attribute_exists(sk)",
        };
        self.transact_update(
            key(user, keys::node(node)),
            &format!("SET edgeCount = if_not_exists(edgeCount, :one) - :one, {EDGE_WRITTEN}"),
            condition,
            values,
        )
    }

    /// Deletes the edge `from → to` if it is there, uncounting it on `from` when `from` exists.
    async fn remove_lone_direction(&self, user: UserId, from: NodeId, to: NodeId) -> Result<(), StoreError> {
        let actions = vec![
            self.transact_delete(key(user, keys::edge(from, to)), Some("attribute_exists(sk)")),
            self.uncount(user, from, None),
        ];
        match dynamo::transact_write(&self.client, actions).await {
            Ok(()) => Ok(()),
            Err(TransactError::ConditionFailed { failed }) if failed == [1] => {
                // The node is gone: the edge is all that is left of it here.
                let remove = self.transact_delete(key(user, keys::edge(from, to)), None);
                match dynamo::transact_write(&self.client, vec![remove]).await {
                    Ok(()) | Err(TransactError::ConditionFailed { .. }) => Ok(()),
                    Err(TransactError::Store(e)) => Err(e),
                }
            }
            Err(TransactError::ConditionFailed { .. }) => Ok(()),
            Err(TransactError::Store(e)) => Err(e),
        }
    }
}

/// Reads and writes of one count repair at most: a node whose edges keep changing meanwhile is
/// left for the next check rather than retried on end.
pub const COUNT_REPAIR_ATTEMPTS: u32 = 3;

/// graph-check's repairs: each write is conditioned on what it was decided from, so a repair
/// running beside the functions never undoes what they wrote meanwhile.
impl MemoryStore {
    fn transact_check(&self, key: Item, condition: &str, values: Vec<(&str, AttributeValue)>) -> TransactWriteItem {
        let mut builder =
            ConditionCheck::builder().table_name(&self.table).set_key(Some(key)).condition_expression(condition);
        for (name, value) in values {
            builder = builder.expression_attribute_values(name, value);
        }
        TransactWriteItem::builder().condition_check(builder.build().expect("table, key and condition are set")).build()
    }

    /// Writes the posting of `keyword` for `node` if the node is still at `version` (whose
    /// keywords hold it) and not being deleted. Returns whether it wrote.
    pub async fn put_posting(
        &self,
        user: UserId,
        node: NodeId,
        keyword: &str,
        version: u64,
    ) -> Result<bool, StoreError> {
        let actions = vec![
            self.transact_put(posting_item(user, node, keyword), None),
            self.transact_check(
                key(user, keys::node(node)),
                "version = :version AND attribute_not_exists(deleting)",
                vec![(":version", n(version))],
            ),
        ];
        self.repair(actions).await
    }

    /// Deletes the posting of `keyword` for `node` if the node is still at `version` (whose
    /// keywords lack it), or, with `None`, if the node does not exist. Returns whether it wrote.
    pub async fn delete_posting(
        &self,
        user: UserId,
        node: NodeId,
        keyword: &str,
        version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let node_key = key(user, keys::node(node));
        let check = match version {
            Some(version) => self.transact_check(
                node_key,
                "version = :version AND attribute_not_exists(deleting)",
                vec![(":version", n(version))],
            ),
            None => self.transact_check(node_key, "attribute_not_exists(sk)", Vec::new()),
        };
        let actions = vec![self.transact_delete(key(user, keys::posting(node, keyword)), None), check];
        self.repair(actions).await
    }

    /// Sets the node's `edgeCount` to the number of its edge items. The node is read first, then
    /// its edges, and the write is conditioned on the count and `edgeWrites` read: an edge write
    /// after the node read raises `edgeWrites` (the count alone could be back where it was after
    /// an add and a remove), so the write fails rather than store a count a link or unlink made
    /// meanwhile has changed, and the repair reads again, at most [`COUNT_REPAIR_ATTEMPTS`] times
    /// with backoff. Returns whether the count is right as far as the last reads tell.
    pub async fn repair_edge_count(&self, user: UserId, node: NodeId) -> Result<bool, StoreError> {
        for attempt in 0..COUNT_REPAIR_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(dynamo::backoff(attempt)).await;
            }
            let Some(stored) = self.get_stored(user, node).await? else { return Ok(true) };
            let actual = i64::try_from(self.edges(user, node).await?.len()).unwrap_or(i64::MAX);
            if stored.edge_count == Some(actual) {
                return Ok(true);
            }
            let mut values = vec![(":count", n(actual))];
            let count_read = match stored.edge_count {
                Some(count) => {
                    values.push((":read", n(count)));
                    "edgeCount = :read"
                }
                None => "attribute_not_exists(edgeCount)",
            };
            let writes_read = match stored.edge_writes {
                Some(writes) => {
                    values.push((":writes", n(writes)));
                    "edgeWrites = :writes"
                }
                None => "attribute_not_exists(edgeWrites)",
            };
            let set = self.transact_update(
                key(user, keys::node(node)),
                "SET edgeCount = :count",
                &format!("{count_read} AND {writes_read}"),
                values,
            );
            if self.repair(vec![set]).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Records that connect-node computed the links of `node` at `version` (see
    /// [`LINKED_VERSION`]); nothing when the node is gone or being deleted.
    pub async fn mark_linked(&self, user: UserId, node: NodeId, version: u64) -> Result<(), StoreError> {
        let set = self.transact_update(
            key(user, keys::node(node)),
            &format!("SET {LINKED_VERSION} = :version"),
            &format!("attribute_exists({}) AND attribute_not_exists({DELETING})", keys::SORT_KEY),
            vec![(":version", n(version))],
        );
        self.repair(vec![set]).await.map(|_| ())
    }

    /// Runs a repair's transaction: `false` when its conditions no longer held.
    async fn repair(&self, actions: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match dynamo::transact_write(&self.client, actions).await {
            Ok(()) => Ok(true),
            Err(TransactError::ConditionFailed { .. }) => Ok(false),
            Err(TransactError::Store(e)) => Err(e),
        }
    }
}

/// Edge transactions in flight at once for one node.
pub const EDGE_WRITE_PARALLELISM: usize = 8;

/// A cursor is the last node id of a page: any UUID is a valid place to resume (the next page
/// starts after it), so the OpenAPI document can say `format: uuid` and mean it. Keys are always
/// built inside the caller's partition, so a cursor reaches nothing of another user's.
pub(crate) fn encode_cursor(last: NodeId) -> String {
    last.to_string()
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<NodeId, BadCursor> {
    NodeId::parse(cursor).ok_or(BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_anything_but_a_node_id() {
        let id = crate::domain::new_node_id();
        assert_eq!(decode_cursor(&encode_cursor(id)), Ok(id));
        for bad in ["not a cursor", "USER#someone-else", "N#6f1c1f8e-3a4b-4c5d-8e9f-0a1b2c3d4e5f", ""] {
            assert_eq!(decode_cursor(bad), Err(BadCursor), "{bad}");
        }
    }
}

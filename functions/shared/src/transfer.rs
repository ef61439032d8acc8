//! A user's memories moved out and in, and a user removed: export (`brain2_api::Export`), import
//! and account deletion, over the user's partition of MemoryTable.
//!
//! Import is idempotent and never half-writes a memory:
//! - the whole body is read and checked before anything is written (a bad memory is named, and
//!   nothing is stored);
//! - each memory keeps the id its export gave it (notes without one get an id derived from their
//!   path and content, see [`derived_id`]), and is written with its postings in one transaction
//!   conditioned on that id being new: a memory that is there already is left as it is and
//!   counted, so the same import twice adds nothing, and an import that stopped part-way (a
//!   timeout, a lost connection) is finished by sending it again;
//! - the same memory twice in one import is written once; two different memories with one id
//!   refuse the import, naming both ([`distinct`]);
//! - keywords are computed from content and tags as on every write; links are made by
//!   connect-node from the NodeCreated event each new memory announces, as for any memory. The
//!   caller announces each memory as soon as it is written, and [`MemoryStore::import_one`]
//!   finds those an earlier, cut-short import wrote but never got linked, to be announced again.

use std::collections::{BTreeMap, BTreeSet};

use brain2_api::export::{ExportedLink, ExportedMemory, MAX_IMPORT_MEMORIES, each_id_once};
use brain2_api::{AccountDeleted, Export};
use time::OffsetDateTime;

use crate::domain::{self, Node, NodeId, UserId};
use crate::dynamo::{self, StoreError, TransactError};
use crate::keys;
use crate::memory::{self, MemoryStore};

/// Memories written (and announced) at once by an import.
pub const IMPORT_PARALLELISM: usize = 8;

/// A memory an import will write, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Importable {
    pub id: NodeId,
    pub content: String,
    pub tags: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

/// What importing one memory found.
#[derive(Debug, Clone, PartialEq)]
pub enum Imported {
    /// Written now: to be announced (NodeCreated), so that connect-node links it.
    Created(Node),
    /// There already, and connect-node has written its links.
    Present,
    /// There already, but connect-node never ran for it (`linkedVersion` unset; another
    /// memory's run may have linked it, which does not count): an earlier import stopped between
    /// writing and announcing it, or its event is still on its way. Announced again;
    /// connect-node recomputes a memory's links from what is stored, so a second run changes
    /// nothing.
    Unlinked(Node),
    /// There, but being deleted (or deleted since): importing it again once the delete is done
    /// brings it back; left alone now, the delete would remove it after the import said it was
    /// there.
    BeingDeleted,
}

/// An import that was refused before anything was written, and why (safe to show the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImportRefused(pub String);

fn parse_time(text: &str, what: &str) -> Result<OffsetDateTime, ImportRefused> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|_| ImportRefused(format!("{what} {text:?} is not an RFC 3339 date-time")))
}

/// The memories of an export document (`brain2_api::Export`), checked as the API checks a
/// memory: every problem is named by its place (`memories[3].tags[0]`), and one refuses all.
pub fn from_export(body: &[u8]) -> Result<Vec<Importable>, ImportRefused> {
    let export: Export = serde_json::from_slice(body)
        .map_err(|e| ImportRefused(format!("the body is not a Brain2 export document: {e}")))?;
    if export.format != brain2_api::export::EXPORT_FORMAT {
        return Err(ImportRefused(format!(
            "format is {:?}; expected {:?}",
            export.format,
            brain2_api::export::EXPORT_FORMAT
        )));
    }
    if export.version != brain2_api::export::EXPORT_VERSION {
        return Err(ImportRefused(format!(
            "version {} is not one this API reads (it reads {})",
            export.version,
            brain2_api::export::EXPORT_VERSION
        )));
    }
    // Read only to check it: the document's own time says when it was taken, nothing more.
    parse_time(&export.exported_at, "exportedAt")?;
    bounded(export.memories.len())?;
    let memories = export
        .memories
        .into_iter()
        .enumerate()
        .map(|(i, memory)| {
            let place = format!("memories[{i}]");
            let input = domain::NodeInput { content: memory.content, tags: memory.tags }
                .validate()
                .map_err(|e| ImportRefused(format!("{place}: {}", e.0)))?;
            if memory.version == 0 || memory.version > brain2_api::export::MAX_MEMORY_VERSION {
                return Err(ImportRefused(format!(
                    "{place}.version is {}; it must be between 1 and {}",
                    memory.version,
                    brain2_api::export::MAX_MEMORY_VERSION
                )));
            }
            let created_at = parse_time(&memory.created_at, &format!("{place}.createdAt"))?;
            let updated_at = parse_time(&memory.updated_at, &format!("{place}.updatedAt"))?;
            let memory = Importable {
                id: memory.id,
                content: input.content,
                tags: input.tags,
                created_at,
                updated_at: updated_at.max(created_at),
                version: memory.version,
            };
            Ok((place, memory))
        })
        .collect::<Result<Vec<_>, ImportRefused>>()?;
    distinct(memories)
}

/// The memories of an import, by their places, each id once ([`each_id_once`]): two different
/// memories with one id (a note copied, then edited, keeping its `id:`) refuse the import,
/// naming both places.
pub fn distinct(memories: Vec<(String, Importable)>) -> Result<Vec<Importable>, ImportRefused> {
    let places: Vec<String> = memories.iter().map(|(place, _)| place.clone()).collect();
    let kept = each_id_once(memories, |(_, m)| m.id, |(_, a), (_, b)| a == b).map_err(|same| {
        ImportRefused(format!(
            "{} and {} have the same id {} but differ; remove the id from one of them (it is then imported as a \
             memory of its own)",
            places[same.earlier], places[same.later], same.id
        ))
    })?;
    Ok(kept.into_iter().map(|(_, memory)| memory).collect())
}

/// Refuses an import of more memories than one request may write.
pub fn bounded(count: usize) -> Result<(), ImportRefused> {
    if count > MAX_IMPORT_MEMORIES {
        return Err(ImportRefused(format!(
            "the import holds {count} memories; one import takes at most {MAX_IMPORT_MEMORIES} (send it in parts: \
             importing is idempotent)"
        )));
    }
    Ok(())
}

/// An id for a note that has none: a UUIDv7 whose time is the note's creation (so the list puts
/// it where it belongs) and whose other bits are a SHA-256 of its path and content, so the same
/// note gives the same id on every import.
pub fn derived_id(created_at: OffsetDateTime, path: &str, content: &str) -> NodeId {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    digest.update(path.as_bytes());
    digest.update(&[0]);
    digest.update(content.as_bytes());
    let hash = digest.finish();
    let millis = u64::try_from(created_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut random = [0u8; 10];
    random.copy_from_slice(&hash.as_ref()[..10]);
    NodeId(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
}

impl MemoryStore {
    /// Every memory of the user with its links, oldest first: two Queries of the partition (its
    /// nodes, then its edges), both read to the last page. Memories being deleted are left out.
    pub async fn export(&self, user: UserId, now: OffsetDateTime) -> Result<Export, StoreError> {
        let partition = keys::partition(user);
        let (node_items, edge_items) = tokio::try_join!(
            dynamo::query_prefix(self.client(), self.table(), &partition, keys::NODE_PREFIX),
            dynamo::query_prefix(self.client(), self.table(), &partition, keys::EDGE_PREFIX),
        )?;
        let mut links: BTreeMap<NodeId, Vec<ExportedLink>> = BTreeMap::new();
        for item in &edge_items {
            let edge = memory::edge_from(item)?;
            links.entry(edge.source).or_default().push(ExportedLink {
                target: edge.target,
                weight: edge.weight,
                shared_keywords: edge.shared_keywords,
            });
        }
        let mut memories = Vec::with_capacity(node_items.len());
        for item in &node_items {
            let stored = memory::stored_from(user, item)?;
            if stored.deleting {
                continue;
            }
            memories.push(exported(&stored.node, links.remove(&stored.node.id).unwrap_or_default()));
        }
        // A link to a memory that is being deleted goes with it.
        let live: BTreeSet<NodeId> = memories.iter().map(|m| m.id).collect();
        for memory in &mut memories {
            memory.links.retain(|link| live.contains(&link.target));
        }
        Ok(Export::new(domain::rfc3339(now), memories))
    }

    /// Writes one imported memory and its postings in one transaction, if its id is new.
    /// Returns the node when it was written, `None` when the id was there already.
    pub async fn put_imported(&self, user: UserId, memory: &Importable) -> Result<Option<Node>, StoreError> {
        let node = Node {
            id: memory.id,
            owner: user,
            keywords: crate::keywords::of_memory(&memory.content, &memory.tags),
            content: memory.content.clone(),
            tags: memory.tags.clone(),
            created_at: memory.created_at,
            updated_at: memory.updated_at,
            version: memory.version,
        };
        match self.insert(&node).await {
            Ok(()) => Ok(Some(node)),
            Err(TransactError::ConditionFailed { .. }) => Ok(None),
            Err(TransactError::Store(e)) => Err(e),
        }
    }

    /// Writes one memory of an import (already checked) with its postings, unless its id is
    /// there already; says what it found. An import announces what it wrote one memory at a
    /// time, so one cut short (a timeout, a failed write) leaves nothing written and never
    /// announced but what [`Imported::Unlinked`] finds again when the import is sent again.
    pub async fn import_one(&self, user: UserId, memory: &Importable) -> Result<Imported, StoreError> {
        if let Some(node) = self.put_imported(user, memory).await? {
            return Ok(Imported::Created(node));
        }
        Ok(match self.get_stored(user, memory.id).await? {
            // Deleted since the condition failed: the next import brings it back.
            None => Imported::BeingDeleted,
            Some(stored) if stored.deleting => Imported::BeingDeleted,
            Some(stored) if stored.linked_version.is_none() => Imported::Unlinked(stored.node),
            Some(_) => Imported::Present,
        })
    }

    /// Removes every item of the user's partition: nodes, edges and postings, 100 at a time,
    /// reading the partition again until it is empty (a link connect-node was writing meanwhile
    /// is removed by the next round). Counts what it removed by kind.
    pub async fn delete_partition(&self, user: UserId) -> Result<AccountDeleted, StoreError> {
        let partition = keys::partition(user);
        let mut deleted = AccountDeleted::default();
        for _ in 0..PARTITION_ROUNDS {
            let items = dynamo::query_partition(self.client(), self.table(), &partition).await?;
            if items.is_empty() {
                return Ok(deleted);
            }
            let mut sort_keys = Vec::with_capacity(items.len());
            for item in &items {
                let sort_key = dynamo::string(item, keys::SORT_KEY)?;
                match sort_key.get(..2) {
                    Some(keys::NODE_PREFIX) => deleted.nodes += 1,
                    Some(keys::EDGE_PREFIX) => deleted.edges += 1,
                    Some(keys::POSTING_PREFIX) => deleted.postings += 1,
                    _ => deleted.other_items += 1,
                }
                sort_keys.push(sort_key);
            }
            self.remove_all(user, sort_keys).await?;
        }
        Err(StoreError::Call {
            operation: "TransactWriteItems",
            message: format!("the partition still had items after {PARTITION_ROUNDS} rounds of deleting them"),
        })
    }
}

impl MemoryStore {
    /// Whether the user's partition holds no item at all (one strongly consistent Query of one
    /// item): what [`MemoryStore::delete_partition`] leaves once it is done.
    pub async fn partition_is_empty(&self, user: UserId) -> Result<bool, StoreError> {
        let output = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PARTITION_KEY)
            .expression_attribute_values(":pk", crate::memory::s(keys::partition(user)))
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::call("Query", e))?;
        Ok(output.items().is_empty())
    }
}

/// Rounds of reading and deleting a partition before giving up (each removes all it read).
const PARTITION_ROUNDS: usize = 5;

fn exported(node: &Node, links: Vec<ExportedLink>) -> ExportedMemory {
    ExportedMemory {
        id: node.id,
        content: node.content.clone(),
        tags: node.tags.clone(),
        keywords: node.keywords.clone(),
        created_at: domain::rfc3339(node.created_at),
        updated_at: domain::rfc3339(node.updated_at),
        version: node.version,
        links,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(memories: serde_json::Value) -> Vec<u8> {
        serde_json::json!({ "format": "brain2-export", "version": 1, "exportedAt": "2026-12-01T00:00:00Z", "memories": memories })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn an_export_document_is_checked_whole_and_problems_named() {
        let good = serde_json::json!({
            "id": "0190f0e4-8f3a-7c6b-9d2e-1a2b3c4d5e6f", "content": "  rust graphs ", "tags": ["work", "work"],
            "createdAt": "2026-11-30T09:00:00+01:00", "updatedAt": "2026-11-30T07:30:00Z", "version": 3,
            "keywords": [], "links": []
        });
        let memories = from_export(&document(serde_json::json!([good.clone()]))).unwrap();
        assert_eq!(memories[0].content, "rust graphs");
        assert_eq!(memories[0].tags, ["work"]);
        assert_eq!(memories[0].created_at.unix_timestamp(), 1_796_025_600, "09:00 at +01:00 is 08:00 UTC");
        assert_eq!(memories[0].updated_at, memories[0].created_at, "never updated before it was created");
        let mut blank = good.clone();
        blank["content"] = "   ".into();
        let error = from_export(&document(serde_json::json!([good.clone(), blank]))).unwrap_err();
        assert!(error.0.starts_with("memories[1]: content"), "{error}");
        let mut late = good.clone();
        late["createdAt"] = "yesterday".into();
        assert!(from_export(&document(serde_json::json!([late]))).unwrap_err().0.contains("memories[0].createdAt"));
        assert!(from_export(b"{}").unwrap_err().0.contains("not a Brain2 export"));
        let many: Vec<serde_json::Value> = (0..=MAX_IMPORT_MEMORIES).map(|_| good.clone()).collect();
        assert!(from_export(&document(many.into())).unwrap_err().0.contains("at most 1000"));
    }

    #[test]
    fn one_id_twice_is_one_memory_if_the_same_and_refused_if_not() {
        let good = serde_json::json!({
            "id": "0190f0e4-8f3a-7c6b-9d2e-1a2b3c4d5e6f", "content": "rust graphs", "tags": [],
            "createdAt": "2026-11-30T09:00:00Z", "updatedAt": "2026-11-30T09:00:00Z", "version": 1,
            "keywords": [], "links": []
        });
        let other = serde_json::json!({
            "id": "0190f0e4-8f3a-7c6b-9d2e-000000000002", "content": "tea", "tags": [],
            "createdAt": "2026-11-30T09:00:00Z", "updatedAt": "2026-11-30T09:00:00Z", "version": 1,
            "keywords": [], "links": []
        });
        let twice = from_export(&document(serde_json::json!([good.clone(), other, good.clone()]))).unwrap();
        assert_eq!(twice.len(), 2, "a memory copied whole is imported once");
        let mut edited = good.clone();
        edited["content"] = "rust graphs, edited in the copy".into();
        let error = from_export(&document(serde_json::json!([good, edited]))).unwrap_err();
        assert!(error.0.starts_with("memories[0] and memories[1] have the same id"), "{error}");
    }

    #[test]
    fn derived_ids_are_stable_time_ordered_and_distinct() {
        let at = OffsetDateTime::from_unix_timestamp(1_764_489_600).unwrap();
        let a = derived_id(at, "notes/a.md", "text");
        assert_eq!(a, derived_id(at, "notes/a.md", "text"));
        assert_ne!(a, derived_id(at, "notes/b.md", "text"));
        assert_ne!(a, derived_id(at, "notes/a.md", "other text"));
        assert_eq!(a.0.get_version_num(), 7);
        assert!(a < derived_id(at + time::Duration::seconds(1), "notes/a.md", "text"));
    }
}

//! The Brain2 domain: nodes (memories), edges between them, and the rules a request must meet.

use time::OffsetDateTime;
use uuid::Uuid;

pub use brain2_api::{
    DEFAULT_PAGE_SIZE, Invalid, MAX_BULK_DELETE, MAX_CONTENT_CHARS, MAX_PAGE_SIZE, MAX_TAG_CHARS, MAX_TAGS, NodeId,
    NodeInput, NodeView, ValidInput, label,
};

/// A user's id: the authorizer's `sub`, a UUID. Never taken from client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub Uuid);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A new node id: a UUIDv7, whose text sorts by creation time (to the millisecond), so a
/// user's nodes list newest first by their sort keys alone.
pub fn new_node_id() -> NodeId {
    NodeId(Uuid::now_v7())
}

/// A stored memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: NodeId,
    pub owner: UserId,
    pub content: String,
    pub tags: Vec<String>,
    pub keywords: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

/// A link between two of a user's nodes, stored once per direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub source: NodeId,
    pub target: NodeId,
    /// The number of keywords the two nodes share.
    pub weight: u32,
    pub shared_keywords: Vec<String>,
}

/// RFC 3339 with the precision the clock gave.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).expect("every UTC time formats as RFC 3339")
}

/// A node as the API returns it, with its links when `edges` is given.
pub fn view(node: &Node, edges: Option<Vec<NodeId>>) -> NodeView {
    NodeView {
        node_id: node.id,
        content: node.content.clone(),
        tags: node.tags.clone(),
        keywords: node.keywords.clone(),
        timestamp: rfc3339(node.updated_at),
        created_at: rfc3339(node.created_at),
        updated_at: rfc3339(node.updated_at),
        version: node.version,
        edges,
    }
}

/// What a graph view shows of a node (live messages, events).
pub fn summary(node: &Node) -> brain2_api::NodeSummary {
    brain2_api::NodeSummary {
        node_id: node.id,
        label: brain2_api::label(&node.content),
        keyword_count: node.keywords.len(),
        version: node.version,
        updated_at: rfc3339(node.updated_at),
    }
}

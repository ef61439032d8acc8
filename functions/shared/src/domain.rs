//! The Brain2 domain: nodes (memories), edges between them, and the rules a request must meet.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Content is 1 to this many characters after trimming.
pub const MAX_CONTENT_CHARS: usize = 5_000;
/// At most this many tags per node.
pub const MAX_TAGS: usize = 20;
/// Each tag is 1 to this many characters.
pub const MAX_TAG_CHARS: usize = 50;
/// Bulk delete takes 1 to this many ids.
pub const MAX_BULK_DELETE: usize = 100;
/// List pages hold this many nodes unless the client asks otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// And at most this many.
pub const MAX_PAGE_SIZE: usize = 1_000;
/// Graph labels are the content cut to this many characters.
pub const LABEL_CHARS: usize = 50;

/// A user's id: the authorizer's `sub`, a UUID. Never taken from client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub Uuid);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A node's id, a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub Uuid);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl NodeId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// Parses a path or body id; `None` unless it is a UUID.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok().map(Self)
    }
}

impl Default for NodeId {
    fn default() -> Self {
        Self::new()
    }
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

/// A node as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub node_id: NodeId,
    pub content: String,
    pub tags: Vec<String>,
    pub keywords: Vec<String>,
    /// The time of the last write; the first version's web client reads it.
    pub timestamp: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edges: Option<Vec<NodeId>>,
}

/// RFC 3339 with the precision the clock gave.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).expect("every UTC time formats as RFC 3339")
}

impl NodeView {
    pub fn of(node: &Node, edges: Option<Vec<NodeId>>) -> Self {
        Self {
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
}

/// A create or update request's body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInput {
    pub content: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Why a request was refused; the message is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Content and tags, trimmed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidInput {
    pub content: String,
    pub tags: Vec<String>,
}

impl NodeInput {
    pub fn validate(self) -> Result<ValidInput, Invalid> {
        let content = self.content.trim().to_owned();
        let length = content.chars().count();
        if length == 0 {
            return Err(Invalid("content must not be empty".into()));
        }
        if length > MAX_CONTENT_CHARS {
            return Err(Invalid(format!("content has {length} characters; the limit is {MAX_CONTENT_CHARS}")));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(Invalid(format!("{} tags given; the limit is {MAX_TAGS}", self.tags.len())));
        }
        let mut tags = Vec::with_capacity(self.tags.len());
        for (i, tag) in self.tags.into_iter().enumerate() {
            let tag = tag.trim().to_owned();
            let chars = tag.chars().count();
            if chars == 0 || chars > MAX_TAG_CHARS {
                return Err(Invalid(format!("tags[{i}] must be 1 to {MAX_TAG_CHARS} characters")));
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(ValidInput { content, tags })
    }
}

/// The graph label of a node: its content cut at [`LABEL_CHARS`] characters, with an ellipsis.
pub fn label(content: &str) -> String {
    let mut chars = content.chars();
    let head: String = chars.by_ref().take(LABEL_CHARS).collect();
    if chars.next().is_some() { format!("{head}…") } else { head }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(content: &str, tags: &[&str]) -> NodeInput {
        NodeInput { content: content.to_owned(), tags: tags.iter().map(|t| t.to_string()).collect() }
    }

    #[test]
    fn content_is_trimmed_and_bounded_in_characters() {
        assert_eq!(input("  hi  ", &[]).validate().unwrap().content, "hi");
        assert!(input("   ", &[]).validate().is_err());
        assert!(input(&"é".repeat(MAX_CONTENT_CHARS), &[]).validate().is_ok());
        let error = input(&"a".repeat(MAX_CONTENT_CHARS + 1), &[]).validate().unwrap_err();
        assert!(error.0.contains("5001 characters"));
    }

    #[test]
    fn tags_are_bounded_trimmed_and_deduplicated() {
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(input("x", &refs).validate().unwrap_err().0.contains("21 tags"));
        assert!(input("x", &[""]).validate().unwrap_err().0.contains("tags[0]"));
        assert!(input("x", &[&"t".repeat(51)]).validate().is_err());
        assert_eq!(input("x", &[" a ", "a", "b"]).validate().unwrap().tags, ["a", "b"]);
    }

    #[test]
    fn labels_cut_at_fifty_characters_with_an_ellipsis() {
        assert_eq!(label("short"), "short");
        let long = "ä".repeat(60);
        let cut = label(&long);
        assert_eq!(cut.chars().count(), 51);
        assert!(cut.ends_with('…'));
        assert_eq!(label(&"b".repeat(50)), "b".repeat(50));
    }

    #[test]
    fn node_ids_must_be_uuids() {
        assert!(NodeId::parse("not-a-uuid").is_none());
        assert!(NodeId::parse("6f1c1f8e-3a4b-4c5d-8e9f-0a1b2c3d4e5f").is_some());
    }
}

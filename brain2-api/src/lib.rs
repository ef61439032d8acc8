//! The Brain2 API's contract: what the HTTP API takes and returns, what the WebSocket pushes, and
//! the rules a memory must meet. The backend serves these types and the web client reads them,
//! so a change that would break the client fails to compile. No AWS, no I/O: it builds for the
//! browser (wasm32) as well as for Lambda.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod export;
pub mod graph;
pub mod live;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod search;

pub use export::{AccountDeleted, Export, ExportFormat, ExportLink, ExportedLink, ExportedMemory, ImportReport};
pub use graph::{GraphEdge, GraphElements, GraphNode, GraphPage, label};
pub use live::{Change, EdgeWeight, LIVE_FORMAT_VERSION, LiveMessage, NodeSummary};
pub use search::{SearchHit, SearchPage};

/// The custom CloudWatch metrics the functions emit (embedded metric format, dimension
/// `Environment`) and the monitoring stack alarms on: one spelling for both sides.
pub mod metrics {
    pub const NAMESPACE: &str = "Brain2";
    /// The backend stored a node but could not publish its event after retries.
    pub const PUBLISH_FAILURES: &str = "EventPublishFailures";
    /// ws-send-message could not post to connections, other than closed ones (410).
    pub const PUSH_FAILURES: &str = "PushFailures";
}

/// Content is 1 to this many characters after trimming.
pub const MAX_CONTENT_CHARS: usize = 5_000;
/// At most this many tags per node.
pub const MAX_TAGS: usize = 20;
/// Each tag is 1 to this many characters.
pub const MAX_TAG_CHARS: usize = 50;
/// A regular expression that matches any text holding a character that is not whitespace: the
/// character class lists exactly the characters Rust's `char::is_whitespace` (and so `trim`)
/// treats as whitespace, so the document and the validation agree
/// (`non_blank_is_exactly_not_whitespace`).
pub const NON_BLANK: &str = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// The ranges of characters [`NON_BLANK`]'s class lists, as it lists them.
#[cfg(test)]
const WHITESPACE: &[(u32, u32)] = &[
    (0x09, 0x0d),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xa0, 0xa0),
    (0x1680, 0x1680),
    (0x2000, 0x200a),
    (0x2028, 0x2028),
    (0x2029, 0x2029),
    (0x202f, 0x202f),
    (0x205f, 0x205f),
    (0x3000, 0x3000),
];

/// Bulk delete takes 1 to this many ids.
pub const MAX_BULK_DELETE: usize = 100;
/// List pages hold this many nodes unless the client asks otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// And at most this many.
pub const MAX_PAGE_SIZE: usize = 1_000;

/// The request header that carries the version an update was based on.
pub const IF_MATCH: &str = "If-Match";

/// An `If-Match` value: a version, quoted as an entity tag or not (`3` or `"3"`).
pub const IF_MATCH_PATTERN: &str = r#"^("[0-9]{1,19}"|[0-9]{1,19})$"#;

/// The version in an `If-Match` value of [`IF_MATCH_PATTERN`]; `None` for anything else.
pub fn parse_if_match(value: &str) -> Option<u64> {
    let digits = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => value,
    };
    if (1..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// Every request header a browser client sends to the HTTP API beyond the CORS-safelisted ones:
/// the API's CORS configuration allows exactly these (brain2-iac reads this list), so a header the
/// backend starts reading cannot be forgotten there.
pub const REQUEST_HEADERS: &[&str] = &["Content-Type", "Authorization", IF_MATCH];

/// Response headers the client reads beyond the CORS-safelisted ones (none yet: versions travel
/// in the body).
pub const RESPONSE_HEADERS: &[&str] = &[];

/// A node's id, a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct NodeId(pub Uuid);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl NodeId {
    /// Parses a path or body id; `None` unless it is a UUID in its hyphenated form (36
    /// characters, any case), the form `format: uuid` of the OpenAPI document names.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 36 {
            return None;
        }
        Uuid::parse_str(text).ok().map(Self)
    }
}

/// A node as the API returns it (`POST /api/nodes`, `GET|PUT /api/nodes/{id}`, list pages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub node_id: NodeId,
    pub content: String,
    pub tags: Vec<String>,
    pub keywords: Vec<String>,
    /// The time of the last write; the first version's web client reads it.
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub timestamp: String,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schemars(extend("format" = "date-time")))]
    pub updated_at: String,
    pub version: u64,
    /// The linked nodes, on `GET /api/nodes/{id}` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edges: Option<Vec<NodeId>>,
}

/// A create or update request's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeInput {
    /// Stored trimmed.
    #[cfg_attr(feature = "openapi", schemars(length(max = MAX_CONTENT_CHARS), pattern(NON_BLANK)))]
    pub content: String,
    /// Stored trimmed, duplicates dropped.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schemars(length(max = MAX_TAGS), inner(length(max = MAX_TAG_CHARS), pattern(NON_BLANK)))
    )]
    pub tags: Vec<String>,
}

/// Why a request was refused; the message is safe to show the user.
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
    /// The rules every memory meets; the backend enforces them and the client checks them first.
    pub fn validate(self) -> Result<ValidInput, Invalid> {
        // Lengths count the text as sent, so that the OpenAPI document's `maxLength` states the
        // rule exactly; blank means only the characters `char::is_whitespace` names (NON_BLANK).
        let length = self.content.chars().count();
        if length > MAX_CONTENT_CHARS {
            return Err(Invalid(format!("content has {length} characters; the limit is {MAX_CONTENT_CHARS}")));
        }
        let content = self.content.trim().to_owned();
        if content.is_empty() {
            return Err(Invalid("content must not be empty".into()));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(Invalid(format!("{} tags given; the limit is {MAX_TAGS}", self.tags.len())));
        }
        let mut tags = Vec::with_capacity(self.tags.len());
        for (i, tag) in self.tags.into_iter().enumerate() {
            let chars = tag.chars().count();
            let tag = tag.trim().to_owned();
            if tag.is_empty() || chars > MAX_TAG_CHARS {
                return Err(Invalid(format!("tags[{i}] must be 1 to {MAX_TAG_CHARS} characters, not blank")));
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(ValidInput { content, tags })
    }
}

/// `GET /api/nodes?limit=&cursor=`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NodePage {
    pub nodes: Vec<NodeView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Option<NodeId>"))]
    pub next_cursor: Option<String>,
}

/// `POST /api/nodes/bulk-delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkDeleteRequest {
    /// The ids to delete; an id given twice counts once.
    // Strings, so that a 400 can name the one that is not a UUID.
    #[cfg_attr(feature = "openapi", schemars(with = "Vec<NodeId>", length(min = 1, max = MAX_BULK_DELETE)))]
    pub node_ids: Vec<String>,
}

/// What a bulk delete did, id by id. The status code says how it went as a whole: 200 when
/// every id is now gone and at least one was deleted, 207 when some were deleted and some
/// failed, 404 when none of the ids existed, 500 when nothing was deleted because deletes failed
/// (then `error` says so). A failed id can be sent again: deletes finish what they started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkDeleteResponse {
    /// One entry per distinct id, in request order.
    pub results: Vec<BulkDeleteResult>,
    pub deleted_count: usize,
    pub not_found_count: usize,
    pub failed_count: usize,
    pub message: String,
    /// On a 404 or 500 only, so clients that read `{"error": …}` from every failure do here too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkDeleteResult {
    pub node_id: NodeId,
    pub status: BulkDeleteStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum BulkDeleteStatus {
    /// The node, its postings and its edges are gone.
    Deleted,
    /// There was no such node (or it is another user's).
    NotFound,
    /// The delete failed part-way; sending the id again finishes it.
    Failed,
}

impl BulkDeleteResponse {
    pub fn new(results: Vec<BulkDeleteResult>) -> Self {
        let count = |status| results.iter().filter(|r| r.status == status).count();
        let (deleted, not_found, failed) =
            (count(BulkDeleteStatus::Deleted), count(BulkDeleteStatus::NotFound), count(BulkDeleteStatus::Failed));
        let message = format!("deleted {deleted} of {} nodes ({not_found} not found, {failed} failed)", results.len());
        let error = match (deleted, failed) {
            (0, 0) => Some("none of the nodes exist".to_owned()),
            (0, _) => Some(format!("no node was deleted: {failed} deletes failed; send them again")),
            _ => None,
        };
        Self { results, deleted_count: deleted, not_found_count: not_found, failed_count: failed, message, error }
    }

    /// The HTTP status this outcome is answered with (see the type's documentation).
    pub fn status(&self) -> u16 {
        match (self.deleted_count, self.failed_count) {
            (0, 0) => 404,
            (0, _) => 500,
            (_, 0) => 200,
            _ => 207,
        }
    }
}

/// Every error answer: `{"error": "..."}`; a 409 also carries the current node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<NodeView>,
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
        // The limit counts what was sent, spaces too, as the document's maxLength does.
        assert!(input(&format!(" {}", "a".repeat(MAX_CONTENT_CHARS)), &[]).validate().is_err());
        assert!(input("\u{85}\u{3000}\t", &[]).validate().is_err(), "only whitespace");
        assert_eq!(input("\u{feff}", &[]).validate().unwrap().content, "\u{feff}", "not whitespace to Rust");
    }

    #[test]
    fn non_blank_is_exactly_not_whitespace() {
        let listed = |c: u32| WHITESPACE.iter().any(|&(low, high)| (low..=high).contains(&c));
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(listed(c as u32), c.is_whitespace(), "U+{:04X}", c as u32);
        }
        let class: String = WHITESPACE
            .iter()
            .map(|&(low, high)| {
                let one = |c: u32| match c {
                    0x09 => "\\t".to_owned(),
                    0x0d => "\\r".to_owned(),
                    0x20 => " ".to_owned(),
                    _ => format!("\\u{c:04x}"),
                };
                if low == high { one(low) } else { format!("{}-{}", one(low), one(high)) }
            })
            .collect();
        assert_eq!(NON_BLANK, format!("[^{class}]"));
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
    fn bulk_delete_status_never_claims_success_for_nothing_deleted() {
        let a = NodeId::parse("6f1c1f8e-3a4b-4c5d-8e9f-0a1b2c3d4e5f").unwrap();
        let result = |status| BulkDeleteResult { node_id: a, status };
        let answer = |statuses: &[BulkDeleteStatus]| {
            let response = BulkDeleteResponse::new(statuses.iter().map(|s| result(*s)).collect());
            (response.status(), response.error.is_some())
        };
        use BulkDeleteStatus::*;
        assert_eq!(answer(&[Deleted, NotFound]), (200, false));
        assert_eq!(answer(&[Deleted, Failed]), (207, false));
        assert_eq!(answer(&[NotFound, NotFound]), (404, true));
        assert_eq!(answer(&[Failed, NotFound]), (500, true));
    }

    #[test]
    fn if_match_takes_a_version_quoted_or_not() {
        assert_eq!(parse_if_match("3"), Some(3));
        assert_eq!(parse_if_match("\"42\""), Some(42));
        assert_eq!(parse_if_match(&"9".repeat(19)), Some(9_999_999_999_999_999_999));
        for bad in ["", "\"\"", "\"3", "3\"", "-1", "+3", " 3", "W/\"3\"", "*", &"1".repeat(20)] {
            assert_eq!(parse_if_match(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn node_ids_must_be_uuids() {
        assert!(NodeId::parse("not-a-uuid").is_none());
        assert!(NodeId::parse("6f1c1f8e-3a4b-4c5d-8e9f-0a1b2c3d4e5f").is_some());
        assert!(NodeId::parse("6F1C1F8E-3A4B-4C5D-8E9F-0A1B2C3D4E5F").is_some());
        // Only the hyphenated form, as `format: uuid` has it.
        assert!(NodeId::parse("6f1c1f8e3a4b4c5d8e9f0a1b2c3d4e5f").is_none());
        assert!(NodeId::parse("{6f1c1f8e-3a4b-4c5d-8e9f-0a1b2c3d4e5f}").is_none());
    }
}

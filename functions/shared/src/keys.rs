//! How items are keyed in MemoryTable. One partition per user, `id = USER#<userId>`; the sort
//! key says what the item is:
//!
//! | item | `sk` | other keys |
//! |---|---|---|
//! | node | `N#<nodeId>` | |
//! | edge, one per direction | `E#<nodeId>#<otherId>` | |
//! | keyword posting | `K#<nodeId>#<keyword>` | `keyword = <userId>#<keyword>` (KeywordIndex) |
//!
//! Every key starts from the authorizer's user id, so no client-supplied id reaches another
//! user's partition.

use crate::domain::{NodeId, UserId};

pub const PARTITION_KEY: &str = "id";
pub const SORT_KEY: &str = "sk";
pub const KEYWORD_KEY: &str = "keyword";

pub fn partition(user: UserId) -> String {
    format!("USER#{user}")
}

pub const NODE_PREFIX: &str = "N#";
pub const EDGE_PREFIX: &str = "E#";
pub const POSTING_PREFIX: &str = "K#";

pub fn node(node: NodeId) -> String {
    format!("{NODE_PREFIX}{node}")
}

/// The prefix of every edge leaving `node`.
pub fn edges_of(node: NodeId) -> String {
    format!("{EDGE_PREFIX}{node}#")
}

pub fn edge(from: NodeId, to: NodeId) -> String {
    format!("{EDGE_PREFIX}{from}#{to}")
}

/// The prefix of every keyword posting of `node`.
pub fn postings_of(node: NodeId) -> String {
    format!("{POSTING_PREFIX}{node}#")
}

pub fn posting(node: NodeId, keyword: &str) -> String {
    format!("{POSTING_PREFIX}{node}#{keyword}")
}

/// KeywordIndex's partition key for one of a user's keywords.
pub fn keyword(user: UserId, keyword: &str) -> String {
    format!("{user}#{keyword}")
}

/// The node id inside a node, edge or posting sort key (the first id after the prefix).
pub fn node_in(sort_key: &str) -> Option<NodeId> {
    let rest = sort_key.get(2..)?;
    NodeId::parse(rest.split('#').next()?)
}

/// The other node's id in an edge sort key.
pub fn edge_target(sort_key: &str) -> Option<NodeId> {
    let rest = sort_key.strip_prefix(EDGE_PREFIX)?;
    NodeId::parse(rest.split('#').nth(1)?)
}

/// The keyword in a posting sort key.
pub fn posting_keyword(sort_key: &str) -> Option<&str> {
    sort_key.strip_prefix(POSTING_PREFIX)?.split_once('#').map(|(_, keyword)| keyword)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_round_trip_their_ids() {
        let (a, b) = (crate::domain::new_node_id(), crate::domain::new_node_id());
        assert_eq!(node_in(&node(a)), Some(a));
        assert_eq!(node_in(&edge(a, b)), Some(a));
        assert_eq!(edge_target(&edge(a, b)), Some(b));
        assert_eq!(node_in(&posting(a, "café")), Some(a));
        assert_eq!(posting_keyword(&posting(a, "café#1")), Some("café#1"));
        assert!(edge(a, b).starts_with(&edges_of(a)));
        assert!(posting(a, "rust").starts_with(&postings_of(a)));
    }
}

//! How connect-node chooses a node's edges: score the user's other nodes by shared keywords,
//! keep those at or above the minimum, and cap the count, highest score first.

use std::collections::BTreeMap;

use crate::domain::{Edge, NodeId};

/// `matches` maps each of the node's keywords to the nodes that also have it. The result is
/// deterministic: ties in score go to the smaller node id.
pub fn choose_edges(
    node: NodeId,
    matches: &BTreeMap<String, Vec<NodeId>>,
    min_shared: usize,
    max_edges: usize,
) -> Vec<Edge> {
    let mut shared: BTreeMap<NodeId, Vec<String>> = BTreeMap::new();
    for (keyword, nodes) in matches {
        for other in nodes {
            if *other != node {
                let list = shared.entry(*other).or_default();
                if !list.contains(keyword) {
                    list.push(keyword.clone());
                }
            }
        }
    }
    let mut candidates: Vec<(NodeId, Vec<String>)> =
        shared.into_iter().filter(|(_, keywords)| keywords.len() >= min_shared.max(1)).collect();
    candidates.sort_by(|(a, ka), (b, kb)| kb.len().cmp(&ka.len()).then(a.cmp(b)));
    candidates.truncate(max_edges);
    candidates
        .into_iter()
        .map(|(target, mut keywords)| {
            keywords.sort();
            Edge { source: node, target, weight: keywords.len() as u32, shared_keywords: keywords }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u128) -> NodeId {
        NodeId(Uuid::from_u128(n))
    }

    fn matches(pairs: &[(&str, &[u128])]) -> BTreeMap<String, Vec<NodeId>> {
        pairs.iter().map(|(k, ids)| (k.to_string(), ids.iter().map(|n| id(*n)).collect())).collect()
    }

    #[test]
    fn scores_by_shared_keywords_and_skips_the_node_itself() {
        let m = matches(&[("rust", &[1, 2, 3]), ("graph", &[1, 2]), ("lambda", &[1, 4])]);
        let edges = choose_edges(id(1), &m, 1, 10);
        let summary: Vec<(NodeId, u32)> = edges.iter().map(|e| (e.target, e.weight)).collect();
        assert_eq!(summary, [(id(2), 2), (id(3), 1), (id(4), 1)]);
        assert_eq!(edges[0].shared_keywords, ["graph", "rust"]);
        assert!(edges.iter().all(|e| e.source == id(1)));
    }

    #[test]
    fn keeps_only_nodes_at_or_above_the_minimum() {
        let m = matches(&[("rust", &[2, 3]), ("graph", &[2])]);
        let edges = choose_edges(id(1), &m, 2, 10);
        assert_eq!(edges.len(), 1);
        assert_eq!(edges[0].target, id(2));
    }

    #[test]
    fn caps_the_count_highest_score_first_ties_by_id() {
        let m = matches(&[("a", &[5, 4, 3, 2]), ("b", &[5])]);
        let targets: Vec<NodeId> = choose_edges(id(1), &m, 1, 3).iter().map(|e| e.target).collect();
        assert_eq!(targets, [id(5), id(2), id(3)]);
    }

    #[test]
    fn the_same_input_gives_the_same_edges() {
        let m = matches(&[("x", &[9, 7, 8]), ("y", &[8, 9])]);
        assert_eq!(choose_edges(id(1), &m, 1, 2), choose_edges(id(1), &m, 1, 2));
    }
}

//! An edge's weight, defined here once, and how connect-node chooses a node's edges.
//!
//! **Weight.** Two nodes' shared keywords are the keywords both have now (their stored
//! `keywords`), sorted; the weight of the edge between them is how many there are. Nodes that
//! share none have no edge. connect-node writes edges from this ([`edge_between`]), and
//! graph-check holds every stored edge to it.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{Edge, Node, NodeId};

/// The keywords `a` and `b` both have, sorted, each once.
pub fn shared_keywords(a: &[String], b: &[String]) -> Vec<String> {
    let b: BTreeSet<&String> = b.iter().collect();
    let shared: BTreeSet<&String> = a.iter().filter(|k| b.contains(k)).collect();
    shared.into_iter().cloned().collect()
}

/// The edge from `source` to `target` that their keywords give, or `None` when they share none.
pub fn edge_between(source: &Node, target: &Node) -> Option<Edge> {
    let shared = shared_keywords(&source.keywords, &target.keywords);
    (!shared.is_empty()).then(|| Edge {
        source: source.id,
        target: target.id,
        weight: u32::try_from(shared.len()).unwrap_or(u32::MAX),
        shared_keywords: shared,
    })
}

/// Every node among `others` that shares at least `min_shared` keywords with `node`, as the
/// edge from `node` to it, best first: the most shared keywords, then the smaller id.
pub fn rank(node: &Node, others: &[Node], min_shared: usize) -> Vec<Edge> {
    let mut ranked: Vec<Edge> = others
        .iter()
        .filter(|other| other.id != node.id)
        .filter_map(|other| edge_between(node, other))
        .filter(|edge| edge.shared_keywords.len() >= min_shared.max(1))
        .collect();
    ranked.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.target.cmp(&b.target)));
    ranked.dedup_by_key(|edge| edge.target);
    ranked
}

/// The nodes KeywordIndex suggests for `node`, in the order to consider them: `matches` maps
/// each of its keywords to the nodes the index lists for it. The index lags the nodes, so this
/// only suggests; [`rank`] decides from the nodes as read. Most keywords in common first, then
/// the smaller id; the node itself left out.
pub fn suggest(node: NodeId, matches: &BTreeMap<String, Vec<NodeId>>) -> Vec<NodeId> {
    let mut common: BTreeMap<NodeId, BTreeSet<&String>> = BTreeMap::new();
    for (keyword, nodes) in matches {
        for other in nodes.iter().filter(|other| **other != node) {
            common.entry(*other).or_default().insert(keyword);
        }
    }
    let mut suggested: Vec<(NodeId, usize)> = common.into_iter().map(|(id, keywords)| (id, keywords.len())).collect();
    suggested.sort_by(|(a, ca), (b, cb)| cb.cmp(ca).then(a.cmp(b)));
    suggested.into_iter().map(|(id, _)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u128) -> NodeId {
        NodeId(Uuid::from_u128(n))
    }

    fn node(n: u128, keywords: &[&str]) -> Node {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        Node {
            id: id(n),
            owner: crate::domain::UserId(Uuid::nil()),
            content: String::new(),
            tags: Vec::new(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn the_weight_is_how_many_keywords_both_have_now() {
        let edge = edge_between(&node(1, &["rust", "graph", "lambda"]), &node(2, &["lambda", "rust", "tea"])).unwrap();
        assert_eq!((edge.source, edge.target, edge.weight), (id(1), id(2), 2));
        assert_eq!(edge.shared_keywords, ["lambda", "rust"], "sorted");
        assert_eq!(edge_between(&node(1, &["rust"]), &node(2, &["tea"])), None, "nothing shared, no edge");
    }

    #[test]
    fn ranks_by_shared_keywords_then_id_and_skips_the_node_itself() {
        let me = node(1, &["rust", "graph", "lambda"]);
        let others =
            [node(4, &["lambda"]), node(3, &["rust"]), node(2, &["rust", "graph"]), me.clone(), node(5, &["tea"])];
        let ranked: Vec<(NodeId, u32)> = rank(&me, &others, 1).iter().map(|e| (e.target, e.weight)).collect();
        assert_eq!(ranked, [(id(2), 2), (id(3), 1), (id(4), 1)]);
        let strong: Vec<NodeId> = rank(&me, &others, 2).iter().map(|e| e.target).collect();
        assert_eq!(strong, [id(2)], "only those at or above the minimum");
    }

    #[test]
    fn suggests_what_the_index_lists_most_keywords_first() {
        let matches: BTreeMap<String, Vec<NodeId>> = [("a", vec![5, 4, 3, 1]), ("b", vec![5, 1])]
            .into_iter()
            .map(|(k, ids)| (k.to_owned(), ids.into_iter().map(id).collect()))
            .collect();
        assert_eq!(suggest(id(1), &matches), [id(5), id(3), id(4)]);
    }
}

//! `GET /api/graph-data`: the graph in a compact, paged projection.
//!
//! A page holds up to [`MAX_GRAPH_PAGE`] nodes in id order (node ids are UUIDv7, so that is
//! creation order) as column arrays, and every edge leaving them towards a node with a larger id.
//! Each undirected edge therefore comes once, in the page of its smaller end. Its other end is
//! an index: below `ids.len()` into `ids`, above it into `externalIds` (nodes of later pages).
//! Full content is fetched per node (`GET /api/nodes/{id}`).
//!
//! Pages are read at different times: an edge whose far end no page returned was removed with
//! its node in between, and a client drops it. Live messages keep a loaded graph current.
//!
//! Size: a page's JSON is at most [`MAX_GRAPH_PAGE_BYTES`]; a page that would be larger ends
//! early, with a cursor. A label is at most [`LABEL_JSON_BYTES`] bytes of JSON, so a graph of
//! 5,000 memories with 25,000 edges comes in one page whatever their content
//! (`five_thousand_memories_fit_one_page`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// A graph page holds at most this many nodes, and this many unless the client asks for fewer.
pub const MAX_GRAPH_PAGE: usize = 5_000;

/// A page's JSON is at most this many bytes.
pub const MAX_GRAPH_PAGE_BYTES: usize = 1_000_000;

/// Room kept for the `nextCursor` field.
const CURSOR_BYTES: usize = 100;

/// A label's JSON encoding (without its quotes) is at most this many bytes, plus an ellipsis
/// when the content was cut.
pub const LABEL_JSON_BYTES: usize = 48;

/// One page of the graph, as the backend sends it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GraphPage {
    pub ids: Vec<NodeId>,
    /// Each node's label: the start of its content (see `label`).
    pub labels: Vec<String>,
    pub keyword_counts: Vec<u32>,
    /// Unix seconds.
    pub created_at: Vec<i64>,
    /// Unix seconds.
    pub updated_at: Vec<i64>,
    /// How many of the edges below leave each node: the first `edgeCounts[0]` leave `ids[0]`,
    /// and so on.
    pub edge_counts: Vec<u32>,
    /// Each edge's other end: an index into `ids`, or `ids.len() + i` for `externalIds[i]`.
    pub edge_targets: Vec<u32>,
    /// How many keywords each edge's ends share.
    pub edge_weights: Vec<u32>,
    /// Other ends that are not on this page.
    pub external_ids: Vec<NodeId>,
    /// Present when there may be more nodes: pass it as `cursor` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Option<NodeId>"))]
    pub next_cursor: Option<String>,
}

/// Counts what is written to it: a page's JSON size without keeping the JSON.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a graph shows of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    pub id: NodeId,
    pub label: String,
    pub keyword_count: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An undirected edge, from its smaller end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphEdge {
    pub source: NodeId,
    pub target: NodeId,
    pub weight: u32,
}

/// A page whose columns do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed graph page: {0}")]
pub struct MalformedPage(pub String);

impl GraphPage {
    /// Builds a page from nodes in id order and the edges leaving them (each from its smaller
    /// end, grouped by source in node order). The page holds the longest run of `nodes` whose
    /// JSON fits in `budget` bytes (at least one node); `next_cursor` then resumes after its last
    /// node, as it does when `more` says the store has nodes after `nodes`.
    pub fn new(
        nodes: &[GraphNode],
        edges: &[GraphEdge],
        more: bool,
        budget: usize,
        cursor_after: impl Fn(NodeId) -> String,
    ) -> Self {
        // Where each node's edges end: nodes[..k] own edges[..ends[k - 1]].
        let mut ends = Vec::with_capacity(nodes.len());
        let mut end = 0;
        for node in nodes {
            while edges.get(end).is_some_and(|e| e.source == node.id) {
                end += 1;
            }
            ends.push(end);
        }
        debug_assert_eq!(end, edges.len(), "edges must leave the page's nodes, in node order");
        let prefix = |k: usize| Self::columns(&nodes[..k], &edges[..if k == 0 { 0 } else { ends[k - 1] }]);
        let size = |page: &GraphPage| {
            let mut counter = ByteCounter(0);
            serde_json::to_writer(&mut counter, page).map_or(usize::MAX, |()| counter.0 + CURSOR_BYTES)
        };
        let mut page = prefix(nodes.len());
        let mut cut = false;
        if size(&page) > budget && nodes.len() > 1 {
            // The largest prefix that fits: a binary search over a size that grows with it.
            let (mut fits, mut too_big) = (1, nodes.len());
            while too_big - fits > 1 {
                let middle = (fits + too_big) / 2;
                if size(&prefix(middle)) <= budget { fits = middle } else { too_big = middle }
            }
            page = prefix(fits);
            cut = true;
        }
        if cut || more {
            page.next_cursor = page.ids.last().map(|&last| cursor_after(last));
        }
        page
    }

    fn columns(nodes: &[GraphNode], edges: &[GraphEdge]) -> Self {
        let mut page = GraphPage::default();
        let index: HashMap<NodeId, u32> = nodes.iter().enumerate().map(|(i, n)| (n.id, i as u32)).collect();
        let mut external: HashMap<NodeId, u32> = HashMap::new();
        let mut edges = edges.iter().peekable();
        for node in nodes {
            let mut count = 0;
            while let Some(edge) = edges.next_if(|e| e.source == node.id) {
                let target = match index.get(&edge.target) {
                    Some(&i) => i,
                    None => *external.entry(edge.target).or_insert_with(|| {
                        page.external_ids.push(edge.target);
                        (nodes.len() + page.external_ids.len() - 1) as u32
                    }),
                };
                page.edge_targets.push(target);
                page.edge_weights.push(edge.weight);
                count += 1;
            }
            page.edge_counts.push(count);
            page.ids.push(node.id);
            page.labels.push(node.label.clone());
            page.keyword_counts.push(node.keyword_count);
            page.created_at.push(node.created_at);
            page.updated_at.push(node.updated_at);
        }
        page
    }

    pub fn nodes(&self) -> Result<Vec<GraphNode>, MalformedPage> {
        let n = self.ids.len();
        for (name, len) in [
            ("labels", self.labels.len()),
            ("keywordCounts", self.keyword_counts.len()),
            ("createdAt", self.created_at.len()),
            ("updatedAt", self.updated_at.len()),
            ("edgeCounts", self.edge_counts.len()),
        ] {
            if len != n {
                return Err(MalformedPage(format!("{name} has {len} entries for {n} ids")));
            }
        }
        Ok((0..n)
            .map(|i| GraphNode {
                id: self.ids[i],
                label: self.labels[i].clone(),
                keyword_count: self.keyword_counts[i],
                created_at: self.created_at[i],
                updated_at: self.updated_at[i],
            })
            .collect())
    }

    pub fn edges(&self) -> Result<Vec<GraphEdge>, MalformedPage> {
        let total: usize = self.edge_counts.iter().map(|&c| c as usize).sum();
        if total != self.edge_targets.len() || total != self.edge_weights.len() {
            return Err(MalformedPage(format!(
                "edgeCounts add up to {total}, but there are {} targets and {} weights",
                self.edge_targets.len(),
                self.edge_weights.len()
            )));
        }
        let mut edges = Vec::with_capacity(total);
        let mut next = 0;
        for (&source, &count) in self.ids.iter().zip(&self.edge_counts) {
            for i in next..next + count as usize {
                let index = self.edge_targets[i] as usize;
                let target = match index.checked_sub(self.ids.len()) {
                    None => self.ids[index],
                    Some(external) => *self
                        .external_ids
                        .get(external)
                        .ok_or_else(|| MalformedPage(format!("edge target {index} is beyond ids and externalIds")))?,
                };
                edges.push(GraphEdge { source, target, weight: self.edge_weights[i] });
            }
            next += count as usize;
        }
        Ok(edges)
    }
}

/// `GET /api/graph-data?format=elements`: the graph as Cytoscape.js `elements`, the format the
/// first version's web client reads (`{"elements": [...]}`, nodes `{"data": {"id", "label"}}`,
/// edges `{"data": {"id", "source", "target", "weight"}}`), so a user moving from it keeps their
/// client while they switch. It draws what one response holds: the page's edges are those whose
/// two ends are both on it (Cytoscape refuses an edge to a node it does not have), and a page is
/// at most [`MAX_ELEMENTS_PAGE_BYTES`] of JSON (`nextCursor` for a client that pages).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GraphElements {
    /// The page's nodes, then its edges.
    pub elements: Vec<Element>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Option<NodeId>"))]
    pub next_cursor: Option<String>,
}

/// The largest elements page, in bytes of JSON: well under Lambda's 6 MB response limit.
pub const MAX_ELEMENTS_PAGE_BYTES: usize = 4_000_000;

/// One Cytoscape element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Element {
    pub data: ElementData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ElementData {
    /// An edge: `id` is `<source>_<target>`, from the smaller id.
    Edge {
        id: String,
        source: NodeId,
        target: NodeId,
        weight: u32,
    },
    Node {
        id: NodeId,
        label: String,
    },
}

impl GraphElements {
    /// The elements of `nodes` (in id order) and of the `edges` between two of them, as many nodes
    /// as fit in `budget` bytes (at least one), with the cursor after the last when cut or `more`.
    pub fn new(
        nodes: &[GraphNode],
        edges: &[GraphEdge],
        more: bool,
        budget: usize,
        cursor_after: impl Fn(NodeId) -> String,
    ) -> Self {
        let node = |n: &GraphNode| Element { data: ElementData::Node { id: n.id, label: n.label.clone() } };
        let edge = |e: &GraphEdge| Element {
            data: ElementData::Edge {
                id: format!("{}_{}", e.source, e.target),
                source: e.source,
                target: e.target,
                weight: e.weight,
            },
        };
        let size = |element: &Element| {
            let mut counter = ByteCounter(0);
            serde_json::to_writer(&mut counter, element).map_or(usize::MAX, |()| counter.0 + 1)
        };
        // Nodes come in id order, and an edge goes from its smaller end, so the edges between
        // the first k nodes are those whose larger end is among them: count each at that end.
        let position: HashMap<NodeId, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
        let mut cost = vec![0usize; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            cost[i] += size(&node(n));
        }
        for e in edges {
            if let (Some(&a), Some(&b)) = (position.get(&e.source), position.get(&e.target)) {
                cost[a.max(b)] += size(&edge(e));
            }
        }
        let mut kept = 0;
        let mut total = "{\"elements\":[]}".len() + CURSOR_BYTES;
        for c in &cost {
            if kept > 0 && total + c > budget {
                break;
            }
            total += c;
            kept += 1;
        }
        let kept_nodes = &nodes[..kept];
        let mut elements: Vec<Element> = kept_nodes.iter().map(node).collect();
        elements.extend(
            edges
                .iter()
                .filter(|e| matches!((position.get(&e.source), position.get(&e.target)), (Some(&a), Some(&b)) if a < kept && b < kept))
                .map(edge),
        );
        let next_cursor = (kept < nodes.len() || more).then(|| kept_nodes.last().map(|n| cursor_after(n.id))).flatten();
        GraphElements { elements, next_cursor }
    }
}

/// The graph label of a node: its content with each run of whitespace or control characters as
/// one space, cut so that its JSON encoding is at most [`LABEL_JSON_BYTES`] bytes, with an
/// ellipsis when cut.
pub fn label(content: &str) -> String {
    let mut label = String::new();
    let mut cost = 0;
    let mut cut = false;
    let mut space = false;
    for c in content.trim().chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        let pending = usize::from(space);
        let c_cost = match c {
            '"' | '\\' => 2,
            _ => c.len_utf8(),
        };
        if cost + pending + c_cost > LABEL_JSON_BYTES {
            cut = true;
            break;
        }
        if space {
            label.push(' ');
            space = false;
        }
        label.push(c);
        cost += pending + c_cost;
    }
    if cut {
        label.push('…');
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> NodeId {
        NodeId(uuid::Uuid::from_u128(n))
    }

    fn node(n: u128, label: &str) -> GraphNode {
        GraphNode { id: id(n), label: label.to_owned(), keyword_count: 3, created_at: 1, updated_at: 2 }
    }

    fn cursor(last: NodeId) -> String {
        format!("after {last}")
    }

    #[test]
    fn a_page_round_trips_with_external_ends() {
        let edges = [
            GraphEdge { source: id(1), target: id(2), weight: 2 },
            GraphEdge { source: id(1), target: id(9), weight: 1 },
            GraphEdge { source: id(2), target: id(9), weight: 3 },
            GraphEdge { source: id(3), target: id(8), weight: 1 },
        ];
        let nodes = vec![node(1, "a"), node(2, "b"), node(3, "c")];
        let page = GraphPage::new(&nodes, &edges, true, MAX_GRAPH_PAGE_BYTES, cursor);
        assert_eq!(page.edge_counts, [2, 1, 1]);
        assert_eq!(page.edge_targets, [1, 3, 3, 4]);
        assert_eq!(page.external_ids, [id(9), id(8)]);
        assert_eq!(page.next_cursor, Some(cursor(id(3))));
        let json = serde_json::to_string(&page).unwrap();
        let back: GraphPage = serde_json::from_str(&json).unwrap();
        assert_eq!(back.nodes().unwrap(), nodes);
        assert_eq!(back.edges().unwrap(), edges);
        assert_eq!(GraphPage::new(&nodes, &edges, false, MAX_GRAPH_PAGE_BYTES, cursor).next_cursor, None);
    }

    #[test]
    fn a_page_over_its_budget_ends_early_and_points_on() {
        let nodes: Vec<GraphNode> = (1..=20).map(|n| node(n, &"x".repeat(40))).collect();
        // Each node links to every later one: cut nodes become external ends.
        let edges: Vec<GraphEdge> = (1..=20u128)
            .flat_map(|a| (a + 1..=20).map(move |b| GraphEdge { source: id(a), target: id(b), weight: 1 }))
            .collect();
        let whole = GraphPage::new(&nodes, &edges, false, MAX_GRAPH_PAGE_BYTES, cursor);
        assert_eq!(whole.ids.len(), 20);
        let budget = serde_json::to_vec(&whole).unwrap().len() / 2;
        let page = GraphPage::new(&nodes, &edges, false, budget, cursor);
        let kept = page.ids.len();
        assert!((1..20).contains(&kept), "{kept} nodes");
        assert!(serde_json::to_vec(&page).unwrap().len() <= budget);
        assert_eq!(page.next_cursor, Some(cursor(id(kept as u128))));
        assert_eq!(page.external_ids.len(), 20 - kept);
        let expected: Vec<GraphEdge> = edges.iter().filter(|e| e.source.0.as_u128() <= kept as u128).copied().collect();
        assert_eq!(page.edges().unwrap(), expected);
        // One node always makes a page, whatever the budget.
        assert_eq!(GraphPage::new(&nodes, &edges, false, 10, cursor).ids.len(), 1);
    }

    #[test]
    fn malformed_pages_are_refused_not_misread() {
        let edges = [GraphEdge { source: id(1), target: id(2), weight: 1 }];
        let mut page = GraphPage::new(&[node(1, "a")], &edges, false, MAX_GRAPH_PAGE_BYTES, cursor);
        page.edge_targets[0] = 7;
        assert!(page.edges().unwrap_err().0.contains("beyond"));
        page.labels.clear();
        assert!(page.nodes().unwrap_err().0.contains("labels"));
        page.edge_counts[0] = 2;
        assert!(page.edges().unwrap_err().0.contains("add up to 2"));
    }

    #[test]
    fn labels_are_bounded_in_json_bytes() {
        assert_eq!(label("  short\n\n text\u{1} here "), "short text here");
        let fits = "b".repeat(LABEL_JSON_BYTES);
        assert_eq!(label(&fits), fits);
        let cut = label(&"ä".repeat(60));
        assert_eq!(cut, format!("{}…", "ä".repeat(LABEL_JSON_BYTES / 2)));
        for worst in ["\"".repeat(100), "\\".repeat(100), "😀".repeat(100), "a\"".repeat(100)] {
            let label = label(&worst);
            let json = serde_json::to_string(&label).unwrap();
            assert!(json.len() <= LABEL_JSON_BYTES + "…".len() + 2, "{json} is too long");
        }
    }

    #[test]
    fn elements_hold_the_edges_between_their_nodes_within_the_budget() {
        let nodes: Vec<GraphNode> = (1..=4).map(|n| node(n, "label")).collect();
        let edges = [
            GraphEdge { source: id(1), target: id(2), weight: 2 },
            GraphEdge { source: id(2), target: id(4), weight: 1 },
            GraphEdge { source: id(3), target: id(9), weight: 1 },
        ];
        let all = GraphElements::new(&nodes, &edges, false, MAX_ELEMENTS_PAGE_BYTES, cursor);
        assert_eq!(all.elements.len(), 4 + 2, "the edge to a node not in the response is left out");
        assert_eq!(all.next_cursor, None);
        let json = serde_json::to_value(&all).unwrap();
        assert_eq!(json["elements"][0], serde_json::json!({ "data": { "id": id(1).to_string(), "label": "label" } }));
        assert_eq!(json["elements"][4]["data"]["source"], id(1).to_string());
        assert_eq!(json["elements"][4]["data"]["id"], format!("{}_{}", id(1), id(2)));
        let back: GraphElements = serde_json::from_value(json).unwrap();
        assert_eq!(back, all);
        let bytes = serde_json::to_vec(&all).unwrap().len();
        let cut = GraphElements::new(&nodes, &edges, false, bytes - 150, cursor);
        assert!(serde_json::to_vec(&cut).unwrap().len() <= bytes - 150);
        assert_eq!(cut.elements.len(), 3 + 1, "three nodes and the edge between two of them");
        assert_eq!(cut.next_cursor, Some(cursor(id(3))));
    }

    /// The bound: 5,000 memories with 25,000 edges in one response of at most 1 MB,
    /// with every column at its widest: labels that cost the most JSON, two-digit keyword counts
    /// and weights, timestamps of 2100.
    #[test]
    fn five_thousand_memories_fit_one_page() {
        let count = 5_000u128;
        let nodes: Vec<GraphNode> = (0..count)
            .map(|n| GraphNode {
                id: id(n),
                label: label(&"\"".repeat(200)),
                keyword_count: 49,
                created_at: 4_102_444_800,
                updated_at: 4_102_444_800,
            })
            .collect();
        let mut pairs: Vec<(u128, u128)> =
            (1..).flat_map(|k| (0..count - k).map(move |a| (a, a + k))).take(25_000).collect();
        pairs.sort();
        let edges: Vec<GraphEdge> =
            pairs.iter().map(|&(a, b)| GraphEdge { source: id(a), target: id(b), weight: 49 }).collect();
        let page = GraphPage::new(&nodes, &edges, false, MAX_GRAPH_PAGE_BYTES, cursor);
        assert_eq!((page.ids.len(), page.edge_targets.len(), page.next_cursor.as_deref()), (5_000, 25_000, None));
        let bytes = serde_json::to_vec(&page).unwrap().len();
        assert!(bytes <= MAX_GRAPH_PAGE_BYTES, "{bytes} bytes");
        println!("5,000 memories, 25,000 edges, widest columns: {bytes} bytes");
    }
}

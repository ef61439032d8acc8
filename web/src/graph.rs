//! The graph as the client knows it ([`GraphModel`], kept current by graph-data's pages and live
//! messages), and the renderer of `graph.js` it is drawn by, through wasm-bindgen.
//!
//! The model records what changed since the drawing last caught up, so a live change reaches
//! the canvas as a few small changes rather than the whole graph again.

use std::collections::HashMap;

use brain2_api::{GraphEdge, GraphNode, NodeId};
use wasm_bindgen::prelude::*;

/// A change for the drawing, in the form `graph.js` applies (`applyChanges`).
#[derive(Debug, Clone, PartialEq)]
pub enum Drawn {
    Node(NodeId, String),
    Drop(NodeId),
    Edge(NodeId, NodeId, u32),
    Cut(NodeId, NodeId),
}

/// A link to a node the graph does not have (yet): its message came before the node's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownEnd(pub NodeId);

#[derive(Debug, Clone, PartialEq)]
struct NodeEntry {
    label: String,
    /// From a live message; graph-data's pages carry none.
    version: Option<u64>,
}

/// The user's graph: labels by node, weights by undirected edge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphModel {
    nodes: HashMap<NodeId, NodeEntry>,
    edges: HashMap<(NodeId, NodeId), u32>,
    /// Nodes known deleted (a NodeDeleted message, or a delete this tab made), with the load
    /// generation in which each was recorded: a late message, or a load whose snapshot predates
    /// the delete, must not bring one back. A load that began after the delete was recorded and
    /// still holds the memory proves it back (import keeps ids): then the mark goes
    /// ([`Self::prune_deleted`]).
    deleted: HashMap<NodeId, u64>,
    /// Raised as each load begins ([`Self::begin_load`]).
    generation: u64,
    /// Edges to a node not known yet: connect-node's message about a new memory's links can
    /// arrive before the backend's about the memory. Drawn once the node comes.
    held: HashMap<(NodeId, NodeId), u32>,
    /// Changes the drawing has not applied; `None` when it must take the whole graph again.
    pending: Option<Vec<Drawn>>,
}

/// More changes than this since the drawing caught up: it takes the whole graph instead.
const MAX_PENDING: usize = 5_000;

fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    if a < b { (a, b) } else { (b, a) }
}

impl GraphModel {
    /// Replaces everything with graph-data's pages, but the nodes known deleted. An
    /// edge whose far end no page returned was removed with that node between two pages, and is
    /// left out. graph-data carries no versions: `version` gives each node's where the caller
    /// knows it (the list loaded beside it), so an older live message cannot relabel it.
    pub fn load(&mut self, nodes: Vec<GraphNode>, edges: &[GraphEdge], version: impl Fn(NodeId) -> Option<u64>) {
        let before = std::mem::take(&mut self.nodes);
        self.nodes = nodes
            .into_iter()
            .filter(|n| !self.deleted.contains_key(&n.id))
            .map(|n| {
                let known = version(n.id).or_else(|| before.get(&n.id).and_then(|entry| entry.version));
                (n.id, NodeEntry { version: known, label: n.label })
            })
            .collect();
        self.edges = edges
            .iter()
            .filter(|e| {
                e.source != e.target && self.nodes.contains_key(&e.source) && self.nodes.contains_key(&e.target)
            })
            .map(|e| (pair(e.source, e.target), e.weight))
            .collect();
        self.held.clear();
        self.pending = None;
    }

    /// Forgets everything, the deleted nodes too (sign-out); the drawing takes the empty graph.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether the node is known deleted.
    pub fn is_deleted(&self, id: NodeId) -> bool {
        self.deleted.contains_key(&id)
    }

    /// A load begins: deletions recorded from now on are newer than what it reads. Returns the
    /// load's generation, for [`Self::prune_deleted`] once it lands.
    pub fn begin_load(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// A load that began at `generation` landed, holding the memories `present` says: forgets
    /// the deletions it proves undone, recorded before it began and yet in its snapshot (read
    /// after them: an import brought the memory back). The others stay, against late messages.
    pub fn prune_deleted(&mut self, generation: u64, present: impl Fn(NodeId) -> bool) {
        self.deleted.retain(|id, recorded| *recorded >= generation || !present(*id));
    }

    fn record(&mut self, change: Drawn) {
        if let Some(pending) = &mut self.pending {
            if pending.len() >= MAX_PENDING {
                self.pending = None;
            } else {
                pending.push(change);
            }
        }
    }

    /// Adds a node or relabels it. With a version, an older one than shown is ignored (the same
    /// one is applied: a load's graph and list are read a moment apart, so its label may be a
    /// version behind the version it was given); a deleted node stays deleted. Returns whether
    /// anything changed.
    pub fn upsert_node(&mut self, id: NodeId, label: &str, version: Option<u64>) -> bool {
        if self.deleted.contains_key(&id) {
            return false;
        }
        match self.nodes.get_mut(&id) {
            Some(entry) => {
                if version.is_some() && entry.version.is_some() && version < entry.version {
                    return false;
                }
                entry.version = version.or(entry.version);
                if entry.label == label {
                    return false;
                }
                entry.label = label.to_owned();
            }
            None => {
                self.nodes.insert(id, NodeEntry { label: label.to_owned(), version });
                self.record(Drawn::Node(id, label.to_owned()));
                self.release_held();
                return true;
            }
        }
        self.record(Drawn::Node(id, label.to_owned()));
        true
    }

    /// Keeps the edge between `a` and `b` until both ends are known ([`Self::set_edge`] said
    /// one is not).
    pub fn hold_edge(&mut self, a: NodeId, b: NodeId, weight: u32) {
        if a != b && !self.deleted.contains_key(&a) && !self.deleted.contains_key(&b) {
            self.held.insert(pair(a, b), weight);
        }
    }

    /// Whether the edge between `a` and `b` still waits for one of its ends.
    pub fn is_held(&self, a: NodeId, b: NodeId) -> bool {
        self.held.contains_key(&pair(a, b))
    }

    fn release_held(&mut self) {
        let ready: Vec<((NodeId, NodeId), u32)> = self
            .held
            .iter()
            .filter(|((a, b), _)| self.nodes.contains_key(a) && self.nodes.contains_key(b))
            .map(|(ends, weight)| (*ends, *weight))
            .collect();
        for ((a, b), weight) in ready {
            self.held.remove(&(a, b));
            let _ = self.set_edge(a, b, weight);
        }
    }

    /// Removes a node known deleted, and its edges; it stays out (see `deleted`).
    pub fn remove_node(&mut self, id: NodeId) -> bool {
        self.deleted.insert(id, self.generation);
        self.drop_node(id)
    }

    /// Removes a node and its edges, without marking it deleted: a load that did not find it.
    pub fn drop_node(&mut self, id: NodeId) -> bool {
        self.held.retain(|(a, b), _| *a != id && *b != id);
        if self.nodes.remove(&id).is_none() {
            return false;
        }
        self.edges.retain(|(a, b), _| *a != id && *b != id);
        self.record(Drawn::Drop(id));
        true
    }

    /// Adds or reweighs the edge between `a` and `b`.
    pub fn set_edge(&mut self, a: NodeId, b: NodeId, weight: u32) -> Result<bool, UnknownEnd> {
        for end in [a, b] {
            if !self.nodes.contains_key(&end) {
                return Err(UnknownEnd(end));
            }
        }
        if a == b || self.edges.insert(pair(a, b), weight) == Some(weight) {
            return Ok(false);
        }
        self.record(Drawn::Edge(a, b, weight));
        Ok(true)
    }

    pub fn remove_edge(&mut self, a: NodeId, b: NodeId) -> bool {
        self.held.remove(&pair(a, b));
        if self.edges.remove(&pair(a, b)).is_none() {
            return false;
        }
        self.record(Drawn::Cut(a, b));
        true
    }

    pub fn label(&self, id: NodeId) -> Option<&str> {
        self.nodes.get(&id).map(|n| n.label.as_str())
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// What the drawing has to apply: `Some(changes)` (perhaps none), or `None` to draw the
    /// whole graph again. The drawing has caught up afterwards.
    pub fn take_changes(&mut self) -> Option<Vec<Drawn>> {
        self.pending.replace(Vec::new())
    }

    /// The graph as `graph.js` loads it: ids and labels (in id order), then each edge as two
    /// indices into them and its weight.
    fn columns(&self) -> (js_sys::Array, js_sys::Array, js_sys::Uint32Array, js_sys::Uint8Array) {
        let mut ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        ids.sort();
        let index: HashMap<NodeId, u32> = ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
        let (names, labels) = (js_sys::Array::new(), js_sys::Array::new());
        for id in &ids {
            names.push(&JsValue::from_str(&id.to_string()));
            labels.push(&JsValue::from_str(&self.nodes[id].label));
        }
        let mut edges: Vec<(&(NodeId, NodeId), &u32)> = self.edges.iter().collect();
        edges.sort();
        let mut ends = Vec::with_capacity(edges.len() * 2);
        let mut weights = Vec::with_capacity(edges.len());
        for ((a, b), weight) in edges {
            ends.extend([index[a], index[b]]);
            weights.push((*weight).min(255) as u8);
        }
        (names, labels, js_sys::Uint32Array::from(&ends[..]), js_sys::Uint8Array::from(&weights[..]))
    }
}

#[wasm_bindgen(module = "/src/graph.js")]
extern "C" {
    /// The renderer of `graph.js` on one container.
    #[derive(Debug, Clone)]
    pub type GraphView;

    #[wasm_bindgen(js_name = createGraph)]
    #[allow(clippy::too_many_arguments)]
    fn create_graph(
        container: &web_sys::HtmlElement,
        ids: js_sys::Array,
        labels: js_sys::Array,
        ends: js_sys::Uint32Array,
        weights: js_sys::Uint8Array,
        dark: bool,
        storage_key: &str,
        worker_url: &str,
        on_select: &js_sys::Function,
    ) -> GraphView;
    #[wasm_bindgen(js_name = resetGraph)]
    fn reset_graph(
        view: &GraphView,
        ids: js_sys::Array,
        labels: js_sys::Array,
        ends: js_sys::Uint32Array,
        weights: js_sys::Uint8Array,
    );
    #[wasm_bindgen(js_name = applyChanges)]
    fn apply_changes(view: &GraphView, changes: js_sys::Array) -> u32;
    #[wasm_bindgen(js_name = layoutWorkerUrl)]
    fn layout_worker_url() -> String;
    #[wasm_bindgen(js_name = applyTheme)]
    pub fn apply_theme(view: &GraphView, dark: bool);
    #[wasm_bindgen(js_name = selectNode)]
    pub fn select_node(view: &GraphView, id: &str);
    pub fn highlight(view: &GraphView, query: &str) -> u32;
    /// Marks the nodes whose ids are given (a search's results) and centres on the first drawn.
    #[wasm_bindgen(js_name = highlightIds)]
    pub fn highlight_ids(view: &GraphView, ids: &js_sys::Array) -> u32;
    #[wasm_bindgen(js_name = filterHops)]
    pub fn filter_hops(view: &GraphView, id: &str, hops: u32);
    pub fn fit(view: &GraphView);
    #[wasm_bindgen(js_name = zoomBy)]
    pub fn zoom_by(view: &GraphView, factor: f64);
    #[wasm_bindgen(js_name = panBy)]
    pub fn pan_by(view: &GraphView, dx: f64, dy: f64);
    #[wasm_bindgen(js_name = destroyGraph)]
    pub fn destroy(view: &GraphView);
}

/// Draws `model` in `container`, laying out only what has no kept position (`storage_key`
/// names where positions are kept); `on_select` gets a node id, or "" for the background.
pub fn create(
    container: &web_sys::HtmlElement,
    model: &GraphModel,
    dark: bool,
    storage_key: &str,
    on_select: impl Fn(String) + 'static,
) -> (GraphView, Closure<dyn Fn(String)>) {
    let callback = Closure::<dyn Fn(String)>::new(on_select);
    let (ids, labels, ends, weights) = model.columns();
    let view = create_graph(
        container,
        ids,
        labels,
        ends,
        weights,
        dark,
        storage_key,
        &layout_worker_url(),
        callback.as_ref().unchecked_ref(),
    );
    (view, callback)
}

/// Brings the drawing up to `model`: the recorded changes, or the whole graph after a load.
pub fn catch_up(view: &GraphView, model: &GraphModel, changes: Option<Vec<Drawn>>) {
    let Some(changes) = changes else {
        let (ids, labels, ends, weights) = model.columns();
        reset_graph(view, ids, labels, ends, weights);
        return;
    };
    if changes.is_empty() {
        return;
    }
    let list = js_sys::Array::new();
    for change in changes {
        let item = match change {
            Drawn::Node(id, label) => js_sys::Array::of3(&"node".into(), &id.to_string().into(), &label.into()),
            Drawn::Drop(id) => js_sys::Array::of2(&"drop".into(), &id.to_string().into()),
            Drawn::Edge(a, b, weight) => {
                js_sys::Array::of4(&"edge".into(), &a.to_string().into(), &b.to_string().into(), &JsValue::from(weight))
            }
            Drawn::Cut(a, b) => js_sys::Array::of3(&"cut".into(), &a.to_string().into(), &b.to_string().into()),
        };
        list.push(&item);
    }
    apply_changes(view, list);
}

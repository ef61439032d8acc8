//! Cytoscape.js through wasm-bindgen: the functions of `graph.js`, typed for Rust.

use brain2_api::{GraphEdge, GraphNode, NodeId};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// A Cytoscape element: a node (`label`) or an undirected edge (`source`, `target`, `weight`),
/// built from graph-data's pages and kept current by live messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphElement {
    pub data: ElementData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementData {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<NodeId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<NodeId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

impl GraphElement {
    pub fn node(id: NodeId, label: String) -> Self {
        Self { data: ElementData { id: id.to_string(), label: Some(label), source: None, target: None, weight: None } }
    }

    /// The id of the element for the edge between `a` and `b`, whichever way round.
    pub fn edge_id(a: NodeId, b: NodeId) -> String {
        let (source, target) = if a < b { (a, b) } else { (b, a) };
        format!("{source}-{target}")
    }

    pub fn edge(a: NodeId, b: NodeId, weight: u32) -> Self {
        let (source, target) = if a < b { (a, b) } else { (b, a) };
        Self {
            data: ElementData {
                id: Self::edge_id(a, b),
                label: None,
                source: Some(source),
                target: Some(target),
                weight: Some(weight),
            },
        }
    }

    pub fn is_edge(&self) -> bool {
        self.data.source.is_some()
    }
}

/// The elements of a graph read page by page. An edge whose far end no page returned was
/// removed with that node between two pages, and is left out.
pub fn elements(nodes: Vec<GraphNode>, edges: &[GraphEdge]) -> Vec<GraphElement> {
    let present: std::collections::HashSet<NodeId> = nodes.iter().map(|n| n.id).collect();
    let mut elements: Vec<GraphElement> = nodes.into_iter().map(|n| GraphElement::node(n.id, n.label)).collect();
    elements.extend(
        edges
            .iter()
            .filter(|e| present.contains(&e.source) && present.contains(&e.target))
            .map(|e| GraphElement::edge(e.source, e.target, e.weight)),
    );
    elements
}

#[wasm_bindgen(module = "/src/graph.js")]
extern "C" {
    /// A Cytoscape instance.
    #[derive(Debug, Clone)]
    pub type Cy;

    #[wasm_bindgen(js_name = createGraph)]
    fn create_graph(
        container: &web_sys::HtmlElement,
        elements: JsValue,
        dark: bool,
        on_select: &js_sys::Function,
    ) -> Cy;
    #[wasm_bindgen(js_name = applyTheme)]
    pub fn apply_theme(cy: &Cy, dark: bool);
    #[wasm_bindgen(js_name = updateGraph)]
    fn update_graph(cy: &Cy, elements: JsValue) -> u32;
    #[wasm_bindgen(js_name = selectNode)]
    pub fn select_node(cy: &Cy, id: &str);
    pub fn highlight(cy: &Cy, query: &str) -> u32;
    #[wasm_bindgen(js_name = filterHops)]
    pub fn filter_hops(cy: &Cy, id: &str, hops: u32);
    pub fn fit(cy: &Cy);
    #[wasm_bindgen(js_name = zoomBy)]
    pub fn zoom_by(cy: &Cy, factor: f64);
    #[wasm_bindgen(js_name = panBy)]
    pub fn pan_by(cy: &Cy, dx: f64, dy: f64);
    #[wasm_bindgen(js_name = destroyGraph)]
    pub fn destroy(cy: &Cy);
}

fn to_js(elements: &[GraphElement]) -> JsValue {
    let json = serde_json::to_string(elements).unwrap_or_else(|_| "[]".to_owned());
    js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL)
}

/// Draws `elements` in `container`; `on_select` gets a node id, or "" when the background is tapped.
pub fn create(
    container: &web_sys::HtmlElement,
    elements: &[GraphElement],
    dark: bool,
    on_select: impl Fn(String) + 'static,
) -> (Cy, Closure<dyn Fn(String)>) {
    let callback = Closure::<dyn Fn(String)>::new(on_select);
    let cy = create_graph(container, to_js(elements), dark, callback.as_ref().unchecked_ref());
    (cy, callback)
}

/// Brings the drawing to `elements` without moving what did not change.
pub fn update(cy: &Cy, elements: &[GraphElement]) -> u32 {
    update_graph(cy, to_js(elements))
}

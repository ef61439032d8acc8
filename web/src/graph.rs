//! Cytoscape.js through wasm-bindgen: the functions of `graph.js`, typed for Rust.

use brain2_api::GraphElement;
use wasm_bindgen::prelude::*;

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

//! The graph (Cytoscape): the search box's results highlighted, the hop filter, pan and zoom by
//! keyboard.

use brain2_api::NodeId;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::Closure;

use crate::graph::{self, Cy};
use crate::state::{State, mark};

#[component]
pub fn GraphView(state: State) -> impl IntoView {
    let container = NodeRef::<html::Div>::new();
    let cy = StoredValue::new_local(None::<Cy>);
    let callback = StoredValue::new_local(None::<Closure<dyn Fn(String)>>);
    let hops = RwSignal::new(0u32);
    Effect::new(move |_| {
        let elements = state.elements.get();
        let dark = state.dark.get();
        let Some(element) = container.get() else { return };
        let created = cy.with_value(Option::is_some);
        if created {
            cy.with_value(|cy| {
                if let Some(cy) = cy {
                    if graph::update(cy, &elements) > 0 {
                        mark("brain2:graph-changed");
                    }
                    graph::apply_theme(cy, dark);
                }
            });
        } else if !elements.is_empty() {
            let html: &web_sys::HtmlElement = element.as_ref();
            let (instance, on_select) = graph::create(html, &elements, dark, move |id: String| {
                let id = NodeId::parse(&id);
                spawn_local(async move { state.open(id).await });
            });
            cy.set_value(Some(instance));
            callback.set_value(Some(on_select));
            mark("brain2:graph-changed");
        }
    });
    Effect::new(move |_| {
        let selected = state.selected.get();
        let hops = hops.get();
        cy.with_value(|cy| {
            if let Some(cy) = cy {
                let id = selected.map(|s| s.to_string()).unwrap_or_default();
                graph::select_node(cy, &id);
                graph::filter_hops(cy, &id, hops);
            }
        });
    });
    // The search box's results (`State::search`), highlighted and the best one centred.
    Effect::new(move |_| {
        let ids: Vec<String> = state.search.with(|s| {
            s.as_ref().map(|s| s.hits.iter().map(|h| h.node.node_id.to_string()).collect()).unwrap_or_default()
        });
        state.elements.track();
        cy.with_value(|cy| {
            if let Some(cy) = cy {
                highlight_ids(cy, &ids);
            }
        });
    });
    on_cleanup(move || {
        cy.with_value(|cy| {
            if let Some(cy) = cy {
                graph::destroy(cy);
            }
        });
    });
    let with_cy = move |f: &dyn Fn(&Cy)| {
        cy.with_value(|cy| {
            if let Some(cy) = cy {
                f(cy)
            }
        })
    };
    view! {
        <div class="graph-tools">
            <label for="hops">"Around the selected"</label>
            <select id="hops" on:change=move |ev| hops.set(event_target_value(&ev).parse().unwrap_or(0))>
                <option value="0">"everything"</option>
                <option value="1">"1 hop"</option>
                <option value="2">"2 hops"</option>
                <option value="3">"3 hops"</option>
            </select>
            <button id="graph-fit" on:click=move |_| with_cy(&|cy| graph::fit(cy))>"Fit"</button>
            <button on:click=move |_| with_cy(&|cy| graph::zoom_by(cy, 1.25)) aria-label="Zoom in">"+"</button>
            <button on:click=move |_| with_cy(&|cy| graph::zoom_by(cy, 0.8)) aria-label="Zoom out">"−"</button>
        </div>
        <div id="graph" class="graph" node_ref=container tabindex="0" role="img"
            aria-label=move || {
                let (nodes, edges) = state.elements.with(|e| (e.iter().filter(|e| !e.is_edge()).count(), e.iter().filter(|e| e.is_edge()).count()));
                format!("Graph of {nodes} memories and {edges} links. Arrow keys pan, + and - zoom, f fits.")
            }
            data-nodes=move || state.elements.with(|e| e.iter().filter(|e| !e.is_edge()).count())
            data-edges=move || state.elements.with(|e| e.iter().filter(|e| e.is_edge()).count())
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                let step = 40.0;
                match ev.key().as_str() {
                    "ArrowLeft" => with_cy(&|cy| graph::pan_by(cy, step, 0.0)),
                    "ArrowRight" => with_cy(&|cy| graph::pan_by(cy, -step, 0.0)),
                    "ArrowUp" => with_cy(&|cy| graph::pan_by(cy, 0.0, step)),
                    "ArrowDown" => with_cy(&|cy| graph::pan_by(cy, 0.0, -step)),
                    "+" | "=" => with_cy(&|cy| graph::zoom_by(cy, 1.25)),
                    "-" => with_cy(&|cy| graph::zoom_by(cy, 0.8)),
                    "f" => with_cy(&|cy| graph::fit(cy)),
                    _ => return,
                }
                ev.prevent_default();
            }>
        </div>
        <Show when=move || state.loaded_once.get() && state.elements.with(Vec::is_empty)>
            <p class="muted graph-empty">"The graph appears once you have memories."</p>
        </Show>
    }
}

/// Marks the nodes `ids` with the class the graph's style shows matches with, clears the others,
/// and centres on the first. Through Cytoscape's own methods (`nodes`, `getElementById`,
/// `addClass`, `removeClass`, `animate`), so the graph's module needs nothing new.
fn highlight_ids(cy: &Cy, ids: &[String]) {
    use wasm_bindgen::{JsCast, JsValue};
    fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Option<JsValue> {
        let function =
            js_sys::Reflect::get(target, &JsValue::from_str(method)).ok()?.dyn_into::<js_sys::Function>().ok()?;
        function.apply(target, &args.iter().collect::<js_sys::Array>()).ok()
    }
    let cy: &JsValue = cy.as_ref();
    let matched = JsValue::from_str("match");
    if let Some(nodes) = call(cy, "nodes", &[]) {
        call(&nodes, "removeClass", std::slice::from_ref(&matched));
    }
    for id in ids {
        if let Some(node) = call(cy, "getElementById", &[JsValue::from_str(id)]) {
            call(&node, "addClass", std::slice::from_ref(&matched));
        }
    }
    if let Some(first) = ids.first().and_then(|id| call(cy, "getElementById", &[JsValue::from_str(id)])) {
        let center = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&center, &"eles".into(), &first);
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"center".into(), &center);
        let timing = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&timing, &"duration".into(), &JsValue::from_f64(200.0));
        call(cy, "animate", &[options.into(), timing.into()]);
    }
}

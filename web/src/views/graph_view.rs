//! The graph (graph.js's renderer): the search box's results highlighted, a find among the
//! labels drawn, the hop filter, pan and zoom by keyboard. The list of memories beside it is its
//! text alternative.

use brain2_api::NodeId;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::Closure;

use crate::graph::{self, GraphView as Drawing};
use crate::state::State;

/// Where this user's node positions are kept on this device: by the token's `sub`, so users who
/// share a browser keep their own.
fn positions_key(state: &State) -> String {
    let user = state
        .session
        .with_untracked(|s| s.as_ref().and_then(|s| token_subject(&s.access_token)))
        .unwrap_or_else(|| "anonymous".to_owned());
    format!("brain2.positions.{user}")
}

/// The `sub` claim of a JWT (read, not verified: it only names a local storage key).
fn token_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let mut base64: String = payload
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !base64.len().is_multiple_of(4) {
        base64.push('=');
    }
    let json = web_sys::window()?.atob(&base64).ok()?;
    let claims: serde_json::Value = serde_json::from_str(&json).ok()?;
    claims["sub"].as_str().filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).map(str::to_owned)
}

#[component]
pub fn GraphView(state: State) -> impl IntoView {
    let container = NodeRef::<html::Div>::new();
    let drawing = StoredValue::new_local(None::<Drawing>);
    let callback = StoredValue::new_local(None::<Closure<dyn Fn(String)>>);
    let query = RwSignal::new(String::new());
    let matches = RwSignal::new(None::<u32>);
    let hops = RwSignal::new(0u32);
    // The drawing follows the model: created once there is something to draw, then given only
    // what changed (or everything again after a load).
    Effect::new(move |_| {
        state.graph.track();
        let Some(element) = container.get() else { return };
        let changes = state.graph.try_update_untracked(|graph| graph.take_changes()).flatten();
        if drawing.with_value(Option::is_some) {
            drawing.with_value(|view| {
                if let Some(view) = view {
                    state.graph.with_untracked(|graph| graph::catch_up(view, graph, changes));
                }
            });
        } else if state.graph.with_untracked(|graph| graph.node_count() > 0) {
            let html: &web_sys::HtmlElement = element.as_ref();
            let key = positions_key(&state);
            let (view, on_select) = state.graph.with_untracked(|graph| {
                graph::create(html, graph, state.dark.get_untracked(), &key, move |id: String| {
                    let id = NodeId::parse(&id);
                    spawn_local(async move { state.open(id).await });
                })
            });
            if let Some(selected) = state.selected.get_untracked() {
                graph::select_node(&view, &selected.to_string());
                graph::filter_hops(&view, &selected.to_string(), hops.get_untracked());
            }
            drawing.set_value(Some(view));
            callback.set_value(Some(on_select));
        }
    });
    Effect::new(move |_| {
        let dark = state.dark.get();
        drawing.with_value(|view| {
            if let Some(view) = view {
                graph::apply_theme(view, dark);
            }
        });
    });
    Effect::new(move |_| {
        let selected = state.selected.get();
        let hops = hops.get();
        drawing.with_value(|view| {
            if let Some(view) = view {
                let id = selected.map(|s| s.to_string()).unwrap_or_default();
                graph::select_node(view, &id);
                graph::filter_hops(view, &id, hops);
            }
        });
    });
    // The search box's results (`State::search`), highlighted and the best one centred.
    Effect::new(move |_| {
        let ids: Vec<String> = state.search.with(|s| {
            s.as_ref().map(|s| s.hits.iter().map(|h| h.node.node_id.to_string()).collect()).unwrap_or_default()
        });
        // Only when the search's results change: a push must not move the user's view back to
        // the best hit, nor wipe what the find box marked.
        drawing.with_value(|view| {
            if let Some(view) = view {
                let ids: js_sys::Array = ids.iter().map(|id| wasm_bindgen::JsValue::from_str(id)).collect();
                graph::highlight_ids(view, &ids);
            }
        });
    });
    on_cleanup(move || {
        drawing.with_value(|view| {
            if let Some(view) = view {
                graph::destroy(view);
            }
        });
    });
    let with_drawing = move |f: &dyn Fn(&Drawing)| {
        drawing.with_value(|view| {
            if let Some(view) = view {
                f(view)
            }
        })
    };
    let search = move || {
        let text = query.get_untracked();
        with_drawing(&|view| matches.set(Some(graph::highlight(view, &text))));
    };
    view! {
        <div class="graph-tools">
            <label for="graph-search">"Find in the graph"</label>
            <input id="graph-search" type="search" placeholder="Find memories"
                prop:value=move || query.get()
                on:input=move |ev| { query.set(event_target_value(&ev)); search(); }/>
            <span class="muted" aria-live="polite" id="graph-matches">{move || matches.get().map(|m| format!("{m} found")).unwrap_or_default()}</span>
            <label for="hops">"Around the selected"</label>
            <select id="hops" on:change=move |ev| hops.set(event_target_value(&ev).parse().unwrap_or(0))>
                <option value="0">"everything"</option>
                <option value="1">"1 hop"</option>
                <option value="2">"2 hops"</option>
                <option value="3">"3 hops"</option>
            </select>
            <button id="graph-fit" on:click=move |_| with_drawing(&|view| graph::fit(view))>"Fit"</button>
            <button on:click=move |_| with_drawing(&|view| graph::zoom_by(view, 1.25)) aria-label="Zoom in">"+"</button>
            <button on:click=move |_| with_drawing(&|view| graph::zoom_by(view, 0.8)) aria-label="Zoom out">"−"</button>
        </div>
        <div id="graph" class="graph" node_ref=container tabindex="0" role="img"
            aria-label=move || {
                let (nodes, edges) = state.graph.with(|g| (g.node_count(), g.edge_count()));
                format!("Graph of {nodes} memories and {edges} links; the list of memories holds the same as text. Arrow keys pan, + and - zoom, f fits.")
            }
            data-nodes=move || state.graph.with(|g| g.node_count())
            data-edges=move || state.graph.with(|g| g.edge_count())
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                let step = 40.0;
                match ev.key().as_str() {
                    "ArrowLeft" => with_drawing(&|view| graph::pan_by(view, step, 0.0)),
                    "ArrowRight" => with_drawing(&|view| graph::pan_by(view, -step, 0.0)),
                    "ArrowUp" => with_drawing(&|view| graph::pan_by(view, 0.0, step)),
                    "ArrowDown" => with_drawing(&|view| graph::pan_by(view, 0.0, -step)),
                    "+" | "=" => with_drawing(&|view| graph::zoom_by(view, 1.25)),
                    "-" => with_drawing(&|view| graph::zoom_by(view, 0.8)),
                    "f" => with_drawing(&|view| graph::fit(view)),
                    _ => return,
                }
                ev.prevent_default();
            }>
        </div>
        <Show when=move || state.loaded_once.get() && state.graph.with(|g| g.node_count() == 0)>
            <p class="muted graph-empty">"The graph appears once you have memories."</p>
        </Show>
    }
}

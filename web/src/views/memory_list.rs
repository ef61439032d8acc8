//! The memories, newest first: infinite scroll (or "Load more") and bulk delete.

use std::collections::BTreeSet;

use brain2_api::{BulkDeleteStatus, NodeId, NodeView};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use super::MemoryItem;
use crate::state::State;

#[component]
pub fn MemoryList(state: State) -> impl IntoView {
    let sentinel = NodeRef::<html::Div>::new();
    let observer_closure = StoredValue::new_local(None::<Closure<dyn Fn(js_sys::Array)>>);
    let observer = StoredValue::new_local(None::<web_sys::IntersectionObserver>);
    // The observer must let go of its callback before the callback is dropped with this view.
    on_cleanup(move || {
        observer.with_value(|o| {
            if let Some(o) = o {
                o.disconnect();
            }
        })
    });
    Effect::new(move |_| {
        let Some(element) = sentinel.get() else { return };
        let callback = Closure::<dyn Fn(js_sys::Array)>::new(move |entries: js_sys::Array| {
            let visible = entries
                .iter()
                .any(|entry| entry.dyn_into::<web_sys::IntersectionObserverEntry>().is_ok_and(|e| e.is_intersecting()));
            if visible && state.cursor.get_untracked().is_some() {
                spawn_local(async move { state.load_more().await });
            }
        });
        if let Ok(created) = web_sys::IntersectionObserver::new(callback.as_ref().unchecked_ref()) {
            created.observe(&element);
            observer.set_value(Some(created));
        }
        observer_closure.set_value(Some(callback));
    });
    let deleting = RwSignal::new(false);
    let bulk_delete = move |_| {
        let ids: Vec<NodeId> = state.checked.get_untracked().into_iter().collect();
        let Some(api) = state.api() else { return };
        if deleting.get_untracked() || ids.is_empty() {
            return;
        }
        deleting.set(true);
        spawn_local(async move {
            let result = api.bulk_delete(&ids).await;
            deleting.set(false);
            match result {
                Ok(result) => {
                    let failed: BTreeSet<NodeId> = result
                        .results
                        .iter()
                        .filter(|r| r.status == BulkDeleteStatus::Failed)
                        .map(|r| r.node_id)
                        .collect();
                    let gone: BTreeSet<NodeId> = ids.iter().copied().filter(|id| !failed.contains(id)).collect();
                    state.forget_nodes(&gone);
                    if !failed.is_empty() {
                        let names: Vec<String> = state.nodes.with_untracked(|nodes| {
                            nodes
                                .iter()
                                .filter(|n| failed.contains(&n.node_id))
                                .map(|n| brain2_api::label(&n.content))
                                .collect()
                        });
                        state.error.set(Some(format!(
                            "{} of {} could not be deleted: {}",
                            failed.len(),
                            ids.len(),
                            names.join("; ")
                        )));
                    }
                }
                Err(error) => state.write_failed("delete the selected memories", error),
            }
        });
    };
    view! {
        <div class="list-head">
            <h2>"Memories"</h2>
            <button id="bulk-delete" disabled=move || deleting.get() || state.checked.with(BTreeSet::is_empty) on:click=bulk_delete>
                {move || format!("Delete selected ({})", state.checked.with(BTreeSet::len))}
            </button>
        </div>
        {move || state.tag_filter.get().map(|tag| {
            let loaded = state.nodes.with(Vec::len);
            let partial = state.cursor.with(Option::is_some);
            view! {
                <p class="tag-filter" role="status" id="tag-filter">
                    {format!("Tagged “{tag}”")}
                    {partial.then(|| format!(", among the {loaded} loaded so far"))}
                    " "<button class="link" id="clear-tag-filter" on:click=move |_| state.tag_filter.set(None)>"Show all"</button>
                </p>
            }
        })}
        // Until a first page arrives the list says it is loading (the banner says when the API
        // cannot be reached), so a failed load never looks like an empty account.
        <Show when=move || state.loaded_once.get() fallback=|| view! { <p role="status" id="list-loading">"Loading your memories…"</p> }>
            <Show when=move || !state.nodes.with(Vec::is_empty) fallback=|| view! {
                <p class="empty" id="empty-hint">"No memories yet. Write your first one above: memories that share words link up in the graph."</p>
            }>
                <ul class="memories" id="memories">
                    // Keyed by id alone: a memory that changes (a live update, a save) updates its item in
                    // place, so an open editor keeps its element, its focus and what is being typed.
                    <For each=move || shown(state) key=|n| n.node_id let:node>
                        <MemoryItem state id=node.node_id/>
                    </For>
                </ul>
            </Show>
        </Show>
        <div node_ref=sentinel class="sentinel"></div>
        <Show when=move || state.cursor.with(Option::is_some)>
            <button id="load-more" on:click=move |_| spawn_local(async move { state.load_more().await })>"Load more"</button>
        </Show>
    }
}

/// The loaded memories the list shows: all, or those with the chosen tag.
fn shown(state: State) -> Vec<NodeView> {
    let tag = state.tag_filter.get();
    state
        .nodes
        .with(|nodes| nodes.iter().filter(|n| tag.as_ref().is_none_or(|t| n.tags.contains(t))).cloned().collect())
}

//! One memory in the list: its text and keywords, or its editor; edit, delete, select.

use std::collections::BTreeSet;

use brain2_api::NodeId;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::EditBox;
use crate::api::ApiError;
use crate::state::{Editing, State};

#[component]
pub fn MemoryItem(state: State, id: NodeId) -> impl IntoView {
    let node = Memo::new(move |_| state.nodes.with(|nodes| nodes.iter().find(|n| n.node_id == id).cloned()));
    let content = move || node.with(|n| n.as_ref().map(|n| n.content.clone()).unwrap_or_default());
    // A tag is also a keyword (`#tag`, how tags link memories); the tags show on their own.
    let keywords = move || {
        node.with(|n| {
            n.as_ref()
                .map(|n| n.keywords.iter().filter(|k| !k.starts_with('#')).cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        })
    };
    let found = move || state.search.with(|s| s.as_ref().is_some_and(|s| s.has(id)));
    let tags = move || node.with(|n| n.as_ref().map(|n| n.tags.clone()).unwrap_or_default());
    let title = move || brain2_api::label(&content());
    let is_editing = move || state.editing.with(|e| e.as_ref().is_some_and(|e| e.id == id));
    let start_edit = move |_| {
        if let Some(node) = node.get_untracked() {
            // An edit the end of a session interrupted comes back, at the version it started
            // from (If-Match then tells a memory changed meanwhile, as always).
            let kept = crate::state::unstash_edit(id);
            state.editing.set(Some(kept.unwrap_or(Editing {
                id,
                text: node.content,
                tags: node.tags.join(", "),
                version: node.version,
                conflict: None,
            })))
        }
    };
    let deleting = RwSignal::new(false);
    let delete = move |_| {
        let Some(api) = state.api() else { return };
        if deleting.get_untracked() {
            return;
        }
        deleting.set(true);
        spawn_local(async move {
            let result = api.delete(id).await;
            deleting.set(false);
            match result {
                Ok(()) | Err(ApiError::NotFound) => {
                    state.forget_nodes(&BTreeSet::from([id]));
                }
                Err(error) => state.write_failed("delete the memory", error),
            }
        });
    };
    let checked = move || state.checked.with(|c| c.contains(&id));
    let toggle = move |_| {
        state.checked.update(|c| {
            if !c.remove(&id) {
                c.insert(id);
            }
        })
    };
    // The version the list shows, for the editor to say when the memory changed elsewhere.
    let shown_version = Signal::derive(move || node.with(|n| n.as_ref().map_or(0, |n| n.version)));
    view! {
        <li class="memory" class:hit=found data-id=id.to_string()>
            <input type="checkbox" class="pick" aria-label=move || format!("Select: {}", title()) prop:checked=checked on:change=toggle/>
            <Show when=is_editing fallback=move || view! {
                <div class="memory-body">
                    <button class="link memory-text" on:click=move |_| spawn_local(async move { state.open(Some(id)).await })>{content}</button>
                    <p class="muted keywords">{keywords}</p>
                    <Show when=move || !tags().is_empty()>
                        <ul class="tags" aria-label="Tags">
                            {move || tags().into_iter().map(|tag| {
                                let label = format!("Show the memories tagged {tag}");
                                let chosen = tag.clone();
                                view! { <li><button class="tag" aria-label=label on:click=move |_| state.tag_filter.set(Some(chosen.clone()))>{tag}</button></li> }
                            }).collect_view()}
                        </ul>
                    </Show>
                </div>
            }>
                <EditBox state shown_version/>
            </Show>
            <div class="actions">
                <button class="edit" on:click=start_edit aria-label=move || format!("Edit: {}", title())>"Edit"</button>
                <button class="delete" on:click=delete disabled=move || deleting.get() aria-label=move || format!("Delete: {}", title())>"Delete"</button>
            </div>
        </li>
    }
}

//! Editing a memory in place, sent with `If-Match`; a conflict shows the newer version.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::ApiError;
use crate::state::State;

#[component]
pub fn EditBox(state: State, shown_version: Signal<u64>) -> impl IntoView {
    let changed_elsewhere = move || {
        let began_at = state.editing.with(|e| e.as_ref().map_or(0, |e| e.version));
        shown_version.get() > began_at && state.editing.with(|e| e.as_ref().is_some_and(|e| e.conflict.is_none()))
    };
    let text = move || state.editing.with(|e| e.as_ref().map(|e| e.text.clone()).unwrap_or_default());
    // A memo, so typing does not re-render the conflict's buttons.
    let conflict = Memo::new(move |_| state.editing.with(|e| e.as_ref().and_then(|e| e.conflict.clone())));
    let save = move |version_override: Option<u64>| {
        let Some(editing) = state.editing.get_untracked() else { return };
        let Some(api) = state.api() else { return };
        let version = version_override.unwrap_or(editing.version);
        spawn_local(async move {
            match api.update(editing.id, &editing.text, version).await {
                Ok(node) => {
                    state.editing.set(None);
                    state.nodes.update(|nodes| {
                        if let Some(slot) = nodes.iter_mut().find(|n| n.node_id == node.node_id) {
                            *slot = node.clone();
                        }
                    });
                    if state.selected.get_untracked() == Some(node.node_id) {
                        state.open(Some(node.node_id)).await;
                    }
                    state.reload_graph().await;
                }
                Err(ApiError::Conflict(current)) => {
                    state.editing.update(|e| {
                        if let Some(e) = e {
                            e.conflict = Some(*current);
                        }
                    });
                }
                Err(error) => state.failed("save your edit", error),
            }
        });
    };
    let take_theirs = move |_| {
        let Some(editing) = state.editing.get_untracked() else { return };
        if let Some(current) = editing.conflict {
            state.nodes.update(|nodes| {
                if let Some(slot) = nodes.iter_mut().find(|n| n.node_id == current.node_id) {
                    *slot = current.clone();
                }
            });
        }
        state.editing.set(None);
    };
    view! {
        <div class="edit-box">
            <label for="edit-text" class="visually-hidden">"Edit the memory"</label>
            <textarea id="edit-text" rows="3" prop:value=text
                on:input=move |ev| { let v = event_target_value(&ev); state.editing.update(|e| if let Some(e) = e { e.text = v; }); }
                on:keydown=move |ev: web_sys::KeyboardEvent| {
                    if (ev.ctrl_key() || ev.meta_key()) && ev.key() == "Enter" { ev.prevent_default(); save(None); }
                    if ev.key() == "Escape" { state.editing.set(None); }
                }></textarea>
            <Show when=changed_elsewhere>
                <p class="muted" role="status" id="changed-elsewhere">"This memory changed elsewhere while you were editing. Saving shows you both versions."</p>
            </Show>
            {move || conflict.get().map(|current| {
                let newer = current.version;
                view! {
                    <div class="conflict" role="alert" id="conflict">
                        <p>"This memory was changed elsewhere. The newer version:"</p>
                        <blockquote id="conflict-theirs">{current.content.clone()}</blockquote>
                        <button id="keep-mine" on:click=move |_| save(Some(newer))>"Keep mine"</button>
                        <button id="take-theirs" on:click=take_theirs>"Take theirs"</button>
                    </div>
                }
            })}
            <div class="row">
                <button id="save-edit" on:click=move |_| save(None)>"Save"</button>
                <button class="link" on:click=move |_| state.editing.set(None)>"Cancel"</button>
            </div>
        </div>
    }
}

//! Editing a memory's text and tags in place, sent with `If-Match`; a conflict shows the newer
//! version, and the user keeps theirs or takes it.

use brain2_api::NodeInput;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::ApiError;
use crate::state::{State, check_tags, parse_tags};

#[component]
pub fn EditBox(state: State, shown_version: Signal<u64>) -> impl IntoView {
    let saving = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let changed_elsewhere = move || {
        let began_at = state.editing.with(|e| e.as_ref().map_or(0, |e| e.version));
        shown_version.get() > began_at && state.editing.with(|e| e.as_ref().is_some_and(|e| e.conflict.is_none()))
    };
    let text = move || state.editing.with(|e| e.as_ref().map(|e| e.text.clone()).unwrap_or_default());
    let tags = move || state.editing.with(|e| e.as_ref().map(|e| e.tags.clone()).unwrap_or_default());
    // A memo, so typing does not re-render the conflict's buttons.
    let conflict = Memo::new(move |_| state.editing.with(|e| e.as_ref().and_then(|e| e.conflict.clone())));
    let save = move |version_override: Option<u64>| {
        // One save at a time: a second one on its way would be refused as a conflict with the first.
        if saving.get_untracked() {
            return;
        }
        let Some(sent) = state.editing.get_untracked() else { return };
        let Some(api) = state.api() else { return };
        let input = NodeInput { content: sent.text.clone(), tags: parse_tags(&sent.tags) };
        if let Err(invalid) = check_tags(&input.tags).and_then(|()| input.clone().validate().map_err(|e| e.0)) {
            problem.set(Some(invalid));
            return;
        }
        let version = version_override.unwrap_or(sent.version);
        saving.set(true);
        problem.set(None);
        spawn_local(async move {
            let result = api.update(sent.id, &input, version).await;
            saving.set(false);
            match result {
                Ok(node) => {
                    // Closed, unless more was typed while the save was on its way: that stays open,
                    // based on the version just saved.
                    state.editing.update(|editing| {
                        let typed_more = editing.as_ref().is_some_and(|e| e.text != sent.text || e.tags != sent.tags);
                        match editing {
                            Some(e) if typed_more && e.id == node.node_id => {
                                e.version = node.version;
                                e.conflict = None;
                            }
                            _ => *editing = None,
                        }
                    });
                    let id = node.node_id;
                    state.upsert(node);
                    if state.selected.get_untracked() == Some(id) {
                        state.open(Some(id)).await;
                    }
                }
                Err(ApiError::Conflict(current)) => {
                    state.editing.update(|e| {
                        if let Some(e) = e {
                            e.conflict = Some(*current);
                        }
                    });
                }
                Err(ApiError::Failed(message)) => problem.set(Some(format!("Not saved: {message}"))),
                Err(error) => state.write_failed("save your edit", error),
            }
        });
    };
    let take_theirs = move |_| {
        let Some(editing) = state.editing.get_untracked() else { return };
        if let Some(current) = editing.conflict {
            state.upsert(current);
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
            <label for="edit-tags">"Tags"</label>
            <input id="edit-tags" type="text" placeholder="Separated by commas" autocomplete="off" prop:value=tags
                on:input=move |ev| { let v = event_target_value(&ev); state.editing.update(|e| if let Some(e) = e { e.tags = v; }); }
                on:keydown=move |ev: web_sys::KeyboardEvent| {
                    if ev.key() == "Enter" { ev.prevent_default(); save(None); }
                    if ev.key() == "Escape" { state.editing.set(None); }
                }/>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <Show when=changed_elsewhere>
                <p class="muted" role="status" id="changed-elsewhere">"This memory changed elsewhere while you were editing. Saving shows you both versions."</p>
            </Show>
            {move || conflict.get().map(|current| {
                let newer = current.version;
                let their_tags = if current.tags.is_empty() { String::new() } else { format!("Tags: {}", current.tags.join(", ")) };
                view! {
                    <div class="conflict" role="alert" id="conflict">
                        <p>"This memory was changed elsewhere. The newer version:"</p>
                        <blockquote id="conflict-theirs">{current.content.clone()}</blockquote>
                        <p class="muted">{their_tags}</p>
                        <button id="keep-mine" disabled=move || saving.get() on:click=move |_| save(Some(newer))>"Keep mine"</button>
                        <button id="take-theirs" on:click=take_theirs>"Take theirs"</button>
                    </div>
                }
            })}
            <div class="row">
                <button id="save-edit" disabled=move || saving.get() on:click=move |_| save(None)>
                    {move || if saving.get() { "Saving…" } else { "Save" }}
                </button>
                <button class="link" on:click=move |_| state.editing.set(None)>"Cancel"</button>
            </div>
        </div>
    }
}

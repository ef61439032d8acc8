//! The composer: a new memory and its tags, the draft kept in localStorage until it is saved.

use brain2_api::NodeInput;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::ApiError;
use crate::state::{State, check_tags, parse_tags};

#[component]
pub fn Composer(state: State) -> impl IntoView {
    let saving = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let last_keywords = RwSignal::new(Vec::<String>::new());
    let save = move || {
        // One save at a time: a second Ctrl+Enter or click while the first is on its way would
        // store the memory twice.
        if saving.get_untracked() {
            return;
        }
        let (text, tags_text) = (state.draft.get_untracked(), state.draft_tags.get_untracked());
        let tags = parse_tags(&tags_text);
        let input = NodeInput { content: text.clone(), tags };
        if let Err(invalid) = check_tags(&input.tags).and_then(|()| input.clone().validate().map_err(|e| e.0)) {
            problem.set(Some(invalid));
            return;
        }
        let Some(api) = state.api() else { return };
        saving.set(true);
        problem.set(None);
        spawn_local(async move {
            let result = api.create(&input).await;
            saving.set(false);
            match result {
                Ok(node) => {
                    // What was typed while the save was on its way stays.
                    if state.draft.get_untracked() == text && state.draft_tags.get_untracked() == tags_text {
                        state.set_draft(String::new(), String::new());
                    }
                    last_keywords.set(node.keywords.clone());
                    state.upsert(node);
                    state.loaded_once.set(true);
                }
                Err(ApiError::Down(why)) => {
                    problem.set(Some(format!(
                        "Not saved: the Brain2 API cannot be reached ({why}). Your text is kept; save again once it is back."
                    )));
                    state.failed("save the memory", ApiError::Down(why));
                }
                Err(ApiError::Failed(message)) => problem.set(Some(format!("Not saved: {message}"))),
                Err(error) => state.write_failed("save the memory", error),
            }
        });
    };
    view! {
        <form class="card composer" on:submit=move |ev| { ev.prevent_default(); save(); }>
            <label for="composer">"New memory"</label>
            <textarea id="composer" rows="3" placeholder="What do you want to remember? (Ctrl+Enter saves)"
                prop:value=move || state.draft.get()
                on:input=move |ev| state.set_draft(event_target_value(&ev), state.draft_tags.get_untracked())
                on:keydown=move |ev: web_sys::KeyboardEvent| {
                    if (ev.ctrl_key() || ev.meta_key()) && ev.key() == "Enter" { ev.prevent_default(); save(); }
                }></textarea>
            <label for="composer-tags">"Tags"</label>
            <input id="composer-tags" type="text" placeholder="Separated by commas (optional)" autocomplete="off"
                prop:value=move || state.draft_tags.get()
                on:input=move |ev| state.set_draft(state.draft.get_untracked(), event_target_value(&ev))/>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <div class="row">
                <button id="save-memory" type="submit" disabled=move || saving.get()>
                    {move || if saving.get() { "Saving…" } else { "Save" }}
                </button>
                <span class="muted" id="last-keywords" aria-live="polite">
                    {move || {
                        let k = last_keywords.get();
                        if k.is_empty() { String::new() } else { format!("Keywords: {}", k.join(", ")) }
                    }}
                </span>
            </div>
        </form>
    }
}

//! The composer: a new memory, its draft kept in localStorage until it is saved.

use brain2_api::NodeInput;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::auth;
use crate::graph::GraphElement;
use crate::state::{DRAFT_KEY, State};

#[component]
pub fn Composer(state: State) -> impl IntoView {
    let draft = RwSignal::new(auth::unstash(DRAFT_KEY));
    let saving = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let last_keywords = RwSignal::new(Vec::<String>::new());
    let save = move || {
        let text = draft.get_untracked();
        if let Err(invalid) = (NodeInput { content: text.clone(), tags: vec![] }).validate() {
            problem.set(Some(invalid.0));
            return;
        }
        let Some(api) = state.api() else { return };
        saving.set(true);
        problem.set(None);
        spawn_local(async move {
            let result = api.create(&text).await;
            saving.set(false);
            match result {
                Ok(node) => {
                    draft.set(String::new());
                    auth::stash(DRAFT_KEY, "");
                    last_keywords.set(node.keywords.clone());
                    state.nodes.update(|nodes| nodes.insert(0, node.clone()));
                    state.loaded_once.set(true);
                    state
                        .elements
                        .update(|e| e.push(GraphElement::node(node.node_id, brain2_api::label(&node.content))));
                }
                Err(error) => state.failed("save the memory", error),
            }
        });
    };
    view! {
        <form class="card composer" on:submit=move |ev| { ev.prevent_default(); save(); }>
            <label for="composer">"New memory"</label>
            <textarea id="composer" rows="3" placeholder="What do you want to remember? (Ctrl+Enter saves)"
                prop:value=move || draft.get()
                on:input=move |ev| { let v = event_target_value(&ev); auth::stash(DRAFT_KEY, &v); draft.set(v); }
                on:keydown=move |ev: web_sys::KeyboardEvent| {
                    if (ev.ctrl_key() || ev.meta_key()) && ev.key() == "Enter" { ev.prevent_default(); save(); }
                }></textarea>
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

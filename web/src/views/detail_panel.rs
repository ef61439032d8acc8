//! The side panel: the selected memory's content, keywords and links.

use brain2_api::NodeId;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::state::{State, label_of};

#[component]
pub fn DetailPanel(state: State) -> impl IntoView {
    view! {
        <Show when=move || state.detail.with(Option::is_some)>
            <aside class="card detail" id="detail" aria-label="The selected memory">
                {move || state.detail.get().map(|node| {
                    let links: Vec<NodeId> = node.edges.clone().unwrap_or_default();
                    view! {
                        <button class="link close" on:click=move |_| spawn_local(async move { state.open(None).await }) aria-label="Close">"×"</button>
                        <p class="detail-content" id="detail-content">{node.content.clone()}</p>
                        <p class="muted">"Keywords: "{node.keywords.join(", ")}</p>
                        {(!node.tags.is_empty()).then(|| view! { <p class="muted" id="detail-tags">"Tags: "{node.tags.join(", ")}</p> })}
                        <h3>{format!("Linked memories ({})", links.len())}</h3>
                        <ul class="links" id="detail-links">
                            {links.into_iter().map(|other| {
                                let text = state.graph.with(|graph| label_of(graph, other));
                                view! { <li><button class="link" on:click=move |_| spawn_local(async move { state.open(Some(other)).await })>{text}</button></li> }
                            }).collect_view()}
                        </ul>
                    }
                })}
            </aside>
        </Show>
    }
}

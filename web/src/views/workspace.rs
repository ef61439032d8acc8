//! The signed-in page: the bar, the banners, the memories beside the graph.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{Composer, DetailPanel, GraphView, MemoryList, SearchBox, YourData};
use crate::auth;
use crate::state::State;

#[component]
pub fn Workspace(state: State) -> impl IntoView {
    let sign_out = move |_| {
        let (Some(config), Some(session)) = (state.config.get_untracked(), state.session.get_untracked()) else {
            return;
        };
        state.end_session(None);
        // A sign-out is meant for every tab: whatever session is saved goes.
        auth::forget();
        spawn_local(async move { auth::sign_out(&config, &session).await });
    };
    view! {
        <header class="bar">
            <h1>"Brain2"</h1>
            <span class="live" role="status" aria-live="polite" id="live-status">{move || state.live.get()}</span>
            <span class="muted who">{move || state.session.get().map(|s| s.email).unwrap_or_default()}</span>
            <button id="sign-out" on:click=sign_out>"Sign out"</button>
        </header>
        {move || state.api_down.get().map(|m| view! { <div class="banner" role="alert" id="api-down">{m}</div> })}
        {move || state.error.get().map(|m| view! {
            <div class="error-banner" role="alert" id="error">
                {m}" "<button class="link" on:click=move |_| state.error.set(None)>"Dismiss"</button>
            </div>
        })}
        <main class="layout">
            <section class="column" aria-label="Memories">
                <SearchBox state/>
                <Composer state/>
                <MemoryList state/>
            </section>
            <section class="graph-column" aria-label="Graph">
                <GraphView state/>
            </section>
            <DetailPanel state/>
        </main>
        <footer class="footer">
            <YourData state/>
        </footer>
    }
}

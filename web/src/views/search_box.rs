//! The search box: every memory of the user through `GET /api/search` (words, prefixes,
//! `tag:x`), its results listed with what matched, and highlighted in the memory list and the
//! graph (`State::search`).

use brain2_api::{NodeId, SearchHit};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::state::{Search, State};

/// Typing waits this long for the next key before asking.
const DEBOUNCE_MS: u32 = 250;

#[component]
pub fn SearchBox(state: State) -> impl IntoView {
    let query = RwSignal::new(String::new());
    // Each keystroke supersedes the ones before: only the latest query's answer is shown.
    let asked = StoredValue::new(0u64);
    let pending = StoredValue::new_local(None::<gloo_timers::callback::Timeout>);
    let run = move |text: String, cursor: Option<String>| {
        let Some(api) = state.api() else { return };
        let ticket = asked.get_value() + 1;
        asked.set_value(ticket);
        spawn_local(async move {
            let result = api.search(&text, cursor.as_deref()).await;
            if asked.get_value() != ticket {
                return;
            }
            match result {
                Ok(page) => state.search.update(|search| match (search, cursor.is_some()) {
                    (Some(shown), true) if shown.query == text => {
                        // A memory edited between the pages may rank on both: shown once.
                        let mut ids: std::collections::HashSet<NodeId> =
                            shown.hits.iter().map(|hit| hit.node.node_id).collect();
                        shown.hits.extend(page.results.into_iter().filter(|hit| ids.insert(hit.node.node_id)));
                        shown.next_cursor = page.next_cursor;
                        // A later page of a broad query may know of more matches.
                        if !shown.total_exact {
                            shown.total = shown.total.max(page.total);
                            shown.total_exact = page.total_exact;
                        }
                    }
                    (search, _) => {
                        *search = Some(Search {
                            query: text.clone(),
                            total: page.total,
                            total_exact: page.total_exact,
                            hits: page.results,
                            next_cursor: page.next_cursor,
                        })
                    }
                }),
                Err(error) => state.failed("search", error),
            }
        });
    };
    let on_input = move |ev| {
        let text = event_target_value(&ev);
        query.set(text.clone());
        pending.set_value(None);
        if text.trim().is_empty() {
            asked.update_value(|t| *t += 1);
            state.search.set(None);
            return;
        }
        let text: String = text.chars().take(brain2_api::search::MAX_QUERY_CHARS).collect();
        pending.set_value(Some(gloo_timers::callback::Timeout::new(DEBOUNCE_MS, move || run(text, None))));
    };
    let clear = move |_| {
        query.set(String::new());
        asked.update_value(|t| *t += 1);
        state.search.set(None);
    };
    view! {
        <div class="search" role="search">
            <label for="search">"Search all memories"</label>
            <input id="search" type="search" placeholder="words, prefixes or tag:name"
                prop:value=move || query.get() on:input=on_input/>
            <span class="muted" id="search-count" aria-live="polite">
                {move || state.search.with(|s| s.as_ref().map(found_label).unwrap_or_default())}
            </span>
            <Show when=move || state.search.with(Option::is_some)>
                <button class="link" id="search-clear" on:click=clear>"Clear"</button>
            </Show>
        </div>
        <Show when=move || state.search.with(Option::is_some)>
            <ol class="search-results" id="search-results" aria-label="Search results">
                <For each=move || state.search.with(|s| s.as_ref().map(|s| s.hits.clone()).unwrap_or_default())
                    key=|hit| hit.node.node_id let:hit>
                    <SearchResult state hit/>
                </For>
            </ol>
            <Show when=move || state.search.with(|s| s.as_ref().is_some_and(|s| s.next_cursor.is_some()))>
                <button id="search-more" on:click=move |_| {
                    if let Some(search) = state.search.get_untracked() {
                        run(search.query, search.next_cursor);
                    }
                }>"More results"</button>
            </Show>
        </Show>
    }
}

#[component]
fn SearchResult(state: State, hit: SearchHit) -> impl IntoView {
    let id: NodeId = hit.node.node_id;
    let matched = hit.matched.join(", ");
    view! {
        <li class="search-hit" data-id=id.to_string()>
            <button class="link" on:click=move |_| spawn_local(async move { state.open(Some(id)).await })>
                {brain2_api::label(&hit.node.content)}
            </button>
            <span class="muted">" matched: "<mark>{matched}</mark></span>
        </li>
    }
}

/// "12 found", or "277+ found" when a broad query's total is a lower bound.
fn found_label(search: &Search) -> String {
    if search.total_exact { format!("{} found", search.total) } else { format!("{}+ found", search.total) }
}

//! The interface: sign-in, the composer, the memory list and the graph, kept current by the
//! live connection.

use std::collections::BTreeSet;

use brain2_api::{BulkDeleteStatus, Change, LiveMessage, NodeId, NodeInput, NodeView};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::api::{Api, ApiError};
use crate::auth::{self, RuntimeConfig, Session};
use crate::graph::{self, Cy, GraphElement};
use crate::live::{self, LiveEvent};

const PAGE_SIZE: usize = 20;
const DRAFT_KEY: &str = "brain2.draft";
/// Refresh the access token this long before it expires.
const REFRESH_MARGIN_SECONDS: i64 = 60;

/// An edit in progress, and what the server said when it conflicted.
#[derive(Debug, Clone, PartialEq)]
struct Editing {
    id: NodeId,
    text: String,
    version: u64,
    conflict: Option<NodeView>,
}

/// Everything the views share. Signals are `Copy`, so the whole state is too.
#[derive(Clone, Copy)]
struct State {
    config: RwSignal<Option<RuntimeConfig>>,
    session: RwSignal<Option<Session>>,
    notice: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
    api_down: RwSignal<Option<String>>,
    nodes: RwSignal<Vec<NodeView>>,
    cursor: RwSignal<Option<String>>,
    loading: RwSignal<bool>,
    loaded_once: RwSignal<bool>,
    elements: RwSignal<Vec<GraphElement>>,
    selected: RwSignal<Option<NodeId>>,
    detail: RwSignal<Option<NodeView>>,
    checked: RwSignal<BTreeSet<NodeId>>,
    editing: RwSignal<Option<Editing>>,
    live: RwSignal<String>,
    dark: RwSignal<bool>,
}

impl State {
    fn api(&self) -> Option<Api> {
        let config = self.config.get_untracked()?;
        let session = self.session.get_untracked()?;
        Some(Api { base: config.http_api_url, token: session.access_token })
    }

    /// What every failed call does: a refused token returns the user to sign-in (their draft is
    /// kept in localStorage), an unreachable API shows the banner and retries, anything else is
    /// an error message that says what failed.
    fn failed(&self, doing: &str, error: ApiError) {
        match error {
            ApiError::Unauthorized => {
                auth::forget();
                self.session.set(None);
                self.notice.set(Some("Your session has ended. Sign in again; your draft is kept.".to_owned()));
            }
            ApiError::Down(why) => {
                self.api_down.set(Some(format!("The Brain2 API cannot be reached ({why}). Retrying…")));
                let state = *self;
                spawn_local(async move {
                    gloo_timers::future::TimeoutFuture::new(3_000).await;
                    if state.session.get_untracked().is_some() {
                        state.refresh_all().await;
                    }
                });
            }
            other => self.error.set(Some(format!("Could not {doing}: {other}"))),
        }
    }

    /// Exchanges the refresh token for a new session; a refusal returns the user to sign-in.
    async fn renew(&self, config: &RuntimeConfig, current: &Session) {
        match auth::refresh(config, current).await {
            Ok(next) => {
                auth::save(&next);
                self.session.set(Some(next));
            }
            Err(_) => self.failed("renew your session", ApiError::Unauthorized),
        }
    }

    /// The first page and the graph, fetched together.
    async fn refresh_all(&self) {
        let Some(api) = self.api() else { return };
        self.loading.set(true);
        let (list, graph) = futures::join!(api.list(None, PAGE_SIZE), api.graph());
        match graph {
            Ok((nodes, edges)) => self.elements.set(graph::elements(nodes, &edges)),
            Err(error) => self.failed("load the graph", error),
        }
        match list {
            Ok(page) => {
                self.api_down.set(None);
                self.merge_first_page(page.nodes, page.next_cursor);
            }
            Err(error) => {
                self.loading.set(false);
                return self.failed("load your memories", error);
            }
        }
        self.loading.set(false);
        self.loaded_once.set(true);
    }

    /// The first page replaces the head of the list; pages loaded further down are kept.
    fn merge_first_page(&self, first: Vec<NodeView>, cursor: Option<String>) {
        self.nodes.update(|nodes| {
            let fresh: BTreeSet<NodeId> = first.iter().map(|n| n.node_id).collect();
            let had_more = nodes.len() > first.len();
            let rest: Vec<NodeView> = if had_more {
                nodes.drain(..).skip(first.len()).filter(|n| !fresh.contains(&n.node_id)).collect()
            } else {
                vec![]
            };
            *nodes = first;
            nodes.extend(rest);
        });
        if self.cursor.get_untracked().is_none() || self.nodes.with_untracked(|n| n.len() <= PAGE_SIZE) {
            self.cursor.set(cursor);
        }
    }

    async fn load_more(&self) {
        let (Some(api), Some(cursor)) = (self.api(), self.cursor.get_untracked()) else { return };
        if self.loading.get_untracked() {
            return;
        }
        self.loading.set(true);
        let result = api.list(Some(&cursor), PAGE_SIZE).await;
        self.loading.set(false);
        match result {
            Ok(page) => {
                self.nodes.update(|nodes| {
                    let known: BTreeSet<NodeId> = nodes.iter().map(|n| n.node_id).collect();
                    nodes.extend(page.nodes.into_iter().filter(|n| !known.contains(&n.node_id)));
                });
                self.cursor.set(page.next_cursor);
            }
            Err(error) => self.failed("load more memories", error),
        }
    }

    async fn reload_graph(&self) {
        let Some(api) = self.api() else { return };
        match api.graph().await {
            Ok((nodes, edges)) => self.elements.set(graph::elements(nodes, &edges)),
            Err(error) => self.failed("load the graph", error),
        }
    }

    async fn open(&self, id: Option<NodeId>) {
        self.selected.set(id);
        let (Some(id), Some(api)) = (id, self.api()) else {
            self.detail.set(None);
            return;
        };
        match api.get(id).await {
            Ok(node) => self.detail.set(Some(node)),
            Err(ApiError::NotFound) => {
                self.detail.set(None);
                self.selected.set(None);
            }
            Err(error) => self.failed("open the memory", error),
        }
    }

    /// Applies a live message in place: the graph from the message alone, the list by fetching
    /// the one node that changed. A message of another format version refetches everything.
    async fn apply(&self, message: LiveMessage) {
        if message.version != brain2_api::LIVE_FORMAT_VERSION {
            return self.refresh_all().await;
        }
        match message.change {
            Change::NodeCreated { node } | Change::NodeUpdated { node } => {
                let id = node.node_id;
                self.elements.update(|elements| upsert_node(elements, &node));
                let Some(api) = self.api() else { return };
                match api.get(id).await {
                    Ok(view) => self.nodes.update(|nodes| match nodes.iter_mut().find(|n| n.node_id == id) {
                        Some(shown) if shown.version < view.version => *shown = view,
                        Some(_) => {}
                        None => nodes.insert(0, view),
                    }),
                    Err(ApiError::NotFound) => self.forget_nodes(&BTreeSet::from([id])),
                    Err(error) => self.failed("load a changed memory", error),
                }
                if self.selected.get_untracked() == Some(id) {
                    self.open(Some(id)).await;
                }
            }
            Change::NodeDeleted { node_id } => {
                let id = node_id.to_string();
                self.elements.update(|elements| {
                    elements
                        .retain(|e| e.data.id != id && e.data.source != Some(node_id) && e.data.target != Some(node_id))
                });
                self.forget_nodes(&BTreeSet::from([node_id]));
            }
            Change::EdgesChanged { node_id, added, removed } => {
                self.elements.update(|elements| {
                    for other in removed {
                        let id = GraphElement::edge_id(node_id, other);
                        elements.retain(|e| e.data.id != id);
                    }
                    for edge in added {
                        let element = GraphElement::edge(node_id, edge.target, edge.weight);
                        match elements.iter_mut().find(|e| e.data.id == element.data.id) {
                            Some(shown) => *shown = element,
                            None => elements.push(element),
                        }
                    }
                });
                if self.selected.get_untracked() == Some(node_id) {
                    self.open(Some(node_id)).await;
                }
            }
        }
    }

    fn forget_nodes(&self, gone: &BTreeSet<NodeId>) {
        self.nodes.update(|nodes| nodes.retain(|n| !gone.contains(&n.node_id)));
        self.checked.update(|checked| checked.retain(|id| !gone.contains(id)));
        if self.selected.get_untracked().is_some_and(|id| gone.contains(&id)) {
            self.selected.set(None);
            self.detail.set(None);
        }
    }
}

fn upsert_node(elements: &mut Vec<GraphElement>, node: &brain2_api::NodeSummary) {
    let id = node.node_id.to_string();
    match elements.iter_mut().find(|e| e.data.id == id) {
        Some(shown) => shown.data.label = Some(node.label.clone()),
        None => elements.insert(0, GraphElement::node(node.node_id, node.label.clone())),
    }
}

fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

fn label_of(elements: &[GraphElement], id: NodeId) -> String {
    let id = id.to_string();
    elements
        .iter()
        .find(|e| e.data.id == id)
        .and_then(|e| e.data.label.clone())
        .unwrap_or_else(|| "(a memory)".to_owned())
}

fn prefers_dark() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches())
}

#[component]
pub fn App() -> impl IntoView {
    let state = State {
        config: RwSignal::new(None),
        session: RwSignal::new(auth::load_saved()),
        notice: RwSignal::new(None),
        error: RwSignal::new(None),
        api_down: RwSignal::new(None),
        nodes: RwSignal::new(vec![]),
        cursor: RwSignal::new(None),
        loading: RwSignal::new(false),
        loaded_once: RwSignal::new(false),
        elements: RwSignal::new(vec![]),
        selected: RwSignal::new(None),
        detail: RwSignal::new(None),
        checked: RwSignal::new(BTreeSet::new()),
        editing: RwSignal::new(None),
        live: RwSignal::new("connecting".to_owned()),
        dark: RwSignal::new(prefers_dark()),
    };
    let config_error = RwSignal::new(None::<String>);
    spawn_local(async move {
        match RuntimeConfig::load().await {
            Ok(config) => state.config.set(Some(config)),
            Err(error) => config_error.set(Some(error)),
        }
    });

    // Signed in with a configuration: load, keep the token fresh, and listen. A new session (a
    // renewal included) runs this again; what the old one started stops on its own.
    Effect::new(move |_| {
        let (Some(config), Some(session)) = (state.config.get(), state.session.get()) else { return };
        if session.expires_at - auth::now_seconds() <= REFRESH_MARGIN_SECONDS {
            // A session saved long ago is renewed before anything uses it, or the user signs in again.
            spawn_local(async move { state.renew(&config, &session).await });
            return;
        }
        spawn_local(async move { state.refresh_all().await });
        let (renewal_config, renewal_session) = (config.clone(), session.clone());
        spawn_local(async move {
            let wait = renewal_session.expires_at - REFRESH_MARGIN_SECONDS - auth::now_seconds();
            gloo_timers::future::TimeoutFuture::new((wait.clamp(0, 86_400) * 1_000) as u32).await;
            if state.session.get_untracked().as_ref() == Some(&renewal_session) {
                state.renew(&renewal_config, &renewal_session).await;
            }
        });
        let url = config.web_socket_url.clone();
        let wanted = session.refresh_token.clone();
        spawn_local(async move {
            live::run(
                url,
                move || state.session.get_untracked().map(|s| s.access_token).unwrap_or_default(),
                move || state.session.get_untracked().is_some_and(|s| s.refresh_token == wanted),
                move |event| match event {
                    LiveEvent::Connected { after_reconnect } => {
                        state.live.set("live".to_owned());
                        if after_reconnect {
                            spawn_local(async move { state.refresh_all().await });
                        }
                    }
                    LiveEvent::Message(message) => {
                        // User Timing marks: the browser benchmarks read them; they cost nothing.
                        mark("brain2:live-message");
                        spawn_local(async move { state.apply(message).await })
                    }
                    LiveEvent::Disconnected { retry_in_ms } => {
                        state.live.set(format!("offline, retrying in {} s", retry_in_ms / 1000));
                    }
                },
            )
            .await;
        });
    });

    view! {
        <Show
            when=move || state.config.with(Option::is_some)
            fallback=move || view! {
                <main class="centered">
                    <p role="status">{move || config_error.get().unwrap_or_else(|| "Loading Brain2…".to_owned())}</p>
                </main>
            }
        >
            <Show when=move || state.session.with(Option::is_some) fallback=move || view! { <SignIn state/> }>
                <Workspace state/>
            </Show>
        </Show>
    }
}

#[component]
fn SignIn(state: State) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let creating = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<String>);
    let submit = move || {
        let Some(config) = state.config.get_untracked() else { return };
        let (email_text, password_text) = (email.get_untracked(), password.get_untracked());
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            let result = if creating.get_untracked() {
                auth::sign_up(&config, &email_text, &password_text).await
            } else {
                auth::sign_in(&config, &email_text, &password_text).await
            };
            busy.set(false);
            match result {
                Ok(session) => {
                    auth::save(&session);
                    state.notice.set(None);
                    state.session.set(Some(session));
                }
                Err(error) => message.set(Some(error)),
            }
        });
    };
    view! {
        <main class="centered">
            <form class="card signin" on:submit=move |ev| { ev.prevent_default(); submit(); }>
                <h1>"Brain2"</h1>
                <p class="muted">"Your memories, linked by what they share."</p>
                {move || state.notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
                <label for="email">"E-mail"</label>
                <input id="email" name="email" type="email" autocomplete="email" required
                    prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev))/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" required minlength="6"
                    autocomplete=move || if creating.get() { "new-password" } else { "current-password" }
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                {move || message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <button id="signin-submit" type="submit" disabled=move || busy.get()>
                    {move || if creating.get() { "Create account" } else { "Sign in" }}
                </button>
                <button type="button" class="link" id="signin-toggle" on:click=move |_| creating.update(|c| *c = !*c)>
                    {move || if creating.get() { "I have an account: sign in" } else { "New here? Create an account" }}
                </button>
            </form>
        </main>
    }
}

#[component]
fn Workspace(state: State) -> impl IntoView {
    let sign_out = move |_| {
        let (Some(config), Some(session)) = (state.config.get_untracked(), state.session.get_untracked()) else {
            return;
        };
        auth::forget();
        state.session.set(None);
        state.nodes.set(vec![]);
        state.elements.set(vec![]);
        state.selected.set(None);
        state.detail.set(None);
        state.loaded_once.set(false);
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
                <Composer state/>
                <MemoryList state/>
            </section>
            <section class="graph-column" aria-label="Graph">
                <GraphView state/>
            </section>
            <DetailPanel state/>
        </main>
    }
}

#[component]
fn Composer(state: State) -> impl IntoView {
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

#[component]
fn MemoryList(state: State) -> impl IntoView {
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
    let bulk_delete = move |_| {
        let ids: Vec<NodeId> = state.checked.get_untracked().into_iter().collect();
        let Some(api) = state.api() else { return };
        spawn_local(async move {
            match api.bulk_delete(&ids).await {
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
                    state.reload_graph().await;
                }
                Err(error) => state.failed("delete the selected memories", error),
            }
        });
    };
    view! {
        <div class="list-head">
            <h2>"Memories"</h2>
            <button id="bulk-delete" disabled=move || state.checked.with(BTreeSet::is_empty) on:click=bulk_delete>
                {move || format!("Delete selected ({})", state.checked.with(BTreeSet::len))}
            </button>
        </div>
        // Until a first page arrives the list says it is loading (the banner says when the API
        // cannot be reached), so a failed load never looks like an empty account.
        <Show when=move || state.loaded_once.get() fallback=|| view! { <p role="status" id="list-loading">"Loading your memories…"</p> }>
            <Show when=move || !state.nodes.with(Vec::is_empty) fallback=|| view! {
                <p class="empty" id="empty-hint">"No memories yet. Write your first one above: memories that share words link up in the graph."</p>
            }>
                <ul class="memories" id="memories">
                    // Keyed by id alone: a memory that changes (a live update, a save) updates its item in
                    // place, so an open editor keeps its element, its focus and what is being typed.
                    <For each=move || state.nodes.get() key=|n| n.node_id let:node>
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

#[component]
fn MemoryItem(state: State, id: NodeId) -> impl IntoView {
    let node = Memo::new(move |_| state.nodes.with(|nodes| nodes.iter().find(|n| n.node_id == id).cloned()));
    let content = move || node.with(|n| n.as_ref().map(|n| n.content.clone()).unwrap_or_default());
    let keywords = move || node.with(|n| n.as_ref().map(|n| n.keywords.join(", ")).unwrap_or_default());
    let title = move || brain2_api::label(&content());
    let is_editing = move || state.editing.with(|e| e.as_ref().is_some_and(|e| e.id == id));
    let start_edit = move |_| {
        if let Some(node) = node.get_untracked() {
            state.editing.set(Some(Editing { id, text: node.content, version: node.version, conflict: None }))
        }
    };
    let delete = move |_| {
        let Some(api) = state.api() else { return };
        spawn_local(async move {
            match api.delete(id).await {
                Ok(()) | Err(ApiError::NotFound) => {
                    state.forget_nodes(&BTreeSet::from([id]));
                    state.reload_graph().await;
                }
                Err(error) => state.failed("delete the memory", error),
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
        <li class="memory" data-id=id.to_string()>
            <input type="checkbox" class="pick" aria-label=move || format!("Select: {}", title()) prop:checked=checked on:change=toggle/>
            <Show when=is_editing fallback=move || view! {
                <div class="memory-body">
                    <button class="link memory-text" on:click=move |_| spawn_local(async move { state.open(Some(id)).await })>{content}</button>
                    <p class="muted keywords">{keywords}</p>
                </div>
            }>
                <EditBox state shown_version/>
            </Show>
            <div class="actions">
                <button class="edit" on:click=start_edit aria-label=move || format!("Edit: {}", title())>"Edit"</button>
                <button class="delete" on:click=delete aria-label=move || format!("Delete: {}", title())>"Delete"</button>
            </div>
        </li>
    }
}

#[component]
fn EditBox(state: State, shown_version: Signal<u64>) -> impl IntoView {
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

#[component]
fn GraphView(state: State) -> impl IntoView {
    let container = NodeRef::<html::Div>::new();
    let cy = StoredValue::new_local(None::<Cy>);
    let callback = StoredValue::new_local(None::<Closure<dyn Fn(String)>>);
    let query = RwSignal::new(String::new());
    let matches = RwSignal::new(None::<u32>);
    let hops = RwSignal::new(0u32);
    Effect::new(move |_| {
        let elements = state.elements.get();
        let dark = state.dark.get();
        let Some(element) = container.get() else { return };
        let created = cy.with_value(Option::is_some);
        if created {
            cy.with_value(|cy| {
                if let Some(cy) = cy {
                    if graph::update(cy, &elements) > 0 {
                        mark("brain2:graph-changed");
                    }
                    graph::apply_theme(cy, dark);
                }
            });
        } else if !elements.is_empty() {
            let html: &web_sys::HtmlElement = element.as_ref();
            let (instance, on_select) = graph::create(html, &elements, dark, move |id: String| {
                let id = NodeId::parse(&id);
                spawn_local(async move { state.open(id).await });
            });
            cy.set_value(Some(instance));
            callback.set_value(Some(on_select));
            mark("brain2:graph-changed");
        }
    });
    Effect::new(move |_| {
        let selected = state.selected.get();
        let hops = hops.get();
        cy.with_value(|cy| {
            if let Some(cy) = cy {
                let id = selected.map(|s| s.to_string()).unwrap_or_default();
                graph::select_node(cy, &id);
                graph::filter_hops(cy, &id, hops);
            }
        });
    });
    on_cleanup(move || {
        cy.with_value(|cy| {
            if let Some(cy) = cy {
                graph::destroy(cy);
            }
        });
    });
    let with_cy = move |f: &dyn Fn(&Cy)| {
        cy.with_value(|cy| {
            if let Some(cy) = cy {
                f(cy)
            }
        })
    };
    let search = move || {
        let text = query.get_untracked();
        cy.with_value(|cy| {
            if let Some(cy) = cy {
                matches.set(Some(graph::highlight(cy, &text)))
            }
        });
    };
    view! {
        <div class="graph-tools">
            <label for="graph-search">"Search"</label>
            <input id="graph-search" type="search" placeholder="Find memories"
                prop:value=move || query.get()
                on:input=move |ev| { query.set(event_target_value(&ev)); search(); }/>
            <span class="muted" aria-live="polite">{move || matches.get().map(|m| format!("{m} found")).unwrap_or_default()}</span>
            <label for="hops">"Around the selected"</label>
            <select id="hops" on:change=move |ev| hops.set(event_target_value(&ev).parse().unwrap_or(0))>
                <option value="0">"everything"</option>
                <option value="1">"1 hop"</option>
                <option value="2">"2 hops"</option>
                <option value="3">"3 hops"</option>
            </select>
            <button id="graph-fit" on:click=move |_| with_cy(&|cy| graph::fit(cy))>"Fit"</button>
            <button on:click=move |_| with_cy(&|cy| graph::zoom_by(cy, 1.25)) aria-label="Zoom in">"+"</button>
            <button on:click=move |_| with_cy(&|cy| graph::zoom_by(cy, 0.8)) aria-label="Zoom out">"−"</button>
        </div>
        <div id="graph" class="graph" node_ref=container tabindex="0" role="img"
            aria-label=move || {
                let (nodes, edges) = state.elements.with(|e| (e.iter().filter(|e| !e.is_edge()).count(), e.iter().filter(|e| e.is_edge()).count()));
                format!("Graph of {nodes} memories and {edges} links. Arrow keys pan, + and - zoom, f fits.")
            }
            data-nodes=move || state.elements.with(|e| e.iter().filter(|e| !e.is_edge()).count())
            data-edges=move || state.elements.with(|e| e.iter().filter(|e| e.is_edge()).count())
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                let step = 40.0;
                match ev.key().as_str() {
                    "ArrowLeft" => with_cy(&|cy| graph::pan_by(cy, step, 0.0)),
                    "ArrowRight" => with_cy(&|cy| graph::pan_by(cy, -step, 0.0)),
                    "ArrowUp" => with_cy(&|cy| graph::pan_by(cy, 0.0, step)),
                    "ArrowDown" => with_cy(&|cy| graph::pan_by(cy, 0.0, -step)),
                    "+" | "=" => with_cy(&|cy| graph::zoom_by(cy, 1.25)),
                    "-" => with_cy(&|cy| graph::zoom_by(cy, 0.8)),
                    "f" => with_cy(&|cy| graph::fit(cy)),
                    _ => return,
                }
                ev.prevent_default();
            }>
        </div>
        <Show when=move || state.loaded_once.get() && state.elements.with(Vec::is_empty)>
            <p class="muted graph-empty">"The graph appears once you have memories."</p>
        </Show>
    }
}

#[component]
fn DetailPanel(state: State) -> impl IntoView {
    view! {
        <Show when=move || state.detail.with(Option::is_some)>
            <aside class="card detail" id="detail" aria-label="The selected memory">
                {move || state.detail.get().map(|node| {
                    let links: Vec<NodeId> = node.edges.clone().unwrap_or_default();
                    let elements = state.elements.get();
                    view! {
                        <button class="link close" on:click=move |_| spawn_local(async move { state.open(None).await }) aria-label="Close">"×"</button>
                        <p class="detail-content" id="detail-content">{node.content.clone()}</p>
                        <p class="muted">"Keywords: "{node.keywords.join(", ")}</p>
                        <h3>{format!("Linked memories ({})", links.len())}</h3>
                        <ul class="links" id="detail-links">
                            {links.into_iter().map(|other| {
                                let text = label_of(&elements, other);
                                view! { <li><button class="link" on:click=move |_| spawn_local(async move { state.open(Some(other)).await })>{text}</button></li> }
                            }).collect_view()}
                        </ul>
                    }
                })}
            </aside>
        </Show>
    }
}

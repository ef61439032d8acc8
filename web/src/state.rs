//! What the views share: the signed-in session, the memories and the graph as last loaded, and
//! the operations that load and change them.

use std::collections::BTreeSet;

use brain2_api::{Change, LiveMessage, NodeId, NodeView};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{Api, ApiError};
use crate::auth::{self, RuntimeConfig, Session};
use crate::graph::{self, GraphElement};

pub const PAGE_SIZE: usize = 20;
pub const DRAFT_KEY: &str = "brain2.draft";
/// Refresh the access token this long before it expires.
pub const REFRESH_MARGIN_SECONDS: i64 = 60;

/// An edit in progress, and what the server said when it conflicted.
#[derive(Debug, Clone, PartialEq)]
pub struct Editing {
    pub id: NodeId,
    pub text: String,
    pub version: u64,
    pub conflict: Option<NodeView>,
}

/// Everything the views share. Signals are `Copy`, so the whole state is too.
#[derive(Clone, Copy)]
pub struct State {
    pub config: RwSignal<Option<RuntimeConfig>>,
    pub session: RwSignal<Option<Session>>,
    pub notice: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    pub api_down: RwSignal<Option<String>>,
    pub nodes: RwSignal<Vec<NodeView>>,
    pub cursor: RwSignal<Option<String>>,
    pub loading: RwSignal<bool>,
    pub loaded_once: RwSignal<bool>,
    pub elements: RwSignal<Vec<GraphElement>>,
    pub selected: RwSignal<Option<NodeId>>,
    pub detail: RwSignal<Option<NodeView>>,
    pub checked: RwSignal<BTreeSet<NodeId>>,
    pub editing: RwSignal<Option<Editing>>,
    pub live: RwSignal<String>,
    pub dark: RwSignal<bool>,
}

impl State {
    /// A signed-out state (or the session saved in localStorage), before `config.json` arrives.
    pub fn new() -> Self {
        Self {
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
        }
    }

    pub fn api(&self) -> Option<Api> {
        let config = self.config.get_untracked()?;
        let session = self.session.get_untracked()?;
        Some(Api { base: config.http_api_url, token: session.access_token })
    }

    /// What every failed call does: a refused token returns the user to sign-in (their draft is
    /// kept in localStorage), an unreachable API shows the banner and retries, anything else is
    /// an error message that says what failed.
    pub fn failed(&self, doing: &str, error: ApiError) {
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
    pub async fn renew(&self, config: &RuntimeConfig, current: &Session) {
        match auth::refresh(config, current).await {
            Ok(next) => {
                auth::save(&next);
                self.session.set(Some(next));
            }
            Err(_) => self.failed("renew your session", ApiError::Unauthorized),
        }
    }

    /// The first page and the graph, fetched together.
    pub async fn refresh_all(&self) {
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
    pub fn merge_first_page(&self, first: Vec<NodeView>, cursor: Option<String>) {
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

    pub async fn load_more(&self) {
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

    pub async fn reload_graph(&self) {
        let Some(api) = self.api() else { return };
        match api.graph().await {
            Ok((nodes, edges)) => self.elements.set(graph::elements(nodes, &edges)),
            Err(error) => self.failed("load the graph", error),
        }
    }

    pub async fn open(&self, id: Option<NodeId>) {
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
    pub async fn apply(&self, message: LiveMessage) {
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

    pub fn forget_nodes(&self, gone: &BTreeSet<NodeId>) {
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

pub fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

pub fn label_of(elements: &[GraphElement], id: NodeId) -> String {
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

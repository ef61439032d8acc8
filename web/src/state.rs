//! What the views share: the signed-in session, the memories and the graph as last loaded, the
//! drafts, and the operations that change them. Loading everything again is `sync.rs`; keeping
//! the session fresh is `session.rs`.

use std::collections::BTreeSet;

use brain2_api::{NodeId, NodeView};
use leptos::prelude::*;

use crate::api::{Api, ApiError};
use crate::auth::{self, RuntimeConfig, Session};
use crate::graph::GraphModel;
use crate::sync::{Arrived, SyncFlags};

pub const PAGE_SIZE: usize = 20;
const DRAFT_KEY: &str = "brain2.draft";
const DRAFT_TAGS_KEY: &str = "brain2.draft-tags";
/// An edit open when the session ended: given back once the memory is listed again.
const EDIT_KEY: &str = "brain2.open-edit";

fn stash_edit(editing: &Editing) {
    let kept = serde_json::json!({ "id": editing.id.to_string(), "text": editing.text, "tags": editing.tags, "version": editing.version });
    auth::stash(EDIT_KEY, &kept.to_string());
}

/// The edit a session's end kept, for the memory `id`, taken out of storage.
pub fn unstash_edit(id: NodeId) -> Option<Editing> {
    let text = auth::unstash(EDIT_KEY);
    let kept: serde_json::Value = serde_json::from_str(&text).ok()?;
    if kept["id"].as_str()? != id.to_string() {
        return None;
    }
    auth::stash(EDIT_KEY, "");
    Some(Editing {
        id,
        text: kept["text"].as_str()?.to_owned(),
        tags: kept["tags"].as_str().unwrap_or_default().to_owned(),
        version: kept["version"].as_u64()?,
        conflict: None,
    })
}

/// An edit in progress, and what the server said when it conflicted.
#[derive(Debug, Clone, PartialEq)]
pub struct Editing {
    pub id: NodeId,
    pub text: String,
    /// As typed: comma-separated.
    pub tags: String,
    pub version: u64,
    pub conflict: Option<NodeView>,
}

/// A search and what it found so far (`views/search_box.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub query: String,
    pub total: usize,
    /// `total` is a lower bound (a broad query): shown as "277+".
    pub total_exact: bool,
    pub hits: Vec<brain2_api::SearchHit>,
    pub next_cursor: Option<String>,
}

impl Search {
    pub fn has(&self, id: NodeId) -> bool {
        self.hits.iter().any(|h| h.node.node_id == id)
    }
}

/// Everything the views share. Signals are `Copy`, so the whole state is too.
#[derive(Clone, Copy)]
pub struct State {
    pub config: RwSignal<Option<RuntimeConfig>>,
    pub session: RwSignal<Option<Session>>,
    /// Changes at each sign-in and sign-out (not at a renewal): what a session started stops
    /// when it changes.
    pub epoch: RwSignal<u64>,
    pub notice: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    pub api_down: RwSignal<Option<String>>,
    pub nodes: RwSignal<Vec<NodeView>>,
    pub cursor: RwSignal<Option<String>>,
    pub loading: RwSignal<bool>,
    pub loaded_once: RwSignal<bool>,
    pub graph: RwSignal<GraphModel>,
    pub selected: RwSignal<Option<NodeId>>,
    pub detail: RwSignal<Option<NodeView>>,
    pub checked: RwSignal<BTreeSet<NodeId>>,
    pub editing: RwSignal<Option<Editing>>,
    /// The list shows only memories with this tag.
    pub tag_filter: RwSignal<Option<String>>,
    /// The search box's results, highlighted in the list and the graph.
    pub search: RwSignal<Option<Search>>,
    /// The composer's text and tags, kept in localStorage until saved.
    pub draft: RwSignal<String>,
    pub draft_tags: RwSignal<String>,
    pub live: RwSignal<String>,
    pub dark: RwSignal<bool>,
    pub sync: StoredValue<SyncFlags>,
    /// While a full load is in flight, the live messages that arrive and the memories this tab
    /// saves meanwhile: applied at once, and again on top of what the load brings, whose
    /// snapshot may predate them.
    pub arrived_while_loading: StoredValue<Option<Vec<Arrived>>>,
}

impl State {
    /// A signed-out state (or the session saved in localStorage), before `config.json` arrives.
    pub fn new() -> Self {
        Self {
            config: RwSignal::new(None),
            session: RwSignal::new(auth::load_saved()),
            epoch: RwSignal::new(0),
            notice: RwSignal::new(None),
            error: RwSignal::new(None),
            api_down: RwSignal::new(None),
            nodes: RwSignal::new(vec![]),
            cursor: RwSignal::new(None),
            loading: RwSignal::new(false),
            loaded_once: RwSignal::new(false),
            graph: RwSignal::new(GraphModel::default()),
            selected: RwSignal::new(None),
            detail: RwSignal::new(None),
            checked: RwSignal::new(BTreeSet::new()),
            editing: RwSignal::new(None),
            tag_filter: RwSignal::new(None),
            search: RwSignal::new(None),
            draft: RwSignal::new(auth::unstash(DRAFT_KEY)),
            draft_tags: RwSignal::new(auth::unstash(DRAFT_TAGS_KEY)),
            live: RwSignal::new("connecting".to_owned()),
            dark: RwSignal::new(prefers_dark()),
            sync: StoredValue::new(SyncFlags::default()),
            arrived_while_loading: StoredValue::new(None),
        }
    }

    pub fn api(&self) -> Option<Api> {
        let config = self.config.get_untracked()?;
        let session = self.session.get_untracked()?;
        Some(Api { base: config.http_api_url, token: session.access_token })
    }

    /// A new session from signing in: everything the previous one started stops.
    pub fn begin_session(&self, session: Session) {
        auth::save(&session);
        self.notice.set(None);
        self.session.set(Some(session));
        self.epoch.update(|e| *e += 1);
    }

    /// Signs out locally; `notice` says why on the sign-in form. Drafts stay (in localStorage).
    pub fn end_session(&self, notice: Option<String>) {
        // Only this tab's session: another tab may have saved a newer one meanwhile.
        if let Some(session) = self.session.get_untracked() {
            auth::forget_if(&session.access_token);
        }
        if let Some(editing) = self.editing.get_untracked() {
            stash_edit(&editing);
        }
        self.editing.set(None);
        self.session.set(None);
        self.epoch.update(|e| *e += 1);
        self.notice.set(notice);
        self.nodes.set(vec![]);
        self.cursor.set(None);
        self.graph.update(GraphModel::clear);
        self.selected.set(None);
        self.detail.set(None);
        self.checked.set(BTreeSet::new());
        self.tag_filter.set(None);
        self.search.set(None);
        self.api_down.set(None);
        self.loaded_once.set(false);
    }

    pub fn set_draft(&self, text: String, tags: String) {
        auth::stash(DRAFT_KEY, &text);
        auth::stash(DRAFT_TAGS_KEY, &tags);
        self.draft.set(text);
        self.draft_tags.set(tags);
    }

    /// What a failed read does: a refused token returns the user to sign-in (their draft is
    /// kept), an unreachable API shows the banner and hands over to the one retry loop
    /// (`sync.rs`), anything else is an error message that says what failed.
    pub fn failed(&self, doing: &str, error: ApiError) {
        match error {
            // A lapsed token first gets a renewal; only a refused one signs out.
            ApiError::Unauthorized => self.recover_session(),
            ApiError::Down(why) => {
                if self.api_down.get_untracked().is_none() {
                    self.api_down.set(Some(format!("The Brain2 API cannot be reached ({why}). Retrying…")));
                }
                self.resync();
            }
            other => self.error.set(Some(format!("Could not {doing}: {other}"))),
        }
    }

    /// What a failed write does: as a failed read, and when the API could not be reached, says
    /// that nothing was saved. Writes are never retried by themselves: one that got no answer
    /// may have happened, and sending it again could do it twice.
    pub fn write_failed(&self, doing: &str, error: ApiError) {
        if let ApiError::Down(why) = &error {
            self.error.set(Some(format!(
                "Could not {doing}: the Brain2 API cannot be reached ({why}). Nothing you wrote is lost; try again once it is back."
            )));
        }
        self.failed(doing, error);
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
                let deleted: BTreeSet<NodeId> = self.graph.with_untracked(|graph| {
                    page.nodes.iter().map(|n| n.node_id).filter(|id| graph.is_deleted(*id)).collect()
                });
                self.nodes.update(|nodes| {
                    let known: BTreeSet<NodeId> = nodes.iter().map(|n| n.node_id).collect();
                    nodes.extend(
                        page.nodes.into_iter().filter(|n| !known.contains(&n.node_id) && !deleted.contains(&n.node_id)),
                    );
                });
                self.cursor.set(page.next_cursor);
            }
            Err(error) => self.failed("load more memories", error),
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

    /// Shows `view` in the list: replaces an older version, or inserts it where its id (newest
    /// first) puts it, unless that is below what the list has loaded so far. The graph shows it
    /// too (its links come from live messages).
    pub fn upsert(&self, view: NodeView) {
        // A message about a memory deleted meanwhile (messages may cross) must not bring it back.
        if self.graph.with_untracked(|graph| graph.is_deleted(view.node_id)) {
            return;
        }
        self.arrived_while_loading.update_value(|arrived| {
            if let Some(arrived) = arrived {
                arrived.push(Arrived::Saved(view.clone()));
            }
        });
        let label = brain2_api::label(&view.content);
        self.graph.update(|graph| {
            graph.upsert_node(view.node_id, &label, Some(view.version));
        });
        let more_below = self.cursor.get_untracked().is_some();
        self.nodes.update(|nodes| match nodes.iter_mut().find(|n| n.node_id == view.node_id) {
            Some(shown) if shown.version < view.version => *shown = view,
            Some(_) => {}
            None => {
                let at = nodes.iter().position(|n| n.node_id < view.node_id).unwrap_or(nodes.len());
                if at < nodes.len() || !more_below {
                    nodes.insert(at, view);
                }
            }
        });
    }

    /// Removes memories known deleted (a delete made here or announced): no later message or
    /// older load brings them back. An edit in progress on one of them is not lost: its text
    /// moves to the composer.
    pub fn forget_nodes(&self, gone: &BTreeSet<NodeId>) {
        self.forget(gone, true);
    }

    /// Removes memories a load did not find, without marking them deleted.
    pub fn unlist(&self, gone: &BTreeSet<NodeId>) {
        self.forget(gone, false);
    }

    fn forget(&self, gone: &BTreeSet<NodeId>, deleted: bool) {
        self.graph.update(|graph| {
            for id in gone {
                if deleted {
                    graph.remove_node(*id);
                } else {
                    graph.drop_node(*id);
                }
            }
        });
        self.nodes.update(|nodes| nodes.retain(|n| !gone.contains(&n.node_id)));
        self.checked.update(|checked| checked.retain(|id| !gone.contains(id)));
        if self.selected.get_untracked().is_some_and(|id| gone.contains(&id)) {
            self.selected.set(None);
            self.detail.set(None);
        }
        if let Some(edit) = self.editing.get_untracked().filter(|e| gone.contains(&e.id)) {
            self.editing.set(None);
            let joined = |kept: String, moved: String| {
                if kept.trim().is_empty() { moved } else { format!("{kept}\n\n{moved}") }
            };
            let text = joined(self.draft.get_untracked(), edit.text);
            let tags = match self.draft_tags.get_untracked() {
                kept if kept.trim().is_empty() => edit.tags,
                kept => format!("{kept}, {}", edit.tags),
            };
            self.set_draft(text, tags);
            self.error.set(Some(
                "The memory you were editing was deleted elsewhere; your text is in the composer.".to_owned(),
            ));
        }
    }
}

/// Tags as typed (comma-separated), blanks dropped; `NodeInput::validate` checks the rest.
pub fn parse_tags(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// A tag longer than the API allows, named, before anything is sent.
pub fn check_tags(tags: &[String]) -> Result<(), String> {
    match tags.iter().find(|t| t.chars().count() > brain2_api::MAX_TAG_CHARS) {
        Some(long) => Err(format!(
            "The tag “{long}” has {} characters; a tag has at most {}.",
            long.chars().count(),
            brain2_api::MAX_TAG_CHARS
        )),
        None if tags.len() > brain2_api::MAX_TAGS => {
            Err(format!("{} tags; a memory has at most {}.", tags.len(), brain2_api::MAX_TAGS))
        }
        None => Ok(()),
    }
}

pub fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

pub fn label_of(graph: &GraphModel, id: NodeId) -> String {
    graph.label(id).map_or_else(|| "(a memory)".to_owned(), str::to_owned)
}

fn prefers_dark() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches())
}

//! Bringing the tab to the server's state: the list (as far down as it was loaded) and the graph.
//!
//! Whatever asks for it (signing in, a reconnected WebSocket, a failed call, the browser coming
//! back online) joins one loop per tab. While the API cannot be reached the loop retries with
//! exponential backoff capped at [`MAX_RETRY_MS`] and jittered, one request per attempt (the list
//! first; the graph once the list answers), so a tab sends a few requests a minute whatever
//! fails, and tabs that lost the API together do not return together. The cap is also how long
//! a tab may take to notice that the API is back.

use std::collections::{BTreeSet, HashMap};

use brain2_api::{LiveMessage, NodeId, NodeView};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{Api, ApiError};
use crate::graph::GraphModel;
use crate::state::{PAGE_SIZE, State};

const FIRST_RETRY_MS: f64 = 1_000.0;
const MAX_RETRY_MS: f64 = 4_000.0;
/// How often a waiting loop checks whether it was woken.
const TICK_MS: u32 = 250;

/// What changed the tab while a full load was in flight, to be applied again on top of it.
#[derive(Debug, Clone)]
pub enum Arrived {
    Message(LiveMessage),
    /// A memory this tab created or edited (the API's answer).
    Saved(NodeView),
}

/// The loop's flags: whether it runs, whether another load is wanted, and whether the current
/// wait should end now.
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncFlags {
    running: bool,
    wanted: bool,
    wake: bool,
    /// A session renewal after a 401 is under way (`session.rs`).
    recovering: bool,
}

impl SyncFlags {
    /// Whether a renewal may start now (none is under way); marks one as started.
    pub fn start_recovery(&mut self) -> bool {
        !std::mem::replace(&mut self.recovering, true)
    }

    pub fn end_recovery(&mut self) {
        self.recovering = false;
    }
}

/// The wait before retry number `failures` (from 0): doubling from 1 s up to [`MAX_RETRY_MS`],
/// times a factor in [0.5, 1) from `random` (in [0, 1)).
pub fn backoff_ms(failures: u32, random: f64) -> u32 {
    let capped = (FIRST_RETRY_MS * 2f64.powi(failures.min(16) as i32)).min(MAX_RETRY_MS);
    (capped * (0.5 + random.clamp(0.0, 1.0) * 0.5)) as u32
}

impl State {
    /// Asks for everything to be loaded again; joins the running loop if there is one.
    pub fn resync(&self) {
        let start = self.sync.try_update_value(|flags| {
            flags.wanted = true;
            !std::mem::replace(&mut flags.running, true)
        });
        if start == Some(true) {
            let state = *self;
            spawn_local(async move {
                state.sync_loop().await;
                state.sync.update_value(|flags| flags.running = false);
            });
        }
    }

    /// The same, and a loop waiting out a backoff tries at once (the browser is back online).
    pub fn resync_now(&self) {
        self.sync.update_value(|flags| flags.wake = true);
        self.resync();
    }

    async fn sync_loop(&self) {
        let mut failures = 0;
        loop {
            let wanted = self.sync.try_update_value(|flags| std::mem::take(&mut flags.wanted)).unwrap_or(false);
            if !wanted || self.session.get_untracked().is_none() {
                return;
            }
            self.sync.update_value(|flags| flags.wake = false);
            match self.load_everything().await {
                Ok(()) => {
                    failures = 0;
                    self.api_down.set(None);
                }
                Err(ApiError::Down(why)) => {
                    let wait = backoff_ms(failures, js_sys::Math::random());
                    failures += 1;
                    self.api_down.set(Some(format!(
                        "The Brain2 API cannot be reached ({why}). Trying again in {} s…",
                        wait.div_ceil(1000)
                    )));
                    self.sync.update_value(|flags| flags.wanted = true);
                    self.pause(wait).await;
                }
                Err(error) => self.failed("load your memories", error),
            }
        }
    }

    /// Waits `ms`, or less if woken.
    async fn pause(&self, ms: u32) {
        let mut waited = 0;
        while waited < ms && !self.sync.try_with_value(|flags| flags.wake).unwrap_or(true) {
            gloo_timers::future::TimeoutFuture::new(TICK_MS.min(ms - waited)).await;
            waited += TICK_MS;
        }
    }

    /// The list, then the graph. When the API answered last time they are fetched together;
    /// when it did not, the list goes alone first, so a failed attempt costs one request.
    ///
    /// The snapshot may predate live messages that arrive while it loads (a delete, an edit, a
    /// new link): those are applied at once, kept, and applied again on top of the snapshot, so
    /// a load never takes back what the tab already showed.
    async fn load_everything(&self) -> Result<(), ApiError> {
        let Some(api) = self.api() else { return Ok(()) };
        let epoch = self.epoch.get_untracked();
        self.loading.set(true);
        self.arrived_while_loading.set_value(Some(Vec::new()));
        let generation = self.graph.try_update(GraphModel::begin_load).unwrap_or_default();
        let (list, graph) = if self.api_down.get_untracked().is_some() {
            match self.fetch_list(&api).await {
                Ok(list) => (Ok(list), api.graph().await),
                Err(error) => (Err(error), Ok(Default::default())),
            }
        } else {
            futures::join!(self.fetch_list(&api), api.graph())
        };
        self.loading.set(false);
        let arrived = self.arrived_while_loading.try_update_value(Option::take).flatten().unwrap_or_default();
        if self.epoch.get_untracked() != epoch {
            return Ok(());
        }
        // Memories created or changed meanwhile may be missing from the snapshot because they
        // are newer: not deleted, whatever the list says. Every one passes through `upsert`, by
        // a message or by this tab's save, which keeps it as `Saved`.
        let newer: BTreeSet<NodeId> = arrived
            .iter()
            .filter_map(|arrived| match arrived {
                Arrived::Saved(view) => Some(view.node_id),
                Arrived::Message(_) => None,
            })
            .collect();
        let loaded = list.and_then(|(nodes, cursor)| {
            let mut present: BTreeSet<NodeId> = nodes.iter().map(|n| n.node_id).collect();
            if let Ok((graph_nodes, _)) = &graph {
                present.extend(graph_nodes.iter().map(|n| n.id));
            }
            self.graph.update(|graph| graph.prune_deleted(generation, |id| present.contains(&id)));
            let versions: HashMap<NodeId, u64> = nodes.iter().map(|n| (n.node_id, n.version)).collect();
            self.show_list(nodes, cursor, &newer);
            let (graph_nodes, edges) = graph?;
            self.graph.update(|graph| graph.load(graph_nodes, &edges, |id| versions.get(&id).copied()));
            Ok(())
        });
        for arrived in arrived {
            match arrived {
                Arrived::Message(message) => self.apply_live(message),
                Arrived::Saved(view) => self.upsert(view),
            }
        }
        loaded?;
        if let Some(selected) = self.selected.get_untracked() {
            self.open(Some(selected)).await;
        }
        Ok(())
    }

    /// The list from the top down to the oldest memory the tab shows (all of it when the tab
    /// had loaded everything), so that whatever changed anywhere in it shows: created, edited
    /// or deleted. Ids are UUIDv7, so the newest-first order is the ids' order.
    async fn fetch_list(&self, api: &Api) -> Result<(Vec<NodeView>, Option<String>), ApiError> {
        let (shown, oldest) = self.nodes.with_untracked(|nodes| (nodes.len(), nodes.last().map(|n| n.node_id)));
        let everything = self.loaded_once.get_untracked() && self.cursor.get_untracked().is_none();
        let limit = shown.clamp(PAGE_SIZE, brain2_api::MAX_PAGE_SIZE);
        let mut nodes: Vec<NodeView> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = api.list(cursor.as_deref(), limit).await?;
            nodes.extend(page.nodes);
            cursor = page.next_cursor;
            let reached = |oldest: NodeId| nodes.last().is_some_and(|n| n.node_id <= oldest);
            let deep_enough = match (&cursor, oldest) {
                (None, _) => true,
                (Some(_), _) if everything => false,
                (Some(_), None) => true,
                (Some(_), Some(oldest)) => reached(oldest),
            };
            if deep_enough {
                return Ok((nodes, cursor));
            }
        }
    }

    /// Replaces the list with what the server holds down to the same depth, but the memories
    /// known deleted. A shown memory the snapshot does not hold is taken off the list (not
    /// marked deleted), unless it is one of `newer`: created or changed meanwhile, by a message
    /// or by this tab, after the snapshot was read.
    fn show_list(&self, nodes: Vec<NodeView>, cursor: Option<String>, newer: &BTreeSet<NodeId>) {
        let nodes: Vec<NodeView> =
            self.graph.with_untracked(|graph| nodes.into_iter().filter(|n| !graph.is_deleted(n.node_id)).collect());
        let present: BTreeSet<NodeId> = nodes.iter().map(|n| n.node_id).collect();
        let gone: BTreeSet<NodeId> = self.nodes.with_untracked(|shown| {
            shown.iter().map(|n| n.node_id).filter(|id| !present.contains(id) && !newer.contains(id)).collect()
        });
        self.unlist(&gone);
        self.nodes.set(nodes);
        self.cursor.set(cursor);
        self.loaded_once.set(true);
    }
}

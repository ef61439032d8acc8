//! The live connection: a WebSocket opened with the user's token, reopened with jittered backoff
//! when it drops, and what its messages do. Each message carries its change, applied here with
//! no API call; messages are put back in order by their per-connection number (`seq`), and only
//! a lost one, a `refetch`, a message of another format, or a reconnect (pushes sent meanwhile
//! were missed) loads everything again, through the one sync loop (`sync.rs`).

use std::collections::BTreeSet;

use brain2_api::live::Sequencer;
use brain2_api::{Change, LiveMessage, NodeId};
use futures::StreamExt;
use futures::future::{Either, select};
use gloo_net::websocket::{Message, State as SocketState, futures::WebSocket};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::state::{State, mark};
use crate::sync::Arrived;

/// What the connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    Connected {
        after_reconnect: bool,
    },
    /// The next message, in order.
    Message(LiveMessage),
    /// A message was lost, or one could not be read: what it said is unknown.
    Missed,
    Disconnected {
        retry_in_ms: u32,
    },
}

const FIRST_RETRY_MS: u32 = 1_000;
const MAX_RETRY_MS: u32 = 30_000;
/// How often an open, quiet socket checks that it is still wanted (sign-out closes it).
const WANTED_CHECK_MS: u32 = 1_000;
/// A socket that stayed open this long was a working connection: the backoff starts over. One
/// that a proxy accepts and drops at once keeps backing off, or each drop would bring a
/// reconnect and a full resync every second.
const STABLE_MS: f64 = 30_000.0;

/// How long a link to a memory this tab does not know waits for that memory's own message.
const HELD_LINK_WAIT_MS: u32 = 2_000;

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Runs until `still_wanted` says no (sign-out): connects, reports, reconnects.
pub async fn run(url: String, token: impl Fn() -> String, still_wanted: impl Fn() -> bool, report: impl Fn(LiveEvent)) {
    let mut retry = FIRST_RETRY_MS;
    let mut connected_before = false;
    while still_wanted() {
        let address = format!("{url}?token={}", String::from(js_sys::encode_uri_component(&token())));
        if let Ok(mut socket) = WebSocket::open(&address) {
            // The handshake (and the authorizer behind it) finishes after `open` returns.
            let mut waited = 0;
            while matches!(socket.state(), SocketState::Connecting) && waited < 10_000 {
                gloo_timers::future::TimeoutFuture::new(50).await;
                waited += 50;
            }
            let opened_at = js_sys::Date::now();
            if matches!(socket.state(), SocketState::Open) {
                report(LiveEvent::Connected { after_reconnect: connected_before });
                connected_before = true;
            }
            // Numbers start at 1 on each connection.
            let mut sequencer = Sequencer::default();
            loop {
                // Wake for the next message, for a gap's deadline, or to see whether the socket
                // is still wanted.
                let wait =
                    sequencer.deadline().map_or(WANTED_CHECK_MS, |at| (at - now_ms()).clamp(0.0, 1_000.0) as u32);
                let tick = gloo_timers::future::TimeoutFuture::new(wait);
                match select(socket.next(), tick).await {
                    Either::Right(_) => {
                        if !still_wanted() {
                            // Dropping the socket closes it.
                            return;
                        }
                        if let Some(ready) = sequencer.overdue(now_ms()) {
                            report(LiveEvent::Missed);
                            ready.into_iter().for_each(|m| report(LiveEvent::Message(m)));
                        }
                    }
                    Either::Left((Some(Ok(Message::Text(text))), _)) => {
                        // User Timing marks: the browser benchmarks read them; they cost nothing.
                        mark("brain2:live-message");
                        match serde_json::from_str::<LiveMessage>(&text) {
                            Ok(message) if message.version == brain2_api::LIVE_FORMAT_VERSION => {
                                for ready in sequencer.receive(message, now_ms()) {
                                    report(LiveEvent::Message(ready));
                                }
                            }
                            _ => report(LiveEvent::Missed),
                        }
                    }
                    Either::Left((Some(Ok(Message::Bytes(_))), _)) => {}
                    Either::Left((Some(Err(_)) | None, _)) => break,
                }
            }
            if js_sys::Date::now() - opened_at >= STABLE_MS {
                retry = FIRST_RETRY_MS;
            }
        }
        if !still_wanted() {
            return;
        }
        // Jittered, so the tabs a server restart dropped do not all come back at once.
        let wait = (f64::from(retry) * (0.5 + js_sys::Math::random() * 0.5)) as u32;
        report(LiveEvent::Disconnected { retry_in_ms: wait });
        gloo_timers::future::TimeoutFuture::new(wait).await;
        retry = (retry * 2).min(MAX_RETRY_MS);
    }
}

impl State {
    /// Applies a live message in place, with no API call: the graph and the list from the
    /// message alone. A link to a memory this tab does not have yet waits for that memory's
    /// message (connect-node's and the backend's are sent independently, so either may come
    /// first); if it has not come within [`HELD_LINK_WAIT_MS`], and on a `refetch`, everything
    /// is loaded again. While a full load is in flight the message is also kept, to be applied
    /// again on top of what the load brings ([`State::arrived_while_loading`]).
    pub fn apply_live(&self, message: LiveMessage) {
        self.arrived_while_loading.update_value(|kept| {
            if let Some(kept) = kept {
                kept.push(Arrived::Message(message.clone()));
            }
        });
        match message.change {
            Change::NodeCreated { node, memory } | Change::NodeUpdated { node, memory } => {
                let id = node.node_id;
                let shown = self
                    .graph
                    .try_update(|graph| graph.upsert_node(id, &node.label, Some(node.version)))
                    .unwrap_or(false);
                self.upsert(memory.clone());
                if shown && self.selected.get_untracked() == Some(id) {
                    // The panel keeps the links it had; only the memory changed.
                    self.detail.update(|detail| {
                        if let Some(detail) = detail.as_mut().filter(|d| d.version < memory.version) {
                            let edges = detail.edges.take();
                            *detail = memory;
                            detail.edges = edges;
                        }
                    });
                }
            }
            Change::NodeDeleted { node_id } => {
                self.graph.update(|graph| {
                    graph.remove_node(node_id);
                });
                self.forget_nodes(&BTreeSet::from([node_id]));
                self.unlink_in_panel(|other| other == node_id);
            }
            Change::EdgesChanged { node_id, added, removed } => {
                let mut held = Vec::new();
                self.graph.update(|graph| {
                    for other in &removed {
                        graph.remove_edge(node_id, *other);
                    }
                    for edge in &added {
                        if graph.set_edge(node_id, edge.target, edge.weight).is_err() {
                            graph.hold_edge(node_id, edge.target, edge.weight);
                            held.push(edge.target);
                        }
                    }
                });
                let gone: BTreeSet<NodeId> = removed.iter().copied().collect();
                let linked: Vec<NodeId> = added.iter().map(|e| e.target).collect();
                self.detail.update(|detail| {
                    let Some(detail) = detail.as_mut() else { return };
                    let Some(edges) = detail.edges.as_mut() else { return };
                    if detail.node_id == node_id {
                        edges.retain(|other| !gone.contains(other));
                        edges.extend(linked.iter().filter(|other| !edges.contains(other)).copied().collect::<Vec<_>>());
                    } else if gone.contains(&detail.node_id) {
                        edges.retain(|other| *other != node_id);
                    } else if linked.contains(&detail.node_id) && !edges.contains(&node_id) {
                        edges.push(node_id);
                    }
                });
                if !held.is_empty() {
                    // The memory at the other end is announced separately; if its message does
                    // not come (lost, or the memory is beyond what this tab loaded), load again.
                    let state = *self;
                    spawn_local(async move {
                        gloo_timers::future::TimeoutFuture::new(HELD_LINK_WAIT_MS).await;
                        if held.iter().any(|other| state.graph.with_untracked(|g| g.is_held(node_id, *other))) {
                            state.resync();
                        }
                    });
                }
            }
            Change::Refetch {} => self.resync(),
        }
    }

    /// Drops the panel's links to the nodes `gone` names.
    fn unlink_in_panel(&self, gone: impl Fn(NodeId) -> bool) {
        self.detail.update(|detail| {
            if let Some(edges) = detail.as_mut().and_then(|d| d.edges.as_mut()) {
                edges.retain(|other| !gone(*other));
            }
        });
    }
}

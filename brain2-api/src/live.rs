//! What the WebSocket pushes: one message per change to the user's graph, carrying the change
//! itself, so a client applies it without asking the API (`docs/api/live-message.schema.json`,
//! from `cargo xtask schema`).
//!
//! ```json
//! {"version":2,"seq":1,"type":"nodeCreated","node":{"nodeId":"…","label":"…","keywordCount":3,"version":1,"updatedAt":"…"},"memory":{…}}
//! {"version":2,"seq":2,"type":"nodeUpdated","node":{…},"memory":{…}}
//! {"version":2,"seq":3,"type":"nodeDeleted","nodeId":"…"}
//! {"version":2,"seq":4,"type":"edgesChanged","nodeId":"…","added":[{"target":"…","weight":2}],"removed":["…"]}
//! {"version":2,"seq":5,"type":"refetch"}
//! ```
//!
//! `seq` counts the messages of one connection from 1: a number that never comes is a message
//! lost, and only then does a client load again (`refetch` says the same of a change too large
//! for one message, [`MAX_LIVE_MESSAGE_BYTES`]). Messages may arrive out of order; [`Sequencer`]
//! puts them back in order and says when one is lost. A lost last message leaves no gap behind
//! it, so the server closes a connection it could not send to, and the client's reconnect loads
//! everything again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{NodeId, NodeView};

/// The version of the message format. A client that receives another version loads everything
/// again instead of applying it. Version 2 added `seq`, `memory` and `refetch`.
pub const LIVE_FORMAT_VERSION: u32 = 2;

/// The largest message API Gateway's `PostToConnection` takes (128 KB). A change whose message
/// would be larger goes as a `refetch` message instead. At today's limits the largest is far
/// below: a memory of 5,000 characters is at most 30 KB of JSON, and 1,000 edges (the most
/// `maxEdgesPerNode` allows) about 60 KB.
pub const MAX_LIVE_MESSAGE_BYTES: usize = 128 * 1024;

/// How long a client waits for a missing message before it treats it as lost.
pub const GAP_WAIT_MS: f64 = 1_000.0;

/// What the WebSocket pushes after a change to the user's graph. Edges are undirected: `added`
/// and `removed` name the other end of edges of `nodeId`; an added edge that was already shown
/// has a new weight. A deleted node's edges are gone with it. `node.version` orders a node's
/// updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LiveMessage {
    pub version: u32,
    /// This message's number on its connection: 1 for the first, then one more for each.
    pub seq: u64,
    #[serde(flatten)]
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Change {
    /// `memory` is the node as `GET /api/nodes/{id}` returns it, without `edges`.
    NodeCreated {
        node: NodeSummary,
        memory: NodeView,
    },
    NodeUpdated {
        node: NodeSummary,
        memory: NodeView,
    },
    NodeDeleted {
        node_id: NodeId,
    },
    EdgesChanged {
        node_id: NodeId,
        added: Vec<EdgeWeight>,
        removed: Vec<NodeId>,
    },
    /// A change happened that did not fit in a message: load the graph again.
    Refetch {},
}

impl LiveMessage {
    pub fn new(seq: u64, change: Change) -> Self {
        Self { version: LIVE_FORMAT_VERSION, seq, change }
    }

    /// The message's JSON, or a `refetch` message's when it would be larger than API Gateway
    /// takes.
    pub fn encode(seq: u64, change: &Change) -> String {
        let text = serde_json::to_string(&LiveMessage::new(seq, change.clone())).expect("live messages serialize");
        if text.len() <= MAX_LIVE_MESSAGE_BYTES {
            return text;
        }
        serde_json::to_string(&LiveMessage::new(seq, Change::Refetch {})).expect("live messages serialize")
    }
}

/// What a graph view shows of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    pub node_id: NodeId,
    pub label: String,
    pub keyword_count: usize,
    pub version: u64,
    pub updated_at: String,
}

/// One end of an edge, seen from the other, and how many keywords the two share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EdgeWeight {
    pub target: NodeId,
    pub weight: u32,
}

/// Puts one connection's messages back in the order of their `seq`, and notices a lost one: a
/// message that has not come [`GAP_WAIT_MS`] after a later one did.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequencer {
    next: u64,
    held: BTreeMap<u64, LiveMessage>,
    waiting_since: Option<f64>,
}

impl Default for Sequencer {
    fn default() -> Self {
        Self { next: 1, held: BTreeMap::new(), waiting_since: None }
    }
}

impl Sequencer {
    /// Takes a message received at `now_ms`; returns those now ready, in order. A message
    /// already passed (a duplicate) is dropped.
    pub fn receive(&mut self, message: LiveMessage, now_ms: f64) -> Vec<LiveMessage> {
        if message.seq < self.next {
            return Vec::new();
        }
        self.held.insert(message.seq, message);
        let ready = self.release();
        self.waiting_since = match (self.held.is_empty(), self.waiting_since) {
            (true, _) => None,
            (false, Some(since)) if ready.is_empty() => Some(since),
            (false, _) => Some(now_ms),
        };
        ready
    }

    fn release(&mut self) -> Vec<LiveMessage> {
        let mut ready = Vec::new();
        while let Some(message) = self.held.remove(&self.next) {
            self.next += 1;
            ready.push(message);
        }
        ready
    }

    /// When a message has been missing since [`GAP_WAIT_MS`] before `now_ms`: the messages held
    /// behind it, in order, after which the sequence goes on (the caller loads everything
    /// again, since the lost change is not known). `None` while nothing is overdue.
    pub fn overdue(&mut self, now_ms: f64) -> Option<Vec<LiveMessage>> {
        let since = self.waiting_since?;
        if now_ms - since < GAP_WAIT_MS {
            return None;
        }
        let first = *self.held.keys().next()?;
        self.next = first;
        let ready = self.release();
        self.waiting_since = if self.held.is_empty() { None } else { Some(now_ms) };
        Some(ready)
    }

    /// When [`Self::overdue`] will next have something to say.
    pub fn deadline(&self) -> Option<f64> {
        self.waiting_since.map(|since| since + GAP_WAIT_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> NodeId {
        NodeId(uuid::Uuid::from_u128(n))
    }

    fn deleted(seq: u64) -> LiveMessage {
        LiveMessage::new(seq, Change::NodeDeleted { node_id: id(seq.into()) })
    }

    fn seqs(messages: &[LiveMessage]) -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn messages_have_the_documented_shape() {
        let a = id(1);
        let deleted = serde_json::to_value(LiveMessage::new(3, Change::NodeDeleted { node_id: a })).unwrap();
        assert_eq!(
            deleted,
            serde_json::json!({ "version": 2, "seq": 3, "type": "nodeDeleted", "nodeId": a.to_string() })
        );
        let edges = LiveMessage::new(
            4,
            Change::EdgesChanged { node_id: a, added: vec![EdgeWeight { target: a, weight: 2 }], removed: vec![a] },
        );
        let json = serde_json::to_value(&edges).unwrap();
        assert_eq!(json["type"], "edgesChanged");
        assert_eq!(json["added"][0], serde_json::json!({ "target": a.to_string(), "weight": 2 }));
        assert_eq!(serde_json::from_value::<LiveMessage>(json).unwrap(), edges);
        let refetch = serde_json::to_value(LiveMessage::new(5, Change::Refetch {})).unwrap();
        assert_eq!(refetch, serde_json::json!({ "version": 2, "seq": 5, "type": "refetch" }));
    }

    #[test]
    fn a_change_too_large_for_one_message_becomes_a_refetch() {
        let fits = Change::EdgesChanged { node_id: id(1), added: Vec::new(), removed: vec![id(2); 1_000] };
        let text = LiveMessage::encode(7, &fits);
        assert!(text.contains("edgesChanged") && text.len() <= MAX_LIVE_MESSAGE_BYTES);
        // 3,400 targets of 39 bytes each: past the limit.
        let too_large = Change::EdgesChanged { node_id: id(1), added: Vec::new(), removed: vec![id(2); 3_400] };
        assert!(serde_json::to_string(&LiveMessage::new(8, too_large.clone())).unwrap().len() > MAX_LIVE_MESSAGE_BYTES);
        let sent: LiveMessage = serde_json::from_str(&LiveMessage::encode(8, &too_large)).unwrap();
        assert_eq!(sent, LiveMessage::new(8, Change::Refetch {}));
    }

    #[test]
    fn messages_in_order_pass_at_once() {
        let mut sequencer = Sequencer::default();
        assert_eq!(seqs(&sequencer.receive(deleted(1), 0.0)), [1]);
        assert_eq!(seqs(&sequencer.receive(deleted(2), 1.0)), [2]);
        assert_eq!(sequencer.deadline(), None);
        assert!(sequencer.receive(deleted(2), 2.0).is_empty(), "a duplicate is dropped");
    }

    #[test]
    fn a_late_message_is_waited_for_and_the_rest_released_in_order() {
        let mut sequencer = Sequencer::default();
        sequencer.receive(deleted(1), 0.0);
        assert!(sequencer.receive(deleted(3), 10.0).is_empty());
        assert!(sequencer.receive(deleted(4), 20.0).is_empty());
        assert_eq!(sequencer.deadline(), Some(10.0 + GAP_WAIT_MS));
        assert_eq!(sequencer.overdue(500.0), None);
        assert_eq!(seqs(&sequencer.receive(deleted(2), 600.0)), [2, 3, 4]);
        assert_eq!(sequencer.deadline(), None);
    }

    #[test]
    fn a_lost_message_is_noticed_after_the_wait_and_the_sequence_goes_on() {
        let mut sequencer = Sequencer::default();
        sequencer.receive(deleted(1), 0.0);
        sequencer.receive(deleted(3), 100.0);
        assert_eq!(sequencer.overdue(100.0 + GAP_WAIT_MS - 1.0), None);
        assert_eq!(sequencer.overdue(100.0 + GAP_WAIT_MS).map(|m| seqs(&m)), Some(vec![3]));
        assert_eq!(sequencer.deadline(), None);
        assert!(sequencer.receive(deleted(2), 2_000.0).is_empty(), "the lost one, too late");
        assert_eq!(seqs(&sequencer.receive(deleted(4), 2_000.0)), [4]);
        // Two gaps: the first is given up on, then the second is waited for anew.
        sequencer.receive(deleted(6), 3_000.0);
        sequencer.receive(deleted(8), 3_000.0);
        assert_eq!(sequencer.overdue(4_000.0).map(|m| seqs(&m)), Some(vec![6]));
        assert_eq!(sequencer.deadline(), Some(4_000.0 + GAP_WAIT_MS));
        assert_eq!(seqs(&sequencer.receive(deleted(7), 4_100.0)), [7, 8]);
    }
}

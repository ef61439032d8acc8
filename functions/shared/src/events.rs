//! The events of the Brain2 flow on the bus, and publishing them with retries.

use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::{Deserialize, Serialize};

use crate::domain::NodeId;

/// `source` of the backend's events.
pub const API_SOURCE: &str = "brain2.api";
/// `source` of connect-node's events.
pub const CONNECT_NODE_SOURCE: &str = "brain2.connect-node";

pub const NODE_CREATED: &str = "NodeCreated";
pub const NODE_UPDATED: &str = "NodeUpdated";
pub const NODE_DELETED: &str = "NodeDeleted";
pub const EDGES_CREATED: &str = "EdgesCreated";
pub const EDGES_REMOVED: &str = "EdgesRemoved";

pub use brain2_api::{EdgeWeight, NodeSummary, NodeView};

/// `detail` of NodeCreated and NodeUpdated. `node` is what a live client's graph shows and
/// `memory` what its list shows (each absent from events published before it was added).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeChanged {
    pub user_id: String,
    pub node_id: NodeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<NodeView>,
}

/// `detail` of NodeDeleted: the node and every edge it had are gone. The backend publishes it
/// for a delete it did, connect-node for an abandoned delete it finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDeleted {
    pub user_id: String,
    pub node_id: NodeId,
}

/// `detail` of EdgesCreated: edges of `node_id` added, or reweighed, by connect-node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgesCreated {
    pub user_id: String,
    pub node_id: NodeId,
    pub edges: Vec<EdgeWeight>,
}

/// `detail` of EdgesRemoved: `node_id` is no longer linked to `targets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgesRemoved {
    pub user_id: String,
    pub node_id: NodeId,
    pub targets: Vec<NodeId>,
}

/// An event a handler was not subscribed to, or whose user id is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unexpected event {detail_type:?} from {source_name:?}")]
    Unexpected { detail_type: String, source_name: String },
    #[error("event userId {0:?} is not a UUID")]
    BadUser(String),
    #[error("{detail_type} event's detail is malformed: {problem}")]
    BadDetail { detail_type: String, problem: String },
}

/// Checks an event's source and detail type against what the handler's rule delivers, and
/// returns the user it is about.
pub fn accept(
    source: &str,
    detail_type: &str,
    user_id: &str,
    expected_source: &str,
    expected_types: &[&str],
) -> Result<crate::domain::UserId, EventError> {
    if source != expected_source || !expected_types.contains(&detail_type) {
        return Err(EventError::Unexpected { detail_type: detail_type.to_owned(), source_name: source.to_owned() });
    }
    user(user_id)
}

/// The user an event's `userId` names.
pub fn user(user_id: &str) -> Result<crate::domain::UserId, EventError> {
    uuid::Uuid::parse_str(user_id).map(crate::domain::UserId).map_err(|_| EventError::BadUser(user_id.to_owned()))
}

/// Attempts per event, including the first.
pub const PUBLISH_ATTEMPTS: u32 = 4;

#[derive(Debug, thiserror::Error)]
#[error("publishing {detail_type} failed after {PUBLISH_ATTEMPTS} attempts: {last_error}")]
pub struct PublishError {
    pub detail_type: String,
    pub last_error: String,
}

/// Puts events on one bus under one source.
#[derive(Debug, Clone)]
pub struct Publisher {
    client: Client,
    bus: String,
    source: &'static str,
}

impl Publisher {
    pub fn new(client: Client, bus: impl Into<String>, source: &'static str) -> Self {
        Self { client, bus: bus.into(), source }
    }

    /// Publishes one event, retrying a failed call or a failed entry with backoff.
    pub async fn publish(&self, detail_type: &str, detail: &impl Serialize) -> Result<(), PublishError> {
        let detail = serde_json::to_string(detail).expect("event details always serialize");
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(self.source)
            .detail_type(detail_type)
            .detail(detail)
            .build();
        let mut last_error = String::new();
        for attempt in 0..PUBLISH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            match self.client.put_events().entries(entry.clone()).send().await {
                Ok(output) if output.failed_entry_count() == 0 => return Ok(()),
                Ok(output) => {
                    let entry = output.entries().first();
                    last_error = format!(
                        "entry failed: {} {}",
                        entry.and_then(|e| e.error_code()).unwrap_or("?"),
                        entry.and_then(|e| e.error_message()).unwrap_or("")
                    );
                }
                Err(error) => last_error = aws_sdk_eventbridge::error::DisplayErrorContext(&error).to_string(),
            }
            tracing::warn!(detail_type, attempt, error = %last_error, "publishing an event failed; retrying");
        }
        Err(PublishError { detail_type: detail_type.to_owned(), last_error })
    }
}

pub use brain2_api::metrics::{PUBLISH_FAILURES, PUSH_FAILURES};

/// Counts `count` of `metric` as a CloudWatch embedded-metric-format line, written to stdout,
/// where Lambda ships it to CloudWatch Logs and CloudWatch turns it into a metric.
pub fn record_metric(metric: &str, count: u64, environment: &str, now_ms: i128) -> String {
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": brain2_api::metrics::NAMESPACE,
                "Dimensions": [["Environment"]],
                "Metrics": [{ "Name": metric, "Unit": "Count" }]
            }]
        },
        "Environment": environment,
        metric: count
    })
    .to_string();
    println!("{line}");
    line
}

/// Counts a publish that failed for good (the backend: the node is stored regardless).
pub fn record_publish_failure(environment: &str, now_ms: i128) -> String {
    record_metric(PUBLISH_FAILURES, 1, environment, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape CloudWatch's embedded metric format requires: the metric named in `_aws`, its
    /// value and the dimension at the top level.
    #[test]
    fn metric_lines_are_embedded_metric_format() {
        let line: serde_json::Value =
            serde_json::from_str(&record_metric(PUSH_FAILURES, 3, "prod", 1_700_000_000_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "Brain2");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Environment"]]));
        assert_eq!(directive["Metrics"], serde_json::json!([{ "Name": "PushFailures", "Unit": "Count" }]));
        assert_eq!((line["Environment"].as_str(), line["PushFailures"].as_u64()), (Some("prod"), Some(3)));
        let publish: serde_json::Value = serde_json::from_str(&record_publish_failure("dev", 1)).unwrap();
        assert_eq!(publish["EventPublishFailures"], 1);
    }
}

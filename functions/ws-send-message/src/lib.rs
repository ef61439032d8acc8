//! ws-send-message: on the backend's NodeCreated, NodeUpdated and NodeDeleted and connect-node's
//! EdgesCreated, EdgesRemoved and NodeDeleted, pushes a [`LiveMessage`] carrying the change
//! (brain2-api's `live` module documents the format) to each of the user's open connections,
//! concurrently and bounded. Each message is numbered per connection (`seq`, counted in
//! ConnectionsTable), so a client notices a lost one; a change too large for one message goes
//! as a `refetch` message. A connection that answers 410 Gone is deleted; any other failure is
//! an error for that connection only, and the connection is closed: its client may have missed
//! this message, and a gap shows only when a later one arrives, which for the last change may be
//! never. A closed socket reconnects and loads everything again. Each post and each close has
//! its own small budget ([`budget`]), and at most [`MAX_CLOSES`] connections are closed (one
//! round), so an invocation takes at most `ceil(connections / POST_PARALLELISM) × POST_BUDGET`
//! for the posts, one `POST_BUDGET` for the closes, plus one counter update per connection:
//! in an outage of the management API, where every post and every close fails, the closes do
//! not double the time.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use brain2_api::{Change, LiveMessage};
use brain2_shared::connections::ConnectionStore;
use brain2_shared::domain::UserId;
use brain2_shared::events::{self, EdgesCreated, EdgesRemoved, EventError, NodeChanged, NodeDeleted};
use futures::stream::{self, StreamExt};

/// Posts in flight at once.
pub const POST_PARALLELISM: usize = 16;

/// Connections closed per invocation, all at once: one round of [`budget::POST_BUDGET`]. Those
/// whose message could not be numbered go first (no later message would show their gap). Past
/// the round a connection that missed the message stays open (reported in
/// [`Delivery::unclosed`] and logged); its client sees the gap at the next message, or
/// reconnects when the connection's TTL ends it.
pub const MAX_CLOSES: usize = POST_PARALLELISM;

/// The management API's budget per connection. A push fans out in the hot path of every
/// change, and one unreachable connection must not hold up the rest: with the SDK's defaults
/// (5 attempts, backoff up to 20 s) a single dead connection took 10.4 s on the emulator.
/// Here one connection costs at most [`POST_BUDGET`]; a stale connection is also cleaned up
/// on `$disconnect` and by its TTL, so giving up early loses nothing.
pub mod budget {
    use std::time::Duration;

    pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);
    pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1_500);
    pub const MAX_ATTEMPTS: u32 = 2;
    pub const MAX_BACKOFF: Duration = Duration::from_millis(200);
    /// The whole call, retries included.
    pub const POST_BUDGET: Duration = Duration::from_millis(3_200);
}

/// The management API client for `endpoint`, with [`budget`]'s timeouts and retries.
pub fn management_client(
    sdk: &brain2_shared::aws::SdkConfig,
    endpoint: String,
) -> aws_sdk_apigatewaymanagement::Client {
    use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
    use aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig;
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
        .endpoint_url(endpoint)
        .retry_config(
            RetryConfig::standard().with_max_attempts(budget::MAX_ATTEMPTS).with_max_backoff(budget::MAX_BACKOFF),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(budget::CONNECT_TIMEOUT)
                .operation_attempt_timeout(budget::ATTEMPT_TIMEOUT)
                .operation_timeout(budget::POST_BUDGET)
                .build(),
        )
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(config)
}

#[derive(Debug, Clone)]
pub struct SendMessage {
    pub connections: ConnectionStore,
    pub management: aws_sdk_apigatewaymanagement::Client,
    /// Names the environment in the `PushFailures` metric the stacks alarm on.
    pub environment: String,
}

/// What happened to each connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: Vec<String>,
    pub gone: Vec<String>,
    /// Not sent (and closed, or tried to be: see [`Delivery::unclosed`]).
    pub failed: Vec<String>,
    /// Of `failed`, those that could not be closed either, or were past [`MAX_CLOSES`]: their
    /// clients learn of the loss from the next message's number.
    pub unclosed: Vec<String>,
}

/// The change an event announces, and whose connections it goes to.
pub fn live_change(event: &EventBridgeEvent<serde_json::Value>) -> Result<(UserId, Change), EventError> {
    fn detail<T: serde::de::DeserializeOwned>(event: &EventBridgeEvent<serde_json::Value>) -> Result<T, EventError> {
        serde_json::from_value(event.detail.clone())
            .map_err(|e| EventError::BadDetail { detail_type: event.detail_type.clone(), problem: e.to_string() })
    }
    // The match on source and detail type is the subscription check.
    let (user_id, change) = match (event.source.as_str(), event.detail_type.as_str()) {
        (events::API_SOURCE, events::NODE_CREATED | events::NODE_UPDATED) => {
            let detail: NodeChanged = detail(event)?;
            let change = match (detail.node, detail.memory) {
                (Some(node), Some(memory)) if event.detail_type == events::NODE_CREATED => {
                    Change::NodeCreated { node, memory }
                }
                (Some(node), Some(memory)) => Change::NodeUpdated { node, memory },
                // An event from before they were published: the client loads the change instead.
                _ => Change::Refetch {},
            };
            (detail.user_id, change)
        }
        (events::API_SOURCE | events::CONNECT_NODE_SOURCE, events::NODE_DELETED) => {
            let detail: NodeDeleted = detail(event)?;
            (detail.user_id, Change::NodeDeleted { node_id: detail.node_id })
        }
        (events::CONNECT_NODE_SOURCE, events::EDGES_CREATED) => {
            let detail: EdgesCreated = detail(event)?;
            (detail.user_id, Change::EdgesChanged { node_id: detail.node_id, added: detail.edges, removed: Vec::new() })
        }
        (events::CONNECT_NODE_SOURCE, events::EDGES_REMOVED) => {
            let detail: EdgesRemoved = detail(event)?;
            (
                detail.user_id,
                Change::EdgesChanged { node_id: detail.node_id, added: Vec::new(), removed: detail.targets },
            )
        }
        (source, detail_type) => {
            return Err(EventError::Unexpected { detail_type: detail_type.to_owned(), source_name: source.to_owned() });
        }
    };
    Ok((events::user(&user_id)?, change))
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Event(#[from] events::EventError),
    #[error(transparent)]
    Store(#[from] brain2_shared::dynamo::StoreError),
}

enum Posted {
    Sent,
    Gone,
    Failed,
    /// Not numbered (its counter could not be raised): the next message may carry the number
    /// this one would have had, so its client would see no gap. Closed first.
    Unnumbered,
}

impl SendMessage {
    pub async fn handle(&self, event: EventBridgeEvent<serde_json::Value>) -> Result<Delivery, SendError> {
        let (user, change) = live_change(&event)?;
        let ids = self.connections.of_user(user).await?;
        let change = &change;
        let results: Vec<(String, Posted)> = stream::iter(ids)
            .map(|id| async move {
                let outcome = match self.connections.next_sequence(&id).await {
                    Ok(Some(seq)) => self.post(&id, LiveMessage::encode(seq, change)).await,
                    // Disconnected since it was listed: nothing to send it.
                    Ok(None) => Posted::Gone,
                    Err(error) => {
                        tracing::error!(connection = %id, %error, "could not number the message");
                        Posted::Unnumbered
                    }
                };
                (id, outcome)
            })
            .buffer_unordered(POST_PARALLELISM)
            .collect()
            .await;
        let mut delivery = Delivery::default();
        let mut unnumbered = Vec::new();
        for (id, outcome) in results {
            match outcome {
                Posted::Sent => delivery.sent.push(id),
                Posted::Gone => delivery.gone.push(id),
                Posted::Failed => delivery.failed.push(id),
                Posted::Unnumbered => unnumbered.push(id),
            }
        }
        // Those whose gap no later message would show are closed first.
        unnumbered.sort();
        delivery.failed.sort();
        let ordered: Vec<String> = unnumbered.iter().chain(&delivery.failed).cloned().collect();
        delivery.failed.extend(unnumbered);
        delivery.failed.sort();
        // The metric the alarm watches goes out before the closes.
        if !delivery.failed.is_empty() {
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            events::record_metric(events::PUSH_FAILURES, delivery.failed.len() as u64, &self.environment, now_ms);
        }
        let (closing, left_open) = ordered.split_at(ordered.len().min(MAX_CLOSES));
        let unclosed: Vec<Option<String>> = stream::iter(closing)
            .map(|id| async move { (!self.close(id).await).then(|| id.clone()) })
            .buffer_unordered(MAX_CLOSES)
            .collect()
            .await;
        if !left_open.is_empty() {
            tracing::error!(
                left_open = left_open.len(),
                closes = MAX_CLOSES,
                "more connections missed the message than one invocation closes; the rest stay open"
            );
        }
        delivery.unclosed = unclosed.into_iter().flatten().chain(left_open.iter().cloned()).collect();
        delivery.sent.sort();
        delivery.gone.sort();
        delivery.unclosed.sort();
        tracing::info!(
            sent = delivery.sent.len(),
            gone = delivery.gone.len(),
            failed = delivery.failed.len(),
            unclosed = delivery.unclosed.len(),
            "delivered"
        );
        Ok(delivery)
    }

    /// Closes a connection that may have missed a message; whether it is closed (or was
    /// already gone).
    async fn close(&self, connection_id: &str) -> bool {
        match self.management.delete_connection().connection_id(connection_id).send().await {
            Ok(_) => true,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_gone_exception()) => true,
            Err(error) => {
                tracing::error!(
                    connection = connection_id,
                    error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&error),
                    "closing a connection that missed a message failed"
                );
                false
            }
        }
    }

    async fn post(&self, connection_id: &str, message: String) -> Posted {
        let result = self
            .management
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(message.into_bytes()))
            .send()
            .await;
        match result {
            Ok(_) => Posted::Sent,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_gone_exception()) => {
                if let Err(delete_error) = self.connections.delete(connection_id).await {
                    tracing::error!(connection = connection_id, error = %delete_error, "could not delete a gone connection");
                }
                Posted::Gone
            }
            Err(error) => {
                tracing::error!(
                    connection = connection_id,
                    error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&error),
                    "posting to a connection failed"
                );
                Posted::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A management API that accepts connections and never answers.
    async fn silent_endpoint() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        (format!("http://{address}/_aws/execute-api/api/live"), accepted)
    }

    #[tokio::test]
    async fn an_unanswering_connection_costs_two_short_attempts() {
        let (endpoint, accepted) = silent_endpoint().await;
        let env: HashMap<String, String> =
            [("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_REGION", "us-east-1")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let sdk = brain2_shared::aws::sdk_config_from(&env).unwrap();
        let client = management_client(&sdk, endpoint);
        let started = std::time::Instant::now();
        let error = client.post_to_connection().connection_id("c").data(Blob::new("{}")).send().await.unwrap_err();
        // Printed for BENCHMARKS.md, never asserted.
        println!("one unanswering connection: {:?}", started.elapsed());
        assert!(
            matches!(error, aws_sdk_apigatewaymanagement::error::SdkError::TimeoutError(_)),
            "{}",
            aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&error)
        );
        assert_eq!(accepted.load(Ordering::SeqCst), budget::MAX_ATTEMPTS as usize);
    }
}

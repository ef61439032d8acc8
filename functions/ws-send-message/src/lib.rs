//! ws-send-message: on EdgesCreated, pushes `{"action":"graphUpdated","nodeId":…}` to each of
//! the user's open connections, concurrently and bounded. A connection that answers 410 Gone is
//! deleted; any other failure is an error for that connection only.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use brain2_shared::connections::ConnectionStore;
use brain2_shared::events::{self, EdgesCreated};
use futures::stream::{self, StreamExt};

/// Posts in flight at once.
pub const POST_PARALLELISM: usize = 16;

#[derive(Debug, Clone)]
pub struct SendMessage {
    pub connections: ConnectionStore,
    pub management: aws_sdk_apigatewaymanagement::Client,
}

/// What happened to each connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: Vec<String>,
    pub gone: Vec<String>,
    pub failed: Vec<String>,
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
}

impl SendMessage {
    pub async fn handle(&self, event: EventBridgeEvent<EdgesCreated>) -> Result<Delivery, SendError> {
        let user = events::accept(
            &event.source,
            &event.detail_type,
            &event.detail.user_id,
            events::CONNECT_NODE_SOURCE,
            &[events::EDGES_CREATED],
        )?;
        let detail = event.detail;
        let message = serde_json::json!({ "action": "graphUpdated", "nodeId": detail.node_id }).to_string();
        let ids = self.connections.of_user(user).await?;
        let results: Vec<(String, Posted)> = stream::iter(ids)
            .map(|id| {
                let message = message.clone();
                async move {
                    let outcome = self.post(&id, message).await;
                    (id, outcome)
                }
            })
            .buffer_unordered(POST_PARALLELISM)
            .collect()
            .await;
        let mut delivery = Delivery::default();
        for (id, outcome) in results {
            match outcome {
                Posted::Sent => delivery.sent.push(id),
                Posted::Gone => delivery.gone.push(id),
                Posted::Failed => delivery.failed.push(id),
            }
        }
        delivery.sent.sort();
        delivery.gone.sort();
        delivery.failed.sort();
        tracing::info!(
            sent = delivery.sent.len(),
            gone = delivery.gone.len(),
            failed = delivery.failed.len(),
            "delivered"
        );
        Ok(delivery)
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

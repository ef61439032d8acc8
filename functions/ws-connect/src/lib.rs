//! ws-connect: the WebSocket `$connect` route, after the authorizer. Stores the connection
//! against the user id the authorizer put in the request context.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use brain2_shared::connections::ConnectionStore;
use brain2_shared::domain::UserId;
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The part of the `$connect` event ws-connect reads. A REQUEST authorizer's context reaches a
/// WebSocket route flat in `requestContext.authorizer`, beside `principalId`;
/// aws_lambda_events exposes such keys only through its catch-all fields, whose flattening
/// every function would pay for in size, so this event has its own small type.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectEvent {
    pub request_context: ConnectContext,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectContext {
    #[serde(default)]
    pub connection_id: Option<String>,
    #[serde(default)]
    pub authorizer: Option<Map<String, Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the request has no connection id")]
    NoConnectionId,
    #[error("the authorizer context has no user id (sub or principalId)")]
    NoUser,
    #[error(transparent)]
    Store(#[from] brain2_shared::dynamo::StoreError),
}

/// The user the authorizer established: `sub` in its context, else `principalId`; each
/// looked up flat and under `lambda` (the HTTP API's spelling).
pub fn user_of(request: &ConnectEvent) -> Option<UserId> {
    let authorizer = request.request_context.authorizer.as_ref()?;
    ["sub", "principalId"]
        .iter()
        .find_map(|key| authorizer.get(*key).or_else(|| authorizer.get("lambda").and_then(|l| l.get(*key))))
        .and_then(|v| v.as_str())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(UserId)
}

pub fn response(status: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response
}

pub async fn handle(
    store: &ConnectionStore,
    request: ConnectEvent,
    now: OffsetDateTime,
) -> Result<ApiGatewayProxyResponse, ConnectError> {
    let connection_id = request.request_context.connection_id.clone().ok_or(ConnectError::NoConnectionId)?;
    let user = user_of(&request).ok_or(ConnectError::NoUser)?;
    store.put(&connection_id, user, now).await?;
    tracing::info!(connection = %connection_id, user = %user, "connected");
    Ok(response(200))
}

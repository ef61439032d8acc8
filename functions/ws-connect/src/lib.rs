//! ws-connect: the WebSocket `$connect` route, after the authorizer. Stores the connection
//! against the user id the authorizer put in the request context.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use brain2_shared::connections::ConnectionStore;
use brain2_shared::domain::UserId;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the request has no connection id")]
    NoConnectionId,
    #[error("the authorizer context has no user id (sub or principalId)")]
    NoUser,
    #[error(transparent)]
    Store(#[from] brain2_shared::dynamo::StoreError),
}

/// The user the authorizer established: `sub` in its context, else `principalId`.
pub fn user_of(request: &ApiGatewayWebsocketProxyRequest) -> Option<UserId> {
    let authorizer = &request.request_context.authorizer;
    ["sub", "principalId"]
        .iter()
        .find_map(|key| authorizer.fields.get(*key).or_else(|| authorizer.other.get(*key)))
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
    request: ApiGatewayWebsocketProxyRequest,
    now: OffsetDateTime,
) -> Result<ApiGatewayProxyResponse, ConnectError> {
    let connection_id = request.request_context.connection_id.clone().ok_or(ConnectError::NoConnectionId)?;
    let user = user_of(&request).ok_or(ConnectError::NoUser)?;
    store.put(&connection_id, user, now).await?;
    tracing::info!(connection = %connection_id, user = %user, "connected");
    Ok(response(200))
}

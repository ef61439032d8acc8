//! ws-disconnect: the WebSocket `$disconnect` route. Deletes the connection; one already gone
//! is fine.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use brain2_shared::connections::ConnectionStore;

#[derive(Debug, thiserror::Error)]
pub enum DisconnectError {
    #[error("the request has no connection id")]
    NoConnectionId,
    #[error(transparent)]
    Store(#[from] brain2_shared::dynamo::StoreError),
}

pub async fn handle(
    store: &ConnectionStore,
    request: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, DisconnectError> {
    let connection_id = request.request_context.connection_id.ok_or(DisconnectError::NoConnectionId)?;
    store.delete(&connection_id).await?;
    tracing::info!(connection = %connection_id, "disconnected");
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = 200;
    Ok(response)
}

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use brain2_shared::config::{self, ProcessEnv};
use brain2_shared::connections::ConnectionStore;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let table = config::required(&env, "CONNECTIONS_TABLE_NAME")?;
    let index = config::optional(&env, "CONNECTIONS_INDEX_NAME").unwrap_or_else(|| "connection-id-index".to_owned());
    let sdk = brain2_shared::aws::sdk_config().await;
    let store = ConnectionStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, index);
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
        ws_connect::handle(store, event.payload, time::OffsetDateTime::now_utc()).await.map_err(Error::from)
    }))
    .await
}

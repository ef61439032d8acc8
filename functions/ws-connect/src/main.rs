use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use brain2_shared::config::ProcessEnv;
use brain2_shared::connections::ConnectionStore;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let sdk = brain2_shared::aws::sdk_config().await;
    let store = ConnectionStore::from_env(aws_sdk_dynamodb::Client::new(&sdk), &env)?;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
        ws_connect::handle(store, event.payload, time::OffsetDateTime::now_utc()).await.map_err(Error::from)
    }))
    .await
}

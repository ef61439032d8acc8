use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use brain2_shared::config::ProcessEnv;
use brain2_shared::connections::ConnectionStore;
use lambda_runtime::{Error, LambdaEvent, service_fn};

// Lambda hands a process one event at a time: one thread serves it, and starts sooner.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let sdk = brain2_shared::aws::sdk_config()?;
    let store = ConnectionStore::from_env(aws_sdk_dynamodb::Client::new(&sdk), &env)?;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
        brain2_shared::panic::invocation_started(&event.context.request_id);
        ws_disconnect::handle(store, event.payload).await.map_err(Error::from)
    }))
    .await
}

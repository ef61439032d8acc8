use aws_lambda_events::eventbridge::EventBridgeEvent;
use brain2_shared::config::{self, ProcessEnv};
use brain2_shared::connections::ConnectionStore;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_send_message::SendMessage;

// Lambda hands a process one event at a time: one thread serves it, and starts sooner.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let endpoint = config::required(&env, "WEBSOCKET_ENDPOINT")?;
    let sdk = brain2_shared::aws::sdk_config()?;
    let endpoint = brain2_shared::aws::management_endpoint(&endpoint, sdk.endpoint_url())?;
    let handler = SendMessage {
        connections: ConnectionStore::from_env(aws_sdk_dynamodb::Client::new(&sdk), &env)?,
        management: ws_send_message::management_client(&sdk, endpoint),
        environment: config::required(&env, "ENVIRONMENT")?,
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
        brain2_shared::panic::invocation_started(&event.context.request_id);
        handler.handle(event.payload).await.map(|delivery| format!("{delivery:?}")).map_err(Error::from)
    }))
    .await
}

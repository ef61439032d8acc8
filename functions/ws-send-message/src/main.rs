use aws_lambda_events::eventbridge::EventBridgeEvent;
use brain2_shared::config::{self, ProcessEnv};
use brain2_shared::connections::ConnectionStore;
use brain2_shared::events::EdgesCreated;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use ws_send_message::SendMessage;

#[tokio::main]
async fn main() -> Result<(), Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let endpoint = config::required(&env, "WEBSOCKET_ENDPOINT")?;
    let sdk = brain2_shared::aws::sdk_config().await;
    let endpoint = brain2_shared::aws::management_endpoint(&endpoint, sdk.endpoint_url())?;
    let management = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk).endpoint_url(endpoint).build();
    let handler = SendMessage {
        connections: ConnectionStore::from_env(aws_sdk_dynamodb::Client::new(&sdk), &env)?,
        management: aws_sdk_apigatewaymanagement::Client::from_conf(management),
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent<EdgesCreated>>| async move {
        handler.handle(event.payload).await.map(|delivery| format!("{delivery:?}")).map_err(Error::from)
    }))
    .await
}

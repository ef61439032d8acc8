//! The backend on Lambda: configuration checked at cold start, then the router serves the HTTP
//! API's proxy integration events.

use backend::{AppState, caller_from_lambda_context, router};
use brain2_shared::config::{self, ProcessEnv};
use lambda_runtime::{Error, LambdaEvent, service_fn};

// Lambda hands a process one event at a time: one thread serves it, and starts sooner.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    // Required on Lambda: the stacks always set it, and the failure metric is per environment.
    config::required(&env, "ENVIRONMENT")?;
    // Account deletion removes the user's connections: on Lambda they are always there.
    config::required(&env, "CONNECTIONS_TABLE_NAME")?;
    let sdk = brain2_shared::aws::sdk_config()?;
    let state = AppState::from_env(&sdk, &env, "")?;
    let app = router(state).layer(axum::middleware::from_fn(caller_from_lambda_context));
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<backend::lambda::HttpApiEvent>| async move {
        brain2_shared::panic::invocation_started(&event.context.request_id);
        backend::lambda::serve(app.clone(), event.payload).await.map_err(Error::from)
    }))
    .await
}

//! The backend on Lambda: configuration checked at cold start, then the router behind
//! `lambda_http`.

use backend::{AppState, caller_from_lambda_context, router};
use brain2_shared::config::{self, ProcessEnv};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    // Required on Lambda: the stacks always set it, and the failure metric is per environment.
    config::required(&env, "ENVIRONMENT")?;
    let sdk = brain2_shared::aws::sdk_config().await;
    let state = AppState::from_env(&sdk, &env, "")?;
    let app = router(state).layer(axum::middleware::from_fn(caller_from_lambda_context));
    lambda_http::run(app).await
}

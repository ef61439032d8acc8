//! The backend on Lambda: configuration checked at cold start, then the router behind
//! `lambda_http`.

use std::sync::Arc;

use backend::{AppState, caller_from_lambda_context, router};
use brain2_shared::config::{self, ProcessEnv};
use brain2_shared::events::{API_SOURCE, Publisher};
use brain2_shared::memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let table = config::required(&env, "MEMORY_TABLE_NAME")?;
    let bus = config::required(&env, "EVENT_BUS_NAME")?;
    let environment = config::required(&env, "ENVIRONMENT")?;
    let index = config::optional(&env, "KEYWORD_INDEX_NAME").unwrap_or_else(|| "KeywordIndex".to_owned());
    let sdk = brain2_shared::aws::sdk_config().await;
    let state = AppState {
        store: MemoryStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, index),
        publisher: Publisher::new(aws_sdk_eventbridge::Client::new(&sdk), bus, API_SOURCE),
        environment,
        clock: Arc::new(time::OffsetDateTime::now_utc),
    };
    let app = router(state).layer(axum::middleware::from_fn(caller_from_lambda_context));
    lambda_http::run(app).await
}

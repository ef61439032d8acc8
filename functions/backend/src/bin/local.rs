//! The backend's routes served locally, outside Lambda, as one fixed user:
//!
//! ```sh
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 MEMORY_TABLE_NAME=… EVENT_BUS_NAME=… \
//!   BRAIN2_LOCAL_USER=<uuid> cargo run --bin backend-local -- 127.0.0.1:8080
//! ```
//!
//! There is no authorizer here: every request acts as `BRAIN2_LOCAL_USER`. It binds to the
//! loopback address it is given and is for development only.

use axum::extract::Request;
use axum::middleware::Next;
use backend::extract::Caller;
use backend::{AppState, router};
use brain2_shared::config::{self, ProcessEnv};
use brain2_shared::domain::UserId;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let user = config::required(&env, "BRAIN2_LOCAL_USER")?;
    let user = UserId(uuid::Uuid::parse_str(&user).map_err(|_| format!("BRAIN2_LOCAL_USER {user:?} is not a UUID"))?);
    let sdk = brain2_shared::aws::sdk_config()?;
    let state = AppState::from_env(&sdk, &env, "local")?;
    let app = router(state).layer(axum::middleware::from_fn(move |mut request: Request, next: Next| async move {
        request.extensions_mut().insert(Caller(user));
        next.run(request).await
    }));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("backend serving on http://{address} as user {user}");
    axum::serve(listener, app).await?;
    Ok(())
}

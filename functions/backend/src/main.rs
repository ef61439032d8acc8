//! The backend on Lambda: [`backend::lambda::run`] checks the configuration at cold start, then
//! the router serves the HTTP API's proxy integration events.

// Lambda hands a process one event at a time: one thread serves it, and starts sooner.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    backend::lambda::run().await
}

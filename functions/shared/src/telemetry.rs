//! Structured JSON logs through `tracing`, at the level `LOG_LEVEL` sets (default `info`).
//! The Lambda runtime's tracing layer adds the request id to every line of an invocation.

/// Installs the subscriber once; later calls do nothing.
pub fn init() {
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".to_owned());
    let filter =
        tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .without_time() // CloudWatch stamps each line
        .try_init();
}

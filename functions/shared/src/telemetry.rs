//! Structured JSON logs through `tracing`, at the level `LOG_LEVEL` sets (default `info`).
//! The Lambda runtime's tracing layer adds the request id to every line of an invocation.
//!
//! `LOG_LEVEL` is a level (`warn`) or comma-separated `target=level` directives
//! (`info,aws_smithy_runtime=debug`), parsed by `Targets`: the same syntax as `RUST_LOG`
//! without its regular expressions, which would add a regex engine to every zip.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter `LOG_LEVEL` asks for, or `info` with the reason it was not usable.
pub fn filter(log_level: Option<&str>) -> (Targets, Option<String>) {
    let default = Targets::new().with_default(LevelFilter::INFO);
    match log_level.map(str::trim).filter(|level| !level.is_empty()) {
        None => (default, None),
        Some(level) => match Targets::from_str(level) {
            Ok(targets) => (targets, None),
            Err(error) => (
                default,
                Some(format!("LOG_LEVEL {level:?} is not a level or target=level list ({error}); logging at info")),
            ),
        },
    }
}

/// Installs the subscriber once (later calls do nothing), and the hook that reports panics
/// when they abort ([`crate::panic`]).
pub fn init() {
    crate::panic::install();
    let (filter, problem) = filter(std::env::var("LOG_LEVEL").ok().as_deref());
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .without_time(); // CloudWatch stamps each line
    if tracing_subscriber::registry().with(format).with(filter).try_init().is_ok()
        && let Some(problem) = problem
    {
        tracing::warn!("{problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn a_level_or_directives_or_info() {
        assert!(filter(None).0.would_enable("backend", &Level::INFO));
        assert!(!filter(None).0.would_enable("backend", &Level::DEBUG));
        assert!(!filter(Some("warn")).0.would_enable("backend", &Level::INFO));
        let (targets, problem) = filter(Some("info,aws_smithy_runtime=debug"));
        assert!(problem.is_none());
        assert!(targets.would_enable("aws_smithy_runtime::client", &Level::DEBUG));
        assert!(!targets.would_enable("backend", &Level::DEBUG));
        let (targets, problem) = filter(Some("loud=="));
        assert!(targets.would_enable("backend", &Level::INFO));
        assert!(problem.unwrap().contains("\"loud==\""));
    }
}

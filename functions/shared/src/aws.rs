//! One SDK configuration for every client: the standard credential and region chain, a
//! rustls+ring HTTPS client, `AWS_ENDPOINT_URL` honoured for local emulators, and retries with
//! backoff for throttling and transient errors.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Attempts per call, the first included. DynamoDB and EventBridge throttling is retried with
/// the SDK's exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 5;

/// Loads the shared configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    let http_client = Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await
}

/// Where the WebSocket API's management API (`@connections`) answers.
///
/// On AWS that is the stage's own URL, `https://<apiId>.execute-api.<region>.amazonaws.com/<stage>`,
/// which the stack passes in `WEBSOCKET_ENDPOINT`. When the SDK is pointed at a local emulator
/// (`AWS_ENDPOINT_URL`, as `cargo xtask dev` sets for MiniStack), that hostname exists nowhere,
/// so the same API is reached in the emulators' path style,
/// `<endpoint>/_aws/execute-api/<apiId>/<stage>` (MiniStack and LocalStack both serve it).
/// This is the one place the functions know about emulators; it changes an address only.
pub fn management_endpoint(websocket_endpoint: &str, emulator: Option<&str>) -> Result<String, String> {
    let Some(emulator) = emulator.filter(|e| !e.is_empty()) else {
        return Ok(websocket_endpoint.trim_end_matches('/').to_owned());
    };
    let rest = websocket_endpoint
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("WEBSOCKET_ENDPOINT {websocket_endpoint:?} is not a URL"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let api_id = host.split('.').next().filter(|id| !id.is_empty() && host.contains(".execute-api."));
    let stage = path.split('/').next().filter(|s| !s.is_empty());
    match (api_id, stage) {
        (Some(api_id), Some(stage)) => {
            Ok(format!("{}/_aws/execute-api/{api_id}/{stage}", emulator.trim_end_matches('/')))
        }
        _ => Err(format!(
            "WEBSOCKET_ENDPOINT {websocket_endpoint:?}: expected https://<apiId>.execute-api.<region>.<domain>/<stage>"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON_AWS: &str = "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/live";

    #[test]
    fn on_aws_the_stage_url_is_the_management_endpoint() {
        assert_eq!(management_endpoint(ON_AWS, None).unwrap(), ON_AWS);
        assert_eq!(management_endpoint(&format!("{ON_AWS}/"), Some("")).unwrap(), ON_AWS);
    }

    #[test]
    fn against_an_emulator_the_path_style_form_is_used() {
        assert_eq!(
            management_endpoint(ON_AWS, Some("http://127.0.0.1:8601/")).unwrap(),
            "http://127.0.0.1:8601/_aws/execute-api/a1b2c3/live"
        );
    }

    #[test]
    fn an_endpoint_that_is_not_a_stage_url_is_refused_by_name() {
        let error = management_endpoint("https://example.com", Some("http://127.0.0.1:1")).unwrap_err();
        assert!(error.contains("WEBSOCKET_ENDPOINT"), "{error}");
        assert!(management_endpoint("not a url", Some("http://127.0.0.1:1")).is_err());
    }
}

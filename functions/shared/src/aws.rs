//! One SDK configuration for every client, read from the environment Lambda gives a function:
//! credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, the
//! region from `AWS_REGION`, and `AWS_ENDPOINT_URL` honoured for local emulators. Requests go
//! through [`crate::http`], with retries and backoff for throttling and transient errors.
//!
//! Not aws-config: its provider chain (profiles, SSO, STS, IMDS, ECS) is for machines, not
//! for Lambda, which always sets these variables, and it was the largest part of every zip
//! (BENCHMARKS.md). The local tools (`xtask`, the integration tests) keep the full chain.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
pub use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::config::{self, ConfigError, Source};
use crate::http::HttpsClient;

/// Attempts per call, the first included. DynamoDB and EventBridge throttling is retried with
/// the SDK's exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 5;

/// A TCP connect that takes longer fails (and is retried): the SDK's own default.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);

/// The shared configuration, from the process environment.
pub fn sdk_config() -> Result<SdkConfig, ConfigError> {
    sdk_config_from(&config::ProcessEnv)
}

/// The shared configuration from `env`; a missing variable is named in the error.
pub fn sdk_config_from(env: &dyn Source) -> Result<SdkConfig, ConfigError> {
    let credentials = Credentials::new(
        config::required(env, "AWS_ACCESS_KEY_ID")?,
        config::required(env, "AWS_SECRET_ACCESS_KEY")?,
        config::optional(env, "AWS_SESSION_TOKEN"),
        None,
        "Lambda environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config::required(env, "AWS_REGION")?))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(sdk_http_client())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::new(SystemTimeSource::new()))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build());
    if let Some(endpoint) = config::optional(env, "AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

/// The SDK's HTTP client over [`crate::http`]: one connection pool per distinct pair of
/// connect and read timeouts, since the SDK asks for a connector on every attempt.
fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(SdkHttpClient::default())
}

type TimeoutKey = (Option<Duration>, Option<Duration>);

#[derive(Debug, Default)]
struct SdkHttpClient {
    connectors: Mutex<HashMap<TimeoutKey, SharedHttpConnector>>,
}

impl HttpClient for SdkHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| {
                SharedHttpConnector::new(SdkConnector {
                    client: crate::http::client(key.0.unwrap_or(CONNECT_TIMEOUT)),
                    read_timeout: key.1,
                })
            })
            .clone()
    }
}

#[derive(Debug)]
struct SdkConnector {
    client: HttpsClient,
    read_timeout: Option<Duration>,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
            let pending = client.request(request);
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, pending)
                    .await
                    .map_err(|_| ConnectorError::timeout(format!("no response within {limit:?}").into()))?,
                None => pending.await,
            }
            .map_err(|error| {
                // Every failure to get a response is a transport failure the retry policy may
                // retry; the SDK retries only what it deems safe for the operation.
                ConnectorError::io(error.into())
            })?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
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

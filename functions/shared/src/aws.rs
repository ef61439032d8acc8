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

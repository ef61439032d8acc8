//! One SDK configuration for every client: the standard credential and region chain, a
//! rustls+ring HTTPS client, and `AWS_ENDPOINT_URL` honoured for local emulators.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Loads the shared configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    let http_client = Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client).load().await
}

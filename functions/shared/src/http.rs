//! The one HTTP stack of every function: hyper's pooled client over rustls with ring, trusting
//! the Mozilla root certificates compiled into the binary (webpki-roots). The SDK clients
//! ([`crate::aws`]) and the authorizer's JWKS fetch share it.
//!
//! Compiled-in roots rather than the system's: loading `/etc/ssl/certs` reads and parses about
//! 150 files at every cold start, and the roots a Lambda trusts then depend on its runtime
//! image. The price is that a new root reaches the functions with a dependency update.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A client for HTTPS (and plain HTTP, which local emulators and test servers speak).
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, SdkBody>;

/// How long an idle pooled connection is kept. Lambda freezes the process between
/// invocations, and a connection the far end closed meanwhile fails on first use; staying
/// well under the 350 s idle timeout of AWS's load balancers keeps that rare.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

static TLS: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's safe default protocol versions")
        .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
        .with_no_client_auth()
});

/// A new pooled client whose TCP connects give up after `connect_timeout`.
pub fn client(connect_timeout: Duration) -> HttpsClient {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(connect_timeout));
    tcp.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(TLS.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn speaks_plain_http_to_a_local_server() {
        use http_body_util::BodyExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await.unwrap();
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
        });
        let request = http::Request::get(format!("http://{address}/")).body(SdkBody::empty()).unwrap();
        let response = client(Duration::from_secs(1)).request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(&response.into_body().collect().await.unwrap().to_bytes()[..], b"ok");
    }
}

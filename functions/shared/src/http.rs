//! The one HTTP stack of every function: hyper's pooled client over rustls with ring, trusting
//! the Mozilla root certificates compiled into the binary (webpki-roots). The SDK clients
//! ([`crate::aws`]) and the authorizer's JWKS fetch share it.
//!
//! Compiled-in roots rather than the system's: loading `/etc/ssl/certs` reads and parses about
//! 150 files at every cold start, and the roots a Lambda trusts then depend on its runtime
//! image. The price is that a new root reaches the functions with a dependency update.
//!
//! The TLS provider is ring's, narrowed to what a client of AWS endpoints and Supabase needs
//! ([`provider`]): AES-GCM suites only (no ChaCha20-Poly1305, which only helps CPUs without AES
//! instructions, and Lambda's all have them), X25519 and P-256 key exchange, and no client
//! certificates. rustls's `default_provider()` would link the rest, about 20 KB of each zip.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::SignatureScheme;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};

/// A client for HTTPS (and plain HTTP, which local emulators and test servers speak).
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, SdkBody>;

/// How long an idle pooled connection is kept. Lambda freezes the process between
/// invocations, and a connection the far end closed meanwhile fails on first use; staying
/// well under the 350 s idle timeout of AWS's load balancers keeps that rare.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// ring's provider with AES-GCM suites, X25519 and P-256 key exchange, every signature algorithm
/// certificates use, and no client keys.
pub fn provider() -> CryptoProvider {
    use rustls::crypto::ring::{cipher_suite, kx_group};
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &SystemRandom,
        key_provider: &NoClientKeys,
    }
}

/// What certificates and handshakes may be signed with: ECDSA on P-256 and P-384 (Amazon's
/// roots 3 and 4 are P-256 and P-384), Ed25519, RSA PKCS#1 and PSS of 2,048 to 8,192 bits.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = {
    use webpki::ring as algorithm;
    WebPkiSupportedAlgorithms {
        all: &[
            algorithm::ECDSA_P256_SHA256,
            algorithm::ECDSA_P256_SHA384,
            algorithm::ECDSA_P384_SHA256,
            algorithm::ECDSA_P384_SHA384,
            algorithm::ED25519,
            algorithm::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            algorithm::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            algorithm::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            algorithm::RSA_PKCS1_2048_8192_SHA256,
            algorithm::RSA_PKCS1_2048_8192_SHA384,
            algorithm::RSA_PKCS1_2048_8192_SHA512,
            algorithm::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
            algorithm::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
            algorithm::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        ],
        // TLS 1.3 fixes the curve with the scheme; TLS 1.2 does not, hence two for ECDSA.
        mapping: &[
            (SignatureScheme::ECDSA_NISTP384_SHA384, &[algorithm::ECDSA_P384_SHA384, algorithm::ECDSA_P256_SHA384]),
            (SignatureScheme::ECDSA_NISTP256_SHA256, &[algorithm::ECDSA_P256_SHA256, algorithm::ECDSA_P384_SHA256]),
            (SignatureScheme::ED25519, &[algorithm::ED25519]),
            (SignatureScheme::RSA_PSS_SHA512, &[algorithm::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
            (SignatureScheme::RSA_PSS_SHA384, &[algorithm::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
            (SignatureScheme::RSA_PSS_SHA256, &[algorithm::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
            (SignatureScheme::RSA_PKCS1_SHA512, &[algorithm::RSA_PKCS1_2048_8192_SHA512]),
            (SignatureScheme::RSA_PKCS1_SHA384, &[algorithm::RSA_PKCS1_2048_8192_SHA384]),
            (SignatureScheme::RSA_PKCS1_SHA256, &[algorithm::RSA_PKCS1_2048_8192_SHA256]),
        ],
    }
};

#[derive(Debug)]
struct SystemRandom;

impl rustls::crypto::SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buf)
            .map_err(|_| rustls::crypto::GetRandomFailed)
    }
}

/// The functions present no client certificate, so they load no private key.
#[derive(Debug)]
struct NoClientKeys;

impl rustls::crypto::KeyProvider for NoClientKeys {
    fn load_private_key(
        &self,
        _: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General("the functions use no client certificates".to_owned()))
    }
}

static TLS: LazyLock<rustls::ClientConfig> =
    LazyLock::new(|| tls_config(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }));

fn tls_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .expect("the provider has suites for TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A new pooled client whose TCP connects give up after `connect_timeout`.
pub fn client(connect_timeout: Duration) -> HttpsClient {
    client_with(TLS.clone(), connect_timeout)
}

fn client_with(tls: rustls::ClientConfig, connect_timeout: Duration) -> HttpsClient {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(connect_timeout));
    tcp.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
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

    /// A TLS server on 127.0.0.1 with ring's provider (every suite, or only `suites`), offering
    /// `versions`, for a certificate of `algorithm` issued by a fresh authority. Answers one
    /// request with the cipher suite and key exchange group it negotiated.
    async fn tls_server(
        versions: &'static [&'static rustls::SupportedProtocolVersion],
        algorithm: &'static rcgen::SignatureAlgorithm,
        suites: Option<Vec<rustls::SupportedCipherSuite>>,
    ) -> (std::net::SocketAddr, rustls::RootCertStore) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let mut authority = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let authority =
            rcgen::CertifiedIssuer::self_signed(authority, rcgen::KeyPair::generate_for(algorithm).unwrap()).unwrap();
        let key = rcgen::KeyPair::generate_for(algorithm).unwrap();
        let leaf =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &authority).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(authority.der().clone()).unwrap();
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(suites) = suites {
            provider.cipher_suites = suites;
        }
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else { return };
            let mut buffer = [0u8; 1024];
            let _ = tls.read(&mut buffer).await.unwrap();
            let (_, connection) = tls.get_ref();
            let body = format!(
                "{:?} {:?}",
                connection.negotiated_cipher_suite().unwrap().suite(),
                connection.negotiated_key_exchange_group().unwrap().name()
            );
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            tls.write_all(answer.as_bytes()).await.unwrap();
            tls.shutdown().await.unwrap();
        });
        (address, roots)
    }

    /// The narrowed provider completes TLS 1.3 and 1.2 handshakes, with ECDSA and Ed25519
    /// certificates, against a server that offers every suite ring has; a server that offers
    /// only ChaCha20-Poly1305 finds nothing in common with it.
    #[tokio::test]
    async fn the_narrowed_provider_agrees_aes_gcm_with_a_full_server() {
        use http_body_util::BodyExt;

        static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        let cases = [
            (TLS13, &rcgen::PKCS_ECDSA_P256_SHA256),
            (TLS13, &rcgen::PKCS_ED25519),
            (TLS12, &rcgen::PKCS_ECDSA_P256_SHA256),
            (TLS12, &rcgen::PKCS_ECDSA_P384_SHA384),
        ];
        for (versions, algorithm) in cases {
            let (address, roots) = tls_server(versions, algorithm, None).await;
            let request =
                http::Request::get(format!("https://localhost:{}/", address.port())).body(SdkBody::empty()).unwrap();
            let response = client_with(tls_config(roots), Duration::from_secs(2)).request(request).await.unwrap();
            let agreed = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
            assert!(agreed.contains("AES_") && agreed.contains("GCM"), "{versions:?} {algorithm:?}: {agreed}");
            assert!(agreed.contains("X25519"), "{versions:?} {algorithm:?}: {agreed}");
        }
        let chacha_only = vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
        let (address, roots) = tls_server(TLS13, &rcgen::PKCS_ECDSA_P256_SHA256, Some(chacha_only)).await;
        let request =
            http::Request::get(format!("https://localhost:{}/", address.port())).body(SdkBody::empty()).unwrap();
        assert!(client_with(tls_config(roots), Duration::from_secs(2)).request(request).await.is_err());
    }

    #[test]
    fn the_narrowed_provider_offers_aes_gcm_suites_for_both_versions() {
        let suites: Vec<String> =
            TLS.crypto_provider().cipher_suites.iter().map(|s| format!("{:?}", s.suite())).collect();
        assert!(suites.iter().all(|s| s.contains("AES") && s.contains("GCM")), "{suites:?}");
        assert!(suites.iter().any(|s| s.starts_with("TLS13_")) && suites.iter().any(|s| s.starts_with("TLS_ECDHE_")));
    }
}

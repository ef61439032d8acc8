//! The project's JSON Web Key Set: fetched when first needed, cached, and refetched when a
//! token names a key id the cache lacks, at most once per [`MIN_REFRESH`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use aws_smithy_types::body::SdkBody;
use brain2_shared::http::HttpsClient;
use http_body_util::{BodyExt, Limited};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

/// The shortest time between two fetches of the key set.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// Key sets larger than this are refused.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// A fetch that takes longer than this fails.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<JwkSet, String>> + Send + 'a>>;

/// Fetches a key set.
pub trait Fetcher: Send + Sync {
    fn fetch<'a>(&'a self, url: &'a str) -> FetchFuture<'a>;
}

/// Fetches over HTTPS (or plain HTTP, for a local test server) with the functions' one HTTP
/// stack, [`brain2_shared::http`].
pub struct HttpFetcher {
    client: HttpsClient,
}

impl HttpFetcher {
    pub fn new() -> Self {
        Self { client: brain2_shared::http::client(FETCH_TIMEOUT) }
    }
}

impl Default for HttpFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpFetcher")
    }
}

impl Fetcher for HttpFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            let uri: http::Uri = url.parse().map_err(|e| format!("JWKS URL {url:?}: {e}"))?;
            let request = http::Request::get(uri).body(SdkBody::empty()).map_err(|e| e.to_string())?;
            let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(request))
                .await
                .map_err(|_| format!("fetching {url} timed out"))?
                .map_err(|e| format!("fetching {url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("fetching {url}: HTTP {}", response.status()));
            }
            let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading {url}: {e}"))?
                .to_bytes();
            serde_json::from_slice(&body).map_err(|e| format!("{url} is not a JWK set: {e}"))
        })
    }
}

/// A usable public key: its decoding key and the one algorithm it may verify.
#[derive(Clone)]
pub struct PublicKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// Only signing keys of the families the authorizer accepts become usable keys.
fn usable(set: &JwkSet) -> HashMap<String, PublicKey> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            _ => continue,
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid, PublicKey { key, algorithm });
        }
    }
    keys
}

struct State {
    keys: HashMap<String, PublicKey>,
    fetched_at: Option<Instant>,
}

/// The cache. Lookups of known keys take a short lock; a miss may fetch.
pub struct Jwks {
    url: String,
    fetcher: Box<dyn Fetcher>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Jwks {
    pub fn new(url: impl Into<String>, fetcher: Box<dyn Fetcher>) -> Self {
        Self { url: url.into(), fetcher, state: Mutex::new(State { keys: HashMap::new(), fetched_at: None }) }
    }

    /// The key with this id, fetching the set when it is unknown and the last fetch is old
    /// enough. `None` when the set (even refreshed) lacks it.
    pub async fn key(&self, kid: &str) -> Option<PublicKey> {
        let mut state = self.state.lock().await;
        if let Some(key) = state.keys.get(kid) {
            return Some(key.clone());
        }
        let may_fetch = state.fetched_at.is_none_or(|at| at.elapsed() >= MIN_REFRESH);
        if !may_fetch {
            return None;
        }
        state.fetched_at = Some(Instant::now());
        match self.fetcher.fetch(&self.url).await {
            Ok(set) => state.keys = usable(&set),
            Err(error) => tracing::error!(%error, "could not fetch the JWKS; keeping the cached keys"),
        }
        state.keys.get(kid).cloned()
    }
}

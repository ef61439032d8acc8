//! The project's JSON Web Key Set: fetched when first needed and cached for at most
//! [`MAX_KEY_AGE`], so a signing key Supabase revokes stops being accepted within that bound.
//! A token naming a key id the cache lacks refetches the set, at most once per
//! [`MIN_REFRESH`]; after a failed fetch the next may come [`RETRY_AFTER_FAILURE`] later. When
//! the cached set is too old and cannot be fetched again, JWKS-signed tokens are refused: the
//! cache fails closed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_smithy_types::body::SdkBody;
use brain2_shared::http::HttpsClient;
use http_body_util::{BodyExt, Limited};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;
// tokio's clock (the system's, unless a test pauses it).
use tokio::time::Instant;

/// How long a fetched key set is trusted.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(600);
/// The shortest time between two fetches caused by unknown key ids.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// The shortest time between a failed fetch and the next attempt.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
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
    /// When the cached keys were fetched.
    fetched_at: Option<Instant>,
    /// The last fetch, and whether it failed.
    attempted_at: Option<Instant>,
    failed: bool,
}

/// The cache. Lookups of known, fresh keys take a short lock; a miss or an old set may fetch.
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
        let state = State { keys: HashMap::new(), fetched_at: None, attempted_at: None, failed: false };
        Self { url: url.into(), fetcher, state: Mutex::new(state) }
    }

    /// The key with this id from a set fetched less than [`MAX_KEY_AGE`] ago, fetching the set
    /// when it is too old or lacks the id and the rate limits allow. `None` otherwise.
    pub async fn key(&self, kid: &str) -> Option<PublicKey> {
        let mut state = self.state.lock().await;
        let fresh = |state: &State| state.fetched_at.is_some_and(|at| at.elapsed() < MAX_KEY_AGE);
        if fresh(&state)
            && let Some(key) = state.keys.get(kid)
        {
            return Some(key.clone());
        }
        let wait = if state.failed {
            RETRY_AFTER_FAILURE
        } else if fresh(&state) {
            MIN_REFRESH
        } else {
            Duration::ZERO
        };
        if state.attempted_at.is_none_or(|at| at.elapsed() >= wait) {
            state.attempted_at = Some(Instant::now());
            match self.fetcher.fetch(&self.url).await {
                Ok(set) => {
                    state.keys = usable(&set);
                    state.fetched_at = Some(Instant::now());
                    state.failed = false;
                }
                Err(error) => {
                    state.failed = true;
                    tracing::error!(%error, "could not fetch the JWKS");
                }
            }
        }
        if fresh(&state) { state.keys.get(kid).cloned() } else { None }
    }
}

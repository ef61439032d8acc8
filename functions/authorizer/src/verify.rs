//! Verifying a Supabase access token, entirely locally.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use crate::jwks::Jwks;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;
/// Supabase's audience for signed-in users.
pub const AUDIENCE: &str = "authenticated";

/// The claims Brain2 uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

/// Why a token was refused. Logged; never shown to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no token")]
    Missing,
    #[error("the token is over {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("algorithm {0:?} is not accepted here")]
    AlgorithmNotAllowed(String),
    #[error("no key with id {0:?}")]
    UnknownKey(String),
    #[error("the token has no key id")]
    NoKeyId,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("sub {0:?} is not a UUID")]
    BadSubject(String),
}

/// Verifies tokens with the project's HS256 secret and/or its JWKS (ES256, RS256).
#[derive(Debug)]
pub struct Verifier {
    issuer: String,
    secret: Option<DecodingKeyDebug>,
    jwks: Option<Jwks>,
}

/// `DecodingKey` without a Debug that could print the secret.
pub struct DecodingKeyDebug(DecodingKey);

impl std::fmt::Debug for DecodingKeyDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecodingKey(..)")
    }
}

impl Verifier {
    /// `supabase_url` without a trailing slash; tokens must carry `iss = <url>/auth/v1`.
    pub fn new(supabase_url: &str, hs256_secret: Option<&[u8]>, jwks: Option<Jwks>) -> Self {
        brain2_shared::jwt_crypto::install();
        Self {
            issuer: format!("{}/auth/v1", supabase_url.trim_end_matches('/')),
            secret: hs256_secret.map(|s| DecodingKeyDebug(DecodingKey::from_secret(s))),
            jwks,
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        if token.is_empty() {
            return Err(Rejection::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLarge);
        }
        // `alg: none` and unknown algorithms fail here: the header does not parse.
        let header = decode_header(token).map_err(|e| Rejection::Malformed(e.to_string()))?;
        let fetched;
        let key: &DecodingKey = match header.alg {
            // HS256 is only ever checked against the shared secret, never against a public key,
            // so a token signed with the public key as an HMAC secret cannot pass.
            Algorithm::HS256 => match &self.secret {
                Some(secret) => &secret.0,
                None => return Err(Rejection::AlgorithmNotAllowed("HS256".into())),
            },
            Algorithm::ES256 | Algorithm::RS256 => {
                let Some(jwks) = &self.jwks else {
                    return Err(Rejection::AlgorithmNotAllowed(format!("{:?}", header.alg)));
                };
                let kid = header.kid.as_deref().ok_or(Rejection::NoKeyId)?;
                fetched = jwks.key(kid).await.ok_or_else(|| Rejection::UnknownKey(kid.to_owned()))?;
                if fetched.algorithm != header.alg {
                    return Err(Rejection::AlgorithmNotAllowed(format!(
                        "{:?} with a {:?} key",
                        header.alg, fetched.algorithm
                    )));
                }
                &fetched.key
            }
            other => return Err(Rejection::AlgorithmNotAllowed(format!("{other:?}"))),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let data = decode::<Claims>(token, key, &validation).map_err(|e| Rejection::Invalid(e.to_string()))?;
        if uuid::Uuid::parse_str(&data.claims.sub).is_err() {
            return Err(Rejection::BadSubject(data.claims.sub));
        }
        Ok(data.claims)
    }
}

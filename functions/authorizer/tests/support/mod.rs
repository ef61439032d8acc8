//! Keys and tokens minted for tests and benchmarks, and a local JWKS endpoint.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authorizer::jwks::{FetchFuture, Fetcher, Jwks};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const SUPABASE: &str = "https://brain2-test.supabase.co";
pub const ISSUER: &str = "https://brain2-test.supabase.co/auth/v1";
pub const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters";
pub const USER: &str = "6f1c1f8e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";

pub struct Keys {
    pub ec_private_pem: String,
    pub rsa_private_pem: String,
    pub rsa_public_pem: String,
    pub jwks: Value,
}

/// Fresh ES256 and RS256 key pairs with kids `ec-1` and `rsa-1`.
pub fn keys() -> Keys {
    use p256::pkcs8::EncodePrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    let mut rng = rand::thread_rng();
    let ec = p256::SecretKey::random(&mut rng);
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&ec.public_key(), false);
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation");
    let rsa_public = rsa_key.to_public_key();
    let jwks = json!({ "keys": [
        { "kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256", "use": "sig",
          "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()) },
        { "kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
          "n": URL_SAFE_NO_PAD.encode(rsa_public.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(rsa_public.e().to_bytes_be()) }
    ]});
    Keys {
        ec_private_pem: ec.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        rsa_private_pem: rsa_key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        rsa_public_pem: rsa_public.to_public_key_pem(LineEnding::LF).unwrap(),
        jwks,
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Claims a valid Supabase access token carries; edit them to make bad ones.
pub fn claims() -> Value {
    json!({ "sub": USER, "email": "ada@example.com", "role": "authenticated",
            "aud": "authenticated", "iss": ISSUER, "iat": now(), "exp": now() + 3600 })
}

pub fn hs256(claims: &Value, secret: &[u8]) -> String {
    brain2_shared::jwt_crypto::install();
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
}

pub fn es256(keys: &Keys, claims: &Value, kid: &str) -> String {
    brain2_shared::jwt_crypto::install();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &EncodingKey::from_ec_pem(keys.ec_private_pem.as_bytes()).unwrap()).unwrap()
}

pub fn rs256(keys: &Keys, claims: &Value, kid: &str) -> String {
    brain2_shared::jwt_crypto::install();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &EncodingKey::from_rsa_pem(keys.rsa_private_pem.as_bytes()).unwrap()).unwrap()
}

/// A key set served from memory, counting fetches.
pub struct StaticJwks {
    pub set: JwkSet,
    pub fetches: Arc<AtomicUsize>,
}

impl Fetcher for StaticJwks {
    fn fetch<'a>(&'a self, _url: &'a str) -> FetchFuture<'a> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let set = self.set.clone();
        Box::pin(async move { Ok(set) })
    }
}

pub fn jwks_from(value: &Value) -> (Jwks, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let set: JwkSet = serde_json::from_value(value.clone()).unwrap();
    (Jwks::new("memory://jwks", Box::new(StaticJwks { set, fetches: fetches.clone() })), fetches)
}

//! jsonwebtoken's cryptography backed by ring, which the functions and xtask already link for
//! TLS (the `jwt` feature). The authorizer verifies with it; xtask's local sign-in signs with it,
//! so neither compiles jsonwebtoken's pure-Rust backend (rsa, p256, p384, ed25519: 35 crates
//! fewer in `cargo tree -p xtask -e normal`). Install it before the first encode or decode:
//! jsonwebtoken keeps the first provider it is asked for, for the life of the process.
//!
//! jsonwebtoken's own pure-Rust backend (p256, rsa with num-bigint-dig) verified ES256 in
//! 556 µs and RS256 in 213 µs under the size-tuned release profile; ring's assembly does it
//! several times faster, and the authorizer's zip no longer carries a second implementation
//! of the same curves (BENCHMARKS.md). Only the algorithms the authorizer accepts are
//! provided: HS256, RS256 (2048 to 8192-bit keys) and ES256. Anything else is refused.

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature as signature_trait;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use ring::{hmac, rand};

/// The provider; [`install`] makes it the process default.
pub static RING: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes [`RING`] jsonwebtoken's provider for this process; later calls change nothing.
pub fn install() {
    let _ = RING.install_default();
}

enum Key {
    Hmac(hmac::Key),
    RsaComponents { n: Vec<u8>, e: Vec<u8> },
    RsaDer(Vec<u8>),
    P256(Vec<u8>),
}

struct Verifier {
    algorithm: Algorithm,
    key: Key,
}

impl signature_trait::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature_trait::Error> {
        let verified = match &self.key {
            Key::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Key::RsaComponents { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            Key::RsaDer(der) => {
                UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der).verify(message, signature).is_ok()
            }
            Key::P256(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok()
            }
        };
        if verified { Ok(()) } else { Err(signature_trait::Error::new()) }
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let key = match (algorithm, key.kind()) {
        (Algorithm::HS256, _) => Key::Hmac(hmac::Key::new(hmac::HMAC_SHA256, key.try_get_hmac_secret()?)),
        (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            Key::RsaComponents { n: n.clone(), e: e.clone() }
        }
        (Algorithm::RS256, DecodingKeyKind::SecretOrDer(der)) => Key::RsaDer(der.clone()),
        (Algorithm::ES256, DecodingKeyKind::SecretOrDer(point)) => Key::P256(point.clone()),
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(Box::new(Verifier { algorithm: *algorithm, key }))
}

enum SigningKey {
    Hmac(hmac::Key),
    Rsa(signature::RsaKeyPair),
    P256(signature::EcdsaKeyPair),
}

struct Signer {
    algorithm: Algorithm,
    key: SigningKey,
}

impl signature_trait::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature_trait::Error> {
        let random = rand::SystemRandom::new();
        match &self.key {
            SigningKey::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
            SigningKey::Rsa(pair) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &random, message, &mut out)
                    .map_err(|_| signature_trait::Error::new())?;
                Ok(out)
            }
            SigningKey::P256(pair) => {
                pair.sign(&random, message).map(|s| s.as_ref().to_vec()).map_err(|_| signature_trait::Error::new())
            }
        }
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// Signing exists for the tools and tests that mint tokens (HS256 from the secret; RS256 from
/// a PKCS#1 key; ES256 from a PKCS#8 key, as jsonwebtoken's PEM readers give them).
fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let key = match algorithm {
        Algorithm::HS256 => SigningKey::Hmac(hmac::Key::new(hmac::HMAC_SHA256, key.try_get_hmac_secret()?)),
        Algorithm::RS256 => SigningKey::Rsa(
            signature::RsaKeyPair::from_der(key.inner()).map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
        ),
        Algorithm::ES256 => SigningKey::P256(
            signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                key.inner(),
                &rand::SystemRandom::new(),
            )
            .map_err(|_| ErrorKind::InvalidEcdsaKey)?,
        ),
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(Box::new(Signer { algorithm: *algorithm, key }))
}

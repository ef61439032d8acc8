//! The authorizer against tokens minted here: good ones of each algorithm, and every way a token
//! can be bad.

mod support;

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use authorizer::{Rejection, Verifier};
use serde_json::{Value, json};
use support::*;

fn shared_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(keys)
}

fn verifier() -> Verifier {
    let (jwks, _) = jwks_from(&shared_keys().jwks);
    Verifier::new(SUPABASE, Some(SECRET), Some(jwks))
}

fn with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut c = claims();
    edit(&mut c);
    c
}

async fn verify(token: &str) -> Result<authorizer::Claims, Rejection> {
    verifier().verify(token).await
}

#[tokio::test]
async fn valid_tokens_of_each_algorithm_pass() {
    let keys = shared_keys();
    for token in [hs256(&claims(), SECRET), es256(keys, &claims(), "ec-1"), rs256(keys, &claims(), "rsa-1")] {
        let claims = verify(&token).await.unwrap();
        assert_eq!(claims.sub, USER);
        assert_eq!(claims.email.as_deref(), Some("ada@example.com"));
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_fail_beyond_the_leeway() {
    let expired = hs256(&with(|c| c["exp"] = json!(now() - 120)), SECRET);
    assert!(matches!(verify(&expired).await, Err(Rejection::Invalid(m)) if m.contains("Expired")));
    let within_leeway = hs256(&with(|c| c["exp"] = json!(now() - 5)), SECRET);
    assert!(verify(&within_leeway).await.is_ok());
    let early = hs256(&with(|c| c["nbf"] = json!(now() + 600)), SECRET);
    assert!(matches!(verify(&early).await, Err(Rejection::Invalid(m)) if m.contains("Immature")));
}

#[tokio::test]
async fn wrong_issuer_audience_and_subject_fail() {
    let issuer = hs256(&with(|c| c["iss"] = json!("https://evil.supabase.co/auth/v1")), SECRET);
    assert!(matches!(verify(&issuer).await, Err(Rejection::Invalid(m)) if m.contains("Issuer")));
    let audience = hs256(&with(|c| c["aud"] = json!("anon")), SECRET);
    assert!(matches!(verify(&audience).await, Err(Rejection::Invalid(m)) if m.contains("Audience")));
    let subject = hs256(&with(|c| c["sub"] = json!("admin")), SECRET);
    assert_eq!(verify(&subject).await, Err(Rejection::BadSubject("admin".into())));
    let missing_exp = hs256(&with(|c| drop(c.as_object_mut().unwrap().remove("exp"))), SECRET);
    assert!(verify(&missing_exp).await.is_err());
}

#[tokio::test]
async fn tampered_tokens_fail() {
    let token = es256(shared_keys(), &claims(), "ec-1");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    payload["sub"] = json!("00000000-0000-4000-8000-000000000000");
    parts[1] = engine.encode(payload.to_string());
    assert!(matches!(verify(&parts.join(".")).await, Err(Rejection::Invalid(_))));
    let wrong_secret = hs256(&claims(), b"another-secret-that-is-long-enough-0000000");
    assert!(matches!(verify(&wrong_secret).await, Err(Rejection::Invalid(_))));
}

#[tokio::test]
async fn alg_none_is_refused() {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = engine.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = engine.encode(claims().to_string());
    let token = format!("{header}.{payload}.");
    assert!(matches!(verify(&token).await, Err(Rejection::Malformed(_))));
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_is_refused() {
    let keys = shared_keys();
    let confused = hs256(&claims(), keys.rsa_public_pem.as_bytes());
    // With a secret configured, the signature does not match it.
    assert!(matches!(verify(&confused).await, Err(Rejection::Invalid(_))));
    // Without one, HS256 is not accepted at all.
    let (jwks, _) = jwks_from(&keys.jwks);
    let jwks_only = Verifier::new(SUPABASE, None, Some(jwks));
    assert_eq!(jwks_only.verify(&confused).await, Err(Rejection::AlgorithmNotAllowed("HS256".into())));
    // An RS256 header with an EC key id is refused too.
    let mismatched = rs256(keys, &claims(), "ec-1");
    assert!(matches!(verify(&mismatched).await, Err(Rejection::AlgorithmNotAllowed(_))));
}

#[tokio::test]
async fn oversized_and_malformed_tokens_are_refused_without_panicking() {
    let huge = hs256(&with(|c| c["padding"] = json!("x".repeat(9_000))), SECRET);
    assert_eq!(verify(&huge).await, Err(Rejection::TooLarge));
    for garbage in ["", "a", "a.b", "a.b.c", "....", "eyJ.eyJ.sig", "\u{0}\u{1}", "Bearer"] {
        assert!(verify(garbage).await.is_err(), "{garbage:?}");
    }
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_key_set_at_most_once_a_minute() {
    let keys = shared_keys();
    let (jwks, fetches) = jwks_from(&keys.jwks);
    let verifier = Verifier::new(SUPABASE, None, Some(jwks));
    verifier.verify(&es256(keys, &claims(), "ec-1")).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "first use fetches");
    verifier.verify(&rs256(keys, &claims(), "rsa-1")).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "known keys come from the cache");
    for _ in 0..5 {
        let unknown = es256(keys, &claims(), "rotated-2");
        assert_eq!(verifier.verify(&unknown).await, Err(Rejection::UnknownKey("rotated-2".into())));
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "unknown kids within a minute of a fetch do not refetch");
}

#[tokio::test]
async fn http_api_events_get_simple_responses() {
    let verifier = verifier();
    let token = hs256(&claims(), SECRET);
    let event = json!({ "version": "2.0", "type": "REQUEST", "routeArn": "arn:aws:execute-api:eu-west-1:1:api/$default/GET/api/nodes",
        "identitySource": [format!("Bearer {token}")], "headers": { "authorization": format!("Bearer {token}") } });
    let answer = authorizer::handle(&verifier, &event).await;
    assert_eq!(
        answer,
        json!({ "isAuthorized": true, "context": { "sub": USER, "email": "ada@example.com", "role": "authenticated" } })
    );
    let denied =
        authorizer::handle(&verifier, &json!({ "version": "2.0", "headers": { "authorization": "Bearer nope" } }))
            .await;
    assert_eq!(denied, json!({ "isAuthorized": false }));
}

#[tokio::test]
async fn websocket_connect_events_get_policies() {
    let verifier = verifier();
    let arn = "arn:aws:execute-api:eu-west-1:111122223333:abc/live/$connect";
    let token = es256(shared_keys(), &claims(), "ec-1");
    let event = json!({ "type": "REQUEST", "methodArn": arn, "queryStringParameters": { "token": token } });
    let answer = authorizer::handle(&verifier, &event).await;
    assert_eq!(answer["principalId"], USER);
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(answer["policyDocument"]["Statement"][0]["Resource"], arn);
    assert_eq!(answer["context"]["sub"], USER);
    let denied = authorizer::handle(&verifier, &json!({ "type": "REQUEST", "methodArn": arn })).await;
    assert_eq!(denied["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert!(denied.get("context").is_none());
}

#[tokio::test]
async fn malformed_events_are_denied() {
    let verifier = verifier();
    for event in [
        json!(null),
        json!([]),
        json!("x"),
        json!({}),
        json!({ "version": 2 }),
        json!({ "methodArn": 5 }),
        json!({ "version": "2.0", "headers": "nope" }),
        json!({ "version": "2.0", "identitySource": [1] }),
    ] {
        let answer = authorizer::handle(&verifier, &event).await;
        assert_eq!(answer, json!({ "isAuthorized": false }), "{event}");
    }
}

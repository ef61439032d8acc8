//! The JWKS cache over time, on tokio's paused clock: keys expire, a revoked key stops being
//! accepted within `MAX_KEY_AGE`, unknown kids refetch at most once per `MIN_REFRESH`, and a
//! failed fetch is retried after `RETRY_AFTER_FAILURE`, not a minute later.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authorizer::jwks::{FetchFuture, Fetcher, Jwks, MAX_KEY_AGE, MIN_REFRESH, RETRY_AFTER_FAILURE};
use authorizer::{Rejection, Verifier};
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;
use support::*;

/// A key set endpoint whose answer the test changes, counting fetches.
#[derive(Clone)]
struct Endpoint {
    answer: Arc<Mutex<Result<Value, String>>>,
    fetches: Arc<AtomicUsize>,
}

impl Endpoint {
    fn serving(set: &Value) -> Self {
        Self { answer: Arc::new(Mutex::new(Ok(set.clone()))), fetches: Arc::new(AtomicUsize::new(0)) }
    }
    fn set(&self, answer: Result<Value, String>) {
        *self.answer.lock().unwrap() = answer;
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Fetcher for Endpoint {
    fn fetch<'a>(&'a self, _url: &'a str) -> FetchFuture<'a> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer.lock().unwrap().clone();
        Box::pin(async move { answer.map(|set| serde_json::from_value::<JwkSet>(set).unwrap()) })
    }
}

fn verifier(endpoint: &Endpoint) -> Verifier {
    Verifier::new(SUPABASE, None, Some(Jwks::new("memory://jwks", Box::new(endpoint.clone()))))
}

/// The key set without the key `kid`, as after Supabase revokes it.
fn without(set: &Value, kid: &str) -> Value {
    let mut set = set.clone();
    set["keys"].as_array_mut().unwrap().retain(|k| k["kid"] != kid);
    set
}

#[tokio::test(start_paused = true)]
async fn a_revoked_key_is_refused_once_the_cached_set_expires() {
    let keys = keys();
    let endpoint = Endpoint::serving(&keys.jwks);
    let verifier = verifier(&endpoint);
    let token = es256(&keys, &claims(), "ec-1");
    verifier.verify(&token).await.unwrap();
    endpoint.set(Ok(without(&keys.jwks, "ec-1")));

    tokio::time::advance(MAX_KEY_AGE - Duration::from_secs(1)).await;
    verifier.verify(&token).await.expect("still within the bound: the cached key is used");
    assert_eq!(endpoint.fetches(), 1);

    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(verifier.verify(&token).await, Err(Rejection::UnknownKey("ec-1".into())));
    assert_eq!(endpoint.fetches(), 2, "an expired set is fetched again");
}

#[tokio::test(start_paused = true)]
async fn an_expired_set_that_cannot_be_fetched_accepts_nothing() {
    let keys = keys();
    let endpoint = Endpoint::serving(&keys.jwks);
    let verifier = verifier(&endpoint);
    let token = rs256(&keys, &claims(), "rsa-1");
    verifier.verify(&token).await.unwrap();
    endpoint.set(Err("connection refused".into()));
    tokio::time::advance(MAX_KEY_AGE).await;
    assert!(verifier.verify(&token).await.is_err(), "fails closed");
    endpoint.set(Ok(keys.jwks.clone()));
    tokio::time::advance(RETRY_AFTER_FAILURE).await;
    verifier.verify(&token).await.expect("recovers at the next attempt");
}

#[tokio::test(start_paused = true)]
async fn a_failed_fetch_is_retried_after_seconds_not_a_minute() {
    let keys = keys();
    let endpoint = Endpoint::serving(&keys.jwks);
    endpoint.set(Err("timed out".into()));
    let verifier = verifier(&endpoint);
    let token = es256(&keys, &claims(), "ec-1");
    assert!(verifier.verify(&token).await.is_err());
    assert!(verifier.verify(&token).await.is_err());
    assert_eq!(endpoint.fetches(), 1, "no second attempt within RETRY_AFTER_FAILURE");

    endpoint.set(Ok(keys.jwks.clone()));
    tokio::time::advance(RETRY_AFTER_FAILURE).await;
    verifier.verify(&token).await.unwrap();
    assert_eq!(endpoint.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_kid_refetches_once_per_minute_and_finds_a_rotated_key() {
    let keys = keys();
    let endpoint = Endpoint::serving(&without(&keys.jwks, "ec-1"));
    let verifier = verifier(&endpoint);
    let token = es256(&keys, &claims(), "ec-1");
    assert_eq!(verifier.verify(&token).await, Err(Rejection::UnknownKey("ec-1".into())));
    // Supabase publishes the new key; within a minute of the last fetch nothing refetches.
    endpoint.set(Ok(keys.jwks.clone()));
    tokio::time::advance(MIN_REFRESH - Duration::from_secs(1)).await;
    assert!(verifier.verify(&token).await.is_err());
    assert_eq!(endpoint.fetches(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    verifier.verify(&token).await.expect("the unknown kid refetched the set");
    assert_eq!(endpoint.fetches(), 2);
}

//! Authorizer verifications per second, per algorithm, on one core. `cargo bench -p authorizer`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use authorizer::Verifier;

fn measure(name: &str, verifier: &Verifier, token: &str, runtime: &tokio::runtime::Runtime) {
    // Warm the key cache and the CPU.
    for _ in 0..200 {
        runtime.block_on(verifier.verify(token)).expect("the token is valid");
    }
    let mut count = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            black_box(runtime.block_on(verifier.verify(black_box(token))).unwrap());
        }
        count += 100;
    }
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    println!("{name}: {per_second:>9.0} verifications/s ({:.1} µs each)", 1e6 / per_second);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let keys = support::keys();
    let (jwks, _) = support::jwks_from(&keys.jwks);
    let verifier = Verifier::new(support::SUPABASE, Some(support::SECRET), Some(jwks));
    let claims = support::claims();
    measure("HS256", &verifier, &support::hs256(&claims, support::SECRET), &runtime);
    measure("ES256", &verifier, &support::es256(&keys, &claims, "ec-1"), &runtime);
    measure("RS256", &verifier, &support::rs256(&keys, &claims, "rsa-1"), &runtime);
}

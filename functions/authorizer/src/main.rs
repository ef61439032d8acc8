//! The authorizer on Lambda: configuration and the HS256 secret are read once at cold start.

use authorizer::Verifier;
use authorizer::jwks::{HttpFetcher, Jwks};
use brain2_shared::config::{self, ProcessEnv};
use lambda_runtime::{Error, LambdaEvent, service_fn};

/// The secret's value: the raw JWT secret, or JSON holding it under `jwtSecret` or `secret`.
fn secret_bytes(value: &str) -> Vec<u8> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(map)) => ["jwtSecret", "jwt_secret", "secret"]
            .iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
            .unwrap_or(value)
            .as_bytes()
            .to_vec(),
        _ => value.as_bytes().to_vec(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let supabase_url = config::required(&env, "SUPABASE_URL")?;
    let secret_arn = config::optional(&env, "JWT_SECRET_ARN");
    let jwks_url = config::optional(&env, "JWKS_URL");
    if secret_arn.is_none() && jwks_url.is_none() {
        return Err("set JWT_SECRET_ARN, JWKS_URL or both: the authorizer has no way to verify tokens".into());
    }
    let secret = match &secret_arn {
        Some(arn) => {
            let sdk = brain2_shared::aws::sdk_config().await;
            let output = aws_sdk_secretsmanager::Client::new(&sdk)
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    format!("reading the JWT secret {arn}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e))
                })?;
            let value = output.secret_string().ok_or_else(|| format!("secret {arn} has no string value"))?;
            Some(secret_bytes(value))
        }
        None => None,
    };
    let jwks = match jwks_url {
        Some(url) => Some(Jwks::new(url, Box::new(HttpFetcher::new()?))),
        None => None,
    };
    let verifier = Verifier::new(&supabase_url, secret.as_deref(), jwks);
    let verifier = &verifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, Error>(authorizer::handle(verifier, &event.payload).await)
    }))
    .await
}

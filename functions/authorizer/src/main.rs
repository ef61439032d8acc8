//! The authorizer on Lambda: configuration and the HS256 secret are read once at cold start.

use authorizer::Verifier;
use authorizer::jwks::{HttpFetcher, Jwks};
use brain2_shared::config::{self, ProcessEnv};
use lambda_runtime::{Error, LambdaEvent, service_fn};

// Lambda hands a process one event at a time: one thread serves it, and starts sooner.
#[tokio::main(flavor = "current_thread")]
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
            let sdk = brain2_shared::aws::sdk_config()?;
            Some(authorizer::secret::load(&aws_sdk_secretsmanager::Client::new(&sdk), arn).await?)
        }
        None => None,
    };
    let jwks = jwks_url.map(|url| Jwks::new(url, Box::new(HttpFetcher::new())));
    let verifier = Verifier::new(&supabase_url, secret.as_deref(), jwks);
    let verifier = &verifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        brain2_shared::panic::invocation_started(&event.context.request_id);
        Ok::<_, Error>(authorizer::handle(verifier, &event.payload).await)
    }))
    .await
}

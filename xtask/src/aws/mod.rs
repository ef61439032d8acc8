//! The AWS side of deploy: one module per CloudFormation or S3 operation, in the manner of
//! cloudformatious, on top of one SDK configuration.
//!
//! Credentials, profile and region come from the standard chain; `--endpoint-url` (or
//! `AWS_ENDPOINT_URL`) points every client at a local emulator such as moto's server.

pub mod assets;
pub mod change_set;
pub mod errors;
pub mod events;
pub mod stack;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_types::config_bag::ConfigBag;

/// Attempts per call, the first included: throttling and transient errors are retried with
/// the SDK's exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 8;

/// Where to find AWS: what `--profile`, `--region` and `--endpoint-url` say, else the
/// environment and the shared config files.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Counts the operations every client sends, by `Service.Operation`, for the deploy report
/// and the benchmarks. Retries of one operation count once.
#[derive(Debug, Default)]
pub struct CallCounter {
    calls: Mutex<BTreeMap<String, usize>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        self.calls.lock().expect("counter lock").clone()
    }
    pub fn total(&self) -> usize {
        self.snapshot().values().sum()
    }
    pub fn count(&self, operation: &str) -> usize {
        self.snapshot().get(operation).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
struct CountCalls(Arc<CallCounter>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }
    // Client-level interceptors see `read_before_execution` before the operation's
    // configuration (and its `Metadata`) is applied; serialization comes after.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = match cfg.load::<Metadata>() {
            Some(metadata) => format!("{}.{}", metadata.service(), metadata.name()),
            None => "unknown".to_owned(),
        };
        *self.0.calls.lock().expect("counter lock").entry(key).or_default() += 1;
        Ok(())
    }
}

/// One SDK configuration and the clients made from it.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
    calls: Arc<CallCounter>,
    /// Calls that cannot reach AWS (a name that does not resolve, a refused connection) fail
    /// at once: retrying them for a minute tells the user nothing new.
    fail_unreachable: bool,
}

impl Aws {
    /// Loads the configuration the way the AWS CLI does.
    pub async fn connect(options: &AwsOptions) -> Self {
        let http_client = Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &options.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let from_environment = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let connection = errors::Connection {
            profile: options.profile.clone().or_else(|| from_environment("AWS_PROFILE")),
            region: options.region.clone(),
            endpoint: options.endpoint_url.clone().or_else(|| from_environment("AWS_ENDPOINT_URL")),
        };
        Self::reaching_aws(loader.load().await, connection)
    }

    /// A ready configuration that reaches AWS (tests give one whose name lookups fail, as they
    /// do without a network). Records `connection` for error messages, and makes a call that
    /// cannot reach AWS fail at once instead of retrying.
    pub fn reaching_aws(config: SdkConfig, connection: errors::Connection) -> Self {
        errors::set_connection(connection);
        Self { fail_unreachable: true, ..Self::from_config(config) }
    }

    /// A configuration for a local emulator at `endpoint` that takes any credentials (moto):
    /// fixed dummy ones, so that no real ones are ever sent to it and none are needed.
    pub async fn emulator(endpoint: &str, region: &str) -> Self {
        Self::with_keys(endpoint, region, "test", "test").await
    }

    /// A configuration for an emulator at `endpoint` that checks signatures, with these keys
    /// (`cargo xtask dev`'s, from its data folder).
    pub async fn with_keys(endpoint: &str, region: &str, access_key_id: &str, secret_access_key: &str) -> Self {
        Self::with_credentials(endpoint, region, access_key_id, secret_access_key, None).await
    }

    /// Like [`Aws::with_keys`], for temporary credentials with their session token.
    pub async fn with_session(endpoint: &str, region: &str, access_key_id: &str, secret: &str, token: &str) -> Self {
        Self::with_credentials(endpoint, region, access_key_id, secret, Some(token.to_owned())).await
    }

    async fn with_credentials(
        endpoint: &str,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<String>,
    ) -> Self {
        let credentials = aws_sdk_cloudformation::config::Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            None,
            "brain2-emulator",
        );
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(Builder::new().build_http())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .region(Region::new(region.to_owned()))
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .load()
            .await;
        Self::from_config(config)
    }

    /// Wraps a ready configuration (tests give one with a replaying HTTP client).
    pub fn from_config(config: SdkConfig) -> Self {
        Self { config, calls: Arc::new(CallCounter::default()), fail_unreachable: false }
    }

    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }

    /// The default region; deploy refuses to run without one.
    pub fn region(&self) -> anyhow::Result<String> {
        self.config.region().map(|r| r.to_string()).ok_or_else(|| {
            anyhow::anyhow!("no AWS region configured: pass --region, set AWS_REGION, or set one in the profile")
        })
    }

    fn uses_custom_endpoint(&self) -> bool {
        self.config.endpoint_url().is_some()
    }

    /// The emulator's URL, when one is configured.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.config.endpoint_url()
    }

    /// A client configuration builder's common part: the call counter, and for AWS (not an
    /// emulator) no retries of calls that cannot reach it.
    fn prepare<B: ClientBuilder>(&self, builder: B) -> B {
        let builder = builder.counted(CountCalls(self.calls.clone()));
        if self.fail_unreachable { builder.classified(NoRetryWhenUnreachable) } else { builder }
    }

    /// A CloudFormation client, in `region` when the stack lives outside the default one.
    pub fn cloudformation(&self, region: Option<&str>) -> aws_sdk_cloudformation::Client {
        let mut builder = self.prepare(aws_sdk_cloudformation::config::Builder::from(&self.config));
        if let Some(region) = region {
            builder = builder.region(Region::new(region.to_owned()));
        }
        aws_sdk_cloudformation::Client::from_conf(builder.build())
    }

    /// An S3 client; path-style addressing against an emulator, which has no DNS per bucket.
    pub fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let mut builder =
            self.prepare(aws_sdk_s3::config::Builder::from(&self.config)).force_path_style(self.uses_custom_endpoint());
        if let Some(region) = region {
            builder = builder.region(Region::new(region.to_owned()));
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            self.prepare(aws_sdk_secretsmanager::config::Builder::from(&self.config)).build(),
        )
    }

    pub fn apigatewayv2(&self) -> aws_sdk_apigatewayv2::Client {
        aws_sdk_apigatewayv2::Client::from_conf(
            self.prepare(aws_sdk_apigatewayv2::config::Builder::from(&self.config)).build(),
        )
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::from_conf(
            self.prepare(aws_sdk_cloudwatchlogs::config::Builder::from(&self.config)).build(),
        )
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb_in(None)
    }

    /// A DynamoDB client, in `region` when the tables live outside the default one.
    pub fn dynamodb_in(&self, region: Option<&str>) -> aws_sdk_dynamodb::Client {
        let mut builder = self.prepare(aws_sdk_dynamodb::config::Builder::from(&self.config));
        if let Some(region) = region {
            builder = builder.region(Region::new(region.to_owned()));
        }
        aws_sdk_dynamodb::Client::from_conf(builder.build())
    }

    /// A Lambda client, in `region` when the function's stack lives outside the default one.
    pub fn lambda(&self, region: Option<&str>) -> aws_sdk_lambda::Client {
        let mut builder = self.prepare(aws_sdk_lambda::config::Builder::from(&self.config));
        if let Some(region) = region {
            builder = builder.region(Region::new(region.to_owned()));
        }
        aws_sdk_lambda::Client::from_conf(builder.build())
    }

    pub fn cloudfront(&self) -> aws_sdk_cloudfront::Client {
        aws_sdk_cloudfront::Client::from_conf(
            self.prepare(aws_sdk_cloudfront::config::Builder::from(&self.config)).build(),
        )
    }
}

/// What [`Aws::prepare`] needs of each service's configuration builder.
trait ClientBuilder: Sized {
    fn counted(self, interceptor: CountCalls) -> Self;
    fn classified(self, classifier: NoRetryWhenUnreachable) -> Self;
}

macro_rules! client_builder {
    ($($service:ident),*) => {$(
        impl ClientBuilder for $service::config::Builder {
            fn counted(self, interceptor: CountCalls) -> Self {
                self.interceptor(interceptor)
            }
            fn classified(self, classifier: NoRetryWhenUnreachable) -> Self {
                self.retry_classifier(classifier)
            }
        }
    )*};
}

client_builder!(
    aws_sdk_cloudformation,
    aws_sdk_s3,
    aws_sdk_secretsmanager,
    aws_sdk_apigatewayv2,
    aws_sdk_cloudwatchlogs,
    aws_sdk_dynamodb,
    aws_sdk_cloudfront,
    aws_sdk_lambda
);

/// Forbids retrying a call whose endpoint name did not resolve or whose connection was
/// refused: without a network, or with a region that does not exist, eight attempts under
/// backoff only delay the message by a minute. Timeouts and throttling keep their retries.
#[derive(Debug, Clone)]
struct NoRetryWhenUnreachable;

impl ClassifyRetry for NoRetryWhenUnreachable {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(error)) if error.as_connector_error().is_some_and(errors::is_unreachable) => {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "NoRetryWhenUnreachable"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

//! The api stack: the HTTP API in front of the backend, behind the Lambda authorizer.

use brain2_iac::cfn::{App, ParameterSpec, Result, StackId, Value};
use brain2_iac::config::EnvironmentConfig;
use brain2_iac::constructs::api::{Api, ApiProps, AuthorizerProps, CorsProps, Throttle};

use crate::compute::Compute;

pub(super) fn build(
    app: &mut App,
    stack: StackId,
    config: &EnvironmentConfig,
    compute: &Compute,
    frontend: StackId,
) -> Result<Api> {
    let prefix = app.prefix();
    // The site's origin: its domain when it has one, known now; otherwise the distribution's
    // *.cloudfront.net name, known once the frontend stack exists, which may be in another
    // region. Deploy takes it from that stack's SiteUrl output (deployed first).
    let mut allow_origins: Vec<Value<String>> = Vec::new();
    if config.frontend.domain.is_none() {
        let site = app.add_output_parameter(
            stack,
            "SiteOrigin",
            frontend,
            "SiteUrl",
            ParameterSpec::string()
                .allowed_pattern("^https://[a-z0-9.-]+$")
                .constraint_description("an https:// origin without a path"),
        )?;
        allow_origins.push(site.ref_().into());
    }
    allow_origins.extend(allowed_origins(config).into_iter().map(Value::from));
    let http = Api::http(
        app,
        stack,
        "HttpApi",
        ApiProps {
            name: format!("{prefix}-http").into(),
            description: "Brain2 memories and graph".to_owned(),
            throttle: Throttle { burst: config.api.throttle.burst, rate: config.api.throttle.rate },
            cors: Some(CorsProps {
                allow_origins,
                allow_methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"].map(str::to_owned).to_vec(),
                allow_headers: brain2_api::REQUEST_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
                max_age_seconds: 86_400,
            }),
            access_log_retention_days: config.log_retention_days,
            access_log_key: compute.key.clone(),
        },
    )?;
    let authorizer = http.lambda_authorizer(
        app,
        stack,
        "HttpAuthorizer",
        &compute.authorizer,
        AuthorizerProps { identity_source: vec!["$request.header.Authorization".to_owned()], cache_seconds: 300 },
    )?;
    let backend = http.lambda_integration(app, stack, "BackendIntegration", &compute.backend)?;
    http.add_route(app, stack, "ApiProxyRoute", "ANY /api/{proxy+}", &backend, Some(&authorizer))?;
    // ANY, so that other methods reach the backend and get its 405 with an Allow header, as
    // the OpenAPI document (docs/api/openapi.json) says, instead of API Gateway's 404.
    http.add_route(app, stack, "HealthRoute", "ANY /health", &backend, None)?;
    // No OPTIONS route: browsers send CORS preflights without the Authorization header, and
    // "if you configure CORS for an API, API Gateway automatically sends a response to
    // preflight OPTIONS requests, even if there isn't an OPTIONS route configured for your API"
    // (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html), before
    // any route and its authorizer. MiniStack does the same.
    let url = match &config.api.domain {
        Some(domain) => http.add_domain(app, stack, &domain.name, domain.hosted_zone_id.as_deref())?,
        None => http.url().into(),
    };
    app.add_output(stack, "HttpApiUrl", url, "Base URL of the HTTP API", false)?;
    Ok(http)
}

/// The origins the HTTP API answers CORS requests from: the site's own domain when it has one,
/// and the configured ones (local development, other clients).
fn allowed_origins(config: &EnvironmentConfig) -> Vec<String> {
    let mut origins: Vec<String> = config.frontend.domain.iter().map(|d| d.origin()).collect();
    for origin in &config.api.cors_origins {
        if !origins.contains(origin) {
            origins.push(origin.clone());
        }
    }
    origins
}

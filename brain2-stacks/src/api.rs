//! The api stack: the HTTP API in front of the backend, behind the Lambda authorizer.

use brain2_iac::cfn::{App, Result, StackId};
use brain2_iac::config::EnvironmentConfig;
use brain2_iac::constructs::api::{Api, ApiProps, AuthorizerProps, CorsProps, Throttle};
use brain2_iac::constructs::iam::suppress;

use crate::compute::Compute;

pub(super) fn build(app: &mut App, stack: StackId, config: &EnvironmentConfig, compute: &Compute) -> Result<Api> {
    let prefix = app.prefix();
    let http = Api::http(
        app,
        stack,
        "HttpApi",
        ApiProps {
            name: format!("{prefix}-http").into(),
            description: "Brain2 memories and graph".to_owned(),
            throttle: Throttle { burst: config.api.throttle.burst, rate: config.api.throttle.rate },
            cors: Some(CorsProps {
                allow_origins: config.api.cors_origins.clone(),
                allow_methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"].map(str::to_owned).to_vec(),
                allow_headers: brain2_api::REQUEST_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
                max_age_seconds: 86_400,
            }),
            access_log_retention_days: config.log_retention_days,
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
    http.add_route(app, stack, "HealthRoute", "GET /health", &backend, None)?;
    // Browsers send CORS preflights without the Authorization header; behind the authorizer of
    // `ANY /api/{proxy+}` they would fail, and with them every cross-origin call.
    let preflight = http.add_route(app, stack, "ApiPreflightRoute", "OPTIONS /api/{proxy+}", &backend, None)?;
    suppress(
        app,
        &preflight,
        "api-route-authorizer",
        "CORS preflight requests carry no credentials; the backend answers them 204 without reading data, and API Gateway adds the configured CORS headers.",
    );
    app.add_output(stack, "HttpApiUrl", http.url(), "Base URL of the HTTP API", false)?;
    Ok(http)
}

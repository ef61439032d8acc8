//! API Gateway v2: HTTP and WebSocket APIs with one stage each (throttled, access-logged),
//! Lambda proxy integrations, and Lambda REQUEST authorizers. Every invoke permission is scoped
//! to the API that needs it.

use crate::aws::apigatewayv2::api::Cors;
use crate::aws::apigatewayv2::api_mapping::ApiMapping;
use crate::aws::apigatewayv2::domain_name::{DomainName, DomainNameConfiguration};
use crate::aws::apigatewayv2::stage::{AccessLogSettings, RouteSettings};
use crate::aws::apigatewayv2::{Api as CfnApi, Authorizer as CfnAuthorizer, Integration, Route, Stage};
use crate::aws::logs::LogGroup;
use crate::aws::route53::record_set::AliasTarget;
use crate::cfn::{App, DslError, Expr, Handle, Result, StackId, Value, fns};

use super::domain::{alias_records, dns_validated_certificate};
use super::function::RustFunction;
use super::iam::{Grantee, Statement, grant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    WebSocket,
}

/// Requests per second sustained (`rate`) and in a burst, for every route of the stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub burst: i64,
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CorsProps {
    /// Origins as text, or values deploy fills in (a parameter taken from another stack).
    pub allow_origins: Vec<Value<String>>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub max_age_seconds: i64,
}

#[derive(Debug, Clone)]
pub struct ApiProps {
    pub name: Value<String>,
    pub description: String,
    pub throttle: Throttle,
    pub cors: Option<CorsProps>,
    pub access_log_retention_days: i64,
    /// A customer-managed key for the access log group.
    pub access_log_key: Option<super::key::EncryptionKey>,
}

/// An API with its stage and access-log group. Logical ids: `<Id>`, `<Id>Stage`,
/// `<Id>AccessLogs`.
#[derive(Debug, Clone)]
pub struct Api {
    pub id: String,
    pub protocol: Protocol,
    pub api: Handle<CfnApi>,
    pub stage: Handle<Stage>,
    pub access_logs: Handle<LogGroup>,
    pub stage_name: String,
}

/// A Lambda REQUEST authorizer attached to an API.
#[derive(Debug, Clone)]
pub struct Authorizer {
    pub resource: Handle<CfnAuthorizer>,
}

/// What the REQUEST authorizer reads and how long API Gateway caches its answer.
#[derive(Debug, Clone)]
pub struct AuthorizerProps {
    /// `$request.header.Authorization` (HTTP) or `route.request.querystring.token` (WebSocket).
    pub identity_source: Vec<String>,
    pub cache_seconds: i64,
}

const HTTP_ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength","latency":"$context.responseLatency","integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error"}"#;
const WEBSOCKET_ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","eventType":"$context.eventType","routeKey":"$context.routeKey","status":"$context.status","connectionId":"$context.connectionId","integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error"}"#;

impl Api {
    /// An HTTP API with the `$default` stage, auto-deployed.
    pub fn http(app: &mut App, stack: StackId, id: &str, props: ApiProps) -> Result<Self> {
        Self::new(app, stack, id, Protocol::Http, "$default", props)
    }

    /// A WebSocket API routing on `$request.body.action`, with one auto-deployed stage.
    pub fn websocket(app: &mut App, stack: StackId, id: &str, stage_name: &str, props: ApiProps) -> Result<Self> {
        Self::new(app, stack, id, Protocol::WebSocket, stage_name, props)
    }

    fn new(
        app: &mut App,
        stack: StackId,
        id: &str,
        protocol: Protocol,
        stage_name: &str,
        props: ApiProps,
    ) -> Result<Self> {
        if props.throttle.burst < 0 || props.throttle.rate < 0.0 {
            return Err(DslError::Construct(format!("API {id}: throttle {:?} must not be negative", props.throttle)));
        }
        let mut api = CfnApi::new().name(props.name.clone()).description(props.description.as_str());
        api = match protocol {
            Protocol::Http => api.protocol_type("HTTP"),
            Protocol::WebSocket => api.protocol_type("WEBSOCKET").route_selection_expression("$request.body.action"),
        };
        if let Some(cors) = &props.cors {
            if protocol == Protocol::WebSocket {
                return Err(DslError::Construct(format!("API {id}: CORS applies to HTTP APIs only")));
            }
            api = api.cors_configuration(
                Cors::new()
                    .allow_origins(cors.allow_origins.clone())
                    .allow_methods(cors.allow_methods.iter().map(String::as_str).collect::<Vec<_>>())
                    .allow_headers(cors.allow_headers.iter().map(String::as_str).collect::<Vec<_>>())
                    .max_age(cors.max_age_seconds),
            );
        }
        let api = app.add(stack, id, api)?;
        let mut access_logs = LogGroup::new().retention_in_days(props.access_log_retention_days);
        if let Some(key) = &props.access_log_key {
            key.allow_cloudwatch_logs(app)?;
            access_logs = access_logs.kms_key_id(key.arn());
        }
        let access_logs = app.add(stack, &format!("{id}AccessLogs"), access_logs)?;
        let format = match protocol {
            Protocol::Http => HTTP_ACCESS_LOG_FORMAT,
            Protocol::WebSocket => WEBSOCKET_ACCESS_LOG_FORMAT,
        };
        let stage = Stage::new(api.ref_(), stage_name)
            .auto_deploy(true)
            .description(format!("{} stage of {id}", stage_name))
            .access_log_settings(AccessLogSettings::new().destination_arn(access_logs.arn()).format(format))
            .default_route_settings(
                RouteSettings::new()
                    .throttling_burst_limit(props.throttle.burst)
                    .throttling_rate_limit(props.throttle.rate),
            );
        let stage = app.add(stack, &format!("{id}Stage"), stage)?;
        Ok(Self { id: id.to_owned(), protocol, api, stage, access_logs, stage_name: stage_name.to_owned() })
    }

    /// The API id (`Ref`).
    pub fn api_id(&self) -> Expr<String> {
        self.api.ref_()
    }

    /// `https://…` for HTTP APIs (the `$default` stage needs no path); `wss://…/<stage>` for
    /// WebSocket ones.
    pub fn url(&self) -> Expr<String> {
        match self.protocol {
            Protocol::Http => self.api.api_endpoint(),
            Protocol::WebSocket => {
                fns::sub(&format!("${{Endpoint}}/{}", self.stage_name), [("Endpoint", self.api.api_endpoint())])
            }
        }
    }

    /// Serves the stage at `name` too: a regional ACM certificate validated by DNS (through the
    /// hosted zone when given), an API Gateway domain name with TLS 1.2 at least, the mapping to
    /// this API's stage, and, with the hosted zone, a Route 53 alias record. Logical ids
    /// `<Id>Certificate`, `<Id>DomainName`, `<Id>Mapping`, `<Id>RecordA`. Returns the URL at the
    /// domain (`https://name` or `wss://name`).
    pub fn add_domain(
        &self,
        app: &mut App,
        stack: StackId,
        name: &str,
        hosted_zone_id: Option<&str>,
    ) -> Result<Value<String>> {
        let id = &self.id;
        let certificate = dns_validated_certificate(app, stack, &format!("{id}Certificate"), name, hosted_zone_id)?;
        let domain = app.add(
            stack,
            &format!("{id}DomainName"),
            DomainName::new(name).domain_name_configurations(vec![
                DomainNameConfiguration::new()
                    .certificate_arn(certificate.ref_())
                    .endpoint_type("REGIONAL")
                    .security_policy("TLS_1_2"),
            ]),
        )?;
        app.add(stack, &format!("{id}Mapping"), ApiMapping::new(self.api_id(), domain.ref_(), self.stage.ref_()))?;
        if let Some(zone) = hosted_zone_id {
            let target = AliasTarget::new(domain.regional_domain_name(), domain.regional_hosted_zone_id());
            alias_records(app, stack, &format!("{id}Record"), name, zone, &["A"], target)?;
        }
        let scheme = match self.protocol {
            Protocol::Http => "https",
            Protocol::WebSocket => "wss",
        };
        Ok(Value::from(format!("{scheme}://{name}")))
    }

    /// `arn:…:execute-api:<region>:<account>:<api id>/<rest>`.
    pub fn execute_api_arn(&self, rest: &str) -> Expr<String> {
        fns::sub(
            &format!("arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{ApiId}}/{rest}"),
            [("ApiId", self.api_id())],
        )
    }

    /// A REQUEST authorizer backed by the function's `live` alias, and the permission that lets
    /// only this authorizer invoke it. Logical ids `<Id>` and `<Id>Permission`.
    pub fn lambda_authorizer(
        &self,
        app: &mut App,
        stack: StackId,
        id: &str,
        function: &RustFunction,
        props: AuthorizerProps,
    ) -> Result<Authorizer> {
        if !(0..=3_600).contains(&props.cache_seconds) {
            return Err(DslError::Construct(format!(
                "authorizer {id}: cache of {} s is outside 0 to 3600",
                props.cache_seconds
            )));
        }
        let mut authorizer = CfnAuthorizer::new(self.api_id(), "REQUEST", id)
            .authorizer_uri(function.invoke_uri())
            .identity_source(props.identity_source.iter().map(String::as_str).collect::<Vec<_>>());
        if self.protocol == Protocol::Http {
            authorizer = authorizer
                .authorizer_payload_format_version("2.0")
                .enable_simple_responses(true)
                .authorizer_result_ttl_in_seconds(props.cache_seconds);
        }
        let resource = app.add(stack, id, authorizer)?;
        let source = fns::sub(
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${ApiId}/authorizers/${AuthorizerId}",
            [("ApiId", self.api_id()), ("AuthorizerId", resource.ref_())],
        );
        function.allow_invoke(app, stack, &format!("{id}Permission"), "apigateway.amazonaws.com", source)?;
        Ok(Authorizer { resource })
    }

    /// A Lambda proxy integration with the function's `live` alias, and the permission that
    /// lets only this API invoke it. Logical ids `<Id>` and `<Id>Permission`.
    pub fn lambda_integration(
        &self,
        app: &mut App,
        stack: StackId,
        id: &str,
        function: &RustFunction,
    ) -> Result<Handle<Integration>> {
        let mut integration = Integration::new(self.api_id(), "AWS_PROXY").integration_uri(function.invoke_uri());
        if self.protocol == Protocol::Http {
            integration = integration.payload_format_version("2.0");
        }
        let integration = app.add(stack, id, integration)?;
        function.allow_invoke(
            app,
            stack,
            &format!("{id}Permission"),
            "apigateway.amazonaws.com",
            self.execute_api_arn("*"),
        )?;
        Ok(integration)
    }

    /// A route to an integration, behind the authorizer when one is given.
    pub fn add_route(
        &self,
        app: &mut App,
        stack: StackId,
        id: &str,
        route_key: &str,
        integration: &Handle<Integration>,
        authorizer: Option<&Authorizer>,
    ) -> Result<Handle<Route>> {
        let mut route = Route::new(self.api_id(), route_key)
            .target(fns::sub("integrations/${IntegrationId}", [("IntegrationId", integration.ref_())]));
        route = match authorizer {
            Some(authorizer) => route.authorization_type("CUSTOM").authorizer_id(authorizer.resource.ref_()),
            None => route.authorization_type("NONE"),
        };
        app.add(stack, id, route)
    }

    /// `execute-api:ManageConnections` on this WebSocket API's stage only: what posting to
    /// connections and deleting them needs.
    pub fn grant_manage_connections(&self, app: &mut App, grantee: &impl Grantee) -> Result<()> {
        if self.protocol != Protocol::WebSocket {
            return Err(DslError::Construct(format!("API {}: only WebSocket APIs have connections", self.id)));
        }
        let arn = self.execute_api_arn(&format!("{}/*/@connections/*", self.stage_name));
        grant(app, grantee, Statement::allow(["execute-api:ManageConnections"], [arn.into()]))
    }
}

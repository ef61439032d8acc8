//! Per-environment configuration: `environments/<env>.json`, checked against the JSON Schema
//! that `cargo xtask schema` generates from these types.
//!
//! Loading fails on an unknown key, a wrong type or an out-of-range value, with the file, the
//! JSON path and what was expected. No secret is ever part of it: the JWT secret is referenced by
//! its Secrets Manager ARN.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cfn::RemovalPolicy;
use crate::constructs::function::LOG_RETENTION_DAYS;

/// The environments brain2 knows, in promotion order.
pub const ENVIRONMENTS: &[&str] = &["dev", "staging", "prod"];

/// One environment's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "brain2 environment")]
pub struct EnvironmentConfig {
    /// Editor support: `./schema.json`.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The region of the database, compute and api stacks.
    pub region: String,
    /// The frontend stack's region. A CloudFront web ACL must live in us-east-1.
    #[serde(default = "default_frontend_region")]
    pub frontend_region: String,
    pub lambda: LambdaConfig,
    pub data: DataConfig,
    pub frontend: FrontendConfig,
    pub network: NetworkConfig,
    #[serde(default)]
    pub encryption: EncryptionConfig,
    /// CloudWatch log retention for every log group, in days.
    pub log_retention_days: i64,
    pub monitoring: MonitoringConfig,
    pub api: ApiConfig,
    pub auth: AuthConfig,
    pub connections: ConnectionsConfig,
    /// Whether `cargo xtask deploy --hotswap` may put function code straight into Lambda
    /// (UpdateFunctionCode, PublishVersion, the `live` alias moved) instead of going through a
    /// change set when only code changed. For dev and staging; prod may not set it.
    #[serde(default)]
    pub hotswap: bool,
}

fn default_frontend_region() -> String {
    "us-east-1".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    Arm64,
    #[serde(rename = "x86_64")]
    X8664,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LambdaConfig {
    pub architecture: Architecture,
    pub log_level: LogLevel,
    pub functions: FunctionsConfig,
    /// Warm instances on the `live` alias.
    pub provisioned_concurrency: ProvisionedConcurrency,
}

/// Memory and timeout of each function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FunctionsConfig {
    pub backend: FunctionConfig,
    pub connect_node: FunctionConfig,
    pub ws_connect: FunctionConfig,
    pub ws_disconnect: FunctionConfig,
    pub ws_send_message: FunctionConfig,
    pub authorizer: FunctionConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FunctionConfig {
    /// 128 to 10240.
    #[schemars(range(min = 128, max = 10240))]
    pub memory_mb: i64,
    /// 1 to 900.
    #[schemars(range(min = 1, max = 900))]
    pub timeout_seconds: i64,
    /// Concurrency reserved for the function, which is also its ceiling: 1 to 1000, at least its
    /// provisioned concurrency. Unset leaves the function in the account's unreserved pool
    /// (AWS keeps at least 100 unreserved, and a new account may have only 10 in all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub reserved_concurrency: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProvisionedConcurrency {
    #[schemars(range(min = 0, max = 100))]
    pub backend: i64,
    #[schemars(range(min = 0, max = 100))]
    pub authorizer: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataConfig {
    /// What happens to tables and buckets when they leave a template or are replaced.
    pub removal_policy: RemovalPolicyConfig,
    pub point_in_time_recovery: bool,
    pub table_deletion_protection: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RemovalPolicyConfig {
    Delete,
    Retain,
}

impl RemovalPolicyConfig {
    pub fn policy(self) -> RemovalPolicy {
        match self {
            RemovalPolicyConfig::Delete => RemovalPolicy::Delete,
            RemovalPolicyConfig::Retain => RemovalPolicy::Retain,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PriceClassConfig {
    #[serde(rename = "100")]
    PriceClass100,
    #[serde(rename = "200")]
    PriceClass200,
    All,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FrontendConfig {
    pub bucket_versioning: bool,
    pub price_class: PriceClassConfig,
    /// A WAF web ACL (AWS common rules and a per-IP rate limit) in front of CloudFront.
    pub waf: bool,
    /// Requests per IP in five minutes before WAF blocks it.
    #[serde(default = "default_rate_limit")]
    #[schemars(range(min = 10))]
    pub waf_rate_limit: i64,
    /// CloudFront standard logs into a log bucket.
    pub access_logs: bool,
    /// The built site, relative to the workspace root; deploy uploads it when present.
    pub site_dir: String,
    /// The site's own domain name. Without one the site is served at its CloudFront domain
    /// (`*.cloudfront.net`) under CloudFront's default certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainConfig>,
}

/// A custom domain: an ACM certificate for it (validated by DNS) and the service's alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DomainConfig {
    /// A DNS name in lowercase, e.g. `brain2.example.com`.
    #[schemars(regex(pattern = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"))]
    pub name: String,
    /// The Route 53 hosted zone holding `name`. With it, CloudFormation validates the
    /// certificate and points the name at the service; without it, add the certificate's
    /// validation record and the name's record at your DNS provider while the stack waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^Z[A-Z0-9]{1,31}$"))]
    pub hosted_zone_id: Option<String>,
}

impl DomainConfig {
    fn validate(&self, path: &Path, json_path: &str) -> Result<(), ConfigError> {
        if !dns_name(&self.name) {
            return Err(invalid(
                path,
                &format!("{json_path}.name"),
                format!("{:?} is not a DNS name: expected lowercase labels like brain2.example.com", self.name),
            ));
        }
        if let Some(zone) = &self.hosted_zone_id {
            let ok = zone.starts_with('Z')
                && (2..=32).contains(&zone.len())
                && zone.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !ok {
                return Err(invalid(
                    path,
                    &format!("{json_path}.hostedZoneId"),
                    format!("{zone:?} is not a Route 53 hosted zone id: expected Z followed by letters and digits"),
                ));
            }
        }
        Ok(())
    }

    /// The site origin a browser sends: `https://<name>`.
    pub fn origin(&self) -> String {
        format!("https://{}", self.name)
    }
}

fn dns_name(value: &str) -> bool {
    let labels: Vec<&str> = value.split('.').collect();
    value.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_lowercase()))
}

fn default_rate_limit() -> i64 {
    2_000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkConfig {
    /// Attach the Lambdas to private subnets with VPC endpoints and no NAT gateway.
    pub vpc: bool,
    /// The VPC's IPv4 range, a /16; subnets take its first two /24s.
    #[serde(default = "default_cidr")]
    #[schemars(regex(pattern = r"^10\.[0-9]{1,3}\.0\.0/16$"))]
    pub cidr: String,
}

/// Whose keys encrypt the environment's data at rest. Everything is encrypted either way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EncryptionConfig {
    /// Customer-managed KMS keys, rotated yearly, for the tables (one key) and for the log
    /// groups, function environment variables and queues (another), instead of AWS-managed and
    /// AWS-owned keys: key policies you control, and every use in CloudTrail. $1 a month per key
    /// plus $0.03 per 10,000 requests.
    #[serde(default)]
    pub customer_managed_keys: bool,
}

fn default_cidr() -> String {
    "10.0.0.0/16".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringConfig {
    /// Alarms, the dashboard and the budget.
    pub enabled: bool,
    /// Who gets alarm and budget e-mails; required when monitoring is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_email: Option<String>,
    /// The monthly budget in US dollars.
    #[serde(default = "default_budget")]
    #[schemars(range(min = 1))]
    pub monthly_budget_usd: i64,
}

fn default_budget() -> i64 {
    50
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiConfig {
    /// Origins the browser may call the HTTP API from, besides the site's own domain
    /// (`frontend.domain`), which is always allowed.
    pub cors_origins: Vec<String>,
    /// The HTTP API's own domain (a regional certificate in the environment's region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainConfig>,
    /// The WebSocket API's own domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_socket_domain: Option<DomainConfig>,
    pub throttle: ThrottleConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ThrottleConfig {
    #[schemars(range(min = 0, max = 100000))]
    pub burst: i64,
    #[schemars(range(min = 0, max = 100000))]
    pub rate: f64,
}

/// Supabase sign-in. At least one of the secret ARN and the JWKS URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthConfig {
    /// `https://<project>.supabase.co`; tokens must have `iss` = this + `/auth/v1`.
    pub supabase_url: String,
    /// The Secrets Manager secret holding the HS256 JWT secret (never the secret itself): its
    /// full ARN, or its ARN without the 6-character suffix Secrets Manager adds (the authorizer's
    /// grant covers both forms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_secret_arn: Option<String>,
    /// The project's JWKS URL, for ES256/RS256 tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// The project's anon (publishable) key, which the web client sends to Supabase Auth.
    /// Required: the site's config.json carries it, and Supabase refuses every sign-in without
    /// it. It is public by design (it grants nothing beyond what sign-in itself allows); a
    /// secret or service-role key is refused, since the site would publish it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supabase_anon_key: Option<String>,
}

/// How connect-node links memories.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionsConfig {
    #[schemars(range(min = 1, max = 50))]
    pub min_shared_keywords: i64,
    #[schemars(range(min = 1, max = 1000))]
    pub max_edges_per_node: i64,
}

/// A configuration file that could not be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown environment {name:?}; the environments are {}", ENVIRONMENTS.join(", "))]
    UnknownEnvironment { name: String },
    #[error("{}: cannot read it: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}: at {json_path}: {reason}", path.display())]
    Invalid { path: PathBuf, json_path: String, reason: String },
}

fn invalid(path: &Path, json_path: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { path: path.to_owned(), json_path: json_path.to_owned(), reason: reason.into() }
}

fn in_range(path: &Path, json_path: &str, value: i64, min: i64, max: i64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(path, json_path, format!("{value} is out of range: expected {min} to {max}")))
    }
}

fn https_url(path: &Path, json_path: &str, value: &str) -> Result<(), ConfigError> {
    let rest = value.strip_prefix("https://").unwrap_or("");
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) || !host.contains('.') {
        return Err(invalid(path, json_path, format!("{value:?} is not an https:// URL")));
    }
    Ok(())
}

/// The anon key every published site needs: present, and not a key that must stay secret.
fn anon_key(path: &Path, key: Option<&str>) -> Result<(), ConfigError> {
    const AT: &str = ".auth.supabaseAnonKey";
    let key = key.map(str::trim).unwrap_or_default();
    if key.is_empty() {
        return Err(invalid(
            path,
            AT,
            "missing: the site's config.json carries it, and Supabase Auth refuses every sign-in without it; \
             set the project's anon (publishable) key from the Supabase dashboard (Project Settings, API Keys)",
        ));
    }
    if key.starts_with("sb_secret_") || jwt_role(key).as_deref() == Some("service_role") {
        return Err(invalid(
            path,
            AT,
            "this is a secret key (it bypasses row-level security), and the site would publish it; \
             use the anon (publishable) key, and rotate this one if it was ever committed",
        ));
    }
    Ok(())
}

/// The `role` claim of a legacy Supabase key (a JWT), if `key` is one.
fn jwt_role(key: &str) -> Option<String> {
    use base64::Engine;
    let payload = key.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["role"].as_str().map(str::to_owned)
}

impl EnvironmentConfig {
    /// Parses a file's text. `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let config: EnvironmentConfig = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let json_path = error.path().to_string();
            let inner = error.into_inner();
            let reason = format!("{inner}");
            invalid(path, if json_path == "." { "(top level)" } else { &json_path }, reason)
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads and checks `environments/<name>.json` below `root`.
    pub fn load(root: &Path, name: &str) -> Result<Self, ConfigError> {
        if !ENVIRONMENTS.contains(&name) {
            return Err(ConfigError::UnknownEnvironment { name: name.to_owned() });
        }
        let path = root.join("environments").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Unreadable { path: path.clone(), reason: e.to_string() })?;
        let config = Self::parse(&path, &text)?;
        if name == "prod" && config.hotswap {
            return Err(invalid(
                &path,
                ".hotswap",
                "prod never hotswaps: its code changes go through change sets, reviewed and recorded; set it to false",
            ));
        }
        Ok(config)
    }

    /// The checks a JSON Schema cannot say well: ranges with gaps, cross-field rules, URLs.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let region_ok = |r: &str| {
            let parts: Vec<&str> = r.split('-').collect();
            parts.len() >= 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
                && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        };
        for (json_path, region) in [(".region", &self.region), (".frontendRegion", &self.frontend_region)] {
            if !region_ok(region) {
                return Err(invalid(
                    path,
                    json_path,
                    format!("{region:?} is not an AWS region name such as eu-west-1"),
                ));
            }
        }
        if self.frontend.waf && self.frontend_region != "us-east-1" {
            return Err(invalid(
                path,
                ".frontendRegion",
                format!(
                    "{:?}: a CloudFront web ACL must be created in us-east-1; set frontendRegion to us-east-1 or turn waf off",
                    self.frontend_region
                ),
            ));
        }
        for (json_path, domain) in [
            (".frontend.domain", &self.frontend.domain),
            (".api.domain", &self.api.domain),
            (".api.webSocketDomain", &self.api.web_socket_domain),
        ] {
            if let Some(domain) = domain {
                domain.validate(path, json_path)?;
            }
        }
        if self.frontend.domain.is_some() && self.frontend_region != "us-east-1" {
            return Err(invalid(
                path,
                ".frontendRegion",
                format!(
                    "{:?}: CloudFront takes certificates from us-east-1 only; set frontendRegion to us-east-1 to give the site a domain",
                    self.frontend_region
                ),
            ));
        }
        for (name, f) in [
            ("backend", &self.lambda.functions.backend),
            ("connectNode", &self.lambda.functions.connect_node),
            ("wsConnect", &self.lambda.functions.ws_connect),
            ("wsDisconnect", &self.lambda.functions.ws_disconnect),
            ("wsSendMessage", &self.lambda.functions.ws_send_message),
            ("authorizer", &self.lambda.functions.authorizer),
        ] {
            in_range(path, &format!(".lambda.functions.{name}.memoryMb"), f.memory_mb, 128, 10_240)?;
            in_range(path, &format!(".lambda.functions.{name}.timeoutSeconds"), f.timeout_seconds, 1, 900)?;
            if let Some(reserved) = f.reserved_concurrency {
                in_range(path, &format!(".lambda.functions.{name}.reservedConcurrency"), reserved, 1, 1000)?;
            }
        }
        for (name, provisioned, reserved) in [
            (
                "backend",
                self.lambda.provisioned_concurrency.backend,
                self.lambda.functions.backend.reserved_concurrency,
            ),
            (
                "authorizer",
                self.lambda.provisioned_concurrency.authorizer,
                self.lambda.functions.authorizer.reserved_concurrency,
            ),
        ] {
            if let Some(reserved) = reserved
                && provisioned > reserved
            {
                return Err(invalid(
                    path,
                    &format!(".lambda.provisionedConcurrency.{name}"),
                    format!(
                        "{provisioned} is more than the {reserved} reserved in .lambda.functions.{name}.reservedConcurrency: \
                         expected at most {reserved}"
                    ),
                ));
            }
        }
        in_range(path, ".lambda.provisionedConcurrency.backend", self.lambda.provisioned_concurrency.backend, 0, 100)?;
        in_range(
            path,
            ".lambda.provisionedConcurrency.authorizer",
            self.lambda.provisioned_concurrency.authorizer,
            0,
            100,
        )?;
        if !LOG_RETENTION_DAYS.contains(&self.log_retention_days) {
            return Err(invalid(
                path,
                ".logRetentionDays",
                format!(
                    "{} is not a retention CloudWatch accepts: expected one of {LOG_RETENTION_DAYS:?}",
                    self.log_retention_days
                ),
            ));
        }
        in_range(path, ".frontend.wafRateLimit", self.frontend.waf_rate_limit, 10, 2_000_000_000)?;
        let cidr_ok = self
            .network
            .cidr
            .strip_prefix("10.")
            .and_then(|rest| rest.strip_suffix(".0.0/16"))
            .and_then(|second| second.parse::<u8>().ok())
            .is_some();
        if !cidr_ok {
            return Err(invalid(
                path,
                ".network.cidr",
                format!("{:?}: expected a 10.N.0.0/16 range", self.network.cidr),
            ));
        }
        if self.monitoring.enabled {
            match &self.monitoring.alarm_email {
                Some(email) if email.contains('@') && !email.contains(char::is_whitespace) => {}
                Some(email) => {
                    return Err(invalid(path, ".monitoring.alarmEmail", format!("{email:?} is not an e-mail address")));
                }
                None => {
                    return Err(invalid(path, ".monitoring.alarmEmail", "required when monitoring.enabled is true"));
                }
            }
        }
        in_range(path, ".monitoring.monthlyBudgetUsd", self.monitoring.monthly_budget_usd, 1, 1_000_000)?;
        if self.api.cors_origins.is_empty() && self.frontend.domain.is_none() {
            return Err(invalid(
                path,
                ".api.corsOrigins",
                "expected at least one origin (or a .frontend.domain, whose origin the API allows)",
            ));
        }
        for (i, origin) in self.api.cors_origins.iter().enumerate() {
            let scheme_ok = origin.starts_with("https://") || origin.starts_with("http://localhost");
            if !scheme_ok || origin.ends_with('/') || origin.contains('*') {
                return Err(invalid(
                    path,
                    &format!(".api.corsOrigins[{i}]"),
                    format!(
                        "{origin:?}: expected an https:// origin (or http://localhost:<port>) without a trailing slash or wildcard"
                    ),
                ));
            }
        }
        in_range(path, ".api.throttle.burst", self.api.throttle.burst, 0, 100_000)?;
        if !(0.0..=100_000.0).contains(&self.api.throttle.rate) {
            return Err(invalid(
                path,
                ".api.throttle.rate",
                format!("{} is out of range: expected 0 to 100000", self.api.throttle.rate),
            ));
        }
        https_url(path, ".auth.supabaseUrl", &self.auth.supabase_url)?;
        if self.auth.supabase_url.ends_with('/') {
            return Err(invalid(path, ".auth.supabaseUrl", "expected no trailing slash"));
        }
        match (&self.auth.jwt_secret_arn, &self.auth.jwks_url) {
            (None, None) => return Err(invalid(path, ".auth", "expected jwtSecretArn, jwksUrl or both")),
            (secret, jwks) => {
                if let Some(arn) = secret {
                    let parts: Vec<&str> = arn.splitn(7, ':').collect();
                    let ok = parts.len() == 7
                        && parts[0] == "arn"
                        && parts[1].starts_with("aws")
                        && parts[2] == "secretsmanager"
                        && parts[4].len() == 12
                        && parts[4].chars().all(|c| c.is_ascii_digit())
                        && parts[5] == "secret";
                    if !ok {
                        return Err(invalid(
                            path,
                            ".auth.jwtSecretArn",
                            format!(
                                "{arn:?}: expected arn:aws:secretsmanager:<region>:<account>:secret:<name>, with or without the 6-character suffix Secrets Manager adds to the name"
                            ),
                        ));
                    }
                }
                if let Some(url) = jwks {
                    https_url(path, ".auth.jwksUrl", url)?;
                }
            }
        }
        anon_key(path, self.auth.supabase_anon_key.as_deref())?;
        in_range(path, ".connections.minSharedKeywords", self.connections.min_shared_keywords, 1, 50)?;
        in_range(path, ".connections.maxEdgesPerNode", self.connections.max_edges_per_node, 1, 1_000)?;
        Ok(())
    }

    /// The JSON Schema of environment files, as `environments/schema.json` holds it.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(EnvironmentConfig);
        let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
        text.push('\n');
        text
    }
}

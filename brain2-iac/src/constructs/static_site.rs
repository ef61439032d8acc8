//! A static site: a private, encrypted bucket that only CloudFront can read (Origin Access
//! Control, no legacy OAI), served over HTTPS with security headers and an SPA fallback; and an
//! optional WAF web ACL for the distribution.

use crate::aws::cloudfront::distribution::{
    CustomErrorResponse, DefaultCacheBehavior, Distribution, DistributionConfig, HttpVersion, Logging,
    MinimumProtocolVersion, Origin, PriceClass, S3OriginConfig, SslSupportMethod, ViewerCertificate,
    ViewerProtocolPolicy,
};
use crate::aws::cloudfront::origin_access_control::{OriginAccessControl, OriginAccessControlConfig};
use crate::aws::cloudfront::response_headers_policy::{
    ContentSecurityPolicy, ContentTypeOptions, FrameOptions, ReferrerPolicy, ResponseHeadersPolicy,
    ResponseHeadersPolicyConfig, SecurityHeadersConfig, StrictTransportSecurity,
};
use crate::aws::s3::BucketPolicy;
use crate::aws::s3::bucket::{
    Bucket, BucketEncryption, LifecycleConfiguration, NoncurrentVersionExpiration, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, Rule as LifecycleRule, RuleStatus,
    ServerSideEncryptionByDefault, ServerSideEncryptionByDefaultSseAlgorithm, ServerSideEncryptionRule, TagFilter,
    VersioningConfiguration, VersioningConfigurationStatus,
};
use crate::aws::wafv2::web_acl::AggregateKeyType;
use crate::aws::wafv2::web_acl::{
    AllowAction, BlockAction, DefaultAction, ManagedRuleGroupStatement, OverrideAction, RateBasedStatement,
    Rule as WafRule, RuleAction, Scope, Statement as WafStatement, VisibilityConfig, WebAcl,
};
use crate::cfn::{App, DslError, Expr, Handle, Json, RemovalPolicy, Result, StackId, Value, fns};

use super::iam::{Statement, policy_document};

/// AWS's managed `CachingOptimized` cache policy.
pub const CACHING_OPTIMIZED_POLICY_ID: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";

/// A private bucket: all four public-access blocks, bucket-owner-enforced ownership (no ACLs),
/// SSE-S3 encryption with a bucket key, and a policy that denies any request without TLS.
#[derive(Debug, Clone)]
pub struct PrivateBucket {
    pub bucket: Handle<Bucket>,
    pub policy: Handle<BucketPolicy>,
    /// Statements the bucket policy holds; more can be added with [`PrivateBucket::add_statement`].
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
pub struct BucketProps {
    pub versioned: bool,
    /// Non-current versions expire after this many days (when versioned).
    pub noncurrent_version_expiry_days: i64,
    /// Current objects expire after this many days, e.g. for logs.
    pub expiry_days: Option<i64>,
    /// Limit that expiry to objects under these prefixes (all objects when empty).
    pub expiry_prefixes: Vec<String>,
    /// Expiries that only apply to objects carrying a tag.
    pub tagged_expiries: Vec<TaggedExpiry>,
    pub removal_policy: RemovalPolicy,
    /// CloudFront standard logging writes with ACLs, so a log bucket must allow them.
    pub for_cloudfront_logs: bool,
}

/// Objects under `prefix` that carry the tag `key` = `value` expire `days` after they were
/// written (S3 counts from the object's creation, not from its tagging).
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedExpiry {
    pub prefix: String,
    pub key: String,
    pub value: String,
    pub days: i64,
}

impl Default for BucketProps {
    fn default() -> Self {
        Self {
            versioned: false,
            noncurrent_version_expiry_days: 30,
            expiry_days: None,
            expiry_prefixes: Vec::new(),
            tagged_expiries: Vec::new(),
            removal_policy: RemovalPolicy::Retain,
            for_cloudfront_logs: false,
        }
    }
}

fn bucket_arn_objects(bucket: &Handle<Bucket>) -> Value<String> {
    fns::sub("${Bucket}/*", [("Bucket", bucket.arn())]).into()
}

impl PrivateBucket {
    /// Adds `<Id>` and `<Id>Policy`.
    pub fn new(app: &mut App, stack: StackId, id: &str, props: BucketProps) -> Result<Self> {
        let ownership = if props.for_cloudfront_logs {
            ObjectOwnership::BucketOwnerPreferred
        } else {
            ObjectOwnership::BucketOwnerEnforced
        };
        let mut rules = Vec::new();
        if props.versioned {
            rules.push(
                LifecycleRule::new(RuleStatus::Enabled).id("expire-noncurrent-versions").noncurrent_version_expiration(
                    NoncurrentVersionExpiration::new(props.noncurrent_version_expiry_days),
                ),
            );
        }
        if let Some(days) = props.expiry_days {
            if props.expiry_prefixes.is_empty() {
                rules.push(LifecycleRule::new(RuleStatus::Enabled).id("expire-objects").expiration_in_days(days));
            }
            for prefix in &props.expiry_prefixes {
                let id = format!("expire-{}", prefix.trim_end_matches('/').replace('/', "-"));
                rules.push(
                    LifecycleRule::new(RuleStatus::Enabled).id(&id).prefix(prefix.as_str()).expiration_in_days(days),
                );
            }
        }
        for expiry in &props.tagged_expiries {
            let id = format!("expire-{}-{}", expiry.prefix.trim_end_matches('/').replace('/', "-"), expiry.value);
            rules.push(
                LifecycleRule::new(RuleStatus::Enabled)
                    .id(&id)
                    .prefix(expiry.prefix.as_str())
                    .tag_filters(vec![TagFilter::new(expiry.key.as_str(), expiry.value.as_str())])
                    .expiration_in_days(expiry.days),
            );
        }
        let mut bucket = Bucket::new()
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::new()
                    .block_public_acls(true)
                    .block_public_policy(true)
                    .ignore_public_acls(true)
                    .restrict_public_buckets(true),
            )
            .ownership_controls(OwnershipControls::new(vec![OwnershipControlsRule::new().object_ownership(ownership)]))
            .bucket_encryption(BucketEncryption::new(vec![
                ServerSideEncryptionRule::new().bucket_key_enabled(true).server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::new(ServerSideEncryptionByDefaultSseAlgorithm::Aes256),
                ),
            ]));
        if props.versioned {
            bucket =
                bucket.versioning_configuration(VersioningConfiguration::new(VersioningConfigurationStatus::Enabled));
        }
        if !rules.is_empty() {
            bucket = bucket.lifecycle_configuration(LifecycleConfiguration::new(rules));
        }
        let bucket = app.add(stack, id, bucket)?;
        app.attributes_mut(&bucket).set_removal_policy(props.removal_policy);
        let statements = vec![
            Statement::deny(["s3:*"], [bucket.arn().into(), bucket_arn_objects(&bucket)])
                .sid("DenyInsecureTransport")
                .any_principal()
                .condition("Bool", "aws:SecureTransport", "false"),
        ];
        let policy = app.add(
            stack,
            &format!("{id}Policy"),
            BucketPolicy::new(bucket.ref_(), policy_document(statements.clone())),
        )?;
        Ok(Self { bucket, policy, statements })
    }

    /// Adds a statement to the bucket policy.
    pub fn add_statement(&mut self, app: &mut App, statement: Statement) {
        if !self.statements.contains(&statement) {
            self.statements.push(statement);
        }
        app.get_mut(&self.policy).policy_document = policy_document(self.statements.clone()).into();
    }

    /// The bucket name (`Ref`).
    pub fn name(&self) -> Expr<String> {
        self.bucket.ref_()
    }
}

/// A WAFv2 web ACL for CloudFront: AWS's common and known-bad-inputs rule sets (the latter
/// blocks request patterns of known exploits, Log4Shell's among them), plus a block on any single
/// IP over `rate_limit` requests in five minutes. CloudFront web ACLs must be created in
/// us-east-1.
pub fn cloudfront_web_acl(app: &mut App, stack: StackId, id: &str, rate_limit: i64) -> Result<Handle<WebAcl>> {
    if !(10..=2_000_000_000).contains(&rate_limit) {
        return Err(DslError::Construct(format!("web ACL {id}: rate limit {rate_limit} is outside WAF's 10 to 2e9")));
    }
    let visibility = |metric: &str| VisibilityConfig::new(true, metric, true);
    let rules = vec![
        WafRule::new(
            "AWSManagedRulesCommonRuleSet",
            0,
            WafStatement::new()
                .managed_rule_group_statement(ManagedRuleGroupStatement::new("AWSManagedRulesCommonRuleSet", "AWS")),
            visibility("CommonRuleSet"),
        )
        .override_action(OverrideAction::new().none(Json::object::<&str, Json>([]))),
        WafRule::new(
            "AWSManagedRulesKnownBadInputsRuleSet",
            1,
            WafStatement::new().managed_rule_group_statement(ManagedRuleGroupStatement::new(
                "AWSManagedRulesKnownBadInputsRuleSet",
                "AWS",
            )),
            visibility("KnownBadInputsRuleSet"),
        )
        .override_action(OverrideAction::new().none(Json::object::<&str, Json>([]))),
        WafRule::new(
            "RateLimitPerIp",
            2,
            WafStatement::new().rate_based_statement(RateBasedStatement::new(AggregateKeyType::Ip, rate_limit)),
            visibility("RateLimitPerIp"),
        )
        .action(RuleAction::new().block(BlockAction::new())),
    ];
    let acl = WebAcl::new(DefaultAction::new().allow(AllowAction::new()), Scope::Cloudfront, visibility(id))
        .description("Managed common and known-bad-inputs rules and a per-IP rate limit")
        .rules(rules);
    app.add(stack, id, acl)
}

/// The site's Content-Security-Policy: scripts, styles, images and fonts from its own origin only,
/// WebAssembly compilation (`'wasm-unsafe-eval'`, which allows no JavaScript `eval`), connections
/// to its own origin and to `connect_sources` (the APIs and the sign-in), no framing, no plugins.
/// The local site of `cargo xtask dev` sends the same policy with its own sources.
pub fn content_security_policy(connect_sources: &[String]) -> String {
    let mut connect = vec!["'self'".to_owned()];
    connect.extend(connect_sources.iter().cloned());
    [
        "default-src 'self'".to_owned(),
        "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
        "style-src 'self'".to_owned(),
        "img-src 'self' data:".to_owned(),
        "font-src 'self'".to_owned(),
        format!("connect-src {}", connect.join(" ")),
        "frame-ancestors 'none'".to_owned(),
        "base-uri 'self'".to_owned(),
        "form-action 'self'".to_owned(),
        "object-src 'none'".to_owned(),
    ]
    .join("; ")
}

#[derive(Debug, Clone)]
pub struct StaticSiteProps {
    pub bucket: BucketProps,
    pub price_class: PriceClass,
    /// The web ACL's ARN; it must live in us-east-1.
    pub web_acl_arn: Option<Value<String>>,
    /// Standard logging into this bucket's `cloudfront/` prefix.
    pub log_bucket: Option<Handle<Bucket>>,
    pub comment: String,
    /// See [`content_security_policy`].
    pub content_security_policy: String,
    /// The site's own domain, served under an ACM certificate (from us-east-1) with TLS 1.2 at
    /// least; without one, CloudFront's domain and default certificate.
    pub domain: Option<SiteDomain>,
}

#[derive(Debug, Clone)]
pub struct SiteDomain {
    pub name: String,
    pub certificate_arn: Value<String>,
}

/// The site's resources. Logical ids: `<Id>Bucket`, `<Id>BucketPolicy`,
/// `<Id>OriginAccessControl`, `<Id>SecurityHeaders`, `<Id>Distribution`.
#[derive(Debug, Clone)]
pub struct StaticSite {
    pub bucket: PrivateBucket,
    pub distribution: Handle<Distribution>,
    pub origin_access_control: Handle<OriginAccessControl>,
    pub security_headers: Handle<ResponseHeadersPolicy>,
}

impl StaticSite {
    pub fn new(app: &mut App, stack: StackId, id: &str, props: StaticSiteProps) -> Result<Self> {
        let mut bucket = PrivateBucket::new(app, stack, &format!("{id}Bucket"), props.bucket.clone())?;
        let prefix = app.prefix();
        let oac = app.add(
            stack,
            &format!("{id}OriginAccessControl"),
            OriginAccessControl::new(
                OriginAccessControlConfig::new(format!("{prefix}-{id}"), "s3", "always", "sigv4")
                    .description("CloudFront signs every request to the site bucket"),
            ),
        )?;
        let headers = SecurityHeadersConfig::new()
            .content_type_options(ContentTypeOptions::new(true))
            .frame_options(FrameOptions::new("DENY", true))
            .referrer_policy(ReferrerPolicy::new(true, "strict-origin-when-cross-origin"))
            .strict_transport_security(
                StrictTransportSecurity::new(63_072_000, true).include_subdomains(true).preload(true),
            )
            // X-XSS-Protection is deprecated (and harmful in old browsers); the CSP replaces it.
            .content_security_policy(ContentSecurityPolicy::new(props.content_security_policy.clone(), true));
        let security_headers = app.add(
            stack,
            &format!("{id}SecurityHeaders"),
            ResponseHeadersPolicy::new(
                ResponseHeadersPolicyConfig::new(format!("{prefix}-{id}-security-headers"))
                    .comment("CSP, HSTS, nosniff, DENY framing, strict referrer")
                    .security_headers_config(headers),
            ),
        )?;

        let origin_id = "site-bucket";
        let spa_fallback = |code: i64| {
            CustomErrorResponse::new(code)
                .response_code(200)
                .response_page_path("/index.html")
                .error_caching_min_ttl(10)
        };
        let mut config = DistributionConfig::new(
            DefaultCacheBehavior::new(origin_id, ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id(CACHING_OPTIMIZED_POLICY_ID)
                .response_headers_policy_id(security_headers.ref_())
                .compress(true)
                .allowed_methods(vec!["GET", "HEAD", "OPTIONS"])
                .cached_methods(vec!["GET", "HEAD"]),
            true,
        )
        .comment(props.comment.as_str())
        .default_root_object("index.html")
        .http_version(HttpVersion::Http2and3)
        .ipv6_enabled(true)
        .price_class(props.price_class)
        .origins(vec![
            Origin::new(bucket.bucket.regional_domain_name(), origin_id)
                .origin_access_control_id(oac.ref_())
                // Empty: OAC signs the requests; a legacy origin access identity is not used.
                .s3_origin_config(S3OriginConfig::new().origin_access_identity("")),
        ])
        .custom_error_responses(vec![spa_fallback(403), spa_fallback(404)]);
        config = match &props.domain {
            Some(domain) => config.aliases(vec![Value::from(domain.name.as_str())]).viewer_certificate(
                ViewerCertificate::new()
                    .acm_certificate_arn(domain.certificate_arn.clone())
                    .ssl_support_method(SslSupportMethod::SniOnly)
                    .minimum_protocol_version(MinimumProtocolVersion::TlSv122021),
            ),
            None => config.viewer_certificate(ViewerCertificate::new().cloud_front_default_certificate(true)),
        };
        if let Some(acl) = &props.web_acl_arn {
            config = config.web_acl_id(acl.clone());
        }
        if let Some(log_bucket) = &props.log_bucket {
            config = config.logging(Logging::new().bucket(log_bucket.regional_domain_name()).prefix("cloudfront/"));
        }
        let distribution = app.add(stack, &format!("{id}Distribution"), Distribution::new(config))?;

        let distribution_arn = fns::sub(
            "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${DistributionId}",
            [("DistributionId", distribution.ref_())],
        );
        bucket.add_statement(
            app,
            Statement::allow(["s3:GetObject"], [bucket_arn_objects(&bucket.bucket)])
                .sid("CloudFrontReadsThroughOac")
                .service_principal("cloudfront.amazonaws.com")
                .condition("StringEquals", "AWS:SourceArn", distribution_arn),
        );
        Ok(Self { bucket, distribution, origin_access_control: oac, security_headers })
    }

    /// `https://<distribution domain>`.
    pub fn url(&self) -> Expr<String> {
        fns::sub("https://${Domain}", [("Domain", self.distribution.domain_name())])
    }
}

//! The frontend stack: the private site bucket behind CloudFront, and where the environment asks
//! for them, a WAF web ACL, a log bucket and the site's own domain (an ACM certificate, the
//! distribution's alias, and Route 53 records when the hosted zone is known). It references
//! nothing in the other stacks, so deploy runs it beside them.

use brain2_iac::aws::cloudfront::distribution::PriceClass;
use brain2_iac::aws::route53::record_set::AliasTarget;
use brain2_iac::aws::s3::bucket::LoggingConfiguration;
use brain2_iac::cfn::{App, Result, StackId, fns, pseudo};
use brain2_iac::config::{EnvironmentConfig, PriceClassConfig};
use brain2_iac::constructs::domain::{alias_records, dns_validated_certificate};
use brain2_iac::constructs::iam::{Statement, suppress};
use brain2_iac::constructs::static_site::{
    BucketProps, PrivateBucket, SiteDomain, StaticSite, StaticSiteProps, cloudfront_web_acl, content_security_policy,
};

/// The hosted zone id Route 53 alias records use for every CloudFront distribution.
const CLOUDFRONT_HOSTED_ZONE_ID: &str = "Z2FDTNDATAQYW2";

pub(super) fn build(app: &mut App, stack: StackId, config: &EnvironmentConfig) -> Result<StaticSite> {
    let removal_policy = config.data.removal_policy.policy();
    let web_acl = if config.frontend.waf {
        Some(cloudfront_web_acl(app, stack, "SiteWebAcl", config.frontend.waf_rate_limit)?.arn().into())
    } else {
        None
    };
    let log_bucket = if config.frontend.access_logs {
        let logs = PrivateBucket::new(
            app,
            stack,
            "AccessLogBucket",
            BucketProps {
                expiry_days: Some(config.log_retention_days),
                expiry_prefixes: Vec::new(),
                removal_policy,
                for_cloudfront_logs: true,
                ..BucketProps::default()
            },
        )?;
        suppress(
            app,
            &logs.bucket,
            "bucket-access-logs",
            "it is the log bucket: logging its own access into itself would log each log delivery, without end",
        );
        suppress(
            app,
            &logs.bucket,
            "bucket-versioning",
            "it holds access logs, written once and expired after logRetentionDays: versions would only keep expired logs longer",
        );
        Some(logs)
    } else {
        None
    };
    // CloudFront takes certificates from us-east-1, where the configuration check keeps this
    // stack when the site has a domain.
    let domain = match &config.frontend.domain {
        Some(domain) => {
            let certificate = dns_validated_certificate(
                app,
                stack,
                "SiteCertificate",
                &domain.name,
                domain.hosted_zone_id.as_deref(),
            )?;
            Some(SiteDomain { name: domain.name.clone(), certificate_arn: certificate.ref_().into() })
        }
        None => None,
    };
    let site = StaticSite::new(
        app,
        stack,
        "Site",
        StaticSiteProps {
            bucket: BucketProps {
                versioned: config.frontend.bucket_versioning,
                noncurrent_version_expiry_days: 30,
                removal_policy,
                ..BucketProps::default()
            },
            price_class: match config.frontend.price_class {
                PriceClassConfig::PriceClass100 => PriceClass::PriceClass100,
                PriceClassConfig::PriceClass200 => PriceClass::PriceClass200,
                PriceClassConfig::All => PriceClass::PriceClassAll,
            },
            web_acl_arn: web_acl,
            log_bucket: log_bucket.as_ref().map(|logs| logs.bucket.clone()),
            comment: format!("Brain2 {}", app.environment()),
            // The APIs live in the environment's region under generated ids; the sign-in is Supabase.
            content_security_policy: content_security_policy(&connect_sources(config)),
            domain,
        },
    )?;
    let url = match &config.frontend.domain {
        Some(domain) => {
            if let Some(zone) = &domain.hosted_zone_id {
                let target = AliasTarget::new(site.distribution.domain_name(), CLOUDFRONT_HOSTED_ZONE_ID);
                alias_records(app, stack, "SiteRecord", &domain.name, zone, &["A", "AAAA"], target)?;
            }
            brain2_iac::cfn::Value::from(domain.origin())
        }
        None => site.url().into(),
    };
    if let Some(mut logs) = log_bucket {
        // S3 server access logs of the site bucket go beside CloudFront's, under `s3/`, written
        // by S3's logging service for this bucket and account only.
        app.get_mut(&site.bucket.bucket).logging_configuration =
            Some(LoggingConfiguration::new().destination_bucket_name(logs.name()).log_file_prefix("s3/").into());
        logs.add_statement(
            app,
            Statement::allow(["s3:PutObject"], [fns::sub("${Logs}/s3/*", [("Logs", logs.bucket.arn())]).into()])
                .service_principal("logging.s3.amazonaws.com")
                .condition("ArnLike", "aws:SourceArn", site.bucket.bucket.arn())
                .condition("StringEquals", "aws:SourceAccount", pseudo::account_id()),
        );
    }
    app.add_output(stack, "SiteUrl", url, "https:// URL of the site", false)?;
    app.add_output(stack, "SiteBucketName", site.bucket.name(), "Bucket deploy uploads the site to", false)?;
    app.add_output(stack, "DistributionId", site.distribution.ref_(), "Distribution deploy invalidates", false)?;
    Ok(site)
}

/// Where the site's scripts may connect: the APIs (at their own domains, or under generated ids
/// in the environment's region) and the sign-in (Supabase).
fn connect_sources(config: &EnvironmentConfig) -> Vec<String> {
    let mut sources = vec![
        format!("https://*.execute-api.{}.amazonaws.com", config.region),
        format!("wss://*.execute-api.{}.amazonaws.com", config.region),
    ];
    if let Some(domain) = &config.api.domain {
        sources.push(format!("https://{}", domain.name));
    }
    if let Some(domain) = &config.api.web_socket_domain {
        sources.push(format!("wss://{}", domain.name));
    }
    sources.push(config.auth.supabase_url.clone());
    sources
}

//! The rules. Each reads the synthesized JSON only, so it checks what CloudFormation will see.

use serde_json::Value as JsonValue;

use super::{Rule, Scope, Template, Violation};

pub static RULES: &[Rule] = &[
    Rule {
        id: "stateful-retain",
        description: "Tables and buckets in staging and prod are retained on delete and on replacement",
        fix: "set the environment's data.removalPolicy to Retain (both DeletionPolicy and UpdateReplacePolicy)",
        scope: Scope::Only {
            environments: &["staging", "prod"],
            elsewhere: "dev's tables and buckets hold throwaway data, so destroy removes them with the stack",
        },
        checkov: &[],
        check: stateful_retain,
    },
    Rule {
        id: "table-encryption",
        description: "DynamoDB tables are encrypted with a KMS key",
        fix: "enable SSESpecification.SSEEnabled (TableProps encryption)",
        scope: Scope::Everywhere,
        checkov: &[],
        check: table_encryption,
    },
    Rule {
        id: "prod-table-protection",
        description: "Prod tables have point-in-time recovery and deletion protection",
        fix: "set data.pointInTimeRecovery and data.tableDeletionProtection to true in environments/prod.json",
        scope: Scope::Only {
            environments: &["prod"],
            elsewhere: "dev and staging tables hold test data that is recreated, so deletion protection would only stand in the way of destroy (data.tableDeletionProtection)",
        },
        checkov: &[],
        check: prod_table_protection,
    },
    Rule {
        id: "table-point-in-time-recovery",
        description: "Tables in staging and prod have point-in-time recovery",
        fix: "set data.pointInTimeRecovery to true for the environment",
        scope: Scope::Only {
            environments: &["staging", "prod"],
            elsewhere: "dev's tables hold throwaway data, so they go without point-in-time recovery backups (data.pointInTimeRecovery)",
        },
        checkov: &[("AWS::DynamoDB::Table", "CKV_AWS_28")],
        check: table_point_in_time_recovery,
    },
    Rule {
        id: "bucket-public-access-block",
        description: "Buckets block public ACLs and policies, all four settings",
        fix: "set all four PublicAccessBlockConfiguration flags to true (PrivateBucket does)",
        scope: Scope::Everywhere,
        checkov: &[],
        check: bucket_public_access_block,
    },
    Rule {
        id: "bucket-encryption",
        description: "Buckets encrypt objects at rest",
        fix: "set BucketEncryption with a default server-side encryption rule",
        scope: Scope::Everywhere,
        checkov: &[],
        check: bucket_encryption,
    },
    Rule {
        id: "bucket-tls-only",
        description: "Bucket policies deny requests made without TLS",
        fix: "add a bucket policy statement denying s3:* when aws:SecureTransport is false (PrivateBucket does)",
        scope: Scope::Everywhere,
        checkov: &[],
        check: bucket_tls_only,
    },
    Rule {
        id: "cloudfront-https-only",
        description: "CloudFront redirects viewers to HTTPS or accepts HTTPS only",
        fix: "set ViewerProtocolPolicy to redirect-to-https or https-only on every cache behavior",
        scope: Scope::Everywhere,
        checkov: &[],
        check: cloudfront_https_only,
    },
    Rule {
        id: "cloudfront-domain-tls",
        description: "A CloudFront distribution with its own domain (Aliases) serves it under an ACM certificate with SNI and TLS 1.2 at least",
        fix: "give the distribution a ViewerCertificate with AcmCertificateArn (a us-east-1 certificate), SslSupportMethod sni-only and MinimumProtocolVersion TLSv1.2_2021",
        scope: Scope::Everywhere,
        checkov: &[],
        check: cloudfront_domain_tls,
    },
    Rule {
        id: "api-domain-tls",
        description: "An API Gateway domain name accepts TLS 1.2 at least",
        fix: "set SecurityPolicy TLS_1_2 on every DomainNameConfiguration",
        scope: Scope::Everywhere,
        checkov: &[],
        check: api_domain_tls,
    },
    Rule {
        id: "cloudfront-oac",
        description: "S3 origins use Origin Access Control, not a legacy origin access identity",
        fix: "set OriginAccessControlId on the origin and leave S3OriginConfig.OriginAccessIdentity empty",
        scope: Scope::Everywhere,
        checkov: &[],
        check: cloudfront_oac,
    },
    Rule {
        id: "cloudfront-waf-prod",
        description: "Prod distributions sit behind a WAF web ACL",
        fix: "set frontend.waf to true in environments/prod.json",
        scope: Scope::Only {
            environments: &["prod"],
            elsewhere: "only prod's distribution has a web ACL (frontend.waf): a web ACL costs $5 a month plus $1 per rule, and dev and staging serve testers, not the public",
        },
        checkov: &[("AWS::CloudFront::Distribution", "CKV_AWS_68")],
        check: cloudfront_waf_prod,
    },
    Rule {
        id: "api-stage-access-logs",
        description: "Every API Gateway stage writes access logs",
        fix: "set AccessLogSettings with a destination log group on the stage (the Api construct does)",
        scope: Scope::Everywhere,
        checkov: &[],
        check: api_stage_access_logs,
    },
    Rule {
        id: "log-retention",
        description: "Every log group has a retention period",
        fix: "set RetentionInDays on the log group",
        scope: Scope::Everywhere,
        checkov: &[],
        check: log_retention,
    },
    Rule {
        id: "iam-no-wildcard-action",
        description: "IAM policies allow named actions, never * or service:*",
        fix: "list the exact actions the principal needs",
        scope: Scope::Everywhere,
        checkov: &[],
        check: iam_no_wildcard_action,
    },
    Rule {
        id: "iam-no-wildcard-resource",
        description: "IAM policies allow actions on named resources, not *",
        fix: "scope the statement to resource ARNs; for actions AWS offers no resource-level permission for, suppress with the reason",
        scope: Scope::Everywhere,
        checkov: &[("AWS::IAM::Role", "CKV_AWS_111")],
        check: iam_no_wildcard_resource,
    },
    Rule {
        id: "iam-no-wildcard-principal",
        description: "Resource policies never allow any principal",
        fix: "name the service or account principal and scope it with aws:SourceArn",
        scope: Scope::Everywhere,
        checkov: &[],
        check: iam_no_wildcard_principal,
    },
    Rule {
        id: "lambda-async-failure-destination",
        description: "Functions invoked asynchronously keep failed events in an on-failure destination or dead-letter queue",
        fix: "give the function an EventInvokeConfig with DestinationConfig.OnFailure (AsyncFailure::OwnQueue)",
        scope: Scope::Everywhere,
        checkov: &[],
        check: lambda_async_failure_destination,
    },
    Rule {
        id: "api-route-authorizer",
        description: "Every API route except the health check (GET or ANY /health) has an authorizer (WebSocket: $connect)",
        fix: "pass the authorizer to add_route, or make the route GET /health or ANY /health",
        scope: Scope::Everywhere,
        checkov: &[],
        check: api_route_authorizer,
    },
    Rule {
        id: "alarm-topic-customer-key",
        description: "No alarm action targets an SNS topic under an AWS-managed key (CloudWatch cannot use alias/aws/sns, so the alarm's messages are dropped)",
        fix: "encrypt the topic with a customer-managed KMS key whose policy lets cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey*",
        scope: Scope::Everywhere,
        checkov: &[],
        check: alarm_topic_customer_key,
    },
    Rule {
        id: "vpc-reachability",
        description: "Every AWS service and URL a VPC-attached function is granted or configured to call is reachable from its subnets",
        fix: "add a VPC endpoint for the service or a NAT gateway (at its cost), or run the function outside the VPC",
        scope: Scope::Everywhere,
        checkov: &[],
        check: vpc_reachability,
    },
    Rule {
        id: "lambda-no-secret-env",
        description: "Lambda environment variables hold no secret values",
        fix: "put the secret in Secrets Manager and pass its ARN (e.g. JWT_SECRET_ARN) instead",
        scope: Scope::Everywhere,
        checkov: &[],
        check: lambda_no_secret_env,
    },
    Rule {
        id: "customer-managed-keys",
        description: "Prod encrypts its tables, log groups, function environment variables and queues under customer-managed KMS keys",
        fix: "set encryption.customerManagedKeys to true in environments/prod.json (the constructs take the key)",
        scope: Scope::Only {
            environments: &["prod"],
            elsewhere: "dev and staging keep encryption at rest under AWS-managed and AWS-owned keys (encryption.customerManagedKeys is off): they hold test data, and each customer-managed key costs $1 a month",
        },
        checkov: &[
            ("AWS::DynamoDB::Table", "CKV_AWS_119"),
            ("AWS::Logs::LogGroup", "CKV_AWS_158"),
            ("AWS::Lambda::Function", "CKV_AWS_173"),
            ("AWS::SQS::Queue", "CKV_AWS_27"),
        ],
        check: customer_managed_keys,
    },
    Rule {
        id: "lambda-reserved-concurrency",
        description: "Prod functions reserve their concurrency, so one flooded function cannot starve the others",
        fix: "set lambda.functions.<function>.reservedConcurrency in environments/prod.json",
        scope: Scope::Only {
            environments: &["prod"],
            elsewhere: "dev and staging functions draw on the account's unreserved concurrency: AWS keeps at least 100 of it unreserved and a new account may have only 10, so reservations there would fail the first deploy",
        },
        checkov: &[("AWS::Lambda::Function", "CKV_AWS_115")],
        check: lambda_reserved_concurrency,
    },
    Rule {
        id: "lambda-dead-letter-queue",
        description: "Every function has a dead-letter queue, or says why not (its failed asynchronous events go to an on-failure destination, or nothing invokes it asynchronously)",
        fix: "give the function AsyncFailure::OwnQueue, or AsyncFailure::SynchronousOnly when only API Gateway invokes it; RustFunction records the reason",
        scope: Scope::Everywhere,
        checkov: &[("AWS::Lambda::Function", "CKV_AWS_116")],
        check: lambda_dead_letter_queue,
    },
    Rule {
        id: "lambda-in-vpc",
        description: "Prod functions run in the VPC, or say why not",
        fix: "attach the function to the environment's VPC (Network::Vpc in compute.rs), or keep it outside with the reason (a public endpoint no VPC endpoint serves)",
        scope: Scope::Only {
            environments: &["prod"],
            elsewhere: "dev and staging have no VPC (network.vpc is off): their functions call DynamoDB, EventBridge and API Gateway over AWS's public endpoints with TLS and IAM, as prod's public functions do, and interface endpoints cost about $7 a month each per zone",
        },
        checkov: &[("AWS::Lambda::Function", "CKV_AWS_117")],
        check: lambda_in_vpc,
    },
    Rule {
        id: "bucket-access-logs",
        description: "Buckets in staging and prod write S3 server access logs",
        fix: "set frontend.accessLogs to true, which logs the site bucket into the log bucket",
        scope: Scope::Only {
            environments: &["staging", "prod"],
            elsewhere: "dev writes no access logs (frontend.accessLogs is off): its site is read by the developer who deployed it",
        },
        checkov: &[("AWS::S3::Bucket", "CKV_AWS_18")],
        check: bucket_access_logs,
    },
    Rule {
        id: "bucket-versioning",
        description: "Prod buckets keep object versions, so an overwrite or delete can be undone",
        fix: "set frontend.bucketVersioning to true in environments/prod.json",
        scope: Scope::Only {
            environments: &["prod"],
            elsewhere: "dev and staging sites are rebuilt from git by every deploy, so an old object version has nothing to restore (frontend.bucketVersioning)",
        },
        checkov: &[("AWS::S3::Bucket", "CKV_AWS_21")],
        check: bucket_versioning,
    },
    Rule {
        id: "cloudfront-access-logs",
        description: "Distributions in staging and prod write access logs",
        fix: "set frontend.accessLogs to true",
        scope: Scope::Only {
            environments: &["staging", "prod"],
            elsewhere: "dev writes no access logs (frontend.accessLogs is off): its site is read by the developer who deployed it",
        },
        checkov: &[("AWS::CloudFront::Distribution", "CKV_AWS_86")],
        check: cloudfront_access_logs,
    },
    Rule {
        id: "cloudfront-custom-domain",
        description: "The prod site is served on its own domain, under an ACM certificate that requires TLS 1.2 (CloudFront's default certificate allows TLSv1)",
        fix: "set frontend.domain in environments/prod.json",
        scope: Scope::Only {
            environments: &["prod"],
            elsewhere: "dev and staging are served on their *.cloudfront.net name, under CloudFront's default certificate, whose minimum protocol (TLSv1) cannot be raised; set frontend.domain for TLS 1.2",
        },
        checkov: &[("AWS::CloudFront::Distribution", "CKV_AWS_174")],
        check: cloudfront_custom_domain,
    },
];

fn violation(out: &mut Vec<Violation>, resource: &str, message: impl Into<String>) {
    out.push(Violation { resource: resource.to_owned(), statement: None, message: message.into() });
}

fn stateful_retain(t: &Template<'_>, out: &mut Vec<Violation>) {
    for type_name in ["AWS::DynamoDB::Table", "AWS::S3::Bucket"] {
        for (id, resource) in t.resources(type_name) {
            for attribute in ["DeletionPolicy", "UpdateReplacePolicy"] {
                if resource[attribute] != "Retain" {
                    let actual = resource[attribute].as_str().unwrap_or("unset (Delete)");
                    violation(out, id, format!("{type_name} has {attribute} {actual} in {}", t.environment));
                }
            }
        }
    }
}

fn table_encryption(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, table) in t.resources("AWS::DynamoDB::Table") {
        if table["Properties"]["SSESpecification"]["SSEEnabled"] != true {
            violation(out, id, "SSESpecification.SSEEnabled is not true");
        }
    }
}

fn prod_table_protection(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, table) in t.resources("AWS::DynamoDB::Table") {
        let properties = &table["Properties"];
        if properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] != true {
            violation(out, id, "point-in-time recovery is off");
        }
        if properties["DeletionProtectionEnabled"] != true {
            violation(out, id, "deletion protection is off");
        }
    }
}

fn table_point_in_time_recovery(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, table) in t.resources("AWS::DynamoDB::Table") {
        if table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] != true {
            violation(out, id, "point-in-time recovery is off");
        }
    }
}

fn bucket_public_access_block(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, bucket) in t.resources("AWS::S3::Bucket") {
        let block = &bucket["Properties"]["PublicAccessBlockConfiguration"];
        for flag in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
            if block[flag] != true {
                violation(out, id, format!("PublicAccessBlockConfiguration.{flag} is not true"));
            }
        }
    }
}

fn bucket_encryption(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, bucket) in t.resources("AWS::S3::Bucket") {
        let rules = &bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"];
        if rules.as_array().is_none_or(|r| r.is_empty()) {
            violation(out, id, "no BucketEncryption rule");
        }
    }
}

fn statements(document: &JsonValue) -> Vec<&JsonValue> {
    match &document["Statement"] {
        JsonValue::Array(items) => items.iter().collect(),
        JsonValue::Object(_) => vec![&document["Statement"]],
        _ => Vec::new(),
    }
}

fn as_list(value: &JsonValue) -> Vec<&JsonValue> {
    match value {
        JsonValue::Array(items) => items.iter().collect(),
        JsonValue::Null => Vec::new(),
        other => vec![other],
    }
}

fn refers_to(value: &JsonValue, logical_id: &str) -> bool {
    value["Ref"] == logical_id
}

fn bucket_tls_only(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, _) in t.resources("AWS::S3::Bucket") {
        let denies_plain_http = t.resources("AWS::S3::BucketPolicy").any(|(_, policy)| {
            refers_to(&policy["Properties"]["Bucket"], id)
                && statements(&policy["Properties"]["PolicyDocument"]).iter().any(|s| {
                    s["Effect"] == "Deny"
                        && matches!(&s["Condition"]["Bool"]["aws:SecureTransport"], JsonValue::String(v) if v == "false")
                })
        });
        if !denies_plain_http {
            violation(out, id, "no bucket policy denies requests without TLS");
        }
    }
}

fn distribution_config(resource: &JsonValue) -> &JsonValue {
    &resource["Properties"]["DistributionConfig"]
}

fn cloudfront_https_only(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, distribution) in t.resources("AWS::CloudFront::Distribution") {
        let config = distribution_config(distribution);
        let behaviors = std::iter::once(&config["DefaultCacheBehavior"]).chain(as_list(&config["CacheBehaviors"]));
        for behavior in behaviors {
            let policy = behavior["ViewerProtocolPolicy"].as_str().unwrap_or("unset");
            if !matches!(policy, "redirect-to-https" | "https-only") {
                violation(out, id, format!("a cache behavior has ViewerProtocolPolicy {policy}"));
            }
        }
    }
}

fn cloudfront_domain_tls(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, distribution) in t.resources("AWS::CloudFront::Distribution") {
        let config = distribution_config(distribution);
        if as_list(&config["Aliases"]).is_empty() {
            continue;
        }
        let certificate = &config["ViewerCertificate"];
        if certificate.get("AcmCertificateArn").is_none() {
            violation(out, id, "it has Aliases but no ACM certificate (AcmCertificateArn)");
        }
        if certificate["SslSupportMethod"] != "sni-only" {
            violation(out, id, format!("SslSupportMethod is {}, not sni-only", certificate["SslSupportMethod"]));
        }
        let version = certificate["MinimumProtocolVersion"].as_str().unwrap_or("unset");
        if !version.starts_with("TLSv1.2_") && !version.starts_with("TLSv1.3") {
            violation(out, id, format!("MinimumProtocolVersion is {version}, below TLS 1.2"));
        }
    }
}

fn api_domain_tls(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, domain) in t.resources("AWS::ApiGatewayV2::DomainName") {
        let configurations = as_list(&domain["Properties"]["DomainNameConfigurations"]);
        if configurations.is_empty() {
            violation(out, id, "it has no DomainNameConfigurations, so no security policy");
        }
        for configuration in configurations {
            let policy = configuration["SecurityPolicy"].as_str().unwrap_or("unset");
            if policy != "TLS_1_2" {
                violation(out, id, format!("SecurityPolicy is {policy}, not TLS_1_2"));
            }
        }
    }
}

fn cloudfront_oac(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, distribution) in t.resources("AWS::CloudFront::Distribution") {
        for origin in as_list(&distribution_config(distribution)["Origins"]) {
            let Some(s3) = origin.get("S3OriginConfig") else { continue };
            let name = origin["Id"].as_str().unwrap_or("?");
            if origin.get("OriginAccessControlId").is_none() {
                violation(out, id, format!("S3 origin {name} has no OriginAccessControlId"));
            }
            if s3["OriginAccessIdentity"].as_str().is_some_and(|oai| !oai.is_empty()) {
                violation(out, id, format!("S3 origin {name} uses a legacy origin access identity"));
            }
        }
    }
}

fn cloudfront_waf_prod(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, distribution) in t.resources("AWS::CloudFront::Distribution") {
        if distribution_config(distribution).get("WebACLId").is_none() {
            violation(out, id, "no web ACL");
        }
    }
}

fn alarm_topic_customer_key(t: &Template<'_>, out: &mut Vec<Violation>) {
    let topics: Vec<(&str, &JsonValue)> = t.resources("AWS::SNS::Topic").collect();
    for (id, alarm) in t.resources("AWS::CloudWatch::Alarm") {
        for list in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
            for action in as_list(&alarm["Properties"][list]) {
                for (topic_id, topic) in &topics {
                    let key = &topic["Properties"]["KmsMasterKeyId"];
                    let aws_managed = key.as_str().is_some_and(|k| k.contains("alias/aws/"));
                    if refers_to(action, topic_id) && aws_managed {
                        violation(
                            out,
                            id,
                            format!(
                                "{list} publishes to {topic_id}, which is encrypted with the AWS-managed key {key}"
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Actions the Lambda service itself performs with a function's role (writing its logs,
/// managing its network interfaces, traces), not calls made from the function's subnets. KMS
/// too: DynamoDB, SQS and Lambda use a customer-managed key on the role's behalf, and no
/// function calls KMS itself (none links aws-sdk-kms).
const SERVICE_SIDE_PREFIXES: &[&str] = &["logs", "ec2", "xray", "kms"];

/// The service of a VPC endpoint's `ServiceName` (`com.amazonaws.<region>.<service>`, as text or
/// in `Fn::Sub`).
fn endpoint_service(name: &JsonValue) -> Option<&str> {
    let text = name.as_str().or_else(|| name["Fn::Sub"].as_str()).or_else(|| name["Fn::Sub"][0].as_str())?;
    text.rsplit('.').next()
}

fn vpc_reachability(t: &Template<'_>, out: &mut Vec<Violation>) {
    let nat = t.resources("AWS::EC2::NatGateway").next().is_some();
    let endpoints: Vec<(&str, bool)> = t
        .resources("AWS::EC2::VPCEndpoint")
        .filter_map(|(_, e)| {
            let properties = &e["Properties"];
            Some((endpoint_service(&properties["ServiceName"])?, properties["PrivateDnsEnabled"] == true))
        })
        .collect();
    // Interface endpoints for execute-api serve private APIs only, and with private DNS they
    // answer for every API's public hostname too: public APIs then become unreachable.
    let execute_api_shadowed = endpoints.iter().any(|(service, private_dns)| *service == "execute-api" && *private_dns);
    let reachable = |service: &str| match service {
        "execute-api" => nat && !execute_api_shadowed,
        _ => nat || endpoints.iter().any(|(s, _)| *s == service),
    };
    let policies = identity_policies(t);
    for (id, function) in t.resources("AWS::Lambda::Function") {
        let properties = &function["Properties"];
        if properties["VpcConfig"].is_null() {
            continue;
        }
        let role = properties["Role"]["Fn::GetAtt"][0].as_str().unwrap_or_default();
        let mut services = std::collections::BTreeSet::new();
        for (owner, document) in &policies {
            let attached = *owner == role
                || t.json["Resources"][*owner]["Properties"]["Roles"]
                    .as_array()
                    .is_some_and(|roles| roles.iter().any(|r| refers_to(r, role)));
            if !attached {
                continue;
            }
            let made_from_subnets = |s: &&JsonValue| {
                s["Effect"] == "Allow" && s["Sid"] != crate::constructs::function::FAILURE_DESTINATION_SID
            };
            for statement in statements(document).into_iter().filter(made_from_subnets) {
                for action in as_list(&statement["Action"]).into_iter().filter_map(JsonValue::as_str) {
                    if let Some((prefix, _)) = action.split_once(':')
                        && !SERVICE_SIDE_PREFIXES.contains(&prefix)
                    {
                        services.insert(prefix.to_owned());
                    }
                }
            }
        }
        for service in services.iter().filter(|s| !reachable(s)) {
            let why = match service.as_str() {
                "execute-api" if execute_api_shadowed => "an execute-api endpoint with private DNS hides public APIs",
                _ if nat => "no VPC endpoint",
                _ => "no VPC endpoint and no NAT gateway",
            };
            violation(
                out,
                id,
                format!("it is granted {service} actions but cannot reach {service} from its subnets ({why})"),
            );
        }
        if !nat {
            for variable in as_list(&function["Metadata"][crate::constructs::function::CALLS_METADATA]) {
                let variable = variable.as_str().unwrap_or_default();
                violation(
                    out,
                    id,
                    format!("it calls the URL in {variable}, but its subnets have no NAT gateway to the internet"),
                );
            }
        }
    }
}

fn api_stage_access_logs(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, stage) in t.resources("AWS::ApiGatewayV2::Stage") {
        if stage["Properties"]["AccessLogSettings"].get("DestinationArn").is_none() {
            violation(out, id, "the stage writes no access logs");
        }
    }
}

fn log_retention(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, group) in t.resources("AWS::Logs::LogGroup") {
        if group["Properties"].get("RetentionInDays").is_none() {
            violation(out, id, "logs are kept forever");
        }
    }
}

/// `(logical id, policy document)` of every identity policy: inline role policies and
/// `AWS::IAM::Policy`.
fn identity_policies<'a>(t: &'a Template<'_>) -> Vec<(&'a str, &'a JsonValue)> {
    let mut out = Vec::new();
    for (id, role) in t.resources("AWS::IAM::Role") {
        for policy in as_list(&role["Properties"]["Policies"]) {
            out.push((id, &policy["PolicyDocument"]));
        }
    }
    for (id, policy) in t.resources("AWS::IAM::Policy") {
        out.push((id, &policy["Properties"]["PolicyDocument"]));
    }
    out
}

fn iam_no_wildcard_action(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, document) in identity_policies(t) {
        for statement in statements(document).into_iter().filter(|s| s["Effect"] == "Allow") {
            for action in as_list(&statement["Action"]).into_iter().filter_map(JsonValue::as_str) {
                if action == "*" || action.ends_with(":*") {
                    violation(out, id, format!("allows {action}"));
                }
            }
        }
    }
}

fn iam_no_wildcard_resource(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, document) in identity_policies(t) {
        for (index, statement) in statements(document).into_iter().enumerate() {
            if statement["Effect"] != "Allow" {
                continue;
            }
            if as_list(&statement["Resource"]).iter().any(|r| *r == "*") {
                let actions: Vec<&str> =
                    as_list(&statement["Action"]).into_iter().filter_map(JsonValue::as_str).collect();
                // Only a statement with a Sid can be suppressed (by naming it); one without
                // gets a name no suppression uses.
                let statement_name = match statement["Sid"].as_str() {
                    Some(sid) => sid.to_owned(),
                    None => format!("#{index} (no Sid)"),
                };
                out.push(Violation {
                    resource: id.to_owned(),
                    message: format!("statement {statement_name} allows {} on any resource (*)", actions.join(", ")),
                    statement: Some(statement_name),
                });
            }
        }
    }
}

fn iam_no_wildcard_principal(t: &Template<'_>, out: &mut Vec<Violation>) {
    let resource_policies = [
        ("AWS::S3::BucketPolicy", "PolicyDocument"),
        ("AWS::SQS::QueuePolicy", "PolicyDocument"),
        ("AWS::SNS::TopicPolicy", "PolicyDocument"),
    ];
    for (type_name, property) in resource_policies {
        for (id, policy) in t.resources(type_name) {
            for statement in statements(&policy["Properties"][property]).into_iter().filter(|s| s["Effect"] == "Allow")
            {
                let principal = &statement["Principal"];
                let anyone = *principal == "*" || as_list(&principal["AWS"]).iter().any(|p| **p == "*");
                if anyone {
                    violation(out, id, "allows any principal (*)");
                }
            }
        }
    }
}

/// The function a `FunctionName` value points at: `Ref` to the function or to one of its
/// aliases or versions, or `Fn::GetAtt` of its ARN.
fn function_behind<'a>(t: &'a Template<'_>, value: &'a JsonValue) -> Option<&'a str> {
    let target = value["Ref"].as_str().or_else(|| value["Fn::GetAtt"][0].as_str())?;
    let resource = t.resource(target)?;
    match resource["Type"].as_str()? {
        "AWS::Lambda::Function" => Some(target),
        "AWS::Lambda::Alias" | "AWS::Lambda::Version" => resource["Properties"]["FunctionName"]["Ref"].as_str(),
        _ => None,
    }
}

const ASYNC_PRINCIPALS: &[&str] = &["events.amazonaws.com", "sns.amazonaws.com", "s3.amazonaws.com"];

fn lambda_async_failure_destination(t: &Template<'_>, out: &mut Vec<Violation>) {
    let mut invoked_async = std::collections::BTreeSet::new();
    for (_, permission) in t.resources("AWS::Lambda::Permission") {
        let principal = permission["Properties"]["Principal"].as_str().unwrap_or_default();
        if ASYNC_PRINCIPALS.contains(&principal)
            && let Some(function) = function_behind(t, &permission["Properties"]["FunctionName"])
        {
            invoked_async.insert(function.to_owned());
        }
    }
    for function in invoked_async {
        let has_dead_letter_queue =
            t.resource(&function).is_some_and(|f| f["Properties"]["DeadLetterConfig"].get("TargetArn").is_some());
        let has_destination = t.resources("AWS::Lambda::EventInvokeConfig").any(|(_, config)| {
            function_behind(t, &config["Properties"]["FunctionName"]) == Some(function.as_str())
                && config["Properties"]["DestinationConfig"]["OnFailure"].get("Destination").is_some()
        });
        if !has_dead_letter_queue && !has_destination {
            violation(out, &function, "is invoked asynchronously but failed events go nowhere");
        }
    }
}

fn api_route_authorizer(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, route) in t.resources("AWS::ApiGatewayV2::Route") {
        let properties = &route["Properties"];
        let key = properties["RouteKey"].as_str().unwrap_or_default();
        let websocket = properties["ApiId"]["Ref"]
            .as_str()
            .and_then(|api| t.resource(api))
            .is_some_and(|api| api["Properties"]["ProtocolType"] == "WEBSOCKET");
        // WebSocket APIs authorize once, on $connect; their other routes cannot carry one.
        // The health check is public; ANY lets the backend answer other methods with 405.
        let needs_authorizer =
            if websocket { key == "$connect" } else { !matches!(key, "GET /health" | "ANY /health") };
        let authorized = matches!(properties["AuthorizationType"].as_str(), Some("CUSTOM" | "JWT" | "AWS_IAM"));
        if needs_authorizer && !authorized {
            violation(out, id, format!("route {key:?} has no authorizer"));
        }
    }
}

const SECRET_NAME_PARTS: &[&str] = &["SECRET", "PASSWORD", "PASSWD", "TOKEN", "PRIVATE_KEY", "API_KEY", "CREDENTIAL"];

fn looks_secret(value: &str) -> bool {
    let jwt = value.starts_with("eyJ") && value.matches('.').count() == 2;
    let access_key = value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let opaque = value.len() >= 32
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c))
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_ascii_alphabetic());
    jwt || access_key || opaque
}

fn lambda_no_secret_env(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, function) in t.resources("AWS::Lambda::Function") {
        let Some(variables) = function["Properties"]["Environment"]["Variables"].as_object() else { continue };
        for (name, value) in variables {
            let Some(literal) = value.as_str() else { continue };
            let upper = name.to_ascii_uppercase();
            let named_secret = SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
                && !upper.ends_with("_ARN")
                && !literal.starts_with("arn:");
            if named_secret || looks_secret(literal) {
                violation(out, id, format!("environment variable {name} looks like it holds a secret"));
            }
        }
    }
}

/// A customer-managed key is named by ARN, key id or alias other than `alias/aws/…`.
fn customer_managed(key: &JsonValue) -> bool {
    match key {
        JsonValue::Null => false,
        JsonValue::String(key) => !key.contains("alias/aws/"),
        _ => true,
    }
}

fn customer_managed_keys(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, table) in t.resources("AWS::DynamoDB::Table") {
        if !customer_managed(&table["Properties"]["SSESpecification"]["KMSMasterKeyId"]) {
            violation(out, id, "the table is not under a customer-managed key (SSESpecification.KMSMasterKeyId)");
        }
    }
    for (id, group) in t.resources("AWS::Logs::LogGroup") {
        if !customer_managed(&group["Properties"]["KmsKeyId"]) {
            violation(out, id, "the log group has no KmsKeyId");
        }
    }
    for (id, function) in t.resources("AWS::Lambda::Function") {
        let has_variables =
            function["Properties"]["Environment"]["Variables"].as_object().is_some_and(|v| !v.is_empty());
        if has_variables && !customer_managed(&function["Properties"]["KmsKeyArn"]) {
            violation(out, id, "its environment variables are not under a customer-managed key (KmsKeyArn)");
        }
    }
    for (id, queue) in t.resources("AWS::SQS::Queue") {
        if !customer_managed(&queue["Properties"]["KmsMasterKeyId"]) {
            violation(out, id, "the queue is not under a customer-managed key (KmsMasterKeyId)");
        }
    }
}

fn lambda_reserved_concurrency(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, function) in t.resources("AWS::Lambda::Function") {
        if function["Properties"].get("ReservedConcurrentExecutions").is_none() {
            violation(out, id, "no ReservedConcurrentExecutions");
        }
    }
}

fn lambda_dead_letter_queue(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, function) in t.resources("AWS::Lambda::Function") {
        if function["Properties"]["DeadLetterConfig"].get("TargetArn").is_none() {
            violation(out, id, "no DeadLetterConfig");
        }
    }
}

fn lambda_in_vpc(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, function) in t.resources("AWS::Lambda::Function") {
        if as_list(&function["Properties"]["VpcConfig"]["SubnetIds"]).is_empty() {
            violation(out, id, "runs outside the VPC");
        }
    }
}

fn bucket_access_logs(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, bucket) in t.resources("AWS::S3::Bucket") {
        if bucket["Properties"]["LoggingConfiguration"].get("DestinationBucketName").is_none() {
            violation(out, id, "no LoggingConfiguration");
        }
    }
}

fn bucket_versioning(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, bucket) in t.resources("AWS::S3::Bucket") {
        if bucket["Properties"]["VersioningConfiguration"]["Status"] != "Enabled" {
            violation(out, id, "versioning is not enabled");
        }
    }
}

fn cloudfront_access_logs(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, distribution) in t.resources("AWS::CloudFront::Distribution") {
        if distribution_config(distribution)["Logging"].get("Bucket").is_none() {
            violation(out, id, "no Logging");
        }
    }
}

fn cloudfront_custom_domain(t: &Template<'_>, out: &mut Vec<Violation>) {
    for (id, distribution) in t.resources("AWS::CloudFront::Distribution") {
        let config = distribution_config(distribution);
        if as_list(&config["Aliases"]).is_empty() || config["ViewerCertificate"].get("AcmCertificateArn").is_none() {
            violation(out, id, "serves only its *.cloudfront.net name, under CloudFront's default certificate");
        }
    }
}

//! The toolkit stacks `cargo xtask bootstrap` creates before the first deploy:
//!
//! - `brain2-<env>-toolkit`, once per environment: the assets bucket deploy uploads function
//!   zips, large templates and release records to;
//! - `brain2-region-toolkit`, once per account and region, shared by every environment there:
//!   what AWS keeps once per region. That is API Gateway's account setting, the IAM role it
//!   writes CloudWatch logs with, without which the WebSocket stage's access logs fail.

use brain2_iac::aws::apigateway::account::Account;
use brain2_iac::cfn::{App, RemovalPolicy, Result, fns};
use brain2_iac::constructs::iam::{Statement, service_role, suppress};
use brain2_iac::constructs::{BucketProps, PrivateBucket, TaggedExpiry};

use crate::APP_NAME;

/// The toolkit stack's short name.
pub const TOOLKIT_STACK: &str = "toolkit";

/// The output holding the assets bucket's name.
pub const ASSETS_BUCKET_OUTPUT: &str = "AssetsBucketName";

/// Key prefixes in the assets bucket. Zips and templates are content-addressed and can be
/// uploaded again at any time; release records are the rollback history and stay.
pub const FUNCTIONS_PREFIX: &str = "functions/";
pub const TEMPLATES_PREFIX: &str = "templates/";
pub const RELEASES_PREFIX: &str = "releases/";
/// What `deploy --hotswap` (and `cargo xtask dev`'s edits) put live outside CloudFormation, one
/// record per stack (`hotswaps/<env>/<stack>.json`), so the next deploy neither undoes it nor
/// publishes a version twice. Never expires.
pub const HOTSWAPS_PREFIX: &str = "hotswaps/";

/// Days before a template nobody re-uploaded expires (CloudFormation keeps the templates it
/// deployed; the upload only carries a large one to it), and before a retired zip does. Deploy
/// checks for each object before using it, so an expired one is simply uploaded again.
pub const ASSET_EXPIRY_DAYS: i64 = 90;

/// The tag deploy puts on a zip that no live release (the latest or the one before it)
/// references, with the value [`RETIRED`]; only such zips expire. A zip a live release uses is
/// never tagged, so CloudFormation can always roll back to it, however old it is.
pub const RELEASE_STATE_TAG: &str = "brain2-release-state";
pub const RETIRED: &str = "retired";

/// The toolkit app of one environment: one stack, one private, encrypted, TLS-only bucket.
pub fn toolkit_app(environment: &str) -> Result<App> {
    let mut app = App::new(APP_NAME, environment)?;
    let stack =
        app.add_stack(TOOLKIT_STACK, &format!("Brain2 {environment}: deploy assets (cargo xtask bootstrap)"))?;
    app.add_stack_tag(stack, "app", APP_NAME);
    app.add_stack_tag(stack, "environment", environment);
    let assets = PrivateBucket::new(
        &mut app,
        stack,
        "AssetsBucket",
        BucketProps {
            expiry_days: Some(ASSET_EXPIRY_DAYS),
            expiry_prefixes: vec![TEMPLATES_PREFIX.to_owned()],
            tagged_expiries: vec![TaggedExpiry {
                prefix: FUNCTIONS_PREFIX.to_owned(),
                key: RELEASE_STATE_TAG.to_owned(),
                value: RETIRED.to_owned(),
                days: ASSET_EXPIRY_DAYS,
            }],
            // Emptied and deleted by hand only: it holds the release history rollback reads.
            removal_policy: RemovalPolicy::Retain,
            ..BucketProps::default()
        },
    )?;
    suppress(
        &mut app,
        &assets.bucket,
        "bucket-access-logs",
        "only deploys write and read it, and CloudTrail records each deploy's calls; a log bucket for it would log the deploy tool's own uploads",
    );
    suppress(
        &mut app,
        &assets.bucket,
        "bucket-versioning",
        "zips and templates are named by their sha256 and release records are written once each, so an overwrite puts back the same bytes",
    );
    app.add_output(
        stack,
        ASSETS_BUCKET_OUTPUT,
        assets.name(),
        "Bucket for function zips, templates and releases",
        false,
    )?;
    Ok(app)
}

/// The region toolkit's "environment" part of its name: `brain2-region-toolkit`. Environment
/// files are named dev, staging and prod, so no environment takes it.
pub const REGION_SCOPE: &str = "region";

/// The region toolkit app: API Gateway's CloudWatch role and the account setting naming it
/// (`AWS::ApiGateway::Account`, one per account and region).
pub fn region_toolkit_app() -> Result<App> {
    let mut app = App::new(APP_NAME, REGION_SCOPE)?;
    let stack = app.add_stack(
        TOOLKIT_STACK,
        "Brain2: what each account and region holds once, for every environment (cargo xtask bootstrap)",
    )?;
    app.add_stack_tag(stack, "app", APP_NAME);
    // What API Gateway does with the role: create the execution log groups it names itself
    // (API-Gateway-Execution-Logs_<api>/<stage>) and write to those and to the stages' access
    // log groups. AWS's managed AmazonAPIGatewayPushToCloudWatchLogs grants the same on `*`,
    // plus reads API Gateway never makes.
    let log_groups =
        fns::sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*", [] as [(&str, &str); 0]);
    let role = app.add(
        stack,
        "ApiGatewayCloudWatchRole",
        service_role(
            "apigateway.amazonaws.com",
            vec![Statement::allow(
                [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogGroups",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                [log_groups.into()],
            )],
        )
        .description(
            "API Gateway writes execution and access logs to CloudWatch with this role (brain2 region toolkit)",
        ),
    )?;
    // Kept when the stack goes: the account setting still names the role, and every other API
    // in the region that logs would lose it.
    app.attributes_mut(&role).set_removal_policy(RemovalPolicy::Retain);
    let account = app.add(stack, "ApiGatewayAccount", Account::new().cloud_watch_role_arn(role.arn()))?;
    app.attributes_mut(&account).set_removal_policy(RemovalPolicy::Retain);
    Ok(app)
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn the_toolkit_bucket_is_private_encrypted_tls_only_and_expires_only_retired_zips_and_templates() {
        let synthesized = toolkit_app("dev").unwrap().synth().unwrap();
        let stack = synthesized.stack("toolkit").unwrap();
        assert_eq!(stack.name, "brain2-dev-toolkit");
        let template: serde_json::Value = serde_json::from_str(&stack.template).unwrap();
        let bucket = &template["Resources"]["AssetsBucket"];
        assert_eq!(bucket["DeletionPolicy"], "Retain");
        let properties = &bucket["Properties"];
        assert!(properties["BucketEncryption"].is_object());
        assert_eq!(properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"], true);
        let rules = properties["LifecycleConfiguration"]["Rules"].as_array().unwrap();
        let prefixes: Vec<&str> = rules.iter().map(|r| r["Prefix"].as_str().unwrap()).collect();
        assert_eq!(prefixes, [TEMPLATES_PREFIX, FUNCTIONS_PREFIX]);
        // Zips expire only once deploy has tagged them retired; release records never.
        assert_eq!(rules[1]["TagFilters"], serde_json::json!([{ "Key": RELEASE_STATE_TAG, "Value": RETIRED }]));
        assert!(rules[0].get("TagFilters").is_none());
        let policy = template["Resources"]["AssetsBucketPolicy"]["Properties"]["PolicyDocument"].to_string();
        assert!(policy.contains("aws:SecureTransport"));
        assert!(template["Outputs"][ASSETS_BUCKET_OUTPUT].is_object());
    }

    #[test]
    fn the_region_toolkit_sets_api_gateway_s_cloudwatch_role_and_keeps_it() {
        let synthesized = region_toolkit_app().unwrap().synth().unwrap();
        let stack = synthesized.stack("toolkit").unwrap();
        assert_eq!(stack.name, "brain2-region-toolkit");
        let template: serde_json::Value = serde_json::from_str(&stack.template).unwrap();
        let account = &template["Resources"]["ApiGatewayAccount"];
        assert_eq!(account["Type"], "AWS::ApiGateway::Account");
        assert_eq!(account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0], "ApiGatewayCloudWatchRole");
        let role = &template["Resources"]["ApiGatewayCloudWatchRole"];
        assert_eq!(role["DeletionPolicy"], "Retain");
        let trust = role["Properties"]["AssumeRolePolicyDocument"].to_string();
        assert!(trust.contains("apigateway.amazonaws.com"));
        let policy = role["Properties"]["Policies"].to_string();
        assert!(policy.contains("logs:PutLogEvents") && !policy.contains("\"*\""), "{policy}");
        let report = brain2_iac::policy::check("prod", &[(stack.name.clone(), template.clone())]);
        assert!(report.passed(), "{:?}", report.findings);
    }
}

//! The Brain2 stacks of every environment: snapshots, cfn-lint, the policy pack, and the
//! environment table visible in the templates.

use std::path::PathBuf;
use std::process::Command;

use brain2_iac::cfn::Synthesized;
use brain2_iac::config::{ENVIRONMENTS, EnvironmentConfig};
use brain2_iac::policy;
use brain2_stacks::brain2_app;
use serde_json::Value as JsonValue;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn synth(environment: &str) -> Synthesized {
    let config = EnvironmentConfig::load(&workspace(), environment).unwrap();
    brain2_app(environment, &config).unwrap().synth().unwrap()
}

fn template(synthesized: &Synthesized, stack: &str) -> JsonValue {
    serde_json::from_str(&synthesized.stack(stack).unwrap().template).unwrap()
}

fn resources_of<'a>(template: &'a JsonValue, type_name: &'a str) -> Vec<(&'a String, &'a JsonValue)> {
    template["Resources"].as_object().unwrap().iter().filter(|(_, r)| r["Type"] == type_name).collect()
}

#[test]
fn every_template_matches_its_snapshot() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(workspace().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for environment in ENVIRONMENTS {
            for stack in synth(environment).stacks {
                insta::assert_snapshot!(stack.name.clone(), stack.template);
            }
        }
    });
}

#[test]
fn each_environment_has_four_stacks_in_deployment_order() {
    for environment in ENVIRONMENTS {
        let synthesized = synth(environment);
        let names: Vec<String> = synthesized.stacks.iter().map(|s| s.name.clone()).collect();
        let config = EnvironmentConfig::load(&workspace(), environment).unwrap();
        // Without a site domain, the api stack takes the site's origin from the frontend's
        // outputs, so the frontend goes first.
        let order = match config.frontend.domain {
            Some(_) => ["database", "compute", "api", "frontend"],
            None => ["database", "compute", "frontend", "api"],
        };
        let expected: Vec<String> = order.iter().map(|s| format!("brain2-{environment}-{s}")).collect();
        assert_eq!(names, expected);
        assert!(synthesized.stack("frontend").unwrap().depends_on.is_empty(), "the frontend stands alone");
    }
}

/// The HTTP API allows the site's origin: its domain where it has one, else the distribution's
/// name, as a parameter deploy fills from the frontend stack's SiteUrl across regions.
#[test]
fn the_api_allows_the_site_s_origin() {
    for environment in ENVIRONMENTS {
        let config = EnvironmentConfig::load(&workspace(), environment).unwrap();
        let synthesized = synth(environment);
        let api = synthesized.stack("api").unwrap();
        let template = template(&synthesized, "api");
        let origins = &template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["AllowOrigins"];
        match &config.frontend.domain {
            Some(domain) => {
                assert!(api.output_parameters.is_empty());
                assert_eq!(origins[0], domain.origin().as_str());
            }
            None => {
                let source = &api.output_parameters["SiteOrigin"];
                assert_eq!(source.stack, format!("brain2-{environment}-frontend"));
                assert_eq!(source.output, "SiteUrl");
                assert_eq!(origins[0], serde_json::json!({ "Ref": "SiteOrigin" }));
                assert!(api.depends_on.contains(&source.stack));
                assert!(template["Parameters"]["SiteOrigin"]["AllowedPattern"].is_string());
            }
        }
    }
}

#[test]
fn synthesis_is_deterministic() {
    for environment in ENVIRONMENTS {
        let (a, b) = (synth(environment), synth(environment));
        for (x, y) in a.stacks.iter().zip(&b.stacks) {
            assert_eq!(x.template.as_bytes(), y.template.as_bytes(), "{}", x.name);
        }
    }
}

#[test]
fn the_environment_table_shows_in_the_templates() {
    let dev = synth("dev");
    let prod = synth("prod");
    let staging = synth("staging");

    let tables = |s: &Synthesized| {
        let database = template(s, "database");
        resources_of(&database, "AWS::DynamoDB::Table")
            .into_iter()
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect::<Vec<_>>()
    };
    for (_, table) in tables(&dev) {
        assert_eq!(table["DeletionPolicy"], "Delete");
        assert_eq!(table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], false);
        assert_eq!(table["Properties"]["DeletionProtectionEnabled"], false);
        assert_eq!(table["Properties"]["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(table["Properties"]["SSESpecification"]["SSEEnabled"], true);
    }
    for (_, table) in tables(&staging) {
        assert_eq!(table["DeletionPolicy"], "Retain");
        assert_eq!(table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
        assert_eq!(table["Properties"]["DeletionProtectionEnabled"], false);
    }
    for (_, table) in tables(&prod) {
        assert_eq!(table["DeletionPolicy"], "Retain");
        assert_eq!(table["UpdateReplacePolicy"], "Retain");
        assert_eq!(table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
        assert_eq!(table["Properties"]["DeletionProtectionEnabled"], true);
    }

    let count = |s: &Synthesized, stack: &str, type_name: &str| resources_of(&template(s, stack), type_name).len();
    // Only prod has the web ACL, the VPC and provisioned concurrency.
    assert_eq!(count(&prod, "frontend", "AWS::WAFv2::WebACL"), 1);
    assert_eq!(count(&staging, "frontend", "AWS::WAFv2::WebACL"), 0);
    assert_eq!(count(&dev, "frontend", "AWS::WAFv2::WebACL"), 0);
    assert_eq!(count(&prod, "compute", "AWS::EC2::VPC"), 1);
    // DynamoDB, S3 and EventBridge; the functions that call anything else run outside the VPC.
    assert_eq!(count(&prod, "compute", "AWS::EC2::VPCEndpoint"), 3);
    let compute = template(&prod, "compute");
    let in_vpc: Vec<&String> = resources_of(&compute, "AWS::Lambda::Function")
        .into_iter()
        .filter(|(_, f)| f["Properties"].get("VpcConfig").is_some())
        .map(|(id, _)| id)
        .collect();
    assert_eq!(in_vpc, ["BackendFunction", "ConnectNodeFunction", "WsConnectFunction", "WsDisconnectFunction"]);
    assert_eq!(count(&staging, "compute", "AWS::EC2::VPC"), 0);
    let provisioned = |s: &Synthesized| {
        let compute = template(s, "compute");
        resources_of(&compute, "AWS::Lambda::Alias")
            .into_iter()
            .filter(|(_, alias)| alias["Properties"].get("ProvisionedConcurrencyConfig").is_some())
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(provisioned(&prod), ["AuthorizerAlias", "BackendAlias"]);
    assert!(provisioned(&staging).is_empty() && provisioned(&dev).is_empty());

    // Monitoring is off in dev only.
    assert_eq!(count(&dev, "api", "AWS::CloudWatch::Alarm"), 0);
    assert!(count(&staging, "api", "AWS::CloudWatch::Alarm") > 20);
    assert_eq!(count(&prod, "api", "AWS::Budgets::Budget"), 1);
    assert_eq!(count(&prod, "api", "AWS::CloudWatch::Dashboard"), 1);

    // Log retention and price class follow the environment.
    let retention =
        |s: &Synthesized| template(s, "compute")["Resources"]["BackendLogs"]["Properties"]["RetentionInDays"].clone();
    assert_eq!((retention(&dev), retention(&staging), retention(&prod)), (7.into(), 30.into(), 90.into()));
    let price = |s: &Synthesized| {
        template(s, "frontend")["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"]["PriceClass"]
            .clone()
    };
    assert_eq!((price(&dev), price(&prod)), ("PriceClass_100".into(), "PriceClass_All".into()));
    // Access logs: staging and prod only; bucket versioning: prod only.
    assert_eq!(count(&dev, "frontend", "AWS::S3::Bucket"), 1);
    assert_eq!(count(&staging, "frontend", "AWS::S3::Bucket"), 2);
    let versioning = |s: &Synthesized| {
        template(s, "frontend")["Resources"]["SiteBucket"]["Properties"].get("VersioningConfiguration").is_some()
    };
    assert!(!versioning(&dev) && !versioning(&staging) && versioning(&prod));
    // Throttling.
    let throttle = |s: &Synthesized| {
        let stage = &template(s, "api")["Resources"]["HttpApiStage"]["Properties"]["DefaultRouteSettings"];
        (stage["ThrottlingBurstLimit"].clone(), stage["ThrottlingRateLimit"].clone())
    };
    assert_eq!(throttle(&dev), (50.into(), 20.0.into()));
    assert_eq!(throttle(&prod), (1000.into(), 500.0.into()));
}

#[test]
fn no_physical_name_is_shared_between_environments() {
    let names = |environment: &str| {
        let synthesized = synth(environment);
        let mut found = Vec::new();
        for stack in &synthesized.stacks {
            let json: JsonValue = serde_json::from_str(&stack.template).unwrap();
            for (_, resource) in json["Resources"].as_object().unwrap() {
                // Names scoped to a parent (an alias of a function, an authorizer of an API) may repeat.
                if matches!(resource["Type"].as_str(), Some("AWS::Lambda::Alias" | "AWS::ApiGatewayV2::Authorizer")) {
                    continue;
                }
                let properties = &resource["Properties"];
                let candidates = [
                    &properties["Name"],
                    &properties["TableName"],
                    &properties["BucketName"],
                    &properties["AlarmName"],
                    &properties["DashboardName"],
                    &properties["QueueName"],
                    &properties["Budget"]["BudgetName"],
                    &properties["OriginAccessControlConfig"]["Name"],
                    &properties["ResponseHeadersPolicyConfig"]["Name"],
                ];
                found.extend(candidates.iter().filter_map(|v| v.as_str()).map(str::to_owned));
            }
        }
        found
    };
    let dev = names("dev");
    let prod = names("prod");
    assert!(!dev.is_empty());
    for name in &dev {
        assert!(!prod.contains(name), "{name} is used by dev and prod");
    }
}

#[test]
fn function_code_comes_in_as_parameters() {
    let compute = template(&synth("prod"), "compute");
    for function in ["Backend", "ConnectNode", "WsConnect", "WsDisconnect", "WsSendMessage", "Authorizer"] {
        for suffix in ["CodeBucket", "CodeKey", "CodeSha256"] {
            assert!(compute["Parameters"].get(format!("{function}{suffix}")).is_some(), "{function}{suffix}");
        }
        let properties = &compute["Resources"][format!("{function}Function")]["Properties"];
        assert_eq!(properties["Code"]["S3Key"], serde_json::json!({ "Ref": format!("{function}CodeKey") }));
        assert_eq!(properties["Runtime"], "provided.al2023");
        assert_eq!(properties["Architectures"], serde_json::json!(["arm64"]));
    }
}

#[test]
fn the_policy_pack_passes_with_only_reasoned_suppressions() {
    for environment in ENVIRONMENTS {
        let synthesized = synth(environment);
        let templates: Vec<(String, JsonValue)> =
            synthesized.stacks.iter().map(|s| (s.name.clone(), serde_json::from_str(&s.template).unwrap())).collect();
        let report = policy::check(environment, &templates);
        assert!(report.passed(), "{environment}: {:#?}", report.findings);
        // The verdict synthesis kept (before writing checkov's skips) is the final templates' one.
        assert_eq!(synthesized.policy.suppressed, report.suppressed);
        for (finding, reason) in &report.suppressed {
            assert!(reason.len() >= policy::MIN_REASON_CHARS, "{finding}");
            let resource = finding.resource.as_str();
            let expected = match finding.rule {
                // Lambda's VPC networking actions have no resource-level permissions.
                "iam-no-wildcard-resource" => resource.ends_with("Role") && *environment == "prod",
                // Each function says whether its failures go to a destination or back to a caller.
                "lambda-dead-letter-queue" => resource.ends_with("Function"),
                // The two that call public endpoints no VPC endpoint serves.
                "lambda-in-vpc" => ["AuthorizerFunction", "WsSendMessageFunction"].contains(&resource),
                "bucket-access-logs" | "bucket-versioning" => ["AccessLogBucket", "ExportsBucket"].contains(&resource),
                // Copies of MemoryTable's data for a day: it goes with the stack.
                "stateful-retain" => resource == "ExportsBucket",
                _ => false,
            };
            assert!(expected, "unexpected suppression: {finding}");
        }
    }
}

/// checkov, an outside scanner, over the twelve templates and the toolkits: no failed check,
/// and every skip carries the reason the policy pack's suppression or scope gave. The counts
/// per environment go to stderr, which the test harness does not capture.
#[test]
fn checkov_passes_every_template_and_every_skip_is_reasoned() {
    let checkov = workspace().join("target/py-tools/bin/checkov");
    assert!(checkov.exists(), "{} is missing: run `cargo xtask test`", checkov.display());
    let mut groups: Vec<(String, Vec<(String, String)>)> = ENVIRONMENTS
        .iter()
        .map(|environment| {
            let stacks = synth(environment).stacks.into_iter().map(|s| (s.name, s.template)).collect();
            (environment.to_string(), stacks)
        })
        .collect();
    let toolkits = [brain2_stacks::toolkit_app("prod").unwrap(), brain2_stacks::region_toolkit_app().unwrap()];
    let toolkit_stacks = toolkits.iter().flat_map(|app| app.synth().unwrap().stacks).map(|s| (s.name, s.template));
    groups.push(("toolkits".to_owned(), toolkit_stacks.collect()));
    let mut summary = Vec::new();
    for (group, stacks) in groups {
        let dir = tempfile::tempdir().unwrap();
        for (name, template) in &stacks {
            std::fs::write(dir.path().join(format!("{name}.template.json")), template).unwrap();
        }
        let output = Command::new(&checkov)
            .args(["--framework", "cloudformation", "--skip-download", "--output", "json", "--directory"])
            .arg(dir.path())
            .output()
            .unwrap();
        let report: JsonValue = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("checkov gave no JSON report for {group} ({e}):\n{}", String::from_utf8_lossy(&output.stderr))
        });
        let counts = &report["summary"];
        let failed: Vec<String> = report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} {} {}: {}", c["check_id"], c["file_path"], c["resource"], c["check_name"]))
            .collect();
        assert!(failed.is_empty(), "checkov fails in {group}:\n{}", failed.join("\n"));
        assert_eq!(counts["parsing_errors"], 0, "checkov could not parse a {group} template");
        assert!(counts["passed"].as_u64().unwrap() > 0, "checkov checked nothing in {group}");
        for skip in report["results"]["skipped_checks"].as_array().into_iter().flatten() {
            let comment = skip["check_result"]["suppress_comment"].as_str().unwrap_or_default();
            assert!(
                comment.contains("(policy rule "),
                "{group}: {} on {} is skipped without a policy-pack reason: {comment:?}",
                skip["check_id"],
                skip["resource"]
            );
        }
        assert_eq!(output.status.code(), Some(0), "checkov exited {:?} for {group}", output.status.code());
        summary.push(format!("{group}: {} passed, {} skipped", counts["passed"], counts["skipped"]));
    }
    // Straight to stderr, past the test harness's capture, so every `cargo xtask test` shows it.
    use std::io::Write;
    writeln!(std::io::stderr(), "checkov: {}", summary.join("; ")).unwrap();
}

/// The twelve templates of the three environments, and the toolkits bootstrap deploys.
#[test]
fn all_templates_pass_cfn_lint() {
    let cfn_lint = workspace().join("target/py-tools/bin/cfn-lint");
    assert!(cfn_lint.exists(), "{} is missing: run `cargo xtask test`", cfn_lint.display());
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for environment in ENVIRONMENTS {
        for stack in synth(environment).stacks {
            let path = dir.path().join(format!("{}.template.json", stack.name));
            std::fs::write(&path, &stack.template).unwrap();
            files.push(path);
        }
    }
    assert_eq!(files.len(), 12);
    let toolkits = [brain2_stacks::toolkit_app("dev").unwrap(), brain2_stacks::region_toolkit_app().unwrap()];
    for app in toolkits {
        for stack in app.synth().unwrap().stacks {
            let path = dir.path().join(format!("{}.template.json", stack.name));
            std::fs::write(&path, &stack.template).unwrap();
            files.push(path);
        }
    }
    let output = Command::new(cfn_lint).args(["--format", "parseable"]).args(&files).output().unwrap();
    if let Err(problem) = cfn_lint_verdict(output.status.code()) {
        panic!("{problem}:\n{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }
}

/// What cfn-lint's exit status means: a bit field of 2 (errors), 4 (warnings) and 8
/// (informational findings), while 1 is cfn-lint itself failing (an exception, a template it
/// could not read). Only a clean run or informational findings pass.
fn cfn_lint_verdict(code: Option<i32>) -> Result<(), String> {
    match code {
        None => Err("cfn-lint was killed by a signal".to_owned()),
        Some(code) if code & 1 != 0 => Err(format!("cfn-lint itself failed (exit {code}), so nothing was checked")),
        Some(code) if code & 0b110 != 0 => Err(format!("cfn-lint found errors or warnings (exit {code})")),
        Some(code) if code & !0b1000 != 0 => Err(format!("cfn-lint exited {code}, which it does not document")),
        Some(_) => Ok(()),
    }
}

#[test]
fn a_crashing_cfn_lint_fails_the_check() {
    for good in [0, 8] {
        assert!(cfn_lint_verdict(Some(good)).is_ok(), "exit {good}");
    }
    for bad in [1, 2, 4, 6, 9, 16, -1] {
        assert!(cfn_lint_verdict(Some(bad)).is_err(), "exit {bad}");
    }
    assert!(cfn_lint_verdict(Some(1)).unwrap_err().contains("itself failed"));
    assert!(cfn_lint_verdict(None).is_err());
}

#[test]
fn a_configuration_change_publishes_a_new_version() {
    let workspace = workspace();
    let version_description = |config: &EnvironmentConfig| {
        let synthesized = brain2_app("dev", config).unwrap().synth().unwrap();
        template(&synthesized, "compute")["Resources"]["BackendVersion"]["Properties"]["Description"].clone()
    };
    let config = EnvironmentConfig::load(&workspace, "dev").unwrap();
    let mut changed = config.clone();
    changed.lambda.log_level = brain2_iac::config::LogLevel::Error;
    assert_ne!(version_description(&config), version_description(&changed));
    assert_eq!(version_description(&config), version_description(&config.clone()));
}

/// IAM matches a secret by its full ARN (name plus a 6-character suffix). prod.json gives the ARN
/// without the suffix, as many do; the authorizer's grant must still match the real secret.
#[test]
fn the_authorizer_may_read_its_secret_whether_the_arn_has_its_suffix_or_not() {
    let config = EnvironmentConfig::load(&workspace(), "prod").unwrap();
    let arn = config.auth.jwt_secret_arn.clone().unwrap();
    let compute = template(&synth("prod"), "compute");
    let role = &compute["Resources"]["AuthorizerRole"]["Properties"];
    let statements: Vec<&JsonValue> = role["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .filter(|s| s["Action"].to_string().contains("secretsmanager:GetSecretValue"))
        .collect();
    assert_eq!(statements.len(), 1, "{statements:?}");
    let resources = statements[0]["Resource"].to_string();
    assert!(resources.contains(&format!("\"{arn}\"")), "the ARN as configured: {resources}");
    assert!(resources.contains(&format!("\"{arn}-??????\"")), "the ARN with any 6-character suffix: {resources}");
    assert!(!resources.contains("\"*\""), "{resources}");
}

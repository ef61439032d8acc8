//! Every policy rule has a compliant and a non-compliant fixture under
//! `tests/fixtures/policy/<rule>/{good,bad}.json`, checked as prod templates.

use std::path::PathBuf;

use brain2_iac::constructs::iam::SUPPRESSIONS_METADATA;
use brain2_iac::policy::{self, RULES};
use serde_json::Value as JsonValue;

fn fixture(rule: &str, kind: &str) -> JsonValue {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/policy/{rule}/{kind}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("rule {rule} has no {} fixture", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn findings_of(rule: &str, template: JsonValue) -> Vec<policy::Finding> {
    policy::check("prod", &[("fixture".to_owned(), template)]).findings.into_iter().filter(|f| f.rule == rule).collect()
}

#[test]
fn every_rule_accepts_its_good_fixture_and_rejects_its_bad_one() {
    for rule in RULES {
        let good = findings_of(rule.id, fixture(rule.id, "good"));
        assert!(good.is_empty(), "{}: good fixture fails: {good:#?}", rule.id);
        let bad = findings_of(rule.id, fixture(rule.id, "bad"));
        assert!(!bad.is_empty(), "{}: bad fixture passes", rule.id);
        for finding in bad {
            assert_eq!(finding.fix, rule.fix);
            assert!(!finding.resource.is_empty() && !finding.message.is_empty());
        }
    }
}

#[test]
fn good_fixtures_pass_every_rule() {
    for rule in RULES {
        let report = policy::check("prod", &[("fixture".to_owned(), fixture(rule.id, "good"))]);
        assert!(report.passed(), "{}: {:#?}", rule.id, report.findings);
    }
}

#[test]
fn environment_specific_rules_only_apply_where_they_should() {
    let in_env = |environment: &str, rule: &str| {
        policy::check(environment, &[("fixture".to_owned(), fixture(rule, "bad"))])
            .findings
            .iter()
            .any(|f| f.rule == rule)
    };
    assert!(!in_env("dev", "stateful-retain") && in_env("staging", "stateful-retain"));
    assert!(!in_env("staging", "prod-table-protection") && in_env("prod", "prod-table-protection"));
    assert!(!in_env("staging", "cloudfront-waf-prod") && in_env("prod", "cloudfront-waf-prod"));
}

#[test]
fn a_suppression_needs_a_reason() {
    let mut template = fixture("iam-no-wildcard-resource", "bad");
    template["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Sid"] = "Eni".into();
    template["Resources"]["Role"]["Metadata"] = serde_json::json!({
        SUPPRESSIONS_METADATA: [{ "rule": "iam-no-wildcard-resource", "statement": "Eni", "reason": "because" }]
    });
    let report = policy::check("prod", &[("fixture".to_owned(), template.clone())]);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].rule, "suppression-needs-reason");

    template["Resources"]["Role"]["Metadata"][SUPPRESSIONS_METADATA][0]["reason"] =
        "DescribeNetworkInterfaces has no resource-level permissions".into();
    let report = policy::check("prod", &[("fixture".to_owned(), template)]);
    assert!(report.passed());
    assert_eq!(report.suppressed.len(), 1);
}

/// A suppression for one statement (by Sid) covers that statement only: a second wildcard
/// statement on the same role is still a finding, and so is a statement without a Sid, which
/// no suppression can name, even one that names no statement.
#[test]
fn a_statement_suppression_covers_that_statement_only() {
    let mut template = fixture("iam-no-wildcard-resource", "bad");
    let statements = &mut template["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    let wildcard = statements[0].clone();
    statements[0]["Sid"] = "VpcNetworkInterfaces".into();
    template["Resources"]["Role"]["Metadata"] = serde_json::json!({
        SUPPRESSIONS_METADATA: [{
            "rule": "iam-no-wildcard-resource",
            "statement": "VpcNetworkInterfaces",
            "reason": "DescribeNetworkInterfaces has no resource-level permissions"
        }]
    });
    let report = policy::check("prod", &[("fixture".to_owned(), template.clone())]);
    assert!(report.passed(), "{:#?}", report.findings);
    assert_eq!(report.suppressed.len(), 1);

    // A later wildcard on the same role is not hidden by it.
    template["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .unwrap()
        .push(wildcard);
    let report = policy::check("prod", &[("fixture".to_owned(), template.clone())]);
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    assert_eq!(report.findings[0].rule, "iam-no-wildcard-resource");
    template["Resources"]["Role"]["Metadata"][SUPPRESSIONS_METADATA].as_array_mut().unwrap().push(serde_json::json!({
        "rule": "iam-no-wildcard-resource",
        "reason": "a suppression for the whole role, which statements are not covered by"
    }));
    let report = policy::check("prod", &[("fixture".to_owned(), template)]);
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
}

#[test]
fn findings_render_as_sarif() {
    let report = policy::check("prod", &[("brain2-prod-compute".to_owned(), fixture("log-retention", "bad"))]);
    let sarif = policy::to_sarif(&report, &|stack| format!("out/prod/{stack}.template.json"));
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "log-retention");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "out/prod/brain2-prod-compute.template.json"
    );
    assert_eq!(result["locations"][0]["logicalLocations"][0]["name"], "Logs");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RULES.len());
}

/// The two prod defects this rule exists for (a VPC authorizer that must fetch the Supabase
/// JWKS and read Secrets Manager without NAT or endpoint, and ws-send-message behind an
/// execute-api endpoint whose private DNS hides public APIs) are each named.
#[test]
fn vpc_reachability_names_each_unreachable_call() {
    let messages: Vec<(String, String)> = findings_of("vpc-reachability", fixture("vpc-reachability", "bad"))
        .into_iter()
        .map(|f| (f.resource, f.message))
        .collect();
    let has = |resource: &str, text: &str| messages.iter().any(|(r, m)| r == resource && m.contains(text));
    assert!(has("AuthorizerFunction", "secretsmanager"), "{messages:#?}");
    assert!(has("AuthorizerFunction", "JWKS_URL"), "{messages:#?}");
    assert!(has("WsSendMessageFunction", "private DNS hides public APIs"), "{messages:#?}");
    assert_eq!(messages.len(), 3, "{messages:#?}");
}

/// A rule's exemptions become checkov skips with the same sentence: a suppression's reason
/// where the rule applies, the rule's scope reason where it does not, and only the checks for
/// the resource's own type.
#[test]
fn exemptions_become_checkov_skips_with_the_same_reason() {
    let mut template = fixture("lambda-dead-letter-queue", "bad");
    template["Resources"]["Fn"]["Metadata"] = serde_json::json!({
        SUPPRESSIONS_METADATA: [{ "rule": "lambda-dead-letter-queue", "reason": "only API Gateway invokes it, synchronously" }]
    });
    let function = template["Resources"]["Fn"]["Properties"].as_object_mut().unwrap();
    function.remove("ReservedConcurrentExecutions");
    function.remove("KmsKeyArn");
    template["Resources"]["Queue"] = serde_json::json!({ "Type": "AWS::SQS::Queue", "Properties": {} });

    let prod = policy::check("prod", &[("s".to_owned(), template.clone())]);
    assert!(prod.findings.iter().any(|f| f.rule == "lambda-reserved-concurrency"));
    let skips = prod.checkov_skips();
    let dead_letter = skips.iter().find(|s| s.id == "CKV_AWS_116").unwrap();
    assert_eq!(dead_letter.resource, "Fn");
    assert_eq!(
        dead_letter.comment,
        "only API Gateway invokes it, synchronously (policy rule lambda-dead-letter-queue)"
    );
    // Applies in prod, so nothing exempts concurrency there.
    assert!(!skips.iter().any(|s| s.id == "CKV_AWS_115"));

    let dev = policy::check("dev", &[("s".to_owned(), template)]).checkov_skips();
    let concurrency = dev.iter().find(|s| s.id == "CKV_AWS_115").unwrap();
    assert!(
        concurrency.comment.starts_with("dev and staging functions")
            && concurrency.comment.ends_with("(policy rule lambda-reserved-concurrency)")
    );
    let ids = |resource: &str| dev.iter().filter(|s| s.resource == resource).map(|s| s.id).collect::<Vec<_>>();
    // customer-managed-keys stands for four checks; each resource gets its type's one.
    assert_eq!(ids("Queue"), ["CKV_AWS_27"]);
    assert!(ids("Fn").contains(&"CKV_AWS_173") && !ids("Fn").contains(&"CKV_AWS_27"));
}

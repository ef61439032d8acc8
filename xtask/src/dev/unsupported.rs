//! What the templates declare that does not run, or is not enforced, on the local emulator:
//! listed once at start, so that nothing is ignored silently. The list is derived from the
//! synthesized templates, so a resource added to a stack shows up here by its type.

use std::collections::BTreeMap;

use brain2_iac::cfn::Synthesized;

/// Resource types the emulator accepts but does not run as AWS does, and what that means here.
pub const GAPS: &[(&str, &str)] = &[
    (
        "AWS::IAM::Role",
        "created but not enforced: the emulator runs without authorization, so least privilege is only checked by the policy pack and on AWS",
    ),
    (
        "AWS::CloudFront::Distribution",
        "created, but the site is served by cargo xtask dev itself, from the built client",
    ),
    (
        "AWS::CloudFront::ResponseHeadersPolicy",
        "not in the local site's path: the local site sends the same headers itself",
    ),
    ("AWS::CloudFront::OriginAccessControl", "not in the local site's path"),
    ("AWS::S3::BucketPolicy", "created, not checked: the emulator runs without authorization"),
    ("AWS::WAFv2::WebACL", "not in the local site's path: no request filtering or rate limiting locally"),
    ("AWS::CloudWatch::Alarm", "its notifications go to the emulator's SNS, which sends no e-mail"),
    ("AWS::Budgets::Budget", "not run: nothing is billed locally"),
    ("AWS::SNS::Subscription", "no e-mail is sent locally"),
    ("AWS::EC2::VPC", "not run: functions run as local processes, outside any network isolation"),
    ("AWS::EC2::VPCEndpoint", "not run: calls go straight to the emulator"),
    ("AWS::EC2::SecurityGroup", "not enforced: functions run as local processes"),
];

/// Settings that every stack has and the emulator ignores, whatever the resource list.
const ALWAYS: &[&str] = &[
    "encryption at rest (DynamoDB, S3, SQS, logs) and TLS: the emulator stores data in plain files under the data folder and speaks plain HTTP on 127.0.0.1",
    "API Gateway stage throttling and access logs (the emulator stores the settings, applies neither), Lambda memory sizes and architectures (functions run natively, as this machine's processes)",
];

/// One line per type present (with how many resources), then the settings ignored everywhere.
pub fn report(synthesized: &Synthesized) -> Vec<String> {
    let mut present: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for stack in &synthesized.stacks {
        let Ok(template) = serde_json::from_str::<serde_json::Value>(&stack.template) else { continue };
        let Some(resources) = template["Resources"].as_object() else { continue };
        for (id, resource) in resources {
            let kind = resource["Type"].as_str().unwrap_or_default();
            if let Some((known, _)) = GAPS.iter().find(|(t, _)| *t == kind) {
                present.entry(known).or_default().push(id.clone());
            }
        }
    }
    let mut lines = vec!["dev: what the templates declare that the emulator does not run as AWS does:".to_owned()];
    for (kind, reason) in GAPS {
        if let Some(ids) = present.get(kind) {
            lines.push(format!("  - {kind} ({}): {reason}", ids.join(", ")));
        }
    }
    for setting in ALWAYS {
        lines.push(format!("  - {setting}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prod_only_resources_are_listed_when_present() {
        let workspace = crate::workspace_root();
        let prod = crate::synth::synthesize(&workspace, "prod").unwrap();
        let text = report(&prod.synthesized).join("\n");
        for kind in ["AWS::WAFv2::WebACL", "AWS::CloudWatch::Alarm", "AWS::EC2::VPC", "AWS::IAM::Role"] {
            assert!(text.contains(kind), "{kind} missing from:\n{text}");
        }
        let dev = crate::synth::synthesize(&workspace, "dev").unwrap();
        let text = report(&dev.synthesized).join("\n");
        assert!(!text.contains("AWS::WAFv2::WebACL"), "dev has no web ACL:\n{text}");
        assert!(text.contains("AWS::IAM::Role"));
    }
}

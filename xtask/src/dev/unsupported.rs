//! What the templates declare that does not run, or is not enforced, on the local emulator:
//! listed once at start, so that nothing is ignored silently. The list is derived from the
//! synthesized templates, so a resource added to a stack shows up here by its type.

use std::collections::BTreeMap;

use brain2_iac::cfn::Synthesized;

/// Resource types the emulator accepts but does not run as AWS does, and what that means here.
pub const GAPS: &[(&str, &str)] = &[
    (
        "AWS::CloudFront::Distribution",
        "created, but the site is served by cargo xtask dev itself, from the built client",
    ),
    (
        "AWS::CloudFront::ResponseHeadersPolicy",
        "not in the local site's path: the local site sends the same headers itself",
    ),
    ("AWS::CloudFront::OriginAccessControl", "not in the local site's path"),
    ("AWS::WAFv2::WebACL", "not in the local site's path: no request filtering or rate limiting locally"),
    ("AWS::CloudWatch::Alarm", "its notifications go to the emulator's SNS, which sends no e-mail"),
    ("AWS::SNS::Subscription", "no e-mail is sent locally"),
    ("AWS::EC2::VPC", "not run: functions run as local processes, outside any network isolation"),
    ("AWS::EC2::VPCEndpoint", "not run: calls go straight to the emulator"),
    ("AWS::EC2::SecurityGroup", "not enforced: functions run as local processes"),
];

/// What the emulator's CloudFormation refuses outright: a resource type, or a type with a
/// property it does not take. Such resources are left out of the local templates, and said so.
pub const NOT_DEPLOYABLE: &[(&str, Option<&str>, &str)] = &[
    (
        "AWS::Budgets::Budget",
        None,
        "left out: the emulator's CloudFormation has no such type (\"Unrecognized resource types\"), and nothing is billed locally",
    ),
    (
        "AWS::CloudWatch::Alarm",
        Some("Metrics"),
        "left out: the emulator's CloudFormation takes no metric-math alarm (\"Properties.Metrics is not supported\"); the other alarms deploy",
    ),
];

fn not_deployable(resource: &serde_json::Value) -> Option<&'static str> {
    let kind = resource["Type"].as_str()?;
    NOT_DEPLOYABLE.iter().find_map(|(t, property, reason)| {
        (*t == kind && property.is_none_or(|p| resource["Properties"].get(p).is_some())).then_some(*reason)
    })
}

/// Whether anything in `value` refers to the resource `id`: `Ref`, `Fn::GetAtt`, `${id}` in a
/// `Fn::Sub`, or `DependsOn`.
fn refers_to(value: &serde_json::Value, id: &str) -> bool {
    use serde_json::Value;
    match value {
        Value::Object(map) => map.iter().any(|(key, inner)| match (key.as_str(), inner) {
            ("Ref", Value::String(target)) => target == id,
            ("Fn::GetAtt", Value::Array(parts)) => parts.first().and_then(Value::as_str) == Some(id),
            ("DependsOn", Value::String(target)) => target == id,
            ("DependsOn", Value::Array(targets)) => targets.iter().any(|t| t == id),
            ("Fn::Sub", _)
                if [format!("${{{id}}}"), format!("${{{id}.")].iter().any(|r| inner.to_string().contains(r)) =>
            {
                true
            }
            _ => refers_to(inner, id),
        }),
        Value::Array(items) => items.iter().any(|item| refers_to(item, id)),
        _ => false,
    }
}

/// Removes what [`NOT_DEPLOYABLE`] names from the templates; one line per resource removed.
/// Fails, naming it, when anything left refers to one.
pub fn leave_out(synthesized: &mut Synthesized) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for stack in &mut synthesized.stacks {
        let mut template: serde_json::Value = serde_json::from_str(&stack.template)?;
        let Some(resources) = template["Resources"].as_object_mut() else { continue };
        let gone: Vec<(String, String, &str)> = resources
            .iter()
            .filter_map(|(id, resource)| {
                let reason = not_deployable(resource)?;
                Some((id.clone(), resource["Type"].as_str().unwrap_or_default().to_owned(), reason))
            })
            .collect();
        if gone.is_empty() {
            continue;
        }
        for (id, kind, reason) in &gone {
            resources.remove(id);
            lines.push(format!("  - {kind} {id} in {}: {reason}", stack.name));
        }
        for (id, _, _) in &gone {
            if refers_to(&template, id) {
                anyhow::bail!(
                    "{} refers to {id}, which the emulator cannot create, so the local variant cannot leave it out",
                    stack.name
                );
            }
        }
        stack.resource_count = template["Resources"].as_object().map_or(0, serde_json::Map::len);
        stack.template = serde_json::to_string_pretty(&template)? + "\n";
    }
    Ok(lines)
}

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
    fn what_the_emulator_refuses_is_left_out_unless_something_needs_it() {
        let workspace = crate::workspace_root();
        let mut prod = crate::synth::synthesize(&workspace, "prod").unwrap().synthesized;
        let lines = leave_out(&mut prod).unwrap().join("\n");
        assert!(lines.contains("AWS::Budgets::Budget"), "{lines}");
        for stack in &prod.stacks {
            let template: serde_json::Value = serde_json::from_str(&stack.template).unwrap();
            for (id, resource) in template["Resources"].as_object().unwrap() {
                assert!(not_deployable(resource).is_none(), "{id} is still in {}", stack.name);
            }
        }
        let needed = serde_json::json!({ "Resources": { "A": { "Type": "AWS::SNS::Topic", "DependsOn": ["B"] } } });
        assert!(refers_to(&needed, "B"));
        assert!(refers_to(&serde_json::json!({ "Fn::Sub": "arn:${B.Arn}" }), "B"));
        assert!(!refers_to(&serde_json::json!({ "Ref": "BB" }), "B"));
        assert!(refers_to(&serde_json::json!({ "Fn::Sub": "arn:${B}" }), "B"));
        assert!(!refers_to(&serde_json::json!({ "Fn::Sub": "arn:${BB}" }), "B"));
    }

    #[test]
    fn prod_only_resources_are_listed_when_present() {
        let workspace = crate::workspace_root();
        let prod = crate::synth::synthesize(&workspace, "prod").unwrap();
        let text = report(&prod.synthesized).join("\n");
        for kind in ["AWS::WAFv2::WebACL", "AWS::CloudWatch::Alarm", "AWS::EC2::VPC"] {
            assert!(text.contains(kind), "{kind} missing from:\n{text}");
        }
        let dev = crate::synth::synthesize(&workspace, "dev").unwrap();
        let text = report(&dev.synthesized).join("\n");
        assert!(!text.contains("AWS::WAFv2::WebACL"), "dev has no web ACL:\n{text}");
        assert!(!text.contains("AWS::IAM::Role"), "roles are enforced locally:\n{text}");
    }
}

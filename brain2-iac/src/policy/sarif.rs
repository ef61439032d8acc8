//! Findings as SARIF 2.1.0, for code-scanning uploads.

use serde_json::json;

use super::{RULES, Report};

/// The report as a SARIF log. `artifact` maps a stack name to its template's path.
pub fn to_sarif(report: &Report, artifact: &dyn Fn(&str) -> String) -> serde_json::Value {
    let rules: Vec<_> = RULES
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "shortDescription": { "text": rule.description },
                "help": { "text": rule.fix },
                "defaultConfiguration": { "level": "error" }
            })
        })
        .collect();
    let result = |finding: &super::Finding, suppression: Option<&str>| {
        let mut value = json!({
            "ruleId": finding.rule,
            "level": "error",
            "message": { "text": format!("{}: {}. Fix: {}", finding.resource, finding.message, finding.fix) },
            "locations": [{
                "physicalLocation": { "artifactLocation": { "uri": artifact(&finding.stack) } },
                "logicalLocations": [{ "name": finding.resource, "fullyQualifiedName": format!("{}/{}", finding.stack, finding.resource), "kind": "resource" }]
            }]
        });
        if let Some(reason) = suppression {
            value["suppressions"] = json!([{ "kind": "inSource", "justification": reason }]);
        }
        value
    };
    let mut results: Vec<_> = report.findings.iter().map(|f| result(f, None)).collect();
    results.extend(report.suppressed.iter().map(|(f, reason)| result(f, Some(reason))));
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "brain2-policy", "rules": rules } },
            "results": results
        }]
    })
}

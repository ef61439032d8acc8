//! The policy pack: named rules every synthesized template must pass.
//!
//! A finding names the rule, the stack and the resource, and says how to fix it. A resource can
//! be exempted from a rule through its Metadata, with a written reason:
//! `"brain2:suppressions": [{"rule": "<id>", "reason": "<why>"}]`. A suppression without a
//! reason is itself a finding.
//!
//! Some rules apply only in some environments (`Scope::Only`); elsewhere their findings are
//! listed as not applicable, with the sentence the rule gives for why.
//!
//! A rule can stand for checks of checkov, the outside scanner the tests run. Where a rule exempts
//! a resource, by its suppression or by its scope, synthesis writes the rule's checkov checks
//! into the resource's `Metadata.checkov.skip` with the same reason ([`Report::checkov_skips`]),
//! so one sentence explains both.

mod rules;
mod sarif;

use serde_json::Value as JsonValue;

use crate::constructs::iam::SUPPRESSIONS_METADATA;

pub use rules::RULES;
pub use sarif::to_sarif;

/// The shortest reason a suppression may give.
pub const MIN_REASON_CHARS: usize = 20;

/// One named check.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub description: &'static str,
    pub fix: &'static str,
    pub scope: Scope,
    /// The checkov checks this rule stands for, each with the resource type it checks.
    pub checkov: &'static [(&'static str, &'static str)],
    pub(crate) check: fn(&Template<'_>, &mut Vec<Violation>),
}

/// The environments a rule applies in.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Everywhere,
    /// Only these; `elsewhere` says why not the others.
    Only {
        environments: &'static [&'static str],
        elsewhere: &'static str,
    },
}

impl Scope {
    /// `None` when the rule applies in `environment`; otherwise why it does not.
    pub fn exemption(&self, environment: &str) -> Option<&'static str> {
        match self {
            Scope::Everywhere => None,
            Scope::Only { environments, elsewhere } => (!environments.contains(&environment)).then_some(*elsewhere),
        }
    }
}

/// A resource that breaks a rule, as the rule reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub resource: String,
    /// The `Sid` of the policy statement at fault, for rules about statements.
    pub statement: Option<String>,
    pub message: String,
}

/// What a rule sees: one template and the environment it is for.
#[derive(Debug)]
pub struct Template<'a> {
    pub environment: &'a str,
    pub stack: &'a str,
    pub json: &'a JsonValue,
}

impl Template<'_> {
    /// `(logical id, resource)` of every resource of `type_name`.
    pub fn resources(&self, type_name: &str) -> impl Iterator<Item = (&str, &JsonValue)> + '_ {
        let type_name = type_name.to_owned();
        self.json["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(move |(_, r)| r["Type"] == type_name.as_str())
            .map(|(id, r)| (id.as_str(), r))
    }

    pub fn resource(&self, logical_id: &str) -> Option<&JsonValue> {
        self.json["Resources"].get(logical_id)
    }
}

/// A violation that counts: not suppressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub stack: String,
    pub resource: String,
    /// Its `Type`, empty when the template has no such resource.
    pub resource_type: String,
    pub message: String,
    pub fix: &'static str,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {} {}: {}. Fix: {}", self.rule, self.stack, self.resource, self.message, self.fix)
    }
}

/// The result of checking a set of templates.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Violations a resource suppressed, with the reason it gave.
    pub suppressed: Vec<(Finding, String)>,
    /// Violations of rules that do not apply in this environment, with the rule's reason.
    pub not_applicable: Vec<(Finding, String)>,
}

/// A checkov check to skip on one resource, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CheckovSkip {
    pub stack: String,
    pub resource: String,
    pub id: &'static str,
    pub comment: String,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }

    /// The checkov checks to skip, one per (stack, resource, check), from the suppressed and
    /// not-applicable findings of rules that stand for them. A check exempted for several
    /// reasons (say, two suppressed statements of one role) gets them all, in order.
    pub fn checkov_skips(&self) -> Vec<CheckovSkip> {
        let mut skips: std::collections::BTreeMap<(String, String, &'static str), Vec<String>> = Default::default();
        for (finding, reason) in self.suppressed.iter().chain(&self.not_applicable) {
            let Some(rule) = RULES.iter().find(|r| r.id == finding.rule) else { continue };
            let checks = rule.checkov.iter().filter(|(type_name, _)| *type_name == finding.resource_type);
            for (_, id) in checks {
                let reasons = skips.entry((finding.stack.clone(), finding.resource.clone(), id)).or_default();
                let reason = format!("{reason} (policy rule {})", rule.id);
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
        }
        skips
            .into_iter()
            .map(|((stack, resource, id), reasons)| CheckovSkip { stack, resource, id, comment: reasons.join(" ") })
            .collect()
    }
}

/// A resource's suppressions: (rule, the statement it is limited to, reason).
fn suppressions(resource: &JsonValue) -> Vec<(String, Option<String>, String)> {
    resource["Metadata"][SUPPRESSIONS_METADATA]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["rule"].as_str().unwrap_or_default().to_owned(),
                s["statement"].as_str().map(str::to_owned),
                s["reason"].as_str().unwrap_or_default().trim().to_owned(),
            )
        })
        .collect()
}

/// Runs every rule over the templates (`(stack name, template)`) of one environment.
pub fn check(environment: &str, templates: &[(String, JsonValue)]) -> Report {
    let mut report = Report::default();
    for (stack, json) in templates {
        let template = Template { environment, stack, json };
        for rule in RULES {
            let mut violations = Vec::new();
            (rule.check)(&template, &mut violations);
            let exemption = rule.scope.exemption(environment);
            for violation in violations {
                let resource_type = template.resource(&violation.resource).and_then(|r| r["Type"].as_str());
                let finding = Finding {
                    rule: rule.id,
                    stack: stack.clone(),
                    resource: violation.resource.clone(),
                    resource_type: resource_type.unwrap_or_default().to_owned(),
                    message: violation.message,
                    fix: rule.fix,
                };
                if let Some(reason) = exemption {
                    report.not_applicable.push((finding, reason.to_owned()));
                    continue;
                }
                let reason = template
                    .resource(&violation.resource)
                    .map(suppressions)
                    .unwrap_or_default()
                    .into_iter()
                    // A finding about a statement is suppressed only for that statement.
                    .find(|(id, statement, _)| id == rule.id && *statement == violation.statement)
                    .map(|(_, _, reason)| reason);
                match reason {
                    Some(reason) if reason.chars().count() >= MIN_REASON_CHARS => {
                        report.suppressed.push((finding, reason))
                    }
                    Some(_) => report.findings.push(Finding {
                        rule: "suppression-needs-reason",
                        stack: stack.clone(),
                        resource: violation.resource,
                        resource_type: finding.resource_type,
                        message: format!(
                            "suppresses {} without a reason of at least {MIN_REASON_CHARS} characters",
                            rule.id
                        ),
                        fix: "write why the rule does not apply in the suppression's reason",
                    }),
                    None => report.findings.push(finding),
                }
            }
        }
    }
    report
}

//! IAM building blocks: policy statements, roles for AWS services, and the grants that add
//! least-privilege statements to a role.

use std::collections::BTreeMap;

use crate::aws::iam::role::{Policy, Role};
use crate::cfn::{App, Handle, Json, Result, ToJson, Value};

/// The name of the inline policy every construct-made role carries, and grants extend.
pub const LEAST_PRIVILEGE_POLICY: &str = "least-privilege";

/// Metadata key under which a resource lists the policy-pack rules it is exempt from, each
/// with the reason (see the policy pack).
pub const SUPPRESSIONS_METADATA: &str = "brain2:suppressions";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<Value<String>>,
    /// `{"Service": [...]}` or `{"AWS": [...]}`; for resource policies only.
    pub principal: Option<Json>,
    /// Operator → key → values.
    pub conditions: BTreeMap<String, BTreeMap<String, Json>>,
}

impl Statement {
    pub fn allow<'a>(
        actions: impl IntoIterator<Item = &'a str>,
        resources: impl IntoIterator<Item = Value<String>>,
    ) -> Self {
        Self {
            sid: None,
            effect: Effect::Allow,
            actions: actions.into_iter().map(str::to_owned).collect(),
            resources: resources.into_iter().collect(),
            principal: None,
            conditions: BTreeMap::new(),
        }
    }

    pub fn deny<'a>(
        actions: impl IntoIterator<Item = &'a str>,
        resources: impl IntoIterator<Item = Value<String>>,
    ) -> Self {
        Self { effect: Effect::Deny, ..Self::allow(actions, resources) }
    }

    pub fn sid(mut self, sid: &str) -> Self {
        self.sid = Some(sid.to_owned());
        self
    }

    /// For resource policies: the AWS service allowed (`lambda.amazonaws.com`, or an intrinsic
    /// such as `logs.${AWS::Region}.amazonaws.com`).
    pub fn service_principal(mut self, service: impl Into<Json>) -> Self {
        self.principal = Some(Json::object([("Service", service.into())]));
        self
    }

    /// For resource policies: this account (its IAM policies then decide), as a KMS key policy
    /// needs so that the key stays manageable.
    pub fn account_principal(mut self) -> Self {
        let no_variables: [(&str, Value<String>); 0] = [];
        let root = crate::cfn::fns::sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root", no_variables);
        self.principal = Some(Json::object([("AWS", Json::from(root))]));
        self
    }

    /// For resource policies: any principal, e.g. in a statement that denies non-TLS requests.
    pub fn any_principal(mut self) -> Self {
        self.principal = Some(Json::object([("AWS", Json::from("*"))]));
        self
    }

    pub fn condition(mut self, operator: &str, key: &str, value: impl Into<Json>) -> Self {
        self.conditions.entry(operator.to_owned()).or_default().insert(key.to_owned(), value.into());
        self
    }
}

impl ToJson for Statement {
    fn to_json(&self) -> Json {
        let mut map = BTreeMap::new();
        if let Some(sid) = &self.sid {
            map.insert("Sid".to_owned(), Json::from(sid.as_str()));
        }
        let effect = match self.effect {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        };
        map.insert("Effect".to_owned(), Json::from(effect));
        map.insert("Action".to_owned(), Json::array(self.actions.iter().map(String::as_str)));
        // Trust policies name a principal and no resource.
        if !self.resources.is_empty() {
            map.insert("Resource".to_owned(), Json::Array(self.resources.iter().map(ToJson::to_json).collect()));
        }
        if let Some(principal) = &self.principal {
            map.insert("Principal".to_owned(), principal.clone());
        }
        if !self.conditions.is_empty() {
            map.insert(
                "Condition".to_owned(),
                Json::Object(
                    self.conditions
                        .iter()
                        .map(|(op, keys)| (op.clone(), Json::Object(keys.clone().into_iter().collect())))
                        .collect(),
                ),
            );
        }
        Json::Object(map)
    }
}

/// A policy document from statements.
pub fn policy_document(statements: impl IntoIterator<Item = Statement>) -> Json {
    Json::object([
        ("Version", Json::from("2012-10-17")),
        ("Statement", Json::Array(statements.into_iter().map(|s| s.to_json()).collect())),
    ])
}

/// Adds `statement` to a policy document's `Statement` list unless it is there already. `false`
/// when the document has no such list (an intrinsic, or not a policy document).
pub fn push_statement(document: &mut Json, statement: &Statement) -> bool {
    match document.get_mut("Statement") {
        Some(Json::Array(statements)) => {
            let json = statement.to_json();
            if !statements.contains(&json) {
                statements.push(json);
            }
            true
        }
        _ => false,
    }
}

/// The trust policy that lets one AWS service assume a role.
pub fn assume_role_policy(service: &str) -> Json {
    policy_document([Statement::allow(["sts:AssumeRole"], []).service_principal(service)])
}

/// A role for an AWS service, with an inline least-privilege policy that starts with
/// `statements` and that grants extend.
pub fn service_role(service: &str, statements: Vec<Statement>) -> Role {
    Role::new(assume_role_policy(service))
        .policies(vec![Policy::new(policy_document(statements), LEAST_PRIVILEGE_POLICY)])
}

/// Anything that acts through an IAM role and so can be granted permissions.
pub trait Grantee {
    fn role(&self) -> &Handle<Role>;
}

impl Grantee for Handle<Role> {
    fn role(&self) -> &Handle<Role> {
        self
    }
}

/// Adds a statement to the role's least-privilege policy (once: an identical statement is not
/// repeated). A wildcard action or resource, or a statement without resources, is refused: use
/// [`grant_unscoped`] for the few actions AWS offers no resource-level permission for.
pub fn grant(app: &mut App, grantee: &impl Grantee, statement: Statement) -> Result<()> {
    let role_id = grantee.role().logical_id();
    let wildcard_action = statement.actions.iter().any(|a| a == "*" || a.ends_with(":*"));
    let wildcard_resource = statement.resources.iter().any(|r| r == &Value::from("*"));
    if wildcard_action || wildcard_resource || statement.resources.is_empty() || statement.actions.is_empty() {
        return Err(crate::cfn::DslError::Construct(format!(
            "role {role_id}: grant of {:?} must name actions and resources without wildcards",
            statement.actions
        )));
    }
    add_statement(app, grantee, statement)
}

/// Grants actions that AWS offers no resource-level permission for (they take `"*"`) in a
/// statement of its own, `sid`, and records the reason on the role for that statement alone: a
/// wildcard added to the role later is still a finding.
pub fn grant_unscoped<'a>(
    app: &mut App,
    grantee: &impl Grantee,
    sid: &str,
    actions: impl IntoIterator<Item = &'a str>,
    reason: &str,
) -> Result<()> {
    add_statement(app, grantee, Statement::allow(actions, [Value::from("*")]).sid(sid))?;
    suppress_statement(app, grantee.role(), sid, "iam-no-wildcard-resource", reason);
    Ok(())
}

fn add_statement(app: &mut App, grantee: &impl Grantee, statement: Statement) -> Result<()> {
    let role_id = grantee.role().logical_id().to_owned();
    let role = app.get_mut(grantee.role());
    let policies = role.policies.get_or_insert_with(|| Value::Literal(Vec::new()));
    let Some(policies) = policies.literal_mut() else {
        return Err(crate::cfn::DslError::Construct(format!(
            "role {role_id}: its Policies are an intrinsic, so grants cannot add to them"
        )));
    };
    if !policies.iter().any(|p| p.policy_name == Value::from(LEAST_PRIVILEGE_POLICY)) {
        policies.push(Policy::new(policy_document([]), LEAST_PRIVILEGE_POLICY));
    }
    let policy =
        policies.iter_mut().find(|p| p.policy_name == Value::from(LEAST_PRIVILEGE_POLICY)).expect("inserted above");
    if policy.policy_document.literal_mut().is_some_and(|document| push_statement(document, &statement)) {
        Ok(())
    } else {
        Err(crate::cfn::DslError::Construct(format!(
            "role {role_id}: its {LEAST_PRIVILEGE_POLICY} policy has no Statement list to add to"
        )))
    }
}

/// Records on a resource that a policy-pack rule does not apply to it, and why.
pub fn suppress<R>(app: &mut App, resource: &Handle<R>, rule: &str, reason: &str) {
    add_suppression(app, resource, Json::object([("rule", rule), ("reason", reason)]));
}

/// Records that a policy-pack rule does not apply to one statement (by `Sid`) of a resource's
/// policies, and why. Findings of that rule about the resource's other statements still count.
pub fn suppress_statement<R>(app: &mut App, resource: &Handle<R>, sid: &str, rule: &str, reason: &str) {
    add_suppression(app, resource, Json::object([("rule", rule), ("statement", sid), ("reason", reason)]));
}

fn add_suppression<R>(app: &mut App, resource: &Handle<R>, item: Json) {
    let metadata = &mut app.attributes_mut(resource).metadata;
    let entry = metadata.entry(SUPPRESSIONS_METADATA.to_owned()).or_insert_with(|| Json::Array(Vec::new()));
    if let Json::Array(items) = entry
        && !items.contains(&item)
    {
        items.push(item);
    }
}

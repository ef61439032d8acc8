//! Adopting what `destroy` kept: a stack that is not deployed, but whose retained tables (and
//! their key) are still in the account, takes them back through a CloudFormation `IMPORT` change
//! set before anything else is created, so a redeploy finds its data instead of new, empty
//! tables.
//!
//! Found by the tags deploy gave them: CloudFormation tags every resource it creates with
//! `aws:cloudformation:stack-name` and `aws:cloudformation:logical-id` (which stay on a retained
//! resource), and deploy adds the stack's own tags (`app`, `environment`). A customer-managed key
//! is found through the tables it encrypts: their `aws:cloudformation:stack-id` tag names the
//! deleted stack, whose `DELETE_SKIPPED` event for the key gives its id (stack events outlive a
//! stack by 90 days); where a table names its key (`SSEDescription.KMSMasterKeyArn`), that must
//! be the same key. (MiniStack's CloudFormation creates tables without `SSEDescription`, so there
//! only the events say.)
//!
//! An import may only add what it imports (no other resource, output or tag), so the first
//! change set holds the found resources alone; the ordinary update that follows adds the rest.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{ChangeSetType, ResourceToImport};
use serde_json::Value;

use super::{Context, StackPlan};
use crate::aws::change_set::{self, Created, ParameterValue, TemplateSource};
use crate::aws::errors::explain;
use crate::aws::events;

const TABLE: &str = "AWS::DynamoDB::Table";
const KEY: &str = "AWS::KMS::Key";
const STACK_NAME_TAG: &str = "aws:cloudformation:stack-name";
const LOGICAL_ID_TAG: &str = "aws:cloudformation:logical-id";
const STACK_ID_TAG: &str = "aws:cloudformation:stack-id";
/// What CloudFormation's own tags say, on a table that cannot carry them: CloudFormation tags
/// only what it creates, so `restore` tags the table it imports with these.
pub const BRAIN2_STACK_NAME_TAG: &str = "brain2:stack-name";
pub const BRAIN2_LOGICAL_ID_TAG: &str = "brain2:logical-id";
pub const BRAIN2_STACK_ID_TAG: &str = "brain2:stack-id";
/// On a table `restore` replaced: the table that took its place. Such a table is never adopted.
pub const REPLACED_BY_TAG: &str = "brain2:replaced-by";

/// A table that carries a stack's tags.
#[derive(Debug, Clone)]
struct TaggedTable {
    name: String,
    /// The stack that created it (its tag).
    stack_id: Option<String>,
    /// The key it says it is encrypted with.
    key_arn: Option<String>,
}

/// A retained resource found again, to be imported under its logical id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub logical_id: String,
    pub resource_type: String,
    /// The resource identifier's key for its type (`TableName`, `KeyId`).
    pub identifier_key: &'static str,
    pub physical_id: String,
}

impl Found {
    fn to_import(&self) -> ResourceToImport {
        ResourceToImport::builder()
            .resource_type(&self.resource_type)
            .logical_resource_id(&self.logical_id)
            .resource_identifier(self.identifier_key, &self.physical_id)
            .build()
    }
}

/// The resources of `template` that a destroy keeps and deploy can find again: tables and keys
/// whose DeletionPolicy retains them, as (logical id, type), in template order.
pub fn retained(template: &Value) -> Vec<(String, String)> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| matches!(r["DeletionPolicy"].as_str(), Some("Retain" | "RetainExceptOnCreate")))
        .filter_map(|(id, r)| {
            let kind = r["Type"].as_str()?;
            [TABLE, KEY].contains(&kind).then(|| (id.clone(), kind.to_owned()))
        })
        .collect()
}

/// Finds the retained tables of `plan`'s stack by their tags, and the keys they are encrypted
/// with. More than one table for a logical id is refused, naming them: deploy never guesses.
pub async fn find(ctx: &Context, plan: &StackPlan, template: &Value) -> Result<Vec<Found>> {
    let wanted = retained(template);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let dynamodb = ctx.aws.dynamodb_in(plan.region.as_deref());
    // CloudFormation names a table `<stack>-<logical id>-<suffix>`; the tags decide.
    let prefix = format!("{}-", plan.name);
    let mut names = Vec::new();
    let mut pages = dynamodb.list_tables().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| explain("listing DynamoDB tables", e))?;
        names.extend(page.table_names().iter().filter(|n| n.starts_with(&prefix)).cloned());
    }
    let mut tables: BTreeMap<String, Vec<TaggedTable>> = BTreeMap::new();
    for name in names {
        let described = dynamodb
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .map_err(|e| explain(&format!("reading table {name}"), e))?;
        let Some(table) = described.table() else { continue };
        let Some(arn) = table.table_arn() else { continue };
        let tags: BTreeMap<String, String> = dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| explain(&format!("reading the tags of table {name}"), e))?
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let tag = |own: &str, ours: &str| tags.get(own).or_else(|| tags.get(ours));
        let ours = tag(STACK_NAME_TAG, BRAIN2_STACK_NAME_TAG) == Some(&plan.name)
            && plan.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
            && !tags.contains_key(REPLACED_BY_TAG);
        let Some(logical_id) = tag(LOGICAL_ID_TAG, BRAIN2_LOGICAL_ID_TAG).filter(|_| ours) else { continue };
        let key_arn = table.sse_description().and_then(|d| d.kms_master_key_arn()).map(str::to_owned);
        let stack_id = tag(STACK_ID_TAG, BRAIN2_STACK_ID_TAG).cloned();
        tables.entry(logical_id.clone()).or_default().push(TaggedTable { name, stack_id, key_arn });
    }

    let mut found = Vec::new();
    for (logical_id, kind) in wanted.iter().filter(|(_, kind)| kind == TABLE) {
        match tables.get(logical_id).map(Vec::as_slice) {
            None | Some([]) => {}
            Some([table]) => found.push(Found {
                logical_id: logical_id.clone(),
                resource_type: kind.clone(),
                identifier_key: "TableName",
                physical_id: table.name.clone(),
            }),
            Some(several) => bail!(
                "{} cannot adopt its retained {logical_id}: {} tables carry its tags ({}). Delete or rename the ones \
                 that are not the data to keep (after checking them), then deploy again",
                plan.name,
                several.len(),
                several.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    let cfn = ctx.aws.cloudformation(plan.region.as_deref());
    for (logical_id, kind) in wanted.iter().filter(|(_, kind)| kind == KEY) {
        let users: Vec<&TaggedTable> = found
            .iter()
            .filter(|t| encrypts_with(&template["Resources"][&t.logical_id], logical_id))
            .map(|t| &tables[&t.logical_id][0])
            .collect();
        // The key the deletions that kept these tables kept too.
        let mut keys = BTreeSet::new();
        for stack_id in users.iter().filter_map(|t| t.stack_id.as_deref()).collect::<BTreeSet<_>>() {
            keys.extend(retained_by(&cfn, stack_id, logical_id).await?);
        }
        let [key] = keys.iter().collect::<Vec<_>>()[..] else {
            if keys.is_empty() {
                continue;
            }
            bail!(
                "{} cannot adopt its retained {logical_id}: its tables were kept by deletions that kept different keys ({})",
                plan.name,
                keys.into_iter().collect::<Vec<_>>().join(", ")
            );
        };
        let id = key.rsplit('/').next().unwrap_or(key).to_owned();
        if let Some(other) = users.iter().filter_map(|t| t.key_arn.as_deref()).find(|arn| !arn.ends_with(&id)) {
            bail!(
                "{} cannot adopt its retained {logical_id}: the deleted stack kept key {id}, but its tables are encrypted \
                 with {other}",
                plan.name
            );
        }
        found.push(Found {
            logical_id: logical_id.clone(),
            resource_type: kind.clone(),
            identifier_key: "KeyId",
            physical_id: id,
        });
    }
    Ok(found)
}

/// The physical ids of `logical_id` that deleting stack `stack_id` kept (`DELETE_SKIPPED`).
async fn retained_by(cfn: &Client, stack_id: &str, logical_id: &str) -> Result<BTreeSet<String>> {
    let mut kept = BTreeSet::new();
    let mut pages = cfn.describe_stack_events().stack_name(stack_id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| explain(&format!("reading the events of {stack_id}"), e))?;
        kept.extend(
            page.stack_events()
                .iter()
                .filter(|e| e.logical_resource_id() == Some(logical_id))
                .filter(|e| e.resource_status().is_some_and(|s| s.as_str() == "DELETE_SKIPPED"))
                .filter_map(|e| e.physical_resource_id().filter(|id| !id.is_empty()).map(str::to_owned)),
        );
    }
    Ok(kept)
}

/// Whether `resource` (a table) names `key` as its encryption key.
fn encrypts_with(resource: &Value, key: &str) -> bool {
    let named = &resource["Properties"]["SSESpecification"]["KMSMasterKeyId"];
    named["Ref"] == key || named["Fn::GetAtt"][0] == key
}

/// The resources (and parameters) `value` refers to, by `Ref`, `Fn::GetAtt` and `Fn::Sub`.
fn references(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(target)) => {
                        into.insert(target.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(target)) = parts.first() {
                            into.insert(target.clone());
                        }
                    }
                    ("Fn::GetAtt", Value::String(dotted)) => {
                        into.insert(dotted.split('.').next().unwrap_or_default().to_owned());
                    }
                    ("Fn::Sub", sub) => {
                        let text = sub.as_str().or_else(|| sub[0].as_str()).unwrap_or_default();
                        for piece in text.split("${").skip(1) {
                            let name = piece.split('}').next().unwrap_or_default();
                            into.insert(name.split('.').next().unwrap_or_default().to_owned());
                        }
                    }
                    _ => {}
                }
                references(inner, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, into)),
        _ => {}
    }
}

/// The template of the import: `template` with only the found resources and no outputs (an
/// import may add nothing else). Fails naming the resource when a found one refers to another
/// resource of the stack that was not found, since it could not be declared without it.
pub fn import_template(template: &Value, stack: &str, found: &[Found]) -> Result<Value> {
    let ids: BTreeSet<&str> = found.iter().map(|f| f.logical_id.as_str()).collect();
    let declared = template["Resources"].as_object().cloned().unwrap_or_default();
    let mut resources = serde_json::Map::new();
    for id in &ids {
        let resource = &declared[*id];
        let mut referred = BTreeSet::new();
        references(resource, &mut referred);
        if let Some(depends) = resource.get("DependsOn") {
            match depends {
                Value::String(one) => drop(referred.insert(one.clone())),
                Value::Array(many) => referred.extend(many.iter().filter_map(|d| d.as_str().map(str::to_owned))),
                _ => {}
            }
        }
        if let Some(missing) = referred.iter().find(|r| declared.contains_key(*r) && !ids.contains(r.as_str())) {
            bail!(
                "{stack} cannot adopt its retained {id}: it refers to {missing}, which was not found in the account. \
                 Adopt it by hand (`aws cloudformation create-change-set --change-set-type IMPORT`) or delete the \
                 retained {id} after saving its data, then deploy again"
            );
        }
        resources.insert((*id).to_owned(), resource.clone());
    }
    let mut import = template.clone();
    let object = import.as_object_mut().expect("a template is an object");
    object.remove("Outputs");
    object.insert("Resources".to_owned(), Value::Object(resources));
    Ok(import)
}

/// Imports `found` into the new stack `plan.name`, then returns; deploy's update adds the rest.
pub async fn import(ctx: &Context, cfn: &Client, plan: &StackPlan, template: &Value, found: &[Found]) -> Result<()> {
    let label = plan.short_name.as_str();
    println!("  [{label}] not deployed, but destroy kept {} of its resources: adopting them", found.len());
    for resource in found {
        println!(
            "  [{label}]   = {} {} ({} {})",
            resource.logical_id, resource.resource_type, resource.identifier_key, resource.physical_id
        );
    }
    let body = serde_json::to_string_pretty(&import_template(template, &plan.name, found)?)? + "\n";
    if ctx.settings.needs_confirmation() && !ctx.confirm(&format!("adopt these into {}?", plan.name)).await {
        bail!("{} was not created: adopting its retained resources was not confirmed", plan.name);
    }
    let request = change_set::Request {
        stack: plan.name.clone(),
        // Its own name: the update that follows takes the run's.
        name: format!("{}-adopt", ctx.change_set_name()),
        kind: ChangeSetType::Import,
        template: TemplateSource::Body(body),
        parameters: plan.parameters.iter().map(|(k, v)| (k.clone(), ParameterValue::Value(v.clone()))).collect(),
        tags: Vec::new(),
        imports: found.iter().map(Found::to_import).collect(),
        description: "cargo xtask deploy: adopt retained resources".to_owned(),
    };
    ctx.count_change_set();
    let change_set = match change_set::create(cfn, &request, ctx.poll).await? {
        Created::Ready { id, .. } => id,
        Created::Empty => bail!("CloudFormation found nothing to import into {}", plan.name),
    };
    change_set::execute(cfn, &plan.name, &change_set).await?;
    let id = crate::aws::stack::describe(cfn, &plan.name)
        .await?
        .map(|s| s.id)
        .ok_or_else(|| anyhow::anyhow!("{} vanished while importing", plan.name))?;
    let outcome = events::watch(cfn, &id, label, None, ctx.poll).await?;
    if outcome.status.as_str() != "IMPORT_COMPLETE" {
        let reason = outcome
            .first_failure
            .map(|f| format!("{} {}: {}", f.logical_id, f.status, f.reason))
            .or(outcome.status_reason)
            .unwrap_or_default();
        bail!(
            "{} could not adopt its retained resources ({}): {reason}\n  nothing of them was changed; next: look at the \
             stack's events (`cargo xtask status --env {}`)",
            plan.name,
            outcome.status.as_str(),
            ctx.settings.environment
        );
    }
    println!("  [{label}] adopted {}", found.iter().map(|f| f.logical_id.as_str()).collect::<Vec<_>>().join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn found(id: &str, kind: &str) -> Found {
        Found {
            logical_id: id.into(),
            resource_type: kind.into(),
            identifier_key: "TableName",
            physical_id: format!("{id}-1"),
        }
    }

    #[test]
    fn the_import_holds_the_found_resources_alone() {
        let template = json!({
            "Resources": {
                "DataKey": { "Type": KEY, "DeletionPolicy": "Retain", "Properties": {} },
                "MemoryTable": { "Type": TABLE, "DeletionPolicy": "Retain",
                    "Properties": { "SSESpecification": { "KMSMasterKeyId": { "Fn::GetAtt": ["DataKey", "Arn"] } } } },
                "Scratch": { "Type": TABLE, "DeletionPolicy": "Delete", "Properties": {} }
            },
            "Outputs": { "Arn": { "Value": { "Fn::GetAtt": ["MemoryTable", "Arn"] } } }
        });
        assert_eq!(
            retained(&template),
            [("DataKey".to_owned(), KEY.to_owned()), ("MemoryTable".to_owned(), TABLE.to_owned())]
        );
        assert!(encrypts_with(&template["Resources"]["MemoryTable"], "DataKey"));
        let both = import_template(&template, "s", &[found("MemoryTable", TABLE), found("DataKey", KEY)]).unwrap();
        assert_eq!(both["Resources"].as_object().unwrap().keys().collect::<Vec<_>>(), ["DataKey", "MemoryTable"]);
        assert!(both.get("Outputs").is_none(), "an import adds no outputs");
        let error = import_template(&template, "s", &[found("MemoryTable", TABLE)]).unwrap_err().to_string();
        assert!(error.contains("MemoryTable: it refers to DataKey"), "{error}");
    }
}

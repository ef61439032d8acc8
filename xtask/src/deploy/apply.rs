//! Deploying one stack: skip it when nothing changed, create it, or update it through a
//! change set that is shown, checked for stateful damage and confirmed before it runs.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, OnFailure, Parameter, Tag};
use serde::Serialize;
use serde_json::Value;

use super::adopt;
use super::exports::{self, Kept};
use super::{Context, StackPlan};
use crate::aws::change_set::{self, Created, ParameterValue, Planned, TemplateSource};
use crate::aws::errors::explain;
use crate::aws::events::{self, Failure, Outcome};
use crate::aws::stack::{self, Output, Phase};
use crate::diff::STATEFUL_TYPES;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Template, parameters and tags equal what is deployed: no change set was made.
    Unchanged,
    Created,
    Updated,
    /// A change set found nothing to do (e.g. only formatting differed).
    NoChanges,
    /// Not deployed, but what a destroy kept of it was imported, then the rest created.
    Adopted,
}

#[derive(Debug, Clone)]
pub struct StackResult {
    pub name: String,
    pub short_name: String,
    pub action: Action,
    pub outputs: Vec<Output>,
    pub kept_exports: Vec<Kept>,
}

/// A stack operation that failed, with the resource that caused it and what to do next.
#[derive(Debug)]
pub struct StackFailed {
    pub stack: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub failure: Option<Failure>,
    pub next: String,
}

impl std::fmt::Display for StackFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed", self.stack)?;
        match &self.failure {
            Some(failure) => write!(
                f,
                ": {} ({}) {}: {}",
                failure.logical_id, failure.resource_type, failure.status, failure.reason
            )?,
            None => write!(f, ": {}", self.status_reason.as_deref().unwrap_or("no reason given"))?,
        }
        write!(f, "\n  the stack is now {}\n  next: {}", self.status, self.next)
    }
}

impl std::error::Error for StackFailed {}

/// A change set that would replace or delete stateful resources without `--allow-replace`.
#[derive(Debug)]
pub struct ReplacementRefused {
    pub stack: String,
    pub environment: String,
    pub changes: Vec<Planned>,
}

impl std::fmt::Display for ReplacementRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "refused: this change to {} would lose data in {}:", self.stack, self.environment)?;
        for change in &self.changes {
            writeln!(f, "    {}", change.line())?;
        }
        let ids: Vec<&str> = self.changes.iter().map(|c| c.logical_id.as_str()).collect();
        write!(
            f,
            "  nothing was changed (the change set was deleted). If losing that data is intended, run deploy again with {}",
            ids.iter().map(|id| format!("--allow-replace {id}")).collect::<Vec<_>>().join(" ")
        )
    }
}

impl std::error::Error for ReplacementRefused {}

/// What to do about a stack in `status`.
pub fn next_step(stack: &str, region: &str, environment: &str, status: &str) -> String {
    match status {
        "ROLLBACK_COMPLETE" => format!(
            "its first creation failed, so it holds nothing. Fix the cause and run `cargo xtask deploy --env {environment}` again: \
             deploy deletes the empty stack and creates it anew"
        ),
        "UPDATE_ROLLBACK_COMPLETE" => format!(
            "CloudFormation rolled it back to the previous template, which is running. Fix the cause and run `cargo xtask deploy --env {environment}`"
        ),
        "UPDATE_ROLLBACK_FAILED" => format!(
            "run `aws cloudformation continue-update-rollback --stack-name {stack} --region {region}` (with --resources-to-skip for resources that cannot roll back), then deploy again"
        ),
        _ => format!(
            "look at its events (`cargo xtask status --env {environment}`); a stack in {status} may need \
             `aws cloudformation delete-stack --stack-name {stack} --region {region}` with --retain-resources"
        ),
    }
}

/// The stack policy of prod stacks: anything may be updated, but these resources may not be
/// replaced or deleted.
pub fn stack_policy(protected: &BTreeSet<String>) -> String {
    let mut statements = vec![serde_json::json!({
        "Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"
    })];
    if !protected.is_empty() {
        statements.push(serde_json::json!({
            "Effect": "Deny",
            "Action": ["Update:Replace", "Update:Delete"],
            "Principal": "*",
            "Resource": protected.iter().map(|id| format!("LogicalResourceId/{id}")).collect::<Vec<_>>(),
        }));
    }
    serde_json::json!({ "Statement": statements }).to_string()
}

fn failed(ctx: &Context, plan: &StackPlan, outcome: Outcome) -> anyhow::Error {
    let status = outcome.status.as_str().to_owned();
    StackFailed {
        next: next_step(&plan.name, &ctx.region_of(plan), &ctx.settings.environment, &status),
        stack: plan.name.clone(),
        status,
        status_reason: outcome.status_reason,
        failure: outcome.first_failure,
    }
    .into()
}

/// Deletes a stack whose first creation failed (`ROLLBACK_COMPLETE`), as the CDK does: it holds
/// nothing (CloudFormation deleted what the create made, or kept it outside the stack where its
/// DeletionPolicy said so), and CloudFormation can only delete it.
async fn delete_failed_create(ctx: &Context, cfn: &Client, plan: &StackPlan, id: &str) -> Result<()> {
    println!(
        "  [{}] its first creation failed earlier (ROLLBACK_COMPLETE), so it holds nothing: deleting it to create it again",
        plan.short_name
    );
    let after = events::newest(cfn, id).await?;
    cfn.delete_stack().stack_name(id).send().await.map_err(|e| explain(&format!("deleting {}", plan.name), e))?;
    let outcome = events::watch(cfn, id, &plan.short_name, after.as_deref(), ctx.poll).await?;
    if outcome.status.as_str() != "DELETE_COMPLETE" {
        return Err(failed(ctx, plan, outcome));
    }
    Ok(())
}

/// Deploys one stack. With `keep_exports`, exports still imported elsewhere survive.
pub async fn deploy_stack(ctx: &Context, plan: &StackPlan) -> Result<StackResult> {
    let cfn = ctx.aws.cloudformation(plan.region.as_deref());
    let label = plan.short_name.as_str();
    let region = ctx.region_of(plan);
    let mut existing = stack::describe(&cfn, &plan.name).await?;
    if let Some(current) = &existing {
        let status = current.status.as_str();
        match current.phase() {
            Phase::Stable => {}
            Phase::Deleted => existing = None,
            Phase::InProgress => bail!(
                "{} is busy ({status}); wait until it finishes (`cargo xtask status --env {}`) and deploy again",
                plan.name,
                ctx.settings.environment
            ),
            Phase::FailedCreate => {
                let _operation = ctx.operation_on(&plan.name, &region);
                delete_failed_create(ctx, &cfn, plan, &current.id).await?;
                existing = None;
            }
            Phase::Stuck => bail!(
                "{} is {status} and cannot be updated; next: {}",
                plan.name,
                next_step(&plan.name, &region, &ctx.settings.environment, status)
            ),
        }
    }

    let mut desired: Value = serde_json::from_str(&plan.template)?;
    // A stack that is not deployed takes back what a destroy kept of it, before anything else.
    let mut adopted = false;
    if existing.is_none() {
        let found = adopt::find(ctx, plan, &desired).await?;
        if !found.is_empty() {
            let _operation = ctx.operation_on(&plan.name, &region);
            adopt::import(ctx, &cfn, plan, &desired, &found).await?;
            existing = stack::describe(&cfn, &plan.name).await?;
            adopted = true;
        }
    }
    let mut kept = Vec::new();
    if let Some(current) = &existing {
        let deployed_template = stack::template(&cfn, &plan.name).await?;
        if crate::restore::has_pins(&deployed_template) {
            // Its template would put back a table the restore took out: a new, empty one.
            bail!(
                "{} is in the middle of a restore (its template holds restore's pinned values): finish it with the \
                 `cargo xtask restore --env {} --to <time>` it printed (the restored table's brain2:restored-to tag \
                 gives the time), then deploy",
                plan.name,
                ctx.settings.environment
            );
        }
        kept =
            exports::keep_imported(&cfn, current, &deployed_template, &mut desired, ctx.aws.endpoint_url().is_some())
                .await?;
        if deployed_template == desired && current.parameters == plan.parameters && current.tags == plan.tags {
            println!("  [{label}] unchanged: skipped without a change set");
            return Ok(StackResult {
                name: plan.name.clone(),
                short_name: plan.short_name.clone(),
                action: Action::Unchanged,
                outputs: current.outputs.clone(),
                kept_exports: kept,
            });
        }
        for k in &kept {
            println!("  [{label}] keeping export {} while {} still import(s) it", k.export, k.importers.join(", "));
        }
    }
    let template = if kept.is_empty() { plan.template.clone() } else { serde_json::to_string_pretty(&desired)? + "\n" };
    let source = ctx.template_source(plan, &template).await?;
    let operation = ctx.operation_on(&plan.name, &region);
    let result = match &existing {
        None => create(ctx, &cfn, plan, source).await,
        Some(current) => update(ctx, &cfn, plan, source, &current.id).await,
    };
    drop(operation);
    let action = match result? {
        Action::Updated | Action::NoChanges if adopted => Action::Adopted,
        action => action,
    };
    let after = stack::describe(&cfn, &plan.name).await?;
    Ok(StackResult {
        name: plan.name.clone(),
        short_name: plan.short_name.clone(),
        action,
        outputs: after.map(|s| s.outputs).unwrap_or_default(),
        kept_exports: kept,
    })
}

async fn create(ctx: &Context, cfn: &Client, plan: &StackPlan, source: TemplateSource) -> Result<Action> {
    let label = plan.short_name.as_str();
    println!("  [{label}] new stack: {} resources", plan.resource_types.len());
    for (id, resource_type) in &plan.resource_types {
        println!("  [{label}]   + {id} {resource_type}");
    }
    if ctx.settings.needs_confirmation() && !ctx.confirm(&format!("create {}?", plan.name)).await {
        bail!("{} was not created: not confirmed", plan.name);
    }
    let mut builder = cfn
        .create_stack()
        .stack_name(&plan.name)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .on_failure(OnFailure::Rollback);
    builder = match source {
        TemplateSource::Body(body) => builder.template_body(body),
        TemplateSource::Url(url) => builder.template_url(url),
        TemplateSource::Previous => bail!("a new stack needs a template"),
    };
    for (key, value) in &plan.parameters {
        builder = builder.parameters(Parameter::builder().parameter_key(key).parameter_value(value).build());
    }
    for (key, value) in &plan.tags {
        builder = builder.tags(Tag::builder().key(key).value(value).build());
    }
    if ctx.settings.protects_with_stack_policy() {
        builder = builder.stack_policy_body(stack_policy(&plan.stateful));
    }
    let created = builder.send().await.map_err(|e| explain(&format!("creating {}", plan.name), e))?;
    let id = created.stack_id().unwrap_or(&plan.name).to_owned();
    let outcome = events::watch(cfn, &id, label, None, ctx.poll).await?;
    if outcome.status.as_str() != "CREATE_COMPLETE" {
        return Err(failed(ctx, plan, outcome));
    }
    println!("  [{label}] created");
    Ok(Action::Created)
}

async fn update(ctx: &Context, cfn: &Client, plan: &StackPlan, source: TemplateSource, id: &str) -> Result<Action> {
    let label = plan.short_name.as_str();
    let after = events::newest(cfn, id).await?;
    let request = change_set::Request {
        stack: plan.name.clone(),
        name: ctx.change_set_name(),
        kind: ChangeSetType::Update,
        template: source,
        parameters: plan.parameters.iter().map(|(k, v)| (k.clone(), ParameterValue::Value(v.clone()))).collect(),
        tags: plan.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        imports: Vec::new(),
        description: "cargo xtask deploy".to_owned(),
    };
    ctx.count_change_set();
    let (change_set, changes) = match change_set::create(cfn, &request, ctx.poll).await? {
        Created::Empty => {
            println!("  [{label}] no changes (CloudFormation found nothing to do)");
            return Ok(Action::NoChanges);
        }
        Created::Ready { id, changes } => (id, changes),
    };
    println!("  [{label}] change set: {} change(s)", changes.len());
    for change in &changes {
        println!("  [{label}]   {}", change.line());
    }
    execute_reviewed(ctx, cfn, plan, &change_set, &changes, after.as_deref()).await?;
    Ok(Action::Updated)
}

/// Checks a ready change set against the environment's safety rules, asks for confirmation
/// where needed, executes it and watches it to the end. Shared by deploy and rollback.
pub async fn execute_reviewed(
    ctx: &Context,
    cfn: &Client,
    plan: &StackPlan,
    change_set: &str,
    changes: &[Planned],
    after: Option<&str>,
) -> Result<()> {
    let label = plan.short_name.as_str();
    let losing: Vec<Planned> = changes
        .iter()
        .filter(|c| STATEFUL_TYPES.contains(&c.resource_type.as_str()) && (c.removes() || c.replaces()))
        .filter(|c| !ctx.settings.allow_replace.contains(&c.logical_id))
        .cloned()
        .collect();
    if ctx.settings.guards_stateful() && !losing.is_empty() {
        change_set::delete(cfn, &plan.name, change_set).await?;
        return Err(ReplacementRefused {
            stack: plan.name.clone(),
            environment: ctx.settings.environment.clone(),
            changes: losing,
        }
        .into());
    }
    if ctx.settings.needs_confirmation() && !ctx.confirm(&format!("execute this change set on {}?", plan.name)).await {
        change_set::delete(cfn, &plan.name, change_set).await?;
        bail!("{} was not changed: not confirmed (the change set was deleted)", plan.name);
    }
    let protected: BTreeSet<String> = plan.stateful.difference(&ctx.settings.allow_replace).cloned().collect();
    let lifted = ctx.settings.protects_with_stack_policy() && protected != plan.stateful;
    if ctx.settings.protects_with_stack_policy() {
        if lifted {
            // Recorded first, so that Ctrl-C from here on puts the protection back too.
            ctx.record_lifted_policy(&plan.name, &ctx.region_of(plan), &plan.stateful);
        }
        set_policy(cfn, &plan.name, &protected).await?;
    }
    let outcome = match change_set::execute(cfn, &plan.name, change_set).await {
        Ok(()) => events::watch(cfn, &plan.name, label, after, ctx.poll).await,
        Err(error) => Err(error),
    };
    if lifted {
        // --allow-replace lifted the protection for this deploy only: it comes back whatever
        // happened to the change set.
        set_policy(cfn, &plan.name, &plan.stateful).await?;
        ctx.forget_lifted_policy(&plan.name);
    }
    let outcome = outcome?;
    if outcome.status.as_str() != "UPDATE_COMPLETE" {
        return Err(failed(ctx, plan, outcome));
    }
    println!("  [{label}] updated");
    Ok(())
}

pub async fn set_policy(cfn: &Client, stack: &str, protected: &BTreeSet<String>) -> Result<()> {
    cfn.set_stack_policy()
        .stack_name(stack)
        .stack_policy_body(stack_policy(protected))
        .send()
        .await
        .map_err(|e| explain(&format!("setting the stack policy of {stack}"), e))?;
    Ok(())
}

/// Logical ids of the stateful resources (tables, buckets) in a template.
pub fn stateful_resources(resource_types: &BTreeMap<String, String>) -> BTreeSet<String> {
    resource_types.iter().filter(|(_, t)| STATEFUL_TYPES.contains(&t.as_str())).map(|(id, _)| id.clone()).collect()
}

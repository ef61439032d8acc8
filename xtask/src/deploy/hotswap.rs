//! Hotswap: function code put straight into Lambda, without CloudFormation, when code is all
//! that changed (`cargo xtask deploy --hotswap`, and `cargo xtask dev` after an edit):
//! UpdateFunctionCode, then, for a function with a published version behind an alias,
//! PublishVersion and the alias moved to it.
//!
//! CloudFormation keeps believing what it last deployed, so each hotswap is recorded per stack in
//! the assets bucket (`hotswaps/<env>/<stack>.json`): what is live, what CloudFormation holds,
//! and the version each side published. With it the next deploy
//! - compares the wanted code with what is live, so it passes the code parameters
//!   CloudFormation already has and creates no change set when nothing else changed;
//! - never makes CloudFormation publish the live code a second time ("A version for this Lambda
//!   function exists", aws-cdk#28237): where the code a hotswap put live is wanted and the
//!   function's configuration is unchanged, CloudFormation keeps its own parameters; where the
//!   configuration changed too, the new version differs anyway;
//! - puts CloudFormation's own code back (code and alias, no change set) when that is what is
//!   wanted and a hotswap replaced it, which a change set could not see.
//!
//! Rollback goes through the same reconciliation. The versions a hotswap published are deleted
//! once nothing points at them; CloudFormation's are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use aws_sdk_lambda::types::LastUpdateStatus;
use aws_smithy_types::date_time::Format;
use brain2_stacks::HOTSWAPS_PREFIX;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AssetsBucket, Context, StackPlan};
use crate::aws::errors::{code, explain};
use crate::aws::{Aws, assets, stack};

/// How long Lambda may take to apply new code before a hotswap gives up on it.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(300);

/// One function of a template, and how deploy's parameters reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The `AWS::Lambda::Function`'s logical id.
    pub function: String,
    /// The parameters that carry its code: bucket, key and (through its version) CodeSha256.
    pub parameters: Vec<String>,
    /// The parameter the zip's S3 key comes from: what "its code" means.
    pub key_parameter: String,
    pub bucket_parameter: String,
    pub sha256_parameter: Option<String>,
    /// The `AWS::Lambda::Version` publishing it, if any.
    pub version: Option<String>,
    /// The `AWS::Lambda::Alias` on that version: logical id and alias name.
    pub alias: Option<(String, String)>,
}

fn reference(value: &Value) -> Option<&str> {
    value.get("Ref").and_then(Value::as_str)
}

/// The functions of a template whose code comes from stack parameters, with their version and
/// alias when the template has them.
pub fn slots(template: &Value) -> Vec<Slot> {
    let resources = template["Resources"].as_object().cloned().unwrap_or_default();
    let of_type = |kind: &'static str| {
        resources.iter().filter(move |(_, r)| r["Type"] == kind).map(|(id, r)| (id.clone(), r.clone()))
    };
    let mut found = Vec::new();
    for (id, function) in of_type("AWS::Lambda::Function") {
        let code = &function["Properties"]["Code"];
        let (Some(bucket), Some(key)) = (reference(&code["S3Bucket"]), reference(&code["S3Key"])) else { continue };
        let version =
            of_type("AWS::Lambda::Version").find(|(_, v)| reference(&v["Properties"]["FunctionName"]) == Some(&id));
        let sha256 = version.as_ref().and_then(|(_, v)| reference(&v["Properties"]["CodeSha256"]).map(str::to_owned));
        let alias = version.as_ref().and_then(|(version_id, _)| {
            of_type("AWS::Lambda::Alias").find_map(|(alias_id, alias)| {
                let properties = &alias["Properties"];
                let on_version = properties["FunctionVersion"]["Fn::GetAtt"][0] == version_id.as_str();
                (reference(&properties["FunctionName"]) == Some(&id) && on_version)
                    .then(|| properties["Name"].as_str().map(|name| (alias_id, name.to_owned())))
                    .flatten()
            })
        });
        let mut parameters = vec![bucket.to_owned(), key.to_owned()];
        parameters.extend(sha256.clone());
        found.push(Slot {
            function: id,
            parameters,
            key_parameter: key.to_owned(),
            bucket_parameter: bucket.to_owned(),
            sha256_parameter: sha256,
            version: version.map(|(id, _)| id),
            alias,
        });
    }
    found
}

/// What a hotswap put live for one function, beside what CloudFormation deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Swapped {
    /// The function's name (its physical id).
    pub function_name: String,
    /// Its code parameters as they are live now (bucket, key, CodeSha256).
    pub code: BTreeMap<String, String>,
    /// The same parameters as CloudFormation holds them.
    pub stack_code: BTreeMap<String, String>,
    /// The version the hotswap published, which the alias points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The version CloudFormation's Version resource published (the alias's target as far as
    /// CloudFormation knows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_version: Option<String>,
    /// When, as an ISO 8601 time.
    pub at: String,
}

/// One stack's hotswaps, by function logical id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub stack: String,
    pub region: String,
    pub functions: BTreeMap<String, Swapped>,
}

impl Record {
    /// The entries that still describe the deployed stack: those whose CloudFormation code is
    /// what the stack holds now (a deploy by other means since makes an entry stale).
    pub fn current<'a>(
        &'a self,
        deployed: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = (&'a String, &'a Swapped)> {
        self.functions.iter().filter(|(_, swapped)| swapped.stack_code.iter().all(|(k, v)| deployed.get(k) == Some(v)))
    }

    /// The parameters as they are live: CloudFormation's, with each hotswapped function's code.
    pub fn effective(&self, deployed: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut effective = deployed.clone();
        for (_, swapped) in self.current(deployed) {
            effective.extend(swapped.code.clone());
        }
        effective
    }

    /// One line per function, for `status` and the terminal.
    pub fn lines(&self, deployed: &BTreeMap<String, String>) -> Vec<String> {
        self.current(deployed)
            .map(|(function, swapped)| {
                let key = |code: &BTreeMap<String, String>| {
                    code.iter().find(|(k, _)| k.ends_with("CodeKey")).map(|(_, v)| v.clone()).unwrap_or_default()
                };
                format!(
                    "{function}: {} hotswapped at {}{}; CloudFormation's parameters name {}",
                    key(&swapped.code),
                    swapped.at,
                    swapped.version.as_deref().map(|v| format!(" (version {v})")).unwrap_or_default(),
                    key(&swapped.stack_code)
                )
            })
            .collect()
    }
}

fn record_key(environment: &str, stack: &str) -> String {
    format!("{HOTSWAPS_PREFIX}{environment}/{stack}.json")
}

/// The stack's hotswap record, if it has one.
pub async fn load(aws: &Aws, bucket: &AssetsBucket, environment: &str, stack: &str) -> Result<Option<Record>> {
    let s3 = aws.s3(Some(&bucket.region));
    let key = record_key(environment, stack);
    match s3.head_object().bucket(&bucket.name).key(&key).send().await {
        Ok(_) => {}
        Err(error)
            if error.as_service_error().is_some_and(|e| e.is_not_found()) || code(&error) == Some("NotFound") =>
        {
            return Ok(None);
        }
        Err(error) => return Err(explain(&format!("checking s3://{}/{key}", bucket.name), error)),
    }
    let value = assets::get_json(&s3, &bucket.name, &key).await?;
    Ok(Some(
        serde_json::from_value(value).with_context(|| format!("s3://{}/{key} is not a hotswap record", bucket.name))?,
    ))
}

/// Deletes the stack's record (the stack was deleted); nothing to delete is fine.
pub async fn forget(aws: &Aws, bucket: &AssetsBucket, environment: &str, stack: &str, region: &str) -> Result<()> {
    let empty = Record { stack: stack.to_owned(), region: region.to_owned(), functions: BTreeMap::new() };
    store(aws, bucket, environment, &empty).await
}

/// Writes the record, or deletes it once no function is hotswapped.
pub async fn store(aws: &Aws, bucket: &AssetsBucket, environment: &str, record: &Record) -> Result<()> {
    let s3 = aws.s3(Some(&bucket.region));
    let key = record_key(environment, &record.stack);
    if record.functions.is_empty() {
        s3.delete_object()
            .bucket(&bucket.name)
            .key(&key)
            .send()
            .await
            .map_err(|e| explain(&format!("deleting s3://{}/{key}", bucket.name), e))?;
        return Ok(());
    }
    assets::put(&s3, &bucket.name, &key, serde_json::to_vec_pretty(record)?, "application/json", None).await
}

/// The deployed stacks' parameters as they are live: each stack's CloudFormation parameters,
/// with the code its hotswap record names.
pub async fn effective_parameters(
    ctx: &Context,
    stack: &str,
    deployed: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let Some(bucket) = &ctx.assets else { return Ok(deployed.clone()) };
    Ok(match load(&ctx.aws, bucket, &ctx.settings.environment, stack).await? {
        Some(record) => record.effective(deployed),
        None => deployed.clone(),
    })
}

fn now() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now()).fmt(Format::DateTime).unwrap_or_default()
}

/// Logical id → physical id of a stack's resources.
async fn physical_ids(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> Result<BTreeMap<String, String>> {
    let mut pages = cfn.list_stack_resources().stack_name(stack).into_paginator().items().send();
    let mut found = BTreeMap::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| explain(&format!("listing the resources of {stack}"), e))?;
        if let (Some(logical), Some(physical)) = (item.logical_resource_id(), item.physical_resource_id()) {
            found.insert(logical.to_owned(), physical.to_owned());
        }
    }
    Ok(found)
}

/// The code parameters of `slot` among `parameters`.
fn code_of(slot: &Slot, parameters: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    slot.parameters.iter().filter_map(|p| parameters.get(p).map(|v| (p.clone(), v.clone()))).collect()
}

/// Waits until Lambda has applied the last update to the function (on AWS it takes seconds;
/// PublishVersion before then fails).
async fn wait_updated(lambda: &aws_sdk_lambda::Client, function: &str, poll: Duration) -> Result<String> {
    let started = Instant::now();
    // On the emulator (short `poll`) an update settles at once and is seen within a few ms; on
    // AWS updates take seconds, and every wait is `poll` (GetFunctionConfiguration's quota is small).
    let mut wait = if poll < Duration::from_secs(1) { poll.min(Duration::from_millis(20)) } else { poll };
    loop {
        let configuration = lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| explain(&format!("reading {function}'s configuration"), e))?;
        match configuration.last_update_status() {
            Some(LastUpdateStatus::InProgress) => {}
            Some(LastUpdateStatus::Failed) => bail!(
                "Lambda could not apply {function}'s new code: {}",
                configuration.last_update_status_reason().unwrap_or("no reason given")
            ),
            _ => return Ok(configuration.code_sha256().unwrap_or_default().to_owned()),
        }
        if started.elapsed() > UPDATE_TIMEOUT {
            bail!("{function}'s new code was not applied within {UPDATE_TIMEOUT:?}; see it in the Lambda console");
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(poll);
    }
}

/// Deletes a version a hotswap published, once nothing points at it. A version still in use
/// (an alias moved back to it by hand) or already gone is left as it is.
async fn delete_version(lambda: &aws_sdk_lambda::Client, function: &str, version: &str) -> Result<()> {
    match lambda.delete_function().function_name(function).qualifier(version).send().await {
        Ok(_) => Ok(()),
        Err(error) if matches!(code(&error), Some("ResourceNotFoundException" | "ResourceConflictException")) => Ok(()),
        Err(error) => Err(explain(&format!("deleting version {version} of {function}"), error)),
    }
}

/// Points `function` at the zip s3://`bucket`/`key` and waits until Lambda runs it; returns its
/// CodeSha256. `doing` says what for in an error ("updating", "putting back").
async fn update_code(
    ctx: &Context,
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    bucket: &str,
    key: &str,
    doing: &str,
) -> Result<String> {
    lambda
        .update_function_code()
        .function_name(function)
        .s3_bucket(bucket)
        .s3_key(key)
        .send()
        .await
        .map_err(|e| explain(&format!("{doing} {function}'s code: s3://{bucket}/{key}"), e))?;
    wait_updated(lambda, function, ctx.poll).await
}

/// One function's new code in Lambda: the zip, then a version and the alias moved to it.
/// Returns the version published.
async fn put_code(
    ctx: &Context,
    lambda: &aws_sdk_lambda::Client,
    slot: &Slot,
    function: &str,
    code: &BTreeMap<String, String>,
) -> Result<Option<String>> {
    let bucket = &code[&slot.bucket_parameter];
    let key = &code[&slot.key_parameter];
    let sha256 = update_code(ctx, lambda, function, bucket, key, "updating").await?;
    if let Some(expected) = slot.sha256_parameter.as_ref().and_then(|p| code.get(p))
        && *expected != sha256
    {
        bail!("{function} now runs code {sha256}, not the {expected} of s3://{bucket}/{key}: was the zip replaced?");
    }
    let Some((_, alias)) = &slot.alias else { return Ok(None) };
    let published = lambda
        .publish_version()
        .function_name(function)
        .code_sha256(&sha256)
        .description(format!("hotswap of {key}"))
        .send()
        .await
        .map_err(|e| explain(&format!("publishing a version of {function}"), e))?;
    let version = published.version().context("PublishVersion returned no version")?.to_owned();
    lambda
        .update_alias()
        .function_name(function)
        .name(alias)
        .function_version(&version)
        .send()
        .await
        .map_err(|e| explain(&format!("moving {function}'s {alias} alias to version {version}"), e))?;
    Ok(Some(version))
}

/// Puts CloudFormation's own code back into a hotswapped function: its zip, and the alias on the
/// version CloudFormation published.
async fn restore(ctx: &Context, lambda: &aws_sdk_lambda::Client, slot: &Slot, swapped: &Swapped) -> Result<()> {
    let function = &swapped.function_name;
    let bucket = &swapped.stack_code[&slot.bucket_parameter];
    let key = &swapped.stack_code[&slot.key_parameter];
    update_code(ctx, lambda, function, bucket, key, "putting back").await?;
    if let (Some((_, alias)), Some(version)) = (&slot.alias, &swapped.stack_version) {
        lambda
            .update_alias()
            .function_name(function)
            .name(alias)
            .function_version(version)
            .send()
            .await
            .map_err(|e| explain(&format!("moving {function}'s {alias} alias back to version {version}"), e))?;
    }
    if let Some(version) = &swapped.version {
        delete_version(lambda, function, version).await?;
    }
    Ok(())
}

/// Why a stack cannot be hotswapped, or what a hotswap of it would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing differs from what is live.
    Unchanged,
    /// Only these functions' code differs (logical ids).
    Code(Vec<String>),
    /// Something else changed: a change set must apply it.
    FallsBack(String),
}

/// Whether `plan` differs from the deployed stack only by its functions' code.
pub fn verdict(
    plan: &StackPlan,
    deployed: &stack::Deployed,
    deployed_template: &Value,
    record: Option<&Record>,
) -> Result<Verdict> {
    let desired: Value = serde_json::from_str(&plan.template)?;
    if desired != *deployed_template {
        return Ok(Verdict::FallsBack("its template changed".to_owned()));
    }
    if plan.tags != deployed.tags {
        return Ok(Verdict::FallsBack("its tags changed".to_owned()));
    }
    let live = record.map_or_else(|| deployed.parameters.clone(), |r| r.effective(&deployed.parameters));
    let slots = slots(&desired);
    let code_parameters: BTreeSet<&String> = slots.iter().flat_map(|s| s.parameters.iter()).collect();
    let keys: BTreeSet<&String> = plan.parameters.keys().chain(live.keys()).collect();
    let changed: Vec<&String> = keys.into_iter().filter(|k| plan.parameters.get(*k) != live.get(*k)).collect();
    if let Some(other) = changed.iter().find(|k| !code_parameters.contains(**k)) {
        return Ok(Verdict::FallsBack(format!("its parameter {other} changed")));
    }
    let functions: Vec<String> = slots
        .iter()
        .filter(|s| s.parameters.iter().any(|p| changed.contains(&p)))
        .map(|s| s.function.clone())
        .collect();
    Ok(if functions.is_empty() { Verdict::Unchanged } else { Verdict::Code(functions) })
}

/// What one function's hotswap did, for the terminal.
#[derive(Debug, Clone)]
pub struct Done {
    pub function: String,
    /// The version published, or `None` for CloudFormation's own code put back.
    pub version: Option<String>,
    pub restored: bool,
    pub elapsed: Duration,
}

impl Done {
    pub fn line(&self) -> String {
        match (&self.version, self.restored) {
            (_, true) => {
                format!("{}: CloudFormation's own code and version back ({:.1?})", self.function, self.elapsed)
            }
            (Some(version), _) => format!("{}: new code, version {version} live ({:.1?})", self.function, self.elapsed),
            (None, _) => format!("{}: new code live ({:.1?})", self.function, self.elapsed),
        }
    }
}

/// Puts `functions`' code from `plan` live in the deployed stack, side by side, and records it.
/// A function whose wanted code is CloudFormation's own gets that back instead.
pub async fn swap(
    ctx: &Context,
    plan: &StackPlan,
    deployed: &stack::Deployed,
    functions: &[String],
    record: Option<Record>,
) -> Result<Vec<Done>> {
    let bucket = ctx.assets.clone().context("a hotswap needs the assets bucket")?;
    let environment = &ctx.settings.environment;
    let region = ctx.region_of(plan);
    let cfn = ctx.aws.cloudformation(Some(&region));
    let lambda = ctx.aws.lambda(Some(&region));
    let template: Value = serde_json::from_str(&plan.template)?;
    let slots = slots(&template);
    let physical = physical_ids(&cfn, &plan.name).await?;
    // The record the verdict was made on, read a moment before.
    let mut record = record.unwrap_or_default();
    record.stack = plan.name.clone();
    record.region = region.clone();
    // Entries CloudFormation has since overtaken describe nothing live.
    let current: BTreeSet<String> = record.current(&deployed.parameters).map(|(f, _)| f.clone()).collect();
    record.functions.retain(|f, _| current.contains(f));

    let work = functions.iter().map(|function| {
        let slot = slots.iter().find(|s| s.function == *function).cloned();
        let previous = record.functions.get(function).cloned();
        let (lambda, physical) = (&lambda, &physical);
        async move {
            let started = Instant::now();
            let slot =
                slot.with_context(|| format!("{} has no function {function} fed by code parameters", plan.name))?;
            let name = physical
                .get(&slot.function)
                .with_context(|| format!("{} has no deployed resource {}", plan.name, slot.function))?
                .clone();
            let wanted = code_of(&slot, &plan.parameters);
            let stack_code = code_of(&slot, &deployed.parameters);
            let stack_version = slot
                .version
                .as_ref()
                .and_then(|v| physical.get(v))
                .and_then(|arn| arn.rsplit(':').next())
                .map(str::to_owned);
            if wanted == stack_code {
                // CloudFormation's own code again: no new version, the alias back on its own.
                if let Some(previous) = &previous {
                    restore(ctx, lambda, &slot, previous).await?;
                }
                let done =
                    Done { function: function.clone(), version: None, restored: true, elapsed: started.elapsed() };
                return anyhow::Ok((function.clone(), None, done));
            }
            let version = put_code(ctx, lambda, &slot, &name, &wanted).await?;
            if let Some(old) =
                previous.as_ref().and_then(|p| p.version.as_ref()).filter(|old| Some(*old) != version.as_ref())
            {
                delete_version(lambda, &name, old).await?;
            }
            let swapped = Swapped {
                function_name: name,
                code: wanted,
                stack_code,
                version: version.clone(),
                stack_version,
                at: now(),
            };
            let done = Done { function: function.clone(), version, restored: false, elapsed: started.elapsed() };
            Ok((function.clone(), Some(swapped), done))
        }
    });
    let results: Vec<Result<(String, Option<Swapped>, Done)>> = futures::future::join_all(work).await;
    let mut done = Vec::new();
    let mut failure = None;
    for result in results {
        match result {
            Ok((function, Some(swapped), line)) => {
                record.functions.insert(function, swapped);
                done.push(line);
            }
            Ok((function, None, line)) => {
                record.functions.remove(&function);
                done.push(line);
            }
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    // What succeeded is recorded even when another function failed.
    store(&ctx.aws, &bucket, environment, &record).await?;
    match failure {
        Some(error) => Err(error),
        None => Ok(done),
    }
}

/// What a deploy does to the record once its change set succeeded.
#[derive(Debug, Default)]
pub struct Settlement {
    record: Option<Record>,
    /// Functions CloudFormation now runs as it knows them: their entries go.
    overtaken: Vec<String>,
}

impl Settlement {
    pub fn is_empty(&self) -> bool {
        self.record.is_none()
    }
}

/// Whether the function's resources (function and version, the version's CodeSha256 aside)
/// are the same in both templates: if so, CloudFormation would publish no version for a change
/// of configuration.
fn configuration_unchanged(slot: &Slot, deployed: &Value, desired: &Value) -> bool {
    let resource = |template: &Value, id: &str| {
        let mut resource = template["Resources"][id].clone();
        if let Some(properties) = resource.get_mut("Properties").and_then(Value::as_object_mut) {
            properties.remove("CodeSha256");
        }
        resource
    };
    let mut ids = vec![slot.function.as_str()];
    ids.extend(slot.version.as_deref());
    ids.iter().all(|id| resource(deployed, id) == resource(desired, id))
}

/// Makes `wanted` (the parameters a deploy or rollback is about to pass) safe for a stack that
/// has hotswapped functions; see the module's documentation. Puts CloudFormation's code back at
/// once where that is what is wanted. Returns what to settle after the change succeeds.
#[allow(clippy::too_many_arguments)]
pub async fn reconcile(
    ctx: &Context,
    stack: &str,
    region: &str,
    deployed: &stack::Deployed,
    deployed_template: &Value,
    desired_template: &Value,
    wanted: &mut BTreeMap<String, String>,
) -> Result<Settlement> {
    let Some(bucket) = ctx.assets.clone() else { return Ok(Settlement::default()) };
    let environment = &ctx.settings.environment;
    let Some(mut record) = load(&ctx.aws, &bucket, environment, stack).await? else { return Ok(Settlement::default()) };
    let current: BTreeSet<String> = record.current(&deployed.parameters).map(|(f, _)| f.clone()).collect();
    let stale = record.functions.len() != current.len();
    record.functions.retain(|f, _| current.contains(f));
    let lambda = ctx.aws.lambda(Some(region));
    let slots = slots(desired_template);
    let mut overtaken = Vec::new();
    let mut restored = false;
    for (function, swapped) in record.functions.clone() {
        let Some(slot) = slots.iter().find(|s| s.function == function) else {
            // The function leaves the template: CloudFormation deletes it, versions and all.
            overtaken.push(function);
            continue;
        };
        let code = code_of(slot, wanted);
        if code == swapped.code {
            if configuration_unchanged(slot, deployed_template, desired_template) {
                // Live already; passing CloudFormation's own parameters keeps it from
                // publishing this code a second time.
                wanted.extend(swapped.stack_code.clone());
                println!(
                    "  [{stack}] {function}: its code is live by hotswap already; CloudFormation keeps its parameters"
                );
            } else {
                overtaken.push(function);
            }
        } else if code == swapped.stack_code {
            println!(
                "  [{stack}] {function}: putting CloudFormation's own code and version back (a hotswap had replaced them)"
            );
            restore(ctx, &lambda, slot, &swapped).await?;
            record.functions.remove(&function);
            restored = true;
        } else {
            overtaken.push(function);
        }
    }
    if restored || stale {
        store(&ctx.aws, &bucket, environment, &record).await?;
    }
    Ok(Settlement { record: Some(record), overtaken })
}

/// After the change succeeded: entries CloudFormation has overtaken go, with the versions they
/// published.
pub async fn settle(ctx: &Context, settlement: Settlement) -> Result<()> {
    let (Some(mut record), Some(bucket)) = (settlement.record, ctx.assets.clone()) else { return Ok(()) };
    if settlement.overtaken.is_empty() {
        return Ok(());
    }
    let lambda = ctx.aws.lambda(Some(&record.region));
    for function in &settlement.overtaken {
        if let Some(swapped) = record.functions.remove(function)
            && let Some(version) = &swapped.version
        {
            delete_version(&lambda, &swapped.function_name, version).await?;
        }
    }
    store(&ctx.aws, &bucket, &ctx.settings.environment, &record).await
}

/// Reconciles a deploy's plan with the stack's hotswap record (see [`reconcile`]).
pub async fn reconcile_plan(ctx: &Context, mut plan: StackPlan) -> Result<(StackPlan, Settlement)> {
    if ctx.assets.is_none() {
        return Ok((plan, Settlement::default()));
    }
    let region = ctx.region_of(&plan);
    let cfn = ctx.aws.cloudformation(Some(&region));
    let Some(deployed) = stack::describe(&cfn, &plan.name).await? else { return Ok((plan, Settlement::default())) };
    if deployed.phase() != stack::Phase::Stable {
        return Ok((plan, Settlement::default()));
    }
    let bucket = ctx.assets.clone().expect("checked above");
    if load(&ctx.aws, &bucket, &ctx.settings.environment, &plan.name).await?.is_none() {
        return Ok((plan, Settlement::default()));
    }
    let deployed_template = stack::template(&cfn, &plan.name).await?;
    let desired: Value = serde_json::from_str(&plan.template)?;
    let mut parameters = plan.parameters.clone();
    let settlement =
        reconcile(ctx, &plan.name, &region, &deployed, &deployed_template, &desired, &mut parameters).await?;
    plan.parameters = parameters;
    Ok((plan, settlement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(memory: i64) -> Value {
        json!({
            "Parameters": { "BackendCodeBucket": {}, "BackendCodeKey": {}, "BackendCodeSha256": {}, "Other": {} },
            "Resources": {
                "BackendFunction": { "Type": "AWS::Lambda::Function", "Properties": {
                    "Code": { "S3Bucket": { "Ref": "BackendCodeBucket" }, "S3Key": { "Ref": "BackendCodeKey" } },
                    "MemorySize": memory } },
                "BackendVersion": { "Type": "AWS::Lambda::Version", "Properties": {
                    "FunctionName": { "Ref": "BackendFunction" }, "CodeSha256": { "Ref": "BackendCodeSha256" },
                    "Description": format!("configuration {memory}") } },
                "BackendAlias": { "Type": "AWS::Lambda::Alias", "Properties": {
                    "FunctionName": { "Ref": "BackendFunction" },
                    "FunctionVersion": { "Fn::GetAtt": ["BackendVersion", "Version"] }, "Name": "live" } },
                "Table": { "Type": "AWS::DynamoDB::Table", "Properties": {} }
            }
        })
    }

    fn parameters(key: &str, other: &str) -> BTreeMap<String, String> {
        [
            ("BackendCodeBucket", "assets"),
            ("BackendCodeKey", key),
            ("BackendCodeSha256", &format!("sha-of-{key}")),
            ("Other", other),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn deployed(parameters: BTreeMap<String, String>) -> stack::Deployed {
        stack::Deployed {
            id: "id".into(),
            name: "brain2-dev-compute".into(),
            status: aws_sdk_cloudformation::types::StackStatus::UpdateComplete,
            status_reason: None,
            parameters,
            tags: BTreeMap::new(),
            outputs: Vec::new(),
            last_updated: None,
        }
    }

    fn plan(template: &Value, parameters: BTreeMap<String, String>) -> StackPlan {
        StackPlan {
            name: "brain2-dev-compute".into(),
            short_name: "compute".into(),
            region: None,
            template: template.to_string(),
            tags: BTreeMap::new(),
            parameters,
            output_parameters: BTreeMap::new(),
            depends_on: Vec::new(),
            resource_types: BTreeMap::new(),
            stateful: BTreeSet::new(),
        }
    }

    #[test]
    fn a_function_is_found_with_its_code_parameters_version_and_alias() {
        let found = slots(&template(128));
        assert_eq!(found.len(), 1);
        let slot = &found[0];
        assert_eq!(slot.function, "BackendFunction");
        assert_eq!(slot.parameters, ["BackendCodeBucket", "BackendCodeKey", "BackendCodeSha256"]);
        assert_eq!(slot.version.as_deref(), Some("BackendVersion"));
        assert_eq!(slot.alias, Some(("BackendAlias".to_owned(), "live".to_owned())));
    }

    #[test]
    fn only_a_change_of_code_is_hotswapped() {
        let template = template(128);
        let stack = deployed(parameters("a.zip", "x"));
        let same = plan(&template, parameters("a.zip", "x"));
        assert_eq!(verdict(&same, &stack, &template, None).unwrap(), Verdict::Unchanged);
        let code = plan(&template, parameters("b.zip", "x"));
        assert_eq!(verdict(&code, &stack, &template, None).unwrap(), Verdict::Code(vec!["BackendFunction".into()]));
        let other = plan(&template, parameters("b.zip", "y"));
        assert_eq!(
            verdict(&other, &stack, &template, None).unwrap(),
            Verdict::FallsBack("its parameter Other changed".into())
        );
        let resized = plan(&self::template(256), parameters("b.zip", "x"));
        assert_eq!(
            verdict(&resized, &stack, &template, None).unwrap(),
            Verdict::FallsBack("its template changed".into())
        );
    }

    #[test]
    fn a_record_makes_the_hotswapped_code_what_is_live() {
        let template = template(128);
        let stack = deployed(parameters("a.zip", "x"));
        let record = Record {
            stack: "brain2-dev-compute".into(),
            region: "eu-west-1".into(),
            functions: BTreeMap::from([(
                "BackendFunction".to_owned(),
                Swapped {
                    function_name: "fn".into(),
                    code: code_of(&slots(&template)[0], &parameters("b.zip", "x")),
                    stack_code: code_of(&slots(&template)[0], &parameters("a.zip", "x")),
                    version: Some("3".into()),
                    stack_version: Some("2".into()),
                    at: "now".into(),
                },
            )]),
        };
        let again = plan(&template, parameters("b.zip", "x"));
        assert_eq!(verdict(&again, &stack, &template, Some(&record)).unwrap(), Verdict::Unchanged);
        let back = plan(&template, parameters("a.zip", "x"));
        assert_eq!(
            verdict(&back, &stack, &template, Some(&record)).unwrap(),
            Verdict::Code(vec!["BackendFunction".into()])
        );
        // CloudFormation moved on by other means: the entry describes nothing live.
        let moved = deployed(parameters("c.zip", "x"));
        assert_eq!(record.effective(&moved.parameters), moved.parameters);
        assert!(record.lines(&stack.parameters)[0].contains("b.zip hotswapped"));
    }

    #[test]
    fn a_new_configuration_publishes_its_own_version() {
        let slot = &slots(&template(128))[0];
        assert!(configuration_unchanged(slot, &template(128), &template(128)));
        assert!(!configuration_unchanged(slot, &template(128), &template(256)));
        let mut other_resource = template(128);
        other_resource["Resources"]["Table"]["Properties"]["BillingMode"] = json!("PAY_PER_REQUEST");
        assert!(configuration_unchanged(slot, &template(128), &other_resource));
    }
}

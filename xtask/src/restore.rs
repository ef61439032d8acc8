//! `cargo xtask restore --env E --to <time>`: a table back to a point in time (DynamoDB PITR),
//! swapped into its stack through a resource import, the table it replaces kept and named.
//!
//! DynamoDB restores into a new table, and a CloudFormation resource cannot change its physical
//! table in place, so the swap is five stack operations, each of which leaves the application
//! working:
//! 1. **detach**: the stack forgets the table (its DeletionPolicy is Retain, so it stays), while
//!    every value the stack took from it (the exports) is pinned to what it was;
//! 2. **import**: the restored table is imported under the same logical id;
//! 3. **retarget**: the stacks that import those exports get the restored table's values
//!    pinned in their place (the moment the functions switch tables); CloudFormation refuses
//!    to change an export while a stack imports it, so they must let go first;
//! 4. **unpin** the table's stack: its exports now name the restored table;
//! 5. **unpin** the importers: `Fn::ImportValue` again, with the same values as step 3.
//!
//! A pin is `{"Fn::Select": [0, [value, "brain2-restore:<what it stands for>"]]}`: it evaluates
//! to `value`, and says in the deployed template what to put back. A restore stopped anywhere
//! (Ctrl-C, a failed operation) is finished by running it again with the same `--to`: every
//! step reads where things stand from the account, never from memory.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, Result, bail};
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, ResourceToImport};
use aws_sdk_dynamodb::types::{
    BillingMode, IndexStatus, PointInTimeRecoverySpecification, SseSpecification, SseType, TableStatus, Tag,
    TimeToLiveSpecification,
};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use brain2_iac::cfn::Synthesized;
use serde_json::{Value, json};

use crate::aws::change_set::{self, Created, ParameterValue, TemplateSource};
use crate::aws::errors::{code, explain};
use crate::aws::{events, stack};
use crate::deploy::adopt::{BRAIN2_LOGICAL_ID_TAG, BRAIN2_STACK_ID_TAG, BRAIN2_STACK_NAME_TAG, REPLACED_BY_TAG};
use crate::deploy::{Context, StackPlan, apply};

/// The table restored unless `--table` says another.
pub const MEMORY_TABLE: &str = "MemoryTable";
/// On a restored table: the table it was restored from, and the time.
pub const RESTORED_FROM_TAG: &str = "brain2:restored-from";
pub const RESTORED_TO_TAG: &str = "brain2:restored-to";
const PIN: &str = "brain2-restore:";
/// Set on a function while restore moves it to another table (see [`retarget_template`]).
const MOVING_VARIABLE: &str = "BRAIN2_MOVING_TABLES";

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub stack: String,
    pub logical_id: String,
    /// The restored table, now the stack's.
    pub table: String,
    /// The table it replaced, kept.
    pub replaced: String,
    /// The stacks that switched to the restored table.
    pub retargeted: Vec<String>,
}

/// Parses `--to`: an RFC 3339 time (`2026-12-04T10:15:00Z`), not in the future.
pub fn parse_time(text: &str) -> Result<DateTime> {
    let time = DateTime::from_str(text, Format::DateTime).map_err(|_| {
        anyhow::anyhow!("--to {text:?} is not a time: expected RFC 3339 in UTC, like 2026-12-04T10:15:00Z")
    })?;
    // DynamoDB restores to the second.
    let time = DateTime::from_secs(time.secs());
    let now = DateTime::from(std::time::SystemTime::now());
    if time.secs() > now.secs() {
        bail!("--to {text} is in the future (it is {} now): a table can only go back", format_time(&now));
    }
    Ok(time)
}

fn format_time(time: &DateTime) -> String {
    time.fmt(Format::DateTime).unwrap_or_else(|_| time.secs().to_string())
}

/// The name of the table restored from `stack`'s `logical_id` to `to`: the same for a second
/// run, so that it finds the first run's table.
pub fn restored_name(stack: &str, logical_id: &str, to: &DateTime) -> String {
    let stamp: String = format_time(to).chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{stack}-{logical_id}-at-{stamp}")
}

/// `{"Fn::Select": [0, [value, "brain2-restore:<what>"]]}`.
fn pin(value: &str, what: &str) -> Value {
    json!({ "Fn::Select": [0, [value, format!("{PIN}{what}")]] })
}

/// What a pin stands for, if `value` is one.
fn pinned(value: &Value) -> Option<&str> {
    let select = value.as_object().filter(|o| o.len() == 1)?.get("Fn::Select")?.as_array()?;
    let [index, list] = select.as_slice() else { return None };
    (index == &json!(0)).then_some(())?;
    list.as_array()?.get(1)?.as_str()?.strip_prefix(PIN)
}

/// Rewrites every node of `value` that `replace` answers for (depth first, not inside a
/// replaced node).
fn rewrite(value: &mut Value, replace: &mut impl FnMut(&Value) -> Option<Value>) {
    if let Some(new) = replace(value) {
        *value = new;
        return;
    }
    match value {
        Value::Object(map) => map.values_mut().for_each(|v| rewrite(v, replace)),
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, replace)),
        _ => {}
    }
}

/// Which attribute of `logical_id` a node takes: `Ref`, `Arn`, another attribute, or none.
fn takes_from<'a>(node: &'a Value, logical_id: &str) -> Option<&'a str> {
    let object = node.as_object().filter(|o| o.len() == 1)?;
    match object.iter().next()? {
        (key, Value::String(target)) if key == "Ref" && target == logical_id => Some("Ref"),
        (key, Value::Array(parts))
            if key == "Fn::GetAtt" && parts.first().and_then(Value::as_str) == Some(logical_id) =>
        {
            parts.get(1).and_then(Value::as_str)
        }
        (key, Value::String(dotted)) if key == "Fn::GetAtt" => dotted.strip_prefix(logical_id)?.strip_prefix('.'),
        _ => None,
    }
}

/// Step 1's template: `deployed` without `logical_id`, each `Ref` and `GetAtt Arn` of it pinned
/// to `name` and `arn`. Fails naming what cannot be pinned (another attribute, a `Fn::Sub`).
pub fn detach_template(deployed: &Value, logical_id: &str, name: &str, arn: &str) -> Result<Value> {
    let mut template = deployed.clone();
    template["Resources"].as_object_mut().context("the deployed template has no Resources")?.remove(logical_id);
    let mut unpinnable = None;
    rewrite(&mut template, &mut |node| match takes_from(node, logical_id) {
        Some("Ref") => Some(pin(name, &format!("Ref:{logical_id}"))),
        Some("Arn") => Some(pin(arn, &format!("GetAtt:{logical_id}.Arn"))),
        Some(other) => {
            unpinnable.get_or_insert_with(|| format!("its attribute {other}"));
            None
        }
        None => {
            let sub = node.get("Fn::Sub")?;
            let text = sub.as_str().or_else(|| sub[0].as_str())?;
            let named = text.contains(&format!("${{{logical_id}}}")) || text.contains(&format!("${{{logical_id}."));
            if named {
                unpinnable.get_or_insert_with(|| format!("a Fn::Sub ({text})"));
            }
            None
        }
    });
    if let Some(what) = unpinnable {
        bail!(
            "restore cannot swap {logical_id}: the stack takes {what} from it, which restore can only pin as a Ref or an \
             Arn. Refer to the table by Ref or Fn::GetAtt Arn and deploy, then restore"
        );
    }
    Ok(template)
}

/// Whether `value` holds a pin anywhere inside, for which `what` answers true.
fn holds_pin(value: &Value, what: &impl Fn(&str) -> bool) -> bool {
    if pinned(value).is_some_and(what) {
        return true;
    }
    match value {
        Value::Object(map) => map.values().any(|v| holds_pin(v, what)),
        Value::Array(items) => items.iter().any(|v| holds_pin(v, what)),
        _ => false,
    }
}

/// `template` with each pin restore left put back: `Ref`, `Fn::GetAtt`, `Fn::ImportValue` or the
/// literal it stood for; what it added only for the move (`Drop:`) is taken out.
pub fn unpin(template: &Value) -> Value {
    // Only where the move added them: the elements of an IAM `Resource`, and a variable.
    fn drop_added(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|_, inner| !pinned(inner).is_some_and(|what| what.starts_with("Drop:")));
                for (key, inner) in map.iter_mut() {
                    match inner {
                        Value::Array(items) if key == "Resource" => {
                            items.retain(|item| !holds_pin(item, &|what| what.starts_with("Drop:")))
                        }
                        _ => drop_added(inner),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(drop_added),
            _ => {}
        }
    }
    let mut template = template.clone();
    drop_added(&mut template);
    rewrite(&mut template, &mut |node| {
        let what = pinned(node)?;
        if let Some(id) = what.strip_prefix("Ref:") {
            Some(json!({ "Ref": id }))
        } else if let Some(dotted) = what.strip_prefix("GetAtt:") {
            let (id, attribute) = dotted.split_once('.')?;
            Some(json!({ "Fn::GetAtt": [id, attribute] }))
        } else if let Some(literal) = what.strip_prefix("Literal:") {
            Some(Value::String(literal.to_owned()))
        } else {
            what.strip_prefix("ImportValue:").map(|export| json!({ "Fn::ImportValue": export }))
        }
    });
    template
}

/// Every pin of `template`, in document order: (what it stands for, its value).
fn pins(template: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, found: &mut Vec<(String, String)>) {
        if let Some(what) = pinned(value) {
            found.push((what.to_owned(), value["Fn::Select"][1][0].as_str().unwrap_or_default().to_owned()));
            return;
        }
        match value {
            Value::Object(map) => map.values().for_each(|v| walk(v, found)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(template, &mut found);
    found
}

/// What each pin of `template` stands for.
fn pins_of(template: &Value) -> BTreeSet<String> {
    pins(template).into_iter().map(|(what, _)| what).collect()
}

/// The value a pin of `what` holds in `template`, if one does.
fn pinned_value(template: &Value, what: &str) -> Option<String> {
    pins(template).into_iter().find(|(w, _)| w == what).map(|(_, value)| value)
}

/// Whether `template` holds a pin: a restore of it is under way, or stopped unfinished.
pub fn has_pins(template: &Value) -> bool {
    holds_pin(template, &|_| true)
}

/// Step 3 for one importer: each `Fn::ImportValue` of an export in `moves` pinned to its new
/// value. So that nothing is refused while the move is under way, an IAM `Resource` that names
/// one of them is also granted on the old value (a `Drop:` pin, gone with the unpin), and each
/// Lambda version of a function that changed is renamed for the move, which publishes a new one
/// for the `live` alias (a version freezes its function's configuration). Returns the template
/// and how many places changed.
pub fn retarget_template(template: &Value, moves: &BTreeMap<String, Move>) -> Result<(Value, usize)> {
    let imports = |node: &Value| -> Option<String> {
        let export = node.as_object().filter(|o| o.len() == 1)?.get("Fn::ImportValue")?.as_str()?;
        moves.contains_key(export).then(|| export.to_owned())
    };
    let mut template = template.clone();
    // Grants on the old values, beside the new.
    fn grant_old(value: &mut Value, imports: &dyn Fn(&Value) -> Option<String>, moves: &BTreeMap<String, Move>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if key == "Resource"
                        && let Value::Array(items) = inner
                    {
                        let mut olds = Vec::new();
                        for item in items.iter() {
                            let mut old = item.clone();
                            let mut touched = false;
                            rewrite(&mut old, &mut |node| {
                                let export = imports(node)?;
                                touched = true;
                                Some(pin(&moves[&export].old, &format!("Drop:{export}")))
                            });
                            if touched {
                                olds.push(old);
                            }
                        }
                        items.extend(olds);
                    } else {
                        grant_old(inner, imports, moves);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| grant_old(v, imports, moves)),
            _ => {}
        }
    }
    grant_old(&mut template, &imports, moves);
    let before = template.clone();
    let mut count = 0;
    rewrite(&mut template, &mut |node| {
        let export = imports(node)?;
        count += 1;
        Some(pin(&moves[&export].new, &format!("ImportValue:{export}")))
    });
    if count > 0 {
        let resources = template["Resources"].as_object().cloned().unwrap_or_default();
        for (id, resource) in &resources {
            let Some(function) = resource["Properties"]["FunctionName"]["Ref"].as_str() else { continue };
            let changed = before["Resources"][function] != template["Resources"][function];
            if resource["Type"] != "AWS::Lambda::Version" || !changed {
                continue;
            }
            // What the unpin could not give back exactly is refused.
            let Some(description) = resource["Properties"]["Description"].as_str().map(str::to_owned) else {
                bail!("restore cannot move {function}: its version {id} has no plain Description to mark");
            };
            template["Resources"][id]["Properties"]["Description"] =
                pin(&format!("{description} (moving tables)"), &format!("Literal:{description}"));
            // Lambda publishes a version only of a function that changed since the last one:
            // the unpin, whose values are the same, changes the function by taking this away.
            let variables = &mut template["Resources"][function]["Properties"]["Environment"]["Variables"];
            if !variables.is_object() {
                bail!("restore cannot move {function}: it has no plain Environment.Variables to mark");
            }
            variables[MOVING_VARIABLE] = pin("1", "Drop:variable");
        }
    }
    Ok((template, count))
}

/// An export's value before and after the swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub old: String,
    pub new: String,
}

/// The exports of `template` whose value comes from `logical_id` (directly or pinned), with
/// the attribute each takes (`Ref` or `Arn`).
fn exports_of(template: &Value, logical_id: &str) -> BTreeMap<String, &'static str> {
    let mut exports = BTreeMap::new();
    for output in template["Outputs"].as_object().into_iter().flatten().map(|(_, o)| o) {
        let Some(export) = output["Export"]["Name"].as_str() else { continue };
        let value = &output["Value"];
        let attribute = match (takes_from(value, logical_id), pinned(value)) {
            (Some("Ref"), _) => "Ref",
            (Some("Arn"), _) => "Arn",
            (_, Some(what)) if what == format!("Ref:{logical_id}") => "Ref",
            (_, Some(what)) if what == format!("GetAtt:{logical_id}.Arn") => "Arn",
            _ => continue,
        };
        exports.insert(export.to_owned(), attribute);
    }
    exports
}

/// Restores `logical_id` (a table of one of `synthesized`'s stacks) to `to`, and swaps it in.
pub async fn restore(
    ctx: &Context,
    synthesized: &Synthesized,
    logical_id: &str,
    to: &DateTime,
    yes: bool,
) -> Result<Restored> {
    let environment = ctx.settings.environment.clone();
    if environment == "prod" && !yes {
        bail!(
            "restore refuses prod without --yes: it switches the live application to the restored table. If that is \
             the intent, run `cargo xtask restore --env prod --to {} --yes`",
            format_time(to)
        );
    }
    let plans = crate::deploy::plans_keeping_parameters(synthesized)?;
    let plan = plans
        .iter()
        .find(|p| p.resource_types.get(logical_id).map(String::as_str) == Some("AWS::DynamoDB::Table"))
        .with_context(|| format!("no stack of {environment} declares a table {logical_id}"))?;
    let declared: Value = serde_json::from_str(&plan.template)?;
    let cfn = ctx.aws.cloudformation(plan.region.as_deref());
    let dynamodb = ctx.aws.dynamodb_in(plan.region.as_deref());
    let region = ctx.region_of(plan);
    let current = match stack::describe(&cfn, &plan.name).await? {
        Some(current) if current.phase() == stack::Phase::Stable => current,
        Some(current) => bail!(
            "{} is {}: restore waits for a stack at rest (`cargo xtask status --env {environment}`)",
            plan.name,
            current.status.as_str()
        ),
        None => bail!("{} is not deployed: there is no table to restore", plan.name),
    };
    let mut deployed = stack::template(&cfn, &plan.name).await?;
    // The deployed definition rules; the synthesized one only where a stopped run detached it.
    let definition = match deployed["Resources"].get(logical_id) {
        Some(definition) => definition.clone(),
        None => declared["Resources"][logical_id].clone(),
    };
    let file = format!("environments/{environment}.json");
    if definition["DeletionPolicy"] != "Retain" {
        bail!(
            "restore cannot swap {logical_id} in {environment}: its DeletionPolicy is not Retain, so taking it out of \
             the stack would delete it. Set \"data\": {{\"removalPolicy\": \"Retain\"}} in {file} and deploy first"
        );
    }
    if definition["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] != true {
        bail!(
            "{logical_id} of {environment} has no point-in-time recovery, so there is nothing to restore from. Set \
             \"data\": {{\"pointInTimeRecovery\": true}} in {file} and deploy; restores can reach back to then"
        );
    }
    if definition["Properties"].get("TableName").is_some() {
        bail!(
            "restore cannot swap {logical_id}: the template names it (TableName), and CloudFormation can import a table \
             under that logical id only by that name"
        );
    }
    let dependents: Vec<&String> = deployed["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| match &r["DependsOn"] {
            Value::String(one) => one == logical_id,
            Value::Array(many) => many.iter().any(|d| d == logical_id),
            _ => false,
        })
        .map(|(id, _)| id)
        .collect();
    if !dependents.is_empty() {
        bail!(
            "restore cannot swap {logical_id}: {} of {} depend on it (DependsOn), which a stack without it cannot \
             declare. Nothing was changed",
            dependents.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", "),
            plan.name
        );
    }
    let target = restored_name(&plan.name, logical_id, to);
    let physical = match deployed["Resources"].get(logical_id) {
        Some(_) => Some(physical_id(&cfn, &plan.name, logical_id).await?),
        None => None,
    };
    let target_tags = tags_of(&dynamodb, &target).await?;
    // The table replaced: the stack's, or (detached by a stopped run) the value pinned for it.
    let source = match &physical {
        Some(physical) if *physical != target => physical.clone(),
        Some(_) => target_tags
            .as_ref()
            .and_then(|t| t.get(RESTORED_FROM_TAG).cloned())
            .with_context(|| format!("{target} is {logical_id} of {} but has no {RESTORED_FROM_TAG} tag", plan.name))?,
        None => pinned_value(&deployed, &format!("Ref:{logical_id}")).with_context(|| {
            format!(
                "{} holds no {logical_id} and no value restore pinned for it: look at the stack's events (`cargo xtask \
                 status --env {environment}`)",
                plan.name
            )
        })?,
    };
    // A table of the target's name must be this restore's: from this source, to this time.
    if let Some(tags) = &target_tags {
        if let Some(by) = tags.get(REPLACED_BY_TAG) {
            bail!(
                "{target} was swapped in by an earlier restore to the same time and then replaced by {by}: restoring \
                 again to {} would bring back that table with what was written to it meanwhile. Delete or rename \
                 {target} (after checking it), or pick another --to",
                format_time(to)
            );
        }
        let ours = tags.get(RESTORED_FROM_TAG) == Some(&source)
            && tags.get(RESTORED_TO_TAG).map(String::as_str) == Some(format_time(to).as_str());
        if !ours && !restored_by_dynamodb(&dynamodb, &target, &source, to).await? {
            bail!(
                "a table {target} exists that is not a restore of {source} to {}: restore will not swap it in. Delete \
                 or rename it (after checking it), then run restore again",
                format_time(to)
            );
        }
    }
    let swapped = physical.as_deref() == Some(target.as_str());

    // Everything that could stop the swap halfway is checked before anything changes.
    let mut deployed_exports = exports_of(&deployed, logical_id);
    if let Some(derived) = derived_export(&deployed, logical_id, &deployed_exports) {
        bail!(
            "restore cannot swap {logical_id}: the export {derived} derives from it in a way restore cannot move (only \
             a Ref or a GetAtt Arn). Nothing was changed"
        );
    }
    let in_app: BTreeSet<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    let mut importers = BTreeSet::new();
    for export in deployed_exports.keys() {
        for importer in stack::importers(&cfn, export, ctx.aws.endpoint_url().is_some()).await? {
            if !in_app.contains(importer.as_str()) {
                bail!(
                    "restore cannot swap {logical_id}: {importer} imports {export}, and only this app's stacks can be \
                     moved to the restored table. Nothing was changed"
                );
            }
            importers.insert(importer);
        }
    }
    let others: Vec<&StackPlan> = plans.iter().filter(|p| p.name != plan.name).collect();
    for other in &others {
        let other_cfn = ctx.aws.cloudformation(other.region.as_deref());
        if let Some(state) = stack::describe(&other_cfn, &other.name).await?
            && state.phase() != stack::Phase::Stable
        {
            bail!(
                "{} is {}: restore moves it to the restored table, and waits for it to be at rest. Nothing was changed",
                other.name,
                state.status.as_str()
            );
        }
    }
    if !swapped && physical.is_some() {
        detach_template(&deployed, logical_id, "-", "-")?;
    }
    let ours = |what: &str| {
        what == format!("Ref:{logical_id}")
            || what == format!("GetAtt:{logical_id}.Arn")
            || what == "Drop:variable"
            || what.starts_with("Literal:")
            || what
                .strip_prefix("ImportValue:")
                .or_else(|| what.strip_prefix("Drop:"))
                .is_some_and(|export| deployed_exports.contains_key(export))
    };
    let dry_moves: BTreeMap<String, Move> =
        deployed_exports.keys().map(|e| (e.clone(), Move { old: "-".into(), new: "-".into() })).collect();
    let assets = ctx.assets.as_ref().context("restore needs the environment's assets bucket (bootstrap)")?;
    for each in &plans {
        let each_cfn = ctx.aws.cloudformation(each.region.as_deref());
        let Some(state) = stack::describe(&each_cfn, &each.name).await? else { continue };
        let template =
            if each.name == plan.name { deployed.clone() } else { stack::template(&each_cfn, &each.name).await? };
        if let Some(other) = pins_of(&template).into_iter().find(|what| !ours(what)) {
            bail!(
                "{} holds a value pinned by another restore ({other}), which is not finished: finish that one first (its \
                 restored table's brain2:restored-to tag gives its --to). Nothing was changed",
                each.name
            );
        }
        if each.name != plan.name {
            retarget_template(&template, &dry_moves).with_context(|| format!("{}: nothing was changed", each.name))?;
        }
        // A hotswap's code is not what the stack's versions name: publishing one would fail.
        if let Some(record) = crate::deploy::hotswap::load(&ctx.aws, assets, &environment, &each.name).await?
            && !record.lines(&state.parameters).is_empty()
        {
            bail!(
                "{} runs hotswapped code, and restore publishes new versions of its functions from what the stack \
                 declares: deploy it without --hotswap first (`cargo xtask deploy --env {environment}`), then restore. \
                 Nothing was changed",
                each.name
            );
        }
    }

    println!("  [{}] {logical_id}: {source}", plan.short_name);
    println!(
        "  [{}]   restored to {} as {target}, then swapped in; {source} is kept",
        plan.short_name,
        format_time(to)
    );
    println!(
        "  [{}]   while the functions move, which can take minutes, some writes may still reach {source}: they stay \
         there, in the kept table",
        plan.short_name
    );
    if !yes && !ctx.confirm(&format!("restore {logical_id} of {environment}?")).await {
        bail!("nothing was restored: not confirmed");
    }

    let protection = ctx.settings.protects_with_stack_policy().then(|| plan.stateful.clone());
    if let Some(protection) = &protection {
        // A run killed while the policy was lifted left it so: whole again before anything.
        apply::set_policy(&cfn, &plan.name, protection).await?;
    }
    if target_tags.is_none() {
        start_restore(ctx, plan, &definition, &source, &target, to).await?;
    }
    wait_active(ctx, &dynamodb, &target).await?;
    align(&dynamodb, plan, &definition, &source, &target, to).await?;
    // The replaced table is read only while the swap needs it (it may be gone after).
    let finished = swapped && !has_pins(&deployed);
    let old_arn = if finished { String::new() } else { table_arn(&dynamodb, &source).await? };
    let new_arn = table_arn(&dynamodb, &target).await?;

    let again = format!(
        "cargo xtask restore --env {environment} --to {}{}{}",
        format_time(to),
        if logical_id == MEMORY_TABLE { String::new() } else { format!(" --table {logical_id}") },
        if yes { " --yes" } else { "" }
    );
    let stopped = |at: &str, using: &str| {
        format!("the swap stopped at {at}, with the application on {using}; `{again}` finishes it")
    };
    if !swapped && physical.is_some() {
        let detached = detach_template(&deployed, logical_id, &source, &old_arn)?;
        let _operation = ctx.operation_on(&plan.name, &region);
        if let Some(protection) = &protection {
            // The stack policy denies removing the table: lifted for the detach alone, and put
            // back by Ctrl-C too.
            ctx.record_lifted_policy(&plan.name, &region, protection);
            let mut lifted = protection.clone();
            lifted.remove(logical_id);
            apply::set_policy(&cfn, &plan.name, &lifted).await?;
        }
        let outcome = detach(ctx, &cfn, plan, &detached, logical_id).await;
        if let Some(protection) = &protection {
            let put_back = apply::set_policy(&cfn, &plan.name, protection).await;
            match (&outcome, put_back) {
                (_, Ok(())) => ctx.forget_lifted_policy(&plan.name),
                (Ok(()), Err(error)) => return Err(error.context(stopped("putting back the stack policy", &source))),
                (Err(first), Err(error)) => bail!(
                    "{}: {first:#}\n  and the stack policy of {} could not be put back ({error:#}): the next run puts it \
                     back first",
                    stopped("the detach", &source),
                    plan.name
                ),
            }
        }
        outcome.with_context(|| stopped("the detach", &source))?;
        deployed = detached;
    }
    if deployed["Resources"].get(logical_id).is_none() {
        let mut imported = deployed.clone();
        imported["Resources"][logical_id] = definition.clone();
        let _operation = ctx.operation_on(&plan.name, &region);
        import(ctx, &cfn, plan, &imported, logical_id, &target)
            .await
            .with_context(|| stopped("the import", &source))?;
        deployed = imported;
    }
    // Only now is it the stack's: the tags deploy's adoption finds it by, and the old one's mark.
    let current_id = stack::describe(&cfn, &plan.name).await?.map(|s| s.id).unwrap_or_else(|| current.id.clone());
    tag(
        &dynamodb,
        &new_arn,
        [
            (BRAIN2_STACK_NAME_TAG, plan.name.as_str()),
            (BRAIN2_LOGICAL_ID_TAG, logical_id),
            (BRAIN2_STACK_ID_TAG, &current_id),
        ],
    )
    .await?;
    if !finished {
        tag(&dynamodb, &old_arn, [(REPLACED_BY_TAG, target.as_str())]).await?;
    }

    let mut retargeted = Vec::new();
    if has_pins(&deployed) {
        // 3. The importers switch to the restored table.
        deployed_exports = exports_of(&deployed, logical_id);
        let moves: BTreeMap<String, Move> = deployed_exports
            .iter()
            .map(|(export, attribute)| {
                let (old, new) = if *attribute == "Arn" { (&old_arn, &new_arn) } else { (&source, &target) };
                (export.clone(), Move { old: old.clone(), new: new.clone() })
            })
            .collect();
        for other in &others {
            let other_cfn = ctx.aws.cloudformation(other.region.as_deref());
            if stack::describe(&other_cfn, &other.name).await?.is_none() {
                continue;
            }
            let (moved, count) = retarget_template(&stack::template(&other_cfn, &other.name).await?, &moves)?;
            if count > 0 {
                println!("  [{}] {count} value(s) from {logical_id} now name {target}", other.short_name);
                let _operation = ctx.operation_on(&other.name, &ctx.region_of(other));
                let on = if retargeted.is_empty() {
                    source.clone()
                } else {
                    format!("{target} in {} and {source} elsewhere", retargeted.join(", "))
                };
                update_template(ctx, &other_cfn, other, &moved)
                    .await
                    .with_context(|| stopped(&format!("moving {} to {target}", other.name), &on))?;
                retargeted.push(other.name.clone());
            }
        }
        // 4. Nothing imports the exports now, so they may change.
        let _operation = ctx.operation_on(&plan.name, &region);
        update_template(ctx, &cfn, plan, &unpin(&deployed))
            .await
            .with_context(|| stopped(&format!("the exports of {}", plan.name), &target))?;
        println!("  [{}] exports name {target}", plan.short_name);
    }
    // 5. The imports return.
    for other in &others {
        let other_cfn = ctx.aws.cloudformation(other.region.as_deref());
        if stack::describe(&other_cfn, &other.name).await?.is_none() {
            continue;
        }
        let template = stack::template(&other_cfn, &other.name).await?;
        if has_pins(&template) {
            let _operation = ctx.operation_on(&other.name, &ctx.region_of(other));
            update_template(ctx, &other_cfn, other, &unpin(&template))
                .await
                .with_context(|| stopped(&format!("the imports of {}", other.name), &target))?;
            println!("  [{}] imports {logical_id}'s exports again", other.short_name);
        }
    }
    // Every pin must be gone: an update CloudFormation took for no change would leave one.
    for each in &plans {
        let each_cfn = ctx.aws.cloudformation(each.region.as_deref());
        let deployed = stack::describe(&each_cfn, &each.name).await?.is_some();
        if deployed && has_pins(&stack::template(&each_cfn, &each.name).await?) {
            bail!(
                "{} still holds restore's pinned values after its update (CloudFormation found nothing to change). Its values \
                 are right (the application is on {target}), but deploy refuses it while pins remain: update it by hand \
                 with its template (`aws cloudformation get-template`), each `Fn::Select [0, [value, \"brain2-restore:<what>\"]]` \
                 replaced by the Ref, Fn::GetAtt or Fn::ImportValue <what> names (an element holding `Drop:` removed)",
                each.name
            );
        }
    }
    Ok(Restored {
        stack: plan.name.clone(),
        logical_id: logical_id.to_owned(),
        table: target,
        replaced: source,
        retargeted,
    })
}

/// Whether DynamoDB says `table` was restored from `source` to `to` (a run stopped before it
/// tagged the table leaves only this).
async fn restored_by_dynamodb(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    source: &str,
    to: &DateTime,
) -> Result<bool> {
    let described = describe_table(dynamodb, table).await?;
    let Some(summary) = described.restore_summary() else { return Ok(false) };
    let from = summary.source_table_arn().is_some_and(|arn| arn.ends_with(&format!("/{source}")));
    Ok(from && summary.restore_date_time().secs() == to.secs())
}

/// An export of `template` whose value uses `logical_id` other than as a plain `Ref` or
/// `GetAtt Arn` (in a `Fn::Join`, a `Fn::Sub`…): restore could not move it.
fn derived_export(template: &Value, logical_id: &str, direct: &BTreeMap<String, &'static str>) -> Option<String> {
    template["Outputs"].as_object().into_iter().flatten().map(|(_, o)| o).find_map(|output| {
        let export = output["Export"]["Name"].as_str()?;
        if direct.contains_key(export) {
            return None;
        }
        let text = output["Value"].to_string();
        let uses = text.contains(&format!("\"{logical_id}\""))
            || text.contains(&format!("${{{logical_id}}}"))
            || text.contains(&format!("${{{logical_id}."))
            || text.contains(&format!("\"{logical_id}."));
        uses.then(|| export.to_owned())
    })
}

async fn physical_id(cfn: &aws_sdk_cloudformation::Client, stack: &str, logical_id: &str) -> Result<String> {
    crate::aws::stack::physical_id(cfn, stack, logical_id)
        .await?
        .with_context(|| format!("{stack} names no resource for {logical_id}"))
}

/// The table's tags; `None` when there is no such table.
async fn tags_of(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Option<BTreeMap<String, String>>> {
    let described = match dynamodb.describe_table().table_name(table).send().await {
        Ok(described) => described,
        Err(error) if code(&error) == Some("ResourceNotFoundException") => return Ok(None),
        Err(error) => return Err(explain(&format!("reading table {table}"), error)),
    };
    let Some(arn) = described.table().and_then(|t| t.table_arn()) else { return Ok(Some(BTreeMap::new())) };
    let tags = dynamodb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| explain(&format!("reading the tags of {table}"), e))?;
    Ok(Some(tags.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()))
}

/// The table's description, which DynamoDB always gives for a table it found.
async fn describe_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<aws_sdk_dynamodb::types::TableDescription> {
    dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| explain(&format!("reading table {table}"), e))?
        .table
        .with_context(|| format!("DynamoDB gave no description of table {table}"))
}

async fn table_arn(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<String> {
    describe_table(dynamodb, table).await?.table_arn.with_context(|| format!("table {table} has no ARN"))
}

async fn tag<'a>(
    dynamodb: &aws_sdk_dynamodb::Client,
    arn: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    let tags: Vec<Tag> =
        tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value are set")).collect();
    dynamodb
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| explain(&format!("tagging {arn}"), e))?;
    Ok(())
}

/// How the restored table is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// DynamoDB's own key, as the source table had by default.
    Owned,
    /// KMS: this key, or the AWS managed one.
    Kms(Option<String>),
}

/// One `RestoreTableToPointInTime`.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub source: String,
    pub target: String,
    pub to: DateTime,
    pub on_demand: bool,
    pub encryption: Encryption,
}

/// Asks DynamoDB for the restore, encrypted with the key the template names.
async fn start_restore(
    ctx: &Context,
    plan: &StackPlan,
    definition: &Value,
    source: &str,
    target: &str,
    to: &DateTime,
) -> Result<()> {
    let cfn = ctx.aws.cloudformation(plan.region.as_deref());
    let properties = &definition["Properties"];
    let sse = &properties["SSESpecification"];
    let encryption = if sse["SSEEnabled"] == true && sse["SSEType"] == "KMS" {
        // A key of the stack: the one the template names (its physical id).
        let key = &sse["KMSMasterKeyId"];
        match (key.is_null(), key.as_str(), key["Ref"].as_str().or_else(|| key["Fn::GetAtt"][0].as_str())) {
            (true, _, _) => Encryption::Kms(None),
            (_, Some(literal), _) => Encryption::Kms(Some(literal.to_owned())),
            (_, _, Some(key_logical)) => Encryption::Kms(Some(physical_id(&cfn, &plan.name, key_logical).await?)),
            _ => bail!(
                "restore cannot tell which key encrypts {source} (its KMSMasterKeyId is {key}); it will not restore it \
                 under another. Nothing was changed"
            ),
        }
    } else {
        Encryption::Owned
    };
    let request = RestoreRequest {
        source: source.to_owned(),
        target: target.to_owned(),
        to: *to,
        on_demand: properties["BillingMode"] == "PAY_PER_REQUEST",
        encryption,
    };
    println!("  restoring {source} to {} as {target}", format_time(to));
    request_restore(&ctx.aws.dynamodb_in(plan.region.as_deref()), &request).await
}

/// Sends `request`; a time outside the table's window, or a table without point-in-time
/// recovery, is said in those words (with the window).
pub async fn request_restore(dynamodb: &aws_sdk_dynamodb::Client, request: &RestoreRequest) -> Result<()> {
    let RestoreRequest { source, target, to, .. } = request;
    let mut call = dynamodb
        .restore_table_to_point_in_time()
        .source_table_name(source)
        .target_table_name(target)
        .restore_date_time(*to);
    if request.on_demand {
        call = call.billing_mode_override(BillingMode::PayPerRequest);
    }
    if let Encryption::Kms(key) = &request.encryption {
        let spec = SseSpecification::builder().enabled(true).sse_type(SseType::Kms).set_kms_master_key_id(key.clone());
        call = call.sse_specification_override(spec.build());
    }
    match call.send().await {
        Ok(_) => Ok(()),
        Err(error) if code(&error) == Some("InvalidRestoreTimeException") => {
            let window = dynamodb.describe_continuous_backups().table_name(source).send().await.ok().and_then(|b| {
                let pitr = b.continuous_backups_description()?.point_in_time_recovery_description()?;
                Some(format!(
                    "{} to {}",
                    format_time(pitr.earliest_restorable_date_time()?),
                    format_time(pitr.latest_restorable_date_time()?)
                ))
            });
            bail!(
                "--to {} is outside what {source} can be restored to ({}). Nothing was changed",
                format_time(to),
                window.unwrap_or_else(|| "its window could not be read".to_owned())
            )
        }
        Err(error) if code(&error) == Some("PointInTimeRecoveryUnavailableException") => bail!(
            "point-in-time recovery is not on for {source} (it is turned on by deploy when the environment asks for it, \
             and reaches back only to then). Nothing was changed"
        ),
        Err(error) => Err(explain(&format!("restoring {source} to {}", format_time(to)), error)),
    }
}

async fn wait_active(ctx: &Context, dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let started = std::time::Instant::now();
    let mut said = std::time::Duration::ZERO;
    loop {
        let description = describe_table(dynamodb, table).await?;
        let ready = match description.table_status() {
            Some(TableStatus::Active) => {
                // The table answers before its indexes are built and the restore is over.
                let indexes = description.global_secondary_indexes();
                let restoring = description.restore_summary().is_some_and(|r| r.restore_in_progress());
                !restoring && indexes.iter().all(|i| i.index_status() == Some(&IndexStatus::Active))
            }
            Some(TableStatus::Creating) | Some(TableStatus::Updating) | None => false,
            Some(other) => bail!("the restored table {table} is {}, not ACTIVE", other.as_str()),
        };
        if ready {
            return Ok(());
        }
        if started.elapsed() >= said + std::time::Duration::from_secs(60) {
            said = started.elapsed();
            println!("  {table} is still being restored ({} min)", said.as_secs() / 60);
        }
        tokio::time::sleep(ctx.poll.max(std::time::Duration::from_millis(100))).await;
    }
}

/// What a restore does not carry over and the template declares: point-in-time recovery,
/// deletion protection, time to live, the stack's tags. Each is read first, so that a second
/// run asks for nothing already done (DynamoDB refuses to turn TTL on twice).
async fn align(
    dynamodb: &aws_sdk_dynamodb::Client,
    plan: &StackPlan,
    definition: &Value,
    source: &str,
    target: &str,
    to: &DateTime,
) -> Result<()> {
    let properties = &definition["Properties"];
    let table = describe_table(dynamodb, target).await?;
    let arn = table.table_arn().with_context(|| format!("{target} has no ARN"))?.to_owned();
    let to = format_time(to);
    let mut tags: Vec<(&str, &str)> = plan.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    tags.extend([(RESTORED_FROM_TAG, source), (RESTORED_TO_TAG, to.as_str())]);
    tag(dynamodb, &arn, tags).await?;
    // DynamoDB may answer that backups are still being set up on a table just restored.
    let mut attempts = 0;
    loop {
        let sent = dynamodb
            .update_continuous_backups()
            .table_name(target)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build()?,
            )
            .send()
            .await;
        match sent {
            Ok(_) => break,
            Err(error) if code(&error) == Some("ContinuousBackupsUnavailableException") && attempts < 60 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
            Err(error) => return Err(explain(&format!("turning on point-in-time recovery for {target}"), error)),
        }
    }
    if properties["DeletionProtectionEnabled"] == true && table.deletion_protection_enabled() != Some(true) {
        dynamodb
            .update_table()
            .table_name(target)
            .deletion_protection_enabled(true)
            .send()
            .await
            .map_err(|e| explain(&format!("turning on deletion protection for {target}"), e))?;
    }
    let ttl = &properties["TimeToLiveSpecification"];
    if ttl["Enabled"] == true
        && let Some(attribute) = ttl["AttributeName"].as_str()
    {
        let current = dynamodb
            .describe_time_to_live()
            .table_name(target)
            .send()
            .await
            .map_err(|e| explain(&format!("reading the time to live of {target}"), e))?;
        let on = current.time_to_live_description().and_then(|d| d.time_to_live_status()).is_some_and(|s| {
            matches!(
                s,
                aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled
                    | aws_sdk_dynamodb::types::TimeToLiveStatus::Enabling
            )
        });
        if !on {
            dynamodb
                .update_time_to_live()
                .table_name(target)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder().enabled(true).attribute_name(attribute).build()?,
                )
                .send()
                .await
                .map_err(|e| explain(&format!("turning on time to live for {target}"), e))?;
        }
    }
    Ok(())
}

/// Why an operation failed, from its first failing resource.
fn first_failure(outcome: &events::Outcome) -> String {
    outcome.first_failure.as_ref().map(|f| format!("{} {}", f.logical_id, f.reason)).unwrap_or_default()
}

/// Creates a change set of restore's on `plan`'s stack (parameters as they are); `None` when
/// CloudFormation finds nothing to do.
async fn plan_change_set(
    ctx: &Context,
    cfn: &aws_sdk_cloudformation::Client,
    plan: &StackPlan,
    template: &Value,
    kind: ChangeSetType,
    imports: Vec<ResourceToImport>,
    what: &str,
) -> Result<Option<(String, Vec<change_set::Planned>)>> {
    let body = serde_json::to_string_pretty(template)? + "\n";
    let request = change_set::Request {
        stack: plan.name.clone(),
        name: format!("{}-{}", ctx.change_set_name(), kind.as_str().to_lowercase()),
        kind,
        template: ctx.template_source(plan, &body).await?,
        parameters: previous_parameters(cfn, &plan.name).await?,
        tags: Vec::new(),
        imports,
        description: format!("cargo xtask restore: {what}"),
    };
    Ok(match change_set::create(cfn, &request, ctx.poll).await? {
        Created::Ready { id, changes } => Some((id, changes)),
        Created::Empty => None,
    })
}

/// Executes a change set and watches it; the stack's final status.
async fn execute_and_watch(
    ctx: &Context,
    cfn: &aws_sdk_cloudformation::Client,
    plan: &StackPlan,
    id: &str,
) -> Result<events::Outcome> {
    let after = events::newest(cfn, &plan.name).await?;
    change_set::execute(cfn, &plan.name, id).await?;
    events::watch(cfn, &plan.name, &plan.short_name, after.as_deref(), ctx.poll).await
}

/// Step 1, through a change set that must do nothing but take the table out.
async fn detach(
    ctx: &Context,
    cfn: &aws_sdk_cloudformation::Client,
    plan: &StackPlan,
    template: &Value,
    logical_id: &str,
) -> Result<()> {
    let planned =
        plan_change_set(ctx, cfn, plan, template, ChangeSetType::Update, Vec::new(), "detach the table to replace")
            .await?;
    let Some((id, changes)) = planned else {
        bail!("CloudFormation found nothing to change when taking {logical_id} out of {}", plan.name);
    };
    let expected = changes.len() == 1 && changes[0].removes() && changes[0].logical_id == logical_id;
    if !expected {
        change_set::delete(cfn, &plan.name, &id).await?;
        bail!(
            "taking {logical_id} out of {} would also change: {}. Nothing was swapped (the change set was deleted); \
             deploy the stack first so that it runs what it declares, then restore",
            plan.name,
            changes.iter().filter(|c| c.logical_id != logical_id).map(|c| c.line()).collect::<Vec<_>>().join("; ")
        );
    }
    println!("  [{}] detaching {logical_id} (kept: its DeletionPolicy is Retain)", plan.short_name);
    let outcome = execute_and_watch(ctx, cfn, plan, &id).await?;
    if outcome.status.as_str() != "UPDATE_COMPLETE" {
        bail!(
            "{} could not detach {logical_id} ({}): {}\n  the application still uses the table it had; next: fix the \
             cause and run restore again",
            plan.name,
            outcome.status.as_str(),
            first_failure(&outcome)
        );
    }
    Ok(())
}

/// Step 2.
async fn import(
    ctx: &Context,
    cfn: &aws_sdk_cloudformation::Client,
    plan: &StackPlan,
    template: &Value,
    logical_id: &str,
    table: &str,
) -> Result<()> {
    let resource = ResourceToImport::builder()
        .resource_type("AWS::DynamoDB::Table")
        .logical_resource_id(logical_id)
        .resource_identifier("TableName", table)
        .build();
    let planned =
        plan_change_set(ctx, cfn, plan, template, ChangeSetType::Import, vec![resource], "import the restored table")
            .await?;
    let Some((id, _)) = planned else {
        bail!("CloudFormation found nothing to import into {}", plan.name);
    };
    println!("  [{}] importing {table} as {logical_id}", plan.short_name);
    let outcome = execute_and_watch(ctx, cfn, plan, &id).await?;
    if outcome.status.as_str() != "IMPORT_COMPLETE" {
        bail!(
            "{} could not import {table} as {logical_id} ({}): {}\n  the application still uses the table it had (its \
             values are pinned); next: fix the cause and run restore again",
            plan.name,
            outcome.status.as_str(),
            first_failure(&outcome)
        );
    }
    Ok(())
}

async fn previous_parameters(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Vec<(String, ParameterValue)>> {
    let current = stack::describe(cfn, stack).await?.with_context(|| format!("{stack} vanished"))?;
    Ok(current.parameters.into_keys().map(|k| (k, ParameterValue::Previous)).collect())
}

/// An update of the template alone (parameters and tags as they are), straight through
/// UpdateStack: steps 3 to 5 change what a change set may call no change (outputs; a value
/// that resolves the same).
async fn update_template(
    ctx: &Context,
    cfn: &aws_sdk_cloudformation::Client,
    plan: &StackPlan,
    template: &Value,
) -> Result<()> {
    let body = serde_json::to_string_pretty(template)? + "\n";
    let current = stack::describe(cfn, &plan.name).await?.with_context(|| format!("{} vanished", plan.name))?;
    let mut request = cfn
        .update_stack()
        .stack_name(&plan.name)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam);
    request = match ctx.template_source(plan, &body).await? {
        TemplateSource::Body(body) => request.template_body(body),
        TemplateSource::Url(url) => request.template_url(url),
        TemplateSource::Previous => request.use_previous_template(true),
    };
    for key in current.parameters.keys() {
        request = request.parameters(Parameter::builder().parameter_key(key).use_previous_value(true).build());
    }
    let after = events::newest(cfn, &current.id).await?;
    match request.send().await {
        Ok(_) => {}
        Err(error) if format!("{error:?}").contains("No updates are to be performed") => return Ok(()),
        Err(error) => return Err(explain(&format!("updating {}", plan.name), error)),
    }
    let outcome = events::watch(cfn, &current.id, &plan.short_name, after.as_deref(), ctx.poll).await?;
    if outcome.status.as_str() != "UPDATE_COMPLETE" {
        bail!(
            "{} could not be updated (it is now {}): {}\n  the restored table is in place; once the stack is at rest \
             again, running restore again with the same --to finishes the swap",
            plan.name,
            outcome.status.as_str(),
            first_failure(&outcome)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Value {
        json!({
            "Resources": {
                "MemoryTable": { "Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "Properties": {} },
                "Other": { "Type": "AWS::SQS::Queue", "Properties": { "Tags": [{ "Key": "t", "Value": { "Ref": "MemoryTable" } }] } }
            },
            "Outputs": {
                "ExportMemoryTableRef": { "Value": { "Ref": "MemoryTable" }, "Export": { "Name": "db:MemoryTable:Ref" } },
                "ExportMemoryTableArn": { "Value": { "Fn::GetAtt": ["MemoryTable", "Arn"] }, "Export": { "Name": "db:MemoryTable:Arn" } },
                "Unrelated": { "Value": "x", "Export": { "Name": "db:x" } }
            }
        })
    }

    #[test]
    fn detaching_pins_the_table_s_values_and_unpinning_gives_the_template_back() {
        let deployed = database();
        let detached = detach_template(&deployed, "MemoryTable", "old-table", "arn:old").unwrap();
        assert!(detached["Resources"].get("MemoryTable").is_none());
        assert_eq!(detached["Outputs"]["ExportMemoryTableRef"]["Value"]["Fn::Select"][1][0], "old-table");
        assert_eq!(detached["Outputs"]["ExportMemoryTableArn"]["Value"]["Fn::Select"][1][0], "arn:old");
        assert_eq!(detached["Resources"]["Other"]["Properties"]["Tags"][0]["Value"]["Fn::Select"][1][0], "old-table");
        assert_eq!(
            exports_of(&detached, "MemoryTable"),
            BTreeMap::from([("db:MemoryTable:Arn".to_owned(), "Arn"), ("db:MemoryTable:Ref".to_owned(), "Ref")])
        );
        assert_eq!(exports_of(&detached, "MemoryTable"), exports_of(&deployed, "MemoryTable"));
        let mut imported = detached.clone();
        imported["Resources"]["MemoryTable"] = deployed["Resources"]["MemoryTable"].clone();
        assert!(has_pins(&imported));
        assert_eq!(unpin(&imported), deployed);
        assert!(!has_pins(&deployed));
    }

    #[test]
    fn what_cannot_be_pinned_is_refused_by_name() {
        let mut deployed = database();
        deployed["Outputs"]["Stream"] = json!({ "Value": { "Fn::GetAtt": "MemoryTable.StreamArn" } });
        let error = detach_template(&deployed, "MemoryTable", "t", "a").unwrap_err().to_string();
        assert!(error.contains("its attribute StreamArn"), "{error}");
        let mut deployed = database();
        deployed["Outputs"]["Index"] = json!({ "Value": { "Fn::Sub": "${MemoryTable.Arn}/index/*" } });
        let error = detach_template(&deployed, "MemoryTable", "t", "a").unwrap_err().to_string();
        assert!(error.contains("a Fn::Sub (${MemoryTable.Arn}/index/*)"), "{error}");
    }

    #[test]
    fn importers_are_retargeted_granted_both_tables_meanwhile_and_then_import_again() {
        let importer = json!({
            "Resources": {
                "Fn": { "Type": "AWS::Lambda::Function", "Properties": {
                    "Environment": { "Variables": { "TABLE": { "Fn::ImportValue": "db:MemoryTable:Ref" } } },
                    "Other": { "Fn::ImportValue": "db:x" }
                } },
                "FnVersion": { "Type": "AWS::Lambda::Version", "Properties": {
                    "FunctionName": { "Ref": "Fn" }, "Description": "configuration 1"
                } },
                "Untouched": { "Type": "AWS::Lambda::Function", "Properties": {} },
                "UntouchedVersion": { "Type": "AWS::Lambda::Version", "Properties": {
                    "FunctionName": { "Ref": "Untouched" }, "Description": "configuration 2"
                } },
                "Role": { "Type": "AWS::IAM::Role", "Properties": { "Policies": [{ "PolicyDocument": { "Statement": [{
                    "Resource": [
                        { "Fn::ImportValue": "db:MemoryTable:Arn" },
                        { "Fn::Sub": ["${A}/index/*", { "A": { "Fn::ImportValue": "db:MemoryTable:Arn" } }] },
                        "arn:other"
                    ]
                }] } }] } }
            }
        });
        let moves = BTreeMap::from([
            ("db:MemoryTable:Ref".to_owned(), Move { old: "old-table".into(), new: "new-table".into() }),
            ("db:MemoryTable:Arn".to_owned(), Move { old: "arn:old".into(), new: "arn:new".into() }),
        ]);
        let (moved, count) = retarget_template(&importer, &moves).unwrap();
        assert_eq!(count, 3);
        let function = &moved["Resources"]["Fn"]["Properties"];
        assert_eq!(function["Environment"]["Variables"]["TABLE"]["Fn::Select"][1][0], "new-table");
        assert_eq!(function["Other"], json!({ "Fn::ImportValue": "db:x" }));
        // A new version for the function that changed, so that its alias moves; not for the other.
        let description = &moved["Resources"]["FnVersion"]["Properties"]["Description"];
        assert_eq!(description["Fn::Select"][1][0], "configuration 1 (moving tables)");
        assert_eq!(moved["Resources"]["UntouchedVersion"], importer["Resources"]["UntouchedVersion"]);
        assert!(function["Environment"]["Variables"][MOVING_VARIABLE].is_object(), "the unpin changes the function");
        assert_eq!(moved["Resources"]["Untouched"], importer["Resources"]["Untouched"]);
        // Both tables granted while the functions move.
        let resources =
            moved["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"]
                .as_array()
                .unwrap();
        let values: Vec<String> = resources.iter().map(Value::to_string).collect();
        assert_eq!(resources.len(), 5, "{values:#?}");
        assert!(values[0].contains("arn:new") && values[1].contains("arn:new"), "{values:#?}");
        assert_eq!(resources[2], "arn:other");
        assert!(values[3].contains("arn:old") && values[4].contains("arn:old"), "{values:#?}");
        assert_eq!(retarget_template(&moved, &moves).unwrap().1, 0, "a second run finds nothing left to move");
        let mut bare = importer.clone();
        bare["Resources"]["FnVersion"]["Properties"].as_object_mut().unwrap().remove("Description");
        let error = retarget_template(&bare, &moves).unwrap_err().to_string();
        assert!(error.contains("FnVersion has no plain Description"), "{error}");
        assert!(has_pins(&moved));
        assert_eq!(unpin(&moved), importer);
    }

    #[test]
    fn a_detached_stack_says_which_table_it_had() {
        let detached = detach_template(&database(), "MemoryTable", "old-table", "arn:old").unwrap();
        assert_eq!(pinned_value(&detached, "Ref:MemoryTable").as_deref(), Some("old-table"));
        assert_eq!(pinned_value(&database(), "Ref:MemoryTable"), None);
    }

    #[test]
    fn an_export_built_from_the_table_is_found() {
        let mut template = database();
        template["Outputs"]["Index"] =
            json!({ "Value": { "Fn::Sub": "${MemoryTable.Arn}/index/*" }, "Export": { "Name": "db:index" } });
        let direct = exports_of(&template, "MemoryTable");
        assert_eq!(derived_export(&template, "MemoryTable", &direct).as_deref(), Some("db:index"));
        assert_eq!(derived_export(&database(), "MemoryTable", &exports_of(&database(), "MemoryTable")), None);
    }

    #[test]
    fn the_time_is_checked_and_names_the_table() {
        let time = parse_time("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(
            restored_name("brain2-prod-database", "MemoryTable", &time),
            "brain2-prod-database-MemoryTable-at-20260102T030405Z"
        );
        let error = parse_time("yesterday").unwrap_err().to_string();
        assert!(error.contains("expected RFC 3339"), "{error}");
        let error = parse_time("2999-01-01T00:00:00Z").unwrap_err().to_string();
        assert!(error.contains("is in the future"), "{error}");
    }
}

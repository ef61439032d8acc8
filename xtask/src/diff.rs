//! `cargo xtask diff`: what a change does to the templates, stack by stack: resources added,
//! removed, modified or replaced (with the property that forces it), IAM statements granted or
//! revoked, and whether stateful data is at risk.
//!
//! Against a git ref, the ref is synthesized in a temporary worktree; no AWS is involved.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

/// Resource types whose replacement or removal loses data.
pub const STATEFUL_TYPES: &[&str] = &["AWS::DynamoDB::Table", "AWS::S3::Bucket"];

/// Exit codes of `cargo xtask diff`.
pub mod exit {
    /// Nothing at or above the `--fail-on` threshold.
    pub const NONE: u8 = 0;
    /// The diff could not be made.
    pub const ERROR: u8 = 1;
    /// Changes, none destructive (reported with `--fail-on any`).
    pub const CHANGES: u8 = 2;
    /// A stateful resource would be replaced or removed.
    pub const DESTRUCTIVE: u8 = 3;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Remove,
    Modify,
    Replace,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyChange {
    /// JSON pointer inside the resource, e.g. `/Properties/KeySchema/0/AttributeName`.
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IamChange {
    pub added: bool,
    /// A statement that allows something it did not before; `wildcard` when it allows `*`.
    pub broadening: bool,
    pub wildcard: bool,
    pub statement: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: String,
    pub action: Action,
    /// The changed create-only properties (or `Type`) that force a replacement.
    pub replaced_by: Vec<String>,
    pub stateful: bool,
    pub destructive: bool,
    /// Only the function's package changed (code, not infrastructure).
    pub code_only: bool,
    pub properties: Vec<PropertyChange>,
    pub iam: Vec<IamChange>,
    /// Against deployed stacks: whether CloudFormation's change set agrees it is a replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_by_change_set: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackChange {
    pub stack: String,
    /// `added`, `removed`, `changed` or `unchanged`.
    pub status: &'static str,
    pub resources: Vec<ResourceChange>,
    /// Parameters and outputs whose declaration changed, by name.
    pub parameters: Vec<String>,
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub environment: String,
    pub base: String,
    pub stacks: Vec<StackChange>,
}

impl Report {
    pub fn has_changes(&self) -> bool {
        self.stacks.iter().any(|s| s.status != "unchanged")
    }
    pub fn is_destructive(&self) -> bool {
        self.stacks.iter().flat_map(|s| &s.resources).any(|r| r.destructive)
    }
    /// The exit code for `--fail-on any` (true) or `--fail-on destructive` (false).
    pub fn exit_code(&self, fail_on_any: bool) -> u8 {
        if self.is_destructive() {
            exit::DESTRUCTIVE
        } else if fail_on_any && self.has_changes() {
            exit::CHANGES
        } else {
            exit::NONE
        }
    }
}

/// Leaf-level differences between two JSON values under `path`.
fn changes(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<PropertyChange>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                changes(&format!("{path}/{}", key.replace('~', "~0").replace('/', "~1")), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                changes(&format!("{path}/{i}"), Some(x), Some(y), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(PropertyChange { path: path.to_owned(), old: a.cloned(), new: b.cloned() }),
    }
}

/// Identity- and resource-policy statements of a resource, as canonical JSON strings.
fn statements(resource: &Value) -> BTreeSet<String> {
    let properties = &resource["Properties"];
    let mut documents: Vec<&Value> = Vec::new();
    match resource["Type"].as_str().unwrap_or_default() {
        "AWS::IAM::Role" => {
            documents.extend(properties["Policies"].as_array().into_iter().flatten().map(|p| &p["PolicyDocument"]));
        }
        "AWS::IAM::Policy" | "AWS::S3::BucketPolicy" | "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
            documents.push(&properties["PolicyDocument"]);
        }
        _ => {}
    }
    documents
        .into_iter()
        .flat_map(|d| match &d["Statement"] {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        })
        .map(|s| s.to_string())
        .collect()
}

fn has_wildcard(statement: &Value) -> bool {
    let any_star = |v: &Value| match v {
        Value::String(s) => s == "*" || s.ends_with(":*"),
        Value::Array(items) => items.iter().any(|i| i.as_str().is_some_and(|s| s == "*" || s.ends_with(":*"))),
        _ => false,
    };
    any_star(&statement["Action"])
        || any_star(&statement["Resource"])
        || statement["Principal"] == "*"
        || statement["Principal"]["AWS"] == "*"
}

fn iam_changes(old: Option<&Value>, new: Option<&Value>) -> Vec<IamChange> {
    let before = old.map(statements).unwrap_or_default();
    let after = new.map(statements).unwrap_or_default();
    let mut out = Vec::new();
    for text in after.difference(&before) {
        let statement: Value = serde_json::from_str(text).expect("statements round-trip");
        let allow = statement["Effect"] == "Allow";
        out.push(IamChange { added: true, broadening: allow, wildcard: allow && has_wildcard(&statement), statement });
    }
    for text in before.difference(&after) {
        let statement: Value = serde_json::from_str(text).expect("statements round-trip");
        // Removing a Deny allows more.
        let broadening = statement["Effect"] == "Deny";
        out.push(IamChange { added: false, broadening, wildcard: false, statement });
    }
    out
}

/// Whether a change at `path` (`/Properties/A/B/…`) touches a create-only `pointer`
/// (`/properties/A/B`).
fn forces_replacement(path: &str, pointer: &str) -> bool {
    let Some(property_path) = path.strip_prefix("/Properties") else { return false };
    let Some(pointer_path) = pointer.strip_prefix("/properties") else { return false };
    property_path == pointer_path || property_path.starts_with(&format!("{pointer_path}/"))
}

fn resource_change(logical_id: &str, old: Option<&Value>, new: Option<&Value>) -> Option<ResourceChange> {
    let resource_type = new.or(old).and_then(|r| r["Type"].as_str()).unwrap_or_default().to_owned();
    let stateful = STATEFUL_TYPES.contains(&resource_type.as_str());
    let mut properties = Vec::new();
    changes("", old, new, &mut properties);
    if properties.is_empty() {
        return None;
    }
    let (action, replaced_by) = match (old, new) {
        (None, _) => (Action::Add, Vec::new()),
        (_, None) => (Action::Remove, Vec::new()),
        (Some(a), Some(b)) if a["Type"] != b["Type"] => (Action::Replace, vec!["Type".to_owned()]),
        (Some(_), Some(_)) => {
            let create_only = brain2_iac::aws::create_only_properties(&resource_type).unwrap_or_default();
            let mut forcing: Vec<String> = create_only
                .iter()
                .filter(|pointer| properties.iter().any(|c| forces_replacement(&c.path, pointer)))
                .map(|pointer| pointer.trim_start_matches("/properties/").to_owned())
                .collect();
            forcing.dedup();
            if forcing.is_empty() { (Action::Modify, forcing) } else { (Action::Replace, forcing) }
        }
    };
    let code_only = action == Action::Modify
        && match resource_type.as_str() {
            "AWS::Lambda::Function" => properties.iter().all(|c| c.path.starts_with("/Properties/Code/")),
            _ => false,
        };
    let iam = iam_changes(old, new);
    Some(ResourceChange {
        logical_id: logical_id.to_owned(),
        resource_type,
        destructive: stateful && matches!(action, Action::Remove | Action::Replace),
        action,
        replaced_by,
        stateful,
        code_only,
        properties: if matches!(action, Action::Add | Action::Remove) { Vec::new() } else { properties },
        iam,
        confirmed_by_change_set: None,
    })
}

fn section_changes(old: &Value, new: &Value, section: &str) -> Vec<String> {
    let empty = serde_json::Map::new();
    let a = old[section].as_object().unwrap_or(&empty);
    let b = new[section].as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

/// Compares one stack's templates (`None` when the stack does not exist on that side).
pub fn compare_stack(stack: &str, old: Option<&Value>, new: Option<&Value>) -> StackChange {
    let null = Value::Null;
    let (o, n) = (old.unwrap_or(&null), new.unwrap_or(&null));
    let empty = serde_json::Map::new();
    let old_resources = o["Resources"].as_object().unwrap_or(&empty);
    let new_resources = n["Resources"].as_object().unwrap_or(&empty);
    let ids: BTreeSet<&String> = old_resources.keys().chain(new_resources.keys()).collect();
    let resources: Vec<ResourceChange> =
        ids.into_iter().filter_map(|id| resource_change(id, old_resources.get(id), new_resources.get(id))).collect();
    let parameters = section_changes(o, n, "Parameters");
    let outputs = section_changes(o, n, "Outputs");
    let status = match (old, new) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        _ if resources.is_empty() && parameters.is_empty() && outputs.is_empty() && o == n => "unchanged",
        _ => "changed",
    };
    StackChange { stack: stack.to_owned(), status, resources, parameters, outputs }
}

/// Compares every stack of two sets of templates, keyed by stack name.
pub fn compare(environment: &str, base: &str, old: &BTreeMap<String, Value>, new: &BTreeMap<String, Value>) -> Report {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    Report {
        environment: environment.to_owned(),
        base: base.to_owned(),
        stacks: names.into_iter().map(|name| compare_stack(name, old.get(name), new.get(name))).collect(),
    }
}

/// The templates of a synth output folder (`<stack>.template.json`), keyed by stack name.
pub fn read_templates(dir: &Path) -> Result<BTreeMap<String, Value>> {
    let mut templates = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".template.json"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        templates.insert(
            name.to_owned(),
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?,
        );
    }
    Ok(templates)
}

/// Where a git revision's files are checked out for `diff`, kept between runs (a plain folder
/// with an index of its own, not a registered git worktree, so nothing is left behind in git
/// when a diff is stopped).
pub const BASE_TREE: &str = "target/diff/base";

/// Synthesizes `environment` as it is at `git_ref` and returns the folder holding its templates.
///
/// The revision's files are checked out into [`BASE_TREE`], which moves from revision to
/// revision rewriting only the files that differ, and synthesized there by its own
/// `brain2-synth` (no AWS SDK), built in this workspace's target folder: dependencies come from
/// the build cache, and only the workspace crates that changed since the last diff rebuild.
/// Revisions from before `brain2-synth` run their xtask's synth instead (the AWS SDK from the same
/// cache). Progress goes to stderr; stdout stays the report's.
pub fn synthesize_at(workspace: &Path, git_ref: &str, environment: &str) -> Result<PathBuf> {
    let started = std::time::Instant::now();
    let resolved = Command::new("git")
        .current_dir(workspace)
        .args(["rev-parse", "--verify", &format!("{git_ref}^{{commit}}")])
        .output()
        .context("running git")?;
    if !resolved.status.success() {
        bail!("{git_ref:?} is not a commit of this repository");
    }
    let commit = String::from_utf8(resolved.stdout)?.trim().to_owned();
    let short = &commit[..12];
    let base = workspace.join("target/diff");
    std::fs::create_dir_all(&base)?;
    // One diff at a time uses the checkout; another waits here.
    let lock = std::fs::File::create(base.join("base.lock"))?;
    lock.lock().context("waiting for another diff's checkout")?;
    remove_old_worktrees(workspace, &base);
    let tree = workspace.join(BASE_TREE);
    let moved = check_out(workspace, &base, &tree, &commit)?;
    eprintln!("diff: {git_ref} is {short}; checked out in {BASE_TREE} ({moved})");

    let out = base.join(format!("out-{short}"));
    let current_synth = std::fs::read_to_string(tree.join("brain2-stacks/Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("\"brain2-synth\""));
    let mut command = crate::cargo(&tree);
    // The base is built to run synth once: no debug info and no incremental state, which cost
    // about a third more CPU on the first build of brain2-iac (BENCHMARKS.md). Dependencies
    // keep their cache: their profile (`package."*"`) already has no debug info.
    command.env("CARGO_INCREMENTAL", "0").env("CARGO_PROFILE_DEV_DEBUG", "0");
    command.env("CARGO_TARGET_DIR", target_dir(workspace));
    if current_synth {
        eprintln!("diff: building brain2-synth at {short} (only what changed since the last diff is rebuilt)");
        command.args(["run", "--package", "brain2-stacks", "--bin", "brain2-synth", "--"]);
    } else {
        // Its binary stands in target/debug/xtask until the next `cargo xtask` links this
        // workspace's again (cargo links fresh units too); the running one is not touched.
        eprintln!("diff: {short} predates brain2-synth; building its xtask, AWS SDK included");
        command.args(["run", "--package", "xtask", "--", "synth"]);
    }
    // The tool's table goes to stderr with cargo's progress; stdout is the report.
    let status = command
        .args(["--env", environment, "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status()
        .context("running the base revision's synth")?;
    if !status.success() {
        bail!("could not synthesize {environment} at {git_ref} ({short}); its output is above");
    }
    eprintln!("diff: {environment} at {short} synthesized in {:.1} s", started.elapsed().as_secs_f64());
    Ok(out.join(environment))
}

/// The target folder of this workspace's builds, which the base revision's build shares.
fn target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// Makes `tree` hold `commit`'s files: `git read-tree --reset -u` with an index of its own
/// rewrites only the files that differ from what is there (a file left half-written by a stopped
/// run differs too), so cargo sees only those as changed. Says how far it moved.
fn check_out(workspace: &Path, base: &Path, tree: &Path, commit: &str) -> Result<String> {
    std::fs::create_dir_all(tree)?;
    let stamp = base.join("base.commit");
    let previous = std::fs::read_to_string(&stamp).ok().map(|c| c.trim().to_owned());
    let git = || {
        let mut git = Command::new("git");
        git.current_dir(workspace).env("GIT_INDEX_FILE", base.join("base.index"));
        git
    };
    let status = git()
        .arg(format!("--work-tree={}", tree.display()))
        .args(["read-tree", "--reset", "-u", commit])
        .status()
        .context("running git read-tree")?;
    if !status.success() {
        bail!("could not check out {commit} into {}", tree.display());
    }
    std::fs::write(&stamp, commit)?;
    Ok(match previous {
        Some(previous) if previous == commit => "unchanged since the last diff".to_owned(),
        Some(previous) => {
            let changed = git()
                .args(["diff", "--name-only", "--no-renames", &previous, commit])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
                .unwrap_or(0);
            format!("{changed} file(s) differ from the last diff's {}", &previous[..previous.len().min(12)])
        }
        None => "first checkout".to_owned(),
    })
}

/// Earlier versions of diff made a git worktree per revision (`target/diff/tree-<commit>`) and
/// left it registered when stopped; they go, and git forgets them.
fn remove_old_worktrees(workspace: &Path, base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    let old: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("tree-")))
        .collect();
    if old.is_empty() {
        return;
    }
    for tree in &old {
        let _ = std::fs::remove_dir_all(tree);
    }
    let _ = Command::new("git").current_dir(workspace).args(["worktree", "prune"]).status();
    eprintln!("diff: removed {} worktree(s) an earlier diff left in {}", old.len(), base.display());
}

/// The deployed templates of `stacks` (absent stacks are left out), read from CloudFormation.
pub async fn deployed_templates(
    aws: &crate::aws::Aws,
    stacks: &[brain2_iac::cfn::SynthesizedStack],
) -> Result<BTreeMap<String, Value>> {
    let mut templates = BTreeMap::new();
    for s in stacks {
        let cfn = aws.cloudformation(s.region.as_deref());
        if crate::aws::stack::describe(&cfn, &s.name).await?.is_some() {
            templates.insert(s.name.clone(), crate::aws::stack::template(&cfn, &s.name).await?);
        }
    }
    Ok(templates)
}

/// Asks CloudFormation, through a change set that is deleted unexecuted, whether each modified
/// resource of a deployed stack is replaced, and corrects the report where it disagrees.
/// Parameters keep their deployed values. Stacks it cannot ask about are named in the result.
pub async fn confirm_with_change_sets(
    aws: &crate::aws::Aws,
    synthesized: &brain2_iac::cfn::Synthesized,
    report: &mut Report,
) -> Result<Vec<String>> {
    let stacks = &synthesized.stacks;
    use crate::aws::change_set::{self, Created, ParameterValue, TemplateSource};
    let mut unconfirmed = Vec::new();
    for change in report.stacks.iter_mut().filter(|c| c.status == "changed") {
        let Some(s) = stacks.iter().find(|s| s.name == change.stack) else { continue };
        if s.template.len() > crate::deploy::INLINE_TEMPLATE_LIMIT {
            unconfirmed.push(format!("{} (over 51,200 bytes: deploy uploads it; diff does not)", s.name));
            continue;
        }
        let cfn = aws.cloudformation(s.region.as_deref());
        let Some(deployed) = crate::aws::stack::describe(&cfn, &s.name).await? else { continue };
        let template: Value = serde_json::from_str(&s.template)?;
        let declared: Vec<String> =
            template["Parameters"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
        // A parameter new to the stack has no previous value; one taken from another stack's
        // output gets that output as deployed, as deploy would give it.
        let sources = crate::deploy::output_parameters(synthesized, s);
        let mut parameters = Vec::new();
        let mut missing = None;
        for name in declared {
            if deployed.parameters.contains_key(&name) {
                parameters.push((name, ParameterValue::Previous));
                continue;
            }
            let value = match sources.get(&name) {
                Some(source) => crate::deploy::deployed_output(aws, source).await?,
                None => None,
            };
            match value {
                Some(value) => parameters.push((name, ParameterValue::Value(value))),
                None => {
                    missing = Some(name);
                    break;
                }
            }
        }
        if let Some(new) = missing {
            unconfirmed.push(format!("{} (new parameter {new} has no deployed value)", s.name));
            continue;
        }
        let request = change_set::Request {
            stack: s.name.clone(),
            name: format!("brain2-diff-{}", std::process::id()),
            kind: aws_sdk_cloudformation::types::ChangeSetType::Update,
            template: TemplateSource::Body(s.template.clone()),
            parameters,
            tags: s.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            imports: Vec::new(),
            description: "cargo xtask diff --against deployed (never executed)".to_owned(),
        };
        let Created::Ready { id, changes } =
            change_set::create(&cfn, &request, std::time::Duration::from_millis(500)).await?
        else {
            continue;
        };
        change_set::delete(&cfn, &s.name, &id).await?;
        for resource in change.resources.iter_mut().filter(|r| matches!(r.action, Action::Modify | Action::Replace)) {
            let Some(planned) = changes.iter().find(|p| p.logical_id == resource.logical_id) else { continue };
            resource.confirmed_by_change_set = Some(planned.replaces());
            if planned.replaces() && resource.action == Action::Modify {
                resource.action = Action::Replace;
                resource.replaced_by = planned.causes.clone();
                resource.destructive = resource.stateful;
            }
        }
    }
    Ok(unconfirmed)
}

/// Markdown for a pull-request comment, from `templates/diff.md.hbs`.
pub fn markdown(workspace: &Path, report: &Report) -> Result<String> {
    let template =
        std::fs::read_to_string(workspace.join("templates/diff.md.hbs")).context("reading templates/diff.md.hbs")?;
    let mut handlebars = handlebars::Handlebars::new();
    handlebars.set_strict_mode(false);
    handlebars.register_escape_fn(handlebars::no_escape);
    handlebars.register_helper(
        "json",
        Box::new(
            |h: &handlebars::Helper,
             _: &handlebars::Handlebars,
             _: &handlebars::Context,
             _: &mut handlebars::RenderContext,
             out: &mut dyn handlebars::Output| {
                let value = h.param(0).map(|p| p.value().to_string()).unwrap_or_default();
                out.write(&value.replace('|', "\\|"))?;
                Ok(())
            },
        ),
    );
    let context = serde_json::json!({
        "report": report,
        "changed": report.stacks.iter().filter(|s| s.status != "unchanged").collect::<Vec<_>>(),
        "destructive": report.is_destructive(),
        "has_changes": report.has_changes(),
    });
    Ok(handlebars.render_template(&template, &context)?)
}

/// Plain text for a terminal.
pub fn text(report: &Report) -> String {
    let mut out = format!("diff of {} against {}\n", report.environment, report.base);
    if !report.has_changes() {
        out.push_str("no changes\n");
        return out;
    }
    for stack in report.stacks.iter().filter(|s| s.status != "unchanged") {
        out.push_str(&format!("\n{} ({})\n", stack.stack, stack.status));
        for r in &stack.resources {
            let sign = match r.action {
                Action::Add => "+",
                Action::Remove => "-",
                Action::Modify => "~",
                Action::Replace => "!",
            };
            let mut notes = Vec::new();
            if !r.replaced_by.is_empty() {
                notes.push(format!("replaced: {} changed", r.replaced_by.join(", ")));
            }
            if r.destructive {
                notes.push("DESTROYS STATEFUL DATA".to_owned());
            }
            if r.code_only {
                notes.push("code only".to_owned());
            }
            match r.confirmed_by_change_set {
                Some(true) => notes.push("replacement confirmed by a change set".to_owned()),
                Some(false) if r.action == Action::Modify => notes.push("in place, per a change set".to_owned()),
                _ => {}
            }
            if r.iam.iter().any(|i| i.wildcard) {
                notes.push("IAM: grants a wildcard".to_owned());
            } else if r.iam.iter().any(|i| i.broadening) {
                notes.push("IAM: broadens access".to_owned());
            }
            let notes = if notes.is_empty() { String::new() } else { format!("  [{}]", notes.join("; ")) };
            out.push_str(&format!("  {sign} {} {}{notes}\n", r.logical_id, r.resource_type));
            for c in r.properties.iter().take(12) {
                let show = |v: &Option<Value>| v.as_ref().map_or("(none)".to_owned(), |v| v.to_string());
                out.push_str(&format!("      {}: {} -> {}\n", c.path, show(&c.old), show(&c.new)));
            }
            if r.properties.len() > 12 {
                out.push_str(&format!("      … {} more\n", r.properties.len() - 12));
            }
        }
        if !stack.parameters.is_empty() {
            out.push_str(&format!("  parameters changed: {}\n", stack.parameters.join(", ")));
        }
        if !stack.outputs.is_empty() {
            out.push_str(&format!("  outputs changed: {}\n", stack.outputs.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn git(repository: &Path, args: &[&str]) -> String {
        let output = Command::new("git")
            .current_dir(repository)
            .args(["-c", "user.name=brain2", "-c", "user.email=brain2@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// The base checkout moves between revisions rewriting only the files that differ (so cargo
    /// rebuilds only what changed), mends a file a stopped run left half-written, and is no git
    /// worktree, so stopping a diff leaves nothing registered in git.
    #[test]
    fn the_base_checkout_rewrites_only_what_differs_and_mends_a_stopped_one() {
        let scratch = std::env::temp_dir().join(format!("brain2-diff-checkout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let repository = scratch.join("repository");
        std::fs::create_dir_all(repository.join("src")).unwrap();
        git(&repository, &["init", "--quiet"]);
        let mut commits = Vec::new();
        for version in ["one", "two"] {
            std::fs::write(repository.join("src/changed.rs"), format!("// {version}\n")).unwrap();
            std::fs::write(repository.join("kept.rs"), "// the same in both\n").unwrap();
            git(&repository, &["add", "."]);
            git(&repository, &["commit", "--quiet", "-m", version]);
            commits.push(git(&repository, &["rev-parse", "HEAD"]).trim().to_owned());
        }
        let (base, tree) = (scratch.join("diff"), scratch.join("diff/base"));
        let modified = |file: &str| std::fs::metadata(tree.join(file)).unwrap().modified().unwrap();

        assert_eq!(check_out(&repository, &base, &tree, &commits[0]).unwrap(), "first checkout");
        let (kept_at, changed_at) = (modified("kept.rs"), modified("src/changed.rs"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let moved = check_out(&repository, &base, &tree, &commits[1]).unwrap();
        assert!(moved.starts_with("1 file(s) differ from the last diff's"), "{moved}");
        assert_eq!(modified("kept.rs"), kept_at, "the same in both: not rewritten");
        assert_ne!(modified("src/changed.rs"), changed_at, "different: rewritten");
        assert_eq!(std::fs::read_to_string(tree.join("src/changed.rs")).unwrap(), "// two\n");

        // A run stopped while writing: the file is mended by the next checkout.
        std::fs::write(tree.join("src/changed.rs"), "// tw").unwrap();
        assert_eq!(check_out(&repository, &base, &tree, &commits[1]).unwrap(), "unchanged since the last diff");
        assert_eq!(std::fs::read_to_string(tree.join("src/changed.rs")).unwrap(), "// two\n");

        let worktrees = git(&repository, &["worktree", "list", "--porcelain"]);
        assert_eq!(worktrees.lines().filter(|l| l.starts_with("worktree ")).count(), 1, "{worktrees}");
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    fn table(key: &str) -> Value {
        json!({ "Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "Properties": {
            "KeySchema": [{ "AttributeName": key, "KeyType": "HASH" }], "BillingMode": "PAY_PER_REQUEST" } })
    }

    fn template(resources: Value) -> Value {
        json!({ "AWSTemplateFormatVersion": "2010-09-09", "Resources": resources })
    }

    fn single(old: Value, new: Value) -> Report {
        compare(
            "dev",
            "HEAD~1",
            &BTreeMap::from([("s".to_owned(), template(old))]),
            &BTreeMap::from([("s".to_owned(), template(new))]),
        )
    }

    #[test]
    fn a_key_schema_change_replaces_a_table_and_is_destructive() {
        let report = single(json!({ "T": table("id") }), json!({ "T": table("pk") }));
        let change = &report.stacks[0].resources[0];
        assert_eq!(change.action, Action::Replace);
        assert_eq!(change.replaced_by, ["KeySchema"]);
        assert!(change.destructive && report.is_destructive());
        assert_eq!(report.exit_code(false), exit::DESTRUCTIVE);
        assert_eq!(change.properties[0].path, "/Properties/KeySchema/0/AttributeName");
    }

    #[test]
    fn an_in_place_change_is_a_modification_and_not_destructive() {
        let mut new = table("id");
        new["Properties"]["BillingMode"] = json!("PROVISIONED");
        let report = single(json!({ "T": table("id") }), json!({ "T": new }));
        assert_eq!(report.stacks[0].resources[0].action, Action::Modify);
        assert_eq!((report.exit_code(false), report.exit_code(true)), (exit::NONE, exit::CHANGES));
    }

    #[test]
    fn removing_a_bucket_is_destructive_and_adding_one_is_not() {
        let bucket = json!({ "Type": "AWS::S3::Bucket" });
        assert!(single(json!({ "B": bucket }), json!({ "Q": { "Type": "AWS::SQS::Queue" } })).is_destructive());
        let added = single(json!({}), json!({ "B": bucket }));
        assert!(!added.is_destructive());
        assert_eq!(added.stacks[0].resources[0].action, Action::Add);
    }

    #[test]
    fn iam_statements_added_are_broadening_and_wildcards_are_called_out() {
        let role = |statements: Value| {
            json!({ "Type": "AWS::IAM::Role", "Properties": {
            "Policies": [{ "PolicyName": "p", "PolicyDocument": { "Statement": statements } }] } })
        };
        let narrow = json!({ "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"] });
        let wide = json!({ "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"] });
        let report = single(json!({ "R": role(json!([narrow])) }), json!({ "R": role(json!([narrow, wide])) }));
        let iam = &report.stacks[0].resources[0].iam;
        assert_eq!(iam.len(), 1);
        assert!(iam[0].added && iam[0].broadening && iam[0].wildcard);
        assert!(text(&report).contains("IAM: grants a wildcard"));
    }

    #[test]
    fn a_code_only_change_is_called_out() {
        let function = |key: &str| {
            json!({ "Type": "AWS::Lambda::Function", "Properties": {
            "Code": { "S3Bucket": "b", "S3Key": key }, "Runtime": "provided.al2023" } })
        };
        let report = single(json!({ "F": function("a.zip") }), json!({ "F": function("b.zip") }));
        assert!(report.stacks[0].resources[0].code_only);
    }

    #[test]
    fn identical_templates_have_no_changes() {
        let report = single(json!({ "T": table("id") }), json!({ "T": table("id") }));
        assert!(!report.has_changes());
        assert_eq!(report.exit_code(true), exit::NONE);
    }
}

//! Synthesis: from an [`App`] to one deterministic JSON template per stack.
//!
//! References between stacks are found here, not when code creates them: each becomes an Output
//! with an Export in the producing stack, an `Fn::ImportValue` in the consuming one, and an edge
//! in the stack graph, which must stay acyclic.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::app::{App, StackData};
use super::error::{CrossRegionReference, CycleStep, DslError, Result};
use super::intrinsic::{ConditionId, Intrinsic, ParameterId, RefTarget, ResourceId, StackId};
use super::json::Json;

/// CloudFormation's quotas that a template can break on its own.
pub mod limits {
    /// Resources in one template.
    pub const MAX_RESOURCES: usize = 500;
    /// Outputs in one template.
    pub const MAX_OUTPUTS: usize = 200;
    /// Parameters in one template.
    pub const MAX_PARAMETERS: usize = 200;
    /// A template passed inline in the API call (`TemplateBody`); larger ones go through S3.
    pub const MAX_INLINE_TEMPLATE_BYTES: usize = 51_200;
    /// A template read from S3 (`TemplateURL`): "1 MB" in the quotas table, taken as 10^6 bytes
    /// so that we never accept a template AWS would refuse.
    pub const MAX_TEMPLATE_BYTES: usize = 1_000_000;
}

/// All stacks of an app, in an order that deploys each after the stacks it needs.
#[derive(Debug, Clone)]
pub struct Synthesized {
    pub app: String,
    pub environment: String,
    pub stacks: Vec<SynthesizedStack>,
    /// The policy pack's verdict on these templates (synthesis runs it to write checkov's skips).
    pub policy: crate::policy::Report,
}

/// One stack's template and what deploy needs to know about it.
#[derive(Debug, Clone)]
pub struct SynthesizedStack {
    /// `<app>-<environment>-<name>`.
    pub name: String,
    /// The name the stack was added under.
    pub short_name: String,
    /// A region other than the app's default, if the stack has one.
    pub region: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// The template: two-space indented JSON with a trailing newline.
    pub template: String,
    pub resource_count: usize,
    pub parameter_count: usize,
    pub output_count: usize,
    /// Over 51,200 bytes: deploy must upload the template to S3 and pass its URL.
    pub requires_s3_upload: bool,
    /// Full names of the stacks this one must be deployed after.
    pub depends_on: Vec<String>,
    /// Export names this stack provides to the other stacks of the app.
    pub exports: Vec<String>,
    /// Export names this stack imports.
    pub imports: Vec<String>,
    /// Parameters deploy fills from other stacks' outputs: parameter → where from.
    pub output_parameters: BTreeMap<String, OutputSource>,
    /// Logical id to resource type, for the diff and the policy pack.
    pub resource_types: BTreeMap<String, String>,
    /// How long rendering this stack took (reported by synth; never part of any output file).
    pub elapsed: std::time::Duration,
}

/// An output of another stack of the app, by the stack's full name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutputSource {
    pub stack: String,
    pub output: String,
}

impl Synthesized {
    pub fn stack(&self, short_or_full_name: &str) -> Option<&SynthesizedStack> {
        self.stacks.iter().find(|s| s.short_name == short_or_full_name || s.name == short_or_full_name)
    }

    /// Reads back what `synth` wrote in `dir` (the manifest and each template), as `cargo xtask
    /// dev` does with the templates of stacks edited while it runs. Synth wrote nothing that
    /// failed the policy pack, so the report is empty.
    pub fn read(dir: &std::path::Path) -> std::result::Result<Self, String> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| format!("reading {}: {e}", dir.join(name).display()))
        };
        let manifest: JsonValue = serde_json::from_str(&read("manifest.json")?)
            .map_err(|e| format!("manifest.json in {}: {e}", dir.display()))?;
        let strings = |value: &JsonValue| -> Vec<String> {
            value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
        };
        let mut stacks = Vec::new();
        for entry in manifest["stacks"].as_array().into_iter().flatten() {
            let file = entry["template"].as_str().ok_or("a manifest entry without its template")?;
            let template = read(file)?;
            let parsed: JsonValue = serde_json::from_str(&template).map_err(|e| format!("{file}: {e}"))?;
            let count = |section: &str| parsed[section].as_object().map_or(0, |o| o.len());
            stacks.push(SynthesizedStack {
                name: entry["name"].as_str().unwrap_or_default().to_owned(),
                short_name: entry["shortName"].as_str().unwrap_or_default().to_owned(),
                region: entry["region"].as_str().map(str::to_owned),
                tags: serde_json::from_value(entry["tags"].clone()).unwrap_or_default(),
                resource_count: count("Resources"),
                parameter_count: count("Parameters"),
                output_count: count("Outputs"),
                requires_s3_upload: entry["requiresS3Upload"].as_bool().unwrap_or(false),
                depends_on: strings(&entry["dependsOn"]),
                exports: strings(&entry["exports"]),
                imports: strings(&entry["imports"]),
                output_parameters: serde_json::from_value(entry["outputParameters"].clone()).unwrap_or_default(),
                resource_types: parsed["Resources"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(id, r)| (id.clone(), r["Type"].as_str().unwrap_or_default().to_owned()))
                    .collect(),
                template,
                elapsed: std::time::Duration::ZERO,
            });
        }
        Ok(Synthesized {
            app: manifest["app"].as_str().unwrap_or_default().to_owned(),
            environment: manifest["environment"].as_str().unwrap_or_default().to_owned(),
            stacks,
            policy: crate::policy::Report::default(),
        })
    }

    /// The manifest deploy reads: stacks in order with their dependencies, regions and files.
    pub fn manifest(&self) -> JsonValue {
        let stacks = self
            .stacks
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "shortName": s.short_name,
                    "region": s.region,
                    "template": format!("{}.template.json", s.name),
                    "bytes": s.template.len(),
                    "resources": s.resource_count,
                    "requiresS3Upload": s.requires_s3_upload,
                    "dependsOn": s.depends_on,
                    "exports": s.exports,
                    "imports": s.imports,
                    "outputParameters": s.output_parameters,
                    "tags": s.tags,
                })
            })
            .collect::<Vec<_>>();
        serde_json::json!({ "app": self.app, "environment": self.environment, "stacks": stacks })
    }
}

/// What one reference of a consumer stack needs from its producer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Exported {
    Resource { logical_id: String, attribute: Option<String> },
    Parameter { logical_id: String },
}

impl Exported {
    fn output_id(&self) -> String {
        match self {
            Exported::Resource { logical_id, attribute } => {
                let attr: String =
                    attribute.as_deref().unwrap_or("Ref").chars().filter(|c| c.is_ascii_alphanumeric()).collect();
                format!("Export{logical_id}{attr}")
            }
            Exported::Parameter { logical_id } => format!("Export{logical_id}Param"),
        }
    }

    fn export_name(&self, producer: &str) -> String {
        match self {
            Exported::Resource { logical_id, attribute } => {
                format!("{producer}:{logical_id}:{}", attribute.as_deref().unwrap_or("Ref").replace('.', "-"))
            }
            Exported::Parameter { logical_id } => format!("{producer}:{logical_id}:Param"),
        }
    }

    fn local_value(&self) -> JsonValue {
        match self {
            Exported::Resource { logical_id, attribute: None } | Exported::Parameter { logical_id } => {
                serde_json::json!({ "Ref": logical_id })
            }
            Exported::Resource { logical_id, attribute: Some(attr) } => {
                serde_json::json!({ "Fn::GetAtt": [logical_id, attr] })
            }
        }
    }
}

struct Graph {
    /// consumer → producer → why (the first reference found).
    edges: BTreeMap<StackId, BTreeMap<StackId, String>>,
    /// producer → what it must export.
    exports: BTreeMap<StackId, BTreeSet<Exported>>,
}

/// Synthesizes every stack of the app.
pub fn synthesize(app: &App) -> Result<Synthesized> {
    let properties: Vec<BTreeMap<&str, Json>> = app
        .stacks
        .iter()
        .map(|s| s.resources.iter().map(|(id, entry)| (id.as_str(), entry.resource.properties())).collect())
        .collect();

    let graph = collect_references(app, &properties)?;
    let order = deployment_order(app, &graph)?;

    let no_skips = BTreeMap::new();
    let mut stacks = Vec::with_capacity(order.len());
    for &stack in &order {
        stacks.push(render_stack(app, stack, &properties[stack.0], &graph, &no_skips)?);
    }
    // The policy pack's exemptions, written for checkov too: the stacks they touch are rendered
    // again with each resource's `Metadata.checkov.skip`.
    let templates: Vec<(String, JsonValue)> = stacks
        .iter()
        .map(|s| (s.name.clone(), serde_json::from_str(&s.template).expect("synthesis writes valid JSON")))
        .collect();
    let policy = crate::policy::check(app.environment(), &templates);
    let mut skips: BTreeMap<String, BTreeMap<String, Vec<JsonValue>>> = BTreeMap::new();
    for skip in policy.checkov_skips() {
        let entry = serde_json::json!({ "id": skip.id, "comment": skip.comment });
        skips.entry(skip.stack).or_default().entry(skip.resource).or_default().push(entry);
    }
    for (rendered, &stack) in stacks.iter_mut().zip(&order) {
        if let Some(stack_skips) = skips.get(&rendered.name) {
            *rendered = render_stack(app, stack, &properties[stack.0], &graph, stack_skips)?;
        }
    }
    Ok(Synthesized { app: app.name().to_owned(), environment: app.environment().to_owned(), stacks, policy })
}

/// The Json trees of one stack, each with a description of where it sits for error messages.
fn sources<'a>(data: &'a StackData, properties: &'a BTreeMap<&'a str, Json>) -> Vec<(String, &'a Json)> {
    let mut out = Vec::new();
    for (logical_id, json) in properties {
        out.push((format!("resource {logical_id}"), json));
    }
    for (logical_id, entry) in &data.resources {
        for (key, json) in &entry.attributes.metadata {
            out.push((format!("resource {logical_id} Metadata.{key}"), json));
        }
    }
    for (name, json) in &data.conditions {
        out.push((format!("condition {name}"), json));
    }
    for (logical_id, output) in &data.outputs {
        out.push((format!("output {logical_id}"), &output.value));
    }
    out
}

fn collect_references(app: &App, properties: &[BTreeMap<&str, Json>]) -> Result<Graph> {
    let mut graph = Graph { edges: BTreeMap::new(), exports: BTreeMap::new() };
    for (index, data) in app.stacks.iter().enumerate() {
        let stack = StackId(index);
        for dependency in &data.depends_on {
            graph
                .edges
                .entry(stack)
                .or_default()
                .entry(*dependency)
                .or_insert_with(|| "declared dependency".to_owned());
        }
        for (logical_id, entry) in &data.resources {
            let site = format!("resource {logical_id}");
            if let Some(condition) = &entry.attributes.condition {
                check_condition(app, stack, &site, condition.id())?;
            }
            for target in &entry.attributes.depends_on {
                check_resource(app, stack, &site, target)?;
                if target.stack != stack {
                    graph
                        .edges
                        .entry(stack)
                        .or_default()
                        .entry(target.stack)
                        .or_insert_with(|| format!("{site} DependsOn {}", target.logical_id));
                }
            }
        }
        for (site, json) in sources(data, &properties[index]) {
            let mut error = None;
            json.visit_intrinsics(&mut |intrinsic| {
                if error.is_none()
                    && let Err(e) = note_reference(app, stack, &site, intrinsic, &mut graph)
                {
                    error = Some(e);
                }
            });
            if let Some(error) = error {
                return Err(error);
            }
        }
    }
    Ok(graph)
}

/// Fails unless `logical_id` names a `kind` ("resource", "parameter") of its stack in this app.
fn check_known(
    app: &App,
    stack: StackId,
    site: &str,
    kind: &str,
    owner: StackId,
    logical_id: &str,
    exists: fn(&StackData, &str) -> bool,
) -> Result<()> {
    if app.stacks.get(owner.0).is_some_and(|s| exists(s, logical_id)) {
        return Ok(());
    }
    Err(DslError::UnknownTarget {
        stack: app.stacks[stack.0].name.clone(),
        site: site.to_owned(),
        target: format!("{kind} {logical_id}"),
    })
}

fn check_resource(app: &App, stack: StackId, site: &str, target: &ResourceId) -> Result<()> {
    check_known(app, stack, site, "resource", target.stack, &target.logical_id, |s, id| s.resources.contains_key(id))
}

fn check_parameter(app: &App, stack: StackId, site: &str, target: &ParameterId) -> Result<()> {
    check_known(app, stack, site, "parameter", target.stack, &target.logical_id, |s, id| s.parameters.contains_key(id))
}

fn check_condition(app: &App, stack: StackId, site: &str, condition: &ConditionId) -> Result<()> {
    let Some(owner) = app.stacks.get(condition.stack.0).filter(|s| s.conditions.contains_key(&condition.name)) else {
        return Err(DslError::UnknownTarget {
            stack: app.stacks[stack.0].name.clone(),
            site: site.to_owned(),
            target: format!("condition {}", condition.name),
        });
    };
    if condition.stack != stack {
        return Err(DslError::ConditionInOtherStack {
            stack: app.stacks[stack.0].name.clone(),
            site: site.to_owned(),
            condition: condition.name.clone(),
            condition_stack: owner.name.clone(),
        });
    }
    Ok(())
}

/// The `${Name}` placeholders of an `Fn::Sub` template, without the `${!literal}` escapes.
fn sub_placeholders(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            names.push(name);
        }
        rest = &after[end + 1..];
    }
    names
}

fn note_reference(app: &App, stack: StackId, site: &str, intrinsic: &Intrinsic, graph: &mut Graph) -> Result<()> {
    let (producer, exported, target) = match intrinsic {
        Intrinsic::Ref(RefTarget::Resource(id)) => {
            check_resource(app, stack, site, id)?;
            (id.stack, Exported::Resource { logical_id: id.logical_id.clone(), attribute: None }, id.logical_id.clone())
        }
        Intrinsic::GetAtt { resource, attribute } => {
            check_resource(app, stack, site, resource)?;
            (
                resource.stack,
                Exported::Resource { logical_id: resource.logical_id.clone(), attribute: Some(attribute.clone()) },
                format!("{}.{attribute}", resource.logical_id),
            )
        }
        Intrinsic::Ref(RefTarget::Parameter(id)) => {
            check_parameter(app, stack, site, id)?;
            (
                id.stack,
                Exported::Parameter { logical_id: id.logical_id.clone() },
                format!("parameter {}", id.logical_id),
            )
        }
        Intrinsic::If { condition, .. } | Intrinsic::Condition(condition) => {
            return check_condition(app, stack, site, condition);
        }
        Intrinsic::Sub { template, variables } => {
            let data = &app.stacks[stack.0];
            for name in sub_placeholders(template) {
                let local = name.split('.').next().unwrap_or(name);
                let known = variables.contains_key(name)
                    || name.starts_with("AWS::")
                    || data.resources.contains_key(local)
                    || data.parameters.contains_key(name);
                if !known {
                    return Err(DslError::SubUnknownName {
                        stack: data.name.clone(),
                        site: site.to_owned(),
                        template: template.clone(),
                        name: name.to_owned(),
                    });
                }
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    if producer == stack {
        return Ok(());
    }
    let consumer_data = &app.stacks[stack.0];
    let producer_data = &app.stacks[producer.0];
    if consumer_data.region != producer_data.region {
        let show = |r: &Option<String>| r.clone().unwrap_or_else(|| "the default region".to_owned());
        return Err(DslError::CrossRegionReference(Box::new(CrossRegionReference {
            consumer: consumer_data.name.clone(),
            consumer_region: show(&consumer_data.region),
            producer: producer_data.name.clone(),
            producer_region: show(&producer_data.region),
            site: site.to_owned(),
            target,
        })));
    }
    graph.edges.entry(stack).or_default().entry(producer).or_insert_with(|| format!("{site} uses {target}"));
    graph.exports.entry(producer).or_default().insert(exported);
    Ok(())
}

/// Stacks in deployment order: each after everything it needs, otherwise in the order added.
fn deployment_order(app: &App, graph: &Graph) -> Result<Vec<StackId>> {
    let mut placed: BTreeSet<StackId> = BTreeSet::new();
    let mut order = Vec::with_capacity(app.stacks.len());
    let all: Vec<StackId> = app.stack_ids().collect();
    while order.len() < all.len() {
        let ready = all.iter().find(|stack| {
            !placed.contains(stack) && graph.edges.get(stack).is_none_or(|deps| deps.keys().all(|d| placed.contains(d)))
        });
        match ready {
            Some(stack) => {
                placed.insert(*stack);
                order.push(*stack);
            }
            None => return Err(DslError::StackCycle(find_cycle(app, graph, &placed))),
        }
    }
    Ok(order)
}

fn find_cycle(app: &App, graph: &Graph, placed: &BTreeSet<StackId>) -> Vec<CycleStep> {
    // Every unplaced stack waits on another unplaced one, so walking "first unplaced dependency"
    // from any of them must revisit a stack; the walk from that stack on is the cycle.
    let start = app.stack_ids().find(|s| !placed.contains(s)).expect("a cycle leaves stacks unplaced");
    let next = |stack: StackId| {
        graph.edges[&stack].iter().find(|(dep, _)| !placed.contains(dep)).map(|(dep, why)| (*dep, why.clone()))
    };
    let mut path = vec![start];
    let mut current = start;
    loop {
        let (dep, _) = next(current).expect("an unplaced stack has an unplaced dependency");
        if let Some(position) = path.iter().position(|s| *s == dep) {
            let cycle = &path[position..];
            return cycle
                .iter()
                .map(|stack| {
                    let (to, reason) = next(*stack).expect("checked above");
                    CycleStep { from: app.stack_name(*stack).to_owned(), to: app.stack_name(to).to_owned(), reason }
                })
                .collect();
        }
        path.push(dep);
        current = dep;
    }
}

struct Renderer<'a> {
    app: &'a App,
    stack: StackId,
    imports: BTreeSet<String>,
}

impl Renderer<'_> {
    fn name(&self) -> &str {
        self.app.stack_name(self.stack)
    }

    fn import(&mut self, producer: StackId, exported: Exported) -> JsonValue {
        let name = exported.export_name(self.app.stack_name(producer));
        self.imports.insert(name.clone());
        serde_json::json!({ "Fn::ImportValue": name })
    }

    fn render(&mut self, json: &Json, site: &str) -> Result<JsonValue> {
        Ok(match json {
            Json::Null => JsonValue::Null,
            Json::Bool(b) => JsonValue::Bool(*b),
            Json::Int(i) => JsonValue::from(*i),
            Json::Float(f) => serde_json::Number::from_f64(*f).map(JsonValue::Number).ok_or_else(|| {
                DslError::InvalidNumber { stack: self.name().to_owned(), site: site.to_owned(), value: *f }
            })?,
            Json::String(s) => JsonValue::String(s.clone()),
            Json::Array(items) => {
                JsonValue::Array(items.iter().map(|item| self.render(item, site)).collect::<Result<_>>()?)
            }
            Json::Object(map) => JsonValue::Object(
                map.iter().map(|(k, v)| Ok((k.clone(), self.render(v, site)?))).collect::<Result<_>>()?,
            ),
            Json::Intrinsic(intrinsic) => self.render_intrinsic(intrinsic, site)?,
        })
    }

    fn render_intrinsic(&mut self, intrinsic: &Intrinsic, site: &str) -> Result<JsonValue> {
        use serde_json::json;
        Ok(match intrinsic {
            Intrinsic::Ref(RefTarget::Pseudo(p)) => json!({ "Ref": p.name() }),
            Intrinsic::Ref(RefTarget::Resource(id)) if id.stack == self.stack => json!({ "Ref": id.logical_id }),
            Intrinsic::Ref(RefTarget::Resource(id)) => {
                self.import(id.stack, Exported::Resource { logical_id: id.logical_id.clone(), attribute: None })
            }
            Intrinsic::Ref(RefTarget::Parameter(id)) if id.stack == self.stack => json!({ "Ref": id.logical_id }),
            Intrinsic::Ref(RefTarget::Parameter(id)) => {
                self.import(id.stack, Exported::Parameter { logical_id: id.logical_id.clone() })
            }
            Intrinsic::GetAtt { resource, attribute } if resource.stack == self.stack => {
                json!({ "Fn::GetAtt": [resource.logical_id, attribute] })
            }
            Intrinsic::GetAtt { resource, attribute } => self.import(
                resource.stack,
                Exported::Resource { logical_id: resource.logical_id.clone(), attribute: Some(attribute.clone()) },
            ),
            Intrinsic::Sub { template, variables } if variables.is_empty() => json!({ "Fn::Sub": template }),
            Intrinsic::Sub { template, variables } => {
                let vars = variables
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.render(v, site)?)))
                    .collect::<Result<serde_json::Map<_, _>>>()?;
                json!({ "Fn::Sub": [template, vars] })
            }
            Intrinsic::Join { delimiter, values } => json!({ "Fn::Join": [delimiter, self.render(values, site)?] }),
            Intrinsic::Select { index, list } => json!({ "Fn::Select": [index.to_string(), self.render(list, site)?] }),
            Intrinsic::Split { delimiter, source } => json!({ "Fn::Split": [delimiter, self.render(source, site)?] }),
            Intrinsic::If { condition, then, otherwise } => {
                json!({ "Fn::If": [condition.name, self.render(then, site)?, self.render(otherwise, site)?] })
            }
            Intrinsic::ImportValue(name) => json!({ "Fn::ImportValue": self.render(name, site)? }),
            Intrinsic::GetAzs(region) => json!({ "Fn::GetAZs": self.render(region, site)? }),
            Intrinsic::Equals(a, b) => json!({ "Fn::Equals": [self.render(a, site)?, self.render(b, site)?] }),
            Intrinsic::And(items) => json!({ "Fn::And": self.render_all(items, site)? }),
            Intrinsic::Or(items) => json!({ "Fn::Or": self.render_all(items, site)? }),
            Intrinsic::Not(item) => json!({ "Fn::Not": [self.render(item, site)?] }),
            Intrinsic::Condition(condition) => json!({ "Condition": condition.name }),
        })
    }

    fn render_all(&mut self, items: &[Json], site: &str) -> Result<Vec<JsonValue>> {
        items.iter().map(|item| self.render(item, site)).collect()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TemplateOut<'a> {
    #[serde(rename = "AWSTemplateFormatVersion")]
    format_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    parameters: BTreeMap<&'a str, ParameterOut<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    conditions: BTreeMap<&'a str, JsonValue>,
    resources: BTreeMap<&'a str, ResourceOut<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    outputs: BTreeMap<String, OutputOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ParameterOut<'a> {
    #[serde(rename = "Type")]
    cfn_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<JsonValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_values: Vec<JsonValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_value: Option<JsonValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_value: Option<JsonValue>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    no_echo: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraint_description: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceOut<'a> {
    #[serde(rename = "Type")]
    resource_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<JsonValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<JsonValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_replace_policy: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OutputOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    value: JsonValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    export: Option<JsonValue>,
}

/// A number as CloudFormation writes it: whole numbers without a fraction.
fn number(value: f64) -> JsonValue {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        JsonValue::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(JsonValue::Null, JsonValue::Number)
    }
}

fn render_stack(
    app: &App,
    stack: StackId,
    properties: &BTreeMap<&str, Json>,
    graph: &Graph,
    checkov_skips: &BTreeMap<String, Vec<JsonValue>>,
) -> Result<SynthesizedStack> {
    let started = std::time::Instant::now();
    let data = &app.stacks[stack.0];
    let mut renderer = Renderer { app, stack, imports: BTreeSet::new() };

    let mut parameters = BTreeMap::new();
    for (id, def) in &data.parameters {
        let site = format!("parameter {id}");
        let default = def.default.as_ref().map(|d| renderer.render(d, &site)).transpose()?;
        let allowed_values = def.allowed_values.iter().map(|v| renderer.render(v, &site)).collect::<Result<_>>()?;
        parameters.insert(
            id.as_str(),
            ParameterOut {
                cfn_type: &def.cfn_type,
                description: def.description.as_deref(),
                default,
                allowed_values,
                allowed_pattern: def.allowed_pattern.as_deref(),
                min_length: def.min_length,
                max_length: def.max_length,
                min_value: def.min_value.map(number),
                max_value: def.max_value.map(number),
                no_echo: def.no_echo,
                constraint_description: def.constraint_description.as_deref(),
            },
        );
    }

    let mut conditions = BTreeMap::new();
    for (name, json) in &data.conditions {
        conditions.insert(name.as_str(), renderer.render(json, &format!("condition {name}"))?);
    }

    let mut resources = BTreeMap::new();
    let mut resource_types = BTreeMap::new();
    for (id, entry) in &data.resources {
        let site = format!("resource {id}");
        let rendered = renderer.render(&properties[id.as_str()], &site)?;
        let properties = match rendered {
            JsonValue::Object(map) if map.is_empty() => None,
            other => Some(other),
        };
        let mut metadata = if entry.attributes.metadata.is_empty() {
            None
        } else {
            Some(renderer.render(&Json::Object(entry.attributes.metadata.clone()), &site)?)
        };
        if let Some(skip) = checkov_skips.get(id.as_str()) {
            let object = metadata.get_or_insert_with(|| JsonValue::Object(Default::default()));
            object["checkov"] = serde_json::json!({ "skip": skip });
        }
        let attrs = &entry.attributes;
        resources.insert(
            id.as_str(),
            ResourceOut {
                resource_type: entry.resource.type_name(),
                condition: attrs.condition.as_ref().map(|c| c.name()),
                depends_on: attrs
                    .depends_on
                    .iter()
                    .filter(|d| d.stack == stack)
                    .map(|d| d.logical_id.as_str())
                    .collect(),
                properties,
                metadata,
                deletion_policy: attrs.deletion_policy.map(|p| p.as_str()),
                update_replace_policy: attrs.update_replace_policy.map(|p| p.as_str()),
            },
        );
        resource_types.insert(id.clone(), entry.resource.type_name().to_owned());
    }

    let mut outputs = BTreeMap::new();
    for (id, output) in &data.outputs {
        let export = output.export.then(|| serde_json::json!({ "Name": format!("{}:{id}", data.name) }));
        outputs.insert(
            id.clone(),
            OutputOut {
                description: output.description.as_deref(),
                value: renderer.render(&output.value, &format!("output {id}"))?,
                export,
            },
        );
    }
    let mut exports = Vec::new();
    for exported in graph.exports.get(&stack).into_iter().flatten() {
        let output_id = exported.output_id();
        if outputs.contains_key(&output_id) || data.resources.contains_key(&output_id) {
            return Err(DslError::DuplicateLogicalId {
                stack: data.name.clone(),
                logical_id: output_id,
                existing: "output or resource, and synthesis needs it for a cross-stack export",
            });
        }
        let export_name = exported.export_name(&data.name);
        exports.push(export_name.clone());
        outputs.insert(
            output_id,
            OutputOut {
                description: Some("Used by another stack of this app; removed when no stack imports it."),
                value: exported.local_value(),
                export: Some(serde_json::json!({ "Name": export_name })),
            },
        );
    }

    let mut output_parameters = BTreeMap::new();
    for (parameter, (source, output)) in &data.output_parameters {
        let source = &app.stacks[source.0];
        if !source.outputs.contains_key(output) {
            return Err(DslError::Construct(format!(
                "stack {}: parameter {parameter} takes output {output} of {}, which has no such output (it has: {})",
                data.name,
                source.name,
                source.outputs.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        output_parameters
            .insert(parameter.clone(), OutputSource { stack: source.name.clone(), output: output.clone() });
    }

    let template = TemplateOut {
        format_version: "2010-09-09",
        description: data.description.as_deref(),
        parameters,
        conditions,
        resources,
        outputs,
    };
    let resource_count = template.resources.len();
    let parameter_count = template.parameters.len();
    let output_count = template.outputs.len();
    let mut text = serde_json::to_string_pretty(&template).expect("a template always serializes");
    text.push('\n');

    for (what, actual, limit) in [
        ("the number of resources", resource_count, limits::MAX_RESOURCES),
        ("the number of outputs", output_count, limits::MAX_OUTPUTS),
        ("the number of parameters", parameter_count, limits::MAX_PARAMETERS),
        ("the template size in bytes", text.len(), limits::MAX_TEMPLATE_BYTES),
    ] {
        if actual > limit {
            return Err(DslError::LimitExceeded { stack: data.name.clone(), what, actual, limit });
        }
    }
    if resource_count == 0 {
        return Err(DslError::EmptyStack(data.name.clone()));
    }

    let depends_on = graph
        .edges
        .get(&stack)
        .map(|deps| deps.keys().map(|d| app.stack_name(*d).to_owned()).collect())
        .unwrap_or_default();

    Ok(SynthesizedStack {
        name: data.name.clone(),
        short_name: data.short_name.clone(),
        region: data.region.clone(),
        tags: data.tags.clone(),
        requires_s3_upload: text.len() > limits::MAX_INLINE_TEMPLATE_BYTES,
        template: text,
        resource_count,
        parameter_count,
        output_count,
        depends_on,
        exports,
        imports: renderer.imports.into_iter().collect(),
        output_parameters,
        resource_types,
        elapsed: started.elapsed(),
    })
}

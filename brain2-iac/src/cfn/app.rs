//! The app: named stacks holding resources, parameters, conditions and outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

use super::error::{DslError, Result};
use super::intrinsic::{ConditionId, Intrinsic, ParameterId, RefTarget, StackId};
use super::json::{Json, ToJson};
use super::resource::{Handle, Resource, ResourceAttributes, ResourceEntry};
use super::value::{Expr, Value};

/// A set of stacks deployed together under one app and environment name.
///
/// Stacks are named `<app>-<environment>-<name>` and exports carry the same prefix, so several
/// environments share an account and region without colliding.
pub struct App {
    name: String,
    environment: String,
    pub(crate) stacks: Vec<StackData>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("environment", &self.environment)
            .field("stacks", &self.stacks.iter().map(|s| &s.name).collect::<Vec<_>>())
            .finish()
    }
}

pub(crate) struct StackData {
    pub(crate) name: String,
    pub(crate) short_name: String,
    pub(crate) description: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) resources: BTreeMap<String, ResourceEntry>,
    pub(crate) parameters: BTreeMap<String, ParameterDef>,
    pub(crate) conditions: BTreeMap<String, Json>,
    pub(crate) outputs: BTreeMap<String, OutputDef>,
    pub(crate) depends_on: BTreeSet<StackId>,
    /// Parameters deploy fills from another stack's output: parameter → (stack, output).
    pub(crate) output_parameters: BTreeMap<String, (StackId, String)>,
}

impl StackData {
    fn kind_of(&self, logical_id: &str) -> Option<&'static str> {
        if self.resources.contains_key(logical_id) {
            Some("resource")
        } else if self.parameters.contains_key(logical_id) {
            Some("parameter")
        } else if self.outputs.contains_key(logical_id) {
            Some("output")
        } else if self.conditions.contains_key(logical_id) {
            Some("condition")
        } else {
            None
        }
    }
}

pub(crate) struct OutputDef {
    pub(crate) value: Json,
    pub(crate) description: Option<String>,
    pub(crate) export: bool,
}

pub(crate) struct ParameterDef {
    pub(crate) cfn_type: String,
    pub(crate) description: Option<String>,
    pub(crate) default: Option<Json>,
    pub(crate) allowed_values: Vec<Json>,
    pub(crate) allowed_pattern: Option<String>,
    pub(crate) min_length: Option<u32>,
    pub(crate) max_length: Option<u32>,
    pub(crate) min_value: Option<f64>,
    pub(crate) max_value: Option<f64>,
    pub(crate) no_echo: bool,
    pub(crate) constraint_description: Option<String>,
}

/// A typed template parameter; `ref_()` yields its value as a `T`.
pub struct Parameter<T> {
    id: ParameterId,
    kind: PhantomData<fn() -> T>,
}

impl<T> Parameter<T> {
    pub fn id(&self) -> &ParameterId {
        &self.id
    }
    pub fn logical_id(&self) -> &str {
        &self.id.logical_id
    }
    pub fn ref_(&self) -> Expr<T> {
        Expr::new(Intrinsic::Ref(RefTarget::Parameter(self.id.clone())))
    }
}

impl<T> Clone for Parameter<T> {
    fn clone(&self) -> Self {
        Self { id: self.id.clone(), kind: PhantomData }
    }
}

impl<T> fmt::Debug for Parameter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Parameter({})", self.id.logical_id)
    }
}

/// The declaration of a parameter yielding `T`: its CloudFormation type and constraints.
///
/// Constructors fix the type (`string()`, `number()`, `integer()`, `comma_delimited_list()`,
/// `aws_type(..)`); only the constraints that apply to that type are offered.
pub struct ParameterSpec<T> {
    def: ParameterDef,
    kind: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ParameterSpec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParameterSpec({})", self.def.cfn_type)
    }
}

impl<T> ParameterSpec<T> {
    fn of_type(cfn_type: &str) -> Self {
        Self {
            def: ParameterDef {
                cfn_type: cfn_type.to_owned(),
                description: None,
                default: None,
                allowed_values: Vec::new(),
                allowed_pattern: None,
                min_length: None,
                max_length: None,
                min_value: None,
                max_value: None,
                no_echo: false,
                constraint_description: None,
            },
            kind: PhantomData,
        }
    }
    pub fn description(mut self, text: &str) -> Self {
        self.def.description = Some(text.to_owned());
        self
    }
    /// Masks the value in the console and API answers. Never a way to pass a secret: secrets
    /// belong in Secrets Manager and are read by ARN.
    pub fn no_echo(mut self) -> Self {
        self.def.no_echo = true;
        self
    }
    pub fn constraint_description(mut self, text: &str) -> Self {
        self.def.constraint_description = Some(text.to_owned());
        self
    }
}

impl ParameterSpec<String> {
    pub fn string() -> Self {
        Self::of_type("String")
    }
    /// An AWS-specific type such as `AWS::EC2::VPC::Id` or `AWS::SSM::Parameter::Value<String>`.
    pub fn aws_type(type_name: &str) -> Self {
        Self::of_type(type_name)
    }
    pub fn default_value(mut self, value: &str) -> Self {
        self.def.default = Some(value.into());
        self
    }
    pub fn allowed_values<'a>(mut self, values: impl IntoIterator<Item = &'a str>) -> Self {
        self.def.allowed_values = values.into_iter().map(Json::from).collect();
        self
    }
    pub fn allowed_pattern(mut self, pattern: &str) -> Self {
        self.def.allowed_pattern = Some(pattern.to_owned());
        self
    }
    pub fn min_length(mut self, length: u32) -> Self {
        self.def.min_length = Some(length);
        self
    }
    pub fn max_length(mut self, length: u32) -> Self {
        self.def.max_length = Some(length);
        self
    }
}

impl ParameterSpec<f64> {
    pub fn number() -> Self {
        Self::of_type("Number")
    }
    pub fn default_value(mut self, value: f64) -> Self {
        self.def.default = Some(Json::Float(value));
        self
    }
    pub fn min_value(mut self, value: f64) -> Self {
        self.def.min_value = Some(value);
        self
    }
    pub fn max_value(mut self, value: f64) -> Self {
        self.def.max_value = Some(value);
        self
    }
}

impl ParameterSpec<i64> {
    /// A `Number` parameter used where an integer belongs.
    pub fn integer() -> Self {
        Self::of_type("Number")
    }
    pub fn default_value(mut self, value: i64) -> Self {
        self.def.default = Some(Json::Int(value));
        self
    }
    pub fn min_value(mut self, value: i64) -> Self {
        self.def.min_value = Some(value as f64);
        self
    }
    pub fn max_value(mut self, value: i64) -> Self {
        self.def.max_value = Some(value as f64);
        self
    }
}

impl ParameterSpec<Vec<Value<String>>> {
    pub fn comma_delimited_list() -> Self {
        Self::of_type("CommaDelimitedList")
    }
    /// A list of an AWS-specific type, such as `List<AWS::EC2::Subnet::Id>`.
    pub fn aws_list_type(type_name: &str) -> Self {
        Self::of_type(type_name)
    }
}

fn check_parameter(def: &ParameterDef) -> std::result::Result<(), String> {
    if let (Some(min), Some(max)) = (def.min_length, def.max_length)
        && min > max
    {
        return Err(format!("MinLength {min} is greater than MaxLength {max}"));
    }
    if let (Some(min), Some(max)) = (def.min_value, def.max_value)
        && min > max
    {
        return Err(format!("MinValue {min} is greater than MaxValue {max}"));
    }
    let Some(default) = &def.default else { return Ok(()) };
    if !def.allowed_values.is_empty() && !def.allowed_values.contains(default) {
        return Err(format!("default {default:?} is not one of the allowed values {:?}", def.allowed_values));
    }
    match default {
        Json::String(text) => {
            let length = text.chars().count() as u32;
            if def.min_length.is_some_and(|min| length < min) || def.max_length.is_some_and(|max| length > max) {
                return Err(format!("default {text:?} has {length} characters, outside MinLength/MaxLength"));
            }
        }
        Json::Int(_) | Json::Float(_) => {
            let number = match default {
                Json::Int(i) => *i as f64,
                Json::Float(f) => *f,
                _ => unreachable!("matched numbers above"),
            };
            if def.min_value.is_some_and(|min| number < min) || def.max_value.is_some_and(|max| number > max) {
                return Err(format!("default {number} is outside MinValue/MaxValue"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// A named condition of one stack, for `Fn::If` and a resource's `Condition` attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    id: ConditionId,
}

impl Condition {
    pub fn id(&self) -> &ConditionId {
        &self.id
    }
    pub fn name(&self) -> &str {
        &self.id.name
    }
    /// This condition inside another condition (`{"Condition": name}`).
    pub fn expr(&self) -> Expr<bool> {
        Expr::new(Intrinsic::Condition(self.id.clone()))
    }
}

fn is_lower_kebab(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl App {
    /// A new app. Both names are lowercase letters, digits and hyphens, as stack names need.
    pub fn new(name: &str, environment: &str) -> Result<Self> {
        for (what, value) in [("app", name), ("environment", environment)] {
            if !is_lower_kebab(value) {
                return Err(DslError::InvalidName {
                    what,
                    name: value.to_owned(),
                    expected: "lowercase letters, digits and inner hyphens",
                });
            }
        }
        Ok(Self { name: name.to_owned(), environment: environment.to_owned(), stacks: Vec::new() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// `<app>-<environment>`: the prefix of every stack and export name.
    pub fn prefix(&self) -> String {
        format!("{}-{}", self.name, self.environment)
    }

    /// Adds the stack `<app>-<environment>-<name>`.
    pub fn add_stack(&mut self, name: &str, description: &str) -> Result<StackId> {
        if !is_lower_kebab(name) {
            return Err(DslError::InvalidName {
                what: "stack",
                name: name.to_owned(),
                expected: "lowercase letters, digits and inner hyphens",
            });
        }
        let full_name = format!("{}-{}", self.prefix(), name);
        if full_name.len() > 128 {
            return Err(DslError::InvalidName {
                what: "stack",
                name: full_name,
                expected: "at most 128 characters including the app and environment prefix",
            });
        }
        if self.stacks.iter().any(|s| s.short_name == name) {
            return Err(DslError::DuplicateStack(full_name));
        }
        self.stacks.push(StackData {
            name: full_name,
            short_name: name.to_owned(),
            description: (!description.is_empty()).then(|| description.to_owned()),
            region: None,
            tags: BTreeMap::new(),
            resources: BTreeMap::new(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            outputs: BTreeMap::new(),
            depends_on: BTreeSet::new(),
            output_parameters: BTreeMap::new(),
        });
        Ok(StackId(self.stacks.len() - 1))
    }

    /// The stacks in the order they were added.
    pub fn stack_ids(&self) -> impl Iterator<Item = StackId> + '_ {
        (0..self.stacks.len()).map(StackId)
    }

    /// The full stack name, `<app>-<environment>-<name>`.
    pub fn stack_name(&self, stack: StackId) -> &str {
        &self.stacks[stack.0].name
    }

    /// The short name the stack was added under.
    pub fn stack_short_name(&self, stack: StackId) -> &str {
        &self.stacks[stack.0].short_name
    }

    /// Deploys this stack to a region other than the app's default. References between stacks
    /// in different regions are refused at synthesis, since exports are regional.
    pub fn set_stack_region(&mut self, stack: StackId, region: &str) {
        self.stacks[stack.0].region = Some(region.to_owned());
    }

    pub fn stack_region(&self, stack: StackId) -> Option<&str> {
        self.stacks[stack.0].region.as_deref()
    }

    /// A tag deploy puts on the stack (and so on every resource that takes tags).
    pub fn add_stack_tag(&mut self, stack: StackId, key: &str, value: &str) {
        self.stacks[stack.0].tags.insert(key.to_owned(), value.to_owned());
    }

    /// Orders `dependent` after `dependency` even where no reference says so.
    pub fn add_stack_dependency(&mut self, dependent: StackId, dependency: StackId) {
        self.stacks[dependent.0].depends_on.insert(dependency);
    }

    fn claim_logical_id(&self, stack: StackId, logical_id: &str) -> Result<()> {
        let data = &self.stacks[stack.0];
        let reason = if logical_id.is_empty() {
            Some("empty")
        } else if logical_id.len() > 255 {
            Some("longer than 255 characters")
        } else if !logical_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            Some("not purely alphanumeric (A-Z, a-z, 0-9)")
        } else if logical_id.starts_with("AWS") {
            Some("reserved: logical ids may not start with AWS")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(DslError::InvalidLogicalId {
                stack: data.name.clone(),
                logical_id: logical_id.to_owned(),
                reason,
            });
        }
        if let Some(existing) = data.kind_of(logical_id) {
            return Err(DslError::DuplicateLogicalId {
                stack: data.name.clone(),
                logical_id: logical_id.to_owned(),
                existing,
            });
        }
        Ok(())
    }

    /// Adds a resource under a logical id chosen by the caller; the id never changes unless the
    /// code changes it.
    pub fn add<R: Resource>(&mut self, stack: StackId, logical_id: &str, resource: R) -> Result<Handle<R>> {
        self.claim_logical_id(stack, logical_id)?;
        let id = super::ResourceId { stack, logical_id: logical_id.to_owned() };
        self.stacks[stack.0].resources.insert(
            logical_id.to_owned(),
            ResourceEntry { resource: Box::new(resource), attributes: ResourceAttributes::default() },
        );
        Ok(Handle::new(id))
    }

    fn entry(&self, id: &super::ResourceId) -> &ResourceEntry {
        self.stacks
            .get(id.stack.0)
            .and_then(|s| s.resources.get(&id.logical_id))
            .unwrap_or_else(|| panic!("handle {id:?} does not belong to this app"))
    }

    fn entry_mut(&mut self, id: &super::ResourceId) -> &mut ResourceEntry {
        self.stacks
            .get_mut(id.stack.0)
            .and_then(|s| s.resources.get_mut(&id.logical_id))
            .unwrap_or_else(|| panic!("handle {id:?} does not belong to this app"))
    }

    /// The resource behind a handle.
    ///
    /// # Panics
    /// When the handle comes from another app.
    pub fn get<R: Resource>(&self, handle: &Handle<R>) -> &R {
        self.entry(handle.resource_id())
            .resource
            .as_any()
            .downcast_ref()
            .expect("a handle's type always matches the resource it was created for")
    }

    /// The resource behind a handle, to change its properties after creation (grants do this).
    ///
    /// # Panics
    /// When the handle comes from another app.
    pub fn get_mut<R: Resource>(&mut self, handle: &Handle<R>) -> &mut R {
        self.entry_mut(handle.resource_id())
            .resource
            .as_any_mut()
            .downcast_mut()
            .expect("a handle's type always matches the resource it was created for")
    }

    /// DeletionPolicy, UpdateReplacePolicy, DependsOn, Condition and Metadata of a resource.
    pub fn attributes_mut<R>(&mut self, handle: &Handle<R>) -> &mut ResourceAttributes {
        &mut self.entry_mut(handle.resource_id()).attributes
    }

    pub fn attributes<R>(&self, handle: &Handle<R>) -> &ResourceAttributes {
        &self.entry(handle.resource_id()).attributes
    }

    /// Adds a typed parameter after checking its constraints against each other and its default.
    pub fn add_parameter<T>(
        &mut self,
        stack: StackId,
        logical_id: &str,
        spec: ParameterSpec<T>,
    ) -> Result<Parameter<T>> {
        self.claim_logical_id(stack, logical_id)?;
        check_parameter(&spec.def).map_err(|reason| DslError::InvalidParameter {
            stack: self.stacks[stack.0].name.clone(),
            parameter: logical_id.to_owned(),
            reason,
        })?;
        self.stacks[stack.0].parameters.insert(logical_id.to_owned(), spec.def);
        Ok(Parameter { id: ParameterId { stack, logical_id: logical_id.to_owned() }, kind: PhantomData })
    }

    /// Adds a string parameter whose value deploy takes from `output` of the `source` stack, as
    /// deployed: the way a value crosses regions, where exports do not reach. The stack is
    /// deployed after `source`, and synthesis checks that `source` has the output.
    pub fn add_output_parameter(
        &mut self,
        stack: StackId,
        logical_id: &str,
        source: StackId,
        output: &str,
        spec: ParameterSpec<String>,
    ) -> Result<Parameter<String>> {
        if source == stack {
            return Err(DslError::Construct(format!(
                "stack {}: parameter {logical_id} cannot take an output of its own stack",
                self.stacks[stack.0].name
            )));
        }
        let source_name = self.stacks[source.0].name.clone();
        let spec = if spec.def.description.is_none() {
            spec.description(&format!("Output {output} of {source_name}, filled in by deploy"))
        } else {
            spec
        };
        let parameter = self.add_parameter(stack, logical_id, spec)?;
        self.stacks[stack.0].output_parameters.insert(logical_id.to_owned(), (source, output.to_owned()));
        self.add_stack_dependency(stack, source);
        Ok(parameter)
    }

    /// Adds a named condition built with the functions in [`cond`](super::cond).
    pub fn add_condition(&mut self, stack: StackId, name: &str, expr: Expr<bool>) -> Result<Condition> {
        self.claim_logical_id(stack, name)?;
        self.stacks[stack.0].conditions.insert(name.to_owned(), expr.into());
        Ok(Condition { id: ConditionId { stack, name: name.to_owned() } })
    }

    /// Adds an output. With `export`, it is also exported as `<stack>:<logical id>` for use
    /// outside this app; inside it, refer to resources directly instead.
    pub fn add_output(
        &mut self,
        stack: StackId,
        logical_id: &str,
        value: impl Into<Value<String>>,
        description: &str,
        export: bool,
    ) -> Result<()> {
        self.claim_logical_id(stack, logical_id)?;
        self.stacks[stack.0].outputs.insert(
            logical_id.to_owned(),
            OutputDef {
                value: value.into().to_json(),
                description: (!description.is_empty()).then(|| description.to_owned()),
                export,
            },
        );
        Ok(())
    }
}

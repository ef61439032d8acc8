//! Errors from building and synthesizing an app. Each names the stack and the element at fault.

/// A mistake in the app's definition, found while building or synthesizing it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DslError {
    #[error("invalid {what} name {name:?}: {expected}")]
    InvalidName { what: &'static str, name: String, expected: &'static str },

    #[error("stack {stack}: logical id {logical_id:?} is {reason}")]
    InvalidLogicalId { stack: String, logical_id: String, reason: &'static str },

    #[error("stack {stack}: logical id {logical_id:?} is already used by a {existing}")]
    DuplicateLogicalId { stack: String, logical_id: String, existing: &'static str },

    #[error("a stack named {0:?} already exists in this app")]
    DuplicateStack(String),

    #[error("stack {stack}, parameter {parameter}: {reason}")]
    InvalidParameter { stack: String, parameter: String, reason: String },

    #[error("stack {stack}: {site} refers to {target}, which is not part of this app")]
    UnknownTarget { stack: String, site: String, target: String },

    #[error(
        "stack {stack}: {site} uses condition {condition:?} of stack {condition_stack}; conditions only apply inside their own stack"
    )]
    ConditionInOtherStack { stack: String, site: String, condition: String, condition_stack: String },

    #[error(
        "stack {stack}: {site} uses Fn::Sub {template:?}, whose ${{{name}}} is neither a variable of that Fn::Sub nor a resource or parameter of this stack; pass it as a named variable"
    )]
    SubUnknownName { stack: String, site: String, template: String, name: String },

    #[error("{0}")]
    CrossRegionReference(Box<CrossRegionReference>),

    #[error("stacks depend on each other in a cycle: {}", render_cycle(.0))]
    StackCycle(Vec<CycleStep>),

    #[error("stack {stack}: {value} is not a number CloudFormation can hold in {site}")]
    InvalidNumber { stack: String, site: String, value: f64 },

    #[error("stack {stack}: {what} is {actual}, over CloudFormation's limit of {limit}")]
    LimitExceeded { stack: String, what: &'static str, actual: usize, limit: usize },

    #[error("stack {0} has no resources; CloudFormation needs at least one")]
    EmptyStack(String),

    #[error("{0}")]
    Construct(String),
}

/// A reference between stacks that deploy to different regions, which exports cannot carry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "stack {consumer}: {site} refers to {producer}'s {target}, but {consumer} deploys to {consumer_region} and {producer} to {producer_region}; exports do not cross regions"
)]
pub struct CrossRegionReference {
    pub consumer: String,
    pub consumer_region: String,
    pub producer: String,
    pub producer_region: String,
    pub site: String,
    pub target: String,
}

/// One edge of a dependency cycle: `from` needs `to` because of `reason`.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleStep {
    pub from: String,
    pub to: String,
    pub reason: String,
}

fn render_cycle(steps: &[CycleStep]) -> String {
    steps
        .iter()
        .map(|step| format!("{} needs {} ({})", step.from, step.to, step.reason))
        .collect::<Vec<_>>()
        .join(", then ")
}

pub type Result<T, E = DslError> = std::result::Result<T, E>;

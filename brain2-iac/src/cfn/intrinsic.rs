//! Intrinsic functions, pseudo parameters and condition functions.
//!
//! Each constructor returns an [`Expr<T>`] typed by what CloudFormation yields, so a function can
//! only be used where its result fits.

use std::collections::BTreeMap;

use super::ToJson;
use super::json::Json;
use super::value::{Expr, Value};

/// Index of a stack inside its [`App`](super::App).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StackId(pub(crate) usize);

/// A resource, by its stack and logical id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    pub stack: StackId,
    pub logical_id: String,
}

/// A template parameter, by its stack and logical id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParameterId {
    pub stack: StackId,
    pub logical_id: String,
}

/// A template condition, by its stack and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConditionId {
    pub stack: StackId,
    pub name: String,
}

/// The pseudo parameters CloudFormation resolves at deploy time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pseudo {
    AccountId,
    NoValue,
    NotificationArns,
    Partition,
    Region,
    StackId,
    StackName,
    UrlSuffix,
}

impl Pseudo {
    pub fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::NoValue => "AWS::NoValue",
            Pseudo::NotificationArns => "AWS::NotificationARNs",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::Region => "AWS::Region",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
        }
    }
}

/// What a `Ref` points at.
#[derive(Debug, Clone, PartialEq)]
pub enum RefTarget {
    Resource(ResourceId),
    Parameter(ParameterId),
    Pseudo(Pseudo),
}

/// An untyped intrinsic. Arguments are [`Json`] so intrinsics nest.
#[derive(Debug, Clone, PartialEq)]
pub enum Intrinsic {
    Ref(RefTarget),
    GetAtt { resource: ResourceId, attribute: String },
    Sub { template: String, variables: BTreeMap<String, Json> },
    Join { delimiter: String, values: Json },
    Select { index: u32, list: Json },
    Split { delimiter: String, source: Json },
    If { condition: ConditionId, then: Json, otherwise: Json },
    ImportValue(Json),
    GetAzs(Json),
    Equals(Json, Json),
    And(Vec<Json>),
    Or(Vec<Json>),
    Not(Json),
    Condition(ConditionId),
}

impl Intrinsic {
    /// Calls `visit` on every intrinsic nested in this one's arguments (not on `self`).
    pub fn visit_arguments<'a>(&'a self, visit: &mut dyn FnMut(&'a Intrinsic)) {
        let mut each = |json: &'a Json| json.visit_intrinsics(visit);
        match self {
            Intrinsic::Ref(_) | Intrinsic::GetAtt { .. } | Intrinsic::Condition(_) => {}
            Intrinsic::Sub { variables, .. } => variables.values().for_each(each),
            Intrinsic::Join { values, .. } => each(values),
            Intrinsic::Select { list, .. } => each(list),
            Intrinsic::Split { source, .. } => each(source),
            Intrinsic::If { then, otherwise, .. } => {
                each(then);
                each(otherwise);
            }
            Intrinsic::ImportValue(name) => each(name),
            Intrinsic::GetAzs(region) => each(region),
            Intrinsic::Equals(a, b) => {
                each(a);
                each(b);
            }
            Intrinsic::And(items) | Intrinsic::Or(items) => items.iter().for_each(each),
            Intrinsic::Not(item) => each(item),
        }
    }
}

/// `Fn::Sub`, `Fn::Join` and the other functions, typed by what they yield.
pub mod fns {
    use super::*;

    /// `Fn::Sub` with named variables. `${AWS::Region}` and the other pseudo parameters need no
    /// variable; every other `${Name}` must be a variable or a logical id in the same stack, which
    /// synthesis checks.
    pub fn sub<K, V>(template: &str, variables: impl IntoIterator<Item = (K, V)>) -> Expr<String>
    where
        K: Into<String>,
        V: Into<Value<String>>,
    {
        Expr::new(Intrinsic::Sub {
            template: template.to_owned(),
            variables: variables.into_iter().map(|(k, v)| (k.into(), v.into().to_json())).collect(),
        })
    }

    /// `Fn::Join` of strings.
    pub fn join<V: Into<Value<String>>>(delimiter: &str, values: impl IntoIterator<Item = V>) -> Expr<String> {
        Expr::new(Intrinsic::Join {
            delimiter: delimiter.to_owned(),
            values: Json::Array(values.into_iter().map(|v| v.into().to_json()).collect()),
        })
    }

    /// `Fn::Join` over a list that is itself an intrinsic, such as `Fn::Split` or a list attribute.
    pub fn join_list(delimiter: &str, list: impl Into<Value<Vec<Value<String>>>>) -> Expr<String> {
        Expr::new(Intrinsic::Join { delimiter: delimiter.to_owned(), values: list.into().to_json() })
    }

    /// `Fn::Select`: the item at `index` of a list.
    pub fn select<T: ToJson>(index: u32, list: impl Into<Value<Vec<Value<T>>>>) -> Expr<T> {
        Expr::new(Intrinsic::Select { index, list: list.into().to_json() })
    }

    /// `Fn::Split`: a string cut into a list.
    pub fn split(delimiter: &str, source: impl Into<Value<String>>) -> Expr<Vec<Value<String>>> {
        Expr::new(Intrinsic::Split { delimiter: delimiter.to_owned(), source: source.into().to_json() })
    }

    /// `Fn::If`: `then` when the condition holds, else `otherwise`. Both branches have the
    /// property's type; [`super::pseudo::no_value`] drops the property instead.
    pub fn if_<T: ToJson>(
        condition: &super::super::Condition,
        then: impl Into<Value<T>>,
        otherwise: impl Into<Value<T>>,
    ) -> Expr<T> {
        Expr::new(Intrinsic::If {
            condition: condition.id().clone(),
            then: then.into().to_json(),
            otherwise: otherwise.into().to_json(),
        })
    }

    /// `Fn::ImportValue` of an export made outside this app. Inside one app, use the resource's
    /// attribute directly: synthesis adds the export and import itself.
    pub fn import_value(export_name: impl Into<Value<String>>) -> Expr<String> {
        Expr::new(Intrinsic::ImportValue(export_name.into().to_json()))
    }

    /// `Fn::GetAZs` for a region (`""` or [`super::pseudo::region`] mean the stack's own).
    pub fn get_azs(region: impl Into<Value<String>>) -> Expr<Vec<Value<String>>> {
        Expr::new(Intrinsic::GetAzs(region.into().to_json()))
    }
}

/// The pseudo parameters, as typed expressions.
pub mod pseudo {
    use super::*;

    fn pseudo<T>(p: Pseudo) -> Expr<T> {
        Expr::new(Intrinsic::Ref(RefTarget::Pseudo(p)))
    }
    pub fn region() -> Expr<String> {
        pseudo(Pseudo::Region)
    }
    pub fn account_id() -> Expr<String> {
        pseudo(Pseudo::AccountId)
    }
    pub fn partition() -> Expr<String> {
        pseudo(Pseudo::Partition)
    }
    pub fn stack_name() -> Expr<String> {
        pseudo(Pseudo::StackName)
    }
    pub fn stack_id() -> Expr<String> {
        pseudo(Pseudo::StackId)
    }
    pub fn url_suffix() -> Expr<String> {
        pseudo(Pseudo::UrlSuffix)
    }
    pub fn notification_arns() -> Expr<Vec<Value<String>>> {
        pseudo(Pseudo::NotificationArns)
    }
    /// `AWS::NoValue`: removes the property it stands in, of any type.
    pub fn no_value<T>() -> Expr<T> {
        pseudo(Pseudo::NoValue)
    }
}

/// Condition functions, for [`App::add_condition`](super::App::add_condition).
pub mod cond {
    use super::*;

    /// `Fn::Equals` of two strings.
    pub fn equals(a: impl Into<Value<String>>, b: impl Into<Value<String>>) -> Expr<bool> {
        Expr::new(Intrinsic::Equals(a.into().to_json(), b.into().to_json()))
    }
    /// `Fn::And` of two to ten conditions.
    pub fn and(items: impl IntoIterator<Item = Expr<bool>>) -> Expr<bool> {
        Expr::new(Intrinsic::And(items.into_iter().map(Json::from).collect()))
    }
    /// `Fn::Or` of two to ten conditions.
    pub fn or(items: impl IntoIterator<Item = Expr<bool>>) -> Expr<bool> {
        Expr::new(Intrinsic::Or(items.into_iter().map(Json::from).collect()))
    }
    /// `Fn::Not`.
    pub fn not(item: Expr<bool>) -> Expr<bool> {
        Expr::new(Intrinsic::Not(item.into()))
    }
}

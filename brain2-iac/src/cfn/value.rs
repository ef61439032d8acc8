//! Typed property values: a literal of the property's type, or an intrinsic that yields it.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use super::intrinsic::Intrinsic;
use super::json::{Json, ToJson};

/// The value of a property whose CloudFormation type is `T`.
///
/// Build one with `.into()` from a literal (`"text"`, `5`, `true`, a generated struct or enum, a
/// `Vec` of those) or from an [`Expr<T>`] such as `table.arn()` or `pseudo::region()`:
///
/// ```
/// use brain2_iac::aws::sqs::Queue;
/// use brain2_iac::cfn::{fns, pseudo};
/// let queue = Queue::new().queue_name(fns::join("-", [pseudo::stack_name()])).delay_seconds(5);
/// ```
///
/// An intrinsic of the wrong type does not compile: `Fn::GetAZs` yields a list, and a queue
/// name is a string.
///
/// ```compile_fail
/// use brain2_iac::aws::sqs::Queue;
/// use brain2_iac::cfn::fns;
/// let queue = Queue::new().queue_name(fns::get_azs(""));
/// ```
#[derive(Clone, PartialEq)]
pub enum Value<T> {
    Literal(T),
    Expr(Intrinsic),
}

impl<T: fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Literal(value) => value.fmt(f),
            Value::Expr(intrinsic) => intrinsic.fmt(f),
        }
    }
}

impl<T> Value<T> {
    /// The literal, when this is not an intrinsic.
    pub fn literal(&self) -> Option<&T> {
        match self {
            Value::Literal(value) => Some(value),
            Value::Expr(_) => None,
        }
    }

    /// The literal for changing in place, when this is not an intrinsic.
    pub fn literal_mut(&mut self) -> Option<&mut T> {
        match self {
            Value::Literal(value) => Some(value),
            Value::Expr(_) => None,
        }
    }
}

impl<T: ToJson> ToJson for Value<T> {
    fn to_json(&self) -> Json {
        match self {
            Value::Literal(value) => value.to_json(),
            Value::Expr(intrinsic) => Json::Intrinsic(Box::new(intrinsic.clone())),
        }
    }
}

/// An intrinsic function or reference whose result has the CloudFormation type `T`.
///
/// The type parameter only exists at compile time: it is what stops a list-valued `Fn::GetAZs`
/// from going where a string belongs.
pub struct Expr<T> {
    intrinsic: Intrinsic,
    yields: PhantomData<fn() -> T>,
}

impl<T> Expr<T> {
    /// Wraps an untyped intrinsic. Callers vouch that it yields a `T`.
    pub fn new(intrinsic: Intrinsic) -> Self {
        Self { intrinsic, yields: PhantomData }
    }

    pub fn intrinsic(&self) -> &Intrinsic {
        &self.intrinsic
    }

    pub fn into_intrinsic(self) -> Intrinsic {
        self.intrinsic
    }
}

impl<T> Clone for Expr<T> {
    fn clone(&self) -> Self {
        Self::new(self.intrinsic.clone())
    }
}

impl<T> PartialEq for Expr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.intrinsic == other.intrinsic
    }
}

impl<T> fmt::Debug for Expr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.intrinsic.fmt(f)
    }
}

impl<T> From<Expr<T>> for Value<T> {
    fn from(expr: Expr<T>) -> Self {
        Value::Expr(expr.intrinsic)
    }
}
impl<T> From<&Expr<T>> for Value<T> {
    fn from(expr: &Expr<T>) -> Self {
        Value::Expr(expr.intrinsic.clone())
    }
}

impl From<&str> for Value<String> {
    fn from(value: &str) -> Self {
        Value::Literal(value.to_owned())
    }
}
impl From<String> for Value<String> {
    fn from(value: String) -> Self {
        Value::Literal(value)
    }
}
impl From<&String> for Value<String> {
    fn from(value: &String) -> Self {
        Value::Literal(value.clone())
    }
}
impl From<i64> for Value<i64> {
    fn from(value: i64) -> Self {
        Value::Literal(value)
    }
}
impl From<i32> for Value<i64> {
    fn from(value: i32) -> Self {
        Value::Literal(value.into())
    }
}
impl From<u32> for Value<i64> {
    fn from(value: u32) -> Self {
        Value::Literal(value.into())
    }
}
impl From<f64> for Value<f64> {
    fn from(value: f64) -> Self {
        Value::Literal(value)
    }
}
impl From<i32> for Value<f64> {
    fn from(value: i32) -> Self {
        Value::Literal(value.into())
    }
}
impl From<bool> for Value<bool> {
    fn from(value: bool) -> Self {
        Value::Literal(value)
    }
}
impl From<Json> for Value<Json> {
    fn from(value: Json) -> Self {
        Value::Literal(value)
    }
}
impl From<serde_json::Value> for Value<Json> {
    fn from(value: serde_json::Value) -> Self {
        Value::Literal(value.into())
    }
}
impl<T, U: Into<T>> From<Vec<U>> for Value<Vec<T>> {
    fn from(items: Vec<U>) -> Self {
        Value::Literal(items.into_iter().map(Into::into).collect())
    }
}
impl<T, U: Into<T>> From<BTreeMap<String, U>> for Value<BTreeMap<String, T>> {
    fn from(items: BTreeMap<String, U>) -> Self {
        Value::Literal(items.into_iter().map(|(k, v)| (k, v.into())).collect())
    }
}
impl<T, U: Into<T>, const N: usize> From<[(&str, U); N]> for Value<BTreeMap<String, T>> {
    fn from(items: [(&str, U); N]) -> Self {
        Value::Literal(items.into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect())
    }
}

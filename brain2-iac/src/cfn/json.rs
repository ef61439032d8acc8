//! The tree every property value becomes before synthesis: JSON that may hold intrinsics.
//!
//! Objects are `BTreeMap`s, so keys come out sorted and a template never depends on the order in
//! which code set its properties.

use std::collections::BTreeMap;

use super::intrinsic::Intrinsic;

/// JSON with one extra case: an intrinsic function, resolved per stack at synthesis.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
    Intrinsic(Box<Intrinsic>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn object<K: Into<String>, V: Into<Json>>(pairs: impl IntoIterator<Item = (K, V)>) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// An array from anything that converts to JSON.
    pub fn array<V: Into<Json>>(items: impl IntoIterator<Item = V>) -> Json {
        Json::Array(items.into_iter().map(Into::into).collect())
    }

    /// The value at `key` when this is an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(map) => map.get(key),
            _ => None,
        }
    }

    /// The value at `key` when this is an object, for changing in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Object(map) => map.get_mut(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// Every intrinsic in this tree, depth first, in key order.
    pub fn visit_intrinsics<'a>(&'a self, visit: &mut dyn FnMut(&'a Intrinsic)) {
        match self {
            Json::Array(items) => items.iter().for_each(|item| item.visit_intrinsics(visit)),
            Json::Object(map) => map.values().for_each(|item| item.visit_intrinsics(visit)),
            Json::Intrinsic(intrinsic) => {
                visit(intrinsic);
                intrinsic.visit_arguments(visit);
            }
            Json::Null | Json::Bool(_) | Json::Int(_) | Json::Float(_) | Json::String(_) => {}
        }
    }
}

impl From<&str> for Json {
    fn from(value: &str) -> Self {
        Json::String(value.to_owned())
    }
}
impl From<String> for Json {
    fn from(value: String) -> Self {
        Json::String(value)
    }
}
impl From<bool> for Json {
    fn from(value: bool) -> Self {
        Json::Bool(value)
    }
}
impl From<i64> for Json {
    fn from(value: i64) -> Self {
        Json::Int(value)
    }
}
impl From<i32> for Json {
    fn from(value: i32) -> Self {
        Json::Int(value.into())
    }
}
impl From<f64> for Json {
    fn from(value: f64) -> Self {
        Json::Float(value)
    }
}
impl From<Vec<Json>> for Json {
    fn from(value: Vec<Json>) -> Self {
        Json::Array(value)
    }
}
impl From<Intrinsic> for Json {
    fn from(value: Intrinsic) -> Self {
        Json::Intrinsic(Box::new(value))
    }
}
impl<T> From<super::Expr<T>> for Json {
    fn from(value: super::Expr<T>) -> Self {
        Json::Intrinsic(Box::new(value.into_intrinsic()))
    }
}
impl<T: ToJson> From<super::Value<T>> for Json {
    fn from(value: super::Value<T>) -> Self {
        value.to_json()
    }
}

impl From<serde_json::Value> for Json {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Json::Int(i),
                None => Json::Float(n.as_f64().unwrap_or_default()),
            },
            serde_json::Value::String(s) => Json::String(s),
            serde_json::Value::Array(items) => Json::Array(items.into_iter().map(Json::from).collect()),
            serde_json::Value::Object(map) => Json::Object(map.into_iter().map(|(k, v)| (k, Json::from(v))).collect()),
        }
    }
}

/// Conversion of a typed property value into the template tree.
pub trait ToJson {
    fn to_json(&self) -> Json;
}

impl ToJson for String {
    fn to_json(&self) -> Json {
        Json::String(self.clone())
    }
}
impl ToJson for i64 {
    fn to_json(&self) -> Json {
        Json::Int(*self)
    }
}
impl ToJson for f64 {
    fn to_json(&self) -> Json {
        Json::Float(*self)
    }
}
impl ToJson for bool {
    fn to_json(&self) -> Json {
        Json::Bool(*self)
    }
}
impl ToJson for Json {
    fn to_json(&self) -> Json {
        self.clone()
    }
}
impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Json {
        Json::Array(self.iter().map(ToJson::to_json).collect())
    }
}
impl<T: ToJson> ToJson for BTreeMap<String, T> {
    fn to_json(&self) -> Json {
        Json::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
}
impl<T: ToJson> ToJson for Box<T> {
    fn to_json(&self) -> Json {
        (**self).to_json()
    }
}

//! Resources: the trait generated types implement, the handles code holds, and the attributes
//! (DeletionPolicy and friends) every resource can carry.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

use super::Condition;
use super::intrinsic::{Intrinsic, RefTarget, ResourceId, StackId};
use super::json::{Json, ToJson};
use super::value::Expr;

/// A CloudFormation resource type. Implemented by the generated types in [`crate::aws`].
pub trait Resource: ToJson + Any + fmt::Debug {
    /// `AWS::Service::Type`.
    const TYPE_NAME: &'static str;
    /// JSON pointers (`/properties/TableName`) of the properties whose change replaces the
    /// resource, from the schema's `createOnlyProperties`.
    const CREATE_ONLY_PROPERTIES: &'static [&'static str];
}

/// Object-safe view of a [`Resource`], for storing resources of every type in one stack.
pub(crate) trait DynResource: fmt::Debug {
    fn type_name(&self) -> &'static str;
    fn properties(&self) -> Json;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn as_any(&self) -> &dyn Any;
}

impl<R: Resource> DynResource for R {
    fn type_name(&self) -> &'static str {
        R::TYPE_NAME
    }
    fn properties(&self) -> Json {
        self.to_json()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A typed reference to a resource added to an [`App`](super::App).
///
/// Cheap to clone. Its `ref_()` and the generated attribute accessors (`table.arn()`) yield
/// expressions that synthesis turns into `Ref`/`Fn::GetAtt` in the same stack, or into an
/// export and `Fn::ImportValue` across stacks.
pub struct Handle<R> {
    id: ResourceId,
    kind: PhantomData<fn() -> R>,
}

impl<R> Handle<R> {
    pub(crate) fn new(id: ResourceId) -> Self {
        Self { id, kind: PhantomData }
    }

    pub fn resource_id(&self) -> &ResourceId {
        &self.id
    }

    pub fn logical_id(&self) -> &str {
        &self.id.logical_id
    }

    pub fn stack(&self) -> StackId {
        self.id.stack
    }

    /// `Ref` to this resource: what it yields depends on the type (a name, an id or an ARN).
    pub fn ref_(&self) -> Expr<String> {
        Expr::new(Intrinsic::Ref(RefTarget::Resource(self.id.clone())))
    }

    /// `Fn::GetAtt`. Generated accessors call this with the schema's attribute names and types.
    pub fn get_att<T>(&self, attribute: &str) -> Expr<T> {
        Expr::new(Intrinsic::GetAtt { resource: self.id.clone(), attribute: attribute.to_owned() })
    }
}

impl<R> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Self::new(self.id.clone())
    }
}

impl<R> PartialEq for Handle<R> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<R> fmt::Debug for Handle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}#{})", self.id.stack.0, self.id.logical_id)
    }
}

/// `DeletionPolicy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionPolicy {
    Delete,
    Retain,
    RetainExceptOnUpdate,
    Snapshot,
}

impl DeletionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionPolicy::Delete => "Delete",
            DeletionPolicy::Retain => "Retain",
            DeletionPolicy::RetainExceptOnUpdate => "RetainExceptOnUpdate",
            DeletionPolicy::Snapshot => "Snapshot",
        }
    }
}

/// `UpdateReplacePolicy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateReplacePolicy {
    Delete,
    Retain,
    Snapshot,
}

impl UpdateReplacePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateReplacePolicy::Delete => "Delete",
            UpdateReplacePolicy::Retain => "Retain",
            UpdateReplacePolicy::Snapshot => "Snapshot",
        }
    }
}

/// What happens to a stateful resource when it leaves the template or is replaced; sets both
/// `DeletionPolicy` and `UpdateReplacePolicy`, as CDK's `RemovalPolicy` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RemovalPolicy {
    Delete,
    Retain,
    Snapshot,
}

impl RemovalPolicy {
    pub fn deletion_policy(self) -> DeletionPolicy {
        match self {
            RemovalPolicy::Delete => DeletionPolicy::Delete,
            RemovalPolicy::Retain => DeletionPolicy::Retain,
            RemovalPolicy::Snapshot => DeletionPolicy::Snapshot,
        }
    }
    pub fn update_replace_policy(self) -> UpdateReplacePolicy {
        match self {
            RemovalPolicy::Delete => UpdateReplacePolicy::Delete,
            RemovalPolicy::Retain => UpdateReplacePolicy::Retain,
            RemovalPolicy::Snapshot => UpdateReplacePolicy::Snapshot,
        }
    }
}

/// The attributes a template may set on any resource besides its properties.
#[derive(Debug, Clone, Default)]
pub struct ResourceAttributes {
    pub deletion_policy: Option<DeletionPolicy>,
    pub update_replace_policy: Option<UpdateReplacePolicy>,
    /// Resources this one waits for. One in another stack becomes a stack dependency instead.
    pub depends_on: BTreeSet<ResourceId>,
    pub condition: Option<Condition>,
    pub metadata: BTreeMap<String, Json>,
}

impl ResourceAttributes {
    /// Sets both deletion and update-replace policies.
    pub fn set_removal_policy(&mut self, policy: RemovalPolicy) {
        self.deletion_policy = Some(policy.deletion_policy());
        self.update_replace_policy = Some(policy.update_replace_policy());
    }

    /// Adds `DependsOn` on another resource.
    pub fn depend_on<R>(&mut self, other: &Handle<R>) {
        self.depends_on.insert(other.resource_id().clone());
    }
}

pub(crate) struct ResourceEntry {
    pub(crate) resource: Box<dyn DynResource>,
    pub(crate) attributes: ResourceAttributes,
}

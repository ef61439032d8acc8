//! A DynamoDB table with secure defaults: on-demand, encrypted with a KMS key, and a removal
//! policy that sets both DeletionPolicy and UpdateReplacePolicy.

use crate::aws::dynamodb::table::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchema, PointInTimeRecoverySpecification, Projection,
    ProjectionType, SseSpecification, Table as CfnTable, TimeToLiveSpecification,
};
use crate::cfn::{App, DslError, Expr, Handle, RemovalPolicy, Result, StackId, Value, fns};

use super::iam::{Grantee, Statement, grant};

/// DynamoDB key attribute types, as the schema lists them (`S`, `N`, `B`).
pub use crate::aws::dynamodb::table::AttributeType;

/// A key attribute: its name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub kind: AttributeType,
}

impl Key {
    pub fn string(name: &str) -> Self {
        Self { name: name.to_owned(), kind: AttributeType::S }
    }
    pub fn number(name: &str) -> Self {
        Self { name: name.to_owned(), kind: AttributeType::N }
    }
}

/// What a global secondary index copies from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexProjection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalIndex {
    pub name: String,
    pub partition_key: Key,
    pub sort_key: Option<Key>,
    pub projection: IndexProjection,
}

/// Encryption at rest. DynamoDB always encrypts; these choose whose key.
#[derive(Debug, Clone, PartialEq)]
pub enum TableEncryption {
    /// The AWS managed key `aws/dynamodb`, visible in CloudTrail: the default here.
    AwsManagedKey,
    /// A customer managed key, by ARN.
    CustomerManagedKey(Value<String>),
}

/// How the table is configured. [`TableProps::new`] gives the secure defaults.
#[derive(Debug, Clone)]
pub struct TableProps {
    pub partition_key: Key,
    pub sort_key: Option<Key>,
    pub global_indexes: Vec<GlobalIndex>,
    pub time_to_live_attribute: Option<String>,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    pub removal_policy: RemovalPolicy,
    pub encryption: TableEncryption,
    /// A physical name. Leave unset unless something outside the app needs it: a fixed name
    /// blocks replacement and collides across environments unless it carries the environment.
    pub table_name: Option<Value<String>>,
}

impl TableProps {
    /// On-demand, AWS-managed KMS encryption, point-in-time recovery and deletion protection
    /// on, retained on removal. Loosen explicitly for throwaway environments.
    pub fn new(partition_key: Key) -> Self {
        Self {
            partition_key,
            sort_key: None,
            global_indexes: Vec::new(),
            time_to_live_attribute: None,
            point_in_time_recovery: true,
            deletion_protection: true,
            removal_policy: RemovalPolicy::Retain,
            encryption: TableEncryption::AwsManagedKey,
            table_name: None,
        }
    }
}

/// A table added to an app, with the index names grants need.
#[derive(Debug, Clone)]
pub struct Table {
    pub resource: Handle<CfnTable>,
    pub index_names: Vec<String>,
    /// The customer-managed key's ARN, when the table is under one: grants then include it.
    pub key: Option<Value<String>>,
}

fn key_schema(partition: &Key, sort: Option<&Key>) -> Vec<KeySchema> {
    let mut keys = vec![KeySchema::new(partition.name.as_str(), "HASH")];
    if let Some(sort) = sort {
        keys.push(KeySchema::new(sort.name.as_str(), "RANGE"));
    }
    keys
}

impl Table {
    pub fn new(app: &mut App, stack: StackId, logical_id: &str, props: TableProps) -> Result<Self> {
        // Every key attribute, once, in a stable order; conflicting types are a mistake.
        let mut attributes: std::collections::BTreeMap<String, AttributeType> = Default::default();
        let all_keys = std::iter::once(&props.partition_key).chain(props.sort_key.as_ref()).chain(
            props.global_indexes.iter().flat_map(|i| std::iter::once(&i.partition_key).chain(i.sort_key.as_ref())),
        );
        for key in all_keys {
            if let Some(existing) = attributes.insert(key.name.clone(), key.kind)
                && existing != key.kind
            {
                return Err(DslError::Construct(format!(
                    "table {logical_id}: key attribute {:?} is declared as both {existing:?} and {:?}",
                    key.name, key.kind
                )));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for index in &props.global_indexes {
            if !names.insert(index.name.as_str()) {
                return Err(DslError::Construct(format!(
                    "table {logical_id}: index {:?} is declared twice",
                    index.name
                )));
            }
        }

        let definitions: Vec<AttributeDefinition> =
            attributes.iter().map(|(name, kind)| AttributeDefinition::new(name.as_str(), *kind)).collect();
        let sse = match &props.encryption {
            TableEncryption::AwsManagedKey => {
                SseSpecification::new(true).sse_type(crate::aws::dynamodb::table::SseType::Kms)
            }
            TableEncryption::CustomerManagedKey(key) => SseSpecification::new(true)
                .sse_type(crate::aws::dynamodb::table::SseType::Kms)
                .kms_master_key_id(key.clone()),
        };
        let mut table = CfnTable::new(key_schema(&props.partition_key, props.sort_key.as_ref()))
            .attribute_definitions(definitions)
            .billing_mode(BillingMode::PayPerRequest)
            .sse_specification(sse)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::new().point_in_time_recovery_enabled(props.point_in_time_recovery),
            )
            .deletion_protection_enabled(props.deletion_protection);
        if !props.global_indexes.is_empty() {
            let indexes: Vec<GlobalSecondaryIndex> = props
                .global_indexes
                .iter()
                .map(|index| {
                    let projection = match &index.projection {
                        IndexProjection::All => Projection::new().projection_type(ProjectionType::All),
                        IndexProjection::KeysOnly => Projection::new().projection_type(ProjectionType::KeysOnly),
                        IndexProjection::Include(attrs) => Projection::new()
                            .projection_type(ProjectionType::Include)
                            .non_key_attributes(attrs.iter().map(String::as_str).collect::<Vec<_>>()),
                    };
                    GlobalSecondaryIndex::new(
                        index.name.as_str(),
                        key_schema(&index.partition_key, index.sort_key.as_ref()),
                        projection,
                    )
                })
                .collect();
            table = table.global_secondary_indexes(indexes);
        }
        if let Some(attribute) = &props.time_to_live_attribute {
            table =
                table.time_to_live_specification(TimeToLiveSpecification::new(true).attribute_name(attribute.as_str()));
        }
        if let Some(name) = &props.table_name {
            table = table.table_name(name.clone());
        }
        let resource = app.add(stack, logical_id, table)?;
        app.attributes_mut(&resource).set_removal_policy(props.removal_policy);
        let key = match props.encryption {
            TableEncryption::AwsManagedKey => None,
            TableEncryption::CustomerManagedKey(key) => Some(key),
        };
        Ok(Self { resource, index_names: props.global_indexes.iter().map(|i| i.name.clone()).collect(), key })
    }

    pub fn arn(&self) -> Expr<String> {
        self.resource.arn()
    }

    /// The table name (`Ref`).
    pub fn name(&self) -> Expr<String> {
        self.resource.ref_()
    }

    /// The ARNs of the table and of each of its indexes, by name: what grants scope to.
    pub fn resource_arns(&self) -> Vec<Value<String>> {
        std::iter::once(self.arn().into()).chain(self.index_names.iter().map(|i| self.index_arn(i))).collect()
    }

    fn index_arn(&self, index: &str) -> Value<String> {
        fns::sub(&format!("${{Table}}/index/{index}"), [("Table", self.arn())]).into()
    }

    /// Exactly `actions` (each `dynamodb:…`), on the table and on the named indexes only.
    pub fn grant_actions(
        &self,
        app: &mut App,
        grantee: &impl Grantee,
        actions: &[&str],
        indexes: &[&str],
    ) -> Result<()> {
        let mut resources: Vec<Value<String>> = vec![self.arn().into()];
        for index in indexes {
            if !self.index_names.iter().any(|name| name == index) {
                return Err(DslError::Construct(format!(
                    "table {}: no index {index:?} to grant on; its indexes are {:?}",
                    self.resource.logical_id(),
                    self.index_names
                )));
            }
            resources.push(self.index_arn(index));
        }
        grant(app, grantee, Statement::allow(actions.iter().copied(), resources))?;
        let writes = actions.iter().any(|a| WRITE_ACTIONS.contains(a));
        self.grant_key(app, grantee, writes)
    }

    /// Exactly `actions` on the named indexes only, not on the table (a Query of an index needs
    /// no grant on the table itself).
    pub fn grant_index_actions(
        &self,
        app: &mut App,
        grantee: &impl Grantee,
        actions: &[&str],
        indexes: &[&str],
    ) -> Result<()> {
        let mut resources: Vec<Value<String>> = Vec::new();
        for index in indexes {
            if !self.index_names.iter().any(|name| name == index) {
                return Err(DslError::Construct(format!(
                    "table {}: no index {index:?} to grant on; its indexes are {:?}",
                    self.resource.logical_id(),
                    self.index_names
                )));
            }
            resources.push(self.index_arn(index));
        }
        grant(app, grantee, Statement::allow(actions.iter().copied(), resources))?;
        let writes = actions.iter().any(|a| WRITE_ACTIONS.contains(a));
        self.grant_key(app, grantee, writes)
    }

    /// What using the table's customer-managed key takes, as DynamoDB uses it on the caller's
    /// behalf: decrypting for reads, and data keys too for writes.
    fn grant_key(&self, app: &mut App, grantee: &impl Grantee, writes: bool) -> Result<()> {
        let Some(key) = &self.key else { return Ok(()) };
        let actions = if writes { super::key::ENCRYPT_DECRYPT } else { super::key::DECRYPT };
        grant(app, grantee, Statement::allow(actions.iter().copied(), [key.clone()]))
    }

    /// Reads items: GetItem, BatchGetItem, Query and ConditionCheckItem. Not Scan: Brain2 never
    /// scans, and a grant that allowed it would invite unbounded reads.
    pub fn grant_read_data(&self, app: &mut App, grantee: &impl Grantee) -> Result<()> {
        grant(app, grantee, Statement::allow(READ_ACTIONS.iter().copied(), self.resource_arns()))?;
        self.grant_key(app, grantee, false)
    }

    /// Writes items: PutItem, UpdateItem, DeleteItem and BatchWriteItem, on the table only
    /// (indexes cannot be written).
    pub fn grant_write_data(&self, app: &mut App, grantee: &impl Grantee) -> Result<()> {
        grant(app, grantee, Statement::allow(WRITE_ACTIONS.iter().copied(), [self.arn().into()]))?;
        self.grant_key(app, grantee, true)
    }

    /// Both of the above.
    pub fn grant_read_write_data(&self, app: &mut App, grantee: &impl Grantee) -> Result<()> {
        self.grant_read_data(app, grantee)?;
        self.grant_write_data(app, grantee)
    }
}

pub const READ_ACTIONS: &[&str] =
    &["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:Query"];
pub const WRITE_ACTIONS: &[&str] =
    &["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"];

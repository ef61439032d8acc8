//! A customer-managed KMS key for encryption at rest, and the statements its users need.
//!
//! The key policy lets the account administer the key (so IAM policies decide who uses it) and
//! names each AWS service that uses it on the account's behalf without a role of ours: CloudWatch
//! Logs, and EventBridge delivering to an encrypted dead-letter queue. Roles get `kms:` actions
//! on this key only, through [`EncryptionKey::grant`].

use crate::aws::kms::Key;
use crate::cfn::{App, DslError, Expr, Handle, RemovalPolicy, Result, StackId, Value, fns};

use super::iam::{Grantee, Statement, grant, policy_document, push_statement};

/// What a role needs to read data encrypted under the key.
pub const DECRYPT: &[&str] = &["kms:Decrypt"];
/// What a role needs to write data under the key (DynamoDB, SQS): a data key, and reading back.
pub const ENCRYPT_DECRYPT: &[&str] = &["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"];
/// What a sender needs to put a message on a queue under the key.
pub const SEND_TO_QUEUE: &[&str] = &["kms:Decrypt", "kms:GenerateDataKey"];

/// A symmetric key, rotated yearly, 30 days' pending window on deletion.
#[derive(Debug, Clone)]
pub struct EncryptionKey {
    pub key: Handle<Key>,
}

impl EncryptionKey {
    /// `removal_policy` should match the data's: a key deleted under retained data makes that
    /// data unreadable.
    pub fn new(
        app: &mut App,
        stack: StackId,
        logical_id: &str,
        description: &str,
        removal_policy: RemovalPolicy,
    ) -> Result<Self> {
        let administer = Statement::allow(["kms:*"], [Value::from("*")]).sid("AccountAdministers").account_principal();
        let key = app.add(
            stack,
            logical_id,
            Key::new()
                .description(description)
                .enable_key_rotation(true)
                .pending_window_in_days(30)
                .key_policy(policy_document([administer])),
        )?;
        app.attributes_mut(&key).set_removal_policy(removal_policy);
        Ok(Self { key })
    }

    pub fn arn(&self) -> Expr<String> {
        self.key.arn()
    }

    /// Adds a statement to the key policy (once).
    pub fn add_to_policy(&self, app: &mut App, statement: Statement) -> Result<()> {
        let key_id = self.key.logical_id().to_owned();
        let policy = app.get_mut(&self.key).key_policy.as_mut().and_then(|p| p.literal_mut());
        if policy.is_some_and(|document| push_statement(document, &statement)) {
            Ok(())
        } else {
            Err(DslError::Construct(format!("key {key_id}: its KeyPolicy has no Statement list to add to")))
        }
    }

    /// Lets CloudWatch Logs encrypt and decrypt the log groups of this account and region with
    /// the key: the key-policy statement the CloudWatch Logs guide gives, limited by the
    /// encryption context Logs sends to log-group ARNs.
    pub fn allow_cloudwatch_logs(&self, app: &mut App) -> Result<()> {
        let no_variables: [(&str, Value<String>); 0] = [];
        let statement = Statement::allow(
            ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            [Value::from("*")],
        )
        .sid("CloudWatchLogsEncryptsLogGroups")
        .service_principal(fns::sub("logs.${AWS::Region}.amazonaws.com", no_variables.clone()))
        .condition(
            "ArnLike",
            "kms:EncryptionContext:aws:logs:arn",
            fns::sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*", no_variables),
        );
        self.add_to_policy(app, statement)
    }

    /// Gives a role exactly `actions` (each `kms:…`) on this key.
    pub fn grant(&self, app: &mut App, grantee: &impl Grantee, actions: &[&str]) -> Result<()> {
        grant(app, grantee, Statement::allow(actions.iter().copied(), [self.arn().into()]))
    }
}

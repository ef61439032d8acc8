//! ConnectionsTable: open WebSocket connections, found by user through `connection-id-index`
//! and expired by TTL two hours after they open. Each counts the messages sent to it (`seq`), so
//! its client can tell when one was lost.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use crate::domain::UserId;
use crate::dynamo::{self, StoreError};

/// How long a connection record lives without a disconnect.
pub const CONNECTION_TTL: time::Duration = time::Duration::hours(2);

#[derive(Debug, Clone)]
pub struct ConnectionStore {
    client: Client,
    table: String,
    user_index: String,
}

impl ConnectionStore {
    /// The store the environment names: `CONNECTIONS_TABLE_NAME`, and `CONNECTIONS_INDEX_NAME`
    /// (default `connection-id-index`).
    pub fn from_env(client: Client, env: &dyn crate::config::Source) -> Result<Self, crate::config::ConfigError> {
        let table = crate::config::required(env, "CONNECTIONS_TABLE_NAME")?;
        let index =
            crate::config::optional(env, "CONNECTIONS_INDEX_NAME").unwrap_or_else(|| "connection-id-index".to_owned());
        Ok(Self::new(client, table, index))
    }

    pub fn new(client: Client, table: impl Into<String>, user_index: impl Into<String>) -> Self {
        Self { client, table: table.into(), user_index: user_index.into() }
    }

    pub async fn put(&self, connection_id: &str, user: UserId, now: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("connectionId", AttributeValue::S(connection_id.to_owned()))
            .item("userId", AttributeValue::S(user.to_string()))
            .item("connectedAt", AttributeValue::S(crate::domain::rfc3339(now)))
            .item("expiresAt", AttributeValue::N((now + CONNECTION_TTL).unix_timestamp().to_string()))
            .send()
            .await
            .map_err(|e| StoreError::call("PutItem", e))?;
        Ok(())
    }

    /// Deletes a connection; one that is already gone is fine.
    pub async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("connectionId", AttributeValue::S(connection_id.to_owned()))
            .send()
            .await
            .map_err(|e| StoreError::call("DeleteItem", e))?;
        Ok(())
    }

    /// The number of the next message to `connection_id` (1 for its first), counted in the
    /// table so concurrent senders never give two messages one number; `None` when the
    /// connection is gone.
    pub async fn next_sequence(&self, connection_id: &str) -> Result<Option<u64>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("connectionId", AttributeValue::S(connection_id.to_owned()))
            .update_expression("SET seq = if_not_exists(seq, :zero) + :one")
            .condition_expression("attribute_exists(connectionId)")
            .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(Some(dynamo::number(&item, "seq")?))
            }
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(None)
            }
            Err(error) => Err(StoreError::call("UpdateItem", error)),
        }
    }

    /// The user's open connection ids (all pages).
    pub async fn of_user(&self, user: UserId) -> Result<Vec<String>, StoreError> {
        let items =
            dynamo::query_index(&self.client, &self.table, &self.user_index, "userId", &user.to_string()).await?;
        items.iter().map(|item| dynamo::string(item, "connectionId")).collect()
    }
}

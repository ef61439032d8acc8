//! DynamoDB mechanics the repositories share: writes chunked to the API's limits with
//! `UnprocessedItems` retried under backoff, and queries read to their last page.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, WriteRequest};

pub type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem takes at most this many requests.
pub const BATCH_WRITE_LIMIT: usize = 25;
/// TransactWriteItems takes at most this many actions.
pub const TRANSACT_LIMIT: usize = 100;
/// Rounds of resending unprocessed items before giving up.
pub const UNPROCESSED_ATTEMPTS: u32 = 8;

/// A DynamoDB call that failed for good, with what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{operation}: {message}")]
    Call { operation: &'static str, message: String },
    #[error("{operation}: {remaining} items still unprocessed after {UNPROCESSED_ATTEMPTS} attempts")]
    Unprocessed { operation: &'static str, remaining: usize },
    #[error("item {key} is malformed: {problem}")]
    Malformed { key: String, problem: String },
}

impl StoreError {
    pub fn call<E: std::error::Error + 'static, R: std::fmt::Debug>(
        operation: &'static str,
        error: SdkError<E, R>,
    ) -> Self {
        StoreError::Call { operation, message: DisplayErrorContext(&error).to_string() }
    }
}

/// The backoff before retry `attempt` (1-based): 50 ms doubling, capped at 2 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((50u64 << attempt.min(6)).min(2_000))
}

/// Writes every request, 25 to a call, resending what DynamoDB leaves unprocessed.
pub async fn batch_write(client: &Client, table: &str, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
    for chunk in requests.chunks(BATCH_WRITE_LIMIT) {
        let mut pending = chunk.to_vec();
        let mut attempt = 0;
        while !pending.is_empty() {
            if attempt > 0 {
                if attempt >= UNPROCESSED_ATTEMPTS {
                    return Err(StoreError::Unprocessed { operation: "BatchWriteItem", remaining: pending.len() });
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
            attempt += 1;
            let output = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| StoreError::call("BatchWriteItem", e))?;
            pending = output.unprocessed_items.and_then(|mut left| left.remove(table)).unwrap_or_default();
        }
    }
    Ok(())
}

/// Rounds of retrying a transaction that conflicted with another one in flight.
pub const CONFLICT_ATTEMPTS: u32 = 4;

/// Runs `actions` as one transaction: all of them happen or none does. More than
/// [`TRANSACT_LIMIT`] actions is a bug in the caller, refused before any call. A transaction
/// that only lost a race with another (`TransactionConflict`) is retried under backoff.
pub async fn transact_write(client: &Client, actions: Vec<TransactWriteItem>) -> Result<(), TransactError> {
    if actions.len() > TRANSACT_LIMIT {
        return Err(TransactError::Store(StoreError::Call {
            operation: "TransactWriteItems",
            message: format!("{} actions is over the limit of {TRANSACT_LIMIT} per transaction", actions.len()),
        }));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match client.transact_write_items().set_transact_items(Some(actions.clone())).send().await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let reasons: Option<Vec<Option<String>>> = error.as_service_error().and_then(|s| match s {
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                Some(c.cancellation_reasons().iter().map(|r| r.code().map(str::to_owned)).collect())
            }
            _ => None,
        });
        let Some(reasons) = reasons else {
            return Err(TransactError::Store(StoreError::call("TransactWriteItems", error)));
        };
        let failed: Vec<usize> = reasons
            .iter()
            .enumerate()
            .filter(|(_, code)| code.as_deref() == Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect();
        if !failed.is_empty() {
            return Err(TransactError::ConditionFailed { failed });
        }
        let conflicted = reasons.iter().any(|code| code.as_deref() == Some("TransactionConflict"));
        if !conflicted || attempt >= CONFLICT_ATTEMPTS {
            return Err(TransactError::Store(StoreError::call("TransactWriteItems", error)));
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransactError {
    /// The positions of the actions whose conditions did not hold.
    #[error("the conditions of actions {failed:?} of the transaction did not hold")]
    ConditionFailed { failed: Vec<usize> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every item of a partition whose sort key starts with `prefix`, across all pages, read
/// strongly consistently: what a write that returned before this call wrote is seen.
pub async fn query_prefix(
    client: &Client,
    table: &str,
    partition: &str,
    prefix: &str,
) -> Result<Vec<Item>, StoreError> {
    query_consistent(client, table, partition, SortKeys::Prefix(prefix)).await
}

/// Every item of a partition whose sort key is from `low` to `high` (inclusive), across all
/// pages, read strongly consistently.
pub async fn query_between(
    client: &Client,
    table: &str,
    partition: &str,
    low: &str,
    high: &str,
) -> Result<Vec<Item>, StoreError> {
    query_consistent(client, table, partition, SortKeys::Between(low, high)).await
}

/// Every item of a partition, across all pages, read strongly consistently.
pub async fn query_partition(client: &Client, table: &str, partition: &str) -> Result<Vec<Item>, StoreError> {
    query_consistent(client, table, partition, SortKeys::All).await
}

enum SortKeys<'a> {
    All,
    Prefix(&'a str),
    Between(&'a str, &'a str),
}

async fn query_consistent(
    client: &Client,
    table: &str,
    partition: &str,
    sort_keys: SortKeys<'_>,
) -> Result<Vec<Item>, StoreError> {
    let request = client
        .query()
        .table_name(table)
        .expression_attribute_names("#pk", crate::keys::PARTITION_KEY)
        .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
        .consistent_read(true);
    let request = match sort_keys {
        SortKeys::Prefix(prefix) => request
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#sk", crate::keys::SORT_KEY)
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned())),
        SortKeys::Between(low, high) => request
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
            .expression_attribute_names("#sk", crate::keys::SORT_KEY)
            .expression_attribute_values(":low", AttributeValue::S(low.to_owned()))
            .expression_attribute_values(":high", AttributeValue::S(high.to_owned())),
        // A key condition may not compare with an empty string, so "every item" has none.
        SortKeys::All => request.key_condition_expression("#pk = :pk"),
    };
    request
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| StoreError::call("Query", e))
}

/// Every item of a global secondary index partition, across all pages.
pub async fn query_index(
    client: &Client,
    table: &str,
    index: &str,
    key: &str,
    value: &str,
) -> Result<Vec<Item>, StoreError> {
    client
        .query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression("#k = :v")
        .expression_attribute_names("#k", key)
        .expression_attribute_values(":v", AttributeValue::S(value.to_owned()))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| StoreError::call("Query", e))
}

/// Attribute readers with errors that name the item and attribute.
pub fn string(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(malformed(item, format!("{name} is missing or not a string"))),
    }
}

pub fn number(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| malformed(item, format!("{name} is not a whole number"))),
        _ => Err(malformed(item, format!("{name} is missing or not a number"))),
    }
}

pub fn strings(item: &Item, name: &str) -> Result<Vec<String>, StoreError> {
    match item.get(name) {
        None => Ok(Vec::new()),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s.clone()),
                _ => Err(malformed(item, format!("{name} holds a non-string"))),
            })
            .collect(),
        Some(_) => Err(malformed(item, format!("{name} is not a list"))),
    }
}

pub fn flag(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

pub fn string_list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect())
}

fn malformed(item: &Item, problem: String) -> StoreError {
    let key = item.get(crate::keys::SORT_KEY).and_then(|v| v.as_s().ok()).cloned().unwrap_or_else(|| "?".to_owned());
    StoreError::Malformed { key, problem }
}

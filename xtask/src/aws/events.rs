//! Watching a stack operation: its events streamed as live progress until the stack reaches
//! a final status. Ctrl-C stops the watching, never the operation.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{ResourceStatus, StackEvent, StackStatus};

use super::errors::explain;
use super::stack::Phase;

/// Ctrl-C arrived while CloudFormation was working; the operation carries on without us.
#[derive(Debug)]
pub struct Interrupted {
    pub stack: String,
    pub region: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted: the operation on {stack} goes on in CloudFormation and nothing was left half-done by stopping here. \
             Watch it with `aws cloudformation describe-stack-events --stack-name {stack} --region {region}` \
             or in the console, then run the command again",
            stack = self.stack,
            region = self.region
        )
    }
}

impl std::error::Error for Interrupted {}

/// The resource whose failure started a rollback, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: StackStatus,
    pub status_reason: Option<String>,
    /// The first resource that failed in this operation, if one did.
    pub first_failure: Option<Failure>,
    /// Resources CloudFormation kept on delete (`DELETE_SKIPPED`): retained data.
    pub retained: Vec<String>,
}

fn is_failure(status: &ResourceStatus) -> bool {
    status.as_str().ends_with("_FAILED")
}

/// Reasons that follow the real failure rather than explain it.
fn is_consequence(reason: &str) -> bool {
    reason.contains("Resource creation cancelled")
        || reason.contains("Resource update cancelled")
        || reason.contains("The following resource(s) failed")
}

/// The id of the stack's newest event: where the next operation's events begin.
pub async fn newest(cfn: &Client, stack_id: &str) -> Result<Option<String>> {
    let response = cfn
        .describe_stack_events()
        .stack_name(stack_id)
        .send()
        .await
        .map_err(|e| explain(&format!("reading the events of {stack_id}"), e))?;
    Ok(response.stack_events().first().and_then(|e| e.event_id()).map(str::to_owned))
}

/// Polls after the stack's final status while its own final event has not been listed yet:
/// CloudFormation may show the status before the event, and the events hold the reason.
const SETTLE_POLLS: u32 = 5;

/// Streams `stack`'s events that follow `after` (an event id; all events when `None`) until
/// the stack leaves its `_IN_PROGRESS` state, printing each as
/// `[label] +elapsed resource type status: reason`.
///
/// Each round reads the status first and the events second, so the events of an operation that
/// ended are read after it ended: none is lost between the two reads. It stops once the stack's
/// own event for that status is listed, or after [`SETTLE_POLLS`] more rounds without it.
pub async fn watch(cfn: &Client, stack_id: &str, label: &str, after: Option<&str>, poll: Duration) -> Result<Outcome> {
    let started = Instant::now();
    let mut seen = HashSet::new();
    let mut first_failure: Option<Failure> = None;
    let mut retained = Vec::new();
    let mut settling = 0;
    loop {
        let described = super::stack::describe(cfn, stack_id).await?;
        let ended = match &described {
            Some(s) if s.phase() == Phase::InProgress => None,
            Some(s) => Some((s.status.clone(), s.status_reason.clone())),
            None => Some((StackStatus::DeleteComplete, None)),
        };
        let fresh = match fresh_events(cfn, stack_id, label, after, &seen).await {
            Ok(fresh) => fresh,
            // Described by name after its deletion: its events went with it.
            Err(_) if described.is_none() => Vec::new(),
            Err(error) => return Err(error),
        };
        let mut final_event_seen = described.is_none();
        for event in fresh.into_iter().rev() {
            seen.insert(event.event_id().unwrap_or_default().to_owned());
            let status = event.resource_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
            let logical_id = event.logical_resource_id().unwrap_or_default().to_owned();
            let resource_type = event.resource_type().unwrap_or_default().to_owned();
            let reason = event.resource_status_reason().unwrap_or_default().to_owned();
            println!(
                "  [{label}] +{:>4.0}s {logical_id} {resource_type} {status}{}",
                started.elapsed().as_secs_f64(),
                if reason.is_empty() { String::new() } else { format!(": {reason}") }
            );
            if let Some((final_status, _)) = &ended {
                final_event_seen |= resource_type == STACK_TYPE && status == final_status.as_str();
            }
            if event.resource_status().is_some_and(is_failure)
                && first_failure.is_none()
                && resource_type != STACK_TYPE
                && !is_consequence(&reason)
            {
                first_failure = Some(Failure { logical_id: logical_id.clone(), resource_type, status, reason });
            }
            if event.resource_status() == Some(&ResourceStatus::DeleteSkipped) {
                retained.push(logical_id);
            }
        }
        if let Some((status, status_reason)) = ended {
            if final_event_seen || settling >= SETTLE_POLLS {
                return Ok(Outcome { status, status_reason, first_failure, retained });
            }
            settling += 1;
        }
        tokio::time::sleep(poll).await;
    }
}

const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// The events after `after` not yet `seen`, newest first; paging stops at the first old one.
async fn fresh_events(
    cfn: &Client,
    stack_id: &str,
    label: &str,
    after: Option<&str>,
    seen: &HashSet<String>,
) -> Result<Vec<StackEvent>> {
    let mut fresh = Vec::new();
    let mut token = None;
    loop {
        let response = cfn
            .describe_stack_events()
            .stack_name(stack_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| explain(&format!("reading the events of {label}"), e))?;
        for event in response.stack_events() {
            let id = event.event_id().unwrap_or_default();
            if after == Some(id) || seen.contains(id) {
                return Ok(fresh);
            }
            fresh.push(event.clone());
        }
        token = response.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(fresh);
        }
    }
}

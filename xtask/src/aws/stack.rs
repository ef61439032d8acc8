//! Reading a stack: its status (as a typed phase), parameters, tags, outputs and template;
//! deleting one; which stacks import an export.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{StackStatus, TemplateStage};

use super::errors::{explain, is_missing_stack};

/// What a stack's status means for deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// An operation is running; nothing else may start.
    InProgress,
    /// Created or updated (or rolled back to the previous template); updates may start.
    Stable,
    /// The first creation failed and was rolled back (`ROLLBACK_COMPLETE`): the stack holds
    /// nothing and cannot be updated, only deleted.
    FailedCreate,
    /// A rollback or deletion failed: a person has to look.
    Stuck,
    Deleted,
}

pub fn phase(status: &StackStatus) -> Phase {
    use StackStatus as S;
    match status {
        S::CreateComplete
        | S::UpdateComplete
        | S::UpdateRollbackComplete
        | S::ImportComplete
        | S::ImportRollbackComplete => Phase::Stable,
        S::RollbackComplete => Phase::FailedCreate,
        S::DeleteComplete => Phase::Deleted,
        // CREATE_FAILED (a create with rollback disabled, which deploy never asks for) keeps
        // what it created.
        S::CreateFailed
        | S::RollbackFailed
        | S::DeleteFailed
        | S::UpdateRollbackFailed
        | S::UpdateFailed
        | S::ImportRollbackFailed => Phase::Stuck,
        other if other.as_str().ends_with("_IN_PROGRESS") => Phase::InProgress,
        _ => Phase::Stuck,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub key: String,
    pub value: String,
    pub export_name: Option<String>,
}

/// A stack as CloudFormation describes it.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub id: String,
    pub name: String,
    pub status: StackStatus,
    pub status_reason: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub outputs: Vec<Output>,
    pub last_updated: Option<aws_smithy_types::DateTime>,
}

impl Deployed {
    pub fn phase(&self) -> Phase {
        phase(&self.status)
    }
    pub fn exports(&self) -> impl Iterator<Item = &Output> {
        self.outputs.iter().filter(|o| o.export_name.is_some())
    }
    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs.iter().find(|o| o.key == key).map(|o| o.value.as_str())
    }
}

/// Describes a stack by name or id; `None` when it does not exist.
pub async fn describe(cfn: &Client, stack: &str) -> Result<Option<Deployed>> {
    let response = match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(response) => response,
        Err(error) if is_missing_stack(&error) => return Ok(None),
        Err(error) => return Err(explain(&format!("describing stack {stack}"), error)),
    };
    let Some(s) = response.stacks().first() else { return Ok(None) };
    let status = s.stack_status().cloned().with_context(|| format!("stack {stack} has no status"))?;
    Ok(Some(Deployed {
        id: s.stack_id().unwrap_or(stack).to_owned(),
        name: s.stack_name().unwrap_or(stack).to_owned(),
        status,
        status_reason: s.stack_status_reason().map(str::to_owned),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned())))
            .collect(),
        tags: s.tags().iter().filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned()))).collect(),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| {
                Some(Output {
                    key: o.output_key()?.to_owned(),
                    value: o.output_value().unwrap_or_default().to_owned(),
                    export_name: o.export_name().map(str::to_owned),
                })
            })
            .collect(),
        last_updated: s.last_updated_time().or(s.creation_time()).cloned(),
    }))
}

/// The template the stack runs, as JSON.
pub async fn template(cfn: &Client, stack: &str) -> Result<serde_json::Value> {
    let response = cfn
        .get_template()
        .stack_name(stack)
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .map_err(|e| explain(&format!("reading the template of {stack}"), e))?;
    let body = response.template_body().with_context(|| format!("{stack} returned no template"))?;
    serde_json::from_str(body).with_context(|| format!("the deployed template of {stack} is not JSON"))
}

/// The stacks that import `export`; none when nobody does. `emulated`: moto 5.2.5 answers
/// ListImports for an export nobody imports with a bare HTTP 500 instead of AWS's
/// ValidationError; against an emulator an error without a code means the same.
pub async fn importers(cfn: &Client, export: &str, emulated: bool) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let response = match cfn.list_imports().export_name(export).set_next_token(token).send().await {
            Ok(response) => response,
            // CloudFormation answers "is not imported by any stack" with a ValidationError.
            Err(error) if super::errors::code(&error) == Some("ValidationError") => return Ok(names),
            Err(error) if emulated && super::errors::code(&error).is_none() => return Ok(names),
            Err(error) => return Err(explain(&format!("listing the importers of {export}"), error)),
        };
        names.extend(response.imports().iter().cloned());
        token = response.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(names);
        }
    }
}

/// The physical id of `logical_id` in `stack`; `None` when the stack holds no physical id for it.
pub async fn physical_id(cfn: &Client, stack: &str, logical_id: &str) -> Result<Option<String>> {
    Ok(cfn
        .describe_stack_resource()
        .stack_name(stack)
        .logical_resource_id(logical_id)
        .send()
        .await
        .map_err(|e| explain(&format!("finding {logical_id} of {stack}"), e))?
        .stack_resource_detail()
        .and_then(|d| d.physical_resource_id().map(str::to_owned)))
}

//! Change sets: created, waited for, described as a plan, then executed or deleted.

use std::time::Duration;

use anyhow::{Result, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, ChangeAction, ChangeSetStatus, ChangeSetType, Parameter, Replacement, RequiresRecreation,
    ResourceToImport, Tag,
};

use super::errors::explain;

/// Where the template comes from.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    Body(String),
    /// An S3 URL, for templates over 51,200 bytes.
    Url(String),
    /// The stack's current template (rollback changes only parameters).
    Previous,
}

#[derive(Debug, Clone)]
pub enum ParameterValue {
    Value(String),
    Previous,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub stack: String,
    pub name: String,
    pub kind: ChangeSetType,
    pub template: TemplateSource,
    pub parameters: Vec<(String, ParameterValue)>,
    pub tags: Vec<(String, String)>,
    /// The resources an `IMPORT` change set adopts; empty for any other kind.
    pub imports: Vec<ResourceToImport>,
    pub description: String,
}

/// One planned resource change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `Conditional` or `False` (for modifications).
    pub replacement: Option<String>,
    /// The properties whose change forces the replacement.
    pub causes: Vec<String>,
}

impl Planned {
    pub fn replaces(&self) -> bool {
        matches!(self.replacement.as_deref(), Some("True") | Some("Conditional"))
    }
    pub fn removes(&self) -> bool {
        self.action == ChangeAction::Remove.as_str()
    }
    /// `+`, `-`, `~` or `!` (replace), then the resource and why.
    pub fn line(&self) -> String {
        let sign = if self.removes() {
            "-"
        } else if self.action == ChangeAction::Add.as_str() {
            "+"
        } else if self.replaces() {
            "!"
        } else {
            "~"
        };
        let mut text = format!("{sign} {} {}", self.logical_id, self.resource_type);
        if self.replaces() {
            let how = if self.replacement.as_deref() == Some("Conditional") { "may be replaced" } else { "replaced" };
            if self.causes.is_empty() {
                text.push_str(&format!("  [{how}]"));
            } else {
                text.push_str(&format!("  [{how}: {} changed]", self.causes.join(", ")));
            }
        }
        text
    }
}

#[derive(Debug, Clone)]
pub enum Created {
    /// Ready to execute, with what it will do.
    Ready { id: String, changes: Vec<Planned> },
    /// CloudFormation found nothing to change; the change set was deleted.
    Empty,
}

/// Creates the change set and waits until CloudFormation has computed it.
pub async fn create(cfn: &Client, request: &Request, poll: Duration) -> Result<Created> {
    let mut builder = cfn
        .create_change_set()
        .stack_name(&request.stack)
        .change_set_name(&request.name)
        .change_set_type(request.kind.clone())
        .description(&request.description)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam);
    builder = match &request.template {
        TemplateSource::Body(body) => builder.template_body(body),
        TemplateSource::Url(url) => builder.template_url(url),
        TemplateSource::Previous => builder.use_previous_template(true),
    };
    for (key, value) in &request.parameters {
        let parameter = Parameter::builder().parameter_key(key);
        builder = builder.parameters(match value {
            ParameterValue::Value(v) => parameter.parameter_value(v).build(),
            ParameterValue::Previous => parameter.use_previous_value(true).build(),
        });
    }
    for (key, value) in &request.tags {
        builder = builder.tags(Tag::builder().key(key).value(value).build());
    }
    for resource in &request.imports {
        builder = builder.resources_to_import(resource.clone());
    }
    let created =
        builder.send().await.map_err(|e| explain(&format!("creating a change set for {}", request.stack), e))?;
    let id = created.id().unwrap_or(&request.name).to_owned();
    loop {
        let described = cfn
            .describe_change_set()
            .stack_name(&request.stack)
            .change_set_name(&id)
            .send()
            .await
            .map_err(|e| explain(&format!("reading the change set of {}", request.stack), e))?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => break,
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or_default().to_owned();
                if reason.contains("didn't contain changes") || reason.contains("No updates are to be performed") {
                    delete(cfn, &request.stack, &id).await?;
                    return Ok(Created::Empty);
                }
                delete(cfn, &request.stack, &id).await?;
                bail!("CloudFormation could not plan the change to {}: {reason}", request.stack);
            }
            _ => tokio::time::sleep(poll).await,
        }
    }
    Ok(Created::Ready { changes: changes(cfn, &request.stack, &id).await?, id })
}

/// Every change of a change set, all pages.
pub async fn changes(cfn: &Client, stack: &str, id: &str) -> Result<Vec<Planned>> {
    let mut planned = Vec::new();
    let mut token = None;
    loop {
        let described = cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| explain(&format!("reading the change set of {stack}"), e))?;
        for change in described.changes() {
            let Some(resource) = change.resource_change() else { continue };
            let mut causes: Vec<String> = resource
                .details()
                .iter()
                .filter(|d| {
                    matches!(
                        d.target().and_then(|t| t.requires_recreation()),
                        Some(RequiresRecreation::Always) | Some(RequiresRecreation::Conditionally)
                    )
                })
                .filter_map(|d| d.target().and_then(|t| t.name().or(t.attribute().map(|a| a.as_str()))))
                .map(str::to_owned)
                .collect();
            causes.sort();
            causes.dedup();
            planned.push(Planned {
                action: resource.action().map(|a| a.as_str().to_owned()).unwrap_or_default(),
                logical_id: resource.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: resource.resource_type().unwrap_or_default().to_owned(),
                replacement: resource.replacement().map(|r: &Replacement| r.as_str().to_owned()),
                causes,
            });
        }
        token = described.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(planned);
        }
    }
}

pub async fn execute(cfn: &Client, stack: &str, id: &str) -> Result<()> {
    cfn.execute_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await
        .map_err(|e| explain(&format!("executing the change set of {stack}"), e))?;
    Ok(())
}

pub async fn delete(cfn: &Client, stack: &str, id: &str) -> Result<()> {
    cfn.delete_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await
        .map_err(|e| explain(&format!("deleting the change set of {stack}"), e))?;
    Ok(())
}

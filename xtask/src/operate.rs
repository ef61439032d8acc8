//! `cargo xtask bootstrap`, `destroy` and `status`: the commands around deploy.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackResourceDriftStatus};
use brain2_iac::cfn::Synthesized;
use brain2_stacks::{ASSETS_BUCKET_OUTPUT, REGION_SCOPE, region_toolkit_app, toolkit_app};

use crate::aws::errors::explain;
use crate::aws::{Aws, assets, events, stack};
use crate::deploy::{self, AssetsBucket, Confirm, Context, Settings, apply};

/// Creates or updates `brain2-region-toolkit` (API Gateway's CloudWatch role for the account
/// and region), then `brain2-<env>-toolkit`; returns the assets bucket.
pub async fn bootstrap(aws: &Aws, environment: &str) -> Result<AssetsBucket> {
    bootstrap_region(aws).await?;
    bootstrap_environment(aws, environment).await
}

/// Creates or updates `brain2-region-toolkit`, which every environment in the account and
/// region shares (the same template from each, so only the first bootstrap changes anything).
pub async fn bootstrap_region(aws: &Aws) -> Result<()> {
    deploy_toolkit(aws, REGION_SCOPE, &region_toolkit_app()?.synth()?).await.map(|_| ())
}

/// Creates or updates `brain2-<env>-toolkit`; returns the assets bucket.
pub async fn bootstrap_environment(aws: &Aws, environment: &str) -> Result<AssetsBucket> {
    let result = deploy_toolkit(aws, environment, &toolkit_app(environment)?.synth()?).await?;
    let name = result
        .outputs
        .iter()
        .find(|o| o.key == ASSETS_BUCKET_OUTPUT)
        .map(|o| o.value.clone())
        .ok_or_else(|| anyhow::anyhow!("{} has no {ASSETS_BUCKET_OUTPUT} output", result.name))?;
    Ok(AssetsBucket { name, region: aws.region()? })
}

async fn deploy_toolkit(aws: &Aws, scope: &str, synthesized: &Synthesized) -> Result<apply::StackResult> {
    let plans = deploy::plans(synthesized, &BTreeMap::new())?;
    let mut settings = Settings::new(scope);
    // The toolkits hold re-uploadable assets, release records and a logging role; there is
    // nothing to confirm.
    settings.yes = true;
    let confirm: Confirm = Arc::new(|_| true);
    let ctx = Context::new(aws.clone(), settings, None, confirm)?;
    apply::deploy_stack(&ctx, &plans[0]).await
}

/// What a destroy removed and kept.
#[derive(Debug, Default)]
pub struct Destroyed {
    pub deleted: Vec<String>,
    pub absent: Vec<String>,
    /// `stack: logical id` of resources CloudFormation kept (their DeletionPolicy is Retain).
    pub retained: Vec<String>,
    pub objects_deleted: usize,
}

/// Deletes the environment's stacks, dependents first. Buckets the template marks for
/// deletion are emptied first (CloudFormation cannot delete a bucket with objects).
pub async fn destroy(ctx: &Context, synthesized: &Synthesized, i_mean_prod: bool) -> Result<Destroyed> {
    if ctx.settings.environment == "prod" && !i_mean_prod {
        bail!("destroy refuses prod: this deletes the production stacks. If that is the intent, add --i-mean-prod");
    }
    let mut report = Destroyed::default();
    for planned in synthesized.stacks.iter().rev() {
        let cfn = ctx.aws.cloudformation(planned.region.as_deref());
        let Some(current) = stack::describe(&cfn, &planned.name).await? else {
            println!("  [{}] not deployed", planned.short_name);
            report.absent.push(planned.name.clone());
            continue;
        };
        let template = stack::template(&cfn, &planned.name).await?;
        for (logical_id, resource) in template["Resources"].as_object().into_iter().flatten() {
            let deletes = resource["DeletionPolicy"].as_str().is_none_or(|p| p == "Delete");
            if resource["Type"] != "AWS::S3::Bucket" || !deletes {
                continue;
            }
            let physical = crate::aws::stack::physical_id(&cfn, &planned.name, logical_id).await?;
            if let Some(bucket) = physical {
                let region = planned.region.clone().unwrap_or_else(|| ctx.default_region().to_owned());
                let count = assets::empty(&ctx.aws.s3(Some(&region)), &bucket)
                    .await
                    .with_context(|| format!("{} was not deleted", planned.name))?;
                println!("  [{}] emptied bucket {bucket} ({count} object version(s))", planned.short_name);
                report.objects_deleted += count;
            }
        }
        println!("  [{}] deleting", planned.short_name);
        let region = planned.region.clone().unwrap_or_else(|| ctx.default_region().to_owned());
        let _operation = ctx.operation_on(&planned.name, &region);
        let after = events::newest(&cfn, &current.id).await?;
        cfn.delete_stack()
            .stack_name(&current.id)
            .send()
            .await
            .map_err(|e| explain(&format!("deleting {}", planned.name), e))?;
        let outcome = events::watch(&cfn, &current.id, &planned.short_name, after.as_deref(), ctx.poll).await?;
        if outcome.status.as_str() != "DELETE_COMPLETE" {
            bail!(
                "{} could not be deleted ({}): {}; look at its events and run destroy again",
                planned.name,
                outcome.status.as_str(),
                outcome.first_failure.map(|f| format!("{} {}", f.logical_id, f.reason)).unwrap_or_default()
            );
        }
        // A hotswap record outlives no stack: a stack created again under the same name would
        // otherwise be taken for running the hotswapped code.
        if let Ok(bucket) = deploy::assets_bucket(&ctx.aws, &ctx.settings.environment).await {
            deploy::hotswap::forget(&ctx.aws, &bucket, &ctx.settings.environment, &planned.name, &region)
                .await
                .with_context(|| format!("{} was deleted, but its hotswap record was not", planned.name))?;
        }
        report.retained.extend(outcome.retained.iter().map(|id| format!("{}: {id}", planned.name)));
        report.deleted.push(planned.name.clone());
    }
    Ok(report)
}

/// Prints each stack's status, last update and outputs, and the functions whose code a hotswap
/// put live (CloudFormation's parameters still name the code before); with `drift`, runs drift
/// detection.
pub async fn status(aws: &Aws, synthesized: &Synthesized, drift: bool) -> Result<()> {
    // Where hotswap records are; an environment not bootstrapped has none.
    let assets = deploy::assets_bucket(aws, &synthesized.environment).await.ok();
    for planned in &synthesized.stacks {
        let cfn = aws.cloudformation(planned.region.as_deref());
        let Some(current) = stack::describe(&cfn, &planned.name).await? else {
            println!("{:<28} not deployed", planned.name);
            continue;
        };
        let updated = current
            .last_updated
            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
            .unwrap_or_default();
        println!("{:<28} {:<28} {updated}", planned.name, current.status.as_str());
        if let Some(reason) = &current.status_reason {
            println!("    reason: {reason}");
        }
        for output in &current.outputs {
            println!("    {} = {}", output.key, output.value);
        }
        if let Some(bucket) = &assets
            && let Some(record) =
                crate::deploy::hotswap::load(aws, bucket, &synthesized.environment, &planned.name).await?
        {
            for line in record.lines(&current.parameters) {
                println!("    hotswapped: {line}");
            }
        }
        if drift {
            detect_drift(&cfn, &planned.name).await?;
        }
    }
    Ok(())
}

async fn detect_drift(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> Result<()> {
    let id = cfn
        .detect_stack_drift()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| explain(&format!("starting drift detection on {stack}"), e))?
        .stack_drift_detection_id()
        .unwrap_or_default()
        .to_owned();
    let detected = loop {
        let status = cfn
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(&id)
            .send()
            .await
            .map_err(|e| explain(&format!("reading drift detection of {stack}"), e))?;
        if status.detection_status() != Some(&StackDriftDetectionStatus::DetectionInProgress) {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    let verdict = detected.stack_drift_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
    println!("    drift: {verdict} ({} resource(s) drifted)", detected.drifted_stack_resource_count().unwrap_or(0));
    if verdict == "DRIFTED" {
        let drifts = cfn
            .describe_stack_resource_drifts()
            .stack_name(stack)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .send()
            .await
            .map_err(|e| explain(&format!("reading the drifted resources of {stack}"), e))?;
        for drift in drifts.stack_resource_drifts() {
            println!(
                "      {} {} {}",
                drift.logical_resource_id().unwrap_or_default(),
                drift.resource_type().unwrap_or_default(),
                drift.stack_resource_drift_status().map(|s| s.as_str()).unwrap_or_default()
            );
            for difference in drift.property_differences() {
                println!(
                    "        {}: expected {} actual {}",
                    difference.property_path().unwrap_or_default(),
                    difference.expected_value().unwrap_or_default(),
                    difference.actual_value().unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

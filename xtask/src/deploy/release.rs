//! Release records: what each deploy put out (code keys, parameters and template hashes), kept
//! in the assets bucket under `releases/<env>/`; `cargo xtask rollback`, which puts a previous
//! release's code back through a change set without rebuilding; and the retirement of zips no
//! live release uses, the only ones the bucket's lifecycle lets expire.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use aws_sdk_cloudformation::types::ChangeSetType;
use aws_smithy_types::date_time::Format;
use brain2_stacks::{FUNCTIONS_PREFIX, RELEASE_STATE_TAG, RELEASES_PREFIX, RETIRED};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::apply::execute_reviewed;
use super::{AssetsBucket, Context, StackPlan};
use crate::aws::change_set::{self, Created, ParameterValue, TemplateSource};
use crate::aws::{Aws, assets, events, stack};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackRelease {
    pub template_sha256: String,
    pub parameters: BTreeMap<String, String>,
    /// Where the stack lives (records from before it was kept: the home region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl StackRelease {
    /// The function zips it names (`<Function>CodeKey` → key): what "its code" means.
    pub fn code(&self) -> BTreeMap<&str, &str> {
        code_keys(&self.parameters)
    }
}

/// The `…CodeKey` parameters among `parameters`.
pub fn code_keys(parameters: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    parameters.iter().filter(|(k, _)| k.ends_with("CodeKey")).map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    /// `YYYYMMDDTHHMMSS.mmmZ` (`YYYYMMDDTHHMMSSZ` in older records): sorts in time order.
    pub id: String,
    pub created_at: String,
    pub environment: String,
    pub git_commit: Option<String>,
    pub stacks: BTreeMap<String, StackRelease>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    /// Put live by `deploy --hotswap` (CloudFormation's parameters still name the code before;
    /// the stack's hotswap record says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hotswap: bool,
}

/// A new release's id and time. Milliseconds keep two deploys in the same second apart.
fn now() -> (String, String) {
    let now = std::time::SystemTime::now();
    let created_at = aws_smithy_types::DateTime::from(now).fmt(Format::DateTime).unwrap_or_default();
    let seconds = created_at.split('.').next().unwrap_or_default().trim_end_matches('Z');
    let millis = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_millis());
    let id = format!("{}.{millis:03}Z", seconds.replace(['-', ':'], ""));
    (id, created_at)
}

fn git_commit(workspace: &Path) -> Option<String> {
    let output = std::process::Command::new("git").current_dir(workspace).args(["rev-parse", "HEAD"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

impl Release {
    /// The release of `plans`; stacks without a region of their own live in `home_region`.
    pub fn new(workspace: &Path, environment: &str, home_region: &str, plans: &[StackPlan]) -> Self {
        let (id, created_at) = now();
        Self {
            id,
            created_at,
            environment: environment.to_owned(),
            git_commit: git_commit(workspace),
            stacks: plans
                .iter()
                .map(|p| {
                    let digest: String =
                        Sha256::digest(p.template.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
                    let stack = StackRelease {
                        template_sha256: digest,
                        parameters: p.parameters.clone(),
                        region: Some(p.region.clone().unwrap_or_else(|| home_region.to_owned())),
                    };
                    (p.name.clone(), stack)
                })
                .collect(),
            rolled_back_to: None,
            hotswap: false,
        }
    }

    fn key(&self) -> String {
        format!("{RELEASES_PREFIX}{}/{}.json", self.environment, self.id)
    }
}

/// Stores a release record; returns its key.
pub async fn record(aws: &Aws, bucket: &AssetsBucket, release: &Release) -> Result<String> {
    let s3 = aws.s3(Some(&bucket.region));
    let key = release.key();
    let body = serde_json::to_vec_pretty(release)?;
    assets::put(&s3, &bucket.name, &key, body, "application/json", None).await?;
    Ok(key)
}

/// What [`retire_unreferenced`] did to the zips under `functions/`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retirement {
    /// Zips newly tagged retired.
    pub retired: usize,
    /// Zips a live release uses that had been tagged retired, untagged again.
    pub revived: usize,
    /// Zips a live release uses.
    pub live: usize,
    /// Zips already retired.
    pub already_retired: usize,
}

impl Retirement {
    /// What deploy and rollback print.
    pub fn line(&self) -> String {
        format!(
            "zips: {} in live releases{}, {} retired now, {} retired before (retired zips expire {} days after upload)",
            self.live + self.revived,
            if self.revived > 0 { format!(" ({} of them untagged again)", self.revived) } else { String::new() },
            self.retired,
            self.already_retired,
            brain2_stacks::ASSET_EXPIRY_DAYS
        )
    }
}

/// The code keys live releases use: for each stack, what is deployed now and the two latest
/// codes its release records name (the current one and the one before it, which CloudFormation's
/// own rollback or `cargo xtask rollback` goes back to). Codes, not records: a deploy that
/// changed only another stack, or only templates, records the same code again. Per stack,
/// because a deploy of one stack records a release without the others.
pub fn live_code_keys(releases: &[Release], deployed: &[BTreeMap<String, String>]) -> BTreeSet<String> {
    let mut live: BTreeSet<String> =
        deployed.iter().flat_map(|p| code_keys(p).into_values().map(str::to_owned)).collect();
    let mut codes: BTreeMap<&str, Vec<BTreeMap<&str, &str>>> = BTreeMap::new();
    for release in releases.iter().rev() {
        for (stack, stack_release) in &release.stacks {
            let code = stack_release.code();
            let seen = codes.entry(stack.as_str()).or_default();
            if code.is_empty() || seen.len() >= 2 || seen.contains(&code) {
                continue;
            }
            live.extend(code.values().map(|k| (*k).to_owned()));
            seen.push(code);
        }
    }
    live
}

/// Tags every zip under `functions/` that no live release uses as retired (the bucket's
/// lifecycle expires only those, `ASSET_EXPIRY_DAYS` after their upload) and untags any live
/// one that had been retired. `deployed` holds the parameters of the environment's deployed
/// stacks.
pub async fn retire_unreferenced(
    aws: &Aws,
    bucket: &AssetsBucket,
    environment: &str,
    deployed: &[BTreeMap<String, String>],
) -> Result<Retirement> {
    let releases = list(aws, bucket, environment).await?;
    let live = live_code_keys(&releases, deployed);
    let s3 = aws.s3(Some(&bucket.region));
    let zips = assets::list(&s3, &bucket.name, FUNCTIONS_PREFIX).await?;
    let outcomes: Vec<Result<(bool, bool)>> = futures::stream::iter(zips)
        .map(|(key, _)| {
            let (s3, live) = (&s3, &live);
            async move {
                let is_live = live.contains(&key);
                let retired = assets::has_tag(s3, &bucket.name, &key, RELEASE_STATE_TAG, RETIRED).await?;
                match (is_live, retired) {
                    (true, true) => assets::clear_tags(s3, &bucket.name, &key).await?,
                    (false, false) => assets::set_tag(s3, &bucket.name, &key, RELEASE_STATE_TAG, RETIRED).await?,
                    _ => {}
                }
                Ok((is_live, retired))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut report = Retirement::default();
    for outcome in outcomes {
        match outcome? {
            (true, true) => report.revived += 1,
            (true, false) => report.live += 1,
            (false, false) => report.retired += 1,
            (false, true) => report.already_retired += 1,
        }
    }
    Ok(report)
}

/// The environment's releases, oldest first.
pub async fn list(aws: &Aws, bucket: &AssetsBucket, environment: &str) -> Result<Vec<Release>> {
    let s3 = aws.s3(Some(&bucket.region));
    let mut keys: Vec<String> = assets::list(&s3, &bucket.name, &format!("{RELEASES_PREFIX}{environment}/"))
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    let mut releases = Vec::new();
    for key in keys {
        let value = assets::get_json(&s3, &bucket.name, &key).await?;
        releases.push(
            serde_json::from_value(value)
                .with_context(|| format!("s3://{}/{key} is not a release record", bucket.name))?,
        );
    }
    Ok(releases)
}

/// Whether `deployed` (stack name → parameters as deployed) runs the code `release` names, for
/// every stack of it that is deployed.
pub fn runs(release: &Release, deployed: &BTreeMap<String, BTreeMap<String, String>>) -> bool {
    release.stacks.iter().all(|(name, stack)| {
        deployed.get(name).is_none_or(|parameters| {
            stack.code().iter().all(|(k, v)| parameters.get(*k).map(String::as_str) == Some(*v))
        })
    })
}

/// The release a rollback without `--to` goes back to: the newest whose code differs from the
/// code deployed now. Not simply the one before the latest: a deploy that changed only the
/// frontend (or only templates) records the same code again. Releases a rollback went back
/// past (between its target and its own record) are skipped, so a second rollback goes further
/// back instead of returning to the code the first one left.
pub fn previous_code<'a>(
    releases: &'a [Release],
    deployed: &BTreeMap<String, BTreeMap<String, String>>,
) -> Option<&'a Release> {
    let abandoned = |candidate: &Release| {
        releases.iter().any(|rollback| {
            rollback
                .rolled_back_to
                .as_deref()
                .is_some_and(|target| target < candidate.id.as_str() && candidate.id.as_str() < rollback.id.as_str())
        })
    };
    releases.iter().rev().find(|release| !runs(release, deployed) && !abandoned(release))
}

/// Puts the code of release `to` (default: the newest release whose code differs from what is
/// deployed, see [`previous_code`]) back: for each stack whose code parameters differ, a change
/// set on the deployed template with that release's parameters, reviewed and executed like a
/// deploy. Each stack is read and changed in its own region. Records the result as a new release.
pub async fn rollback(ctx: Arc<Context>, to: Option<&str>) -> Result<Release> {
    let environment = ctx.settings.environment.clone();
    let bucket = ctx.assets.clone().context("rollback needs the assets bucket")?;
    let releases = list(&ctx.aws, &bucket, &environment).await?;
    let region_of = |stack: &StackRelease| stack.region.clone().unwrap_or_else(|| ctx.default_region().to_owned());
    // Every stack a release names, in the region its newest record gives, as deployed now.
    let mut regions: BTreeMap<&str, String> = BTreeMap::new();
    for release in &releases {
        for (name, stack) in &release.stacks {
            regions.insert(name, region_of(stack));
        }
    }
    let mut deployed: BTreeMap<String, stack::Deployed> = BTreeMap::new();
    for (name, region) in &regions {
        if let Some(current) = stack::describe(&ctx.aws.cloudformation(Some(region)), name).await? {
            deployed.insert((*name).to_owned(), current);
        }
    }
    // What runs: CloudFormation's parameters, with the code hotswaps put live.
    let mut deployed_parameters: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, d) in &deployed {
        deployed_parameters
            .insert(name.clone(), super::hotswap::effective_parameters(&ctx, name, &d.parameters).await?);
    }
    let ids = || releases.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ");
    let target = match to {
        Some(id) => releases
            .iter()
            .find(|r| r.id == id)
            .with_context(|| format!("no release {id} in {environment}; releases: {}", ids()))?,
        None => previous_code(&releases, &deployed_parameters).with_context(|| {
            if releases.is_empty() {
                format!("{environment} has no release yet; rollback needs one with other code than is deployed")
            } else {
                format!(
                    "every release of {environment} names the function code deployed now, so there is none to go back to (releases: {})",
                    ids()
                )
            }
        })?,
    };
    println!(
        "rolling {environment} back to release {} ({}{})",
        target.id,
        target.created_at,
        target.git_commit.as_deref().map(|c| format!(", commit {}", &c[..c.len().min(12)])).unwrap_or_default()
    );
    let s3 = ctx.aws.s3(Some(&bucket.region));
    for (stack_name, release) in &target.stacks {
        let region = region_of(release);
        let cfn = ctx.aws.cloudformation(Some(&region));
        let Some(deployed) = deployed.get(stack_name) else {
            println!("  [{stack_name}] not deployed in {region}; skipped");
            continue;
        };
        let code: BTreeMap<&String, &String> = release
            .parameters
            .iter()
            .filter(|(k, _)| k.contains("Code") && deployed.parameters.contains_key(*k))
            .collect();
        if code.iter().all(|(k, v)| deployed_parameters[stack_name].get(*k) == Some(*v)) {
            continue;
        }
        let template = stack::template(&cfn, stack_name).await?;
        let mut wanted = deployed.parameters.clone();
        wanted.extend(code.iter().map(|(k, v)| ((*k).clone(), (*v).clone())));
        let settlement =
            super::hotswap::reconcile(&ctx, stack_name, &region, deployed, &template, &template, &mut wanted).await?;
        if wanted == deployed.parameters {
            println!("  [{stack_name}] runs that code now");
            continue;
        }
        let changing: Vec<(&String, &String)> =
            wanted.iter().filter(|(k, v)| deployed.parameters.get(*k) != Some(*v)).collect();
        for (name, key) in changing.iter().filter(|(k, _)| k.ends_with("CodeKey")) {
            let found = s3.head_object().bucket(&bucket.name).key(*key).send().await;
            if found.is_ok() {
                // Live again: the lifecycle must not take it (it may have been retired).
                assets::clear_tags(&s3, &bucket.name, key).await?;
            } else {
                bail!(
                    "{name} of release {} is s3://{}/{key}, which is gone (retired zips expire {} days after upload); deploy that revision instead",
                    target.id,
                    bucket.name,
                    brain2_stacks::ASSET_EXPIRY_DAYS
                );
            }
        }
        let request = change_set::Request {
            stack: stack_name.clone(),
            name: ctx.change_set_name().replace("deploy", "rollback"),
            kind: ChangeSetType::Update,
            template: TemplateSource::Previous,
            parameters: deployed
                .parameters
                .keys()
                .map(|k| match changing.iter().find(|(name, _)| *name == k) {
                    Some((_, v)) => (k.clone(), ParameterValue::Value((*v).clone())),
                    None => (k.clone(), ParameterValue::Previous),
                })
                .collect(),
            tags: deployed.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            imports: Vec::new(),
            description: format!("cargo xtask rollback to {}", target.id),
        };
        let after = events::newest(&cfn, &deployed.id).await?;
        let Created::Ready { id, changes } = change_set::create(&cfn, &request, ctx.poll).await? else {
            println!("  [{stack_name}] already runs that code");
            continue;
        };
        for change in &changes {
            println!("  [{stack_name}]   {}", change.line());
        }
        let resource_types = template["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(id, r)| (id.clone(), r["Type"].as_str().unwrap_or_default().to_owned()))
            .collect();
        let plan = StackPlan {
            name: stack_name.clone(),
            short_name: stack_name.rsplit('-').next().unwrap_or(stack_name).to_owned(),
            region: Some(region.clone()),
            template: String::new(),
            tags: deployed.tags.clone(),
            parameters: BTreeMap::new(),
            output_parameters: BTreeMap::new(),
            depends_on: Vec::new(),
            stateful: super::apply::stateful_resources(&resource_types),
            resource_types,
        };
        let _operation = ctx.operation_on(stack_name, &region);
        execute_reviewed(&ctx, &cfn, &plan, &id, &changes, after.as_deref()).await?;
        super::hotswap::settle(&ctx, settlement).await?;
    }
    let mut record_of = target.clone();
    let (id, created_at) = now();
    record_of.rolled_back_to = Some(target.id.clone());
    record_of.hotswap = false;
    record_of.id = id;
    record_of.created_at = created_at;
    record(&ctx.aws, &bucket, &record_of).await?;
    let mut deployed = Vec::new();
    for (stack_name, release) in &target.stacks {
        if let Some(stack) = stack::describe(&ctx.aws.cloudformation(Some(&region_of(release))), stack_name).await? {
            deployed.push(super::hotswap::effective_parameters(&ctx, stack_name, &stack.parameters).await?);
            deployed.push(stack.parameters);
        }
    }
    println!("{}", retire_unreferenced(&ctx.aws, &bucket, &environment, &deployed).await?.line());
    Ok(record_of)
}

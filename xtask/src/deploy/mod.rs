//! `cargo xtask deploy`: build-if-changed, content-addressed uploads, then the stacks in
//! dependency order (independent ones at the same time), each skipped when unchanged or
//! updated through a reviewed change set; then outputs, the site, and a release record.

pub mod adopt;
pub mod apply;
pub mod exports;
pub mod hotswap;
pub mod release;
pub mod site;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use brain2_iac::cfn::{Synthesized, SynthesizedStack};
use brain2_stacks::{ASSETS_BUCKET_OUTPUT, FUNCTIONS_PREFIX, TEMPLATES_PREFIX, TOOLKIT_STACK};
use heck::ToUpperCamelCase;
use sha2::{Digest, Sha256};

use crate::aws::Aws;
use crate::aws::assets;
use crate::aws::change_set::TemplateSource;
use crate::aws::stack;
use crate::build::Package;
pub use apply::{Action, StackResult};

/// CloudFormation's limit for a template passed inline.
pub const INLINE_TEMPLATE_LIMIT: usize = 51_200;

/// Answers a yes/no question; the command line asks on the terminal.
pub type Confirm = Arc<dyn Fn(String) -> bool + Send + Sync>;

/// What the environment and the flags allow.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: String,
    pub yes: bool,
    pub concurrency: usize,
    pub allow_replace: BTreeSet<String>,
    /// Whether a deploy that changed something records a release and retires unused zips
    /// (`cargo xtask dev`'s hotswaps after each edit do not: they are not releases).
    pub record_releases: bool,
    /// Whether `run_hotswap` prints its progress (dev prints one line per edit instead).
    pub progress: bool,
}

impl Settings {
    pub fn new(environment: &str) -> Self {
        Self {
            environment: environment.to_owned(),
            yes: false,
            concurrency: 4,
            allow_replace: BTreeSet::new(),
            record_releases: true,
            progress: true,
        }
    }
    /// Staging and prod refuse to replace or delete tables and buckets unless allowed by name.
    pub fn guards_stateful(&self) -> bool {
        self.environment != "dev"
    }
    /// Prod stacks carry a stack policy that denies replacing or deleting them.
    pub fn protects_with_stack_policy(&self) -> bool {
        self.environment == "prod"
    }
    pub fn needs_confirmation(&self) -> bool {
        self.environment == "prod" && !self.yes
    }
}

/// The toolkit's assets bucket.
#[derive(Debug, Clone)]
pub struct AssetsBucket {
    pub name: String,
    pub region: String,
}

/// One stack ready to deploy.
#[derive(Debug, Clone)]
pub struct StackPlan {
    pub name: String,
    pub short_name: String,
    pub region: Option<String>,
    pub template: String,
    pub tags: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    /// Parameters filled in just before the stack deploys, from other stacks' outputs.
    pub output_parameters: BTreeMap<String, OutputParameter>,
    /// Full names of the stacks this one comes after.
    pub depends_on: Vec<String>,
    pub resource_types: BTreeMap<String, String>,
    /// Tables and buckets: what stateful safety and the prod stack policy protect.
    pub stateful: BTreeSet<String>,
}

/// Where a parameter's value comes from: an output of another stack of the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputParameter {
    pub stack: String,
    pub short_name: String,
    /// The stack's region, when not the default.
    pub region: Option<String>,
    pub output: String,
}

/// The output parameters of a synthesized stack, with their sources' regions.
pub fn output_parameters(synthesized: &Synthesized, stack: &SynthesizedStack) -> BTreeMap<String, OutputParameter> {
    stack
        .output_parameters
        .iter()
        .map(|(parameter, source)| {
            let producer = synthesized.stack(&source.stack);
            let parameter_source = OutputParameter {
                stack: source.stack.clone(),
                short_name: producer.map_or_else(|| source.stack.clone(), |p| p.short_name.clone()),
                region: producer.and_then(|p| p.region.clone()),
                output: source.output.clone(),
            };
            (parameter.clone(), parameter_source)
        })
        .collect()
}

/// The deployed value of an output parameter: `None` when its stack is not deployed or has no
/// such output yet.
pub async fn deployed_output(aws: &Aws, source: &OutputParameter) -> Result<Option<String>> {
    let cfn = aws.cloudformation(source.region.as_deref());
    let deployed = stack::describe(&cfn, &source.stack).await?;
    Ok(deployed.filter(|d| d.phase() == stack::Phase::Stable).and_then(|d| d.output(&source.output).map(str::to_owned)))
}

/// Fills a plan's output parameters, from the outputs this run produced (`known`, by stack
/// name) or else from the stacks as deployed. Fails naming the stack to deploy first.
pub async fn resolve_output_parameters(
    ctx: &Context,
    mut plan: StackPlan,
    known: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<StackPlan> {
    for (parameter, source) in plan.output_parameters.clone() {
        let value = match known.get(&source.stack).and_then(|outputs| outputs.get(&source.output)) {
            Some(value) => Some(value.clone()),
            None => deployed_output(&ctx.aws, &source).await?,
        };
        let Some(value) = value else {
            bail!(
                "{}: parameter {parameter} is the {} output of {}, which is not deployed; deploy it first: cargo xtask deploy --env {} --stack {}",
                plan.name,
                source.output,
                source.stack,
                ctx.settings.environment,
                source.short_name
            );
        };
        plan.parameters.insert(parameter, value);
    }
    Ok(plan)
}

/// Turns synthesized stacks into plans, giving each the parameters its template declares
/// (except those taken from other stacks' outputs, filled in as it deploys). Fails naming the
/// stack and parameter when a value is missing.
pub fn plans(synthesized: &Synthesized, parameters: &BTreeMap<String, String>) -> Result<Vec<StackPlan>> {
    synthesized
        .stacks
        .iter()
        .map(|s| {
            let template: serde_json::Value = serde_json::from_str(&s.template)?;
            let output_parameters = output_parameters(synthesized, s);
            let mut values = BTreeMap::new();
            let declared = template["Parameters"].as_object().into_iter().flatten().map(|(k, _)| k);
            for name in declared.filter(|name| !output_parameters.contains_key(*name)) {
                let value = parameters.get(name).with_context(|| {
                    format!("stack {} declares parameter {name}, and deploy has no value for it", s.name)
                })?;
                values.insert(name.clone(), value.clone());
            }
            Ok(StackPlan {
                name: s.name.clone(),
                short_name: s.short_name.clone(),
                region: s.region.clone(),
                template: s.template.clone(),
                tags: s.tags.clone(),
                parameters: values,
                output_parameters,
                depends_on: s.depends_on.clone(),
                stateful: apply::stateful_resources(&s.resource_types),
                resource_types: s.resource_types.clone(),
            })
        })
        .collect()
}

/// Plans for an operation that keeps every stack's parameters as deployed (restore): their
/// `parameters` are left empty, and the operation passes `UsePreviousValue`.
pub fn plans_keeping_parameters(synthesized: &Synthesized) -> Result<Vec<StackPlan>> {
    let mut declared = BTreeMap::new();
    for stack in &synthesized.stacks {
        let template: serde_json::Value = serde_json::from_str(&stack.template)?;
        declared
            .extend(template["Parameters"].as_object().into_iter().flatten().map(|(k, _)| (k.clone(), String::new())));
    }
    let mut plans = plans(synthesized, &declared)?;
    plans.iter_mut().for_each(|plan| plan.parameters.clear());
    Ok(plans)
}

/// The S3 key of a function's zip: content-addressed by its sha256.
pub fn code_key(package: &Package) -> String {
    format!("{FUNCTIONS_PREFIX}{}/{}.zip", package.function, package.sha256_hex)
}

/// The compute stack's code parameters (`<Function>CodeBucket`, `…CodeKey`, `…CodeSha256`).
pub fn code_parameters(bucket: &str, packages: &[Package]) -> BTreeMap<String, String> {
    let mut parameters = BTreeMap::new();
    for package in packages {
        let id = package.function.to_upper_camel_case();
        parameters.insert(format!("{id}CodeBucket"), bucket.to_owned());
        parameters.insert(format!("{id}CodeKey"), code_key(package));
        parameters.insert(format!("{id}CodeSha256"), package.code_sha256.clone());
    }
    parameters
}

/// Shared by every stack of one deploy.
pub struct Context {
    pub aws: Aws,
    pub settings: Settings,
    pub assets: Option<AssetsBucket>,
    pub poll: Duration,
    default_region: String,
    confirm: Confirm,
    prompt: tokio::sync::Mutex<()>,
    running: Mutex<BTreeMap<String, String>>,
    /// Stacks whose stack policy `--allow-replace` lifted, with their region and the full
    /// protection to put back.
    lifted: Mutex<BTreeMap<String, (String, BTreeSet<String>)>>,
    change_sets: AtomicUsize,
    started_at: u64,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("settings", &self.settings).field("assets", &self.assets).finish()
    }
}

impl Context {
    pub fn new(aws: Aws, settings: Settings, assets: Option<AssetsBucket>, confirm: Confirm) -> Result<Self> {
        let default_region = aws.region()?;
        // An emulator answers at once; AWS takes seconds per resource.
        let poll = if aws.endpoint_url().is_some() { Duration::from_millis(100) } else { Duration::from_secs(2) };
        let started_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Ok(Self {
            aws,
            settings,
            assets,
            poll,
            default_region,
            confirm,
            prompt: tokio::sync::Mutex::new(()),
            running: Mutex::new(BTreeMap::new()),
            lifted: Mutex::new(BTreeMap::new()),
            change_sets: AtomicUsize::new(0),
            started_at,
        })
    }

    pub fn region_of(&self, plan: &StackPlan) -> String {
        plan.region.clone().unwrap_or_else(|| self.default_region.clone())
    }

    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    pub fn change_set_name(&self) -> String {
        format!("brain2-deploy-{}", self.started_at)
    }

    fn count_change_set(&self) {
        self.change_sets.fetch_add(1, Ordering::Relaxed);
    }

    /// Change sets this deploy created.
    pub fn change_sets_created(&self) -> usize {
        self.change_sets.load(Ordering::Relaxed)
    }

    /// Asks one question at a time, even with stacks deploying side by side.
    pub async fn confirm(&self, question: &str) -> bool {
        let _one_at_a_time = self.prompt.lock().await;
        let confirm = self.confirm.clone();
        let question = question.to_owned();
        tokio::task::spawn_blocking(move || confirm(question)).await.unwrap_or(false)
    }

    /// Records that CloudFormation works on `stack` for this command until the guard is
    /// dropped, so that Ctrl-C meanwhile says so (deploy, destroy and rollback alike).
    pub fn operation_on(&self, stack: &str, region: &str) -> RunningOperation<'_> {
        self.running.lock().expect("lock").insert(stack.to_owned(), region.to_owned());
        RunningOperation { ctx: self, stack: stack.to_owned() }
    }

    /// Stacks CloudFormation is working on for this deploy, with their regions.
    pub fn record_lifted_policy(&self, stack: &str, region: &str, protection: &BTreeSet<String>) {
        self.lifted.lock().expect("lifted lock").insert(stack.to_owned(), (region.to_owned(), protection.clone()));
    }

    pub fn forget_lifted_policy(&self, stack: &str) {
        self.lifted.lock().expect("lifted lock").remove(stack);
    }

    /// Puts back every stack policy this deploy lifted and has not restored yet (after Ctrl-C).
    /// Returns each stack with the outcome.
    pub async fn restore_lifted_policies(&self) -> Vec<(String, Result<()>)> {
        let lifted = std::mem::take(&mut *self.lifted.lock().expect("lifted lock"));
        let mut outcomes = Vec::new();
        for (stack, (region, protection)) in lifted {
            let cfn = self.aws.cloudformation(Some(&region));
            outcomes.push((stack.clone(), apply::set_policy(&cfn, &stack, &protection).await));
        }
        outcomes
    }

    pub fn running(&self) -> BTreeMap<String, String> {
        self.running.lock().expect("lock").clone()
    }

    /// Inline when small enough; otherwise uploaded (content-addressed) to the assets bucket.
    pub async fn template_source(&self, plan: &StackPlan, template: &str) -> Result<TemplateSource> {
        if template.len() <= INLINE_TEMPLATE_LIMIT {
            return Ok(TemplateSource::Body(template.to_owned()));
        }
        let Some(assets) = &self.assets else {
            bail!(
                "{} is {} bytes, over CloudFormation's inline limit, and there is no assets bucket",
                plan.name,
                template.len()
            );
        };
        let region = self.region_of(plan);
        if region != assets.region {
            bail!(
                "{} is {} bytes, so CloudFormation must read it from S3 in {region}, but the assets bucket is in {}",
                plan.name,
                template.len(),
                assets.region
            );
        }
        let digest: String = Sha256::digest(template.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{TEMPLATES_PREFIX}{}/{digest}.json", plan.name);
        let s3 = self.aws.s3(Some(&assets.region));
        assets::ensure(&s3, &assets.name, &key, template.as_bytes().to_vec(), "application/json").await?;
        Ok(TemplateSource::Url(match self.aws.endpoint_url() {
            Some(endpoint) => format!("{}/{}/{key}", endpoint.trim_end_matches('/'), assets.name),
            None => format!("https://{}.s3.{}.amazonaws.com/{key}", assets.name, assets.region),
        }))
    }
}

/// Deploys the plans in dependency order, up to `concurrency` at once. A failure stops new
/// stacks from starting; those already running finish. Then exports kept only for importers
/// that have since let go are removed in a second pass.
pub async fn deploy_all(ctx: Arc<Context>, plans: Vec<StackPlan>) -> Result<Vec<StackResult>> {
    let in_plan: BTreeSet<String> = plans.iter().map(|p| p.name.clone()).collect();
    let order: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let mut pending = plans.clone();
    let mut done = BTreeSet::new();
    let mut results = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    let mut failure: Option<anyhow::Error> = None;
    loop {
        while failure.is_none() && running.len() < ctx.settings.concurrency.max(1) {
            let Some(index) =
                pending.iter().position(|p| p.depends_on.iter().all(|d| !in_plan.contains(d) || done.contains(d)))
            else {
                break;
            };
            let plan = pending.remove(index);
            let ctx = ctx.clone();
            let known: BTreeMap<String, BTreeMap<String, String>> = results
                .iter()
                .map(|r: &StackResult| {
                    (r.name.clone(), r.outputs.iter().map(|o| (o.key.clone(), o.value.clone())).collect())
                })
                .collect();
            running.spawn(async move {
                let name = plan.name.clone();
                let result = async {
                    let plan = resolve_output_parameters(&ctx, plan, &known).await?;
                    // A stack with hotswapped functions: what is live counts, not only what
                    // CloudFormation holds (hotswap.rs).
                    let (plan, settlement) = hotswap::reconcile_plan(&ctx, plan).await?;
                    let result = apply::deploy_stack(&ctx, &plan).await?;
                    hotswap::settle(&ctx, settlement).await?;
                    anyhow::Ok(result)
                }
                .await;
                (name, result)
            });
        }
        let Some(joined) = running.join_next().await else { break };
        match joined {
            Ok((name, Ok(result))) => {
                done.insert(name);
                results.push(result);
            }
            Ok((name, Err(error))) => {
                if failure.is_some() {
                    eprintln!("error: {name}: {error:#}");
                } else {
                    failure = Some(error);
                }
            }
            Err(join) => failure = failure.or(Some(anyhow::anyhow!("a deploy task failed: {join}"))),
        }
    }
    if let Some(error) = failure {
        for plan in &pending {
            eprintln!("  [{}] not deployed: an earlier stack failed", plan.short_name);
        }
        return Err(error);
    }
    if !pending.is_empty() {
        bail!("the stacks' dependencies form a cycle: {:?}", pending.iter().map(|p| &p.name).collect::<Vec<_>>());
    }
    // Second pass: drop exports nobody imports any more.
    for result in results.iter_mut() {
        if result.kept_exports.is_empty() {
            continue;
        }
        let plan = plans.iter().find(|p| p.name == result.name).expect("results come from plans");
        let cfn = ctx.aws.cloudformation(plan.region.as_deref());
        let mut still_used = false;
        for kept in &result.kept_exports {
            still_used |= !stack::importers(&cfn, &kept.export, ctx.aws.endpoint_url().is_some()).await?.is_empty();
        }
        if still_used {
            for kept in &result.kept_exports {
                println!(
                    "  [{}] export {} stays while {} import(s) it; a later deploy removes it",
                    plan.short_name,
                    kept.export,
                    kept.importers.join(", ")
                );
            }
        } else {
            println!("  [{}] removing exports no stack imports any more", plan.short_name);
            let again = apply::deploy_stack(&ctx, plan).await?;
            result.outputs = again.outputs;
            result.kept_exports = again.kept_exports;
        }
    }
    results.sort_by_key(|r| order.iter().position(|n| *n == r.name));
    Ok(results)
}

/// Reads the toolkit stack's assets bucket; says to bootstrap when there is none.
pub async fn assets_bucket(aws: &Aws, environment: &str) -> Result<AssetsBucket> {
    let region = aws.region()?;
    let name = format!("{}-{environment}-{TOOLKIT_STACK}", brain2_stacks::APP_NAME);
    let cfn = aws.cloudformation(None);
    let toolkit = stack::describe(&cfn, &name).await?;
    let bucket = toolkit
        .as_ref()
        .filter(|s| s.phase() == stack::Phase::Stable)
        .and_then(|s| s.output(ASSETS_BUCKET_OUTPUT).map(str::to_owned));
    match bucket {
        Some(bucket) => Ok(AssetsBucket { name: bucket, region }),
        None => bail!(
            "the toolkit stack {name} is missing or not ready in {region}, so {environment} is not bootstrapped there: \
             run `cargo xtask bootstrap --env {environment}` (with this command's --region and --profile), \
             or pass the --region it was bootstrapped in"
        ),
    }
}

/// Uploads each zip unless the bucket already has it. Returns (uploaded, skipped).
pub async fn upload_code(aws: &Aws, assets: &AssetsBucket, packages: &[Package]) -> Result<(usize, usize)> {
    let s3 = aws.s3(Some(&assets.region));
    let mut tasks = tokio::task::JoinSet::new();
    for package in packages {
        let (s3, bucket, key, path) = (s3.clone(), assets.name.clone(), code_key(package), package.zip.clone());
        tasks.spawn(async move {
            let bytes = tokio::fs::read(&path).await.with_context(|| format!("reading {}", path.display()))?;
            let uploaded = assets::ensure(&s3, &bucket, &key, bytes, "application/zip").await?;
            if !uploaded {
                // A zip this deploy uses is live again, even if it had been retired.
                assets::clear_tags(&s3, &bucket, &key).await?;
            }
            anyhow::Ok(uploaded)
        });
    }
    let (mut uploaded, mut skipped) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        if joined.context("an upload task failed")?? {
            uploaded += 1;
        } else {
            skipped += 1;
        }
    }
    Ok((uploaded, skipped))
}

/// The parameters of each of `plans`' stacks as deployed now (stacks never deployed left out):
/// CloudFormation's, and, for a stack with hotswapped functions, also the code that is live.
pub async fn deployed_parameters(ctx: &Context, plans: &[StackPlan]) -> Result<Vec<BTreeMap<String, String>>> {
    let mut found = Vec::new();
    for plan in plans {
        let cfn = ctx.aws.cloudformation(plan.region.as_deref());
        if let Some(deployed) = crate::aws::stack::describe(&cfn, &plan.name).await? {
            let live = hotswap::effective_parameters(ctx, &plan.name, &deployed.parameters).await?;
            if live != deployed.parameters {
                found.push(live);
            }
            found.push(deployed.parameters);
        }
    }
    Ok(found)
}

/// Writes `<out>/<env>/outputs.json`: every stack's outputs, merged with what an earlier
/// deploy of other stacks wrote. Written whole, then renamed, so it is never half-written.
pub fn write_outputs(out: &Path, environment: &str, results: &[StackResult]) -> Result<std::path::PathBuf> {
    let dir = out.join(environment);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("outputs.json");
    let mut all: BTreeMap<String, BTreeMap<String, String>> =
        std::fs::read_to_string(&path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    for result in results {
        all.insert(result.name.clone(), result.outputs.iter().map(|o| (o.key.clone(), o.value.clone())).collect());
    }
    let temporary = dir.join(".outputs.json.partial");
    std::fs::write(&temporary, serde_json::to_string_pretty(&all)? + "\n")?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}

/// `results`, plus the deployed state of each of `stacks` that this run did not deploy (so its
/// outputs are known); a stack that was never deployed is left out.
pub async fn with_deployed_outputs(
    ctx: &Context,
    plans: &[StackPlan],
    results: &[StackResult],
    stacks: &[&str],
) -> Result<Vec<StackResult>> {
    let mut known = results.to_vec();
    for short in stacks {
        if known.iter().any(|r| r.short_name == *short) {
            continue;
        }
        let Some(plan) = plans.iter().find(|p| p.short_name == *short) else { continue };
        let cfn = ctx.aws.cloudformation(Some(&ctx.region_of(plan)));
        if let Some(deployed) = stack::describe(&cfn, &plan.name).await? {
            known.push(StackResult {
                name: plan.name.clone(),
                short_name: plan.short_name.clone(),
                action: Action::Unchanged,
                outputs: deployed.outputs,
                kept_exports: Vec::new(),
            });
        }
    }
    Ok(known)
}

/// What a deploy did, for the summary and the benchmarks.
#[derive(Debug, Clone)]
pub struct Report {
    pub stacks: Vec<(String, Action)>,
    /// Each stack's result, outputs included (also for stacks skipped as unchanged).
    pub results: Vec<StackResult>,
    pub zips_uploaded: usize,
    pub zips_skipped: usize,
    pub change_sets_created: usize,
    pub api_calls: usize,
    pub elapsed: Duration,
}

/// Everything `cargo xtask deploy` does after the build: uploads, stacks, outputs, site and
/// release record.
pub async fn run(
    workspace: &Path,
    out: &Path,
    ctx: Arc<Context>,
    config: &brain2_iac::config::EnvironmentConfig,
    synthesized: &Synthesized,
    packages: &[Package],
    only: &[String],
) -> Result<Report> {
    let started = Instant::now();
    let environment = ctx.settings.environment.clone();
    let assets = ctx.assets.clone().context("deploy needs the assets bucket")?;
    let (zips_uploaded, zips_skipped) = upload_code(&ctx.aws, &assets, packages).await?;
    println!("code: {zips_uploaded} zip(s) uploaded, {zips_skipped} already in s3://{}", assets.name);
    let all_plans = plans(synthesized, &code_parameters(&assets.name, packages))?;
    let mut plans = all_plans.clone();
    if !only.is_empty() {
        plans.retain(|p| only.iter().any(|o| *o == p.short_name || *o == p.name));
    }
    let results = deploy_all(ctx.clone(), plans.clone()).await?;
    let outputs = write_outputs(out, &environment, &results)?;
    println!("outputs written to {}", outputs.display());
    if results.iter().any(|r| r.short_name == "frontend") {
        // The site's config.json needs the API URLs even when only the frontend was deployed.
        let known = with_deployed_outputs(&ctx, &all_plans, &results, site::CONFIG_STACKS).await?;
        site::publish(workspace, &ctx, config, &known).await?;
    }
    let changed = results.iter().any(|r| matches!(r.action, Action::Created | Action::Updated | Action::Adopted))
        || zips_uploaded > 0;
    if changed && ctx.settings.record_releases {
        let record = release::Release::new(workspace, &environment, ctx.default_region(), &plans);
        record_release(&ctx, &assets, &all_plans, &record).await?;
    }
    Ok(Report {
        stacks: results.iter().map(|r| (r.name.clone(), r.action)).collect(),
        results: results.clone(),
        zips_uploaded,
        zips_skipped,
        change_sets_created: ctx.change_sets_created(),
        api_calls: ctx.aws.calls().total(),
        elapsed: started.elapsed(),
    })
}

/// Stores a release record, then retires the zips no live release uses.
async fn record_release(
    ctx: &Context,
    assets: &AssetsBucket,
    all_plans: &[StackPlan],
    record: &release::Release,
) -> Result<()> {
    let key = release::record(&ctx.aws, assets, record).await?;
    println!("release {} recorded in s3://{}/{key}", record.id, assets.name);
    let deployed = deployed_parameters(ctx, all_plans).await?;
    let zips = release::retire_unreferenced(&ctx.aws, assets, &ctx.settings.environment, &deployed).await?;
    println!("{}", zips.line());
    Ok(())
}

/// What `deploy --hotswap` did.
#[derive(Debug)]
pub struct HotswapReport {
    /// Each hotswapped function: stack short name and what was done.
    pub swapped: Vec<(String, hotswap::Done)>,
    /// Stacks that needed a change set, each with why.
    pub fell_back: Vec<(String, String)>,
    /// The deploy of those stacks, if any.
    pub deploy: Option<Report>,
    pub zips_uploaded: usize,
    pub elapsed: Duration,
}

/// `deploy --hotswap`: each stack whose only change is its functions' code gets that code
/// straight into Lambda (hotswap.rs); the others go through [`run`]'s change sets, and it says
/// so. Stacks never deployed fall back too.
pub async fn run_hotswap(
    workspace: &Path,
    out: &Path,
    ctx: Arc<Context>,
    config: &brain2_iac::config::EnvironmentConfig,
    synthesized: &Synthesized,
    packages: &[Package],
    only: &[String],
) -> Result<HotswapReport> {
    let started = Instant::now();
    let assets = ctx.assets.clone().context("deploy needs the assets bucket")?;
    let say = |line: String| {
        if ctx.settings.progress {
            println!("{line}");
        }
    };
    // The zips go up while the stacks are read; a swap or a deploy waits for them.
    let mut upload = Upload::start(&ctx.aws, &assets, packages);
    let all_plans = plans(synthesized, &code_parameters(&assets.name, packages))?;
    let mut selected = all_plans.clone();
    if !only.is_empty() {
        selected.retain(|p| only.iter().any(|o| *o == p.short_name || *o == p.name));
    }
    let mut swapped = Vec::new();
    let mut swapped_plans = Vec::new();
    let mut fell_back = Vec::new();
    for plan in selected {
        let short = plan.short_name.clone();
        let cfn = ctx.aws.cloudformation(Some(&ctx.region_of(&plan)));
        // Four independent reads at once: each is a round trip on the path from a save to its
        // code running. The template is read only to be compared, once the stack is found.
        let (name, no_outputs) = (plan.name.clone(), BTreeMap::new());
        let (deployed, resolved, template, record) = tokio::join!(
            stack::describe(&cfn, &name),
            resolve_output_parameters(&ctx, plan, &no_outputs),
            stack::template(&cfn, &name),
            hotswap::load(&ctx.aws, &assets, &ctx.settings.environment, &name),
        );
        let Some(deployed) = deployed?.filter(|d| d.phase() == stack::Phase::Stable) else {
            say(format!("  [{short}] not deployed (or not stable): falls back to a deploy"));
            fell_back.push((short, "not deployed".to_owned()));
            continue;
        };
        let plan = match resolved {
            Ok(plan) => plan,
            Err(error) => {
                say(format!("  [{short}] {error:#}: falls back to a deploy"));
                fell_back.push((short, format!("{error:#}")));
                continue;
            }
        };
        let (template, record) = (template?, record?);
        match hotswap::verdict(&plan, &deployed, &template, record.as_ref())? {
            hotswap::Verdict::Unchanged => say(format!("  [{short}] unchanged")),
            hotswap::Verdict::FallsBack(reason) => {
                say(format!("  [{short}] {reason}: falls back to a change set"));
                fell_back.push((short, reason));
            }
            hotswap::Verdict::Code(functions) => {
                upload.finish(&say).await?;
                let _operation = ctx.operation_on(&plan.name, &ctx.region_of(&plan));
                for done in hotswap::swap(&ctx, &plan, &deployed, &functions, record).await? {
                    say(format!("  [{short}] hotswap: {}", done.line()));
                    swapped.push((short.clone(), done));
                }
                swapped_plans.push(plan);
            }
        }
    }
    let (zips_uploaded, _) = upload.finish(&say).await?;
    if !swapped_plans.is_empty() && ctx.settings.record_releases {
        let mut record =
            release::Release::new(workspace, &ctx.settings.environment, ctx.default_region(), &swapped_plans);
        record.hotswap = true;
        record_release(&ctx, &assets, &all_plans, &record).await?;
    }
    let deploy = if fell_back.is_empty() {
        None
    } else {
        let stacks: Vec<String> = fell_back.iter().map(|(s, _)| s.clone()).collect();
        println!("deploying through change sets (not a code-only change): {}", stacks.join(", "));
        Some(run(workspace, out, ctx.clone(), config, synthesized, packages, &stacks).await?)
    };
    Ok(HotswapReport { swapped, fell_back, deploy, zips_uploaded, elapsed: started.elapsed() })
}

/// [`upload_code`] running beside other work.
struct Upload {
    bucket: String,
    running: Option<tokio::task::JoinHandle<Result<(usize, usize)>>>,
    done: Option<(usize, usize)>,
}

impl Upload {
    fn start(aws: &Aws, assets: &AssetsBucket, packages: &[Package]) -> Self {
        let (aws, assets, packages) = (aws.clone(), assets.clone(), packages.to_vec());
        let bucket = assets.clone();
        let running = tokio::spawn(async move { upload_code(&aws, &bucket, &packages).await });
        Upload { bucket: assets.name, running: Some(running), done: None }
    }

    /// Waits for the upload (once) and says what it did; (uploaded, already there).
    async fn finish(&mut self, say: &impl Fn(String)) -> Result<(usize, usize)> {
        if let Some(running) = self.running.take() {
            let (uploaded, skipped) = running.await.context("the upload of the functions' code stopped")??;
            say(format!("code: {uploaded} zip(s) uploaded, {skipped} already in s3://{}", self.bucket));
            self.done = Some((uploaded, skipped));
        }
        Ok(self.done.unwrap_or_default())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // An error path returned before waiting: nothing is left uploading behind it.
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

/// A stack operation in progress (see [`Context::operation_on`]).
#[derive(Debug)]
pub struct RunningOperation<'a> {
    ctx: &'a Context,
    stack: String,
}

impl Drop for RunningOperation<'_> {
    fn drop(&mut self) {
        self.ctx.running.lock().expect("lock").remove(&self.stack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Ctrl-C reports comes from this bookkeeping: a stack is listed while its operation
    /// runs (deploy, destroy or rollback), and not after, however the operation ended.
    #[tokio::test]
    async fn a_stack_is_running_exactly_while_its_operation_guard_lives() {
        let aws = Aws::emulator("http://127.0.0.1:9", "eu-west-1").await;
        let ctx = Context::new(aws, Settings::new("dev"), None, Arc::new(|_| true)).unwrap();
        assert!(ctx.running().is_empty());
        let failed: Result<()> = async {
            let _operation = ctx.operation_on("brain2-dev-api", "eu-west-1");
            assert_eq!(ctx.running().get("brain2-dev-api").map(String::as_str), Some("eu-west-1"));
            bail!("the delete failed")
        }
        .await;
        assert!(failed.is_err());
        assert!(ctx.running().is_empty(), "an operation that failed is no longer running");
    }
}

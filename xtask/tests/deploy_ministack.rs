//! The real four dev stacks (database, compute, api, frontend) deployed by deploy's own code to
//! MiniStack, the emulator `cargo xtask dev` runs: bootstrap, a create of all four in dependency
//! order, a no-op redeploy (no change set), a configuration change through exactly one change
//! set, and a destroy. moto cannot host compute, api or frontend (see `deploy_moto.rs`).
//!
//! Then the faults, each made to happen: a rollback after a deploy that changed only the
//! frontend, a rollback across two regions, an object S3 refuses to delete (an object lock's
//! legal hold) during destroy, an operation that ends between watch's reads, and a stack left
//! in ROLLBACK_COMPLETE by a failed first creation.
//!
//! The function code here is stand-in bytes: this test is about the stacks; `dev_e2e.rs` runs
//! the real functions.

mod support;

use std::sync::Arc;

use brain2_iac::cfn::Synthesized;
use brain2_iac::config::EnvironmentConfig;
use xtask::aws::Aws;
use xtask::build::{FUNCTIONS, Package, package};
use xtask::deploy::{self, Action, Context, Settings};
use xtask::dev::emulator::{Emulator, Protection};

fn synthesize(config: &EnvironmentConfig) -> Synthesized {
    let output = xtask::synth::synthesize_config("dev", config, std::time::Instant::now()).unwrap();
    assert!(output.report.passed(), "{:?}", output.report.findings);
    output.synthesized
}

/// Stand-in zips of the six functions; another `build` gives other bytes, as new code does.
fn stand_in_code(dir: &std::path::Path, build: &str) -> Vec<Package> {
    FUNCTIONS
        .iter()
        .map(|function| {
            let path = dir.join(format!("{function}-{build}.bootstrap"));
            std::fs::write(&path, format!("stand-in bootstrap of {function}, build {build}")).unwrap();
            package(function, &path, &dir.join("zips")).unwrap()
        })
        .collect()
}

fn context(aws: &Aws, assets: &deploy::AssetsBucket) -> Arc<Context> {
    let mut settings = Settings::new("dev");
    settings.yes = true;
    Arc::new(Context::new(aws.clone(), settings, Some(assets.clone()), Arc::new(|_| true)).unwrap())
}

#[test]
fn the_four_stacks_deploy_update_and_destroy_on_the_emulator() {
    let workspace = xtask::workspace_root();
    let data = support::dev::temporary_folder("deploy-ministack");
    let port = support::dev::free_port_pair();
    let mut config = EnvironmentConfig::load(&workspace, "dev").unwrap();
    let mut emulator =
        Emulator::start(&workspace, &data, port, &config.region, Protection::Guarded { site_origin: None }).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let aws = emulator.aws().await;
        let assets = xtask::operate::bootstrap(&aws, "dev").await.unwrap();
        // The region toolkit: API Gateway's CloudWatch role, set once for the account and region.
        let region_toolkit = xtask::aws::stack::describe(&aws.cloudformation(None), "brain2-region-toolkit").await;
        assert!(region_toolkit.unwrap().is_some(), "bootstrap created brain2-region-toolkit");
        let code = stand_in_code(&data, "a");
        let upload = deploy::upload_code(&aws, &assets, &code).await.unwrap();
        assert_eq!(upload, (6, 0));
        let parameters = deploy::code_parameters(&assets.name, &code);

        let plans = deploy::plans(&synthesize(&config), &parameters).unwrap();
        let created = deploy::deploy_all(context(&aws, &assets), plans).await.unwrap();
        let mut names: Vec<_> = created.iter().map(|r| (r.short_name.as_str(), r.action)).collect();
        names.sort_by_key(|(name, _)| *name);
        assert_eq!(
            names,
            vec![
                ("api", Action::Created),
                ("compute", Action::Created),
                ("database", Action::Created),
                ("frontend", Action::Created)
            ]
        );
        let api = created.iter().find(|r| r.short_name == "api").unwrap();
        assert!(api.outputs.iter().any(|o| o.key == "HttpApiUrl"), "{:?}", api.outputs);

        // Unchanged: every stack skipped without a change set.
        let again = emulator.aws().await;
        let ctx = context(&again, &assets);
        let plans = deploy::plans(&synthesize(&config), &parameters).unwrap();
        let skipped = deploy::deploy_all(ctx.clone(), plans).await.unwrap();
        assert!(skipped.iter().all(|r| r.action == Action::Unchanged), "{skipped:?}");
        assert_eq!(ctx.change_sets_created(), 0);
        assert_eq!(again.calls().count("CloudFormation.CreateChangeSet"), 0);

        // One configuration change (the backend's memory) goes through exactly one change set.
        config.lambda.functions.backend.memory_mb = 1024;
        let ctx = context(&aws, &assets);
        let plans = deploy::plans(&synthesize(&config), &parameters).unwrap();
        let updated = deploy::deploy_all(ctx.clone(), plans).await.unwrap();
        let actions: Vec<_> = updated.iter().map(|r| (r.short_name.as_str(), r.action)).collect();
        assert!(actions.contains(&("compute", Action::Updated)), "{actions:?}");
        assert!(
            updated.iter().filter(|r| r.short_name != "compute").all(|r| r.action == Action::Unchanged),
            "{actions:?}"
        );
        assert_eq!(ctx.change_sets_created(), 1);
        let function = aws
            .cloudformation(None)
            .describe_stack_resource()
            .stack_name("brain2-dev-compute")
            .logical_resource_id("BackendFunction")
            .send()
            .await
            .unwrap();
        assert!(function.stack_resource_detail().is_some());

        // Destroy removes all four, dependents first.
        let destroyed = xtask::operate::destroy(&context(&aws, &assets), &synthesize(&config), false).await.unwrap();
        assert_eq!(destroyed.deleted.len(), 4, "{destroyed:?}");
        for stack in ["database", "compute", "api", "frontend"] {
            let name = format!("brain2-dev-{stack}");
            let described = xtask::aws::stack::describe(&aws.cloudformation(None), &name).await.unwrap();
            assert!(
                described.as_ref().is_none_or(|d| d.status.as_str() == "DELETE_COMPLETE"),
                "{name} is still there: {described:?}"
            );
        }
    });
    emulator.stop().unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}

/// Data survives a redeploy: prod's tables and their key are retained by destroy, and the next
/// deploy finds them by their tags and adopts them through an IMPORT change set instead of
/// creating new, empty tables. Only the database stack is deployed: it is what holds the data.
#[test]
fn a_redeploy_after_destroy_adopts_the_retained_tables_and_their_key() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let workspace = xtask::workspace_root();
    let data = support::dev::temporary_folder("deploy-ministack-adopt");
    let port = support::dev::free_port_pair();
    let config = EnvironmentConfig::load(&workspace, "prod").unwrap();
    let mut emulator =
        Emulator::start(&workspace, &data, port, &config.region, Protection::Guarded { site_origin: None }).unwrap();
    let database_only = || {
        let output = xtask::synth::synthesize_config("prod", &config, std::time::Instant::now()).unwrap();
        let mut synthesized = output.synthesized;
        synthesized.stacks.retain(|s| s.short_name == "database");
        synthesized
    };
    let prod = |aws: &Aws| {
        let mut settings = Settings::new("prod");
        settings.yes = true;
        Arc::new(Context::new(aws.clone(), settings, None, Arc::new(|_| true)).unwrap())
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let aws = emulator.aws().await;
        let cfn = aws.cloudformation(None);
        let physical = |id: &'static str| {
            let cfn = cfn.clone();
            async move {
                let resource = cfn
                    .describe_stack_resource()
                    .stack_name("brain2-prod-database")
                    .logical_resource_id(id)
                    .send()
                    .await
                    .unwrap();
                resource.stack_resource_detail().unwrap().physical_resource_id().unwrap().to_owned()
            }
        };
        let created = deploy::deploy_all(prod(&aws), deploy::plans(&database_only(), &Default::default()).unwrap())
            .await
            .unwrap();
        assert_eq!(created[0].action, Action::Created);
        let (table, connections, key) =
            (physical("MemoryTable").await, physical("ConnectionsTable").await, physical("DataKey").await);
        let dynamodb = aws.dynamodb();
        for (sk, content) in [("N#0001", "the first memory"), ("N#0002", "the second memory")] {
            dynamodb
                .put_item()
                .table_name(&table)
                .item("id", AttributeValue::S("USER#adopt".into()))
                .item("sk", AttributeValue::S(sk.into()))
                .item("content", AttributeValue::S(content.into()))
                .send()
                .await
                .unwrap();
        }

        let destroyed = xtask::operate::destroy(&prod(&aws), &database_only(), true).await.unwrap();
        assert_eq!(destroyed.deleted, ["brain2-prod-database"]);
        let mut retained = destroyed.retained.clone();
        retained.sort();
        assert_eq!(
            retained,
            [
                "brain2-prod-database: ConnectionsTable",
                "brain2-prod-database: DataKey",
                "brain2-prod-database: MemoryTable"
            ]
        );

        // The redeploy adopts all three (the key through the tables it encrypts), then adds
        // the outputs and tags an import may not.
        let ctx = prod(&aws);
        let adopted = deploy::deploy_all(ctx.clone(), deploy::plans(&database_only(), &Default::default()).unwrap())
            .await
            .unwrap();
        assert_eq!(adopted[0].action, Action::Adopted, "{adopted:?}");
        assert_eq!(ctx.change_sets_created(), 2, "the import, then the update that adds the rest");
        assert_eq!(physical("MemoryTable").await, table);
        assert_eq!(physical("ConnectionsTable").await, connections);
        assert_eq!(physical("DataKey").await, key);
        assert!(adopted[0].outputs.iter().any(|o| o.value == table), "{:?}", adopted[0].outputs);
        let items = dynamodb.scan().table_name(&table).send().await.unwrap();
        let mut contents: Vec<&str> =
            items.items().iter().filter_map(|i| i.get("content")?.as_s().ok().map(String::as_str)).collect();
        contents.sort();
        assert_eq!(contents, ["the first memory", "the second memory"], "the same memories, in the same table");

        // Adopted is deployed: the next deploy has nothing to do.
        let again = deploy::deploy_all(prod(&aws), deploy::plans(&database_only(), &Default::default()).unwrap())
            .await
            .unwrap();
        assert_eq!(again[0].action, Action::Unchanged);
    });
    emulator.stop().unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}

/// `cargo xtask restore`: prod's memory table restored to a moment between two writes, as a new
/// table swapped into the database stack through an import; the functions switch to it (their
/// stacks let go of the exports while they change); the replaced table is kept and tagged. A
/// second run has nothing left to do, a deploy after it changes nothing, and a redeploy after
/// destroy adopts the restored table, never the one it replaced.
///
/// MiniStack's RestoreTableToPointInTime copies the table as it is now, whatever the time (as
/// moto's does): that the restored table holds only the first memory is AWS's to keep, and
/// `deploy_replay.rs` covers the request restore sends. Everything around it is tested here.
#[test]
fn a_restore_swaps_the_restored_table_in_and_keeps_the_one_it_replaced() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let workspace = xtask::workspace_root();
    let data = support::dev::temporary_folder("deploy-ministack-restore");
    let port = support::dev::free_port_pair();
    let mut config = EnvironmentConfig::load(&workspace, "prod").unwrap();
    config.frontend.site_dir = data.join("no-site").to_string_lossy().into_owned();
    // No hosted zone here (`cargo xtask dev` makes one for a rehearsal): the APIs keep their
    // own endpoints.
    (config.api.domain, config.api.web_socket_domain) = (None, None);
    let mut emulator =
        Emulator::start(&workspace, &data, port, &config.region, Protection::Guarded { site_origin: None }).unwrap();
    let app = || {
        let output = xtask::synth::synthesize_config("prod", &config, std::time::Instant::now()).unwrap();
        let mut synthesized = output.synthesized;
        synthesized.stacks.retain(|s| s.short_name != "frontend");
        // As `cargo xtask dev` does: what the emulator's CloudFormation refuses (a budget).
        xtask::dev::unsupported::leave_out(&mut synthesized).unwrap();
        synthesized
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let aws = emulator.aws().await;
        let assets = xtask::operate::bootstrap(&aws, "prod").await.unwrap();
        let prod = || {
            let mut settings = Settings::new("prod");
            settings.yes = true;
            Arc::new(Context::new(aws.clone(), settings, Some(assets.clone()), Arc::new(|_| true)).unwrap())
        };
        let code = stand_in_code(&data, "a");
        deploy::upload_code(&aws, &assets, &code).await.unwrap();
        let parameters = deploy::code_parameters(&assets.name, &code);
        let created = deploy::deploy_all(prod(), deploy::plans(&app(), &parameters).unwrap()).await.unwrap();
        assert!(created.iter().all(|r| r.action == Action::Created), "{created:?}");
        let cfn = aws.cloudformation(None);
        let physical = |stack: &'static str, id: &'static str| {
            let cfn = cfn.clone();
            async move {
                let resource =
                    cfn.describe_stack_resource().stack_name(stack).logical_resource_id(id).send().await.unwrap();
                resource.stack_resource_detail().unwrap().physical_resource_id().unwrap().to_owned()
            }
        };
        let old = physical("brain2-prod-database", "MemoryTable").await;
        let dynamodb = aws.dynamodb();
        let write = |sk: &'static str, content: &'static str| {
            let (dynamodb, table) = (dynamodb.clone(), old.clone());
            async move {
                dynamodb
                    .put_item()
                    .table_name(table)
                    .item("id", AttributeValue::S("USER#restore".into()))
                    .item("sk", AttributeValue::S(sk.into()))
                    .item("content", AttributeValue::S(content.into()))
                    .send()
                    .await
                    .unwrap();
            }
        };
        write("N#0001", "the first memory").await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let between = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        let to =
            xtask::restore::parse_time(&between.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap()).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        write("N#0002", "the second memory").await;

        let refused = xtask::restore::restore(&prod(), &app(), "MemoryTable", &to, false).await.unwrap_err();
        assert!(refused.to_string().contains("refuses prod without --yes"), "{refused}");
        assert_eq!(physical("brain2-prod-database", "MemoryTable").await, old, "a refusal changes nothing");

        // The network is lost as restore starts its import: the table is detached, and the
        // application still uses it (its values pinned), until a second run finishes the swap.
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sdk = aws_config_for(&emulator.endpoint, &config.region, &data).await;
        let inner = sdk.http_client().unwrap();
        let lost = LoseNetworkAt { inner, at: "ChangeSetType=IMPORT", cut: cut.clone() };
        let sdk = sdk.into_builder().http_client(lost).build();
        let mut settings = Settings::new("prod");
        settings.yes = true;
        let cut_off = Context::new(Aws::from_config(sdk), settings, Some(assets.clone()), Arc::new(|_| true)).unwrap();
        let error = xtask::restore::restore(&cut_off, &app(), "MemoryTable", &to, true).await.unwrap_err();
        println!("the network lost: {error:#}");
        assert!(cut.load(std::sync::atomic::Ordering::SeqCst), "{error:#}");
        let detached = xtask::aws::stack::template(&cfn, "brain2-prod-database").await.unwrap();
        assert!(detached["Resources"].get("MemoryTable").is_none(), "stopped after the detach: {error:#}");
        let database = xtask::aws::stack::describe(&cfn, "brain2-prod-database").await.unwrap().unwrap();
        assert_eq!(database.output("ExportMemoryTableRef"), Some(old.as_str()), "still the table it had");
        assert_eq!(dynamodb.scan().table_name(&old).send().await.unwrap().count(), 2, "kept, whole");
        // A deploy meanwhile would declare the table again, new and empty: refused.
        let refused = deploy::deploy_all(prod(), deploy::plans(&app(), &parameters).unwrap()).await.unwrap_err();
        assert!(format!("{refused:#}").contains("in the middle of a restore"), "{refused:#}");

        let restored = xtask::restore::restore(&prod(), &app(), "MemoryTable", &to, true).await.unwrap();
        assert_eq!(restored.replaced, old);
        assert_eq!(restored.retargeted, ["brain2-prod-compute", "brain2-prod-api"]);
        let table = restored.table.clone();
        // The table the backend's live alias uses: a new version must be published for it to change.
        let live_memory_table = || {
            let aws = aws.clone();
            async move {
                let backend = physical("brain2-prod-compute", "BackendFunction").await;
                let lambda = aws.lambda(None);
                let function =
                    lambda.get_function_configuration().function_name(&backend).qualifier("live").send().await.unwrap();
                function.environment().and_then(|e| e.variables()).and_then(|v| v.get("MEMORY_TABLE_NAME")).cloned()
            }
        };
        assert_eq!(physical("brain2-prod-database", "MemoryTable").await, table);
        // The functions use it.
        assert_eq!(live_memory_table().await, Some(table.clone()));
        // The exports name it, and every stack imports them again (no pin left).
        let database = xtask::aws::stack::describe(&cfn, "brain2-prod-database").await.unwrap().unwrap();
        assert_eq!(database.output("ExportMemoryTableRef"), Some(table.as_str()));
        for stack in ["brain2-prod-database", "brain2-prod-compute", "brain2-prod-api"] {
            let template = xtask::aws::stack::template(&cfn, stack).await.unwrap().to_string();
            assert!(!template.contains("brain2-restore:"), "{stack} still holds a pin");
        }
        // What the restore could not carry over is set: recovery, protection, tags.
        let backups = dynamodb.describe_continuous_backups().table_name(&table).send().await.unwrap();
        let recovery = backups.continuous_backups_description().unwrap().point_in_time_recovery_description();
        assert_eq!(recovery.and_then(|r| r.point_in_time_recovery_status()).map(|s| s.as_str()), Some("ENABLED"));
        let described = dynamodb.describe_table().table_name(&table).send().await.unwrap();
        assert_eq!(described.table().unwrap().deletion_protection_enabled(), Some(true));
        let tags_of = |arn: String| {
            let dynamodb = dynamodb.clone();
            async move {
                let tags = dynamodb.list_tags_of_resource().resource_arn(arn).send().await.unwrap();
                tags.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            }
        };
        let tags = tags_of(described.table().unwrap().table_arn().unwrap().to_owned()).await;
        assert_eq!(tags.get("brain2:restored-from"), Some(&old), "{tags:?}");
        assert_eq!(tags.get("environment").map(String::as_str), Some("prod"), "{tags:?}");
        let scan = dynamodb.scan().table_name(&table).send().await.unwrap();
        let contents: Vec<&str> =
            scan.items().iter().filter_map(|i| i.get("content")?.as_s().ok().map(String::as_str)).collect();
        assert!(contents.contains(&"the first memory"), "{contents:?}");
        // The replaced table is kept, whole, and says what replaced it.
        let kept = dynamodb.describe_table().table_name(&old).send().await.unwrap();
        let kept_tags = tags_of(kept.table().unwrap().table_arn().unwrap().to_owned()).await;
        assert_eq!(kept_tags.get("brain2:replaced-by"), Some(&table), "{kept_tags:?}");
        assert_eq!(dynamodb.scan().table_name(&old).send().await.unwrap().count(), 2);

        // Done is done: a second run and a deploy find nothing to change.
        let updated = |stack: &'static str| {
            let cfn = cfn.clone();
            async move { xtask::aws::stack::describe(&cfn, stack).await.unwrap().unwrap().last_updated }
        };
        let before = [
            updated("brain2-prod-database").await,
            updated("brain2-prod-compute").await,
            updated("brain2-prod-api").await,
        ];
        let again = xtask::restore::restore(&prod(), &app(), "MemoryTable", &to, true).await.unwrap();
        assert!(again.retargeted.is_empty(), "{again:?}");
        let after = [
            updated("brain2-prod-database").await,
            updated("brain2-prod-compute").await,
            updated("brain2-prod-api").await,
        ];
        assert_eq!(before, after, "a finished restore run again updates no stack");
        let deployed = deploy::deploy_all(prod(), deploy::plans(&app(), &parameters).unwrap()).await.unwrap();
        assert!(deployed.iter().all(|r| r.action == Action::Unchanged), "{deployed:?}");

        // After destroy, deploy adopts the restored table, not the replaced one.
        xtask::operate::destroy(&prod(), &app(), true).await.unwrap();
        let adopted = deploy::deploy_all(prod(), deploy::plans(&app(), &parameters).unwrap()).await.unwrap();
        let database = adopted.iter().find(|r| r.short_name == "database").unwrap();
        assert_eq!(database.action, Action::Adopted, "{adopted:?}");
        let export = database.outputs.iter().find(|o| o.key == "ExportMemoryTableRef").map(|o| o.value.as_str());
        assert_eq!(export, Some(table.as_str()), "{:?}", database.outputs);
        assert_eq!(live_memory_table().await, Some(table.clone()));
    });
    emulator.stop().unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}

/// `deploy --stack frontend` writes a config.json with the API URLs of the stacks deployed
/// before, read from CloudFormation, instead of blanks.
#[test]
fn deploying_only_the_frontend_keeps_the_api_urls_in_the_site_config() {
    let workspace = xtask::workspace_root();
    let data = support::dev::temporary_folder("deploy-frontend");
    let port = support::dev::free_port_pair();
    let site = data.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html><title>site</title>").unwrap();
    let mut config = EnvironmentConfig::load(&workspace, "dev").unwrap();
    config.frontend.site_dir = site.to_string_lossy().into_owned();
    let mut emulator =
        Emulator::start(&workspace, &data, port, &config.region, Protection::Guarded { site_origin: None }).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let aws = emulator.aws().await;
        let assets = xtask::operate::bootstrap(&aws, "dev").await.unwrap();
        let code = stand_in_code(&data, "a");
        let synthesized = synthesize(&config);
        let out = data.join("out");
        let all =
            deploy::run(&workspace, &out, context(&aws, &assets), &config, &synthesized, &code, &[]).await.unwrap();
        let api_url = all
            .results
            .iter()
            .find(|r| r.short_name == "api")
            .and_then(|r| r.outputs.iter().find(|o| o.key == "HttpApiUrl"))
            .map(|o| o.value.clone())
            .unwrap();

        // A change to the site alone, deployed with --stack frontend.
        std::fs::write(site.join("index.html"), "<!doctype html><title>site, changed</title>").unwrap();
        let only = vec!["frontend".to_owned()];
        let report =
            deploy::run(&workspace, &out, context(&aws, &assets), &config, &synthesized, &code, &only).await.unwrap();
        assert_eq!(report.stacks.len(), 1, "{:?}", report.stacks);
        let frontend = report.results.iter().find(|r| r.short_name == "frontend").unwrap();
        let bucket = frontend.outputs.iter().find(|o| o.key == "SiteBucketName").unwrap().value.clone();
        let object =
            aws.s3(Some(&config.frontend_region)).get_object().bucket(bucket).key("config.json").send().await.unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        let site_config: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(site_config["httpApiUrl"], api_url.as_str(), "{site_config}");
        assert!(!site_config["webSocketUrl"].as_str().unwrap().is_empty(), "{site_config}");
    });
    emulator.stop().unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}

/// One MiniStack for one test: `work` gets its endpoint and home region.
fn on_the_emulator<F, Fut>(name: &str, work: F)
where
    F: FnOnce(String, String, std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let workspace = xtask::workspace_root();
    let data = support::dev::temporary_folder(name);
    let port = support::dev::free_port_pair();
    let region = EnvironmentConfig::load(&workspace, "dev").unwrap().region;
    let mut emulator =
        Emulator::start(&workspace, &data, port, &region, Protection::Guarded { site_origin: None }).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(work(emulator.endpoint.clone(), region, data.to_path_buf()));
    emulator.stop().unwrap();
}

async fn is_retired(aws: &Aws, assets: &deploy::AssetsBucket, key: &str) -> bool {
    let s3 = aws.s3(Some(&assets.region));
    xtask::aws::assets::has_tag(&s3, &assets.name, key, brain2_stacks::RELEASE_STATE_TAG, brain2_stacks::RETIRED)
        .await
        .unwrap()
}

/// Deploy A, deploy B (new code), then a deploy that changed only the frontend (it records B's
/// code again): A's zips stay live throughout, and `rollback` brings A's code back rather than
/// the B that is already running.
#[test]
fn rollback_after_a_frontend_only_deploy_brings_back_the_code_before() {
    on_the_emulator("deploy-rollback", |endpoint, region, data| async move {
        let workspace = xtask::workspace_root();
        let mut config = EnvironmentConfig::load(&workspace, "dev").unwrap();
        config.frontend.site_dir = data.join("no-site").to_string_lossy().into_owned();
        let aws = local_aws(&endpoint, &region, &data).await;
        let assets = xtask::operate::bootstrap(&aws, "dev").await.unwrap();
        let out = data.join("out");
        let (a, b) = (stand_in_code(&data, "a"), stand_in_code(&data, "b"));
        let run = |config: EnvironmentConfig, code: Vec<Package>| {
            let (workspace, out, ctx) = (workspace.clone(), out.clone(), context(&aws, &assets));
            async move { deploy::run(&workspace, &out, ctx, &config, &synthesize(&config), &code, &[]).await.unwrap() }
        };
        run(config.clone(), a.clone()).await;
        run(config.clone(), b.clone()).await;
        config.frontend.price_class = brain2_iac::config::PriceClassConfig::PriceClass200;
        let frontend_only = run(config.clone(), b.clone()).await;
        let actions: Vec<_> = frontend_only.stacks.iter().map(|(name, action)| (name.as_str(), *action)).collect();
        assert!(actions.contains(&("brain2-dev-frontend", Action::Updated)), "{actions:?}");
        assert!(actions.contains(&("brain2-dev-compute", Action::Unchanged)), "{actions:?}");
        let releases = deploy::release::list(&aws, &assets, "dev").await.unwrap();
        assert_eq!(releases.len(), 3, "three deploys, three releases");
        for package in &a {
            assert!(
                !is_retired(&aws, &assets, &deploy::code_key(package)).await,
                "A's {} was retired",
                package.function
            );
        }

        let rolled = deploy::release::rollback(context(&aws, &assets), None).await.unwrap();
        assert_eq!(rolled.rolled_back_to.as_deref(), Some(releases[0].id.as_str()), "back to A's release");
        let compute =
            xtask::aws::stack::describe(&aws.cloudformation(None), "brain2-dev-compute").await.unwrap().unwrap();
        let parameters = deploy::code_parameters(&assets.name, &a);
        for (name, value) in parameters.iter().filter(|(k, _)| k.ends_with("CodeKey")) {
            assert_eq!(compute.parameters.get(name), Some(value), "{name} after the rollback");
        }
        for package in a.iter().chain(&b) {
            assert!(
                !is_retired(&aws, &assets, &deploy::code_key(package)).await,
                "{} was retired",
                package.zip.display()
            );
        }
    });
}

/// A stack `home` in the emulator's region and `edge` in us-east-1, each taking the backend's
/// code key as a parameter (on a queue's tag).
fn two_region_app() -> Synthesized {
    use brain2_iac::aws::sqs::{Queue, queue::Tag};
    let mut app = brain2_iac::cfn::App::new("regions", "dev").unwrap();
    let home = app.add_stack("home", "in the home region").unwrap();
    let edge = app.add_stack("edge", "in us-east-1").unwrap();
    app.set_stack_region(edge, "us-east-1");
    for stack in [home, edge] {
        let code = app.add_parameter(stack, "BackendCodeKey", brain2_iac::cfn::ParameterSpec::string()).unwrap();
        app.add(stack, "Jobs", Queue::new().tags(vec![Tag::new("code", code.ref_())])).unwrap();
    }
    app.synth().unwrap()
}

/// Rollback reads and changes each stack in the region it lives in: the release records it.
#[test]
fn rollback_puts_the_code_back_in_each_stack_s_own_region() {
    on_the_emulator("deploy-regions", |endpoint, region, data| async move {
        let workspace = xtask::workspace_root();
        let config = EnvironmentConfig::load(&workspace, "dev").unwrap();
        let aws = local_aws(&endpoint, &region, &data).await;
        let assets = xtask::operate::bootstrap_environment(&aws, "dev").await.unwrap();
        let synthesized = two_region_app();
        let out = data.join("out");
        let (a, b) = (stand_in_code(&data, "a"), stand_in_code(&data, "b"));
        for code in [&a, &b] {
            deploy::run(&workspace, &out, context(&aws, &assets), &config, &synthesized, code, &[]).await.unwrap();
        }
        let home_cfn = aws.cloudformation(None);
        let edge_cfn = aws.cloudformation(Some("us-east-1"));
        assert!(
            xtask::aws::stack::describe(&home_cfn, "regions-dev-edge").await.unwrap().is_none(),
            "the emulator keeps regions apart: edge is not found at home"
        );

        deploy::release::rollback(context(&aws, &assets), None).await.unwrap();
        let a_key = deploy::code_key(a.iter().find(|p| p.function == "backend").unwrap());
        for (cfn, name) in [(&home_cfn, "regions-dev-home"), (&edge_cfn, "regions-dev-edge")] {
            let stack = xtask::aws::stack::describe(cfn, name).await.unwrap().unwrap();
            assert_eq!(stack.parameters["BackendCodeKey"], a_key, "{name} runs A's code again");
        }
    });
}

/// An object S3 refuses to delete (here under an object lock's legal hold) stops destroy with
/// its name instead of a loop that lists and deletes it forever; the stack is left as it was,
/// and once the hold is lifted destroy finishes.
#[test]
fn destroy_stops_at_an_object_that_cannot_be_deleted_and_names_it() {
    use aws_sdk_s3::types::{
        BucketVersioningStatus, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
        ObjectLockLegalHoldStatus, VersioningConfiguration,
    };
    on_the_emulator("deploy-destroy", |endpoint, region, data| async move {
        let aws = local_aws(&endpoint, &region, &data).await;
        let mut app = brain2_iac::cfn::App::new("files", "dev").unwrap();
        let stack = app.add_stack("store", "a bucket destroy empties").unwrap();
        app.add(stack, "Files", brain2_iac::aws::s3::Bucket::new()).unwrap();
        let synthesized = app.synth().unwrap();
        let ctx = Context::new(aws.clone(), Settings::new("dev"), None, Arc::new(|_| true)).unwrap();
        deploy::deploy_all(Arc::new(ctx), deploy::plans(&synthesized, &Default::default()).unwrap()).await.unwrap();
        let cfn = aws.cloudformation(None);
        let bucket = cfn
            .describe_stack_resource()
            .stack_name("files-dev-store")
            .logical_resource_id("Files")
            .send()
            .await
            .unwrap()
            .stack_resource_detail()
            .and_then(|d| d.physical_resource_id().map(str::to_owned))
            .unwrap();
        let s3 = aws.s3(None);
        let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
        s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(versioning).send().await.unwrap();
        let lock = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled).build();
        s3.put_object_lock_configuration().bucket(&bucket).object_lock_configuration(lock).send().await.unwrap();
        for key in ["loose.txt", "held.txt"] {
            s3.put_object().bucket(&bucket).key(key).body(key.as_bytes().to_vec().into()).send().await.unwrap();
        }
        let hold = |status| ObjectLockLegalHold::builder().status(status).build();
        s3.put_object_legal_hold()
            .bucket(&bucket)
            .key("held.txt")
            .legal_hold(hold(ObjectLockLegalHoldStatus::On))
            .send()
            .await
            .unwrap();

        let ctx = Context::new(aws.clone(), Settings::new("dev"), None, Arc::new(|_| true)).unwrap();
        let outcome = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            xtask::operate::destroy(&ctx, &synthesized, false),
        )
        .await
        .expect("destroy returned instead of deleting the same object again and again");
        let error = format!("{:#}", outcome.unwrap_err());
        assert!(error.contains("files-dev-store was not deleted"), "{error}");
        assert!(error.contains(&format!("s3://{bucket}/held.txt")) && error.contains("AccessDenied"), "{error}");
        assert!(error.contains("legal hold"), "the error says what to remove: {error}");
        let left = xtask::aws::stack::describe(&cfn, "files-dev-store").await.unwrap().unwrap();
        assert_eq!(left.status.as_str(), "CREATE_COMPLETE");

        s3.put_object_legal_hold()
            .bucket(&bucket)
            .key("held.txt")
            .legal_hold(hold(ObjectLockLegalHoldStatus::Off))
            .send()
            .await
            .unwrap();
        let destroyed = xtask::operate::destroy(&ctx, &synthesized, false).await.unwrap();
        assert_eq!(destroyed.deleted, ["files-dev-store"]);
    });
}

/// A template whose only resource waits one second for a signal that never comes: its first
/// creation fails and rolls back (ROLLBACK_COMPLETE) with the reason in its events.
const NEVER_SIGNALLED: &str = r#"{"Resources": {
  "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
  "Wait": {"Type": "AWS::CloudFormation::WaitCondition", "Properties": {"Handle": {"Ref": "Handle"}, "Timeout": "1"}}
}}"#;

/// Holds the first DescribeStacks until the stack has finished: the fault where an operation
/// ends between watch's reads, so its final status arrives before the events that explain it.
#[derive(Debug)]
struct FinishBeforeFirstStatusRead {
    held: std::sync::atomic::AtomicBool,
    endpoint: String,
    region: String,
    data: std::path::PathBuf,
    stack: String,
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for FinishBeforeFirstStatusRead {
    fn name(&self) -> &'static str {
        "FinishBeforeFirstStatusRead"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_smithy_runtime_api::client::orchestrator::Metadata;
        let status_read = cfg.load::<Metadata>().is_some_and(|m| m.name() == "DescribeStacks");
        if !status_read || self.held.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        // Wait on a thread of its own, with its own client, until the stack has finished.
        let (endpoint, region, stack) = (self.endpoint.clone(), self.region.clone(), self.stack.clone());
        let data = self.data.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let cfn = local_aws(&endpoint, &region, &data).await.cloudformation(None);
                while xtask::aws::stack::describe(&cfn, &stack).await.unwrap().unwrap().phase()
                    == xtask::aws::stack::Phase::InProgress
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            });
        })
        .join()
        .unwrap();
        Ok(())
    }
}

/// The operation ends between watch's reading the events and reading the status: the events
/// that came with the end (the failure and its reason) are still read before watching stops.
/// Then the stack, left in ROLLBACK_COMPLETE by its failed first creation, is deleted and created
/// again by the next deploy, outside dev too.
#[test]
fn the_last_events_are_read_and_a_failed_first_create_starts_over() {
    on_the_emulator("deploy-events", |endpoint, region, data| async move {
        let stack = "brain2-staging-waits";
        let aws = local_aws(&endpoint, &region, &data).await;
        let cfn = aws.cloudformation(None);
        let created = cfn.create_stack().stack_name(stack).template_body(NEVER_SIGNALLED).send().await.unwrap();
        let id = created.stack_id().unwrap().to_owned();
        let config = aws_sdk_cloudformation::config::Builder::from(&aws_config_for(&endpoint, &region, &data).await)
            .interceptor(FinishBeforeFirstStatusRead {
                held: Default::default(),
                endpoint: endpoint.clone(),
                region: region.clone(),
                data: data.clone(),
                stack: stack.to_owned(),
            })
            .build();
        let watched = aws_sdk_cloudformation::Client::from_conf(config);
        let poll = std::time::Duration::from_millis(100);
        let outcome = xtask::aws::events::watch(&watched, &id, "waits", None, poll).await.unwrap();
        assert_eq!(outcome.status.as_str(), "ROLLBACK_COMPLETE");
        let failure = outcome.first_failure.expect("the failing resource was read");
        assert_eq!(failure.logical_id, "Wait");
        assert!(failure.reason.contains("timed out"), "{failure:?}");

        let template = r#"{"Resources": {"Jobs": {"Type": "AWS::SQS::Queue"}}}"#;
        let plan = deploy::StackPlan {
            name: stack.to_owned(),
            short_name: "waits".to_owned(),
            region: None,
            template: template.to_owned(),
            tags: Default::default(),
            parameters: Default::default(),
            output_parameters: Default::default(),
            depends_on: Vec::new(),
            resource_types: [("Jobs".to_owned(), "AWS::SQS::Queue".to_owned())].into(),
            stateful: Default::default(),
        };
        let ctx = Context::new(aws.clone(), Settings::new("staging"), None, Arc::new(|_| true)).unwrap();
        let result = deploy::apply::deploy_stack(&ctx, &plan).await.unwrap();
        assert_eq!(result.action, Action::Created);
        let now = xtask::aws::stack::describe(&cfn, stack).await.unwrap().unwrap();
        assert_eq!(now.status.as_str(), "CREATE_COMPLETE");
        assert_ne!(now.id, id, "a new stack");
    });
}

/// The emulator's root, with the credentials `cargo xtask dev` made in its data folder.
async fn local_aws(endpoint: &str, region: &str, data: &std::path::Path) -> Aws {
    let keys = xtask::dev::credentials::Credentials::load(data).unwrap();
    Aws::with_keys(endpoint, region, &keys.access_key_id, &keys.secret_access_key).await
}

/// The SDK configuration [`local_aws`] uses, for a client with an interceptor of the test's.
async fn aws_config_for(endpoint: &str, region: &str, data: &std::path::Path) -> aws_config::SdkConfig {
    let keys = xtask::dev::credentials::Credentials::load(data).unwrap();
    let credentials = aws_sdk_cloudformation::config::Credentials::new(
        keys.access_key_id,
        keys.secret_access_key,
        None,
        None,
        "test",
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

/// An HTTP client that loses the network for good from the first request whose body holds `at`.
#[derive(Debug, Clone)]
struct LoseNetworkAt {
    inner: aws_smithy_runtime_api::client::http::SharedHttpClient,
    at: &'static str,
    cut: Arc<std::sync::atomic::AtomicBool>,
}

impl aws_smithy_runtime_api::client::http::HttpClient for LoseNetworkAt {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(LostConnector {
            inner: self.inner.http_connector(settings, components),
            at: self.at,
            cut: self.cut.clone(),
        })
    }
}

#[derive(Debug)]
struct LostConnector {
    inner: aws_smithy_runtime_api::client::http::SharedHttpConnector,
    at: &'static str,
    cut: Arc<std::sync::atomic::AtomicBool>,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for LostConnector {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        let body = request.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
        if body.contains(self.at) {
            self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if self.cut.load(std::sync::atomic::Ordering::SeqCst) {
            let lost = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "the network is gone (test)");
            return aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Err(
                aws_smithy_runtime_api::client::result::ConnectorError::io(lost.into()),
            ));
        }
        self.inner.call(request)
    }
}

/// `a` with the backend's zip taken from `other`: a change of one function's code.
fn with_backend(a: &[Package], other: &[Package]) -> Vec<Package> {
    a.iter().map(|p| if p.function == "backend" { other[0].clone() } else { p.clone() }).collect()
}

/// The backend's code as its `live` alias serves it: (version, CodeSha256).
async fn live_backend(aws: &Aws) -> (String, String) {
    let function = aws
        .cloudformation(None)
        .describe_stack_resource()
        .stack_name("brain2-dev-compute")
        .logical_resource_id("BackendFunction")
        .send()
        .await
        .unwrap()
        .stack_resource_detail()
        .and_then(|d| d.physical_resource_id().map(str::to_owned))
        .unwrap();
    let lambda = aws.lambda(None);
    let alias = lambda.get_alias().function_name(&function).name("live").send().await.unwrap();
    let version = alias.function_version().unwrap().to_owned();
    let configuration =
        lambda.get_function_configuration().function_name(&function).qualifier("live").send().await.unwrap();
    (version, configuration.code_sha256().unwrap().to_owned())
}

/// CloudFormation's drift verdict on the compute stack.
async fn drift_of_compute(aws: &Aws) -> String {
    let cfn = aws.cloudformation(None);
    let id = cfn.detect_stack_drift().stack_name("brain2-dev-compute").send().await.unwrap();
    let id = id.stack_drift_detection_id().unwrap().to_owned();
    loop {
        let status = cfn.describe_stack_drift_detection_status().stack_drift_detection_id(&id).send().await.unwrap();
        if status.detection_status().map(|s| s.as_str()) != Some("DETECTION_IN_PROGRESS") {
            return status.stack_drift_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `deploy --hotswap` of the backend alone, then a normal deploy of the same code: no change set,
/// no drift, no second version of that code (MiniStack refuses one, as Lambda does). Then two
/// hotswaps, a rollback (to the first of them), a deploy of the second again through a change
/// set, and a hotswap undone by a deploy of CloudFormation's own code.
#[test]
fn a_hotswap_is_recorded_so_the_next_deploy_agrees_with_it() {
    on_the_emulator("deploy-hotswap", |endpoint, region, data| async move {
        let workspace = xtask::workspace_root();
        let mut config = EnvironmentConfig::load(&workspace, "dev").unwrap();
        config.frontend.site_dir = data.join("no-site").to_string_lossy().into_owned();
        let synthesized = synthesize(&config);
        let aws = local_aws(&endpoint, &region, &data).await;
        let assets = xtask::operate::bootstrap(&aws, "dev").await.unwrap();
        let out = data.join("out");
        let a = stand_in_code(&data, "a");
        let [b, c, d, e] = ["b", "c", "d", "e"].map(|build| with_backend(&a, &stand_in_code(&data, build)));
        let sha = |code: &[Package]| code[0].code_sha256.clone();
        let deploy = |code: Vec<Package>| {
            let (workspace, out, ctx, config, synthesized) =
                (workspace.clone(), out.clone(), context(&aws, &assets), config.clone(), &synthesized);
            async move {
                let report = deploy::run(&workspace, &out, ctx, &config, synthesized, &code, &[]).await.unwrap();
                (report.change_sets_created, report.stacks)
            }
        };
        let hotswap = |code: Vec<Package>| {
            let (workspace, out, ctx, config, synthesized) =
                (workspace.clone(), out.clone(), context(&aws, &assets), config.clone(), &synthesized);
            async move { deploy::run_hotswap(&workspace, &out, ctx, &config, synthesized, &code, &[]).await.unwrap() }
        };
        let cfn_backend_key = || async {
            let compute =
                xtask::aws::stack::describe(&aws.cloudformation(None), "brain2-dev-compute").await.unwrap().unwrap();
            compute.parameters["BackendCodeKey"].clone()
        };
        deploy(a.clone()).await;
        let (stack_version, live) = live_backend(&aws).await;
        assert_eq!(live, sha(&a));

        let report = hotswap(b.clone()).await;
        assert_eq!(report.swapped.len(), 1, "{report:?}");
        assert!(report.fell_back.is_empty() && report.deploy.is_none(), "{report:?}");
        let (version, live) = live_backend(&aws).await;
        assert_eq!(live, sha(&b), "the new code is live");
        assert_ne!(version, stack_version, "on a version of its own");
        assert_eq!(cfn_backend_key().await, deploy::code_key(&a[0]), "CloudFormation was not involved");
        let record = deploy::hotswap::load(&aws, &assets, "dev", "brain2-dev-compute").await.unwrap().unwrap();
        assert_eq!(record.functions.len(), 1, "{record:?}");

        // The same code, deployed normally: nothing to do, nothing published twice, no drift.
        let (change_sets, stacks) = deploy(b.clone()).await;
        assert_eq!(change_sets, 0, "{stacks:?}");
        assert!(stacks.iter().all(|(_, action)| *action == Action::Unchanged), "{stacks:?}");
        assert_eq!(live_backend(&aws).await, (version.clone(), sha(&b)));
        assert_eq!(drift_of_compute(&aws).await, "IN_SYNC");
        // A hotswap of what is live does nothing.
        let again = hotswap(b.clone()).await;
        assert!(again.swapped.is_empty() && again.deploy.is_none(), "{again:?}");

        // Twice more, then back: the rollback goes to the code before (c), through a change set.
        hotswap(c.clone()).await;
        hotswap(d.clone()).await;
        assert_eq!(live_backend(&aws).await.1, sha(&d));
        let releases = deploy::release::list(&aws, &assets, "dev").await.unwrap();
        let c_release = releases
            .iter()
            .rev()
            .find(|r| r.hotswap && r.stacks["brain2-dev-compute"].parameters["BackendCodeSha256"] == sha(&c))
            .unwrap();
        let rolled = deploy::release::rollback(context(&aws, &assets), None).await.unwrap();
        assert_eq!(rolled.rolled_back_to.as_deref(), Some(c_release.id.as_str()));
        assert_eq!(live_backend(&aws).await.1, sha(&c), "c is live again");
        assert_eq!(cfn_backend_key().await, deploy::code_key(&c[0]), "and CloudFormation knows it");
        assert!(deploy::hotswap::load(&aws, &assets, "dev", "brain2-dev-compute").await.unwrap().is_none());

        // d again, through a change set this time: CloudFormation publishes it without a clash.
        let (change_sets, _) = deploy(d.clone()).await;
        assert_eq!(change_sets, 1);
        assert_eq!(live_backend(&aws).await.1, sha(&d));

        // A hotswap, then a deploy of the code CloudFormation has: its code and version come back.
        let (stack_version, _) = live_backend(&aws).await;
        hotswap(e.clone()).await;
        assert_eq!(live_backend(&aws).await.1, sha(&e));
        let (change_sets, _) = deploy(d.clone()).await;
        assert_eq!(change_sets, 0);
        assert_eq!(live_backend(&aws).await, (stack_version, sha(&d)));
        assert!(deploy::hotswap::load(&aws, &assets, "dev", "brain2-dev-compute").await.unwrap().is_none());
        assert_eq!(drift_of_compute(&aws).await, "IN_SYNC");

        // A destroyed stack leaves no record behind: one created again under its name would be
        // taken for running the hotswapped code.
        hotswap(e.clone()).await;
        assert!(deploy::hotswap::load(&aws, &assets, "dev", "brain2-dev-compute").await.unwrap().is_some());
        xtask::operate::destroy(&context(&aws, &assets), &synthesized, false).await.unwrap();
        assert!(deploy::hotswap::load(&aws, &assets, "dev", "brain2-dev-compute").await.unwrap().is_none());
    });
}

/// The benchmark (`cargo xtask bench watch`): one function's new code through `deploy --hotswap`,
/// against the same kind of change through a change set, five rounds each.
#[test]
#[ignore]
fn bench_hotswap_against_a_change_set() {
    on_the_emulator("deploy-hotswap-bench", |endpoint, region, data| async move {
        let workspace = xtask::workspace_root();
        let mut config = EnvironmentConfig::load(&workspace, "dev").unwrap();
        config.frontend.site_dir = data.join("no-site").to_string_lossy().into_owned();
        let synthesized = synthesize(&config);
        let aws = local_aws(&endpoint, &region, &data).await;
        let assets = xtask::operate::bootstrap(&aws, "dev").await.unwrap();
        let out = data.join("out");
        let a = stand_in_code(&data, "a");
        deploy::run(&workspace, &out, context(&aws, &assets), &config, &synthesized, &a, &[]).await.unwrap();
        let (mut hotswaps, mut change_sets) = (Vec::new(), Vec::new());
        for round in 0..5 {
            let code = with_backend(&a, &stand_in_code(&data, &format!("hot{round}")));
            let started = std::time::Instant::now();
            let report =
                deploy::run_hotswap(&workspace, &out, context(&aws, &assets), &config, &synthesized, &code, &[])
                    .await
                    .unwrap();
            hotswaps.push(started.elapsed());
            assert_eq!(report.swapped.len(), 1);
            let code = with_backend(&a, &stand_in_code(&data, &format!("cfn{round}")));
            let started = std::time::Instant::now();
            let report =
                deploy::run(&workspace, &out, context(&aws, &assets), &config, &synthesized, &code, &[]).await.unwrap();
            change_sets.push(started.elapsed());
            assert_eq!(report.change_sets_created, 1);
        }
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        for (name, mut times) in
            [("deploy --hotswap of one function", hotswaps), ("the same through a change set", change_sets)]
        {
            times.sort();
            println!(
                "{name}: p50 {:.2} s, min {:.2} s, max {:.2} s (load average {})",
                times[2].as_secs_f64(),
                times[0].as_secs_f64(),
                times[4].as_secs_f64(),
                load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            );
        }
    });
}

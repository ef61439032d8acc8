//! The real four dev stacks (database, compute, api, frontend) deployed by deploy's own code to
//! MiniStack, the emulator `cargo xtask dev` runs: bootstrap, a create of all four in dependency
//! order, a no-op redeploy (no change set), a configuration change through exactly one change
//! set, and a destroy. moto cannot host compute, api or frontend (see `deploy_moto.rs`).
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

fn stand_in_code(dir: &std::path::Path) -> Vec<Package> {
    FUNCTIONS
        .iter()
        .map(|function| {
            let path = dir.join(format!("{function}.bootstrap"));
            std::fs::write(&path, format!("stand-in bootstrap of {function}")).unwrap();
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
        let code = stand_in_code(&data);
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
        let code = stand_in_code(&data);
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

//! bootstrap, deploy, a no-op redeploy, a change through a change set, a broken template, an
//! export still in use, and destroy, against moto's CloudFormation, S3 and DynamoDB.
//!
//! Gaps in moto 5.2.5, covered by the recorded-response tests in `deploy_replay.rs` instead:
//! - its CloudFormation cannot create the real compute, api and frontend stacks: it has no
//!   model of `Fn::GetAtt` on `AWS::Events::Rule`, API Gateway v2 authorizers or CloudFront
//!   distributions ("references undefined resource"), so this test deploys the real database
//!   stack beside a small stack of types it does model;
//! - it applies templates synchronously and answers a resource failure with HTTP 500, never with
//!   `*_FAILED` stack events, so rollbacks and ROLLBACK_COMPLETE cannot happen here;
//! - change sets it creates for new stacks leave the stack without outputs, which deploy avoids
//!   anyway (new stacks are created directly).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use brain2_iac::cfn::{App, Synthesized};
use brain2_iac::constructs::{Key, Table, TableProps};
use xtask::aws::Aws;
use xtask::build::{Package, package};
use xtask::deploy::{self, Action, Context, Settings};

fn aws(endpoint: &str) -> Aws {
    Aws::from_config(aws_config_of(endpoint))
}

/// The real dev database stack, and a `worker` stack that imports the table's name and takes
/// one function's code parameters. `queue_delay` is the one-line infrastructure change;
/// `broken` refers to a resource that does not exist.
fn app(queue_delay: i64, broken: bool, keep_import: bool) -> Synthesized {
    let workspace = xtask::workspace_root();
    let config = brain2_iac::config::EnvironmentConfig::load(&workspace, "dev").unwrap();
    let real = brain2_stacks::brain2_app("dev", &config).unwrap().synth().unwrap();
    let mut app = App::new("moto", "dev").unwrap();
    let data = app.add_stack("data", "test data").unwrap();
    let worker = app.add_stack("worker", "test worker").unwrap();
    let table = Table::new(&mut app, data, "Items", TableProps::new(Key::string("PK"))).unwrap();
    let mut tags = vec![];
    if keep_import {
        tags.push(brain2_iac::aws::sqs::queue::Tag::new("table", table.name()));
    }
    let code_key = app
        .add_parameter(worker, "BackendCodeKey", brain2_iac::cfn::ParameterSpec::string().description("code"))
        .unwrap();
    tags.push(brain2_iac::aws::sqs::queue::Tag::new("code", code_key.ref_()));
    let queue = brain2_iac::aws::sqs::Queue::new().delay_seconds(queue_delay).tags(tags);
    app.add(worker, "Jobs", queue).unwrap();
    let mut synthesized = app.synth().unwrap();
    if broken {
        // The DSL cannot import an export that does not exist; a hand edit can.
        let stack = synthesized.stacks.iter_mut().find(|s| s.short_name == "worker").unwrap();
        let mut template: serde_json::Value = serde_json::from_str(&stack.template).unwrap();
        template["Resources"]["Jobs"]["Properties"]["Tags"][0]["Value"] =
            serde_json::json!({ "Fn::ImportValue": "moto-dev-data:Missing:Arn" });
        stack.template = serde_json::to_string_pretty(&template).unwrap();
    }
    synthesized.stacks.insert(0, real.stack("database").unwrap().clone());
    synthesized
}

fn packages(dir: &std::path::Path, content: &[u8]) -> Vec<Package> {
    vec![package("backend", &write(dir, content), dir).unwrap()]
}

fn write(dir: &std::path::Path, content: &[u8]) -> std::path::PathBuf {
    let path = dir.join(format!("bootstrap-{}", content.len()));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&path, content).unwrap();
    path
}

fn context(aws: &Aws, environment: &str, assets: &deploy::AssetsBucket) -> Arc<Context> {
    Arc::new(Context::new(aws.clone(), Settings::new(environment), Some(assets.clone()), Arc::new(|_| true)).unwrap())
}

fn parameters(assets: &deploy::AssetsBucket, packages: &[Package]) -> BTreeMap<String, String> {
    let mut parameters = deploy::code_parameters(&assets.name, packages);
    parameters.retain(|k, _| k == "BackendCodeKey");
    parameters
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_deploy_skip_change_fail_and_destroy() {
    let endpoint = xtask::moto::moto().endpoint.clone();
    let scratch = std::env::temp_dir().join(format!("brain2-deploy-moto-{}", std::process::id()));
    let aws = aws(&endpoint);

    // bootstrap, twice: the second is a no-op. The environment's toolkit only: moto's
    // CloudFormation has no AWS::ApiGateway::Account, so the region toolkit is deployed by the
    // MiniStack test (deploy_ministack.rs) and by `cargo xtask dev`.
    let assets = xtask::operate::bootstrap_environment(&aws, "dev").await.unwrap();
    assert_eq!(xtask::operate::bootstrap_environment(&aws, "dev").await.unwrap().name, assets.name);

    // A first deploy creates every stack, in dependency order, and uploads the code.
    let code = packages(&scratch, b"first build");
    let ctx = context(&aws, "dev", &assets);
    assert_eq!(deploy::upload_code(&aws, &assets, &code).await.unwrap(), (1, 0));
    let plans = deploy::plans(&app(0, false, true), &parameters(&assets, &code)).unwrap();
    let results = deploy::deploy_all(ctx.clone(), plans.clone()).await.unwrap();
    let actions: Vec<(&str, Action)> = results.iter().map(|r| (r.short_name.as_str(), r.action)).collect();
    assert_eq!(actions, [("database", Action::Created), ("data", Action::Created), ("worker", Action::Created)]);
    let outputs = deploy::write_outputs(&scratch, "dev", &results).unwrap();
    let outputs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(outputs).unwrap()).unwrap();
    assert!(outputs["brain2-dev-database"]["ExportMemoryTableArn"].as_str().unwrap().contains(":table/"));

    // The second deploy skips every stack without a change set, and uploads nothing.
    let aws2 = Aws::from_config(aws_config_of(&endpoint));
    let ctx2 = context(&aws2, "dev", &assets);
    let started = std::time::Instant::now();
    assert_eq!(deploy::upload_code(&aws2, &assets, &code).await.unwrap(), (0, 1));
    let results = deploy::deploy_all(ctx2.clone(), plans.clone()).await.unwrap();
    // Reported for BENCHMARKS.md, never asserted.
    println!("no-op deploy wall time: {:?}", started.elapsed());
    assert!(results.iter().all(|r| r.action == Action::Unchanged), "{results:?}");
    assert_eq!(ctx2.change_sets_created(), 0);
    assert_eq!(aws2.calls().count("CloudFormation.CreateChangeSet"), 0);
    let calls = aws2.calls().snapshot();
    println!("no-op deploy of 3 stacks: {} calls {calls:?}", aws2.calls().total());

    // A one-line infrastructure change goes through a change set.
    let changed = deploy::plans(&app(5, false, true), &parameters(&assets, &code)).unwrap();
    let ctx3 = context(&aws, "dev", &assets);
    let results = deploy::deploy_all(ctx3.clone(), changed.clone()).await.unwrap();
    let worker = results.iter().find(|r| r.short_name == "worker").unwrap();
    assert_eq!(worker.action, Action::Updated);
    assert_eq!(ctx3.change_sets_created(), 1);
    assert!(results.iter().filter(|r| r.short_name != "worker").all(|r| r.action == Action::Unchanged));

    // A broken template fails, naming the resource and the reason, and changes nothing.
    let broken = deploy::plans(&app(5, true, true), &parameters(&assets, &code)).unwrap();
    let error = deploy::deploy_all(context(&aws, "dev", &assets), broken).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("brain2") || message.contains("moto-dev-worker"), "{message}");
    assert!(message.contains("Missing"), "the failing reference is named: {message}");

    // The worker stops importing the table's name while data drops nothing: no export trouble.
    // Then data stops exporting it too, in the same deploy: the importer is updated first or
    // the export is kept; either way the deploy succeeds and nothing is left stuck.
    let unimported = deploy::plans(&app(5, false, false), &parameters(&assets, &code)).unwrap();
    deploy::deploy_all(context(&aws, "dev", &assets), unimported).await.unwrap();

    // destroy deletes everything, dependents first, and reports what CloudFormation kept.
    let destroyed =
        xtask::operate::destroy(&context(&aws, "dev", &assets), &app(5, false, false), false).await.unwrap();
    assert_eq!(destroyed.deleted.len(), 3, "{destroyed:?}");
    let cfn = aws.cloudformation(None);
    for name in ["moto-dev-worker", "moto-dev-data", "brain2-dev-database"] {
        let state = xtask::aws::stack::describe(&cfn, name).await.unwrap();
        assert!(state.is_none_or(|s| s.status.as_str() == "DELETE_COMPLETE"), "{name} is still there");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// A stack in another region passes a value as an output parameter: deploy fills it from the
/// outputs of this run, or, deploying the consumer alone, from the producer as deployed; before
/// the producer exists it says which stack to deploy first.
#[tokio::test(flavor = "multi_thread")]
async fn output_parameters_are_filled_from_the_producer_across_regions() {
    let endpoint = xtask::moto::moto().endpoint.clone();
    let aws = aws(&endpoint);
    let environment = "outputs";
    let mut app = App::new("moto", environment).unwrap();
    let api = app.add_stack("api", "consumer, home region").unwrap();
    let site = app.add_stack("site", "producer, us-east-1").unwrap();
    app.set_stack_region(site, "us-east-1");
    let queue = app.add(site, "Jobs", brain2_iac::aws::sqs::Queue::new()).unwrap();
    app.add_output(site, "JobsUrl", queue.ref_(), "the queue's URL", false).unwrap();
    let url =
        app.add_output_parameter(api, "JobsUrl", site, "JobsUrl", brain2_iac::cfn::ParameterSpec::string()).unwrap();
    let tag = brain2_iac::aws::sqs::queue::Tag::new("jobs", url.ref_());
    app.add(api, "Mirror", brain2_iac::aws::sqs::Queue::new().tags(vec![tag])).unwrap();
    let synthesized = app.synth().unwrap();
    let plans = deploy::plans(&synthesized, &BTreeMap::new()).unwrap();
    let settings = || Settings::new(environment);
    let ctx = || Arc::new(Context::new(aws.clone(), settings(), None, Arc::new(|_| true)).unwrap());

    // The consumer alone, before the producer exists: the next command is named.
    let consumer_only: Vec<_> = plans.iter().filter(|p| p.short_name == "api").cloned().collect();
    let error = format!("{:#}", deploy::deploy_all(ctx(), consumer_only.clone()).await.unwrap_err());
    assert!(error.contains("moto-outputs-site") && error.contains("--stack site"), "{error}");

    // Both: the producer first (in us-east-1), then the consumer with its output.
    let results = deploy::deploy_all(ctx(), plans.clone()).await.unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.short_name.as_str()).collect();
    assert_eq!(names, ["site", "api"]);
    let site_stack = xtask::aws::stack::describe(&aws.cloudformation(Some("us-east-1")), "moto-outputs-site")
        .await
        .unwrap()
        .unwrap();
    let jobs_url = site_stack.output("JobsUrl").unwrap().to_owned();
    let api_stack = xtask::aws::stack::describe(&aws.cloudformation(None), "moto-outputs-api").await.unwrap().unwrap();
    assert_eq!(api_stack.parameters["JobsUrl"], jobs_url);

    // The consumer alone again: the value comes from the deployed producer, so nothing changes.
    let results = deploy::deploy_all(ctx(), consumer_only).await.unwrap();
    assert_eq!(results[0].action, Action::Unchanged, "{results:?}");

    let destroyed = xtask::operate::destroy(&ctx(), &synthesized, false).await.unwrap();
    assert_eq!(destroyed.deleted.len(), 2, "{destroyed:?}");
}

fn aws_config_of(endpoint: &str) -> SdkConfig {
    let credentials = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "moto");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(credentials))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn staging_refuses_to_destroy_prod_and_deploy_needs_bootstrap() {
    let aws = aws(&xtask::moto::moto().endpoint);
    let error = deploy::assets_bucket(&aws, "staging").await.unwrap_err().to_string();
    assert!(error.contains("cargo xtask bootstrap --env staging"), "{error}");
    let ctx = Context::new(aws.clone(), Settings::new("prod"), None, Arc::new(|_| true)).unwrap();
    let error = xtask::operate::destroy(&ctx, &app(0, false, true), false).await.unwrap_err().to_string();
    assert!(error.contains("--i-mean-prod"), "{error}");
}

/// Zips expire only when no live release uses them: deploy tags the others retired (the
/// bucket's lifecycle expires only those), keeps what is deployed and the two latest codes each
/// stack's releases name, and untags a retired zip that becomes live again. The records are
/// the ones deploy writes: every stack of the deploy, whether it changed or not.
#[tokio::test(flavor = "multi_thread")]
async fn only_zips_no_live_release_uses_are_retired() {
    use xtask::deploy::release::{self, Release, StackRelease};

    let aws = aws(&xtask::moto::moto().endpoint);
    let assets = xtask::operate::bootstrap_environment(&aws, "prod").await.unwrap();
    let s3 = aws.s3(Some(&assets.region));
    let zip = |name: &str| format!("functions/backend/{name}.zip");
    for name in ["a", "b", "c", "d"] {
        xtask::aws::assets::put(&s3, &assets.name, &zip(name), b"zip".to_vec(), "application/zip", None).await.unwrap();
    }
    let release = |id: &str, code: &str, site: &str| Release {
        id: id.to_owned(),
        created_at: id.to_owned(),
        environment: "prod".to_owned(),
        git_commit: None,
        stacks: [
            ("brain2-prod-compute", [("BackendCodeKey".to_owned(), zip(code))].into(), "eu-west-1"),
            ("brain2-prod-frontend", BTreeMap::new(), "us-east-1"),
        ]
        .into_iter()
        .map(|(stack, parameters, region)| {
            let stack_release =
                StackRelease { template_sha256: site.to_owned(), parameters, region: Some(region.to_owned()) };
            (stack.to_owned(), stack_release)
        })
        .collect(),
        rolled_back_to: None,
    };
    // Three codes of compute (a, b, c), then two deploys that changed only the frontend: they
    // record c again, and must not push b out of the live window.
    for record in [
        release("20261101T000000.000Z", "a", "site-1"),
        release("20261102T000000.000Z", "b", "site-1"),
        release("20261103T000000.000Z", "c", "site-1"),
        release("20261104T000000.000Z", "c", "site-2"),
        release("20261105T000000.000Z", "c", "site-3"),
    ] {
        release::record(&aws, &assets, &record).await.unwrap();
    }
    let deployed = vec![[("BackendCodeKey".to_owned(), zip("c"))].into()];
    let retired = |name: &str| {
        let (s3, bucket, key) = (s3.clone(), assets.name.clone(), zip(name));
        async move {
            xtask::aws::assets::has_tag(&s3, &bucket, &key, brain2_stacks::RELEASE_STATE_TAG, brain2_stacks::RETIRED)
                .await
                .unwrap()
        }
    };

    let first = release::retire_unreferenced(&aws, &assets, "prod", &deployed).await.unwrap();
    assert_eq!((first.retired, first.live, first.revived, first.already_retired), (2, 2, 0, 0), "{first:?}");
    for (name, expected) in [("a", true), ("b", false), ("c", false), ("d", true)] {
        assert_eq!(retired(name).await, expected, "{name}");
    }
    // Again: nothing changes.
    let again = release::retire_unreferenced(&aws, &assets, "prod", &deployed).await.unwrap();
    assert_eq!((again.retired, again.already_retired), (0, 2));

    // A rollback to a (a new release naming it) makes it live again; b leaves the window.
    release::record(&aws, &assets, &release("20261106T000000.000Z", "a", "site-3")).await.unwrap();
    let deployed = vec![[("BackendCodeKey".to_owned(), zip("a"))].into()];
    let after = release::retire_unreferenced(&aws, &assets, "prod", &deployed).await.unwrap();
    assert_eq!((after.revived, after.retired), (1, 1), "{after:?}");
    assert!(!retired("a").await && retired("b").await && !retired("c").await);
}

/// Which release a rollback goes back to by default: the newest whose code differs from the
/// deployed code, however many records since named the same code.
#[test]
fn rollback_goes_back_to_the_newest_other_code() {
    use xtask::deploy::release::{Release, StackRelease, previous_code};
    let release = |id: &str, code: &str| Release {
        id: id.to_owned(),
        created_at: id.to_owned(),
        environment: "prod".to_owned(),
        git_commit: None,
        stacks: [(
            "brain2-prod-compute".to_owned(),
            StackRelease {
                template_sha256: String::new(),
                parameters: [("BackendCodeKey".to_owned(), code.to_owned())].into(),
                region: None,
            },
        )]
        .into(),
        rolled_back_to: None,
    };
    let releases = [release("1", "a"), release("2", "b"), release("3", "b"), release("4", "b")];
    let deployed = |code: &str| {
        BTreeMap::from([(
            "brain2-prod-compute".to_owned(),
            BTreeMap::from([("BackendCodeKey".to_owned(), code.to_owned())]),
        )])
    };
    assert_eq!(previous_code(&releases, &deployed("b")).unwrap().id, "1");
    assert_eq!(previous_code(&releases, &deployed("a")).unwrap().id, "4", "after a rollback, back to b");
    assert!(previous_code(&releases[1..], &deployed("b")).is_none(), "no other code was ever released");

    // c, then a, then b, then a rollback to a: a second rollback goes on to c, never back to b.
    let mut rolled_back = release("4", "a");
    rolled_back.rolled_back_to = Some("2".to_owned());
    let history = [release("1", "c"), release("2", "a"), release("3", "b"), rolled_back];
    assert_eq!(previous_code(&history, &deployed("a")).unwrap().id, "1");
    assert!(previous_code(&history[1..], &deployed("a")).is_none(), "nothing before a but the abandoned b");
}

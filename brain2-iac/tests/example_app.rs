//! A small app built from every construct, synthesized and checked by cfn-lint: no errors and no
//! warnings. cfn-lint runs from the pinned virtualenv that `cargo xtask test` installs.

use std::path::PathBuf;
use std::process::Command;

use brain2_iac::aws::cloudfront::distribution::PriceClass;
use brain2_iac::cfn::{App, ParameterSpec, RemovalPolicy, StackId, Value, fns};
use brain2_iac::constructs::api::{Api, ApiProps, AuthorizerProps, CorsProps, Throttle};
use brain2_iac::constructs::events::{Delivery, EventBus, FunctionRule, pattern};
use brain2_iac::constructs::static_site::{BucketProps, StaticSite, StaticSiteProps, cloudfront_web_acl};
use brain2_iac::constructs::{
    AsyncFailure, CodeLocation, GlobalIndex, IndexProjection, Key, RustFunction, RustFunctionProps, Table, TableProps,
};

fn code_parameters(app: &mut App, stack: StackId, name: &str) -> CodeLocation {
    let bucket = app.add_parameter(stack, &format!("{name}CodeBucket"), ParameterSpec::string().min_length(3)).unwrap();
    let key = app
        .add_parameter(stack, &format!("{name}CodeKey"), ParameterSpec::string().allowed_pattern("^[A-Za-z0-9/._-]+$"))
        .unwrap();
    let sha = app
        .add_parameter(stack, &format!("{name}CodeSha256"), ParameterSpec::string().min_length(44).max_length(44))
        .unwrap();
    CodeLocation { bucket: bucket.ref_().into(), key: key.ref_().into(), sha256: sha.ref_().into() }
}

fn example_app() -> App {
    let mut app = App::new("example", "test").unwrap();
    let database = app.add_stack("database", "Tables").unwrap();
    let compute = app.add_stack("compute", "Functions and events").unwrap();
    let api = app.add_stack("api", "HTTP API").unwrap();
    let frontend = app.add_stack("frontend", "Site").unwrap();
    app.set_stack_region(frontend, "us-east-1");

    let mut table_props = TableProps::new(Key::string("id"));
    table_props.sort_key = Some(Key::string("sk"));
    table_props.global_indexes.push(GlobalIndex {
        name: "KeywordIndex".into(),
        partition_key: Key::string("keyword"),
        sort_key: None,
        projection: IndexProjection::KeysOnly,
    });
    table_props.time_to_live_attribute = Some("expiresAt".into());
    table_props.removal_policy = RemovalPolicy::Delete;
    table_props.deletion_protection = false;
    let table = Table::new(&mut app, database, "Items", table_props).unwrap();

    let prefix = app.prefix();
    let bus = EventBus::new(&mut app, compute, "Bus", format!("{prefix}-bus")).unwrap();
    let mut worker_props = RustFunctionProps::new("Handles events", code_parameters(&mut app, compute, "Worker"));
    worker_props.environment.insert("TABLE_NAME".into(), table.name().into());
    worker_props.log_retention_days = 14;
    let worker = RustFunction::new(&mut app, compute, "Worker", worker_props).unwrap();
    table.grant_read_write_data(&mut app, &worker).unwrap();
    bus.grant_put_events(&mut app, &worker).unwrap();
    FunctionRule::new(
        &mut app,
        compute,
        "OnCreated",
        &bus,
        pattern("example.api", &["Created"]),
        &worker,
        Delivery::default(),
    )
    .unwrap();

    let mut auth_props = RustFunctionProps::new("Checks tokens", code_parameters(&mut app, compute, "Auth"));
    auth_props.async_failure = AsyncFailure::SynchronousOnly;
    auth_props.provisioned_concurrency = 1;
    let authorizer_fn = RustFunction::new(&mut app, compute, "Auth", auth_props).unwrap();

    let props = |name: String| ApiProps {
        name: Value::from(name),
        description: "example".into(),
        throttle: Throttle { burst: 50, rate: 20.0 },
        cors: None,
        access_log_retention_days: 30,
        access_log_key: None,
    };
    let ws = Api::websocket(&mut app, compute, "Sockets", "live", props(format!("{prefix}-ws"))).unwrap();
    let ws_auth = ws
        .lambda_authorizer(
            &mut app,
            compute,
            "SocketsAuthorizer",
            &authorizer_fn,
            AuthorizerProps { identity_source: vec!["route.request.querystring.token".into()], cache_seconds: 0 },
        )
        .unwrap();
    let ws_integration = ws.lambda_integration(&mut app, compute, "SocketsWorker", &worker).unwrap();
    ws.add_route(&mut app, compute, "ConnectRoute", "$connect", &ws_integration, Some(&ws_auth)).unwrap();
    ws.grant_manage_connections(&mut app, &worker).unwrap();

    let mut http_props = props(format!("{prefix}-http"));
    http_props.cors = Some(CorsProps {
        allow_origins: vec![Value::from("http://localhost:5173")],
        allow_methods: vec!["GET".into(), "POST".into()],
        allow_headers: vec!["Content-Type".into(), "Authorization".into()],
        max_age_seconds: 86_400,
    });
    let http = Api::http(&mut app, api, "Http", http_props).unwrap();
    let http_auth = http
        .lambda_authorizer(
            &mut app,
            api,
            "HttpAuthorizer",
            &authorizer_fn,
            AuthorizerProps { identity_source: vec!["$request.header.Authorization".into()], cache_seconds: 300 },
        )
        .unwrap();
    let backend = http.lambda_integration(&mut app, api, "Backend", &worker).unwrap();
    http.add_route(&mut app, api, "ProxyRoute", "ANY /api/{proxy+}", &backend, Some(&http_auth)).unwrap();
    http.add_route(&mut app, api, "HealthRoute", "GET /health", &backend, None).unwrap();
    app.add_output(api, "HttpUrl", http.url(), "HTTP API", false).unwrap();
    app.add_output(compute, "SocketUrl", ws.url(), "WebSocket API", false).unwrap();

    let acl = cloudfront_web_acl(&mut app, frontend, "SiteAcl", 2_000).unwrap();
    let logs = brain2_iac::constructs::static_site::PrivateBucket::new(
        &mut app,
        frontend,
        "Logs",
        BucketProps { for_cloudfront_logs: true, expiry_days: Some(90), ..BucketProps::default() },
    )
    .unwrap();
    let site = StaticSite::new(
        &mut app,
        frontend,
        "Site",
        StaticSiteProps {
            bucket: BucketProps { versioned: true, ..BucketProps::default() },
            price_class: PriceClass::PriceClass100,
            web_acl_arn: Some(acl.arn().into()),
            log_bucket: Some(logs.bucket.clone()),
            comment: "example site".into(),
            content_security_policy: brain2_iac::constructs::static_site::content_security_policy(&[
                "https://api.example.com".into(),
            ]),
            domain: None,
        },
    )
    .unwrap();
    app.add_output(frontend, "SiteUrl", site.url(), "Site", false).unwrap();
    app.add_output(frontend, "BucketName", fns::join("", [site.bucket.name()]), "", false).unwrap();
    app
}

fn cfn_lint() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/py-tools/bin/cfn-lint");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo xtask test`, which installs the pinned cfn-lint",
        path.display()
    );
    path
}

#[test]
fn the_example_app_passes_cfn_lint_without_errors_or_warnings() {
    let synthesized = example_app().synth().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for stack in &synthesized.stacks {
        let path = dir.path().join(format!("{}.template.json", stack.name));
        std::fs::write(&path, &stack.template).unwrap();
        files.push(path);
    }
    let output = Command::new(cfn_lint()).arg("--format").arg("parseable").args(&files).output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    // cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
    let code = output.status.code().unwrap_or(-1);
    assert!(
        code & 0b110 == 0 && code >= 0,
        "cfn-lint found problems (exit {code}):\n{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_example_app_wires_stacks_in_order_and_scopes_grants() {
    let synthesized = example_app().synth().unwrap();
    let order: Vec<&str> = synthesized.stacks.iter().map(|s| s.short_name.as_str()).collect();
    assert_eq!(order, ["database", "compute", "api", "frontend"]);
    let compute: serde_json::Value = serde_json::from_str(&synthesized.stack("compute").unwrap().template).unwrap();
    let statements = &compute["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    let text = statements.to_string();
    assert!(!text.contains("\"*\""), "no wildcard in grants: {text}");
    assert!(text.contains("example-test-database:Items:Arn"), "table grants import the table ARN: {text}");
    assert!(text.contains("/index/KeywordIndex"), "grants name each index: {text}");
    assert!(!text.contains("dynamodb:Scan"));
}

#[test]
fn a_function_can_only_be_said_to_call_its_own_variables() {
    let mut app = App::new("example", "test").unwrap();
    let compute = app.add_stack("compute", "Functions").unwrap();
    let mut props = RustFunctionProps::new("Fetches keys", code_parameters(&mut app, compute, "Fetcher"));
    props.environment.insert("KEYS_URL".to_owned(), "https://example.com/keys".into());
    props.calls = vec!["KEYS_URI".to_owned()];
    let error = RustFunction::new(&mut app, compute, "Fetcher", props.clone()).unwrap_err().to_string();
    assert!(error.contains("Fetcher") && error.contains("KEYS_URI"), "{error}");

    props.calls = vec!["KEYS_URL".to_owned()];
    let function = RustFunction::new(&mut app, compute, "Fetcher", props).unwrap();
    let template: serde_json::Value = serde_json::from_str(&app.synth().unwrap().stacks[0].template).unwrap();
    let id = format!("{}Function", function.id);
    assert_eq!(template["Resources"][&id]["Metadata"]["brain2:calls"], serde_json::json!(["KEYS_URL"]));
}

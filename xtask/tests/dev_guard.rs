//! The local Brain2 guards its machine and enforces IAM as AWS does. With `cargo xtask dev`
//! running:
//! - a page from another origin, in headless Chromium, tries what an open emulator allowed:
//!   read the sign-in's signing secret, wipe the state, create and run a function, call the API
//!   and the WebSocket, read `config.json`, sign up; every attempt is refused and leaves no trace;
//! - the same over plain HTTP: unsigned, signed with a wrong key or with function credentials
//!   computed from a guessed account, a foreign Host (DNS rebinding), the admin paths;
//! - a function's Lambda Runtime API (a loopback port of its own) answers no page: the backend
//!   keeps answering while a page asks that port for its next event;
//! - the functions run as their execution roles: with one grant removed from the backend's role
//!   (a variant of the deployed compute stack), listing memories fails with AccessDenied, and
//!   dev's log names the function, the action and the resource.

mod support;

use std::io::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use support::browser::Driver;
use support::dev::{Dev, free_port_pair, sign_up, temporary_folder};

/// A `provided.al2023` function whose bootstrap writes `marker`: what a page could run on this
/// machine through an open emulator.
fn create_function_body(marker: &std::path::Path) -> String {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    zip.start_file("bootstrap", options).unwrap();
    write!(zip, "#!/bin/sh\ntouch {}\n", marker.display()).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    use base64::Engine as _;
    json!({
        "FunctionName": "pwned",
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Role": "arn:aws:iam::000000000000:role/any",
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(bytes) },
    })
    .to_string()
}

/// The page another site would serve: each attempt's outcome lands in `window.results`.
fn attacker_page(dev: &Dev, create_function: &str, token: &str) -> String {
    let emulator = &dev.running.emulator_url;
    let api = dev.running.http_api_url.trim_end_matches('/');
    let socket = format!("{}?token={token}", dev.running.web_socket_url);
    let site = dev.running.site_url.trim_end_matches('/');
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>another site</title><script>
const E = {emulator:?}, API = {api:?}, WS = {socket:?}, SITE = {site:?};
const CREATE = {create_function};
const results = {{}};
async function attempt(name, run) {{
  try {{ results[name] = await run(); }} catch (e) {{ results[name] = 'blocked: ' + e; }}
}}
async function read(response) {{
  return response.type === 'opaque' ? 'opaque' : response.status + ' ' + (await response.text());
}}
(async () => {{
  const json = {{ 'Content-Type': 'application/x-amz-json-1.1' }};
  await attempt('listSecrets', async () => read(await fetch(E + '/', {{ method: 'POST',
    headers: {{ ...json, 'X-Amz-Target': 'secretsmanager.ListSecrets' }}, body: '{{}}' }})));
  await attempt('getSecretNoCors', async () => read(await fetch(E + '/', {{ method: 'POST', mode: 'no-cors',
    headers: {{ 'Content-Type': 'text/plain' }}, body: JSON.stringify({{ SecretId: 'brain2-dev-local-signin-jwt' }}) }})));
  await attempt('reset', async () => read(await fetch(E + '/_ministack/reset', {{ method: 'POST', mode: 'no-cors' }})));
  await attempt('createFunction', async () => read(await fetch(E + '/2015-03-31/functions', {{ method: 'POST',
    mode: 'no-cors', headers: {{ 'Content-Type': 'text/plain' }}, body: JSON.stringify(CREATE) }})));
  await attempt('invokeFunction', async () => read(await fetch(E + '/2015-03-31/functions/pwned/invocations',
    {{ method: 'POST', mode: 'no-cors', body: '{{}}' }})));
  await attempt('api', async () => read(await fetch(API + '/api/nodes')));
  await attempt('apiNoCors', async () => read(await fetch(API + '/api/nodes', {{ mode: 'no-cors' }})));
  await attempt('webSocket', () => new Promise(done => {{
    const socket = new WebSocket(WS);
    socket.onopen = () => {{ done('open'); socket.close(); }};
    socket.onerror = () => done('blocked: error');
    setTimeout(() => done('blocked: timeout'), 5000);
  }}));
  await attempt('config', async () => read(await fetch(SITE + '/config.json')));
  await attempt('signUp', async () => read(await fetch(SITE + '/auth/v1/signup', {{ method: 'POST', mode: 'no-cors',
    headers: {{ 'Content-Type': 'text/plain' }}, body: JSON.stringify({{ email: 'evil@example.com', password: 'a long enough password' }}) }})));
  window.results = results;
}})();
</script>"#,
        create_function = serde_json::to_string(create_function).unwrap(),
    )
}

/// Serves `page` at `/` on a free loopback port: another origin than the site's.
async fn serve_page(page: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(page) }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/")
}

fn refused(dev: &Dev, fragment: &str) -> bool {
    dev.log().lines().any(|line| line.starts_with("guard: refused") && line.contains(fragment))
}

/// Function credentials as MiniStack (`AUTH=true`) derives them from the function's and role's
/// ARNs (version 1 of the function) in `account`.
async fn computed_function_keys(aws: &xtask::aws::Aws, region: &str, account: &str) -> (String, String, String) {
    use sha2::Digest as _;
    let physical = |id: &'static str| async move {
        let cfn = aws.cloudformation(None);
        let found = cfn.describe_stack_resource().stack_name("brain2-dev-compute").logical_resource_id(id).send().await;
        found.unwrap().stack_resource_detail().unwrap().physical_resource_id().unwrap().to_owned()
    };
    let (function, role) = (physical("BackendFunction").await, physical("BackendRole").await);
    let function = format!("arn:aws:lambda:{region}:{account}:function:{function}:1");
    let role = format!("arn:aws:iam::{account}:role/{role}");
    let digest = format!("{:x}", sha2::Sha256::digest(format!("{function}:{role}")));
    let access_key = format!("ASIA{}", digest[..16].to_uppercase());
    let secret = format!("{:x}", sha2::Sha256::digest(format!("secret:{digest}")));
    let token = format!("{:x}", sha2::Sha256::digest(format!("token:{digest}")));
    (access_key, secret, token)
}

#[test]
fn pages_and_strangers_are_refused_and_functions_run_as_their_roles() {
    let data = temporary_folder("guard");
    let port = free_port_pair();
    let dev = Dev::start(port, &data);
    let marker = data.join("pwned");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let ada = sign_up(&http, &dev, "ada@example.com").await;
        let memory = http
            .post(format!("{}/api/nodes", dev.http_api()))
            .bearer_auth(&ada.token)
            .json(&json!({ "content": "guarded memories survive hostile pages" }))
            .send()
            .await
            .unwrap();
        assert_eq!(memory.status(), 201);
        let aws = dev.running.aws().await.unwrap();
        let lambda_before = functions(&aws).await;

        // 1. A page on another origin, in a real browser.
        let page = serve_page(attacker_page(&dev, &create_function_body(&marker), &ada.token)).await;
        let driver = Driver::start();
        let browser = driver.browser(&data.join("profile")).await;
        browser.client.goto(&page).await.unwrap();
        browser.until("the page's attempts", "window.results !== undefined").await;
        let results = browser.eval("return window.results;").await;
        println!("the page's attempts: {results:#}");
        for (name, outcome) in results.as_object().unwrap() {
            let outcome = outcome.as_str().unwrap_or_default();
            // A no-cors request is sent, and its answer hidden from the page: the guard's log
            // below shows that it refused it. Everything else must fail in the page itself.
            assert!(
                outcome.starts_with("blocked") || outcome == "opaque",
                "{name}: the page got an answer: {outcome}"
            );
        }
        for fragment in [
            "POST /_ministack/reset",
            "POST /2015-03-31/functions: AWS APIs answer no browser",
            "POST /2015-03-31/functions/pwned/invocations",
            "origin http://127.0.0.1",
            "a browser request without the site's Origin",
        ] {
            assert!(refused(&dev, fragment), "no refusal of {fragment:?} in dev's log:\n{}", dev.log());
        }
        // CORS preflights of the AWS APIs are refused too (the page never gets to send them).
        assert!(refused(&dev, "OPTIONS /: AWS APIs answer no browser"), "{}", dev.log());

        // The backend's Lambda Runtime API (MiniStack serves one per function process, on a
        // loopback port of its own): a page that finds it must not take the backend's events.
        let runtime_api = runtime_api_of(&data, "BackendFunction").expect("the backend's process and its Runtime API");
        let next = format!("http://{runtime_api}/2018-06-01/runtime/invocation/next");
        browser
            .eval(&format!("for (let i = 0; i < 3; i++) fetch({next:?}, {{ mode: 'no-cors' }}).catch(() => {{}}); return true;"))
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        for attempt in 0..3 {
            let list = http
                .get(format!("{}/api/nodes", dev.http_api()))
                .bearer_auth(&ada.token)
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .unwrap();
            assert_eq!(list.status(), 200, "request {attempt} after the page's /next");
        }
        let from_a_page = http.get(&next).header("origin", "https://evil.example").send().await.unwrap();
        assert_eq!(from_a_page.status(), 403, "the Runtime API answered a page");
        let rebound = http.get(&next).header("host", "evil.example").send().await.unwrap();
        assert_eq!(rebound.status(), 403, "the Runtime API answered a foreign Host");

        // 2. The same over plain HTTP.
        let emulator = &dev.running.emulator_url;
        let target = [("x-amz-target", "secretsmanager.ListSecrets"), ("content-type", "application/x-amz-json-1.1")];
        let unsigned = send(&http, emulator, "/", None, &target).await;
        assert_eq!(unsigned.0, 403, "{unsigned:?}");
        assert!(unsigned.1.contains("unsigned"), "{unsigned:?}");
        let fake_signature = ("authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20261203/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00");
        let rebound = send(&http, emulator, "/", Some("brain2.attacker.example"), &[fake_signature]).await;
        assert_eq!(rebound.0, 403, "{rebound:?}");
        assert!(rebound.1.contains("foreign Host"), "{rebound:?}");
        for path in ["/_ministack/reset", "/_ministack/health", "/health", "/_aws/sqs/messages", "/%5Fministack/reset"] {
            let admin = send(&http, emulator, path, None, &[fake_signature]).await;
            assert_eq!(admin.0, 403, "{path}: {admin:?}");
        }
        // Not behind an API's name either: MiniStack answers its own paths whatever the Host.
        let api_host = dev.running.http_api_url.trim_start_matches("http://").split(':').next().unwrap().to_owned();
        let reset = send(&http, emulator, "/_ministack/reset", Some(&api_host), &[]).await;
        assert_eq!(reset.0, 403, "a reset under the API's Host name: {reset:?}");
        let with_origin = send(&http, emulator, "/", None, &[fake_signature, ("origin", "https://evil.example")]).await;
        assert_eq!(with_origin.0, 403, "{with_origin:?}");
        // Signed, but not by the folder's root nor by a function of its account.
        let wrong_key = xtask::aws::Aws::with_keys(emulator, &dev.running.region, "AKIAWRONGWRONGWRONG1", "wrong").await;
        let denied = wrong_key.secretsmanager().list_secrets().send().await;
        assert!(denied.is_err(), "a wrong key listed the secrets: {denied:?}");
        // The derivation is right: with the folder's real account it gives the backend's own
        // session (authenticated, and denied what its role does not grant). With the account a
        // stranger would guess, MiniStack's default, the same derivation is not recognised.
        let region = &dev.running.region;
        let real = xtask::dev::credentials::Credentials::load(&data).unwrap().account_id;
        let (key, secret, token) = computed_function_keys(&aws, region, &real).await;
        let backend = xtask::aws::Aws::with_session(emulator, region, &key, &secret, &token).await;
        let error = backend.secretsmanager().list_secrets().send().await.unwrap_err();
        assert_eq!(xtask::aws::errors::code(&error), Some("AccessDeniedException"), "{error:?}");
        let (key, secret, token) = computed_function_keys(&aws, region, "000000000000").await;
        let guessed = xtask::aws::Aws::with_session(emulator, region, &key, &secret, &token).await;
        let error = guessed.secretsmanager().list_secrets().send().await.unwrap_err();
        let code = xtask::aws::errors::code(&error);
        assert!(
            matches!(code, Some("UnrecognizedClientException" | "InvalidClientTokenId")),
            "credentials computed for a guessed account: {error:?}"
        );

        // No trace: no function, no reset, the marker never written, no user signed up.
        let evil = http
            .post(format!("{}/token?grant_type=password", dev.running.signin_url))
            .header("apikey", &dev.running.anon_key)
            .json(&json!({ "email": "evil@example.com", "password": "a long enough password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(evil.status(), 400, "the page signed a user up");
        assert_eq!(functions(&aws).await, lambda_before);
        assert!(!marker.exists(), "the page's function ran on this machine");
        let list = http.get(format!("{}/api/nodes", dev.http_api())).bearer_auth(&ada.token).send().await.unwrap();
        assert_eq!(list.status(), 200);
        let listed: Value = list.json().await.unwrap();
        assert_eq!(listed["nodes"].as_array().map(Vec::len), Some(1), "{listed}");

        // 3. IAM, enforced: the backend's role without dynamodb:Query.
        let compute = "brain2-dev-compute";
        let cfn = aws.cloudformation(None);
        let template = cfn.get_template().stack_name(compute).send().await.unwrap();
        let mut template: Value = serde_json::from_str(template.template_body().unwrap()).unwrap();
        let removed = remove_action(&mut template["Resources"]["BackendRole"], "dynamodb:Query");
        assert!(removed, "BackendRole grants dynamodb:Query");
        let deployed = xtask::aws::stack::describe(&cfn, compute).await.unwrap().unwrap();
        let parameters: Vec<_> = deployed
            .parameters
            .keys()
            .map(|key| {
                aws_sdk_cloudformation::types::Parameter::builder().parameter_key(key).use_previous_value(true).build()
            })
            .collect();
        cfn.update_stack()
            .stack_name(compute)
            .template_body(template.to_string())
            .set_parameters(Some(parameters))
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
            .send()
            .await
            .unwrap();
        wait_for_update(&cfn, compute).await;
        let list = http.get(format!("{}/api/nodes", dev.http_api())).bearer_auth(&ada.token).send().await.unwrap();
        assert_eq!(list.status(), 500, "listing without dynamodb:Query");
        let denial = eventually_in_log(&dev, "DENIED dynamodb:Query on arn:aws:dynamodb:").await;
        println!("dev printed: {denial}");
        assert!(denial.contains("backend"), "the denial names the function: {denial}");
    });
}

/// `host:port` of the Runtime API of the function process whose name contains `function`.
fn runtime_api_of(data: &std::path::Path, function: &str) -> Option<String> {
    support::dev::processes_mentioning(&data.display().to_string()).into_iter().find_map(|(pid, _)| {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let variables: Vec<String> =
            environ.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        let named = variables.iter().any(|v| v.starts_with("AWS_LAMBDA_FUNCTION_NAME=") && v.contains(function));
        let api = variables.iter().find_map(|v| v.strip_prefix("AWS_LAMBDA_RUNTIME_API=").map(str::to_owned));
        if named { api } else { None }
    })
}

async fn functions(aws: &xtask::aws::Aws) -> Vec<String> {
    let cfn = aws.cloudformation(None);
    let resources = cfn.describe_stack_resources().stack_name("brain2-dev-compute").send().await.unwrap();
    let mut names: Vec<String> = resources
        .stack_resources()
        .iter()
        .filter(|r| r.resource_type() == Some("AWS::Lambda::Function"))
        .filter_map(|r| r.physical_resource_id().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// One raw request to the guard: status and body.
async fn send(
    http: &reqwest::Client,
    emulator: &str,
    path: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = http.post(format!("{emulator}{path}")).body("{}");
    if let Some(host) = host {
        let port = emulator.rsplit(':').next().unwrap();
        request = request.header("host", format!("{host}:{port}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

/// Removes `action` from every statement of a role's inline policies; whether it was there.
fn remove_action(role: &mut Value, action: &str) -> bool {
    let mut removed = false;
    for policy in role["Properties"]["Policies"].as_array_mut().into_iter().flatten() {
        for statement in policy["PolicyDocument"]["Statement"].as_array_mut().into_iter().flatten() {
            if let Some(actions) = statement["Action"].as_array_mut() {
                let before = actions.len();
                actions.retain(|a| a != action);
                removed |= actions.len() != before;
            }
        }
    }
    removed
}

async fn wait_for_update(cfn: &aws_sdk_cloudformation::Client, stack: &str) {
    for _ in 0..600 {
        let described = cfn.describe_stacks().stack_name(stack).send().await.unwrap();
        let status = described.stacks()[0].stack_status().unwrap().as_str().to_owned();
        if status == "UPDATE_COMPLETE" {
            return;
        }
        assert!(!status.contains("FAILED") && !status.contains("ROLLBACK"), "{stack}: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{stack} did not finish updating within 60 s");
}

async fn eventually_in_log(dev: &Dev, fragment: &str) -> String {
    for _ in 0..100 {
        if let Some(line) = dev.log().lines().find(|line| line.contains(fragment)) {
            return line.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("dev's log never said {fragment:?}:\n{}", dev.log());
}

//! The HTTP API's contract. The committed OpenAPI document and WebSocket message schema are what
//! brain2-api's types generate, and the running API answers as the document says: schemathesis
//! (pinned in xtask/python-requirements.txt), with every check it has enabled, against
//! `cargo xtask dev` (the backend on the emulator's DynamoDB, behind its API Gateway and the
//! authorizer).

mod support;

use std::process::Command;

use support::dev::{Dev, free_port_pair, sign_up, temporary_folder};

/// Examples per operation and phase: enough to reach every rule, bounded for CI (the whole run
/// takes about half a minute against the emulator).
const MAX_EXAMPLES: &str = "15";
/// A fixed seed: a failure found once is found again.
const SEED: &str = "20261130";

#[test]
fn the_committed_schemas_are_what_the_types_generate() {
    let workspace = xtask::workspace_root();
    for (relative, generated) in xtask::commands::schema::generated() {
        let committed = std::fs::read_to_string(workspace.join(relative)).unwrap_or_default();
        assert!(committed == generated, "{relative} is stale: run `cargo xtask schema` and commit it");
    }
}

#[test]
fn the_running_api_answers_as_its_openapi_document_says() {
    let workspace = xtask::workspace_root();
    let schemathesis = xtask::pytools::bin(&workspace, "schemathesis");
    assert!(schemathesis.exists(), "{} is missing: run `cargo xtask py-tools`", schemathesis.display());
    let data = temporary_folder("api-contract");
    let dev = Dev::start(free_port_pair(), &data);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let user = runtime.block_on(sign_up(&reqwest::Client::new(), &dev, "contract@example.com"));
    let output = Command::new(&schemathesis)
        .arg("run")
        .arg(workspace.join("docs/api/openapi.json"))
        .args(["--url", &dev.http_api()])
        .args(["--header", &format!("Authorization: Bearer {}", user.token)])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", SEED, "--no-color"])
        // Its caches go with the run's data, not into the workspace.
        .current_dir(&data)
        .output()
        .expect("running schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found responses that break docs/api/openapi.json (above)");
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(xtask::workspace_root().join("docs/api/openapi.json")).unwrap()).unwrap();
    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|path| path.as_object().unwrap().keys().filter(|key| METHODS.contains(&key.as_str())).count())
        .sum();
    assert!(
        report.contains(&format!("{operations} selected / {operations} total")),
        "every one of the {operations} operations was tested"
    );
}

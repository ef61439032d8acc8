//! Failure paths of deploy, replayed offline from recorded CloudFormation responses (the
//! query-protocol XML AWS sends), because moto never produces them: a failed update rolled
//! back, a failed first creation (ROLLBACK_COMPLETE), a refused replacement, an export still in
//! use, throttling and expired credentials. Each test also checks the exact call sequence.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use xtask::aws::Aws;
use xtask::deploy::apply::{self, Action, ReplacementRefused, StackFailed};
use xtask::deploy::{Context, Settings, StackPlan};

const STACK: &str = "brain2-staging-database";
const STACK_ID: &str = "arn:aws:cloudformation:eu-west-1:111122223333:stack/brain2-staging-database/1";

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn ok(action: &str, result: &str) -> ReplayEvent {
    let body = format!(
        "<{action}Response xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
         <{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>r-{action}</RequestId></ResponseMetadata></{action}Response>"
    );
    event(200, body)
}

fn error(status: u16, code: &str, message: &str) -> ReplayEvent {
    let body = format!(
        "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>r-error</RequestId></ErrorResponse>"
    );
    event(status, body)
}

fn event(status: u16, body: String) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder().uri("https://cloudformation.eu-west-1.amazonaws.com/").body(SdkBody::empty()).unwrap(),
        http::Response::builder().status(status).header("content-type", "text/xml").body(SdkBody::from(body)).unwrap(),
    )
}

fn stack(status: &str, outputs: &str) -> ReplayEvent {
    ok(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackId>{STACK_ID}</StackId><StackName>{STACK}</StackName>\
             <CreationTime>2026-11-01T00:00:00Z</CreationTime><StackStatus>{status}</StackStatus>\
             <Parameters/><Tags><member><Key>app</Key><Value>brain2</Value></member></Tags>\
             <Outputs>{outputs}</Outputs></member></Stacks>"
        ),
    )
}

fn template(body: &serde_json::Value) -> ReplayEvent {
    ok("GetTemplate", &format!("<TemplateBody>{}</TemplateBody>", xml_escape(&body.to_string())))
}

fn events(list: &[(&str, &str, &str, &str)]) -> ReplayEvent {
    let members: String = list
        .iter()
        .map(|(id, logical, status, reason)| {
            let resource_type = if *logical == STACK { "AWS::CloudFormation::Stack" } else { "AWS::DynamoDB::Table" };
            format!(
                "<member><EventId>{id}</EventId><StackId>{STACK_ID}</StackId><StackName>{STACK}</StackName>\
                 <LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{resource_type}</ResourceType>\
                 <Timestamp>2026-11-28T00:00:00Z</Timestamp><ResourceStatus>{status}</ResourceStatus>\
                 <ResourceStatusReason>{reason}</ResourceStatusReason></member>"
            )
        })
        .collect();
    ok("DescribeStackEvents", &format!("<StackEvents>{members}</StackEvents>"))
}

fn change_set_created() -> ReplayEvent {
    ok("CreateChangeSet", &format!("<Id>{STACK_ID}:changeSet/c1</Id><StackId>{STACK_ID}</StackId>"))
}

fn change_set(changes: &str) -> ReplayEvent {
    ok(
        "DescribeChangeSet",
        &format!(
            "<Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus><Changes>{changes}</Changes>"
        ),
    )
}

fn table_change(replacement: &str) -> String {
    format!(
        "<member><Type>Resource</Type><ResourceChange><Action>Modify</Action><LogicalResourceId>MemoryTable</LogicalResourceId>\
         <ResourceType>AWS::DynamoDB::Table</ResourceType><Replacement>{replacement}</Replacement>\
         <Details><member><Target><Attribute>Properties</Attribute><Name>KeySchema</Name>\
         <RequiresRecreation>Always</RequiresRecreation></Target></member></Details></ResourceChange></member>"
    )
}

fn desired() -> serde_json::Value {
    serde_json::json!({ "Resources": { "MemoryTable": { "Type": "AWS::DynamoDB::Table", "Properties": {
        "KeySchema": [{ "AttributeName": "PK", "KeyType": "HASH" }] } } } })
}

fn plan() -> StackPlan {
    let resource_types = BTreeMap::from([("MemoryTable".to_owned(), "AWS::DynamoDB::Table".to_owned())]);
    StackPlan {
        name: STACK.to_owned(),
        short_name: "database".to_owned(),
        region: None,
        template: serde_json::to_string_pretty(&desired()).unwrap(),
        tags: BTreeMap::from([("app".to_owned(), "brain2".to_owned())]),
        parameters: BTreeMap::new(),
        output_parameters: BTreeMap::new(),
        depends_on: Vec::new(),
        stateful: BTreeSet::from(["MemoryTable".to_owned()]),
        resource_types,
    }
}

/// A stack deployed with `deployed`, up to the change set that lists `changes`.
fn up_to_a_change_set(deployed: &serde_json::Value, changes: &str) -> Vec<ReplayEvent> {
    vec![
        stack("UPDATE_COMPLETE", ""),
        template(deployed),
        events(&[("e0", STACK, "UPDATE_COMPLETE", "")]),
        change_set_created(),
        change_set(""),
        change_set(changes),
    ]
}

/// A deployed table whose KeySchema the new template changes, up to the change set that shows
/// its replacement.
fn up_to_a_table_replacement() -> Vec<ReplayEvent> {
    let old = serde_json::json!({ "Resources": { "MemoryTable": { "Type": "AWS::DynamoDB::Table", "Properties": {
        "KeySchema": [{ "AttributeName": "id", "KeyType": "HASH" }] } } } });
    up_to_a_change_set(&old, &table_change("True"))
}

fn then(mut events: Vec<ReplayEvent>, more: impl IntoIterator<Item = ReplayEvent>) -> Vec<ReplayEvent> {
    events.extend(more);
    events
}

fn replay(environment: &str, events: Vec<ReplayEvent>) -> (Context, StaticReplayClient) {
    replay_with(Settings::new(environment), events)
}

fn replay_with(settings: Settings, events: Vec<ReplayEvent>) -> (Context, StaticReplayClient) {
    let client = StaticReplayClient::new(events);
    let credentials = aws_sdk_s3::config::Credentials::new("AKIDEXAMPLE", "secret", None, None, "replay");
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url("https://cloudformation.eu-west-1.amazonaws.com")
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(credentials))
        .http_client(client.clone())
        .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)))
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().unwrap())
        .build();
    let ctx = Context::new(Aws::from_config(config), settings, None, Arc::new(|_| true)).unwrap();
    (ctx, client)
}

/// The `Action` of every request made, in order.
fn actions(client: &StaticReplayClient) -> Vec<String> {
    client
        .actual_requests()
        .map(|r| {
            let body = String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).to_string();
            body.split('&').find_map(|p| p.strip_prefix("Action=")).unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_failed_update_names_the_first_failing_resource_and_what_to_do() {
    let old = serde_json::json!({ "Resources": {} });
    let (ctx, client) = replay(
        "staging",
        then(
            up_to_a_change_set(
                &old,
                "<member><Type>Resource</Type><ResourceChange><Action>Add</Action><LogicalResourceId>MemoryTable</LogicalResourceId><ResourceType>AWS::DynamoDB::Table</ResourceType></ResourceChange></member>",
            ),
            [
                ok("ExecuteChangeSet", ""),
                stack("UPDATE_ROLLBACK_COMPLETE", ""),
                events(&[
                    ("e4", STACK, "UPDATE_ROLLBACK_COMPLETE", ""),
                    ("e3", "MemoryTable", "CREATE_FAILED", "Resource creation cancelled"),
                    ("e2", "MemoryTable", "CREATE_FAILED", "Table already exists: brain2-staging-memory"),
                    ("e1", STACK, "UPDATE_IN_PROGRESS", "User Initiated"),
                    ("e0", STACK, "UPDATE_COMPLETE", ""),
                ]),
            ],
        ),
    );
    let error = apply::deploy_stack(&ctx, &plan()).await.unwrap_err();
    let failed = error.downcast_ref::<StackFailed>().expect("a StackFailed");
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.logical_id, "MemoryTable");
    assert_eq!(failure.reason, "Table already exists: brain2-staging-memory");
    let text = error.to_string();
    assert!(text.contains("UPDATE_ROLLBACK_COMPLETE") && text.contains("previous template"), "{text}");
    assert_eq!(
        actions(&client),
        [
            "DescribeStacks",
            "GetTemplate",
            "DescribeStackEvents",
            "CreateChangeSet",
            "DescribeChangeSet",
            "DescribeChangeSet",
            "ExecuteChangeSet",
            "DescribeStacks",
            "DescribeStackEvents"
        ]
    );
}

/// CloudFormation can report the final status before it lists the events that explain it; the
/// watch reads on until the stack's own final event is there, so the failure is not lost.
#[tokio::test]
async fn events_listed_after_the_final_status_are_still_read() {
    let old = serde_json::json!({ "Resources": {} });
    let (ctx, client) = replay(
        "staging",
        then(
            up_to_a_change_set(
                &old,
                "<member><Type>Resource</Type><ResourceChange><Action>Add</Action><LogicalResourceId>MemoryTable</LogicalResourceId><ResourceType>AWS::DynamoDB::Table</ResourceType></ResourceChange></member>",
            ),
            [
                ok("ExecuteChangeSet", ""),
                stack("UPDATE_ROLLBACK_COMPLETE", ""),
                events(&[("e1", STACK, "UPDATE_IN_PROGRESS", "User Initiated"), ("e0", STACK, "UPDATE_COMPLETE", "")]),
                stack("UPDATE_ROLLBACK_COMPLETE", ""),
                events(&[
                    ("e3", STACK, "UPDATE_ROLLBACK_COMPLETE", ""),
                    ("e2", "MemoryTable", "CREATE_FAILED", "Table already exists: brain2-staging-memory"),
                    ("e1", STACK, "UPDATE_IN_PROGRESS", "User Initiated"),
                ]),
            ],
        ),
    );
    let error = apply::deploy_stack(&ctx, &plan()).await.unwrap_err();
    let failed = error.downcast_ref::<StackFailed>().expect("a StackFailed");
    assert_eq!(failed.failure.as_ref().unwrap().reason, "Table already exists: brain2-staging-memory");
    let sent = actions(&client);
    assert_eq!(
        sent[sent.len() - 4..],
        ["DescribeStacks", "DescribeStackEvents", "DescribeStacks", "DescribeStackEvents"]
    );
}

/// A stack whose first creation failed holds nothing: deploy says so, deletes it and creates it
/// again, in every environment (prod after its confirmation, with its stack policy).
#[tokio::test]
async fn rollback_complete_is_deleted_and_created_again_in_every_environment() {
    for environment in ["dev", "staging", "prod"] {
        let (ctx, client) = replay(
            environment,
            vec![
                stack("ROLLBACK_COMPLETE", ""),
                events(&[("e1", STACK, "ROLLBACK_COMPLETE", "")]),
                ok("DeleteStack", ""),
                stack("DELETE_COMPLETE", ""),
                events(&[("e2", STACK, "DELETE_COMPLETE", ""), ("e1", STACK, "ROLLBACK_COMPLETE", "")]),
                ok("CreateStack", &format!("<StackId>{STACK_ID}2</StackId>")),
                stack("CREATE_COMPLETE", ""),
                events(&[("f2", STACK, "CREATE_COMPLETE", ""), ("f1", "MemoryTable", "CREATE_COMPLETE", "")]),
                stack("CREATE_COMPLETE", ""),
            ],
        );
        let result = apply::deploy_stack(&ctx, &plan()).await.unwrap();
        assert_eq!(result.action, Action::Created, "{environment}");
        assert_eq!(
            actions(&client),
            [
                "DescribeStacks",
                "DescribeStackEvents",
                "DeleteStack",
                "DescribeStacks",
                "DescribeStackEvents",
                "CreateStack",
                "DescribeStacks",
                "DescribeStackEvents",
                "DescribeStacks"
            ],
            "{environment}"
        );
    }
}

/// A first creation that fails names the resource, and says that the next deploy cleans up: no
/// other tool is needed.
#[tokio::test]
async fn a_failed_first_create_says_the_next_deploy_starts_over() {
    let (ctx, _client) = replay(
        "staging",
        vec![
            error(400, "ValidationError", &format!("Stack with id {STACK} does not exist")),
            ok("CreateStack", &format!("<StackId>{STACK_ID}</StackId>")),
            stack("ROLLBACK_COMPLETE", ""),
            events(&[
                ("e3", STACK, "ROLLBACK_COMPLETE", ""),
                ("e2", "MemoryTable", "CREATE_FAILED", "Table already exists: brain2-staging-memory"),
                ("e1", STACK, "CREATE_IN_PROGRESS", "User Initiated"),
            ]),
        ],
    );
    let text = apply::deploy_stack(&ctx, &plan()).await.unwrap_err().to_string();
    assert!(text.contains("Table already exists") && text.contains("ROLLBACK_COMPLETE"), "{text}");
    assert!(text.contains("cargo xtask deploy --env staging") && !text.contains("aws cloudformation"), "{text}");
}

#[tokio::test]
async fn a_table_replacement_is_refused_in_staging_and_the_change_set_deleted() {
    let (ctx, client) = replay("staging", then(up_to_a_table_replacement(), [ok("DeleteChangeSet", "")]));
    let error = apply::deploy_stack(&ctx, &plan()).await.unwrap_err();
    let refused = error.downcast_ref::<ReplacementRefused>().expect("a ReplacementRefused");
    assert_eq!(refused.changes[0].causes, ["KeySchema"]);
    let text = error.to_string();
    assert!(text.contains("--allow-replace MemoryTable") && text.contains("KeySchema changed"), "{text}");
    assert_eq!(actions(&client).last().unwrap(), "DeleteChangeSet");
    assert!(!actions(&client).contains(&"ExecuteChangeSet".to_owned()));
}

#[tokio::test]
async fn an_export_still_imported_is_kept_and_nothing_is_redeployed() {
    let export = "brain2-staging-database:MemoryTable:Arn";
    let mut deployed = desired();
    deployed["Outputs"] = serde_json::json!({ "ExportMemoryTableArn": {
        "Value": { "Fn::GetAtt": ["MemoryTable", "Arn"] }, "Export": { "Name": export } } });
    let output = format!(
        "<member><OutputKey>ExportMemoryTableArn</OutputKey><OutputValue>arn:table</OutputValue><ExportName>{export}</ExportName></member>"
    );
    let (ctx, client) = replay(
        "staging",
        vec![
            stack("UPDATE_COMPLETE", &output),
            template(&deployed),
            ok("ListImports", "<Imports><member>brain2-staging-reporting</member></Imports>"),
        ],
    );
    let result = apply::deploy_stack(&ctx, &plan()).await.unwrap();
    assert_eq!(result.action, Action::Unchanged);
    assert_eq!(result.kept_exports[0].importers, ["brain2-staging-reporting"]);
    assert_eq!(actions(&client), ["DescribeStacks", "GetTemplate", "ListImports"]);
}

#[tokio::test]
async fn an_export_in_use_whose_resource_goes_away_stops_before_any_change() {
    let export = "brain2-staging-database:OldTable:Arn";
    let mut deployed = desired();
    deployed["Outputs"] = serde_json::json!({ "ExportOldTableArn": {
        "Value": { "Fn::GetAtt": ["OldTable", "Arn"] }, "Export": { "Name": export } } });
    let output = format!(
        "<member><OutputKey>ExportOldTableArn</OutputKey><OutputValue>arn:old</OutputValue><ExportName>{export}</ExportName></member>"
    );
    let (ctx, client) = replay(
        "staging",
        vec![
            stack("UPDATE_COMPLETE", &output),
            template(&deployed),
            ok("ListImports", "<Imports><member>brain2-staging-api</member></Imports>"),
        ],
    );
    let text = apply::deploy_stack(&ctx, &plan()).await.unwrap_err().to_string();
    assert!(text.contains("still imported by brain2-staging-api") && text.contains("--stack"), "{text}");
    assert_eq!(actions(&client), ["DescribeStacks", "GetTemplate", "ListImports"]);
}

#[tokio::test]
async fn throttling_is_retried_and_then_reported() {
    let (ctx, client) = replay(
        "dev",
        vec![
            error(400, "Throttling", "Rate exceeded"),
            error(400, "Throttling", "Rate exceeded"),
            stack("UPDATE_COMPLETE", ""),
            template(&desired()),
        ],
    );
    let result = apply::deploy_stack(&ctx, &plan()).await.unwrap();
    assert_eq!(result.action, Action::Unchanged);
    assert_eq!(actions(&client), ["DescribeStacks", "DescribeStacks", "DescribeStacks", "GetTemplate"]);

    let (ctx, _) = replay("dev", (0..3).map(|_| error(400, "Throttling", "Rate exceeded")).collect());
    let text = apply::deploy_stack(&ctx, &plan()).await.unwrap_err().to_string();
    assert!(text.contains("throttling") && text.contains("run the command again"), "{text}");
}

#[tokio::test]
async fn expired_credentials_say_how_to_refresh_them() {
    let (ctx, client) =
        replay("dev", vec![error(403, "ExpiredToken", "The security token included in the request is expired")]);
    let text = apply::deploy_stack(&ctx, &plan()).await.unwrap_err().to_string();
    assert!(text.contains("aws sso login") && text.contains("ExpiredToken"), "{text}");
    assert_eq!(actions(&client), ["DescribeStacks"]);
}

/// `--allow-replace` lifts prod's stack policy for one deploy; when executing the change set
/// fails, the policy is put back all the same.
#[tokio::test]
async fn a_lifted_stack_policy_is_restored_when_the_execution_fails() {
    let mut settings = Settings::new("prod");
    settings.yes = true;
    settings.allow_replace = BTreeSet::from(["MemoryTable".to_owned()]);
    let (ctx, client) = replay_with(
        settings,
        then(
            up_to_a_table_replacement(),
            [
                ok("SetStackPolicy", ""),
                error(400, "InvalidChangeSetStatus", "ChangeSet is in an invalid state"),
                ok("SetStackPolicy", ""),
            ],
        ),
    );
    let error = apply::deploy_stack(&ctx, &plan()).await.unwrap_err();
    assert!(
        format!("{error:#}").contains("InvalidChangeSetStatus") || format!("{error:#}").contains("invalid state"),
        "{error:#}"
    );
    let sent = actions(&client);
    assert_eq!(sent[sent.len() - 3..], ["SetStackPolicy", "ExecuteChangeSet", "SetStackPolicy"], "{sent:?}");
    let bodies: Vec<String> = client
        .actual_requests()
        .map(|r| String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).to_string())
        .filter(|b| b.contains("Action=SetStackPolicy"))
        .collect();
    assert!(!bodies[0].contains("MemoryTable"), "the first policy lifts the protection: {}", bodies[0]);
    assert!(bodies[1].contains("MemoryTable"), "the second puts it back: {}", bodies[1]);
    assert!(ctx.restore_lifted_policies().await.is_empty(), "nothing is left to restore");
}

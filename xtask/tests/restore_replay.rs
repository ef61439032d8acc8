//! What `cargo xtask restore` asks DynamoDB, replayed offline from recorded responses: no
//! emulator restores to a point in time (MiniStack and moto copy the table as it is now, see
//! `deploy_ministack.rs`), so the request that decides which memories come back, and AWS's
//! refusals of it, are checked here.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use xtask::restore::{Encryption, RestoreRequest, parse_time, request_restore};

fn answer(status: u16, body: serde_json::Value) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder().uri("https://dynamodb.eu-west-1.amazonaws.com/").body(SdkBody::empty()).unwrap(),
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(SdkBody::from(body.to_string()))
            .unwrap(),
    )
}

fn dynamodb(events: Vec<ReplayEvent>) -> (aws_sdk_dynamodb::Client, StaticReplayClient) {
    let client = StaticReplayClient::new(events);
    let credentials = aws_sdk_dynamodb::config::Credentials::new("AKIDEXAMPLE", "secret", None, None, "replay");
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        .http_client(client.clone())
        .retry_config(RetryConfig::standard().with_max_attempts(1).with_initial_backoff(Duration::from_millis(1)))
        .build();
    (aws_sdk_dynamodb::Client::new(&config), client)
}

/// Each request's target (`DynamoDB_20120810.<Operation>`) and JSON body.
fn requests(client: &StaticReplayClient) -> Vec<(String, serde_json::Value)> {
    client
        .actual_requests()
        .map(|r| {
            let target = r.headers().get("x-amz-target").unwrap_or_default().to_owned();
            let body = serde_json::from_slice(r.body().bytes().unwrap_or_default()).unwrap_or_default();
            (target, body)
        })
        .collect()
}

fn request() -> RestoreRequest {
    RestoreRequest {
        source: "brain2-prod-database-MemoryTable-ABC".into(),
        target: "brain2-prod-database-MemoryTable-at-20261204T101500Z".into(),
        to: parse_time("2026-12-04T10:15:00Z").unwrap(),
        on_demand: true,
        encryption: Encryption::Kms(Some("1234abcd-12ab-34cd-56ef-1234567890ab".into())),
    }
}

#[tokio::test]
async fn the_restore_asks_for_the_moment_given_with_the_stack_s_key() {
    let (dynamodb, client) = dynamodb(vec![answer(
        200,
        serde_json::json!({ "TableDescription": { "TableName": request().target, "TableStatus": "CREATING" } }),
    )]);
    request_restore(&dynamodb, &request()).await.unwrap();
    let sent = requests(&client);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "DynamoDB_20120810.RestoreTableToPointInTime");
    let body = &sent[0].1;
    assert_eq!(body["SourceTableName"], "brain2-prod-database-MemoryTable-ABC");
    assert_eq!(body["TargetTableName"], "brain2-prod-database-MemoryTable-at-20261204T101500Z");
    // 2026-12-04T10:15:00Z, to the second: the memories written after it stay out.
    assert_eq!(body["RestoreDateTime"], 1_796_379_300.0);
    assert!(body.get("UseLatestRestorableTime").is_none(), "{body}");
    assert_eq!(body["BillingModeOverride"], "PAY_PER_REQUEST");
    assert_eq!(
        body["SSESpecificationOverride"],
        serde_json::json!({ "Enabled": true, "SSEType": "KMS", "KMSMasterKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab" })
    );
}

#[tokio::test]
async fn a_moment_outside_the_window_is_refused_naming_the_window() {
    let (dynamodb, client) = dynamodb(vec![
        answer(
            400,
            serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#InvalidRestoreTimeException",
                "message": "Restore time must be between earliest and latest restorable date time"
            }),
        ),
        answer(
            200,
            serde_json::json!({ "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": {
                    "PointInTimeRecoveryStatus": "ENABLED",
                    "EarliestRestorableDateTime": 1_796_400_000.0,
                    "LatestRestorableDateTime": 1_796_486_100.0
                }
            } }),
        ),
    ]);
    let error = request_restore(&dynamodb, &request()).await.unwrap_err().to_string();
    assert_eq!(
        error,
        "--to 2026-12-04T10:15:00Z is outside what brain2-prod-database-MemoryTable-ABC can be restored to \
         (2026-12-04T16:00:00Z to 2026-12-05T15:55:00Z). Nothing was changed"
    );
    let operations: Vec<String> = requests(&client).into_iter().map(|(target, _)| target).collect();
    assert_eq!(
        operations,
        ["DynamoDB_20120810.RestoreTableToPointInTime", "DynamoDB_20120810.DescribeContinuousBackups"]
    );
}

#[tokio::test]
async fn a_table_without_point_in_time_recovery_is_said_so() {
    let (dynamodb, _) = dynamodb(vec![answer(
        400,
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#PointInTimeRecoveryUnavailableException",
            "message": "Point in time recovery is not enabled for table"
        }),
    )]);
    let error = request_restore(&dynamodb, &request()).await.unwrap_err().to_string();
    assert!(error.starts_with("point-in-time recovery is not on for brain2-prod-database-MemoryTable-ABC"), "{error}");
}

//! What a user sees when AWS cannot be reached as they asked: one line that says which problem
//! it is (no credentials, an expired SSO session, no network, a region that does not exist, an
//! environment never bootstrapped, an emulator that is not running) and the command to run next,
//! never the SDK's debug dump. Each fault is made to happen: the real `cargo xtask deploy` with
//! an empty home and no AWS variables (the instance-metadata endpoint a local socket that never
//! answers, as on a laptop where it times out), an SSO cache whose token has expired, a name
//! resolver that fails every lookup, a local port that refuses, and moto without a toolkit.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};

/// `cargo xtask <args>` as a new user runs it: no AWS variables, `home` as the home folder,
/// plus `env`. Returns the exit code and stderr.
fn xtask(args: &[&str], home: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The error line, checked to be one line and free of the SDK's debug output.
fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "{line}");
    for dump in ["DispatchFailure", "ConnectorError", "Some(", "source:", "{"] {
        assert!(!line.contains(dump), "debug output ({dump}) in: {line}");
    }
    line
}

fn home(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("brain2-aws-errors-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A socket that accepts connections and never answers, like an instance-metadata address
/// that times out off EC2.
fn silent_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn without_credentials_the_error_says_how_to_sign_in() {
    let home = home("no-credentials");
    // Nothing leaves the machine, whatever happens: AWS is a closed local port.
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let imds = silent_endpoint();
    for env in [
        // The instance-metadata service times out (the user's report: FailedToLoadToken).
        vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str())],
        vec![("AWS_EC2_METADATA_DISABLED", "true")],
    ] {
        let (code, stderr) = xtask(&["deploy", "--env", "prod", "--endpoint-url", &endpoint], &home, &env);
        assert_eq!(code, Some(1), "{stderr}");
        let line = one_line(&stderr);
        assert!(line.contains("no AWS credentials found"), "{line}");
        assert!(line.contains("aws sso login --profile") && line.contains("AWS_PROFILE="), "{line}");
    }
    // A profile that exists nowhere: the SDK's chain moves past it, the message does not.
    let disabled = [("AWS_EC2_METADATA_DISABLED", "true")];
    let (_, stderr) =
        xtask(&["deploy", "--env", "prod", "--profile", "nosuch", "--endpoint-url", &endpoint], &home, &disabled);
    let line = one_line(&stderr);
    assert!(line.contains("the AWS profile nosuch is not in ~/.aws/config"), "{line}");
    assert!(line.contains("aws configure sso --profile nosuch"), "{line}");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn an_expired_sso_session_names_the_login_command() {
    let home = home("expired-sso");
    let aws = home.join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    std::fs::write(
        aws.join("config"),
        "[profile brain2-admin]\nsso_session = brain2\nsso_account_id = 111122223333\nsso_role_name = Deployer\n\
         region = eu-west-1\n\n[sso-session brain2]\nsso_start_url = https://brain2.awsapps.com/start\n\
         sso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n",
    )
    .unwrap();
    // The token `aws sso login` cached, long expired, without a refresh token: the CLI's file,
    // named by the SHA-1 of the session name.
    std::fs::write(
        aws.join("sso/cache/1605bbaebf31050dd7cc89ec60d65ce0dab34c38.json"),
        r#"{"startUrl": "https://brain2.awsapps.com/start", "region": "eu-west-1", "accessToken": "expired", "expiresAt": "2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let (code, stderr) =
        xtask(&["deploy", "--env", "prod", "--profile", "brain2-admin", "--endpoint-url", &endpoint], &home, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let line = one_line(&stderr);
    assert!(line.contains("SSO session of profile brain2-admin has expired"), "{line}");
    assert!(line.contains("aws sso login --profile brain2-admin"), "{line}");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn an_emulator_that_is_not_running_is_named() {
    let home = home("refused");
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let credentials = [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")];
    let (code, stderr) = xtask(&["deploy", "--env", "dev", "--endpoint-url", &endpoint], &home, &credentials);
    assert_eq!(code, Some(1), "{stderr}");
    let line = one_line(&stderr);
    assert!(line.contains(&format!("could not reach the endpoint {endpoint}")) && line.contains("emulator"), "{line}");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn a_missing_bootstrap_names_the_bootstrap_command() {
    let home = home("bootstrap");
    let endpoint = xtask::moto::moto().endpoint.clone();
    let credentials = [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")];
    let (code, stderr) = xtask(
        &["deploy", "--env", "staging", "--endpoint-url", &endpoint, "--region", "eu-central-1"],
        &home,
        &credentials,
    );
    assert_eq!(code, Some(1), "{stderr}");
    let line = one_line(&stderr);
    assert!(line.contains("brain2-staging-toolkit") && line.contains("eu-central-1"), "{line}");
    assert!(line.contains("cargo xtask bootstrap --env staging"), "{line}");
    std::fs::remove_dir_all(&home).unwrap();
}

/// A name resolver that fails every lookup, as on a machine without a network; it counts them.
#[derive(Debug, Clone, Default)]
struct Offline(Arc<AtomicUsize>);

impl ResolveDns for Offline {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let error = std::io::Error::other("failed to lookup address information: Temporary failure in name resolution");
        DnsFuture::ready(Err(ResolveDnsError::new(error)))
    }
}

/// The configuration `cargo xtask deploy` builds, with keys in it and `resolver` for names.
fn offline_aws(region: &str, resolver: Offline) -> xtask::aws::Aws {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_with_resolver(resolver);
    let credentials = aws_sdk_s3::config::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(credentials))
        .http_client(http)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(xtask::aws::MAX_ATTEMPTS))
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().unwrap())
        .build();
    let connection = xtask::aws::errors::Connection { profile: None, region: Some(region.to_owned()), endpoint: None };
    xtask::aws::Aws::reaching_aws(config, connection)
}

/// Without a network the first call fails at once (no eight attempts under backoff) and says
/// so; in a region that does not exist, the region is named instead. One test: the messages
/// read where this process connects, which is one place per process.
#[tokio::test]
async fn no_network_and_a_region_that_does_not_exist_are_told_apart() {
    let lookups = Offline::default();
    let aws = offline_aws("eu-west-1", lookups.clone());
    let error = format!("{:#}", xtask::deploy::assets_bucket(&aws, "prod").await.unwrap_err());
    assert!(error.contains("could not reach AWS in eu-west-1") && error.contains("network"), "{error}");
    assert!(!error.contains("DispatchFailure"), "{error}");
    assert_eq!(lookups.0.load(Ordering::SeqCst), 1, "no retries of a lookup that failed");

    let aws = offline_aws("eu-wset-1", Offline::default());
    let error = format!("{:#}", xtask::deploy::assets_bucket(&aws, "prod").await.unwrap_err());
    assert!(error.contains("eu-wset-1 is not an AWS region") && error.contains("--region"), "{error}");
}

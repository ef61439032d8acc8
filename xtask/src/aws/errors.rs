//! AWS errors turned into messages that say what failed and what to do next: one line each,
//! never the SDK's debug dump. Missing or expired credentials, an unreachable AWS, a region
//! that does not exist and refused credentials each name the command that fixes them.

use std::sync::RwLock;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Error codes that mean the credentials are missing, wrong or expired.
const CREDENTIAL_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
];

/// The AWS regions, as the SDK's endpoint rules list them (aws-sdk-cloudformation 1.136, every
/// partition). Used only to explain an endpoint whose name does not resolve: a region missing
/// here (a newer one) still works.
const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "eu-isoe-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
];

/// Where this process reaches AWS, for messages that name the next command. `Aws::connect` sets
/// it; the emulator paths (tests, `cargo xtask dev`) leave it empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// `--profile`, else `AWS_PROFILE`, else none (the default profile).
    pub profile: Option<String>,
    pub region: Option<String>,
    /// `--endpoint-url` or `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
}

static CONNECTION: RwLock<Option<Connection>> = RwLock::new(None);

/// Records where this process reaches AWS (see [`Connection`]).
pub fn set_connection(connection: Connection) {
    *CONNECTION.write().unwrap_or_else(|e| e.into_inner()) = Some(connection);
}

fn connection() -> Connection {
    CONNECTION.read().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default()
}

/// Why a call never got an answer from AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unanswered {
    /// The credential chain found nothing (no keys, no profile, no SSO session, no role).
    NoCredentials,
    /// The profile asked for is not in the AWS config files (told from [`Self::NoCredentials`]
    /// by reading them: the SDK's chain just moves on).
    UnknownProfile,
    /// The profile's SSO session expired or was never started.
    SsoExpired,
    /// A name did not resolve or a connection failed: the network, or the region. `sent` is
    /// false when the request cannot have left (no address, a refused connection).
    Unreachable {
        dns: bool,
        sent: bool,
    },
    TimedOut,
}

/// Every error in the chain from `error` down, with its text.
fn chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> Vec<(&'a (dyn std::error::Error + 'static), String)> {
    let mut found = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        found.push((current, current.to_string()));
        next = current.source();
    }
    found
}

/// What stopped a call before AWS answered, read from the SDK error's chain of causes.
pub fn unanswered<E, R>(error: &SdkError<E, R>) -> Option<Unanswered>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let (SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) | SdkError::TimeoutError(_)) = error else {
        return None;
    };
    let causes = chain(error);
    let text: String = causes.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(" / ");
    let credentials = causes.iter().any(|(e, _)| e.is::<aws_credential_types::provider::error::CredentialsError>());
    if credentials || text.contains("credential") {
        return Some(
            if text.contains("SSO token")
                || text.contains("Session token not found or invalid")
                || text.contains("UnauthorizedException")
                || text.contains("InvalidGrantException")
            {
                Unanswered::SsoExpired
            } else {
                Unanswered::NoCredentials
            },
        );
    }
    if let SdkError::TimeoutError(_) = error {
        return Some(Unanswered::TimedOut);
    }
    let SdkError::DispatchFailure(failure) = error else { return None };
    if failure.is_timeout() {
        return Some(Unanswered::TimedOut);
    }
    if failure.is_io() {
        let dns = causes.iter().any(|(e, t)| is_name_lookup_failure(*e, t));
        let refused = causes.iter().any(|(e, t)| {
            e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
                || t.contains("Connection refused")
        });
        return Some(Unanswered::Unreachable { dns, sent: !(dns || refused) });
    }
    None
}

fn is_name_lookup_failure(error: &(dyn std::error::Error + 'static), text: &str) -> bool {
    error.is::<aws_smithy_runtime_api::client::dns::ResolveDnsError>()
        || text.contains("dns error")
        || text.contains("failed to lookup address")
}

/// Whether a connector error means AWS cannot be reached from here: a name that does not
/// resolve, or a refused or impossible connection.
pub fn is_unreachable(error: &aws_smithy_runtime_api::client::result::ConnectorError) -> bool {
    error.is_io()
        && chain(error).iter().any(|(e, t)| {
            is_name_lookup_failure(*e, t)
                || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                    matches!(
                        io.kind(),
                        std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::NetworkUnreachable
                            | std::io::ErrorKind::HostUnreachable
                    )
                })
        })
}

/// Whether the shared config or credentials file defines `profile` (`[profile name]` or
/// `[name]`); `None` when neither file can be read.
fn profile_defined(profile: &str) -> Option<bool> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let file = |variable: &str, default: &str| {
        std::env::var_os(variable).map(std::path::PathBuf::from).unwrap_or_else(|| home.join(".aws").join(default))
    };
    let texts: Vec<String> = [file("AWS_CONFIG_FILE", "config"), file("AWS_SHARED_CREDENTIALS_FILE", "credentials")]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect();
    if texts.is_empty() {
        return Some(false);
    }
    let headers = [format!("[profile {profile}]"), format!("[{profile}]")];
    Some(texts.iter().flat_map(|t| t.lines()).any(|line| headers.iter().any(|h| line.trim() == h)))
}

/// The one line for a call AWS never answered, with the command that fixes it.
fn unanswered_line(doing: &str, why: &Unanswered, connection: &Connection) -> String {
    let profile = connection.profile.as_deref();
    let login = match profile {
        Some(profile) => format!("`aws sso login --profile {profile}`"),
        None => "`aws sso login --profile <profile>`".to_owned(),
    };
    let region = connection.region.as_deref().unwrap_or("the configured region");
    match why {
        Unanswered::NoCredentials if profile.is_some_and(|p| profile_defined(p) == Some(false)) => {
            unanswered_line(doing, &Unanswered::UnknownProfile, connection)
        }
        Unanswered::NoCredentials => match profile {
            Some(profile) => format!(
                "{doing}: the AWS profile {profile} gave no credentials. Sign in with {login} (or give the profile keys), \
                 then run the command again; nothing was changed"
            ),
            None => format!(
                "{doing}: no AWS credentials found (no AWS_ACCESS_KEY_ID, no profile with credentials or SSO, no instance role). \
                 Sign in with {login}, then pass --profile <profile> or set AWS_PROFILE=<profile>; nothing was changed"
            ),
        },
        Unanswered::UnknownProfile => format!(
            "{doing}: the AWS profile {} is not in ~/.aws/config or ~/.aws/credentials. Create it with `aws configure sso --profile {}`, \
             or pass an existing one with --profile or AWS_PROFILE=<profile>; nothing was changed",
            profile.unwrap_or("asked for"),
            profile.unwrap_or("<profile>")
        ),
        Unanswered::SsoExpired => format!(
            "{doing}: the AWS SSO session{} has expired. Run {login}, then the command again; nothing was changed",
            profile.map(|p| format!(" of profile {p}")).unwrap_or_default()
        ),
        Unanswered::Unreachable { .. } | Unanswered::TimedOut if connection.endpoint.is_some() => format!(
            "{doing}: could not reach the endpoint {} ({}). Is the emulator running there? Start it, or drop --endpoint-url \
             and AWS_ENDPOINT_URL to use AWS; {}",
            connection.endpoint.as_deref().unwrap_or_default(),
            if *why == Unanswered::TimedOut { "timed out" } else { "no connection" },
            maybe_applied(why)
        ),
        Unanswered::Unreachable { dns: true, .. }
            if connection.region.as_deref().is_some_and(|r| !KNOWN_REGIONS.contains(&r)) =>
        {
            format!(
                "{doing}: {region} is not an AWS region (its endpoints do not exist). Pass a region such as eu-west-1 with --region, \
                 or correct `region` in the environment file; nothing was changed"
            )
        }
        Unanswered::Unreachable { dns, .. } => format!(
            "{doing}: could not reach AWS in {region} ({}). Check the network connection (or VPN, proxy) and run the command again; {}",
            if *dns { "its address did not resolve" } else { "no connection" },
            maybe_applied(why)
        ),
        Unanswered::TimedOut => format!(
            "{doing}: AWS in {region} did not answer in time. Check the network connection and run the command again; {}",
            maybe_applied(why)
        ),
    }
}

/// What the user may assume about a call that got no answer: a name that did not resolve never
/// left this machine; a connection that failed or timed out may have carried the request before
/// it did, so the change may have been made.
fn maybe_applied(why: &Unanswered) -> &'static str {
    match why {
        Unanswered::Unreachable { sent: false, .. } => "nothing was changed",
        _ => {
            "the call may have reached AWS before the connection failed: check with `cargo xtask status --env <env>` before retrying"
        }
    }
}

/// The error code of an SDK error, when the service sent one.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// The service's message, when it sent one.
pub fn message<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().message(),
        _ => None,
    }
}

/// Whether CloudFormation said the stack does not exist.
pub fn is_missing_stack<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    code(error) == Some("ValidationError") && message(error).is_some_and(|m| m.contains("does not exist"))
}

/// `doing` failed: one line naming the operation and the cause (the service's code and
/// message, or why AWS never answered), and the command that fixes it where there is one.
pub fn explain<E, R>(doing: &str, error: SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(why) = unanswered(&error) {
        return anyhow::anyhow!("{}", unanswered_line(doing, &why, &connection()));
    }
    let detail = match &error {
        SdkError::ServiceError(service) => {
            format!("{}: {}", service.err().code().unwrap_or("error"), service.err().message().unwrap_or("no message"))
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        // The chain's texts on one line, never the debug dump.
        other => chain(other).iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(": "),
    };
    if code(&error).is_some_and(|c| CREDENTIAL_CODES.contains(&c)) {
        let profile = connection().profile.unwrap_or_else(|| "<profile>".to_owned());
        return anyhow::anyhow!(
            "{doing}: the AWS credentials were refused ({detail}). Refresh them (`aws sso login --profile {profile}`, or new keys) and run the command again; nothing was changed by this call"
        );
    }
    if code(&error).is_some_and(|c| c.contains("Throttl") || c == "TooManyRequestsException") {
        return anyhow::anyhow!(
            "{doing}: AWS kept throttling after {} attempts ({detail}). Wait a minute and run the command again",
            super::MAX_ATTEMPTS
        );
    }
    anyhow::anyhow!("{doing}: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_that_does_not_resolve_is_named_and_a_known_one_means_the_network() {
        let at = |region: &str| Connection { profile: None, region: Some(region.to_owned()), endpoint: None };
        let line = unanswered_line(
            "describing stack x",
            &Unanswered::Unreachable { dns: true, sent: false },
            &at("eu-wset-1"),
        );
        assert!(line.contains("eu-wset-1 is not an AWS region") && line.contains("--region"), "{line}");
        let line = unanswered_line(
            "describing stack x",
            &Unanswered::Unreachable { dns: true, sent: false },
            &at("eu-west-1"),
        );
        assert!(line.contains("could not reach AWS in eu-west-1") && line.contains("network"), "{line}");
    }
}

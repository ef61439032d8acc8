//! AWS errors turned into messages that say what failed and what to do next.

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

/// `doing` failed: an error naming the operation, the service's code and message, and for
/// credential problems the command that fixes them.
pub fn explain<E, R>(doing: &str, error: SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = match &error {
        SdkError::ServiceError(service) => {
            format!("{}: {}", service.err().code().unwrap_or("error"), service.err().message().unwrap_or("no message"))
        }
        SdkError::DispatchFailure(failure) => format!("could not reach AWS: {failure:?}"),
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::ConstructionFailure(_) => {
            let text = format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&error));
            if text.contains("credentials") {
                return anyhow::anyhow!(
                    "{doing}: no AWS credentials found. Set AWS_PROFILE (or pass --profile), run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                );
            }
            text
        }
        other => format!("{}", aws_smithy_types::error::display::DisplayErrorContext(other)),
    };
    if code(&error).is_some_and(|c| CREDENTIAL_CODES.contains(&c)) {
        return anyhow::anyhow!(
            "{doing}: the AWS credentials were refused ({detail}). Refresh them (`aws sso login --profile <profile>`, or new keys) and run the command again; nothing was changed by this call"
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

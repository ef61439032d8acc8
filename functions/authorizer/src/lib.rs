//! The Brain2 authorizer. It replaces a Node.js function that called Supabase for every
//! request: tokens are verified locally, with the project's HS256 secret (read once per cold
//! start from Secrets Manager) and/or its JWKS (ES256, RS256; cached, refreshed on an unknown key
//! id at most once a minute).
//!
//! It answers two event shapes: the HTTP API's (payload 2.0, simple response) and the WebSocket
//! `$connect` REQUEST authorizer's (an IAM policy). It denies by default and never panics on
//! malformed input.

pub mod jwks;
pub mod secret;
pub mod verify;

use serde_json::{Value, json};

pub use verify::{Claims, Rejection, Verifier};

/// Which API asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// HTTP API, payload format 2.0: the token is the `Authorization` header's bearer token.
    Http { token: Option<String> },
    /// WebSocket `$connect`: the token is the `token` query-string parameter.
    WebSocket { token: Option<String>, method_arn: String },
    /// Neither shape: denied.
    Unknown,
}

fn bearer(value: &str) -> Option<String> {
    let value = value.trim();
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or(value);
    (!token.is_empty()).then(|| token.to_owned())
}

/// Reads whichever shape the event has. Anything unexpected yields no token.
pub fn parse(event: &Value) -> Request {
    if let Some(method_arn) = event.get("methodArn").and_then(Value::as_str) {
        let token = event.pointer("/queryStringParameters/token").and_then(Value::as_str).map(str::to_owned);
        return Request::WebSocket { token: token.filter(|t| !t.is_empty()), method_arn: method_arn.to_owned() };
    }
    if event.get("version").and_then(Value::as_str) == Some("2.0") {
        let header = event
            .get("headers")
            .and_then(Value::as_object)
            .and_then(|headers| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")))
            .and_then(|(_, v)| v.as_str())
            .and_then(bearer);
        let source = event.pointer("/identitySource/0").and_then(Value::as_str).and_then(bearer);
        return Request::Http { token: header.or(source) };
    }
    Request::Unknown
}

fn context(claims: &Claims) -> Value {
    json!({
        "sub": claims.sub,
        "email": claims.email.clone().unwrap_or_default(),
        "role": claims.role.clone().unwrap_or_default(),
    })
}

/// The HTTP API's simple response.
pub fn http_response(claims: Option<&Claims>) -> Value {
    match claims {
        Some(claims) => json!({ "isAuthorized": true, "context": context(claims) }),
        None => json!({ "isAuthorized": false }),
    }
}

/// The WebSocket REQUEST authorizer's policy: allow or deny invoking this `$connect`.
pub fn policy_response(claims: Option<&Claims>, method_arn: &str) -> Value {
    let (principal, effect) = match claims {
        Some(claims) => (claims.sub.as_str(), "Allow"),
        None => ("unauthorized", "Deny"),
    };
    let mut response = json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn }]
        }
    });
    if let Some(claims) = claims {
        response["context"] = context(claims);
    }
    response
}

/// Answers one event.
pub async fn handle(verifier: &Verifier, event: &Value) -> Value {
    let request = parse(event);
    let token = match &request {
        Request::Http { token } | Request::WebSocket { token, .. } => token.as_deref(),
        Request::Unknown => None,
    };
    let claims = match token {
        Some(token) => match verifier.verify(token).await {
            Ok(claims) => Some(claims),
            Err(rejection) => {
                tracing::info!(%rejection, "token refused");
                None
            }
        },
        None => {
            tracing::info!(?request, "no token in the request");
            None
        }
    };
    match &request {
        Request::WebSocket { method_arn, .. } => policy_response(claims.as_ref(), method_arn),
        Request::Http { .. } | Request::Unknown => http_response(claims.as_ref()),
    }
}

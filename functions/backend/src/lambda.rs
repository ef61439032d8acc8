//! The HTTP API's Lambda proxy integration (payload format 2.0) in front of the router: the
//! event becomes an `http::Request`, the router's response becomes the integration's answer.
//!
//! This replaces `lambda_http`, which serves every event shape API Gateway, ALB and VPC
//! Lattice send and re-encodes text bodies in any charset (linking every encoding table).
//! The backend serves one shape behind the `$default` stage and answers JSON, so the event
//! and the answer are read and written with small types of their own, holding just the
//! fields documented at
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::body::Body;
use axum::http::{self, HeaderName, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower::ServiceExt;

/// The request event, as API Gateway sends it to the integration. Fields that may arrive as
/// `null` are optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiEvent {
    #[serde(default)]
    pub raw_path: Option<String>,
    #[serde(default)]
    pub raw_query_string: Option<String>,
    #[serde(default)]
    pub cookies: Option<Vec<String>>,
    #[serde(default)]
    pub headers: Option<HashMap<String, String>>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
    pub request_context: HttpApiContext,
}

/// `requestContext`: the method, and what the Lambda authorizer returned (its `context`,
/// under `authorizer.lambda`). It travels in the request's extensions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiContext {
    pub http: HttpDescription,
    #[serde(default)]
    pub authorizer: Option<Authorizer>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpDescription {
    pub method: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Authorizer {
    #[serde(default)]
    pub lambda: Option<Map<String, Value>>,
}

impl HttpApiContext {
    /// A value the Lambda authorizer put in its context.
    pub fn authorizer_value(&self, key: &str) -> Option<&Value> {
        self.authorizer.as_ref()?.lambda.as_ref()?.get(key)
    }
}

/// The integration's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub is_base64_encoded: bool,
}

/// The largest response a Lambda may return synchronously is 6 MB; past that the body is not
/// buffered further.
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Why an event could not be served. Lambda reports it as the invocation's error, and API
/// Gateway answers 500.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("the event's method, path, query or headers are not valid HTTP: {0}")]
    Http(#[from] http::Error),
    #[error("the event's body is marked base64 but is not: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("reading the response body: {0}")]
    ResponseBody(String),
}

/// The event as a request; the request context (with the authorizer's output) goes into the
/// request's extensions for [`crate::caller_from_lambda_context`].
pub fn request(event: HttpApiEvent) -> Result<http::Request<Body>, AdapterError> {
    let mut uri = percent_encode_path(event.raw_path.as_deref().unwrap_or("/"));
    if let Some(query) = event.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(&percent_encode_query(query));
    }
    let body = match event.body {
        None => Body::empty(),
        Some(text) if event.is_base64_encoded => Body::from(BASE64.decode(text)?),
        Some(text) => Body::from(text),
    };
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(event.request_context.http.method.as_bytes()).map_err(http::Error::from)?)
        .uri(uri);
    for (name, value) in event.headers.unwrap_or_default() {
        let name = HeaderName::try_from(name).map_err(http::Error::from)?;
        builder = builder.header(name, HeaderValue::try_from(value).map_err(http::Error::from)?);
    }
    // Payload format 2.0 moves the Cookie header into `cookies`.
    if let Some(cookies) = event.cookies.filter(|c| !c.is_empty()) {
        builder = builder.header(header::COOKIE, HeaderValue::try_from(cookies.join("; ")).map_err(http::Error::from)?);
    }
    Ok(builder.extension(event.request_context).body(body)?)
}

/// The router's answer as the integration's response: text bodies as text, anything else as
/// base64, repeated headers joined by commas and `Set-Cookie` in `cookies`, as format 2.0
/// wants.
pub async fn response(response: http::Response<Body>) -> Result<HttpApiResponse, AdapterError> {
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| AdapterError::ResponseBody(e.to_string()))?
        .to_bytes();
    let mut headers = BTreeMap::<String, String>::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else { continue };
        if name == header::SET_COOKIE {
            cookies.push(value.to_owned());
        } else {
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
    }
    let textual = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_text);
    let (body, is_base64_encoded) = if bytes.is_empty() {
        (None, false)
    } else if textual && let Ok(text) = std::str::from_utf8(&bytes) {
        (Some(text.to_owned()), false)
    } else {
        (Some(BASE64.encode(&bytes)), true)
    };
    Ok(HttpApiResponse { status_code: parts.status.as_u16(), headers, cookies, body, is_base64_encoded })
}

/// Serves one event with the router.
pub async fn serve(router: Router, event: HttpApiEvent) -> Result<HttpApiResponse, AdapterError> {
    let answer = router.oneshot(request(event)?).await.unwrap_or_else(|never| match never {});
    response(answer).await
}

/// The backend's Lambda process after its runtime starts: configuration checked at cold start,
/// then the router serves events until the runtime stops. It lives here, not in `main.rs`, so
/// that the runtime's generic code is compiled with the library: an edit to a handler then
/// recompiles the library incrementally and the binary only links (#21's edit loop).
pub async fn run() -> Result<(), lambda_runtime::Error> {
    use brain2_shared::config::{self, ProcessEnv};
    use lambda_runtime::{Error, LambdaEvent, service_fn};

    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    // Required on Lambda: the stacks always set it, and the failure metric is per environment.
    config::required(&env, "ENVIRONMENT")?;
    // Account deletion removes the user's connections: on Lambda they are always there.
    config::required(&env, "CONNECTIONS_TABLE_NAME")?;
    let sdk = brain2_shared::aws::sdk_config()?;
    let state = crate::AppState::from_env(&sdk, &env, "")?;
    let app = crate::router(state).layer(axum::middleware::from_fn(crate::caller_from_lambda_context));
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<HttpApiEvent>| async move {
        brain2_shared::panic::invocation_started(&event.context.request_id);
        serve(app.clone(), event.payload).await.map_err(Error::from)
    }))
    .await
}

fn is_text(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence.starts_with("text/") || essence == "application/json" || essence.ends_with("+json")
}

/// API Gateway hands over the path decoded; bytes a URI path may not hold are encoded again.
fn percent_encode_path(path: &str) -> String {
    encode(path, |b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b))
}

fn percent_encode_query(query: &str) -> String {
    encode(query, |b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b))
}

fn encode(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if keep(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Json;
    use axum::routing::{get, post};
    use serde_json::{Value, json};

    fn event(value: Value) -> HttpApiEvent {
        serde_json::from_value(value).unwrap()
    }

    /// The shape API Gateway sends (from the payload format 2.0 documentation, trimmed).
    fn sample(method: &str, path: &str, query: &str, body: Option<&str>, base64: bool) -> HttpApiEvent {
        event(json!({
            "version": "2.0",
            "routeKey": "ANY /api/{proxy+}",
            "rawPath": path,
            "rawQueryString": query,
            "cookies": ["a=1", "b=2"],
            "headers": { "content-type": "application/json", "if-match": "\"3\"" },
            "requestContext": {
                "accountId": "123456789012", "apiId": "api-id", "domainName": "id.execute-api.us-east-1.amazonaws.com",
                "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "agent" },
                "requestId": "id", "routeKey": "ANY /api/{proxy+}", "stage": "$default", "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390u64,
                "authorizer": { "lambda": { "sub": "0b4e7a0e-5d6a-4a43-9a4e-5d6a4a439a4e" } }
            },
            "body": body,
            "isBase64Encoded": base64
        }))
    }

    fn router() -> Router {
        Router::new()
            .route(
                "/api/echo/{id}",
                post(|request: http::Request<Body>| async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    let context = parts.extensions.get::<HttpApiContext>().unwrap();
                    Json(json!({
                        "path": parts.uri.path(),
                        "query": parts.uri.query(),
                        "ifMatch": parts.headers.get("if-match").unwrap().to_str().unwrap(),
                        "cookie": parts.headers.get("cookie").unwrap().to_str().unwrap(),
                        "body": String::from_utf8(body.to_vec()).unwrap(),
                        "sub": context.authorizer_value("sub"),
                    }))
                }),
            )
            .route(
                "/bytes",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/octet-stream"), (header::SET_COOKIE, "s=1")],
                        axum::response::AppendHeaders([(header::VARY, "a"), (header::VARY, "b")]),
                        vec![0u8, 255],
                    )
                }),
            )
            .route("/empty", get(|| async { http::StatusCode::NO_CONTENT }))
    }

    #[tokio::test]
    async fn a_json_request_round_trips_with_its_context() {
        let answer = serve(router(), sample("POST", "/api/echo/x y", "limit=5&cursor=a b", Some("{\"c\":1}"), false))
            .await
            .unwrap();
        assert_eq!(answer.status_code, 200);
        assert!(!answer.is_base64_encoded);
        let echoed: Value = serde_json::from_str(&answer.body.unwrap()).unwrap();
        assert_eq!(echoed["path"], "/api/echo/x%20y");
        assert_eq!(echoed["query"], "limit=5&cursor=a%20b");
        assert_eq!(echoed["ifMatch"], "\"3\"");
        assert_eq!(echoed["cookie"], "a=1; b=2");
        assert_eq!(echoed["body"], "{\"c\":1}");
        assert_eq!(echoed["sub"], "0b4e7a0e-5d6a-4a43-9a4e-5d6a4a439a4e");
    }

    #[tokio::test]
    async fn base64_bodies_are_decoded_and_binary_answers_encoded() {
        let body = BASE64.encode("{\"c\":2}");
        let answer = serve(router(), sample("POST", "/api/echo/1", "", Some(&body), true)).await.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&answer.body.unwrap()).unwrap()["body"], "{\"c\":2}");

        let answer = serve(router(), sample("GET", "/bytes", "", None, false)).await.unwrap();
        assert!(answer.is_base64_encoded);
        assert_eq!(answer.body, Some(BASE64.encode([0u8, 255])));
        assert_eq!(answer.cookies, vec!["s=1".to_owned()]);
        assert!(!answer.headers.contains_key("set-cookie"));
        assert_eq!(answer.headers["vary"], "a, b");

        let answer = serve(router(), sample("GET", "/empty", "", None, false)).await.unwrap();
        assert_eq!((answer.status_code, answer.body), (204, None));
    }

    #[tokio::test]
    async fn a_body_that_claims_base64_but_is_not_is_an_error() {
        let error = serve(router(), sample("POST", "/api/echo/1", "", Some("not base64!"), true)).await.unwrap_err();
        assert!(error.to_string().contains("base64"), "{error}");
    }
}

//! The guard: the emulator's only door. MiniStack listens on a Unix socket in the data folder
//! (`emulator_launch.py`); the guard listens on 127.0.0.1:<port>, the port every URL the
//! emulator hands out carries, and forwards only what may reach it.
//!
//! MiniStack alone answers every origin with `Access-Control-Allow-Origin: *`, serves admin
//! paths (`/_ministack/reset` wipes everything) to plain POSTs, and under `AUTH=true` gives each
//! function credentials that are digests of its ARNs, which anyone can compute. Signing alone
//! therefore cannot keep a web page out; these rules do, in this order:
//!
//! 1. **Host.** Only `127.0.0.1:<port>`, `localhost:<port>` and `<api>.execute-api.localhost:<port>`:
//!    a name that rebinds to the loopback (DNS rebinding) arrives with its own Host and is refused.
//! 2. **The API routes** (`execute-api`, host- or path-style, the WebSocket included) are the
//!    only part a browser may reach, and only from the local site: a request that carries an
//!    `Origin` must carry the site's, and one a browser made without it (`Sec-Fetch-*` headers,
//!    a navigation or an `<img>`) is refused. Behind them the authorizer decides, as on AWS.
//! 3. **Everything else** (the AWS APIs, the management API's `@connections`) takes only
//!    SigV4-signed requests that no browser made: no `Origin`, no `Sec-Fetch-*`, no preflight.
//!    MiniStack (`AUTH=true`) then checks the signature and evaluates IAM. The emulator's own
//!    paths (`/_ministack/…`, `/_localstack/…`, `/_aws/…` but the API routes, `/health`) are
//!    never forwarded: dev reaches them through the socket.
//!    The one exception is a large export's download link (a GET presigned for S3, under
//!    `exports/`), which a browser follows as on AWS; MiniStack checks its signature and expiry.
//! 4. **Responses** lose a wildcard `Access-Control-Allow-Origin`, and AWS API responses every
//!    CORS header, so nothing a page might still send can be read.
//!
//! A refused request gets 403 and a one-line reason, and dev prints it. A call the IAM
//! evaluator denies is printed too, as function, action and resource.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// Who may come in.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The guard's port: the only one a Host may name.
    pub port: u16,
    /// The local site's origin (`http://127.0.0.1:8600`), the only one allowed on the API
    /// routes; `None` allows no browser at all.
    pub site_origin: Option<String>,
}

/// What a request is, once it may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// An API Gateway route the client uses (HTTP API or WebSocket), behind the authorizer.
    ExecuteApi,
    /// An AWS API: signed callers only.
    Aws,
    /// A browser following a large export's download link: a presigned S3 GET under
    /// `exports/`, which the emulator checks (signature, expiry, the signer's IAM) as S3 does.
    ExportDownload,
}

/// Why a request was refused: the line dev prints and the body the caller gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `abc123.execute-api.localhost` → `Some("abc123")`.
fn execute_api_host(host: &str) -> Option<&str> {
    let api = host.strip_suffix(".execute-api.localhost")?;
    (!api.is_empty() && api.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())).then_some(api)
}

fn is_signed(headers: &HeaderMap, query: &str) -> bool {
    header(headers, "authorization").is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "))
        || query.split('&').any(|pair| pair.starts_with("X-Amz-Signature="))
}

/// Whether a browser made the request: browsers send `Origin` on every cross-origin request
/// but simple GETs, and the `Sec-Fetch-*` headers on every request to a loopback address.
fn from_a_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN) || headers.keys().any(|name| name.as_str().starts_with("sec-fetch-"))
}

impl Policy {
    /// The verdict on one request, from its method, path, query and headers.
    pub fn judge(&self, method: &Method, raw_path: &str, query: &str, headers: &HeaderMap) -> Result<Route, Refusal> {
        let refuse = |reason: String| Err(Refusal(reason));
        // MiniStack's server decodes the path before routing on it: judge what it will see.
        let Some(decoded) = percent_decoded(raw_path) else {
            return refuse(format!("{raw_path:?} does not decode to a path"));
        };
        let path = decoded.as_str();
        let Some(host) = header(headers, "host") else { return refuse("no Host header".into()) };
        let (name, port) = host.rsplit_once(':').unwrap_or((host, ""));
        if port != self.port.to_string() {
            return refuse(format!(
                "foreign Host {host:?}: only 127.0.0.1:{0} and localhost:{0} are served",
                self.port
            ));
        }
        let api_host = execute_api_host(name);
        if api_host.is_none() && name != "127.0.0.1" && name != "localhost" {
            return refuse(format!("foreign Host {host:?} (a name rebound to the loopback?)"));
        }
        let api_path = path.strip_prefix("/_aws/execute-api/");
        // The emulator's own paths come first, whatever the Host: MiniStack answers them (a
        // reset included) before it looks at the Host.
        if api_path.is_none() && is_admin_path(path) {
            return refuse(format!("{path} is the emulator's own and not served through the guard"));
        }
        let management = path.contains("/@connections");
        if (api_host.is_some() || api_path.is_some()) && !management {
            return self.judge_api_route(headers);
        }
        // Without a site, no browser at all: a link is then for tools, which pass below.
        if self.site_origin.is_some() && is_export_download(method, path, query) {
            return match (header(headers, "origin"), header(headers, "sec-fetch-site")) {
                (Some(origin), _) if Some(origin) != self.site_origin.as_deref() => {
                    refuse(format!("origin {origin} may not fetch an export (only the local site's links)"))
                }
                // A page elsewhere (an <img>, a no-cors fetch) sends no Origin but says where
                // it is; the site on 127.0.0.1 is same-site with the guard.
                (_, Some("cross-site")) => refuse("a page of another site may not fetch an export".into()),
                _ => Ok(Route::ExportDownload),
            };
        }
        if from_a_browser(headers) || method == Method::OPTIONS {
            let origin = header(headers, "origin").unwrap_or("a page");
            return refuse(format!("AWS APIs answer no browser ({origin})"));
        }
        if !is_signed(headers, query) {
            return refuse(
                "unsigned request: the emulator takes SigV4-signed calls only (credentials in the data folder's aws-credentials)"
                    .into(),
            );
        }
        Ok(Route::Aws)
    }

    fn judge_api_route(&self, headers: &HeaderMap) -> Result<Route, Refusal> {
        match (header(headers, "origin"), &self.site_origin) {
            (Some(origin), Some(site)) if origin == site => Ok(Route::ExecuteApi),
            (Some(origin), _) => Err(Refusal(format!("origin {origin} may not call the API (only the local site)"))),
            (None, _) if from_a_browser(headers) => {
                Err(Refusal("a browser request without the site's Origin (navigation or embed)".into()))
            }
            (None, _) => Ok(Route::ExecuteApi),
        }
    }
}

/// A GET of an object under `exports/` of the exports bucket (path style,
/// `/<stack>-exportsbucket-<suffix>/exports/…`, as CloudFormation names it) presigned for S3:
/// what the backend hands out for an export too large for one answer. On AWS anyone holding such
/// a link may follow it until it expires; here too, and only that.
fn is_export_download(method: &Method, path: &str, query: &str) -> bool {
    let pairs: Vec<(&str, &str)> = query.split('&').map(|pair| pair.split_once('=').unwrap_or((pair, ""))).collect();
    let value = |name: &str| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| *value);
    // One reading of the query: names as written (none escaped, which the emulator would
    // decode into another name), none twice (it might read another copy than this check did),
    // and nothing but the signature's parameters and the SDK's operation marker
    // (`x-id=GetObject`): no `response-*` override, which could have S3 serve an export as a
    // page of this origin.
    let mut names: Vec<&str> = pairs.iter().map(|(key, _)| *key).collect();
    names.sort_unstable();
    let distinct = names.windows(2).all(|pair| pair[0] != pair[1]);
    let only_signing = pairs.iter().all(|(name, value)| {
        let plain = !name.contains(['%', '+']);
        plain && (name.starts_with("X-Amz-") || (*name == "x-id" && *value == "GetObject"))
    });
    let for_s3 = value("X-Amz-Credential").is_some_and(|credential| {
        let credential = credential.replace("%2F", "/").replace("%2f", "/");
        credential.ends_with("/s3/aws4_request")
    });
    let presigned =
        value("X-Amz-Algorithm") == Some("AWS4-HMAC-SHA256") && value("X-Amz-Signature").is_some() && for_s3;
    let under_exports = path.strip_prefix('/').and_then(|rest| rest.split_once('/')).is_some_and(|(bucket, key)| {
        bucket.contains("-exportsbucket-") && key.starts_with("exports/") && !key.contains("..")
    });
    method == Method::GET && distinct && only_signing && presigned && under_exports
}

/// `path` with its `%XX` escapes decoded, as the emulator's server decodes it; `None` when an
/// escape is malformed or decodes to a NUL or to something that is not UTF-8.
fn percent_decoded(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok().filter(|decoded| !decoded.contains('\0'))
}

fn is_admin_path(path: &str) -> bool {
    ["/_ministack", "/_localstack", "/_aws/", "/health"]
        .iter()
        .any(|prefix| path == prefix.trim_end_matches('/') || path.starts_with(prefix))
}

/// What dev prints about the guard's work: each refused kind once per origin, and every call
/// the IAM evaluator denied.
#[derive(Debug, Default)]
pub struct Journal {
    refused: Mutex<BTreeSet<String>>,
    refusals: std::sync::atomic::AtomicUsize,
}

impl Journal {
    fn refused(&self, method: &Method, path: &str, refusal: &Refusal) {
        self.refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let line = format!("guard: refused {method} {path}: {}", refusal.0);
        // A hostile page can send thousands: each distinct line is printed once, and past a
        // thousand of them, no more.
        let mut printed = self.refused.lock().expect("journal lock");
        if printed.len() < 1000 && printed.insert(line.clone()) {
            eprintln!("{line}");
        }
    }

    /// How many requests were refused so far.
    pub fn refusals(&self) -> usize {
        self.refusals.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A denied call, from the evaluator's message (AWS's wording): who, what, on which resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The function (the role session's name), or the principal's ARN for anyone else.
    pub caller: String,
    pub action: String,
    pub resource: String,
}

/// What the launcher adds to a denied request's answer: `<action> <resource>`.
const DENIED_HEADER: &str = "x-brain2-denied";

impl Denial {
    /// From the launcher's header, with the caller read from the denial's message.
    fn from_header(header: &str, body: &str) -> Denial {
        let (action, resource) = header.split_once(' ').unwrap_or((header, "*"));
        let caller = Denial::parse(body).map_or_else(|| "(a caller)".to_owned(), |d| d.caller);
        Denial { caller, action: action.to_owned(), resource: resource.to_owned() }
    }

    /// Parses `User: arn:aws:sts::…:assumed-role/<role>/<session> is not authorized to perform:
    /// <action> on resource: <arn> …`.
    pub fn parse(message: &str) -> Option<Denial> {
        let rest = &message[message.find("User: ")? + "User: ".len()..];
        let (principal, rest) = rest.split_once(" is not authorized to perform: ")?;
        let (action, rest) = match rest.split_once(" on resource: ") {
            Some((action, rest)) => (action, rest),
            None => (rest.split_whitespace().next()?, ""),
        };
        // The resource ends at a space, or where the JSON string or XML element around it does.
        let resource = rest.split([' ', '"', '<']).next().filter(|r| !r.is_empty()).unwrap_or("*");
        let caller = match principal.split_once(":assumed-role/") {
            Some((_, role_and_session)) => function_name(role_and_session.rsplit('/').next().unwrap_or(principal)),
            None => principal.to_owned(),
        };
        Some(Denial { caller, action: action.to_owned(), resource: resource.trim_end_matches(['.', ',']).to_owned() })
    }
}

/// A function's session name (its physical name, `brain2-dev-compute-BackendFunction-1D61…`) as
/// dev's log lines name functions (`backend`); other names unchanged.
fn function_name(session: &str) -> String {
    use heck::ToKebabCase as _;
    session
        .split('-')
        .find_map(|part| part.strip_suffix("Function").filter(|name| !name.is_empty()))
        .map(|name| name.to_kebab_case())
        .unwrap_or_else(|| session.to_owned())
}

/// Everything the guard needs per request.
#[derive(Debug)]
pub struct Guard {
    pub policy: Policy,
    pub socket: PathBuf,
    pub journal: Journal,
}

/// Serves the guard on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    guard: Arc<Guard>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let router = axum::Router::new().fallback(forward).with_state(guard);
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stop)
        .await
        .context("the emulator's guard stopped")
}

fn refused(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("refused by cargo xtask dev's guard: {reason}\n"),
    )
        .into_response()
}

async fn forward(State(guard): State<Arc<Guard>>, mut request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let route = match guard.policy.judge(request.method(), &path, &query, request.headers()) {
        Ok(route) => route,
        Err(refusal) => {
            guard.journal.refused(request.method(), &path, &refusal);
            return refused(StatusCode::FORBIDDEN, &refusal.0);
        }
    };
    // Callers reach the guard over the loopback only, which stands in for AWS's TLS endpoints:
    // what it forwards to the AWS APIs counts as encrypted in transit (MiniStack reads
    // `aws:SecureTransport` from this header), so the TLS-only bucket policies hold as on AWS.
    // A caller's own value never passes.
    request.headers_mut().remove("x-forwarded-proto");
    if route != Route::ExecuteApi {
        request.headers_mut().insert("x-forwarded-proto", HeaderValue::from_static("https"));
    }
    let upgrade = request.headers().contains_key(header::UPGRADE).then(|| hyper::upgrade::on(&mut request));
    // Origin-form, as a server receives it; the Host header (signed) goes along unchanged.
    let target = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    *request.uri_mut() = match target.parse() {
        Ok(uri) => uri,
        Err(_) => return refused(StatusCode::BAD_REQUEST, "unparsable request target"),
    };
    let mut response = match send(&guard.socket, request).await {
        Ok(response) => response,
        Err(error) => {
            return refused(
                StatusCode::BAD_GATEWAY,
                &format!("the emulator did not answer ({error:#}); is it running?"),
            );
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client) = upgrade
    {
        let emulator = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(client), Ok(emulator)) = (client.await, emulator.await) {
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(emulator)).await;
            }
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    strip_cors(response.headers_mut(), route);
    let denied = response.headers_mut().remove(DENIED_HEADER);
    let (parts, body) = response.into_parts();
    if let Some(denied) = denied {
        // Error bodies are small: read whole, for the caller's name.
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let denial = Denial::from_header(denied.to_str().unwrap_or_default(), &String::from_utf8_lossy(&bytes));
        eprintln!(
            "{} {:<16} DENIED {} on {}  <-- FAILED",
            super::logs::clock_now(),
            denial.caller,
            denial.action,
            denial.resource
        );
        return Response::from_parts(parts, Body::from(bytes));
    }
    Response::from_parts(parts, Body::new(body))
}

fn strip_cors(headers: &mut HeaderMap, route: Route) {
    let wildcard = headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN) == Some(&HeaderValue::from_static("*"));
    if route != Route::ExecuteApi || wildcard {
        let names: Vec<_> =
            headers.keys().filter(|name| name.as_str().starts_with("access-control-")).cloned().collect();
        for name in names {
            headers.remove(name);
        }
    }
}

/// One request over the emulator's socket, upgrades allowed.
async fn send(socket: &Path, request: Request) -> Result<hyper::Response<hyper::body::Incoming>> {
    let stream = UnixStream::connect(socket).await.with_context(|| format!("connecting to {}", socket.display()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection.with_upgrades());
    Ok(sender.send_request(request).await?)
}

/// One GET to the emulator on its TCP port (the open comparison): the status, or `None`.
pub async fn get_over_tcp(port: u16, path: &str) -> Option<StatusCode> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    let request =
        hyper::Request::get(path).header(header::HOST, format!("127.0.0.1:{port}")).body(Body::empty()).ok()?;
    Some(sender.send_request(request).await.ok()?.status())
}

/// One GET over the emulator's socket, for dev's own health check: the status and body, or
/// `None` when nothing answers.
pub async fn get_over_socket(socket: &Path, path: &str) -> Option<(StatusCode, Bytes)> {
    let request = hyper::Request::get(path).header(header::HOST, "localhost").body(Body::empty()).ok()?;
    let response = send(socket, request).await.ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "http://127.0.0.1:8600";

    fn policy() -> Policy {
        Policy { port: 8601, site_origin: Some(SITE.into()) }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    const SIGNED: (&str, &str) = (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIA/20261203/eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
    );

    fn judge(method: Method, path: &str, pairs: &[(&str, &str)]) -> Result<Route, Refusal> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        policy().judge(&method, path, query, &headers(pairs))
    }

    #[test]
    fn signed_tools_reach_the_aws_apis() {
        assert_eq!(judge(Method::POST, "/", &[("host", "127.0.0.1:8601"), SIGNED]), Ok(Route::Aws));
        assert_eq!(judge(Method::POST, "/", &[("host", "localhost:8601"), SIGNED]), Ok(Route::Aws));
        let presigned = "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00";
        assert_eq!(judge(Method::GET, presigned, &[("host", "127.0.0.1:8601")]), Ok(Route::Aws));
    }

    #[test]
    fn a_browser_follows_an_exports_download_link_and_nothing_else_of_s3() {
        let link = "/brain2-dev-compute-exportsbucket-f4f570318d5d7/exports/0190/0191.json?x-id=GetObject&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                    &X-Amz-Credential=ASIA%2F20261204%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261204T120000Z\
                    &X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
        let navigation = [("host", "127.0.0.1:8601"), ("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "document")];
        assert_eq!(judge(Method::GET, link, &navigation), Ok(Route::ExportDownload));
        let from_site = [("host", "127.0.0.1:8601"), ("origin", SITE)];
        assert_eq!(judge(Method::GET, link, &from_site), Ok(Route::ExportDownload));
        let other_page = [("host", "127.0.0.1:8601"), ("origin", "https://evil.example")];
        assert!(judge(Method::GET, link, &other_page).unwrap_err().0.contains("evil.example"));
        let embedded = [("host", "127.0.0.1:8601"), ("sec-fetch-mode", "no-cors"), ("sec-fetch-site", "cross-site")];
        assert!(judge(Method::GET, link, &embedded).unwrap_err().0.contains("another site"));
        // Another key, another service's signature, another method or no signature: an AWS API.
        for refused in [
            link.replace("/exports/", "/functions/"),
            link.replace("%2Fs3%2F", "%2Fdynamodb%2F"),
            link.replace("&X-Amz-Signature=00", ""),
            link.replace("/exports/0190", "/exports/../functions"),
            link.replace("-exportsbucket-", "-sitebucket-"),
            format!("{link}&X-Amz-Credential=ASIA%2F20261204%2Feu-west-1%2Fdynamodb%2Faws4_request"),
            format!("{link}&Action=DeleteObject"),
            link.replace("x-id=GetObject", "x-id=DeleteObject"),
            format!("{link}&response-content-type=text%2Fhtml"),
            format!("{link}&X-Amz-Cr%65dential=ASIA%2F20261204%2Feu-west-1%2Fdynamodb%2Faws4_request"),
        ] {
            assert!(judge(Method::GET, &refused, &navigation).unwrap_err().0.contains("no browser"), "{refused}");
        }
        assert!(judge(Method::PUT, link, &navigation).is_err());
        assert!(judge(Method::HEAD, link, &navigation).is_err());
        assert!(judge(Method::DELETE, link, &navigation).is_err());
    }

    #[test]
    fn unsigned_calls_and_browsers_never_reach_the_aws_apis() {
        assert!(judge(Method::POST, "/", &[("host", "127.0.0.1:8601")]).unwrap_err().0.contains("unsigned"));
        let page = [("host", "127.0.0.1:8601"), ("origin", "https://evil.example"), SIGNED];
        assert!(judge(Method::POST, "/", &page).unwrap_err().0.contains("no browser"));
        let no_cors = [("host", "127.0.0.1:8601"), ("sec-fetch-mode", "no-cors"), SIGNED];
        assert!(judge(Method::GET, "/", &no_cors).is_err());
        // Not even the site itself talks to the AWS APIs.
        let site = [("host", "127.0.0.1:8601"), ("origin", SITE), SIGNED];
        assert!(judge(Method::POST, "/", &site).is_err());
        assert!(judge(Method::OPTIONS, "/", &[("host", "127.0.0.1:8601"), SIGNED]).is_err());
    }

    #[test]
    fn admin_paths_are_never_forwarded() {
        for path in ["/_ministack/reset", "/_localstack/health", "/health", "/_aws/sqs/messages", "/_ministack"] {
            assert!(judge(Method::POST, path, &[("host", "127.0.0.1:8601"), SIGNED]).is_err(), "{path}");
        }
    }

    #[test]
    fn admin_paths_are_refused_on_api_hosts_and_when_escaped() {
        let api = "abc123.execute-api.localhost:8601";
        for path in ["/_ministack/reset", "/health", "/_ministack/config"] {
            assert!(judge(Method::POST, path, &[("host", api)]).is_err(), "{path} on an API host");
        }
        for path in ["/%5Fministack/reset", "/%5fministack/reset", "/_minist%61ck/reset", "/%68ealth"] {
            assert!(judge(Method::POST, path, &[("host", "127.0.0.1:8601"), SIGNED]).is_err(), "{path}");
        }
        assert!(judge(Method::POST, "/%zz", &[("host", "127.0.0.1:8601"), SIGNED]).is_err());
        assert!(judge(Method::POST, "/a%00b", &[("host", "127.0.0.1:8601"), SIGNED]).is_err());
        assert_eq!(judge(Method::GET, "/api/nodes", &[("host", api)]), Ok(Route::ExecuteApi));
    }

    #[test]
    fn foreign_hosts_are_refused() {
        for host in [
            "evil.example:8601",
            "127.0.0.1:8602",
            "127.0.0.1",
            "x.execute-api.evil.example:8601",
            "A.execute-api.localhost:8601",
        ] {
            assert!(judge(Method::POST, "/", &[("host", host), SIGNED]).is_err(), "{host}");
        }
        assert!(judge(Method::POST, "/", &[SIGNED]).is_err());
    }

    #[test]
    fn the_site_and_tools_reach_the_api_routes_and_other_pages_do_not() {
        let api = "abc123.execute-api.localhost:8601";
        assert_eq!(
            judge(Method::GET, "/api/nodes", &[("host", api), ("origin", SITE), ("sec-fetch-mode", "cors")]),
            Ok(Route::ExecuteApi)
        );
        assert_eq!(judge(Method::OPTIONS, "/api/nodes", &[("host", api), ("origin", SITE)]), Ok(Route::ExecuteApi));
        assert_eq!(judge(Method::GET, "/api/nodes", &[("host", api)]), Ok(Route::ExecuteApi));
        assert_eq!(
            judge(Method::GET, "/_aws/execute-api/abc123/api/nodes", &[("host", "127.0.0.1:8601")]),
            Ok(Route::ExecuteApi)
        );
        assert!(judge(Method::GET, "/api/nodes", &[("host", api), ("origin", "https://evil.example")]).is_err());
        assert!(judge(Method::GET, "/live", &[("host", api), ("origin", "null")]).is_err());
        assert!(judge(Method::GET, "/api/nodes", &[("host", api), ("sec-fetch-mode", "navigate")]).is_err());
        // The management API is an AWS API, wherever it is addressed.
        let post = "/_aws/execute-api/abc123/live/@connections/Zx1=";
        assert!(judge(Method::POST, post, &[("host", "127.0.0.1:8601")]).is_err());
        assert_eq!(judge(Method::POST, post, &[("host", "127.0.0.1:8601"), SIGNED]), Ok(Route::Aws));
        let delete = "/_aws/execute-api/abc123/live/@connections/Zx1=";
        assert_eq!(judge(Method::DELETE, delete, &[("host", "127.0.0.1:8601"), SIGNED]), Ok(Route::Aws));
        let page = [("host", "127.0.0.1:8601"), ("origin", SITE), SIGNED];
        assert!(judge(Method::POST, post, &page).is_err(), "not even the site posts to connections");
    }

    #[test]
    fn without_a_site_no_browser_reaches_the_api_routes() {
        let policy = Policy { port: 8601, site_origin: None };
        let api = headers(&[("host", "abc.execute-api.localhost:8601"), ("origin", SITE)]);
        assert!(policy.judge(&Method::GET, "/api/nodes", "", &api).is_err());
        let link = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20261204%2Feu-west-1%2Fs3%2Faws4_request\
                    &X-Amz-Signature=00";
        let path = "/brain2-dev-compute-exportsbucket-f4f570318d5d7/exports/0190/0191.json";
        let navigation = headers(&[("host", "127.0.0.1:8601"), ("sec-fetch-mode", "navigate")]);
        assert!(policy.judge(&Method::GET, path, link, &navigation).is_err(), "no browser follows an export's link");
        let tool = headers(&[("host", "127.0.0.1:8601")]);
        assert_eq!(policy.judge(&Method::GET, path, link, &tool), Ok(Route::Aws));
    }

    #[test]
    fn denials_name_function_action_and_resource() {
        let message = r#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/brain2-dev-compute-BackendRole-82F6A8350DC51/brain2-dev-compute-BackendFunction-1D6176909966A is not authorized to perform: dynamodb:Query on resource: arn:aws:dynamodb:eu-west-1:123456789012:table/brain2-dev-memories because no identity-based policy allows the dynamodb:Query action"}"#;
        let denial = Denial::parse(message).unwrap();
        assert_eq!(denial.caller, "backend");
        assert_eq!(function_name("brain2-dev-compute-WsSendMessageFunction-E64117A5B5C9C"), "ws-send-message");
        assert_eq!(function_name("someone"), "someone");
        assert_eq!(denial.action, "dynamodb:Query");
        assert_eq!(denial.resource, "arn:aws:dynamodb:eu-west-1:123456789012:table/brain2-dev-memories");
        assert!(Denial::parse("ResourceNotFoundException").is_none());
    }
}

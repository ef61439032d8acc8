//! The local site's HTTP server on 127.0.0.1: the sign-in under `/auth/v1`, the `config.json`
//! deploy would write, and the built web client's files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::signin::{AuthError, SignIn};
use crate::deploy::site::cache_control;

/// What the server serves.
#[derive(Debug)]
pub struct Site {
    /// `http://127.0.0.1:<port>`: the only origin (and Host) it answers.
    pub origin: String,
    pub signin: SignIn,
    /// The rendered `config.json` (rendered again when an edited stack changes the APIs).
    pub config_json: std::sync::RwLock<String>,
    /// The built web client (`cargo xtask web`'s output, or the local build while following
    /// edits).
    pub site_dir: PathBuf,
    /// The same policy CloudFront sends, with the local API and WebSocket origins.
    pub content_security_policy: String,
    /// While dev follows edits: the tabs' live-reload channel, whose script `index.html` gets.
    pub live: Option<Arc<super::live_reload::LiveReload>>,
}

pub fn router(site: Arc<Site>) -> Router {
    use super::live_reload::{EVENTS_PATH, SCRIPT, SCRIPT_PATH, STYLE, STYLE_PATH};
    let mut router = Router::new();
    if let Some(live) = site.live.clone() {
        router = router
            .route(EVENTS_PATH, get(move || std::future::ready(live.events())))
            .route(
                SCRIPT_PATH,
                get(|| async {
                    ([(header::CONTENT_TYPE, "text/javascript"), (header::CACHE_CONTROL, "no-cache")], SCRIPT)
                }),
            )
            .route(
                STYLE_PATH,
                get(|| async { ([(header::CONTENT_TYPE, "text/css"), (header::CACHE_CONTROL, "no-cache")], STYLE) }),
            );
    }
    router
        .route("/auth/v1/signup", post(sign_up))
        .route("/auth/v1/token", post(token))
        .route("/auth/v1/user", get(user).delete(delete_user))
        .route("/auth/v1/logout", post(logout))
        .route("/auth/v1/health", get(|| async { axum::Json(json!({ "name": "brain2 local sign-in" })) }))
        .route("/config.json", get(config_json))
        .fallback(get(static_file))
        .layer(axum::middleware::from_fn_with_state(site.clone(), security_headers))
        .layer(axum::middleware::from_fn_with_state(site.clone(), own_origin_only))
        .with_state(site)
}

/// Why a request is not the site's own, if it is not: a foreign Host (a name rebound to the
/// loopback), a foreign `Origin`, or another site's page fetching or embedding the sign-in or
/// `config.json` (a link to the site from elsewhere is still a navigation, and served).
pub fn foreign(site_origin: &str, path: &str, headers: &HeaderMap) -> Option<String> {
    let own_host = site_origin.trim_start_matches("http://");
    match header_str(headers, "host") {
        Some(host) if host == own_host => {}
        Some(host) => return Some(format!("foreign Host {host:?}: open {site_origin}/")),
        None => return Some("no Host header".into()),
    }
    if let Some(origin) = header_str(headers, "origin")
        && origin != site_origin
    {
        return Some(format!("origin {origin} is not the local site"));
    }
    let sensitive = path.starts_with("/auth/") || path == "/config.json";
    let cross = matches!(header_str(headers, "sec-fetch-site"), Some("cross-site" | "same-site"));
    (sensitive && cross).then(|| format!("{path} is not served to other sites' pages"))
}

async fn own_origin_only(
    State(site): State<Arc<Site>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match foreign(&site.origin, request.uri().path(), request.headers()) {
        None => next.run(request).await,
        Some(reason) => {
            (StatusCode::FORBIDDEN, format!("refused by cargo xtask dev's site: {reason}\n")).into_response()
        }
    }
}

/// What the frontend stack's response headers policy sends on AWS.
async fn security_headers(
    State(site): State<Arc<Site>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&site.content_security_policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    response
}

fn auth_error(error: AuthError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error.body())).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    header_str(headers, "authorization").and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
}

/// The JSON body, or GoTrue's error for a body that is not what the call expects.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, AuthError> {
    serde_json::from_slice(bytes).map_err(|e| AuthError {
        status: 400,
        error_code: "bad_json",
        message: format!("Could not parse request body as JSON: {e}"),
    })
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize)]
struct TokenQuery {
    grant_type: Option<String>,
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    // Argon2 takes tens of milliseconds: off the async threads.
    tokio::task::spawn_blocking(work).await.expect("sign-in work panicked")
}

async fn sign_up(State(site): State<Arc<Site>>, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Err(error) = site.signin.check_api_key(header_str(&headers, "apikey")) {
        return auth_error(error);
    }
    let credentials: Credentials = match body(&bytes) {
        Ok(c) => c,
        Err(error) => return auth_error(error),
    };
    match blocking(move || site.signin.sign_up(&credentials.email, &credentials.password)).await {
        Ok(session) => axum::Json(session).into_response(),
        Err(error) => auth_error(error),
    }
}

async fn token(
    State(site): State<Arc<Site>>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Err(error) = site.signin.check_api_key(header_str(&headers, "apikey")) {
        return auth_error(error);
    }
    let result = match query.grant_type.as_deref() {
        Some("password") => match body::<Credentials>(&bytes) {
            Ok(c) => blocking(move || site.signin.sign_in_with_password(&c.email, &c.password)).await,
            Err(error) => Err(error),
        },
        Some("refresh_token") => match body::<RefreshBody>(&bytes) {
            Ok(r) => site.signin.refresh(&r.refresh_token),
            Err(error) => Err(error),
        },
        other => Err(AuthError {
            status: 400,
            error_code: "unsupported_grant_type",
            message: format!("unsupported_grant_type {other:?}: the local sign-in supports password and refresh_token"),
        }),
    };
    match result {
        Ok(session) => axum::Json(session).into_response(),
        Err(error) => auth_error(error),
    }
}

async fn user(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    if let Err(error) = site.signin.check_api_key(header_str(&headers, "apikey")) {
        return auth_error(error);
    }
    match site.signin.user(bearer(&headers)) {
        Ok(user) => axum::Json(user).into_response(),
        Err(error) => auth_error(error),
    }
}

async fn delete_user(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    if let Err(error) = site.signin.check_api_key(header_str(&headers, "apikey")) {
        return auth_error(error);
    }
    match site.signin.delete_user(bearer(&headers)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => auth_error(error),
    }
}

async fn logout(State(site): State<Arc<Site>>, headers: HeaderMap) -> Response {
    if let Err(error) = site.signin.check_api_key(header_str(&headers, "apikey")) {
        return auth_error(error);
    }
    match site.signin.logout(bearer(&headers)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => auth_error(error),
    }
}

async fn config_json(State(site): State<Arc<Site>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, cache_control("config.json"))],
        site.config_json.read().expect("config.json lock").clone(),
    )
        .into_response()
}

/// A file of the built client, by URL path; `index.html` for paths that name no file (the
/// client routes them itself).
fn resolve(root: &Path, path: &str) -> Option<(String, PathBuf)> {
    let relative = path.trim_start_matches('/');
    // Only plain names: no `..`, no absolute parts, nothing hidden.
    let safe = relative.split('/').all(|part| !part.is_empty() && !part.starts_with('.'));
    if safe && !relative.is_empty() {
        let candidate = root.join(relative);
        if candidate.is_file() {
            return Some((relative.to_owned(), candidate));
        }
    }
    let index = root.join("index.html");
    index.is_file().then(|| ("index.html".to_owned(), index))
}

async fn static_file(State(site): State<Arc<Site>>, uri: Uri) -> Response {
    let Some((key, path)) = resolve(&site.site_dir, uri.path()) else {
        let message = format!("{} has no index.html; build the client with `cargo xtask web`", site.site_dir.display());
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let bytes = match (&site.live, key.as_str()) {
                (Some(_), "index.html") => super::live_reload::inject(&String::from_utf8_lossy(&bytes)).into_bytes(),
                _ => bytes,
            };
            let content_type = mime_guess::from_path(&path).first_or_octet_stream().essence_str().to_owned();
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                headers.insert(header::CONTENT_TYPE, value);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control(&key)));
            response
        }
        Err(error) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("reading {}: {error}", path.display())).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_the_site_itself_is_answered() {
        let site = "http://127.0.0.1:8600";
        let own = [("host", "127.0.0.1:8600")];
        assert_eq!(foreign(site, "/auth/v1/token", &headers(&own)), None);
        assert_eq!(
            foreign(site, "/auth/v1/token", &headers(&[own[0], ("origin", site), ("sec-fetch-site", "same-origin")])),
            None
        );
        // Someone else's link to the site is a navigation: served.
        assert_eq!(foreign(site, "/", &headers(&[own[0], ("sec-fetch-site", "cross-site")])), None);
        assert!(foreign(site, "/auth/v1/signup", &headers(&[own[0], ("origin", "https://evil.example")])).is_some());
        assert!(foreign(site, "/config.json", &headers(&[own[0], ("sec-fetch-site", "cross-site")])).is_some());
        assert!(foreign(site, "/", &headers(&[("host", "evil.example:8600")])).is_some());
        assert!(
            foreign(site, "/", &headers(&[("host", "localhost:8600")]))
                .unwrap()
                .contains("open http://127.0.0.1:8600/")
        );
    }

    #[test]
    fn only_plain_paths_inside_the_site_are_served() {
        let root = std::env::temp_dir().join(format!("brain2-site-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("assets")).unwrap();
        std::fs::write(root.join("index.html"), "index").unwrap();
        std::fs::write(root.join("assets/app-1.js"), "js").unwrap();
        assert_eq!(resolve(&root, "/assets/app-1.js").unwrap().0, "assets/app-1.js");
        assert_eq!(resolve(&root, "/graph").unwrap().0, "index.html");
        assert_eq!(resolve(&root, "/../../etc/passwd").unwrap().0, "index.html");
        assert_eq!(resolve(&root, "/.hidden").unwrap().0, "index.html");
        std::fs::remove_dir_all(&root).unwrap();
        assert!(resolve(&root, "/").is_none());
    }
}

//! Sign-in against Supabase Auth's REST API (or `cargo xtask dev`'s stand-in, which speaks the
//! same subset): sign up, password sign-in, refresh, sign-out. The session lives in
//! localStorage, so it survives a reload.

use gloo_net::http::Request;
use serde::{Deserialize, Serialize};

/// `config.json`, written by deploy (and by `cargo xtask dev`) next to the site.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    pub environment: String,
    pub http_api_url: String,
    pub web_socket_url: String,
    pub supabase_url: String,
    #[serde(default)]
    pub supabase_anon_key: String,
}

impl RuntimeConfig {
    pub async fn load() -> Result<Self, String> {
        let response =
            Request::get("config.json").send().await.map_err(|e| format!("could not load config.json: {e}"))?;
        if !response.ok() {
            return Err(format!("config.json answered {}", response.status()));
        }
        response.json().await.map_err(|e| format!("config.json is not what the client expects: {e}"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds by this device's clock: when the request for the token was sent plus the
    /// token's `expires_in`. Never the server's `expires_at`, which a device whose clock is off
    /// would misread (ahead: renewing in a loop; behind: using a lapsed token).
    pub expires_at: i64,
    pub email: String,
}

const SESSION_KEY: &str = "brain2.session";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn load_saved() -> Option<Session> {
    let text = storage()?.get_item(SESSION_KEY).ok()??;
    serde_json::from_str(&text).ok()
}

pub fn save(session: &Session) {
    if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(session)) {
        let _ = storage.set_item(SESSION_KEY, &text);
    }
}

pub fn forget() {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(SESSION_KEY);
    }
}

/// Forgets the saved session only if it is the one with `access_token`: a newer one another tab
/// saved stays.
pub fn forget_if(access_token: &str) {
    if load_saved().is_none_or(|saved| saved.access_token == access_token) {
        forget();
    }
}

/// A value kept in localStorage under `key` (the draft a user was typing, for instance).
pub fn stash(key: &str, value: &str) {
    if let Some(storage) = storage() {
        let _ = if value.is_empty() { storage.remove_item(key) } else { storage.set_item(key, value) };
    }
}

pub fn unstash(key: &str) -> String {
    storage().and_then(|s| s.get_item(key).ok().flatten()).unwrap_or_default()
}

pub fn now_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// Why a call to the sign-in service failed.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    /// The service answered no; `code` is GoTrue's `error_code` when it gave one.
    Refused { message: String, code: Option<String> },
    /// No answer, or a transient one (429, 5xx): worth trying again later.
    Unreachable(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Refused { message, .. } => f.write_str(message),
            AuthError::Unreachable(why) => write!(f, "the sign-in service cannot be reached ({why})"),
        }
    }
}

/// What a sign-up gives: a session, or (when the service confirms e-mail addresses first, as
/// Supabase does by default) nothing until the user opens the link it mailed.
#[derive(Debug, Clone, PartialEq)]
pub enum SignUp {
    Session(Session),
    ConfirmEmail,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    expires_in: Option<i64>,
    user: Option<User>,
}

#[derive(Deserialize)]
struct User {
    email: Option<String>,
}

#[derive(Deserialize)]
struct AuthErrorBody {
    msg: Option<String>,
    message: Option<String>,
    error_description: Option<String>,
    error_code: Option<String>,
}

/// Supabase's access tokens live an hour unless the answer says otherwise.
const DEFAULT_LIFETIME_SECONDS: i64 = 3600;

/// A POST to the sign-in service; the answer's body, and the device time the request was sent.
async fn call(
    config: &RuntimeConfig,
    path: &str,
    body: serde_json::Value,
) -> Result<(serde_json::Value, i64), AuthError> {
    let url = format!("{}/auth/v1/{path}", config.supabase_url.trim_end_matches('/'));
    let sent_at = now_seconds();
    let request = Request::post(&url)
        .header("apikey", &config.supabase_anon_key)
        .json(&body)
        .map_err(|e| AuthError::Refused { message: e.to_string(), code: None })?;
    let response = request.send().await.map_err(|e| AuthError::Unreachable(e.to_string()))?;
    let status = response.status();
    if !response.ok() {
        let body: Option<AuthErrorBody> = response.json().await.ok();
        let code = body.as_ref().and_then(|b| b.error_code.clone());
        let message = body
            .and_then(|b| b.msg.or(b.message).or(b.error_description))
            .unwrap_or_else(|| format!("the sign-in service answered {status}"));
        return Err(if status == 429 || status >= 500 {
            AuthError::Unreachable(message)
        } else {
            AuthError::Refused { message, code }
        });
    }
    let answer = response
        .json()
        .await
        .map_err(|e| AuthError::Refused { message: format!("unexpected sign-in answer: {e}"), code: None })?;
    Ok((answer, sent_at))
}

fn session_from(answer: serde_json::Value, sent_at: i64, email: &str) -> Result<Session, AuthError> {
    let token: TokenResponse = serde_json::from_value(answer)
        .map_err(|e| AuthError::Refused { message: format!("unexpected sign-in answer: {e}"), code: None })?;
    let lifetime = token.expires_in.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    let email = token.user.and_then(|u| u.email).unwrap_or_else(|| email.to_owned());
    Ok(Session {
        access_token: token.access_token,
        refresh_token: token.refresh_token,
        expires_at: sent_at + lifetime,
        email,
    })
}

pub async fn sign_in(config: &RuntimeConfig, email: &str, password: &str) -> Result<Session, AuthError> {
    let body = serde_json::json!({ "email": email, "password": password });
    let (answer, sent_at) = call(config, "token?grant_type=password", body).await?;
    session_from(answer, sent_at, email)
}

pub async fn sign_up(config: &RuntimeConfig, email: &str, password: &str) -> Result<SignUp, AuthError> {
    let (answer, sent_at) = call(config, "signup", serde_json::json!({ "email": email, "password": password })).await?;
    // With confirmation on, GoTrue answers the new user alone: no tokens.
    if answer.get("access_token").is_none() {
        return Ok(SignUp::ConfirmEmail);
    }
    session_from(answer, sent_at, email).map(SignUp::Session)
}

pub async fn refresh(config: &RuntimeConfig, session: &Session) -> Result<Session, AuthError> {
    let body = serde_json::json!({ "refresh_token": session.refresh_token });
    let (answer, sent_at) = call(config, "token?grant_type=refresh_token", body).await?;
    session_from(answer, sent_at, &session.email)
}

pub async fn sign_out(config: &RuntimeConfig, session: &Session) {
    let url = format!("{}/auth/v1/logout", config.supabase_url.trim_end_matches('/'));
    let _ = Request::post(&url)
        .header("apikey", &config.supabase_anon_key)
        .header("Authorization", &format!("Bearer {}", session.access_token))
        .send()
        .await;
}

/// Deletes the signed-in user from the sign-in service, after `DELETE /api/account`. The local
/// sign-in of `cargo xtask dev` does; Supabase keeps user deletion in its admin API, so there the
/// call is refused and the user is only signed out (README, "Deleting an account").
pub async fn delete_user(config: &RuntimeConfig, session: &Session) -> bool {
    let url = format!("{}/auth/v1/user", config.supabase_url.trim_end_matches('/'));
    Request::delete(&url)
        .header("apikey", &config.supabase_anon_key)
        .header("Authorization", &format!("Bearer {}", session.access_token))
        .send()
        .await
        .is_ok_and(|r| r.ok())
}

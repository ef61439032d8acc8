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
    /// Unix seconds.
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

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    expires_at: Option<i64>,
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
}

async fn token_call(
    config: &RuntimeConfig,
    path: &str,
    body: serde_json::Value,
    email: &str,
) -> Result<Session, String> {
    let url = format!("{}/auth/v1/{path}", config.supabase_url.trim_end_matches('/'));
    let response = Request::post(&url)
        .header("apikey", &config.supabase_anon_key)
        .json(&body)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| format!("the sign-in service cannot be reached: {e}"))?;
    if !response.ok() {
        let status = response.status();
        let body: Option<AuthErrorBody> = response.json().await.ok();
        let message = body
            .and_then(|b| b.msg.or(b.message).or(b.error_description))
            .unwrap_or_else(|| format!("the sign-in service answered {status}"));
        return Err(message);
    }
    let token: TokenResponse = response.json().await.map_err(|e| format!("unexpected sign-in answer: {e}"))?;
    let expires_at = token.expires_at.unwrap_or_else(|| now_seconds() + token.expires_in.unwrap_or(3600));
    let email = token.user.and_then(|u| u.email).unwrap_or_else(|| email.to_owned());
    Ok(Session { access_token: token.access_token, refresh_token: token.refresh_token, expires_at, email })
}

pub async fn sign_in(config: &RuntimeConfig, email: &str, password: &str) -> Result<Session, String> {
    token_call(config, "token?grant_type=password", serde_json::json!({ "email": email, "password": password }), email)
        .await
}

pub async fn sign_up(config: &RuntimeConfig, email: &str, password: &str) -> Result<Session, String> {
    token_call(config, "signup", serde_json::json!({ "email": email, "password": password }), email).await
}

pub async fn refresh(config: &RuntimeConfig, session: &Session) -> Result<Session, String> {
    token_call(
        config,
        "token?grant_type=refresh_token",
        serde_json::json!({ "refresh_token": session.refresh_token }),
        &session.email,
    )
    .await
}

pub async fn sign_out(config: &RuntimeConfig, session: &Session) {
    let url = format!("{}/auth/v1/logout", config.supabase_url.trim_end_matches('/'));
    let _ = Request::post(&url)
        .header("apikey", &config.supabase_anon_key)
        .header("Authorization", &format!("Bearer {}", session.access_token))
        .send()
        .await;
}

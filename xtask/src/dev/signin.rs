//! The local sign-in: the subset of Supabase Auth's REST API (GoTrue) that the web client uses,
//! so Brain2 runs without a Supabase project.
//!
//! - `POST /auth/v1/signup` `{email, password}`: creates a confirmed user and a session; or, when
//!   `settings.json` beside the users says `{"mailer_autoconfirm": false}` (Supabase's default:
//!   e-mail confirmation on), an unconfirmed user and no session, as GoTrue answers, and that
//!   user's sign-in is refused with `email_not_confirmed` (no e-mail is sent; nothing confirms);
//! - `POST /auth/v1/token?grant_type=password` `{email, password}`: a session;
//! - `POST /auth/v1/token?grant_type=refresh_token` `{refresh_token}`: a new session; the refresh
//!   token is rotated (the old one stops working);
//! - `GET /auth/v1/user` with `Authorization: Bearer <access token>`: the user;
//! - `POST /auth/v1/logout` with the bearer token: revokes the user's refresh tokens;
//! - `DELETE /auth/v1/user` with the bearer token: deletes the user (after `DELETE /api/account`;
//!   Supabase keeps this in its admin API).
//!
//! Every call needs the anon key in the `apikey` header, as Supabase's gateway does. Access
//! tokens are HS256 JWTs with Supabase's claims (`iss = <origin>/auth/v1`, `aud =
//! authenticated`, `sub` the user's UUID), signed with a secret kept in the emulator's Secrets
//! Manager, which the real authorizer reads and verifies against. Passwords are stored as
//! Argon2id hashes and refresh tokens as SHA-256 digests, in `users.json` under the data folder,
//! written whole and renamed into place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Access tokens live as long as Supabase's default.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;
/// Unused refresh tokens expire after this long.
pub const REFRESH_TOKEN_SECONDS: i64 = 30 * 24 * 3600;
/// Supabase's minimum password length.
pub const MIN_PASSWORD_CHARS: usize = 6;
const USERS_FILE: &str = "users.json";
/// GoTrue's settings the stand-in reads at each sign-up (only `mailer_autoconfirm`, default on).
const SETTINGS_FILE: &str = "settings.json";

/// A failed call, in GoTrue's error shape: `{code, error_code, msg}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub status: u16,
    pub error_code: &'static str,
    pub message: String,
}

impl AuthError {
    fn new(status: u16, error_code: &'static str, message: impl Into<String>) -> Self {
        Self { status, error_code, message: message.into() }
    }
    pub fn body(&self) -> Value {
        json!({ "code": self.status, "error_code": self.error_code, "msg": self.message })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredUser {
    id: String,
    email: String,
    password_hash: String,
    created_at: String,
    last_sign_in_at: String,
    /// Set while the user has not confirmed their e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confirmation_sent_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRefresh {
    user_id: String,
    session_id: String,
    expires_at: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Store {
    users: Vec<StoredUser>,
    /// By the SHA-256 of the token, hex.
    refresh_tokens: BTreeMap<String, StoredRefresh>,
}

/// The sign-in service: its users, its signing secret, its issuer.
pub struct SignIn {
    issuer: String,
    secret: Vec<u8>,
    anon_key: String,
    file: PathBuf,
    store: Mutex<Store>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn").field("issuer", &self.issuer).field("file", &self.file).finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    email: String,
    phone: String,
    role: String,
    aal: String,
    session_id: String,
    is_anonymous: bool,
    app_metadata: Value,
    user_metadata: Value,
    amr: Value,
}

/// A new random secret for signing tokens: 48 bytes, URL-safe base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 48];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The anon key for `secret`: a JWT with `role: anon`, as Supabase issues, deterministic so that
/// the site's configuration does not change between runs.
pub fn anon_key(issuer: &str, secret: &[u8]) -> Result<String> {
    brain2_shared::jwt_crypto::install();
    let claims = json!({ "iss": issuer, "role": "anon", "iat": 0, "exp": 4_102_444_800i64 });
    Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))?)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn timestamp(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A plausible e-mail address: one `@`, something on both sides, a dot in the domain.
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && email.len() <= 254
}

impl SignIn {
    /// Opens (or creates) the user store in `folder`. `origin` is the site's origin; tokens are
    /// issued by `<origin>/auth/v1`.
    pub fn open(folder: &Path, origin: &str, secret: &[u8]) -> Result<Self> {
        brain2_shared::jwt_crypto::install();
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        let file = folder.join(USERS_FILE);
        let store = match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!("{} is not a sign-in user store; move it away or pass --fresh", file.display())
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Store::default(),
            Err(error) => return Err(error).with_context(|| format!("reading {}", file.display())),
        };
        let issuer = format!("{}/auth/v1", origin.trim_end_matches('/'));
        let anon_key = anon_key(&issuer, secret)?;
        Ok(Self { issuer, secret: secret.to_vec(), anon_key, file, store: Mutex::new(store) })
    }

    pub fn anon_key(&self) -> &str {
        &self.anon_key
    }

    pub fn user_count(&self) -> usize {
        self.store.lock().expect("sign-in store").users.len()
    }

    fn save(&self, store: &Store) -> Result<(), AuthError> {
        let write = || -> Result<()> {
            let temporary = self.file.with_extension("json.partial");
            std::fs::write(&temporary, serde_json::to_string_pretty(store)? + "\n")?;
            std::fs::rename(&temporary, &self.file)?;
            Ok(())
        };
        write().map_err(|e| AuthError::new(500, "unexpected_failure", format!("saving the user store: {e:#}")))
    }

    /// Whether sign-up waits for the e-mail address to be confirmed (`settings.json`).
    fn confirms_email(&self) -> bool {
        let Some(folder) = self.file.parent() else { return false };
        std::fs::read_to_string(folder.join(SETTINGS_FILE))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|settings| settings["mailer_autoconfirm"] == json!(false))
    }

    /// Checks the `apikey` header.
    pub fn check_api_key(&self, apikey: Option<&str>) -> Result<(), AuthError> {
        match apikey {
            Some(key) if key == self.anon_key => Ok(()),
            Some(_) => Err(AuthError::new(401, "invalid_api_key", "Invalid API key")),
            None => Err(AuthError::new(401, "no_api_key", "No API key found in request")),
        }
    }

    pub fn sign_up(&self, email: &str, password: &str) -> Result<Value, AuthError> {
        let email = email.trim().to_lowercase();
        if !valid_email(&email) {
            return Err(AuthError::new(400, "validation_failed", "Unable to validate email address: invalid format"));
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AuthError::new(
                422,
                "weak_password",
                format!("Password should be at least {MIN_PASSWORD_CHARS} characters."),
            ));
        }
        let salt = SaltString::generate(&mut OsRng);
        let password_hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| AuthError::new(500, "unexpected_failure", format!("hashing the password: {e}")))?
            .to_string();
        let confirm = self.confirms_email();
        let mut store = self.store.lock().expect("sign-in store");
        if store.users.iter().any(|u| u.email == email) {
            return Err(AuthError::new(422, "user_already_exists", "User already registered"));
        }
        let created = now();
        let user = StoredUser {
            id: uuid::Uuid::new_v4().to_string(),
            email,
            password_hash,
            created_at: timestamp(created),
            last_sign_in_at: timestamp(created),
            confirmation_sent_at: confirm.then(|| timestamp(created)),
        };
        store.users.push(user.clone());
        if confirm {
            self.save(&store)?;
            return Ok(user_json(&user));
        }
        let session = self.new_session(&mut store, &user, uuid::Uuid::new_v4().to_string())?;
        self.save(&store)?;
        Ok(session)
    }

    pub fn sign_in_with_password(&self, email: &str, password: &str) -> Result<Value, AuthError> {
        let invalid = || AuthError::new(400, "invalid_credentials", "Invalid login credentials");
        let email = email.trim().to_lowercase();
        let mut store = self.store.lock().expect("sign-in store");
        let Some(index) = store.users.iter().position(|u| u.email == email) else { return Err(invalid()) };
        let hash = PasswordHash::new(&store.users[index].password_hash)
            .map_err(|e| AuthError::new(500, "unexpected_failure", format!("stored password hash: {e}")))?;
        Argon2::default().verify_password(password.as_bytes(), &hash).map_err(|_| invalid())?;
        if store.users[index].confirmation_sent_at.is_some() {
            return Err(AuthError::new(400, "email_not_confirmed", "Email not confirmed"));
        }
        store.users[index].last_sign_in_at = timestamp(now());
        let user = store.users[index].clone();
        let session = self.new_session(&mut store, &user, uuid::Uuid::new_v4().to_string())?;
        self.save(&store)?;
        Ok(session)
    }

    pub fn refresh(&self, refresh_token: &str) -> Result<Value, AuthError> {
        let not_found =
            || AuthError::new(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
        let mut store = self.store.lock().expect("sign-in store");
        let stored = store.refresh_tokens.remove(&digest(refresh_token)).ok_or_else(not_found)?;
        if stored.expires_at < now() {
            self.save(&store)?;
            return Err(not_found());
        }
        let Some(user) = store.users.iter().find(|u| u.id == stored.user_id).cloned() else {
            self.save(&store)?;
            return Err(AuthError::new(404, "user_not_found", "User from sub claim in JWT does not exist"));
        };
        let session = self.new_session(&mut store, &user, stored.session_id)?;
        self.save(&store)?;
        Ok(session)
    }

    /// The user a valid access token names.
    pub fn user(&self, bearer: Option<&str>) -> Result<Value, AuthError> {
        let claims = self.verify(bearer)?;
        let store = self.store.lock().expect("sign-in store");
        let user = store
            .users
            .iter()
            .find(|u| u.id == claims.sub)
            .ok_or_else(|| AuthError::new(404, "user_not_found", "User from sub claim in JWT does not exist"))?;
        Ok(user_json(user))
    }

    /// Revokes every refresh token of the token's user (Supabase's default `global` scope).
    pub fn logout(&self, bearer: Option<&str>) -> Result<(), AuthError> {
        let claims = self.verify(bearer)?;
        let mut store = self.store.lock().expect("sign-in store");
        store.refresh_tokens.retain(|_, r| r.user_id != claims.sub);
        self.save(&store)
    }

    /// Deletes the token's user and their refresh tokens: what the web client calls once the
    /// API has deleted the account's data (`DELETE /api/account`). Supabase offers this only
    /// to its admin API (service-role key), which the client never holds; README says so.
    pub fn delete_user(&self, bearer: Option<&str>) -> Result<(), AuthError> {
        let claims = self.verify(bearer)?;
        let mut store = self.store.lock().expect("sign-in store");
        let before = store.users.len();
        store.users.retain(|u| u.id != claims.sub);
        if store.users.len() == before {
            return Err(AuthError::new(404, "user_not_found", "User from sub claim in JWT does not exist"));
        }
        store.refresh_tokens.retain(|_, r| r.user_id != claims.sub);
        self.save(&store)
    }

    fn verify(&self, bearer: Option<&str>) -> Result<AccessClaims, AuthError> {
        let token =
            bearer.ok_or_else(|| AuthError::new(401, "no_authorization", "This endpoint requires a Bearer token"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&["authenticated"]);
        jsonwebtoken::decode::<AccessClaims>(token, &DecodingKey::from_secret(&self.secret), &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                AuthError::new(403, "bad_jwt", format!("invalid JWT: unable to parse or verify signature, {e}"))
            })
    }

    fn new_session(&self, store: &mut Store, user: &StoredUser, session_id: String) -> Result<Value, AuthError> {
        let issued = now();
        let expires_at = issued + ACCESS_TOKEN_SECONDS;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: user.id.clone(),
            aud: "authenticated".into(),
            exp: expires_at,
            iat: issued,
            email: user.email.clone(),
            phone: String::new(),
            role: "authenticated".into(),
            aal: "aal1".into(),
            session_id: session_id.clone(),
            is_anonymous: false,
            app_metadata: json!({ "provider": "email", "providers": ["email"] }),
            user_metadata: json!({}),
            amr: json!([{ "method": "password", "timestamp": issued }]),
        };
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.secret))
                .map_err(|e| AuthError::new(500, "unexpected_failure", format!("signing the token: {e}")))?;
        let refresh_token = random_token();
        store.refresh_tokens.retain(|_, r| r.expires_at >= issued);
        store.refresh_tokens.insert(
            digest(&refresh_token),
            StoredRefresh { user_id: user.id.clone(), session_id, expires_at: issued + REFRESH_TOKEN_SECONDS },
        );
        Ok(json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "expires_at": expires_at,
            "refresh_token": refresh_token,
            "user": user_json(user),
        }))
    }
}

fn user_json(user: &StoredUser) -> Value {
    let confirmed_at = if user.confirmation_sent_at.is_some() { Value::Null } else { json!(user.created_at) };
    json!({
        "id": user.id,
        "aud": "authenticated",
        "role": "authenticated",
        "email": user.email,
        "email_confirmed_at": confirmed_at,
        "confirmed_at": confirmed_at,
        "confirmation_sent_at": user.confirmation_sent_at,
        "phone": "",
        "last_sign_in_at": user.last_sign_in_at,
        "app_metadata": { "provider": "email", "providers": ["email"] },
        "user_metadata": {},
        "identities": [],
        "created_at": user.created_at,
        "updated_at": user.last_sign_in_at,
        "is_anonymous": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(folder: &Path) -> SignIn {
        SignIn::open(folder, "http://127.0.0.1:8600", b"a-test-secret-of-enough-length-for-hs256").unwrap()
    }

    fn temporary() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("brain2-signin-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn sign_up_then_sign_in_refresh_and_logout() {
        let dir = temporary();
        let signin = service(&dir);
        let session = signin.sign_up("Ada@Example.com", "correct horse").unwrap();
        assert_eq!(session["user"]["email"], "ada@example.com");
        let token = session["access_token"].as_str().unwrap();
        assert_eq!(signin.user(Some(token)).unwrap()["id"], session["user"]["id"]);

        let again = signin.sign_in_with_password("ada@example.com", "correct horse").unwrap();
        let refreshed = signin.refresh(again["refresh_token"].as_str().unwrap()).unwrap();
        assert_eq!(refreshed["user"]["id"], session["user"]["id"]);
        // Rotation: a refresh token works once.
        let reused = signin.refresh(again["refresh_token"].as_str().unwrap()).unwrap_err();
        assert_eq!(reused.error_code, "refresh_token_not_found");

        signin.logout(Some(token)).unwrap();
        let revoked = signin.refresh(refreshed["refresh_token"].as_str().unwrap()).unwrap_err();
        assert_eq!(revoked.status, 400);

        // Deleting the user: gone, and the e-mail address is free again.
        let other = signin.sign_up("grace@example.com", "another horse").unwrap();
        signin.delete_user(Some(token)).unwrap();
        assert_eq!(signin.user(Some(token)).unwrap_err().status, 404);
        assert_eq!(signin.delete_user(Some(token)).unwrap_err().status, 404);
        assert_eq!(signin.user_count(), 1, "the other user stays");
        assert!(signin.user(other["access_token"].as_str()).is_ok());
        assert!(signin.sign_up("ada@example.com", "correct horse").is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_input_gets_gotrue_errors() {
        let dir = temporary();
        let signin = service(&dir);
        assert_eq!(signin.sign_up("not-an-email", "long enough").unwrap_err().error_code, "validation_failed");
        assert_eq!(signin.sign_up("a@b.co", "short").unwrap_err().error_code, "weak_password");
        signin.sign_up("a@b.co", "long enough").unwrap();
        assert_eq!(signin.sign_up("A@B.co", "long enough").unwrap_err().error_code, "user_already_exists");
        let wrong = signin.sign_in_with_password("a@b.co", "wrong password").unwrap_err();
        let unknown = signin.sign_in_with_password("nobody@b.co", "long enough").unwrap_err();
        assert_eq!(wrong, unknown, "an unknown user and a wrong password look the same");
        assert_eq!(signin.user(Some("not.a.jwt")).unwrap_err().error_code, "bad_jwt");
        assert_eq!(signin.check_api_key(None).unwrap_err().status, 401);
        assert!(signin.check_api_key(Some(signin.anon_key())).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sign_up_with_email_confirmation_answers_without_a_session() {
        let dir = temporary();
        let signin = service(&dir);
        std::fs::write(dir.join(SETTINGS_FILE), r#"{"mailer_autoconfirm": false}"#).unwrap();
        let user = signin.sign_up("wait@example.com", "a password").unwrap();
        assert!(user.get("access_token").is_none(), "no session: {user}");
        assert_eq!(user["email"], "wait@example.com");
        assert_eq!(user["email_confirmed_at"], Value::Null);
        let refused = signin.sign_in_with_password("wait@example.com", "a password").unwrap_err();
        assert_eq!((refused.status, refused.error_code), (400, "email_not_confirmed"));
        std::fs::remove_file(dir.join(SETTINGS_FILE)).unwrap();
        assert!(signin.sign_up("now@example.com", "a password").unwrap()["access_token"].is_string());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn users_survive_a_restart_and_passwords_are_hashed() {
        let dir = temporary();
        service(&dir).sign_up("keep@example.com", "a password").unwrap();
        let text = std::fs::read_to_string(dir.join(USERS_FILE)).unwrap();
        assert!(!text.contains("a password"));
        assert!(text.contains("$argon2id$"));
        let reopened = service(&dir);
        assert_eq!(reopened.user_count(), 1);
        reopened.sign_in_with_password("keep@example.com", "a password").unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tokens_carry_supabase_claims() {
        let dir = temporary();
        let signin = service(&dir);
        let session = signin.sign_up("claims@example.com", "a password").unwrap();
        let token = session["access_token"].as_str().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["iss"], "http://127.0.0.1:8600/auth/v1");
        assert_eq!(claims["aud"], "authenticated");
        assert!(uuid::Uuid::parse_str(claims["sub"].as_str().unwrap()).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! Request extractors whose failures are 400s that say what was wrong.

use axum::body::{Bytes, to_bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use brain2_shared::domain::{NodeId, UserId};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Bodies over this many bytes are refused.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The caller, as the authorizer established it. A layer puts it in the request's extensions:
/// from the Lambda request context, or a fixed user when served locally.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().copied().ok_or(ApiError::Unauthorized)
    }
}

/// A JSON body: `Content-Type: application/json`, at most 64 KiB, no unknown fields.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::BadRequest(format!(
                "Content-Type must be application/json, not {:?}",
                if content_type.is_empty() { "(none)" } else { content_type }
            )));
        }
        let bytes: Bytes = to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::BadRequest(format!("the body is over {} KiB", MAX_BODY_BYTES / 1024)))?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

/// Parses a path id, or says it is not a UUID.
pub fn node_id(text: &str) -> Result<NodeId, ApiError> {
    NodeId::parse(text).ok_or_else(|| ApiError::BadRequest(format!("nodeId {text:?} is not a UUID")))
}

//! API errors: `{"error": "<message>"}` with the right status. A 500 never carries internals:
//! the cause goes to the logs, the client reads "internal error".

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized,
    /// A missing node, or another user's: the two look the same.
    NotFound,
    MethodNotAllowed,
    /// The answer would be larger than one response may be.
    TooLarge(String),
    /// What the request was about went away while it was served (the account, deleted).
    Gone(String),
    /// The stored node is at version `current`; `node` is it, for the client to show.
    Conflict {
        current: u64,
        node: Option<Box<brain2_api::NodeView>>,
    },
    Internal(String),
}

impl ApiError {
    pub fn internal(error: impl std::fmt::Display) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut stored = None;
        let (status, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "node not found".to_owned()),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed".to_owned()),
            ApiError::TooLarge(message) => (StatusCode::UNPROCESSABLE_ENTITY, message),
            ApiError::Gone(message) => (StatusCode::GONE, message),
            ApiError::Conflict { current, node } => {
                stored = node.map(|n| *n);
                (StatusCode::CONFLICT, format!("the node has changed; its current version is {current}"))
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_owned())
            }
        };
        (status, Json(brain2_api::ErrorBody { error: message, current: stored })).into_response()
    }
}

//! What a user owns, as a whole: `GET /api/export`, `POST /api/import` and `DELETE /api/account`
//! (brain2-shared's `transfer` does the work).

use axum::body::{Bytes, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use brain2_api::export::{MAX_IMPORT_BYTES, MAX_INLINE_EXPORT_BYTES, MAX_INLINE_ZIP_BYTES};
use brain2_api::{AccountDeleted, ExportFormat, ImportReport};
use brain2_shared::domain;
use brain2_shared::events::{self};
use brain2_shared::{markdown, transfer};
use futures::StreamExt;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Caller;

/// NodeCreated events of an import published at once.
const ANNOUNCE_PARALLELISM: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    format: Option<String>,
}

/// Every memory of the caller as one JSON document (`brain2_api::Export`), or as a zip of
/// Markdown notes (`?format=markdown`), as a download.
pub(crate) async fn export(
    State(state): State<AppState>,
    Caller(user): Caller,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))?;
    let format = match query.format.as_deref() {
        None => ExportFormat::Json,
        Some(text) => ExportFormat::parse(text)
            .ok_or_else(|| ApiError::BadRequest(format!("format {text:?} must be \"json\" or \"markdown\"")))?,
    };
    let now = state.now();
    let document = state.store.export(user, now).await.map_err(ApiError::internal)?;
    let (body, limit) = match format {
        ExportFormat::Json => (serde_json::to_vec(&document).map_err(ApiError::internal)?, MAX_INLINE_EXPORT_BYTES),
        ExportFormat::Markdown => (markdown::export_zip(&document).map_err(ApiError::internal)?, MAX_INLINE_ZIP_BYTES),
    };
    if body.len() > limit {
        // Lambda answers at most 6 MB. Larger exports need the S3 download, which this API does
        // not offer yet (README, "What a user owns"): say so rather than fail at the gateway.
        return Err(ApiError::TooLarge(format!(
            "the export is {} bytes, over the {limit} bytes one answer can carry; exports this large are not \
             available yet",
            body.len()
        )));
    }
    Ok(download(format, body, now))
}

/// A 200 that browsers save under a dated name.
fn download(format: ExportFormat, body: Vec<u8>, now: time::OffsetDateTime) -> Response {
    let name = format!("brain2-export-{}.{}", now.date(), format.file_extension());
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    response
}

/// Imports an export document or a zip of Markdown notes: checked whole first, then each new memory written with its
/// postings in one transaction, and announced so that connect-node links it.
pub(crate) async fn import(
    State(state): State<AppState>,
    Caller(user): Caller,
    request: Request,
) -> Result<Response, ApiError> {
    let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let format = match essence.as_str() {
        "application/json" => ExportFormat::Json,
        "application/zip" | "application/x-zip-compressed" => ExportFormat::Markdown,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "Content-Type must be application/json (a Brain2 export) or application/zip (Markdown notes), not {:?}",
                if content_type.is_empty() { "(none)" } else { &content_type }
            )));
        }
    };
    let body: Bytes = to_bytes(request.into_body(), MAX_IMPORT_BYTES).await.map_err(|_| {
        ApiError::BadRequest(format!("the body is over {} MiB; send the import in parts", MAX_IMPORT_BYTES >> 20))
    })?;
    let memories = match format {
        ExportFormat::Json => transfer::from_export(&body),
        ExportFormat::Markdown => markdown::from_zip(&body),
    }
    .map_err(|e| ApiError::BadRequest(e.0))?;
    let (created, already_present) = state.store.import(user, &memories).await.map_err(ApiError::internal)?;
    // Announced a few at once: each is one PutEvents call, and an import may hold a thousand.
    let state = &state;
    futures::stream::iter(created.iter().cloned())
        .for_each_concurrent(ANNOUNCE_PARALLELISM, |node| async move {
            state.announce_node(events::NODE_CREATED, &node).await;
        })
        .await;
    let report = ImportReport { format, memories: memories.len(), created: created.len(), already_present };
    Ok((StatusCode::OK, axum::Json(report)).into_response())
}

/// Removes every item of the caller: the partition of MemoryTable (nodes, edges, postings) and
/// their open WebSocket connections. Sending it again after a failure finishes it.
pub(crate) async fn delete_account(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<axum::Json<AccountDeleted>, ApiError> {
    let mut deleted = state.store.delete_partition(user).await.map_err(ApiError::internal)?;
    if let Some(connections) = &state.connections {
        let open = connections.of_user(user).await.map_err(ApiError::internal)?;
        for connection in &open {
            connections.delete(connection).await.map_err(ApiError::internal)?;
        }
        deleted.connections = open.len();
    }
    tracing::info!(user = %user, nodes = deleted.nodes, at = %domain::rfc3339(state.now()), "account deleted");
    Ok(axum::Json(deleted))
}

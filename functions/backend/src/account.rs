//! What a user owns, as a whole: `GET /api/export`, `POST /api/import` and `DELETE /api/account`
//! (brain2-shared's `transfer` does the work).

use axum::body::{Bytes, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use brain2_api::export::{MAX_IMPORT_BYTES, MAX_INLINE_EXPORT_BYTES, MAX_INLINE_ZIP_BYTES};
use brain2_api::{AccountDeleted, ExportFormat, ImportReport};
use brain2_shared::domain;
use brain2_shared::dynamo::StoreError;
use brain2_shared::events::{self};
use brain2_shared::transfer::Imported;
use brain2_shared::{markdown, transfer};
use futures::StreamExt;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Caller;

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
    let carried = carried_len(format, &body);
    if carried <= limit {
        return Ok(download(format, body, now));
    }
    // Lambda answers at most 6 MB: a larger export is written to the exports bucket and the
    // answer says where to fetch it.
    let Some(exports) = &state.exports else {
        return Err(ApiError::TooLarge(format!(
            "the export is {} bytes ({carried} as the answer carries it), over the {limit} bytes one answer can \
             carry, and this backend has no exports bucket (EXPORTS_BUCKET_NAME) to hand it out from",
            body.len()
        )));
    };
    let (key, link) =
        exports.put(user, format, body, document.memories.len(), now.date()).await.map_err(ApiError::internal)?;
    // An account deleted meanwhile may have listed its exports before this one was written: the
    // export must not outlive it. Deletion empties the partition before it lists, so a partition
    // that still holds an item means its listing comes later and finds this export; an empty one
    // means it may have missed it (an export this large is never of an empty partition).
    if state.store.partition_is_empty(user).await.map_err(ApiError::internal)? {
        exports.delete(&key).await.map_err(ApiError::internal)?;
        return Err(ApiError::Gone(
            "every memory of the account was deleted while its export was being written (an account deletion?); \
             the export was not kept"
                .to_owned(),
        ));
    }
    let mut response = (StatusCode::CREATED, axum::Json(&link)).into_response();
    if let Ok(location) = HeaderValue::from_str(&link.download_url) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// The bytes of `body` that count against Lambda's 6 MB answer. A JSON export goes inside the
/// answer as a JSON string, so each `"` and `\` (and so each escape the export already holds)
/// is escaped once more; a zip is counted as it is, its limit leaving room for base64.
fn carried_len(format: ExportFormat, body: &[u8]) -> usize {
    match format {
        ExportFormat::Json => body
            .iter()
            .map(|&byte| match byte {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
                0..=0x1f => 6,
                _ => 1,
            })
            .sum(),
        ExportFormat::Markdown => body.len(),
    }
}

/// A 200 that browsers save under a dated name.
fn download(format: ExportFormat, body: Vec<u8>, now: time::OffsetDateTime) -> Response {
    let name = format.file_name(now.date());
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
    // Each memory is announced as soon as it is written, and every memory is tried even after
    // one fails. What a request cut off between a write and its announcement (a timeout) or
    // whose announcement failed (EventBridge out of reach, logged and counted) leaves
    // unannounced, the same import sent again announces (`Imported::Unlinked`).
    let state = &state;
    let outcomes: Vec<(domain::NodeId, Result<Imported, StoreError>)> = futures::stream::iter(memories.iter().cloned())
        .map(|memory| async move {
            let outcome = state.store.import_one(user, &memory).await;
            if let Ok(Imported::Created(node) | Imported::Unlinked(node)) = &outcome {
                state.announce_node(events::NODE_CREATED, node).await;
            }
            (memory.id, outcome)
        })
        .buffer_unordered(transfer::IMPORT_PARALLELISM)
        .collect()
        .await;
    let mut report =
        ImportReport { format, memories: memories.len(), created: 0, already_present: 0, being_deleted: Vec::new() };
    let mut failed = Vec::new();
    for (id, outcome) in outcomes {
        match outcome {
            Ok(Imported::Created(_)) => report.created += 1,
            Ok(Imported::Present | Imported::Unlinked(_)) => report.already_present += 1,
            Ok(Imported::BeingDeleted) => report.being_deleted.push(id),
            Err(error) => failed.push(error),
        }
    }
    report.being_deleted.sort();
    if let Some(error) = failed.into_iter().next() {
        // What was written is announced; the same import again writes the rest.
        return Err(ApiError::internal(error));
    }
    Ok((StatusCode::OK, axum::Json(report)).into_response())
}

/// Removes every item of the caller: the partition of MemoryTable (nodes, edges, postings),
/// their open WebSocket connections and the exports waiting in the exports bucket. Sending it again after a failure finishes it.
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
    if let Some(exports) = &state.exports {
        deleted.exports = exports.delete_all(user).await.map_err(ApiError::internal)?;
    }
    tracing::info!(user = %user, nodes = deleted.nodes, at = %domain::rfc3339(state.now()), "account deleted");
    Ok(axum::Json(deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_export_is_counted_as_the_lambda_answer_carries_it() {
        let export = serde_json::to_vec(&serde_json::json!({
            "content": "quotes \" and backslashes \\ and a tab\t, a bell \u{7}, and ünïcode"
        }))
        .unwrap();
        let carried = serde_json::to_string(std::str::from_utf8(&export).unwrap()).unwrap().len() - 2;
        assert_eq!(carried_len(ExportFormat::Json, &export), carried);
        assert!(carried > export.len());
    }
}

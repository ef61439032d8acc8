//! The Brain2 HTTP API as an axum router. On Lambda it serves the HTTP API's proxy
//! integration events (`lambda.rs`, `main.rs`); the same routes run locally behind a fixed
//! user (`bin/local.rs`).

mod account;
pub mod error;
pub mod exports;
pub mod extract;
pub mod lambda;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use brain2_api::{
    BulkDeleteRequest, BulkDeleteResponse, BulkDeleteResult, BulkDeleteStatus, GraphElements, NodePage, SearchPage,
    graph::{MAX_ELEMENTS_PAGE_BYTES, MAX_GRAPH_PAGE},
};
use brain2_shared::domain::Node;
use brain2_shared::domain::{self, MAX_BULK_DELETE, NodeId, NodeInput, NodeView, UserId};
use brain2_shared::events::{self, NodeChanged, NodeDeleted, Publisher};
use brain2_shared::memory::{MemoryStore, UpdateError};
use futures::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use error::ApiError;
use extract::{Caller, JsonBody, node_id};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: MemoryStore,
    /// Open WebSocket connections, which account deletion removes (absent when served locally
    /// without them).
    pub connections: Option<brain2_shared::connections::ConnectionStore>,
    pub publisher: Publisher,
    /// Where exports too large for one answer go (absent when served locally without a
    /// bucket: such an export is refused with 422).
    pub exports: Option<exports::ExportBucket>,
    pub environment: String,
    pub clock: Arc<dyn Fn() -> OffsetDateTime + Send + Sync>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("environment", &self.environment).finish_non_exhaustive()
    }
}

impl AppState {
    /// The state the environment describes: `MEMORY_TABLE_NAME`, `EVENT_BUS_NAME`,
    /// `KEYWORD_INDEX_NAME` (default `KeywordIndex`), `SEARCH_INDEX_NAME` (default
    /// `UserKeywordIndex`), `CONNECTIONS_TABLE_NAME` and `CONNECTIONS_INDEX_NAME` (default
    /// `connection-id-index`; without the table, account deletion has no connections to remove),
    /// `EXPORTS_BUCKET_NAME` (without it, an export too large for one answer is refused) and
    /// `ENVIRONMENT` (default: the caller's).
    pub fn from_env(
        sdk: &brain2_shared::aws::SdkConfig,
        env: &dyn brain2_shared::config::Source,
        default_environment: &str,
    ) -> Result<Self, brain2_shared::config::ConfigError> {
        use brain2_shared::config::{optional, required};
        Ok(Self {
            store: MemoryStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                required(env, "MEMORY_TABLE_NAME")?,
                optional(env, "KEYWORD_INDEX_NAME").unwrap_or_else(|| "KeywordIndex".to_owned()),
            )
            .with_search_index(
                optional(env, "SEARCH_INDEX_NAME").unwrap_or_else(|| brain2_shared::search::SEARCH_INDEX.to_owned()),
            ),
            connections: match optional(env, "CONNECTIONS_TABLE_NAME") {
                Some(_) => Some(brain2_shared::connections::ConnectionStore::from_env(
                    aws_sdk_dynamodb::Client::new(sdk),
                    env,
                )?),
                None => None,
            },
            publisher: Publisher::new(
                aws_sdk_eventbridge::Client::new(sdk),
                required(env, "EVENT_BUS_NAME")?,
                events::API_SOURCE,
            ),
            exports: optional(env, "EXPORTS_BUCKET_NAME").map(|bucket| exports::ExportBucket::from_sdk(sdk, bucket)),
            environment: optional(env, "ENVIRONMENT").unwrap_or_else(|| default_environment.to_owned()),
            clock: Arc::new(OffsetDateTime::now_utc),
        })
    }
}

/// The routes. Every `/api` route needs a [`Caller`] in the request's extensions.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/nodes", get(list_nodes).post(create_node))
        .route("/api/nodes/bulk-delete", post(bulk_delete))
        .route("/api/nodes/{node_id}", get(get_node).put(update_node).delete(delete_node))
        .route("/api/graph-data", get(graph_data))
        .route("/api/search", get(search))
        .route("/api/export", get(account::export))
        .route("/api/import", post(account::import))
        .route("/api/account", axum::routing::delete(account::delete_account))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({ "error": "no such route" }))) })
        .with_state(state)
}

/// Middleware for Lambda: the caller is the `sub` the HTTP API's Lambda authorizer put in the
/// request context. Without one the request goes on without a caller, and `/api` refuses it.
pub async fn caller_from_lambda_context(mut request: Request, next: Next) -> Response {
    let sub = request
        .extensions()
        .get::<lambda::HttpApiContext>()
        .and_then(|context| context.authorizer_value("sub"))
        .and_then(Value::as_str)
        .and_then(|s| uuid::Uuid::parse_str(s).ok());
    if let Some(sub) = sub {
        request.extensions_mut().insert(Caller(UserId(sub)));
    }
    next.run(request).await
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

impl AppState {
    fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// Publishes after a write. The write already succeeded, so a final failure is logged and
    /// counted (the stacks alarm on the metric) and the request still succeeds.
    async fn announce(&self, detail_type: &str, node: NodeId, detail: &impl serde::Serialize) {
        if let Err(error) = self.publisher.publish(detail_type, detail).await {
            tracing::error!(%error, %node, "the write is done but its event could not be published");
            let now_ms = self.now().unix_timestamp_nanos() / 1_000_000;
            events::record_publish_failure(&self.environment, now_ms);
        }
    }

    async fn announce_node(&self, detail_type: &str, node: &Node) {
        let detail = NodeChanged {
            user_id: node.owner.to_string(),
            node_id: node.id,
            node: Some(domain::summary(node)),
            memory: Some(domain::view(node, None)),
        };
        self.announce(detail_type, node.id, &detail).await;
    }

    /// Deletes one node and announces it; `Ok(false)` when there was no such node.
    async fn delete_and_announce(&self, user: UserId, id: NodeId) -> Result<bool, brain2_shared::dynamo::StoreError> {
        if self.store.delete(user, id, self.now()).await?.is_none() {
            return Ok(false);
        }
        self.announce(events::NODE_DELETED, id, &NodeDeleted { user_id: user.to_string(), node_id: id }).await;
        Ok(true)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_nodes(
    State(state): State<AppState>,
    Caller(user): Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NodePage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))?;
    let limit = page_limit(query.limit.as_deref(), domain::DEFAULT_PAGE_SIZE, domain::MAX_PAGE_SIZE)?;
    let page = state
        .store
        .list(user, limit, query.cursor.as_deref())
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(NodePage {
        nodes: page.nodes.iter().map(|n| domain::view(n, None)).collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn create_node(
    State(state): State<AppState>,
    Caller(user): Caller,
    JsonBody(input): JsonBody<NodeInput>,
) -> Result<Response, ApiError> {
    let input = input.validate().map_err(|e| ApiError::BadRequest(e.0))?;
    let node = state.store.create(user, input, state.now()).await.map_err(ApiError::internal)?;
    state.announce_node(events::NODE_CREATED, &node).await;
    Ok((StatusCode::CREATED, Json(domain::view(&node, None))).into_response())
}

async fn get_node(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<NodeView>, ApiError> {
    let id = node_id(&id)?;
    let node = state.store.get(user, id).await.map_err(ApiError::internal)?.ok_or(ApiError::NotFound)?;
    let edges = state.store.edges(user, id).await.map_err(ApiError::internal)?;
    let neighbours: BTreeSet<NodeId> = edges.into_iter().map(|e| e.target).collect();
    Ok(Json(domain::view(&node, Some(neighbours.into_iter().collect()))))
}

/// `If-Match: 3` or `If-Match: "3"` (`brain2_api::IF_MATCH_PATTERN`).
fn expected_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(brain2_api::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or("");
    brain2_api::parse_if_match(text)
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest(format!("If-Match must be a node version number, not {text:?}")))
}

async fn update_node(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<NodeInput>,
) -> Result<Json<NodeView>, ApiError> {
    let id = node_id(&id)?;
    let expected = expected_version(&headers)?;
    let input = input.validate().map_err(|e| ApiError::BadRequest(e.0))?;
    let node = match state.store.update(user, id, input, expected, state.now()).await {
        Ok(node) => node,
        Err(UpdateError::NotFound) => return Err(ApiError::NotFound),
        Err(UpdateError::Conflict { current, .. }) => {
            // The client shows the stored version beside the user's, so it comes with the 409.
            let stored = state.store.get(user, id).await.map_err(ApiError::internal)?;
            return Err(ApiError::Conflict { current, node: stored.map(|n| Box::new(domain::view(&n, None))) });
        }
        Err(UpdateError::Store(e)) => return Err(ApiError::internal(e)),
    };
    state.announce_node(events::NODE_UPDATED, &node).await;
    Ok(Json(domain::view(&node, None)))
}

async fn delete_node(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = node_id(&id)?;
    if state.delete_and_announce(user, id).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Deletes at most this many nodes at once.
const BULK_PARALLELISM: usize = 8;

async fn bulk_delete(
    State(state): State<AppState>,
    Caller(user): Caller,
    JsonBody(request): JsonBody<BulkDeleteRequest>,
) -> Result<Response, ApiError> {
    if request.node_ids.is_empty() || request.node_ids.len() > MAX_BULK_DELETE {
        return Err(ApiError::BadRequest(format!(
            "nodeIds must hold 1 to {MAX_BULK_DELETE} ids, not {}",
            request.node_ids.len()
        )));
    }
    let mut ids = Vec::with_capacity(request.node_ids.len());
    for (i, text) in request.node_ids.iter().enumerate() {
        let id =
            NodeId::parse(text).ok_or_else(|| ApiError::BadRequest(format!("nodeIds[{i}] {text:?} is not a UUID")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let results: Vec<BulkDeleteResult> = stream::iter(ids.iter().copied())
        .map(|id| {
            let state = &state;
            async move {
                let status = match state.delete_and_announce(user, id).await {
                    Ok(true) => BulkDeleteStatus::Deleted,
                    Ok(false) => BulkDeleteStatus::NotFound,
                    Err(error) => {
                        tracing::error!(%error, %id, "bulk delete of one node failed");
                        BulkDeleteStatus::Failed
                    }
                };
                BulkDeleteResult { node_id: id, status }
            }
        })
        .buffered(BULK_PARALLELISM)
        .collect()
        .await;
    let response = BulkDeleteResponse::new(results);
    let status = StatusCode::from_u16(response.status()).expect("bulk delete statuses are valid");
    Ok((status, Json(response)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphQuery {
    limit: Option<String>,
    cursor: Option<String>,
    format: Option<String>,
}

/// One page of the graph: `?limit=` nodes (1 to 5,000, all by default) after `?cursor=`, in the
/// compact projection (`brain2_api::graph`), or with `?format=elements` as Cytoscape elements
/// for the first version's client (`brain2_api::GraphElements`).
async fn graph_data(
    State(state): State<AppState>,
    Caller(user): Caller,
    query: Result<Query<GraphQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))?;
    let limit = page_limit(query.limit.as_deref(), MAX_GRAPH_PAGE, MAX_GRAPH_PAGE)?;
    let elements = match query.format.as_deref() {
        None | Some("compact") => false,
        Some("elements") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!("format {other:?} must be \"compact\" or \"elements\"")));
        }
    };
    if elements {
        let page = state
            .store
            .graph_elements(user, limit, query.cursor.as_deref(), MAX_ELEMENTS_PAGE_BYTES)
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        return Ok(Json::<GraphElements>(page).into_response());
    }
    let page = state
        .store
        .graph_page(user, limit, query.cursor.as_deref())
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(page).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: Option<String>,
    cursor: Option<String>,
}

/// `?q=` searched among all of the caller's memories, ranked, a page of 20 below `?cursor=`.
async fn search(
    State(state): State<AppState>,
    Caller(user): Caller,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchPage>, ApiError> {
    use brain2_api::search::{MAX_QUERY_CHARS, SearchCursor};
    let Query(query) = query.map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))?;
    let text = query.q.unwrap_or_default();
    let length = text.chars().count();
    if length > MAX_QUERY_CHARS || text.trim().is_empty() {
        return Err(ApiError::BadRequest(format!(
            "q must be 1 to {MAX_QUERY_CHARS} characters and not blank; it has {length}"
        )));
    }
    let after = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(SearchCursor::parse(cursor).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "cursor {cursor:?} is not one this API returned (a page's nextCursor, like 2.6.<memory id>)"
            ))
        })?),
    };
    Ok(Json(state.store.search(user, &text, after).await.map_err(ApiError::internal)?))
}

/// `?limit=`: `default` when absent, else a whole number from 1 to `max`.
fn page_limit(text: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match text {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!("limit {text:?} must be a whole number from 1 to {max}"))),
        },
    }
}

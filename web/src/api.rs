//! The Brain2 HTTP API, with the types of `brain2-api`.

use brain2_api::{
    AccountDeleted, BulkDeleteRequest, BulkDeleteResponse, ErrorBody, ExportFormat, GraphEdge, GraphNode, GraphPage,
    ImportReport, NodeId, NodeInput, NodePage, NodeView, SearchPage,
};
use gloo_net::http::{Request, RequestBuilder, Response};

/// Why a call failed, as the interface treats it.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The token was refused: back to sign-in.
    Unauthorized,
    /// The memory changed elsewhere; here is the stored version.
    Conflict(Box<NodeView>),
    NotFound,
    /// No answer at all: the API is down or unreachable.
    Down(String),
    /// Any other refusal, with the API's message.
    Failed(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Unauthorized => f.write_str("your session has ended; sign in again"),
            ApiError::Conflict(_) => f.write_str("this memory was changed elsewhere"),
            ApiError::NotFound => f.write_str("that memory no longer exists"),
            ApiError::Down(why) => write!(f, "the Brain2 API cannot be reached ({why})"),
            ApiError::Failed(message) => f.write_str(message),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
}

/// A read that has not answered in this long is treated as a lost connection: a stopped or
/// overloaded API otherwise leaves a fetch waiting for minutes, and the page with it.
const READ_TIMEOUT_MS: u32 = 15_000;

/// What `GET /api/export` gave.
pub enum Exported {
    Bytes(Vec<u8>),
    /// Too large for one answer: written to S3, fetched through this short-lived link.
    Link(brain2_api::ExportLink),
}

async fn check(response: Result<Response, gloo_net::Error>) -> Result<Response, ApiError> {
    let response = response.map_err(|e| ApiError::Down(e.to_string()))?;
    match response.status() {
        200..=299 => Ok(response),
        401 | 403 => Err(ApiError::Unauthorized),
        404 => Err(ApiError::NotFound),
        409 => match response.json::<ErrorBody>().await {
            Ok(ErrorBody { current: Some(current), .. }) => Err(ApiError::Conflict(Box::new(current))),
            Ok(body) => Err(ApiError::Failed(body.error)),
            Err(_) => Err(ApiError::Failed("conflict".to_owned())),
        },
        // API Gateway answers 5xx itself when the function or the emulator fails; 429 is its
        // throttling. Both pass, so they are retried like a lost connection.
        status @ (429 | 502..=504) => Err(ApiError::Down(format!("HTTP {status}"))),
        status => {
            let message =
                response.json::<ErrorBody>().await.map(|b| b.error).unwrap_or_else(|_| format!("HTTP {status}"));
            Err(ApiError::Failed(message))
        }
    }
}

async fn json<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    response.json().await.map_err(|e| ApiError::Failed(e.to_string()))
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }

    fn authorized(&self, builder: RequestBuilder) -> RequestBuilder {
        builder.header("Authorization", &format!("Bearer {}", self.token))
    }

    /// A GET, given up after [`READ_TIMEOUT_MS`] (body included). Writes have no such limit:
    /// a write given up on may still happen, and sending it again would do it twice.
    async fn read<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ApiError> {
        let controller = web_sys::AbortController::new().ok();
        let signal = controller.as_ref().map(web_sys::AbortController::signal);
        let timed_out = std::rc::Rc::new(std::cell::Cell::new(false));
        let _deadline = controller.map(|controller| {
            let timed_out = timed_out.clone();
            gloo_timers::callback::Timeout::new(READ_TIMEOUT_MS, move || {
                timed_out.set(true);
                controller.abort();
            })
        });
        let request = self.authorized(Request::get(url)).abort_signal(signal.as_ref());
        let answer = async { json(check(request.send().await).await?).await }.await;
        match answer {
            Err(_) if timed_out.get() => Err(ApiError::Down(format!("no answer within {} s", READ_TIMEOUT_MS / 1000))),
            answer => answer,
        }
    }

    pub async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<NodePage, ApiError> {
        let mut url = self.url(&format!("/api/nodes?limit={limit}"));
        if let Some(cursor) = cursor {
            url.push_str("&cursor=");
            url.push_str(&String::from(js_sys::encode_uri_component(cursor)));
        }
        self.read(&url).await
    }

    pub async fn create(&self, input: &NodeInput) -> Result<NodeView, ApiError> {
        let request = self.authorized(Request::post(&self.url("/api/nodes"))).json(input);
        json(check(request.map_err(|e| ApiError::Failed(e.to_string()))?.send().await).await?).await
    }

    pub async fn get(&self, id: NodeId) -> Result<NodeView, ApiError> {
        self.read(&self.url(&format!("/api/nodes/{id}"))).await
    }

    /// Replaces content and tags; sends the version the edit started from, and a 409 carries
    /// the newer stored node.
    pub async fn update(&self, id: NodeId, input: &NodeInput, version: u64) -> Result<NodeView, ApiError> {
        let request = self
            .authorized(Request::put(&self.url(&format!("/api/nodes/{id}"))))
            .header(brain2_api::IF_MATCH, &version.to_string())
            .json(input);
        json(check(request.map_err(|e| ApiError::Failed(e.to_string()))?.send().await).await?).await
    }

    pub async fn delete(&self, id: NodeId) -> Result<(), ApiError> {
        check(self.authorized(Request::delete(&self.url(&format!("/api/nodes/{id}")))).send().await).await.map(|_| ())
    }

    pub async fn bulk_delete(&self, ids: &[NodeId]) -> Result<BulkDeleteResponse, ApiError> {
        let body = BulkDeleteRequest { node_ids: ids.iter().map(ToString::to_string).collect() };
        let request = self.authorized(Request::post(&self.url("/api/nodes/bulk-delete"))).json(&body);
        json(check(request.map_err(|e| ApiError::Failed(e.to_string()))?.send().await).await?).await
    }

    /// The whole graph, every page of graph-data.
    pub async fn graph(&self) -> Result<(Vec<GraphNode>, Vec<GraphEdge>), ApiError> {
        let (mut nodes, mut edges) = (Vec::new(), Vec::new());
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(cursor) => {
                    self.url(&format!("/api/graph-data?cursor={}", String::from(js_sys::encode_uri_component(cursor))))
                }
                None => self.url("/api/graph-data"),
            };
            let page: GraphPage = self.read(&url).await?;
            nodes.extend(page.nodes().map_err(|e| ApiError::Failed(e.to_string()))?);
            edges.extend(page.edges().map_err(|e| ApiError::Failed(e.to_string()))?);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok((nodes, edges)),
            }
        }
    }

    /// A page of search results for `query`.
    pub async fn search(&self, query: &str, cursor: Option<&str>) -> Result<SearchPage, ApiError> {
        let mut url = self.url(&format!("/api/search?q={}", String::from(js_sys::encode_uri_component(query))));
        if let Some(cursor) = cursor {
            url.push_str("&cursor=");
            url.push_str(cursor);
        }
        self.read(&url).await
    }

    /// The whole export: its bytes, or (201) a link to it when it is too large for one answer.
    pub async fn export(&self, format: ExportFormat) -> Result<Exported, ApiError> {
        let format = match format {
            ExportFormat::Json => "json",
            ExportFormat::Markdown => "markdown",
        };
        let request = self.authorized(Request::get(&self.url(&format!("/api/export?format={format}"))));
        let response = check(request.send().await).await?;
        if response.status() == 201 {
            return Ok(Exported::Link(json(response).await?));
        }
        response.binary().await.map(Exported::Bytes).map_err(|e| ApiError::Failed(e.to_string()))
    }

    /// Sends one import: an export document (JSON) or a zip of Markdown notes.
    pub async fn import(&self, body: Vec<u8>, content_type: &str) -> Result<ImportReport, ApiError> {
        let array = js_sys::Uint8Array::from(body.as_slice());
        let request = self
            .authorized(Request::post(&self.url("/api/import")))
            .header("Content-Type", content_type)
            .body(wasm_bindgen::JsValue::from(array))
            .map_err(|e| ApiError::Failed(e.to_string()))?;
        json(check(request.send().await).await?).await
    }

    pub async fn delete_account(&self) -> Result<AccountDeleted, ApiError> {
        json(check(self.authorized(Request::delete(&self.url("/api/account"))).send().await).await?).await
    }
}

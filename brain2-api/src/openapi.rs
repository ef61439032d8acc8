//! The HTTP API's OpenAPI 3.1 document and the WebSocket messages' JSON Schema, generated from
//! this crate's types. `cargo xtask schema` writes them to `docs/api/`; a test fails when the
//! committed files are stale, and schemathesis checks the running API against the document.
//!
//! Request bodies use the types' deserialize contract, responses their serialize contract.
//! Every status code a route can answer is listed: the backend's, and those API Gateway answers
//! in front of it (401 and 403 from the authorizer, 429 from throttling, 5xx when the function
//! fails), which carry `{"message": …}`.

use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::export::{Export, ExportLink, MAX_IMPORT_BYTES, MAX_IMPORT_MEMORIES};
use crate::graph::{GraphElements, GraphPage, MAX_GRAPH_PAGE};
use crate::search::{MAX_QUERY_CHARS, SEARCH_CURSOR_PATTERN, SEARCH_PAGE_SIZE, SearchPage};
use crate::{
    AccountDeleted, BulkDeleteRequest, BulkDeleteResponse, ErrorBody, IF_MATCH, IF_MATCH_PATTERN, ImportReport,
    LiveMessage, MAX_PAGE_SIZE, NON_BLANK, NodeId, NodeInput, NodePage, NodeView,
};

/// Where the schemas live in the document.
const COMPONENTS: &str = "/components/schemas";

fn generator(contract: Contract) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = COMPONENTS.into();
    settings.meta_schema = None;
    settings.contract = contract;
    settings.into_generator()
}

/// The schemas of one contract, by reference.
struct Schemas {
    generator: SchemaGenerator,
}

impl Schemas {
    fn of<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

/// A created memory's 201, with links to what can be done with it next. (No link to bulk delete:
/// a checker following one would take the memory's later 404s for a lost resource.)
fn created(schema: Value) -> Value {
    let mut answer = response("The stored memory.", schema);
    let id = "$response.body#/nodeId";
    answer["links"] = json!({
        "GetNode": { "operationId": "getNode", "parameters": { "nodeId": id } },
        "UpdateNode": { "operationId": "updateNode", "parameters": { "nodeId": id } },
        "DeleteNode": { "operationId": "deleteNode", "parameters": { "nodeId": id } }
    });
    answer
}

fn shared(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// The responses every `/api` operation can give besides its own.
fn api_responses(own: Value) -> Value {
    let mut responses = own.as_object().cloned().unwrap_or_default();
    for (status, name) in [
        ("400", "BadRequest"),
        ("401", "Unauthorized"),
        ("403", "Forbidden"),
        ("429", "TooManyRequests"),
        ("500", "InternalError"),
        ("503", "Unavailable"),
    ] {
        responses.entry(status).or_insert_with(|| shared(name));
    }
    Value::Object(responses)
}

fn limit_parameter(default: usize, max: usize, what: &str) -> Value {
    json!({
        "name": "limit",
        "in": "query",
        "required": false,
        "description": format!("How many {what} (default {default})."),
        "schema": { "type": "integer", "minimum": 1, "maximum": max }
    })
}

fn cursor_parameter() -> Value {
    json!({
        "name": "cursor",
        "in": "query",
        "required": false,
        "description": "The previous page's nextCursor: the page starts after that node.",
        "schema": { "type": "string", "format": "uuid" }
    })
}

/// The OpenAPI 3.1 document of the HTTP API.
pub fn document() -> Value {
    let mut requests = Schemas { generator: generator(Contract::Deserialize) };
    let mut responses = Schemas { generator: generator(Contract::Serialize) };
    let node_id = responses.of::<NodeId>();
    let node_path = json!({
        "name": "nodeId", "in": "path", "required": true,
        "description": "The node's id.", "schema": node_id
    });
    let not_found = shared("NotFound");
    let error_body = responses.of::<ErrorBody>();
    let paths = json!({
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness: the backend answers.",
                "security": [],
                "responses": {
                    "200": response("The backend is up.", json!({
                        "type": "object",
                        "properties": { "status": { "const": "ok" } },
                        "required": ["status"]
                    })),
                    "429": shared("TooManyRequests"),
                    "500": shared("InternalError"),
                    "503": shared("Unavailable")
                }
            }
        },
        "/api/nodes": {
            "get": {
                "operationId": "listNodes",
                "summary": "The caller's memories, newest first, a page at a time.",
                "parameters": [limit_parameter(crate::DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, "memories a page holds"), cursor_parameter()],
                "responses": api_responses(json!({ "200": response("A page of memories.", responses.of::<NodePage>()) }))
            },
            "post": {
                "operationId": "createNode",
                "summary": "Writes a memory; connect-node links it to others after it is stored.",
                "requestBody": { "required": true, "content": json_content(requests.of::<NodeInput>()) },
                "responses": api_responses(json!({ "201": created(responses.of::<NodeView>()) }))
            }
        },
        "/api/nodes/bulk-delete": {
            "post": {
                "operationId": "bulkDelete",
                "summary": "Deletes up to 100 memories, each with its postings and edges.",
                "description": "200: every id is gone and at least one was deleted. 207: some deletes failed. \
                                404: none of the ids existed. 500: nothing was deleted because deletes failed. \
                                Failed ids can be sent again.",
                "requestBody": { "required": true, "content": json_content(requests.of::<BulkDeleteRequest>()) },
                "responses": api_responses(json!({
                    "200": response("All deleted or not found.", responses.of::<BulkDeleteResponse>()),
                    "207": response("Some deletes failed.", responses.of::<BulkDeleteResponse>()),
                    "404": response("None of the ids existed.", responses.of::<BulkDeleteResponse>()),
                    "500": response("Nothing was deleted because deletes failed.", json!({
                        "anyOf": [responses.of::<BulkDeleteResponse>(), { "$ref": "#/components/schemas/GatewayMessage" }]
                    }))
                }))
            }
        },
        "/api/nodes/{nodeId}": {
            "parameters": [node_path],
            "get": {
                "operationId": "getNode",
                "summary": "One memory, with the ids of the memories it is linked to.",
                "responses": api_responses(json!({
                    "200": response("The memory and its links (edges).", responses.of::<NodeView>()),
                    "404": not_found
                }))
            },
            "put": {
                "operationId": "updateNode",
                "summary": "Replaces a memory's content and tags.",
                "parameters": [{
                    "name": IF_MATCH, "in": "header", "required": false,
                    "description": "The version the edit is based on; a newer stored version answers 409.",
                    "schema": { "type": "string", "pattern": IF_MATCH_PATTERN }
                }],
                "requestBody": { "required": true, "content": json_content(requests.of::<NodeInput>()) },
                "responses": api_responses(json!({
                    "200": response("The stored memory.", responses.of::<NodeView>()),
                    "404": not_found,
                    "409": response("The memory changed since that version; `current` is the stored one.", responses.of::<ErrorBody>())
                }))
            },
            "delete": {
                "operationId": "deleteNode",
                "summary": "Deletes a memory with its postings and edges. A failed delete finishes when sent again.",
                "responses": api_responses(json!({ "204": { "description": "Deleted." }, "404": not_found }))
            }
        },
        "/api/graph-data": {
            "get": {
                "operationId": "graphData",
                "summary": "A page of the caller's graph in a compact projection (at most 1 MB).",
                "description": "With format=elements, the same page as Cytoscape.js elements (at most 4 MB), \
                                the format the first version's web client reads; its edges are those between \
                                two of the page's nodes.",
                "parameters": [
                    limit_parameter(MAX_GRAPH_PAGE, MAX_GRAPH_PAGE, "nodes a page holds"),
                    cursor_parameter(),
                    {
                        "name": "format", "in": "query", "required": false,
                        "description": "compact (the default) or elements.",
                        "schema": { "type": "string", "enum": ["compact", "elements"] }
                    }
                ],
                "responses": api_responses(json!({ "200": response("A page of the graph.", json!({
                    "anyOf": [responses.of::<GraphPage>(), responses.of::<GraphElements>()]
                })) }))
            }
        },
        "/api/search": {
            "get": {
                "operationId": "search",
                "summary": "The caller's memories matching a query, ranked, 20 at a time.",
                "description": "Words match keywords equal to them or starting with them; tag:x (or #x) \
                                matches memories tagged x. More terms matched ranks first, then exact matches \
                                over prefixes, then the newest.",
                "parameters": [
                    {
                        "name": "q", "in": "query", "required": true,
                        "description": "Words and tags, separated by spaces.",
                        "schema": { "type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": NON_BLANK }
                    },
                    {
                        "name": "cursor", "in": "query", "required": false,
                        "description": format!("The previous page's nextCursor (pages hold {SEARCH_PAGE_SIZE} results)."),
                        "schema": { "type": "string", "pattern": SEARCH_CURSOR_PATTERN }
                    }
                ],
                "responses": api_responses(json!({ "200": response("A page of results.", responses.of::<SearchPage>()) }))
            }
        },
        "/api/export": {
            "get": {
                "operationId": "exportMemories",
                "summary": "Every memory of the caller, with tags, keywords, links, versions and times.",
                "parameters": [{
                    "name": "format", "in": "query", "required": false,
                    "description": "json (the default): the export document of export.schema.json; markdown: a zip \
                                    of one Markdown file per memory, with front matter and [[links]].",
                    "schema": { "type": "string", "enum": ["json", "markdown"] }
                }],
                "responses": api_responses(json!({
                    "200": {
                        "description": "The export, as a download.",
                        "content": {
                            "application/json": { "schema": responses.of::<Export>() },
                            "application/zip": { "schema": { "type": "string", "format": "binary" } }
                        }
                    },
                    "201": {
                        "description": "The export is larger than one answer may carry (about 5.5 MB of JSON, 4 MB \
                                        of zip): it was written to S3, and downloadUrl (also in Location) fetches \
                                        it, without credentials, until expiresAt (5 minutes).",
                        "headers": { "Location": { "description": "The download URL.", "schema": { "type": "string" } } },
                        "content": { "application/json": { "schema": responses.of::<ExportLink>() } }
                    },
                    "410": response(
                        "The account was deleted while its export was being written; nothing of it is kept.",
                        error_body.clone()
                    ),
                    "422": response(
                        "The export is larger than one answer may carry and this backend has no exports bucket \
                         (a local backend run without EXPORTS_BUCKET_NAME).",
                        error_body.clone()
                    )
                }))
            }
        },
        "/api/import": {
            "post": {
                "operationId": "importMemories",
                "summary": "Adds the memories of an export document or a zip of Markdown notes (an Obsidian \
                            vault); the same import twice adds nothing.",
                "description": format!(
                    "The document is checked whole before anything is written; a memory whose id is \
                     there already is left as it is. At most {MAX_IMPORT_MEMORIES} memories and {} MiB per \
                     import; a larger export is sent in parts.",
                    MAX_IMPORT_BYTES >> 20
                ),
                "requestBody": { "required": true, "content": {
                    "application/json": { "schema": requests.of::<Export>() },
                    "application/zip": { "schema": { "type": "string", "format": "binary" } }
                } },
                "responses": api_responses(json!({
                    "200": response("What the import held and what it added.", responses.of::<ImportReport>())
                }))
            }
        },
        "/api/account": {
            "delete": {
                "operationId": "deleteAccount",
                "summary": "Removes every memory, link, keyword posting, open connection and waiting export of the caller.",
                "description": "Sending it again after a failure finishes it.",
                "responses": api_responses(json!({
                    "200": response("What was removed.", responses.of::<AccountDeleted>())
                }))
            }
        }
    });
    let gateway_or_backend =
        json!({ "anyOf": [error_body.clone(), { "$ref": "#/components/schemas/GatewayMessage" }] });
    let gateway = json!({ "$ref": "#/components/schemas/GatewayMessage" });
    let mut schemas = merge(requests.generator.take_definitions(true), responses.generator.take_definitions(true));
    schemas.insert(
        "GatewayMessage".to_owned(),
        json!({
            "description": "What API Gateway answers itself (authorizer, throttling, a failed function).",
            "type": "object",
            "properties": { "message": { "type": "string" } },
            "required": ["message"]
        }),
    );
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Brain2 HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A personal knowledge graph: memories, their keywords and the links between memories \
                            that share keywords. Every /api route needs a Supabase access token. Live updates \
                            arrive over the WebSocket API as the messages of live-message.schema.json."
        },
        "security": [{ "supabase": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "supabase": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                              "description": "A Supabase access token; the API's Lambda authorizer verifies it." }
            },
            "responses": {
                "BadRequest": response("The request breaks a rule the message names.", error_body.clone()),
                "NotFound": response("No such memory (or another user's).", error_body),
                "Unauthorized": response("No token (API Gateway).", gateway.clone()),
                "Forbidden": response("The token was refused (API Gateway).", gateway.clone()),
                "TooManyRequests": response("Throttled (API Gateway).", gateway.clone()),
                "InternalError": response("The backend or API Gateway failed.", gateway_or_backend),
                "Unavailable": response("The function could not be run (API Gateway).", gateway)
            },
            "schemas": schemas
        }
    })
}

/// The two contracts' schemas in one map. A type both contracts describe must come out the same.
fn merge(requests: Map<String, Value>, responses: Map<String, Value>) -> Map<String, Value> {
    let mut all = responses;
    for (name, schema) in requests {
        if let Some(existing) = all.get(&name) {
            assert_eq!(existing, &schema, "{name} differs between requests and responses; name them apart");
        }
        all.insert(name, schema);
    }
    all.sort_keys();
    all
}

/// The JSON Schema of a WebSocket message (`LiveMessage`).
pub fn live_message_schema() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.contract = Contract::Serialize;
    let schema = settings.into_generator().into_root_schema_for::<LiveMessage>();
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "description".to_owned(),
            json!("What the Brain2 WebSocket API pushes after a change to the user's graph (format version 2: see brain2-api's live module)."),
        );
    }
    value
}

/// The JSON Schema of the export document (`GET /api/export`, `POST /api/import`).
pub fn export_schema() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.contract = Contract::Serialize;
    let schema = settings.into_generator().into_root_schema_for::<Export>();
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "description".to_owned(),
            json!(
                "A Brain2 export: every memory of a user, with its tags, keywords, links, version and times \
                   (format version 1). POST /api/import takes it back."
            ),
        );
    }
    value
}

/// A generated document as committed: pretty JSON with a final newline.
pub fn to_file_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

//! The compute stack: the event bus and its rules, the six Rust functions with exactly the
//! permissions each needs, and the WebSocket API.

use brain2_iac::aws::lambda::function::Architecture as LambdaArchitecture;
use brain2_iac::cfn::RemovalPolicy;
use brain2_iac::cfn::{App, ParameterSpec, Result, StackId, Value, fns};
use brain2_iac::config::{Architecture, EnvironmentConfig, FunctionConfig};
use brain2_iac::constructs::api::{Api, ApiProps, AuthorizerProps, Throttle};
use brain2_iac::constructs::events::{Delivery, EventBus, FunctionRule, Retry, pattern};
use brain2_iac::constructs::function::VpcAttachment;
use brain2_iac::constructs::iam::{Statement, grant, suppress};
use brain2_iac::constructs::{
    AsyncFailure, BucketProps, CodeLocation, EncryptionKey, PrivateBucket, RustFunction, RustFunctionProps,
};

use crate::database::{CONNECTION_INDEX, Database, KEYWORD_INDEX, SEARCH_INDEX};
use crate::network;

/// What the api and monitoring code wires to.
#[derive(Debug, Clone)]
pub struct Compute {
    pub bus: EventBus,
    pub backend: RustFunction,
    pub connect_node: RustFunction,
    pub ws_connect: RustFunction,
    pub ws_disconnect: RustFunction,
    pub ws_send_message: RustFunction,
    pub authorizer: RustFunction,
    pub rules: Vec<FunctionRule>,
    pub websocket: Api,
    /// The customer-managed key of the logs, function environments and queues, when the
    /// environment uses them; the api stack's access logs use it too.
    pub key: Option<EncryptionKey>,
}

/// How long a large export stays in the exports bucket; its download link lasts 5 minutes.
pub const EXPORT_EXPIRY_DAYS: i64 = 1;

/// The event sources and detail types of the Brain2 flow.
pub const API_SOURCE: &str = "brain2.api";
pub const CONNECT_NODE_SOURCE: &str = "brain2.connect-node";

/// The three stack parameters that bring one function's code: deploy fills them in, so
/// synthesizing never builds anything and templates change only with infrastructure.
fn code_parameters(app: &mut App, stack: StackId, id: &str) -> Result<CodeLocation> {
    let bucket = app.add_parameter(
        stack,
        &format!("{id}CodeBucket"),
        ParameterSpec::string()
            .description(&format!("S3 bucket holding the {id} deployment package"))
            .allowed_pattern("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
            .constraint_description("an S3 bucket name"),
    )?;
    let key = app.add_parameter(
        stack,
        &format!("{id}CodeKey"),
        ParameterSpec::string()
            .description(&format!("S3 key of the {id} zip, named by its sha256"))
            .allowed_pattern("^[A-Za-z0-9/._-]+\\.zip$")
            .constraint_description("an S3 key ending in .zip"),
    )?;
    let sha256 = app.add_parameter(
        stack,
        &format!("{id}CodeSha256"),
        ParameterSpec::string()
            .description(&format!("Base64 SHA-256 of the {id} zip; a new value publishes a new version"))
            .min_length(44)
            .max_length(44),
    )?;
    Ok(CodeLocation { bucket: bucket.ref_().into(), key: key.ref_().into(), sha256: sha256.ref_().into() })
}

/// One function as the stack describes it; the factory adds what every function shares.
struct FunctionSpec<'a> {
    id: &'a str,
    description: &'a str,
    sizing: FunctionConfig,
    async_failure: AsyncFailure,
    provisioned_concurrency: i64,
    environment: Vec<(&'a str, Value<String>)>,
    /// Which of its variables hold URLs it calls (see RustFunctionProps::calls).
    calls: Vec<&'a str>,
    /// Whether it runs in the environment's VPC, when there is one.
    network: Network,
}

/// Where a function runs when the environment has a VPC. Functions that call the internet or a
/// public API stay outside: the VPC has no NAT (about $32 a month per AZ), and its
/// interface endpoints serve only AWS APIs and private API Gateway APIs (ARCHITECTURE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Network {
    Vpc,
    /// Outside the VPC, for the reason given (the policy pack's lambda-in-vpc suppression).
    Public(&'static str),
}

struct FunctionFactory<'a> {
    config: &'a EnvironmentConfig,
    vpc: Option<VpcAttachment>,
    key: Option<EncryptionKey>,
    stack: StackId,
}

impl FunctionFactory<'_> {
    fn make(&self, app: &mut App, spec: FunctionSpec<'_>) -> Result<RustFunction> {
        let FunctionSpec {
            id,
            description,
            sizing,
            async_failure,
            provisioned_concurrency,
            environment,
            calls,
            network,
        } = spec;
        let code = code_parameters(app, self.stack, id)?;
        let mut props = RustFunctionProps::new(description, code);
        props.architecture = match self.config.lambda.architecture {
            Architecture::Arm64 => LambdaArchitecture::Arm64,
            Architecture::X8664 => LambdaArchitecture::X8664,
        };
        props.memory_mb = sizing.memory_mb;
        props.timeout_seconds = sizing.timeout_seconds;
        props.reserved_concurrency = sizing.reserved_concurrency;
        props.log_retention_days = self.config.log_retention_days;
        props.async_failure = async_failure;
        props.provisioned_concurrency = provisioned_concurrency;
        props.vpc = if network == Network::Vpc { self.vpc.clone() } else { None };
        props.key = self.key.clone();
        props.calls = calls.iter().map(|c| (*c).to_owned()).collect();
        props.environment.insert("LOG_LEVEL".to_owned(), self.config.lambda.log_level.as_str().into());
        for (key, value) in environment {
            props.environment.insert(key.to_owned(), value);
        }
        let function = RustFunction::new(app, self.stack, id, props)?;
        if let (Network::Public(reason), Some(_)) = (network, &self.vpc) {
            suppress(app, &function.function, "lambda-in-vpc", reason);
        }
        Ok(function)
    }
}

pub(super) fn build(app: &mut App, stack: StackId, config: &EnvironmentConfig, database: &Database) -> Result<Compute> {
    let prefix = app.prefix();
    let vpc = if config.network.vpc { Some(network::build(app, stack, config)?) } else { None };
    let key = if config.encryption.customer_managed_keys {
        let description =
            format!("Brain2 {}: encrypts logs, function environment variables and queues", app.environment());
        // Nothing it encrypts outlives the stack, and deletion waits 30 days.
        Some(EncryptionKey::new(app, stack, "ComputeKey", &description, RemovalPolicy::Delete)?)
    } else {
        None
    };
    let factory = FunctionFactory { config, vpc, key: key.clone(), stack };
    let functions = &config.lambda.functions;
    let bus = EventBus::new(app, stack, "B2EventBus", format!("{prefix}-events"))?;

    // Exports too large for one Lambda answer wait here for their download (a presigned GET)
    // until a lifecycle rule expires them a day later (S3 runs it daily, so within two): they
    // are copies of what MemoryTable holds, so the bucket goes with the stack.
    let exports = PrivateBucket::new(
        app,
        stack,
        "ExportsBucket",
        BucketProps {
            expiry_days: Some(EXPORT_EXPIRY_DAYS),
            removal_policy: RemovalPolicy::Delete,
            ..BucketProps::default()
        },
    )?;
    suppress(
        app,
        &exports.bucket,
        "bucket-access-logs",
        "each export is written by the backend for the signed-in user who asked for it and read through a 5-minute link; the backend's log records both",
    );
    suppress(
        app,
        &exports.bucket,
        "stateful-retain",
        "it holds copies of MemoryTable's data for a day or two: destroy empties and deletes it, and a retained one would keep users' data nobody reads",
    );
    suppress(
        app,
        &exports.bucket,
        "bucket-versioning",
        "each export is written once under a new key and removed by its lifecycle rule or with the account: versions would keep a deleted user's data",
    );

    let backend = factory.make(
        app,
        FunctionSpec {
            id: "Backend",
            description: "Brain2 HTTP API: memories and the graph",
            sizing: functions.backend,
            async_failure: AsyncFailure::SynchronousOnly,
            provisioned_concurrency: config.lambda.provisioned_concurrency.backend,
            environment: vec![
                ("MEMORY_TABLE_NAME", database.memory.name().into()),
                ("SEARCH_INDEX_NAME", SEARCH_INDEX.into()),
                ("CONNECTIONS_TABLE_NAME", database.connections.name().into()),
                ("CONNECTIONS_INDEX_NAME", CONNECTION_INDEX.into()),
                ("EVENT_BUS_NAME", bus.name().into()),
                ("EXPORTS_BUCKET_NAME", exports.bucket.ref_().into()),
                ("ENVIRONMENT", app.environment().into()),
            ],
            calls: Vec::new(),
            network: Network::Vpc,
        },
    )?;
    // What brain2-shared's MemoryStore calls for the backend: get (GetItem), list, edges and
    // graph-data (Query), search (Query on UserKeywordIndex; a broad query's proof reads
    // memories' keywords newest first (Query) and by id (BatchGetItem), as does its page), and every write as
    // TransactWriteItems: create and update, and delete's mark, edge pairs, and node with its
    // postings. IAM authorizes a transaction's Put, Update and Delete actions as PutItem,
    // UpdateItem and DeleteItem.
    database.memory.grant_index_actions(app, &backend, &["dynamodb:Query"], &[SEARCH_INDEX])?;
    // Account deletion: the user's open connections (Query on connection-id-index, then
    // DeleteItem each).
    database.connections.grant_index_actions(app, &backend, &["dynamodb:Query"], &[CONNECTION_INDEX])?;
    database.connections.grant_actions(app, &backend, &["dynamodb:DeleteItem"], &[])?;
    database.memory.grant_actions(
        app,
        &backend,
        &[
            "dynamodb:BatchGetItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
        ],
        &[],
    )?;
    bus.grant_put_events(app, &backend)?;
    // Large exports (backend's `exports`): PutObject, then a presigned GetObject, which S3
    // authorizes as the backend's role; account deletion lists the user's exports and deletes
    // each. Only under `exports/`, the one prefix the backend writes.
    grant(
        app,
        &backend,
        Statement::allow(
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [fns::sub("${Bucket}/exports/*", [("Bucket", exports.bucket.arn())]).into()],
        ),
    )?;
    grant(
        app,
        &backend,
        Statement::allow(["s3:ListBucket"], [exports.bucket.arn().into()]).condition(
            "StringLike",
            "s3:prefix",
            "exports/*",
        ),
    )?;

    let connect_node = factory.make(
        app,
        FunctionSpec {
            id: "ConnectNode",
            description: "Links a memory to the user's memories that share its keywords",
            sizing: functions.connect_node,
            async_failure: AsyncFailure::OwnQueue,
            provisioned_concurrency: 0,
            environment: vec![
                ("MEMORY_TABLE_NAME", database.memory.name().into()),
                ("KEYWORD_INDEX_NAME", KEYWORD_INDEX.into()),
                ("EVENT_BUS_NAME", bus.name().into()),
                ("MIN_SHARED_KEYWORDS", config.connections.min_shared_keywords.to_string().into()),
                ("MAX_EDGES_PER_NODE", config.connections.max_edges_per_node.to_string().into()),
            ],
            calls: Vec::new(),
            network: Network::Vpc,
        },
    )?;
    // connect-node: get (GetItem), its edges and the keyword postings (Query on the table and
    // KeywordIndex), add_edge, reweigh_edge and remove_edge, with the clean-up of a lone edge
    // direction older data may hold (TransactWriteItems of Put, Update and Delete actions:
    // PutItem, UpdateItem and DeleteItem to IAM).
    database.memory.grant_actions(app, &connect_node, &["dynamodb:Query"], &[KEYWORD_INDEX])?;
    database.memory.grant_actions(
        app,
        &connect_node,
        &["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        &[],
    )?;
    bus.grant_put_events(app, &connect_node)?;

    let connections_env = || vec![("CONNECTIONS_TABLE_NAME", Value::from(database.connections.name()))];
    let ws_connect = factory.make(
        app,
        FunctionSpec {
            id: "WsConnect",
            description: "Stores a WebSocket connection",
            sizing: functions.ws_connect,
            async_failure: AsyncFailure::SynchronousOnly,
            provisioned_concurrency: 0,
            environment: connections_env(),
            calls: Vec::new(),
            network: Network::Vpc,
        },
    )?;
    database.connections.grant_actions(app, &ws_connect, &["dynamodb:PutItem"], &[])?;
    let ws_disconnect = factory.make(
        app,
        FunctionSpec {
            id: "WsDisconnect",
            description: "Forgets a WebSocket connection",
            sizing: functions.ws_disconnect,
            async_failure: AsyncFailure::SynchronousOnly,
            provisioned_concurrency: 0,
            environment: connections_env(),
            calls: Vec::new(),
            network: Network::Vpc,
        },
    )?;
    database.connections.grant_actions(app, &ws_disconnect, &["dynamodb:DeleteItem"], &[])?;

    // SUPABASE_URL only names the token issuer; JWKS_URL is fetched.
    let mut auth_env = vec![("SUPABASE_URL", Value::from(config.auth.supabase_url.as_str()))];
    let mut auth_calls = Vec::new();
    if let Some(jwks) = &config.auth.jwks_url {
        auth_env.push(("JWKS_URL", jwks.as_str().into()));
        auth_calls.push("JWKS_URL");
    }
    if let Some(arn) = &config.auth.jwt_secret_arn {
        auth_env.push(("JWT_SECRET_ARN", arn.as_str().into()));
    }
    let authorizer = factory.make(
        app,
        FunctionSpec {
            id: "Authorizer",
            description: "Verifies Supabase access tokens for both APIs",
            sizing: functions.authorizer,
            async_failure: AsyncFailure::SynchronousOnly,
            provisioned_concurrency: config.lambda.provisioned_concurrency.authorizer,
            environment: auth_env,
            calls: auth_calls,
            network: Network::Public(
                "fetches the Supabase JWKS (JWKS_URL) from the internet, and the VPC has no NAT gateway (ARCHITECTURE.md)",
            ),
        },
    )?;
    if let Some(arn) = &config.auth.jwt_secret_arn {
        grant(app, &authorizer, Statement::allow(["secretsmanager:GetSecretValue"], secret_resources(arn)))?;
    }

    let websocket = Api::websocket(
        app,
        stack,
        "WebSocketApi",
        "live",
        ApiProps {
            name: format!("{prefix}-ws").into(),
            description: "Brain2 live graph updates".to_owned(),
            throttle: Throttle { burst: config.api.throttle.burst, rate: config.api.throttle.rate },
            cors: None,
            access_log_retention_days: config.log_retention_days,
            access_log_key: key.clone(),
        },
    )?;
    let ws_authorizer = websocket.lambda_authorizer(
        app,
        stack,
        "WebSocketAuthorizer",
        &authorizer,
        AuthorizerProps { identity_source: vec!["route.request.querystring.token".to_owned()], cache_seconds: 0 },
    )?;
    let connect_integration = websocket.lambda_integration(app, stack, "WsConnectIntegration", &ws_connect)?;
    websocket.add_route(app, stack, "ConnectRoute", "$connect", &connect_integration, Some(&ws_authorizer))?;
    let disconnect_integration = websocket.lambda_integration(app, stack, "WsDisconnectIntegration", &ws_disconnect)?;
    websocket.add_route(app, stack, "DisconnectRoute", "$disconnect", &disconnect_integration, None)?;

    let endpoint =
        fns::sub("https://${ApiId}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live", [("ApiId", websocket.api_id())]);
    let ws_send_message = factory.make(
        app,
        FunctionSpec {
            id: "WsSendMessage",
            description: "Pushes graph updates to a user's open WebSocket connections",
            sizing: functions.ws_send_message,
            async_failure: AsyncFailure::OwnQueue,
            provisioned_concurrency: 0,
            environment: vec![
                ("CONNECTIONS_TABLE_NAME", database.connections.name().into()),
                ("CONNECTIONS_INDEX_NAME", CONNECTION_INDEX.into()),
                ("WEBSOCKET_ENDPOINT", endpoint.into()),
                ("ENVIRONMENT", app.environment().into()),
            ],
            calls: vec!["WEBSOCKET_ENDPOINT"],
            network: Network::Public(
                "posts to the public WebSocket API's management endpoint, which the VPC's execute-api endpoint cannot serve, and the VPC has no NAT gateway (ARCHITECTURE.md)",
            ),
        },
    )?;
    database.connections.grant_actions(app, &ws_send_message, &["dynamodb:Query"], &[CONNECTION_INDEX])?;
    // UpdateItem: each connection's message counter (`seq`).
    database.connections.grant_actions(app, &ws_send_message, &["dynamodb:DeleteItem", "dynamodb:UpdateItem"], &[])?;
    websocket.grant_manage_connections(app, &ws_send_message)?;
    let url = match &config.api.web_socket_domain {
        Some(domain) => websocket.add_domain(app, stack, &domain.name, domain.hosted_zone_id.as_deref())?,
        None => websocket.url().into(),
    };
    app.add_output(stack, "WebSocketUrl", url, "wss:// URL of the WebSocket API", false)?;

    let rules = vec![
        FunctionRule::new(
            app,
            stack,
            "NodeChanged",
            &bus,
            pattern(API_SOURCE, &["NodeCreated", "NodeUpdated"]),
            &connect_node,
            Delivery { retry: Retry::default(), dead_letter_key: key.as_ref() },
        )?,
        // Live updates: every change to a user's graph is pushed to their open connections.
        FunctionRule::new(
            app,
            stack,
            "NodeChangedLive",
            &bus,
            pattern(API_SOURCE, &["NodeCreated", "NodeUpdated", "NodeDeleted"]),
            &ws_send_message,
            Delivery { retry: Retry::default(), dead_letter_key: key.as_ref() },
        )?,
        FunctionRule::new(
            app,
            stack,
            "EdgesChanged",
            &bus,
            // NodeDeleted: an abandoned delete connect-node finished.
            pattern(CONNECT_NODE_SOURCE, &["EdgesCreated", "EdgesRemoved", "NodeDeleted"]),
            &ws_send_message,
            Delivery { retry: Retry::default(), dead_letter_key: key.as_ref() },
        )?,
    ];
    Ok(Compute {
        bus,
        backend,
        connect_node,
        ws_connect,
        ws_disconnect,
        ws_send_message,
        authorizer,
        rules,
        websocket,
        key,
    })
}

/// What a grant on a secret names: IAM matches a secret by its full ARN, which ends in six
/// characters Secrets Manager appends to the name. The configuration may give the full ARN or
/// the ARN without that suffix, and a shape check cannot tell the two apart (a name may end in a
/// six-letter word), so the grant covers both: the ARN as given, and the ARN followed by `-` and
/// exactly six characters (AWS's documented pattern, which matches no other secret's name).
pub fn secret_resources(arn: &str) -> [Value<String>; 2] {
    [Value::from(arn), Value::from(format!("{arn}-??????"))]
}

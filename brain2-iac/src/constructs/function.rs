//! A Rust Lambda function on `provided.al2023`, with everything it needs around it: its own
//! role, a log group with retention, a published version behind an alias, and a queue that
//! catches failed asynchronous invocations.

use std::collections::BTreeMap;

use crate::aws::iam::Role;
use crate::aws::lambda::alias::{Alias, ProvisionedConcurrencyConfiguration};
use crate::aws::lambda::event_invoke_config::{DestinationConfig, EventInvokeConfig, OnFailure};
use crate::aws::lambda::function::{
    Architecture, Code, Environment, Function, LogFormat, LoggingConfig, Runtime, VpcConfig,
};
use crate::aws::lambda::{Permission, Version};
use crate::aws::logs::LogGroup;
use crate::aws::sqs::Queue;
use crate::cfn::{App, DslError, Expr, Handle, Json, Result, StackId, ToJson, Value, fns, pseudo};

use super::iam::{Grantee, Statement, grant, grant_unscoped, service_role, suppress};
use super::key::{DECRYPT, EncryptionKey, SEND_TO_QUEUE};

/// The alias every integration and event target invokes.
pub const LIVE_ALIAS: &str = "live";

/// Where the deployment package is: bucket, key and its base64 SHA-256 (what Lambda reports as
/// `CodeSha256`). A new hash publishes a new version.
#[derive(Debug, Clone)]
pub struct CodeLocation {
    pub bucket: Value<String>,
    pub key: Value<String>,
    pub sha256: Value<String>,
}

/// What happens to an asynchronous invocation that still fails after Lambda's retries.
#[derive(Debug, Clone)]
pub enum AsyncFailure {
    /// Send it to a new encrypted queue owned by this function (the default).
    OwnQueue,
    /// Send it to an existing queue.
    Queue(Handle<Queue>),
    /// The function is only invoked synchronously, so there is nothing to catch.
    SynchronousOnly,
}

/// How to attach the function to private subnets.
#[derive(Debug, Clone)]
pub struct VpcAttachment {
    pub subnet_ids: Vec<Value<String>>,
    pub security_group_ids: Vec<Value<String>>,
}

#[derive(Debug, Clone)]
pub struct RustFunctionProps {
    pub description: String,
    pub code: CodeLocation,
    pub architecture: Architecture,
    pub memory_mb: i64,
    pub timeout_seconds: i64,
    pub environment: BTreeMap<String, Value<String>>,
    pub log_retention_days: i64,
    pub async_failure: AsyncFailure,
    /// Retries of a failed asynchronous invocation, 0 to 2.
    pub async_retry_attempts: i64,
    pub provisioned_concurrency: i64,
    pub reserved_concurrency: Option<i64>,
    pub vpc: Option<VpcAttachment>,
    /// Environment variables holding a URL the function calls over the network (the policy
    /// pack checks a VPC-attached function can reach them). Written to the function's
    /// Metadata as `brain2:calls`.
    pub calls: Vec<String>,
    /// A customer-managed key for its log group, environment variables and failure queue.
    pub key: Option<EncryptionKey>,
}

/// The Sid of the grant Lambda itself uses to send failed asynchronous invocations to their
/// destination: a call made by the Lambda service, not from the function's network.
pub const FAILURE_DESTINATION_SID: &str = "LambdaServiceFailureDestination";

/// The Metadata key listing the environment variables whose URLs a function calls.
pub const CALLS_METADATA: &str = "brain2:calls";

impl RustFunctionProps {
    /// arm64, 256 MB, 10 s, a week of logs, failed async invocations kept in a queue.
    pub fn new(description: &str, code: CodeLocation) -> Self {
        Self {
            description: description.to_owned(),
            code,
            architecture: Architecture::Arm64,
            memory_mb: 256,
            timeout_seconds: 10,
            environment: BTreeMap::new(),
            log_retention_days: 7,
            async_failure: AsyncFailure::OwnQueue,
            async_retry_attempts: 2,
            provisioned_concurrency: 0,
            reserved_concurrency: None,
            vpc: None,
            calls: Vec::new(),
            key: None,
        }
    }
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms, unlike `DefaultHasher`, so the
/// same configuration always names the same version.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Retention periods CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: &[i64] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// The resources of one function. Logical ids are `<Id>Function`, `<Id>Role`, `<Id>Logs`,
/// `<Id>Version`, `<Id>Alias` and `<Id>FailureQueue`, `<Id>AsyncConfig` when those exist.
#[derive(Debug, Clone)]
pub struct RustFunction {
    pub id: String,
    pub function: Handle<Function>,
    pub role: Handle<Role>,
    pub log_group: Handle<LogGroup>,
    pub version: Handle<Version>,
    pub alias: Handle<Alias>,
    pub failure_queue: Option<Handle<Queue>>,
}

impl Grantee for RustFunction {
    fn role(&self) -> &Handle<Role> {
        &self.role
    }
}

impl RustFunction {
    pub fn new(app: &mut App, stack: StackId, id: &str, props: RustFunctionProps) -> Result<Self> {
        let fail = |what: String| Err(DslError::Construct(format!("function {id}: {what}")));
        if !(128..=10_240).contains(&props.memory_mb) {
            return fail(format!("memory {} MB is outside Lambda's 128 to 10240", props.memory_mb));
        }
        if !(1..=900).contains(&props.timeout_seconds) {
            return fail(format!("timeout {} s is outside Lambda's 1 to 900", props.timeout_seconds));
        }
        if let Some(name) = props.calls.iter().find(|name| !props.environment.contains_key(*name)) {
            return fail(format!("it is said to call {name}, which is not one of its environment variables"));
        }
        if !LOG_RETENTION_DAYS.contains(&props.log_retention_days) {
            return fail(format!(
                "log retention {} days is not one CloudWatch accepts ({LOG_RETENTION_DAYS:?})",
                props.log_retention_days
            ));
        }
        if !(0..=2).contains(&props.async_retry_attempts) {
            return fail(format!("async retry attempts {} is outside 0 to 2", props.async_retry_attempts));
        }

        let mut log_group = LogGroup::new().retention_in_days(props.log_retention_days);
        if let Some(key) = &props.key {
            key.allow_cloudwatch_logs(app)?;
            log_group = log_group.kms_key_id(key.arn());
        }
        let log_group = app.add(stack, &format!("{id}Logs"), log_group)?;
        let role = app.add(
            stack,
            &format!("{id}Role"),
            service_role(
                "lambda.amazonaws.com",
                vec![Statement::allow(["logs:CreateLogStream", "logs:PutLogEvents"], [log_group.arn().into()])],
            ),
        )?;

        let mut function =
            Function::new(Code::new().s3_bucket(props.code.bucket.clone()).s3_key(props.code.key.clone()), role.arn())
                .description(props.description.as_str())
                .runtime(Runtime::ProvidedAl2023)
                .handler("bootstrap")
                .architectures(vec![props.architecture])
                .memory_size(props.memory_mb)
                .timeout(props.timeout_seconds)
                .logging_config(LoggingConfig::new().log_format(LogFormat::Json).log_group(log_group.ref_()));
        if !props.environment.is_empty() {
            function = function.environment(Environment::new().variables(props.environment.clone()));
            if let Some(key) = &props.key {
                function = function.kms_key_arn(key.arn());
            }
        }
        if let Some(reserved) = props.reserved_concurrency {
            function = function.reserved_concurrent_executions(reserved);
        }
        if let Some(vpc) = &props.vpc {
            function = function.vpc_config(
                VpcConfig::new().subnet_ids(vpc.subnet_ids.clone()).security_group_ids(vpc.security_group_ids.clone()),
            );
        }
        // `Role: GetAtt Role.Arn` already orders the function after the role and its inline policy.
        let function = app.add(stack, &format!("{id}Function"), function)?;
        if !props.calls.is_empty() {
            app.attributes_mut(&function).metadata.insert(
                CALLS_METADATA.to_owned(),
                Json::Array(props.calls.iter().map(|c| Json::from(c.as_str())).collect()),
            );
        }

        // A version freezes code and configuration, and the alias only moves to a new version.
        // CodeSha256 and Description are create-only, so a new package or any change to the
        // function's properties replaces the version, publishing one the alias then points at.
        let config_hash = stable_hash(&format!("{:?}", app.get(&function).to_json()));
        let version = app.add(
            stack,
            &format!("{id}Version"),
            Version::new(function.ref_())
                .code_sha256(props.code.sha256.clone())
                .description(format!("configuration {config_hash:016x}")),
        )?;
        let mut alias = Alias::new(function.ref_(), version.version(), LIVE_ALIAS);
        if props.provisioned_concurrency > 0 {
            // On the alias, not the version, so warm instances follow each new version.
            alias = alias.provisioned_concurrency_config(ProvisionedConcurrencyConfiguration::new(
                props.provisioned_concurrency,
            ));
        }
        let alias = app.add(stack, &format!("{id}Alias"), alias)?;

        let mut this = Self { id: id.to_owned(), function, role, log_group, version, alias, failure_queue: None };
        if let Some(key) = &props.key
            && !props.environment.is_empty()
        {
            // Lambda decrypts the variables with the function's role when an instance starts.
            key.grant(app, &this, DECRYPT)?;
        }

        if let Some(vpc) = &props.vpc {
            if vpc.subnet_ids.is_empty() {
                return fail("a VPC attachment needs at least one subnet".to_owned());
            }
            grant_unscoped(
                app,
                &this,
                "VpcNetworkInterfaces",
                [
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:CreateNetworkInterface",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                "Lambda's VPC networking: EC2 offers no resource-level permissions for describing network interfaces, and the interfaces do not exist before the function creates them.",
            )?;
        }

        let queue = match &props.async_failure {
            AsyncFailure::SynchronousOnly => None,
            AsyncFailure::Queue(queue) => Some(queue.clone()),
            AsyncFailure::OwnQueue => {
                let queue = Queue::new().message_retention_period(1_209_600);
                let queue = match &props.key {
                    Some(key) => queue.kms_master_key_id(key.arn()),
                    None => queue.sqs_managed_sse_enabled(true),
                };
                Some(app.add(stack, &format!("{id}FailureQueue"), queue)?)
            }
        };
        let dead_letter_reason = match &queue {
            None => {
                "only invoked synchronously (API Gateway): a failed invocation returns its error to the caller, and no event is left to keep"
            }
            Some(_) => {
                "failed asynchronous invocations go to its on-failure destination (EventInvokeConfig), which keeps the error and the request with the event, where a dead-letter queue keeps only the event"
            }
        };
        suppress(app, &this.function, "lambda-dead-letter-queue", dead_letter_reason);
        if let Some(queue) = queue {
            let statement = Statement::allow(["sqs:SendMessage"], [queue.arn().into()]).sid(FAILURE_DESTINATION_SID);
            grant(app, &this, statement)?;
            if let (Some(key), AsyncFailure::OwnQueue) = (&props.key, &props.async_failure) {
                // Sending to a queue under a customer-managed key takes a data key from it.
                key.grant(app, &this, SEND_TO_QUEUE)?;
            }
            let config = EventInvokeConfig::new(this.function.ref_(), LIVE_ALIAS)
                .maximum_retry_attempts(props.async_retry_attempts)
                .destination_config(DestinationConfig::new().on_failure(OnFailure::new(queue.arn())));
            let config = app.add(stack, &format!("{id}AsyncConfig"), config)?;
            app.attributes_mut(&config).depend_on(&this.alias);
            this.failure_queue = Some(queue);
        }
        Ok(this)
    }

    /// The `live` alias's ARN: what integrations, targets and permissions use.
    pub fn alias_arn(&self) -> Expr<String> {
        self.alias.ref_()
    }

    /// Lets an AWS service invoke the `live` alias, from `source_arn` only.
    pub fn allow_invoke(
        &self,
        app: &mut App,
        stack: StackId,
        logical_id: &str,
        service: &str,
        source_arn: impl Into<Value<String>>,
    ) -> Result<Handle<Permission>> {
        let permission = Permission::new("lambda:InvokeFunction", self.alias_arn(), service)
            .source_arn(source_arn)
            .source_account(pseudo::account_id());
        app.add(stack, logical_id, permission)
    }

    /// The ARN API Gateway uses to invoke the `live` alias.
    pub fn invoke_uri(&self) -> Expr<String> {
        fns::sub(
            "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Target}/invocations",
            [("Target", self.alias_arn())],
        )
    }
}

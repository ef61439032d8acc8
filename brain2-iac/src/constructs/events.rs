//! EventBridge: a custom bus, grants to publish on it, and rules that deliver to a function with
//! retries and a dead-letter queue.

use crate::aws::events::EventBus as CfnEventBus;
use crate::aws::events::rule::{DeadLetterConfig, RetryPolicy, Rule, State, Target};
use crate::aws::lambda::Permission;
use crate::aws::sqs::{Queue, QueuePolicy};
use crate::cfn::{App, DslError, Expr, Handle, Json, Result, StackId, Value, fns, pseudo};

use super::function::RustFunction;
use super::iam::{Grantee, Statement, grant, policy_document};
use super::key::{EncryptionKey, SEND_TO_QUEUE};

/// A custom event bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    pub resource: Handle<CfnEventBus>,
}

impl EventBus {
    /// A bus with a physical name; give it one that carries the environment.
    pub fn new(app: &mut App, stack: StackId, logical_id: &str, name: impl Into<Value<String>>) -> Result<Self> {
        Ok(Self { resource: app.add(stack, logical_id, CfnEventBus::new(name))? })
    }

    pub fn arn(&self) -> Expr<String> {
        self.resource.arn()
    }

    /// The bus name (`Ref`).
    pub fn name(&self) -> Expr<String> {
        self.resource.ref_()
    }

    /// `events:PutEvents` on this bus only.
    pub fn grant_put_events(&self, app: &mut App, grantee: &impl Grantee) -> Result<()> {
        grant(app, grantee, Statement::allow(["events:PutEvents"], [self.arn().into()]))
    }
}

/// How a rule delivers: its retries, and the customer-managed key of its dead-letter queue (an
/// SQS-managed key without one).
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery<'a> {
    pub retry: Retry,
    pub dead_letter_key: Option<&'a EncryptionKey>,
}

/// How EventBridge retries delivery to a target before giving up to the dead-letter queue.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// 0 to 185.
    pub max_attempts: i64,
    /// 60 to 86,400 seconds.
    pub max_event_age_seconds: i64,
}

impl Default for Retry {
    fn default() -> Self {
        Self { max_attempts: 8, max_event_age_seconds: 3_600 }
    }
}

/// A rule on a bus that delivers matching events to a function's `live` alias.
#[derive(Debug, Clone)]
pub struct FunctionRule {
    pub rule: Handle<Rule>,
    pub dead_letter_queue: Handle<Queue>,
    pub permission: Handle<Permission>,
}

impl FunctionRule {
    /// Adds `<Id>Rule`, `<Id>DeadLetterQueue` (encrypted, 14 days), its queue policy letting only
    /// this rule send to it, and `<Id>Permission` letting only this rule invoke the function.
    pub fn new(
        app: &mut App,
        stack: StackId,
        id: &str,
        bus: &EventBus,
        event_pattern: Json,
        target: &RustFunction,
        delivery: Delivery<'_>,
    ) -> Result<Self> {
        let Delivery { retry, dead_letter_key: key } = delivery;
        if !(0..=185).contains(&retry.max_attempts) || !(60..=86_400).contains(&retry.max_event_age_seconds) {
            return Err(DslError::Construct(format!(
                "rule {id}: retry {retry:?} is outside EventBridge's 0..=185 attempts and 60..=86400 seconds"
            )));
        }
        let queue = Queue::new().message_retention_period(1_209_600);
        let queue = match key {
            Some(key) => {
                // EventBridge sends as itself, so the key policy names it, for this bus's rules.
                // (The rule's own ARN would make a cycle: key, queue, rule, key.)
                let statement = Statement::allow(SEND_TO_QUEUE.iter().copied(), [Value::from("*")])
                    .sid("EventBridgeSendsToDeadLetterQueues")
                    .service_principal("events.amazonaws.com")
                    .condition(
                        "ArnLike",
                        "aws:SourceArn",
                        fns::sub(
                            "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${Bus}/*",
                            [("Bus", bus.name())],
                        ),
                    );
                key.add_to_policy(app, statement)?;
                queue.kms_master_key_id(key.arn())
            }
            None => queue.sqs_managed_sse_enabled(true),
        };
        let queue = app.add(stack, &format!("{id}DeadLetterQueue"), queue)?;
        let rule = Rule::new()
            .description(format!("Delivers matching events to {}", target.id))
            .event_bus_name(bus.arn())
            .event_pattern(event_pattern)
            .state(State::Enabled)
            .targets(vec![
                Target::new(target.alias_arn(), target.id.as_str())
                    .retry_policy(
                        RetryPolicy::new()
                            .maximum_retry_attempts(retry.max_attempts)
                            .maximum_event_age_in_seconds(retry.max_event_age_seconds),
                    )
                    .dead_letter_config(DeadLetterConfig::new().arn(queue.arn())),
            ]);
        let rule = app.add(stack, &format!("{id}Rule"), rule)?;
        let queue_policy = policy_document([Statement::allow(["sqs:SendMessage"], [queue.arn().into()])
            .sid("OnlyThisRule")
            .service_principal("events.amazonaws.com")
            .condition("ArnEquals", "aws:SourceArn", rule.arn())]);
        app.add(stack, &format!("{id}DeadLetterQueuePolicy"), QueuePolicy::new(queue_policy, vec![queue.ref_()]))?;
        let permission = Permission::new("lambda:InvokeFunction", target.alias_arn(), "events.amazonaws.com")
            .source_arn(rule.arn())
            .source_account(pseudo::account_id());
        let permission = app.add(stack, &format!("{id}Permission"), permission)?;
        Ok(Self { rule, dead_letter_queue: queue, permission })
    }
}

/// An event pattern matching `detail-type` values from one `source`.
pub fn pattern(source: &str, detail_types: &[&str]) -> Json {
    Json::object([("source", Json::array([source])), ("detail-type", Json::array(detail_types.iter().copied()))])
}

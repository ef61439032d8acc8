//! Monitoring, where the environment turns it on: an encrypted SNS topic with an e-mail
//! subscription, the alarms, a dashboard rendered from `templates/dashboard.json.hbs`, and a
//! monthly budget.

use serde_json::json;

use brain2_api::metrics::{NAMESPACE as METRICS_NAMESPACE, PUBLISH_FAILURES, PUSH_FAILURES};
use brain2_iac::aws::budgets::Budget;
use brain2_iac::aws::budgets::budget::{BudgetData, Notification, NotificationWithSubscribers, Spend, Subscriber};
use brain2_iac::aws::cloudwatch::alarm::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, Statistic, TreatMissingData,
};
use brain2_iac::aws::cloudwatch::{Alarm, Dashboard};
use brain2_iac::aws::sns::{Subscription, Topic};
use brain2_iac::cfn::{App, DslError, Expr, Handle, RemovalPolicy, Result, StackId, Value, fns};
use brain2_iac::config::EnvironmentConfig;
use brain2_iac::constructs::EncryptionKey;
use brain2_iac::constructs::api::Api;
use brain2_iac::constructs::iam::Statement;

use crate::compute::Compute;
use crate::database::Database;

/// The dashboard body template, compiled in so synthesis reads no files.
const DASHBOARD_TEMPLATE: &str = include_str!("../../templates/dashboard.json.hbs");

struct Alarms<'a> {
    stack: StackId,
    topic: &'a Handle<Topic>,
    prefix: String,
}

struct Watch<'a> {
    namespace: &'a str,
    metric: &'a str,
    dimensions: Vec<(&'a str, Value<String>)>,
    statistic: Stat,
}

enum Stat {
    Sum,
    Maximum,
    Percentile(&'static str),
}

impl Alarms<'_> {
    fn base(&self, id: &str, description: &str, threshold: f64) -> Alarm {
        Alarm::new()
            .alarm_name(format!("{}-{id}", self.prefix))
            .alarm_description(description)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .threshold(threshold)
            .evaluation_periods(1)
            .treat_missing_data(TreatMissingData::NotBreaching)
            .alarm_actions(vec![self.topic.ref_()])
            .ok_actions(vec![self.topic.ref_()])
    }

    /// An alarm on one metric over five minutes.
    fn metric(&self, app: &mut App, id: &str, description: &str, watch: Watch<'_>, threshold: f64) -> Result<()> {
        let mut alarm = self
            .base(id, description, threshold)
            .namespace(watch.namespace)
            .metric_name(watch.metric)
            .period(300)
            .dimensions(
                watch.dimensions.into_iter().map(|(name, value)| Dimension::new(name, value)).collect::<Vec<_>>(),
            );
        alarm = match watch.statistic {
            Stat::Sum => alarm.statistic(Statistic::Sum),
            Stat::Maximum => alarm.statistic(Statistic::Maximum),
            Stat::Percentile(p) => alarm.extended_statistic(p),
        };
        app.add(self.stack, &format!("{id}Alarm"), alarm)?;
        Ok(())
    }

    /// An alarm on an expression over metrics, e.g. a rate.
    fn math(
        &self,
        app: &mut App,
        id: &str,
        description: &str,
        expression: &str,
        inputs: Vec<(&str, Watch<'_>)>,
        threshold: f64,
    ) -> Result<()> {
        let mut queries: Vec<MetricDataQuery> = inputs
            .into_iter()
            .map(|(query_id, watch)| {
                let metric = Metric::new().namespace(watch.namespace).metric_name(watch.metric).dimensions(
                    watch.dimensions.into_iter().map(|(name, value)| Dimension::new(name, value)).collect::<Vec<_>>(),
                );
                let stat = match watch.statistic {
                    Stat::Sum => "Sum",
                    Stat::Maximum => "Maximum",
                    Stat::Percentile(p) => p,
                };
                MetricDataQuery::new(query_id).metric_stat(MetricStat::new(metric, 300, stat)).return_data(false)
            })
            .collect();
        queries.push(MetricDataQuery::new("result").expression(expression).label(description).return_data(true));
        app.add(self.stack, &format!("{id}Alarm"), self.base(id, description, threshold).metrics(queries))?;
        Ok(())
    }
}

/// A queue's name, cut from its URL (`Ref`), `https://sqs.<region>.amazonaws.com/<account>/<name>`:
/// the schema offers no `QueueName` attribute.
fn queue_name(queue: &Handle<brain2_iac::aws::sqs::Queue>) -> Expr<String> {
    fns::select(4, fns::split("/", queue.ref_()))
}

fn sub_var(name: &str) -> String {
    format!("${{{name}}}")
}

pub(super) fn build(
    app: &mut App,
    stack: StackId,
    environment: &str,
    config: &EnvironmentConfig,
    database: &Database,
    compute: &Compute,
    http: &Api,
) -> Result<()> {
    let email = config
        .monitoring
        .alarm_email
        .clone()
        .ok_or_else(|| DslError::Construct("monitoring is on but monitoring.alarmEmail is not set".to_owned()))?;
    let prefix = app.prefix();
    // CloudWatch alarms cannot publish to a topic under the AWS-managed key (alias/aws/sns):
    // its policy does not let CloudWatch use it, and it cannot be changed. The topic gets a
    // customer-managed key whose policy does (policy rule alarm-topic-customer-key).
    let description = format!("Brain2 {environment}: encrypts the alarm topic");
    let key = EncryptionKey::new(app, stack, "AlarmTopicKey", &description, RemovalPolicy::Delete)?;
    // The statement AWS documents for alarms publishing to an encrypted topic; no
    // confused-deputy condition, since CloudWatch's use of the key through SNS is not
    // documented to carry one (a wrong condition would silently drop alarms).
    key.add_to_policy(
        app,
        Statement::allow(["kms:Decrypt", "kms:GenerateDataKey*"], [Value::from("*")])
            .sid("CloudWatchPublishesAlarms")
            .service_principal("cloudwatch.amazonaws.com"),
    )?;
    let topic = app.add(
        stack,
        "AlarmTopic",
        Topic::new().display_name(format!("Brain2 {environment} alarms")).kms_master_key_id(key.arn()),
    )?;
    app.add(stack, "AlarmEmail", Subscription::new("email", topic.ref_()).endpoint(email.as_str()))?;
    let alarms = Alarms { stack, topic: &topic, prefix: prefix.clone() };

    let api_dimension = || vec![("ApiId", Value::from(http.api_id()))];
    alarms.math(
        app,
        "HttpApi5xxRate",
        "More than 5% of HTTP API requests failed with 5xx",
        "IF(requests > 0, 100 * errors / requests, 0)",
        vec![
            (
                "errors",
                Watch { namespace: "AWS/ApiGateway", metric: "5xx", dimensions: api_dimension(), statistic: Stat::Sum },
            ),
            (
                "requests",
                Watch {
                    namespace: "AWS/ApiGateway",
                    metric: "Count",
                    dimensions: api_dimension(),
                    statistic: Stat::Sum,
                },
            ),
        ],
        5.0,
    )?;
    alarms.metric(
        app,
        "HttpApiLatencyP99",
        "HTTP API p99 latency above 3 seconds",
        Watch {
            namespace: "AWS/ApiGateway",
            metric: "Latency",
            dimensions: api_dimension(),
            statistic: Stat::Percentile("p99"),
        },
        3_000.0,
    )?;

    let sizing = &config.lambda.functions;
    let functions = [
        ("Backend", &compute.backend, sizing.backend.timeout_seconds),
        ("ConnectNode", &compute.connect_node, sizing.connect_node.timeout_seconds),
        ("WsConnect", &compute.ws_connect, sizing.ws_connect.timeout_seconds),
        ("WsDisconnect", &compute.ws_disconnect, sizing.ws_disconnect.timeout_seconds),
        ("WsSendMessage", &compute.ws_send_message, sizing.ws_send_message.timeout_seconds),
        ("Authorizer", &compute.authorizer, sizing.authorizer.timeout_seconds),
    ];
    for (name, function, timeout_seconds) in functions {
        let dimension = || vec![("FunctionName", Value::from(function.function.ref_()))];
        alarms.metric(
            app,
            &format!("{name}Errors"),
            &format!("{name} returned errors"),
            Watch { namespace: "AWS/Lambda", metric: "Errors", dimensions: dimension(), statistic: Stat::Sum },
            0.0,
        )?;
        alarms.metric(
            app,
            &format!("{name}Throttles"),
            &format!("{name} was throttled"),
            Watch { namespace: "AWS/Lambda", metric: "Throttles", dimensions: dimension(), statistic: Stat::Sum },
            0.0,
        )?;
        let timeout_ms = timeout_seconds as f64 * 1_000.0;
        alarms.metric(
            app,
            &format!("{name}NearTimeout"),
            &format!("{name}'s slowest invocations take over 80% of its {timeout_seconds} s timeout"),
            Watch { namespace: "AWS/Lambda", metric: "Duration", dimensions: dimension(), statistic: Stat::Maximum },
            timeout_ms * 0.8,
        )?;
    }

    let mut queues: Vec<(String, Expr<String>)> = Vec::new();
    for rule in &compute.rules {
        let id = rule.dead_letter_queue.logical_id().to_owned();
        queues.push((id, queue_name(&rule.dead_letter_queue)));
    }
    for function in [&compute.connect_node, &compute.ws_send_message] {
        if let Some(queue) = &function.failure_queue {
            queues.push((queue.logical_id().to_owned(), queue_name(queue)));
        }
    }
    for (id, name) in &queues {
        alarms.metric(
            app,
            &format!("{id}Messages"),
            &format!("Messages are waiting in {id}: events or invocations that failed for good"),
            Watch {
                namespace: "AWS/SQS",
                metric: "ApproximateNumberOfMessagesVisible",
                dimensions: vec![("QueueName", name.clone().into())],
                statistic: Stat::Maximum,
            },
            0.0,
        )?;
    }

    let tables = [("MemoryTable", &database.memory), ("ConnectionsTable", &database.connections)];
    for (id, table) in tables {
        let dimension = || vec![("TableName", Value::from(table.name()))];
        alarms.math(
            app,
            &format!("{id}Throttles"),
            &format!("{id} throttled reads or writes"),
            "reads + writes",
            vec![
                (
                    "reads",
                    Watch {
                        namespace: "AWS/DynamoDB",
                        metric: "ReadThrottleEvents",
                        dimensions: dimension(),
                        statistic: Stat::Sum,
                    },
                ),
                (
                    "writes",
                    Watch {
                        namespace: "AWS/DynamoDB",
                        metric: "WriteThrottleEvents",
                        dimensions: dimension(),
                        statistic: Stat::Sum,
                    },
                ),
            ],
            0.0,
        )?;
    }
    alarms.metric(
        app,
        "EventPublishFailures",
        "The backend stored a memory but could not publish its event after retries",
        Watch {
            namespace: METRICS_NAMESPACE,
            metric: PUBLISH_FAILURES,
            dimensions: vec![("Environment", environment.into())],
            statistic: Stat::Sum,
        },
        0.0,
    )?;
    alarms.metric(
        app,
        "PushFailures",
        "ws-send-message could not post live updates to open connections (other than closed ones)",
        Watch {
            namespace: METRICS_NAMESPACE,
            metric: PUSH_FAILURES,
            dimensions: vec![("Environment", environment.into())],
            statistic: Stat::Sum,
        },
        0.0,
    )?;

    // The dashboard body is JSON with `${Name}` placeholders that Fn::Sub fills with the names
    // CloudFormation gives the resources.
    let mut variables: Vec<(String, Value<String>)> = vec![("HttpApiId".to_owned(), http.api_id().into())];
    let function_widgets: Vec<serde_json::Value> = functions
        .iter()
        .enumerate()
        .map(|(i, (name, function, _))| {
            variables.push((format!("{name}Function"), function.function.ref_().into()));
            json!({ "label": name, "name": sub_var(&format!("{name}Function")), "x": (i % 3) * 8, "y": 7 + (i / 3) * 6 })
        })
        .collect();
    let queue_widgets: Vec<serde_json::Value> = queues
        .iter()
        .map(|(id, name)| {
            variables.push((format!("{id}Name"), name.clone().into()));
            json!({ "label": id, "name": sub_var(&format!("{id}Name")) })
        })
        .collect();
    let table_widgets: Vec<serde_json::Value> = tables
        .iter()
        .map(|(id, table)| {
            variables.push((format!("{id}Name"), table.name().into()));
            json!({ "label": id, "name": sub_var(&format!("{id}Name")) })
        })
        .collect();
    let rows = functions.len().div_ceil(3);
    let context = json!({
        "environment": environment,
        "http_api": sub_var("HttpApiId"),
        "functions": function_widgets,
        "queues": queue_widgets,
        "tables": table_widgets,
        "queues_y": 7 + rows * 6,
    });
    let body = render_dashboard(&context)?;
    app.add(stack, "Dashboard", Dashboard::new(fns::sub(&body, variables)).dashboard_name(prefix.clone()))?;

    let subscriber = || vec![Subscriber::new(email.as_str(), "EMAIL")];
    app.add(
        stack,
        "MonthlyBudget",
        Budget::new(
            BudgetData::new("COST", "MONTHLY")
                .budget_name(format!("{prefix}-monthly"))
                .budget_limit(Spend::new(config.monitoring.monthly_budget_usd as f64, "USD")),
        )
        .notifications_with_subscribers(vec![
            NotificationWithSubscribers::new(
                Notification::new("GREATER_THAN", "ACTUAL", 80.0).threshold_type("PERCENTAGE"),
                subscriber(),
            ),
            NotificationWithSubscribers::new(
                Notification::new("GREATER_THAN", "FORECASTED", 100.0).threshold_type("PERCENTAGE"),
                subscriber(),
            ),
        ]),
    )?;
    Ok(())
}

/// Renders the dashboard template and checks the result is JSON, so a template mistake fails
/// synthesis instead of the deploy.
fn render_dashboard(context: &serde_json::Value) -> Result<String> {
    let mut handlebars = handlebars::Handlebars::new();
    handlebars.set_strict_mode(true);
    handlebars.register_escape_fn(handlebars::no_escape);
    let body = handlebars
        .render_template(DASHBOARD_TEMPLATE, context)
        .map_err(|e| DslError::Construct(format!("templates/dashboard.json.hbs: {e}")))?;
    let parsed: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| DslError::Construct(format!("templates/dashboard.json.hbs renders invalid JSON: {e}")))?;
    // Compact: the body is a string property, and its size counts against the template's.
    Ok(serde_json::to_string(&parsed).expect("JSON re-serializes"))
}

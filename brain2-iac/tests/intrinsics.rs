//! Each intrinsic function and pseudo parameter renders as CloudFormation expects.

use brain2_iac::aws::sqs::Queue;
use brain2_iac::aws::ssm::Parameter as SsmParameter;
use brain2_iac::aws::ssm::parameter::Type as SsmType;
use brain2_iac::cfn::{App, Json, ParameterSpec, Value, cond, fns, pseudo};
use serde_json::{Value as JsonValue, json};

/// Synthesizes an app with one stack and returns the template as JSON.
fn template(app: &App) -> JsonValue {
    let synthesized = app.synth().unwrap();
    serde_json::from_str(&synthesized.stacks[0].template).unwrap()
}

fn property(template: &JsonValue, resource: &str, name: &str) -> JsonValue {
    template["Resources"][resource]["Properties"][name].clone()
}

#[test]
fn ref_and_get_att_in_the_same_stack() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    let queue = app.add(stack, "Jobs", Queue::new()).unwrap();
    app.add(stack, "QueueUrl", SsmParameter::new(SsmType::String, queue.ref_()).name("/demo/queue-url")).unwrap();
    app.add(stack, "QueueArn", SsmParameter::new(SsmType::String, queue.arn())).unwrap();
    let t = template(&app);
    assert_eq!(property(&t, "QueueUrl", "Value"), json!({ "Ref": "Jobs" }));
    assert_eq!(property(&t, "QueueArn", "Value"), json!({ "Fn::GetAtt": ["Jobs", "Arn"] }));
}

#[test]
fn pseudo_parameters() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    let cases = [
        ("Region", pseudo::region(), "AWS::Region"),
        ("Account", pseudo::account_id(), "AWS::AccountId"),
        ("Partition", pseudo::partition(), "AWS::Partition"),
        ("StackName", pseudo::stack_name(), "AWS::StackName"),
        ("Suffix", pseudo::url_suffix(), "AWS::URLSuffix"),
    ];
    for (id, expr, _) in &cases {
        app.add(stack, id, SsmParameter::new(SsmType::String, expr.clone())).unwrap();
    }
    let t = template(&app);
    for (id, _, name) in cases {
        assert_eq!(property(&t, id, "Value"), json!({ "Ref": name }));
    }
}

#[test]
fn sub_with_named_variables_join_select_split_getazs() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    let queue = app.add(stack, "Jobs", Queue::new()).unwrap();
    let sub = fns::sub("arn:${AWS::Partition}:sqs:${Name}:${!Literal}", [("Name", queue.queue_name_or_arn())]);
    app.add(stack, "Sub", SsmParameter::new(SsmType::String, sub)).unwrap();
    app.add(
        stack,
        "Join",
        SsmParameter::new(SsmType::String, fns::join("-", [Value::from("a"), pseudo::region().into()])),
    )
    .unwrap();
    let first_az = fns::select(0, fns::get_azs(""));
    app.add(stack, "Select", SsmParameter::new(SsmType::String, first_az)).unwrap();
    let second = fns::select(1, fns::split(",", "a,b,c"));
    app.add(stack, "Split", SsmParameter::new(SsmType::String, second)).unwrap();
    let t = template(&app);
    assert_eq!(
        property(&t, "Sub", "Value"),
        json!({ "Fn::Sub": ["arn:${AWS::Partition}:sqs:${Name}:${!Literal}", { "Name": { "Fn::GetAtt": ["Jobs", "Arn"] } }] })
    );
    assert_eq!(property(&t, "Join", "Value"), json!({ "Fn::Join": ["-", ["a", { "Ref": "AWS::Region" }]] }));
    assert_eq!(property(&t, "Select", "Value"), json!({ "Fn::Select": ["0", { "Fn::GetAZs": "" }] }));
    assert_eq!(property(&t, "Split", "Value"), json!({ "Fn::Select": ["1", { "Fn::Split": [",", "a,b,c"] }] }));
}

/// `queue.arn()` under another name, to show attribute accessors compose like any expression.
trait QueueNameOrArn {
    fn queue_name_or_arn(&self) -> Value<String>;
}
impl QueueNameOrArn for brain2_iac::cfn::Handle<Queue> {
    fn queue_name_or_arn(&self) -> Value<String> {
        self.arn().into()
    }
}

#[test]
fn sub_without_variables_is_a_plain_string_and_unknown_names_are_refused() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    app.add(stack, "Jobs", Queue::new()).unwrap();
    let plain = fns::sub("${AWS::StackName}-${Jobs.QueueName}", Vec::<(&str, &str)>::new());
    app.add(stack, "Plain", SsmParameter::new(SsmType::String, plain)).unwrap();
    assert_eq!(
        property(&template(&app), "Plain", "Value"),
        json!({ "Fn::Sub": "${AWS::StackName}-${Jobs.QueueName}" })
    );

    let bad = fns::sub("${Nope}", Vec::<(&str, &str)>::new());
    app.add(stack, "Bad", SsmParameter::new(SsmType::String, bad)).unwrap();
    let error = app.synth().unwrap_err().to_string();
    assert!(error.contains("${Nope}") && error.contains("resource Bad"), "{error}");
}

#[test]
fn conditions_if_and_no_value() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    let env = app
        .add_parameter(stack, "Env", ParameterSpec::string().allowed_values(["dev", "prod"]).default_value("dev"))
        .unwrap();
    let is_prod = app.add_condition(stack, "IsProd", cond::equals(env.ref_(), "prod")).unwrap();
    let not_prod = app.add_condition(stack, "NotProd", cond::not(is_prod.expr())).unwrap();
    app.add_condition(stack, "Either", cond::or([is_prod.expr(), not_prod.expr()])).unwrap();
    app.add_condition(stack, "Both", cond::and([is_prod.expr(), not_prod.expr()])).unwrap();
    let queue =
        Queue::new().message_retention_period(fns::if_(&is_prod, 1_209_600, 345_600)).queue_name(pseudo::no_value());
    let handle = app.add(stack, "Jobs", queue).unwrap();
    app.attributes_mut(&handle).condition = Some(is_prod.clone());
    let t = template(&app);
    assert_eq!(t["Conditions"]["IsProd"], json!({ "Fn::Equals": [{ "Ref": "Env" }, "prod"] }));
    assert_eq!(t["Conditions"]["NotProd"], json!({ "Fn::Not": [{ "Condition": "IsProd" }] }));
    assert_eq!(t["Conditions"]["Either"], json!({ "Fn::Or": [{ "Condition": "IsProd" }, { "Condition": "NotProd" }] }));
    assert_eq!(t["Conditions"]["Both"]["Fn::And"].as_array().unwrap().len(), 2);
    assert_eq!(property(&t, "Jobs", "MessageRetentionPeriod"), json!({ "Fn::If": ["IsProd", 1_209_600, 345_600] }));
    assert_eq!(property(&t, "Jobs", "QueueName"), json!({ "Ref": "AWS::NoValue" }));
    assert_eq!(t["Resources"]["Jobs"]["Condition"], "IsProd");
}

#[test]
fn import_value_of_an_outside_export() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    app.add(stack, "Shared", SsmParameter::new(SsmType::String, fns::import_value("network:VpcId"))).unwrap();
    assert_eq!(property(&template(&app), "Shared", "Value"), json!({ "Fn::ImportValue": "network:VpcId" }));
}

#[test]
fn typed_parameters_carry_their_constraints() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    let key = app
        .add_parameter(
            stack,
            "CodeKey",
            ParameterSpec::string()
                .description("S3 key")
                .allowed_pattern("^[a-f0-9]{64}\\.zip$")
                .min_length(68)
                .max_length(68),
        )
        .unwrap();
    let retention = app
        .add_parameter(
            stack,
            "Retention",
            ParameterSpec::integer().min_value(60).max_value(1_209_600).default_value(345_600),
        )
        .unwrap();
    app.add(stack, "Key", SsmParameter::new(SsmType::String, key.ref_())).unwrap();
    app.add(stack, "Jobs", Queue::new().message_retention_period(retention.ref_())).unwrap();
    let t = template(&app);
    assert_eq!(
        t["Parameters"]["CodeKey"],
        json!({ "Type": "String", "Description": "S3 key", "AllowedPattern": "^[a-f0-9]{64}\\.zip$", "MinLength": 68, "MaxLength": 68 })
    );
    assert_eq!(
        t["Parameters"]["Retention"],
        json!({ "Type": "Number", "Default": 345_600, "MinValue": 60, "MaxValue": 1_209_600 })
    );
    assert_eq!(property(&t, "Jobs", "MessageRetentionPeriod"), json!({ "Ref": "Retention" }));
}

#[test]
fn parameter_defaults_outside_their_constraints_are_refused() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    let error = app
        .add_parameter(stack, "Size", ParameterSpec::integer().min_value(10).default_value(5))
        .unwrap_err()
        .to_string();
    assert!(error.contains("Size") && error.contains("MinValue"), "{error}");
    let error = app
        .add_parameter(stack, "Env", ParameterSpec::string().allowed_values(["dev"]).default_value("prod"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("allowed values"), "{error}");
}

#[test]
fn resource_attributes() {
    use brain2_iac::cfn::{DeletionPolicy, RemovalPolicy};
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    let first = app.add(stack, "First", Queue::new()).unwrap();
    let second = app.add(stack, "Second", Queue::new()).unwrap();
    let attributes = app.attributes_mut(&second);
    attributes.set_removal_policy(RemovalPolicy::Retain);
    attributes.depend_on(&first);
    attributes.metadata.insert("Owner".into(), Json::from("brain2"));
    app.attributes_mut(&first).deletion_policy = Some(DeletionPolicy::Snapshot);
    let mut t = template(&app);
    // The policy pack's exemptions for checkov are checked elsewhere (policy.rs).
    t["Resources"]["Second"]["Metadata"].as_object_mut().unwrap().remove("checkov");
    assert_eq!(
        t["Resources"]["Second"],
        json!({
            "Type": "AWS::SQS::Queue",
            "DependsOn": ["First"],
            "Metadata": { "Owner": "brain2" },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain"
        })
    );
    assert_eq!(t["Resources"]["First"]["DeletionPolicy"], "Snapshot");
}

#[test]
fn logical_ids_are_validated_and_unique() {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    app.add(stack, "Jobs", Queue::new()).unwrap();
    let duplicate = app.add(stack, "Jobs", Queue::new()).unwrap_err().to_string();
    assert!(duplicate.contains("\"Jobs\" is already used by a resource"), "{duplicate}");
    let bad = app.add(stack, "my-queue", Queue::new()).unwrap_err().to_string();
    assert!(bad.contains("alphanumeric"), "{bad}");
    assert!(App::new("Demo", "dev").unwrap_err().to_string().contains("lowercase"));
}

//! References between stacks become exports and imports, order the stacks, and never cycle.

use brain2_iac::aws::sqs::Queue;
use brain2_iac::aws::ssm::Parameter as SsmParameter;
use brain2_iac::aws::ssm::parameter::Type as SsmType;
use brain2_iac::cfn::{App, DslError, ParameterSpec, cond, fns};
use serde_json::{Value as JsonValue, json};

fn parse(text: &str) -> JsonValue {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_reference_across_stacks_becomes_a_matching_export_and_import() {
    let mut app = App::new("brain2", "dev").unwrap();
    let database = app.add_stack("database", "state").unwrap();
    let compute = app.add_stack("compute", "code").unwrap();
    let queue = app.add(database, "Jobs", Queue::new()).unwrap();
    app.add(compute, "JobsArn", SsmParameter::new(SsmType::String, queue.arn())).unwrap();

    let synthesized = app.synth().unwrap();
    let names: Vec<&str> = synthesized.stacks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["brain2-dev-database", "brain2-dev-compute"]);

    let producer = synthesized.stack("database").unwrap();
    let consumer = synthesized.stack("compute").unwrap();
    let export_name = "brain2-dev-database:Jobs:Arn";
    assert_eq!(producer.exports, [export_name]);
    assert_eq!(consumer.imports, [export_name]);
    assert_eq!(consumer.depends_on, ["brain2-dev-database"]);

    let produced = parse(&producer.template);
    assert_eq!(
        produced["Outputs"]["ExportJobsArn"],
        json!({
            "Description": "Used by another stack of this app; removed when no stack imports it.",
            "Value": { "Fn::GetAtt": ["Jobs", "Arn"] },
            "Export": { "Name": export_name }
        })
    );
    let consumed = parse(&consumer.template);
    assert_eq!(consumed["Resources"]["JobsArn"]["Properties"]["Value"], json!({ "Fn::ImportValue": export_name }));
}

#[test]
fn the_stack_order_follows_references_not_insertion() {
    let mut app = App::new("brain2", "dev").unwrap();
    let api = app.add_stack("api", "").unwrap();
    let compute = app.add_stack("compute", "").unwrap();
    let database = app.add_stack("database", "").unwrap();
    let frontend = app.add_stack("frontend", "").unwrap();
    let table = app.add(database, "Table", Queue::new()).unwrap();
    let function = app.add(compute, "Function", Queue::new().queue_name(fns::join("-", [table.ref_()]))).unwrap();
    app.add(api, "Api", Queue::new().queue_name(function.arn())).unwrap();
    app.add(frontend, "Site", Queue::new()).unwrap();
    let synthesized = app.synth().unwrap();
    let order: Vec<&str> = synthesized.stacks.iter().map(|s| s.short_name.as_str()).collect();
    assert_eq!(order, ["database", "compute", "api", "frontend"]);
    // The same export is made once however many times it is used.
    app.add(api, "Again", Queue::new().queue_name(function.arn())).unwrap();
    let synthesized = app.synth().unwrap();
    assert_eq!(synthesized.stack("compute").unwrap().exports, ["brain2-dev-compute:Function:Arn"]);
}

#[test]
fn a_cycle_is_refused_naming_the_stacks_and_the_references() {
    let mut app = App::new("brain2", "dev").unwrap();
    let a = app.add_stack("alpha", "").unwrap();
    let b = app.add_stack("beta", "").unwrap();
    let first = app.add(a, "First", Queue::new()).unwrap();
    let second = app.add(b, "Second", Queue::new().queue_name(first.arn())).unwrap();
    app.add(a, "Back", SsmParameter::new(SsmType::String, second.ref_())).unwrap();

    let error = app.synth().unwrap_err();
    let DslError::StackCycle(steps) = &error else { panic!("expected a cycle, got {error}") };
    assert_eq!(steps.len(), 2);
    let message = error.to_string();
    assert!(message.contains("brain2-dev-alpha needs brain2-dev-beta (resource Back uses Second)"), "{message}");
    assert!(message.contains("brain2-dev-beta needs brain2-dev-alpha (resource Second uses First.Arn)"), "{message}");
}

#[test]
fn declared_dependencies_and_cross_stack_depends_on_order_stacks_too() {
    let mut app = App::new("brain2", "dev").unwrap();
    let later = app.add_stack("later", "").unwrap();
    let earlier = app.add_stack("earlier", "").unwrap();
    let third = app.add_stack("third", "").unwrap();
    let waiting = app.add(later, "Waiting", Queue::new()).unwrap();
    let first = app.add(earlier, "First", Queue::new()).unwrap();
    app.add(third, "Other", Queue::new()).unwrap();
    app.attributes_mut(&waiting).depend_on(&first);
    app.add_stack_dependency(earlier, third);
    let synthesized = app.synth().unwrap();
    let order: Vec<&str> = synthesized.stacks.iter().map(|s| s.short_name.as_str()).collect();
    assert_eq!(order, ["third", "earlier", "later"]);
    // A DependsOn across stacks is a stack dependency, not a template DependsOn.
    assert!(parse(&synthesized.stack("later").unwrap().template)["Resources"]["Waiting"].get("DependsOn").is_none());
}

#[test]
fn parameters_can_be_shared_across_stacks() {
    let mut app = App::new("brain2", "dev").unwrap();
    let a = app.add_stack("alpha", "").unwrap();
    let b = app.add_stack("beta", "").unwrap();
    let name = app.add_parameter(a, "Prefix", ParameterSpec::string().default_value("x")).unwrap();
    app.add(a, "Anchor", Queue::new()).unwrap();
    app.add(b, "Uses", SsmParameter::new(SsmType::String, name.ref_())).unwrap();
    let synthesized = app.synth().unwrap();
    assert_eq!(synthesized.stack("beta").unwrap().imports, ["brain2-dev-alpha:Prefix:Param"]);
    assert_eq!(
        parse(&synthesized.stack("alpha").unwrap().template)["Outputs"]["ExportPrefixParam"]["Value"],
        json!({ "Ref": "Prefix" })
    );
}

#[test]
fn conditions_and_regions_do_not_cross_stacks() {
    let mut app = App::new("brain2", "dev").unwrap();
    let a = app.add_stack("alpha", "").unwrap();
    let b = app.add_stack("beta", "").unwrap();
    let always = app.add_condition(a, "Always", cond::equals("a", "a")).unwrap();
    app.add(a, "Anchor", Queue::new()).unwrap();
    app.add(b, "Conditional", Queue::new().queue_name(fns::if_(&always, "x", "y"))).unwrap();
    let error = app.synth().unwrap_err().to_string();
    assert!(error.contains("condition \"Always\" of stack brain2-dev-alpha"), "{error}");

    let mut app = App::new("brain2", "dev").unwrap();
    let main = app.add_stack("main", "").unwrap();
    let edge = app.add_stack("edge", "").unwrap();
    app.set_stack_region(edge, "us-east-1");
    let queue = app.add(main, "Jobs", Queue::new()).unwrap();
    app.add(edge, "Uses", Queue::new().queue_name(queue.arn())).unwrap();
    let error = app.synth().unwrap_err().to_string();
    assert!(error.contains("exports do not cross regions") && error.contains("us-east-1"), "{error}");
}

#[test]
fn export_names_keep_environments_apart() {
    let build = |env: &str| {
        let mut app = App::new("brain2", env).unwrap();
        let a = app.add_stack("database", "").unwrap();
        let b = app.add_stack("compute", "").unwrap();
        let queue = app.add(a, "Jobs", Queue::new()).unwrap();
        app.add(b, "Uses", Queue::new().queue_name(queue.arn())).unwrap();
        app.synth().unwrap().stack("database").unwrap().exports.clone()
    };
    assert_eq!(build("dev"), ["brain2-dev-database:Jobs:Arn"]);
    assert_eq!(build("prod"), ["brain2-prod-database:Jobs:Arn"]);
}

/// Across regions a value travels as a parameter deploy fills from the other stack's output:
/// no export, an order between the stacks, and a missing output named at synthesis.
#[test]
fn an_output_parameter_crosses_regions_and_orders_the_stacks() {
    let mut app = App::new("brain2", "dev").unwrap();
    let api = app.add_stack("api", "in the home region").unwrap();
    let site = app.add_stack("site", "elsewhere").unwrap();
    app.set_stack_region(site, "us-east-1");
    let queue = app.add(site, "Jobs", Queue::new()).unwrap();
    app.add_output(site, "JobsUrl", queue.ref_(), "the queue", false).unwrap();
    let url = app.add_output_parameter(api, "JobsUrl", site, "JobsUrl", ParameterSpec::string()).unwrap();
    app.add(api, "Copy", SsmParameter::new(SsmType::String, url.ref_())).unwrap();

    let synthesized = app.synth().unwrap();
    let names: Vec<&str> = synthesized.stacks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["brain2-dev-site", "brain2-dev-api"]);
    let consumer = synthesized.stack("api").unwrap();
    assert_eq!(consumer.depends_on, ["brain2-dev-site"]);
    assert!(consumer.imports.is_empty() && synthesized.stack("site").unwrap().exports.is_empty());
    let source = &consumer.output_parameters["JobsUrl"];
    assert_eq!((source.stack.as_str(), source.output.as_str()), ("brain2-dev-site", "JobsUrl"));
    let template = parse(&consumer.template);
    assert_eq!(
        template["Parameters"]["JobsUrl"]["Description"],
        "Output JobsUrl of brain2-dev-site, filled in by deploy"
    );
    assert_eq!(synthesized.manifest()["stacks"][1]["outputParameters"]["JobsUrl"]["output"], "JobsUrl");

    let mut app = App::new("brain2", "dev").unwrap();
    let api = app.add_stack("api", "").unwrap();
    let site = app.add_stack("site", "").unwrap();
    app.add(site, "Jobs", Queue::new()).unwrap();
    let url = app.add_output_parameter(api, "JobsUrl", site, "Missing", ParameterSpec::string()).unwrap();
    app.add(api, "Copy", SsmParameter::new(SsmType::String, url.ref_())).unwrap();
    let error = app.synth().unwrap_err().to_string();
    assert!(error.contains("JobsUrl") && error.contains("Missing") && error.contains("brain2-dev-site"), "{error}");
}

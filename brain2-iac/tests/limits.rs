//! CloudFormation's template limits are checked at synthesis.

use brain2_iac::aws::ssm::Parameter as SsmParameter;
use brain2_iac::aws::ssm::parameter::Type as SsmType;
use brain2_iac::cfn::{App, DslError, ParameterSpec, limits};

fn app_with(resources: usize, value_bytes: usize) -> App {
    let mut app = App::new("demo", "dev").unwrap();
    let stack = app.add_stack("main", "").unwrap();
    let value = "x".repeat(value_bytes);
    for i in 0..resources {
        app.add(stack, &format!("P{i}"), SsmParameter::new(SsmType::String, value.as_str())).unwrap();
    }
    app
}

fn limit_error(app: &App) -> (String, usize, usize) {
    match app.synth().unwrap_err() {
        DslError::LimitExceeded { what, actual, limit, .. } => (what.to_owned(), actual, limit),
        other => panic!("expected a limit error, got {other}"),
    }
}

#[test]
fn five_hundred_resources_pass_and_five_hundred_and_one_fail() {
    assert!(app_with(limits::MAX_RESOURCES, 1).synth().is_ok());
    let (what, actual, limit) = limit_error(&app_with(limits::MAX_RESOURCES + 1, 1));
    assert_eq!((what.as_str(), actual, limit), ("the number of resources", 501, 500));
}

#[test]
fn outputs_and_parameters_are_capped_at_two_hundred() {
    let mut app = app_with(1, 1);
    let stack = app.stack_ids().next().unwrap();
    for i in 0..=limits::MAX_OUTPUTS {
        app.add_output(stack, &format!("O{i}"), "v", "", false).unwrap();
    }
    assert_eq!(limit_error(&app).0, "the number of outputs");

    let mut app = app_with(1, 1);
    let stack = app.stack_ids().next().unwrap();
    for i in 0..=limits::MAX_PARAMETERS {
        app.add_parameter(stack, &format!("Q{i}"), ParameterSpec::string()).unwrap();
    }
    assert_eq!(limit_error(&app).0, "the number of parameters");
}

#[test]
fn a_template_over_51200_bytes_is_marked_for_s3_upload() {
    let small = app_with(1, 100).synth().unwrap();
    assert!(!small.stacks[0].requires_s3_upload);
    let large = app_with(10, 6_000).synth().unwrap();
    assert!(large.stacks[0].template.len() > limits::MAX_INLINE_TEMPLATE_BYTES);
    assert!(large.stacks[0].requires_s3_upload);
    assert!(large.manifest()["stacks"][0]["requiresS3Upload"].as_bool().unwrap());
}

#[test]
fn a_template_over_one_megabyte_is_refused() {
    let (what, actual, limit) = limit_error(&app_with(200, 5_100));
    assert_eq!(what, "the template size in bytes");
    assert!(actual > limit && limit == limits::MAX_TEMPLATE_BYTES);
}

#[test]
fn an_empty_stack_is_refused() {
    let mut app = App::new("demo", "dev").unwrap();
    app.add_stack("empty", "").unwrap();
    assert!(app.synth().unwrap_err().to_string().contains("demo-dev-empty has no resources"));
}

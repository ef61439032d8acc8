//! The same app always gives the same bytes, whatever order the code adds things in.

use brain2_iac::aws::sqs::Queue;
use brain2_iac::cfn::{App, ParameterSpec};

fn build(reverse: bool) -> App {
    let mut app = App::new("brain2", "dev").unwrap();
    let a = app.add_stack("alpha", "First stack").unwrap();
    let b = app.add_stack("beta", "Second stack").unwrap();
    let mut names = vec!["Zeta", "Alpha", "Mid"];
    if reverse {
        names.reverse();
    }
    let mut handles = Vec::new();
    for name in &names {
        handles.push(app.add(a, name, Queue::new().delay_seconds(5).visibility_timeout(30)).unwrap());
    }
    app.add_parameter(b, "Size", ParameterSpec::integer().default_value(3)).unwrap();
    for handle in &handles {
        let id = format!("Uses{}", handle.logical_id());
        app.add(b, &id, Queue::new().queue_name(handle.arn())).unwrap();
    }
    app
}

#[test]
fn two_synths_are_byte_identical() {
    let app = build(false);
    let first = app.synth().unwrap();
    let second = app.synth().unwrap();
    for (x, y) in first.stacks.iter().zip(&second.stacks) {
        assert_eq!(x.template.as_bytes(), y.template.as_bytes());
    }
    assert_eq!(first.manifest(), second.manifest());
}

#[test]
fn insertion_order_does_not_change_the_output() {
    let forward = build(false).synth().unwrap();
    let backward = build(true).synth().unwrap();
    for (x, y) in forward.stacks.iter().zip(&backward.stacks) {
        assert_eq!(x.template, y.template);
    }
}

#[test]
fn sections_come_in_a_fixed_order_with_two_space_indent_and_a_final_newline() {
    let synthesized = build(false).synth().unwrap();
    let beta = &synthesized.stack("beta").unwrap().template;
    assert!(beta.ends_with("}\n") && !beta.ends_with("\n\n"));
    assert!(
        beta.starts_with("{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\",\n  \"Description\": \"Second stack\",\n")
    );
    let position = |key: &str| beta.find(&format!("\n  \"{key}\"")).unwrap_or(usize::MAX);
    assert!(position("Description") < position("Parameters"));
    assert!(position("Parameters") < position("Resources"));
    let alpha = &synthesized.stack("alpha").unwrap().template;
    let position = |key: &str| alpha.find(&format!("\n  \"{key}\"")).unwrap();
    assert!(position("Resources") < position("Outputs"));
    // Inside a resource, Type comes before Properties.
    let resource = alpha.find("\"Alpha\": {").unwrap();
    assert!(alpha[resource..].find("\"Type\"").unwrap() < alpha[resource..].find("\"Properties\"").unwrap());
}

//! Golden files for the generator, and the check that checked-in generated code is current.
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the expected files after an intended change, then review
//! their diff like code.

use std::path::Path;

use xtask::codegen;

fn golden(schema_file: &str) {
    let workspace = xtask::workspace_root();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codegen");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join(schema_file)).unwrap()).unwrap();
    let actual = codegen::generate_resource(&schema, schema_file, &workspace).unwrap();
    let expected_path = fixtures.join(schema_file.replace(".json", ".rs.golden"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", expected_path.display()));
    assert!(
        actual == expected,
        "generated code for {schema_file} differs from {}; run with UPDATE_GOLDEN=1 and review the diff",
        expected_path.display()
    );
}

#[test]
fn widget_schema_generates_the_golden_rust() {
    golden("example-test-widget.json");
}

#[test]
fn checked_in_generated_code_is_up_to_date() {
    let stale = codegen::out_of_date(&xtask::workspace_root()).unwrap();
    assert!(stale.is_empty(), "run `cargo xtask codegen` and commit; out of date: {stale:?}");
}

#[test]
fn generation_is_deterministic() {
    let workspace = xtask::workspace_root();
    assert_eq!(codegen::generate(&workspace).unwrap(), codegen::generate(&workspace).unwrap());
}

#[test]
fn model_follows_the_schema() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codegen");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("example-test-widget.json")).unwrap()).unwrap();
    let model = codegen::model::build(&schema).unwrap();
    let widget = &model.structs[0];
    assert_eq!(widget.name, "Widget");
    let field = |name: &str| widget.fields.iter().find(|f| f.json_name == name).unwrap();
    assert!(field("Name").required && field("Mode").required && !field("Size").required);
    // Read-only properties are attributes, not inputs.
    assert!(widget.fields.iter().all(|f| f.json_name != "Arn"));
    let attributes: Vec<(&str, &str)> = model.attributes.iter().map(|a| (a.name.as_str(), a.method.as_str())).collect();
    assert_eq!(
        attributes,
        [("Arn", "arn"), ("Endpoint.Address", "endpoint_address"), ("Endpoint.Port", "endpoint_port")]
    );
    assert_eq!(model.create_only, ["/properties/Name", "/properties/Mode"]);
    // A keyword becomes a raw identifier; an inline copy of a definition reuses it.
    assert_eq!(field("Type").rust_name, "r#type");
    assert_eq!(field("Copy").ty, codegen::model::Ty::Struct { name: "Tag".into(), boxed: false });
    // Direct self-reference is boxed; through a list it needs no box.
    let rule = model.structs.iter().find(|s| s.name == "Rule").unwrap();
    let not = rule.fields.iter().find(|f| f.json_name == "Not").unwrap();
    assert_eq!(not.ty, codegen::model::Ty::Struct { name: "Rule".into(), boxed: true });
    let mode = model.enums.iter().find(|e| e.name == "Mode").unwrap();
    let variants: Vec<&str> = mode.variants.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(variants, ["FastMode", "SlowMode", "V3d"]);
}

#[test]
fn bad_schemas_are_refused_with_the_reason() {
    let no_type = serde_json::json!({ "properties": {} });
    assert!(codegen::model::build(&no_type).unwrap_err().to_string().contains("typeName"));
    let bad_ref = serde_json::json!({
        "typeName": "A::B::C",
        "properties": { "X": { "$ref": "#/definitions/Missing" } }
    });
    let error = format!("{:#}", codegen::model::build(&bad_ref).unwrap_err());
    assert!(error.contains("Missing"), "{error}");
}

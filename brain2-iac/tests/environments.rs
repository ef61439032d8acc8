//! Environment files: the checked-in ones load, the schema is current, and bad input is refused
//! with the file, the JSON path and what was expected.

use std::path::{Path, PathBuf};

use brain2_iac::config::{ConfigError, ENVIRONMENTS, EnvironmentConfig};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn dev_json() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(workspace().join("environments/dev.json")).unwrap()).unwrap()
}

fn error_for(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json = dev_json();
    edit(&mut json);
    EnvironmentConfig::parse(Path::new("environments/dev.json"), &json.to_string()).unwrap_err().to_string()
}

#[test]
fn every_environment_file_loads() {
    for environment in ENVIRONMENTS {
        EnvironmentConfig::load(&workspace(), environment).unwrap();
    }
}

#[test]
fn the_schema_file_is_up_to_date() {
    let on_disk = std::fs::read_to_string(workspace().join("environments/schema.json")).unwrap();
    assert!(
        on_disk == EnvironmentConfig::json_schema(),
        "run `cargo xtask schema` and commit environments/schema.json"
    );
}

#[test]
fn every_file_points_at_the_schema() {
    for environment in ENVIRONMENTS {
        assert_eq!(
            EnvironmentConfig::load(&workspace(), environment).unwrap().schema.as_deref(),
            Some("./schema.json")
        );
    }
}

#[test]
fn an_unknown_key_names_the_path() {
    let error = error_for(|j| j["lambda"]["architecure"] = "arm64".into());
    assert!(error.starts_with("environments/dev.json: at lambda.architecure:"), "{error}");
    assert!(error.contains("unknown field `architecure`"), "{error}");
}

#[test]
fn a_wrong_type_names_the_path_and_the_expected_type() {
    let error = error_for(|j| j["data"]["pointInTimeRecovery"] = "yes".into());
    assert!(error.contains("at data.pointInTimeRecovery:") && error.contains("expected a boolean"), "{error}");
    let error = error_for(|j| j["lambda"]["architecture"] = "arm".into());
    assert!(error.contains("at lambda.architecture:") && error.contains("arm64"), "{error}");
}

#[test]
fn out_of_range_values_say_what_was_expected() {
    let error = error_for(|j| j["lambda"]["functions"]["backend"]["memoryMb"] = 64.into());
    assert!(error.contains(".lambda.functions.backend.memoryMb") && error.contains("128 to 10240"), "{error}");
    let error = error_for(|j| j["logRetentionDays"] = 10.into());
    assert!(error.contains(".logRetentionDays") && error.contains("[1, 3, 5, 7"), "{error}");
    let error = error_for(|j| j["connections"]["maxEdgesPerNode"] = 0.into());
    assert!(error.contains(".connections.maxEdgesPerNode"), "{error}");
    let error = error_for(|j| j["lambda"]["functions"]["wsConnect"]["reservedConcurrency"] = 0.into());
    assert!(
        error.contains(".lambda.functions.wsConnect.reservedConcurrency") && error.contains("1 to 1000"),
        "{error}"
    );
}

#[test]
fn a_site_domain_is_a_dns_name_in_a_hosted_zone_id_form_and_needs_us_east_1() {
    let error = error_for(|j| j["frontend"]["domain"] = serde_json::json!({ "name": "Brain2.Example.com" }));
    assert!(error.contains(".frontend.domain.name") && error.contains("lowercase"), "{error}");
    let error = error_for(|j| j["frontend"]["domain"] = serde_json::json!({ "name": "example" }));
    assert!(error.contains(".frontend.domain.name"), "{error}");
    let error = error_for(|j| {
        j["frontend"]["domain"] = serde_json::json!({ "name": "brain2.example.com", "hostedZoneId": "zone-1" })
    });
    assert!(error.contains(".frontend.domain.hostedZoneId"), "{error}");
    let error = error_for(|j| j["api"]["webSocketDomain"] = serde_json::json!({ "name": "live..example.com" }));
    assert!(error.contains(".api.webSocketDomain.name"), "{error}");
    let error = error_for(|j| {
        j["frontend"]["domain"] = serde_json::json!({ "name": "brain2.example.com" });
        j["frontendRegion"] = "eu-west-1".into();
    });
    assert!(error.contains(".frontendRegion") && error.contains("us-east-1"), "{error}");
    // With a domain the site's origin is allowed, so no other origin is needed.
    let mut json = dev_json();
    json["frontend"]["domain"] = serde_json::json!({ "name": "brain2.example.com", "hostedZoneId": "Z123ABC" });
    json["api"]["corsOrigins"] = serde_json::json!([]);
    EnvironmentConfig::parse(Path::new("environments/dev.json"), &json.to_string()).unwrap();
}

#[test]
fn provisioned_concurrency_fits_in_the_reserved() {
    let error = error_for(|j| {
        j["lambda"]["functions"]["backend"]["reservedConcurrency"] = 2.into();
        j["lambda"]["provisionedConcurrency"]["backend"] = 3.into();
    });
    assert!(error.contains(".lambda.provisionedConcurrency.backend") && error.contains("at most 2"), "{error}");
}

#[test]
fn cross_field_rules_are_enforced() {
    let error = error_for(|j| {
        j["frontend"]["waf"] = true.into();
        j["frontendRegion"] = "eu-west-1".into();
    });
    assert!(error.contains("us-east-1"), "{error}");
    let error = error_for(|j| j["monitoring"]["enabled"] = true.into());
    assert!(error.contains(".monitoring.alarmEmail") && error.contains("required"), "{error}");
    let error = error_for(|j| {
        j["auth"].as_object_mut().unwrap().remove("jwksUrl");
    });
    assert!(error.contains(".auth") && error.contains("jwtSecretArn, jwksUrl"), "{error}");
    let error = error_for(|j| j["auth"]["jwtSecretArn"] = "my-secret-value".into());
    assert!(error.contains(".auth.jwtSecretArn") && error.contains("arn:aws:secretsmanager"), "{error}");
    let error = error_for(|j| j["api"]["corsOrigins"] = serde_json::json!(["*"]));
    assert!(error.contains(".api.corsOrigins[0]"), "{error}");
}

/// Every environment publishes a site, whose config.json carries the anon key: without it
/// Supabase refuses every sign-in. A secret key would be published, so it is refused too.
#[test]
fn the_site_needs_the_anon_key_and_never_a_secret_one() {
    for edit in [
        (|j: &mut serde_json::Value| {
            j["auth"].as_object_mut().unwrap().remove("supabaseAnonKey");
        }) as fn(&mut serde_json::Value),
        |j| j["auth"]["supabaseAnonKey"] = " ".into(),
    ] {
        let error = error_for(edit);
        assert!(error.starts_with("environments/dev.json: at .auth.supabaseAnonKey: missing"), "{error}");
    }
    let service_role = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6ImJyYWluMnByb2QiLCJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln";
    for secret in ["sb_secret_0123456789abcdef", service_role] {
        let error = error_for(|j| j["auth"]["supabaseAnonKey"] = secret.into());
        assert!(error.contains(".auth.supabaseAnonKey") && error.contains("secret key"), "{error}");
    }
    let anon = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6ImJyYWluMnByb2QiLCJyb2xlIjoiYW5vbiJ9.c2ln";
    let mut json = dev_json();
    json["auth"]["supabaseAnonKey"] = anon.into();
    EnvironmentConfig::parse(Path::new("environments/dev.json"), &json.to_string()).unwrap();
}

#[test]
fn malformed_json_is_reported_with_the_file() {
    let error = EnvironmentConfig::parse(Path::new("environments/dev.json"), "{ \"region\": ").unwrap_err().to_string();
    assert!(error.starts_with("environments/dev.json:"), "{error}");
}

#[test]
fn an_unknown_environment_lists_the_valid_ones() {
    let error = EnvironmentConfig::load(&workspace(), "qa").unwrap_err();
    assert!(matches!(error, ConfigError::UnknownEnvironment { .. }));
    assert!(error.to_string().contains("dev, staging, prod"));
}

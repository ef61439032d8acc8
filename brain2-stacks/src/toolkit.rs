//! The toolkit stack `brain2-<env>-toolkit`: the assets bucket deploy uploads function zips,
//! large templates and release records to. `cargo xtask bootstrap` creates it, once per
//! environment, before the first deploy.

use brain2_iac::cfn::{App, RemovalPolicy, Result};
use brain2_iac::constructs::{BucketProps, PrivateBucket};

use crate::APP_NAME;

/// The toolkit stack's short name.
pub const TOOLKIT_STACK: &str = "toolkit";

/// The output holding the assets bucket's name.
pub const ASSETS_BUCKET_OUTPUT: &str = "AssetsBucketName";

/// Key prefixes in the assets bucket. Zips and templates are content-addressed and can be
/// uploaded again at any time, so they expire; release records are the rollback history and stay.
pub const FUNCTIONS_PREFIX: &str = "functions/";
pub const TEMPLATES_PREFIX: &str = "templates/";
pub const RELEASES_PREFIX: &str = "releases/";

/// Days before a zip or template nobody re-uploaded expires; deploy checks for each object
/// before using it, so an expired one is simply uploaded again.
pub const ASSET_EXPIRY_DAYS: i64 = 90;

/// The toolkit app of one environment: one stack, one private, encrypted, TLS-only bucket.
pub fn toolkit_app(environment: &str) -> Result<App> {
    let mut app = App::new(APP_NAME, environment)?;
    let stack =
        app.add_stack(TOOLKIT_STACK, &format!("Brain2 {environment}: deploy assets (cargo xtask bootstrap)"))?;
    app.add_stack_tag(stack, "app", APP_NAME);
    app.add_stack_tag(stack, "environment", environment);
    let assets = PrivateBucket::new(
        &mut app,
        stack,
        "AssetsBucket",
        BucketProps {
            expiry_days: Some(ASSET_EXPIRY_DAYS),
            expiry_prefixes: vec![FUNCTIONS_PREFIX.to_owned(), TEMPLATES_PREFIX.to_owned()],
            // Emptied and deleted by hand only: it holds the release history rollback reads.
            removal_policy: RemovalPolicy::Retain,
            ..BucketProps::default()
        },
    )?;
    app.add_output(
        stack,
        ASSETS_BUCKET_OUTPUT,
        assets.name(),
        "Bucket for function zips, templates and releases",
        false,
    )?;
    Ok(app)
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn the_toolkit_bucket_is_private_encrypted_tls_only_and_expires_assets_only() {
        let synthesized = toolkit_app("dev").unwrap().synth().unwrap();
        let stack = synthesized.stack("toolkit").unwrap();
        assert_eq!(stack.name, "brain2-dev-toolkit");
        let template: serde_json::Value = serde_json::from_str(&stack.template).unwrap();
        let bucket = &template["Resources"]["AssetsBucket"];
        assert_eq!(bucket["DeletionPolicy"], "Retain");
        let properties = &bucket["Properties"];
        assert!(properties["BucketEncryption"].is_object());
        assert_eq!(properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"], true);
        let rules = properties["LifecycleConfiguration"]["Rules"].as_array().unwrap();
        let prefixes: Vec<&str> = rules.iter().map(|r| r["Prefix"].as_str().unwrap()).collect();
        assert_eq!(prefixes, [FUNCTIONS_PREFIX, TEMPLATES_PREFIX]);
        let policy = template["Resources"]["AssetsBucketPolicy"]["Properties"]["PolicyDocument"].to_string();
        assert!(policy.contains("aws:SecureTransport"));
        assert!(template["Outputs"][ASSETS_BUCKET_OUTPUT].is_object());
    }
}

//! The local variant of the dev environment that `cargo xtask dev` deploys.
//!
//! It is `environments/dev.json`, loaded and checked as usual, with these settings replaced in
//! code (they depend on this run, so no file could hold them):
//! - `lambda.architecture`: this machine's, because the emulator runs each `bootstrap` natively;
//! - `auth.supabaseUrl`: the local sign-in's origin (the site's), so tokens carry its issuer;
//! - `auth.jwtSecretArn`: the local sign-in's secret in the emulator's Secrets Manager, and no
//!   `jwksUrl` (it signs HS256 only, which the authorizer verifies through its real code path);
//! - `auth.supabaseAnonKey`: the local sign-in's anon key;
//! - `api.corsOrigins`: the local site's origin;
//! - `frontend.siteDir`: the web client `cargo xtask dev` builds (`cargo xtask web`'s output).
//!
//! The stacks keep the `dev` name (`brain2-dev-*`): they live only inside the emulator.

use std::path::Path;

use anyhow::Result;
use brain2_iac::config::{Architecture, EnvironmentConfig};

/// The environment whose file the local variant starts from.
pub const BASE_ENVIRONMENT: &str = "dev";

/// What this run decides.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// `http://127.0.0.1:<port>`: the site, and the sign-in under `/auth/v1`.
    pub site_origin: String,
    pub jwt_secret_arn: String,
    pub anon_key: String,
}

/// This machine's Lambda architecture.
pub fn host_architecture() -> Result<Architecture> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(Architecture::X8664),
        "aarch64" => Ok(Architecture::Arm64),
        other => anyhow::bail!(
            "this machine is {other}; the emulator runs Lambda bootstraps natively, and Lambda has only x86_64 and arm64"
        ),
    }
}

/// dev.json with the local settings applied.
pub fn local_config(workspace: &Path, local: &LocalSettings) -> Result<EnvironmentConfig> {
    let mut config = EnvironmentConfig::load(workspace, BASE_ENVIRONMENT)?;
    apply(&mut config, local)?;
    Ok(config)
}

fn apply(config: &mut EnvironmentConfig, local: &LocalSettings) -> Result<()> {
    config.lambda.architecture = host_architecture()?;
    config.auth.supabase_url = local.site_origin.clone();
    config.auth.jwt_secret_arn = Some(local.jwt_secret_arn.clone());
    config.auth.jwks_url = None;
    config.auth.supabase_anon_key = Some(local.anon_key.clone());
    config.api.cors_origins = vec![local.site_origin.clone()];
    config.frontend.site_dir = crate::web::DIST_DIR.to_owned();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_variant_changes_only_what_a_local_run_decides() {
        let workspace = crate::workspace_root();
        let dev = EnvironmentConfig::load(&workspace, "dev").unwrap();
        let local = LocalSettings {
            site_origin: "http://127.0.0.1:8600".into(),
            jwt_secret_arn: "arn:aws:secretsmanager:eu-west-1:000000000000:secret:brain2-dev-local-signin-AbCdEf"
                .into(),
            anon_key: "anon".into(),
        };
        let config = local_config(&workspace, &local).unwrap();
        assert_eq!(config.api.cors_origins, vec!["http://127.0.0.1:8600".to_owned()]);
        assert_eq!(config.auth.supabase_url, "http://127.0.0.1:8600");
        assert_eq!(config.auth.jwks_url, None);
        assert_eq!(config.lambda.architecture, host_architecture().unwrap());
        let mut expected = dev.clone();
        expected.lambda.architecture = config.lambda.architecture;
        expected.auth = config.auth.clone();
        expected.api.cors_origins = config.api.cors_origins.clone();
        expected.frontend.site_dir = crate::web::DIST_DIR.to_owned();
        assert_eq!(config, expected, "nothing else differs from dev.json");
    }
}

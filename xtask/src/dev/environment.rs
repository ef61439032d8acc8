//! The local variant of an environment that `cargo xtask dev` deploys (dev by default;
//! `--env staging|prod` rehearses those).
//!
//! It is `environments/<env>.json`, loaded and checked as usual, with only what cannot exist on
//! this machine replaced (each replacement is printed at start):
//! - `lambda.architecture`: this machine's, because the emulator runs each `bootstrap` natively;
//! - `auth`: the local sign-in instead of Supabase: `supabaseUrl` is its origin (the site's), so
//!   tokens carry its issuer; `jwtSecretArn` its secret in the emulator's Secrets Manager, and no
//!   `jwksUrl` (it signs HS256 only, which the authorizer verifies through its real code path);
//!   `supabaseAnonKey` its anon key;
//! - the hosted zones of `frontend.domain`, `api.domain` and `api.webSocketDomain`: stand-ins in
//!   the emulator (`zones.rs`), so certificates, domain names and records are created as on AWS;
//! - `api.corsOrigins`: the local site's origin;
//! - `frontend.siteDir`: the web client `cargo xtask dev` builds (`cargo xtask web`'s output).
//!
//! Everything else deploys as it would on AWS: customer-managed keys and their policies, the VPC
//! and its endpoints, reserved and provisioned concurrency, alarms, the WAF. The stacks keep
//! their names (`brain2-<env>-*`): they live only inside the emulator.

use std::path::Path;

use anyhow::Result;
use brain2_iac::config::{Architecture, EnvironmentConfig};

/// The environment `cargo xtask dev` runs unless `--env` says otherwise.
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

/// `environments/<environment>.json` with the local settings applied, and one line per setting
/// that was replaced because it cannot exist here.
pub fn local_config(
    workspace: &Path,
    environment: &str,
    local: &LocalSettings,
) -> Result<(EnvironmentConfig, Vec<String>)> {
    let mut config = EnvironmentConfig::load(workspace, environment)?;
    let replaced = apply(&mut config, local)?;
    Ok((config, replaced))
}

fn apply(config: &mut EnvironmentConfig, local: &LocalSettings) -> Result<Vec<String>> {
    let mut replaced = Vec::new();
    let architecture = host_architecture()?;
    if config.lambda.architecture != architecture {
        replaced.push(format!(
            "lambda.architecture {:?} → {architecture:?}: the emulator runs each bootstrap natively",
            config.lambda.architecture
        ));
    }
    config.lambda.architecture = architecture;
    replaced.push(format!(
        "auth: Supabase ({}) → the local sign-in at {}/auth/v1 (HS256, its secret in the emulator)",
        config.auth.supabase_url, local.site_origin
    ));
    config.auth.supabase_url = local.site_origin.clone();
    config.auth.jwt_secret_arn = Some(local.jwt_secret_arn.clone());
    config.auth.jwks_url = None;
    config.auth.supabase_anon_key = Some(local.anon_key.clone());
    config.api.cors_origins = vec![local.site_origin.clone()];
    config.frontend.site_dir = crate::web::DIST_DIR.to_owned();
    Ok(replaced)
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
        let (config, replaced) = local_config(&workspace, "dev", &local).unwrap();
        assert_eq!(replaced.len(), 1 + usize::from(dev.lambda.architecture != host_architecture().unwrap()));
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

    #[test]
    fn the_prod_rehearsal_keeps_everything_but_what_cannot_exist_here() {
        let workspace = crate::workspace_root();
        let prod = EnvironmentConfig::load(&workspace, "prod").unwrap();
        let local = LocalSettings {
            site_origin: "http://127.0.0.1:8600".into(),
            jwt_secret_arn: "arn:aws:secretsmanager:eu-west-1:000000000000:secret:brain2-dev-local-signin-AbCdEf"
                .into(),
            anon_key: "anon".into(),
        };
        let (config, replaced) = local_config(&workspace, "prod", &local).unwrap();
        let text = replaced.join("\n");
        assert!(text.contains("auth: Supabase (https://brain2-prod.supabase.co)"), "{text}");
        // Domains stay: their zones are stood in for when the emulator runs (zones.rs).
        assert_eq!(config.frontend.domain, prod.frontend.domain);
        assert_eq!(config.api.domain, prod.api.domain);
        assert_eq!(config.api.web_socket_domain, prod.api.web_socket_domain);
        // What prod runs stays: keys, VPC, concurrency, monitoring, the WAF, the frontend's region.
        assert_eq!(config.encryption, prod.encryption);
        assert_eq!(config.network, prod.network);
        assert_eq!(config.lambda.functions, prod.lambda.functions);
        assert_eq!(config.lambda.provisioned_concurrency, prod.lambda.provisioned_concurrency);
        assert_eq!(config.monitoring, prod.monitoring);
        assert_eq!(config.frontend.waf, prod.frontend.waf);
        assert_eq!(config.frontend_region, prod.frontend_region);
        assert_eq!(config.data, prod.data);
    }
}

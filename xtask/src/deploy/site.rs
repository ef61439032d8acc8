//! The site: after the frontend stack, the environment's site folder is uploaded to the site
//! bucket (changed files only, each with its content type; `index.html` and `config.json`
//! never cached), `config.json` is written from `templates/site-config.json.hbs` with the API
//! URLs, and CloudFront forgets the changed paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use md5::{Digest, Md5};

use super::{Context, StackResult};
use crate::aws::assets;
use crate::aws::errors::explain;

/// The stacks whose outputs `config.json` carries.
pub const CONFIG_STACKS: &[&str] = &["api", "compute"];

/// More changed paths than this invalidate `/*` (one path, priced as one).
const MAX_INVALIDATION_PATHS: usize = 15;

/// How long browsers and CloudFront may keep a file.
pub fn cache_control(key: &str) -> &'static str {
    if key == "index.html" || key == "config.json" {
        "no-cache"
    } else if key.starts_with("assets/") {
        // Bundlers put a content hash in these names.
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    }
}

fn files(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for path in crate::fingerprint::files_under(root)? {
        let key = path
            .strip_prefix(root)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        found.push((key, path));
    }
    found.sort();
    Ok(found)
}

/// The runtime configuration the site reads at start-up.
pub fn render_config(workspace: &Path, values: &serde_json::Value) -> Result<String> {
    let path = workspace.join("templates/site-config.json.hbs");
    let template = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut handlebars = handlebars::Handlebars::new();
    handlebars.set_strict_mode(true);
    handlebars.register_escape_fn(|text| serde_json::to_string(text).unwrap_or_default().trim_matches('"').to_owned());
    let rendered =
        handlebars.render_template(&template, values).with_context(|| format!("rendering {}", path.display()))?;
    serde_json::from_str::<serde_json::Value>(&rendered)
        .with_context(|| format!("{} did not render to JSON", path.display()))?;
    Ok(rendered)
}

/// What `templates/site-config.json.hbs` is rendered with: the environment's sign-in settings and
/// the API URLs from the deployed stacks' outputs.
pub fn config_values(
    environment: &str,
    config: &brain2_iac::config::EnvironmentConfig,
    results: &[StackResult],
) -> serde_json::Value {
    serde_json::json!({
        "environment": environment,
        "region": config.region,
        "httpApiUrl": output(results, "api", "HttpApiUrl").unwrap_or_default(),
        "webSocketUrl": output(results, "compute", "WebSocketUrl").unwrap_or_default(),
        "supabaseUrl": config.auth.supabase_url,
        "supabaseAnonKey": config.auth.supabase_anon_key.as_deref().unwrap_or_default(),
    })
}

fn output<'a>(results: &'a [StackResult], stack: &str, key: &str) -> Option<&'a str> {
    results.iter().find(|r| r.short_name == stack)?.outputs.iter().find(|o| o.key == key).map(|o| o.value.as_str())
}

/// Uploads the site; returns (uploaded, unchanged) counts, or `None` when there is no site folder.
pub async fn publish(
    workspace: &Path,
    ctx: &Context,
    config: &brain2_iac::config::EnvironmentConfig,
    results: &[StackResult],
) -> Result<Option<(usize, usize)>> {
    let environment = ctx.settings.environment.as_str();
    let root = workspace.join(&config.frontend.site_dir);
    if !root.is_dir() {
        println!(
            "site: {} does not exist, so no site was uploaded; build the frontend into it and deploy again",
            root.display()
        );
        return Ok(None);
    }
    let bucket =
        output(results, "frontend", "SiteBucketName").context("the frontend stack has no SiteBucketName output")?;
    let distribution =
        output(results, "frontend", "DistributionId").context("the frontend stack has no DistributionId output")?;
    let values = config_values(environment, config, results);
    for (key, stack) in [("httpApiUrl", "api"), ("webSocketUrl", "compute")] {
        if values[key].as_str().unwrap_or_default().is_empty() {
            anyhow::bail!(
                "the site's config.json needs the {stack} stack's URL, and brain2-{environment}-{stack} is not deployed; deploy it first: `cargo xtask deploy --env {environment} --stack {stack}`"
            );
        }
    }
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (key, path) in files(&root)? {
        contents.insert(key, std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    contents.insert("config.json".to_owned(), render_config(workspace, &values)?.into_bytes());
    let frontend_region = config.frontend_region.clone();
    let s3 = ctx.aws.s3(Some(&frontend_region));
    let existing: BTreeMap<String, String> = assets::list(&s3, bucket, "").await?.into_iter().collect();
    let mut changed = Vec::new();
    for (key, bytes) in &contents {
        let md5: String = Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        if existing.get(key) == Some(&md5) {
            continue;
        }
        let content_type = mime_guess::from_path(key).first_or_octet_stream().essence_str().to_owned();
        assets::put(&s3, bucket, key, bytes.clone(), &content_type, Some(cache_control(key))).await?;
        changed.push(format!("/{key}"));
    }
    let unchanged = contents.len() - changed.len();
    println!("site: {} file(s) uploaded, {unchanged} unchanged, to s3://{bucket}", changed.len());
    if !changed.is_empty() {
        let paths = if changed.len() > MAX_INVALIDATION_PATHS { vec!["/*".to_owned()] } else { changed.clone() };
        let batch = InvalidationBatch::builder()
            // Unique per deploy (two deploys can start within the same second); SDK retries of
            // this request keep it, which is what CloudFront uses it for.
            .caller_reference(format!("brain2-{}-{}", ctx.change_set_name(), uuid::Uuid::new_v4()))
            .paths(Paths::builder().quantity(paths.len() as i32).set_items(Some(paths.clone())).build()?)
            .build()?;
        ctx.aws
            .cloudfront()
            .create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| {
                explain(&format!("invalidating {} in CloudFront distribution {distribution}", paths.join(" ")), e)
            })?;
        println!("site: CloudFront invalidation of {} sent", paths.join(" "));
    }
    Ok(Some((changed.len(), unchanged)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_config_are_never_cached_and_hashed_assets_are_immutable() {
        assert_eq!(cache_control("index.html"), "no-cache");
        assert_eq!(cache_control("config.json"), "no-cache");
        assert!(cache_control("assets/app-3f2a.js").contains("immutable"));
        assert_eq!(cache_control("favicon.ico"), "public, max-age=300");
    }

    #[test]
    fn the_site_config_template_renders_json_with_escaped_values() {
        let workspace = crate::workspace_root();
        let rendered = render_config(
            &workspace,
            &serde_json::json!({ "environment": "dev", "region": "eu-west-1", "httpApiUrl": "https://a\"b",
                "webSocketUrl": "wss://w", "supabaseUrl": "https://s", "supabaseAnonKey": "" }),
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(value["httpApiUrl"], "https://a\"b");
        assert_eq!(value["webSocketUrl"], "wss://w");
    }
}

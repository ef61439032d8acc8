//! `cargo xtask schema`: the generated schemas that are committed. The environments' JSON
//! Schema (from brain2-iac's config types), and the HTTP API's OpenAPI document with the
//! WebSocket messages' JSON Schema beside it (from brain2-api's types).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write nothing; fail if a schema is out of date.
    #[arg(long)]
    pub check: bool,
}

/// Each generated file, relative to the workspace, and its text.
pub fn generated() -> Vec<(&'static str, String)> {
    use brain2_api::openapi;
    vec![
        ("environments/schema.json", brain2_iac::config::EnvironmentConfig::json_schema()),
        ("docs/api/openapi.json", openapi::to_file_text(&openapi::document())),
        ("docs/api/live-message.schema.json", openapi::to_file_text(&openapi::live_message_schema())),
        ("docs/api/export.schema.json", openapi::to_file_text(&openapi::export_schema())),
    ]
}

impl Args {
    pub fn run(self, workspace: &Path) -> Result<ExitCode> {
        let Args { check } = self;
        let mut stale = Vec::new();
        for (relative, text) in generated() {
            let path = workspace.join(relative);
            if check {
                if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    stale.push(relative);
                }
            } else {
                if let Some(folder) = path.parent() {
                    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
                }
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {relative}");
            }
        }
        if !stale.is_empty() {
            bail!("out of date: {}; run `cargo xtask schema` and commit them", stale.join(", "));
        }
        if check {
            eprintln!("the generated schemas are up to date");
        }
        Ok(ExitCode::SUCCESS)
    }
}

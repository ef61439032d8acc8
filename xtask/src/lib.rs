//! The `cargo xtask` commands, as a library so their tests can call them.

pub mod aws;
pub mod build;
pub mod chromium;
pub mod codegen;
pub mod coldstart;
pub mod commands;
pub mod deploy;
pub mod dev;
pub mod diff;
pub mod fingerprint;
pub mod moto;
pub mod operate;
pub mod pytools;
pub mod synth;
pub mod web;

use std::path::PathBuf;

/// The workspace root: the parent of this crate's folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").to_path_buf()
}

/// A `cargo` command for the workspace, without what `cargo run` and `cargo test` set for the
/// running crate: build scripts that watch those variables (ring's watches
/// `CARGO_MANIFEST_DIR`) would otherwise rebuild half the tree on every nested invocation.
pub fn cargo(workspace: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(workspace);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            )
        {
            command.env_remove(key.as_ref());
        }
    }
    command
}

//! The `cargo xtask` commands, as a library so their tests can call them.

pub mod aws;
pub mod build;
pub mod codegen;
pub mod coldstart;
pub mod deploy;
pub mod dev;
pub mod diff;
pub mod moto;
pub mod operate;
pub mod pytools;
pub mod synth;

use std::path::PathBuf;

/// The workspace root: the parent of this crate's folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").to_path_buf()
}

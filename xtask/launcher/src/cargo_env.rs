//! What `cargo run` and `cargo test` set for the crate they run, which a nested cargo must not
//! inherit: build scripts that watch those variables (ring's watches `CARGO_MANIFEST_DIR`)
//! would otherwise rebuild half the tree. Shared by the launcher and `xtask::cargo` (included
//! by path: the launcher depends on nothing).

/// Whether `key` is one of those variables.
pub fn set_for_the_running_crate(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "OUT_DIR"
        )
}

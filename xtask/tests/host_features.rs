//! Every host build resolves one set of features (ARCHITECTURE.md, "One feature set for host
//! builds"): a feature that only the tests' dependencies turn on would make `cargo test` build
//! a second copy of that crate and of everything above it (the AWS SDK among them). This checks
//! that `xtask/host-features` turns each of them on for the builds too, and prints the manifest
//! lines that are missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `name version` → each set of features cargo resolves for it over the host workspace (a crate
/// used both by proc-macros or build scripts and by the code can be built twice, with two sets).
fn resolved_features(edges: &str) -> BTreeMap<String, BTreeSet<BTreeSet<String>>> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = xtask::cargo(workspace)
        .args(["tree", "--workspace", "--exclude", "brain2-web", "--locked", "--offline", "--prefix", "none"])
        .args(["--edges", edges, "--format", "{p}|{f}"])
        .output()
        .expect("running cargo tree");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut features: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some((package, list)) = line.split_once('|') else { continue };
        // `name vX.Y.Z (path or "proc-macro")`, and ` (*)` after a subtree shown before.
        let package = package.split(" (").next().unwrap_or(package).trim().to_owned();
        let list = list.trim_end_matches(" (*)");
        features
            .entry(package)
            .or_default()
            .insert(list.split(',').filter(|f| !f.is_empty()).map(str::to_owned).collect());
    }
    features
}

#[test]
fn the_tests_turn_on_no_feature_the_host_builds_lack() {
    let builds = resolved_features("normal,build");
    let tests = resolved_features("normal,build,dev");
    let mut missing = Vec::new();
    for (package, variants) in &tests {
        let Some(built) = builds.get(package) else { continue };
        // Equal, not merely covered: a build variant the tests lack is a unit they rebuild too.
        for built_only in built.difference(variants) {
            missing.push(format!("{package}: the host builds resolve {built_only:?}, which the tests do not"));
        }
        for features in variants.difference(built) {
            // The build's variant it extends: the largest one it contains.
            let base = built.iter().filter(|b| b.is_subset(features)).max_by_key(|b| b.len());
            let extra: Vec<&str> =
                features.iter().filter(|f| base.is_none_or(|b| !b.contains(*f))).map(String::as_str).collect();
            let (name, version) = package.split_once(" v").unwrap_or((package, ""));
            missing.push(format!("{name} = {{ version = \"={version}\", features = {extra:?} }}"));
        }
    }
    assert!(
        missing.is_empty(),
        "the tests' dependencies turn on features the host builds do not, so `cargo test` would \
         compile these crates (and all above them) twice; add to xtask/host-features/Cargo.toml \
         (loosen the version, rename a second major version with `package = \"...\"`, and put \
         a crate that proc-macros use under [build-dependencies]):\n{}",
        missing.join("\n")
    );
}

/// Cargo selects the default members only when it reads the workspace root's manifest; the
/// launcher names it, so `cargo xtask` from inside a member's folder runs xtask built with the
/// workspace's features, not that package alone (or nothing: functions/backend has no xtask).
#[test]
fn cargo_xtask_from_a_member_folder_reuses_the_workspace_build() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = xtask::cargo(workspace)
        .current_dir(workspace.join("functions/backend"))
        .args(["xtask", "--help"])
        .output()
        .expect("running cargo xtask");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo xtask --help from functions/backend failed:\n{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage: xtask"));
    // The launcher reports any crate its build of xtask compiles ("cargo xtask: xtask built (N
    // crates)"); cargo test built xtask with these features already, so there must be none.
    assert!(!stderr.contains("cargo xtask: xtask built"), "cargo xtask from a member folder rebuilt crates:\n{stderr}");
}

//! What "the sources changed" means for the builds that skip themselves (the Lambdas, the web
//! client): a SHA-256 over the named files and every file under the named folders, in a fixed
//! order, each with its path relative to the workspace.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Every file under `folder`, sorted; folders named `target` are skipped.
pub fn files_under(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    folders.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The digest of `salt`, the `files` and everything under the `folders`, as hex. A file that
/// cannot be read (an optional one that is absent) is left out.
pub fn digest(workspace: &Path, salt: &[u8], files: &[&str], folders: &[&str]) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    let mut all: Vec<PathBuf> = files.iter().map(|f| workspace.join(f)).collect();
    for folder in folders {
        all.extend(files_under(&workspace.join(folder))?);
    }
    all.sort();
    for file in all {
        let Ok(bytes) = std::fs::read(&file) else { continue };
        hasher.update(file.strip_prefix(workspace).unwrap_or(&file).to_string_lossy().as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The folders of `packages` and of every package they reach through path dependencies,
/// transitively, relative to the workspace and sorted: what their binaries are compiled from.
/// Read from `cargo metadata`, so a new path dependency (such as `brain2-api` in the functions)
/// is covered without anyone listing it. Dev-dependencies are left out: they never reach a binary.
pub fn path_dependency_folders(workspace: &Path, packages: &[&str]) -> Result<Vec<String>> {
    let each = path_dependency_map(workspace, packages)?;
    let all: std::collections::BTreeSet<String> = each.into_values().flatten().collect();
    Ok(all.into_iter().collect())
}

/// [`path_dependency_folders`] of each package on its own, from one `cargo metadata`.
pub fn path_dependency_map(
    workspace: &Path,
    packages: &[&str],
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    let output = crate::cargo(workspace)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        anyhow::bail!("cargo metadata failed in {}:\n{}", workspace.display(), String::from_utf8_lossy(&output.stderr));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
    let listed = metadata["packages"].as_array().cloned().unwrap_or_default();
    let folder = |package: &serde_json::Value| -> Option<PathBuf> {
        Path::new(package["manifest_path"].as_str()?).parent().map(Path::to_path_buf)
    };
    let root = PathBuf::from(metadata["workspace_root"].as_str().unwrap_or_default());
    let mut each = std::collections::BTreeMap::new();
    for name in packages {
        let package = listed
            .iter()
            .find(|p| p["name"] == *name)
            .with_context(|| format!("cargo metadata lists no package {name} in {}", workspace.display()))?;
        let mut pending: Vec<PathBuf> = folder(package).into_iter().collect();
        let mut found = std::collections::BTreeSet::new();
        while let Some(dir) = pending.pop() {
            if !found.insert(dir.clone()) {
                continue;
            }
            let Some(package) = listed.iter().find(|p| folder(p).as_deref() == Some(dir.as_path())) else { continue };
            for dependency in package["dependencies"].as_array().into_iter().flatten() {
                if dependency["kind"] == "dev" {
                    continue;
                }
                if let Some(path) = dependency["path"].as_str() {
                    pending.push(PathBuf::from(path));
                }
            }
        }
        let folders = found
            .iter()
            .map(|dir| {
                let relative = dir.strip_prefix(&root).with_context(|| {
                    format!("{} is a path dependency outside the workspace {}", dir.display(), root.display())
                })?;
                Ok(relative.to_string_lossy().into_owned())
            })
            .collect::<Result<Vec<String>>>()?;
        each.insert((*name).to_owned(), folders);
    }
    Ok(each)
}

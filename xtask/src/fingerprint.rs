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

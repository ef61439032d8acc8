//! `cargo xtask build`: the six Lambdas in one cargo invocation, cross-compiled with
//! cargo-lambda and zig against a glibc old enough for `provided.al2023`, each packed into a
//! deterministic `bootstrap` zip named by its sha256.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::pytools;

/// The functions, each a package with a binary of the same name.
pub const FUNCTIONS: &[&str] =
    &["backend", "connect-node", "ws-connect", "ws-disconnect", "ws-send-message", "authorizer"];

/// The linker script every bootstrap is linked with: it drops the unwind tables.
pub const LINKER_SCRIPT: &str = "xtask/lambda/discard-unwind-tables.ld";

/// Flags for Lambda builds beside the release profile (the cold-start benchmark uses them too).
///
/// The linker runs in the folder of each crate it links, and a dependency with a `cdylib`
/// target is linked too (aws-smithy-checksums' crc-fast, from the registry), so a path relative
/// to the workspace is not found there; an absolute path into the checkout would make the flags
/// differ between checkouts. The script is therefore linked from a path named by its content,
/// the same on every machine: `/tmp/brain2-linker-<sha256 prefix>.ld`, written when missing.
pub fn lambda_rustflags(workspace: &Path) -> Result<String> {
    let source = workspace.join(LINKER_SCRIPT);
    let script = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
    let digest: String = Sha256::digest(&script).iter().take(8).map(|b| format!("{b:02x}")).collect();
    let path = PathBuf::from(format!("/tmp/brain2-linker-{digest}.ld"));
    if std::fs::read(&path).ok().as_deref() != Some(script.as_slice()) {
        // Written aside, then renamed: a build running beside this one never reads half of it.
        let aside = PathBuf::from(format!("/tmp/brain2-linker-{digest}.ld.{}", std::process::id()));
        std::fs::write(&aside, &script).with_context(|| format!("writing {}", aside.display()))?;
        std::fs::rename(&aside, &path).with_context(|| format!("moving the linker script to {}", path.display()))?;
    }
    Ok(format!("-C link-arg=-Wl,-T,{}", path.display()))
}

/// The newest glibc a bootstrap may need: what `provided.al2023` ships.
pub const MAX_GLIBC: (u32, u32) = (2, 34);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Arm64,
    X8664,
}

impl Arch {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X8664),
            other => bail!("unknown architecture {other:?}; expected arm64 or x86_64"),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X8664 => "x86_64",
        }
    }
    pub fn triple(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X8664 => "x86_64-unknown-linux-gnu",
        }
    }
}

/// One packed function.
#[derive(Debug, Clone)]
pub struct Package {
    pub function: String,
    pub zip: PathBuf,
    pub sha256_hex: String,
    /// What Lambda reports as `CodeSha256`: the base64 SHA-256 of the zip.
    pub code_sha256: String,
    pub bytes: usize,
    pub bootstrap_bytes: u64,
    pub glibc: Option<(u32, u32)>,
}

/// Fails, naming the command to run, when the Rust target is not installed.
pub fn check_target(arch: Arch) -> Result<()> {
    let output = match Command::new("rustup").args(["target", "list", "--installed"]).output() {
        Ok(output) if output.status.success() => output,
        // Without rustup we cannot tell; cargo will say so if the target is missing.
        _ => return Ok(()),
    };
    let installed = String::from_utf8_lossy(&output.stdout);
    if !installed.lines().any(|line| line.trim() == arch.triple()) {
        bail!(
            "the Rust target {} is not installed, so the {} Lambdas cannot be built; add it with `rustup target add {}`",
            arch.triple(),
            arch.name(),
            arch.triple()
        );
    }
    Ok(())
}

/// The highest `GLIBC_x.y` symbol version a binary asks for.
pub fn max_glibc(binary: &[u8]) -> Option<(u32, u32)> {
    const NEEDLE: &[u8] = b"GLIBC_";
    // memmem, not a byte-by-byte loop: xtask runs unoptimized, and a local debug build is 20 MB
    // or more, scanned on every save `dev` rebuilds.
    memchr::memmem::find_iter(binary, NEEDLE)
        .filter_map(|at| {
            let rest = &binary[at + NEEDLE.len()..];
            let end = rest.iter().position(|b| !(b.is_ascii_digit() || *b == b'.')).unwrap_or(rest.len());
            let mut parts = std::str::from_utf8(&rest[..end]).ok()?.split('.').map(|p| p.parse::<u32>());
            match (parts.next(), parts.next()) {
                (Some(Ok(major)), Some(Ok(minor))) => Some((major, minor)),
                _ => None,
            }
        })
        .max()
}

/// Zopfli with this many iterations (zip's levels 10 to 264 are zopfli's iterations plus 9):
/// standard deflate about 3 % smaller than zlib's best, for about 20 s per 2.3 MB binary
/// (optimized even in the dev profile xtask runs in; see Cargo.toml).
const ZOPFLI_LEVEL: i64 = 9 + 1;

/// A zip holding one executable `bootstrap`, byte-identical for identical input: fixed
/// timestamp (1980-01-01), mode 0755, one entry, no extra fields.
pub fn deterministic_zip(bootstrap: &[u8]) -> Result<Vec<u8>> {
    zip_with_level(bootstrap, ZOPFLI_LEVEL)
}

fn zip_with_level(bootstrap: &[u8], level: i64) -> Result<Vec<u8>> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut buffer);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(level))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o755)
        .large_file(false);
    writer.start_file("bootstrap", options)?;
    writer.write_all(bootstrap)?;
    writer.finish()?;
    Ok(buffer.into_inner())
}

/// Packs one bootstrap into `<out>/<function>/<sha256>.zip`.
pub fn package(function: &str, bootstrap: &Path, out: &Path) -> Result<Package> {
    let binary = std::fs::read(bootstrap).with_context(|| format!("reading {}", bootstrap.display()))?;
    package_bytes(function, &binary, out, ZOPFLI_LEVEL)
}

fn package_bytes(function: &str, binary: &[u8], out: &Path, level: i64) -> Result<Package> {
    let zip = zip_with_level(binary, level)?;
    let digest = Sha256::digest(&zip);
    let sha256_hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let dir = out.join(function);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{sha256_hex}.zip"));
    if !path.exists() {
        let temporary = dir.join(format!(".{sha256_hex}.zip.partial"));
        std::fs::write(&temporary, &zip)?;
        std::fs::rename(&temporary, &path)?;
    }
    Ok(Package {
        function: function.to_owned(),
        zip: path,
        code_sha256: base64::engine::general_purpose::STANDARD.encode(digest),
        sha256_hex,
        bytes: zip.len(),
        bootstrap_bytes: binary.len() as u64,
        glibc: max_glibc(binary),
    })
}

/// A digest of everything a Lambda build reads: the architecture, the compiler, the lock file,
/// the workspace manifests and cargo config, the linker script, the zip level, and every file
/// of the functions and of each package they depend on by path (`brain2-shared`, `brain2-api`,
/// whatever `cargo metadata` lists).
pub fn sources_fingerprint(workspace: &Path, arch: Arch) -> Result<String> {
    let mut salt = format!("{} zopfli {ZOPFLI_LEVEL}", arch.name()).into_bytes();
    if let Ok(output) = Command::new("rustc").arg("-V").output() {
        salt.extend(output.stdout);
    }
    let folders = crate::fingerprint::path_dependency_folders(workspace, FUNCTIONS)?;
    crate::fingerprint::digest(
        workspace,
        &salt,
        &["Cargo.lock", "Cargo.toml", ".cargo/config.toml", LINKER_SCRIPT],
        &folders.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// The packages of the last build, if it was made from exactly these sources and its zips
/// are all still there.
fn previous_build(workspace: &Path, arch: Arch, fingerprint: &str) -> Option<Vec<Package>> {
    let lambda_dir = workspace.join("target/lambda").join(arch.name());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lambda_dir.join("manifest.json")).ok()?).ok()?;
    if manifest["sourceFingerprint"] != fingerprint {
        return None;
    }
    FUNCTIONS
        .iter()
        .map(|function| {
            let entry = &manifest["functions"][*function];
            let zip = workspace.join(entry["zip"].as_str()?);
            if !zip.is_file() {
                return None;
            }
            Some(Package {
                function: (*function).to_owned(),
                zip,
                sha256_hex: entry["sha256"].as_str()?.to_owned(),
                code_sha256: entry["codeSha256"].as_str()?.to_owned(),
                bytes: entry["bytes"].as_u64()? as usize,
                bootstrap_bytes: 0,
                glibc: None,
            })
        })
        .collect()
}

/// Builds only when the sources changed since the last build; returns the packages and
/// whether it built.
pub fn build_if_changed(workspace: &Path, arch: Arch) -> Result<(Vec<Package>, bool)> {
    let fingerprint = sources_fingerprint(workspace, arch)?;
    if let Some(packages) = previous_build(workspace, arch, &fingerprint) {
        return Ok((packages, false));
    }
    Ok((build(workspace, arch)?, true))
}

/// Builds and packs every function for `arch`. Returns the packages and writes
/// `target/lambda/<arch>/manifest.json` for deploy.
pub fn build(workspace: &Path, arch: Arch) -> Result<Vec<Package>> {
    check_target(arch)?;
    let fingerprint = sources_fingerprint(workspace, arch)?;
    let venv = pytools::ensure_build_tools(workspace)?;
    let lambda_dir = workspace.join("target/lambda").join(arch.name());
    let path = format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    // Paths of this machine stay out of the binaries, so builds elsewhere match.
    let rustflags = format!(
        "--remap-path-prefix={}=/build --remap-path-prefix={}=/cargo {}",
        workspace.display(),
        cargo_home.display(),
        lambda_rustflags(workspace)?
    );
    let mut command = crate::cargo(workspace);
    command
        .env("PATH", path)
        .env("RUSTFLAGS", rustflags)
        .args(["lambda", "build", "--release", "--target"])
        .arg(format!("{}.{}.{}", arch.triple(), MAX_GLIBC.0, MAX_GLIBC.1))
        .arg("--lambda-dir")
        .arg(&lambda_dir);
    for function in FUNCTIONS {
        command.args(["--package", function, "--bin", function]);
    }
    eprintln!("building {} for {} (glibc <= {}.{})", FUNCTIONS.join(", "), arch.name(), MAX_GLIBC.0, MAX_GLIBC.1);
    let status = command.status().context("running cargo lambda (installed in target/build-tools)")?;
    if !status.success() {
        bail!("cargo lambda build failed; see its output above");
    }
    let zips = lambda_dir.join("zips");
    let mut packages = Vec::new();
    // Zopfli takes seconds per function: the zips are made side by side, each independent of
    // the others, so the bytes do not depend on the order they finish in.
    let zipped: Vec<Result<Package>> = std::thread::scope(|scope| {
        let zips = &zips;
        let workers: Vec<_> = FUNCTIONS
            .iter()
            .map(|function| {
                let bootstrap = lambda_dir.join(function).join("bootstrap");
                scope.spawn(move || package(function, &bootstrap, zips))
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().unwrap_or_else(|_| bail!("a zip's thread panicked"))).collect()
    });
    for (function, package) in FUNCTIONS.iter().zip(zipped) {
        let package = package?;
        if let Some(glibc) = package.glibc.filter(|v| *v > MAX_GLIBC) {
            bail!(
                "{function}'s bootstrap needs GLIBC_{}.{}, newer than provided.al2023's {}.{}",
                glibc.0,
                glibc.1,
                MAX_GLIBC.0,
                MAX_GLIBC.1
            );
        }
        packages.push(package);
    }
    let manifest = serde_json::json!({
        "architecture": arch.name(),
        "sourceFingerprint": fingerprint,
        "functions": packages.iter().map(|p| (p.function.clone(), serde_json::json!({
            "zip": p.zip.strip_prefix(workspace).unwrap_or(&p.zip),
            "sha256": p.sha256_hex,
            "codeSha256": p.code_sha256,
            "bytes": p.bytes,
        }))).collect::<serde_json::Map<_, _>>(),
    });
    std::fs::write(lambda_dir.join("manifest.json"), serde_json::to_string_pretty(&manifest)? + "\n")?;
    Ok(packages)
}

/// Where `build_local` keeps its zips and manifest.
pub const LOCAL_DIR: &str = "target/lambda/local";

/// Builds the functions for this machine, in the dev profile, for `cargo xtask dev`: the
/// emulator runs each `bootstrap` as a plain process, so neither cross-compilation nor the glibc
/// bound applies, and an edit rebuilds in seconds instead of a release build's minutes. Symbols
/// are stripped (with `strip`, when present) to keep the emulator's stored code small; a binary
/// whose size and modification time are unchanged keeps its zip.
///
/// Always the six together, also after an edit that reaches one: cargo unifies dependencies'
/// features over the packages of one invocation, so building one alone would build its
/// dependencies a second time with other features (minutes, once), while with all six cargo
/// compiles and links only the functions whose sources changed. A compile error's text is kept
/// ([`crate::BuildFailed`]) for `cargo xtask dev`'s overlay.
pub fn build_local(workspace: &Path) -> Result<Vec<Package>> {
    let _lock = crate::build_lock(workspace, "functions-local")?;
    let mut command = crate::cargo(workspace);
    command.args(["build", "--quiet"]);
    // No `--package`: the workspace's default members, so the features match xtask's build and
    // the dependencies it compiled are reused (Cargo.toml, `default-members`).
    for function in FUNCTIONS {
        command.args(["--bin", function]);
    }
    crate::run_teeing(command, "building the functions")?;
    let local = workspace.join(LOCAL_DIR);
    let manifest_path = local.join("manifest.json");
    let previous: serde_json::Value = std::fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let stripper = Command::new("strip").arg("--version").output().is_ok_and(|o| o.status.success());
    let mut packages = Vec::new();
    let mut manifest = serde_json::Map::new();
    for function in FUNCTIONS {
        let binary = workspace.join("target/debug").join(function);
        let metadata = std::fs::metadata(&binary).with_context(|| format!("reading {}", binary.display()))?;
        let modified = metadata.modified()?.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let stamp = format!("{}:{modified}", metadata.len());
        let entry = &previous["functions"][*function];
        let reused = (entry["binary"] == stamp.as_str())
            .then(|| {
                let zip = workspace.join(entry["zip"].as_str()?);
                zip.is_file().then(|| Package {
                    function: (*function).to_owned(),
                    zip,
                    sha256_hex: entry["sha256"].as_str().unwrap_or_default().to_owned(),
                    code_sha256: entry["codeSha256"].as_str().unwrap_or_default().to_owned(),
                    bytes: entry["bytes"].as_u64().unwrap_or_default() as usize,
                    bootstrap_bytes: metadata.len(),
                    glibc: None,
                })
            })
            .flatten();
        let package = match reused {
            Some(package) => package,
            None => {
                let bytes = if stripper {
                    let stripped = local.join(format!(".{function}.stripped"));
                    std::fs::create_dir_all(&local)?;
                    let status = Command::new("strip").arg("-o").arg(&stripped).arg(&binary).status()?;
                    if !status.success() {
                        bail!("strip failed on {}", binary.display());
                    }
                    let bytes = std::fs::read(&stripped)?;
                    let _ = std::fs::remove_file(&stripped);
                    bytes
                } else {
                    std::fs::read(&binary)?
                };
                package_bytes(function, &bytes, &local.join("zips"), LOCAL_ZIP_LEVEL)?
            }
        };
        manifest.insert(
            (*function).to_owned(),
            serde_json::json!({
                "binary": stamp,
                "zip": package.zip.strip_prefix(workspace).unwrap_or(&package.zip),
                "sha256": package.sha256_hex,
                "codeSha256": package.code_sha256,
                "bytes": package.bytes,
            }),
        );
        packages.push(package);
    }
    std::fs::create_dir_all(&local)?;
    let text = serde_json::to_string_pretty(&serde_json::json!({ "functions": manifest }))? + "\n";
    let temporary = local.join(".manifest.json.partial");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, &manifest_path)?;
    for package in &packages {
        // A zip reused from an earlier build (same binary, or the same bytes rebuilt) is in use
        // again: pruning, which ranks by modification time, must not take it for an old one.
        let _ = std::fs::File::options()
            .append(true)
            .open(&package.zip)
            .and_then(|file| file.set_modified(std::time::SystemTime::now()));
        prune_zips(&package.zip, LOCAL_ZIPS_KEPT);
    }
    Ok(packages)
}

/// Deflate's fastest level: a stored zip (twice the size) went up to the emulator slower than
/// this one is made.
const LOCAL_ZIP_LEVEL: i64 = 1;

/// Local zips kept per function: the current one and the two newest besides it. Each save `dev`
/// rebuilds makes one (10 MB and more, debug builds); another `dev` on the same workspace may
/// still upload one it built a moment ago.
const LOCAL_ZIPS_KEPT: usize = 3;

/// Deletes the zips beside `current` but the `kept` newest (`current` always stays). Best
/// effort: what cannot be read or deleted stays for the next time.
fn prune_zips(current: &Path, kept: usize) {
    let Some(folder) = current.parent() else { return };
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    let mut zips: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip") && p != current)
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    zips.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, old) in zips.into_iter().skip(kept.saturating_sub(1)) {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_are_deterministic_and_executable() {
        let a = deterministic_zip(b"\x7fELF fake binary").unwrap();
        let b = deterministic_zip(b"\x7fELF fake binary").unwrap();
        assert_eq!(a, b);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a)).unwrap();
        assert_eq!(archive.len(), 1);
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(entry.last_modified(), Some(zip::DateTime::default()));
    }

    #[test]
    fn local_zips_are_pruned_to_the_newest_and_the_current_one_stays() {
        let folder = std::env::temp_dir().join(format!("brain2-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        let at = |seconds: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + seconds);
        // The current zip is the oldest: a binary built earlier, reused.
        for (name, seconds) in [("current.zip", 0), ("a.zip", 10), ("b.zip", 20), ("c.zip", 30), ("d.zip", 40)] {
            let path = folder.join(name);
            std::fs::write(&path, name).unwrap();
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(at(seconds)).unwrap();
        }
        std::fs::write(folder.join(".x.zip.partial"), "in progress").unwrap();
        prune_zips(&folder.join("current.zip"), 3);
        let mut left: Vec<String> =
            std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [".x.zip.partial", "c.zip", "current.zip", "d.zip"]);
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn the_newest_glibc_symbol_is_found() {
        let binary = b"xxGLIBC_2.17\0GLIBC_2.34\0GLIBC_2.2.5\0GLIBC_PRIVATE\0";
        assert_eq!(max_glibc(binary), Some((2, 34)));
        assert_eq!(max_glibc(b"static binary"), None);
    }

    #[test]
    fn the_functions_are_built_from_their_path_dependencies_too() {
        let folders = crate::fingerprint::path_dependency_folders(&crate::workspace_root(), FUNCTIONS).unwrap();
        for expected in ["brain2-api", "functions/shared", "functions/backend", "functions/ws-send-message"] {
            assert!(folders.iter().any(|f| f == expected), "{expected} missing from {folders:?}");
        }
        for unexpected in ["xtask", "web", "brain2-iac", "functions/integration-tests"] {
            assert!(!folders.iter().any(|f| f == unexpected), "{unexpected} in {folders:?}");
        }
    }

    /// A workspace of six stand-in functions, one of which reaches `contract` and through it
    /// `deeper` by path; `tools` is a member no function depends on, `test-helpers` only a
    /// dev-dependency.
    fn stand_in_workspace(dir: &Path) {
        let write = |path: &str, text: &str| {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"functions/*\", \"contract\", \"deeper\", \"tools\", \"test-helpers\"]\n",
        );
        let package = |name: &str, extra: &str| {
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n{extra}")
        };
        for function in FUNCTIONS {
            let dependencies = if *function == "backend" {
                "[dependencies]\ncontract = { path = \"../../contract\" }\n[dev-dependencies]\ntest-helpers = { path = \"../../test-helpers\" }\n"
            } else {
                ""
            };
            write(&format!("functions/{function}/Cargo.toml"), &package(function, dependencies));
            write(&format!("functions/{function}/src/main.rs"), "fn main() {}\n");
        }
        write("contract/Cargo.toml", &package("contract", "[dependencies]\ndeeper = { path = \"../deeper\" }\n"));
        for lib in ["contract", "deeper", "tools", "test-helpers"] {
            if lib != "contract" {
                write(&format!("{lib}/Cargo.toml"), &package(lib, ""));
            }
            write(&format!("{lib}/src/lib.rs"), "pub fn f() {}\n");
        }
    }

    #[test]
    fn a_change_in_any_path_dependency_of_a_function_rebuilds_it() {
        let dir = std::env::temp_dir().join(format!("brain2-fingerprint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        stand_in_workspace(&dir);
        let arch = Arch::X8664;
        // The last build: its manifest and zips, made from the sources as they are now.
        let zips = dir.join("target/lambda/x86_64/zips");
        let packages: Vec<Package> =
            FUNCTIONS.iter().map(|f| package_bytes(f, f.as_bytes(), &zips, 1).unwrap()).collect();
        let manifest = serde_json::json!({
            "sourceFingerprint": sources_fingerprint(&dir, arch).unwrap(),
            "functions": packages.iter().map(|p| (p.function.clone(), serde_json::json!({
                "zip": p.zip.strip_prefix(&dir).unwrap(), "sha256": p.sha256_hex,
                "codeSha256": p.code_sha256, "bytes": p.bytes,
            }))).collect::<serde_json::Map<_, _>>(),
        });
        std::fs::write(dir.join("target/lambda/x86_64/manifest.json"), manifest.to_string()).unwrap();
        let reused = || previous_build(&dir, arch, &sources_fingerprint(&dir, arch).unwrap()).is_some();
        assert!(reused(), "unchanged sources reuse the last build");

        for (file, rebuilds) in [
            ("deeper/src/lib.rs", true),
            ("contract/src/lib.rs", true),
            ("functions/authorizer/src/main.rs", true),
            ("tools/src/lib.rs", false),
            ("test-helpers/src/lib.rs", false),
        ] {
            let path = dir.join(file);
            let before = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, format!("{before}// changed\n")).unwrap();
            assert_eq!(!reused(), rebuilds, "after a change to {file}");
            std::fs::write(&path, before).unwrap();
            assert!(reused(), "{file} back as it was");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn architectures_parse_and_map_to_targets() {
        assert_eq!(Arch::parse("arm64").unwrap().triple(), "aarch64-unknown-linux-gnu");
        assert_eq!(Arch::parse("x86_64").unwrap().triple(), "x86_64-unknown-linux-gnu");
        assert!(Arch::parse("mips").unwrap_err().to_string().contains("arm64 or x86_64"));
    }
}

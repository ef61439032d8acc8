//! `cargo xtask web`: the web client (`web/`), built to `target/web/dist` with nothing but cargo
//! and wasm-bindgen's library (linked into xtask at the version the client links): the wasm32
//! build, wasm-bindgen's JS glue, the graph's layout worker (`web/src/layout-worker.js`), and
//! every asset under `assets/` with a content hash in its name (so deploy's site sync caches
//! them forever); `index.html` is rendered from `web/index.html.hbs` with those names. The same sources give the same bytes. Nothing is
//! rebuilt when the sources' fingerprint is unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// Where the built site goes (the environments' `frontend.siteDir`).
pub const DIST_DIR: &str = "target/web/dist";
/// Where the local build goes (see [`Flavor::Local`]).
pub const LOCAL_DIR: &str = "target/web/local";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The graph's layout, run in a worker the page starts from this file (graph.js).
const LAYOUT_WORKER: &str = "web/src/layout-worker.js";
/// Which build of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// What deploy ships: the release profile (size first, LTO), in [`DIST_DIR`].
    Shipped,
    /// What `cargo xtask dev` serves while it follows edits: the dev profile, incremental, so an
    /// edit is rebuilt in seconds rather than the release build's half minute; in [`LOCAL_DIR`],
    /// never deployed. Same sources and layout; dev's server adds its live-reload script.
    Local,
}

impl Flavor {
    pub fn dist(self) -> &'static str {
        match self {
            Flavor::Shipped => DIST_DIR,
            Flavor::Local => LOCAL_DIR,
        }
    }
    /// Beside the site, not in it: deploy uploads every file of the site.
    fn fingerprint_file(self) -> String {
        format!("{}.fingerprint", self.dist())
    }
    fn profile(self) -> &'static str {
        match self {
            Flavor::Shipped => "release",
            Flavor::Local => "debug",
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn short_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))[..16].to_owned()
}

/// Installs the wasm32 target with rustup when it is missing; fails naming the command when
/// that is not possible.
fn ensure_target() -> Result<()> {
    let Ok(output) = Command::new("rustup").args(["target", "list", "--installed"]).output() else { return Ok(()) };
    if String::from_utf8_lossy(&output.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    eprintln!("the web client needs the Rust target {WASM_TARGET}; running `rustup target add {WASM_TARGET}`");
    let added = Command::new("rustup").args(["target", "add", WASM_TARGET]).status().is_ok_and(|s| s.success());
    if !added {
        bail!(
            "the Rust target {WASM_TARGET} is not installed, so the web client cannot be built; add it with `rustup target add {WASM_TARGET}`"
        );
    }
    Ok(())
}

/// wasm-bindgen's JS glue and processed module for `wasm`, into `out` (what `wasm-bindgen
/// --target web --no-typescript --out-name brain2` writes).
fn bindgen(wasm: &Path, out: &Path) -> Result<()> {
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    // As the CLI does: reference types come from the module's target features alone, never
    // from WASM_BINDGEN_EXTERNREF or WASM_BINDGEN_ANYREF in the environment (same bytes anywhere).
    #[allow(deprecated)]
    bindgen.reference_types(false);
    bindgen
        .input_path(wasm)
        .web(true)?
        .typescript(false)
        .out_name("brain2")
        // The CLI's default: init() fetches `brain2_bg.wasm` beside the glue unless told otherwise.
        .omit_default_module_path(false)
        .generate(out)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))
}

/// A digest of what the client is built from: the lock file and manifests, this build step, and
/// the files of `brain2-web` and of every package it depends on by path (`cargo metadata`).
pub fn sources_fingerprint(workspace: &Path) -> Result<String> {
    flavor_fingerprint(workspace, Flavor::Shipped)
}

fn flavor_fingerprint(workspace: &Path, flavor: Flavor) -> Result<String> {
    let folders = crate::fingerprint::path_dependency_folders(workspace, &["brain2-web"])?;
    let salt: &[u8] = match flavor {
        Flavor::Shipped => b"",
        Flavor::Local => b"local",
    };
    crate::fingerprint::digest(
        workspace,
        salt,
        &["Cargo.lock", "Cargo.toml", "xtask/src/web.rs"],
        &folders.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// Builds when the sources changed since the last build; returns the site folder and whether it
/// built.
pub fn build_if_changed(workspace: &Path) -> Result<(PathBuf, bool)> {
    build_flavor_if_changed(workspace, Flavor::Shipped)
}

/// [`build_if_changed`] for either build.
pub fn build_flavor_if_changed(workspace: &Path, flavor: Flavor) -> Result<(PathBuf, bool)> {
    let _lock = lock(workspace, flavor)?;
    let dist = workspace.join(flavor.dist());
    let fingerprint = flavor_fingerprint(workspace, flavor)?;
    if std::fs::read_to_string(workspace.join(flavor.fingerprint_file())).ok().as_deref() == Some(fingerprint.as_str())
        && dist.join("index.html").is_file()
    {
        return Ok((dist, false));
    }
    build_flavor_unlocked(workspace, flavor)?;
    Ok((dist, true))
}

/// One build of a flavor at a time, across processes (see [`crate::build_lock`]).
fn lock(workspace: &Path, flavor: Flavor) -> Result<std::fs::File> {
    crate::build_lock(workspace, &format!("web-{}", flavor.profile()))
}

/// One asset: its name under `assets/` and its bytes.
struct Asset {
    name: String,
    bytes: Vec<u8>,
}

fn hashed(stem: &str, extension: &str, bytes: Vec<u8>) -> Asset {
    Asset { name: format!("{stem}-{}.{extension}", short_hash(&bytes)), bytes }
}

/// Builds the client into `target/web/dist` (replaced whole).
pub fn build(workspace: &Path) -> Result<PathBuf> {
    build_flavor(workspace, Flavor::Shipped)
}

/// Builds either build of the client into its folder (replaced whole, so a request never sees
/// half of it).
pub fn build_flavor(workspace: &Path, flavor: Flavor) -> Result<PathBuf> {
    let _lock = lock(workspace, flavor)?;
    build_flavor_unlocked(workspace, flavor)
}

fn build_flavor_unlocked(workspace: &Path, flavor: Flavor) -> Result<PathBuf> {
    ensure_target()?;
    let fingerprint = flavor_fingerprint(workspace, flavor)?;
    let mut command = crate::cargo(workspace);
    command.args(["build", "--quiet", "--package", "brain2-web", "--target", WASM_TARGET]);
    if flavor == Flavor::Shipped {
        command.arg("--release");
    }
    crate::run_teeing(command, "building the web client")?;
    let wasm = workspace.join("target").join(WASM_TARGET).join(flavor.profile()).join("brain2-web.wasm");
    let glue = workspace.join(format!("{}.bindgen", flavor.dist()));
    let _ = std::fs::remove_dir_all(&glue);
    bindgen(&wasm, &glue)?;

    let mut assets = Vec::new();
    let wasm_asset = hashed("brain2", "wasm", std::fs::read(glue.join("brain2_bg.wasm"))?);
    let mut js = std::fs::read_to_string(glue.join("brain2.js"))?;
    if !js.contains("'brain2_bg.wasm'") {
        bail!("wasm-bindgen's glue no longer names brain2_bg.wasm as this build expects; see xtask/src/web.rs");
    }
    js = js.replace("'brain2_bg.wasm'", &format!("'{}'", wasm_asset.name));
    // wasm-bindgen puts `#[wasm_bindgen(module = ...)]` files under snippets/<crate-hash>/; each
    // gets a content-hashed name beside the glue instead, so none can be cached stale.
    let snippets = glue.join("snippets");
    if snippets.is_dir() {
        let mut stack = vec![snippets.clone()];
        while let Some(folder) = stack.pop() {
            let mut entries: Vec<PathBuf> =
                std::fs::read_dir(&folder)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let relative = path.strip_prefix(&glue)?.to_string_lossy().replace('\\', "/");
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let asset = hashed(&stem, "js", std::fs::read(&path)?);
                if !js.contains(&format!("./{relative}")) {
                    bail!("wasm-bindgen's glue does not import ./{relative} as this build expects");
                }
                // Only the import statements: the wasm's import object keeps the original names.
                for quote in ['\'', '"'] {
                    js = js.replace(
                        &format!("from {quote}./{relative}{quote}"),
                        &format!("from {quote}./{}{quote}", asset.name),
                    );
                }
                assets.push(asset);
            }
        }
    }
    if js.contains("from './snippets/") || js.contains("from \"./snippets/") {
        bail!("wasm-bindgen's glue still refers to snippets/ after renaming them; see xtask/src/web.rs");
    }
    let glue_asset = hashed("brain2", "js", js.into_bytes());
    let boot = hashed("boot", "js", format!("import init from './{}';\ninit();\n", glue_asset.name).into_bytes());
    let layout_worker = hashed("layout-worker", "js", std::fs::read(workspace.join(LAYOUT_WORKER))?);
    let css = hashed("app", "css", std::fs::read(workspace.join("web/style.css"))?);

    let template = std::fs::read_to_string(workspace.join("web/index.html.hbs"))?;
    let mut handlebars = handlebars::Handlebars::new();
    handlebars.set_strict_mode(true);
    let index = handlebars.render_template(
        &template,
        &serde_json::json!({
            "css": format!("assets/{}", css.name),
            "layout_worker": format!("assets/{}", layout_worker.name),
            "boot": format!("assets/{}", boot.name),
            "wasm": format!("assets/{}", wasm_asset.name),
        }),
    )?;
    assets.extend([wasm_asset, glue_asset, boot, layout_worker, css]);

    let dist = workspace.join(flavor.dist());
    let staging = workspace.join(format!("{}.partial", flavor.dist()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("assets"))?;
    for asset in &assets {
        std::fs::write(staging.join("assets").join(&asset.name), &asset.bytes)?;
    }
    std::fs::write(staging.join("index.html"), index)?;
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::rename(&staging, &dist).with_context(|| format!("moving the site into {}", dist.display()))?;
    std::fs::write(workspace.join(flavor.fingerprint_file()), fingerprint)?;
    Ok(dist)
}

/// The site's files and their sizes, for the build summary.
pub fn summary(dist: &Path) -> Result<Vec<(String, u64)>> {
    let mut files = Vec::new();
    for folder in [dist.to_path_buf(), dist.join("assets")] {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            if entry.path().is_file() {
                let name = entry.path().strip_prefix(dist)?.to_string_lossy().into_owned();
                files.push((name, entry.metadata()?.len()));
            }
        }
    }
    files.sort();
    Ok(files)
}

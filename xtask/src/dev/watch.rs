//! `cargo xtask dev` follows edits: the workspace's source folders are watched (notify, events
//! debounced), and each batch of changes is mapped, through `cargo metadata`'s path
//! dependencies, to what it feeds:
//! - a function (its crate or any crate it depends on by path): only the affected functions are
//!   rebuilt (host, dev profile, incremental) and their code goes straight into the emulator
//!   (`deploy::hotswap`: UpdateFunctionCode, a version and the `live` alias, no change set); the
//!   next invocation runs it, the old code serving until then;
//! - the web client: the local build again, then every open tab reloads (`live_reload.rs`);
//! - a stack, a construct or an environment file: `brain2-synth` (rebuilt as needed, no AWS SDK)
//!   synthesizes the local variant and runs the policy pack, and the changed stacks are deployed
//!   through change sets, as a restart would;
//! - xtask itself: it says to restart.
//!
//! A build that fails, or a policy finding, is printed and shown in the open tabs as an overlay;
//! the last good build keeps running. Each batch ends with one line: what changed, what was
//! rebuilt, and how long it took.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use brain2_iac::cfn::Synthesized;
use notify_debouncer_full::notify::RecursiveMode;

use super::environment::LocalSettings;
use super::live_reload::LiveReload;
use super::server::Site;
use super::{Target, unsupported};
use crate::aws::Aws;
use crate::build::{self, FUNCTIONS, Package};
use crate::deploy::{self, AssetsBucket, Settings};

/// How long a file must be quiet before its change counts (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(50);

/// What each source folder feeds, from `cargo metadata`.
#[derive(Debug, Clone)]
pub struct Areas {
    workspace: PathBuf,
    /// Each function with the folders it is built from.
    functions: Vec<(&'static str, Vec<PathBuf>)>,
    web: Vec<PathBuf>,
    stacks: Vec<PathBuf>,
    xtask: PathBuf,
}

/// Files every build reads.
const SHARED_FILES: &[&str] = &["Cargo.toml", "Cargo.lock", ".cargo/config.toml"];

/// What a batch of changes reaches.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Affected {
    pub functions: BTreeSet<&'static str>,
    pub web: bool,
    pub stacks: bool,
    pub xtask: bool,
    /// The changed files, relative to the workspace, for the reload's line.
    pub paths: BTreeSet<String>,
}

impl Affected {
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty() && !self.web && !self.stacks && !self.xtask
    }
}

/// A path no build reads: build output, version control, editors' temporary files.
fn ignored(relative: &Path) -> bool {
    let Some(name) = relative.file_name().map(|n| n.to_string_lossy().into_owned()) else { return true };
    relative.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c == "target" || (c.starts_with('.') && c != ".cargo")
    }) || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name.starts_with(".#")
        || name == "4913"
}

impl Areas {
    pub fn read(workspace: &Path) -> Result<Self> {
        let mut packages: Vec<&str> = FUNCTIONS.to_vec();
        packages.extend(["brain2-web", "brain2-stacks"]);
        let map = crate::fingerprint::path_dependency_map(workspace, &packages)?;
        let folders = |package: &str| -> Vec<PathBuf> {
            map.get(package).into_iter().flatten().map(|f| workspace.join(f)).collect()
        };
        let mut stacks = folders("brain2-stacks");
        stacks.extend(["environments", "templates"].map(|f| workspace.join(f)));
        Ok(Self {
            workspace: workspace.to_path_buf(),
            functions: FUNCTIONS.iter().map(|f| (*f, folders(f))).collect(),
            web: folders("brain2-web"),
            stacks,
            xtask: workspace.join("xtask"),
        })
    }

    /// The folders to watch (recursively); the workspace root is watched on its own for the
    /// shared files.
    pub fn folders(&self) -> Vec<PathBuf> {
        let mut all: BTreeSet<PathBuf> = self.functions.iter().flat_map(|(_, f)| f.iter().cloned()).collect();
        all.extend(self.web.iter().cloned());
        all.extend(self.stacks.iter().cloned());
        all.insert(self.xtask.clone());
        all.insert(self.workspace.join(".cargo"));
        // A folder inside another is watched through it.
        let list: Vec<PathBuf> = all.into_iter().collect();
        list.iter().filter(|f| !list.iter().any(|o| o != *f && f.starts_with(o))).cloned().collect()
    }

    pub fn affected(&self, paths: &[PathBuf]) -> Affected {
        let mut affected = Affected::default();
        for path in paths {
            let Ok(relative) = path.strip_prefix(&self.workspace) else { continue };
            if ignored(relative) {
                continue;
            }
            let shared = SHARED_FILES.iter().any(|f| relative == Path::new(f));
            let within = |folders: &[PathBuf]| shared || folders.iter().any(|f| path.starts_with(f));
            let before = affected.clone();
            for (function, folders) in &self.functions {
                if within(folders) {
                    affected.functions.insert(function);
                }
            }
            affected.web |= within(&self.web);
            affected.stacks |= within(&self.stacks);
            affected.xtask |= !shared && path.starts_with(&self.xtask);
            if affected != before {
                affected.paths.insert(relative.to_string_lossy().into_owned());
            }
        }
        affected
    }
}

/// What the watcher works with: the emulator, the last good build of everything, the site.
#[derive(Debug)]
pub struct Reloader {
    pub workspace: PathBuf,
    pub data: PathBuf,
    pub environment: String,
    pub local: LocalSettings,
    pub flavor: crate::web::Flavor,
    pub aws: Aws,
    pub assets: AssetsBucket,
    /// The region the emulator runs in: an environment file that moves it needs a restart.
    pub region: String,
    /// The local variant last deployed, and its templates (what the emulator refuses left out).
    pub config: brain2_iac::config::EnvironmentConfig,
    pub synthesized: Synthesized,
    /// The functions' last good packages.
    pub packages: Vec<Package>,
    pub site: Arc<Site>,
    pub live: Arc<LiveReload>,
}

/// The running watcher; stops with [`Watching::stop`].
#[derive(Debug)]
pub struct Watching {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Watching {
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// The file watcher, registered before dev builds anything, so an edit saved while dev starts
/// is taken once it is ready (events wait in the channel until [`Watcher::start`]).
pub struct Watcher {
    areas: Areas,
    debouncer: notify_debouncer_full::Debouncer<
        notify_debouncer_full::notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    received: Receiver<Events>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("areas", &self.areas).finish_non_exhaustive()
    }
}

impl Watcher {
    /// Watches the source folders (inotify, recursively) and the workspace root's own files.
    pub fn register(workspace: &Path) -> Result<Self> {
        let areas = Areas::read(workspace)?;
        let (events, received) = std::sync::mpsc::channel();
        let mut debouncer = notify_debouncer_full::new_debouncer(DEBOUNCE, None, events)
            .context("starting the file watcher (inotify)")?;
        for folder in areas.folders() {
            if folder.is_dir() {
                debouncer
                    .watch(&folder, RecursiveMode::Recursive)
                    .with_context(|| format!("watching {}", folder.display()))?;
            }
        }
        debouncer.watch(workspace, RecursiveMode::NonRecursive).context("watching the workspace root")?;
        Ok(Self { areas, debouncer, received })
    }

    /// Follows edits from now on, starting with those saved since [`Watcher::register`].
    /// Reloads run one at a time on the watcher's thread; changes made meanwhile are taken
    /// together afterwards.
    pub fn start(self, reloader: Reloader, runtime: tokio::runtime::Handle) -> Result<Watching> {
        let Watcher { areas, debouncer, received } = self;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("dev-watch".into()).spawn(move || {
            // The debouncer lives as long as the loop.
            let _debouncer = debouncer;
            run(reloader, areas, received, stopped, runtime);
        })?;
        eprintln!("dev: following edits (--no-watch turns it off)");
        Ok(Watching { stop, thread })
    }
}

type Events = notify_debouncer_full::DebounceEventResult;

/// Every path the next batch holds: waits for one event, then takes what else is queued.
fn next_batch(received: &Receiver<Events>, stopped: &Receiver<()>) -> Option<Vec<PathBuf>> {
    let mut paths = Vec::new();
    loop {
        if stopped.try_recv().is_ok() {
            return None;
        }
        match received.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(events)) => {
                for event in events {
                    if !event.kind.is_access() {
                        paths.extend(event.paths.iter().cloned());
                    }
                }
                while let Ok(more) = received.try_recv() {
                    for event in more.into_iter().flatten() {
                        if !event.kind.is_access() {
                            paths.extend(event.paths.iter().cloned());
                        }
                    }
                }
                if !paths.is_empty() {
                    return Some(paths);
                }
            }
            Ok(Err(errors)) => {
                for error in errors {
                    eprintln!("dev: the file watcher reported: {error}");
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn run(
    mut reloader: Reloader,
    mut areas: Areas,
    received: Receiver<Events>,
    stopped: Receiver<()>,
    runtime: tokio::runtime::Handle,
) {
    while let Some(paths) = next_batch(&received, &stopped) {
        if paths
            .iter()
            .any(|p| p.strip_prefix(&reloader.workspace).is_ok_and(|r| SHARED_FILES.iter().any(|f| r == Path::new(f))))
        {
            // A manifest may have added a path dependency.
            match Areas::read(&reloader.workspace) {
                Ok(read) => areas = read,
                Err(error) => eprintln!("dev: reading the workspace's packages again failed: {error:#}"),
            }
        }
        let affected = areas.affected(&paths);
        if affected.is_empty() {
            continue;
        }
        let line = reloader.reload(&affected, &runtime);
        eprintln!("dev: {line}");
    }
}

/// The terminal's words for a failure, for the overlay: a build's own output where there is one.
fn problem_text(error: &anyhow::Error) -> String {
    match error.downcast_ref::<crate::BuildFailed>() {
        Some(failed) => format!("{}:\n{}", failed.what, failed.output),
        None => format!("{error:#}"),
    }
}

impl Reloader {
    /// Rebuilds and redeploys what `affected` reaches; returns the reload's one line.
    pub fn reload(&mut self, affected: &Affected, runtime: &tokio::runtime::Handle) -> String {
        let started = Instant::now();
        let changed = {
            let mut paths: Vec<&String> = affected.paths.iter().collect();
            let more = paths.len().saturating_sub(3);
            paths.truncate(3);
            let list = paths.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
            if more > 0 { format!("{list} and {more} more") } else { list }
        };
        let mut done: Vec<String> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        if affected.xtask {
            done.push("xtask changed: restart `cargo xtask dev` to run it".to_owned());
        }

        let mut functions_built = false;
        if !affected.functions.is_empty() {
            let functions: Vec<&str> = affected.functions.iter().copied().collect();
            let since = Instant::now();
            match build::build_local(&self.workspace) {
                Ok(packages) => {
                    let before: Vec<String> = self.packages.iter().map(|p| p.sha256_hex.clone()).collect();
                    let changed: Vec<&str> = packages
                        .iter()
                        .filter(|p| !before.contains(&p.sha256_hex))
                        .map(|p| p.function.as_str())
                        .collect();
                    done.push(if changed.is_empty() {
                        format!("rebuilt {} (same binaries) in {}", functions.join(", "), seconds(since))
                    } else {
                        format!("rebuilt {} in {}", changed.join(", "), seconds(since))
                    });
                    functions_built = !changed.is_empty();
                    self.packages = packages;
                    self.live.problem("functions", None);
                }
                Err(error) => {
                    self.live.problem("functions", Some(&problem_text(&error)));
                    failed.push(format!("the functions did not build ({error})"));
                }
            }
        }

        // A deploy of the stacks takes the new code with it; where there is none (no stack
        // change, or one that failed to synthesize or pass the policy pack), the new code goes
        // in by hotswap, on the last good stacks.
        let mut code_deployed = false;
        if affected.stacks {
            let since = Instant::now();
            match runtime.block_on(self.redeploy()) {
                Ok(line) => {
                    done.push(format!("{line} in {}", seconds(since)));
                    self.live.problem("stacks", None);
                    code_deployed = true;
                }
                Err(error) => {
                    eprintln!("dev: {error:#}");
                    self.live.problem("stacks", Some(&problem_text(&error)));
                    failed.push("the stacks were not deployed".to_owned());
                }
            }
        }
        if functions_built && !code_deployed {
            let since = Instant::now();
            match runtime.block_on(self.hotswap()) {
                Ok(line) => done.push(format!("{line} in {}", seconds(since))),
                Err(error) => {
                    eprintln!("dev: {error:#}");
                    self.live.problem("functions", Some(&format!("hotswap: {error:#}")));
                    failed.push("the hotswap failed".to_owned());
                }
            }
        }

        if affected.web {
            let since = Instant::now();
            match crate::web::build_flavor(&self.workspace, self.flavor) {
                Ok(_) => {
                    self.live.problem("web", None);
                    let tabs = self.live.tabs();
                    self.live.reload();
                    done.push(format!("rebuilt the web client in {}, {tabs} tab(s) reloading", seconds(since)));
                }
                Err(error) => {
                    self.live.problem("web", Some(&problem_text(&error)));
                    failed.push(format!("the web client did not build ({error})"));
                }
            }
        }
        let mut line = format!("{changed} changed → ");
        line.push_str(&done.join("; "));
        if !failed.is_empty() {
            if !done.is_empty() {
                line.push_str("; ");
            }
            line.push_str(&failed.join("; "));
            line.push_str(" (shown above and in the open tabs; the last good build keeps running)");
        }
        line.push_str(&format!("; {} in all", seconds(started)));
        line
    }

    fn target(&self) -> Target<'_> {
        Target {
            workspace: &self.workspace,
            data: &self.data,
            environment: &self.environment,
            aws: &self.aws,
            assets: &self.assets,
        }
    }

    /// The rebuilt functions' code into the emulator, without CloudFormation.
    async fn hotswap(&mut self) -> Result<String> {
        let mut settings = Settings::new(&self.environment);
        settings.yes = true;
        // An edit is not a release: no record, no retirement of zips after each save.
        settings.record_releases = false;
        settings.progress = false;
        let ctx =
            Arc::new(deploy::Context::new(self.aws.clone(), settings, Some(self.assets.clone()), Arc::new(|_| true))?);
        // Only stacks with functions can take a hotswap.
        let stacks: Vec<String> = self
            .synthesized
            .stacks
            .iter()
            .filter(|s| serde_json::from_str(&s.template).is_ok_and(|t| !deploy::hotswap::slots(&t).is_empty()))
            .map(|s| s.short_name.clone())
            .collect();
        let out = self.data.join("out");
        let report =
            deploy::run_hotswap(&self.workspace, &out, ctx, &self.config, &self.synthesized, &self.packages, &stacks)
                .await?;
        let mut parts: Vec<String> = report
            .swapped
            .iter()
            .map(|(_, done)| match &done.version {
                Some(version) => format!("hotswapped {} (version {version})", kebab(&done.function)),
                None => format!("hotswapped {}", kebab(&done.function)),
            })
            .collect();
        if let Some(deployed) = &report.deploy {
            parts.push(format!(
                "{} through change sets ({})",
                report.fell_back.iter().map(|(s, why)| format!("{s}: {why}")).collect::<Vec<_>>().join(", "),
                deployed.change_sets_created
            ));
        }
        if parts.is_empty() {
            parts.push("nothing to hotswap".to_owned());
        }
        Ok(parts.join(", "))
    }

    /// Synthesizes the stacks as they are now (brain2-synth, rebuilt as needed), runs the policy
    /// pack, and deploys what changed through change sets.
    async fn redeploy(&mut self) -> Result<String> {
        let (config, _) =
            super::local_variant(&self.workspace, &self.environment, &self.local, &self.aws, self.flavor).await?;
        if config.region != self.region {
            anyhow::bail!(
                "environments/{}.json moves the stacks from {} to {}: restart `cargo xtask dev` for that",
                self.environment,
                self.region,
                config.region
            );
        }
        let synthesized = synthesize_with_synth(&self.workspace, &self.data, &self.environment, &config)?;
        let mut synthesized = synthesized;
        unsupported::leave_out(&mut synthesized)?;
        let deployed = self.target().deploy(&config, &synthesized, &self.packages).await?;
        self.synthesized = synthesized;
        self.config = config;
        let changed: Vec<String> = deployed
            .report
            .stacks
            .iter()
            .filter(|(_, action)| !matches!(action, deploy::Action::Unchanged | deploy::Action::NoChanges))
            .map(|(name, _)| name.rsplit('-').next().unwrap_or(name).to_owned())
            .collect();
        let config_changed = {
            let mut current = self.site.config_json.write().expect("config.json lock");
            let changed = *current != deployed.config_json;
            *current = deployed.config_json;
            changed
        };
        if config_changed {
            self.live.reload();
        }
        Ok(format!(
            "synthesized, policy passed, {} ({} change set(s)){}",
            if changed.is_empty() { "no stack changed".to_owned() } else { format!("deployed {}", changed.join(", ")) },
            deployed.report.change_sets_created,
            if config_changed { ", config.json changed (tabs reloading)" } else { "" }
        ))
    }
}

fn seconds(since: Instant) -> String {
    format!("{:.1} s", since.elapsed().as_secs_f64())
}

/// `BackendFunction` → `backend`.
fn kebab(logical_id: &str) -> String {
    use heck::ToKebabCase as _;
    logical_id.trim_end_matches("Function").to_kebab_case()
}

/// The stacks synthesized by `brain2-synth` from `config` (the local variant, written to the data
/// folder): the running xtask holds the stacks' code as it was when dev started, brain2-synth
/// is rebuilt from the code as it is now. A policy finding fails it, with the findings.
pub fn synthesize_with_synth(
    workspace: &Path,
    data: &Path,
    environment: &str,
    config: &brain2_iac::config::EnvironmentConfig,
) -> Result<Synthesized> {
    let folder = data.join("synth");
    std::fs::create_dir_all(&folder)?;
    let file = folder.join(format!("{environment}.local.json"));
    std::fs::write(&file, serde_json::to_string_pretty(config)?)?;
    let mut command = crate::cargo(workspace);
    command
        .args(["run", "--quiet", "--bin", "brain2-synth", "--"])
        .args(["--env", environment, "--config"])
        .arg(&file)
        .arg("--out")
        .arg(folder.join("out"))
        .stdout(std::process::Stdio::null());
    crate::run_quietly(command, "synthesizing the stacks (brain2-synth, with the policy pack)")?;
    Synthesized::read(&folder.join("out").join(environment)).map_err(|e| anyhow::anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn areas() -> Areas {
        Areas::read(&crate::workspace_root()).unwrap()
    }

    fn affected(paths: &[&str]) -> Affected {
        let workspace = crate::workspace_root();
        areas().affected(&paths.iter().map(|p| workspace.join(p)).collect::<Vec<_>>())
    }

    #[test]
    fn each_change_reaches_what_is_built_from_it() {
        let backend = affected(&["functions/backend/src/lib.rs"]);
        assert_eq!(backend.functions, BTreeSet::from(["backend"]));
        assert!(!backend.web && !backend.stacks && !backend.xtask);

        let shared = affected(&["functions/shared/src/keywords.rs"]);
        assert_eq!(shared.functions.len(), FUNCTIONS.len());
        assert!(!shared.web && !shared.stacks);

        // The API contract feeds the functions, the client and the stacks (CORS headers).
        let contract = affected(&["brain2-api/src/lib.rs"]);
        assert!(contract.functions.contains("backend") && contract.web && contract.stacks);

        let client = affected(&["web/src/views/composer.rs"]);
        assert!(client.functions.is_empty() && client.web && !client.stacks);

        for stack in ["brain2-stacks/src/compute.rs", "brain2-iac/src/constructs/function.rs", "environments/dev.json"]
        {
            let change = affected(&[stack]);
            assert!(change.stacks && change.functions.is_empty() && !change.web, "{stack}: {change:?}");
        }
        assert!(affected(&["xtask/src/dev/mod.rs"]).xtask);
        let lock = affected(&["Cargo.lock"]);
        assert!(lock.functions.len() == FUNCTIONS.len() && lock.web && lock.stacks && !lock.xtask);
    }

    #[test]
    fn build_output_and_editor_files_are_not_changes() {
        for path in [
            "functions/backend/target/debug/x",
            "functions/backend/src/.lib.rs.swp",
            "functions/backend/src/lib.rs~",
            "functions/backend/src/4913",
            "web/.git/index",
            "README.md",
            "functions/integration-tests/tests/flow.rs",
        ] {
            assert!(affected(&[path]).is_empty(), "{path}");
        }
    }

    #[test]
    fn nested_folders_are_watched_once() {
        let folders = areas().folders();
        for (i, a) in folders.iter().enumerate() {
            for b in &folders[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a), "{a:?} and {b:?}");
            }
        }
        assert!(folders.iter().any(|f| f.ends_with("functions/backend")));
        assert!(!folders.iter().any(|f| f.ends_with("target")));
    }
}

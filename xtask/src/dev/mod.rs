//! `cargo xtask dev`: the whole Brain2 on this machine. MiniStack (the emulator) hosts the four
//! stacks, deployed by the same synth and deploy code that ships to AWS from a local variant of
//! the dev environment (see `environment.rs`); a local server hosts the sign-in, the site's
//! `config.json` and the web client; the functions' logs are printed as they come.
//!
//! Order of a start: stop a leftover emulator → start the emulator while the functions and the
//! web client build (each only when its sources changed) →
//! the sign-in's secret in the emulator's Secrets Manager → synth + policy pack → bootstrap →
//! deploy (unchanged stacks skipped) → `config.json` from the outputs → serve → print the URLs
//! and write `<data>/dev.json` → tail the logs until Ctrl-C → stop the server, then the
//! emulator (which saves its state), leaving no process behind.

pub mod credentials;
pub mod emulator;
pub mod environment;
pub mod gaps;
pub mod guard;
pub mod live_reload;
pub mod logs;
pub mod server;
pub mod signin;
pub mod unsupported;
pub mod watch;
pub mod zones;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::aws::Aws;
use crate::deploy::{self, Settings};
use crate::{build, synth};
use emulator::Emulator;
use environment::LocalSettings;

/// The sign-in's secret in the emulator's Secrets Manager.
pub const SIGNIN_SECRET_NAME: &str = "brain2-dev-local-signin-jwt";
/// What a running `cargo xtask dev` writes in its data folder for tools and tests.
pub const STATE_FILE: &str = "dev.json";
/// The file that marks a folder as one `cargo xtask dev` made, and so may empty (`--fresh`).
pub const MARKER_FILE: &str = ".brain2-dev";

/// The command line's choices.
#[derive(Debug, Clone)]
pub struct Options {
    /// The environment whose templates run (`dev`, or `staging`/`prod` to rehearse them).
    pub environment: String,
    /// The site's port; the emulator listens on the next one.
    pub port: u16,
    pub data: PathBuf,
    pub fresh: bool,
    pub quiet: bool,
    /// MiniStack alone on the port, without the guard and IAM (benchmarks only).
    pub open_emulator: bool,
    /// Follow edits (`watch.rs`); `--no-watch` runs a fixed system.
    pub watch: bool,
}

impl Options {
    /// The build of the web client this run serves: the local one while following edits (it
    /// rebuilds in seconds), the one deploy ships otherwise.
    pub fn web_flavor(&self) -> crate::web::Flavor {
        if self.watch { crate::web::Flavor::Local } else { crate::web::Flavor::Shipped }
    }
}

/// Where a run keeps its data unless `--data` says: each environment its own folder, so a
/// rehearsal of prod never mixes with dev's memories.
pub fn default_data_folder(environment: &str) -> PathBuf {
    match environment {
        environment::BASE_ENVIRONMENT => PathBuf::from("target/dev-data"),
        other => PathBuf::from(format!("target/dev-data-{other}")),
    }
}

/// Where everything is, once ready: printed, and written to `<data>/dev.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Running {
    /// The environment whose stacks run.
    pub environment: String,
    pub site_url: String,
    pub signin_url: String,
    pub anon_key: String,
    pub http_api_url: String,
    pub web_socket_url: String,
    pub emulator_url: String,
    pub region: String,
    pub data: PathBuf,
    pub pid: u32,
}

impl Running {
    /// Reads what a running `cargo xtask dev` wrote.
    pub fn read(data: &Path) -> Result<Self> {
        let path = data.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// An SDK configuration for its emulator, with the data folder's root credentials.
    pub async fn aws(&self) -> Result<Aws> {
        let keys = credentials::Credentials::load(&self.data)?;
        Ok(Aws::with_keys(&self.emulator_url, &self.region, &keys.access_key_id, &keys.secret_access_key).await)
    }
}

/// Makes the data folder or checks the one given: it must be empty or one `cargo xtask dev`
/// made (its marker file), and writable, and no other `cargo xtask dev` may be using it. It is
/// made private to this user (0700) on every start. `--fresh` deletes only what such a folder
/// holds. Returns the marker, locked for as long as this run keeps it. Fails naming `--data`.
fn claim_data_folder(data: &Path, fresh: bool) -> Result<std::fs::File> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create the data folder {}; pick another with --data <DIR>", data.display()))?;
    let marker = data.join(MARKER_FILE);
    let empty = std::fs::read_dir(data)
        .with_context(|| format!("cannot read the data folder {}; pick another with --data <DIR>", data.display()))?
        .next()
        .is_none();
    // Folders made before the marker existed are recognised by the emulator's state in them.
    let made_by_dev = marker.exists() || data.join("emulator-state").is_dir();
    if !empty && !made_by_dev {
        let what = if fresh { "--fresh would delete everything in it" } else { "dev would mix its files with them" };
        bail!(
            "{} holds files that `cargo xtask dev` did not make (no {MARKER_FILE} in it) and {what}; nothing was changed. Pick an empty or new folder with --data <DIR>",
            data.display()
        );
    }
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making the data folder {} private", data.display()))?;
    std::fs::write(&marker, b"A data folder of cargo xtask dev: --fresh may empty it.\n").with_context(|| {
        format!("the data folder {} is not writable; pick another with --data <DIR>", data.display())
    })?;
    let lock = std::fs::File::open(&marker)?;
    if let Err(std::fs::TryLockError::WouldBlock) = lock.try_lock() {
        let other = Running::read(data)
            .map(|running| format!(" (pid {}, {})", running.pid, running.site_url))
            .unwrap_or_default();
        bail!(
            "another `cargo xtask dev`{other} is using {}; stop it first, or pick another folder with --data <DIR>",
            data.display()
        );
    }
    Ok(lock)
}

/// Removes what a previous run stored (emulator state, users, outputs, credentials), keeping
/// only the marker.
fn wipe(data: &Path) -> Result<()> {
    for entry in std::fs::read_dir(data)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|name| name == MARKER_FILE) {
            continue;
        }
        if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
            .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// The sign-in's signing secret: read from the emulator, or made and stored there on first run.
/// Returns the secret's full ARN and its value.
async fn signin_secret(aws: &Aws) -> Result<(String, String)> {
    let client = aws.secretsmanager();
    match client.get_secret_value().secret_id(SIGNIN_SECRET_NAME).send().await {
        Ok(found) => {
            let arn = found.arn().context("the emulator returned the sign-in secret without an ARN")?.to_owned();
            let value = found.secret_string().context("the sign-in secret has no string value")?.to_owned();
            Ok((arn, value))
        }
        Err(error) if crate::aws::errors::code(&error) == Some("ResourceNotFoundException") => {
            let value = signin::new_secret();
            let created = client
                .create_secret()
                .name(SIGNIN_SECRET_NAME)
                .description("HS256 secret of cargo xtask dev's local sign-in")
                .secret_string(&value)
                .send()
                .await
                .map_err(|e| crate::aws::errors::explain("storing the sign-in secret in the emulator", e))?;
            Ok((created.arn().context("CreateSecret returned no ARN")?.to_owned(), value))
        }
        Err(error) => Err(crate::aws::errors::explain("reading the sign-in secret from the emulator", error)),
    }
}

fn write_running(running: &Running) -> Result<()> {
    let path = running.data.join(STATE_FILE);
    let temporary = running.data.join(format!(".{STATE_FILE}.partial"));
    std::fs::write(&temporary, serde_json::to_string_pretty(running)? + "\n")?;
    std::fs::rename(&temporary, &path)?;
    Ok(())
}

/// Waits for Ctrl-C (SIGINT), SIGTERM, or SIGHUP (the terminal went away).
async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut hangup = signal(SignalKind::hangup()).ok();
    async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
        match signal {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = next(terminate.as_mut()) => {}
        _ = next(hangup.as_mut()) => {}
    }
}

/// Runs Brain2 until Ctrl-C. Returns once everything it started has stopped.
pub fn run(workspace: &Path, options: &Options) -> Result<()> {
    let started = Instant::now();
    let data = if options.data.is_absolute() { options.data.clone() } else { workspace.join(&options.data) };
    let emulator_port =
        options.port.checked_add(1).context("--port must leave room for the emulator on the next port")?;
    // The environment first: a typo in --env must not leave a data folder behind.
    let region = brain2_iac::config::EnvironmentConfig::load(workspace, &options.environment)?.region;
    let _claimed = claim_data_folder(&data, options.fresh)?;
    environment::host_architecture()?;
    // A run that crashed may have left its emulator: it stops (saving its state) before the
    // ports are checked, so the advice below is never "pick another port" for our own leftover.
    if emulator::stop_leftover(&data)? {
        eprintln!("dev: an earlier run of this data folder had not stopped; its emulator saved its state and stopped");
    }
    emulator::check_port_free(options.port, "the site's")?;
    emulator::check_port_free(emulator_port, "the emulator's")?;

    // Set-up runs side by side: the functions build, the web client (with the wasm target
    // installed on a first run) and the emulator (installed on a first run). The two cargo
    // builds take turns on the target folder's lock; the functions' is short, as it reuses what
    // xtask's build compiled (one feature set, Cargo.toml's `default-members`).
    let quiet = options.quiet;
    let phase = move |what: &str, since: Instant| {
        if !quiet {
            eprintln!("dev: {what} in {:.1?}", since.elapsed());
        }
    };
    if !quiet {
        eprintln!(
            "dev: building the functions and the web client, starting the emulator (a first run installs what they need)"
        );
    }
    // Edits saved from here on are followed once dev is ready, even those the builds miss.
    let watcher = if options.watch { Some(watch::Watcher::register(workspace)?) } else { None };
    let functions = {
        let workspace = workspace.to_path_buf();
        std::thread::spawn(move || {
            let since = Instant::now();
            let packages = build::build_local(&workspace);
            phase("functions built", since);
            packages
        })
    };
    let web = {
        let workspace = workspace.to_path_buf();
        let flavor = options.web_flavor();
        std::thread::spawn(move || {
            let since = Instant::now();
            let built = crate::web::build_flavor_if_changed(&workspace, flavor);
            phase("web client built", since);
            built
        })
    };
    if options.fresh {
        wipe(&data)?;
        eprintln!("dev: --fresh: started from empty data in {}", data.display());
    }
    let site_origin = format!("http://127.0.0.1:{}", options.port);
    let protection = if options.open_emulator {
        eprintln!("dev: --open-emulator: no guard and no IAM, any web page may use the emulator; for benchmarks only");
        emulator::Protection::Open
    } else {
        emulator::Protection::Guarded { site_origin: Some(site_origin) }
    };
    let since = Instant::now();
    let mut emulator = Emulator::start(workspace, &data, emulator_port, &region, protection)?;
    phase("emulator ready", since);
    let packages = functions.join().map_err(|_| anyhow::anyhow!("the functions' build thread panicked"))??;
    web.join().map_err(|_| anyhow::anyhow!("the web client's build thread panicked"))??;
    if !options.quiet {
        eprintln!("dev: emulator, functions and web client ready in {:.1?}", started.elapsed());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(serve(workspace, options, &data, &emulator, packages, watcher, started));
    // Everything below runs on every path: the emulator saves its state and takes its function
    // processes with it.
    let stopped = emulator.stop();
    let _ = std::fs::remove_file(data.join(STATE_FILE));
    runtime.shutdown_timeout(Duration::from_secs(5));
    result?;
    stopped?;
    eprintln!("dev: stopped; the emulator saved its state in {}", data.display());
    Ok(())
}

async fn serve(
    workspace: &Path,
    options: &Options,
    data: &Path,
    emulator: &Emulator,
    packages: Vec<build::Package>,
    watcher: Option<watch::Watcher>,
    started: Instant,
) -> Result<()> {
    let aws = emulator.aws().await;
    let site_origin = format!("http://127.0.0.1:{}", options.port);
    let (secret_arn, secret) = signin_secret(&aws).await?;
    let signin = signin::SignIn::open(&data.join("signin"), &site_origin, secret.as_bytes())?;
    let local = LocalSettings {
        site_origin: site_origin.clone(),
        jwt_secret_arn: secret_arn,
        anon_key: signin.anon_key().to_owned(),
    };
    let environment = options.environment.as_str();
    let flavor = options.web_flavor();
    let (config, replaced) = local_variant(workspace, environment, &local, &aws, flavor).await?;
    eprintln!("dev: {environment}'s templates, with what cannot exist on this machine replaced:");
    for line in &replaced {
        eprintln!("  - {line}");
    }

    let mut output = synth::synthesize_config(environment, &config, Instant::now())?;
    for finding in &output.report.findings {
        eprintln!("policy: {finding}");
    }
    if !output.report.passed() {
        bail!(
            "{} policy finding(s) in the local variant of {environment}; nothing was deployed",
            output.report.findings.len()
        );
    }
    for line in unsupported::report(&output.synthesized) {
        eprintln!("{line}");
    }
    for line in unsupported::leave_out(&mut output.synthesized)? {
        eprintln!("{line}");
    }

    let assets = crate::operate::bootstrap(&aws, environment).await?;
    let target = Target { workspace, data, environment, aws: &aws, assets: &assets };
    let deployed = tokio::select! {
        deployed = target.deploy(&config, &output.synthesized, &packages) => deployed?,
        _ = stop_requested() => {
            eprintln!("dev: interrupted while deploying; the emulator keeps what was applied");
            return Ok(());
        }
    };
    let (report, values) = (deployed.report, deployed.values);

    let live = watcher.is_some().then(|| Arc::new(live_reload::LiveReload::default()));
    let site = Arc::new(server::Site {
        origin: site_origin.clone(),
        signin,
        config_json: std::sync::RwLock::new(deployed.config_json),
        site_dir: workspace.join(&config.frontend.site_dir),
        content_security_policy: brain2_iac::constructs::static_site::content_security_policy(&[
            format!("http://*.execute-api.localhost:{}", emulator.port),
            format!("ws://*.execute-api.localhost:{}", emulator.port),
        ]),
        live: live.clone(),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .with_context(|| format!("port {} on 127.0.0.1 is not free; pick another with --port <PORT>", options.port))?;
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, server::router(site.clone()))
            .with_graceful_shutdown(async {
                let _ = server_stopped.await;
            })
            .into_future(),
    );

    let running = Running {
        environment: environment.to_owned(),
        site_url: format!("{site_origin}/"),
        signin_url: format!("{site_origin}/auth/v1"),
        anon_key: site.signin.anon_key().to_owned(),
        http_api_url: values["httpApiUrl"].as_str().unwrap_or_default().to_owned(),
        web_socket_url: values["webSocketUrl"].as_str().unwrap_or_default().to_owned(),
        emulator_url: emulator.endpoint.clone(),
        region: config.region.clone(),
        data: data.to_path_buf(),
        pid: std::process::id(),
    };
    write_running(&running)?;
    let changed = report
        .stacks
        .iter()
        .filter(|(_, action)| !matches!(action, deploy::Action::Unchanged | deploy::Action::NoChanges))
        .count();
    println!();
    println!("Brain2 is running locally (ready in {:.1?}; {changed} stack(s) changed):", started.elapsed());
    println!("  web client  {}", running.site_url);
    println!("  sign-in     {}", running.signin_url);
    println!("  HTTP API    {}", running.http_api_url);
    println!("  WebSocket   {}", running.web_socket_url);
    println!("  emulator    {} (its log: {})", running.emulator_url, emulator.log.display());
    println!(
        "              signed calls only: AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE={}",
        credentials::path(data).display(),
        credentials::PROFILE
    );
    println!("  data        {} ({} user(s))", data.display(), site.signin.user_count());
    println!("Press Ctrl-C to stop.");
    println!();

    let watching = match (watcher, &live) {
        (Some(watcher), Some(live)) => {
            let state = watch::Reloader {
                workspace: workspace.to_path_buf(),
                data: data.to_path_buf(),
                environment: environment.to_owned(),
                local: local.clone(),
                flavor,
                aws: aws.clone(),
                assets: assets.clone(),
                region: config.region.clone(),
                config: config.clone(),
                synthesized: output.synthesized.clone(),
                packages,
                site: site.clone(),
                live: live.clone(),
            };
            Some(watcher.start(state, tokio::runtime::Handle::current())?)
        }
        _ => None,
    };
    let tail = logs::tail(aws.clone(), &output.synthesized, options.quiet);
    let outcome = tokio::select! {
        biased;
        _ = stop_requested() => Ok(()),
        () = emulator.exited() => Err(emulator_gone()),
        result = tail => result.map_err(|error| if emulator.is_running() { error } else { emulator_gone() }),
    };
    eprintln!("dev: stopping");
    if let Some(watching) = watching {
        watching.stop();
    }
    if let Some(live) = &live {
        live.close();
    }
    let _ = stop_server.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    outcome
}

/// The local variant of the environment (`environment.rs`), with stand-in zones for its custom
/// domains (`zones.rs`) and the web client this run serves.
pub async fn local_variant(
    workspace: &Path,
    environment: &str,
    local: &LocalSettings,
    aws: &Aws,
    flavor: crate::web::Flavor,
) -> Result<(brain2_iac::config::EnvironmentConfig, Vec<String>)> {
    let (mut config, mut replaced) = environment::local_config(workspace, environment, local)?;
    replaced.extend(zones::stand_in(aws, environment, &mut config).await?);
    config.frontend.site_dir = flavor.dist().to_owned();
    Ok((config, replaced))
}

/// Where a run deploys: the emulator, with its assets bucket.
#[derive(Debug)]
pub struct Target<'a> {
    pub workspace: &'a Path,
    pub data: &'a Path,
    pub environment: &'a str,
    pub aws: &'a Aws,
    pub assets: &'a deploy::AssetsBucket,
}

/// A deploy into the emulator, and the site's `config.json` from its outputs.
#[derive(Debug)]
pub struct Deployed {
    pub report: deploy::Report,
    pub values: serde_json::Value,
    pub config_json: String,
}

impl Target<'_> {
    /// The real deploy (unchanged stacks skipped), then the emulator's gaps (`gaps.rs`), then
    /// the `config.json` deploy would write.
    pub async fn deploy(
        &self,
        config: &brain2_iac::config::EnvironmentConfig,
        synthesized: &brain2_iac::cfn::Synthesized,
        packages: &[build::Package],
    ) -> Result<Deployed> {
        let mut settings = Settings::new(self.environment);
        settings.yes = true;
        let ctx =
            Arc::new(deploy::Context::new(self.aws.clone(), settings, Some(self.assets.clone()), Arc::new(|_| true))?);
        let out = self.data.join("out");
        let report = deploy::run(self.workspace, &out, ctx, config, synthesized, packages, &[]).await?;
        gaps::reapply_cors(self.aws, synthesized).await?;
        let mut values = deploy::site::config_values(self.environment, config, &report.results);
        gaps::own_endpoints(self.aws, synthesized, config, &mut values).await?;
        let web_socket = gaps::web_socket_url(values["webSocketUrl"].as_str().unwrap_or_default());
        values["webSocketUrl"] = serde_json::Value::String(web_socket);
        let config_json = deploy::site::render_config(self.workspace, &values)?;
        Ok(Deployed { report, values, config_json })
    }
}

fn emulator_gone() -> anyhow::Error {
    anyhow::anyhow!(
        "the emulator stopped on its own (killed?); it had saved its state at most {:?} before, and the next `cargo xtask dev` starts from there",
        emulator::SAVE_INTERVAL
    )
}

//! Cold-start cost: the time from starting a function's process to its first call for the
//! next invocation, against a local stand-in of the Lambda runtime API. That span is the part
//! of a cold start's Init that the function's own code controls.
//!
//! The stand-in answers nothing: it records when `GET /2018-06-01/runtime/invocation/next`
//! arrives, then the process is stopped. Host binaries (release profile, the zips' link flags)
//! are measured beside a `lambda_runtime` hello-world built the same way in the same run
//! ([`BASELINE`]), so each function's figure is also given as a ratio to that floor.
//!
//! The authorizer with `JWT_SECRET_ARN` reads one secret before its first poll; that variant
//! is measured separately, against moto's Secrets Manager on loopback.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::build::FUNCTIONS;

/// The hello-world every function is compared with.
pub const BASELINE: &str = "cold-start-baseline";

/// The authorizer variant that reads its HS256 secret at start.
pub const AUTHORIZER_WITH_SECRET: &str = "authorizer + secret";

/// What each function reads at cold start; values only need to be well-formed here.
fn environment(function: &str) -> Vec<(&'static str, &'static str)> {
    let mut vars = vec![
        ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("LOG_LEVEL", "warn"),
    ];
    vars.extend(match function {
        "backend" => vec![("MEMORY_TABLE_NAME", "t"), ("EVENT_BUS_NAME", "b"), ("ENVIRONMENT", "bench")],
        "connect-node" => vec![
            ("MEMORY_TABLE_NAME", "t"),
            ("KEYWORD_INDEX_NAME", "KeywordIndex"),
            ("EVENT_BUS_NAME", "b"),
            ("MIN_SHARED_KEYWORDS", "1"),
            ("MAX_EDGES_PER_NODE", "50"),
        ],
        "ws-connect" | "ws-disconnect" => vec![("CONNECTIONS_TABLE_NAME", "c")],
        "ws-send-message" => vec![
            ("CONNECTIONS_TABLE_NAME", "c"),
            ("CONNECTIONS_INDEX_NAME", "connection-id-index"),
            ("WEBSOCKET_ENDPOINT", "https://example.execute-api.us-east-1.amazonaws.com/live"),
            ("ENVIRONMENT", "bench"),
        ],
        "authorizer" => vec![
            ("SUPABASE_URL", "https://bench.supabase.co"),
            ("JWKS_URL", "https://bench.supabase.co/auth/v1/.well-known/jwks.json"),
        ],
        _ => Vec::new(),
    });
    vars
}

/// One measurement: spawn, wait for the first `next` call, stop.
fn once(binary: &Path, function: &str, extra: &[(String, String)]) -> Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let arrived = Instant::now();
            let mut buffer = [0u8; 1024];
            let n = stream.read(&mut buffer).unwrap_or(0);
            let _ = sender.send((arrived, String::from_utf8_lossy(&buffer[..n]).to_string()));
            // Hold the connection without answering until the process is stopped.
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    let started = Instant::now();
    let mut child = Command::new(binary)
        .envs(environment(function))
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let result = receiver.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let output = child.wait_with_output()?;
    match result {
        Ok((arrived, request)) if request.starts_with("GET /2018-06-01/runtime/invocation/next") => {
            Ok(arrived - started)
        }
        Ok((_, request)) => bail!("{function} called the runtime API with {:?} first", request.lines().next()),
        Err(_) => {
            bail!("{function} never asked for an invocation; it printed:\n{}", String::from_utf8_lossy(&output.stderr))
        }
    }
}

/// One function's figures.
#[derive(Debug)]
pub struct Measurement {
    pub function: String,
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Measurement {
    /// The median as a multiple of the baseline's median.
    pub fn ratio(&self, baseline: &Measurement) -> f64 {
        self.median.as_secs_f64() / baseline.median.as_secs_f64()
    }
}

fn measure_one(
    binary: &Path,
    label: &str,
    function: &str,
    extra: &[(String, String)],
    rounds: usize,
) -> Result<Measurement> {
    once(binary, function, extra)?; // page the binary in
    let mut times: Vec<Duration> = (0..rounds).map(|_| once(binary, function, extra)).collect::<Result<_>>()?;
    times.sort();
    Ok(Measurement {
        function: label.to_owned(),
        median: times[times.len() / 2],
        min: times[0],
        max: times[times.len() - 1],
    })
}

/// The triple rustc builds for by default on this machine.
fn host_triple() -> Result<String> {
    let output = std::process::Command::new("rustc").arg("-vV").output().context("running rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV printed no host triple")
}

/// A secret in moto's Secrets Manager for the authorizer to read; returns its endpoint and ARN.
fn secret_in_moto() -> Result<(String, String)> {
    let endpoint = crate::moto::moto().endpoint.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let arn = runtime.block_on(async {
        let aws = crate::aws::Aws::emulator(&endpoint, "us-east-1").await;
        let name = format!("brain2-bench-{}", uuid::Uuid::new_v4());
        let created = aws
            .secretsmanager()
            .create_secret()
            .name(name)
            .secret_string("a-32-byte-benchmark-signing-secret!")
            .send()
            .await
            .context("creating the benchmark secret in moto")?;
        created.arn.context("moto returned no ARN")
    })?;
    Ok((endpoint, arn))
}

/// Builds the host release binaries (the functions and [`BASELINE`]), then measures each
/// `rounds` times: the baseline first, then every function, then the authorizer reading its
/// secret from moto.
pub fn measure(workspace: &Path, rounds: usize) -> Result<Vec<Measurement>> {
    let host = host_triple()?;
    let mut build = crate::cargo(workspace);
    // Built like the zips (same profile and link flags), for this machine.
    build.env("RUSTFLAGS", crate::build::lambda_rustflags(workspace)?);
    build.args(["build", "--release", "--target", &host, "--package", BASELINE, "--bin", BASELINE]);
    for function in FUNCTIONS {
        build.args(["--package", function, "--bin", function]);
    }
    if !build.status()?.success() {
        bail!("building the release binaries failed");
    }
    let release = workspace.join("target").join(&host).join("release");
    let mut results = vec![measure_one(&release.join(BASELINE), BASELINE, BASELINE, &[], rounds)?];
    for function in FUNCTIONS {
        results.push(measure_one(&release.join(function), function, function, &[], rounds)?);
    }
    crate::pytools::ensure(workspace)?;
    let (endpoint, arn) = secret_in_moto()?;
    let extra = [("AWS_ENDPOINT_URL".to_owned(), endpoint), ("JWT_SECRET_ARN".to_owned(), arn)];
    results.push(measure_one(&release.join("authorizer"), AUTHORIZER_WITH_SECRET, "authorizer", &extra, rounds)?);
    Ok(results)
}

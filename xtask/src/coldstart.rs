//! Cold-start cost: the time from starting a function's process to its first call for the
//! next invocation, against a local stand-in of the Lambda runtime API. That span is the part
//! of a cold start's Init that the function's own code controls.
//!
//! The stand-in answers nothing: it records when `GET /2018-06-01/runtime/invocation/next`
//! arrives, then the process is stopped. Host binaries (release profile) are measured.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::build::FUNCTIONS;

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
fn once(binary: &Path, function: &str) -> Result<Duration> {
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

/// Builds the host release binaries, then measures each function `rounds` times. Returns
/// (function, median, min, max).
pub fn measure(workspace: &Path, rounds: usize) -> Result<Vec<(String, Duration, Duration, Duration)>> {
    let mut build = crate::cargo(workspace);
    build.args(["build", "--release"]);
    for function in FUNCTIONS {
        build.args(["--package", function, "--bin", function]);
    }
    if !build.status()?.success() {
        bail!("building the release binaries failed");
    }
    let mut results = Vec::new();
    for function in FUNCTIONS {
        let binary = workspace.join("target/release").join(function);
        once(&binary, function)?; // page the binary in
        let mut times: Vec<Duration> = (0..rounds).map(|_| once(&binary, function)).collect::<Result<_>>()?;
        times.sort();
        results.push(((*function).to_owned(), times[times.len() / 2], times[0], times[times.len() - 1]));
    }
    Ok(results)
}

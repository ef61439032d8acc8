//! Panics in release builds, which abort (`panic = "abort"` in the release profile: no
//! unwinding tables and landing pads, a smaller zip; BENCHMARKS.md).
//!
//! Under unwinding, lambda_runtime catches a handler's panic and reports it as the
//! invocation's error. An abort skips that, so [`install`] puts back what it did: the panic
//! is logged as a JSON error line (inside the invocation's span, so with its request id) and
//! reported to the Runtime API as the failed invocation's error (or as the init error before
//! the first one) before the process ends. Lambda then starts a fresh environment for the
//! next invocation. Test builds unwind as before and the hook is not installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

/// The invocation being handled, set by each handler on entry.
static CURRENT: Mutex<Option<String>> = Mutex::new(None);

/// How long reporting a panic may take; the process ends either way.
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// Records the invocation a panic would belong to.
pub fn invocation_started(request_id: &str) {
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some(request_id.to_owned());
    }
}

/// Installs the hook when panics abort; does nothing when they unwind.
pub fn install() {
    if cfg!(panic = "abort") {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Box<dyn Any>".to_owned());
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            tracing::error!(panic = %message, %location, "the function panicked");
            let request_id = CURRENT.try_lock().ok().and_then(|c| c.clone());
            if let Ok(runtime_api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
                let _ = report(&runtime_api, request_id.as_deref(), &format!("Lambda panicked: {message}"));
            }
        }));
    }
}

/// Posts the error the way lambda_runtime does for a caught panic: to the invocation's error
/// endpoint, or to the init error endpoint before any invocation. Returns the status line.
pub fn report(runtime_api: &str, request_id: Option<&str>, message: &str) -> std::io::Result<String> {
    let (path, error_type) = match request_id {
        Some(id) => (format!("/2018-06-01/runtime/invocation/{id}/error"), "unhandled"),
        None => ("/2018-06-01/runtime/init/error".to_owned(), "Runtime.InitError"),
    };
    let body = serde_json::json!({ "errorType": "Panic", "errorMessage": message }).to_string();
    let address = runtime_api
        .parse::<std::net::SocketAddr>()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{runtime_api:?}: {e}")))?;
    let mut stream = TcpStream::connect_timeout(&address, REPORT_TIMEOUT)?;
    stream.set_read_timeout(Some(REPORT_TIMEOUT))?;
    stream.set_write_timeout(Some(REPORT_TIMEOUT))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {runtime_api}\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.take(4096).read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn stand_in() -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                let n = stream.read(&mut buffer).unwrap();
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n").unwrap();
            String::from_utf8(request).unwrap()
        });
        (address, server)
    }

    #[test]
    fn a_panic_during_an_invocation_is_that_invocations_error() {
        let (address, server) = stand_in();
        let status = report(&address, Some("req-1"), "Lambda panicked: boom").unwrap();
        assert_eq!(status, "HTTP/1.1 202 Accepted");
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /2018-06-01/runtime/invocation/req-1/error HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Lambda-Runtime-Function-Error-Type: unhandled"), "{request}");
        let body: serde_json::Value = serde_json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(body, serde_json::json!({ "errorType": "Panic", "errorMessage": "Lambda panicked: boom" }));
    }

    #[test]
    fn a_panic_before_any_invocation_is_an_init_error() {
        let (address, server) = stand_in();
        report(&address, None, "Lambda panicked: config").unwrap();
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Runtime.InitError"), "{request}");
    }
}

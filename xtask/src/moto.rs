//! moto's server on a free loopback port, from the pinned virtualenv. It is started through a
//! shell that kills it when the test process's pipe closes, so no server outlives the tests.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    _guard: Mutex<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start() -> Moto {
    let workspace = crate::workspace_root();
    let server = workspace.join("target/py-tools/bin/moto_server");
    assert!(
        server.exists(),
        "{} is missing: run the tests with `cargo xtask test`, which installs the pinned moto",
        server.display()
    );
    let port = free_port();
    let script =
        format!("'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid", server.display());
    let mut child = Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().expect("starting moto");
    // Keep the pipe open for the life of the process: dropping the write end stops the server.
    let stdin = child.stdin.take().expect("stdin is piped");
    std::mem::forget(stdin);
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "moto did not start on port {port} within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::io::stderr().flush();
    Moto { endpoint, _guard: Mutex::new(child) }
}

/// The test binary's moto server, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start)
}

//! The live connection: a WebSocket opened with the user's token, reopened with jittered backoff
//! when it drops. After a reconnect the client reloads, since pushes sent meanwhile were missed.

use brain2_api::LiveMessage;
use futures::StreamExt;
use futures::future::{Either, select};
use gloo_net::websocket::{Message, State, futures::WebSocket};

/// What the connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    Connected { after_reconnect: bool },
    Message(LiveMessage),
    Disconnected { retry_in_ms: u32 },
}

const FIRST_RETRY_MS: u32 = 1_000;
const MAX_RETRY_MS: u32 = 30_000;
/// How often an open, quiet socket checks that it is still wanted (sign-out closes it).
const WANTED_CHECK_MS: u32 = 1_000;
/// A socket that stayed open this long was a working connection: the backoff starts over. One
/// that a proxy accepts and drops at once keeps backing off, or each drop would bring a
/// reconnect and a full resync every second.
const STABLE_MS: f64 = 30_000.0;

/// Runs until `still_wanted` says no (sign-out): connects, reports, reconnects.
pub async fn run(url: String, token: impl Fn() -> String, still_wanted: impl Fn() -> bool, report: impl Fn(LiveEvent)) {
    let mut retry = FIRST_RETRY_MS;
    let mut connected_before = false;
    while still_wanted() {
        let address = format!("{url}?token={}", String::from(js_sys::encode_uri_component(&token())));
        if let Ok(mut socket) = WebSocket::open(&address) {
            // The handshake (and the authorizer behind it) finishes after `open` returns.
            let mut waited = 0;
            while matches!(socket.state(), State::Connecting) && waited < 10_000 {
                gloo_timers::future::TimeoutFuture::new(50).await;
                waited += 50;
            }
            let opened_at = js_sys::Date::now();
            if matches!(socket.state(), State::Open) {
                report(LiveEvent::Connected { after_reconnect: connected_before });
                connected_before = true;
            }
            loop {
                let unwanted = Box::pin(async {
                    while still_wanted() {
                        gloo_timers::future::TimeoutFuture::new(WANTED_CHECK_MS).await;
                    }
                });
                match select(socket.next(), unwanted).await {
                    // Dropping the socket closes it.
                    Either::Right(_) => return,
                    Either::Left((Some(Ok(Message::Text(text))), _)) => {
                        if let Ok(message) = serde_json::from_str::<LiveMessage>(&text) {
                            report(LiveEvent::Message(message));
                        }
                    }
                    Either::Left((Some(Ok(Message::Bytes(_))), _)) => {}
                    Either::Left((Some(Err(_)) | None, _)) => break,
                }
            }
            if js_sys::Date::now() - opened_at >= STABLE_MS {
                retry = FIRST_RETRY_MS;
            }
        }
        if !still_wanted() {
            return;
        }
        // Jittered, so the tabs a server restart dropped do not all come back at once.
        let wait = (f64::from(retry) * (0.5 + js_sys::Math::random() * 0.5)) as u32;
        report(LiveEvent::Disconnected { retry_in_ms: wait });
        gloo_timers::future::TimeoutFuture::new(wait).await;
        retry = (retry * 2).min(MAX_RETRY_MS);
    }
}

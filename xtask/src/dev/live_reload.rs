//! The open tabs' side of `cargo xtask dev` following edits: a Server-Sent Events channel on the
//! site's own origin (`/_dev/events`) that carries the client's build generation and the current
//! problem (a build that failed, a policy finding). `live_reload.js`, which dev adds to the
//! `index.html` it serves, reloads the tab on a new generation and shows the problem as an
//! overlay. Nothing here is part of any build of the client: with `--no-watch` none of it is
//! served.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Serialize;

pub const SCRIPT: &str = include_str!("live_reload.js");
pub const STYLE: &str = include_str!("live_reload.css");
pub const SCRIPT_PATH: &str = "/_dev/live-reload.js";
pub const STYLE_PATH: &str = "/_dev/live-reload.css";
pub const EVENTS_PATH: &str = "/_dev/events";

/// What the tabs are told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct State {
    /// Raised by each new build of the client (and each new `config.json`): tabs reload.
    pub generation: u64,
    /// What did not build, in the terminal's words; `None` once everything builds.
    pub problem: Option<String>,
}

/// The channel; the watcher writes, each open tab reads.
#[derive(Debug)]
pub struct LiveReload {
    sender: Mutex<Option<tokio::sync::watch::Sender<State>>>,
    receiver: tokio::sync::watch::Receiver<State>,
    /// The problems by area (functions, web client, stacks), joined for the overlay.
    problems: Mutex<BTreeMap<&'static str, String>>,
}

impl Default for LiveReload {
    fn default() -> Self {
        let (sender, receiver) = tokio::sync::watch::channel(State::default());
        Self { sender: Mutex::new(Some(sender)), receiver, problems: Mutex::new(BTreeMap::new()) }
    }
}

/// Terminal colours and other control sequences out of a build's output.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

impl LiveReload {
    fn update(&self, change: impl FnOnce(&mut State)) {
        if let Some(sender) = self.sender.lock().expect("live reload lock").as_ref() {
            sender.send_modify(change);
        }
    }

    /// A new build of the client is being served: every tab reloads.
    pub fn reload(&self) {
        self.update(|state| state.generation += 1);
    }

    /// Sets (or with `None` clears) the problem of one area.
    pub fn problem(&self, area: &'static str, problem: Option<&str>) {
        let text = {
            let mut problems = self.problems.lock().expect("problems lock");
            match problem {
                // A screenful is enough; the terminal has the rest.
                Some(text) => problems.insert(area, plain(text).chars().take(20_000).collect()),
                None => problems.remove(area),
            };
            (!problems.is_empty()).then(|| problems.values().cloned().collect::<Vec<_>>().join("\n"))
        };
        self.update(|state| state.problem = text);
    }

    /// How many tabs listen.
    pub fn tabs(&self) -> usize {
        self.sender.lock().expect("live reload lock").as_ref().map_or(0, |s| s.receiver_count().saturating_sub(1))
    }

    /// Ends every tab's stream, so the server can stop without waiting for them.
    pub fn close(&self) {
        self.sender.lock().expect("live reload lock").take();
    }

    /// The stream a tab reads: the state now, then each change.
    pub fn events(&self) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>> + use<>> {
        let receiver = self.receiver.clone();
        let stream = futures::stream::unfold((receiver, true), |(mut receiver, first)| async move {
            if !first && receiver.changed().await.is_err() {
                return None;
            }
            let state = receiver.borrow_and_update().clone();
            let event = Event::default().event("state").json_data(&state).unwrap_or_default();
            Some((Ok(event), (receiver, false)))
        });
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}

/// `index.html` with the live-reload script and its stylesheet added.
pub fn inject(index: &str) -> String {
    let tags =
        format!("<link rel=\"stylesheet\" href=\"{STYLE_PATH}\">\n<script src=\"{SCRIPT_PATH}\" defer></script>\n");
    match index.find("</head>") {
        Some(at) => format!("{}{tags}{}", &index[..at], &index[at..]),
        None => format!("{tags}{index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_of_each_area_are_joined_and_cleared() {
        let live = LiveReload::default();
        live.problem("functions", Some("\u{1b}[31merror\u{1b}[0m: expected `;`"));
        live.problem("stacks", Some("policy: [no-wildcards] ..."));
        let state = live.receiver.borrow().clone();
        assert_eq!(state.problem.as_deref(), Some("error: expected `;`\npolicy: [no-wildcards] ..."));
        live.problem("functions", None);
        live.problem("stacks", None);
        assert_eq!(live.receiver.borrow().problem, None);
        live.reload();
        assert_eq!(live.receiver.borrow().generation, 1);
    }

    #[test]
    fn the_script_goes_into_the_head() {
        let page = inject("<html><head><title>x</title></head><body></body></html>");
        assert!(page.contains("<script src=\"/_dev/live-reload.js\" defer></script>\n</head>"), "{page}");
    }
}

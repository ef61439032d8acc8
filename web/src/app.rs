//! The root view: loads `config.json`, then shows sign-in or the workspace; while signed in it
//! loads the memories, keeps the session fresh and listens on the live connection.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::auth::RuntimeConfig;
use crate::live::{self, LiveEvent};
use crate::state::State;
use crate::views::{SignIn, Workspace};

#[component]
pub fn App() -> impl IntoView {
    let state = State::new();
    let config_error = RwSignal::new(None::<String>);
    spawn_local(async move {
        match RuntimeConfig::load().await {
            Ok(config) => state.config.set(Some(config)),
            Err(error) => config_error.set(Some(error)),
        }
    });

    // Signed in with a configuration: load, keep the token fresh, and listen. Runs again at each
    // sign-in and sign-out (not at a renewal); what the previous session started stops by itself.
    Effect::new(move |_| {
        let epoch = state.epoch.get();
        let Some(config) = state.config.get() else { return };
        if state.session.with_untracked(Option::is_none) {
            return;
        }
        spawn_local(async move {
            if !state.renew_if_due(&config, epoch).await {
                return;
            }
            state.resync();
            let url = config.web_socket_url.clone();
            spawn_local(async move {
                live::run(
                    url,
                    move || state.session.get_untracked().map(|s| s.access_token).unwrap_or_default(),
                    move || state.epoch.get_untracked() == epoch,
                    // A socket of an ended session may still deliver for a moment: nothing of it
                    // reaches the next session's state.
                    move |event| match event {
                        _ if state.epoch.get_untracked() != epoch => {}
                        LiveEvent::Connected { after_reconnect } => {
                            state.live.set("live".to_owned());
                            // Pushes sent while the socket was away were missed.
                            if after_reconnect {
                                state.resync();
                            }
                        }
                        LiveEvent::Message(message) => state.apply_live(message),
                        LiveEvent::Missed => state.resync(),
                        LiveEvent::Disconnected { retry_in_ms } => {
                            state.live.set(format!("offline, retrying in {} s", retry_in_ms.div_ceil(1000)));
                        }
                    },
                )
                .await;
            });
            state.keep_fresh(&config, epoch).await;
        });
    });

    // The browser says it is online again: load now instead of waiting out a backoff.
    let online = window_event_listener(leptos::ev::online, move |_| {
        if state.session.with_untracked(Option::is_some) {
            state.resync_now();
        }
    });
    on_cleanup(move || online.remove());

    view! {
        <Show
            when=move || state.config.with(Option::is_some)
            fallback=move || view! {
                <main class="centered">
                    <p role="status">{move || config_error.get().unwrap_or_else(|| "Loading Brain2…".to_owned())}</p>
                </main>
            }
        >
            <Show when=move || state.session.with(Option::is_some) fallback=move || view! { <SignIn state/> }>
                <Workspace state/>
            </Show>
        </Show>
    }
}

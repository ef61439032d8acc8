//! The root view: loads `config.json`, then shows sign-in or the workspace; while signed in it
//! loads the memories, keeps the session fresh and listens on the live connection.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::auth::{self, RuntimeConfig};
use crate::live::{self, LiveEvent};
use crate::state::{REFRESH_MARGIN_SECONDS, State, mark};
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

    // Signed in with a configuration: load, keep the token fresh, and listen. A new session (a
    // renewal included) runs this again; what the old one started stops on its own.
    Effect::new(move |_| {
        let (Some(config), Some(session)) = (state.config.get(), state.session.get()) else { return };
        if session.expires_at - auth::now_seconds() <= REFRESH_MARGIN_SECONDS {
            // A session saved long ago is renewed before anything uses it, or the user signs in again.
            spawn_local(async move { state.renew(&config, &session).await });
            return;
        }
        spawn_local(async move { state.refresh_all().await });
        let (renewal_config, renewal_session) = (config.clone(), session.clone());
        spawn_local(async move {
            let wait = renewal_session.expires_at - REFRESH_MARGIN_SECONDS - auth::now_seconds();
            gloo_timers::future::TimeoutFuture::new((wait.clamp(0, 86_400) * 1_000) as u32).await;
            if state.session.get_untracked().as_ref() == Some(&renewal_session) {
                state.renew(&renewal_config, &renewal_session).await;
            }
        });
        let url = config.web_socket_url.clone();
        let wanted = session.refresh_token.clone();
        spawn_local(async move {
            live::run(
                url,
                move || state.session.get_untracked().map(|s| s.access_token).unwrap_or_default(),
                move || state.session.get_untracked().is_some_and(|s| s.refresh_token == wanted),
                move |event| match event {
                    LiveEvent::Connected { after_reconnect } => {
                        state.live.set("live".to_owned());
                        if after_reconnect {
                            spawn_local(async move { state.refresh_all().await });
                        }
                    }
                    LiveEvent::Message(message) => {
                        // User Timing marks: the browser benchmarks read them; they cost nothing.
                        mark("brain2:live-message");
                        spawn_local(async move { state.apply(message).await })
                    }
                    LiveEvent::Disconnected { retry_in_ms } => {
                        state.live.set(format!("offline, retrying in {} s", retry_in_ms / 1000));
                    }
                },
            )
            .await;
        });
    });

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

//! Sign-in and sign-up.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::auth::{self, AuthError, SignUp};
use crate::state::State;

#[component]
pub fn SignIn(state: State) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let creating = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<String>);
    let submit = move || {
        let Some(config) = state.config.get_untracked() else { return };
        let (email_text, password_text) = (email.get_untracked(), password.get_untracked());
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            if creating.get_untracked() {
                match auth::sign_up(&config, &email_text, &password_text).await {
                    Ok(SignUp::Session(session)) => state.begin_session(session),
                    Ok(SignUp::ConfirmEmail) => {
                        creating.set(false);
                        state.notice.set(Some(format!(
                            "Check your e-mail: we sent a confirmation link to {email_text}. Open it, then sign in here."
                        )));
                    }
                    Err(error) => message.set(Some(error.to_string())),
                }
            } else {
                match auth::sign_in(&config, &email_text, &password_text).await {
                    Ok(session) => state.begin_session(session),
                    Err(AuthError::Refused { code: Some(code), .. }) if code == "email_not_confirmed" => {
                        message.set(Some(format!(
                            "Please confirm your e-mail address first: open the link we sent to {email_text}, then sign in."
                        )))
                    }
                    Err(error) => message.set(Some(error.to_string())),
                }
            }
            busy.set(false);
        });
    };
    view! {
        <main class="centered">
            <form class="card signin" on:submit=move |ev| { ev.prevent_default(); submit(); }>
                <h1>"Brain2"</h1>
                <p class="muted">"Your memories, linked by what they share."</p>
                {move || state.notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
                <label for="email">"E-mail"</label>
                <input id="email" name="email" type="email" autocomplete="email" required
                    prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev))/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" required minlength="6"
                    autocomplete=move || if creating.get() { "new-password" } else { "current-password" }
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                {move || message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <button id="signin-submit" type="submit" disabled=move || busy.get()>
                    {move || if creating.get() { "Create account" } else { "Sign in" }}
                </button>
                <button type="button" class="link" id="signin-toggle" on:click=move |_| creating.update(|c| *c = !*c)>
                    {move || if creating.get() { "I have an account: sign in" } else { "New here? Create an account" }}
                </button>
            </form>
        </main>
    }
}

//! Keeping a session fresh: the access token is renewed a minute before it lapses, by this
//! device's clock, measured from when the token was asked for (`auth::Session::expires_at`), so a
//! clock that is off by hours renews neither in a loop nor too late.

use leptos::prelude::*;

use crate::auth::{self, AuthError, RuntimeConfig};
use crate::state::State;
use crate::sync::backoff_ms;

/// Renew the access token this long before it lapses.
const REFRESH_MARGIN_SECONDS: i64 = 60;
/// How often the expiry is looked at again: a device that slept, or whose clock was moved,
/// renews at most this late. Looking costs nothing (no request).
const CHECK_EVERY_SECONDS: i64 = 10;

impl State {
    /// Renews the session whenever it is due, until the session of `epoch` ends. Returns at once
    /// when the sign-in service refuses the refresh token (back to sign-in, drafts kept); while
    /// it cannot be reached, tries again with backoff and keeps the session.
    pub async fn keep_fresh(&self, config: &RuntimeConfig, epoch: u64) {
        let mut failures = 0;
        while self.epoch.get_untracked() == epoch {
            let Some(session) = self.session.get_untracked() else { return };
            let left = session.expires_at - auth::now_seconds();
            if left > REFRESH_MARGIN_SECONDS {
                let wait = (left - REFRESH_MARGIN_SECONDS).clamp(1, CHECK_EVERY_SECONDS);
                gloo_timers::future::TimeoutFuture::new(wait as u32 * 1_000).await;
                continue;
            }
            match auth::refresh(config, &session).await {
                Ok(next) if self.epoch.get_untracked() == epoch => {
                    failures = 0;
                    auth::save(&next);
                    self.session.set(Some(next));
                    // Even a token that lapses within the margin is not renewed more often.
                    gloo_timers::future::TimeoutFuture::new(CHECK_EVERY_SECONDS as u32 * 1_000).await;
                }
                Ok(_) => return,
                Err(AuthError::Unreachable(_)) => {
                    gloo_timers::future::TimeoutFuture::new(backoff_ms(failures, js_sys::Math::random()) * 4).await;
                    failures += 1;
                }
                Err(AuthError::Refused { .. }) => {
                    if self.epoch.get_untracked() == epoch {
                        self.end_session(Some("Your session has ended. Sign in again; your draft is kept.".to_owned()));
                    }
                    return;
                }
            }
        }
    }

    /// Whether the session is usable now: renewed first if it is due (a session saved long ago).
    pub async fn renew_if_due(&self, config: &RuntimeConfig, epoch: u64) -> bool {
        let Some(session) = self.session.get_untracked() else { return false };
        if session.expires_at - auth::now_seconds() > REFRESH_MARGIN_SECONDS {
            return true;
        }
        match auth::refresh(config, &session).await {
            Ok(next) if self.epoch.get_untracked() == epoch => {
                auth::save(&next);
                self.session.set(Some(next));
                true
            }
            Ok(_) => false,
            // Offline with an old session: try with what there is; a refused call signs out.
            Err(AuthError::Unreachable(_)) => true,
            Err(AuthError::Refused { .. }) => {
                if self.epoch.get_untracked() == epoch {
                    self.end_session(Some("Your session has ended. Sign in again; your draft is kept.".to_owned()));
                }
                false
            }
        }
    }
}

//! Keeping a session fresh: the access token is renewed a minute before it lapses, by this
//! device's clock, measured from when the token was asked for (`auth::Session::expires_at`), so a
//! clock that is off by hours renews neither in a loop nor too late.
//!
//! Tabs share one session in localStorage, and the sign-in service rotates refresh tokens: a
//! tab first adopts a newer session another tab saved, and refreshes only when there is none, so
//! two tabs never spend the same refresh token (the slower would be refused and sign both out).
//! Only a refused refresh ends a session: an API that answers 401 gets a renewal first, and a
//! sign-in service that cannot be reached keeps the session.

use leptos::prelude::*;

use crate::auth::{self, AuthError, RuntimeConfig, Session};
use crate::state::State;
use crate::sync::backoff_ms;

/// Renew the access token this long before it lapses.
const REFRESH_MARGIN_SECONDS: i64 = 60;
/// How often the expiry is looked at again: a device that slept, or whose clock was moved,
/// renews at most this late. Looking costs nothing (no request).
const CHECK_EVERY_SECONDS: i64 = 10;

/// A session another tab saved for the same user since `ours`, if there is one.
fn newer_saved(ours: &Session) -> Option<Session> {
    auth::load_saved().filter(|saved| saved.email == ours.email && saved.access_token != ours.access_token)
}

/// What a renewal came to.
enum Renewal {
    Renewed,
    Unreachable,
    Ended,
}

impl State {
    /// Renews `session`: adopts a newer one another tab saved, or refreshes. A refused refresh
    /// ends the session (unless another tab renewed it meanwhile). Nothing happens once the
    /// session of `epoch` is over.
    async fn renew(&self, config: &RuntimeConfig, session: &Session, epoch: u64) -> Renewal {
        if let Some(newer) = newer_saved(session) {
            self.session.set(Some(newer));
            return Renewal::Renewed;
        }
        match auth::refresh(config, session).await {
            Ok(next) if self.epoch.get_untracked() == epoch => {
                auth::save(&next);
                self.session.set(Some(next));
                Renewal::Renewed
            }
            Ok(_) => Renewal::Ended,
            Err(AuthError::Unreachable(_)) => Renewal::Unreachable,
            Err(AuthError::Refused { .. }) => {
                if let Some(newer) = newer_saved(session) {
                    // Another tab spent the refresh token first: its session is ours.
                    self.session.set(Some(newer));
                    return Renewal::Renewed;
                }
                if self.epoch.get_untracked() == epoch {
                    self.end_session(Some("Your session has ended. Sign in again; your draft is kept.".to_owned()));
                }
                Renewal::Ended
            }
        }
    }

    /// What an API call answered 401 does: renew once, then load again; sign out only when the
    /// renewal is refused. One renewal at a time per tab, however many calls were refused.
    pub fn recover_session(&self) {
        let (Some(config), Some(session)) = (self.config.get_untracked(), self.session.get_untracked()) else {
            return;
        };
        let started = self.sync.try_update_value(|flags| flags.start_recovery()).unwrap_or(false);
        if !started {
            return;
        }
        let state = *self;
        let epoch = self.epoch.get_untracked();
        leptos::task::spawn_local(async move {
            let mut failures = 0;
            loop {
                let current = state.session.get_untracked().unwrap_or_else(|| session.clone());
                match state.renew(&config, &current, epoch).await {
                    Renewal::Renewed => {
                        state.resync_now();
                        break;
                    }
                    Renewal::Ended => break,
                    Renewal::Unreachable if state.epoch.get_untracked() == epoch => {
                        state.api_down.set(Some(
                            "The sign-in service cannot be reached to renew your session. Retrying…".to_owned(),
                        ));
                        gloo_timers::future::TimeoutFuture::new(backoff_ms(failures, js_sys::Math::random()) * 4).await;
                        failures += 1;
                    }
                    Renewal::Unreachable => break,
                }
            }
            state.sync.update_value(|flags| flags.end_recovery());
        });
    }

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
            match self.renew(config, &session, epoch).await {
                Renewal::Renewed => {
                    failures = 0;
                    // Even a token that lapses within the margin is not renewed more often.
                    gloo_timers::future::TimeoutFuture::new(CHECK_EVERY_SECONDS as u32 * 1_000).await;
                }
                Renewal::Unreachable => {
                    gloo_timers::future::TimeoutFuture::new(backoff_ms(failures, js_sys::Math::random()) * 4).await;
                    failures += 1;
                }
                Renewal::Ended => return,
            }
        }
    }

    /// Whether the session is usable now: renewed first if it is due (a session saved long ago).
    pub async fn renew_if_due(&self, config: &RuntimeConfig, epoch: u64) -> bool {
        let Some(session) = self.session.get_untracked() else { return false };
        if session.expires_at - auth::now_seconds() > REFRESH_MARGIN_SECONDS {
            return true;
        }
        match self.renew(config, &session, epoch).await {
            Renewal::Renewed => true,
            // Offline with an old session: try with what there is; a 401 renews again.
            Renewal::Unreachable => true,
            Renewal::Ended => false,
        }
    }
}

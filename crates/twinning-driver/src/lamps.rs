//! The user's lamps (see `twinning_core::lamp`), kept up to date on the PBX: every change
//! of settings or of a call's activity is compared with what the host was last told, and
//! only a difference is published, in the order the changes happened.
//!
//! A lamp is computed afresh each time from the settings and the live calls, never from
//! the change that prompted it, and under one lock: two threads refreshing the same user
//! at once cannot publish an older state after a newer one.

use std::collections::BTreeMap;

use twinning_core::lamp::{lamp_state, Lamp, LampState};

use crate::host::Host;
use crate::{lock, Driver};

/// What the host was last told, per user and lamp.
pub type Shown = BTreeMap<(String, Lamp), LampState>;

impl<H: Host> Driver<H> {
    /// `lamp`'s state for `user` now: for the host's own queries (a hint evaluated,
    /// `DEVICE_STATE()`, a presence probe, `twinning state`).
    pub fn lamp(&self, lamp: Lamp, user: &str) -> LampState {
        let activity = self.live().activity(user);
        let service = self.service();
        lamp_state(lamp, service.as_ref().and_then(|s| s.settings().user(user)), activity)
    }

    /// Publishes whichever of `user`'s lamps changed. Call with no driver lock held.
    pub fn refresh_lamps(&self, user: &str) {
        let mut shown = lock(&self.lamps);
        for lamp in Lamp::ALL {
            let state = self.lamp(lamp, user);
            let key = (user.to_owned(), lamp);
            if shown.get(&key) != Some(&state) {
                shown.insert(key, state);
                self.host.lamp_changed(lamp, user, state);
            }
        }
    }

    /// Publishes every user's lamps that changed: at load (so hints show the truth after a
    /// restart) and after a reload. A user gone from the configuration reads INVALID.
    pub fn refresh_all_lamps(&self) {
        let mut users = self.user_names();
        users.extend(lock(&self.lamps).keys().map(|(user, _)| user.clone()));
        users.sort();
        users.dedup();
        for user in users {
            self.refresh_lamps(&user);
        }
    }
}

//! Keys a leg receives outside any bridge of ours (the mobile in a conference, where
//! mod_conference reads its media): a receive hook on its session hands each key to the
//! module's watcher for that session, if it has one, before FreeSWITCH queues it.
//!
//! The hook stays on the session for its life (FreeSWITCH's hook list is not safe to
//! change while keys arrive); a session nobody watches any more gets its keys as before.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::session::Session;
use super::{ffi, guard};

/// Takes a key; true to swallow it (FreeSWITCH then never queues it).
pub type KeyWatcher = Arc<dyn Fn(char) -> bool + Send + Sync>;

static WATCHERS: Mutex<BTreeMap<String, KeyWatcher>> = Mutex::new(BTreeMap::new());

fn watchers() -> MutexGuard<'static, BTreeMap<String, KeyWatcher>> {
    WATCHERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hands every key `session` receives from now on to `watcher`, until [`unwatch`].
pub fn watch(session: Session, watcher: KeyWatcher) {
    let hooked = watchers().insert(session.uuid(), watcher).is_some();
    if !hooked {
        // SAFETY: the session is valid (the caller holds it); the hook is a plain function
        // that finds its watcher by uuid, so it never outlives anything it uses.
        unsafe {
            ffi::switch_core_event_hook_add_recv_dtmf(session.raw(), Some(on_key));
        }
    }
}

/// Stops handing `uuid`'s keys to its watcher.
pub fn unwatch(uuid: &str) {
    watchers().remove(uuid);
}

/// The receive hook (`switch_recv_dtmf_hook_t`).
unsafe extern "C" fn on_key(
    session: *mut ffi::switch_core_session_t,
    dtmf: *const ffi::switch_dtmf_t,
    _direction: ffi::switch_dtmf_direction_t,
) -> ffi::switch_status_t {
    guard::catch("received key", ffi::SWITCH_STATUS_SUCCESS, || {
        if session.is_null() || dtmf.is_null() {
            return ffi::SWITCH_STATUS_SUCCESS;
        }
        // SAFETY: FreeSWITCH calls the hook with the receiving session and its key, both
        // valid for the call.
        let (session, key) = unsafe { (Session::from_raw(session), (*dtmf).digit as u8 as char) };
        let Some(session) = session else { return ffi::SWITCH_STATUS_SUCCESS };
        // Cloned out, so the watcher runs without the registry's lock.
        let watcher = watchers().get(&session.uuid()).cloned();
        match watcher {
            Some(w) if w(key) => ffi::SWITCH_STATUS_FALSE,
            _ => ffi::SWITCH_STATUS_SUCCESS,
        }
    })
}

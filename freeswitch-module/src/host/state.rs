//! The loaded module's one service instance, the concurrency cap and the live-call list,
//! and the path every settings change takes from any surface: validate and persist
//! (service), then audit (`twinning::settings` event and a log line).

use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use twinning_core::call::ConcurrencyCap;
use twinning_core::pin_guard::{PinGuard, PinPolicy};
use twinning_core::{printable, Change};
use twinning_service::calls::LiveCalls;
use twinning_service::{Service, SetError, Source};

use super::{cstr, events, ffi, logger};

static SERVICE: Mutex<Option<Service>> = Mutex::new(None);

/// The service, if the module is loaded. Changes are built on a copy and swapped in, so a
/// panic while the lock was held leaves nothing half-done: a poisoned lock is taken over.
pub fn lock() -> MutexGuard<'static, Option<Service>> {
    SERVICE.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn install(service: Service) {
    *lock() = Some(service);
}

pub fn remove() -> Option<Service> {
    lock().take()
}

/// A FreeSWITCH core variable (`db_dir`, `conf_dir`...).
pub fn core_variable(name: &CStr) -> Option<String> {
    // SAFETY: returns a malloc'd copy (or NULL) that we free after copying.
    unsafe {
        let p = ffi::switch_core_get_variable_dup(name.as_ptr());
        if p.is_null() {
            return None;
        }
        let v = cstr::borrow(p).into_owned();
        libc::free(p.cast());
        Some(v)
    }
}

/// Where runtime changes are journalled: FreeSWITCH's `db_dir`, beside its core database.
pub fn journal_path() -> PathBuf {
    let dir = core_variable(c"db_dir").unwrap_or_else(|| "/var/lib/freeswitch/db".into());
    PathBuf::from(dir).join("twinning").join("overrides.journal")
}

/// Applies a settings change from `source`, with its audit trail.
pub fn apply_change(source: &Source, user: &str, field: &str, value: &str) -> Result<Change, SetError> {
    let result = {
        let mut guard = lock();
        let Some(service) = guard.as_mut() else {
            return Err(SetError::Storage("mod_twinning is not loaded".into()));
        };
        service.set(user, field, value)
    };
    let channel = match source {
        Source::Dialplan { channel: Some(c) } => c.as_str(),
        _ => "",
    };
    match &result {
        Ok(change) => {
            if change.field == twinning_core::Field::Pin {
                // Wrong guesses at the old PIN say nothing about the new one; an admin
                // setting a new PIN also lifts a lockout.
                pin_guard().reset(&change.user);
            }
            let (old, new) = change.shown();
            events::fire(
                "twinning::settings",
                None,
                &[
                    ("User", change.user.to_string()),
                    ("Field", change.field.name().into()),
                    ("Value", new.clone()),
                    ("OldValue", old.clone()),
                    ("Source", source.name().into()),
                    ("Channel", channel.into()),
                ],
            );
            logger::notice(&format!(
                "twinning: {}.{} changed from '{old}' to '{new}' by {}{}",
                change.user,
                change.field,
                source.name(),
                if channel.is_empty() { String::new() } else { format!(" ({channel})") }
            ));
        }
        Err(e) => {
            events::fire(
                "twinning::settings_refused",
                None,
                &[
                    ("User", printable(user)),
                    ("Field", printable(field)),
                    ("Source", source.name().into()),
                    ("Channel", channel.into()),
                    ("Reason", e.to_string()),
                ],
            );
            logger::warning(&format!(
                "twinning: refused change of {}.{} by {}: {e}",
                printable(user),
                printable(field),
                source.name()
            ));
        }
    }
    result
}

/// The system-wide bound on mobile legs (`max_concurrent`), shared by every call.
static CAP: Mutex<ConcurrencyCap> = Mutex::new(ConcurrencyCap::new(0));

pub fn cap() -> MutexGuard<'static, ConcurrencyCap> {
    CAP.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Calls in progress, for `twinning calls`.
static CALLS: Mutex<LiveCalls> = Mutex::new(LiveCalls::new());

pub fn calls() -> MutexGuard<'static, LiveCalls> {
    CALLS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wrong PINs per user, across calls (see `twinning_authenticate`). In memory: a reload
/// keeps the counts, a restart clears them.
static PIN_GUARD: once_cell::sync::Lazy<Mutex<PinGuard>> =
    once_cell::sync::Lazy::new(|| Mutex::new(PinGuard::new(PinPolicy::default())));

pub fn pin_guard() -> MutexGuard<'static, PinGuard> {
    PIN_GUARD.lock().unwrap_or_else(PoisonError::into_inner)
}

//! The loaded module's one service instance, and the path every settings change takes
//! from any surface: validate and persist (service), mirror to AstDB, audit (AMI event
//! and log line).

use std::sync::{Mutex, MutexGuard, PoisonError};

use once_cell::sync::Lazy;
use twinning_core::call::ConcurrencyCap;
use twinning_core::pin_guard::{PinGuard, PinPolicy};
use twinning_core::{printable, Change, Field};
use twinning_service::calls::LiveCalls;

use super::{astdb, logger, manager};
use twinning_service::{Service, SetError, Source};

static SERVICE: Mutex<Option<Service>> = Mutex::new(None);

/// The service, if the module is loaded. A panic while the lock was held cannot have left
/// the settings half-changed (changes are built on a copy and swapped in), so a poisoned
/// lock is simply taken over.
pub fn lock() -> MutexGuard<'static, Option<Service>> {
    SERVICE.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn install(service: Service) {
    *lock() = Some(service);
}

pub fn remove() -> Option<Service> {
    lock().take()
}

/// Applies a settings change from `source`, with its audit trail.
pub fn apply_change(source: &Source, user: &str, field: &str, value: &str) -> Result<Change, SetError> {
    let result = {
        let mut guard = lock();
        let Some(service) = guard.as_mut() else {
            return Err(SetError::Storage("app_twinning is not loaded".into()));
        };
        service.set(user, field, value)
    };
    let channel = match source {
        Source::Dialplan { channel: Some(c) } => c.as_str(),
        _ => "",
    };
    match &result {
        Ok(change) => {
            if change.field == Field::Pin {
                // Wrong guesses at the old PIN say nothing about the new one; an admin
                // setting a new PIN also lifts a lockout.
                pin_guard().reset(&change.user);
            }
            let key = format!("{}/{}", change.user, change.field.name());
            if let Err(e) = astdb::put(&key, &change.new) {
                // The journal already holds the change; AstDB is only the mirror.
                logger::warning(&format!("{e}; the change is saved in the twinning journal"));
            }
            let (old, new) = change.shown();
            manager::emit_settings_changed(
                &change.user.to_string(),
                change.field.name(),
                &new,
                &old,
                source.name(),
                channel,
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
            manager::emit_settings_refused(user, field, source.name(), channel, &e.to_string());
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

/// Calls in progress, for `twinning show calls`.
static CALLS: Mutex<LiveCalls> = Mutex::new(LiveCalls::new());

pub fn calls() -> MutexGuard<'static, LiveCalls> {
    CALLS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wrong PINs per user across calls, for `TwinningAuthenticate()`. Kept in memory: a
/// module reload keeps it, a restart of Asterisk clears it. Where both this and the
/// service lock are held, the service lock is taken first.
static PIN_GUARD: Lazy<Mutex<PinGuard>> = Lazy::new(|| Mutex::new(PinGuard::new(PinPolicy::default())));

pub fn pin_guard() -> MutexGuard<'static, PinGuard> {
    PIN_GUARD.lock().unwrap_or_else(PoisonError::into_inner)
}

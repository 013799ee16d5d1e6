//! Device state providers (`Twinning:<user>` in a hint or `DEVICE_STATE()`): registration
//! of a provider whose answers come from safe Rust, and the publication of a change.
//!
//! States are published as not cachable: Asterisk then asks the provider whenever it needs
//! a device's state (a hint evaluated, `DEVICE_STATE()` read), so it always hears the
//! module's state of that moment, never a copy cached before a restart or a reload.

use std::ffi::{c_char, CStr};
use std::sync::{Mutex, OnceLock, PoisonError};

use asterisk_sys as sys;
use sys::ast_device_state as state;
use twinning_core::lamp::LampState;

use super::{cstr, guard};

pub struct Provider {
    /// What precedes the colon in `Twinning:1001`.
    pub label: &'static CStr,
    /// The state of the device named after the colon.
    pub state: fn(&str) -> LampState,
}

/// The providers registered, in this order; the trampolines index it.
pub const COUNT: usize = 2;

static PROVIDERS: OnceLock<&'static [Provider; COUNT]> = OnceLock::new();
static REGISTERED: Mutex<usize> = Mutex::new(0);

type Query = unsafe extern "C" fn(*const c_char) -> state::Type;
const QUERIES: [Query; COUNT] = [query::<0>, query::<1>];

pub fn register(providers: &'static [Provider; COUNT]) -> Result<(), String> {
    let providers = *PROVIDERS.get_or_init(|| providers);
    let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    for (p, q) in providers.iter().zip(QUERIES) {
        // SAFETY: a static label (Asterisk copies it) and a callback that stays valid until
        // `unregister` removes it.
        if unsafe { sys::ast_devstate_prov_add(p.label.as_ptr(), Some(q)) } != 0 {
            drop(registered);
            unregister();
            return Err(format!("could not add the {} device state provider", p.label.to_string_lossy()));
        }
        *registered += 1;
    }
    Ok(())
}

/// Removes the providers. Asterisk takes its provider list's write lock to do it, so once
/// this returns no query runs in the module's code.
pub fn unregister() {
    let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    for p in PROVIDERS.get().into_iter().flat_map(|p| p.iter()).take(*registered) {
        // SAFETY: a static label; removing a label that is not there is a no-op.
        unsafe {
            sys::ast_devstate_prov_del(p.label.as_ptr());
        }
    }
    *registered = 0;
}

/// Tells Asterisk that `device` (`Twinning:1001`) is now in `lamp`. Publication is
/// asynchronous (a stasis message): it never calls a provider back.
pub fn changed(device: &str, lamp: LampState) {
    publish(device, device_state(lamp));
}

/// Tells Asterisk to ask again about `device`: after the providers are gone it reads
/// INVALID, so lamps of an unloaded module go dark instead of showing a stale state.
pub fn forget(device: &str) {
    publish(device, state::AST_DEVICE_UNKNOWN);
}

fn publish(device: &str, s: state::Type) {
    let device = cstr::owned(device);
    // SAFETY: a NUL-terminated copy that outlives the call, which copies it.
    unsafe {
        sys::ast_devstate_changed_literal(
            s,
            sys::ast_devstate_cache::AST_DEVSTATE_NOT_CACHABLE,
            device.as_ptr(),
        );
    }
}

fn device_state(lamp: LampState) -> state::Type {
    match lamp {
        LampState::NotInUse => state::AST_DEVICE_NOT_INUSE,
        LampState::InUse => state::AST_DEVICE_INUSE,
        LampState::Ringing => state::AST_DEVICE_RINGING,
        LampState::Invalid => state::AST_DEVICE_INVALID,
    }
}

unsafe extern "C" fn query<const I: usize>(data: *const c_char) -> state::Type {
    let Some(p) = PROVIDERS.get().map(|p| &p[I]) else { return state::AST_DEVICE_INVALID };
    // SAFETY: Asterisk passes the device's name after the colon, valid for this call.
    let name = unsafe { cstr::borrow(data) }.into_owned();
    let label = p.label.to_string_lossy();
    guard::catch(&format!("{label} device state"), state::AST_DEVICE_INVALID, || {
        device_state((p.state)(&name))
    })
}

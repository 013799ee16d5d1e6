//! Presence through mod_sofia, for BLF keys: the `PRESENCE_IN` events the module fires,
//! and the `PRESENCE_PROBE` sofia fires whenever a phone subscribes (sofia sends no first
//! NOTIFY of its own for a `proto+user` subscription, so the module answers the probe).

use std::ffi::c_char;
use std::marker::PhantomData;
use std::sync::OnceLock;

use super::{cstr, ffi, guard};

/// Fires a `PRESENCE_IN` with `headers`.
pub fn fire(headers: &[(&str, &str)]) {
    super::events::fire_event(ffi::SWITCH_EVENT_PRESENCE_IN, None, None, headers.iter().copied());
}

/// A `PRESENCE_PROBE` being delivered, readable for the length of the callback.
pub struct Probe<'a> {
    event: *mut ffi::switch_event_t,
    _delivery: PhantomData<&'a ()>,
}

impl Probe<'_> {
    pub fn header(&self, name: &str) -> Option<String> {
        let name = cstr::owned(name);
        // SAFETY: the event is live for the callback; the header's value is copied out.
        let p: *const c_char = unsafe { ffi::switch_event_get_header_idx(self.event, name.as_ptr(), -1) };
        // SAFETY: NULL or a NUL-terminated string owned by the event.
        (!p.is_null()).then(|| unsafe { cstr::borrow(p) }.into_owned())
    }
}

static HANDLER: OnceLock<fn(&Probe)> = OnceLock::new();

/// Has `handler` called for every presence probe.
pub fn bind(handler: fn(&Probe)) -> Result<(), String> {
    HANDLER.get_or_init(|| handler);
    super::events::bind(&[ffi::SWITCH_EVENT_PRESENCE_PROBE], on_probe)
        .map_err(|()| "could not bind to PRESENCE_PROBE".into())
}

/// Stops the probes; once this returns, no probe runs in the module's code.
pub fn unbind() {
    super::events::unbind(on_probe);
}

unsafe extern "C" fn on_probe(event: *mut ffi::switch_event_t) {
    let Some(handler) = HANDLER.get() else { return };
    if event.is_null() {
        return;
    }
    let probe = Probe { event, _delivery: PhantomData };
    guard::catch("presence probe", (), || handler(&probe));
}

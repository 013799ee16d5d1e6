//! A channel answered or hung up, as FreeSWITCH's `CHANNEL_ANSWER` and `CHANNEL_HANGUP`
//! events tell it: the uuid goes to the handler the module binds, so the threads waiting on
//! a call sleep until their channels move instead of looking at them every few
//! milliseconds.

use std::ffi::c_char;
use std::sync::OnceLock;

use super::{cstr, ffi, guard};

const KINDS: [ffi::switch_event_types_t; 2] =
    [ffi::SWITCH_EVENT_CHANNEL_ANSWER, ffi::SWITCH_EVENT_CHANNEL_HANGUP];

static HANDLER: OnceLock<fn(&str)> = OnceLock::new();

/// Has `handler` called with the uuid of every channel that answers or hangs up. It runs on
/// FreeSWITCH's event dispatch thread: it must only look the uuid up and wake a waiter.
pub fn bind(handler: fn(&str)) -> Result<(), String> {
    HANDLER.get_or_init(|| handler);
    super::events::bind(&KINDS, on_event)
        .map_err(|()| "could not bind to CHANNEL_ANSWER and CHANNEL_HANGUP".into())
}

/// Stops the events; once this returns, the handler runs no more.
pub fn unbind() {
    super::events::unbind(on_event);
}

unsafe extern "C" fn on_event(event: *mut ffi::switch_event_t) {
    let Some(handler) = HANDLER.get() else { return };
    if event.is_null() {
        return;
    }
    guard::catch("channel event", (), || {
        // SAFETY: the event is live for the callback; the header is read before it returns.
        let p: *const c_char = unsafe { ffi::switch_event_get_header_idx(event, c"Unique-ID".as_ptr(), -1) };
        if !p.is_null() {
            // SAFETY: a NUL-terminated string owned by the event.
            handler(&unsafe { cstr::borrow(p) });
        }
    });
}

//! `CUSTOM` events (`twinning::*`), the ESL counterpart of the Asterisk module's AMI
//! events, with the same fields.

use std::ffi::CStr;

use twinning_service::call_events::{self, SUBCLASSES};

use super::session::Session;
use super::{cstr, ffi};

const OWNER: &CStr = c"mod_twinning";
const FILE: &CStr = c"mod_twinning.rs";
const FUNC: &CStr = c"twinning";

/// Reserves every subclass (FreeSWITCH warns about unreserved ones and ties them to us).
pub fn reserve() {
    for s in SUBCLASSES {
        let s = cstr::owned(s);
        // SAFETY: both strings are copied by FreeSWITCH.
        if unsafe { ffi::switch_event_reserve_subclass_detailed(OWNER.as_ptr(), s.as_ptr()) }
            != ffi::SWITCH_STATUS_SUCCESS
        {
            log::warn!("could not reserve event subclass {}", s.to_string_lossy());
        }
    }
}

/// Has `callback` called (on FreeSWITCH's event dispatch thread) for every event of each
/// of `kinds`; on a failure, none of it stays bound.
pub(super) fn bind(
    kinds: &[ffi::switch_event_types_t],
    callback: unsafe extern "C" fn(*mut ffi::switch_event_t),
) -> Result<(), ()> {
    for &kind in kinds {
        // SAFETY: a static id and a callback that stays valid until `unbind`.
        let rc = unsafe {
            ffi::switch_event_bind(
                OWNER.as_ptr(),
                kind,
                std::ptr::null(),
                Some(callback),
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SWITCH_STATUS_SUCCESS {
            unbind(callback);
            return Err(());
        }
    }
    Ok(())
}

/// Stops every binding of `callback`. FreeSWITCH delivers events under a read lock that
/// unbinding takes for writing, so once this returns `callback` runs no more.
pub(super) fn unbind(callback: unsafe extern "C" fn(*mut ffi::switch_event_t)) {
    // SAFETY: our callback; unbinding one that is not bound is harmless.
    unsafe {
        ffi::switch_event_unbind_callback(Some(callback));
    }
}

pub fn free() {
    for s in SUBCLASSES {
        let s = cstr::owned(s);
        // SAFETY: as in `reserve`.
        unsafe {
            ffi::switch_event_free_subclass_detailed(OWNER.as_ptr(), s.as_ptr());
        }
    }
}

/// Fires `subclass` with `fields`; with a session, also `Channel` and `Uniqueid` (as the
/// AMI events carry) and the headers ESL clients find a call's events by (`Unique-ID`,
/// `Channel-Name`, `Channel-Call-UUID`). FreeSWITCH's whole channel data (the caller
/// profile, states, codecs and, with them, every channel variable) only where FreeSWITCH is
/// asked for verbose events: building it was most of what `twinning` cost more than
/// `bridge` (issue 28's profile), for headers no twinning event needs.
pub fn fire(subclass: &str, session: Option<Session>, fields: &[(&str, String)]) {
    let subclass = cstr::owned(subclass);
    let own = session.map(|s| {
        let (name, uuid) = (s.name(), s.uuid());
        let call_uuid = s.variable("call_uuid").filter(|u| !u.is_empty()).unwrap_or_else(|| uuid.clone());
        [
            ("Channel", name.clone()),
            ("Uniqueid", uuid.clone()),
            ("Unique-ID", uuid),
            ("Channel-Name", name),
            ("Channel-Call-UUID", call_uuid),
        ]
    });
    let headers = own.iter().flatten().chain(fields).map(|(k, v)| (*k, v.as_str()));
    let verbose = session.filter(|s| verbose_events(*s));
    fire_event(ffi::SWITCH_EVENT_CUSTOM, Some(&subclass), verbose, headers);
}

/// Creates an event of `kind` (with `subclass` for CUSTOM), adds `headers` (each value on
/// one line), the session's whole channel data (headers and variables) if given, and fires
/// it.
pub(super) fn fire_event<'a>(
    kind: ffi::switch_event_types_t,
    subclass: Option<&CStr>,
    session: Option<Session>,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
) {
    let mut event: *mut ffi::switch_event_t = std::ptr::null_mut();
    // SAFETY: creates an event we own until it is fired (which takes it) or destroyed.
    unsafe {
        if ffi::switch_event_create_subclass_detailed(
            FILE.as_ptr(),
            FUNC.as_ptr(),
            line!() as i32,
            &mut event,
            kind,
            subclass.map_or(std::ptr::null(), CStr::as_ptr),
        ) != ffi::SWITCH_STATUS_SUCCESS
            || event.is_null()
        {
            log::warn!("could not create a twinning event");
            return;
        }
    }
    for (name, value) in headers {
        let (name, value) = (cstr::owned(name), cstr::owned(&call_events::one_line(value)));
        // SAFETY: `event` is ours; the strings are copied.
        unsafe {
            ffi::switch_event_add_header_string(
                event,
                ffi::SWITCH_STACK_BOTTOM,
                name.as_ptr(),
                value.as_ptr(),
            );
        }
    }
    // SAFETY: `event` is ours; the session (if any) is valid for the caller's run; firing
    // hands the event to FreeSWITCH.
    unsafe {
        if let Some(s) = session {
            ffi::switch_channel_event_set_data(s.channel_ptr(), event);
        }
        ffi::switch_event_fire_detailed(
            FILE.as_ptr(),
            FUNC.as_ptr(),
            line!() as i32,
            &mut event,
            std::ptr::null_mut(),
        );
    }
}

/// Whether events about `session` are to carry its channel variables: `fsctl
/// verbose_events on`, or the `verbose_events` application run on the channel, the
/// switches FreeSWITCH has for its own events.
fn verbose_events(session: Session) -> bool {
    let mut global: i32 = -1;
    // SAFETY: with -1, SCSC_VERBOSE_EVENTS only writes the current setting into `global`;
    // the channel is valid (see `fire_event`).
    unsafe {
        ffi::switch_core_session_ctl(ffi::SCSC_VERBOSE_EVENTS, (&mut global as *mut i32).cast());
        global > 0 || ffi::switch_channel_test_flag(session.channel_ptr(), ffi::CF_VERBOSE_EVENTS) != 0
    }
}

/// An event this module owns until it is handed over or dropped: the `ovars` of an
/// originate (channel variables for the new leg, passed as data, never in a dial string).
pub struct OwnedEvent(*mut ffi::switch_event_t);

impl OwnedEvent {
    pub fn variables(vars: &[(&str, &str)]) -> OwnedEvent {
        let mut event: *mut ffi::switch_event_t = std::ptr::null_mut();
        // SAFETY: creates an event we own (destroyed in Drop); header strings are copied.
        unsafe {
            ffi::switch_event_create_subclass_detailed(
                FILE.as_ptr(),
                c"originate".as_ptr(),
                line!() as i32,
                &mut event,
                ffi::SWITCH_EVENT_CLONE,
                std::ptr::null(),
            );
            if !event.is_null() {
                for (k, v) in vars {
                    let (k, v) = (cstr::owned(k), cstr::owned(v));
                    ffi::switch_event_add_header_string(
                        event,
                        ffi::SWITCH_STACK_BOTTOM,
                        k.as_ptr(),
                        v.as_ptr(),
                    );
                }
            }
        }
        OwnedEvent(event)
    }

    pub(super) fn raw(&self) -> *mut ffi::switch_event_t {
        self.0
    }
}

impl Drop for OwnedEvent {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: our event; originate copies what it needs.
            unsafe { ffi::switch_event_destroy(&mut self.0) }
        }
    }
}

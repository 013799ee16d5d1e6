//! AMI: action registration with safe bodies over a [`Request`], and event emission.
//!
//! Every value is put on one line with no control characters (`one_line`), so no input
//! can forge a header or an event.

use std::ffi::{c_int, CStr};

use asterisk_sys as sys;
use twinning_service::call_events::one_line;

use super::channel::Channel;
use super::module::ModuleHandle;
use super::{cstr, guard};

/// Event classes (manager.conf `read=`), as Asterisk names them.
#[derive(Debug, Clone, Copy)]
pub enum Class {
    Call,
    Config,
    Reporting,
    Security,
}

impl Class {
    fn flag(self) -> c_int {
        (match self {
            Class::Call => sys::EVENT_FLAG_CALL,
            Class::Config => sys::EVENT_FLAG_CONFIG,
            Class::Reporting => sys::EVENT_FLAG_REPORTING,
            Class::Security => sys::EVENT_FLAG_SECURITY,
        }) as c_int
    }
}

pub struct Action {
    pub name: &'static CStr,
    /// The class a client needs (`write=` for actions).
    pub authority: Class,
    pub run: fn(&Request),
}

pub const COUNT: usize = 7;

static ACTIONS: std::sync::OnceLock<&'static [Action; COUNT]> = std::sync::OnceLock::new();

type ActionFn = unsafe extern "C" fn(*mut sys::mansession, *const sys::message) -> c_int;
const TRAMPOLINES: [ActionFn; COUNT] =
    [action::<0>, action::<1>, action::<2>, action::<3>, action::<4>, action::<5>, action::<6>];

pub fn register(module: ModuleHandle, actions: &'static [Action; COUNT]) -> Result<(), String> {
    let actions = *ACTIONS.get_or_init(|| actions);
    for (a, handler) in actions.iter().zip(TRAMPOLINES) {
        // SAFETY: `name` is a static string (the manager keeps the pointer); synopsis and
        // description are NULL so Asterisk takes them from the module's XML documentation;
        // `module` is this module's handle from the loader.
        let rc = unsafe {
            sys::ast_manager_register2(
                a.name.as_ptr(),
                a.authority.flag(),
                Some(handler),
                module.raw(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            unregister();
            return Err(format!("could not register AMI action {}", a.name.to_string_lossy()));
        }
    }
    Ok(())
}

pub fn unregister() {
    for a in ACTIONS.get().into_iter().flat_map(|a| a.iter()) {
        // SAFETY: static action name; unregistering one that is not registered is a no-op.
        unsafe {
            sys::ast_manager_unregister(a.name.as_ptr());
        }
    }
}

unsafe extern "C" fn action<const I: usize>(s: *mut sys::mansession, m: *const sys::message) -> c_int {
    let Some(a) = ACTIONS.get().map(|a| &a[I]) else { return 0 };
    let req = Request { s, m };
    let done = guard::catch(&format!("AMI {}", a.name.to_string_lossy()), false, || {
        (a.run)(&req);
        true
    });
    if !done {
        req.error("internal error in app_twinning; nothing was changed (see the Asterisk log)");
    }
    0
}

/// One AMI request, valid for the duration of the action callback (the only place one is
/// made).
pub struct Request {
    s: *mut sys::mansession,
    m: *const sys::message,
}

impl Request {
    pub fn header(&self, name: &CStr) -> String {
        // SAFETY: session and message are live for the callback; the returned header
        // string belongs to the message and is copied before returning.
        unsafe { cstr::borrow(sys::astman_get_header(self.m, name.as_ptr() as *mut _)) }.trim().to_owned()
    }

    pub fn error(&self, message: &str) {
        let message = cstr::owned(&one_line(message));
        // SAFETY: live session/message; Asterisk only reads the string (its parameter is
        // non-const for historical reasons).
        unsafe { sys::astman_send_error(self.s, self.m, message.as_ptr() as *mut _) }
    }

    pub fn ack(&self, message: &str) {
        let message = cstr::owned(&one_line(message));
        // SAFETY: as in `error`.
        unsafe { sys::astman_send_ack(self.s, self.m, message.as_ptr() as *mut _) }
    }

    /// A success response carrying `headers` (a single answer, as `Getvar` gives its
    /// `Value`).
    pub fn ack_with(&self, headers: &[(&str, String)]) {
        // What astman_start_ack writes (it is not exported), then the headers.
        self.append_block("Response: Success", headers.iter().map(|(k, v)| (*k, v.as_str())));
    }

    /// Writes one block to the session: its first line, the request's ActionID, `headers`.
    fn append_block<'h>(&self, first: &str, headers: impl Iterator<Item = (&'h str, &'h str)>) {
        let mut text = format!("{first}\r\n");
        let action_id = self.header(c"ActionID");
        if !action_id.is_empty() {
            text.push_str(&format!("ActionID: {}\r\n", one_line(&action_id)));
        }
        for (k, v) in headers {
            text.push_str(&format!("{k}: {}\r\n", one_line(v)));
        }
        text.push_str("\r\n");
        let text = cstr::owned(&text);
        // SAFETY: live session; a constant "%s" format with one string argument.
        unsafe { sys::astman_append(self.s, c"%s".as_ptr(), text.as_ptr()) }
    }

    /// A list response: the ack, each event (named `event`, with the request's ActionID),
    /// and the `complete` event with the count.
    pub fn list(&self, message: &str, event: &str, items: &[Vec<(String, String)>], complete: &CStr) {
        let message = cstr::owned(message);
        // SAFETY: live session/message; both strings outlive the call.
        unsafe {
            sys::astman_send_listack(self.s, self.m, message.as_ptr() as *mut _, c"start".as_ptr() as *mut _)
        }
        for headers in items {
            self.append_block(
                &format!("Event: {event}"),
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
        }
        // SAFETY: live session/message; `complete` is a static string.
        unsafe {
            sys::astman_send_list_complete_start(self.s, self.m, complete.as_ptr(), items.len() as c_int);
            sys::astman_send_list_complete_end(self.s);
        }
    }
}

/// Emits one of the module's events (see `twinning_service::call_events`).
pub fn emit_event(chan: Option<&Channel>, class: Class, e: &twinning_service::call_events::CallEvent) {
    let fields: Vec<(&str, &str)> = e.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    emit(chan, class, e.ami_name, &fields);
}

/// Emits a manager event; about a call when `chan` is given: the event then starts with
/// the channel's `Channel` and `Uniqueid` so tools can correlate it with the call, and
/// Asterisk appends the channel variables manager.conf asks for.
pub fn emit(chan: Option<&Channel>, class: Class, event: &str, headers: &[(&str, &str)]) {
    let mut body = String::new();
    if let Some(c) = chan {
        body.push_str(&format!(
            "Channel: {}\r\nUniqueid: {}\r\n",
            one_line(&c.name()),
            one_line(&c.uniqueid())
        ));
    }
    for (k, v) in headers {
        body.push_str(&format!("{k}: {}\r\n", one_line(v)));
    }
    let (event, body) = (cstr::owned(event), cstr::owned(&body));
    let mut chans = [chan.map_or(std::ptr::null_mut(), Channel::raw)];
    let count = c_int::from(chan.is_some());
    // SAFETY: `chans` holds `count` live channels (we hold a reference); all strings are
    // NUL-terminated and alive for the call; constant "%s" format with one string argument.
    let rc = unsafe {
        sys::__ast_manager_event_multichan(
            class.flag(),
            event.as_ptr(),
            count,
            chans.as_mut_ptr(),
            c"app_twinning".as_ptr(),
            0,
            c"twinning".as_ptr(),
            c"%s".as_ptr(),
            body.as_ptr(),
        )
    };
    if rc != 0 {
        log::warn!("could not emit AMI event {}", event.to_string_lossy());
    }
}

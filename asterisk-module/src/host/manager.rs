//! AMI: the `TwinningStatus` and `TwinningSet` actions and the module's events.
//!
//! Event names and headers are public interface (admins' tools parse them); see README.

use std::ffi::{c_int, CStr};

use asterisk_sys as sys;
use twinning_core::printable;

use twinning_core::call::{LegKind, Notification};

use super::channel::ChannelRef;
use super::{call, cstr, guard, logger, state};
use twinning_service::{report, Source};

const STATUS: &CStr = c"TwinningStatus";
const SET: &CStr = c"TwinningSet";
const HANDOVER: &CStr = c"TwinningHandover";

pub fn register(module: *mut sys::ast_module) -> Result<(), String> {
    // Reading settings is reporting; changing them needs the `config` write class, as
    // Asterisk's own configuration actions do.
    // Moving a live call is call control, as Asterisk's own Redirect and Bridge are.
    let actions: [(&CStr, u32, ActionFn); 3] = [
        (STATUS, sys::EVENT_FLAG_REPORTING, action_status),
        (SET, sys::EVENT_FLAG_CONFIG, action_set),
        (HANDOVER, sys::EVENT_FLAG_CALL, action_handover),
    ];
    for (name, authority, handler) in actions {
        // SAFETY: `name` is a static string (the manager keeps the pointer); synopsis and
        // description are NULL so Asterisk takes them from the module's XML documentation;
        // `module` is this module's handle from the loader.
        let rc = unsafe {
            sys::ast_manager_register2(
                name.as_ptr(),
                authority as c_int,
                Some(handler),
                module,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            unregister();
            return Err(format!("could not register AMI action {}", name.to_string_lossy()));
        }
    }
    Ok(())
}

pub fn unregister() {
    for name in [STATUS, SET, HANDOVER] {
        // SAFETY: static action name; unregistering one that is not registered is a no-op.
        unsafe {
            sys::ast_manager_unregister(name.as_ptr());
        }
    }
}

type ActionFn = unsafe extern "C" fn(*mut sys::mansession, *const sys::message) -> c_int;

/// One AMI request, valid for the duration of the action callback.
struct Request {
    s: *mut sys::mansession,
    m: *const sys::message,
}

impl Request {
    fn header(&self, name: &CStr) -> String {
        // SAFETY: session and message are live for the callback; the returned header
        // string belongs to the message and is copied before returning.
        unsafe { cstr::borrow(sys::astman_get_header(self.m, name.as_ptr() as *mut _)) }.trim().to_owned()
    }

    fn error(&self, message: &str) {
        let message = cstr::owned(&header_value(message));
        // SAFETY: live session/message; Asterisk only reads the string (its parameter is
        // non-const for historical reasons).
        unsafe { sys::astman_send_error(self.s, self.m, message.as_ptr() as *mut _) }
    }

    fn ack(&self, message: &str) {
        let message = cstr::owned(&header_value(message));
        // SAFETY: as in `error`.
        unsafe { sys::astman_send_ack(self.s, self.m, message.as_ptr() as *mut _) }
    }

    fn append(&self, text: &str) {
        let text = cstr::owned(text);
        // SAFETY: live session; constant "%s" format with one string argument.
        unsafe { sys::astman_append(self.s, c"%s".as_ptr(), text.as_ptr()) }
    }

    fn list_start(&self, message: &str) {
        let message = cstr::owned(message);
        // SAFETY: live session/message; both strings outlive the call.
        unsafe {
            sys::astman_send_listack(self.s, self.m, message.as_ptr() as *mut _, c"start".as_ptr() as *mut _)
        }
    }

    fn list_complete(&self, event: &CStr, count: usize) {
        // SAFETY: live session/message; `event` is a static string.
        unsafe {
            sys::astman_send_list_complete_start(self.s, self.m, event.as_ptr(), count as c_int);
            sys::astman_send_list_complete_end(self.s);
        }
    }
}

/// Runs an action's body; if it panics, the client still gets an answer.
fn run_action(name: &str, req: &Request, body: impl FnOnce(&Request)) -> c_int {
    let done = guard::catch(name, false, || {
        body(req);
        true
    });
    if !done {
        req.error("internal error in app_twinning; nothing was changed (see the Asterisk log)");
    }
    0
}

unsafe extern "C" fn action_status(s: *mut sys::mansession, m: *const sys::message) -> c_int {
    run_action("AMI TwinningStatus", &Request { s, m }, |req| {
        let wanted = req.header(c"User");
        let action_id = req.header(c"ActionID");
        // Render under the lock, write to the session after it: a slow AMI client must not
        // hold up calls that need the settings.
        let events: Result<Vec<String>, String> = {
            let guard = state::lock();
            match guard.as_ref() {
                None => Err("app_twinning is not loaded".into()),
                Some(service) => {
                    let settings = service.settings();
                    if !wanted.is_empty() && settings.user(&wanted).is_none() {
                        Err(format!("unknown twinning user '{}'", printable(&wanted)))
                    } else {
                        Ok(settings
                            .users()
                            .filter(|(id, _)| wanted.is_empty() || id.as_str() == wanted)
                            .map(|(id, user)| user_event(&action_id, report::ami_user(id, user)))
                            .collect())
                    }
                }
            }
        };
        let events = match events {
            Ok(e) => e,
            Err(message) => {
                req.error(&message);
                return;
            }
        };
        req.list_start("Twinning users will follow");
        for event in &events {
            req.append(event);
        }
        let count = events.len();
        req.list_complete(c"TwinningStatusComplete", count);
    })
}

fn user_event(action_id: &str, headers: Vec<(String, String)>) -> String {
    let mut event = String::from("Event: TwinningUser\r\n");
    if !action_id.is_empty() {
        event.push_str(&format!("ActionID: {}\r\n", header_value(action_id)));
    }
    for (k, v) in headers {
        event.push_str(&format!("{k}: {}\r\n", header_value(&v)));
    }
    event.push_str("\r\n");
    event
}

unsafe extern "C" fn action_set(s: *mut sys::mansession, m: *const sys::message) -> c_int {
    run_action("AMI TwinningSet", &Request { s, m }, |req| {
        let (user, field) = (req.header(c"User"), req.header(c"Field"));
        let value = req.header(c"Value");
        let missing: Vec<&str> = [("User", &user), ("Field", &field)]
            .iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| *k)
            .collect();
        if !missing.is_empty() {
            req.error(&format!("missing header(s): {}", missing.join(", ")));
            return;
        }
        match state::apply_change(&Source::Ami, &user, &field, &value) {
            Ok(change) => req.ack(&format!("{}.{} set to '{}'", change.user, change.field, change.shown().1)),
            Err(e) => req.error(&e.to_string()),
        }
    })
}

unsafe extern "C" fn action_handover(s: *mut sys::mansession, m: *const sys::message) -> c_int {
    run_action("AMI TwinningHandover", &Request { s, m }, |req| {
        let user = req.header(c"User");
        let to = match req.header(c"To").to_ascii_lowercase().as_str() {
            "desk" => LegKind::Desk,
            "mobile" => LegKind::Mobile,
            _ => {
                req.error("To must be desk or mobile");
                return;
            }
        };
        if user.is_empty() {
            req.error("missing header: User");
            return;
        }
        match call::handover(&user, to) {
            Ok(()) => req.ack(&format!("handover of {user}'s call to the {to} started")),
            Err(e) => req.error(&format!("handover refused: {}", printable(&e))),
        }
    })
}

/// Emits a manager event. Values are made single-line so no input can forge headers.
pub fn emit(category: u32, event: &CStr, headers: &[(&str, &str)]) {
    emit_for(None, category, event, headers);
}

/// Emits a manager event, about a call when `chan` is given: the event then starts with
/// the caller channel's `Channel` and `Uniqueid` so tools can correlate it with the call,
/// and Asterisk appends the channel variables manager.conf asks for.
fn emit_for(chan: Option<ChannelRef>, category: u32, event: &CStr, headers: &[(&str, &str)]) {
    let mut body = String::new();
    if let Some(c) = chan {
        body.push_str(&format!(
            "Channel: {}\r\nUniqueid: {}\r\n",
            header_value(&c.name()),
            header_value(&c.uniqueid())
        ));
    }
    for (k, v) in headers {
        body.push_str(&format!("{k}: {}\r\n", header_value(v)));
    }
    let body = cstr::owned(&body);
    let mut chans = [chan.map_or(std::ptr::null_mut(), ChannelRef::raw)];
    let count = c_int::from(chan.is_some());
    // SAFETY: `chans` holds `count` live channels (the one running the call, if any); all
    // strings are NUL-terminated and alive for the call; constant "%s" format with one
    // string argument.
    let rc = unsafe {
        sys::__ast_manager_event_multichan(
            category as c_int,
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
        logger::warning(&format!("could not emit AMI event {}", event.to_string_lossy()));
    }
}

pub fn emit_settings_changed(user: &str, field: &str, value: &str, old: &str, source: &str, channel: &str) {
    emit(
        sys::EVENT_FLAG_CONFIG,
        c"TwinningSettingsChanged",
        &[
            ("User", user),
            ("Field", field),
            ("Value", value),
            ("OldValue", old),
            ("Source", source),
            ("Channel", channel),
        ],
    );
}

/// A refused change is a security-relevant event: someone tried to point a user's calls
/// somewhere policy forbids, or probed for users and fields.
pub fn emit_settings_refused(user: &str, field: &str, source: &str, channel: &str, reason: &str) {
    emit(
        sys::EVENT_FLAG_SECURITY,
        c"TwinningSettingsRefused",
        &[
            ("User", &printable(user)),
            ("Field", &printable(field)),
            ("Source", source),
            ("Channel", channel),
            ("Reason", reason),
        ],
    );
}

/// A twinning application refused its arguments (unknown user, bad options): a dialplan
/// may be handing caller-controlled text to it, so this is reported as security.
pub fn emit_request_refused(chan: ChannelRef, application: &str, arguments: &str, reason: &str) {
    emit_for(
        Some(chan),
        sys::EVENT_FLAG_SECURITY,
        c"TwinningRequestRefused",
        &[("Application", application), ("Arguments", &printable(arguments)), ("Reason", reason)],
    );
}

/// A wrong PIN at `TwinningAuthenticate()`, or a PIN entered during a lockout: someone
/// may be guessing a user's PIN.
pub fn emit_auth_failed(chan: ChannelRef, user: &str, reason: &str, attempts: u32, locked_for_secs: u64) {
    emit_for(
        Some(chan),
        sys::EVENT_FLAG_SECURITY,
        c"TwinningAuthFailed",
        &[
            ("User", user),
            ("Reason", reason),
            ("Attempts", &attempts.to_string()),
            ("LockedFor", &locked_for_secs.to_string()),
        ],
    );
}

/// Reports what the call engine announced, as the `Twinning*` call events.
pub fn emit_call_notification(caller: ChannelRef, user: &str, n: &Notification) {
    // The names and fields are shared with the FreeSWITCH module's events.
    let e = twinning_service::call_events::call_event(user, n);
    let name = cstr::owned(e.ami_name);
    let fields: Vec<(&str, &str)> = e.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    emit_for(Some(caller), sys::EVENT_FLAG_CALL, &name, &fields);
}

/// A header value on one line, with no control characters.
fn header_value(v: &str) -> String {
    twinning_service::call_events::one_line(v)
}

//! The dialplan applications.
//!
//! `twinning <user> [options]` rings the user's desk and twinned mobile as the core
//! decides, bridges the first valid answer with the caller, and otherwise returns to the
//! dialplan with `twinning_status` (`ANSWERED`, `NOANSWER`, `BUSY`, `CHANUNAVAIL`, `DND`,
//! `CANCEL`, `FAILED`) and `twinning_answered_by` (`desk`, `mobile` or empty), so
//! voicemail can follow. `twinning_pickup <user>`, run on the desk phone's own call (a
//! feature code), takes the user's call off the mobile onto that phone.

use std::ffi::{c_char, CStr};

use twinning_core::call::{CallSetup, CallStatus, CallerId, LocalTime};
use twinning_core::printable;

use super::session::Session;
use super::{call, cstr, ffi, guard, logger, state};

pub const STATUS_VARIABLE: &str = "twinning_status";
pub const ANSWERED_BY_VARIABLE: &str = "twinning_answered_by";
pub const ERROR_VARIABLE: &str = "twinning_error";

type AppFunction = unsafe extern "C" fn(*mut ffi::switch_core_session_t, *const c_char);

/// (name, function, description, syntax), registered at load.
pub const APPLICATIONS: &[(&CStr, AppFunction, &CStr, &CStr)] = &[
    (
        c"twinning",
        twinning_app,
        c"Ring a user's desk and twinned mobile; bridge the first real answer",
        c"<user> [options: h f c d(s) g(s) r(s)]",
    ),
    (c"twinning_pickup", pickup_app, c"Take a user's twinned call off the mobile onto this phone", c"<user>"),
    (
        c"twinning_authenticate",
        super::authenticate::authenticate_app,
        c"Ask for a user's PIN; wrong PINs are rate-limited across calls",
        c"<user> [options: a(n) t(s)]",
    ),
];

unsafe extern "C" fn twinning_app(session: *mut ffi::switch_core_session_t, data: *const c_char) {
    // SAFETY: FreeSWITCH runs an application with its live session and argument string.
    let (session, data) = unsafe { (Session::from_raw(session), cstr::borrow(data).into_owned()) };
    let Some(session) = session else { return };
    let completed = guard::catch("twinning app", false, || {
        twinning(session, &data);
        true
    });
    if !completed {
        finish(session, "FAILED", "");
    }
}

fn twinning(session: Session, data: &str) {
    let setup = match prepare(session, data) {
        Ok(s) => s,
        Err(e) => {
            refuse_request(session, "twinning", data, &e);
            finish(session, "FAILED", "");
            return;
        }
    };
    let user = setup.user.to_string();
    let outcome = call::run(session, &user, setup);
    finish(session, outcome.status.name(), outcome.answered_by.map_or("", |k| k.name()));
    // As FreeSWITCH's own `bridge` does: with hangup_after_bridge set, an answered call
    // ends the caller's dialplan here (and voicemail after `twinning` is only for calls
    // nobody answered).
    if outcome.status == CallStatus::Answered
        && session.is_ready()
        && session.variable("hangup_after_bridge").is_some_and(|v| is_true(&v))
    {
        session.hangup(ffi::SWITCH_CAUSE_NORMAL_CLEARING);
    }
}

/// FreeSWITCH's `switch_true`: the words it takes for yes.
fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "yes" | "on" | "true" | "t" | "enabled" | "active" | "allow")
        || v.parse::<i64>().is_ok_and(|n| n != 0)
}

/// Arguments an application refused (an unknown user, bad options): someone may be
/// probing, so a `twinning::request_refused` event (Asterisk: the security-class
/// `TwinningRequestRefused`), a log line, and the reason in `twinning_error`.
pub fn refuse_request(session: Session, application: &str, arguments: &str, reason: &str) {
    logger::warning(&format!("{application} {}: {reason}", printable(arguments)));
    super::events::fire(
        "twinning::request_refused",
        Some(session),
        &[
            ("Application", application.into()),
            ("Arguments", printable(arguments)),
            ("Reason", reason.into()),
        ],
    );
    session.set_variable(ERROR_VARIABLE, reason);
}

fn finish(session: Session, status: &str, answered_by: &str) {
    session.set_variable(STATUS_VARIABLE, status);
    session.set_variable(ANSWERED_BY_VARIABLE, answered_by);
}

/// `<user> [options]`: the user, then the same option letters as Asterisk's `Twinning()`.
fn prepare(session: Session, data: &str) -> Result<CallSetup, String> {
    let data = data.trim();
    let (user, options) = data.split_once(char::is_whitespace).unwrap_or((data, ""));
    if user.is_empty() {
        return Err("usage: twinning <user> [options]".into());
    }
    let caller = CallerId {
        number: session.variable("caller_id_number").unwrap_or_default(),
        name: session.variable("caller_id_name").unwrap_or_default(),
    };
    let (setup, max_concurrent) = {
        let guard = state::lock();
        let service = guard.as_ref().ok_or("mod_twinning is not loaded")?;
        service.call_setup(user, options.trim(), caller, dialed_number(session), local_time())?
    };
    state::cap().set_max(max_concurrent);
    Ok(setup)
}

/// The number the caller dialed, for `caller_id = did`. `destination_number` is what the
/// dialplan routes on now, which a `transfer` to the user's extension has replaced, so the
/// dialed identity comes first: an admin's `twinning_did`, then the SIP To user (a proxy in
/// front may rewrite the request URI, but not To), then the request URI's user.
fn dialed_number(session: Session) -> Option<String> {
    ["twinning_did", "sip_to_user", "sip_req_user", "destination_number"]
        .iter()
        .filter_map(|v| session.variable(v))
        .find(|v| !v.is_empty())
}

unsafe extern "C" fn pickup_app(session: *mut ffi::switch_core_session_t, data: *const c_char) {
    // SAFETY: as for `twinning_app`.
    let (session, data) = unsafe { (Session::from_raw(session), cstr::borrow(data).into_owned()) };
    let Some(session) = session else { return };
    guard::catch("twinning_pickup app", (), || {
        let user = data.trim();
        // Set before the bridge takes the session over (the dialplan stops here then).
        session.set_variable(STATUS_VARIABLE, "PICKEDUP");
        let result = if user.is_empty() || user.contains(char::is_whitespace) {
            Err("usage: twinning_pickup <user>".to_string())
        } else {
            call::pickup(session, user)
        };
        if let Err(e) = result {
            logger::notice(&format!("twinning_pickup {}: {e}", printable(user)));
            session.set_variable(STATUS_VARIABLE, "FAILED");
            session.set_variable(ERROR_VARIABLE, &e);
        }
    })
}

/// Local wall-clock time, for schedules.
fn local_time() -> LocalTime {
    // SAFETY: time(NULL) only reads the clock; localtime_r writes into our `tm` (the
    // thread-safe variant).
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    LocalTime { weekday: ((tm.tm_wday + 6) % 7) as u8, minute_of_day: (tm.tm_hour * 60 + tm.tm_min) as u16 }
}

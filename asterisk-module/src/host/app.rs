//! The `Twinning(user[,options])` dialplan application.
//!
//! Rings the user's desk and twinned mobile as the core decides, bridges the first valid
//! answer with the caller, and otherwise returns to the dialplan with `TWINNINGSTATUS`
//! (`ANSWERED`, `NOANSWER`, `BUSY`, `CHANUNAVAIL`, `DND`, `CANCEL`, `FAILED`) and
//! `TWINNINGANSWEREDBY` (`desk`, `mobile`, or empty), so `VoiceMail()` can follow.

use std::ffi::{c_char, c_int, CStr};

use asterisk_sys as sys;
use twinning_core::call::{CallSetup, CallerId};
use twinning_core::printable;

use super::channel::ChannelRef;
use super::{authenticate, call, clock, cstr, guard, logger, manager, state};

pub const NAME: &CStr = c"Twinning";
pub const PICKUP_NAME: &CStr = c"TwinningPickup";
pub const STATUS_VARIABLE: &str = "TWINNINGSTATUS";
pub const ANSWERED_BY_VARIABLE: &str = "TWINNINGANSWEREDBY";

type Exec = unsafe extern "C" fn(*mut sys::ast_channel, *const c_char) -> c_int;

pub fn register(module: *mut sys::ast_module) -> Result<(), String> {
    let apps: [(&CStr, Exec); 3] =
        [(NAME, exec), (PICKUP_NAME, exec_pickup), (authenticate::NAME, authenticate::exec)];
    for (name, exec) in apps {
        // SAFETY: static name (Asterisk keeps the pointer); NULL synopsis and description
        // make Asterisk load the XML documentation; `module` is our handle.
        let rc = unsafe {
            sys::ast_register_application2(
                name.as_ptr(),
                Some(exec),
                std::ptr::null(),
                std::ptr::null(),
                module.cast(),
            )
        };
        if rc != 0 {
            unregister();
            return Err(format!("could not register the {} application", name.to_string_lossy()));
        }
    }
    Ok(())
}

pub fn unregister() {
    for name in [NAME, PICKUP_NAME, authenticate::NAME] {
        // SAFETY: static name; unregistering an unregistered application is a no-op.
        unsafe {
            sys::ast_unregister_application(name.as_ptr());
        }
    }
}

/// `TwinningPickup(user)`, run on the desk phone's own call (a feature code): takes the
/// user's call off the mobile onto this phone. Sets `TWINNINGSTATUS` to `PICKEDUP`, or to
/// `FAILED` with the reason in `TWINNINGERROR` (no answered call, already on the desk).
unsafe extern "C" fn exec_pickup(chan: *mut sys::ast_channel, data: *const c_char) -> c_int {
    // SAFETY: Asterisk runs an application with a live channel and its argument string.
    let (chan, data) = unsafe { (ChannelRef::from_raw(chan), cstr::borrow(data).into_owned()) };
    let Some(chan) = chan else { return -1 };
    guard::catch("TwinningPickup()", 0, || {
        let user = data.trim();
        let result = if user.is_empty() {
            Err("usage: TwinningPickup(user)".to_string())
        } else {
            call::pickup(chan, user)
        };
        match result {
            Ok(()) => chan.set_variable(STATUS_VARIABLE, "PICKEDUP"),
            Err(e) => {
                logger::notice(&format!("TwinningPickup({}): {e}", printable(user)));
                chan.set_variable(STATUS_VARIABLE, "FAILED");
                chan.set_variable(super::function::ERROR_VARIABLE, &e);
            }
        }
        // SAFETY: live channel for the application's run.
        if unsafe { sys::ast_check_hangup(chan.raw()) } != 0 {
            -1
        } else {
            0
        }
    })
}

unsafe extern "C" fn exec(chan: *mut sys::ast_channel, data: *const c_char) -> c_int {
    // SAFETY: Asterisk runs an application with a live channel and its argument string.
    let (chan, data) = unsafe { (ChannelRef::from_raw(chan), cstr::borrow(data).into_owned()) };
    let Some(chan) = chan else { return -1 };
    let result = guard::catch("Twinning()", None, || Some(twinning(chan, &data)));
    match result {
        Some(rc) => rc,
        None => {
            finish(chan, "FAILED", "");
            0
        }
    }
}

fn twinning(chan: ChannelRef, data: &str) -> c_int {
    let setup = match prepare(chan, data) {
        Ok(s) => s,
        Err(e) => {
            logger::warning(&format!("Twinning({}): {e}", printable(data)));
            manager::emit_request_refused(chan, "Twinning", data, &e);
            chan.set_variable(super::function::ERROR_VARIABLE, &e);
            finish(chan, "FAILED", "");
            return 0;
        }
    };
    let user = setup.user.to_string();
    let outcome = call::run(chan, &user, setup);
    finish(chan, outcome.status.name(), outcome.answered_by.map_or("", |k| k.name()));
    // Like Dial: a caller who has gone ends the dialplan; otherwise it continues.
    // SAFETY: live channel for the application's run.
    if unsafe { sys::ast_check_hangup(chan.raw()) } != 0 {
        -1
    } else {
        0
    }
}

fn finish(chan: ChannelRef, status: &str, answered_by: &str) {
    chan.set_variable(STATUS_VARIABLE, status);
    chan.set_variable(ANSWERED_BY_VARIABLE, answered_by);
}

/// Everything the engine needs, from the arguments, the user's settings and the channel.
fn prepare(chan: ChannelRef, data: &str) -> Result<CallSetup, String> {
    let (user, options) = data.split_once(',').unwrap_or((data, ""));
    let user = user.trim();
    if user.is_empty() {
        return Err("usage: Twinning(user[,options])".into());
    }
    let (number, name) = chan.caller_id();
    let (setup, max_concurrent) = {
        let guard = state::lock();
        let service = guard.as_ref().ok_or("app_twinning is not loaded")?;
        service.call_setup(
            user,
            options,
            CallerId { number, name },
            Some(chan.dialed_number()),
            clock::local_time(),
        )?
    };
    state::cap().set_max(max_concurrent);
    Ok(setup)
}

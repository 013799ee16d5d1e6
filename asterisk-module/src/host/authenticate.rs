//! The `TwinningAuthenticate(user[,options])` dialplan application: asks for the user's
//! PIN, with the module's PIN guard counting wrong PINs across calls, so a caller cannot
//! keep guessing by calling again. Sets `TWINNINGAUTH` to `OK`, `FAILED`, `LOCKED`, or
//! `NOPIN` when the user has no PIN (then nothing is asked).

use std::ffi::{c_char, c_int, CStr};
use std::time::Instant;

use asterisk_sys as sys;
use twinning_core::pin_guard::{AuthFailure, AuthOptions, AuthOutcome, AuthSession, AuthStep, PinPolicy};
use twinning_core::{printable, Pin, UserId};

use super::channel::ChannelRef;
use super::{cstr, function, guard, logger, manager, state};

pub const NAME: &CStr = c"TwinningAuthenticate";
pub const VARIABLE: &str = "TWINNINGAUTH";

/// Asterisk's core prompts, as `Authenticate()` uses them: "please enter your password
/// followed by the pound key", "that password is incorrect, please try again", and the
/// endings.
const PROMPT_FIRST: &CStr = c"agent-pass";
const PROMPT_AGAIN: &CStr = c"auth-incorrect";
const PROMPT_ACCEPTED: &CStr = c"auth-thankyou";
const PROMPT_GOODBYE: &CStr = c"vm-goodbye";

/// Most digits read for one entry: more than the longest PIN, so an overlong entry is
/// read whole and is simply wrong.
const MAX_DIGITS: usize = 20;

pub unsafe extern "C" fn exec(chan: *mut sys::ast_channel, data: *const c_char) -> c_int {
    // SAFETY: Asterisk runs an application with a live channel and its argument string.
    let (chan, data) = unsafe { (ChannelRef::from_raw(chan), cstr::borrow(data).into_owned()) };
    let Some(chan) = chan else { return -1 };
    match guard::catch("TwinningAuthenticate()", None, || Some(authenticate(chan, &data))) {
        Some(rc) => rc,
        None => {
            // Never OK after an internal error: the dialplan must not go on as if the
            // caller had proved who they are.
            chan.set_variable(VARIABLE, AuthOutcome::Failed.name());
            0
        }
    }
}

/// What one run needs, read from the settings once at its start.
struct Prepared {
    user: UserId,
    pin: Pin,
    options: AuthOptions,
    policy: PinPolicy,
}

fn prepare(data: &str) -> Result<Option<Prepared>, String> {
    let (user, options) = data.split_once(',').unwrap_or((data, ""));
    let user = user.trim();
    if user.is_empty() {
        return Err("usage: TwinningAuthenticate(user[,options])".into());
    }
    let options = AuthOptions::parse(options)?;
    let guard = state::lock();
    let service = guard.as_ref().ok_or("app_twinning is not loaded")?;
    let settings = service.settings();
    let user_settings =
        settings.user(user).ok_or_else(|| format!("unknown twinning user '{}'", printable(user)))?;
    let Some(pin) = user_settings.pin.clone() else {
        return Ok(None);
    };
    Ok(Some(Prepared {
        user: UserId::parse(user).map_err(|e| e.to_string())?,
        pin,
        options,
        policy: settings.general().pin.clone(),
    }))
}

fn authenticate(chan: ChannelRef, data: &str) -> c_int {
    let run = match prepare(data) {
        Ok(Some(run)) => run,
        Ok(None) => {
            chan.set_variable(VARIABLE, AuthOutcome::NoPin.name());
            return 0;
        }
        Err(e) => {
            logger::warning(&format!("TwinningAuthenticate({}): {e}", printable(data)));
            manager::emit_request_refused(chan, "TwinningAuthenticate", data, &e);
            chan.set_variable(function::ERROR_VARIABLE, &e);
            chan.set_variable(VARIABLE, AuthOutcome::Failed.name());
            return 0;
        }
    };
    // Until a result is reached, a hang-up leaves FAILED behind for any `h` extension.
    chan.set_variable(VARIABLE, AuthOutcome::Failed.name());
    // SAFETY: live channel for the application's run; answering an answered channel is a
    // no-op.
    if unsafe { sys::ast_answer(chan.raw()) } != 0 {
        return -1;
    }
    let mut session = AuthSession::new(&run.options);
    let mut prompt = PROMPT_FIRST;
    loop {
        let Some(digits) = read_pin(chan, prompt, run.options.timeout.as_millis()) else {
            return -1;
        };
        let step = {
            let mut pins = state::pin_guard();
            pins.set_policy(run.policy.clone());
            session.entered(&mut pins, &run.user, &run.pin, &digits, Instant::now())
        };
        let (failure, outcome) = match step {
            AuthStep::Again { failure } => (failure, None),
            AuthStep::Done { outcome, failure } => (failure, Some(outcome)),
        };
        if let Some(failure) = failure {
            report(chan, &run.user, &failure);
        }
        let Some(outcome) = outcome else {
            prompt = PROMPT_AGAIN;
            continue;
        };
        chan.set_variable(VARIABLE, outcome.name());
        if outcome == AuthOutcome::Ok {
            logger::notice(&format!("twinning: {} entered the right PIN on {}", run.user, chan.name()));
        }
        let ending = if outcome == AuthOutcome::Ok { PROMPT_ACCEPTED } else { PROMPT_GOODBYE };
        // SAFETY: live channel; the file name is a static string; "" means no digit
        // interrupts it. A missing sound file only fails the playback.
        unsafe {
            sys::ast_stream_and_wait(chan.raw(), ending.as_ptr(), c"".as_ptr());
        }
        // SAFETY: live channel for the application's run.
        return if unsafe { sys::ast_check_hangup(chan.raw()) } != 0 { -1 } else { 0 };
    }
}

/// Plays `prompt` and reads digits up to `#`, `MAX_DIGITS` or the timeout. `None` when
/// the caller hung up.
fn read_pin(chan: ChannelRef, prompt: &CStr, timeout_ms: u64) -> Option<String> {
    let mut buf = [0 as c_char; MAX_DIGITS + 1];
    let timeout = timeout_ms.min(c_int::MAX as u64) as c_int;
    // SAFETY: live channel, run on the application's own thread, which may read from it;
    // `buf` has room for MAX_DIGITS digits and the NUL ast_app_getdata writes; the prompt
    // is a static string.
    let rc = unsafe {
        sys::ast_app_getdata(chan.raw(), prompt.as_ptr(), buf.as_mut_ptr(), MAX_DIGITS as c_int, timeout)
    };
    // SAFETY: ast_app_getdata leaves a NUL-terminated string in `buf` (empty at worst).
    let digits = unsafe { cstr::borrow(buf.as_ptr()) }.into_owned();
    // SAFETY: live channel.
    let hung_up = unsafe { sys::ast_check_hangup(chan.raw()) } != 0;
    if (rc as c_int) < 0 || hung_up {
        return None;
    }
    Some(digits)
}

/// A wrong PIN, or an entry refused during a lockout: a security event and a log line.
fn report(chan: ChannelRef, user: &UserId, failure: &AuthFailure) {
    let locked_secs = failure.locked_for.as_millis().div_ceil(1000) as u64;
    let (reason, what) = if failure.while_locked {
        ("locked", format!("a PIN was entered while {user} is locked out ({locked_secs} s left)"))
    } else if locked_secs > 0 {
        ("lockout", format!("wrong PIN for {user}; locked out for {locked_secs} s"))
    } else {
        ("incorrect", format!("wrong PIN for {user}"))
    };
    manager::emit_auth_failed(chan, user.as_str(), reason, failure.attempts, locked_secs);
    logger::warning(&format!(
        "twinning: {what} on {} ({} failed since the last right PIN)",
        chan.name(),
        failure.attempts
    ));
}

//! The `twinning_authenticate <user> [options]` application: asks for the user's PIN,
//! with the module's PIN guard counting wrong PINs across calls, so a caller cannot keep
//! guessing by calling again. Sets `twinning_auth` to `OK`, `FAILED`, `LOCKED`, or `NOPIN`
//! when the user has no PIN (then nothing is asked). The same guard and options as
//! Asterisk's `TwinningAuthenticate()`.

use std::ffi::c_char;
use std::time::Instant;

use twinning_core::pin_guard::{AuthFailure, AuthOptions, AuthOutcome, AuthSession, AuthStep, PinPolicy};
use twinning_core::{printable, Pin, UserId};

use super::session::Session;
use super::{app, cstr, events, ffi, guard, logger, state};

pub const VARIABLE: &str = "twinning_auth";

/// FreeSWITCH's standard prompts (the en/us sound set); a channel may name its own with
/// `twinning_pin_prompt`, `twinning_pin_retry_prompt`.
const PROMPT_FIRST: &str = "ivr/ivr-please_enter_pin_followed_by_pound.wav";
const PROMPT_AGAIN: &str = "ivr/ivr-that_was_an_invalid_entry.wav";

/// Most digits read for one entry: more than the longest PIN, so an overlong entry is
/// read whole and is simply wrong.
const MAX_DIGITS: usize = 20;

pub unsafe extern "C" fn authenticate_app(session: *mut ffi::switch_core_session_t, data: *const c_char) {
    // SAFETY: FreeSWITCH runs an application with its live session and argument string.
    let (session, data) = unsafe { (Session::from_raw(session), cstr::borrow(data).into_owned()) };
    let Some(session) = session else { return };
    let done = guard::catch("twinning_authenticate app", false, || {
        authenticate(session, &data);
        true
    });
    if !done {
        // Never OK after an internal error.
        session.set_variable(VARIABLE, AuthOutcome::Failed.name());
    }
}

struct Prepared {
    user: UserId,
    pin: Pin,
    options: AuthOptions,
    policy: PinPolicy,
}

fn prepare(data: &str) -> Result<Option<Prepared>, String> {
    let data = data.trim();
    let (user, options) = data.split_once(char::is_whitespace).unwrap_or((data, ""));
    if user.is_empty() {
        return Err("usage: twinning_authenticate <user> [options]".into());
    }
    let options = AuthOptions::parse(options.trim())?;
    let guard = state::lock();
    let service = guard.as_ref().ok_or("mod_twinning is not loaded")?;
    let settings = service.settings();
    let user_settings =
        settings.user(user).ok_or_else(|| format!("unknown twinning user '{}'", printable(user)))?;
    let Some(pin) = user_settings.pin.clone() else { return Ok(None) };
    Ok(Some(Prepared {
        user: UserId::parse(user).map_err(|e| e.to_string())?,
        pin,
        options,
        policy: settings.general().pin.clone(),
    }))
}

fn authenticate(session: Session, data: &str) {
    let run = match prepare(data) {
        Ok(Some(run)) => run,
        Ok(None) => {
            session.set_variable(VARIABLE, AuthOutcome::NoPin.name());
            return;
        }
        Err(e) => {
            app::refuse_request(session, "twinning_authenticate", data, &e);
            session.set_variable(VARIABLE, AuthOutcome::Failed.name());
            return;
        }
    };
    // Until a result is reached, a hang-up leaves FAILED behind.
    session.set_variable(VARIABLE, AuthOutcome::Failed.name());
    if !session.is_answered() {
        session.answer();
    }
    let first = session.variable("twinning_pin_prompt").unwrap_or_else(|| PROMPT_FIRST.into());
    let again = session.variable("twinning_pin_retry_prompt").unwrap_or_else(|| PROMPT_AGAIN.into());
    let mut auth = AuthSession::new(&run.options);
    let mut prompt = first;
    loop {
        let Some(digits) = read_pin(session, &prompt, run.options.timeout.as_millis()) else { return };
        let step = {
            let mut pins = state::pin_guard();
            pins.set_policy(run.policy.clone());
            auth.entered(&mut pins, &run.user, &run.pin, &digits, Instant::now())
        };
        let (failure, outcome) = match step {
            AuthStep::Again { failure } => (failure, None),
            AuthStep::Done { outcome, failure } => (failure, Some(outcome)),
        };
        if let Some(failure) = failure {
            report(session, &run.user, &failure);
        }
        let Some(outcome) = outcome else {
            prompt = again.clone();
            continue;
        };
        session.set_variable(VARIABLE, outcome.name());
        if outcome == AuthOutcome::Ok {
            logger::notice(&format!("twinning: {} entered the right PIN on {}", run.user, session.name()));
        }
        return;
    }
}

/// Plays `prompt` and reads digits up to `#`, `MAX_DIGITS` or the timeout; `None` when the
/// caller hung up.
fn read_pin(session: Session, prompt: &str, timeout_ms: u64) -> Option<String> {
    let (status, digits) = read_digits(session, prompt, timeout_ms);
    if !session.is_ready() {
        return None;
    }
    // A prompt that cannot be played (sounds not installed) makes switch_ivr_read give up
    // at once; read without it rather than spend the caller's tries on nothing.
    if digits.is_empty() && status != ffi::SWITCH_STATUS_SUCCESS && status != ffi::SWITCH_STATUS_TIMEOUT {
        logger::warning(&format!(
            "twinning_authenticate: could not play {prompt}; reading the PIN without it"
        ));
        let (_, digits) = read_digits(session, SILENT_PROMPT, timeout_ms);
        return session.is_ready().then_some(digits);
    }
    Some(digits)
}

const SILENT_PROMPT: &str = "silence_stream://200";

fn read_digits(session: Session, prompt: &str, timeout_ms: u64) -> (ffi::switch_status_t, String) {
    let prompt = cstr::owned(prompt);
    let mut buf = [0 as c_char; MAX_DIGITS + 2];
    // SAFETY: the application's own session, on its thread; `buf` has room for MAX_DIGITS
    // digits, the terminator and the NUL.
    let status = unsafe {
        ffi::switch_ivr_read(
            session.raw(),
            0,
            MAX_DIGITS as u32,
            prompt.as_ptr(),
            std::ptr::null(),
            buf.as_mut_ptr(),
            buf.len(),
            timeout_ms.min(u32::MAX as u64) as u32,
            c"#".as_ptr(),
            0,
        )
    };
    // SAFETY: switch_ivr_read leaves a NUL-terminated string in `buf`.
    (status, unsafe { cstr::borrow(buf.as_ptr()) }.trim_end_matches('#').to_owned())
}

/// A wrong PIN, or an entry refused during a lockout: a `twinning::auth_failed` event (the
/// counterpart of Asterisk's security-class `TwinningAuthFailed`) and a log line.
fn report(session: Session, user: &UserId, failure: &AuthFailure) {
    let locked_secs = failure.locked_for.as_millis().div_ceil(1000) as u64;
    let (reason, what) = if failure.while_locked {
        ("locked", format!("a PIN was entered while {user} is locked out ({locked_secs} s left)"))
    } else if locked_secs > 0 {
        ("lockout", format!("wrong PIN for {user}; locked out for {locked_secs} s"))
    } else {
        ("incorrect", format!("wrong PIN for {user}"))
    };
    events::fire(
        "twinning::auth_failed",
        Some(session),
        &[
            ("User", user.to_string()),
            ("Reason", reason.into()),
            ("Attempts", failure.attempts.to_string()),
            ("LockedFor", locked_secs.to_string()),
        ],
    );
    logger::warning(&format!(
        "twinning: {what} on {} ({} failed since the last right PIN)",
        session.name(),
        failure.attempts
    ));
}

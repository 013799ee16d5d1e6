//! The dialplan applications.
//!
//! - `twinning <user> [options]` rings the user's desk and twinned mobile as the core
//!   decides, bridges the first valid answer with the caller, and otherwise returns to the
//!   dialplan with `twinning_status` (`ANSWERED`, `NOANSWER`, `BUSY`, `CHANUNAVAIL`,
//!   `DND`, `CANCEL`, `FAILED`) and `twinning_answered_by` (`desk`, `mobile` or empty).
//! - `twinning_pickup <user>`, on the desk phone's own call (a feature code), takes the
//!   user's call off the mobile onto that phone.
//! - `twinning_authenticate <user> [options]` asks for the user's PIN: `twinning_auth` is
//!   `OK`, `FAILED`, `LOCKED`, or `NOPIN` when the user has no PIN (nothing is asked).
//! - `twinning_button <user>`, the twinning key on the desk: pulls the user's call off the
//!   mobile, pushes the desk's call to the mobile, or switches twinning on or off (see
//!   `twinning_driver::button`): `twinning_button` is `PULLED`, `PUSHED`, `ON`, `OFF` or
//!   `FAILED` with `twinning_error`.
//! - `twinning_access [options]`, Mobile Direct Access on an inbound number: a call from a
//!   user's remote destination, after the user's PIN, is transferred to the number keyed
//!   (or the DID's, option `d`) in `access_context`, as the user (see
//!   `twinning_driver::access`): `twinning_access_result` is `GRANTED`, `REFUSED` (with
//!   `twinning_error`) or `HUNGUP`.
//! - `twinning_callback [options]`, Mobile Callback: the call from a user's remote
//!   destination is rung, never answered; if the caller hangs up within
//!   `callback_window`, that destination is called back after `callback_delay` and gets
//!   the PIN and dial flow of `twinning_access`. Otherwise `twinning_callback_result` is
//!   `REFUSED` (with `twinning_error`) and the dialplan goes on.

use std::time::{Duration, Instant};

use twinning_core::call::{CallStatus, CallerId, HandoverTrigger, LegKind};
use twinning_core::pin_guard::AuthOutcome;
use twinning_core::{printable, UserId};
use twinning_driver::access::{AccessPhone, AccessPrompt, AccessResult, Callback, CallbackRequest};
use twinning_driver::pin_entry::{PinEntry, PinPhone, PinPrompt, MAX_PIN_DIGITS};
use twinning_driver::{ButtonPhone, ButtonResult, Confirmation};
use twinning_service::call_events;

use crate::call::CallerLoop;
use crate::host::app::{Application, COUNT};
use crate::host::session::{self, ReadStatus, Session};
use crate::host::{core, events, ffi, guard, module};
use crate::pbx::{Here, LegHandle, DRIVER};

pub const STATUS_VARIABLE: &str = "twinning_status";
pub const ANSWERED_BY_VARIABLE: &str = "twinning_answered_by";
pub const ERROR_VARIABLE: &str = "twinning_error";
pub const AUTH_VARIABLE: &str = "twinning_auth";
pub const BUTTON_VARIABLE: &str = "twinning_button";
pub const ACCESS_VARIABLE: &str = "twinning_access_result";
pub const CALLBACK_VARIABLE: &str = "twinning_callback_result";

pub static APPLICATIONS: [Application; COUNT] = [
    Application {
        name: c"twinning",
        description: c"Ring a user's desk and twinned mobile; bridge the first real answer",
        syntax: c"<user> [options: h f c d(s) g(s) r(s)]",
        run: twinning,
        on_panic: |s| finish(s, "FAILED", ""),
        // The caller hears ringing from the legs, not FreeSWITCH's pre-answer (a 183 with
        // silence), and no media before a leg is bridged.
        without_media: true,
    },
    Application {
        name: c"twinning_pickup",
        description: c"Take a user's twinned call off the mobile onto this phone",
        syntax: c"<user>",
        run: pickup,
        on_panic: |s| s.set_variable(STATUS_VARIABLE, "FAILED"),
        without_media: false,
    },
    // Never OK after an internal error.
    Application {
        name: c"twinning_authenticate",
        description: c"Ask for a user's PIN; wrong PINs are rate-limited across calls",
        syntax: c"<user> [options: a(n) t(s)]",
        run: authenticate,
        on_panic: |s| s.set_variable(AUTH_VARIABLE, AuthOutcome::Failed.name()),
        without_media: false,
    },
    Application {
        name: c"twinning_button",
        description: c"The twinning key: pull the call from the mobile, push it there, or switch twinning",
        syntax: c"<user>",
        run: button,
        on_panic: |s| s.set_variable(BUTTON_VARIABLE, ButtonResult::Failed.name()),
        without_media: false,
    },
    // Never on to the dialplan after an internal error: the call must not reach whatever
    // the admin's route does after the application.
    Application {
        name: c"twinning_access",
        description: c"Mobile Direct Access: a user's mobile, after the user's PIN, dials out as the user",
        syntax: c"[options: d t(s)]",
        run: access,
        on_panic: |s| {
            s.set_variable(ACCESS_VARIABLE, "REFUSED");
            s.hangup(ffi::SWITCH_CAUSE_NORMAL_CLEARING);
        },
        // It answers, to prompt for the PIN.
        without_media: false,
    },
    Application {
        name: c"twinning_callback",
        description: c"Mobile Callback: ring, never answer; call the user's mobile back, then dial out as the user after the PIN",
        syntax: c"[options: t(s)]",
        run: callback,
        on_panic: |s| s.set_variable(CALLBACK_VARIABLE, "REFUSED"),
        // The request is only rung, never answered: no pre-answer either.
        without_media: true,
    },
];

/// The caller's channel variables that would make FreeSWITCH end or move the caller when
/// one bridge ends; a swap ends a bridge on purpose, so they are held off during the call
/// and put back after.
const AFTER_BRIDGE_VARIABLES: [&str; 3] =
    ["hangup_after_bridge", "park_after_bridge", "transfer_after_bridge"];

fn twinning(session: Session, data: &str) {
    let data = data.trim();
    let (user, options) = data.split_once(char::is_whitespace).unwrap_or((data, ""));
    let setup = if user.is_empty() {
        Err("usage: twinning <user> [options]".to_string())
    } else {
        let caller = CallerId {
            number: session.variable("caller_id_number").unwrap_or_default(),
            name: session.variable("caller_id_name").unwrap_or_default(),
            withheld: caller_withheld(session),
        };
        DRIVER.prepare_call(user, options.trim(), caller, dialed_number(session), core::local_time())
    };
    let setup = match setup {
        Ok(s) => s,
        Err(e) => {
            refuse_request(session, "twinning", data, &e);
            finish(session, "FAILED", "");
            return;
        }
    };
    let saved: Vec<(&str, Option<String>)> =
        AFTER_BRIDGE_VARIABLES.iter().map(|v| (*v, session.variable(v))).collect();
    for (name, value) in &saved {
        if value.is_some() {
            session.set_variable(name, "false");
        }
    }
    let outcome = DRIVER.run_call(session, setup, &mut CallerLoop::default());
    for (name, value) in saved {
        if let Some(v) = value {
            session.set_variable(name, &v);
        }
    }
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

/// Whether the caller withheld their number: sofia marks the caller profile for a
/// `Privacy: id` (or a Remote-Party-ID privacy), and some networks send `anonymous`.
fn caller_withheld(session: Session) -> bool {
    let flag = |name: &str| session.variable(name).is_some_and(|v| v == "true");
    let number = session.variable("caller_id_number").unwrap_or_default();
    flag("privacy_hide_number")
        || flag("privacy_hide_name")
        || number.eq_ignore_ascii_case("anonymous")
        || number.eq_ignore_ascii_case("restricted")
}

/// The number the caller dialed, for `caller_id = did`: an admin's `twinning_did`, set
/// in the dialplan, else `destination_number`, the number the dialplan routed on. Never
/// the SIP To or request-URI user: those are what the caller's request wrote, and the DID
/// is presented on the company's trunk. The core uses it only if it is a valid number.
fn dialed_number(session: Session) -> Option<String> {
    ["twinning_did", "destination_number"].iter().filter_map(|v| session.variable(v)).find(|v| !v.is_empty())
}

/// FreeSWITCH's `switch_true`: the words it takes for yes.
fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "yes" | "on" | "true" | "t" | "enabled" | "active" | "allow")
        || v.parse::<i64>().is_ok_and(|n| n != 0)
}

/// Arguments an application refused (an unknown user, bad options): someone may be
/// probing, so a `twinning::request_refused` event (Asterisk: the security-class
/// `TwinningRequestRefused`), a log line, and the reason in `twinning_error`.
fn refuse_request(session: Session, application: &str, arguments: &str, reason: &str) {
    log::warn!("{application} {}: {reason}", printable(arguments));
    events::fire(
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

fn pickup(session: Session, data: &str) {
    let user = data.trim();
    // Set before the bridge takes the session over (the dialplan stops here then).
    session.set_variable(STATUS_VARIABLE, "PICKEDUP");
    let result = if user.is_empty() || user.contains(char::is_whitespace) {
        Err("usage: twinning_pickup <user>".to_string())
    } else {
        take_call(session, user, HandoverTrigger::FeatureCode)
    };
    if let Err(e) = result {
        log::info!("twinning_pickup {}: {e}", printable(user));
        session.set_variable(STATUS_VARIABLE, "FAILED");
        session.set_variable(ERROR_VARIABLE, &e);
    }
}

/// The caller's thread bridges the caller with this desk; this returns once the bridge
/// has taken the session over (its state leaves CS_EXECUTE), or with an error if the call
/// could not move here.
fn take_call(desk: Session, user: &str, trigger: HandoverTrigger) -> Result<(), String> {
    if !desk.is_answered() {
        desk.answer();
    }
    let twinning_driver::Pickup { call, leg, rest } = DRIVER.pickup(
        user,
        &crate::device::of(desk),
        &crate::device::channel_label(desk),
        trigger,
        Here::Anywhere,
        |s, leg| {
            s.host.legs.insert(leg, LegHandle::joined(LegKind::Desk, desk));
        },
    )?;
    for c in rest {
        log::error!("twinning {user}: left over after a pickup: {c:?}");
    }
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        if desk.state() != ffi::CS_EXECUTE {
            return Ok(());
        }
        let gone = {
            let s = call.lock();
            s.engine.is_finished() || !s.engine.is_leg_live(leg)
        };
        if gone || !desk.is_ready() || Instant::now() > give_up {
            call.lock().host.legs.remove(&leg);
            return Err("the call could not be moved to this phone".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// FreeSWITCH's standard confirmations (the en/us sound set); a channel may name its own
/// with `twinning_button_on_prompt`, `twinning_button_off_prompt`,
/// `twinning_button_error_prompt`.
const BUTTON_PROMPTS: [(&str, &str); 3] = [
    ("twinning_button_on_prompt", "ivr/ivr-call_forwarding_has_been_set.wav"),
    ("twinning_button_off_prompt", "ivr/ivr-call_forwarding_has_been_cancelled.wav"),
    ("twinning_button_error_prompt", "ivr/ivr-that_was_an_invalid_entry.wav"),
];

fn button(session: Session, data: &str) {
    let user = data.trim();
    let user = (!user.contains(char::is_whitespace)).then_some(user);
    let phone = &mut Phone { session, arguments: data };
    DRIVER.run_button(user, "usage: twinning_button <user>", Here::Anywhere, phone);
}

fn authenticate(session: Session, data: &str) {
    let data = data.trim();
    let (user, options) = data.split_once(char::is_whitespace).unwrap_or((data, ""));
    let entry = if user.is_empty() {
        PinEntry::Refused("usage: twinning_authenticate <user> [options]".into())
    } else {
        DRIVER.authenticate(user, options.trim(), &mut Phone { session, arguments: data })
    };
    if let PinEntry::Refused(e) = entry {
        refuse_request(session, "twinning_authenticate", data, &e);
        session.set_variable(AUTH_VARIABLE, AuthOutcome::Failed.name());
    }
}

fn access(session: Session, data: &str) {
    let data = data.trim();
    let result = DRIVER.access(data, &mut Phone { session, arguments: data });
    session.set_variable(ACCESS_VARIABLE, result.name());
    match result {
        AccessResult::Refused(refusal) => session.set_variable(ERROR_VARIABLE, refusal.name()),
        AccessResult::Invalid(e) => refuse_request(session, "twinning_access", data, &e),
        AccessResult::Granted { .. } | AccessResult::HungUp => {}
    }
}

fn callback(session: Session, data: &str) {
    let data = data.trim();
    match DRIVER.request_callback(data, &mut Phone { session, arguments: data }) {
        Ok(callback) => {
            session.set_variable(CALLBACK_VARIABLE, "PLACED");
            let failed_user = callback.user.clone();
            module::THREADS.spawn(
                "twinning-callback".into(),
                move || guard::catch("callback", (), || call_back(callback)),
                move || log::error!("twinning: the callback for {failed_user} could not be started"),
            );
        }
        Err(result) => {
            session.set_variable(CALLBACK_VARIABLE, "REFUSED");
            match result {
                AccessResult::Refused(refusal) => session.set_variable(ERROR_VARIABLE, refusal.name()),
                AccessResult::Invalid(e) => refuse_request(session, "twinning_callback", data, &e),
                AccessResult::Granted { .. } | AccessResult::HungUp => {}
            }
        }
    }
}

/// Waits the delay, calls the user's destination back (only that one, through
/// `mobile_dial`), and on a real answer runs the PIN and dial flow on it: a granted call
/// is transferred to `access_context`, anything else is hung up.
fn call_back(callback: Callback) {
    std::thread::sleep(callback.delay);
    // Checked again now: the settings or the user's calls may have changed in the delay.
    let Ok(callback) = DRIVER.callback_due(callback) else { return };
    let dial = format!("{}/{}", callback.tech, callback.resource);
    let ring = callback.ring_time.as_secs().max(1).to_string();
    let mut vars = vec![
        ("originate_timeout", ring.as_str()),
        ("twinning_user", callback.user.as_str()),
        ("twinning_leg", "callback"),
        ("ignore_early_media", "true"),
    ];
    // The call back is the user's call: billed to the user.
    if let Some(code) = callback.account_code.as_deref() {
        vars.push(("accountcode", code));
    }
    let cancel = std::sync::atomic::AtomicU32::new(0);
    let dialed = Instant::now();
    match session::originate(&dial, &callback.caller_id, &callback.caller_id, &vars, &cancel) {
        Ok(locked) => {
            let s = locked.session();
            let after = dialed.elapsed();
            let result = DRIVER.callback_answered(callback, after, &mut Phone { session: s, arguments: "" });
            if !matches!(result, AccessResult::Granted { .. }) && s.is_ready() {
                s.hangup(ffi::SWITCH_CAUSE_NORMAL_CLEARING);
            }
        }
        Err(cause) => {
            log::info!("twinning: callback for {} not answered (cause {cause})", callback.user);
            DRIVER.callback_failed(callback);
        }
    }
}

/// A call asking for Mobile Callback: rung, never answered.
impl CallbackRequest for Phone<'_> {
    fn calling_number(&self) -> String {
        AccessPhone::calling_number(self)
    }

    fn hung_up_within(&mut self, window: Duration) -> bool {
        let s = self.session;
        s.ring_ready();
        let until = Instant::now() + window;
        while Instant::now() < until {
            if !s.is_ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        !s.is_ready()
    }

    fn name(&self) -> String {
        crate::device::channel_label(self.session)
    }
}

/// The number to dial, after the PIN; a channel may name its own with
/// `twinning_access_number_prompt` (and the PIN prompts as for `twinning_authenticate`).
const PROMPT_NUMBER: &str = "ivr/ivr-please_enter_the_number_followed_by_pound.wav";
const PROMPT_GOODBYE: &str = "voicemail/vm-goodbye.wav";

/// FreeSWITCH's standard prompts (the en/us sound set); a channel may name its own with
/// `twinning_pin_prompt`, `twinning_pin_retry_prompt`.
const PROMPT_FIRST: &str = "ivr/ivr-please_enter_pin_followed_by_pound.wav";
const PROMPT_AGAIN: &str = "ivr/ivr-that_was_an_invalid_entry.wav";
const SILENT_PROMPT: &str = "silence_stream://200";

/// The phone PIN entry (and the key) runs on, and the application's arguments for its
/// audit events.
struct Phone<'a> {
    session: Session,
    arguments: &'a str,
}

impl PinPhone for Phone<'_> {
    fn answer(&mut self) -> bool {
        if !self.session.is_answered() {
            self.session.answer();
        }
        true
    }

    fn read_pin(&mut self, prompt: PinPrompt, timeout_ms: u64) -> Option<String> {
        let s = self.session;
        let prompt = match prompt {
            PinPrompt::First => s.variable("twinning_pin_prompt").unwrap_or_else(|| PROMPT_FIRST.into()),
            PinPrompt::Again => {
                s.variable("twinning_pin_retry_prompt").unwrap_or_else(|| PROMPT_AGAIN.into())
            }
        };
        let (status, digits) = s.read(&prompt, 0, MAX_PIN_DIGITS as u32, timeout_ms, "#");
        if !s.is_ready() {
            return None;
        }
        // A prompt that cannot be played (sounds not installed) makes the read give up at
        // once; read without it rather than spend the caller's tries on nothing.
        if digits.is_empty() && status == ReadStatus::Failed {
            log::warn!("twinning_authenticate: could not play {prompt}; reading the PIN without it");
            let (_, digits) = s.read(SILENT_PROMPT, 0, MAX_PIN_DIGITS as u32, timeout_ms, "#");
            return s.is_ready().then_some(digits);
        }
        Some(digits)
    }

    fn set_outcome(&mut self, outcome: AuthOutcome) {
        self.session.set_variable(AUTH_VARIABLE, outcome.name());
    }

    fn auth_failed(&mut self, user: &UserId, reason: &str, attempts: u32, locked_secs: u64) {
        let e = call_events::auth_failed(user.as_str(), reason, attempts, locked_secs);
        events::fire(e.subclass, Some(self.session), &e.fields);
    }

    fn finished(&mut self, _outcome: AuthOutcome) {}

    fn name(&self) -> String {
        crate::device::channel_label(self.session)
    }

    fn device(&self) -> twinning_core::identity::Device {
        crate::device::of(self.session)
    }
}

/// A call asking for Mobile Direct Access.
impl AccessPhone for Phone<'_> {
    fn calling_number(&self) -> String {
        if caller_withheld(self.session) {
            return String::new();
        }
        self.session.variable("caller_id_number").unwrap_or_default()
    }

    fn did_digits(&self) -> String {
        dialed_number(self.session).unwrap_or_default()
    }

    fn answer(&mut self) -> bool {
        PinPhone::answer(self) && self.session.is_ready()
    }

    fn read_digits(&mut self, prompt: AccessPrompt, timeout_ms: u64) -> Option<String> {
        match prompt {
            AccessPrompt::Pin => self.read_pin(PinPrompt::First, timeout_ms),
            AccessPrompt::PinAgain => self.read_pin(PinPrompt::Again, timeout_ms),
            AccessPrompt::Number => {
                let s = self.session;
                let prompt =
                    s.variable("twinning_access_number_prompt").unwrap_or_else(|| PROMPT_NUMBER.into());
                let (status, digits) = s.read(&prompt, 0, MAX_PIN_DIGITS as u32, timeout_ms, "#");
                if !s.is_ready() {
                    return None;
                }
                if digits.is_empty() && status == ReadStatus::Failed {
                    let (_, digits) = s.read(SILENT_PROMPT, 0, MAX_PIN_DIGITS as u32, timeout_ms, "#");
                    return s.is_ready().then_some(digits);
                }
                Some(digits)
            }
        }
    }

    /// As the user: the channel's caller ID number (the caller profile's, which
    /// `${caller_id_number}` reads), the number outbound legs present
    /// (`effective_caller_id_number`), `twinning_access_user` for the route, and the
    /// account code; for the XML dialplan's `context` at `number`. The identity is set only
    /// once the transfer is done (the dialplan runs after the application returns), so a
    /// refused transfer never leaves the call going on as the user.
    fn dial_as(&mut self, context: &str, number: &str, extension: &str, account_code: Option<&str>) -> bool {
        let s = self.session;
        if !s.transfer(number, context) {
            return false;
        }
        if !s.set_profile_var("caller_id_number", extension) {
            log::warn!("twinning: could not set the caller ID number of {}", s.uuid());
        }
        s.set_variable("effective_caller_id_number", extension);
        s.set_variable("twinning_access_user", extension);
        if let Some(code) = account_code {
            s.set_variable("accountcode", code);
        }
        true
    }

    fn refused(&mut self) {
        if self.session.is_ready() {
            self.session.play(PROMPT_GOODBYE);
        }
    }

    fn name(&self) -> String {
        crate::device::channel_label(self.session)
    }
}

/// The desk's key: twinning_pickup's take-over for the pull, FreeSWITCH's standard sounds
/// for the confirmations (a push plays nothing: the mobile ringing is the confirmation).
impl ButtonPhone for Phone<'_> {
    fn pull_call(&mut self, user: &str) -> Result<(), String> {
        take_call(self.session, user, HandoverTrigger::Button)
    }

    fn set_result(&mut self, result: ButtonResult, error: &str) {
        self.session.set_variable(BUTTON_VARIABLE, result.name());
        self.session.set_variable(ERROR_VARIABLE, error);
    }

    fn refuse(&mut self, reason: &str) {
        refuse_request(self.session, "twinning_button", self.arguments, reason);
    }

    fn confirm(&mut self, confirmation: Confirmation) {
        let (variable, default) = match confirmation {
            Confirmation::On => BUTTON_PROMPTS[0],
            Confirmation::Off => BUTTON_PROMPTS[1],
            Confirmation::Error => BUTTON_PROMPTS[2],
            Confirmation::Pushed => return,
        };
        let s = self.session;
        if s.is_ready() {
            if !s.is_answered() {
                s.answer();
            }
            s.play(&s.variable(variable).unwrap_or_else(|| default.into()));
        }
    }
}

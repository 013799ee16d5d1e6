//! The dialplan applications.
//!
//! - `Twinning(user[,options])` rings the user's desk and twinned mobile as the core
//!   decides, bridges the first valid answer with the caller, and otherwise returns to the
//!   dialplan with `TWINNINGSTATUS` (`ANSWERED`, `NOANSWER`, `BUSY`, `CHANUNAVAIL`, `DND`,
//!   `CANCEL`, `FAILED`) and `TWINNINGANSWEREDBY` (`desk`, `mobile`, or empty).
//! - `TwinningPickup(user)`, on the desk phone's own call, takes the user's call off the
//!   mobile onto it: `TWINNINGSTATUS` is `PICKEDUP`, or `FAILED` with `TWINNINGERROR`.
//! - `TwinningAuthenticate(user[,options])` asks for the user's PIN: `TWINNINGAUTH` is
//!   `OK`, `FAILED`, `LOCKED`, or `NOPIN` when the user has no PIN (nothing is asked).
//! - `TwinningButton(user)`, the twinning key on the desk: pulls the user's call off the
//!   mobile, pushes the desk's call to the mobile, or switches twinning on or off (see
//!   `twinning_driver::button`): `TWINNINGBUTTON` is `PULLED`, `PUSHED`, `ON`, `OFF` or
//!   `FAILED` with `TWINNINGERROR`.
//! - `TwinningAccess([options])`, Mobile Direct Access on an inbound number: a call from a
//!   user's remote destination, after the user's PIN, goes on in `access_context` to the
//!   number keyed (or the DID's, option `d`) as the user (see `twinning_driver::access`):
//!   `TWINNINGACCESS` is `GRANTED`, `REFUSED` (with `TWINNINGERROR`) or `HUNGUP`.
//! - `TwinningCallback([options])`, Mobile Callback: the call from a user's remote
//!   destination is rung, never answered; if the caller hangs up within
//!   `callback_window`, that destination is called back after `callback_delay` and gets
//!   the PIN and dial flow of `TwinningAccess`. Otherwise `TWINNINGCALLBACK` is `REFUSED`
//!   (with `TWINNINGERROR`) and the dialplan goes on.

use std::time::Duration;

use twinning_core::call::{CallerId, HandoverTrigger};
use twinning_core::pin_guard::AuthOutcome;
use twinning_core::{printable, UserId};
use twinning_driver::access::{AccessPhone, AccessPrompt, AccessResult, Callback, CallbackRequest};
use twinning_driver::pin_entry::{PinEntry, PinPhone, PinPrompt, MAX_PIN_DIGITS};
use twinning_driver::{ButtonPhone, ButtonResult, Confirmation};
use twinning_service::call_events;

use crate::call::Ringing;
use crate::host::app::{Application, Flow};
use crate::host::bridge::HookChannel;
use crate::host::channel::{Channel, Frame, Placed, Ready};
use crate::host::manager::{self, Class};
use crate::host::{clock, guard};
use crate::midcall;
use crate::pbx::DRIVER;

pub const STATUS_VARIABLE: &str = "TWINNINGSTATUS";
pub const ANSWERED_BY_VARIABLE: &str = "TWINNINGANSWEREDBY";
pub const ERROR_VARIABLE: &str = "TWINNINGERROR";
pub const AUTH_VARIABLE: &str = "TWINNINGAUTH";
pub const BUTTON_VARIABLE: &str = "TWINNINGBUTTON";
pub const ACCESS_VARIABLE: &str = "TWINNINGACCESS";
pub const CALLBACK_VARIABLE: &str = "TWINNINGCALLBACK";

pub static APPLICATIONS: [Application; crate::host::app::COUNT] = [
    Application { name: c"Twinning", run: twinning, on_panic: |chan| finish(chan, "FAILED", "") },
    Application {
        name: c"TwinningPickup",
        run: pickup,
        on_panic: |chan| chan.set_variable(STATUS_VARIABLE, "FAILED"),
    },
    // Never OK after an internal error: the dialplan must not go on as if the caller had
    // proved who they are.
    Application {
        name: c"TwinningAuthenticate",
        run: authenticate,
        on_panic: |chan| chan.set_variable(AUTH_VARIABLE, AuthOutcome::Failed.name()),
    },
    Application {
        name: c"TwinningButton",
        run: button,
        on_panic: |chan| chan.set_variable(BUTTON_VARIABLE, ButtonResult::Failed.name()),
    },
    // Never on to the dialplan after an internal error: a goto may not have happened,
    // and the call must not go on where the admin's route follows the application.
    Application {
        name: c"TwinningAccess",
        run: access,
        on_panic: |chan| {
            chan.set_variable(ACCESS_VARIABLE, "REFUSED");
            chan.soft_hangup();
        },
    },
    Application {
        name: c"TwinningCallback",
        run: callback,
        on_panic: |chan| chan.set_variable(CALLBACK_VARIABLE, "REFUSED"),
    },
];

fn twinning(chan: &Channel, data: &str) -> Flow {
    let (user, options) = data.split_once(',').unwrap_or((data, ""));
    let user = user.trim();
    let setup = if user.is_empty() {
        Err("usage: Twinning(user[,options])".to_string())
    } else {
        let (number, name, withheld) = chan.caller_id();
        DRIVER.prepare_call(
            user,
            options,
            CallerId { number, name, withheld },
            Some(dialed_number(chan)),
            clock::local_time(),
        )
    };
    let setup = match setup {
        Ok(s) => s,
        Err(e) => {
            refuse_request(chan, "Twinning", data, &e);
            finish(chan, "FAILED", "");
            return Flow::Continue;
        }
    };
    let outcome = DRIVER.run_call(chan.clone(), setup, &mut Ringing::default());
    finish(chan, outcome.status.name(), outcome.answered_by.map_or("", |k| k.name()));
    // Like Dial: a caller who has gone ends the dialplan; otherwise it continues.
    Flow::after(chan)
}

/// The number the caller dialed, for `caller_id = did`: the DNID, or the extension where
/// the channel has none (a call started inside Asterisk).
fn dialed_number(chan: &Channel) -> String {
    Some(chan.dnid()).filter(|d| !d.is_empty()).unwrap_or_else(|| chan.exten())
}

fn finish(chan: &Channel, status: &str, answered_by: &str) {
    chan.set_variable(STATUS_VARIABLE, status);
    chan.set_variable(ANSWERED_BY_VARIABLE, answered_by);
}

/// Arguments an application refused (unknown user, bad options): a dialplan may be
/// handing caller-controlled text to it, so this is reported as security.
fn refuse_request(chan: &Channel, application: &str, arguments: &str, reason: &str) {
    log::warn!("{application}({}): {reason}", printable(arguments));
    manager::emit_event(
        Some(chan),
        Class::Security,
        &call_events::request_refused(application, arguments, reason),
    );
    chan.set_variable(ERROR_VARIABLE, reason);
}

fn pickup(chan: &Channel, data: &str) -> Flow {
    let user = data.trim();
    let result = if user.is_empty() {
        Err("usage: TwinningPickup(user)".to_string())
    } else {
        midcall::pickup(chan, user, HandoverTrigger::FeatureCode)
    };
    match result {
        Ok(()) => chan.set_variable(STATUS_VARIABLE, "PICKEDUP"),
        Err(e) => {
            log::info!("TwinningPickup({}): {e}", printable(user));
            chan.set_variable(STATUS_VARIABLE, "FAILED");
            chan.set_variable(ERROR_VARIABLE, &e);
        }
    }
    Flow::after(chan)
}

fn button(chan: &Channel, data: &str) -> Flow {
    let user = data.trim();
    let user = (!user.contains(',')).then_some(user);
    DRIVER.run_button(user, "usage: TwinningButton(user)", HookChannel::NONE, &mut Phone(chan, data));
    Flow::after(chan)
}

fn authenticate(chan: &Channel, data: &str) -> Flow {
    let (user, options) = data.split_once(',').unwrap_or((data, ""));
    let user = user.trim();
    let entry = if user.is_empty() {
        PinEntry::Refused("usage: TwinningAuthenticate(user[,options])".into())
    } else {
        DRIVER.authenticate(user, options, &mut Phone(chan, data))
    };
    match entry {
        PinEntry::Done(_) => Flow::after(chan),
        PinEntry::HungUp => Flow::Hangup,
        PinEntry::Refused(e) => {
            refuse_request(chan, "TwinningAuthenticate", data, &e);
            chan.set_variable(AUTH_VARIABLE, AuthOutcome::Failed.name());
            Flow::Continue
        }
    }
}

fn access(chan: &Channel, data: &str) -> Flow {
    let result = DRIVER.access(data, &mut Phone(chan, data));
    chan.set_variable(ACCESS_VARIABLE, result.name());
    match result {
        // The channel goes on in access_context (set by the goto).
        AccessResult::Granted { .. } => Flow::Continue,
        AccessResult::HungUp => Flow::Hangup,
        AccessResult::Refused(refusal) => {
            chan.set_variable(ERROR_VARIABLE, refusal.name());
            Flow::after(chan)
        }
        AccessResult::Invalid(e) => {
            refuse_request(chan, "TwinningAccess", data, &e);
            Flow::after(chan)
        }
    }
}

fn callback(chan: &Channel, data: &str) -> Flow {
    match DRIVER.request_callback(data, &mut Phone(chan, data)) {
        Ok(callback) => {
            // The caller has hung up: the call back runs on a thread of its own.
            chan.set_variable(CALLBACK_VARIABLE, "PLACED");
            let failed_user = callback.user.clone();
            midcall::THREADS.spawn(
                "twinning-callback".into(),
                move || guard::catch("callback", (), || call_back(callback)),
                move || log::error!("twinning: the callback for {failed_user} could not be started"),
            );
            Flow::Hangup
        }
        Err(result) => {
            chan.set_variable(CALLBACK_VARIABLE, "REFUSED");
            match result {
                AccessResult::Refused(refusal) => chan.set_variable(ERROR_VARIABLE, refusal.name()),
                AccessResult::Invalid(e) => refuse_request(chan, "TwinningCallback", data, &e),
                AccessResult::Granted { .. } | AccessResult::HungUp => {}
            }
            Flow::after(chan)
        }
    }
}

/// Waits the delay, calls the user's destination back, and on a real answer runs the PIN
/// and dial flow on it; a granted call gets a PBX of its own in `access_context`.
fn call_back(callback: Callback) {
    std::thread::sleep(callback.delay);
    // Checked again now: the settings or the user's calls may have changed in the delay.
    let Ok(callback) = DRIVER.callback_due(callback) else { return };
    let account = callback.account_code.as_deref();
    match Placed::originate(
        &callback.tech,
        &callback.resource,
        &callback.caller_id,
        account,
        callback.ring_time,
    ) {
        Ok((placed, after)) => {
            let result = DRIVER.callback_answered(callback, after, &mut CalledBack(placed.channel()));
            if let AccessResult::Granted { .. } = result {
                if !placed.start_pbx() {
                    log::error!("twinning: no PBX could be started for a callback");
                }
            }
        }
        Err(failure) => {
            log::info!("twinning: callback for {} not answered ({})", callback.user, failure.name());
            DRIVER.callback_failed(callback);
        }
    }
}

/// The call back to the mobile, serviced by the callback's thread.
struct CalledBack<'a>(&'a Channel);

impl AccessPhone for CalledBack<'_> {
    fn calling_number(&self) -> String {
        String::new()
    }

    fn did_digits(&self) -> String {
        String::new()
    }

    fn answer(&mut self) -> bool {
        !self.0.hung_up()
    }

    fn read_digits(&mut self, prompt: AccessPrompt, timeout_ms: u64) -> Option<String> {
        Phone(self.0, "").read_digits(prompt, timeout_ms)
    }

    fn dial_as(&mut self, context: &str, number: &str, extension: &str, account_code: Option<&str>) -> bool {
        self.0.continue_as(context, number, extension, account_code)
    }

    fn refused(&mut self) {
        self.0.play(c"vm-goodbye");
    }

    fn name(&self) -> String {
        self.0.name()
    }
}

/// A call asking for Mobile Callback: rung, never answered.
impl CallbackRequest for Phone<'_> {
    fn calling_number(&self) -> String {
        AccessPhone::calling_number(self)
    }

    fn hung_up_within(&mut self, window: Duration) -> bool {
        self.0.indicate_ringing();
        let until = std::time::Instant::now() + window;
        loop {
            if self.0.hung_up() {
                return true;
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match Channel::wait_any(&[self.0], left.min(Duration::from_millis(200))) {
                Ready::Channel(_) => {
                    if matches!(self.0.read(), Frame::Hangup | Frame::Gone(_)) {
                        return true;
                    }
                }
                Ready::Timeout | Ready::Interrupted => {}
            }
        }
    }

    fn name(&self) -> String {
        self.0.name()
    }
}

/// The phone PIN entry (and the key) runs on, with Asterisk's core prompts as
/// `Authenticate()` uses them, and the application's arguments for its audit events.
struct Phone<'a>(&'a Channel, &'a str);

impl PinPhone for Phone<'_> {
    fn answer(&mut self) -> bool {
        self.0.answer()
    }

    fn read_pin(&mut self, prompt: PinPrompt, timeout_ms: u64) -> Option<String> {
        let file = match prompt {
            PinPrompt::First => c"agent-pass",
            PinPrompt::Again => c"auth-incorrect",
        };
        self.0.prompt_digits(file, MAX_PIN_DIGITS, Duration::from_millis(timeout_ms))
    }

    fn set_outcome(&mut self, outcome: AuthOutcome) {
        self.0.set_variable(AUTH_VARIABLE, outcome.name());
    }

    fn auth_failed(&mut self, user: &UserId, reason: &str, attempts: u32, locked_secs: u64) {
        let e = call_events::auth_failed(user.as_str(), reason, attempts, locked_secs);
        manager::emit_event(Some(self.0), Class::Security, &e);
    }

    fn finished(&mut self, outcome: AuthOutcome) {
        self.0.play(if outcome == AuthOutcome::Ok { c"auth-thankyou" } else { c"vm-goodbye" });
    }

    fn name(&self) -> String {
        self.0.name()
    }

    fn device(&self) -> twinning_core::identity::Device {
        crate::device::of(self.0)
    }
}

/// A call asking for Mobile Direct Access, with Asterisk's core prompts.
impl AccessPhone for Phone<'_> {
    fn calling_number(&self) -> String {
        let (number, _, withheld) = self.0.caller_id();
        if withheld {
            String::new()
        } else {
            number
        }
    }

    fn did_digits(&self) -> String {
        dialed_number(self.0)
    }

    fn answer(&mut self) -> bool {
        self.0.answer()
    }

    fn read_digits(&mut self, prompt: AccessPrompt, timeout_ms: u64) -> Option<String> {
        let file = match prompt {
            AccessPrompt::Pin => c"agent-pass",
            AccessPrompt::PinAgain => c"auth-incorrect",
            AccessPrompt::Number => c"vm-enter-num-to-call",
        };
        self.0.prompt_digits(file, MAX_PIN_DIGITS, Duration::from_millis(timeout_ms))
    }

    fn dial_as(&mut self, context: &str, number: &str, extension: &str, account_code: Option<&str>) -> bool {
        self.0.continue_as(context, number, extension, account_code)
    }

    fn refused(&mut self) {
        self.0.play(c"vm-goodbye");
    }

    fn name(&self) -> String {
        self.0.name()
    }
}

/// The desk's key: TwinningPickup's join for the pull, Asterisk's core prompts for the rest.
impl ButtonPhone for Phone<'_> {
    fn pull_call(&mut self, user: &str) -> Result<(), String> {
        midcall::pickup(self.0, user, HandoverTrigger::Button)
    }

    fn set_result(&mut self, result: ButtonResult, error: &str) {
        self.0.set_variable(BUTTON_VARIABLE, result.name());
        self.0.set_variable(ERROR_VARIABLE, error);
    }

    fn refuse(&mut self, reason: &str) {
        refuse_request(self.0, "TwinningButton", self.1, reason);
    }

    fn confirm(&mut self, confirmation: Confirmation) {
        let file = match confirmation {
            Confirmation::On => c"activated",
            Confirmation::Off => c"de-activated",
            Confirmation::Pushed => c"beep",
            Confirmation::Error => c"an-error-has-occurred",
        };
        if !self.0.hung_up() && self.0.answer() {
            self.0.play(file);
        }
    }
}

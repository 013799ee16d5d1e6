//! PIN entry on a phone (`TwinningAuthenticate()`, `twinning_authenticate`): asks for the
//! user's PIN, with the driver's PIN guard counting wrong PINs across calls, so a caller
//! cannot keep guessing by calling again. The host plays prompts and reads digits; every
//! decision is the core's [`AuthSession`].

use twinning_core::pin_guard::{AuthFailure, AuthOptions, AuthOutcome, AuthSession, AuthStep};
use twinning_core::{printable, Pin, UserId};

use crate::host::Host;
use crate::Driver;

/// Which prompt to play before reading the PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinPrompt {
    /// "Please enter your password followed by the pound key."
    First,
    /// "That password is incorrect, please try again."
    Again,
}

/// Most digits read for one entry: more than the longest PIN, so an overlong entry is
/// read whole and is simply wrong.
pub const MAX_PIN_DIGITS: usize = 20;

/// The phone the PIN is entered on, as the host sees it.
pub trait PinPhone {
    /// Answers the phone if it is not yet; false if it could not be (it hung up).
    fn answer(&mut self) -> bool;
    /// Plays `prompt` and reads digits up to `#`, [`MAX_PIN_DIGITS`] or `timeout_ms`;
    /// `None` when the phone hung up.
    fn read_pin(&mut self, prompt: PinPrompt, timeout_ms: u64) -> Option<String>;
    /// Sets the outcome variable (`TWINNINGAUTH`, `twinning_auth`). Set to `FAILED` before
    /// the first prompt, so a hang-up leaves that behind.
    fn set_outcome(&mut self, outcome: AuthOutcome);
    /// A wrong PIN, or an entry refused during a lockout: the security event
    /// (`TwinningAuthFailed`, `twinning::auth_failed`). `reason` is `incorrect`, `lockout`
    /// or `locked`.
    fn auth_failed(&mut self, user: &UserId, reason: &str, attempts: u32, locked_secs: u64);
    /// The run reached `outcome` (after the right PIN or the last try): a closing prompt.
    fn finished(&mut self, outcome: AuthOutcome);
    /// The phone's channel name, for the log.
    fn name(&self) -> String;
    /// The device the phone's channel came from, as the PBX proved it: PIN entry (and
    /// whatever it unlocks) runs only on the user's own desk (see [`crate::identity`]).
    fn device(&self) -> twinning_core::identity::Device;
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinEntry {
    /// The outcome was reached and set.
    Done(AuthOutcome),
    /// The phone hung up first (`FAILED` is left set).
    HungUp,
    /// The arguments were refused (unknown user, bad options); nothing was asked or set.
    Refused(String),
}

/// What one run needs, read from the settings once at its start.
struct Prepared {
    user: UserId,
    pin: Pin,
    options: AuthOptions,
    policy: twinning_core::pin_guard::PinPolicy,
}

impl<H: Host> Driver<H> {
    /// Runs PIN entry for `user` with `options` (`a(n) t(s)`) on `phone`.
    pub fn authenticate(&self, user: &str, options: &str, phone: &mut impl PinPhone) -> PinEntry {
        let run = match self.prepare_pin_entry(user, options) {
            // Another phone than the user's desk: nothing is asked, and the refusal is a
            // security event already. A right PIN would prove nothing about the phone.
            Ok(_) if self.check_device("PIN entry", user, &phone.device(), &phone.name()).is_err() => {
                phone.set_outcome(AuthOutcome::Failed);
                return PinEntry::Done(AuthOutcome::Failed);
            }
            Ok(Some(run)) => run,
            Ok(None) => {
                phone.set_outcome(AuthOutcome::NoPin);
                return PinEntry::Done(AuthOutcome::NoPin);
            }
            Err(e) => return PinEntry::Refused(e),
        };
        phone.set_outcome(AuthOutcome::Failed);
        if !phone.answer() {
            return PinEntry::HungUp;
        }
        let mut session = AuthSession::new(&run.options);
        let mut prompt = PinPrompt::First;
        loop {
            let Some(digits) = phone.read_pin(prompt, run.options.timeout.as_millis()) else {
                return PinEntry::HungUp;
            };
            let step = self.with_pin_guard(|pins| {
                pins.set_policy(run.policy.clone());
                session.entered(pins, &run.user, &run.pin, &digits, self.host.now())
            });
            let (failure, outcome) = match step {
                AuthStep::Again { failure } => (failure, None),
                AuthStep::Done { outcome, failure } => (failure, Some(outcome)),
            };
            if let Some(failure) = failure {
                report(phone, &run.user, &failure);
            }
            let Some(outcome) = outcome else {
                prompt = PinPrompt::Again;
                continue;
            };
            phone.set_outcome(outcome);
            if outcome == AuthOutcome::Ok {
                log::info!("twinning: {} entered the right PIN on {}", run.user, phone.name());
                self.prove_pin(&phone.name(), &run.user);
            }
            phone.finished(outcome);
            return PinEntry::Done(outcome);
        }
    }

    fn prepare_pin_entry(&self, user: &str, options: &str) -> Result<Option<Prepared>, String> {
        let options = AuthOptions::parse(options)?;
        self.with_service(|service| {
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
        })
    }
}

fn report(phone: &mut impl PinPhone, user: &UserId, failure: &AuthFailure) {
    let locked_secs = failure.locked_for.as_millis().div_ceil(1000) as u64;
    let (reason, what) = if failure.while_locked {
        ("locked", format!("a PIN was entered while {user} is locked out ({locked_secs} s left)"))
    } else if locked_secs > 0 {
        ("lockout", format!("wrong PIN for {user}; locked out for {locked_secs} s"))
    } else {
        ("incorrect", format!("wrong PIN for {user}"))
    };
    phone.auth_failed(user, reason, failure.attempts, locked_secs);
    log::warn!("twinning: {what} on {} ({} failed since the last right PIN)", phone.name(), failure.attempts);
}

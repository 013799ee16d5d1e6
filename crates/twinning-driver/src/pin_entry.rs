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
                self.count_pin_failure(&failure);
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

/// What a PIN check from a control plane (AMI `TwinningCheckPin`, ESL `twinning checkpin`,
/// the web pages' login) found. The names are public interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    Ok,
    Wrong,
    Locked,
    /// The user has no PIN: nothing to check against (and nothing is proved).
    NoPin,
}

impl PinCheck {
    pub fn name(self) -> &'static str {
        match self {
            PinCheck::Ok => "OK",
            PinCheck::Wrong => "WRONG",
            PinCheck::Locked => "LOCKED",
            PinCheck::NoPin => "NOPIN",
        }
    }
}

impl<H: Host> Driver<H> {
    /// Checks `pin` for `user` through the same guard and lockout as a phone, so a login
    /// page cannot guess faster than a phone can: a wrong PIN counts towards the user's
    /// lockout, and a locked user is refused even the right one. Every answer but OK is a
    /// security event (`TwinningAuthFailed`, with `Reason` incorrect, lockout, locked or
    /// nopin), and `source` names who asked (`ami`, `esl`, `console:alice`).
    pub fn check_pin(&self, user: &str, pin: &str, source: &str) -> Result<PinCheck, String> {
        let Some(run) = self.prepare_pin_entry(user, "")? else {
            let e = twinning_service::call_events::auth_failed(user, "nopin", 0, 0);
            self.host.security_event(&e);
            return Ok(PinCheck::NoPin);
        };
        let now = self.host.now();
        let verdict = self.with_pin_guard(|pins| {
            pins.set_policy(run.policy.clone());
            pins.check(&run.user, &run.pin, pin, now)
        });
        use twinning_core::pin_guard::PinVerdict;
        let (check, failure) = match verdict {
            PinVerdict::Accepted => (PinCheck::Ok, None),
            PinVerdict::Incorrect { attempts, .. } => (
                PinCheck::Wrong,
                Some(AuthFailure { attempts, locked_for: Default::default(), while_locked: false }),
            ),
            PinVerdict::LockedOut { attempts, locked_for, started } => (
                if started { PinCheck::Wrong } else { PinCheck::Locked },
                Some(AuthFailure { attempts, locked_for, while_locked: !started }),
            ),
        };
        if let Some(failure) = failure {
            self.count_pin_failure(&failure);
            let locked_secs = failure.locked_for.as_millis().div_ceil(1000) as u64;
            let reason = match (failure.while_locked, locked_secs) {
                (true, _) => "locked",
                (false, 0) => "incorrect",
                (false, _) => "lockout",
            };
            log::warn!("twinning: {reason} PIN check for {} by {source}", run.user);
            let e = twinning_service::call_events::auth_failed(
                run.user.as_str(),
                reason,
                failure.attempts,
                locked_secs,
            );
            self.host.security_event(&e);
        }
        Ok(check)
    }

    pub(crate) fn count_pin_failure(&self, failure: &AuthFailure) {
        self.metrics.add(crate::metrics::PIN_FAILURES, Vec::new());
        if !failure.while_locked && !failure.locked_for.is_zero() {
            self.metrics.add(crate::metrics::PIN_LOCKOUTS, Vec::new());
        }
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

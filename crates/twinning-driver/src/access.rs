//! Mobile Direct Access (`TwinningAccess([options])`, `twinning_access`): a call from a
//! user's remote destination dials out as the user. The host answers, plays prompts,
//! reads digits and hands the call to its dialplan; every decision is the core's
//! (`twinning_core::access`) and the PIN check is the same guard and lockout as every
//! other.
//!
//! The flow: the calling number picks the user (one with `mobile_access = yes`); the
//! user's hourly cap is counted; the user's PIN, ended by `#`; the number, ended by `#`
//! (or the DID's digits with option `d`), checked by the destination policy; then the call
//! goes on in `access_context` to that number, with the user's extension as its caller ID
//! number and the user's account code. Every grant and refusal is a `TwinningAccess`
//! security event.

use twinning_core::access::{self, AccessOptions, AccessRate, Feature, Refusal};
use twinning_core::pin_guard::{AuthOptions, AuthOutcome, AuthSession, AuthStep};
use twinning_core::{Pin, UserId};
use twinning_service::call_events;

use crate::host::Host;
use crate::{lock, Driver};

/// Which prompt to play before reading digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPrompt {
    /// The PIN, ended by `#`.
    Pin,
    /// The PIN was wrong: again.
    PinAgain,
    /// The number to dial, ended by `#`.
    Number,
}

/// The call asking for access, as the host sees it.
pub trait AccessPhone {
    /// The caller's number as the trunk gave it (empty if withheld).
    fn calling_number(&self) -> String;
    /// The digits the DID carried, for option `d`.
    fn did_digits(&self) -> String;
    /// Answers the call if it is not yet; false if it could not be (it hung up).
    fn answer(&mut self) -> bool;
    /// Plays `prompt` and reads digits up to `#` or `timeout_ms`; `None` when the caller
    /// hung up.
    fn read_digits(&mut self, prompt: AccessPrompt, timeout_ms: u64) -> Option<String>;
    /// Sends the call on in the dialplan: `number` in `context`, with `extension` as its
    /// caller ID number and billed to `account_code` where the user has one. False if
    /// the host could not.
    fn dial_as(&mut self, context: &str, number: &str, extension: &str, account_code: Option<&str>) -> bool;
    /// The call was refused after it was answered: a closing prompt.
    fn refused(&mut self);
    /// The channel's name, for the log.
    fn name(&self) -> String;
}

/// How an access run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessResult {
    /// Sent on to `number` in the access context, as `user`.
    Granted {
        user: String,
        number: String,
    },
    Refused(Refusal),
    /// The caller hung up first.
    HungUp,
    /// The arguments were refused; nothing was asked.
    Invalid(String),
}

impl AccessResult {
    /// The outcome variable's value (`TWINNINGACCESS`, `twinning_access`).
    pub fn name(&self) -> &'static str {
        match self {
            AccessResult::Granted { .. } => "GRANTED",
            AccessResult::Refused(_) | AccessResult::Invalid(_) => "REFUSED",
            AccessResult::HungUp => "HUNGUP",
        }
    }
}

/// A call asking for Mobile Callback (`TwinningCallback`, `twinning_callback`): rung,
/// never answered, so the caller pays nothing.
pub trait CallbackRequest {
    /// The caller's number as the trunk gave it (empty if withheld).
    fn calling_number(&self) -> String;
    /// Waits, the call ringing, for the caller to hang up: true if they did within
    /// `window`. The call is never answered.
    fn hung_up_within(&mut self, window: std::time::Duration) -> bool;
    /// The channel's name, for the log.
    fn name(&self) -> String;
}

/// A callback to place: the host waits `delay`, hands it to [`Driver::callback_due`], dials
/// `tech`/`resource` (the user's own remote destination through `mobile_dial`, never any
/// other number) presenting `caller_id`, then hands what happened to
/// [`Driver::callback_answered`] or [`Driver::callback_failed`], which let the user ask
/// again. Dropped any other way (its thread could not be started, or panicked), the
/// pending entry is let go and the refusal raised (`Reason: failed`): a callback can never
/// stay pending for good.
pub struct Callback {
    pub user: String,
    /// The remote destination called back, as configured.
    pub number: String,
    pub tech: String,
    pub resource: String,
    pub caller_id: String,
    /// The user's account code, which the call back carries: it is the user's call.
    pub account_code: Option<String>,
    pub delay: std::time::Duration,
    /// How long the callback may ring.
    pub ring_time: std::time::Duration,
    /// An answer sooner than this after dialing is a voicemail: no dial tone is given.
    pub answer_guard: std::time::Duration,
    options: AccessOptions,
    run: Prepared,
    /// Lets the pending entry go and raises the refusal, if the callback is dropped
    /// before the driver has seen it through.
    lost: Option<Box<dyn FnOnce() + Send>>,
}

impl Callback {
    /// The driver has seen it through: dropping it is no loss.
    fn settle(&mut self) {
        self.lost = None;
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        if let Some(lost) = self.lost.take() {
            lost();
        }
    }
}

/// What a run needs of the user, read once.
#[derive(Clone)]
struct Prepared {
    user: UserId,
    pin: Option<Pin>,
    context: Option<String>,
    account_code: Option<String>,
    rate: u32,
    pin_policy: twinning_core::pin_guard::PinPolicy,
}

impl<H: Host> Driver<H> {
    /// Runs Mobile Direct Access on `phone` with `options` (`d`, `t(s)`).
    pub fn access(&self, options: &str, phone: &mut impl AccessPhone) -> AccessResult {
        let options = match AccessOptions::parse(options) {
            Ok(o) => o,
            Err(e) => return AccessResult::Invalid(e),
        };
        let calling = phone.calling_number();
        let found = self.with_service(|service| {
            let settings = service.settings();
            Ok(access::find_user(settings, &calling, Feature::Access).map(|user| prepare(settings, user)))
        });
        let run = match found {
            Ok(Ok(run)) => run,
            Ok(Err(refusal)) => return self.refuse(Feature::Access, refusal, "", &calling, "", phone, false),
            Err(e) => return AccessResult::Invalid(e),
        };
        let now = self.host.now();
        let admitted = {
            let mut rate = lock(&self.access_rate);
            let rate = rate.get_or_insert_with(AccessRate::new);
            rate.prune(now);
            rate.admit(&run.user, run.rate, now)
        };
        if !admitted {
            return self.refuse(
                Feature::Access,
                Refusal::Rate,
                run.user.as_str(),
                &calling,
                "",
                phone,
                false,
            );
        }
        self.pin_and_dial(Feature::Access, run, &options, &calling, phone)
    }

    /// The PIN, the number and the hand-over, for a user already picked (by the calling
    /// number, or by the callback placed to it).
    fn pin_and_dial(
        &self,
        feature: Feature,
        run: Prepared,
        options: &AccessOptions,
        calling: &str,
        phone: &mut impl AccessPhone,
    ) -> AccessResult {
        let user = run.user.as_str();
        let Some(context) = run.context.clone() else {
            return self.refuse(feature, Refusal::NoRoute, user, calling, "", phone, false);
        };
        let Some(pin) = run.pin.clone() else {
            return self.refuse(feature, Refusal::NoPin, user, calling, "", phone, false);
        };
        // A hang-up once the PBX has called back, or after a right PIN, is a security
        // event too (someone had the mobile, or the PIN); before that on an access call,
        // it is only a caller giving up.
        let callback = feature == Feature::Callback;
        if !phone.answer() {
            return self.hung_up(feature, callback, user, calling);
        }
        let timeout = options.timeout.as_millis();
        let mut session =
            AuthSession::new(&AuthOptions { timeout: options.timeout, ..AuthOptions::default() });
        let mut prompt = AccessPrompt::Pin;
        let outcome = loop {
            let Some(digits) = phone.read_digits(prompt, timeout) else {
                return self.hung_up(feature, callback, user, calling);
            };
            let step = self.with_pin_guard(|pins| {
                pins.set_policy(run.pin_policy.clone());
                session.entered(pins, &run.user, &pin, &digits, self.host.now())
            });
            let (failure, outcome) = match step {
                AuthStep::Again { failure } => (failure, None),
                AuthStep::Done { outcome, failure } => (failure, Some(outcome)),
            };
            if let Some(failure) = failure {
                self.count_pin_failure(&failure);
                let locked_secs = failure.locked_for.as_millis().div_ceil(1000) as u64;
                let reason = match (failure.while_locked, locked_secs) {
                    (true, _) => "locked",
                    (false, 0) => "incorrect",
                    (false, _) => "lockout",
                };
                log::warn!("twinning: {reason} PIN for {user} on {} ({})", phone.name(), feature.name());
                let e = call_events::auth_failed(user, reason, failure.attempts, locked_secs);
                self.host.security_event(&e);
            }
            match outcome {
                Some(outcome) => break outcome,
                None => prompt = AccessPrompt::PinAgain,
            }
        };
        match outcome {
            AuthOutcome::Ok => {}
            AuthOutcome::Locked => {
                return self.refuse(feature, Refusal::Locked, user, calling, "", phone, true)
            }
            _ => return self.refuse(feature, Refusal::WrongPin, user, calling, "", phone, true),
        }
        let digits = if options.did {
            phone.did_digits()
        } else {
            match phone.read_digits(AccessPrompt::Number, timeout) {
                Some(d) => d,
                None => return self.hung_up(feature, true, user, calling),
            }
        };
        let number =
            match self.with_service(|service| Ok(access::number_to_dial(service.settings(), &digits))) {
                Ok(Ok(n)) => n,
                Ok(Err((refusal, _))) => {
                    // Never the digits themselves: a mistyped PIN or a private number may be
                    // among them.
                    log::warn!(
                        "twinning: {} for {user}: a number of {} keys refused ({})",
                        feature.name(),
                        digits.chars().count(),
                        refusal.name()
                    );
                    return self.refuse(feature, refusal, user, calling, "", phone, true);
                }
                Err(e) => return AccessResult::Invalid(e),
            };
        if !phone.dial_as(&context, number.as_str(), user, run.account_code.as_deref()) {
            return self.refuse(feature, Refusal::NoRoute, user, calling, number.as_str(), phone, true);
        }
        log::info!(
            "twinning: {} for {user} from {}: dialing {number} in {context}",
            feature.name(),
            phone.name()
        );
        let e = call_events::access(feature.name(), "granted", "pin", user, calling, number.as_str());
        self.host.security_event(&e);
        AccessResult::Granted { user: user.to_owned(), number: number.as_str().to_owned() }
    }

    /// Mobile Callback's request (`TwinningCallback([options])`): the calling number picks
    /// a user with `mobile_callback = yes`; refused while the user has a twinned call or a
    /// callback pending, or over `access_rate`. If the caller hangs up within
    /// `callback_window`, the callback to place; the host places it (see [`Callback`]).
    pub fn request_callback(
        &'static self,
        options: &str,
        phone: &mut (impl CallbackRequest + AccessPhone),
    ) -> Result<Callback, AccessResult> {
        let options = AccessOptions::parse(options).map_err(AccessResult::Invalid)?;
        if options.did {
            return Err(AccessResult::Invalid("option 'd' is for TwinningAccess only".into()));
        }
        let calling = CallbackRequest::calling_number(phone);
        let found = self.with_service(|service| Ok(callback_target(service.settings(), &calling)));
        let CallbackTarget { run, tech, resource, number, answer_guard, ring_time, window, delay } =
            match found {
                Ok(Ok(found)) => found,
                Ok(Err((refusal, user))) => {
                    return Err(self.refuse(Feature::Callback, refusal, &user, &calling, "", phone, false))
                }
                Err(e) => return Err(AccessResult::Invalid(e)),
            };
        let user = run.user.as_str().to_owned();
        let refuse =
            |refusal| self.refuse(Feature::Callback, refusal, &user, &calling, "", &mut NoPhone, false);
        if run.context.is_none() {
            return Err(refuse(Refusal::NoRoute));
        }
        if run.pin.is_none() {
            return Err(refuse(Refusal::NoPin));
        }
        if self.live().list().any(|c| c.user == user) {
            return Err(refuse(Refusal::Busy));
        }
        if !lock(&self.callbacks).insert(user.clone()) {
            return Err(refuse(Refusal::Pending));
        }
        let now = self.host.now();
        let admitted = {
            let mut rate = lock(&self.access_rate);
            let rate = rate.get_or_insert_with(AccessRate::new);
            rate.prune(now);
            rate.admit(&run.user, run.rate, now)
        };
        if !admitted {
            lock(&self.callbacks).remove(&user);
            return Err(refuse(Refusal::Rate));
        }
        if !phone.hung_up_within(window) {
            lock(&self.callbacks).remove(&user);
            return Err(refuse(Refusal::Window));
        }
        log::info!("twinning: callback for {user} to {number} in {} ms", delay.as_millis());
        let lost = {
            let (user, number) = (user.clone(), number.clone());
            Box::new(move || self.callback_lost(&user, &number))
        };
        Ok(Callback {
            lost: Some(lost),
            account_code: run.account_code.clone(),
            caller_id: user.clone(),
            user,
            number,
            tech,
            resource,
            delay,
            ring_time,
            answer_guard,
            options,
            run,
        })
    }

    /// Just before the call back is placed (after `callback_delay`), the request is checked
    /// again against the settings and the calls as they are now: the user is still there
    /// with `mobile_callback`, the destination that called is still theirs and enabled,
    /// the destination policy still lets it be dialed, and the user is not on a twinned
    /// call. Refused, the pending callback is let go, the refusal is raised, and nothing is
    /// dialed; otherwise the callback, with what the PIN and dial flow needs read afresh.
    pub fn callback_due(&self, mut callback: Callback) -> Result<Callback, AccessResult> {
        let found = self.with_service(|service| Ok(callback_target(service.settings(), &callback.number)));
        let refusal = match found {
            Ok(Ok(target))
                if target.run.user.as_str() != callback.user || target.number != callback.number =>
            {
                Some(Refusal::NotEnabled)
            }
            Ok(Ok(target)) if target.run.context.is_none() => Some(Refusal::NoRoute),
            Ok(Ok(target)) if target.run.pin.is_none() => Some(Refusal::NoPin),
            Ok(Ok(_)) if self.live().list().any(|c| c.user == callback.user) => Some(Refusal::Busy),
            Ok(Ok(target)) => {
                callback.account_code = target.run.account_code.clone();
                callback.run = target.run;
                None
            }
            Ok(Err((refusal, _))) => Some(refusal),
            // No service (unloading): nothing is dialed.
            Err(_) => Some(Refusal::NoRoute),
        };
        match refusal {
            None => Ok(callback),
            Some(refusal) => {
                callback.settle();
                lock(&self.callbacks).remove(&callback.user);
                log::warn!("twinning: callback for {} not placed: {}", callback.user, refusal.name());
                Err(self.refuse(
                    Feature::Callback,
                    refusal,
                    &callback.user,
                    &callback.number,
                    "",
                    &mut NoPhone,
                    false,
                ))
            }
        }
    }

    /// The callback was answered `after` dialing, on `phone`: unless that is inside the
    /// answer guard (a voicemail: nothing is given, the host hangs up), the PIN and dial
    /// flow of direct access.
    pub fn callback_answered(
        &self,
        mut callback: Callback,
        after: std::time::Duration,
        phone: &mut impl AccessPhone,
    ) -> AccessResult {
        callback.settle();
        lock(&self.callbacks).remove(&callback.user);
        if after < callback.answer_guard {
            log::info!(
                "twinning: callback for {} answered after {} ms: voicemail",
                callback.user,
                after.as_millis()
            );
            return self.refuse(
                Feature::Callback,
                Refusal::NoAnswer,
                &callback.user,
                &callback.number,
                "",
                phone,
                false,
            );
        }
        let run = callback.run.clone();
        self.pin_and_dial(Feature::Callback, run, &callback.options, &callback.number, phone)
    }

    /// The callback could not be placed or was not answered.
    pub fn callback_failed(&self, mut callback: Callback) -> AccessResult {
        callback.settle();
        lock(&self.callbacks).remove(&callback.user);
        self.refuse(
            Feature::Callback,
            Refusal::NoAnswer,
            &callback.user,
            &callback.number,
            "",
            &mut NoPhone,
            false,
        )
    }

    /// The caller hung up during the flow: raised as a refusal (`hung_up`) when `report`.
    fn hung_up(&self, feature: Feature, report: bool, user: &str, calling: &str) -> AccessResult {
        if report {
            log::info!("twinning: {} for {user}: hung up before dialing", feature.name());
            let e = call_events::access(feature.name(), "refused", Refusal::HungUp.name(), user, calling, "");
            self.host.security_event(&e);
        }
        AccessResult::HungUp
    }

    /// A callback dropped before it was seen through (its thread could not be started, or
    /// panicked): the user may ask again, and the refusal is raised.
    fn callback_lost(&self, user: &str, number: &str) {
        lock(&self.callbacks).remove(user);
        log::error!("twinning: the callback for {user} failed before it was placed or ended");
        self.refuse(Feature::Callback, Refusal::Failed, user, number, "", &mut NoPhone, false);
    }

    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        feature: Feature,
        refusal: Refusal,
        user: &str,
        calling: &str,
        number: &str,
        phone: &mut impl AccessPhone,
        answered: bool,
    ) -> AccessResult {
        log::warn!(
            "twinning: {} refused ({}) for caller {} on {}",
            feature.name(),
            refusal.name(),
            twinning_core::printable(calling),
            phone.name()
        );
        let e = call_events::access(feature.name(), "refused", refusal.name(), user, calling, number);
        self.host.security_event(&e);
        if answered {
            phone.refused();
        }
        AccessResult::Refused(refusal)
    }
}

/// For refusals with no phone to speak to (only its name is logged).
struct NoPhone;

impl AccessPhone for NoPhone {
    fn calling_number(&self) -> String {
        String::new()
    }
    fn did_digits(&self) -> String {
        String::new()
    }
    fn answer(&mut self) -> bool {
        false
    }
    fn read_digits(&mut self, _: AccessPrompt, _: u64) -> Option<String> {
        None
    }
    fn dial_as(&mut self, _: &str, _: &str, _: &str, _: Option<&str>) -> bool {
        false
    }
    fn refused(&mut self) {}
    fn name(&self) -> String {
        "-".into()
    }
}

fn prepare(settings: &twinning_core::Settings, user: UserId) -> Prepared {
    let u = settings.user(user.as_str()).expect("found among the users");
    let general = settings.general();
    Prepared {
        pin: u.pin.clone(),
        context: general.access.access_context.clone(),
        account_code: u.account_code.as_ref().map(ToString::to_string),
        rate: u.access_rate,
        pin_policy: general.pin.clone(),
        user,
    }
}

/// Where a callback for `calling` goes, as the settings are now.
struct CallbackTarget {
    run: Prepared,
    tech: String,
    resource: String,
    /// The user's remote destination that called, as configured.
    number: String,
    answer_guard: std::time::Duration,
    ring_time: std::time::Duration,
    window: std::time::Duration,
    delay: std::time::Duration,
}

/// The callback for `calling`: the one user with `mobile_callback` whose enabled remote
/// destination it is, called back at that destination as configured, if the destination
/// policy lets that number be dialed. Refused, the refusal and the user (empty if none).
fn callback_target(
    settings: &twinning_core::Settings,
    calling: &str,
) -> Result<CallbackTarget, (Refusal, String)> {
    let user = access::find_user(settings, calling, Feature::Callback).map_err(|r| (r, String::new()))?;
    let general = settings.general();
    let u = settings.user(user.as_str()).expect("found among the users");
    // The destination that called, as configured: the number called back.
    let Some(d) = access::matchable_destinations(u)
        .find(|d| general.access.same_number(calling, d.number, &general.policy))
    else {
        return Err((Refusal::UnknownCaller, user.as_str().to_owned()));
    };
    if let Err(why) = general.policy.check(d.number) {
        log::warn!("twinning: callback for {user} to {} refused by the destination policy: {why}", d.number);
        return Err((Refusal::Policy, user.as_str().to_owned()));
    }
    Ok(CallbackTarget {
        tech: general.mobile_dial.tech().to_owned(),
        resource: general.mobile_dial.resource_for(d.number),
        number: d.number.as_str().to_owned(),
        answer_guard: std::time::Duration::from_millis(d.answer_guard.as_millis()),
        ring_time: std::time::Duration::from_millis(d.ring_time.as_millis()),
        window: std::time::Duration::from_millis(general.access.callback_window.as_millis()),
        delay: std::time::Duration::from_millis(general.access.callback_delay.as_millis()),
        run: prepare(settings, user),
    })
}

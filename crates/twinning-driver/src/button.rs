//! The twinning button, as IP Office has it (`TwinningButton(user)`,
//! `twinning_button <user>`): one key on the desk that does what the moment calls for.
//!
//! - The user's answered call is on the mobile (or its caller is held for the desk after
//!   the mobile hung up): the desk takes it, as its pickup code does.
//! - The desk itself is in the answered call (the phone held it to dial the key): the call
//!   is pushed to the mobile, as the desk's push code does.
//! - Otherwise it switches twinning (`enabled`) on or off, after the user's PIN when one is
//!   set, as the sample *21 / *22 do. Switching on needs a twinned number.
//!
//! The whole press is run here once ([`Driver::run_button`]); a host only performs the pull
//! with its own pickup, sets its variables and plays its confirmation, through
//! [`ButtonPhone`].

use twinning_core::call::{HandoverTrigger, LegKind};
use twinning_core::pin_guard::AuthOutcome;
use twinning_core::printable;
use twinning_service::Source;

use crate::host::Host;
use crate::pin_entry::{PinEntry, PinPhone};
use crate::Driver;

/// What a press did, as `TWINNINGBUTTON` / `twinning_button` report it. The names are
/// public interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonResult {
    /// The call was taken off the mobile onto this desk.
    Pulled,
    /// The desk's call is ringing the mobile, and moves there when it answers.
    Pushed,
    /// Twinning was switched on.
    On,
    /// Twinning was switched off.
    Off,
    /// Nothing changed (`TWINNINGERROR` says why).
    Failed,
}

impl ButtonResult {
    pub fn name(self) -> &'static str {
        match self {
            ButtonResult::Pulled => "PULLED",
            ButtonResult::Pushed => "PUSHED",
            ButtonResult::On => "ON",
            ButtonResult::Off => "OFF",
            ButtonResult::Failed => "FAILED",
        }
    }
}

/// Why a press did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ButtonError {
    /// The arguments were wrong (no user, an unknown one): the dialplan may be handing
    /// caller-controlled text over, so hosts report it as security.
    BadRequest(String),
    /// The press could not do what it meant (a handover refused, no number to twin to).
    Failed(String),
}

/// The confirmation a press ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Twinning was switched on.
    On,
    /// Twinning was switched off.
    Off,
    /// The desk's call is ringing the mobile.
    Pushed,
    /// Nothing changed.
    Error,
}

/// The phone the key was pressed on, as the host sees it (the channel running
/// `TwinningButton()`, the session running `twinning_button`). PIN entry for the toggle
/// goes through its [`PinPhone`] side.
pub trait ButtonPhone: PinPhone {
    /// Takes the user's answered call onto this phone with the host's pickup (handover
    /// trigger [`HandoverTrigger::Button`]); returns once the host is done with it.
    fn pull_call(&mut self, user: &str) -> Result<(), String>;
    /// Sets the result variables (`TWINNINGBUTTON` / `twinning_button` and the error,
    /// empty when there is none).
    fn set_result(&mut self, result: ButtonResult, error: &str);
    /// The arguments were refused: the security event (`TwinningRequestRefused`,
    /// `twinning::request_refused`) with `reason`.
    fn refuse(&mut self, reason: &str);
    /// Plays the confirmation, if the phone is still there.
    fn confirm(&mut self, confirmation: Confirmation);
}

/// What a press means at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ButtonPress {
    /// The host takes the user's call onto this desk ([`ButtonPhone::pull_call`]).
    PullToDesk,
    /// Done: the push has started.
    Pushed,
    /// Twinning is switched on or off from this phone.
    Toggle,
}

impl<H: Host> Driver<H> {
    /// Runs a press of `user`'s key on `phone`, from the decision to the confirmation.
    /// `user` is `None` when the host found the arguments malformed; `usage` is the host's
    /// usage line, the reason given for missing or malformed arguments.
    pub fn run_button(
        &self,
        user: Option<&str>,
        usage: &str,
        here: H::Here,
        phone: &mut impl ButtonPhone,
    ) -> ButtonResult {
        let press = match user {
            None | Some("") => Err(ButtonError::BadRequest(usage.to_owned())),
            Some(user) => self.press_button(user, &phone.device(), &phone.name(), here),
        };
        let user = user.unwrap_or_default();
        let result = match press {
            Err(ButtonError::BadRequest(e)) => {
                phone.refuse(&e);
                phone.set_result(ButtonResult::Failed, &e);
                return ButtonResult::Failed;
            }
            Err(ButtonError::Failed(e)) => Err(e),
            Ok(ButtonPress::PullToDesk) => {
                // Set first: a host whose bridge takes the phone over ends its dialplan there.
                phone.set_result(ButtonResult::Pulled, "");
                match phone.pull_call(user) {
                    // The desk is in the call (or was, until it left): no prompt.
                    Ok(()) => return ButtonResult::Pulled,
                    Err(e) => Err(e),
                }
            }
            Ok(ButtonPress::Pushed) => Ok(ButtonResult::Pushed),
            Ok(ButtonPress::Toggle) => {
                let source = Source::Dialplan { channel: Some(phone.name()), device: phone.device() };
                self.toggle_twinning(user, &source, phone)
            }
        };
        match result {
            Ok(r) => {
                phone.set_result(r, "");
                phone.confirm(match r {
                    ButtonResult::On => Confirmation::On,
                    ButtonResult::Off => Confirmation::Off,
                    _ => Confirmation::Pushed,
                });
                r
            }
            Err(e) => {
                log::info!("twinning: the key of {} on {}: {e}", printable(user), phone.name());
                phone.set_result(ButtonResult::Failed, &e);
                phone.confirm(Confirmation::Error);
                ButtonResult::Failed
            }
        }
    }

    /// Decides what pressing `user`'s button means now, and starts the push when that is
    /// it. An unknown or malformed user is refused, with nothing changed.
    fn press_button(
        &self,
        user: &str,
        device: &twinning_core::identity::Device,
        channel: &str,
        here: H::Here,
    ) -> Result<ButtonPress, ButtonError> {
        if user.is_empty() {
            return Err(ButtonError::BadRequest("a user is required".into()));
        }
        self.with_service(|s| match s.settings().user(user) {
            Some(_) => Ok(()),
            None => Err(format!("unknown twinning user '{}'", printable(user))),
        })
        .map_err(ButtonError::BadRequest)?;
        // Once the user is known (an unknown one is a bad request): a press from another
        // phone than the user's desk does nothing, and is a security event.
        self.check_device("TwinningButton", user, device, channel).map_err(ButtonError::Failed)?;
        let Some(call) = self.find_answered(user) else { return Ok(ButtonPress::Toggle) };
        let on_desk = {
            let s = call.lock();
            s.engine.bridged_leg().and_then(|leg| s.engine.leg_kind(leg)) == Some(LegKind::Desk)
        };
        if !on_desk {
            return Ok(ButtonPress::PullToDesk);
        }
        call.request_handover(LegKind::MOBILE, HandoverTrigger::Button, here).map_err(ButtonError::Failed)?;
        Ok(ButtonPress::Pushed)
    }

    /// Switches `user`'s twinning on or off from `phone`: the PIN first (when the user has
    /// one), then `enabled` flipped through [`Driver::apply_change`], audited as coming from
    /// `source`. Returns `On` or `Off`; on any error nothing changed.
    fn toggle_twinning(
        &self,
        user: &str,
        source: &Source,
        phone: &mut impl PinPhone,
    ) -> Result<ButtonResult, String> {
        match self.authenticate(user, "", phone) {
            PinEntry::Done(AuthOutcome::Ok | AuthOutcome::NoPin) => {}
            PinEntry::Done(outcome) => return Err(format!("PIN not accepted ({})", outcome.name())),
            PinEntry::HungUp => return Err("the phone hung up before the PIN was entered".into()),
            PinEntry::Refused(e) => return Err(e),
        }
        let (enabled, has_number) = self.with_service(|s| {
            let u = s
                .settings()
                .user(user)
                .ok_or_else(|| format!("unknown twinning user '{}'", printable(user)))?;
            Ok((u.enabled, u.destinations().next().is_some()))
        })?;
        if !enabled && !has_number {
            return Err("no twinned number is set".into());
        }
        let value = if enabled { "no" } else { "yes" };
        self.apply_change(source, user, "enabled", value).map_err(|e| e.to_string())?;
        Ok(if enabled { ButtonResult::Off } else { ButtonResult::On })
    }
}

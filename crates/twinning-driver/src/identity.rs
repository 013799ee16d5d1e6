//! Requests from phones, written once for both PBXes: the desk check that every change,
//! pickup, key press and PIN entry from a channel goes through, and the PIN proof that a
//! number change from a phone needs when the user has a PIN.
//!
//! The core decides whether a device is the user's desk ([`twinning_core::identity`]);
//! here the refusal is logged and raised as a security event, and a right PIN entered on
//! a channel is remembered for that channel, so the dialplan that asked for it can then
//! change the user's number from the same call.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use twinning_core::identity::{self, Device};
use twinning_core::{printable, Field, UserId};
use twinning_service::call_events;

use crate::{lock, Driver, Host};

/// How long a right PIN lets the same channel change the user's numbers: a feature-code
/// call asks, then sets, within seconds.
const PIN_PROOF_LIFETIME: Duration = Duration::from_secs(300);

/// Right PINs by channel: the channel's name (unique while it lives, on both PBXes) and
/// the user it proved, with when.
pub(crate) struct PinProofs(BTreeMap<String, (UserId, Instant)>);

impl PinProofs {
    /// Empty, in a `const` context (the driver is a `static`); a fresh map also lets go of
    /// its allocation at unload.
    pub(crate) const fn new() -> Self {
        PinProofs(BTreeMap::new())
    }

    fn prune(&mut self, now: Instant) {
        self.0.retain(|_, (_, at)| now.saturating_duration_since(*at) < PIN_PROOF_LIFETIME);
    }
}

/// Whether a change of `field` from a phone needs the user's PIN: the numbers a call is
/// sent to, which is what toll fraud changes.
fn needs_pin(field: Field) -> bool {
    matches!(field, Field::Mobile | Field::Destination(_, twinning_core::DestinationField::Number))
}

impl<H: Host> Driver<H> {
    /// Refuses `request` (the application or surface, for the event) for `user` unless
    /// `device` may act for them: the user's desk, a channel of the PBX's own, or a
    /// trusted gateway. A refusal is logged and raised as a security event, and its reason
    /// returned for the host's error variable.
    pub fn check_device(
        &self,
        request: &str,
        user: &str,
        device: &Device,
        channel: &str,
    ) -> Result<(), String> {
        if matches!(device, Device::Internal) {
            return Ok(());
        }
        let verdict = self.with_service(|s| {
            let settings = s.settings();
            let u =
                settings.user(user).ok_or_else(|| format!("unknown twinning user '{}'", printable(user)))?;
            Ok(identity::check_desk(user, &u.desk, device, &settings.general().trusted_gateways))
        })?;
        verdict.map_err(|refusal| {
            let reason = refusal.to_string();
            log::warn!("twinning: {request} for {} from {channel} refused: {reason}", printable(user));
            self.host.security_event(&call_events::device_refused(
                request,
                user,
                &refusal.device,
                channel,
                &reason,
            ));
            reason
        })
    }

    /// The PIN of `user` was entered right on `channel`.
    pub(crate) fn prove_pin(&self, channel: &str, user: &UserId) {
        let now = self.host.now();
        let mut proofs = lock(&self.pin_proofs);
        proofs.prune(now);
        proofs.0.insert(channel.to_owned(), (user.clone(), now));
    }

    /// Refuses a change of `field` made from a phone on `channel` when it needs the PIN,
    /// the user has one, and no right PIN for that user was entered on this channel.
    pub(crate) fn check_pin_proof(&self, user: &str, field: &str, channel: &str) -> Result<(), String> {
        let Some(field) = Field::parse(field).filter(|f| needs_pin(*f)) else { return Ok(()) };
        let has_pin = self
            .with_service(|s| Ok(s.settings().user(user).is_some_and(|u| u.pin.is_some())))
            .unwrap_or(false);
        if !has_pin {
            return Ok(());
        }
        let now = self.host.now();
        let mut proofs = lock(&self.pin_proofs);
        proofs.prune(now);
        match proofs.0.get(channel) {
            Some((proved, _)) if proved.as_str() == user => Ok(()),
            _ => Err(format!(
                "changing {} from a phone needs {}'s PIN: run TwinningAuthenticate (twinning_authenticate) first",
                field.name(),
                printable(user)
            )),
        }
    }
}

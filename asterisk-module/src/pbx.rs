//! How the call driver reaches Asterisk: the [`Host`] implementation, the per-call state
//! Asterisk needs (the bridge, the holding bridge, channels other threads act on), and the
//! module's one driver.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use twinning_core::call::{Command, LegId};
use twinning_core::lamp::{Lamp, LampState};
use twinning_core::Change;
use twinning_driver::{Call, Driver, Host};
use twinning_service::call_events::{self, CallEvent};
use twinning_service::Source;

use crate::host::astdb;
use crate::host::bridge::{Bridge, HookChannel};
use crate::host::channel::{Channel, Leg};
use crate::host::devstate;
use crate::host::manager::{self, Class};
use crate::midcall;

pub struct Asterisk;

pub static DRIVER: Driver<Asterisk> = Driver::new(Asterisk, "app_twinning");

pub type TwinnedCall = Call<Asterisk>;

/// How the caller, held for the desk, gets back into a call: the caller's thread bridges
/// it with an answered desk leg (which it takes over), or joins the bridge the desk's own
/// thread (the pickup code) is in.
pub enum Rejoin {
    Impart { leg: LegId, chan: Leg },
    Join { bridge: Bridge },
}

#[derive(Default)]
pub struct Shared {
    pub bridge: Option<Bridge>,
    /// The holding bridge the caller waits in after the mobile hung up.
    pub holding: Option<Bridge>,
    pub rejoin: Option<Rejoin>,
    /// Legs other threads may act on: the bridged leg (to swap it out), devices rung
    /// mid-call (to stop them), a consult call, and the third party of a conference.
    pub chans: BTreeMap<LegId, Channel>,
}

impl Host for Asterisk {
    type Caller = Channel;
    type Shared = Shared;
    type Here = HookChannel;

    fn perform(&self, call: &Arc<TwinnedCall>, command: Command, here: HookChannel) -> Option<Command> {
        match command {
            // Placing a mid-call leg can take a while (channel drivers resolve names, send
            // the INVITE): the thread that will ring it does it, so AMI, hooks and the
            // pickup are never held up. Legs of the ringing phase are the caller's thread's.
            Command::Dial { leg, kind, target, caller_id, account_code } if call.is_answered() => {
                midcall::spawn(call.clone(), leg, kind, target, caller_id, account_code);
                None
            }
            Command::Cancel { leg } => match call.lock().host.chans.remove(&leg) {
                Some(chan) => {
                    chan.soft_hangup();
                    None
                }
                None => Some(command),
            },
            Command::ReleaseCaller => {
                release_from_holding(call);
                None
            }
            Command::HoldCaller | Command::ResumeCaller if here.is_hook() => {
                here.hold(command == Command::HoldCaller);
                None
            }
            Command::BlindTransfer { context, exten } if here.is_hook() => {
                if !here.blind_transfer(&context, &exten) {
                    log::warn!("twinning {}: blind transfer to {exten}@{context} failed", call.user);
                }
                None
            }
            other => Some(other),
        }
    }

    fn abandon(&self, call: &Arc<TwinnedCall>) {
        let (chans, _bridge, _rejoin) = {
            let mut s = call.lock();
            (std::mem::take(&mut s.host.chans), s.host.bridge.take(), s.host.rejoin.take())
        };
        for chan in chans.values() {
            chan.soft_hangup();
        }
        // An answered desk handed to the caller's thread that never took it is hung up as
        // `_rejoin` drops.
    }

    fn emit_call_event(&self, caller: &Channel, e: &CallEvent) {
        manager::emit_event(Some(caller), Class::Call, e);
    }

    fn settings_changed(&self, change: &Change, source: &Source) {
        let key = format!("{}/{}", change.user, change.field.name());
        if let Err(e) = astdb::put(&key, &change.new) {
            // The journal already holds the change; AstDB is only the mirror.
            log::warn!("{e}; the change is saved in the twinning journal");
        }
        manager::emit_event(None, Class::Config, &call_events::settings_changed(change, source));
    }

    fn settings_refused(&self, user: &str, field: &str, source: &Source, reason: &str) {
        manager::emit_event(
            None,
            Class::Security,
            &call_events::settings_refused(user, field, source, reason),
        );
    }

    fn security_event(&self, e: &CallEvent) {
        manager::emit_event(None, Class::Security, e);
    }

    fn lamp_changed(&self, lamp: Lamp, user: &str, state: LampState) {
        devstate::changed(&crate::lamps::device(lamp, user), state);
    }

    fn caller_name(&self, caller: &Channel) -> String {
        caller.name()
    }

    fn caller_uniqueid(&self, caller: &Channel) -> String {
        caller.uniqueid()
    }
}

/// Takes the caller out of the holding bridge, so its thread can bridge it again (see
/// [`Rejoin`]) or, with nothing to rejoin, end the call. The caller may be a moment from
/// entering the bridge; its thread checks for a pending rejoin or finish before it does,
/// and the removal is retried meanwhile.
pub fn release_from_holding(call: &TwinnedCall) {
    for _ in 0..100 {
        let Some(holding) = call.lock().host.holding.clone() else { return };
        if holding.remove(&call.caller) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    log::warn!("twinning {}: could not take the caller off hold", call.user);
}

//! How the call driver reaches FreeSWITCH: the [`Host`] implementation, the per-call state
//! (each leg's handle, which leg the caller is bridged with, a swap under way), and the
//! module's one driver.
//!
//! Other threads act on a leg through its uuid ([`LockedSession::locate`]), never through
//! a pointer its owner's thread may let go of.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use twinning_core::call::{Command, Event, LegId, LegKind, Prompt};
use twinning_core::lamp::{Lamp, LampState};
use twinning_core::Change;
use twinning_driver::{Call, Driver, Host};
use twinning_service::call_events::{self, CallEvent};
use twinning_service::Source;

use crate::host::session::{LockedSession, Session};
use crate::host::{events, ffi};
use crate::leg;

pub struct FreeSwitch;

pub static DRIVER: Driver<FreeSwitch> = Driver::new(FreeSwitch, "mod_twinning");

pub type TwinnedCall = Call<FreeSwitch>;

/// What a held caller hears when its channel names no `hold_music`.
const DEFAULT_HOLD_MUSIC: &str = "local_stream://moh";

/// Where a command is carried out: the caller's own thread (which alone bridges the
/// caller), or any other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Here {
    #[default]
    Anywhere,
    Caller,
}

/// One leg as the threads share it.
pub struct LegHandle {
    pub kind: LegKind,
    /// Read by `switch_ivr_originate` (its `cancel_cause`) and by the leg's thread: a
    /// non-zero cause stops the attempt or ends the leg.
    pub cancel: Arc<AtomicU32>,
    /// The leg's session uuid once originate returned it, or the desk's own for a pickup.
    pub uuid: Option<String>,
    /// A prompt the leg's thread is to play (the confirmation).
    pub prompt: Option<Prompt>,
    /// The engine has heard how this leg ended (or released it): nothing more is reported.
    pub ended: bool,
    /// The desk running `twinning_pickup`: no thread of ours holds it.
    pub joined: bool,
}

impl LegHandle {
    pub fn dialing(kind: LegKind) -> LegHandle {
        LegHandle {
            kind,
            cancel: Arc::new(AtomicU32::new(0)),
            uuid: None,
            prompt: None,
            ended: false,
            joined: false,
        }
    }

    pub fn joined(kind: LegKind, session: Session) -> LegHandle {
        LegHandle { uuid: Some(session.uuid()), joined: true, ..LegHandle::dialing(kind) }
    }

    /// Stops the leg: its originate or its thread sees `cause`; returns its uuid to hang up.
    fn stop(&mut self, cause: ffi::switch_call_cause_t) -> Option<String> {
        self.cancel.store(cause, Ordering::SeqCst);
        self.ended = true;
        self.uuid.clone()
    }
}

#[derive(Default)]
pub struct Shared {
    pub legs: BTreeMap<LegId, LegHandle>,
    /// The leg the caller is bridged with now.
    pub in_bridge: Option<LegId>,
    /// A leg to bridge as soon as the current bridge ends (a swap under way).
    pub swap_to: Option<LegId>,
}

fn hang_up(uuid: Option<String>, cause: ffi::switch_call_cause_t) {
    if let Some(s) = uuid.as_deref().and_then(LockedSession::locate) {
        s.session().hangup(cause);
    }
}

impl Host for FreeSwitch {
    type Caller = Session;
    type Shared = Shared;
    type Here = Here;

    fn perform(&self, call: &Arc<TwinnedCall>, command: Command, here: Here) -> Option<Command> {
        let caller = call.caller;
        match command {
            Command::Dial { leg, kind, target, caller_id, account_code } => {
                call.lock().host.legs.insert(leg, LegHandle::dialing(kind));
                leg::spawn(call.clone(), leg::Placement { leg, kind, target, caller_id, account_code });
            }
            Command::Cancel { leg } => {
                let uuid = call
                    .lock()
                    .host
                    .legs
                    .get_mut(&leg)
                    .and_then(|h| h.stop(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL));
                call.changed();
                hang_up(uuid, ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL);
            }
            Command::PlayPrompt { leg, prompt } => {
                if let Some(h) = call.lock().host.legs.get_mut(&leg) {
                    h.prompt = Some(prompt);
                }
                call.changed();
            }
            Command::IndicateRinging => caller.ring_ready(),
            Command::SwapBridge { new, old } => {
                // The caller's bridge ends when `old` hangs up; its thread then bridges `new`.
                let uuid = {
                    let mut s = call.lock();
                    s.host.swap_to = Some(new);
                    s.host.legs.get_mut(&old).and_then(|h| h.stop(ffi::SWITCH_CAUSE_NORMAL_CLEARING))
                };
                call.changed();
                hang_up(uuid, ffi::SWITCH_CAUSE_NORMAL_CLEARING);
            }
            // Music for the caller from its own channel (a broadcast), so neither the
            // caller nor the mobile is re-INVITEd; the mobile hears silence meanwhile.
            Command::HoldCaller => {
                let music = caller.hold_music().unwrap_or_else(|| DEFAULT_HOLD_MUSIC.into());
                if !caller.broadcast_loop(&music) {
                    log::warn!("twinning {}: could not play hold music {music}", call.user);
                }
            }
            Command::ResumeCaller => caller.stop_broadcast(),
            Command::BlindTransfer { context, exten } => {
                if !caller.transfer(&exten, &context) {
                    log::warn!("twinning {}: blind transfer failed", call.user);
                }
            }
            // The mobile hung up: the caller hears hold music while the desk is offered
            // the call (the caller's thread waits meanwhile).
            Command::Park => {
                let music = caller.hold_music().unwrap_or_else(|| DEFAULT_HOLD_MUSIC.into());
                caller.broadcast_loop(&music);
            }
            // The music plays on the caller's own thread, which cannot take the command
            // until it stops: stop it from here.
            Command::ReleaseCaller => caller.stop_broadcast(),
            Command::Unpark { .. } | Command::Bridge { .. } => {
                if let Command::Unpark { .. } = command {
                    caller.stop_broadcast();
                }
                if here == Here::Caller {
                    return Some(command);
                }
                call.queue_for_caller(command);
            }
            // Not carried out here yet: the consult fails at once, which ends it and takes
            // the caller off hold.
            Command::DialConsult { leg, .. } => {
                log::warn!("twinning {}: consult calls are not supported on FreeSWITCH yet", call.user);
                for c in call.feed(Event::LegFailed(leg, twinning_core::call::LegFailure::Unavailable), here)
                {
                    log::error!("twinning {}: consult command left unperformed: {c:?}", call.user);
                }
            }
            Command::EndConsult { resume, .. } => {
                if resume {
                    caller.stop_broadcast();
                }
            }
            Command::ConnectConsult { .. }
            | Command::AttendedTransfer { .. }
            | Command::Conference { .. } => {
                log::error!("twinning {}: {command:?} without a consult call", call.user);
            }
            Command::Notify(_) | Command::ReleaseMobileSlot | Command::Finish { .. } => return Some(command),
        }
        None
    }

    /// Stops every leg still up; the caller's thread then waits for the leg threads to let
    /// go of the call (see [`FreeSwitch::released`]).
    fn abandon(&self, call: &Arc<TwinnedCall>) {
        let uuids: Vec<String> = {
            let mut s = call.lock();
            s.host
                .legs
                .values_mut()
                .filter_map(|h| {
                    let joined = h.joined;
                    h.stop(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL).filter(|_| !joined)
                })
                .collect()
        };
        call.changed();
        for uuid in uuids {
            hang_up(Some(uuid), ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL);
        }
    }

    /// Leg threads (and an API request or a bridge callback in progress) hold the call and
    /// may use the caller's session: `twinning` does not return before they are gone.
    fn released(&self, call: &Arc<TwinnedCall>) {
        call.wait_for_other_holders();
    }

    fn emit_call_event(&self, caller: &Session, e: &CallEvent) {
        events::fire(e.subclass, Some(*caller), &e.fields);
    }

    fn settings_changed(&self, change: &Change, source: &Source) {
        let e = call_events::settings_changed(change, source);
        events::fire(e.subclass, None, &e.fields);
    }

    fn settings_refused(&self, user: &str, field: &str, source: &Source, reason: &str) {
        let e = call_events::settings_refused(user, field, source, reason);
        events::fire(e.subclass, None, &e.fields);
    }

    fn security_event(&self, e: &CallEvent) {
        events::fire(e.subclass, None, &e.fields);
    }

    fn lamp_changed(&self, lamp: Lamp, user: &str, state: LampState) {
        crate::lamps::publish(lamp, user, state, &crate::lamps::domain(), None);
    }

    fn caller_name(&self, caller: &Session) -> String {
        caller.name()
    }

    fn caller_uniqueid(&self, caller: &Session) -> String {
        caller.uuid()
    }
}

/// Reports how `leg` ended, unless someone already did, in one step (so two threads that
/// both saw it end report it once); returns what only another thread can carry out.
pub fn leg_ended(call: &Arc<TwinnedCall>, leg: LegId, event: Event, here: Here) -> Vec<Command> {
    let now = std::time::Instant::now();
    let (_, commands) = call.step(|s| {
        let first = match s.host.legs.get_mut(&leg) {
            Some(h) if !h.ended => {
                h.ended = true;
                true
            }
            Some(_) => false,
            None => true,
        };
        if first {
            s.engine.handle_event(event, now);
        }
    });
    call.execute(commands, here)
}

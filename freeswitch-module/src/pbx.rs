//! How the call driver reaches FreeSWITCH: the [`Host`] implementation, the per-call state
//! (each leg's handle, which leg the caller is bridged with, a swap under way), and the
//! module's one driver.
//!
//! Other threads act on a leg through its uuid ([`LockedSession::locate`]), never through
//! a pointer its owner's thread may let go of.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use twinning_core::call::{Command, DialTarget, Event, LegId, LegKind, Prompt};
use twinning_core::lamp::{Lamp, LampState};
use twinning_core::Change;
use twinning_driver::{Call, Driver, Host};
use twinning_service::call_events::{self, CallEvent};
use twinning_service::Source;

use crate::host::session::{LockedSession, Session};
use crate::host::{events, ffi, keys};
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
    /// A leg thread of ours attends to the leg (see `leg`): from its placing until the
    /// caller's bridge takes it, and again should it leave that bridge still up.
    pub attended: bool,
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
            attended: true,
        }
    }

    pub fn joined(kind: LegKind, session: Session) -> LegHandle {
        LegHandle { uuid: Some(session.uuid()), joined: true, attended: false, ..LegHandle::dialing(kind) }
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
    /// The caller's bridge with this leg was ended on purpose (the mobile left it to
    /// consult): the leg is still there, and nothing is reported.
    pub apart: Option<LegId>,
    /// A consult from the mobile under way.
    pub consult: Option<ConsultLink>,
    /// The conference the mobile made: its mobile (until it leaves) and third party.
    pub conference: Option<Conference>,
    /// The hold music the caller hears in place of its bridge while held (see
    /// [`hold_caller`]).
    pub held_with: Option<String>,
    /// The caller's thread may have hold music queued (it waited out a consult) that must
    /// not play when it next bridges.
    pub music_queued: bool,
}

/// A consult as the threads carry it out. The consult leg's thread bridges it with the
/// mobile (the mobile's own thread runs the far side of that bridge), and once that bridge
/// is over it carries out what ended it (`then`).
pub struct ConsultLink {
    pub mobile: LegId,
    pub leg: LegId,
    /// The third party answered: its thread is to bridge it with the mobile.
    pub connect: bool,
    /// The consult leg's thread is in the bridge with the mobile.
    pub bridged: bool,
    pub then: Option<AfterConsult>,
}

/// A three-party conference (mod_conference) the mobile made from a consult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conference {
    pub mobile: Option<LegId>,
    pub third: LegId,
}

/// What follows the bridge of the mobile with the third party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterConsult {
    /// The mobile goes back to the caller (the third party has been hung up).
    BackToCaller,
    /// The third party takes the mobile's place with the caller (the mobile is hung up).
    Transfer,
    /// The caller, the mobile and the third party in one conference.
    Conference,
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
            Command::HoldCaller => hold_caller(call),
            Command::ResumeCaller => resume_caller(call),
            Command::BlindTransfer { context, exten } => {
                if !caller.transfer(&exten, &context) {
                    log::warn!("twinning {}: blind transfer failed", call.user);
                }
            }
            // The mobile hung up: the caller hears hold music while the desk is offered
            // the call (the caller's thread waits meanwhile).
            Command::Park => play_hold_music(caller),
            // The music plays on the caller's own thread, which cannot take the command
            // until it stops: stop it from here.
            Command::ReleaseCaller => resume_caller(call),
            Command::Unpark { .. } | Command::Bridge { .. } => {
                if let Command::Unpark { .. } = command {
                    resume_caller(call);
                }
                if here == Here::Caller {
                    return Some(command);
                }
                call.queue_for_caller(command);
            }
            Command::DialConsult { leg, context, exten, caller_id, account_code } => {
                let mobile = {
                    let mut s = call.lock();
                    let mobile = s.engine.consult().map(|(_, mobile, _)| mobile);
                    s.host.legs.insert(leg, LegHandle::dialing(LegKind::Consult));
                    if let Some(mobile) = mobile {
                        s.host.consult =
                            Some(ConsultLink { mobile, leg, connect: false, bridged: false, then: None });
                        s.host.apart = Some(mobile);
                    }
                    mobile.and_then(|m| s.host.legs.get(&m)).and_then(|h| h.uuid.clone())
                };
                // The mobile leaves the caller's bridge at once (the caller's thread keeps
                // the caller on music): parked, it waits for the third party to answer, and
                // its end of a later bridge parks it again rather than hanging it up.
                if let Some(mobile) = mobile.as_deref().and_then(LockedSession::locate) {
                    mobile.session().set_variable("park_after_bridge", "true");
                    mobile.session().park();
                    crate::hooks::watch_ringing_consult_keys(call, mobile.session());
                }
                // Through the dialplan as the user: a local channel runs `context` for the
                // number, which the engine let through as digits only, so it can never be
                // more than an extension (`loopback/<exten>/<context>`).
                let target = DialTarget { tech: "loopback".into(), resource: format!("{exten}/{context}") };
                leg::spawn(
                    call.clone(),
                    leg::Placement { leg, kind: LegKind::Consult, target, caller_id, account_code },
                );
            }
            // The consult bridge's own key filter takes the mobile's keys from here on.
            Command::ConnectConsult { consult, mobile } => {
                let uuid = {
                    let mut s = call.lock();
                    if let Some(c) = s.host.consult.as_mut().filter(|c| c.leg == consult) {
                        c.connect = true;
                    }
                    s.host.legs.get(&mobile).and_then(|h| h.uuid.clone())
                };
                if let Some(uuid) = uuid {
                    keys::unwatch(&uuid);
                }
                call.changed();
            }
            Command::EndConsult { mobile, resume, .. } => {
                let in_bridge = {
                    let mut s = call.lock();
                    if let Some(uuid) = s.host.legs.get(&mobile).and_then(|h| h.uuid.as_deref()) {
                        keys::unwatch(uuid);
                    }
                    after_consult(&mut s.host, AfterConsult::BackToCaller)
                };
                call.changed();
                // Held before the consult: the caller stays held in the bridge to come.
                if resume {
                    resume_caller(call);
                }
                // Otherwise the consult leg's thread does it once its bridge is over.
                if !in_bridge {
                    bridge_caller_with(call, mobile);
                }
            }
            Command::AttendedTransfer { consult, mobile } => {
                let (in_bridge, mobile_uuid) = {
                    let mut s = call.lock();
                    let mobile_uuid =
                        s.host.legs.get_mut(&mobile).and_then(|h| h.stop(ffi::SWITCH_CAUSE_NORMAL_CLEARING));
                    let in_bridge = after_consult(&mut s.host, AfterConsult::Transfer);
                    (in_bridge, mobile_uuid)
                };
                call.changed();
                resume_caller(call);
                // Hanging the mobile up ends its bridge with the third party, whose
                // thread then bridges the caller with it.
                hang_up(mobile_uuid, ffi::SWITCH_CAUSE_NORMAL_CLEARING);
                if !in_bridge {
                    bridge_caller_with(call, consult);
                }
            }
            Command::Conference { consult, mobile } => {
                let (in_bridge, mobile_uuid) = {
                    let mut s = call.lock();
                    let mobile_uuid = s.host.legs.get(&mobile).and_then(|h| h.uuid.clone());
                    let in_bridge = after_consult(&mut s.host, AfterConsult::Conference);
                    (in_bridge, mobile_uuid)
                };
                call.changed();
                resume_caller(call);
                if in_bridge {
                    // Parked, the mobile leaves its bridge with the third party (neither
                    // is hung up), whose thread then joins all three.
                    if let Some(m) = mobile_uuid.as_deref().and_then(LockedSession::locate) {
                        m.session().park();
                    }
                } else {
                    join_conference(call, mobile, consult);
                }
            }
            Command::Notify(_) | Command::ReleaseMobileSlot | Command::Finish { .. } => return Some(command),
        }
        None
    }

    /// Stops every leg still up; the caller's thread then waits for the leg threads to let
    /// go of the call (see [`FreeSwitch::released`]).
    fn abandon(&self, call: &Arc<TwinnedCall>) {
        // The caller goes on in the dialplan: nothing of a hold stays on its channel.
        let held_with = call.lock().host.held_with.take();
        if let Some(music) = held_with {
            call.caller.stop_displace(&music);
            call.caller.stop_displace(HOLD_SILENCE);
        }
        let uuids: Vec<String> = {
            let mut s = call.lock();
            for uuid in s.host.legs.values().filter_map(|h| h.uuid.as_deref()) {
                keys::unwatch(uuid);
            }
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

/// Has the caller's thread bridge the caller with `leg` (the mobile back from a consult,
/// or the third party after an attended transfer): queued for it, and its hold music
/// stopped until it has taken the command (music the caller's thread plays keeps it from
/// taking commands; a stop that came before the music started would be lost).
pub fn bridge_caller_with(call: &Arc<TwinnedCall>, leg: LegId) {
    call.lock().host.music_queued = true;
    call.queue_for_caller(Command::Bridge { leg });
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let bridged = loop {
        let (bridged, over) = {
            let s = call.lock();
            let over = s.engine.is_finished() || s.host.legs.get(&leg).is_none_or(|h| h.ended);
            (s.host.in_bridge == Some(leg), over)
        };
        if bridged || over || std::time::Instant::now() > until {
            break bridged;
        }
        call.caller.stop_broadcast();
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    if !bridged {
        log::warn!("twinning {}: the caller's thread did not take the bridge in time", call.user);
    }
}

/// Puts the caller, the mobile and the third party in one conference of mod_conference,
/// named after the caller's channel: each joins from its own thread (the caller's waits,
/// the legs are parked), so none is re-INVITEd. The conference is breakable, so the
/// caller's thread can take the caller out of it again (a stopped broadcast), as it does
/// its music.
pub fn join_conference(call: &Arc<TwinnedCall>, mobile: LegId, third: LegId) {
    let room = format!("twinning-{}@default", call.caller.uuid());
    let uuids: Vec<(LegId, Option<String>)> = {
        let mut s = call.lock();
        s.host.conference = Some(Conference { mobile: Some(mobile), third });
        [mobile, third]
            .into_iter()
            .map(|leg| (leg, s.host.legs.get(&leg).filter(|h| !h.ended).and_then(|h| h.uuid.clone())))
            .collect()
    };
    for (leg, uuid) in uuids {
        let Some(locked) = uuid.as_deref().and_then(LockedSession::locate) else { continue };
        let s = locked.session();
        s.set_variable("conference_flags", "breakable");
        if leg == mobile {
            let kind = call.lock().host.legs.get(&mobile).map_or(LegKind::MOBILE, |h| h.kind);
            crate::hooks::watch_conference_keys(call, s, kind);
        }
        // The third party's own thread has been idle since it was placed: once parked (not
        // before: the park's start would end the conference at once), it takes up what is
        // queued for it.
        if leg == third {
            s.park();
            let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while !s.is_parked() && s.is_up() && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        if !s.run_app("conference", &room) {
            log::warn!("twinning {}: could not put a leg in conference {room}", call.user);
        }
    }
    call.caller.set_variable("conference_flags", "breakable");
    // Music still queued for the caller's thread would come first, and keep it out.
    call.caller.drop_queued_work();
    call.caller.stop_broadcast();
    if !call.caller.run_app("conference", &room) {
        log::warn!("twinning {}: could not put the caller in conference {room}", call.user);
    }
}

/// The third party of a conference left (hung up, or dropped by the mobile): the mobile,
/// if still there, goes back to a bridge with the caller.
pub fn third_left_conference(call: &Arc<TwinnedCall>, third: LegId) {
    let mobile = {
        let mut s = call.lock();
        match s.host.conference {
            Some(c) if c.third == third => {
                s.host.conference = None;
                if let Some(uuid) = c.mobile.and_then(|m| s.host.legs.get(&m)).and_then(|h| h.uuid.as_deref())
                {
                    keys::unwatch(uuid);
                }
                c.mobile.filter(|m| s.host.legs.get(m).is_some_and(|h| !h.ended) && !s.engine.is_finished())
            }
            _ => None,
        }
    };
    if let Some(mobile) = mobile {
        bridge_caller_with(call, mobile);
    }
}

/// What a held caller's far end hears from it: nothing.
const HOLD_SILENCE: &str = "silence_stream://-1";

/// Holds the caller where it is: its hold music replaces what it hears, and silence what
/// its far end hears from it, by media bugs on its channel. Its bridge goes on untouched,
/// so neither phone is re-INVITEd and the mobile's keys are still heard (a broadcast in the
/// bridge would suspend the mobile's side, keys and all, until it ends).
fn hold_caller(call: &TwinnedCall) {
    let caller = call.caller;
    let music = caller.hold_music().unwrap_or_else(|| DEFAULT_HOLD_MUSIC.into());
    {
        let mut s = call.lock();
        if s.host.held_with.is_some() {
            return;
        }
        s.host.held_with = Some(music.clone());
    }
    if !caller.displace(&music, false) || !caller.displace(HOLD_SILENCE, true) {
        log::warn!("twinning {}: could not play hold music {music}", call.user);
    }
}

/// Takes the caller off hold: the hold's media bugs, and any music its own thread plays.
pub fn resume_caller(call: &TwinnedCall) {
    let held_with = call.lock().host.held_with.take();
    if let Some(music) = held_with {
        call.caller.stop_displace(&music);
        call.caller.stop_displace(HOLD_SILENCE);
    }
    call.caller.stop_broadcast();
}

/// Hold music for the caller from its own thread, unless some plays or is queued already
/// (the mobile hanging up during a consult parks a caller who has music): a second would
/// start when the first is stopped, and keep the caller's thread from its next command.
pub fn play_hold_music(caller: Session) {
    if caller.is_broadcasting() || caller.has_queued_work() {
        return;
    }
    let music = caller.hold_music().unwrap_or_else(|| DEFAULT_HOLD_MUSIC.into());
    if !caller.broadcast_loop(&music) {
        log::warn!("twinning: could not play hold music {music}");
    }
}

/// What follows the consult: if the mobile and the third party are still bridged, their
/// bridge's end carries it out (`then`, on the consult leg's thread) and this is true;
/// otherwise the consult is over here and the caller of this carries it out.
fn after_consult(shared: &mut Shared, then: AfterConsult) -> bool {
    match shared.consult.as_mut() {
        Some(c) if c.bridged => {
            c.then = Some(then);
            true
        }
        _ => {
            shared.consult = None;
            false
        }
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
    // The call ended with the caller waiting on music or in a conference, which its own
    // thread runs: stopped, it sees the end.
    if here != Here::Caller && call.is_finished() {
        call.caller.stop_broadcast();
    }
    call.execute(commands, here)
}

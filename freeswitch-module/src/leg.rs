//! One leg's thread: places it with `switch_ivr_originate` (which returns the new session
//! once it rings, or answers), then attends to it: reports answer and hang-up to the
//! engine, plays the confirmation prompt when asked, bridges a consult's third party with
//! the mobile. It sleeps in between: its channel answering or hanging up (see `wakeups`),
//! a command for it and the engine's next timer wake it.
//!
//! Once the caller's thread has bridged the leg, the leg's thread lets go of it: the
//! bridge holds the session and reports its end, so a talking call keeps no thread of ours
//! asleep (at 1,500 calls, 1,500 threads, each woken at the hang-up). Should the leg leave
//! the caller's bridge and stay up (the mobile gone to consult), the caller's thread gives
//! it a thread again ([`resume`]). [`LegHandle::attended`](crate::pbx::LegHandle) says, under
//! the call's lock, whether one has it, so there is never none and never two.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use twinning_core::call::{CallerId, DialTarget, Event, LegFailure, LegId, LegKind, Prompt, CONFIRM_TIMEOUT};

use crate::hooks;
use crate::host::session::{self, LockedSession, Session};
use crate::host::{bridge, ffi, guard, module};
use crate::pbx::{
    bridge_caller_with, join_conference, leg_ended, third_left_conference, AfterConsult, Here, TwinnedCall,
};
use crate::wakeups;

const POLL: Duration = Duration::from_millis(20);
/// How long a ringing leg's thread sleeps at most when nothing wakes it: only the net
/// under an event FreeSWITCH failed to deliver (its queue full).
const RINGING_WAIT: Duration = Duration::from_secs(1);
/// The confirmation prompt when the caller's channel sets no `twinning_confirm_prompt`.
const DEFAULT_CONFIRM_PROMPT: &str = "tone_stream://%(400,200,660);loops=2";

/// A leg to place, as the engine asked for it.
pub struct Placement {
    pub leg: LegId,
    pub kind: LegKind,
    pub target: DialTarget,
    pub caller_id: CallerId,
    pub account_code: Option<String>,
}

pub fn spawn(call: Arc<TwinnedCall>, placement: Placement) {
    let thread_call = call.clone();
    let (leg, kind) = (placement.leg, placement.kind);
    module::THREADS.spawn(
        format!("twinning-{}", kind.name()),
        move || guard::catch("leg thread", (), || run(&thread_call, &placement)),
        move || {
            let event = Event::LegFailed(leg, LegFailure::Unavailable);
            queue_leftovers(&call, leg_ended(&call, leg, event, Here::Anywhere));
        },
    );
}

/// Attends to `leg` again on a thread of its own: it left the caller's bridge and is still
/// up, while no thread of ours had it (see the module's comment). Call with the leg marked
/// attended.
pub fn resume(call: Arc<TwinnedCall>, leg: LegId, kind: LegKind) {
    let thread_call = call.clone();
    module::THREADS.spawn(
        format!("twinning-{}", kind.name()),
        move || guard::catch("leg thread", (), || rejoin(&thread_call, leg, kind)),
        move || {
            log::error!("twinning {}: no thread for a leg out of the bridge; hanging it up", call.user);
            give_up(&call, leg);
        },
    );
}

/// A leg no thread of ours can attend to may not stay: hangs it up if it is still there,
/// and reports its end.
fn give_up(call: &Arc<TwinnedCall>, leg: LegId) {
    let uuid = call.lock().host.legs.get(&leg).and_then(|h| h.uuid.clone());
    if let Some(l) = uuid.as_deref().and_then(LockedSession::locate) {
        l.session().hangup(ffi::SWITCH_CAUSE_NORMAL_CLEARING);
    }
    queue_leftovers(call, leg_ended(call, leg, Event::LegHungUp(leg), Here::Anywhere));
}

/// Anything a leg's step leaves for the caller's thread has been queued for it already
/// (see `pbx`); nothing else may be left.
fn queue_leftovers(call: &TwinnedCall, commands: Vec<twinning_core::call::Command>) {
    for c in commands {
        log::error!("twinning {}: left over on a leg thread: {c:?}", call.user);
    }
}

fn feed(call: &Arc<TwinnedCall>, event: Event) {
    queue_leftovers(call, call.feed(event, Here::Anywhere));
}

fn run(call: &Arc<TwinnedCall>, placement: &Placement) {
    let (leg, kind) = (placement.leg, placement.kind);
    let Some(cancel) = call.lock().host.legs.get(&leg).map(|h| h.cancel.clone()) else { return };
    let Some(locked) = originate(call, placement, &cancel) else { return };
    let s = locked.session();
    {
        let mut st = call.lock();
        match st.host.legs.get_mut(&leg) {
            Some(h) if !h.ended => h.uuid = Some(s.uuid()),
            // Cancelled while the attempt was being made: let it go.
            _ => {
                drop(st);
                s.hangup(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL);
                return;
            }
        }
    }
    let answered = s.is_answered();
    feed(call, if answered { Event::LegAnswered(leg) } else { Event::LegRinging(leg) });
    attend(call, leg, kind, &locked, answered);
}

/// The thread [`resume`] started: the leg's session again, by its uuid.
fn rejoin(call: &Arc<TwinnedCall>, leg: LegId, kind: LegKind) {
    let uuid = call.lock().host.legs.get(&leg).filter(|h| !h.ended).and_then(|h| h.uuid.clone());
    let Some(locked) = uuid.as_deref().and_then(LockedSession::locate) else {
        give_up(call, leg);
        return;
    };
    attend(call, leg, kind, &locked, true);
}

/// How a leg's thread let go of its leg.
#[derive(PartialEq, Eq)]
enum LetGo {
    /// The leg is over: its end reported, or ended by a command.
    Over,
    /// The caller's thread bridged it, and has it now.
    ToCallersBridge,
}

/// Attends to the placed (or rejoined) leg until its thread lets go of it.
fn attend(call: &Arc<TwinnedCall>, leg: LegId, kind: LegKind, locked: &LockedSession, answered: bool) {
    // Watched before the loop looks at the channel: whatever it does after wakes the wait.
    let watch = wakeups::watch(locked.session().uuid(), call);
    let over = service(call, leg, kind, locked, answered);
    drop(watch);
    // However the third party of a conference ended, the mobile goes back to the caller.
    if over == LetGo::Over && kind == LegKind::Consult {
        third_left_conference(call, leg);
    }
}

/// Attends to the leg until it is over or the caller's bridge has it.
fn service(
    call: &Arc<TwinnedCall>,
    leg: LegId,
    kind: LegKind,
    locked: &LockedSession,
    mut answered: bool,
) -> LetGo {
    let s = locked.session();
    loop {
        // Read before the leg is looked at: whatever moves after it wakes the wait below.
        let seen = call.changes();
        let (ended, prompt, swap_pending) = {
            let mut st = call.lock();
            let in_bridge = st.host.in_bridge == Some(leg);
            let swap_pending = st.host.swap_to == Some(leg);
            match st.host.legs.get_mut(&leg) {
                // The caller's bridge holds the session and reports the leg's end.
                Some(h) if in_bridge => {
                    h.attended = false;
                    return LetGo::ToCallersBridge;
                }
                Some(h) => (h.ended, h.prompt.take(), swap_pending),
                None => (true, None, swap_pending),
            }
        };
        // Next in the caller's bridge once the current one ends: the swap reports it.
        if swap_pending {
            wait_and_tick(call, seen);
            continue;
        }
        if ended {
            if s.is_up() {
                s.hangup(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL);
            }
            return LetGo::Over;
        }
        // Not `is_ready`: a leg moving between bridges (the mobile parked for a consult)
        // is briefly not ready, yet still there.
        if !s.is_up() {
            let event = if answered {
                Event::LegHungUp(leg)
            } else {
                Event::LegFailed(leg, failure_for_cause(s.cause()))
            };
            queue_leftovers(call, leg_ended(call, leg, event, Here::Anywhere));
            return LetGo::Over;
        }
        if !answered && s.is_answered() {
            answered = true;
            feed(call, Event::LegAnswered(leg));
        }
        if kind == LegKind::Consult && answered && consult_connect(call, leg) {
            match consult_bridge(call, leg, locked) {
                ConsultOver::Gone => return LetGo::Over,
                ConsultOver::GoesOn => continue,
            }
        }
        if let Some(Prompt::Confirm) = prompt {
            if let Some(key) = read_confirmation(call, s) {
                feed(call, Event::LegDtmf(leg, key));
            }
            continue;
        }
        wait_and_tick(call, seen);
    }
}

/// Waits for news, then fires the engine's timers that are due: a leg's thread does, for
/// the caller's thread may be in a bridge (a handover rings the desk while the mobile
/// talks).
fn wait_and_tick(call: &Arc<TwinnedCall>, seen: u64) {
    wait_for_news(call, seen);
    let commands = call.tick();
    queue_leftovers(call, call.execute(commands, Here::Anywhere));
}

/// Sleeps until the call changed after `seen` (the leg's channel answered or hung up, a
/// command for the leg), or the engine's next timer is due.
fn wait_for_news(call: &TwinnedCall, seen: u64) {
    let timeout = call
        .deadline()
        .map_or(RINGING_WAIT, |d| d.saturating_duration_since(Instant::now()).min(RINGING_WAIT));
    call.wait_until(timeout, |st| st.changes() != seen);
}

/// Places the leg; `None` once the outcome has been reported (failure or cancel).
fn originate(call: &Arc<TwinnedCall>, placement: &Placement, cancel: &AtomicU32) -> Option<LockedSession> {
    let Placement { leg, kind, target, caller_id, account_code } = placement;
    let (leg, kind) = (*leg, *kind);
    // The target was validated as Tech/resource with no dial-string metacharacters, so
    // this is exactly one endpoint; variables go in `ovars`, never in the string.
    // A withheld caller stays withheld. Sofia's privacy flags only add `Privacy: id` (or
    // an RPID privacy) and leave the number in From, which a public trunk shows; so the
    // leg presents `anonymous`, as Asterisk's chan_pjsip does for a restricted caller.
    let privacy = if caller_id.withheld { "hide_name:hide_number" } else { "no" };
    let (cid_name, cid_number) = if caller_id.withheld {
        ("Anonymous", "anonymous")
    } else {
        (caller_id.name.as_str(), caller_id.number.as_str())
    };
    let caller_uuid = call.caller.uuid();
    let dial = format!("{}/{}", target.tech, target.resource);
    let vars = [
        // Placed as the caller's leg without handing originate the caller's session (which
        // it would read media from, on this thread): the new channel takes the caller's
        // codecs as its preference, so the leg offers what the caller uses (no
        // transcoding where the trunk has it too), and its CDR names the caller.
        ("origination_aleg_uuid", caller_uuid.as_str()),
        ("twinning_caller_uuid", caller_uuid.as_str()),
        // What the leg dialed, for its CDR (mod_cdr_csv, mod_xml_cdr) beside its name.
        ("twinning_destination", dial.as_str()),
        ("origination_privacy", privacy),
        // Return as soon as it rings, so the engine hears ringing and keeps control of the
        // answer (guard, confirmation, first answer wins).
        ("return_ring_ready", "true"),
        ("ignore_early_media", "true"),
        ("twinning_user", call.user.as_str()),
        ("twinning_leg", kind.name()),
    ];
    // The CDR of a remote leg is billed to the twinning user (mod_cdr_csv and mod_xml_cdr
    // write the leg's own accountcode); without one, the leg is billed as FreeSWITCH bills
    // any call it places.
    let billed: Vec<(&str, &str)> = account_code.iter().map(|c| ("accountcode", c.as_str())).collect();
    // A consult's local channel stays ours for the whole call: the loopback pair must not
    // bow out (hand its two ends to each other) once both are bridged, and the dialplan
    // side is billed to the user as the desk's own calls are.
    // A local channel speaks L16, and the leg the dialplan places for it would offer only
    // that (a trunk or a phone is unlikely to take it): that leg offers its usual codecs
    // too, and the local channel transcodes.
    let consult = (kind == LegKind::Consult)
        .then_some([
            ("loopback_bowout", "false"),
            ("loopback_export", "accountcode"),
            ("media_mix_inbound_outbound_codecs", "true"),
            ("export_vars", "media_mix_inbound_outbound_codecs"),
        ])
        .into_iter()
        .flatten();
    let vars: Vec<(&str, &str)> = vars.iter().copied().chain(billed).chain(consult).collect();
    match session::originate(&dial, cid_name, cid_number, &vars, cancel) {
        Ok(locked) => Some(locked),
        Err(cause) => {
            if cancel.load(Ordering::SeqCst) == 0 {
                let event = Event::LegFailed(leg, failure_for_cause(cause));
                queue_leftovers(call, leg_ended(call, leg, event, Here::Anywhere));
            }
            None
        }
    }
}

/// Plays the confirmation prompt and reads one key; `None` on timeout or hang-up (the
/// engine's own timer declines the leg).
fn read_confirmation(call: &TwinnedCall, s: Session) -> Option<char> {
    let prompt = call
        .caller
        .variable("twinning_confirm_prompt")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_CONFIRM_PROMPT.into());
    let (_, keys) = s.read(&prompt, 1, 1, CONFIRM_TIMEOUT.as_millis() as u64, "");
    keys.chars().next().filter(char::is_ascii_graphic)
}

/// How a failed attempt's hang-up cause reads to the engine.
pub fn failure_for_cause(cause: ffi::switch_call_cause_t) -> LegFailure {
    match cause {
        ffi::SWITCH_CAUSE_USER_BUSY => LegFailure::Busy,
        ffi::SWITCH_CAUSE_CALL_REJECTED
        | ffi::SWITCH_CAUSE_NO_ANSWER
        | ffi::SWITCH_CAUSE_NO_USER_RESPONSE => LegFailure::Rejected,
        ffi::SWITCH_CAUSE_NORMAL_CIRCUIT_CONGESTION => LegFailure::Congestion,
        _ => LegFailure::Unavailable,
    }
}

/// Whether the consult leg `leg` is to be bridged with the mobile now (the third party
/// answered); marks it bridged if so, in the same step, so a command ending the consult
/// meanwhile either sees the bridge or is seen before it starts.
fn consult_connect(call: &TwinnedCall, leg: LegId) -> bool {
    let mut st = call.lock();
    let ended = st.host.legs.get(&leg).is_none_or(|h| h.ended);
    match st.host.consult.as_mut() {
        Some(c) if c.leg == leg && c.connect && !c.bridged && c.then.is_none() && !ended => {
            c.bridged = true;
            true
        }
        _ => false,
    }
}

/// How the consult leg's bridge with the mobile ended, for its thread.
enum ConsultOver {
    /// The consult leg is over: its thread lets go of it.
    Gone,
    /// The leg goes on: the third party is now the caller's (an attended transfer), or
    /// its bridge with the mobile is to be tried again; its thread services it as before.
    GoesOn,
}

/// Bridges the third party (this thread reads its side; its session thread is idle since
/// originate) with the mobile (whose own thread runs the far side, out of its park), with
/// the consult codes on the mobile's keys, until one of them leaves or a command breaks
/// the bridge; then carries out what follows.
fn consult_bridge(call: &Arc<TwinnedCall>, leg: LegId, locked: &LockedSession) -> ConsultOver {
    let s = locked.session();
    let mobile = call.lock().host.consult.as_ref().map(|c| c.mobile);
    // The caller's bridge let the mobile go when the consult began; wait for the caller's
    // thread to be out of it (its music may hold it there: stopping the music lets it see
    // the mobile gone), or the two bridges would share the mobile.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while mobile.is_some() && call.lock().host.in_bridge == mobile && std::time::Instant::now() < until {
        call.caller.stop_broadcast();
        std::thread::sleep(POLL);
    }
    let mobile_uuid = mobile.and_then(|m| call.lock().host.legs.get(&m).filter(|h| !h.ended)?.uuid.clone());
    let mobile_locked = mobile_uuid.as_deref().and_then(LockedSession::locate);
    if let Some(m) = &mobile_locked {
        bridge::bridge(s, m, None, Some(hooks::consult_key_filter(call)));
    }
    let mobile_gone = mobile_locked.as_ref().is_none_or(|m| !m.session().is_up());
    drop(mobile_locked);
    let then = {
        let mut st = call.lock();
        st.host.consult.as_mut().and_then(|c| {
            c.bridged = false;
            c.then.take()
        })
    };
    call.changed();
    let then = match then {
        Some(then) => Some(then),
        // A command hung up one side and the one saying what follows comes next in the
        // same step (the drop code's cancel, then the end of the consult): wait for it.
        None if call.lock().host.legs.get(&leg).is_none_or(|h| h.ended) => {
            call.wait_until(Duration::from_secs(2), |st| {
                st.engine.is_finished() || st.host.consult.as_ref().is_none_or(|c| c.then.is_some())
            });
            call.lock().host.consult.as_mut().and_then(|c| c.then.take())
        }
        None => None,
    };
    match then {
        Some(AfterConsult::BackToCaller) => {
            call.lock().host.consult = None;
            if s.is_up() {
                s.hangup(ffi::SWITCH_CAUSE_NORMAL_CLEARING);
            }
            if let Some(mobile) = mobile {
                bridge_caller_with(call, mobile);
            }
            ConsultOver::Gone
        }
        Some(AfterConsult::Transfer) => {
            call.lock().host.consult = None;
            bridge_caller_with(call, leg);
            ConsultOver::GoesOn
        }
        // This thread services the third party in the conference as any leg: it reports
        // its end.
        Some(AfterConsult::Conference) => {
            call.lock().host.consult = None;
            if let Some(mobile) = mobile {
                join_conference(call, mobile, leg);
            }
            ConsultOver::GoesOn
        }
        None if call.lock().host.legs.get(&leg).is_none_or(|h| h.ended) => ConsultOver::Gone,
        // The third party hung up: the engine ends the consult (this thread puts the mobile
        // back with the caller, as it carries out the engine's command).
        None if !s.is_up() => {
            queue_leftovers(call, leg_ended(call, leg, Event::LegHungUp(leg), Here::Anywhere));
            ConsultOver::Gone
        }
        // The mobile hung up: as a desk phone, the transfer completes (the engine says so
        // and this thread bridges the caller with the third party).
        None if mobile_gone => {
            if let Some(mobile) = mobile {
                queue_leftovers(call, leg_ended(call, mobile, Event::LegHungUp(mobile), Here::Anywhere));
            }
            if call.lock().host.legs.get(&leg).is_some_and(|h| !h.ended) {
                ConsultOver::GoesOn
            } else {
                ConsultOver::Gone
            }
        }
        // Neither left and nothing was asked (a bridge that could not start): try again.
        None => {
            if let Some(c) = call.lock().host.consult.as_mut() {
                c.bridged = false;
            }
            std::thread::sleep(POLL);
            ConsultOver::GoesOn
        }
    }
}

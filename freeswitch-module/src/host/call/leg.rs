//! One leg's thread: places it with `switch_ivr_originate` (which returns the new session
//! once it rings, or answers), then watches it until it ends: reports answer and hang-up
//! to the engine, plays the confirmation prompt when asked, and keeps the session's read
//! lock while the caller may be bridged with it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use twinning_core::call::{CallerId, DialTarget, Event, LegFailure, LegId, LegKind, Prompt, CONFIRM_TIMEOUT};

use super::control::{execute, CallCtl};
use super::RUNNING_THREADS;
use crate::host::session::{LockedSession, Session};
use crate::host::{cstr, ffi, guard, logger};

const POLL: Duration = Duration::from_millis(20);
const BRIDGED_POLL: Duration = Duration::from_millis(100);
/// The confirmation prompt when the caller's channel sets no `twinning_confirm_prompt`.
const DEFAULT_CONFIRM_PROMPT: &str = "tone_stream://%(400,200,660);loops=2";

pub fn spawn(ctl: Arc<CallCtl>, leg: LegId, kind: LegKind, target: DialTarget, caller_id: CallerId) {
    RUNNING_THREADS.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new().name(format!("twinning-{}", kind.name())).spawn({
        let ctl = ctl.clone();
        move || {
            guard::catch("leg thread", (), || run(&ctl, leg, kind, &target, &caller_id));
            RUNNING_THREADS.fetch_sub(1, Ordering::SeqCst);
        }
    });
    if spawned.is_err() {
        RUNNING_THREADS.fetch_sub(1, Ordering::SeqCst);
        logger::error("twinning: could not start a leg thread");
        let commands = ctl.leg_ended(leg, Event::LegFailed(leg, LegFailure::Unavailable));
        execute(&ctl, commands);
    }
}

fn run(ctl: &Arc<CallCtl>, leg: LegId, kind: LegKind, target: &DialTarget, caller_id: &CallerId) {
    let Some(cancel) = ctl.lock().legs.get(&leg).map(|h| h.cancel.clone()) else { return };
    let Some(session) = originate(ctl, leg, kind, target, caller_id, &cancel) else { return };
    let s = session.session();
    {
        let mut inner = ctl.lock();
        match inner.legs.get_mut(&leg) {
            Some(h) if !h.ended => h.uuid = Some(s.uuid()),
            // Cancelled while the attempt was being made: let it go.
            _ => {
                drop(inner);
                s.hangup(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL);
                return;
            }
        }
    }
    let mut answered = s.is_answered();
    let first = if answered { Event::LegAnswered(leg) } else { Event::LegRinging(leg) };
    let commands = ctl.event(first);
    execute(ctl, commands);
    let mut bridged_before = false;
    loop {
        // A bridged leg only waits for the bridge to end (its end is reported by the
        // caller's thread); timers are for legs still ringing, which poll them.
        std::thread::sleep(if bridged_before { BRIDGED_POLL } else { POLL });
        if !bridged_before {
            let commands = ctl.tick();
            execute(ctl, commands);
        }
        let (ended, prompt, bridged, swap_pending) = {
            let mut inner = ctl.lock();
            let in_bridge = inner.in_bridge == Some(leg);
            let swap_pending = inner.swap_to == Some(leg);
            match inner.legs.get_mut(&leg) {
                Some(h) => (h.ended, h.prompt.take(), in_bridge, swap_pending),
                None => (true, None, in_bridge, swap_pending),
            }
        };
        bridged_before = bridged;
        if bridged || swap_pending {
            // The caller's thread reports the end of a bridged leg; keep the lock.
            continue;
        }
        if ended {
            if s.is_ready() {
                s.hangup(ffi::SWITCH_CAUSE_ORIGINATOR_CANCEL);
            }
            return;
        }
        if !s.is_ready() {
            let event = if answered {
                Event::LegHungUp(leg)
            } else {
                Event::LegFailed(leg, failure_for_cause(s.cause()))
            };
            let commands = ctl.leg_ended(leg, event);
            execute(ctl, commands);
            return;
        }
        if !answered && s.is_answered() {
            answered = true;
            let commands = ctl.event(Event::LegAnswered(leg));
            execute(ctl, commands);
        }
        if let Some(Prompt::Confirm) = prompt {
            if let Some(key) = read_confirmation(ctl, s) {
                let commands = ctl.event(Event::LegDtmf(leg, key));
                execute(ctl, commands);
            }
        }
    }
}

/// Places the leg; `None` once the outcome has been reported (failure or cancel).
fn originate(
    ctl: &Arc<CallCtl>,
    leg: LegId,
    kind: LegKind,
    target: &DialTarget,
    caller_id: &CallerId,
    cancel: &Arc<std::sync::atomic::AtomicU32>,
) -> Option<LockedSession> {
    // The target was validated as Tech/resource with no dial-string metacharacters, so
    // this is exactly one endpoint; variables go in `ovars`, never in the string.
    let dial = cstr::owned(&format!("{}/{}", target.tech, target.resource));
    let (cid_name, cid_number) = (cstr::owned(&caller_id.name), cstr::owned(&caller_id.number));
    let ovars = OriginateVars::new(&[
        // Return as soon as it rings, so the engine hears ringing and keeps control of
        // the answer (guard, confirmation, first answer wins).
        ("return_ring_ready", "true"),
        ("ignore_early_media", "true"),
        ("twinning_user", &ctl.user),
        ("twinning_leg", kind.name()),
    ]);
    let mut bleg: *mut ffi::switch_core_session_t = std::ptr::null_mut();
    let mut cause: ffi::switch_call_cause_t = ffi::SWITCH_CAUSE_NONE;
    // SAFETY: every string outlives the call; `cancel` is an AtomicU32 (same layout as
    // the u32 cause) that outlives the call, which originate polls while ringing; on
    // success `bleg` is returned read-locked and adopted below.
    let status = unsafe {
        ffi::switch_ivr_originate(
            std::ptr::null_mut(),
            &mut bleg,
            &mut cause,
            dial.as_ptr(),
            600,
            std::ptr::null(),
            cid_name.as_ptr(),
            cid_number.as_ptr(),
            std::ptr::null_mut(),
            ovars.raw(),
            ffi::SOF_NONE,
            cancel.as_ptr(),
            std::ptr::null_mut(),
        )
    };
    drop(ovars);
    if status != ffi::SWITCH_STATUS_SUCCESS || bleg.is_null() {
        if cancel.load(Ordering::SeqCst) == 0 {
            let commands = ctl.leg_ended(leg, Event::LegFailed(leg, failure_for_cause(cause)));
            execute(ctl, commands);
        }
        return None;
    }
    // SAFETY: originate returned the session with one read lock, which we now own.
    unsafe { LockedSession::adopt(bleg) }
}

/// Plays the confirmation prompt and reads one key; `None` on timeout or hang-up (the
/// engine's own timer declines the leg).
fn read_confirmation(ctl: &CallCtl, s: Session) -> Option<char> {
    let prompt = ctl
        .caller
        .variable("twinning_confirm_prompt")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_CONFIRM_PROMPT.into());
    let prompt = cstr::owned(&prompt);
    let mut buf = [0 as std::ffi::c_char; 4];
    // SAFETY: this thread holds the answered leg's read lock and is the only one driving
    // its media before it is bridged; the buffer has room for one key and the NUL.
    unsafe {
        ffi::switch_ivr_read(
            s.raw(),
            1,
            1,
            prompt.as_ptr(),
            std::ptr::null(),
            buf.as_mut_ptr(),
            buf.len(),
            CONFIRM_TIMEOUT.as_millis() as u32,
            c"".as_ptr(),
            0,
        );
    }
    let key = buf[0] as u8 as char;
    key.is_ascii_graphic().then_some(key)
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

/// The `ovars` event of an originate: channel variables for the new leg, passed as data.
struct OriginateVars(*mut ffi::switch_event_t);

impl OriginateVars {
    fn new(vars: &[(&str, &str)]) -> OriginateVars {
        let mut event: *mut ffi::switch_event_t = std::ptr::null_mut();
        // SAFETY: creates an event we own (destroyed in Drop); header strings are copied.
        unsafe {
            ffi::switch_event_create_subclass_detailed(
                c"mod_twinning.rs".as_ptr(),
                c"originate".as_ptr(),
                line!() as i32,
                &mut event,
                ffi::SWITCH_EVENT_CLONE,
                std::ptr::null(),
            );
            if !event.is_null() {
                for (k, v) in vars {
                    let (k, v) = (cstr::owned(k), cstr::owned(v));
                    ffi::switch_event_add_header_string(
                        event,
                        ffi::SWITCH_STACK_BOTTOM,
                        k.as_ptr(),
                        v.as_ptr(),
                    );
                }
            }
        }
        OriginateVars(event)
    }

    fn raw(&self) -> *mut ffi::switch_event_t {
        self.0
    }
}

impl Drop for OriginateVars {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: our event; originate copies what it needs.
            unsafe { ffi::switch_event_destroy(&mut self.0) }
        }
    }
}

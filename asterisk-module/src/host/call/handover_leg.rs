//! Rings a device mid-call (a push to the mobile, a pull to the desk) on its own thread,
//! while the caller stays in the bridge with the current leg. When the engine says the
//! device won, it replaces the current leg in the bridge; when the engine gives up on it
//! (timeout, voicemail, the call ended) or the device fails, it is hung up here.

use std::ffi::c_int;
use std::sync::Arc;
use std::time::Instant;

use asterisk_sys as sys;
use twinning_core::call::{CallerId, Command, DialTarget, Event, LegFailure, LegId, LegKind};

use super::control::{execute, release_from_holding, swap_in, CallCtl, Here, Rejoin};
use super::handles::ChanRef;
use super::legs;
use crate::host::{guard, logger};

pub fn spawn(ctl: Arc<CallCtl>, leg: LegId, kind: LegKind, target: DialTarget, caller_id: CallerId) {
    let spawned = std::thread::Builder::new().name("twinning-handover".into()).spawn({
        let ctl = ctl.clone();
        move || guard::catch("handover leg", (), || place_and_ring(&ctl, leg, kind, &target, &caller_id))
    });
    if let Err(e) = spawned {
        logger::error(&format!("twinning: could not start a handover thread: {e}"));
        let commands = ctl.event(Event::LegFailed(leg, LegFailure::Congestion));
        execute(&ctl, commands, Here::NOWHERE);
    }
}

fn place_and_ring(ctl: &Arc<CallCtl>, leg: LegId, kind: LegKind, target: &DialTarget, caller_id: &CallerId) {
    let chan = match legs::dial(ctl.caller, target, caller_id) {
        Ok(chan) => chan,
        Err(failure) => {
            logger::warning(&format!(
                "twinning {}: {kind} {target} could not be placed ({})",
                ctl.user,
                failure.name()
            ));
            let commands = ctl.event(Event::LegFailed(leg, failure));
            execute(ctl, commands, Here::NOWHERE);
            return;
        }
    };
    {
        let mut inner = ctl.lock();
        // The handover may have been given up while the leg was being placed.
        if !inner.engine.is_leg_live(leg) {
            drop(inner);
            // SAFETY: the channel was just created here and nobody else knows of it.
            unsafe {
                sys::ast_hangup(chan);
            }
            return;
        }
        // SAFETY: `chan` is the live channel just created.
        inner.chans.insert(leg, unsafe { ChanRef::new(chan) });
    }
    ring(ctl, leg, kind, chan);
}

fn ring(ctl: &Arc<CallCtl>, leg: LegId, kind: LegKind, chan: *mut sys::ast_channel) {
    let mut in_bridge = false;
    loop {
        let deadline = {
            let inner = ctl.lock();
            if !inner.engine.is_leg_live(leg) {
                break;
            }
            inner.engine.poll_timeout()
        };
        let mut ms: c_int = deadline
            .map(|d| d.saturating_duration_since(Instant::now()).as_millis().min(c_int::MAX as u128) as c_int)
            .unwrap_or(1000);
        let mut chans = [chan];
        // SAFETY: `chan` is live and serviced only by this thread.
        let ready = unsafe { sys::ast_waitfor_n(chans.as_mut_ptr(), 1, &mut ms) };
        let (commands, finished) = if ready.is_null() {
            (ctl.step(|e| e.handle_timeout(Instant::now())).1, false)
        } else {
            // SAFETY: as above.
            match unsafe { legs::read(leg, chan) } {
                Ok(Some(event)) => (ctl.event(event), false),
                Ok(None) => continue,
                Err(event) => (ctl.event(event), true),
            }
        };
        for command in execute(ctl, commands, Here::NOWHERE) {
            match command {
                Command::SwapBridge { new, old } if new == leg => {
                    in_bridge = swap_in(ctl, leg, kind, chan, Some(old), false);
                    if !in_bridge {
                        logger::error(&format!(
                            "twinning {}: the {kind} could not take the call over",
                            ctl.user
                        ));
                    }
                }
                Command::Unpark { leg: unparked } if unparked == leg => {
                    // The caller's thread bridges the held caller with this leg.
                    ctl.lock().rejoin = Some(Rejoin::Impart { leg, chan });
                    in_bridge = true;
                    release_from_holding(ctl);
                }
                _ => {}
            }
        }
        if finished || in_bridge {
            break;
        }
    }
    if !in_bridge {
        ctl.lock().chans.remove(&leg);
        // SAFETY: not handed to the bridge, so still ours to hang up.
        unsafe {
            sys::ast_hangup(chan);
        }
    }
}

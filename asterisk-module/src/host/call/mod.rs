//! Twinned calls in Asterisk: the caller's thread rings the legs and then sits in the
//! bridge (`ringing`), while handovers, the desk's pickup and DTMF codes act on the same
//! call from other threads through its shared state (`control`).

mod control;
mod handles;
mod handover_leg;
mod hooks;
mod legs;
mod ringing;

use std::time::Instant;

use asterisk_sys as sys;
use twinning_core::call::{CallSetup, Command, Event, HandoverTrigger, LegKind, TwinnedCall};

pub use control::Outcome;
use control::{execute, swap_in, CallCtl, Here};

use super::channel::ChannelRef;
use super::state;

/// Runs a twinned call to its end. `caller` is the channel running `Twinning()`.
pub fn run(caller: ChannelRef, user: &str, setup: CallSetup) -> Outcome {
    let call_control = setup.call_control.clone();
    let mut engine = TwinnedCall::start(setup, &mut state::cap(), Instant::now());
    let mut first = Vec::new();
    while let Some(c) = engine.poll_command() {
        first.push(c);
    }
    let ctl = CallCtl::register(user, caller, call_control, engine);
    // Unregisters (and gives back anything still held) however the call ends.
    struct Registered<'a>(&'a std::sync::Arc<CallCtl>);
    impl Drop for Registered<'_> {
        fn drop(&mut self) {
            self.0.unregister();
        }
    }
    let _registered = Registered(&ctl);
    ringing::Ringing::new(ctl.clone()).run(first);
    ctl.outcome().unwrap_or(Outcome { status: twinning_core::call::CallStatus::Failed, answered_by: None })
}

/// `TwinningHandover` from AMI: moves the user's bridged call to `to`.
pub fn handover(user: &str, to: LegKind) -> Result<(), String> {
    let ctl =
        CallCtl::find_answered(user).ok_or_else(|| format!("user {user} has no answered twinned call"))?;
    let (result, commands) =
        ctl.step(|e| e.request_handover(to, HandoverTrigger::Ami, &mut state::cap(), Instant::now()));
    execute(&ctl, commands, Here::NOWHERE);
    result
}

/// `TwinningPickup` on the desk: takes the user's call off the mobile onto this channel,
/// and stays in the call until this channel leaves it.
pub fn pickup(desk: ChannelRef, user: &str) -> Result<(), String> {
    let ctl =
        CallCtl::find_answered(user).ok_or_else(|| format!("user {user} has no answered twinned call"))?;
    let (result, commands) = ctl.step(|e| e.pickup(Instant::now()));
    let leg = match result {
        Ok(leg) => leg,
        Err(e) => {
            execute(&ctl, commands, Here::NOWHERE);
            return Err(e);
        }
    };
    // Report the pickup before answering the desk, which can take a while: the caller's
    // thread may end the call meanwhile, and its TwinningEnd must come after this call's
    // last events, not before them (found by scripts/chaos).
    let commands = execute(&ctl, commands, Here::NOWHERE);
    let chan = desk.raw();
    // SAFETY: the desk channel runs this application; answering it is this thread's job.
    unsafe {
        if sys::ast_channel_state(chan) != sys::ast_channel_state::AST_STATE_UP {
            sys::ast_answer(chan);
        }
    }
    for command in commands {
        let joined = match command {
            // Blocks while the desk is in the call.
            Command::SwapBridge { new, old } if new == leg => {
                swap_in(&ctl, leg, LegKind::Desk, chan, Some(old), true)
            }
            Command::Unpark { leg: unparked } if unparked == leg => unpark_here(&ctl, leg, chan),
            _ => continue,
        };
        // SAFETY: live channel for the application's run.
        if joined && unsafe { sys::ast_check_hangup(chan) } != 0 {
            let commands = ctl.event(Event::LegHungUp(leg));
            execute(&ctl, commands, Here::NOWHERE);
        }
    }
    Ok(())
}

/// The held caller, taken by the pickup code: this thread opens a new bridge and stays in
/// it; the caller's thread, released from holding, joins it.
fn unpark_here(
    ctl: &std::sync::Arc<CallCtl>,
    leg: twinning_core::call::LegId,
    chan: *mut sys::ast_channel,
) -> bool {
    // SAFETY: a new bridge; the call keeps references to it.
    let bridge = unsafe { sys::ast_bridge_basic_new() };
    if bridge.is_null() {
        return false;
    }
    {
        let mut inner = ctl.lock();
        // SAFETY: `bridge` is live (we hold its creation reference until the end of this
        // function).
        inner.bridge = Some(unsafe { handles::BridgeRef::new(bridge) });
        inner.rejoin = Some(control::Rejoin::Join { bridge: unsafe { handles::BridgeRef::new(bridge) } });
    }
    control::release_from_holding(ctl);
    let joined = swap_in(ctl, leg, LegKind::Desk, chan, None, true);
    // SAFETY: drops the creation reference; the call's references keep the bridge.
    unsafe {
        sys::ast_bridge_destroy(bridge, 0);
    }
    joined
}

//! Devices rung during a call and the desk taking it: a push to the mobile or a pull to
//! the desk rings the device on a thread of its own while the caller stays in the bridge
//! with the current leg; when the engine says the device won, that thread swaps it into
//! the bridge. The desk's pickup code joins the bridge from the desk's own thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use twinning_core::call::{
    CallerId, Command, DialTarget, Event, HandoverTrigger, LegFailure, LegId, LegKind,
};

use crate::call::leg_event;
use crate::hooks;
use crate::host::bridge::{Bridge, HookChannel};
use crate::host::channel::{Channel, Leg, Ready};
use crate::host::guard;
use crate::pbx::{release_from_holding, Rejoin, TwinnedCall, DRIVER};

const NOWHERE: HookChannel = HookChannel::NONE;

/// The module's threads (see `twinning_driver::threads`): joined before it unloads.
pub static THREADS: twinning_driver::threads::ModuleThreads =
    twinning_driver::threads::ModuleThreads::new(crate::host::thread::start);

pub fn spawn(
    call: Arc<TwinnedCall>,
    leg: LegId,
    kind: LegKind,
    target: DialTarget,
    caller_id: CallerId,
    account_code: Option<String>,
) {
    let thread_call = call.clone();
    THREADS.spawn(
        "twinning-handover".into(),
        move || {
            guard::catch("handover leg", (), || {
                place_and_ring(&thread_call, leg, kind, &target, &caller_id, account_code.as_deref())
            })
        },
        move || {
            call.feed(Event::LegFailed(leg, LegFailure::Congestion), NOWHERE);
        },
    );
}

fn place_and_ring(
    call: &Arc<TwinnedCall>,
    leg: LegId,
    kind: LegKind,
    target: &DialTarget,
    caller_id: &CallerId,
    account_code: Option<&str>,
) {
    let chan = match crate::call::place(&call.caller, kind, target, caller_id, account_code) {
        Ok(chan) => chan,
        Err(failure) => {
            log::warn!("twinning {}: {kind} {target} could not be placed ({})", call.user, failure.name());
            call.feed(Event::LegFailed(leg, failure), NOWHERE);
            return;
        }
    };
    {
        let mut s = call.lock();
        // The handover may have been given up while the leg was being placed; then it is
        // hung up as it drops.
        if !s.engine.is_leg_live(leg) {
            return;
        }
        s.host.chans.insert(leg, chan.channel().clone());
    }
    ring(call, leg, kind, chan);
}

fn ring(call: &Arc<TwinnedCall>, leg: LegId, kind: LegKind, chan: Leg) {
    let mut chan = Some(chan);
    while let Some(c) = chan.as_mut() {
        let deadline = {
            let s = call.lock();
            if !s.engine.is_leg_live(leg) {
                break;
            }
            s.engine.poll_timeout()
        };
        let timeout =
            deadline.map_or(Duration::from_secs(1), |d| d.saturating_duration_since(Instant::now()));
        let (commands, finished) = match Channel::wait_any(&[c.channel()], timeout) {
            Ready::Channel(_) => {
                let event = leg_event(leg, c.channel().read());
                crate::call::note(c, &event);
                match event {
                    Some(e @ (Event::LegFailed(..) | Event::LegHungUp(_))) => (call.event(e), true),
                    Some(e) => (call.event(e), false),
                    None => continue,
                }
            }
            Ready::Timeout | Ready::Interrupted => (call.tick(), false),
        };
        for command in call.execute(commands, NOWHERE) {
            match command {
                Command::SwapBridge { new, old } if new == leg => {
                    let taken = chan.take().expect("still ours");
                    if !swap_in_imparted(call, leg, kind, taken, old) {
                        log::error!("twinning {}: the {kind} could not take the call over", call.user);
                    }
                }
                Command::Unpark { leg: unparked } if unparked == leg => {
                    // The caller's thread bridges the held caller with this leg.
                    let taken = chan.take().expect("still ours");
                    call.lock().host.rejoin = Some(Rejoin::Impart { leg, chan: taken });
                    release_from_holding(call);
                }
                other => {
                    log::error!("twinning {}: unexpected command on a handover leg: {other:?}", call.user)
                }
            }
        }
        if finished {
            break;
        }
    }
    if chan.is_some() {
        // Not handed to the bridge: hung up as it drops.
        call.lock().host.chans.remove(&leg);
    }
}

/// Puts the leg this thread placed into the call's bridge in place of `old`; the bridge
/// takes the leg over. Returns whether it got in.
pub(crate) fn swap_in_imparted(
    call: &Arc<TwinnedCall>,
    new: LegId,
    kind: LegKind,
    chan: Leg,
    old: LegId,
) -> bool {
    let Some((bridge, old)) = prepare_swap(call, new, chan.channel(), Some(old)) else { return false };
    // impart borrows the swapped-out channel and takes a reference of its own: ours goes
    // once it has returned (giving it one of its own leaked every channel a handover
    // swapped out, found by scripts/memcheck).
    bridge.impart(chan, old.as_ref(), hooks::features_for(call, kind))
}

/// Joins `chan`, run by this thread (the pickup), to the call's bridge in place of `old`;
/// blocks while it is in the call. Returns whether it got in.
fn swap_in_joined(call: &Arc<TwinnedCall>, new: LegId, chan: &Channel, old: Option<LegId>) -> bool {
    let Some((bridge, old)) = prepare_swap(call, new, chan, old) else { return false };
    let Some(features) = hooks::features_for(call, LegKind::Desk) else { return false };
    bridge.join(chan, old.as_ref(), &features)
}

fn prepare_swap(
    call: &TwinnedCall,
    new: LegId,
    chan: &Channel,
    old: Option<LegId>,
) -> Option<(Bridge, Option<Channel>)> {
    let mut s = call.lock();
    let bridge = s.host.bridge.clone()?;
    let old = old.and_then(|old| s.host.chans.remove(&old));
    s.host.chans.insert(new, chan.clone());
    Some((bridge, old))
}

/// `TwinningPickup` (or the twinning button) on the desk: takes the user's call off the mobile onto this channel,
/// and stays in the call until this channel leaves it.
pub fn pickup(desk: &Channel, user: &str, trigger: HandoverTrigger) -> Result<(), String> {
    // The pickup is reported before the desk is answered (found by scripts/chaos).
    let twinning_driver::Pickup { call, leg, rest: commands } =
        DRIVER.pickup(user, &crate::device::of(desk), &desk.name(), trigger, NOWHERE, |_, _| {})?;
    desk.answer();
    for command in commands {
        let joined = match command {
            // Blocks while the desk is in the call.
            Command::SwapBridge { new, old } if new == leg => swap_in_joined(&call, leg, desk, Some(old)),
            Command::Unpark { leg: unparked } if unparked == leg => unpark_here(&call, leg, desk),
            _ => continue,
        };
        if joined && desk.hung_up() {
            call.feed(Event::LegHungUp(leg), NOWHERE);
        }
    }
    Ok(())
}

/// The held caller, taken by the pickup code: this thread opens a new bridge and stays in
/// it; the caller's thread, released from holding, joins it.
fn unpark_here(call: &Arc<TwinnedCall>, leg: LegId, desk: &Channel) -> bool {
    let Some(bridge) = Bridge::basic() else { return false };
    {
        let mut s = call.lock();
        s.host.bridge = Some(bridge.clone());
        s.host.rejoin = Some(Rejoin::Join { bridge: bridge.clone() });
    }
    release_from_holding(call);
    let joined = swap_in_joined(call, leg, desk, None);
    // The call's references keep the bridge; ours, the creation reference, goes.
    bridge.destroy();
    joined
}

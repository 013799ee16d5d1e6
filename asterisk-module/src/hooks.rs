//! DTMF codes on a bridged leg: on the desk the push code, on the mobile the desk, hold,
//! transfer and consult codes. Asterisk's bridge matches the codes (digits that start no
//! code pass through to the far end unchanged); what a code does is the engine's decision,
//! through the driver. The consult code's hook goes on to carry the consult out (see
//! `consult`).
//!
//! Every leg also has a leave hook, for the conference: the call's basic bridge with three
//! channels does not dissolve when one hangs up, so a party leaving is told to the engine
//! here.

use std::sync::Arc;
use std::time::Duration;

use twinning_core::call::{Command, Event, LegKind};
use twinning_driver::{codes_for, Host};

use crate::consult;
use crate::host::bridge::{Features, HookChannel};
use crate::pbx::TwinnedCall;

/// Bridge features for a leg of `kind` joining the call's bridge, with its codes hooked.
pub fn features_for(call: &Arc<TwinnedCall>, kind: LegKind) -> Option<Features> {
    let mut features = Features::new()?;
    for (code, request, _) in codes_for(&call.call_control, kind) {
        let call = call.clone();
        features.add_dtmf_hook(
            code.as_str(),
            Box::new(move |keyed_on| {
                // A hook may outlive the call's application (the caller hung up while the
                // mobile keys, or consults): unload waits for it (`wait_until_idle`).
                let _inside = crate::midcall::THREADS.enter();
                // The extension or number keyed after the transfer or consult code, ended by
                // `#` (or a pause).
                let digits = request
                    .collects_digits()
                    .then(|| keyed_on.channel())
                    .flatten()
                    .and_then(|c| c.read_digits(20, Duration::from_secs(3), Duration::from_secs(6)));
                // A code is the bridged device's: a mobile swapped out while its digits were
                // being read (an AMI handover meanwhile) speaks for nobody.
                if !is_bridged_leg(&call, keyed_on) {
                    log::info!("twinning {}: a code from a leg no longer in the call is ignored", call.user);
                    return;
                }
                for c in call.code_pressed(request, digits, keyed_on) {
                    match c {
                        Command::DialConsult { leg, context, exten, caller_id, account_code } => {
                            let dial = consult::Dial { leg, context, exten, caller_id, account_code };
                            consult::run(&call, dial, keyed_on);
                        }
                        c => log::error!("twinning {}: code left a command unperformed: {c:?}", call.user),
                    }
                }
            }),
        );
    }
    let call = call.clone();
    features.on_leave(Box::new(move |leaving| {
        let _inside = crate::midcall::THREADS.enter();
        left_bridge(&call, leaving)
    }));
    Some(features)
}

/// Whether `keyed_on` is the channel of the leg the engine has bridged with the caller.
fn is_bridged_leg(call: &TwinnedCall, keyed_on: HookChannel) -> bool {
    let Some(chan) = keyed_on.channel() else { return false };
    let s = call.lock();
    s.engine.bridged_leg().and_then(|leg| s.host.chans.get(&leg)).is_some_and(|c| c.is(&chan))
}

/// A leg leaves the call's bridge. A basic bridge of three lets a party that hangs up
/// leave without dissolving (its own hangup hook), so while the conference is up the
/// engine hears of it here; with two parties the bridge dissolves on a hang-up and the
/// caller's thread tells the engine, as ever. Legs the engine ended (no longer in
/// `chans`), swaps and moves (the channel is not hung up), and the caller's end (the
/// engine ends the rest) need nothing.
fn left_bridge(call: &Arc<TwinnedCall>, leaving: HookChannel) {
    let Some(chan) = leaving.channel() else { return };
    if !chan.hung_up() || call.caller.hung_up() {
        return;
    }
    let now = call.host().now();
    // Checked and told in one step: two parties leaving together each see the conference
    // as the other left it (a stale "the mobile hung up" after the conference ended would
    // park a caller who is still in the bridge).
    let (_, rest) = call.step(|s| {
        let Some(leg) = s.host.chans.iter().find(|(_, c)| c.is(&chan)).map(|(id, _)| *id) else { return };
        // A party of the conference: the third party, or the mobile (the bridged leg).
        let third = s.engine.conference_leg();
        if third.is_none() || (third != Some(leg) && s.engine.bridged_leg() != Some(leg)) {
            return;
        }
        s.host.chans.remove(&leg);
        s.engine.handle_event(Event::LegHungUp(leg), now);
    });
    // Whatever only the caller's thread can do is its to do.
    for c in call.execute(rest, HookChannel::NONE) {
        call.queue_for_caller(c);
    }
}

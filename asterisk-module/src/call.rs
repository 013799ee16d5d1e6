//! The caller's thread, app_dial style: it places the ringing legs and services them, one
//! wait over the caller and every leg with the engine's next deadline as its timeout;
//! frames become engine events. The winner is bridged with the caller in an Asterisk
//! bridge, so media stays in Asterisk's own path (native RTP bridging included), and the
//! thread stays in that bridge while handovers swap legs in and out of it.
//!
//! The loop itself is the driver's; this is what is Asterisk's in it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use twinning_core::call::{CallerId, Command, DialTarget, Event, LegId, LegKind};
use twinning_driver::caller_thread::{self, CallerThread};

use crate::hooks;
use crate::host::bridge::{self, Bridge, Features, HookChannel};
use crate::host::channel::{Channel, Dialing, Frame, Leg, Ready};
use crate::pbx::{Asterisk, Rejoin, TwinnedCall};

/// The confirmation prompt: Asterisk's own FollowMe prompt ("press 1 to accept, 2 to
/// reject").
const CONFIRM_PROMPT: &std::ffi::CStr = c"followme/options";

/// The caller's thread. The legs it places are its own until one is bridged; whatever is
/// left when the call ends (a panic included) is hung up as they drop.
#[derive(Default)]
pub struct Ringing {
    legs: BTreeMap<LegId, Leg>,
}

impl CallerThread<Asterisk> for Ringing {
    fn here(&self) -> HookChannel {
        HookChannel::default()
    }

    fn perform(&mut self, call: &Arc<TwinnedCall>, command: Command) -> Option<Event> {
        match command {
            Command::Dial { leg, kind, target, caller_id, account_code } => {
                match place(&call.caller, kind, &target, &caller_id, account_code.as_deref()) {
                    Ok(chan) => {
                        self.legs.insert(leg, chan);
                        None
                    }
                    Err(failure) => {
                        log::warn!(
                            "twinning {}: {kind} leg {target} could not be placed ({})",
                            call.user,
                            failure.name()
                        );
                        Some(Event::LegFailed(leg, failure))
                    }
                }
            }
            Command::Cancel { leg } => {
                self.legs.remove(&leg);
                None
            }
            Command::PlayPrompt { leg, .. } => {
                if let Some(chan) = self.legs.get(&leg) {
                    if !chan.channel().start_playback(CONFIRM_PROMPT) {
                        log::warn!("twinning: the confirmation prompt followme/options could not be played",);
                    }
                }
                None
            }
            Command::IndicateRinging => {
                call.caller.indicate_ringing();
                None
            }
            Command::Bridge { leg } => {
                let kind = call.lock().engine.leg_kind(leg).unwrap_or(LegKind::Desk);
                Some(match self.legs.remove(&leg) {
                    Some(chan) => bridge_caller(call, leg, chan, kind),
                    None => Event::LegHungUp(leg),
                })
            }
            Command::Park => park(call),
            other => caller_thread::unexpected(call, other),
        }
    }

    fn wait(&mut self, call: &Arc<TwinnedCall>, deadline: Option<Instant>) -> Option<Event> {
        // Ringing always has a deadline; the second only guards against a wait without end.
        let timeout =
            deadline.map_or(Duration::from_secs(1), |d| d.saturating_duration_since(Instant::now()));
        let ids: Vec<LegId> = self.legs.keys().copied().collect();
        let ready = {
            let mut chans: Vec<&Channel> = vec![&call.caller];
            chans.extend(ids.iter().map(|id| self.legs[id].channel()));
            Channel::wait_any(&chans, timeout)
        };
        match ready {
            Ready::Timeout => None,
            // Interrupted rather than timed out: a hung-up caller shows here.
            Ready::Interrupted if call.caller.hung_up() => Some(Event::CallerHungUp),
            Ready::Interrupted => {
                std::thread::sleep(Duration::from_millis(1));
                None
            }
            // Anything else the caller sends while the phones ring is not for them.
            Ready::Channel(0) => {
                matches!(call.caller.read(), Frame::Gone(_) | Frame::Hangup).then_some(Event::CallerHungUp)
            }
            Ready::Channel(i) => {
                let leg = ids[i - 1];
                let chan = self.legs.get_mut(&leg).expect("waited on");
                let event = leg_event(leg, chan.channel().read());
                note(chan, &event);
                if matches!(event, Some(Event::LegFailed(..) | Event::LegHungUp(_))) {
                    self.legs.remove(&leg);
                }
                event
            }
        }
    }
}

/// Places a leg from `from` (the caller, or the mobile placing a consult), billed and
/// shown in its CDR row as the engine asked.
pub fn place(
    from: &Channel,
    kind: LegKind,
    target: &DialTarget,
    caller_id: &CallerId,
    account_code: Option<&str>,
) -> Result<Leg, twinning_core::call::LegFailure> {
    Leg::dial(
        from,
        &Dialing {
            tech: &target.tech,
            resource: &target.resource,
            number: &caller_id.number,
            name: &caller_id.name,
            withheld: caller_id.withheld,
            account_code,
            userfield: kind.name(),
            placed_by_user: kind == LegKind::Consult,
        },
    )
}

/// What a frame read from a ringing leg means to the engine.
pub fn leg_event(leg: LegId, frame: Frame) -> Option<Event> {
    use twinning_core::call::LegFailure;
    match frame {
        Frame::Ringing => Some(Event::LegRinging(leg)),
        Frame::Progress => Some(Event::LegProgress(leg)),
        Frame::Answer => Some(Event::LegAnswered(leg)),
        Frame::Busy => Some(Event::LegFailed(leg, LegFailure::Busy)),
        Frame::Congestion => Some(Event::LegFailed(leg, LegFailure::Congestion)),
        Frame::Hangup | Frame::Gone(None) => Some(Event::LegHungUp(leg)),
        Frame::Gone(Some(failure)) => Some(Event::LegFailed(leg, failure)),
        Frame::Dtmf(d) => Some(Event::LegDtmf(leg, d)),
        Frame::Other => None,
    }
}

/// What a leg's bill needs to know of an event read from it: that it answered, or how it
/// failed.
pub fn note(chan: &mut Leg, event: &Option<Event>) {
    match event {
        Some(Event::LegAnswered(_)) => chan.mark_answered(),
        Some(Event::LegFailed(_, failure)) => chan.mark_failed(*failure),
        _ => {}
    }
}

/// Answers the caller, bridges it with `leg` (this thread's) and stays in the bridge until
/// the call ends; returns what ended it. The call keeps its own references to the bridge
/// and the bridged leg, so other threads can swap legs in.
fn bridge_caller(call: &Arc<TwinnedCall>, leg: LegId, mut chan: Leg, kind: LegKind) -> Event {
    chan.channel().stop_playback();
    chan.won();
    if !call.caller.answer() {
        return Event::CallerHungUp;
    }
    let Some(bridge) = Bridge::basic() else {
        log::error!("twinning {}: could not create a bridge for the {kind} leg", call.user);
        return Event::LegHungUp(leg);
    };
    {
        let mut s = call.lock();
        s.host.bridge = Some(bridge.clone());
        s.host.chans.insert(leg, chan.channel().clone());
    }
    if !bridge.impart(chan, None, hooks::features_for(call, kind)) {
        log::error!("twinning {}: could not put the {kind} leg into the bridge", call.user);
        call.lock().host.chans.remove(&leg);
        bridge.destroy();
        return Event::LegHungUp(leg);
    }
    // Joining needs a features structure (it may not be NULL, unlike impart's).
    let Some(features) = Features::new() else {
        bridge.destroy();
        return Event::CallerHungUp;
    };
    bridge.join_passing_reference(&call.caller, &features);
    left_bridge(call, leg)
}

/// What the caller leaving a bridge means: the caller hung up, or the leg bridged by then
/// (whichever it was after handovers) left.
fn left_bridge(call: &TwinnedCall, fallback: LegId) -> Event {
    if call.caller.hung_up() {
        Event::CallerHungUp
    } else {
        Event::LegHungUp(call.lock().engine.bridged_leg().unwrap_or(fallback))
    }
}

/// Holds the caller in a holding bridge (music on hold) while the desk is offered the
/// call, then bridges it again with whoever took it. `None` when nobody did (the call is
/// over).
fn park(call: &Arc<TwinnedCall>) -> Option<Event> {
    let Some(holding) = Bridge::holding() else {
        log::error!("twinning {}: could not create a holding bridge", call.user);
        return None;
    };
    {
        let mut s = call.lock();
        // The desk may already have taken the call, or the call be over.
        if s.host.rejoin.is_some() || s.engine.is_finished() {
            drop(s);
            holding.destroy();
            return rejoin(call);
        }
        s.host.holding = Some(holding.clone());
    }
    bridge::with_holding_role(&call.caller, || {
        if let Some(features) = Features::new() {
            holding.join_passing_reference(&call.caller, &features);
        }
    });
    call.lock().host.holding = None;
    if call.caller.hung_up() {
        return Some(Event::CallerHungUp);
    }
    rejoin(call)
}

/// Bridges the caller with whoever took the held call, if anyone did.
fn rejoin(call: &Arc<TwinnedCall>) -> Option<Event> {
    let rejoin = call.lock().host.rejoin.take()?;
    match rejoin {
        Rejoin::Impart { leg, chan } => Some(bridge_caller(call, leg, chan, LegKind::Desk)),
        Rejoin::Join { bridge } => {
            let leg = call.lock().engine.bridged_leg()?;
            // The caller joins, from its own thread, the bridge the desk's thread is in.
            if let Some(features) = Features::new() {
                bridge.join(&call.caller, None, &features);
            }
            Some(left_bridge(call, leg))
        }
    }
}

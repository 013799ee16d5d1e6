//! The caller's thread: it alone bridges the caller (`switch_ivr_multi_threaded_bridge`)
//! and keeps the caller's media flowing meanwhile; legs ring on threads of their own
//! (`leg`). A swap ends the caller's bridge by hanging up the leg leaving the call, and
//! this thread bridges the new one at once, so the caller's own dialog is never touched.
//!
//! The loop itself is the driver's; this is what is FreeSWITCH's in it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use twinning_core::call::{Command, Event, LegId, LegKind};
use twinning_driver::caller_thread::{self, CallerThread};

use crate::hooks;
use crate::host::bridge;
use crate::host::ffi;
use crate::host::session::LockedSession;
use crate::leg;
use crate::pbx::{leg_ended, play_hold_music, FreeSwitch, Here, TwinnedCall};
use crate::wakeups::{self, Watch};

/// How often an answered caller's thread reads its media while it waits (hold music, a
/// park): FreeSWITCH's frame.
const POLL: Duration = Duration::from_millis(20);
/// How long the caller's thread sleeps at most before the call is answered when nothing
/// wakes it: only the net under an event FreeSWITCH failed to deliver.
const IDLE_WAIT: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct CallerLoop {
    caller_gone_reported: bool,
    /// The caller's channel hanging up wakes the wait (see `wakeups`).
    watch: Option<Watch>,
}

impl CallerThread<FreeSwitch> for CallerLoop {
    fn here(&self) -> Here {
        Here::Caller
    }

    fn perform(&mut self, call: &Arc<TwinnedCall>, command: Command) -> Option<Event> {
        match command {
            Command::Bridge { leg } | Command::Unpark { leg } => self.bridge(call, leg),
            other => caller_thread::unexpected(call, other),
        }
    }

    /// Waits for the next thing to happen, keeping the caller's media flowing once
    /// answered; notices the caller leaving. Timers are fired by the driver when this
    /// returns nothing.
    fn wait(&mut self, call: &Arc<TwinnedCall>, deadline: Option<Instant>) -> Option<Event> {
        let caller = call.caller;
        let until =
            |most: Duration| deadline.map_or(most, |d| d.saturating_duration_since(Instant::now()).min(most));
        if caller.is_answered() && caller.is_ready() {
            caller.sleep(until(POLL).as_millis().max(1) as u32);
        } else {
            self.watch.get_or_insert_with(|| wakeups::watch(caller.uuid(), call));
            // Read before the caller is looked at: its hang-up after this wakes the wait.
            let seen = call.changes();
            if caller.is_ready() {
                call.wait_for_caller_work(until(IDLE_WAIT), seen);
            }
        }
        if !caller.is_ready() && !self.caller_gone_reported {
            self.caller_gone_reported = true;
            return Some(Event::CallerHungUp);
        }
        None
    }
}

impl CallerLoop {
    /// Bridges the caller with `leg` until one side leaves; bridges the next leg at once
    /// when the bridge ended for a swap. Returns what ended it for the engine, if this
    /// thread is the one to say.
    fn bridge(&mut self, call: &Arc<TwinnedCall>, mut leg: LegId) -> Option<Event> {
        loop {
            // The leg's own read lock for the whole bridge: whatever its thread does
            // meanwhile, the session cannot be destroyed under the bridge.
            let found =
                {
                    let mut s = call.lock();
                    let found =
                        s.host.legs.get(&leg).filter(|h| !h.ended).and_then(|h| {
                            h.uuid.as_deref().and_then(LockedSession::locate).map(|l| (l, h.kind))
                        });
                    if found.is_some() {
                        s.host.in_bridge = Some(leg);
                    }
                    found
                };
            let Some((locked, kind)) = found else {
                log::warn!("twinning {}: leg to bridge is gone", call.user);
                self.requeue(call, leg_ended(call, leg, Event::LegHungUp(leg), Here::Caller));
                return None;
            };
            // The leg's thread lets go of it now (see `leg`): wake it.
            call.changed();
            let session = locked.session();
            // Music queued for the caller while it waited out a consult would be played by
            // the bridge's start, before the bridge: the bridge is what the caller is owed.
            if std::mem::take(&mut call.lock().host.music_queued) && call.caller.drop_queued_work() > 0 {
                log::debug!("twinning {}: hold music not started before the bridge dropped", call.user);
            }
            bridge::bridge(call.caller, &locked, None, Some(hooks::key_filter(call, kind)));
            let leg_gone = !session.is_up();
            let (swap, apart) = {
                let mut s = call.lock();
                s.host.in_bridge = None;
                let apart = s.host.apart == Some(leg);
                if apart {
                    s.host.apart = None;
                }
                (s.host.swap_to.take(), apart)
            };
            // Threads waiting for the bridge's end see it: the next leg of a swap, a leg's
            // thread not yet gone (see `leg`), a consult's.
            call.changed();
            if let Some(next) = swap {
                drop(locked);
                leg = next;
                continue;
            }
            if !call.caller.is_ready() {
                self.caller_gone_reported = true;
                return Some(Event::CallerHungUp);
            }
            // The mobile left to consult: the caller waits on music until a leg is to be
            // bridged again (or the call ends); the mobile's end is its own thread's to
            // report.
            if apart {
                drop(locked);
                attend_again(call, leg, kind);
                play_hold_music(call.caller);
                return None;
            }
            // The leg left (or the bridge could not start): either way it is gone.
            if !leg_gone {
                session.hangup(ffi::SWITCH_CAUSE_NORMAL_CLEARING);
            }
            drop(locked);
            self.requeue(call, leg_ended(call, leg, Event::LegHungUp(leg), Here::Caller));
            return None;
        }
    }

    /// Commands a step made on this thread that belong to it: taken by the driver's loop
    /// next.
    fn requeue(&self, call: &TwinnedCall, commands: Vec<Command>) {
        for c in commands {
            call.queue_for_caller(c);
        }
    }
}

/// Gives `leg`, out of the caller's bridge and still up, a thread to attend to it, unless
/// one has it still (it had not yet seen itself bridged).
fn attend_again(call: &Arc<TwinnedCall>, leg: LegId, kind: LegKind) {
    let unattended = match call.lock().host.legs.get_mut(&leg) {
        Some(h) if !h.ended && !h.joined && !h.attended => {
            h.attended = true;
            true
        }
        _ => false,
    };
    if unattended {
        leg::resume(call.clone(), leg, kind);
    }
}

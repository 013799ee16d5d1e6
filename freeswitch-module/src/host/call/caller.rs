//! The caller's thread: carries out the commands that need the caller's own media (the
//! bridge, holding for the desk), waits for the legs meanwhile, and reports the caller's
//! hang-up. It alone calls `switch_ivr_multi_threaded_bridge` on the caller.

use std::sync::Arc;
use std::time::Duration;

use twinning_core::call::{Command, Event, LegId};

use super::control::{execute, CallCtl, LegHandle};
use super::dtmf::BridgeSide;
use crate::host::{ffi, logger};

const POLL: Duration = Duration::from_millis(20);

/// The caller's channel variables that would make FreeSWITCH end or move the caller when
/// one bridge ends; a swap ends a bridge on purpose, so they are held off during the call
/// and put back after.
const AFTER_BRIDGE_VARIABLES: [&str; 3] =
    ["hangup_after_bridge", "park_after_bridge", "transfer_after_bridge"];

pub struct CallerThread {
    ctl: Arc<CallCtl>,
    caller_gone_reported: bool,
}

impl CallerThread {
    pub fn new(ctl: Arc<CallCtl>) -> CallerThread {
        CallerThread { ctl, caller_gone_reported: false }
    }

    pub fn run(mut self, first: Vec<Command>) {
        let caller = self.ctl.caller;
        let saved: Vec<(&str, Option<String>)> =
            AFTER_BRIDGE_VARIABLES.iter().map(|v| (*v, caller.variable(v))).collect();
        for (name, value) in &saved {
            if value.is_some() {
                caller.set_variable(name, "false");
            }
        }
        execute(&self.ctl, first);
        self.wait_for_end();
        for (name, value) in saved {
            if let Some(v) = value {
                caller.set_variable(name, &v);
            }
        }
    }

    fn wait_for_end(&mut self) {
        loop {
            let next = {
                let mut inner = self.ctl.lock();
                if inner.engine.is_finished() {
                    return;
                }
                match inner.swap_to.take() {
                    Some(leg) => Some(Command::Bridge { leg }),
                    None => inner.for_caller.pop_front(),
                }
            };
            match next {
                Some(Command::Bridge { leg }) | Some(Command::Unpark { leg }) => self.bridge(leg),
                // Holding for the desk: the caller waits here (its media read by the sleep
                // below) until the desk takes the call or the engine lets the caller go.
                Some(Command::Park) | Some(Command::ReleaseCaller) => {}
                Some(_) | None => self.idle(),
            }
        }
    }

    /// Waits a little, keeping the caller's media flowing once answered, then fires due
    /// timers and notices the caller leaving.
    fn idle(&mut self) {
        let caller = self.ctl.caller;
        if caller.is_answered() && caller.is_ready() {
            // SAFETY: the caller's session runs this application on this thread.
            unsafe {
                ffi::switch_ivr_sleep(
                    caller.raw(),
                    POLL.as_millis() as u32,
                    ffi::SWITCH_TRUE,
                    std::ptr::null_mut(),
                );
            }
        } else {
            let inner = self.ctl.lock();
            if inner.for_caller.is_empty() && inner.swap_to.is_none() {
                drop(self.ctl.wake.wait_timeout(inner, POLL));
            }
        }
        let commands = self.ctl.tick();
        execute(&self.ctl, commands);
        if !caller.is_ready() && !self.caller_gone_reported {
            self.caller_gone_reported = true;
            let commands = self.ctl.event(Event::CallerHungUp);
            execute(&self.ctl, commands);
        }
    }

    /// Bridges the caller with `leg` until one side leaves, then reports who did, or, if
    /// the bridge ended for a swap, goes round to bridge the new leg.
    fn bridge(&mut self, leg: LegId) {
        let caller = self.ctl.caller;
        // The leg's own read lock for the whole bridge: whatever its thread does meanwhile,
        // the session cannot be destroyed under the bridge.
        let (locked, kind) = {
            let mut inner = self.ctl.lock();
            let found = inner
                .legs
                .get(&leg)
                .filter(|h| !h.ended)
                .and_then(|h| LegHandle::locate(h.uuid.as_deref()).map(|l| (l, h.kind)));
            if found.is_some() {
                inner.in_bridge = Some(leg);
            }
            match found {
                Some(f) => f,
                None => {
                    drop(inner);
                    logger::warning(&format!("twinning {}: leg to bridge is gone", self.ctl.user));
                    let commands = self.ctl.leg_ended(leg, Event::LegHungUp(leg));
                    execute(&self.ctl, commands);
                    return;
                }
            }
        };
        let session = locked.session();
        let caller_side = Box::new(BridgeSide::caller(self.ctl.clone(), session));
        let leg_side = Box::new(BridgeSide::leg(self.ctl.clone(), kind, caller));
        // SAFETY: the caller's session runs this application on this thread; the leg's
        // session is read-locked by `locked` until after the bridge; the two sides' data
        // outlive the bridge, which returns before they are dropped below.
        unsafe {
            ffi::switch_ivr_multi_threaded_bridge(
                caller.raw(),
                session.raw(),
                Some(super::dtmf::on_dtmf),
                (&*caller_side as *const BridgeSide).cast_mut().cast(),
                (&*leg_side as *const BridgeSide).cast_mut().cast(),
            );
        }
        drop((caller_side, leg_side));
        let leg_gone = !session.is_ready();
        let swapping = {
            let mut inner = self.ctl.lock();
            inner.in_bridge = None;
            inner.swap_to.is_some()
        };
        if swapping {
            return;
        }
        let commands = if !caller.is_ready() {
            self.caller_gone_reported = true;
            self.ctl.event(Event::CallerHungUp)
        } else {
            // The leg left (or the bridge could not start): either way it is gone.
            if !leg_gone {
                session.hangup(ffi::SWITCH_CAUSE_NORMAL_CLEARING);
            }
            self.ctl.leg_ended(leg, Event::LegHungUp(leg))
        };
        drop(locked);
        execute(&self.ctl, commands);
    }
}

//! The caller's thread, app_dial style: legs are requested and called, one
//! `ast_waitfor_n` watches the caller and every leg with the engine's next deadline as its
//! timeout, frames become engine events and commands become channel operations. The
//! winner is bridged with the caller in an Asterisk bridge, so media stays in Asterisk's
//! own path (native RTP bridging included), and the caller's thread stays in that bridge
//! until the call ends while handovers swap legs in and out of it.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{c_char, c_int, CStr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asterisk_sys as sys;
use twinning_core::call::{Command, Event, LegId, LegKind};

use super::control::{execute, CallCtl, Here, Rejoin};
use super::handles::{BridgeRef, ChanRef};
use super::legs;
use crate::host::logger;

/// The confirmation prompt: Asterisk's own FollowMe prompt ("press 1 to accept, 2 to reject").
const CONFIRM_PROMPT: &CStr = c"followme/options";

/// Legs this thread still owns. Anything left when the call ends, a panic included, is
/// hung up, so no leg can outlive its call.
#[derive(Default)]
struct Legs(BTreeMap<LegId, *mut sys::ast_channel>);

impl Legs {
    fn hang_up(&mut self, leg: LegId) {
        if let Some(chan) = self.0.remove(&leg) {
            // SAFETY: we own this channel (from ast_request, never handed to a bridge).
            unsafe {
                sys::ast_hangup(chan);
            }
        }
    }
}

impl Drop for Legs {
    fn drop(&mut self) {
        let legs: Vec<LegId> = self.0.keys().copied().collect();
        for leg in legs {
            self.hang_up(leg);
        }
    }
}

pub struct Ringing {
    ctl: Arc<CallCtl>,
    legs: Legs,
    /// Events this thread produced itself (a leg that could not be placed, the end of the
    /// bridge), fed to the engine before waiting again.
    events: VecDeque<Event>,
}

impl Ringing {
    pub fn new(ctl: Arc<CallCtl>) -> Self {
        Ringing { ctl, legs: Legs::default(), events: VecDeque::new() }
    }

    /// Runs the call until the engine finishes it.
    pub fn run(&mut self, first: Vec<Command>) {
        let mut commands = first;
        loop {
            for command in execute(&self.ctl, commands, Here::NOWHERE) {
                self.execute(command);
            }
            if self.ctl.lock().engine.is_finished() {
                return;
            }
            commands = match self.events.pop_front() {
                Some(event) => self.ctl.event(event),
                None => {
                    let deadline = self.ctl.lock().engine.poll_timeout();
                    match self.wait(deadline) {
                        Some(event) => self.ctl.event(event),
                        None => self.ctl.step(|e| e.handle_timeout(Instant::now())).1,
                    }
                }
            };
        }
    }

    fn execute(&mut self, command: Command) {
        let caller = self.ctl.caller.raw();
        match command {
            Command::Dial { leg, kind, target, caller_id } => {
                match legs::dial(self.ctl.caller, &target, &caller_id) {
                    Ok(chan) => {
                        self.legs.0.insert(leg, chan);
                    }
                    Err(failure) => {
                        logger::warning(&format!(
                            "twinning {}: {kind} leg {target} could not be placed ({})",
                            self.ctl.user,
                            failure.name()
                        ));
                        self.events.push_back(Event::LegFailed(leg, failure));
                    }
                }
            }
            Command::Cancel { leg } => self.legs.hang_up(leg),
            Command::PlayPrompt { leg, .. } => {
                if let Some(&chan) = self.legs.0.get(&leg) {
                    let mut language = [0 as c_char; 32];
                    // SAFETY: `chan` is a live leg we own; the helper copies its language
                    // under the channel lock; playback advances as we read the channel.
                    unsafe {
                        sys::twinning_channel_language(chan, language.as_mut_ptr(), language.len());
                        if sys::ast_streamfile(chan, CONFIRM_PROMPT.as_ptr(), language.as_ptr()) != 0 {
                            logger::warning(
                                "twinning: the confirmation prompt followme/options could not be played",
                            );
                        }
                    }
                }
            }
            Command::IndicateRinging => {
                // SAFETY: the caller channel is live for the whole application run.
                unsafe {
                    sys::ast_indicate(caller, sys::ast_control_frame_type::AST_CONTROL_RINGING as c_int);
                }
            }
            Command::Bridge { leg } => {
                let kind = self.ctl.lock().engine.leg_kind(leg).unwrap_or(LegKind::Desk);
                let event = match self.legs.0.remove(&leg) {
                    Some(chan) => self.bridge(leg, chan, kind),
                    None => Event::LegHungUp(leg),
                };
                self.events.push_back(event);
            }
            Command::Park => {
                if let Some(event) = self.park() {
                    self.events.push_back(event);
                }
            }
            other => logger::error(&format!(
                "twinning {}: unexpected command on the caller's thread: {other:?}",
                self.ctl.user
            )),
        }
    }

    /// Waits for the next frame from the caller or a leg, or for `deadline`; `None` means
    /// the deadline came first.
    fn wait(&mut self, deadline: Option<Instant>) -> Option<Event> {
        let mut ms: c_int = match deadline {
            Some(d) => {
                d.saturating_duration_since(Instant::now()).as_millis().min(c_int::MAX as u128) as c_int
            }
            // Ringing always has a deadline; this only guards against a wait without end.
            None => 1000,
        };
        let caller = self.ctl.caller.raw();
        let mut chans: Vec<*mut sys::ast_channel> = vec![caller];
        let ids: Vec<LegId> = self.legs.0.keys().copied().collect();
        chans.extend(ids.iter().map(|id| self.legs.0[id]));
        // SAFETY: every pointer is a live channel (the caller, or a leg we own); the array
        // outlives the call.
        let ready = unsafe { sys::ast_waitfor_n(chans.as_mut_ptr(), chans.len() as c_int, &mut ms) };
        if ready.is_null() {
            if ms != 0 {
                // Interrupted rather than timed out: a hung-up caller shows here.
                // SAFETY: live caller channel.
                if unsafe { sys::ast_check_hangup(caller) } != 0 {
                    return Some(Event::CallerHungUp);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            return None;
        }
        if ready == caller {
            return self.read_caller();
        }
        let leg = ids[chans[1..].iter().position(|&c| c == ready)?];
        // SAFETY: `ready` is one of our live legs.
        match unsafe { legs::read(leg, ready) } {
            Ok(event) => event,
            Err(event) => {
                self.legs.hang_up(leg);
                Some(event)
            }
        }
    }

    fn read_caller(&mut self) -> Option<Event> {
        let caller = self.ctl.caller.raw();
        // SAFETY: live caller channel; the frame is freed below.
        unsafe {
            let f = sys::ast_read(caller);
            if f.is_null() {
                return Some(Event::CallerHungUp);
            }
            let hangup = (*f).frametype == sys::ast_frame_type::AST_FRAME_CONTROL
                && (*f).subclass.integer == sys::ast_control_frame_type::AST_CONTROL_HANGUP as c_int;
            sys::ast_frame_free(f, 1);
            // Anything else the caller sends while the phones ring is not for them.
            hangup.then_some(Event::CallerHungUp)
        }
    }

    /// Answers the caller, bridges it with `leg` (whose channel this thread owns) and
    /// stays in the bridge until the call ends; returns what ended it.
    fn bridge(&mut self, leg: LegId, chan: *mut sys::ast_channel, kind: LegKind) -> Event {
        let caller = self.ctl.caller.raw();
        // SAFETY: `chan` is a live leg we own until ast_bridge_impart succeeds, after which
        // the bridge owns it (INDEPENDENT: it is hung up when it leaves); `caller` is live.
        // The call keeps its own references to the bridge and the bridged leg, so other
        // threads can swap legs in; the reference passed to ast_bridge_join is released
        // by it.
        unsafe {
            sys::ast_stopstream(chan);
            if sys::ast_channel_state(caller) != sys::ast_channel_state::AST_STATE_UP
                && sys::ast_answer(caller) != 0
            {
                sys::ast_hangup(chan);
                return Event::CallerHungUp;
            }
            let bridge = sys::ast_bridge_basic_new();
            if bridge.is_null() {
                logger::error(&format!(
                    "twinning {}: could not create a bridge for the {kind} leg",
                    self.ctl.user
                ));
                sys::ast_hangup(chan);
                return Event::LegHungUp(leg);
            }
            {
                let mut inner = self.ctl.lock();
                inner.bridge = Some(BridgeRef::new(bridge));
                inner.chans.insert(leg, ChanRef::new(chan));
            }
            let features = super::hooks::features_for(&self.ctl, kind);
            if sys::ast_bridge_impart(
                bridge,
                chan,
                std::ptr::null_mut(),
                features,
                sys::ast_bridge_impart_flags::AST_BRIDGE_IMPART_CHAN_INDEPENDENT,
            ) != 0
            {
                logger::error(&format!(
                    "twinning {}: could not put the {kind} leg into the bridge",
                    self.ctl.user
                ));
                self.ctl.lock().chans.remove(&leg);
                sys::ast_hangup(chan);
                sys::ast_bridge_destroy(bridge, 0);
                return Event::LegHungUp(leg);
            }
            // Joining needs a features structure (it may not be NULL, unlike impart's).
            let caller_features = sys::ast_bridge_features_new();
            if caller_features.is_null() {
                sys::ast_bridge_destroy(bridge, 0);
                return Event::CallerHungUp;
            }
            sys::ast_bridge_join(
                bridge,
                caller,
                std::ptr::null_mut(),
                caller_features,
                std::ptr::null_mut(),
                sys::ast_bridge_join_flags::AST_BRIDGE_JOIN_PASS_REFERENCE,
            );
            sys::ast_bridge_features_destroy(caller_features);
        }
        self.left_bridge(leg)
    }

    /// What the caller leaving a bridge means: the caller hung up, or the leg bridged by
    /// then (whichever it was after handovers) left.
    fn left_bridge(&self, fallback: LegId) -> Event {
        // SAFETY: live caller channel.
        if unsafe { sys::ast_check_hangup(self.ctl.caller.raw()) } != 0 {
            Event::CallerHungUp
        } else {
            Event::LegHungUp(self.ctl.lock().engine.bridged_leg().unwrap_or(fallback))
        }
    }

    /// Holds the caller in a holding bridge (music on hold) while the desk is offered the
    /// call, then bridges it again with whoever took it. `None` when nobody did (the
    /// call is over).
    fn park(&mut self) -> Option<Event> {
        let caller = self.ctl.caller.raw();
        use sys::ast_bridge_feature_flags as flags;
        // SAFETY: `caller` is live for the application's run; the holding bridge is ours
        // until the reference is passed to ast_bridge_join (the call keeps its own).
        unsafe {
            let holding = sys::ast_bridge_base_new(
                sys::ast_bridge_capability::AST_BRIDGE_CAPABILITY_HOLDING,
                flags::AST_BRIDGE_FLAG_DISSOLVE_EMPTY
                    | flags::AST_BRIDGE_FLAG_MERGE_INHIBIT_TO
                    | flags::AST_BRIDGE_FLAG_MERGE_INHIBIT_FROM,
                c"twinning".as_ptr(),
                c"twinning-hold".as_ptr(),
                std::ptr::null(),
            );
            if holding.is_null() {
                logger::error(&format!("twinning {}: could not create a holding bridge", self.ctl.user));
                return None;
            }
            {
                let mut inner = self.ctl.lock();
                // The desk may already have taken the call, or the call be over.
                if inner.rejoin.is_some() || inner.engine.is_finished() {
                    drop(inner);
                    sys::ast_bridge_destroy(holding, 0);
                    return self.rejoin();
                }
                inner.holding = Some(BridgeRef::new(holding));
            }
            let role = c"holding_participant";
            sys::ast_channel_add_bridge_role(caller, role.as_ptr());
            sys::ast_channel_set_bridge_role_option(
                caller,
                role.as_ptr(),
                c"idle_mode".as_ptr(),
                c"musiconhold".as_ptr(),
            );
            let features = sys::ast_bridge_features_new();
            if !features.is_null() {
                sys::ast_bridge_join(
                    holding,
                    caller,
                    std::ptr::null_mut(),
                    features,
                    std::ptr::null_mut(),
                    sys::ast_bridge_join_flags::AST_BRIDGE_JOIN_PASS_REFERENCE,
                );
                sys::ast_bridge_features_destroy(features);
            }
            sys::ast_channel_remove_bridge_role(caller, role.as_ptr());
            self.ctl.lock().holding = None;
            if sys::ast_check_hangup(caller) != 0 {
                return Some(Event::CallerHungUp);
            }
        }
        self.rejoin()
    }

    /// Bridges the caller with whoever took the held call, if anyone did.
    fn rejoin(&mut self) -> Option<Event> {
        let rejoin = self.ctl.lock().rejoin.take()?;
        match rejoin {
            Rejoin::Impart { leg, chan } => Some(self.bridge(leg, chan, LegKind::Desk)),
            Rejoin::Join { bridge } => {
                let caller = self.ctl.caller.raw();
                let leg = self.ctl.lock().engine.bridged_leg()?;
                // SAFETY: we hold a reference to the bridge the desk's thread is in; the
                // caller joins it from its own thread.
                unsafe {
                    let features = sys::ast_bridge_features_new();
                    if !features.is_null() {
                        sys::ast_bridge_join(
                            bridge.raw(),
                            caller,
                            std::ptr::null_mut(),
                            features,
                            std::ptr::null_mut(),
                            0,
                        );
                        sys::ast_bridge_features_destroy(features);
                    }
                }
                Some(self.left_bridge(leg))
            }
        }
    }
}

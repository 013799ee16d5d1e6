//! Drives one twinned call on the caller's thread, the way app_dial does: legs are
//! requested and called, one `ast_waitfor_n` watches the caller and every leg with the
//! engine's next deadline as its timeout, frames become engine events, and engine commands
//! become channel operations. The winner is bridged with the caller in an Asterisk bridge,
//! so media stays in Asterisk's own path (native RTP bridging included).

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{c_char, c_int, CStr};
use std::time::{Duration, Instant};

use asterisk_sys as sys;
use twinning_core::call::{CallSetup, CallStatus, Command, Event, LegFailure, LegId, LegKind, TwinnedCall};

use super::channel::ChannelRef;
use super::{cstr, logger, manager, state};

/// The confirmation prompt: Asterisk's own FollowMe prompt ("press 1 to accept, 2 to reject").
const CONFIRM_PROMPT: &CStr = c"followme/options";

/// Outgoing legs this call still owns. Anything left when the driver ends, a panic
/// included, is hung up, so no leg can outlive its call.
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

/// A mobile slot the call holds in the shared cap, given back however the driver ends.
struct Slot(bool);

impl Slot {
    fn release(&mut self) {
        if std::mem::take(&mut self.0) {
            state::cap().release();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

pub struct Outcome {
    pub status: CallStatus,
    pub answered_by: Option<LegKind>,
}

/// Runs the call to its end. `caller` is the channel running the application.
pub fn run(caller: ChannelRef, user: &str, setup: CallSetup) -> Outcome {
    let started = Instant::now();
    let mut engine = TwinnedCall::start(setup, &mut state::cap(), started);
    let mut slot = Slot(engine.holds_mobile_slot());
    let call_id = state::calls().begin(user, &caller.name(), started);
    let mut driver = Driver { caller, user, legs: Legs::default(), events: VecDeque::new(), outcome: None };
    let outcome = loop {
        while let Some(command) = engine.poll_command() {
            driver.execute(command, &engine, &mut slot);
        }
        state::calls().update(call_id, engine.leg_states());
        if let Some(outcome) = driver.outcome.take() {
            break outcome;
        }
        if let Some(event) = driver.events.pop_front() {
            engine.handle_event(event, Instant::now());
            continue;
        }
        match driver.wait(engine.poll_timeout()) {
            Some(event) => engine.handle_event(event, Instant::now()),
            None => engine.handle_timeout(Instant::now()),
        }
    };
    state::calls().end(call_id);
    outcome
}

struct Driver<'a> {
    caller: ChannelRef,
    user: &'a str,
    legs: Legs,
    /// Events the driver produced itself (a leg that could not be placed, a bridge that
    /// ended), fed to the engine before waiting again.
    events: VecDeque<Event>,
    outcome: Option<Outcome>,
}

impl Driver<'_> {
    fn execute(&mut self, command: Command, engine: &TwinnedCall, slot: &mut Slot) {
        match command.clone() {
            Command::Dial { leg, kind, target, caller_id } => {
                match self.dial(&target.tech, &target.resource, &caller_id.number, &caller_id.name) {
                    Ok(chan) => {
                        self.legs.0.insert(leg, chan);
                    }
                    Err(failure) => {
                        logger::warning(&format!(
                            "twinning {}: {kind} leg {target} could not be placed ({})",
                            self.user,
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
                    // SAFETY: `chan` is a live leg we own; the helper copies the language
                    // into our buffer under the channel lock; ast_streamfile starts playback
                    // that advances as we read the channel.
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
                    sys::ast_indicate(
                        self.caller.raw(),
                        sys::ast_control_frame_type::AST_CONTROL_RINGING as c_int,
                    );
                }
            }
            Command::Bridge { leg } => {
                let kind = engine.leg_kind(leg).unwrap_or(LegKind::Desk);
                let event = self.bridge(leg, kind);
                self.events.push_back(event);
            }
            Command::ReleaseMobileSlot => slot.release(),
            Command::Notify(n) => manager::emit_call_notification(self.caller, self.user, &n),
            Command::Finish { status, answered_by } => self.outcome = Some(Outcome { status, answered_by }),
            // Mid-call commands answer handover requests and mobile codes, which this
            // driver never feeds the engine: they cannot arise here.
            Command::SwapBridge { .. }
            | Command::HoldCaller
            | Command::ResumeCaller
            | Command::BlindTransfer { .. } => {
                logger::error(&format!("twinning {}: unexpected mid-call command {command:?}", self.user))
            }
        }
    }

    /// Requests and calls one leg. The leg inherits the caller's variables and is linked
    /// to it (so CDR/CEL see one call), and presents `number`/`name` to the far end.
    fn dial(
        &mut self,
        tech: &str,
        resource: &str,
        number: &str,
        name: &str,
    ) -> Result<*mut sys::ast_channel, LegFailure> {
        let (tech, resource) = (cstr::owned(tech), cstr::owned(resource));
        let (number, name) = (cstr::owned(number), cstr::owned(name));
        let mut cause: c_int = 0;
        let caller = self.caller.raw();
        // SAFETY: the caller is live; ast_request returns a new channel we own or NULL;
        // the strings outlive the calls, which copy them.
        unsafe {
            let chan = sys::ast_request(
                tech.as_ptr(),
                sys::ast_channel_nativeformats(caller),
                std::ptr::null(),
                caller,
                resource.as_ptr(),
                &mut cause,
            );
            if chan.is_null() {
                return Err(failure_for_cause(cause).unwrap_or(LegFailure::Unavailable));
            }
            sys::ast_channel_inherit_variables(caller, chan);
            sys::twinning_set_outgoing_identity(chan, number.as_ptr(), name.as_ptr());
            if sys::ast_call(chan, resource.as_ptr(), 0) != 0 {
                sys::ast_hangup(chan);
                return Err(LegFailure::Unavailable);
            }
            Ok(chan)
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
        let mut chans: Vec<*mut sys::ast_channel> = vec![self.caller.raw()];
        let ids: Vec<LegId> = self.legs.0.keys().copied().collect();
        chans.extend(ids.iter().map(|id| self.legs.0[id]));
        // SAFETY: every pointer is a live channel (the caller, or a leg we own); the array
        // outlives the call.
        let ready = unsafe { sys::ast_waitfor_n(chans.as_mut_ptr(), chans.len() as c_int, &mut ms) };
        if ready.is_null() {
            if ms != 0 {
                // Interrupted rather than timed out: a hung-up caller shows here.
                // SAFETY: live caller channel.
                if unsafe { sys::ast_check_hangup(self.caller.raw()) } != 0 {
                    return Some(Event::CallerHungUp);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            return None;
        }
        if ready == self.caller.raw() {
            return self.read_caller();
        }
        let leg = ids[chans[1..].iter().position(|&c| c == ready)?];
        self.read_leg(leg, ready)
    }

    fn read_caller(&mut self) -> Option<Event> {
        // SAFETY: live caller channel; the frame is freed below.
        unsafe {
            let f = sys::ast_read(self.caller.raw());
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

    fn read_leg(&mut self, leg: LegId, chan: *mut sys::ast_channel) -> Option<Event> {
        use sys::ast_control_frame_type as ctl;
        // SAFETY: `chan` is a live leg we own; the frame is freed below.
        unsafe {
            let f = sys::ast_read(chan);
            if f.is_null() {
                let cause = sys::ast_channel_hangupcause(chan);
                self.legs.hang_up(leg);
                return Some(match failure_for_cause(cause) {
                    Some(failure) => Event::LegFailed(leg, failure),
                    None => Event::LegHungUp(leg),
                });
            }
            let event = match (*f).frametype {
                sys::ast_frame_type::AST_FRAME_CONTROL => match (*f).subclass.integer as u32 {
                    ctl::AST_CONTROL_RINGING => Some(Event::LegRinging(leg)),
                    ctl::AST_CONTROL_PROGRESS | ctl::AST_CONTROL_PROCEEDING => Some(Event::LegProgress(leg)),
                    ctl::AST_CONTROL_ANSWER => Some(Event::LegAnswered(leg)),
                    ctl::AST_CONTROL_BUSY => Some(Event::LegFailed(leg, LegFailure::Busy)),
                    ctl::AST_CONTROL_CONGESTION => Some(Event::LegFailed(leg, LegFailure::Congestion)),
                    ctl::AST_CONTROL_HANGUP => Some(Event::LegHungUp(leg)),
                    _ => None,
                },
                sys::ast_frame_type::AST_FRAME_DTMF_END => {
                    char::from_u32((*f).subclass.integer as u32).map(|d| Event::LegDtmf(leg, d))
                }
                _ => None,
            };
            sys::ast_frame_free(f, 1);
            // A busy or congested leg is finished with; the engine will not cancel it.
            if matches!(event, Some(Event::LegFailed(..) | Event::LegHungUp(_))) {
                self.legs.hang_up(leg);
            }
            event
        }
    }

    /// Answers the caller, bridges it with `leg` and stays in the bridge until the call
    /// ends; returns what ended it.
    fn bridge(&mut self, leg: LegId, kind: LegKind) -> Event {
        let Some(chan) = self.legs.0.remove(&leg) else {
            return Event::LegHungUp(leg);
        };
        let caller = self.caller.raw();
        // SAFETY: `chan` is a live leg we own until ast_bridge_impart succeeds, after which
        // the bridge owns it (INDEPENDENT: it is hung up when it leaves); `caller` is live.
        // The bridge reference is passed to ast_bridge_join, which releases it.
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
                    self.user
                ));
                sys::ast_hangup(chan);
                return Event::LegHungUp(leg);
            }
            if sys::ast_bridge_impart(
                bridge,
                chan,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                sys::ast_bridge_impart_flags::AST_BRIDGE_IMPART_CHAN_INDEPENDENT,
            ) != 0
            {
                logger::error(&format!(
                    "twinning {}: could not put the {kind} leg into the bridge",
                    self.user
                ));
                sys::ast_hangup(chan);
                sys::ast_bridge_destroy(bridge, 0);
                return Event::LegHungUp(leg);
            }
            // Joining needs a features structure (it may not be NULL, unlike impart's).
            let features = sys::ast_bridge_features_new();
            if features.is_null() {
                sys::ast_bridge_destroy(bridge, 0);
                return Event::CallerHungUp;
            }
            sys::ast_bridge_join(
                bridge,
                caller,
                std::ptr::null_mut(),
                features,
                std::ptr::null_mut(),
                sys::ast_bridge_join_flags::AST_BRIDGE_JOIN_PASS_REFERENCE,
            );
            sys::ast_bridge_features_destroy(features);
            if sys::ast_check_hangup(caller) != 0 {
                Event::CallerHungUp
            } else {
                Event::LegHungUp(leg)
            }
        }
    }
}

/// How a leg that ended unanswered failed, from its hangup cause; `None` for a plain
/// hang-up.
fn failure_for_cause(cause: c_int) -> Option<LegFailure> {
    match cause as u32 {
        sys::AST_CAUSE_BUSY => Some(LegFailure::Busy),
        sys::AST_CAUSE_CALL_REJECTED => Some(LegFailure::Rejected),
        sys::AST_CAUSE_NORMAL_CIRCUIT_CONGESTION
        | sys::AST_CAUSE_SWITCH_CONGESTION
        | sys::AST_CAUSE_NETWORK_OUT_OF_ORDER
        | sys::AST_CAUSE_NORMAL_TEMPORARY_FAILURE
        | sys::AST_CAUSE_REQUESTED_CHAN_UNAVAIL => Some(LegFailure::Congestion),
        sys::AST_CAUSE_UNALLOCATED
        | sys::AST_CAUSE_NO_ROUTE_TRANSIT_NET
        | sys::AST_CAUSE_NO_ROUTE_DESTINATION
        | sys::AST_CAUSE_SUBSCRIBER_ABSENT
        | sys::AST_CAUSE_DESTINATION_OUT_OF_ORDER
        | sys::AST_CAUSE_INVALID_NUMBER_FORMAT
        | sys::AST_CAUSE_NO_USER_RESPONSE
        | sys::AST_CAUSE_CHANNEL_UNACCEPTABLE
        | sys::AST_CAUSE_FACILITY_NOT_SUBSCRIBED => Some(LegFailure::Unavailable),
        _ => None,
    }
}

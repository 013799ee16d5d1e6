//! A consult from the mobile, carried out on the mobile's own bridge-channel thread: the
//! consult code's DTMF hook holds the caller and, given `DialConsult`, stays in the hook
//! while the consult lasts. The mobile is suspended from the caller's bridge meanwhile
//! (Asterisk does that for a hook's run), so this thread services the mobile and the
//! consult call alike, as app_dial services a caller and its peer: it tells the engine how
//! the consult call progresses, plays ringing to the mobile, relays voice both ways once
//! it answered, and matches the mobile's keys against the consult codes.
//!
//! Whatever the engine decides ends the hook: `EndConsult` hangs the consult call up and the
//! mobile, back from its hook, is with the caller again; `AttendedTransfer` imparts the
//! consult call into the caller's bridge in the mobile's place (the swap takes the mobile
//! out; being imparted independent, it is hung up as it leaves); `Conference` imparts it
//! beside the other two, in the same basic bridge, which mixes three (bridge_softmix) and,
//! by its own hangup hook, lets one of three leave without dissolving (see
//! `hooks::left_bridge` for telling the engine).
//!
//! Asterisk's own attended transfer moves the transferer into a second bridge instead. Here
//! the call's bridge, its references and its swap helpers stay as they are for handovers,
//! and the consult never becomes a bridge of its own until it joins the caller's, so there
//! is nothing to tear down when it is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use twinning_core::call::{
    CallerId, CodeAction, Command, DialTarget, DtmfCodeMatcher, Event, LegFailure, LegId, LegKind,
};
use twinning_driver::{consult_codes, CodeRequest};

use crate::call::{leg_event, note, place};
use crate::hooks;
use crate::host::bridge::HookChannel;
use crate::host::channel::{Channel, Frame, Leg, Ready};
use crate::pbx::TwinnedCall;

/// How often the consult loop looks whether the engine still has the consult (another
/// thread may have ended the call) when neither channel has anything to read.
const LOOK_AGAIN: Duration = Duration::from_millis(500);

/// What `DialConsult` asks for.
pub struct Dial {
    pub leg: LegId,
    pub context: String,
    pub exten: String,
    pub caller_id: CallerId,
    pub account_code: Option<String>,
}

/// Places the consult call and services it until the consult is over; runs in the mobile's
/// DTMF hook (`here`).
pub fn run(call: &Arc<TwinnedCall>, dial: Dial, here: HookChannel) {
    let leg = dial.leg;
    let Some(mobile) = here.channel() else {
        finish_unexpected(call, call.feed(Event::LegFailed(leg, LegFailure::Unavailable), here));
        return;
    };
    // A Local channel into the consult context, never a dial string built from digits: the
    // engine checked the number against the destination policy, and the admin's context
    // routes it. `/n`: the Local pair stays, so the leg keeps the channel this module holds
    // (an optimised-away Local would leave the third party unreachable to Cancel).
    let target = DialTarget { tech: "Local".into(), resource: format!("{}@{}/n", dial.exten, dial.context) };
    let chan = match place(&mobile, LegKind::Consult, &target, &dial.caller_id, dial.account_code.as_deref())
    {
        Ok(chan) => chan,
        Err(failure) => {
            log::warn!(
                "twinning {}: the consult to {target} could not be placed ({})",
                call.user,
                failure.name()
            );
            let rest = call.feed(Event::LegFailed(leg, failure), here);
            Consult::new(call, leg, mobile, None, here).perform(rest);
            return;
        }
    };
    {
        let mut s = call.lock();
        // The call may have ended while the consult was being placed: it is hung up as it
        // drops.
        if !s.engine.is_leg_live(leg) {
            return;
        }
        s.host.chans.insert(leg, chan.channel().clone());
    }
    let mut consult = Consult::new(call, leg, mobile, Some(chan), here);
    consult.service();
    consult.release();
}

struct Consult<'a> {
    call: &'a Arc<TwinnedCall>,
    leg: LegId,
    mobile: Channel,
    /// The consult call while this thread has it (not yet given to the bridge or hung up).
    chan: Option<Leg>,
    here: HookChannel,
    answered: bool,
    codes: DtmfCodeMatcher<CodeRequest>,
    /// The engine ended the consult one way or another: the hook returns.
    done: bool,
}

impl<'a> Consult<'a> {
    fn new(
        call: &'a Arc<TwinnedCall>,
        leg: LegId,
        mobile: Channel,
        chan: Option<Leg>,
        here: HookChannel,
    ) -> Self {
        let codes = DtmfCodeMatcher::new(
            consult_codes(&call.call_control).into_iter().map(|(c, r, k)| (c.as_str().to_owned(), r, k)),
        );
        Consult { call, leg, mobile, chan, here, answered: false, codes, done: false }
    }

    fn service(&mut self) {
        while !self.done {
            let Some(consult) = self.chan.as_ref().map(|c| c.channel().clone()) else { break };
            let now = Instant::now();
            let timeout = self
                .codes
                .flush_due()
                .map_or(LOOK_AGAIN, |d| d.saturating_duration_since(now).min(LOOK_AGAIN));
            match Channel::wait_any(&[&self.mobile, &consult], timeout) {
                Ready::Channel(0) => self.read_mobile(&consult),
                Ready::Channel(_) => self.read_consult(),
                Ready::Timeout | Ready::Interrupted => {
                    if self.mobile.hung_up() {
                        self.mobile_hung_up();
                    } else if consult.hung_up() {
                        self.read_consult();
                    } else {
                        let keys = self.codes.expire(Instant::now());
                        self.pass_keys(&consult, &keys);
                    }
                }
            }
            if !self.done && !self.still_consulting() {
                // The call ended under us (the caller hung up): the engine cancelled the
                // consult, and the bridge the mobile returns to is dissolving.
                self.done = true;
            }
        }
    }

    fn still_consulting(&self) -> bool {
        self.call.lock().engine.consult().is_some_and(|(leg, _, _)| leg == self.leg)
    }

    fn read_mobile(&mut self, consult: &Channel) {
        let to = self.answered.then_some(consult);
        match self.mobile.read_relaying(to) {
            Frame::Dtmf(key) => {
                let keyed = self.codes.feed(key, Instant::now());
                self.pass_keys(consult, &keyed.pass);
                if let Some(CodeAction::Code(request) | CodeAction::CodeWithDigits(request, _)) = keyed.action
                {
                    let rest = self.call.code_pressed(request, None, self.here);
                    self.perform(rest);
                }
            }
            Frame::Hangup | Frame::Gone(_) => self.mobile_hung_up(),
            _ => {}
        }
    }

    /// Keys the mobile keyed that are not a consult code go on to the third party, as they
    /// would to the caller; before the answer there is nobody to hear them.
    fn pass_keys(&self, consult: &Channel, keys: &str) {
        if self.answered {
            keys.chars().for_each(|k| consult.send_digit(k));
        }
    }

    /// After the answer, the mobile hanging up completes the transfer, as a desk phone
    /// does: the engine says so, and it is carried out here. Before it, the hook ends and
    /// the bridge sees the mobile gone as any hang-up: the caller's thread tells the
    /// engine, which cancels the consult and parks or ends the call as usual.
    fn mobile_hung_up(&mut self) {
        let consulting = self.call.lock().engine.consult().filter(|(leg, _, _)| *leg == self.leg);
        if let Some((_, mobile, true)) = consulting {
            let rest = self.call.feed(Event::LegHungUp(mobile), self.here);
            self.perform(rest);
        }
        self.done = true;
    }

    fn read_consult(&mut self) {
        let Some(chan) = self.chan.as_mut() else { return };
        let frame = chan.channel().read_relaying(self.answered.then_some(&self.mobile));
        let event = leg_event(self.leg, frame);
        note(chan, &event);
        let event = match event {
            Some(Event::LegDtmf(_, key)) => {
                self.mobile.send_digit(key);
                return;
            }
            Some(e @ (Event::LegRinging(_) | Event::LegProgress(_))) => {
                if !self.answered {
                    self.mobile.indicate_ringing();
                }
                e
            }
            Some(e @ (Event::LegFailed(..) | Event::LegHungUp(_))) => {
                self.hang_up_consult();
                e
            }
            Some(e) => e,
            None => return,
        };
        let rest = self.call.feed(event, self.here);
        self.perform(rest);
    }

    /// Carries out what the engine decided (the host performed the rest, e.g. `Cancel`).
    fn perform(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::ConnectConsult { .. } => {
                    self.mobile.stop_indications();
                    if let Some(chan) = &self.chan {
                        if !self.mobile.make_compatible(chan.channel()) {
                            log::warn!(
                                "twinning {}: no common format with the consulted party",
                                self.call.user
                            );
                        }
                    }
                    self.answered = true;
                }
                Command::EndConsult { resume, .. } => {
                    self.mobile.stop_indications();
                    self.hang_up_consult();
                    if resume {
                        self.here.hold(false);
                    }
                    self.done = true;
                }
                Command::AttendedTransfer { consult, mobile } => {
                    self.here.hold(false);
                    self.transfer(consult, mobile);
                    self.done = true;
                }
                Command::Conference { consult, .. } => {
                    self.mobile.stop_indications();
                    self.here.hold(false);
                    self.conference(consult);
                    self.done = true;
                }
                other => {
                    log::error!("twinning {}: unexpected command while consulting: {other:?}", self.call.user)
                }
            }
        }
    }

    /// The consult call takes the mobile's place in the caller's bridge; the mobile leaves
    /// as its hook returns, and is hung up (it was imparted independent).
    fn transfer(&mut self, consult: LegId, mobile: LegId) {
        let Some(chan) = self.chan.take() else { return };
        if !crate::midcall::swap_in_imparted(self.call, consult, LegKind::Consult, chan, mobile) {
            log::error!("twinning {}: the consulted party could not take the call over", self.call.user);
            self.call.lock().host.chans.remove(&consult);
            finish_unexpected(self.call, self.call.feed(Event::LegHungUp(consult), self.here));
        }
    }

    /// The consult call joins the caller's bridge beside the caller and the mobile.
    fn conference(&mut self, consult: LegId) {
        let Some(chan) = self.chan.take() else { return };
        let bridge = self.call.lock().host.bridge.clone();
        let joined =
            bridge.is_some_and(|b| b.impart(chan, None, hooks::features_for(self.call, LegKind::Consult)));
        if !joined {
            log::error!("twinning {}: the consulted party could not join the conference", self.call.user);
            self.call.lock().host.chans.remove(&consult);
            finish_unexpected(self.call, self.call.feed(Event::LegHungUp(consult), self.here));
        }
    }

    fn hang_up_consult(&mut self) {
        if self.chan.take().is_some() {
            self.call.lock().host.chans.remove(&self.leg);
        }
    }

    /// What is still this thread's when the hook returns is hung up.
    fn release(mut self) {
        self.hang_up_consult();
    }
}

fn finish_unexpected(call: &TwinnedCall, rest: Vec<Command>) {
    for c in rest {
        log::error!("twinning {}: consult command left unperformed: {c:?}", call.user);
    }
}

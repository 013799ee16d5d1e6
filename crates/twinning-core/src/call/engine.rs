//! The twinned call's state machine.
//!
//! One call: the desk leg and up to ten remote legs (`mobile`, `mobile2` … `mobile10`)
//! ring together, each remote leg after its own delay; the first valid answer wins and
//! every other leg is cancelled in the same step, so two legs can never both be bridged
//! however close their answers arrive. A remote answer inside its destination's answer
//! guard is carrier voicemail, not the user; with confirmation on, an answered remote leg
//! must press 1 before it wins, while the others keep ringing. A destination's own ring
//! time ends its leg while the others ring on.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::command::{
    CallStatus, CallerId, Command, ConferenceResult, ConsultResult, DialTarget, HandoverResult,
    HandoverTrigger, LegNotice, Notification, Prompt, RefusalReason, TransferKind,
};
use super::{CallSetup, Event, LegFailure, LegId, LegKind, MobileFeature, MobileSlots};
use crate::settings::RemoteDestination;
use crate::{CallerIdMode, DestinationPolicy, PhoneNumber};

/// How long an answered mobile has to press 1 (counted from the answer, so it includes
/// hearing the prompt). FollowMe waits 5 s after its prompt; ours is about 3 s long.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(8);

/// How soon after dialing a refusal counts as the trunk refusing the caller ID (and not a
/// person declining the call): strict providers answer the INVITE itself with 403.
pub const RETRY_WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// Waiting for its start time (the mobile's dial delay).
    Pending,
    Dialing,
    Ringing,
    /// Answered; waiting for the user to press 1.
    Confirming {
        deadline: Instant,
    },
    Bridged,
    Ended,
}

impl LegState {
    fn is_live(self) -> bool {
        matches!(self, LegState::Dialing | LegState::Ringing | LegState::Confirming { .. })
    }
}

#[derive(Debug)]
struct Leg {
    kind: LegKind,
    target: DialTarget,
    caller_id: CallerId,
    state: LegState,
    start_at: Instant,
    dialed_at: Option<Instant>,
    rang: bool,
    /// A remote leg answered sooner than this after it was dialed is voicemail.
    guard: Duration,
    /// When a remote leg stops ringing unanswered (its destination's ring time).
    give_up_at: Option<Instant>,
    /// Whether this leg holds a slot of the host's cap.
    holds_slot: bool,
    /// This leg is the one retry of a refused leg with the fallback caller ID.
    retried: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ringing,
    Bridged(LegId),
    /// The bridged mobile hung up; the caller is held for the desk until `deadline`.
    Parked {
        deadline: Instant,
    },
    Finished,
}

/// Where a handover rings a remote destination, and that destination's answer guard.
type RemoteTarget = (DialTarget, Duration);

/// A consult from the mobile under way: the caller is held while the mobile calls a
/// third party.
#[derive(Debug, Clone)]
struct Consult {
    leg: LegId,
    /// The remote leg that is consulting (the one bridged with the caller).
    mobile: LegId,
    answered: bool,
    /// The consult put the caller on hold (it was not held before), so ending it resumes.
    held_caller: bool,
    context: String,
    exten: String,
}

/// A handover under way: the other device is ringing.
#[derive(Debug, Clone, Copy)]
struct Handover {
    leg: LegId,
    trigger: HandoverTrigger,
    deadline: Instant,
}

#[derive(Debug)]
pub struct TwinnedCall {
    legs: Vec<Leg>,
    phase: Phase,
    started: Instant,
    ring_deadline: Instant,
    confirm: bool,
    failures: Vec<LegFailure>,
    caller_told_ringing: bool,
    commands: VecDeque<Command>,
    /// The time of the input being handled.
    now: Instant,
    /// Where a handover rings each device: the desk always; a remote destination if it has
    /// a number the policy allows (checked when the call started) with its answer guard,
    /// else why not.
    desk: (DialTarget, CallerId),
    remotes: Vec<(u8, Result<RemoteTarget, String>)>,
    remote_caller_id: CallerId,
    /// The remote destination that answered last: where a handover `To: mobile` goes.
    last_remote: u8,
    handover_timeout: Duration,
    handover: Option<Handover>,
    transfer_context: String,
    caller_on_hold: bool,
    desk_pickup_time: Duration,
    /// The device that last had the call, for `answered_by` once the call ends.
    last_bridged: Option<LegKind>,
    outcome: Option<(CallStatus, Option<LegKind>)>,
    /// The account code remote legs are billed to (the user's `accountcode`).
    account_code: Option<String>,
    /// The caller ID a remote leg the trunk refused is dialed with once more
    /// (`caller_id_fallback`), when it differs from what was sent.
    fallback_caller_id: Option<CallerId>,
    /// Where a consult is placed (`consult_context`); `None` refuses consults.
    consult_context: Option<String>,
    /// The destination policy a consult's number must pass, as for every number the
    /// mobile dials.
    policy: DestinationPolicy,
    /// Who a consult call presents: the user's extension, as the desk would.
    user_caller_id: CallerId,
    consult: Option<Consult>,
    /// The third party of a conference the mobile made (the caller, the mobile and it in
    /// one bridge).
    conference: Option<LegId>,
}

impl TwinnedCall {
    /// Decides who rings and starts the call. `cap` is the host's shared bound on mobile
    /// legs: a slot is taken here only if the mobile will ring, and given back through
    /// [`Command::ReleaseMobileSlot`].
    pub fn start(setup: CallSetup, cap: &mut dyn MobileSlots, now: Instant) -> TwinnedCall {
        let s = &setup.settings;
        let o = &setup.options;
        let ms = |m: crate::Millis| Duration::from_millis(m.as_millis());
        let ring_time = ms(o.ring_time.unwrap_or(s.ring_time));
        let remote_caller_id = mobile_caller_id(&setup);
        let mut call = TwinnedCall {
            legs: Vec::new(),
            phase: Phase::Ringing,
            started: now,
            ring_deadline: now + ring_time,
            confirm: s.confirm || o.force_confirm,
            failures: Vec::new(),
            caller_told_ringing: false,
            commands: VecDeque::new(),
            now,
            desk: (
                DialTarget { tech: s.desk.tech().into(), resource: s.desk.resource().into() },
                setup.caller.clone(),
            ),
            remotes: s
                .destinations()
                .map(|d| {
                    let guard = ms(o.answer_guard.unwrap_or(d.answer_guard));
                    (d.index, handover_target(&setup, d.number).map(|t| (t, guard)))
                })
                .collect(),
            remote_caller_id: remote_caller_id.clone(),
            last_remote: 1,
            handover_timeout: ms(setup.call_control.handover_timeout),
            handover: None,
            transfer_context: setup.call_control.transfer_context.clone(),
            caller_on_hold: false,
            desk_pickup_time: ms(setup.call_control.desk_pickup_time),
            last_bridged: None,
            outcome: None,
            account_code: s.account_code.as_ref().map(ToString::to_string),
            fallback_caller_id: fallback_caller_id(&setup),
            consult_context: setup.call_control.consult_context().map(str::to_owned),
            policy: setup.policy.clone(),
            user_caller_id: CallerId { number: setup.user.to_string(), name: String::new(), withheld: false },
            consult: None,
            conference: None,
        };
        call.notify(Notification::Start { mobile: s.mobile.as_ref().map(|m| m.to_string()) });
        if s.dnd {
            call.notify(Notification::Refused {
                leg: LegKind::MOBILE,
                reason: RefusalReason::Dnd,
                detail: "do not disturb is on".into(),
            });
            call.finish(CallStatus::Dnd);
            return call;
        }
        call.legs.push(Leg {
            kind: LegKind::Desk,
            target: DialTarget { tech: s.desk.tech().into(), resource: s.desk.resource().into() },
            caller_id: setup.caller.clone(),
            state: LegState::Pending,
            start_at: now,
            dialed_at: None,
            rang: false,
            guard: Duration::ZERO,
            give_up_at: None,
            holds_slot: false,
            retried: false,
        });
        if s.mobile.is_none() {
            // Destination 1 says why it does not ring even without a number, as it always
            // has; other destinations without a number are simply not there.
            let why = if s.enabled { "no mobile number is set" } else { "twinning is switched off" };
            call.notify(Notification::Refused {
                leg: LegKind::MOBILE,
                reason: RefusalReason::Disabled,
                detail: why.into(),
            });
        }
        for d in s.destinations() {
            let kind = LegKind::Mobile(d.index);
            match remote_target(&setup, &d) {
                // A destination switched off of its own is not announced: it is not in use.
                Err((RefusalReason::Disabled, _)) if d.index > 1 => {}
                Err((reason, detail)) => call.notify(Notification::Refused { leg: kind, reason, detail }),
                Ok(_) if !cap.try_acquire() => call.notify(Notification::Refused {
                    leg: kind,
                    reason: RefusalReason::Cap,
                    detail: format!("{} twinned remote calls already up (max_concurrent)", cap.max()),
                }),
                Ok(target) => {
                    let start_at = now + ms(o.dial_delay.unwrap_or(d.dial_delay));
                    let own_ring = ms(o.ring_time.unwrap_or(d.ring_time));
                    call.legs.push(Leg {
                        kind,
                        target,
                        caller_id: remote_caller_id.clone(),
                        state: LegState::Pending,
                        start_at,
                        dialed_at: None,
                        rang: false,
                        guard: ms(o.answer_guard.unwrap_or(d.answer_guard)),
                        give_up_at: Some(start_at + own_ring),
                        holds_slot: true,
                        retried: false,
                    });
                }
            }
        }
        call.advance(now);
        call
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When the engine next needs [`TwinnedCall::handle_timeout`], if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Bridged(_) => return self.handover.map(|h| h.deadline),
            Phase::Parked { deadline } => return Some(deadline),
            _ => {}
        }
        if self.phase != Phase::Ringing {
            return None;
        }
        let legs = self.legs.iter().filter_map(|l| match l.state {
            LegState::Pending => Some(l.start_at),
            LegState::Confirming { deadline } => Some(deadline),
            LegState::Dialing | LegState::Ringing => l.give_up_at,
            _ => None,
        });
        legs.chain(Some(self.ring_deadline)).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now.max(self.now);
        self.advance(self.now);
    }

    /// How many slots of the host's cap the call holds (one per remote leg ringing or up);
    /// a host that must abandon a call (it is shutting down, or failed) gives them back
    /// itself.
    pub fn mobile_slots_held(&self) -> u32 {
        self.legs.iter().filter(|l| l.holds_slot).count() as u32
    }

    /// Whether `leg` is still being rung or waited on (not yet bridged or ended).
    pub fn is_leg_live(&self, leg: LegId) -> bool {
        self.legs.get(leg.0 as usize).is_some_and(|l| l.state.is_live())
    }

    /// The leg bridged with the caller now, if any.
    pub fn bridged_leg(&self) -> Option<LegId> {
        match self.phase {
            Phase::Bridged(leg) => Some(leg),
            _ => None,
        }
    }

    /// The consult under way, if any: its leg, the mobile consulting, and whether the third
    /// party answered.
    pub fn consult(&self) -> Option<(LegId, LegId, bool)> {
        self.consult.as_ref().map(|c| (c.leg, c.mobile, c.answered))
    }

    /// The third party of a conference the mobile made, while it is up.
    pub fn conference_leg(&self) -> Option<LegId> {
        self.conference
    }

    /// Whether the caller is held for the desk after the mobile hung up.
    pub fn is_parked(&self) -> bool {
        matches!(self.phase, Phase::Parked { .. })
    }

    /// Whether a leg is bridged with the caller (the call can be handed over).
    pub fn is_bridged(&self) -> bool {
        matches!(self.phase, Phase::Bridged(_))
    }

    /// How the call ended (the same as its `Finish` command), once it has.
    pub fn outcome(&self) -> Option<(CallStatus, Option<LegKind>)> {
        self.outcome
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    pub fn leg_kind(&self, leg: LegId) -> Option<LegKind> {
        self.legs.get(leg.0 as usize).map(|l| l.kind)
    }

    /// What the call is doing, for the user's lamps.
    pub fn activity(&self) -> crate::lamp::CallActivity {
        if self.phase == Phase::Finished {
            return crate::lamp::CallActivity::default();
        }
        let answered = matches!(self.phase, Phase::Bridged(_) | Phase::Parked { .. });
        crate::lamp::CallActivity {
            mobile_ringing: self.legs.iter().any(|l| l.state.is_live() && l.kind.is_remote()),
            ringing: !answered && self.legs.iter().any(|l| l.state.is_live()),
            answered,
        }
    }

    /// A summary of each leg's state, for `twinning show calls`.
    pub fn leg_states(&self) -> Vec<(LegKind, &'static str)> {
        self.legs
            .iter()
            .map(|l| {
                let state = match l.state {
                    LegState::Pending => "waiting",
                    LegState::Dialing => "dialing",
                    LegState::Ringing => "ringing",
                    LegState::Confirming { .. } => "confirming",
                    LegState::Bridged => "bridged",
                    LegState::Ended => "ended",
                };
                (l.kind, state)
            })
            .collect()
    }

    pub fn handle_event(&mut self, event: Event, now: Instant) {
        // Deadlines that passed before this event take effect first.
        self.now = now.max(self.now);
        let now = self.now;
        self.advance(now);
        match self.phase {
            Phase::Finished => return,
            Phase::Bridged(bridged) => return self.handle_bridged(bridged, event, now),
            Phase::Parked { .. } => return self.handle_parked(event),
            Phase::Ringing => {}
        }
        match event {
            Event::LegRinging(id) | Event::LegProgress(id) => {
                let Some(leg) = self.live_leg(id) else { return };
                if leg.state == LegState::Dialing {
                    leg.state = LegState::Ringing;
                }
                if !leg.rang {
                    leg.rang = true;
                    let kind = leg.kind;
                    self.notify(Notification::Leg { leg: id, kind, notice: LegNotice::Ringing });
                }
                if !self.caller_told_ringing {
                    self.caller_told_ringing = true;
                    self.commands.push_back(Command::IndicateRinging);
                }
            }
            Event::LegAnswered(id) => self.answered(id, now),
            Event::LegFailed(id, cause) => {
                if self.live_leg(id).is_some() {
                    if self.retry_with_fallback(id, cause, now) {
                        return;
                    }
                    self.failures.push(cause);
                    self.end_leg(id, LegNotice::Failed { cause }, false);
                    self.check_all_ended();
                }
            }
            Event::LegHungUp(id) => match self.legs.get(id.0 as usize).map(|l| l.state) {
                Some(LegState::Bridged) => self.finish(CallStatus::Answered),
                Some(LegState::Confirming { .. }) => {
                    self.end_leg(id, LegNotice::HungUp, false);
                    self.check_all_ended();
                }
                Some(LegState::Dialing | LegState::Ringing) => {
                    self.failures.push(LegFailure::Rejected);
                    self.end_leg(id, LegNotice::Failed { cause: LegFailure::Rejected }, false);
                    self.check_all_ended();
                }
                _ => {}
            },
            Event::LegDtmf(id, digit) => {
                if !matches!(self.legs.get(id.0 as usize).map(|l| l.state), Some(LegState::Confirming { .. }))
                {
                    return;
                }
                match digit {
                    '1' => {
                        let kind = self.legs[id.0 as usize].kind;
                        self.notify(Notification::Leg { leg: id, kind, notice: LegNotice::Confirmed });
                        self.win(id);
                    }
                    '2' => {
                        self.end_leg(id, LegNotice::Declined { timeout: false }, true);
                        self.check_all_ended();
                    }
                    _ => {}
                }
            }
            Event::CallerHungUp => {
                self.cancel_all_but(None);
                self.finish(CallStatus::Cancel);
            }
            // Mid-call codes only exist once the call is bridged.
            Event::MobileFeature(_) => {}
        }
    }

    /// Events once a leg is bridged with the caller: the call itself, and any handover.
    fn handle_bridged(&mut self, bridged: LegId, event: Event, now: Instant) {
        let event = match self.handle_consult_event(bridged, event) {
            Some(event) => event,
            None => return,
        };
        let pending = self.handover.map(|h| h.leg);
        match event {
            Event::LegRinging(id) | Event::LegProgress(id) if Some(id) == pending => {
                self.handover_leg_ringing(id)
            }
            Event::LegAnswered(id) if Some(id) == pending => {
                let (kind, dialed_at) = (self.legs[id.0 as usize].kind, self.legs[id.0 as usize].dialed_at);
                self.notify(Notification::Leg { leg: id, kind, notice: LegNotice::Answered });
                let after = now.saturating_duration_since(dialed_at.unwrap_or(now));
                if kind.is_remote() && after < self.legs[id.0 as usize].guard {
                    self.end_leg(id, LegNotice::Guarded { after }, true);
                    self.handover_ended(
                        HandoverResult::Guarded,
                        format!("answered after {} ms", after.as_millis()),
                    );
                } else {
                    self.complete_handover(bridged, id);
                }
            }
            Event::LegFailed(id, cause) if Some(id) == pending => {
                self.end_leg(id, LegNotice::Failed { cause }, false);
                self.handover_ended(HandoverResult::Failed, cause.name().into());
            }
            Event::LegHungUp(id) if Some(id) == pending => {
                self.end_leg(id, LegNotice::Failed { cause: LegFailure::Rejected }, false);
                self.handover_ended(HandoverResult::Failed, "rejected".into());
            }
            Event::LegHungUp(id) if id == bridged => {
                if self.legs[id.0 as usize].kind.is_remote() && !self.desk_pickup_time.is_zero() {
                    self.park(bridged, now);
                } else {
                    self.finish(CallStatus::Answered);
                }
            }
            Event::CallerHungUp => self.finish(CallStatus::Answered),
            Event::MobileFeature(feature) if self.legs[bridged.0 as usize].kind.is_remote() => {
                match feature {
                    MobileFeature::ToDesk => {
                        let _ = self.start_handover(bridged, LegKind::Desk, HandoverTrigger::Dtmf, None, now);
                    }
                    MobileFeature::HoldToggle => {
                        self.caller_on_hold = !self.caller_on_hold;
                        let on = self.caller_on_hold;
                        self.commands.push_back(if on { Command::HoldCaller } else { Command::ResumeCaller });
                        self.notify(Notification::Hold { on });
                    }
                    MobileFeature::Transfer(exten) => {
                        let valid = !exten.is_empty()
                            && exten.len() <= 20
                            && exten.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#');
                        if valid {
                            let context = self.transfer_context.clone();
                            self.notify(Notification::Transfer {
                                kind: TransferKind::Blind,
                                context: context.clone(),
                                exten: exten.clone(),
                            });
                            self.commands.push_back(Command::BlindTransfer { context, exten });
                        }
                    }
                    MobileFeature::Consult(digits) => self.start_consult(bridged, &digits, now),
                    // Only while consulting (see `handle_consult_event`).
                    MobileFeature::AttendedTransfer | MobileFeature::DropConsult => {}
                    MobileFeature::Conference => self.notify(Notification::Conference {
                        result: ConferenceResult::Refused,
                        detail: "no consult call is up".into(),
                    }),
                }
            }
            _ => {}
        }
    }

    /// What a consult or a conference from the mobile makes of `event`; gives the event
    /// back when it is not theirs.
    fn handle_consult_event(&mut self, bridged: LegId, event: Event) -> Option<Event> {
        if let Some(c) = self.consult.clone() {
            match event {
                Event::LegRinging(id) | Event::LegProgress(id) if id == c.leg => {
                    self.handover_leg_ringing(id)
                }
                Event::LegAnswered(id) if id == c.leg && !c.answered => {
                    self.notify(Notification::Leg {
                        leg: id,
                        kind: LegKind::Consult,
                        notice: LegNotice::Answered,
                    });
                    self.legs[id.0 as usize].state = LegState::Bridged;
                    if let Some(c) = self.consult.as_mut() {
                        c.answered = true;
                    }
                    self.consult_notice(&c, ConsultResult::Answered, String::new());
                    self.commands.push_back(Command::ConnectConsult { consult: id, mobile: c.mobile });
                }
                Event::LegFailed(id, cause) if id == c.leg => {
                    self.end_leg(id, LegNotice::Failed { cause }, false);
                    self.end_consult(ConsultResult::Failed, cause.name().into());
                }
                Event::LegHungUp(id) if id == c.leg => {
                    if c.answered {
                        self.end_leg(id, LegNotice::HungUp, false);
                        self.end_consult(ConsultResult::Ended, "the third party hung up".into());
                    } else {
                        self.end_leg(id, LegNotice::Failed { cause: LegFailure::Rejected }, false);
                        self.end_consult(ConsultResult::Failed, LegFailure::Rejected.name().into());
                    }
                }
                // As a desk phone does: hanging up while consulting completes the transfer.
                Event::LegHungUp(id) if id == bridged && c.answered => self.attended_transfer(true),
                Event::LegHungUp(id) if id == bridged => {
                    self.consult = None;
                    self.end_leg(c.leg, LegNotice::Cancelled, true);
                    self.consult_notice(&c, ConsultResult::Cancelled, "the mobile hung up".into());
                    return Some(event);
                }
                Event::MobileFeature(MobileFeature::AttendedTransfer) if c.answered => {
                    self.attended_transfer(false)
                }
                Event::MobileFeature(MobileFeature::Conference) if c.answered => self.start_conference(),
                Event::MobileFeature(MobileFeature::Conference) => self.notify(Notification::Conference {
                    result: ConferenceResult::Refused,
                    detail: "the third party has not answered".into(),
                }),
                Event::MobileFeature(MobileFeature::DropConsult) => {
                    self.end_leg(c.leg, LegNotice::Cancelled, true);
                    self.end_consult(ConsultResult::Dropped, String::new());
                }
                // Other codes wait until the mobile is back with the caller.
                Event::MobileFeature(_) => {}
                other => return Some(other),
            }
            return None;
        }
        if let Some(third) = self.conference {
            match event {
                Event::LegHungUp(id) | Event::LegFailed(id, _) if id == third => {
                    self.conference = None;
                    self.end_leg(id, LegNotice::HungUp, false);
                    self.notify(Notification::Conference {
                        result: ConferenceResult::Ended,
                        detail: "the third party left".into(),
                    });
                }
                // The caller and the third party talk on; the call is theirs now.
                Event::LegHungUp(id) if id == bridged => {
                    self.mobile_leaves_conference(LegNotice::HungUp, false)
                }
                Event::MobileFeature(MobileFeature::AttendedTransfer) => {
                    self.mobile_leaves_conference(LegNotice::Released, true)
                }
                Event::MobileFeature(MobileFeature::DropConsult) => {
                    self.conference = None;
                    self.end_leg(third, LegNotice::Released, true);
                    self.notify(Notification::Conference {
                        result: ConferenceResult::Ended,
                        detail: "the mobile dropped the third party".into(),
                    });
                }
                Event::MobileFeature(_) => {}
                other => return Some(other),
            }
            return None;
        }
        Some(event)
    }

    /// The consult code and a number: hold the caller and call the number as the user,
    /// through `consult_context`, if the destination policy allows it.
    fn start_consult(&mut self, mobile: LegId, digits: &str, now: Instant) {
        let context = self.consult_context.clone().unwrap_or_default();
        let refuse = |call: &mut Self, detail: String| {
            call.notify(Notification::Consult {
                result: ConsultResult::Refused,
                context: context.clone(),
                exten: crate::settings::printable(digits),
                detail,
            })
        };
        if self.consult_context.is_none() {
            return refuse(self, "consult_context is not set".into());
        }
        if self.handover.is_some() {
            return refuse(self, "a handover is under way".into());
        }
        if self.conference.is_some() {
            return refuse(self, "a conference is up".into());
        }
        let number = match PhoneNumber::parse(digits) {
            Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return refuse(self, "only digits can be dialed".into()),
        };
        if let Err(e) = self.policy.check(&number) {
            return refuse(self, e);
        }
        let exten = number.as_str().to_owned();
        let held_caller = !self.caller_on_hold;
        if held_caller {
            self.caller_on_hold = true;
            self.commands.push_back(Command::HoldCaller);
        }
        let target = DialTarget { tech: String::new(), resource: format!("{exten}@{context}") };
        let id = self.push_leg(LegKind::Consult, (target, self.user_caller_id.clone()), now, false);
        let c = Consult { leg: id, mobile, answered: false, held_caller, context, exten };
        self.consult_notice(&c, ConsultResult::Started, String::new());
        self.notify(Notification::Leg {
            leg: id,
            kind: LegKind::Consult,
            notice: LegNotice::Dialing { target: format!("{}@{}", c.exten, c.context) },
        });
        self.commands.push_back(Command::DialConsult {
            leg: id,
            context: c.context.clone(),
            exten: c.exten.clone(),
            caller_id: self.user_caller_id.clone(),
            account_code: self.account_code.clone(),
        });
        self.consult = Some(c);
    }

    fn consult_notice(&mut self, c: &Consult, result: ConsultResult, detail: String) {
        self.notify(Notification::Consult {
            result,
            context: c.context.clone(),
            exten: c.exten.clone(),
            detail,
        });
    }

    /// The consult is over and the mobile goes back to the caller (the third party's leg
    /// has been ended by the caller of this).
    fn end_consult(&mut self, result: ConsultResult, detail: String) {
        let Some(c) = self.consult.take() else { return };
        self.consult_notice(&c, result, detail);
        if c.held_caller {
            self.caller_on_hold = false;
        }
        self.commands.push_back(Command::EndConsult {
            consult: c.leg,
            mobile: c.mobile,
            resume: c.held_caller,
        });
    }

    /// The answered third party takes the mobile's place with the caller; the mobile
    /// leaves. `hung_up`: the mobile hung up (it is gone already).
    fn attended_transfer(&mut self, hung_up: bool) {
        let Some(c) = self.consult.take() else { return };
        self.caller_on_hold = false;
        self.commands.push_back(Command::AttendedTransfer { consult: c.leg, mobile: c.mobile });
        let notice = if hung_up { LegNotice::HungUp } else { LegNotice::Released };
        self.end_leg(c.mobile, notice, false);
        self.legs[c.leg.0 as usize].state = LegState::Bridged;
        self.phase = Phase::Bridged(c.leg);
        self.notify(Notification::Transfer {
            kind: TransferKind::Attended,
            context: c.context,
            exten: c.exten,
        });
        self.notify(Notification::Bridged { leg: c.leg, kind: LegKind::Consult });
    }

    fn start_conference(&mut self) {
        let Some(c) = self.consult.take() else { return };
        self.caller_on_hold = false;
        self.conference = Some(c.leg);
        self.commands.push_back(Command::Conference { consult: c.leg, mobile: c.mobile });
        self.notify(Notification::Conference {
            result: ConferenceResult::Started,
            detail: format!("{}@{}", c.exten, c.context),
        });
    }

    /// The mobile left a conference (hung up, or keyed the attended code): the caller and
    /// the third party talk on. `hang_up`: the host is to hang the mobile up.
    fn mobile_leaves_conference(&mut self, notice: LegNotice, hang_up: bool) {
        let (Some(third), Phase::Bridged(mobile)) = (self.conference.take(), self.phase) else { return };
        if hang_up {
            let (context, exten) = split_consult_target(&self.legs[third.0 as usize].target);
            self.notify(Notification::Transfer { kind: TransferKind::Attended, context, exten });
        }
        self.end_leg(mobile, notice, hang_up);
        self.phase = Phase::Bridged(third);
        self.notify(Notification::Conference {
            result: ConferenceResult::Ended,
            detail: "the mobile left".into(),
        });
        self.notify(Notification::Bridged { leg: third, kind: LegKind::Consult });
    }

    /// The bridged mobile hung up: hold the caller and offer the call to the desk (it
    /// rings, and the pickup code works) for `desk_pickup_time`.
    fn park(&mut self, mobile: LegId, now: Instant) {
        let pending = self.handover.take();
        let from = self.legs[mobile.0 as usize].kind;
        self.end_leg(mobile, LegNotice::HungUp, false);
        self.phase = Phase::Parked { deadline: now + self.desk_pickup_time };
        self.commands.push_back(Command::Park);
        let trigger = HandoverTrigger::MobileHangup;
        self.notify(Notification::Handover {
            from,
            to: LegKind::Desk,
            trigger,
            result: HandoverResult::Started,
            detail: String::new(),
        });
        let deadline = now + self.desk_pickup_time;
        match pending {
            // A desk already ringing for a pull carries on as the pickup.
            Some(h) => self.handover = Some(Handover { leg: h.leg, trigger, deadline }),
            None => {
                let id = self.dial_midcall_leg(LegKind::Desk, self.desk.clone(), now);
                self.handover = Some(Handover { leg: id, trigger, deadline });
            }
        }
    }

    /// The device rung for a handover (or for a held caller) rings: reported once.
    fn handover_leg_ringing(&mut self, id: LegId) {
        let leg = &mut self.legs[id.0 as usize];
        if !leg.rang {
            leg.rang = true;
            leg.state = LegState::Ringing;
            let kind = leg.kind;
            self.notify(Notification::Leg { leg: id, kind, notice: LegNotice::Ringing });
        }
    }

    fn handle_parked(&mut self, event: Event) {
        let pending = self.handover.map(|h| h.leg);
        match event {
            Event::LegRinging(id) | Event::LegProgress(id) if Some(id) == pending => {
                self.handover_leg_ringing(id)
            }
            Event::LegAnswered(id) if Some(id) == pending => {
                self.notify(Notification::Leg { leg: id, kind: LegKind::Desk, notice: LegNotice::Answered });
                self.unpark(id);
            }
            Event::LegFailed(id, cause) if Some(id) == pending => {
                // The pickup code can still take the call until the deadline.
                self.handover = None;
                self.end_leg(id, LegNotice::Failed { cause }, false);
            }
            Event::LegHungUp(id) if Some(id) == pending => {
                self.handover = None;
                self.end_leg(id, LegNotice::Failed { cause: LegFailure::Rejected }, false);
            }
            Event::CallerHungUp => self.finish(CallStatus::Answered),
            _ => {}
        }
    }

    fn unpark(&mut self, leg: LegId) {
        let trigger = self.handover.take().map_or(HandoverTrigger::MobileHangup, |h| h.trigger);
        // The remote destination that hung up, which parked the caller.
        let from = self.last_bridged.unwrap_or(LegKind::MOBILE);
        self.legs[leg.0 as usize].state = LegState::Bridged;
        self.phase = Phase::Bridged(leg);
        self.last_bridged = Some(LegKind::Desk);
        self.commands.push_back(Command::Unpark { leg });
        self.notify(Notification::Handover {
            from,
            to: LegKind::Desk,
            trigger,
            result: HandoverResult::Completed,
            detail: String::new(),
        });
        self.notify(Notification::Bridged { leg, kind: LegKind::Desk });
    }

    /// Moves the call to the other device: rings it, and swaps it in when it answers.
    /// `cap` is needed to ring the mobile. On refusal the reason is also reported as a
    /// `Handover` notification (the audit trail), and returned for the requester.
    pub fn request_handover(
        &mut self,
        to: LegKind,
        trigger: HandoverTrigger,
        cap: &mut dyn MobileSlots,
        now: Instant,
    ) -> Result<(), String> {
        self.now = now.max(self.now);
        let now = self.now;
        self.advance(now);
        if self.phase == Phase::Finished {
            return Err("the call has ended".into());
        }
        let Phase::Bridged(bridged) = self.phase else {
            let e = if self.is_parked() {
                "the caller is on hold for the desk".to_string()
            } else {
                "the call is not answered yet".to_string()
            };
            let from = if to == LegKind::Desk {
                self.last_bridged.unwrap_or(LegKind::MOBILE)
            } else {
                LegKind::Desk
            };
            self.notify(Notification::Handover {
                from,
                to,
                trigger,
                result: HandoverResult::Refused,
                detail: e.clone(),
            });
            return Err(e);
        };
        self.start_handover(bridged, to, trigger, Some(cap), now)
    }

    fn start_handover(
        &mut self,
        bridged: LegId,
        to: LegKind,
        trigger: HandoverTrigger,
        cap: Option<&mut dyn MobileSlots>,
        now: Instant,
    ) -> Result<(), String> {
        let from = self.legs[bridged.0 as usize].kind;
        // `mobile` is "my remote phone": the destination that answered last, or the first.
        let to = if to == LegKind::MOBILE { LegKind::Mobile(self.last_remote) } else { to };
        let refuse = |call: &mut Self, e: String| {
            call.notify(Notification::Handover {
                from,
                to,
                trigger,
                result: HandoverResult::Refused,
                detail: e.clone(),
            });
            Err(e)
        };
        if from == to {
            return refuse(self, format!("the call is already on the {to}"));
        }
        if self.consult.is_some() || self.conference.is_some() {
            return refuse(self, "the mobile is consulting or in a conference".into());
        }
        if from == LegKind::Consult {
            return refuse(self, "the call was transferred".into());
        }
        if self.handover.is_some() {
            return refuse(self, "a handover is already under way".into());
        }
        let (target, caller_id, guard) = match to {
            LegKind::Consult => return refuse(self, "a call cannot be handed to a consulted party".into()),
            LegKind::Desk => (self.desk.0.clone(), self.desk.1.clone(), Duration::ZERO),
            LegKind::Mobile(n) => {
                let remote = self.remotes.iter().find(|(i, _)| *i == n).map(|(_, r)| r.clone());
                match (remote, cap) {
                    (None, _) => return refuse(self, format!("the user has no {to} number")),
                    (Some(Err(e)), _) => return refuse(self, e),
                    (Some(Ok(_)), None) => return refuse(self, "no mobile slot could be taken".into()),
                    (Some(Ok((t, guard))), Some(cap)) => {
                        if !cap.try_acquire() {
                            return refuse(
                                self,
                                format!("{} twinned remote calls already up (max_concurrent)", cap.max()),
                            );
                        }
                        (t, self.remote_caller_id.clone(), guard)
                    }
                }
            }
        };
        self.notify(Notification::Handover {
            from,
            to,
            trigger,
            result: HandoverResult::Started,
            detail: String::new(),
        });
        let id = self.dial_midcall_leg(to, (target, caller_id), now);
        let leg = &mut self.legs[id.0 as usize];
        leg.guard = guard;
        leg.holds_slot = to.is_remote();
        self.handover = Some(Handover { leg: id, trigger, deadline: now + self.handover_timeout });
        Ok(())
    }

    /// A new leg being placed during the call (a handover, or the desk for a held caller):
    /// reported as dialing and handed to the host to dial.
    fn dial_midcall_leg(
        &mut self,
        kind: LegKind,
        (target, caller_id): (DialTarget, CallerId),
        now: Instant,
    ) -> LegId {
        let id = self.push_leg(kind, (target.clone(), caller_id.clone()), now, false);
        self.notify(Notification::Leg {
            leg: id,
            kind,
            notice: LegNotice::Dialing { target: target.to_string() },
        });
        let dial = self.dial_command(id, kind, target, caller_id);
        self.commands.push_back(dial);
        id
    }

    /// Places leg `id`: a remote leg is billed to the user's account code, the desk as the
    /// PBX bills its own calls.
    fn dial_command(&self, leg: LegId, kind: LegKind, target: DialTarget, caller_id: CallerId) -> Command {
        let account_code = if kind.is_remote() { self.account_code.clone() } else { None };
        Command::Dial { leg, kind, target, caller_id, account_code }
    }

    /// A remote leg refused at once (a 403, 603 or cause 21 within [`RETRY_WINDOW`] of
    /// dialing, before it rang) is dialed once more with the fallback caller ID, if that
    /// differs from what was sent: strict trunks refuse a caller ID they do not own. The
    /// refused leg ends as `retried`, and a new leg takes over its slot and its timers.
    fn retry_with_fallback(&mut self, id: LegId, cause: LegFailure, now: Instant) -> bool {
        let Some(fallback) = self.fallback_caller_id.clone() else { return false };
        let leg = &self.legs[id.0 as usize];
        let refused_at_once = cause == LegFailure::Rejected
            && !leg.rang
            && !leg.retried
            && leg.kind.is_remote()
            && leg.dialed_at.is_some_and(|t| now.saturating_duration_since(t) <= RETRY_WINDOW);
        if !refused_at_once || leg.caller_id.number == fallback.number {
            return false;
        }
        let (kind, target, guard, give_up_at) = (leg.kind, leg.target.clone(), leg.guard, leg.give_up_at);
        // The slot goes with the call's attempt at this destination, not with the channel.
        self.legs[id.0 as usize].holds_slot = false;
        self.legs[id.0 as usize].state = LegState::Ended;
        self.notify(Notification::Leg {
            leg: id,
            kind,
            notice: LegNotice::Retried { cause, caller_id: fallback.number.clone() },
        });
        let new = self.push_leg(kind, (target.clone(), fallback.clone()), now, false);
        let leg = &mut self.legs[new.0 as usize];
        (leg.guard, leg.give_up_at, leg.holds_slot, leg.retried) = (guard, give_up_at, true, true);
        self.notify(Notification::Leg {
            leg: new,
            kind,
            notice: LegNotice::Dialing { target: target.to_string() },
        });
        let dial = self.dial_command(new, kind, target, fallback);
        self.commands.push_back(dial);
        true
    }

    fn push_leg(
        &mut self,
        kind: LegKind,
        (target, caller_id): (DialTarget, CallerId),
        now: Instant,
        rang: bool,
    ) -> LegId {
        let id = LegId(self.legs.len() as u32);
        self.legs.push(Leg {
            kind,
            target,
            caller_id,
            state: LegState::Dialing,
            start_at: now,
            dialed_at: Some(now),
            rang,
            guard: Duration::ZERO,
            give_up_at: None,
            holds_slot: false,
            retried: false,
        });
        id
    }

    /// The desk joined the call on its own (the pickup code) while the call is on the
    /// mobile. On success the host puts the returned leg in the bridge (the engine has
    /// queued [`Command::SwapBridge`]).
    pub fn pickup(&mut self, now: Instant) -> Result<LegId, String> {
        self.pickup_by(HandoverTrigger::FeatureCode, now)
    }

    /// [`TwinnedCall::pickup`], asked for by `trigger` (the pickup code, or the twinning
    /// button), which the handover's notifications name.
    pub fn pickup_by(&mut self, trigger: HandoverTrigger, now: Instant) -> Result<LegId, String> {
        self.now = now.max(self.now);
        let now = self.now;
        self.advance(now);
        if self.is_parked() {
            if let Some(h) = self.handover.take() {
                self.end_leg(h.leg, LegNotice::Cancelled, true);
            }
            let id = self.adopt_desk(now);
            self.handover = Some(Handover { leg: id, trigger, deadline: now });
            self.unpark(id);
            return Ok(id);
        }
        let Phase::Bridged(bridged) = self.phase else {
            return Err("the call is not answered yet".into());
        };
        let busy = (self.consult.is_some() || self.conference.is_some())
            .then_some("the mobile is consulting or in a conference")
            .or((self.legs[bridged.0 as usize].kind == LegKind::Consult)
                .then_some("the call was transferred"));
        if let Some(e) = busy {
            let from = self.legs[bridged.0 as usize].kind;
            self.notify(Notification::Handover {
                from,
                to: LegKind::Desk,
                trigger,
                result: HandoverResult::Refused,
                detail: e.into(),
            });
            return Err(e.into());
        }
        if self.legs[bridged.0 as usize].kind == LegKind::Desk {
            let e = "the call is already on the desk".to_string();
            self.notify(Notification::Handover {
                from: LegKind::Desk,
                to: LegKind::Desk,
                trigger,
                result: HandoverResult::Refused,
                detail: e.clone(),
            });
            return Err(e);
        }
        // A desk already being rung for this call is no longer needed.
        if let Some(h) = self.handover.take() {
            self.end_leg(h.leg, LegNotice::Cancelled, true);
        }
        let id = self.adopt_desk(now);
        self.handover = Some(Handover { leg: id, trigger, deadline: now + self.handover_timeout });
        self.complete_handover(bridged, id);
        Ok(id)
    }

    /// A desk leg the host already has (the pickup code's own call), answered.
    fn adopt_desk(&mut self, now: Instant) -> LegId {
        self.push_leg(LegKind::Desk, self.desk.clone(), now, true)
    }

    fn complete_handover(&mut self, old: LegId, new: LegId) {
        let Some(h) = self.handover.take() else { return };
        let (from, to) = (self.legs[old.0 as usize].kind, self.legs[new.0 as usize].kind);
        self.commands.push_back(Command::SwapBridge { new, old });
        self.legs[old.0 as usize].state = LegState::Ended;
        self.notify(Notification::Leg { leg: old, kind: from, notice: LegNotice::Released });
        self.release_slot(old);
        self.legs[new.0 as usize].state = LegState::Bridged;
        self.phase = Phase::Bridged(new);
        self.bridged_kind(to);
        self.notify(Notification::Handover {
            from,
            to,
            trigger: h.trigger,
            result: HandoverResult::Completed,
            detail: String::new(),
        });
        self.notify(Notification::Bridged { leg: new, kind: to });
    }

    fn handover_ended(&mut self, result: HandoverResult, detail: String) {
        let Some(h) = self.handover.take() else { return };
        let to = self.legs[h.leg.0 as usize].kind;
        let from =
            self.last_bridged.unwrap_or(if to == LegKind::Desk { LegKind::MOBILE } else { LegKind::Desk });
        self.notify(Notification::Handover { from, to, trigger: h.trigger, result, detail });
    }

    fn answered(&mut self, id: LegId, now: Instant) {
        let Some(leg) = self.live_leg(id) else { return };
        if !matches!(leg.state, LegState::Dialing | LegState::Ringing) {
            return;
        }
        let (kind, dialed_at) = (leg.kind, leg.dialed_at.unwrap_or(now));
        self.notify(Notification::Leg { leg: id, kind, notice: LegNotice::Answered });
        if kind == LegKind::Desk {
            self.win(id);
            return;
        }
        let after = now.saturating_duration_since(dialed_at);
        if after < self.legs[id.0 as usize].guard {
            self.end_leg(id, LegNotice::Guarded { after }, true);
            self.check_all_ended();
        } else if self.confirm {
            self.legs[id.0 as usize].state = LegState::Confirming { deadline: now + CONFIRM_TIMEOUT };
            self.commands.push_back(Command::PlayPrompt { leg: id, prompt: Prompt::Confirm });
        } else {
            self.win(id);
        }
    }

    /// Applies every deadline that has passed by `now`.
    fn advance(&mut self, now: Instant) {
        if let Phase::Parked { deadline } = self.phase {
            if now >= deadline {
                if let Some(h) = self.handover.take() {
                    self.end_leg(h.leg, LegNotice::Cancelled, true);
                }
                self.notify(Notification::Handover {
                    from: self.last_bridged.unwrap_or(LegKind::MOBILE),
                    to: LegKind::Desk,
                    trigger: HandoverTrigger::MobileHangup,
                    result: HandoverResult::NoAnswer,
                    detail: format!("nobody took the call in {} s", self.desk_pickup_time.as_secs()),
                });
                self.commands.push_back(Command::ReleaseCaller);
                self.finish(CallStatus::Answered);
            }
            return;
        }
        if let (Phase::Bridged(_), Some(h)) = (self.phase, self.handover) {
            if now >= h.deadline {
                self.end_leg(h.leg, LegNotice::Cancelled, true);
                self.handover_ended(
                    HandoverResult::NoAnswer,
                    format!("no answer in {} s", self.handover_timeout.as_secs()),
                );
            }
        }
        if self.phase != Phase::Ringing {
            return;
        }
        if now >= self.ring_deadline {
            self.cancel_all_but(None);
            self.finish(CallStatus::NoAnswer);
            return;
        }
        for i in 0..self.legs.len() {
            let id = LegId(i as u32);
            match self.legs[i].state {
                LegState::Pending if self.legs[i].start_at <= now => {
                    let leg = &mut self.legs[i];
                    leg.state = LegState::Dialing;
                    leg.dialed_at = Some(now);
                    let (kind, target, caller_id) = (leg.kind, leg.target.clone(), leg.caller_id.clone());
                    self.notify(Notification::Leg {
                        leg: id,
                        kind,
                        notice: LegNotice::Dialing { target: target.to_string() },
                    });
                    let dial = self.dial_command(id, kind, target, caller_id);
                    self.commands.push_back(dial);
                }
                LegState::Confirming { deadline } if deadline <= now => {
                    self.end_leg(id, LegNotice::Declined { timeout: true }, true);
                }
                LegState::Dialing | LegState::Ringing
                    if self.legs[i].give_up_at.is_some_and(|t| t <= now) =>
                {
                    self.end_leg(id, LegNotice::NoAnswer, true);
                }
                _ => {}
            }
        }
        self.check_all_ended();
    }

    fn win(&mut self, id: LegId) {
        self.phase = Phase::Bridged(id);
        self.bridged_kind(self.legs[id.0 as usize].kind);
        self.legs[id.0 as usize].state = LegState::Bridged;
        self.cancel_all_but(Some(id));
        let kind = self.legs[id.0 as usize].kind;
        // Announced first: the host stays in the bridge until the call ends.
        self.notify(Notification::Bridged { leg: id, kind });
        self.commands.push_back(Command::Bridge { leg: id });
    }

    /// Cancels every live leg except `keep`; legs not yet dialed are dropped silently.
    fn cancel_all_but(&mut self, keep: Option<LegId>) {
        for i in 0..self.legs.len() {
            let id = LegId(i as u32);
            if Some(id) == keep {
                continue;
            }
            match self.legs[i].state {
                s if s.is_live() => self.end_leg(id, LegNotice::Cancelled, true),
                LegState::Pending => {
                    self.legs[i].state = LegState::Ended;
                    self.release_slot(id);
                }
                _ => {}
            }
        }
    }

    /// Ends a live leg: tells the host to hang it up if `hang_up` (it is still there), and
    /// reports why.
    fn end_leg(&mut self, id: LegId, notice: LegNotice, hang_up: bool) {
        let leg = &mut self.legs[id.0 as usize];
        leg.state = LegState::Ended;
        let kind = leg.kind;
        if hang_up {
            self.commands.push_back(Command::Cancel { leg: id });
        }
        self.notify(Notification::Leg { leg: id, kind, notice });
        self.release_slot(id);
    }

    /// Gives back the cap's slot `id` holds, once.
    fn release_slot(&mut self, id: LegId) {
        let leg = &mut self.legs[id.0 as usize];
        if leg.holds_slot {
            leg.holds_slot = false;
            self.commands.push_back(Command::ReleaseMobileSlot);
        }
    }

    /// `kind` is now bridged with the caller.
    fn bridged_kind(&mut self, kind: LegKind) {
        self.last_bridged = Some(kind);
        if let LegKind::Mobile(n) = kind {
            self.last_remote = n;
        }
    }

    /// Once every leg has ended without a winner, the call is over.
    fn check_all_ended(&mut self) {
        if self.phase == Phase::Ringing && self.legs.iter().all(|l| l.state == LegState::Ended) {
            let status = if self.failures.contains(&LegFailure::Busy) {
                CallStatus::Busy
            } else if !self.failures.is_empty()
                && self.failures.len() == self.legs.len()
                && self.failures.iter().all(|f| matches!(f, LegFailure::Unavailable | LegFailure::Congestion))
            {
                CallStatus::ChanUnavail
            } else {
                CallStatus::NoAnswer
            };
            self.finish(status);
        }
    }

    fn finish(&mut self, status: CallStatus) {
        if self.phase == Phase::Finished {
            return;
        }
        if let Some(h) = self.handover {
            self.end_leg(h.leg, LegNotice::Cancelled, true);
            self.handover_ended(HandoverResult::Failed, "the call ended".into());
        }
        // The call ends with the caller: a consult or a conference goes with it.
        if let Some(c) = self.consult.take() {
            self.end_leg(c.leg, LegNotice::Cancelled, true);
            self.consult_notice(&c, ConsultResult::Cancelled, "the call ended".into());
        }
        if let Some(third) = self.conference.take() {
            self.end_leg(third, LegNotice::Released, true);
            self.notify(Notification::Conference {
                result: ConferenceResult::Ended,
                detail: "the call ended".into(),
            });
        }
        let answered_by = match self.phase {
            // After an attended transfer, the user's device that took the call answered it.
            Phase::Bridged(id) if self.legs[id.0 as usize].kind == LegKind::Consult => self.last_bridged,
            Phase::Bridged(id) => Some(self.legs[id.0 as usize].kind),
            Phase::Parked { .. } => self.last_bridged,
            _ => None,
        };
        for i in 0..self.legs.len() {
            self.release_slot(LegId(i as u32));
        }
        self.phase = Phase::Finished;
        self.outcome = Some((status, answered_by));
        let duration = self.now.saturating_duration_since(self.started);
        self.notify(Notification::End { status, answered_by, duration });
        self.commands.push_back(Command::Finish { status, answered_by });
    }

    fn live_leg(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.get_mut(id.0 as usize).filter(|l| l.state.is_live())
    }

    fn notify(&mut self, n: Notification) {
        self.commands.push_back(Command::Notify(n));
    }

    pub fn started(&self) -> Instant {
        self.started
    }
}

/// Whether, and where, remote destination `d` rings for this call: the first rule that
/// refuses wins, from the user's own choices to the system's policy.
/// The context and number of a consult leg's target (`exten@context`).
fn split_consult_target(target: &DialTarget) -> (String, String) {
    match target.resource.split_once('@') {
        Some((exten, context)) => (context.into(), exten.into()),
        None => (String::new(), target.resource.clone()),
    }
}

fn remote_target(setup: &CallSetup, d: &RemoteDestination) -> Result<DialTarget, (RefusalReason, String)> {
    let s = &setup.settings;
    if !d.enabled {
        let why = if d.index == 1 {
            "twinning is switched off".to_string()
        } else {
            format!("mobile{} is switched off", d.index)
        };
        return Err((RefusalReason::Disabled, why));
    }
    if !s.schedule.covers(setup.local_time.weekday, setup.local_time.minute_of_day) {
        return Err((RefusalReason::Schedule, format!("outside the schedule ({})", s.schedule)));
    }
    if setup.options.hunt_group && !s.hunt_group_calls {
        return Err((
            RefusalReason::Eligibility,
            "hunt-group calls are not twinned (hunt_group_calls=no)".into(),
        ));
    }
    if setup.options.forwarded && !s.forwarded_calls {
        return Err((
            RefusalReason::Eligibility,
            "forwarded calls are not twinned (forwarded_calls=no)".into(),
        ));
    }
    if !s.admits_caller(&setup.caller.number) {
        let caller = if setup.caller.number.is_empty() { "anonymous" } else { setup.caller.number.as_str() };
        let why = if s.block_callers.matches(&setup.caller.number) {
            format!("caller {} is on block_callers", crate::printable(caller))
        } else {
            format!("caller {} is not on allow_callers", crate::printable(caller))
        };
        return Err((RefusalReason::Caller, why));
    }
    // Checked again here: the policy may have tightened since the number was set.
    handover_target(setup, d.number).map_err(|e| (RefusalReason::Policy, e))
}

/// Where a push rings a remote destination: its number if the policy allows it. Unlike the
/// initial ring, a push is the user's explicit request, so `enabled`, the schedule,
/// eligibility and the caller lists do not apply; the policy and the cap do.
fn handover_target(setup: &CallSetup, number: &crate::PhoneNumber) -> Result<DialTarget, String> {
    setup.policy.check(number)?;
    Ok(DialTarget { tech: setup.mobile_dial.tech().into(), resource: setup.mobile_dial.resource_for(number) })
}

/// What a remote leg presents. The caller's own identity keeps the caller's presentation;
/// a company number (the DID, the extension, a fixed number) is the company's to show.
/// The DID is used only when it is a valid number: it may come from the caller's request.
/// The caller ID of a retry after a trunk refused the first (`caller_id_fallback`).
fn fallback_caller_id(setup: &CallSetup) -> Option<CallerId> {
    let number = match setup.settings.caller_id_fallback.as_ref()? {
        CallerIdMode::Original => return None,
        CallerIdMode::Did => crate::PhoneNumber::parse(setup.dialed.as_deref()?).ok()?.to_string(),
        CallerIdMode::Extension => setup.user.to_string(),
        CallerIdMode::Fixed(n) => n.to_string(),
    };
    Some(CallerId { number, name: setup.caller.name.clone(), withheld: false })
}

fn mobile_caller_id(setup: &CallSetup) -> CallerId {
    let name = setup.caller.name.clone();
    let company = |number: String| CallerId { number, name: name.clone(), withheld: false };
    match &setup.settings.caller_id {
        CallerIdMode::Original => setup.caller.clone(),
        CallerIdMode::Did => match setup.dialed.as_deref().map(crate::PhoneNumber::parse) {
            Some(Ok(did)) => company(did.to_string()),
            _ => setup.caller.clone(),
        },
        CallerIdMode::Extension => company(setup.user.to_string()),
        CallerIdMode::Fixed(n) => company(n.to_string()),
    }
}

//! The twinned-call engine, scenario by scenario and over random event sequences.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use twinning_core::call::*;
use twinning_core::{Config, RawConfig, Settings};

const CONF: &str = "[general]\nmobile_dial=PJSIP/{number}@mobile-trunk\nblocked_prefixes=09\n\
[1001]\ndesk=PJSIP/1001\nmobile=07700900123\nenabled=yes\nanswer_guard=2\nring_time=20\n";

const DESK: LegId = LegId(0);
const MOBILE: LegId = LegId(1);

fn setup_with(changes: &[(&str, &str)], options: &str) -> CallSetup {
    let mut s = Settings::new(Config::from_raw(&RawConfig::parse_conf(CONF).unwrap()).unwrap());
    for (f, v) in changes {
        s.set("1001", f, v).unwrap();
    }
    CallSetup {
        user: twinning_core::UserId::parse("1001").unwrap(),
        settings: s.user("1001").unwrap().clone(),
        mobile_dial: s.general().mobile_dial.clone(),
        policy: s.general().policy.clone(),
        caller: CallerId { number: "442071234567".into(), name: "Alice".into(), withheld: false },
        dialed: Some("441632960000".into()),
        options: CallOptions::parse(options).unwrap(),
        local_time: LocalTime { weekday: 0, minute_of_day: 10 * 60 },
        call_control: s.general().call_control.clone(),
    }
}

/// Runs a call, recording every command, with a clock the test moves.
struct Run {
    call: TwinnedCall,
    cap: ConcurrencyCap,
    t0: Instant,
    log: Vec<Command>,
}

impl Run {
    fn new(setup: CallSetup) -> Run {
        Run::with_cap(setup, 1)
    }

    fn with_cap(setup: CallSetup, slots: u32) -> Run {
        let t0 = Instant::now();
        let mut cap = ConcurrencyCap::new(slots);
        let call = TwinnedCall::start(setup, &mut cap, t0);
        let mut run = Run { call, cap, t0, log: Vec::new() };
        run.drain();
        run
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn event(&mut self, ms: u64, e: Event) {
        self.call.handle_event(e, self.at(ms));
        self.drain();
    }

    fn handover(&mut self, ms: u64, to: LegKind) -> Result<(), String> {
        let at = self.at(ms);
        let r = self.call.request_handover(to, HandoverTrigger::Ami, &mut self.cap, at);
        self.drain();
        r
    }

    fn timeout(&mut self, ms: u64) {
        self.call.handle_timeout(self.at(ms));
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(c) = self.call.poll_command() {
            if c == Command::ReleaseMobileSlot {
                self.cap.release();
            }
            self.log.push(c);
        }
    }

    fn dials(&self) -> Vec<LegKind> {
        self.log
            .iter()
            .filter_map(|c| if let Command::Dial { kind, .. } = c { Some(*kind) } else { None })
            .collect()
    }

    fn finish(&self) -> Option<(CallStatus, Option<LegKind>)> {
        self.log.iter().find_map(|c| {
            if let Command::Finish { status, answered_by } = c {
                Some((*status, *answered_by))
            } else {
                None
            }
        })
    }

    fn states(&self, kind: LegKind) -> Vec<&'static str> {
        self.log
            .iter()
            .filter_map(|c| match c {
                Command::Notify(Notification::Leg { kind: k, notice, .. }) if *k == kind => {
                    Some(notice.state())
                }
                _ => None,
            })
            .collect()
    }

    fn refusal(&self) -> Option<RefusalReason> {
        self.log.iter().find_map(|c| {
            if let Command::Notify(Notification::Refused { reason, .. }) = c {
                Some(*reason)
            } else {
                None
            }
        })
    }

    fn bridged(&self) -> Vec<LegId> {
        self.log
            .iter()
            .filter_map(|c| if let Command::Bridge { leg } = c { Some(*leg) } else { None })
            .collect()
    }
}

#[test]
fn desk_answers_first_and_the_mobile_is_cancelled() {
    let mut r = Run::new(setup_with(&[], ""));
    assert_eq!(r.dials(), [LegKind::Desk, LegKind::MOBILE]);
    r.event(100, Event::LegRinging(DESK));
    r.event(150, Event::LegRinging(MOBILE));
    assert_eq!(r.log.iter().filter(|c| **c == Command::IndicateRinging).count(), 1);
    r.event(3000, Event::LegAnswered(DESK));
    assert_eq!(r.bridged(), [DESK]);
    assert!(r.log.contains(&Command::Cancel { leg: MOBILE }));
    assert_eq!(r.cap.active(), 0, "the mobile slot is back as soon as the mobile leg ends");
    r.event(60_000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::Desk))));
    assert_eq!(r.call.outcome(), r.finish(), "the engine reports the same outcome as its Finish");
    assert_eq!(r.states(LegKind::MOBILE), ["dialing", "ringing", "cancelled"]);
}

#[test]
fn mobile_answer_inside_the_guard_is_voicemail_and_the_desk_still_wins() {
    let mut r = Run::new(setup_with(&[], ""));
    r.event(1500, Event::LegAnswered(MOBILE));
    assert_eq!(r.states(LegKind::MOBILE), ["dialing", "answered", "guarded"]);
    assert!(r.log.contains(&Command::Cancel { leg: MOBILE }));
    assert!(r.bridged().is_empty());
    r.event(4000, Event::LegAnswered(DESK));
    assert_eq!(r.bridged(), [DESK]);
    r.event(9000, Event::LegHungUp(DESK));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::Desk))));
}

#[test]
fn mobile_answer_after_the_guard_wins() {
    let mut r = Run::new(setup_with(&[], ""));
    r.event(2500, Event::LegAnswered(MOBILE));
    assert_eq!(r.bridged(), [MOBILE]);
    assert!(r.log.contains(&Command::Cancel { leg: DESK }));
    assert_eq!(r.cap.active(), 1, "the bridged mobile still holds its slot");
    r.event(30_000, Event::LegHungUp(MOBILE));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));
    assert_eq!(r.cap.active(), 0);
}

#[test]
fn dial_delay_holds_the_mobile_back() {
    let mut r = Run::new(setup_with(&[("dial_delay", "4")], ""));
    assert_eq!(r.dials(), [LegKind::Desk]);
    assert_eq!(r.call.poll_timeout(), Some(r.at(4000)));
    r.timeout(3999);
    assert_eq!(r.dials(), [LegKind::Desk]);
    r.timeout(4000);
    assert_eq!(r.dials(), [LegKind::Desk, LegKind::MOBILE]);
    // The guard counts from the mobile's own start.
    r.event(5000, Event::LegAnswered(MOBILE));
    assert_eq!(r.states(LegKind::MOBILE), ["dialing", "answered", "guarded"]);
}

#[test]
fn confirmation_accepted_declined_and_timed_out() {
    let mut r = Run::new(setup_with(&[("confirm", "yes")], ""));
    r.event(3000, Event::LegAnswered(MOBILE));
    assert!(r.log.contains(&Command::PlayPrompt { leg: MOBILE, prompt: Prompt::Confirm }));
    assert!(r.bridged().is_empty(), "not before pressing 1");
    r.event(3500, Event::LegDtmf(MOBILE, '5'));
    r.event(4000, Event::LegDtmf(MOBILE, '1'));
    assert_eq!(r.bridged(), [MOBILE]);
    assert_eq!(r.states(LegKind::MOBILE), ["dialing", "answered", "confirmed"]);

    let mut r = Run::new(setup_with(&[], "c"));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(4000, Event::LegDtmf(MOBILE, '2'));
    assert_eq!(r.states(LegKind::MOBILE), ["dialing", "answered", "declined"]);
    assert!(r.log.contains(&Command::Cancel { leg: MOBILE }));
    r.event(5000, Event::LegAnswered(DESK));
    assert_eq!(r.bridged(), [DESK]);

    let mut r = Run::new(setup_with(&[("confirm", "yes")], ""));
    r.event(3000, Event::LegAnswered(MOBILE));
    assert_eq!(r.call.poll_timeout(), Some(r.at(3000) + CONFIRM_TIMEOUT));
    r.timeout(3000 + CONFIRM_TIMEOUT.as_millis() as u64);
    assert!(matches!(
        r.log.iter().rev().find(|c| matches!(c, Command::Notify(Notification::Leg { .. }))),
        Some(Command::Notify(Notification::Leg { notice: LegNotice::Declined { timeout: true }, .. }))
    ));
    assert!(r.call.poll_timeout().is_some(), "the desk is still ringing");
}

#[test]
fn desk_answer_during_confirmation_wins() {
    let mut r = Run::new(setup_with(&[("confirm", "yes")], ""));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(3100, Event::LegAnswered(DESK));
    assert_eq!(r.bridged(), [DESK]);
    assert!(r.log.contains(&Command::Cancel { leg: MOBILE }));
    r.event(3200, Event::LegDtmf(MOBILE, '1'));
    assert_eq!(r.bridged(), [DESK], "a late 1 changes nothing");
}

#[test]
fn simultaneous_answers_bridge_exactly_one() {
    let mut r = Run::new(setup_with(&[], ""));
    r.event(5000, Event::LegAnswered(MOBILE));
    r.event(5000, Event::LegAnswered(DESK));
    assert_eq!(r.bridged(), [MOBILE]);
    assert!(r.log.contains(&Command::Cancel { leg: DESK }));
}

#[test]
fn no_answer_busy_and_unavailable() {
    let mut r = Run::new(setup_with(&[], ""));
    r.timeout(20_000);
    assert_eq!(r.finish(), Some((CallStatus::NoAnswer, None)));
    assert!(
        r.log.contains(&Command::Cancel { leg: DESK }) && r.log.contains(&Command::Cancel { leg: MOBILE })
    );

    let mut r = Run::new(setup_with(&[], ""));
    r.event(100, Event::LegFailed(DESK, LegFailure::Busy));
    assert!(r.finish().is_none(), "the mobile still rings");
    r.event(200, Event::LegFailed(MOBILE, LegFailure::Unavailable));
    assert_eq!(r.finish(), Some((CallStatus::Busy, None)));

    let mut r = Run::new(setup_with(&[], ""));
    r.event(100, Event::LegFailed(DESK, LegFailure::Unavailable));
    r.event(200, Event::LegFailed(MOBILE, LegFailure::Congestion));
    assert_eq!(r.finish(), Some((CallStatus::ChanUnavail, None)));
}

#[test]
fn caller_hangs_up_while_ringing() {
    let mut r = Run::new(setup_with(&[("dial_delay", "5")], ""));
    r.event(1000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Cancel, None)));
    assert!(r.log.contains(&Command::Cancel { leg: DESK }));
    assert_eq!(r.dials(), [LegKind::Desk], "the delayed mobile is never dialed");
    assert_eq!(r.cap.active(), 0);
}

#[test]
fn refusals_ring_only_the_desk_and_say_why() {
    type Case = (&'static [(&'static str, &'static str)], &'static str, RefusalReason);
    let cases: [Case; 6] = [
        (&[("enabled", "no")], "", RefusalReason::Disabled),
        (&[("mobile", "")], "", RefusalReason::Disabled),
        (&[("schedule", "sat-sun")], "", RefusalReason::Schedule),
        (&[], "h", RefusalReason::Eligibility),
        (&[], "f", RefusalReason::Eligibility),
        (&[("hunt_group_calls", "yes")], "f", RefusalReason::Eligibility),
    ];
    for (changes, options, reason) in cases {
        let r = Run::new(setup_with(changes, options));
        assert_eq!(r.dials(), [LegKind::Desk], "{changes:?} {options}");
        assert_eq!(r.refusal(), Some(reason), "{changes:?} {options}");
    }
    let r = Run::new(setup_with(&[("hunt_group_calls", "yes")], "h"));
    assert_eq!(r.dials(), [LegKind::Desk, LegKind::MOBILE]);
}

#[test]
fn dnd_rings_nothing() {
    let r = Run::new(setup_with(&[("dnd", "yes")], ""));
    assert!(r.dials().is_empty());
    assert_eq!(r.refusal(), Some(RefusalReason::Dnd));
    assert_eq!(r.finish(), Some((CallStatus::Dnd, None)));
}

#[test]
fn a_tightened_policy_is_enforced_at_call_time() {
    let mut setup = setup_with(&[], "");
    setup.policy.blocked_prefixes.push("077".into());
    let r = Run::new(setup);
    assert_eq!(r.dials(), [LegKind::Desk]);
    assert_eq!(r.refusal(), Some(RefusalReason::Policy));
}

#[test]
fn the_cap_is_shared_across_calls() {
    let t0 = Instant::now();
    let mut cap = ConcurrencyCap::new(1);
    let mut first = TwinnedCall::start(setup_with(&[], ""), &mut cap, t0);
    let mut second = TwinnedCall::start(setup_with(&[], ""), &mut cap, t0);
    let dials = |c: &mut TwinnedCall| {
        let mut n = 0;
        let mut refused = None;
        while let Some(cmd) = c.poll_command() {
            match cmd {
                Command::Dial { kind: LegKind::MOBILE, .. } => n += 1,
                Command::Notify(Notification::Refused { reason, .. }) => refused = Some(reason),
                _ => {}
            }
        }
        (n, refused)
    };
    assert_eq!(dials(&mut first), (1, None));
    assert_eq!(dials(&mut second), (0, Some(RefusalReason::Cap)));
    assert_eq!(cap.active(), 1);
}

#[test]
fn caller_id_modes_on_the_mobile_leg() {
    let mobile_cid = |mode: &str| {
        let r = Run::new(setup_with(&[("caller_id", mode)], ""));
        r.log
            .iter()
            .find_map(|c| match c {
                Command::Dial { kind: LegKind::MOBILE, caller_id, target, .. } => {
                    assert_eq!(target.to_string(), "PJSIP/07700900123@mobile-trunk");
                    Some(caller_id.number.clone())
                }
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(mobile_cid("original"), "442071234567");
    assert_eq!(mobile_cid("did"), "441632960000");
    assert_eq!(mobile_cid("extension"), "1001");
    assert_eq!(mobile_cid("+441632960999"), "+441632960999");
}

fn handovers(r: &Run) -> Vec<(String, String, &'static str)> {
    r.log
        .iter()
        .filter_map(|c| match c {
            Command::Notify(Notification::Handover { from, to, result, .. }) => {
                Some((from.to_string(), to.to_string(), result.name()))
            }
            _ => None,
        })
        .collect()
}

fn swaps(r: &Run) -> Vec<(LegId, LegId)> {
    r.log
        .iter()
        .filter_map(|c| if let Command::SwapBridge { new, old } = c { Some((*new, *old)) } else { None })
        .collect()
}

/// A call answered on the desk at 3 s, with the mobile leg cancelled.
fn on_desk() -> Run {
    let mut r = Run::new(setup_with(&[], ""));
    r.event(3000, Event::LegAnswered(DESK));
    r
}

#[test]
fn push_to_mobile_moves_the_call_when_the_mobile_answers() {
    let mut r = on_desk();
    let t = r.at(10_000);
    r.call.request_handover(LegKind::MOBILE, HandoverTrigger::Ami, &mut r.cap, t).unwrap();
    r.drain();
    let pushed = LegId(2);
    assert!(
        matches!(r.log.iter().rev().find(|c| matches!(c, Command::Dial { .. })), Some(Command::Dial { leg, kind: LegKind::MOBILE, .. }) if *leg == pushed)
    );
    assert_eq!(r.cap.active(), 1);
    r.event(13_000, Event::LegAnswered(pushed));
    assert_eq!(swaps(&r), [(pushed, DESK)]);
    assert_eq!(
        handovers(&r),
        [("desk".into(), "mobile".into(), "started"), ("desk".into(), "mobile".into(), "completed")]
    );
    r.event(20_000, Event::LegHungUp(pushed));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));
    assert_eq!(r.cap.active(), 0);
}

#[test]
fn a_push_answered_by_voicemail_or_not_at_all_leaves_the_call_on_the_desk() {
    let mut r = on_desk();
    let t = r.at(10_000);
    r.call.request_handover(LegKind::MOBILE, HandoverTrigger::Dtmf, &mut r.cap, t).unwrap();
    r.event(10_500, Event::LegAnswered(LegId(2)));
    assert!(swaps(&r).is_empty());
    assert_eq!(handovers(&r).last().unwrap().2, "guarded");
    assert_eq!(r.cap.active(), 0);

    let t = r.at(20_000);
    r.call.request_handover(LegKind::MOBILE, HandoverTrigger::Ami, &mut r.cap, t).unwrap();
    r.drain();
    assert_eq!(r.call.poll_timeout(), Some(r.at(35_000)), "a push rings for handover_timeout (15 s)");
    r.timeout(35_000);
    assert!(r.log.contains(&Command::Cancel { leg: LegId(3) }));
    assert_eq!(handovers(&r).last().unwrap().2, "noanswer");
    assert!(r.finish().is_none(), "the call is still up on the desk");
    r.event(40_000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::Desk))));
}

#[test]
fn handover_refusals() {
    let mut r = Run::new(setup_with(&[], ""));
    let t = r.at(100);
    assert!(
        r.call.request_handover(LegKind::MOBILE, HandoverTrigger::Ami, &mut r.cap, t).is_err(),
        "not answered yet"
    );
    let mut r = on_desk();
    let t = r.at(5000);
    assert!(
        r.call.request_handover(LegKind::Desk, HandoverTrigger::Ami, &mut r.cap, t).is_err(),
        "already there"
    );
    assert!(r.call.pickup(t).is_err(), "pickup is for calls on the mobile");
    r.call.request_handover(LegKind::MOBILE, HandoverTrigger::Ami, &mut r.cap, t).unwrap();
    assert!(
        r.call.request_handover(LegKind::MOBILE, HandoverTrigger::Ami, &mut r.cap, t).is_err(),
        "in progress"
    );
    let mut r = Run::new(setup_with(&[("mobile", "")], ""));
    r.event(1000, Event::LegAnswered(DESK));
    let t = r.at(2000);
    assert!(r
        .call
        .request_handover(LegKind::MOBILE, HandoverTrigger::Ami, &mut r.cap, t)
        .unwrap_err()
        .contains("no mobile"));
    r.drain();
    assert!(handovers(&r).iter().all(|h| h.2 == "refused"));
}

#[test]
fn pickup_from_the_desk_takes_a_call_off_the_mobile() {
    let mut r = Run::new(setup_with(&[], ""));
    r.event(3000, Event::LegAnswered(MOBILE));
    assert_eq!(r.cap.active(), 1);
    let t = r.at(9000);
    let desk = r.call.pickup(t).unwrap();
    r.drain();
    assert_eq!(swaps(&r), [(desk, MOBILE)]);
    assert_eq!(r.cap.active(), 0, "the mobile slot is free once the mobile is released");
    assert_eq!(r.states(LegKind::MOBILE).last(), Some(&"released"));
    r.event(20_000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::Desk))));
}

#[test]
fn mobile_codes_move_hold_and_transfer() {
    let mut r = Run::new(setup_with(&[], ""));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(5000, Event::MobileFeature(MobileFeature::HoldToggle));
    r.event(6000, Event::MobileFeature(MobileFeature::HoldToggle));
    assert!(r.log.contains(&Command::HoldCaller) && r.log.contains(&Command::ResumeCaller));
    r.event(7000, Event::MobileFeature(MobileFeature::Transfer("20&x".into())));
    assert!(!r.log.iter().any(|c| matches!(c, Command::BlindTransfer { .. })), "only digits are dialed");
    r.event(7500, Event::MobileFeature(MobileFeature::ToDesk));
    let desk = LegId(2);
    r.event(9000, Event::LegAnswered(desk));
    assert_eq!(swaps(&r), [(desk, MOBILE)]);
    r.event(9500, Event::MobileFeature(MobileFeature::Transfer("2000".into())));
    assert!(
        !r.log.iter().any(|c| matches!(c, Command::BlindTransfer { .. })),
        "codes are the mobile's, and it has left"
    );

    let mut r = Run::new(setup_with(&[], ""));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(5000, Event::MobileFeature(MobileFeature::Transfer("2000".into())));
    assert!(r.log.contains(&Command::BlindTransfer { context: "default".into(), exten: "2000".into() }));
}

#[test]
fn the_call_ending_during_a_handover_cancels_the_ringing_device() {
    let mut r = on_desk();
    let t = r.at(5000);
    r.call.request_handover(LegKind::MOBILE, HandoverTrigger::Ami, &mut r.cap, t).unwrap();
    r.event(6000, Event::LegHungUp(DESK));
    assert!(r.log.contains(&Command::Cancel { leg: LegId(2) }));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::Desk))));
    assert_eq!(r.cap.active(), 0);
}

fn with_desk_pickup(secs: u64) -> CallSetup {
    let mut setup = setup_with(&[], "");
    setup.call_control.desk_pickup_time = twinning_core::Millis::from_secs(secs);
    setup
}

#[test]
fn after_the_mobile_hangs_up_the_desk_can_take_the_held_caller() {
    let mut r = Run::new(with_desk_pickup(10));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(8000, Event::LegHungUp(MOBILE));
    assert!(r.log.contains(&Command::Park));
    assert!(r.finish().is_none(), "the caller is held, not dropped");
    let desk = LegId(2);
    assert!(r
        .log
        .iter()
        .any(|c| matches!(c, Command::Dial { leg, kind: LegKind::Desk, .. } if *leg == desk)));
    assert_eq!(r.call.poll_timeout(), Some(r.at(18_000)));
    r.event(10_000, Event::LegAnswered(desk));
    assert!(r.log.contains(&Command::Unpark { leg: desk }));
    assert_eq!(handovers(&r).last().unwrap(), &("mobile".into(), "desk".into(), "completed"));
    r.event(30_000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::Desk))));
    assert_eq!(r.cap.active(), 0);
}

#[test]
fn a_held_caller_nobody_takes_is_released_after_the_pickup_time() {
    let mut r = Run::new(with_desk_pickup(10));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(8000, Event::LegHungUp(MOBILE));
    r.timeout(18_000);
    assert!(r.log.contains(&Command::Cancel { leg: LegId(2) }));
    assert!(r.log.contains(&Command::ReleaseCaller));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));
    assert_eq!(handovers(&r).last().unwrap().2, "noanswer");
}

#[test]
fn the_pickup_code_takes_a_held_caller() {
    let mut r = Run::new(with_desk_pickup(10));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(8000, Event::LegHungUp(MOBILE));
    let t = r.at(9000);
    let desk = r.call.pickup(t).unwrap();
    r.drain();
    assert!(r.log.contains(&Command::Cancel { leg: LegId(2) }), "the ringing desk leg gives way");
    assert!(r.log.contains(&Command::Unpark { leg: desk }));
    let t = r.at(9500);
    assert!(
        r.call.request_handover(LegKind::MOBILE, HandoverTrigger::Ami, &mut r.cap, t).is_ok(),
        "bridged again"
    );
}

#[test]
fn without_desk_pickup_a_mobile_hang_up_ends_the_call() {
    let mut r = Run::new(setup_with(&[], ""));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(8000, Event::LegHungUp(MOBILE));
    assert!(!r.log.contains(&Command::Park));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));
}

// Random event sequences: whatever the host reports, and in whatever order, the call
// keeps its invariants.

#[derive(Debug, Clone)]
enum Step {
    Event(Event),
    Timeout,
    Handover(LegKind),
    Pickup,
}

fn step() -> impl Strategy<Value = (u64, Step)> {
    step_among(8)
}

/// A random step on legs 0 … `legs` - 1 (some of which may not exist), handovers to any
/// destination included.
fn step_among(legs: u32) -> impl Strategy<Value = (u64, Step)> {
    let leg = (0..legs).prop_map(LegId);
    let event = prop_oneof![
        leg.clone().prop_map(|l| Step::Event(Event::LegRinging(l))),
        leg.clone().prop_map(|l| Step::Event(Event::LegProgress(l))),
        leg.clone().prop_map(|l| Step::Event(Event::LegAnswered(l))),
        leg.clone().prop_map(|l| Step::Event(Event::LegHungUp(l))),
        (
            leg.clone(),
            prop_oneof![Just(LegFailure::Busy), Just(LegFailure::Unavailable), Just(LegFailure::Rejected)]
        )
            .prop_map(|(l, f)| Step::Event(Event::LegFailed(l, f))),
        (leg, prop_oneof![Just('1'), Just('2'), Just('9')])
            .prop_map(|(l, d)| Step::Event(Event::LegDtmf(l, d))),
        Just(Step::Event(Event::CallerHungUp)),
        Just(Step::Timeout),
        prop_oneof![Just(LegKind::Desk), Just(LegKind::MOBILE), (2u8..=10).prop_map(LegKind::Mobile)]
            .prop_map(Step::Handover),
        Just(Step::Pickup),
        prop_oneof![
            Just(MobileFeature::ToDesk),
            Just(MobileFeature::HoldToggle),
            Just(MobileFeature::Transfer("2000".into())),
            Just(MobileFeature::Consult("1002".into())),
            Just(MobileFeature::Consult("0900123456".into())),
            Just(MobileFeature::AttendedTransfer),
            Just(MobileFeature::Conference),
            Just(MobileFeature::DropConsult),
        ]
        .prop_map(|f| Step::Event(Event::MobileFeature(f))),
    ];
    (0u64..6000, event)
}

fn changes() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
    proptest::collection::vec(
        prop_oneof![
            Just(("dial_delay", "3")),
            Just(("answer_guard", "0")),
            Just(("confirm", "yes")),
            Just(("ring_time", "10")),
            Just(("enabled", "no")),
            Just(("dnd", "yes")),
        ],
        0..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn invariants_hold_for_any_event_sequence(changes in changes(), park in any::<bool>(), consults in any::<bool>(), steps in proptest::collection::vec(step(), 0..30)) {
        let mut setup = setup_with(&changes, "");
        if park {
            setup.call_control.desk_pickup_time = twinning_core::Millis::from_secs(4);
        }
        if consults {
            setup.call_control.consult_context = Some("consult".into());
        }
        let delay = if changes.contains(&("dial_delay", "3")) { 3000 } else { 0 };
        check_invariants(setup, 1, delay, steps)?;
    }

    #[test]
    fn invariants_hold_with_up_to_ten_destinations(
        destinations in proptest::collection::vec((0u64..4, 0u64..3, prop_oneof![Just(0u64), Just(6), Just(30)], any::<bool>()), 1..10),
        cap in 1u32..12,
        park in any::<bool>(),
        steps in proptest::collection::vec(step_among(14), 0..40),
    ) {
        let mut changes: Vec<(String, String)> = vec![("answer_guard".into(), "0".into())];
        for (i, (delay, guard, ring, enabled)) in destinations.iter().enumerate() {
            let n = i + 2;
            changes.push((format!("mobile{n}"), format!("0770090{:04}", 1000 + n)));
            changes.push((format!("mobile{n}_dial_delay"), delay.to_string()));
            changes.push((format!("mobile{n}_answer_guard"), guard.to_string()));
            if *ring > 0 {
                changes.push((format!("mobile{n}_ring_time"), ring.to_string()));
            }
            changes.push((format!("mobile{n}_enabled"), if *enabled { "yes" } else { "no" }.into()));
        }
        let changes: Vec<(&str, &str)> = changes.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
        let mut setup = setup_with(&changes, "");
        if park {
            setup.call_control.desk_pickup_time = twinning_core::Millis::from_secs(4);
        }
        check_invariants(setup, cap, 0, steps)?;
    }
}

/// Runs `steps` against a call from `setup` with a cap of `cap` slots, and checks what every
/// call must keep: one finish, last; at most one leg bridged at a time; the mobile not
/// dialed before `mobile_delay`; every leg ends exactly once; every cap slot given back.
fn check_invariants(
    setup: CallSetup,
    cap: u32,
    mobile_delay: u64,
    steps: Vec<(u64, Step)>,
) -> Result<(), TestCaseError> {
    let delay = mobile_delay;
    let t0 = Instant::now();
    let mut cap = ConcurrencyCap::new(cap);
    let mut call = TwinnedCall::start(setup, &mut cap, t0);
    let mut log: Vec<(u64, Command)> = Vec::new();
    let mut now = 0u64;
    let drain = |call: &mut TwinnedCall, cap: &mut ConcurrencyCap, at: u64, log: &mut Vec<(u64, Command)>| {
        while let Some(c) = call.poll_command() {
            if c == Command::ReleaseMobileSlot {
                cap.release();
            }
            log.push((at, c));
        }
    };
    drain(&mut call, &mut cap, 0, &mut log);
    for (dt, s) in steps.iter().cloned().chain([(1, Step::Event(Event::CallerHungUp))]) {
        // Deadlines are honoured: the host never wakes the engine late here.
        if let Some(deadline) = call.poll_timeout() {
            let due = deadline.duration_since(t0).as_millis() as u64;
            if due <= now + dt {
                now = now.max(due);
                call.handle_timeout(t0 + Duration::from_millis(now));
                drain(&mut call, &mut cap, now, &mut log);
            }
        }
        now += dt;
        let at = t0 + Duration::from_millis(now);
        match s {
            Step::Event(e) => call.handle_event(e, at),
            Step::Timeout => call.handle_timeout(at),
            Step::Handover(to) => {
                let _ = call.request_handover(to, HandoverTrigger::Ami, &mut cap, at);
            }
            Step::Pickup => {
                let _ = call.pickup(at);
            }
        }
        drain(&mut call, &mut cap, now, &mut log);
    }
    prop_assert!(call.is_finished(), "a caller hang-up always ends the call");
    let finishes: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, (_, c))| matches!(c, Command::Finish { .. }))
        .map(|(i, _)| i)
        .collect();
    prop_assert_eq!(finishes.len(), 1);
    prop_assert_eq!(finishes[0], log.len() - 1, "nothing follows the finish");
    // At most one leg is in the bridge at any time: the first comes by Bridge, each
    // later one replaces the one in the bridge by SwapBridge.
    let mut in_bridge: Option<LegId> = None;
    let mut ever_bridged = Vec::new();
    for (_, c) in &log {
        match c {
            Command::Bridge { leg } => {
                prop_assert!(in_bridge.is_none(), "two legs bridged: {:?}", log);
                in_bridge = Some(*leg);
                ever_bridged.push(*leg);
            }
            Command::SwapBridge { new, old } => {
                prop_assert_eq!(in_bridge, Some(*old), "swap must replace the bridged leg");
                in_bridge = Some(*new);
                ever_bridged.push(*new);
            }
            Command::DialConsult { .. } | Command::Conference { .. } | Command::ConnectConsult { .. } => {
                prop_assert!(in_bridge.is_some(), "only a bridged call consults: {:?}", log);
            }
            Command::AttendedTransfer { consult, mobile } => {
                prop_assert_eq!(in_bridge, Some(*mobile), "a transfer replaces the consulting mobile");
                in_bridge = Some(*consult);
                ever_bridged.push(*consult);
            }
            // The mobile left a conference: the third party has the caller.
            Command::Notify(Notification::Bridged { leg, kind: LegKind::Consult }) => {
                in_bridge = Some(*leg);
                ever_bridged.push(*leg);
            }
            Command::Park => {
                prop_assert!(in_bridge.is_some(), "only a bridged call is parked");
                in_bridge = None;
            }
            Command::Unpark { leg } => {
                prop_assert!(in_bridge.is_none(), "unpark into an occupied bridge: {:?}", log);
                in_bridge = Some(*leg);
                ever_bridged.push(*leg);
            }
            _ => {}
        }
    }
    for (at, c) in &log {
        if let Command::Dial { kind: LegKind::MOBILE, leg, .. } = c {
            if *leg == MOBILE {
                prop_assert!(*at >= delay, "mobile dialed at {} before its delay {}", at, delay);
            }
        }
    }
    // Every leg dialed (or adopted by pickup) ends exactly once: a terminal notice,
    // or still in the bridge when the call finished.
    let mut legs: Vec<LegId> = log
        .iter()
        .filter_map(|(_, c)| match c {
            Command::Dial { leg, .. } | Command::DialConsult { leg, .. } => Some(*leg),
            _ => None,
        })
        .collect();
    legs.extend(ever_bridged.iter().copied());
    legs.sort();
    legs.dedup();
    for leg in legs {
        let terminal = log.iter().filter(|(_, c)| matches!(c,
                Command::Notify(Notification::Leg { leg: l, notice, .. })
                    if *l == leg && matches!(notice, LegNotice::Cancelled | LegNotice::Failed { .. } | LegNotice::Guarded { .. } | LegNotice::Declined { .. } | LegNotice::HungUp | LegNotice::Released | LegNotice::NoAnswer))).count();
        let still_bridged = (in_bridge == Some(leg)) as usize;
        prop_assert_eq!(terminal + still_bridged, 1, "leg {:?}: {:?}", leg, log);
        let cancels = log.iter().filter(|(_, c)| *c == Command::Cancel { leg }).count();
        prop_assert!(cancels <= 1);
    }
    prop_assert_eq!(cap.active(), 0, "every mobile slot taken is given back");
    Ok(())
}

// Several remote destinations (mobile, mobile2 … mobile10), each with its own timers.

fn three_destinations(extra: &[(&str, &str)]) -> CallSetup {
    let mut changes = vec![
        ("answer_guard", "0"),
        ("mobile2", "07700900222"),
        ("mobile2_dial_delay", "1"),
        ("mobile3", "07700900333"),
        ("mobile3_dial_delay", "3"),
    ];
    changes.extend_from_slice(extra);
    setup_with(&changes, "")
}

fn dial_times(r: &Run) -> Vec<(LegKind, LegId)> {
    r.log
        .iter()
        .filter_map(|c| if let Command::Dial { kind, leg, .. } = c { Some((*kind, *leg)) } else { None })
        .collect()
}

#[test]
fn each_destination_rings_after_its_own_delay_and_the_first_answer_wins() {
    let mut r = Run::with_cap(three_destinations(&[]), 10);
    assert_eq!(r.dials(), [LegKind::Desk, LegKind::MOBILE]);
    assert_eq!(r.cap.active(), 3, "a slot per remote leg, taken at the start");
    assert_eq!(r.call.poll_timeout(), Some(r.at(1000)));
    r.timeout(1000);
    assert_eq!(r.dials(), [LegKind::Desk, LegKind::MOBILE, LegKind::Mobile(2)]);
    let mobile2 = dial_times(&r)[2].1;
    r.event(2500, Event::LegAnswered(mobile2));
    assert_eq!(r.bridged(), [mobile2]);
    // Every other leg is cancelled in that same step; mobile3, not yet dialed, never is.
    assert!(
        r.log.contains(&Command::Cancel { leg: DESK }) && r.log.contains(&Command::Cancel { leg: MOBILE })
    );
    r.timeout(3000);
    assert_eq!(r.dials().len(), 3, "mobile3 is not dialed after the call was answered");
    assert_eq!(r.cap.active(), 1, "only the bridged destination holds a slot");
    r.event(9000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::Mobile(2)))));
    assert_eq!(r.cap.active(), 0);
    assert_eq!(r.states(LegKind::Mobile(2)), ["dialing", "answered"]);
}

#[test]
fn a_guard_of_one_destination_applies_to_it_only() {
    let mut r =
        Run::with_cap(three_destinations(&[("mobile2_answer_guard", "2"), ("mobile2_dial_delay", "0")]), 10);
    let legs = dial_times(&r);
    let mobile2 = legs.iter().find(|(k, _)| *k == LegKind::Mobile(2)).unwrap().1;
    r.event(1000, Event::LegAnswered(mobile2));
    assert_eq!(r.states(LegKind::Mobile(2)), ["dialing", "answered", "guarded"]);
    r.event(1100, Event::LegAnswered(MOBILE));
    assert_eq!(r.bridged(), [MOBILE], "mobile's guard is the user's (0)");
}

#[test]
fn a_destinations_own_ring_time_ends_its_leg_while_the_others_ring() {
    let setup = three_destinations(&[("mobile2_dial_delay", "0"), ("mobile2_ring_time", "5")]);
    let mut r = Run::with_cap(setup, 10);
    let mobile2 = dial_times(&r).iter().find(|(k, _)| *k == LegKind::Mobile(2)).unwrap().1;
    r.event(100, Event::LegRinging(mobile2));
    r.timeout(5000);
    assert_eq!(r.states(LegKind::Mobile(2)), ["dialing", "ringing", "noanswer"]);
    assert!(r.log.contains(&Command::Cancel { leg: mobile2 }));
    assert!(r.finish().is_none(), "the desk and the other destinations ring on");
    r.event(6000, Event::LegAnswered(DESK));
    assert_eq!(r.bridged(), [DESK]);
    r.event(7000, Event::CallerHungUp);
    assert_eq!(r.cap.active(), 0);
}

fn refusals(r: &Run) -> Vec<(LegKind, RefusalReason)> {
    r.log
        .iter()
        .filter_map(|c| match c {
            Command::Notify(Notification::Refused { leg, reason, .. }) => Some((*leg, *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn caller_lists_decide_who_reaches_the_remote_destinations() {
    let caller = |number: &str, extra: &[(&str, &str)]| {
        let mut setup = three_destinations(extra);
        setup.caller.number = number.into();
        Run::with_cap(setup, 10)
    };
    let blocked = caller("01614960000", &[("block_callers", "0161*")]);
    assert_eq!(blocked.dials(), [LegKind::Desk], "the desk still rings");
    assert_eq!(
        refusals(&blocked),
        [
            (LegKind::MOBILE, RefusalReason::Caller),
            (LegKind::Mobile(2), RefusalReason::Caller),
            (LegKind::Mobile(3), RefusalReason::Caller)
        ]
    );
    assert_eq!(blocked.cap.active(), 0);
    let allowed = caller("442071234567", &[("allow_callers", "44207*,anonymous")]);
    assert_eq!(allowed.dials(), [LegKind::Desk, LegKind::MOBILE]);
    assert!(refusals(&allowed).is_empty());
    let not_on_list = caller("441632960000", &[("allow_callers", "44207*")]);
    assert_eq!(not_on_list.dials(), [LegKind::Desk]);
    let anonymous = caller("", &[("block_callers", "anonymous")]);
    assert_eq!(anonymous.dials(), [LegKind::Desk]);
    let anonymous_allowed = caller("", &[("allow_callers", "anonymous")]);
    assert_eq!(anonymous_allowed.dials(), [LegKind::Desk, LegKind::MOBILE]);
}

#[test]
fn the_cap_counts_each_remote_leg() {
    let mut r = Run::with_cap(three_destinations(&[]), 2);
    assert_eq!(r.cap.active(), 2);
    assert_eq!(refusals(&r), [(LegKind::Mobile(3), RefusalReason::Cap)]);
    r.event(100, Event::CallerHungUp);
    assert_eq!(r.cap.active(), 0);
}

#[test]
fn a_switched_off_destination_does_not_ring_and_is_not_announced() {
    let setup = three_destinations(&[
        ("mobile2_enabled", "no"),
        ("mobile2_dial_delay", "0"),
        ("mobile3_dial_delay", "0"),
    ]);
    let r = Run::with_cap(setup, 10);
    assert_eq!(r.dials(), [LegKind::Desk, LegKind::MOBILE, LegKind::Mobile(3)]);
    assert!(refusals(&r).is_empty());
    // A destination switched on of its own rings while the user's twinning is off.
    let setup =
        three_destinations(&[("enabled", "no"), ("mobile3_enabled", "yes"), ("mobile3_dial_delay", "0")]);
    let r = Run::with_cap(setup, 10);
    assert_eq!(r.dials(), [LegKind::Desk, LegKind::Mobile(3)]);
    assert_eq!(refusals(&r), [(LegKind::MOBILE, RefusalReason::Disabled)]);
}

#[test]
fn a_handover_to_mobile_goes_where_the_call_was_answered_last() {
    let mut r = Run::with_cap(three_destinations(&[("mobile2_dial_delay", "0")]), 10);
    let mobile2 = dial_times(&r).iter().find(|(k, _)| *k == LegKind::Mobile(2)).unwrap().1;
    r.event(500, Event::LegAnswered(mobile2));
    // mobile2 moves the call to the desk, then the desk pushes it back to "mobile".
    r.handover(1000, LegKind::Desk).unwrap();
    let desk = dial_times(&r).last().unwrap().1;
    r.event(1500, Event::LegAnswered(desk));
    r.handover(2000, LegKind::MOBILE).unwrap();
    assert_eq!(dial_times(&r).last().unwrap().0, LegKind::Mobile(2), "to the destination that answered last");
    let back = dial_times(&r).last().unwrap().1;
    r.event(2500, Event::LegAnswered(back));
    // A destination named: mobile3, which never rang for this call.
    r.handover(3000, LegKind::Mobile(3)).unwrap();
    assert_eq!(dial_times(&r).last().unwrap().0, LegKind::Mobile(3));
    assert!(r.handover(3100, LegKind::Mobile(7)).is_err());
    r.event(9000, Event::CallerHungUp);
    assert_eq!(r.cap.active(), 0);
}

// Consult, attended transfer and conference from the mobile.

/// A call answered on the mobile at 3 s, with consults placed in `consult`.
fn consulting_setup() -> CallSetup {
    let mut setup = setup_with(&[("accountcode", "sales")], "");
    setup.call_control.consult_context = Some("consult".into());
    setup
}

const CONSULT: LegId = LegId(2);

fn consults(r: &Run) -> Vec<(&'static str, String)> {
    r.log
        .iter()
        .filter_map(|c| match c {
            Command::Notify(Notification::Consult { result, detail, .. }) => {
                Some((result.name(), detail.clone()))
            }
            _ => None,
        })
        .collect()
}

fn on_mobile_consulting(answered: bool) -> Run {
    let mut r = Run::new(consulting_setup());
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(5000, Event::MobileFeature(MobileFeature::Consult("1002".into())));
    r.event(5100, Event::LegRinging(CONSULT));
    if answered {
        r.event(7000, Event::LegAnswered(CONSULT));
    }
    r
}

#[test]
fn a_consult_holds_the_caller_and_calls_the_number_as_the_user() {
    let r = on_mobile_consulting(true);
    let hold = r.log.iter().position(|c| *c == Command::HoldCaller).expect("the caller is held");
    let dial = r.log.iter().position(|c| matches!(c, Command::DialConsult { .. })).expect("dialed");
    assert!(hold < dial, "held before the third party is called");
    assert!(r.log.contains(&Command::DialConsult {
        leg: CONSULT,
        context: "consult".into(),
        exten: "1002".into(),
        caller_id: CallerId { number: "1001".into(), name: String::new(), withheld: false },
        account_code: Some("sales".into()),
    }));
    assert!(r.log.contains(&Command::ConnectConsult { consult: CONSULT, mobile: MOBILE }));
    assert_eq!(consults(&r).iter().map(|c| c.0).collect::<Vec<_>>(), ["started", "answered"]);
    assert_eq!(r.states(LegKind::Consult), ["dialing", "ringing", "answered"]);
}

#[test]
fn the_attended_code_leaves_the_caller_with_the_third_party() {
    let mut r = on_mobile_consulting(true);
    r.event(9000, Event::MobileFeature(MobileFeature::AttendedTransfer));
    assert!(r.log.contains(&Command::AttendedTransfer { consult: CONSULT, mobile: MOBILE }));
    assert_eq!(r.states(LegKind::MOBILE).last(), Some(&"released"));
    assert!(r.log.iter().any(|c| matches!(c,
        Command::Notify(Notification::Transfer { kind: TransferKind::Attended, exten, context })
            if exten == "1002" && context == "consult")));
    assert_eq!(r.cap.active(), 0, "the mobile's slot is free once it left");
    // The user's codes are gone with the mobile; the call is the caller's and the third party's.
    r.event(9500, Event::MobileFeature(MobileFeature::ToDesk));
    assert!(r.handover(9600, LegKind::Desk).is_err());
    r.event(20_000, Event::LegHungUp(CONSULT));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))), "answered on the mobile");
}

#[test]
fn hanging_up_the_mobile_while_consulting_completes_the_transfer() {
    let mut r = on_mobile_consulting(true);
    r.event(9000, Event::LegHungUp(MOBILE));
    assert!(r.log.contains(&Command::AttendedTransfer { consult: CONSULT, mobile: MOBILE }));
    assert!(r.finish().is_none(), "the caller talks on with the third party");
    r.event(12_000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));

    // Before the third party answered, there is nobody to transfer to.
    let mut r = on_mobile_consulting(false);
    r.event(6000, Event::LegHungUp(MOBILE));
    assert!(r.log.contains(&Command::Cancel { leg: CONSULT }));
    assert_eq!(consults(&r).last().map(|c| c.0), Some("cancelled"));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));
}

#[test]
fn the_drop_code_and_the_third_party_hanging_up_go_back_to_the_caller() {
    let mut r = on_mobile_consulting(true);
    r.event(9000, Event::MobileFeature(MobileFeature::DropConsult));
    assert!(r.log.contains(&Command::Cancel { leg: CONSULT }));
    assert!(r.log.contains(&Command::EndConsult { consult: CONSULT, mobile: MOBILE, resume: true }));
    assert_eq!(consults(&r).last().map(|c| c.0), Some("dropped"));
    // The mobile's codes work again: a second consult.
    r.event(10_000, Event::MobileFeature(MobileFeature::Consult("1003".into())));
    assert_eq!(consults(&r).last().map(|c| c.0), Some("started"));

    let mut r = on_mobile_consulting(true);
    r.event(9000, Event::LegHungUp(CONSULT));
    assert!(!r.log.contains(&Command::Cancel { leg: CONSULT }), "it is gone already");
    assert!(r.log.contains(&Command::EndConsult { consult: CONSULT, mobile: MOBILE, resume: true }));
    assert_eq!(consults(&r).last(), Some(&("ended", "the third party hung up".to_string())));

    let mut r = on_mobile_consulting(false);
    r.event(6000, Event::LegFailed(CONSULT, LegFailure::Busy));
    assert!(r.log.contains(&Command::EndConsult { consult: CONSULT, mobile: MOBILE, resume: true }));
    assert_eq!(consults(&r).last(), Some(&("failed", "busy".to_string())));
    r.event(7000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));
}

#[test]
fn a_caller_already_on_hold_stays_on_hold_after_the_consult() {
    let mut r = Run::new(consulting_setup());
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(4000, Event::MobileFeature(MobileFeature::HoldToggle));
    r.event(5000, Event::MobileFeature(MobileFeature::Consult("1002".into())));
    assert_eq!(r.log.iter().filter(|c| **c == Command::HoldCaller).count(), 1);
    r.event(6000, Event::MobileFeature(MobileFeature::DropConsult));
    assert!(r.log.contains(&Command::EndConsult { consult: CONSULT, mobile: MOBILE, resume: false }));
}

#[test]
fn the_conference_code_joins_all_three_until_someone_leaves() {
    let mut r = on_mobile_consulting(true);
    r.event(9000, Event::MobileFeature(MobileFeature::Conference));
    assert!(r.log.contains(&Command::Conference { consult: CONSULT, mobile: MOBILE }));
    r.event(12_000, Event::LegHungUp(CONSULT));
    assert!(r.finish().is_none(), "the caller and the mobile talk on");
    r.event(13_000, Event::MobileFeature(MobileFeature::HoldToggle));
    assert_eq!(r.log.iter().filter(|c| **c == Command::HoldCaller).count(), 2, "the codes are back");

    // The mobile leaves: the caller and the third party talk on.
    let mut r = on_mobile_consulting(true);
    r.event(9000, Event::MobileFeature(MobileFeature::Conference));
    r.event(12_000, Event::LegHungUp(MOBILE));
    assert!(r.finish().is_none());
    assert_eq!(r.cap.active(), 0);
    r.event(15_000, Event::LegHungUp(CONSULT));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));

    // The drop code takes the third party out.
    let mut r = on_mobile_consulting(true);
    r.event(9000, Event::MobileFeature(MobileFeature::Conference));
    r.event(10_000, Event::MobileFeature(MobileFeature::DropConsult));
    assert!(r.log.contains(&Command::Cancel { leg: CONSULT }));
    r.event(11_000, Event::CallerHungUp);
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));
}

#[test]
fn a_consult_is_refused_without_a_context_or_a_number_the_policy_allows() {
    let mut r = Run::new(setup_with(&[], ""));
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(5000, Event::MobileFeature(MobileFeature::Consult("1002".into())));
    assert_eq!(consults(&r), [("refused", "consult_context is not set".to_string())]);
    assert!(!r.log.iter().any(|c| matches!(c, Command::DialConsult { .. } | Command::HoldCaller)));

    for number in ["0900123456", "12", "0044123456789", "1234567890123456789"] {
        let mut r = Run::new(consulting_setup());
        r.event(3000, Event::LegAnswered(MOBILE));
        r.event(5000, Event::MobileFeature(MobileFeature::Consult(number.into())));
        assert_eq!(consults(&r).iter().map(|c| c.0).collect::<Vec<_>>(), ["refused"], "{number}");
        assert!(
            !r.log.iter().any(|c| matches!(c, Command::DialConsult { .. } | Command::HoldCaller)),
            "{number}"
        );
    }

    // Not from the desk, and not during a handover.
    let mut r = Run::new(consulting_setup());
    r.event(3000, Event::LegAnswered(DESK));
    r.event(5000, Event::MobileFeature(MobileFeature::Consult("1002".into())));
    assert!(consults(&r).is_empty());
    let mut r = Run::new(consulting_setup());
    r.event(3000, Event::LegAnswered(MOBILE));
    r.event(4000, Event::MobileFeature(MobileFeature::ToDesk));
    r.event(5000, Event::MobileFeature(MobileFeature::Consult("1002".into())));
    assert_eq!(consults(&r), [("refused", "a handover is under way".to_string())]);
}

#[test]
fn nothing_moves_the_call_while_the_mobile_consults() {
    let mut r = on_mobile_consulting(true);
    assert!(r.handover(8000, LegKind::Desk).is_err());
    assert!(r.call.pickup(r.at(8100)).is_err());
    r.drain();
    r.event(8200, Event::MobileFeature(MobileFeature::ToDesk));
    r.event(8300, Event::MobileFeature(MobileFeature::Transfer("2000".into())));
    assert!(!r.log.iter().any(|c| matches!(c, Command::SwapBridge { .. } | Command::BlindTransfer { .. })));
    // The caller hanging up ends everything.
    r.event(9000, Event::CallerHungUp);
    assert!(r.log.contains(&Command::Cancel { leg: CONSULT }));
    assert_eq!(consults(&r).last().map(|c| c.0), Some("cancelled"));
    assert_eq!(r.finish(), Some((CallStatus::Answered, Some(LegKind::MOBILE))));
}

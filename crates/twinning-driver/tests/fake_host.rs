//! The driver against a fake PBX, with real threads: a caller's thread per call (the
//! driver's loop), a "network" thread per call sending what the legs do, leg threads for
//! devices rung mid-call, and request threads pressing codes and asking for handovers
//! (AMI/ESL) at random moments. Whatever the interleaving, the invariants hold:
//! at most one leg bridged, every leg ends once, every start has exactly one end, no event
//! follows a call's end, and every cap slot is given back. The lamps the host was told of
//! end where the calls and settings put them, with no repeated state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use twinning_core::call::{CallerId, Command, Event, LegFailure, LegId, LegKind, LocalTime};
use twinning_core::lamp::{Lamp, LampState};
use twinning_core::{Change, RawConfig};
use twinning_driver::{Call, CallerThread, CodeRequest, Driver, Host};
use twinning_service::call_events::CallEvent;
use twinning_service::{Service, Source};

const CONF: &str = "[general]\nmobile_dial=PJSIP/{number}@trunk\nmax_concurrent=2\nhandover_timeout=5\n\
[1001]\ndesk=PJSIP/1001\nmobile=07700900123\nenabled=yes\nanswer_guard=0\nring_time=5\n";

/// What one call's host saw.
#[derive(Default)]
struct Record {
    events: Vec<CallEvent>,
    /// Set once any event came after `TwinningEnd`.
    after_end: bool,
    bridged: BTreeSet<LegId>,
    most_bridged: usize,
    placed: BTreeSet<LegId>,
    /// How many times each leg was let go of (hung up, failed, left the bridge).
    released: BTreeMap<LegId, u32>,
}

#[derive(Default)]
struct FakePbx {
    records: Mutex<BTreeMap<u32, Record>>,
    /// Every lamp change published, in order.
    lamps: Mutex<Vec<(Lamp, String, LampState)>>,
}

/// The caller, as the fake keeps it: a call number, and the inbox of the caller's thread.
struct FakeCaller {
    n: u32,
    inbox: Mutex<Sender<Event>>,
}

impl FakePbx {
    fn with<R>(&self, n: u32, f: impl FnOnce(&mut Record) -> R) -> R {
        f(self.records.lock().unwrap().entry(n).or_default())
    }

    fn bridge(&self, n: u32, leg: LegId) {
        self.with(n, |r| {
            r.bridged.insert(leg);
            r.most_bridged = r.most_bridged.max(r.bridged.len());
        });
    }

    fn release(&self, n: u32, leg: LegId) {
        self.with(n, |r| {
            if r.placed.contains(&leg) {
                *r.released.entry(leg).or_default() += 1;
            }
            r.bridged.remove(&leg);
        });
    }
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Here {
    #[default]
    Anywhere,
    Caller,
}

impl Host for FakePbx {
    type Caller = FakeCaller;
    type Shared = ();
    type Here = Here;

    fn perform(&self, call: &Arc<Call<Self>>, command: Command, here: Here) -> Option<Command> {
        let n = call.caller.n;
        let midcall = call.is_answered();
        match command {
            // Legs placed mid-call ring on their own thread, as both PBXes do it.
            Command::Dial { leg, .. } if midcall => {
                self.with(n, |r| r.placed.insert(leg));
                let call = call.clone();
                std::thread::spawn(move || midcall_leg(call, leg));
                None
            }
            Command::Dial { .. } | Command::Bridge { .. } | Command::Park if here != Here::Caller => {
                call.queue_for_caller(command);
                None
            }
            Command::Dial { .. } | Command::Bridge { .. } | Command::Park => Some(command),
            Command::Cancel { leg } => {
                self.release(n, leg);
                None
            }
            Command::SwapBridge { new, old } => {
                self.release(n, old);
                self.bridge(n, new);
                None
            }
            Command::Unpark { leg } => {
                self.bridge(n, leg);
                None
            }
            Command::ReleaseCaller => {
                let _ = call.caller.inbox.lock().unwrap().send(Event::CallerHungUp);
                None
            }
            _ => None,
        }
    }

    fn abandon(&self, call: &Arc<Call<Self>>) {
        self.with(call.caller.n, |r| {
            let left: Vec<LegId> = r.bridged.iter().copied().collect();
            for leg in left {
                *r.released.entry(leg).or_default() += 1;
            }
            r.bridged.clear();
        });
    }

    fn emit_call_event(&self, caller: &FakeCaller, event: &CallEvent) {
        self.with(caller.n, |r| {
            if r.events.iter().any(|e| e.ami_name == "TwinningEnd") {
                r.after_end = true;
            }
            r.events.push(event.clone());
        });
    }

    fn lamp_changed(&self, lamp: Lamp, user: &str, state: LampState) {
        self.lamps.lock().unwrap().push((lamp, user.to_owned(), state));
    }

    fn settings_changed(&self, _: &Change, _: &Source) {}
    fn settings_refused(&self, _: &str, _: &str, _: &Source, _: &str) {}

    fn security_event(&self, _: &twinning_service::call_events::CallEvent) {}

    fn caller_uniqueid(&self, caller: &FakeCaller) -> String {
        format!("uid-{}", self.caller_name(caller))
    }

    fn caller_name(&self, caller: &FakeCaller) -> String {
        format!("Fake/caller-{}", caller.n)
    }
}

/// A device rung mid-call: answers after a little while, or fails.
fn midcall_leg(call: Arc<Call<FakePbx>>, leg: LegId) {
    let seed = leg.0 as u64 * 7919 + call.caller.n as u64;
    std::thread::sleep(Duration::from_millis(20 + seed % 150));
    let event = match seed % 4 {
        0 => Event::LegFailed(leg, LegFailure::Busy),
        _ => Event::LegAnswered(leg),
    };
    let left = call.feed(Event::LegRinging(leg), Here::Anywhere);
    assert!(left.is_empty(), "left over {left:?}");
    // Whether the engine still had the leg is read in the same step that reports its end,
    // so the fake lets go of it exactly once (a real host keeps such a flag per leg).
    let failed = matches!(event, Event::LegFailed(..));
    let now = Instant::now();
    let (was_live, commands) = call.step(|s| {
        let live = s.engine.is_leg_live(leg);
        s.engine.handle_event(event, now);
        live
    });
    if failed && was_live {
        call.host().release(call.caller.n, leg);
    }
    let left = call.execute(commands, Here::Anywhere);
    assert!(left.is_empty(), "left over {left:?}");
}

/// The driver's caller loop over the fake: it owns the legs placed while ringing.
struct FakeCallerThread {
    inbox: Receiver<Event>,
}

impl CallerThread<FakePbx> for FakeCallerThread {
    fn here(&self) -> Here {
        Here::Caller
    }

    fn perform(&mut self, call: &Arc<Call<FakePbx>>, command: Command) -> Option<Event> {
        let n = call.caller.n;
        let pbx = call.host();
        match command {
            Command::Dial { leg, .. } => {
                pbx.with(n, |r| r.placed.insert(leg));
                None
            }
            Command::Bridge { leg } => {
                pbx.bridge(n, leg);
                // Stay in the bridge until the caller or the bridged leg leaves.
                loop {
                    match self.inbox.recv_timeout(Duration::from_millis(10)) {
                        Ok(Event::CallerHungUp) => return Some(Event::CallerHungUp),
                        Ok(Event::LegHungUp(l)) if call.lock().engine.bridged_leg() == Some(l) => {
                            pbx.release(n, l);
                            return Some(Event::LegHungUp(l));
                        }
                        Ok(_) | Err(RecvTimeoutError::Timeout) => {
                            if call.is_finished() {
                                return None;
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => return Some(Event::CallerHungUp),
                    }
                }
            }
            Command::Park => None,
            other => panic!("not a caller-thread command: {other:?}"),
        }
    }

    fn wait(&mut self, call: &Arc<Call<FakePbx>>, deadline: Option<Instant>) -> Option<Event> {
        let d = deadline.map_or(Duration::from_millis(20), |d| d.saturating_duration_since(Instant::now()));
        match self.inbox.recv_timeout(d.min(Duration::from_millis(20))) {
            Ok(Event::LegFailed(leg, f)) => {
                // Only this thread steps the call while it rings, so the check holds until
                // the event is fed.
                if call.lock().engine.is_leg_live(leg) {
                    call.host().release(call.caller.n, leg);
                }
                Some(Event::LegFailed(leg, f))
            }
            Ok(e) => Some(e),
            Err(_) => None,
        }
    }
}

/// One call's plan: what the desk, the mobile and the caller do, and when requests come.
#[derive(Debug, Clone)]
struct Plan {
    desk: (u8, u64),
    mobile: (u8, u64),
    caller_leaves: u64,
    requests: Vec<(u8, u64)>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        (0u8..3, 0u64..300),
        (0u8..3, 0u64..300),
        200u64..1200,
        prop::collection::vec((0u8..4, 0u64..1000), 0..5),
    )
        .prop_map(|(desk, mobile, caller_leaves, requests)| Plan {
            desk,
            mobile,
            caller_leaves,
            requests,
        })
}

fn driver() -> &'static Driver<FakePbx> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "twinning-driver-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let raw = RawConfig::parse_conf(CONF).unwrap();
    let (service, _) = Service::start(&raw, &dir.join("journal"), Vec::new).unwrap();
    let driver = Box::leak(Box::new(Driver::new(FakePbx::default(), "fake")));
    driver.install(service);
    driver.refresh_all_lamps();
    driver
}

fn run_call(driver: &'static Driver<FakePbx>, n: u32, plan: Plan) {
    let (tx, rx) = channel();
    let setup = driver
        .prepare_call(
            "1001",
            "",
            CallerId { number: "442071234567".into(), name: "Alice".into(), withheld: false },
            None,
            LocalTime { weekday: 0, minute_of_day: 600 },
        )
        .unwrap();
    let network = {
        let tx = tx.clone();
        std::thread::spawn(move || network(tx, plan))
    };
    let caller = FakeCaller { n, inbox: Mutex::new(tx) };
    driver.run_call(caller, setup, &mut FakeCallerThread { inbox: rx });
    network.join().unwrap();
}

/// Sends what the ringing legs and the caller do, at the planned moments (legs 0 and 1
/// are the desk and the mobile placed at the start).
fn network(tx: Sender<Event>, plan: Plan) {
    let mut moments: Vec<(u64, Event)> = Vec::new();
    for (leg, (what, at)) in [(LegId(0), plan.desk), (LegId(1), plan.mobile)] {
        moments.push((at / 2, Event::LegRinging(leg)));
        moments.push((
            at,
            match what {
                0 => Event::LegAnswered(leg),
                1 => Event::LegFailed(leg, LegFailure::Busy),
                _ => continue,
            },
        ));
    }
    moments.push((plan.caller_leaves, Event::CallerHungUp));
    moments.sort_by_key(|(t, _)| *t);
    let t0 = Instant::now();
    for (at, e) in moments {
        std::thread::sleep(Duration::from_millis(at).saturating_sub(t0.elapsed()));
        let _ = tx.send(e);
    }
}

fn requests(driver: &'static Driver<FakePbx>, plans: &[Plan]) {
    let t0 = Instant::now();
    let mut all: Vec<(u64, u8)> =
        plans.iter().flat_map(|p| p.requests.iter().map(|(w, t)| (*t, *w))).collect();
    all.sort();
    for (at, what) in all {
        std::thread::sleep(Duration::from_millis(at).saturating_sub(t0.elapsed()));
        let Some(call) = driver.find_answered("1001") else { continue };
        let _ = match what {
            0 => driver.handover("1001", LegKind::MOBILE, &twinning_service::Source::Ami).err(),
            1 => driver.handover("1001", LegKind::Desk, &twinning_service::Source::Ami).err(),
            2 => {
                call.code_pressed(CodeRequest::PushToMobile, None, Here::Anywhere);
                None
            }
            _ => {
                call.code_pressed(CodeRequest::ToDesk, None, Here::Anywhere);
                None
            }
        };
    }
}

fn check(driver: &'static Driver<FakePbx>, calls: u32) {
    // Mid-call leg threads may still be reporting to ended calls; they change nothing.
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(driver.call_count(), 0, "a call was left registered");
    assert_eq!(driver.cap().active(), 0, "a mobile slot was not given back");
    let records = driver.host.records.lock().unwrap();
    for n in 0..calls {
        let r = &records[&n];
        let names: Vec<&str> = r.events.iter().map(|e| e.ami_name).collect();
        assert_eq!(names.iter().filter(|&&e| e == "TwinningStart").count(), 1, "{names:?}");
        assert_eq!(names.iter().filter(|&&e| e == "TwinningEnd").count(), 1, "{names:?}");
        assert_eq!(names.last(), Some(&"TwinningEnd"), "an event after the end: {names:?}");
        assert!(!r.after_end);
        assert!(r.most_bridged <= 1, "two legs bridged at once");
        // Every leg dialed ends once: by a notice, or as the leg bridged when the call ended.
        let field = |e: &CallEvent, k: &str| e.fields.iter().find(|(f, _)| *f == k).unwrap().1.clone();
        let legs: Vec<(String, String)> = r
            .events
            .iter()
            .filter(|e| e.ami_name == "TwinningLeg")
            .map(|e| (field(e, "Leg"), field(e, "State")))
            .collect();
        let terminal = ["cancelled", "failed", "guarded", "declined", "hungup", "released"];
        for kind in ["desk", "mobile"] {
            let dialed = legs.iter().filter(|(k, s)| k == kind && s == "dialing").count();
            let ended = legs.iter().filter(|(k, s)| k == kind && terminal.contains(&s.as_str())).count();
            assert!(ended <= dialed, "{kind}: {ended} ends for {dialed} legs: {legs:?}");
        }
        let dialed = legs.iter().filter(|(_, s)| s == "dialing").count();
        let ended = legs.iter().filter(|(_, s)| terminal.contains(&s.as_str())).count();
        assert!(dialed - ended <= 1, "a leg never ended: {legs:?}");
        for leg in &r.placed {
            assert_eq!(r.released.get(leg), Some(&1), "leg {leg:?} was not let go of once: {names:?}");
        }
    }
    drop(records);
    // The lamps end where an idle, twinned user's are, and each change was a change.
    let lamps = driver.host.lamps.lock().unwrap();
    for lamp in Lamp::ALL {
        let states: Vec<LampState> =
            lamps.iter().filter(|(l, u, _)| *l == lamp && u == "1001").map(|(_, _, s)| *s).collect();
        assert!(states.windows(2).all(|w| w[0] != w[1]), "{lamp} repeated a state: {states:?}");
        let idle = if lamp == Lamp::Twinning { LampState::InUse } else { LampState::NotInUse };
        assert_eq!(states.last(), Some(&idle), "{lamp} was left at {states:?}");
        assert_eq!(driver.lamp(lamp, "1001"), idle);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn random_interleavings_keep_the_invariants(plans in prop::collection::vec(plan(), 1..4)) {
        let driver = driver();
        let req = {
            let plans = plans.clone();
            std::thread::spawn(move || requests(driver, &plans))
        };
        let callers: Vec<_> = plans
            .iter()
            .cloned()
            .enumerate()
            .map(|(n, plan)| std::thread::spawn(move || run_call(driver, n as u32, plan)))
            .collect();
        for c in callers {
            c.join().unwrap();
        }
        req.join().unwrap();
        check(driver, plans.len() as u32);
    }
}

#[test]
fn settings_changes_go_through_the_service_and_bad_ones_change_nothing() {
    let driver = driver();
    let src = Source::Cli;
    assert!(driver.apply_change(&src, "1001", "mobile", "07700900999").is_ok());
    assert!(driver.apply_change(&src, "1001", "mobile", "0770&1").is_err());
    assert!(driver.apply_change(&src, "nobody", "mobile", "07700900999").is_err());
    let mobile = driver.with_service(|s| Ok(s.settings().get("1001", "mobile").unwrap())).unwrap();
    assert_eq!(mobile, "07700900999");
}

#[test]
fn lamps_follow_the_settings_from_every_change_and_unknown_users_are_invalid() {
    let driver = driver();
    let last = |lamp: Lamp| {
        driver
            .host
            .lamps
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(l, u, _)| *l == lamp && u == "1001")
            .map(|e| e.2)
    };
    // Published at install: twinning is on.
    assert_eq!(last(Lamp::Twinning), Some(LampState::InUse));
    assert_eq!(last(Lamp::TwinningCall), Some(LampState::NotInUse));
    for (field, value, expected) in [
        ("enabled", "no", LampState::NotInUse),
        ("enabled", "yes", LampState::InUse),
        ("dnd", "yes", LampState::NotInUse),
        ("dnd", "no", LampState::InUse),
        ("mobile", "", LampState::NotInUse),
    ] {
        driver.apply_change(&Source::Ami, "1001", field, value).unwrap();
        assert_eq!(last(Lamp::Twinning), Some(expected), "after {field}={value}");
        assert_eq!(driver.lamp(Lamp::Twinning, "1001"), expected);
    }
    // A refused change publishes nothing.
    let published = driver.host.lamps.lock().unwrap().len();
    assert!(driver.apply_change(&Source::Ami, "1001", "enabled", "maybe").is_err());
    assert_eq!(driver.host.lamps.lock().unwrap().len(), published);
    for lamp in Lamp::ALL {
        assert_eq!(driver.lamp(lamp, "nobody"), LampState::Invalid);
    }
}

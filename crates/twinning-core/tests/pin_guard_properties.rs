//! Properties of the PIN guard over arbitrary sequences of entries, pauses and policies:
//! no PIN is ever looked at during a lockout, no more than `max_attempts` wrong PINs are
//! judged between lockouts, lockouts double up to the cap, and only a right PIN outside
//! a lockout is accepted.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use twinning_core::pin_guard::{
    AuthOptions, AuthOutcome, AuthSession, AuthStep, PinGuard, PinPolicy, PinVerdict,
};
use twinning_core::{Millis, Pin, UserId};

const PIN: &str = "4826";

#[derive(Debug, Clone)]
enum Entry {
    Right,
    Wrong(String),
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        1 => Just(Entry::Right),
        4 => "[0-9]{0,13}".prop_filter("not the PIN", |s| s != PIN).prop_map(Entry::Wrong),
    ]
}

fn policy() -> impl Strategy<Value = PinPolicy> {
    (1u32..=6, 1u64..=600, 1u64..=3600).prop_map(|(max_attempts, lockout, window)| PinPolicy {
        max_attempts,
        lockout: Millis::from_secs(lockout),
        window: Millis::from_secs(window),
    })
}

/// Pauses before each entry, in milliseconds: mostly short, sometimes long enough to
/// outlast a window or a lockout.
fn pause() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..5_000, 1 => 0u64..4_000_000]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn lockouts_hold_and_bound_the_guessing(
        policy in policy(),
        steps in proptest::collection::vec((pause(), entry()), 1..80),
    ) {
        let user = UserId::parse("1001").unwrap();
        let pin = Pin::parse(PIN).unwrap();
        let mut guard = PinGuard::new(policy.clone());
        let mut now = Instant::now();
        // The lockout under way (its end), the lockouts since the last right PIN, and when
        // the wrong PINs judged since the last lockout or right PIN were entered.
        let mut locked_until: Option<Instant> = None;
        let mut lockouts = 0u32;
        let mut judged_wrong: Vec<Instant> = Vec::new();
        let window = Duration::from_millis(policy.window.as_millis());
        for (pause, entry) in steps {
            now += Duration::from_millis(pause);
            judged_wrong.retain(|&at| now - at < window);
            let attempt = match &entry { Entry::Right => PIN, Entry::Wrong(s) => s.as_str() };
            let verdict = guard.check(&user, &pin, attempt, now);
            let locked = locked_until.is_some_and(|until| now < until);
            if locked {
                // Nothing is judged during a lockout, not even the right PIN.
                let is_refusal = matches!(verdict, PinVerdict::LockedOut { started: false, .. });
                prop_assert!(is_refusal, "{:?} during a lockout", verdict);
                if let PinVerdict::LockedOut { locked_for, .. } = verdict {
                    prop_assert_eq!(now + locked_for, locked_until.unwrap());
                }
                continue;
            }
            match (&entry, verdict) {
                (Entry::Right, PinVerdict::Accepted) => {
                    lockouts = 0;
                    judged_wrong.clear();
                }
                (Entry::Wrong(_), PinVerdict::Incorrect { remaining, .. }) => {
                    judged_wrong.push(now);
                    let n = judged_wrong.len() as u32;
                    prop_assert!(n < policy.max_attempts, "{} wrong PINs in the window, no lockout", n);
                    prop_assert_eq!(remaining, policy.max_attempts - n);
                }
                (Entry::Wrong(_), PinVerdict::LockedOut { locked_for, started: true, .. }) => {
                    judged_wrong.push(now);
                    let n = judged_wrong.len() as u32;
                    prop_assert_eq!(n, policy.max_attempts, "a lockout after {} wrong PINs in the window", n);
                    lockouts += 1;
                    let expected = (Duration::from_millis(policy.lockout.as_millis())
                        * 2u32.saturating_pow(lockouts - 1).min(1 << 20))
                        .min(PinPolicy::MAX_LOCKOUT);
                    prop_assert_eq!(locked_for, expected, "lockout {}", lockouts);
                    locked_until = Some(now + locked_for);
                    judged_wrong.clear();
                }
                (entry, verdict) => prop_assert!(false, "{:?} gave {:?} outside a lockout", entry, verdict),
            }
        }
    }

    #[test]
    fn parallel_calls_cannot_judge_more_wrong_pins_than_one(
        policy in policy(),
        calls in 1usize..6,
        guesses in proptest::collection::vec("[0-9]{4}", 1..40),
    ) {
        // Several calls guessing at the same moment share one guard: together they get
        // no more judged guesses than a single caller.
        let user = UserId::parse("1001").unwrap();
        let pin = Pin::parse(PIN).unwrap();
        let mut guard = PinGuard::new(policy.clone());
        let now = Instant::now();
        let mut sessions: Vec<AuthSession> =
            (0..calls).map(|_| AuthSession::new(&AuthOptions { tries: 10, ..AuthOptions::default() })).collect();
        let mut judged = 0u32;
        let mut done = vec![false; calls];
        for (i, guess) in guesses.iter().filter(|g| g.as_str() != PIN).enumerate() {
            let c = i % calls;
            if done[c] {
                continue;
            }
            match sessions[c].entered(&mut guard, &user, &pin, guess, now) {
                AuthStep::Again { failure } => {
                    prop_assert!(failure.is_some());
                    judged += 1;
                }
                AuthStep::Done { outcome, failure } => {
                    let failure = failure.unwrap();
                    if !failure.while_locked {
                        judged += 1;
                    }
                    prop_assert!(outcome == AuthOutcome::Locked || outcome == AuthOutcome::Failed);
                    done[c] = true;
                }
            }
        }
        prop_assert!(judged <= policy.max_attempts, "{} judged", judged);
    }

    #[test]
    fn pin_comparison_is_equality(a in "[0-9]{4,12}", b in "[0-9]{0,14}") {
        let pin = Pin::parse(&a).unwrap();
        prop_assert_eq!(pin.matches(&b), a == b);
        prop_assert!(pin.matches(&a));
    }
}

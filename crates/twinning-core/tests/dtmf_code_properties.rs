//! The DTMF code matcher (FreeSWITCH's bridge hands it every key) over random key streams
//! and timings: it never invents or reorders a key, it lets through every key that is not
//! part of a code it acted on, and a code keyed on its own is always recognised.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use twinning_core::call::{CodeAction, CodeKind, DtmfCodeMatcher};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Desk,
    Hold,
    Transfer,
}

fn matcher() -> DtmfCodeMatcher<Act> {
    DtmfCodeMatcher::new([
        ("**1".to_string(), Act::Desk, CodeKind::Immediate),
        ("**2".to_string(), Act::Hold, CodeKind::Immediate),
        ("**3".to_string(), Act::Transfer, CodeKind::CollectUntilHash),
    ])
}

fn keys() -> impl Strategy<Value = Vec<(char, u64)>> {
    let key = prop::sample::select(vec!['0', '1', '2', '3', '5', '9', '*', '#']);
    prop::collection::vec((key, 0u64..1500), 0..40)
}

/// Whether `sub` appears in `whole` in order (not necessarily contiguously).
fn is_subsequence(sub: &str, whole: &str) -> bool {
    let mut it = whole.chars();
    sub.chars().all(|c| it.any(|w| w == c))
}

proptest! {
    #[test]
    fn passed_keys_are_the_input_in_order(stream in keys()) {
        let mut m = matcher();
        let t0 = Instant::now();
        let mut at = 0;
        let mut input = String::new();
        let mut passed = String::new();
        let mut actions = 0;
        for (k, gap) in &stream {
            at += gap;
            input.push(*k);
            let r = m.feed(*k, t0 + Duration::from_millis(at));
            passed.push_str(&r.pass);
            actions += usize::from(r.action.is_some());
        }
        prop_assert!(is_subsequence(&passed, &input), "passed {passed:?} from {input:?}");
        // Keys are only held back for a code: with no action taken and nothing held now,
        // every key went through.
        if actions == 0 && !m.is_holding() && !input.contains("**3") {
            prop_assert_eq!(&passed, &input);
        }
    }

    /// With the host letting held keys through when they fall due (as both PBXes do),
    /// nothing is invented or reordered, and once every timeout has passed nothing stays
    /// held: every key that was not part of a code reached the far end.
    #[test]
    fn expired_keys_are_the_input_in_order_and_none_stay_held(stream in keys()) {
        let mut m = matcher();
        let t0 = Instant::now();
        let mut at = 0;
        let mut input = String::new();
        let mut passed = String::new();
        let mut actions = 0;
        for (k, gap) in &stream {
            at += gap;
            let now = t0 + Duration::from_millis(at);
            if m.flush_due().is_some_and(|due| due <= now) {
                passed.push_str(&m.expire(now));
            }
            input.push(*k);
            let r = m.feed(*k, now);
            passed.push_str(&r.pass);
            actions += usize::from(r.action.is_some());
        }
        passed.push_str(&m.expire(t0 + Duration::from_millis(at + 10_000)));
        prop_assert!(is_subsequence(&passed, &input), "passed {passed:?} from {input:?}");
        prop_assert!(!m.is_holding());
        if actions == 0 && !input.contains("**3") {
            prop_assert_eq!(&passed, &input);
        }
    }

    #[test]
    fn a_code_keyed_after_a_pause_is_recognised(prefix in keys(), which in 0usize..2) {
        let mut m = matcher();
        let t0 = Instant::now();
        let mut at = 0;
        for (k, gap) in &prefix {
            at += gap;
            m.feed(*k, t0 + Duration::from_millis(at));
        }
        // A pause longer than any collecting timeout, then the code, briskly.
        at += 5000;
        let (code, act) = [("**1", Act::Desk), ("**2", Act::Hold)][which];
        let mut got = None;
        for (i, k) in code.chars().enumerate() {
            let r = m.feed(k, t0 + Duration::from_millis(at + 100 * i as u64));
            if r.action.is_some() {
                got = r.action;
            }
        }
        prop_assert_eq!(got, Some(CodeAction::Code(act)));
    }
}

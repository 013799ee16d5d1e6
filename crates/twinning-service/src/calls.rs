//! The twinned calls in progress, for `twinning show calls` (and ESL's `twinning calls`).

use std::collections::BTreeMap;
use std::time::Instant;

use twinning_core::call::LegKind;
use twinning_core::lamp::CallActivity;

#[derive(Debug, Clone)]
pub struct LiveCall {
    pub user: String,
    pub caller: String,
    /// The caller's unique id, which the call's events carry.
    pub caller_uniqueid: String,
    pub started: Instant,
    /// Each leg and its state, as the engine reports them.
    pub legs: Vec<(LegKind, &'static str)>,
    /// What the call is doing, for the user's lamps.
    pub activity: CallActivity,
}

#[derive(Debug, Default)]
pub struct LiveCalls {
    next_id: u64,
    calls: BTreeMap<u64, LiveCall>,
    /// Each user's calls counted by what they are doing, so a lamp is read without looking
    /// at every call: every step that changes a call's activity reads its user's lamps, and
    /// one user (a hunt line, a benchmark) may have every call of the node.
    by_user: BTreeMap<String, Tally>,
}

/// How many of one user's calls are up, and how many show each part of an activity.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    calls: u32,
    mobile_ringing: u32,
    ringing: u32,
    answered: u32,
}

impl Tally {
    fn count(&mut self, a: CallActivity, add: bool) {
        for (n, on) in [
            (&mut self.mobile_ringing, a.mobile_ringing),
            (&mut self.ringing, a.ringing),
            (&mut self.answered, a.answered),
        ] {
            if on {
                *n = if add { *n + 1 } else { n.saturating_sub(1) };
            }
        }
    }

    fn activity(self) -> CallActivity {
        CallActivity {
            mobile_ringing: self.mobile_ringing > 0,
            ringing: self.ringing > 0,
            answered: self.answered > 0,
        }
    }
}

impl LiveCalls {
    pub const fn new() -> Self {
        LiveCalls { next_id: 0, calls: BTreeMap::new(), by_user: BTreeMap::new() }
    }

    pub fn begin(&mut self, user: &str, caller: &str, caller_uniqueid: &str, now: Instant) -> u64 {
        self.next_id += 1;
        self.calls.insert(
            self.next_id,
            LiveCall {
                user: user.into(),
                caller: caller.into(),
                caller_uniqueid: caller_uniqueid.into(),
                started: now,
                legs: Vec::new(),
                activity: CallActivity::default(),
            },
        );
        self.by_user.entry(user.into()).or_default().calls += 1;
        self.next_id
    }

    /// Records a call's legs and activity; returns the call's user if the activity changed
    /// (the user's lamps may have).
    pub fn update(
        &mut self,
        id: u64,
        legs: Vec<(LegKind, &'static str)>,
        activity: CallActivity,
    ) -> Option<&str> {
        let c = self.calls.get_mut(&id)?;
        c.legs = legs;
        let was = c.activity;
        if was == activity {
            return None;
        }
        c.activity = activity;
        if let Some(t) = self.by_user.get_mut(&c.user) {
            t.count(was, false);
            t.count(activity, true);
        }
        Some(c.user.as_str())
    }

    /// Takes the call out; returns its user.
    pub fn end(&mut self, id: u64) -> Option<String> {
        let c = self.calls.remove(&id)?;
        if let Some(t) = self.by_user.get_mut(&c.user) {
            t.count(c.activity, false);
            t.calls = t.calls.saturating_sub(1);
            if t.calls == 0 {
                self.by_user.remove(&c.user);
            }
        }
        Some(c.user)
    }

    /// What all of `user`'s calls are doing together.
    pub fn activity(&self, user: &str) -> CallActivity {
        self.by_user.get(user).map_or_else(CallActivity::default, |t| t.activity())
    }

    /// Every call in progress, in the order they began.
    pub fn list(&self) -> impl Iterator<Item = &LiveCall> {
        self.calls.values()
    }

    /// Legs dialing or ringing in every call now.
    pub fn ringing_legs(&self) -> usize {
        self.calls
            .values()
            .flat_map(|c| c.legs.iter())
            .filter(|(_, s)| matches!(*s, "dialing" | "ringing"))
            .count()
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The `twinning show calls` table.
    pub fn render(&self, now: Instant) -> String {
        let mut out = format!("{:<12} {:<36} {:>8}  {}\n", "User", "Caller channel", "Seconds", "Legs");
        for c in self.calls.values() {
            let legs: Vec<String> = c.legs.iter().map(|(k, s)| format!("{k}:{s}")).collect();
            out.push_str(&format!(
                "{:<12} {:<36} {:>8}  {}\n",
                c.user,
                c.caller,
                now.saturating_duration_since(c.started).as_secs(),
                legs.join(" ")
            ));
        }
        let n = self.calls.len();
        out.push_str(&format!("{n} twinned call{}\n", if n == 1 { "" } else { "s" }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_calls_with_leg_states() {
        let mut calls = LiveCalls::new();
        let t = Instant::now();
        let id = calls.begin("1001", "PJSIP/caller-00000001", "1700000000.1", t);
        let ringing = CallActivity { ringing: true, ..CallActivity::default() };
        assert_eq!(
            calls.update(id, vec![(LegKind::Desk, "ringing"), (LegKind::MOBILE, "waiting")], ringing),
            Some("1001")
        );
        assert_eq!(calls.activity("1001"), ringing);
        assert_eq!(calls.activity("1002"), CallActivity::default());
        let table = calls.render(t);
        assert!(
            table.contains("desk:ringing mobile:waiting") && table.ends_with("1 twinned call\n"),
            "{table}"
        );
        calls.end(id);
        assert!(calls.is_empty());
    }

    #[test]
    fn a_users_activity_is_what_any_of_its_calls_does_until_each_ends() {
        let mut calls = LiveCalls::new();
        let t = Instant::now();
        let ringing = CallActivity { ringing: true, mobile_ringing: true, ..CallActivity::default() };
        let answered = CallActivity { answered: true, ..CallActivity::default() };
        let ids: Vec<u64> =
            (0..3).map(|i| calls.begin("1001", &format!("c{i}"), &format!("u{i}"), t)).collect();
        let other = calls.begin("1002", "c9", "u9", t);
        for &id in &ids {
            calls.update(id, Vec::new(), ringing);
        }
        calls.update(other, Vec::new(), answered);
        assert_eq!(calls.activity("1001"), ringing);
        calls.update(ids[0], Vec::new(), answered);
        assert_eq!(calls.activity("1001"), ringing.merge(answered));
        calls.update(ids[1], Vec::new(), answered);
        calls.end(ids[2]);
        assert_eq!(calls.activity("1001"), answered, "no call of 1001 rings any more");
        calls.end(ids[0]);
        calls.end(ids[1]);
        assert_eq!(calls.activity("1001"), CallActivity::default());
        assert_eq!(calls.activity("1002"), answered);
        calls.end(other);
        assert!(calls.by_user.is_empty(), "nothing kept for users with no call");
    }
}

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
}

impl LiveCalls {
    pub const fn new() -> Self {
        LiveCalls { next_id: 0, calls: BTreeMap::new() }
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
        let changed = c.activity != activity;
        c.activity = activity;
        changed.then_some(c.user.as_str())
    }

    /// Takes the call out; returns its user.
    pub fn end(&mut self, id: u64) -> Option<String> {
        self.calls.remove(&id).map(|c| c.user)
    }

    /// What all of `user`'s calls are doing together.
    pub fn activity(&self, user: &str) -> CallActivity {
        self.calls
            .values()
            .filter(|c| c.user == user)
            .fold(CallActivity::default(), |a, c| a.merge(c.activity))
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
}

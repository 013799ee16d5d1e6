//! The access chaos plan both PBXes run (tests/tests/mobile_access.rs on Asterisk,
//! tests/tests/freeswitch_access.rs on FreeSWITCH): many Mobile Direct Access calls of every
//! kind in a seeded random order, what each should come to, and the accounting at the end.
//! The tests differ only in where the calls go and how the events are read.

use std::collections::BTreeMap;

use crate::sipp::{Caller, SipMessage};

/// A `TwinningAccess` outcome: `Result` and `Reason`.
pub type Outcome = (&'static str, &'static str);

pub struct AccessChaos {
    pub seed: u64,
    rng: u64,
    granted: usize,
    wrong: usize,
    /// How many events of each outcome the calls so far should raise.
    pub expected: BTreeMap<Outcome, usize>,
    /// The numbers the granted calls dial.
    granted_numbers: Vec<String>,
}

impl AccessChaos {
    /// Seeded from `TWINNING_ACCESS_SEED`, else the clock; the seed is printed so a failing
    /// plan can be repeated.
    pub fn from_env() -> AccessChaos {
        let seed: u64 =
            std::env::var("TWINNING_ACCESS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
                    | 1
            });
        println!("access chaos seed {seed} (TWINNING_ACCESS_SEED={seed} repeats this plan)");
        AccessChaos {
            seed,
            rng: seed,
            granted: 0,
            wrong: 0,
            expected: BTreeMap::new(),
            granted_numbers: Vec::new(),
        }
    }

    /// The next number below `n` (xorshift).
    pub fn next(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n
    }

    /// Call `i`: the extension it calls and what its caller keys, its outcome counted.
    pub fn call(&mut self, i: usize) -> (&'static str, Caller) {
        let (exten, behaviour, outcome) = match self.next(5) {
            0 if self.granted < 8 => {
                self.granted += 1;
                let number = format!("016329601{i:02}");
                self.granted_numbers.push(number.clone());
                (
                    "807700900123",
                    Caller::KeyIn { digits: format!("2468#{number}#") },
                    Some(("granted", "pin")),
                )
            }
            1 => (
                "800447700900123",
                Caller::KeyIn { digits: "2468#0901123456#".into() },
                Some(("refused", "policy")),
            ),
            2 => {
                ("807700900999", Caller::KeyIn { digits: String::new() }, Some(("refused", "unknown_caller")))
            }
            3 if self.wrong < 4 => {
                self.wrong += 1;
                (
                    "807700900123",
                    Caller::KeyIn { digits: "1111#1112#1113#".into() },
                    Some(("refused", "wrong_pin")),
                )
            }
            // Hangs up while the PIN is asked for: no outcome to report.
            _ => ("807700900123", Caller::HangUpAfter { hold_ms: 500 + self.next(1500) }, None),
        };
        if let Some(o) = outcome {
            *self.expected.entry(o).or_default() += 1;
        }
        (exten, behaviour)
    }

    /// How many events the calls should raise.
    pub fn total(&self) -> usize {
        self.expected.values().sum()
    }

    /// The events seen (`Result`, `Reason`) are exactly the outcomes expected.
    pub fn check_outcomes<'a>(&self, seen: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let seed = self.seed;
        let mut counted: BTreeMap<Outcome, usize> = BTreeMap::new();
        for key in seen {
            let found = self.expected.keys().find(|k| **k == key).copied();
            let found = found.unwrap_or_else(|| panic!("seed {seed}: unexpected outcome {key:?}"));
            *counted.entry(found).or_default() += 1;
        }
        assert_eq!(counted, self.expected, "seed {seed}");
    }

    /// The trunk's INVITEs are the granted numbers, once each.
    pub fn check_reached(&self, invites: &[SipMessage]) {
        let mut reached: Vec<String> = invites
            .iter()
            .map(|m| m.first_line.split(['@', ':']).nth(1).unwrap_or_default().to_owned())
            .collect();
        reached.sort();
        let mut granted = self.granted_numbers.clone();
        granted.sort();
        assert_eq!(reached, granted, "seed {}: only the granted numbers, once each", self.seed);
    }
}

//! Rate limiting of PIN entry across calls.
//!
//! A PIN of four digits falls to 10,000 guesses; a dialplan that allows three tries per
//! call lets a caller simply call again. The guard keeps, per user and across calls, the
//! wrong PINs entered: after `pin_max_attempts` of them within `pin_window` the user is
//! locked out for `pin_lockout`, doubling with each further lockout until a correct PIN
//! (up to [`PinPolicy::MAX_LOCKOUT`]). While a user is locked out every PIN is refused,
//! the right one included, so guessing cannot go on in the meantime.
//!
//! The guard is sans-IO: the host passes the current (monotonic) time into every call
//! and keeps one guard for the whole system behind its own lock. It holds a record only
//! for users the host asks about, which are users with a PIN in the configuration.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::settings::printable;
use crate::{Millis, Pin, UserId};

/// How PIN entry is rate-limited: `pin_max_attempts`, `pin_lockout` and `pin_window` in
/// `[general]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPolicy {
    /// Wrong PINs within `window` that lock the user out.
    pub max_attempts: u32,
    /// How long the first lockout lasts; each further one before a correct PIN doubles.
    pub lockout: Millis,
    /// How long a wrong PIN counts towards a lockout.
    pub window: Millis,
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy { max_attempts: 3, lockout: Millis::from_secs(300), window: Millis::from_secs(3600) }
    }
}

impl PinPolicy {
    /// The longest a lockout grows to, however often it repeats.
    pub const MAX_LOCKOUT: Duration = Duration::from_secs(24 * 3600);

    /// Applies one `[general]` key; `None` if the key is not a PIN setting.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Option<Result<(), String>> {
        let seconds = |min: u64, max: u64| -> Result<Millis, String> {
            let v = Millis::parse(value)?;
            if v < Millis::from_secs(min) || v > Millis::from_secs(max) {
                return Err(format!("{v} s is outside {min} to {max} s"));
            }
            Ok(v)
        };
        let result = match key {
            "pin_max_attempts" => match value.trim().parse::<u32>() {
                Ok(n) if (1..=20).contains(&n) => {
                    self.max_attempts = n;
                    Ok(())
                }
                _ => Err(format!("'{}' is not a whole number from 1 to 20", printable(value))),
            },
            "pin_lockout" => seconds(1, 86_400).map(|v| self.lockout = v),
            "pin_window" => seconds(1, 86_400).map(|v| self.window = v),
            _ => return None,
        };
        Some(result)
    }

    /// The length of the `n`th lockout in a row (1-based): the base doubled each time, at
    /// most [`PinPolicy::MAX_LOCKOUT`] (or the base, if that is longer).
    pub fn lockout_length(&self, n: u32) -> Duration {
        let base = Duration::from_millis(self.lockout.as_millis());
        let cap = base.max(Self::MAX_LOCKOUT);
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        base.checked_mul(factor).map_or(cap, |d| d.min(cap))
    }
}

/// What the guard made of one PIN entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinVerdict {
    /// The right PIN, and the user was not locked out: failures and lockouts are forgotten.
    Accepted,
    /// A wrong PIN. `attempts` counts the wrong PINs since the last right one; `remaining`
    /// is how many more the window allows before a lockout.
    Incorrect { attempts: u32, remaining: u32 },
    /// Refused because the user is locked out: either this wrong PIN started the lockout
    /// (`started`), or the user already was, and then the PIN was not even looked at.
    LockedOut { attempts: u32, locked_for: Duration, started: bool },
}

/// Where a user stands, without entering anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    /// This many wrong PINs may still be entered before a lockout.
    Open {
        remaining: u32,
    },
    Locked {
        locked_for: Duration,
    },
}

#[derive(Debug, Clone, Default)]
struct Record {
    /// When the wrong PINs that still count (inside the window) were entered, oldest first.
    recent: Vec<Instant>,
    locked_until: Option<Instant>,
    /// Lockouts since the last right PIN: the next one lasts 2^lockouts times the base.
    lockouts: u32,
    /// Wrong or refused entries since the last right PIN, for the audit trail (forgotten
    /// with the record once nothing else about the user is left to remember).
    attempts: u32,
}

impl Record {
    fn locked_for(&self, now: Instant) -> Option<Duration> {
        self.locked_until.filter(|&until| until > now).map(|until| until - now)
    }

    fn forget_old(&mut self, policy: &PinPolicy, now: Instant) {
        let window = Duration::from_millis(policy.window.as_millis());
        self.recent.retain(|&at| now.saturating_duration_since(at) < window);
        if self.locked_until.is_some_and(|until| until <= now) {
            self.locked_until = None;
        }
    }

    fn is_clean(&self) -> bool {
        self.recent.is_empty() && self.locked_until.is_none() && self.lockouts == 0
    }
}

/// Wrong PINs per user, across calls. One per system, shared by every call.
#[derive(Debug, Default)]
pub struct PinGuard {
    policy: PinPolicy,
    users: HashMap<UserId, Record>,
}

impl PinGuard {
    pub fn new(policy: PinPolicy) -> Self {
        PinGuard { policy, users: HashMap::new() }
    }

    pub fn policy(&self) -> &PinPolicy {
        &self.policy
    }

    /// A reload may change the policy; what was counted so far stays counted, and a
    /// lockout under way runs to its end.
    pub fn set_policy(&mut self, policy: PinPolicy) {
        self.policy = policy;
    }

    /// Checks a PIN the caller entered for `user`, whose PIN is `pin`, at `now`.
    pub fn check(&mut self, user: &UserId, pin: &Pin, entered: &str, now: Instant) -> PinVerdict {
        let policy = self.policy.clone();
        let record = self.users.entry(user.clone()).or_default();
        record.forget_old(&policy, now);
        // Compared whatever happens next, so the time taken never depends on the outcome.
        let right = pin.matches(entered);
        if let Some(locked_for) = record.locked_for(now) {
            record.attempts = record.attempts.saturating_add(1);
            return PinVerdict::LockedOut { attempts: record.attempts, locked_for, started: false };
        }
        if right {
            self.users.remove(user);
            return PinVerdict::Accepted;
        }
        record.attempts = record.attempts.saturating_add(1);
        record.recent.push(now);
        let counted = record.recent.len() as u32;
        if counted >= policy.max_attempts {
            record.lockouts = record.lockouts.saturating_add(1);
            let length = policy.lockout_length(record.lockouts);
            record.locked_until = Some(now + length);
            record.recent.clear();
            return PinVerdict::LockedOut { attempts: record.attempts, locked_for: length, started: true };
        }
        PinVerdict::Incorrect { attempts: record.attempts, remaining: policy.max_attempts - counted }
    }

    /// Where `user` stands at `now`.
    pub fn status(&mut self, user: &UserId, now: Instant) -> PinStatus {
        let policy = self.policy.clone();
        let Some(record) = self.users.get_mut(user) else {
            return PinStatus::Open { remaining: policy.max_attempts };
        };
        record.forget_old(&policy, now);
        match record.locked_for(now) {
            Some(locked_for) => PinStatus::Locked { locked_for },
            None => {
                PinStatus::Open { remaining: policy.max_attempts.saturating_sub(record.recent.len() as u32) }
            }
        }
    }

    /// Forgets `user`'s failures and lockouts: their PIN was changed, so guesses at the old
    /// one tell nothing about the new one.
    pub fn reset(&mut self, user: &UserId) {
        self.users.remove(user);
    }

    /// Drops records with nothing left to remember, and those of users no longer known.
    pub fn prune(&mut self, now: Instant, known: impl Fn(&UserId) -> bool) {
        let policy = self.policy.clone();
        self.users.retain(|user, record| {
            record.forget_old(&policy, now);
            known(user) && !record.is_clean()
        });
    }

    /// How many users the guard holds a record for.
    pub fn tracked(&self) -> usize {
        self.users.len()
    }
}

/// How a `TwinningAuthenticate()` run ended, as the `TWINNINGAUTH` variable says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The right PIN.
    Ok,
    /// No right PIN in this call (wrong ones, or none), without a lockout.
    Failed,
    /// The user is locked out (before or during this call).
    Locked,
    /// The user has no PIN: nothing was asked.
    NoPin,
}

impl AuthOutcome {
    pub fn name(self) -> &'static str {
        match self {
            AuthOutcome::Ok => "OK",
            AuthOutcome::Failed => "FAILED",
            AuthOutcome::Locked => "LOCKED",
            AuthOutcome::NoPin => "NOPIN",
        }
    }
}

impl fmt::Display for AuthOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The options of `TwinningAuthenticate(user[,options])`: `a(n)` at most `n` tries in this
/// call (never more than the guard still allows), `t(s)` seconds to wait for the PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthOptions {
    pub tries: u32,
    pub timeout: Millis,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions { tries: 3, timeout: Millis::from_secs(10) }
    }
}

impl AuthOptions {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut o = AuthOptions::default();
        let mut chars = s.trim().chars();
        while let Some(c) = chars.next() {
            let arg = match chars.next() {
                Some('(') => {
                    let mut a = String::new();
                    loop {
                        match chars.next() {
                            Some(')') => break,
                            Some(ch) if a.len() < 8 => a.push(ch),
                            _ => {
                                return Err(format!(
                                    "option '{}' has an unclosed or overlong argument",
                                    printable(&c.to_string())
                                ))
                            }
                        }
                    }
                    a
                }
                _ => {
                    return Err(format!(
                        "option '{}' needs an argument, e.g. a(3) or t(10)",
                        printable(&c.to_string())
                    ))
                }
            };
            match c {
                'a' => match arg.parse::<u32>() {
                    Ok(n) if (1..=10).contains(&n) => o.tries = n,
                    _ => return Err("option 'a': tries must be 1 to 10".into()),
                },
                't' => {
                    let v = Millis::parse(&arg).map_err(|e| format!("option 't': {e}"))?;
                    if v < Millis::from_secs(1) || v > Millis::from_secs(60) {
                        return Err("option 't': the timeout must be 1 to 60 s".into());
                    }
                    o.timeout = v;
                }
                other => {
                    return Err(format!(
                        "unknown option '{}' (options: a(n), t(s))",
                        printable(&other.to_string())
                    ))
                }
            }
        }
        Ok(o)
    }
}

/// Something to report about one entry: a wrong PIN, or an entry refused during a lockout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// Wrong or refused entries since the last right PIN.
    pub attempts: u32,
    /// How long the user stays locked out; zero when not locked out.
    pub locked_for: Duration,
    /// True when this entry was refused because of a lockout already under way.
    pub while_locked: bool,
}

/// What the host does after an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Ask again (the PIN was wrong or nothing was entered, and tries remain).
    Again {
        failure: Option<AuthFailure>,
    },
    Done {
        outcome: AuthOutcome,
        failure: Option<AuthFailure>,
    },
}

/// One run of `TwinningAuthenticate()`: asks up to the options' tries, fewer if the guard
/// allows fewer, and ends at the first right PIN or lockout.
#[derive(Debug, Clone)]
pub struct AuthSession {
    tries_left: u32,
}

impl AuthSession {
    pub fn new(options: &AuthOptions) -> Self {
        AuthSession { tries_left: options.tries }
    }

    /// Handles what the caller keyed (empty: nothing before the timeout or `#`). An empty
    /// entry uses up a try in this call but is no guess, so the guard does not count it.
    pub fn entered(
        &mut self,
        guard: &mut PinGuard,
        user: &UserId,
        pin: &Pin,
        digits: &str,
        now: Instant,
    ) -> AuthStep {
        self.tries_left = self.tries_left.saturating_sub(1);
        let (failure, outcome) = if digits.is_empty() {
            (None, None)
        } else {
            match guard.check(user, pin, digits, now) {
                PinVerdict::Accepted => (None, Some(AuthOutcome::Ok)),
                PinVerdict::Incorrect { attempts, .. } => {
                    (Some(AuthFailure { attempts, locked_for: Duration::ZERO, while_locked: false }), None)
                }
                PinVerdict::LockedOut { attempts, locked_for, started } => (
                    Some(AuthFailure { attempts, locked_for, while_locked: !started }),
                    Some(AuthOutcome::Locked),
                ),
            }
        };
        match outcome {
            Some(outcome) => AuthStep::Done { outcome, failure },
            None if self.tries_left == 0 => AuthStep::Done { outcome: AuthOutcome::Failed, failure },
            None => AuthStep::Again { failure },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::parse("1001").unwrap()
    }

    fn pin() -> Pin {
        Pin::parse("4826").unwrap()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn three_wrong_pins_lock_out_and_the_right_one_is_refused_meanwhile() {
        let mut g = PinGuard::new(PinPolicy::default());
        let t0 = Instant::now();
        assert_eq!(g.check(&user(), &pin(), "1111", t0), PinVerdict::Incorrect { attempts: 1, remaining: 2 });
        assert_eq!(
            g.check(&user(), &pin(), "2222", t0 + secs(1)),
            PinVerdict::Incorrect { attempts: 2, remaining: 1 }
        );
        assert_eq!(
            g.check(&user(), &pin(), "3333", t0 + secs(2)),
            PinVerdict::LockedOut { attempts: 3, locked_for: secs(300), started: true }
        );
        assert_eq!(
            g.check(&user(), &pin(), "4826", t0 + secs(62)),
            PinVerdict::LockedOut { attempts: 4, locked_for: secs(240), started: false }
        );
        assert_eq!(g.status(&user(), t0 + secs(62)), PinStatus::Locked { locked_for: secs(240) });
        // After the lockout, the right PIN works and everything is forgotten.
        assert_eq!(g.check(&user(), &pin(), "4826", t0 + secs(302)), PinVerdict::Accepted);
        assert_eq!(g.tracked(), 0);
        assert_eq!(
            g.check(&user(), &pin(), "1111", t0 + secs(303)),
            PinVerdict::Incorrect { attempts: 1, remaining: 2 }
        );
    }

    #[test]
    fn repeated_lockouts_double_up_to_the_cap() {
        let policy = PinPolicy { max_attempts: 1, lockout: Millis::from_secs(3600), ..PinPolicy::default() };
        assert_eq!(policy.lockout_length(1), secs(3600));
        assert_eq!(policy.lockout_length(2), secs(7200));
        assert_eq!(policy.lockout_length(5), secs(16 * 3600));
        assert_eq!(policy.lockout_length(6), PinPolicy::MAX_LOCKOUT);
        assert_eq!(policy.lockout_length(u32::MAX), PinPolicy::MAX_LOCKOUT);
        let mut g = PinGuard::new(policy);
        let mut now = Instant::now();
        let mut lengths = Vec::new();
        for _ in 0..7 {
            match g.check(&user(), &pin(), "0000", now) {
                PinVerdict::LockedOut { locked_for, started: true, .. } => {
                    lengths.push(locked_for.as_secs() / 3600);
                    now += locked_for;
                }
                v => panic!("{v:?}"),
            }
        }
        assert_eq!(lengths, [1, 2, 4, 8, 16, 24, 24]);
        assert_eq!(g.check(&user(), &pin(), "4826", now), PinVerdict::Accepted);
        assert!(matches!(
            g.check(&user(), &pin(), "0000", now),
            PinVerdict::LockedOut { locked_for, .. } if locked_for == secs(3600)
        ));
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let policy = PinPolicy { window: Millis::from_secs(60), ..PinPolicy::default() };
        let mut g = PinGuard::new(policy);
        let t0 = Instant::now();
        g.check(&user(), &pin(), "1111", t0);
        g.check(&user(), &pin(), "1111", t0 + secs(30));
        // The first is 61 s old: two count, not three.
        assert_eq!(
            g.check(&user(), &pin(), "1111", t0 + secs(61)),
            PinVerdict::Incorrect { attempts: 3, remaining: 1 }
        );
        assert!(matches!(g.check(&user(), &pin(), "1111", t0 + secs(62)), PinVerdict::LockedOut { .. }));
    }

    #[test]
    fn users_are_counted_apart_and_a_reset_unlocks() {
        let mut g = PinGuard::new(PinPolicy { max_attempts: 1, ..PinPolicy::default() });
        let other = UserId::parse("1002").unwrap();
        let t0 = Instant::now();
        assert!(matches!(g.check(&user(), &pin(), "1", t0), PinVerdict::LockedOut { .. }));
        assert_eq!(g.check(&other, &pin(), "4826", t0), PinVerdict::Accepted);
        g.reset(&user());
        assert_eq!(g.status(&user(), t0), PinStatus::Open { remaining: 1 });
        assert_eq!(g.check(&user(), &pin(), "4826", t0), PinVerdict::Accepted);
    }

    #[test]
    fn prune_keeps_only_what_still_matters() {
        let mut g = PinGuard::new(PinPolicy { window: Millis::from_secs(10), ..PinPolicy::default() });
        let t0 = Instant::now();
        g.check(&user(), &pin(), "1111", t0);
        g.check(&UserId::parse("gone").unwrap(), &pin(), "1111", t0);
        g.prune(t0, |u| u.as_str() != "gone");
        assert_eq!(g.tracked(), 1);
        // Out of the window, the wrong PIN no longer matters.
        g.prune(t0 + secs(11), |_| true);
        assert_eq!(g.tracked(), 0);
        assert_eq!(g.status(&user(), t0 + secs(11)), PinStatus::Open { remaining: 3 });
        // A lockout is remembered until a right PIN, for the next one to double.
        let mut g = PinGuard::new(PinPolicy {
            max_attempts: 1,
            lockout: Millis::from_secs(1),
            ..PinPolicy::default()
        });
        g.check(&user(), &pin(), "1111", t0);
        g.prune(t0 + secs(7200), |_| true);
        assert_eq!(g.tracked(), 1);
    }

    #[test]
    fn settings_are_bounded() {
        let mut p = PinPolicy::default();
        assert_eq!(p.set("pin_max_attempts", "5"), Some(Ok(())));
        assert_eq!(p.set("pin_lockout", "90"), Some(Ok(())));
        assert_eq!(p.set("pin_window", "2500ms"), Some(Ok(())));
        assert_eq!((p.max_attempts, p.lockout, p.window), (5, Millis(90_000), Millis(2_500)));
        for (key, bad) in [
            ("pin_max_attempts", "0"),
            ("pin_max_attempts", "21"),
            ("pin_max_attempts", "-1"),
            ("pin_max_attempts", "3&"),
            ("pin_lockout", "0"),
            ("pin_lockout", "86401"),
            ("pin_lockout", "soon"),
            ("pin_window", "0.5"),
        ] {
            assert!(matches!(p.set(key, bad), Some(Err(_))), "{key}={bad}");
        }
        assert_eq!((p.max_attempts, p.lockout), (5, Millis(90_000)), "refused values change nothing");
        assert_eq!(p.set("pin", "1"), None);
    }

    #[test]
    fn options() {
        assert_eq!(AuthOptions::parse("").unwrap(), AuthOptions::default());
        assert_eq!(
            AuthOptions::parse("a(1)t(2.5)").unwrap(),
            AuthOptions { tries: 1, timeout: Millis(2_500) }
        );
        for bad in ["a", "a(0)", "a(11)", "t(0)", "t(61)", "x(1)", "a(1", "a(123456789)", "a(1),t(2)", "&"] {
            assert!(AuthOptions::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_session_ends_at_the_right_pin_a_lockout_or_its_last_try() {
        let t0 = Instant::now();
        let mut g = PinGuard::new(PinPolicy::default());
        let mut s = AuthSession::new(&AuthOptions::default());
        assert_eq!(s.entered(&mut g, &user(), &pin(), "", t0), AuthStep::Again { failure: None });
        assert!(matches!(
            s.entered(&mut g, &user(), &pin(), "1", t0),
            AuthStep::Again { failure: Some(AuthFailure { attempts: 1, while_locked: false, .. }) }
        ));
        assert!(matches!(
            s.entered(&mut g, &user(), &pin(), "2", t0),
            AuthStep::Done { outcome: AuthOutcome::Failed, failure: Some(AuthFailure { attempts: 2, .. }) }
        ));
        // The next call gets one try before the lockout, and it locks.
        let mut s = AuthSession::new(&AuthOptions::default());
        match s.entered(&mut g, &user(), &pin(), "3", t0) {
            AuthStep::Done { outcome: AuthOutcome::Locked, failure: Some(f) } => {
                assert_eq!(f, AuthFailure { attempts: 3, locked_for: secs(300), while_locked: false })
            }
            step => panic!("{step:?}"),
        }
        let mut s = AuthSession::new(&AuthOptions::default());
        assert!(matches!(
            s.entered(&mut g, &user(), &pin(), "4826", t0 + secs(1)),
            AuthStep::Done {
                outcome: AuthOutcome::Locked,
                failure: Some(AuthFailure { while_locked: true, .. })
            }
        ));
        let mut s = AuthSession::new(&AuthOptions::default());
        assert_eq!(
            s.entered(&mut g, &user(), &pin(), "4826", t0 + secs(300)),
            AuthStep::Done { outcome: AuthOutcome::Ok, failure: None }
        );
    }
}

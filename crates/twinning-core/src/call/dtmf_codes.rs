//! Feature codes in a stream of key presses, for hosts whose bridge hands every key to the
//! module (FreeSWITCH) rather than matching codes itself (Asterisk's bridge hooks).
//!
//! Keys that could still start a code are held back; once they cannot, they are passed on
//! to the far end in order, so a caller never hears a key go missing unless it was part of
//! a code. A key that cannot start a code anymore because no key followed it within the
//! code timeout is let through by [`DtmfCodeMatcher::expire`], which the host calls at
//! [`DtmfCodeMatcher::flush_due`]: a lone `*` reaches an IVR on the far end even when
//! nothing else is keyed. A code marked as collecting (the blind-transfer code) then swallows the digits
//! that follow up to `#`: the extension to transfer to.

use std::time::{Duration, Instant};

/// How long held keys wait for the rest of a code before they are let through (Asterisk's
/// `featuredigittimeout` default).
pub const CODE_DIGIT_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long the keys after a collecting code may pause before the code is abandoned.
pub const COLLECT_DIGIT_TIMEOUT: Duration = Duration::from_millis(3000);
/// The most digits an extension keyed after a collecting code may have.
pub const MAX_COLLECTED_DIGITS: usize = 20;

/// What a code does once keyed: act at once, or collect digits up to `#` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    Immediate,
    CollectUntilHash,
}

/// What a key press amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<A> {
    /// Keys to send on to the far end now, in order (held keys that turned out not to be
    /// a code, and this key if it starts none).
    pub pass: String,
    pub action: Option<CodeAction<A>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeAction<A> {
    Code(A),
    /// A collecting code and the digits keyed after it (never empty).
    CodeWithDigits(A, String),
}

#[derive(Debug, Clone)]
pub struct DtmfCodeMatcher<A> {
    codes: Vec<(String, A, CodeKind)>,
    held: String,
    last_key: Option<Instant>,
    collecting: Option<(A, String)>,
}

impl<A: Copy> DtmfCodeMatcher<A> {
    /// `codes` that are empty (switched off) are ignored.
    pub fn new(codes: impl IntoIterator<Item = (String, A, CodeKind)>) -> Self {
        DtmfCodeMatcher {
            codes: codes.into_iter().filter(|(c, _, _)| !c.is_empty()).collect(),
            held: String::new(),
            last_key: None,
            collecting: None,
        }
    }

    /// Whether keys are being held back or collected (the host may want to flush on hang-up).
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty() || self.collecting.is_some()
    }

    /// When the keys held now are to be let through if no key comes first (the code
    /// timeout after the last key); `None` while nothing is held.
    pub fn flush_due(&self) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        self.last_key.map(|t| t + CODE_DIGIT_TIMEOUT)
    }

    /// The held keys that can no longer complete a code at `now` (no key came within the
    /// code timeout), to be sent on to the far end in order; empty before that. A
    /// collecting code whose digits stopped coming is abandoned (its digits are not
    /// replayed, as in [`Self::feed`]).
    pub fn expire(&mut self, now: Instant) -> String {
        let Some(last) = self.last_key else { return String::new() };
        let gap = now.saturating_duration_since(last);
        if self.collecting.is_some() && gap > COLLECT_DIGIT_TIMEOUT {
            self.collecting = None;
        }
        if gap >= CODE_DIGIT_TIMEOUT {
            std::mem::take(&mut self.held)
        } else {
            String::new()
        }
    }

    pub fn feed(&mut self, key: char, now: Instant) -> Keyed<A> {
        let gap = self.last_key.map(|t| now.saturating_duration_since(t));
        self.last_key = Some(now);
        let mut pass = String::new();
        if let Some((action, mut digits)) = self.collecting.take() {
            if gap.is_some_and(|g| g <= COLLECT_DIGIT_TIMEOUT) {
                if key == '#' {
                    let action = (!digits.is_empty()).then_some(CodeAction::CodeWithDigits(action, digits));
                    return Keyed { pass, action };
                }
                if key.is_ascii_digit() && digits.len() < MAX_COLLECTED_DIGITS {
                    digits.push(key);
                    self.collecting = Some((action, digits));
                }
                // Anything else abandons the code; the keys are not replayed (they were an
                // extension, not speech for the caller).
                return Keyed { pass, action: None };
            }
            // Too long a pause: the code is abandoned and this key is taken afresh.
        }
        if gap.is_some_and(|g| g > CODE_DIGIT_TIMEOUT) {
            pass.push_str(&std::mem::take(&mut self.held));
        }
        let mut candidate = std::mem::take(&mut self.held);
        candidate.push(key);
        // Let through the shortest head after which what remains can still be (or is) a code.
        let mut start = 0;
        loop {
            let rest = &candidate[start..];
            if let Some((_, action, kind)) = self.codes.iter().find(|(c, _, _)| c == rest) {
                let (action, kind) = (*action, *kind);
                pass.push_str(&candidate[..start]);
                return match kind {
                    CodeKind::Immediate => Keyed { pass, action: Some(CodeAction::Code(action)) },
                    CodeKind::CollectUntilHash => {
                        self.collecting = Some((action, String::new()));
                        Keyed { pass, action: None }
                    }
                };
            }
            if !rest.is_empty() && self.codes.iter().any(|(c, _, _)| c.starts_with(rest)) {
                pass.push_str(&candidate[..start]);
                self.held = rest.to_owned();
                return Keyed { pass, action: None };
            }
            if rest.is_empty() {
                pass.push_str(&candidate);
                return Keyed { pass, action: None };
            }
            start += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Act {
        Desk,
        Hold,
        Transfer,
    }

    fn mobile() -> DtmfCodeMatcher<Act> {
        DtmfCodeMatcher::new([
            ("**1".to_string(), Act::Desk, CodeKind::Immediate),
            ("**2".to_string(), Act::Hold, CodeKind::Immediate),
            ("**3".to_string(), Act::Transfer, CodeKind::CollectUntilHash),
            (String::new(), Act::Hold, CodeKind::Immediate),
        ])
    }

    fn run(m: &mut DtmfCodeMatcher<Act>, keys: &str, step_ms: u64) -> (String, Vec<CodeAction<Act>>) {
        let t0 = Instant::now();
        let mut pass = String::new();
        let mut actions = Vec::new();
        for (i, k) in keys.chars().enumerate() {
            let r = m.feed(k, t0 + Duration::from_millis(step_ms * i as u64));
            pass.push_str(&r.pass);
            actions.extend(r.action);
        }
        (pass, actions)
    }

    #[test]
    fn codes_are_swallowed_and_other_keys_pass_in_order() {
        let mut m = mobile();
        assert_eq!(run(&mut m, "12**1", 100), ("12".into(), vec![CodeAction::Code(Act::Desk)]));
        let mut m = mobile();
        assert_eq!(run(&mut m, "*5**2", 100), ("*5".into(), vec![CodeAction::Code(Act::Hold)]));
        let mut m = mobile();
        // "***1": the first star cannot start a code once three have come.
        assert_eq!(run(&mut m, "***1", 100), ("*".into(), vec![CodeAction::Code(Act::Desk)]));
        let mut m = mobile();
        assert_eq!(run(&mut m, "**9", 100), ("**9".into(), vec![]));
    }

    #[test]
    fn transfer_collects_an_extension_up_to_hash() {
        let mut m = mobile();
        assert_eq!(
            run(&mut m, "**32000#5", 100),
            ("5".into(), vec![CodeAction::CodeWithDigits(Act::Transfer, "2000".into())])
        );
        let mut m = mobile();
        assert_eq!(run(&mut m, "**3#", 100), ("".into(), vec![]), "no extension, no transfer");
    }

    #[test]
    fn held_keys_are_let_through_after_a_pause() {
        let mut m = mobile();
        assert_eq!(run(&mut m, "*1", 1500), ("*1".into(), vec![]));
        let mut m = mobile();
        // A pause inside the transfer's extension abandons it; the next key counts afresh.
        let t0 = Instant::now();
        for (i, k) in "**32".chars().enumerate() {
            assert_eq!(m.feed(k, t0 + Duration::from_millis(100 * i as u64)).pass, "");
        }
        let late = m.feed('7', t0 + Duration::from_millis(300 + 4000));
        assert_eq!((late.pass.as_str(), late.action), ("7", None));
    }

    #[test]
    fn a_lone_held_key_is_let_through_once_the_code_can_no_longer_complete() {
        let mut m = mobile();
        let t0 = Instant::now();
        assert_eq!(m.feed('*', t0).pass, "");
        let due = m.flush_due().expect("the star is held");
        assert_eq!(due, t0 + CODE_DIGIT_TIMEOUT);
        assert_eq!(m.expire(t0 + Duration::from_millis(500)), "", "the code may still come");
        assert_eq!(m.expire(due), "*");
        assert_eq!(m.flush_due(), None);
        assert!(!m.is_holding());
        // Let through once: a later key is taken afresh, the star is not sent again.
        assert_eq!(m.feed('5', due + Duration::from_millis(100)).pass, "5");
        assert_eq!(m.expire(due + Duration::from_secs(5)), "");

        // Two stars held, then nothing: both go, in order.
        let mut m = mobile();
        m.feed('*', t0);
        m.feed('*', t0 + Duration::from_millis(200));
        assert_eq!(m.flush_due(), Some(t0 + Duration::from_millis(200) + CODE_DIGIT_TIMEOUT));
        assert_eq!(m.expire(t0 + Duration::from_millis(1100)), "", "timed from the last key");
        assert_eq!(m.expire(t0 + Duration::from_millis(1200)), "**");

        // A code keyed in time is not disturbed by an early flush check.
        let mut m = mobile();
        m.feed('*', t0);
        m.feed('*', t0 + Duration::from_millis(300));
        assert_eq!(m.expire(t0 + Duration::from_millis(600)), "");
        let r = m.feed('1', t0 + Duration::from_millis(700));
        assert_eq!((r.pass.as_str(), r.action), ("", Some(CodeAction::Code(Act::Desk))));
        assert_eq!(m.flush_due(), None);
    }

    #[test]
    fn a_collecting_code_left_unfinished_is_abandoned_by_expiry() {
        let mut m = mobile();
        let t0 = Instant::now();
        for (i, k) in "**32".chars().enumerate() {
            m.feed(k, t0 + Duration::from_millis(100 * i as u64));
        }
        assert_eq!(m.flush_due(), None, "digits of an extension are never sent on");
        assert_eq!(m.expire(t0 + Duration::from_secs(2)), "");
        assert!(m.is_holding());
        assert_eq!(m.expire(t0 + Duration::from_secs(4)), "");
        assert!(!m.is_holding(), "abandoned");
    }

    #[test]
    fn nothing_is_lost_or_invented_for_keys_that_start_no_code() {
        let mut m = mobile();
        let (pass, actions) = run(&mut m, "0123456789#", 50);
        assert_eq!(pass, "0123456789#");
        assert!(actions.is_empty());
        assert!(!m.is_holding());
    }
}

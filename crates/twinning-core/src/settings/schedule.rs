//! When the mobile may ring: `always`, or rules such as `mon-fri 08:00-18:00, sat 09:00-12:00`.
//!
//! A rule is a day or day range, a time range, or both. A time range that ends before it
//! starts runs past midnight into the next day (`fri 22:00-06:00` covers Friday night and
//! early Saturday). The core is given the local weekday and minute: it reads no clock.

use std::fmt;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MINUTES_PER_DAY: u16 = 24 * 60;
const MAX_RULES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    /// Empty means always.
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    /// Bit n set: weekday n (0 = Monday) is in the rule.
    days: u8,
    /// The days as written, so `mon-fri` is shown back as `mon-fri`, not a bit mask.
    first_day: u8,
    last_day: u8,
    start: u16,
    end: u16,
}

impl Schedule {
    pub fn always() -> Self {
        Schedule::default()
    }

    pub fn is_always(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("always") {
            return Ok(Schedule::always());
        }
        let rules = s
            .split([',', ';'])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(parse_rule)
            .collect::<Result<Vec<_>, _>>()?;
        if rules.len() > MAX_RULES {
            return Err(format!("a schedule has at most {MAX_RULES} rules"));
        }
        Ok(Schedule { rules })
    }

    /// Whether the schedule covers `weekday` (0 = Monday) at `minute` past local midnight.
    pub fn covers(&self, weekday: u8, minute: u16) -> bool {
        if self.is_always() {
            return true;
        }
        let weekday = weekday % 7;
        let yesterday = (weekday + 6) % 7;
        self.rules.iter().any(|r| {
            let today = r.days & (1 << weekday) != 0;
            if r.start < r.end {
                today && (r.start..r.end).contains(&minute)
            } else {
                // Wraps past midnight: the evening part belongs to the rule's own day, the
                // morning part to the day after.
                (today && minute >= r.start) || (r.days & (1 << yesterday) != 0 && minute < r.end)
            }
        })
    }
}

fn parse_rule(rule: &str) -> Result<Rule, String> {
    let bad = || {
        format!(
            "'{}' is not a schedule rule; write e.g. 'mon-fri 08:00-18:00', 'sat', '22:00-06:00' or 'always'",
            super::error::printable(rule)
        )
    };
    let mut parts = rule.split_whitespace();
    let (first, second) = (parts.next().ok_or_else(bad)?, parts.next());
    if parts.next().is_some() {
        return Err(bad());
    }
    let (days, times) = match second {
        Some(t) => (Some(first), Some(t)),
        None if first.contains(':') => (None, Some(first)),
        None => (Some(first), None),
    };
    let (first_day, last_day) = match days {
        None | Some("daily") | Some("*") => (0, 6),
        Some(d) => {
            let (a, b) = d.split_once('-').unwrap_or((d, d));
            (day_index(a).ok_or_else(bad)?, day_index(b).ok_or_else(bad)?)
        }
    };
    let mut mask = 0u8;
    let mut d = first_day;
    loop {
        mask |= 1 << d;
        if d == last_day {
            break;
        }
        d = (d + 1) % 7;
    }
    let (start, end) = match times {
        None => (0, MINUTES_PER_DAY),
        Some(t) => {
            let (a, b) = t.split_once('-').ok_or_else(bad)?;
            (parse_time(a).ok_or_else(bad)?, parse_time(b).ok_or_else(bad)?)
        }
    };
    if start == end || start == MINUTES_PER_DAY {
        return Err(format!("'{}' is an empty time range", super::error::printable(rule)));
    }
    Ok(Rule { days: mask, first_day, last_day, start, end })
}

fn day_index(s: &str) -> Option<u8> {
    let s = s.to_ascii_lowercase();
    DAYS.iter().position(|d| *d == s).map(|i| i as u8)
}

fn parse_time(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h.checked_mul(60)? + m;
    (m < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_always() {
            return f.write_str("always");
        }
        for (i, r) in self.rules.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let all_days = r.first_day == 0 && r.last_day == 6;
            let whole_day = r.start == 0 && r.end == MINUTES_PER_DAY;
            if !all_days || whole_day {
                if all_days {
                    f.write_str("daily")?;
                } else if r.first_day == r.last_day {
                    f.write_str(DAYS[r.first_day as usize])?;
                } else {
                    write!(f, "{}-{}", DAYS[r.first_day as usize], DAYS[r.last_day as usize])?;
                }
            }
            if !whole_day {
                if !all_days {
                    f.write_str(" ")?;
                }
                write!(f, "{:02}:{:02}-{:02}:{:02}", r.start / 60, r.start % 60, r.end / 60, r.end % 60)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MON: u8 = 0;
    const FRI: u8 = 4;
    const SAT: u8 = 5;
    const SUN: u8 = 6;

    fn at(h: u16, m: u16) -> u16 {
        h * 60 + m
    }

    #[test]
    fn office_hours() {
        let s = Schedule::parse("mon-fri 08:00-18:00, sat 09:00-12:00").unwrap();
        assert!(s.covers(MON, at(8, 0)));
        assert!(!s.covers(MON, at(18, 0)));
        assert!(!s.covers(MON, at(7, 59)));
        assert!(s.covers(SAT, at(11, 59)));
        assert!(!s.covers(SUN, at(10, 0)));
        assert_eq!(s.to_string(), "mon-fri 08:00-18:00, sat 09:00-12:00");
    }

    #[test]
    fn overnight_and_wrapping_day_ranges() {
        let s = Schedule::parse("fri 22:00-06:00").unwrap();
        assert!(s.covers(FRI, at(23, 0)));
        assert!(s.covers(SAT, at(5, 59)));
        assert!(!s.covers(FRI, at(5, 0)));
        assert!(!s.covers(SAT, at(23, 0)));
        let weekend = Schedule::parse("sat-sun").unwrap();
        assert!(weekend.covers(SUN, at(23, 59)) && !weekend.covers(MON, 0));
        let wrap = Schedule::parse("sun-tue").unwrap();
        assert!(wrap.covers(SUN, 0) && wrap.covers(MON, 0) && !wrap.covers(SAT, 0));
        assert_eq!(Schedule::parse("08:00-24:00").unwrap().to_string(), "08:00-24:00");
    }

    #[test]
    fn always_and_junk() {
        assert!(Schedule::parse("always").unwrap().covers(SUN, at(3, 0)));
        assert_eq!(Schedule::parse("").unwrap().to_string(), "always");
        for bad in [
            "mon-fri 8-18",
            "monday",
            "mon 25:00-26:00",
            "mon 08:00-08:00",
            "mon 08:60-09:00",
            "mon 08:00 18:00 x",
            "24:00-01:00",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

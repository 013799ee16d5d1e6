//! The options of `Twinning(user[,options])` (and FreeSWITCH's `twinning <user> [options]`):
//! `h` hunt-group call, `f` forwarded call, `c` force confirmation, and `d(s)`, `g(s)`,
//! `r(s)` overriding dial delay, answer guard and ring time for this call.

use crate::settings::printable;
use crate::Millis;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    pub hunt_group: bool,
    pub forwarded: bool,
    pub force_confirm: bool,
    pub dial_delay: Option<Millis>,
    pub answer_guard: Option<Millis>,
    pub ring_time: Option<Millis>,
}

impl CallOptions {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut o = CallOptions::default();
        let mut chars = s.trim().chars().peekable();
        while let Some(c) = chars.next() {
            let arg = if chars.peek() == Some(&'(') {
                chars.next();
                let mut a = String::new();
                loop {
                    match chars.next() {
                        Some(')') => break,
                        Some(ch) if a.len() < 16 => a.push(ch),
                        _ => return Err(format!("option '{c}' has an unclosed or overlong '(' argument")),
                    }
                }
                Some(a)
            } else {
                None
            };
            let timer = |name: &str, max: u64, min: u64| -> Result<Millis, String> {
                let a = arg.as_deref().ok_or_else(|| format!("option '{c}' needs seconds, e.g. {c}(5)"))?;
                let v = Millis::parse(a).map_err(|e| format!("option '{c}': {e}"))?;
                if v.as_millis() < min * 1000 || v.as_millis() > max * 1000 {
                    return Err(format!("option '{c}': {name} must be {min} to {max} s"));
                }
                Ok(v)
            };
            let flag = |set: &mut bool| -> Result<(), String> {
                if arg.is_some() {
                    return Err(format!("option '{c}' takes no argument"));
                }
                *set = true;
                Ok(())
            };
            match c {
                'h' => flag(&mut o.hunt_group)?,
                'f' => flag(&mut o.forwarded)?,
                'c' => flag(&mut o.force_confirm)?,
                'd' => o.dial_delay = Some(timer("the dial delay", 120, 0)?),
                'g' => o.answer_guard = Some(timer("the answer guard", 30, 0)?),
                'r' => o.ring_time = Some(timer("the ring time", 600, 5)?),
                other => {
                    return Err(format!(
                        "unknown option '{}' (options: h, f, c, d(s), g(s), r(s))",
                        printable(&other.to_string())
                    ))
                }
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_timers() {
        let o = CallOptions::parse("hcd(2.5)g(1)r(30)").unwrap();
        assert!(o.hunt_group && o.force_confirm && !o.forwarded);
        assert_eq!(
            (o.dial_delay, o.answer_guard, o.ring_time),
            (Some(Millis(2500)), Some(Millis(1000)), Some(Millis(30_000)))
        );
        assert_eq!(CallOptions::parse("").unwrap(), CallOptions::default());
        for bad in ["x", "d", "d(", "d(abc)", "r(1)", "g(31)", "h(1)", "d(1)&", "d(99999999999999999)"] {
            assert!(CallOptions::parse(bad).is_err(), "{bad:?}");
        }
    }
}

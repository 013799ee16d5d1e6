//! Mobile access from `[general]`: how a calling mobile's number is recognised (the
//! country code that makes `+44…`, `0044…` and `0…` one number), the dialplan context
//! access calls are dialed in, and the timers of Mobile Callback.

use super::policy::DestinationPolicy;
use super::values::PhoneNumber;
use super::Millis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The country code of the site (`44`), without `+` or `00`; empty: national numbers
    /// (`0…`) are not matched with international ones.
    pub country_code: String,
    /// The dialplan context access and callback calls are dialed in; `None`: Mobile Direct
    /// Access and Mobile Callback are refused (nothing is dialed until the admin points it
    /// at a route).
    pub access_context: Option<String>,
    /// How long after a callback request's call starts the caller must have hung up for
    /// the callback to be made.
    pub callback_window: Millis,
    /// How long after the caller hung up the callback is placed.
    pub callback_delay: Millis,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            country_code: String::new(),
            access_context: None,
            callback_window: Millis::from_secs(30),
            callback_delay: Millis::from_secs(5),
        }
    }
}

impl Access {
    /// Applies one `[general]` key; `None` if the key is not an access setting.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Option<Result<(), String>> {
        let timer = |min: u64, max: u64| -> Result<Millis, String> {
            let v = Millis::parse(value)?;
            if v < Millis::from_secs(min) || v > Millis::from_secs(max) {
                return Err(format!("{v} s is outside {min} to {max} s"));
            }
            Ok(v)
        };
        let value = value.trim();
        let result = match key {
            "country_code" => {
                if value.is_empty()
                    || (value.len() <= 3
                        && value.chars().all(|c| c.is_ascii_digit())
                        && !value.starts_with('0'))
                {
                    self.country_code = value.to_owned();
                    Ok(())
                } else {
                    Err("a country code is 1 to 3 digits not starting with 0, e.g. 44 (no + or 00)".into())
                }
            }
            "access_context" => match value {
                "" => {
                    self.access_context = None;
                    Ok(())
                }
                v => super::call_control::parse_context(v).map(|c| self.access_context = Some(c)),
            },
            "callback_window" => timer(5, 120).map(|v| self.callback_window = v),
            "callback_delay" => timer(1, 60).map(|v| self.callback_delay = v),
            _ => return None,
        };
        Some(result)
    }

    /// `number` as digits in international form where it can be told: an international
    /// prefix (`+`, `00`) is dropped, and a national number (`0…`) takes the country
    /// code in place of its `0`. So `+447700900123`, `00447700900123` and `07700900123`
    /// are all `447700900123` with `country_code = 44`.
    pub fn normalise(&self, number: &str, policy: &DestinationPolicy) -> String {
        let mut international: Vec<&str> = policy.international_prefixes.iter().map(String::as_str).collect();
        international.push("+");
        // The longest prefix first (`00` before `0`-less ones).
        international.sort_by_key(|p| std::cmp::Reverse(p.len()));
        if let Some(rest) = international.iter().find_map(|p| number.strip_prefix(p)) {
            return rest.chars().filter(char::is_ascii_digit).collect();
        }
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        match digits.strip_prefix('0') {
            Some(national) if !self.country_code.is_empty() => format!("{}{national}", self.country_code),
            _ => digits,
        }
    }

    /// Whether `calling` (a caller's number, as the trunk gave it) is `destination` (a
    /// user's remote destination), however each is written. Never true for an empty or
    /// too short number: a withheld or spoofed-empty caller matches nobody.
    pub fn same_number(&self, calling: &str, destination: &PhoneNumber, policy: &DestinationPolicy) -> bool {
        let a = self.normalise(calling, policy);
        a.len() >= policy.min_digits.max(3) && a == self.normalise(destination.as_str(), policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uk() -> Access {
        let mut a = Access::default();
        a.set("country_code", "44").unwrap().unwrap();
        a
    }

    #[test]
    fn the_forms_of_one_number_match() {
        let policy = DestinationPolicy::default();
        let mobile = PhoneNumber::parse("07700900123").unwrap();
        let a = uk();
        for calling in ["07700900123", "+447700900123", "00447700900123"] {
            assert!(a.same_number(calling, &mobile, &policy), "{calling}");
        }
        for other in ["07700900124", "+447700900124", "+337700900123", "", "anonymous", "7700900123"] {
            assert!(!a.same_number(other, &mobile, &policy), "{other}");
        }
        let plus = PhoneNumber::parse("+447700900123").unwrap();
        assert!(a.same_number("07700900123", &plus, &policy));
        // Without a country code, the national form is only itself.
        let none = Access::default();
        assert!(none.same_number("07700900123", &mobile, &policy));
        assert!(!none.same_number("+447700900123", &mobile, &policy));
        assert!(none.same_number("0044 7700900123", &plus, &policy));
    }

    #[test]
    fn keys_are_checked_and_a_refused_value_changes_nothing() {
        let mut a = Access::default();
        assert_eq!(a.callback_window, Millis::from_secs(30));
        assert_eq!(a.callback_delay, Millis::from_secs(5));
        assert_eq!(a.access_context, None);
        let before = a.clone();
        for (key, bad) in [
            ("country_code", "+44"),
            ("country_code", "0044"),
            ("country_code", "4444"),
            ("access_context", "out,1"),
            ("access_context", "a b"),
            ("callback_window", "2"),
            ("callback_window", "121"),
            ("callback_delay", "0"),
            ("callback_delay", "61"),
        ] {
            assert!(a.set(key, bad).unwrap().is_err(), "{key} = {bad}");
            assert_eq!(a, before);
        }
        a.set("access_context", "mobile-access").unwrap().unwrap();
        assert_eq!(a.access_context.as_deref(), Some("mobile-access"));
        a.set("access_context", "").unwrap().unwrap();
        assert_eq!(a.access_context, None);
        assert!(a.set("nonsense", "1").is_none());
    }
}

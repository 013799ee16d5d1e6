//! Who may reach a user's remote destinations (`block_callers`, `allow_callers`), as
//! Cisco's access lists and IP Office's DND exceptions decide it: a list of numbers,
//! prefixes written `0161*`, and the word `anonymous` for a caller with no number.
//!
//! An entry is only digits (an optional leading `+`), so nothing in a list can ever reach
//! a dial string; its separators are parsed away here.

use std::fmt;

/// Most entries in one list.
pub const MAX_ENTRIES: usize = 50;
/// Most digits in one entry.
const MAX_DIGITS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Number(String),
    Prefix(String),
    Anonymous,
}

/// A validated caller list; empty means "no list".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerList {
    entries: Vec<Entry>,
}

impl CallerList {
    /// Comma-separated entries; white space around them is ignored. An entry that is not
    /// a number, a prefix or `anonymous` is refused with a reason, and so is the list.
    pub fn parse(raw: &str) -> Result<CallerList, String> {
        let mut entries = Vec::new();
        for item in raw.split(',').map(str::trim) {
            if item.is_empty() {
                if raw.trim().is_empty() {
                    break;
                }
                return Err("an entry is empty (two commas in a row?)".into());
            }
            let entry = if item.eq_ignore_ascii_case("anonymous") {
                Entry::Anonymous
            } else {
                let (digits, prefix) = match item.strip_suffix('*') {
                    Some(d) => (d, true),
                    None => (item, false),
                };
                let bare = digits.strip_prefix('+').unwrap_or(digits);
                if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!(
                        "'{}' is not a number, a prefix like 0161* or anonymous",
                        crate::printable(item)
                    ));
                }
                if bare.len() > MAX_DIGITS {
                    return Err(format!("'{item}' is longer than {MAX_DIGITS} digits"));
                }
                if prefix {
                    Entry::Prefix(bare.into())
                } else {
                    Entry::Number(bare.into())
                }
            };
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        if entries.len() > MAX_ENTRIES {
            return Err(format!("a list holds at most {MAX_ENTRIES} entries"));
        }
        Ok(CallerList { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a caller with `number` is on the list. A number is compared without its
    /// leading `+`; a caller with no number (or one that is not digits, such as
    /// `anonymous` or `restricted`) is `anonymous`.
    pub fn matches(&self, number: &str) -> bool {
        let number = number.trim();
        let bare = number.strip_prefix('+').unwrap_or(number);
        let anonymous = bare.is_empty() || !bare.chars().all(|c| c.is_ascii_digit());
        self.entries.iter().any(|e| match e {
            Entry::Anonymous => anonymous,
            Entry::Number(n) => !anonymous && bare == n,
            Entry::Prefix(p) => !anonymous && bare.starts_with(p.as_str()),
        })
    }
}

impl fmt::Display for CallerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match e {
                Entry::Number(n) => f.write_str(n)?,
                Entry::Prefix(p) => write!(f, "{p}*")?,
                Entry::Anonymous => f.write_str("anonymous")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_prefixes_and_anonymous_match_as_written() {
        let l = CallerList::parse(" 0161*, +447700900123 ,anonymous").unwrap();
        assert_eq!(l.to_string(), "0161*,447700900123,anonymous");
        assert!(l.matches("01614960000"));
        assert!(l.matches("447700900123") && l.matches("+447700900123"));
        assert!(!l.matches("4477009001234"), "a number is exact");
        assert!(l.matches("") && l.matches("anonymous") && l.matches("Restricted"));
        assert!(!l.matches("02079460000"));
        assert!(!CallerList::parse("0161*").unwrap().matches(""), "anonymous only when listed");
        assert!(CallerList::parse("").unwrap().is_empty());
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["0161**", "0161,,0207", "abc", "*", "+", "0207&PJSIP/x", "0161 496", "1;2", "0161*9"] {
            assert!(CallerList::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(CallerList::parse(
            &vec!["1"; 51].iter().enumerate().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(",")
        )
        .is_err());
    }
}

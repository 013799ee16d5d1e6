//! Destination policy: which outside numbers a twinned call may ring.
//!
//! Twinning sends company calls to outside numbers, so every mobile number is checked here
//! when it is set, and again when a call is about to ring it (policy may have tightened
//! since). The checks are ordered from most to least specific: an explicit block always
//! wins, then the international rule, then the allow list.

use super::values::PhoneNumber;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// If not empty, a number must start with one of these.
    pub allowed_prefixes: Vec<String>,
    /// A number starting with any of these is never dialed (premium rate, satellite...).
    pub blocked_prefixes: Vec<String>,
    /// How an international number starts, e.g. `00` and `+`.
    pub international_prefixes: Vec<String>,
    /// Numbers that start with an international prefix but are domestic, e.g. `+44`.
    pub home_prefixes: Vec<String>,
    pub allow_international: bool,
    pub min_digits: usize,
    pub max_digits: usize,
}

impl Default for DestinationPolicy {
    fn default() -> Self {
        DestinationPolicy {
            allowed_prefixes: Vec::new(),
            blocked_prefixes: Vec::new(),
            international_prefixes: vec!["00".into(), "+".into()],
            home_prefixes: Vec::new(),
            allow_international: false,
            min_digits: 3,
            max_digits: 15,
        }
    }
}

impl DestinationPolicy {
    /// Ok if `number` may be rung; otherwise the reason, fit to show the admin.
    pub fn check(&self, number: &PhoneNumber) -> Result<(), String> {
        let n = number.as_str();
        let digits = number.digits().len();
        if digits < self.min_digits || digits > self.max_digits {
            return Err(format!(
                "{n} has {digits} digits; policy allows {} to {}",
                self.min_digits, self.max_digits
            ));
        }
        if let Some(p) = longest_prefix(&self.blocked_prefixes, n) {
            return Err(format!("{n} starts with blocked prefix {p}"));
        }
        let international = longest_prefix(&self.international_prefixes, n).is_some()
            && longest_prefix(&self.home_prefixes, n).is_none();
        if international && !self.allow_international {
            return Err(format!("{n} is an international number and allow_international is off"));
        }
        if !self.allowed_prefixes.is_empty() && longest_prefix(&self.allowed_prefixes, n).is_none() {
            return Err(format!(
                "{n} does not start with an allowed prefix ({})",
                self.allowed_prefixes.join(", ")
            ));
        }
        Ok(())
    }

    /// Parses a comma-separated prefix list; each prefix is digits with an optional `+`.
    pub fn parse_prefixes(s: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if p != "+" {
                PhoneNumber::parse(p).map_err(|e| format!("prefix '{p}': {e}"))?;
            }
            out.push(p.to_owned());
        }
        Ok(out)
    }
}

fn longest_prefix<'a>(prefixes: &'a [String], n: &str) -> Option<&'a str> {
    prefixes.iter().filter(|p| n.starts_with(p.as_str())).map(String::as_str).max_by_key(|p| p.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    #[test]
    fn block_beats_allow_and_home_exempts_international() {
        let policy = DestinationPolicy {
            allowed_prefixes: vec!["07".into(), "+447".into()],
            blocked_prefixes: vec!["070".into(), "+4470".into()],
            home_prefixes: vec!["+44".into(), "0044".into()],
            ..DestinationPolicy::default()
        };
        assert!(policy.check(&num("07700900123")).is_ok());
        assert!(policy.check(&num("+447700900123")).is_ok());
        assert!(policy.check(&num("07000000000")).unwrap_err().contains("blocked"));
        assert!(policy.check(&num("+4470000000")).unwrap_err().contains("blocked"));
        assert!(policy.check(&num("+33612345678")).unwrap_err().contains("international"));
        assert!(policy.check(&num("0033612345678")).unwrap_err().contains("international"));
        assert!(policy.check(&num("02071234567")).unwrap_err().contains("allowed prefix"));
        assert!(policy.check(&num("07")).unwrap_err().contains("digits"));
        assert!(policy.check(&num("0770090012345678")).unwrap_err().contains("digits"));
    }

    #[test]
    fn prefix_lists_refuse_junk() {
        assert_eq!(DestinationPolicy::parse_prefixes("00, +, +44").unwrap(), vec!["00", "+", "+44"]);
        assert!(DestinationPolicy::parse_prefixes("09&").is_err());
        assert!(DestinationPolicy::parse_prefixes("9 0").is_err());
    }
}

//! The PIN that guards changes made from a phone, and how it is kept.
//!
//! A PIN set at run time (a feature code, `TWINNING()`, AMI, ESL, the shared store) is
//! kept only as a salted argon2id hash, in memory and in every place it is written: the
//! journal, the AstDB mirror, the shared store and its local cache. So a copy of any of
//! them does not hand out the PIN, and two users with the same PIN have different hashes.
//! A PIN written in `twinning.conf` is the admin's own text in the admin's own file; it
//! is kept as written (hashing every user's at each reload would stall the reload for
//! seconds), may itself be a hash, and is never written anywhere else.
//!
//! Short PINs remain guessable offline from a stolen hash (10,000 four-digit guesses):
//! the hash stops casual reading and precomputed tables, not a patient attacker, which is
//! why the files stay 0600 and the book's hardening chapter says so.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// What every surface shows instead of a PIN that is set.
pub const MASK: &str = "****";

/// OWASP's argon2id minimum (19 MiB, 2 passes): about 20 ms a check on one core, which
/// the PIN guard's lockout makes the only cost that matters online.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Bounds on a stored hash's parameters: a hash is accepted back from storage (or from an
/// admin), and one asking for gigabytes would turn every PIN check into a denial of
/// service.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_PASSES: u32 = 16;
const MAX_LANES: u32 = 8;

#[derive(Clone, PartialEq, Eq)]
pub enum Pin {
    /// As written in `twinning.conf`: 4 to 12 digits.
    Clear(String),
    /// An argon2id hash in PHC form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    Hashed(String),
}

impl Pin {
    /// A PIN as a surface or a file gives it: 4 to 12 digits, or a stored argon2id hash.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.starts_with("$argon2") {
            check_hash(s)?;
            return Ok(Pin::Hashed(s.to_owned()));
        }
        check_digits(s)?;
        Ok(Pin::Clear(s.to_owned()))
    }

    /// The form a runtime change keeps: a clear PIN hashed with a new salt, a hash as it is.
    pub fn hashed(self) -> Result<Self, String> {
        match self {
            Pin::Clear(digits) => hash(&digits).map(Pin::Hashed),
            hashed => Ok(hashed),
        }
    }

    /// The text kept for this PIN: the hash, or (only for the file's own) the digits.
    pub fn stored(&self) -> &str {
        match self {
            Pin::Clear(s) | Pin::Hashed(s) => s,
        }
    }

    pub fn is_hashed(&self) -> bool {
        matches!(self, Pin::Hashed(_))
    }

    /// Whether `attempt` is this PIN. A clear PIN compares without an early exit, so the
    /// time taken does not reveal how many leading digits were right; a hash is verified
    /// by argon2, whose time does not depend on the attempt.
    pub fn matches(&self, attempt: &str) -> bool {
        match self {
            Pin::Clear(pin) => {
                let (a, b) = (pin.as_bytes(), attempt.as_bytes());
                let mut diff = a.len() ^ b.len();
                for (i, x) in a.iter().enumerate() {
                    diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
                }
                diff == 0
            }
            Pin::Hashed(phc) => {
                let Ok(parsed) = PasswordHash::new(phc) else { return false };
                // Only digits can ever match; anything else still costs a verification,
                // so a wrong guess of any shape takes the same time.
                let well_formed = check_digits(attempt).is_ok();
                let verified = Argon2::default().verify_password(attempt.as_bytes(), &parsed).is_ok();
                well_formed && verified
            }
        }
    }
}

/// A change's value made ready to keep, before any lock is taken: a clear PIN is hashed
/// here (tens of milliseconds), so the settings lock is never held while it is. Every
/// other value is returned as it is.
pub fn prepare_value(field: super::Field, value: &str) -> Result<String, String> {
    if field != super::Field::Pin || value.is_empty() {
        return Ok(value.to_owned());
    }
    Ok(Pin::parse(value)?.hashed()?.stored().to_owned())
}

fn check_digits(s: &str) -> Result<(), String> {
    if !(4..=12).contains(&s.len()) || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err("a PIN is 4 to 12 digits".into());
    }
    Ok(())
}

fn check_hash(s: &str) -> Result<(), String> {
    const BAD: &str = "a stored PIN must be an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash)";
    let parsed = PasswordHash::new(s).map_err(|_| BAD.to_string())?;
    if parsed.algorithm.as_str() != "argon2id" || parsed.version != Some(0x13) || parsed.hash.is_none() {
        return Err(BAD.into());
    }
    let params = Params::try_from(&parsed).map_err(|_| BAD.to_string())?;
    if params.m_cost() > MAX_MEMORY_KIB || params.t_cost() > MAX_PASSES || params.p_cost() > MAX_LANES {
        return Err(format!(
            "a stored PIN hash may ask for at most m={MAX_MEMORY_KIB}, t={MAX_PASSES}, p={MAX_LANES}"
        ));
    }
    Ok(())
}

fn hash(digits: &str) -> Result<String, String> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(|e| e.to_string())?;
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(digits.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("the PIN could not be hashed: {e}"))
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_pin_compares_whole_value() {
        let pin = Pin::parse("1234").unwrap();
        assert!(pin.matches("1234"));
        assert!(!pin.matches("123"));
        assert!(!pin.matches("12345"));
        assert!(!pin.matches("1235"));
        assert!(Pin::parse("12a4").is_err());
        assert_eq!(format!("{pin:?}"), "Pin(****)");
    }

    #[test]
    fn a_hashed_pin_verifies_and_never_holds_the_digits() {
        let pin = Pin::parse("4321").unwrap().hashed().unwrap();
        assert!(pin.is_hashed());
        assert!(!pin.stored().contains("4321"), "{}", pin.stored());
        assert!(pin.stored().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", pin.stored());
        assert!(pin.matches("4321"));
        for wrong in ["4322", "432", "43210", "", "4321 ", "abcd"] {
            assert!(!pin.matches(wrong), "{wrong:?}");
        }
        // Read back from storage, it is the same PIN.
        let again = Pin::parse(pin.stored()).unwrap();
        assert!(again.matches("4321"));
        // Salted: the same PIN twice gives two hashes.
        let other = Pin::parse("4321").unwrap().hashed().unwrap();
        assert_ne!(pin.stored(), other.stored());
    }

    #[test]
    fn stored_hashes_are_bounded() {
        let good = Pin::parse("4321").unwrap().hashed().unwrap();
        let costly = good.stored().replace("m=19456", "m=4194304");
        assert!(Pin::parse(&costly).unwrap_err().contains("at most"));
        for bad in [
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
            "$argon2id$garbage",
            "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert!(Pin::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prepare_hashes_only_a_pin() {
        use crate::settings::Field;
        assert_eq!(prepare_value(Field::Mobile, "07700900123").unwrap(), "07700900123");
        assert_eq!(prepare_value(Field::Pin, "").unwrap(), "");
        assert!(prepare_value(Field::Pin, "12").is_err());
        let h = prepare_value(Field::Pin, "2468").unwrap();
        assert!(Pin::parse(&h).unwrap().matches("2468"));
        assert_eq!(prepare_value(Field::Pin, &h).unwrap(), h, "a hash is kept as it is");
    }
}

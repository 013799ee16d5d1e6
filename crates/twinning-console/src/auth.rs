//! Who may use `twinctl serve`: admin accounts (argon2 password hashes in the
//! configuration) that log in for a session, and API tokens known only by their hash.
//! Authentication attempts are rate-limited per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use password_hash::rand_core::{OsRng, RngCore};
use password_hash::{PasswordHash, SaltString};
use sha2::{Digest, Sha256};

use crate::config::{Admin, Token, TokenHash};

/// An argon2id hash (PHC string) of `password`, with a random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token: `twc_` and 64 hex digits (256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("twc_{}", hex(&bytes))
}

/// Comparison that takes as long whatever the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who a request acts as: an admin by login, or a token by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin(String),
    Token(String),
}

impl Principal {
    /// The name a change is audited with: `console:<login>` (or `console:token-<name>`).
    pub fn source(&self) -> String {
        match self {
            Principal::Admin(login) => format!("console:{login}"),
            Principal::Token(name) => format!("console:token-{name}"),
        }
    }
}

struct Session {
    login: String,
    expires: Instant,
}

/// The accounts, the tokens and the live sessions.
pub struct Authenticator {
    admins: Vec<Admin>,
    tokens: Vec<Token>,
    session_length: Duration,
    /// Sessions by the SHA-256 of their token: the tokens themselves are not kept.
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    /// Argon2-hashed API tokens already verified, by their SHA-256, so a client using
    /// one does not cost an argon2 run per request.
    verified: Mutex<HashMap<[u8; 32], String>>,
}

impl Authenticator {
    pub fn new(admins: Vec<Admin>, tokens: Vec<Token>, session_length: Duration) -> Authenticator {
        Authenticator {
            admins,
            tokens,
            session_length,
            sessions: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session lasts, in seconds.
    pub fn session_seconds(&self) -> u64 {
        self.session_length.as_secs()
    }

    /// Whether `login` and `password` are an admin's (the web pages' login).
    pub fn check_admin(&self, login: &str, password: &str) -> bool {
        let admin = self.admins.iter().find(|a| a.login == login);
        // An unknown login costs an argon2 run as a known one does, so timing does not
        // tell which logins exist.
        match admin {
            Some(a) => verify_password(password, &a.password_hash),
            None => {
                let _ = verify_password(password, DUMMY_HASH.get_or_init(|| hash_password("x")));
                false
            }
        }
    }

    /// An admin's login: a new session token, or None for a wrong login or password.
    pub fn login(&self, login: &str, password: &str) -> Option<String> {
        if !self.check_admin(login, password) {
            return None;
        }
        let token = new_token();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            sha256(token.as_bytes()),
            Session { login: login.into(), expires: now + self.session_length },
        );
        Some(token)
    }

    pub fn logout(&self, token: &str) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&sha256(token.as_bytes()));
    }

    /// Who `bearer` (a session or an API token) is, if anyone.
    pub fn check(&self, bearer: &str) -> Option<Principal> {
        let digest = sha256(bearer.as_bytes());
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = sessions.get(&digest) {
                if s.expires > Instant::now() {
                    return Some(Principal::Admin(s.login.clone()));
                }
                sessions.remove(&digest);
            }
        }
        let mut found = None;
        for t in &self.tokens {
            if let TokenHash::Sha256(h) = &t.hash {
                if same(h, &digest) && found.is_none() {
                    found = Some(t.name.clone());
                }
            }
        }
        if let Some(name) = found {
            return Some(Principal::Token(name));
        }
        if let Some(name) = self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(&digest) {
            return Some(Principal::Token(name.clone()));
        }
        if !bearer.starts_with("twc_") {
            return None;
        }
        for t in &self.tokens {
            if let TokenHash::Argon2(phc) = &t.hash {
                if verify_password(bearer, phc) {
                    self.verified.lock().unwrap_or_else(|e| e.into_inner()).insert(digest, t.name.clone());
                    return Some(Principal::Token(t.name.clone()));
                }
            }
        }
        None
    }
}

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Per-address token buckets: `per_minute` attempts, refilled evenly over a minute.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter { per_minute: per_minute.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    fn refill(&self, level: f64, since: Instant, now: Instant) -> f64 {
        let cap = f64::from(self.per_minute);
        (level + now.saturating_duration_since(since).as_secs_f64() * cap / 60.0).min(cap)
    }

    /// Whether `addr` may make an attempt now (without spending one).
    pub fn allowed(&self, addr: IpAddr, now: Instant) -> bool {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&addr) {
            None => true,
            Some(&(level, since)) => self.refill(level, since, now) >= 1.0,
        }
    }

    /// Spends one attempt of `addr`'s; false if it had none left.
    pub fn spend(&self, addr: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            let cap = f64::from(self.per_minute);
            buckets.retain(|_, (level, since)| self.refill(*level, *since, now) < cap);
        }
        let (level, since) = buckets.entry(addr).or_insert((f64::from(self.per_minute), now));
        let available = self.refill(*level, *since, now);
        *since = now;
        if available >= 1.0 {
            *level = available - 1.0;
            true
        } else {
            *level = available;
            false
        }
    }

    /// Seconds until `addr` has an attempt again.
    pub fn retry_after(&self, addr: IpAddr, now: Instant) -> u64 {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&addr) {
            None => 0,
            Some(&(level, since)) => {
                let missing = 1.0 - self.refill(level, since, now);
                if missing <= 0.0 {
                    0
                } else {
                    (missing * 60.0 / f64::from(self.per_minute)).ceil() as u64
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> (Authenticator, String, String) {
        let sha_token = new_token();
        let argon_token = new_token();
        let a = Authenticator::new(
            vec![Admin { login: "alice".into(), password_hash: hash_password("correct horse") }],
            vec![
                Token { name: "prometheus".into(), hash: TokenHash::Sha256(sha256(sha_token.as_bytes())) },
                Token { name: "cron".into(), hash: TokenHash::Argon2(hash_password(&argon_token)) },
            ],
            Duration::from_secs(60),
        );
        (a, sha_token, argon_token)
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("pw");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("pw", &h));
        assert!(!verify_password("pW", &h));
        assert!(!verify_password("pw", "not a hash"));
        assert_ne!(h, hash_password("pw"), "salted");
    }

    #[test]
    fn admins_log_in_for_a_session_and_out() {
        let (a, _, _) = authenticator();
        assert_eq!(a.login("alice", "wrong"), None);
        assert_eq!(a.login("mallory", "correct horse"), None);
        let session = a.login("alice", "correct horse").expect("a session");
        assert_eq!(a.check(&session), Some(Principal::Admin("alice".into())));
        assert_eq!(Principal::Admin("alice".into()).source(), "console:alice");
        a.logout(&session);
        assert_eq!(a.check(&session), None);
    }

    #[test]
    fn sessions_expire() {
        let a = Authenticator::new(
            vec![Admin { login: "alice".into(), password_hash: hash_password("pw") }],
            vec![],
            Duration::from_millis(1),
        );
        let session = a.login("alice", "pw").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(a.check(&session), None);
    }

    #[test]
    fn tokens_are_checked_against_their_hashes() {
        let (a, sha_token, argon_token) = authenticator();
        assert_eq!(a.check(&sha_token), Some(Principal::Token("prometheus".into())));
        assert_eq!(a.check(&argon_token), Some(Principal::Token("cron".into())));
        assert_eq!(a.check(&argon_token), Some(Principal::Token("cron".into())), "cached");
        assert_eq!(a.check(&new_token()), None);
        assert_eq!(a.check(""), None);
        assert_eq!(a.check(&sha_token[..sha_token.len() - 1]), None);
    }

    #[test]
    fn attempts_are_limited_per_address_and_refill() {
        let r = RateLimiter::new(3);
        let (one, two): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t = Instant::now();
        assert!(r.spend(one, t) && r.spend(one, t) && r.spend(one, t));
        assert!(!r.allowed(one, t));
        assert!(!r.spend(one, t));
        assert!(r.retry_after(one, t) >= 1);
        assert!(r.allowed(two, t) && r.spend(two, t), "another address is not limited");
        // One attempt back every 20 s at 3 a minute.
        assert!(r.allowed(one, t + Duration::from_secs(21)));
        assert!(r.spend(one, t + Duration::from_secs(21)));
        assert!(!r.spend(one, t + Duration::from_secs(22)));
        assert!(r.allowed(one, t + Duration::from_secs(300)));
    }

    #[test]
    fn tokens_are_random_and_long() {
        let t = new_token();
        assert_eq!(t.len(), 4 + 64);
        assert_ne!(t, new_token());
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }
}

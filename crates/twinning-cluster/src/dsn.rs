//! `settings_dsn` made into a client configuration with the timeouts a PBX needs: a
//! settings store that has gone away must cost a change a clear refusal in seconds, never
//! a hung AMI connection, and never a call.

use std::str::FromStr;
use std::time::Duration;

/// How long a connection attempt may take before the store counts as unavailable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long sent data may stay unacknowledged (a database host gone from the network)
/// before the connection is dropped.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(3);

/// Session settings: a lock or a statement waits at most this long, and a session idle in
/// a transaction (its node frozen) is ended.
const SERVER_TIMEOUTS: &str =
    "-c lock_timeout=2000 -c statement_timeout=4000 -c idle_in_transaction_session_timeout=10000";

/// A parsed DSN, and how to show it without its password.
#[derive(Clone)]
pub struct Dsn {
    config: postgres::Config,
    shown: String,
}

/// Only the masked text: the client's own Debug would print the password.
impl std::fmt::Debug for Dsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Dsn {
    /// Parses `dsn`; the error says what is wrong without repeating a password.
    pub fn parse(dsn: &str, node: &str) -> Result<Dsn, String> {
        let mut config = postgres::Config::from_str(dsn)
            .map_err(|e| format!("settings_dsn {} is not a usable PostgreSQL URL: {e}", mask(dsn)))?;
        if config.get_hosts().is_empty() {
            return Err(format!("settings_dsn {} names no host", mask(dsn)));
        }
        if config.get_ssl_mode() == postgres::config::SslMode::Require {
            // The client is built without TLS: refusing now beats a node that starts and
            // never connects.
            return Err(format!(
                "settings_dsn {}: sslmode=require is not supported by this version (no TLS to the \
                 database); reach it over a trusted network or a local tunnel, with sslmode=disable or prefer",
                mask(dsn)
            ));
        }
        if config.get_dbname().is_none() {
            return Err(format!("settings_dsn {} names no database (postgresql://user@host/db)", mask(dsn)));
        }
        // Bounds on the server side too: a node frozen inside a transaction must cost the
        // others a refused change, not a store thread stuck on its lock (and leases lapsing
        // for want of renewal).
        let options = format!("{} {SERVER_TIMEOUTS}", config.get_options().unwrap_or_default());
        config
            .options(options.trim())
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_user_timeout(TCP_USER_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .application_name(&format!("twinning {node}"));
        Ok(Dsn { config, shown: mask(dsn) })
    }

    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// The DSN as written, with any password replaced by `****`.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// `postgresql://user:secret@host/db` → `postgresql://user:****@host/db`; a `password=`
/// parameter is masked too.
pub fn mask(dsn: &str) -> String {
    let mut out = dsn.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "****");
            }
        }
    }
    mask_password_parameters(&out)
}

/// Masks every `password` parameter, as libpq reads them: the key in any case, spaces
/// around `=` (`password = x`), and a value quoted with `'…'` (with `\'` inside) or
/// running to the next space or `&`.
fn mask_password_parameters(dsn: &str) -> String {
    const KEY: &str = "password";
    let lower = dsn.to_ascii_lowercase();
    let bytes = dsn.as_bytes();
    let mut out = String::with_capacity(dsn.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(KEY) {
        let key = from + found;
        from = key + KEY.len();
        // A key of its own, not the end of another word.
        if key > 0 && (bytes[key - 1].is_ascii_alphanumeric() || bytes[key - 1] == b'_') {
            continue;
        }
        let mut i = from;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let start = i;
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
        } else {
            while i < bytes.len() && !matches!(bytes[i], b' ' | b'&') {
                i += 1;
            }
        }
        out.push_str(&dsn[copied..start]);
        out.push_str("****");
        copied = i;
        from = i;
    }
    out.push_str(&dsn[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(mask("postgresql://tw:s3cret@db:5432/tw"), "postgresql://tw:****@db:5432/tw");
        assert_eq!(
            mask("postgresql://tw@db/tw?password=x&sslmode=disable"),
            "postgresql://tw@db/tw?password=****&sslmode=disable"
        );
        assert_eq!(mask("postgresql://db/tw"), "postgresql://db/tw");
        assert_eq!(mask("host=db password = x dbname=tw"), "host=db password = **** dbname=tw");
        assert_eq!(mask("host=db PASSWORD='a b\\' c' dbname=tw"), "host=db PASSWORD=**** dbname=tw");
        assert_eq!(mask("password=x password=y"), "password=**** password=****");
        assert_eq!(mask("host=db mypassword=x"), "host=db mypassword=x", "another key");
        assert_eq!(mask("password="), "password=****");
    }

    #[test]
    fn a_bad_dsn_is_named_without_its_password() {
        let e = Dsn::parse("postgresql://tw:s3cret@db:notaport/tw", "a").unwrap_err();
        assert!(e.contains("not a usable") && !e.contains("s3cret"), "{e}");
        assert!(Dsn::parse("postgresql://tw@db", "a").unwrap_err().contains("no database"));
        assert!(Dsn::parse("postgresql://tw@127.0.0.1:5432/tw", "a").is_ok());
        assert!(Dsn::parse("postgresql://tw@db/tw?sslmode=require", "a")
            .unwrap_err()
            .contains("not supported"));
    }
}

//! What `twinning show store` and `twinning store` print of a PostgreSQL store.

use std::fmt::Write;
use std::time::SystemTime;

use crate::Connection;

#[derive(Debug, Clone)]
pub struct StoreStatus {
    pub node: String,
    /// The DSN, password masked.
    pub dsn: String,
    pub connection: Connection,
    pub last_sync: Option<SystemTime>,
    pub schema_version: Option<i32>,
    /// Remote legs this node holds a slot for.
    pub held: u32,
    /// Of those, how many the database holds a lease for (fewer after an outage, until
    /// the reconnect re-registers them).
    pub leased: u32,
    /// Live leases across the site at the last renewal.
    pub site_leases: Option<i64>,
    pub pending_audit: usize,
    pub dropped_audit: u64,
    pub applied_remote: u64,
    /// Connections made again after the first.
    pub reconnects: u64,
}

/// `2026-12-03 08:15:02 UTC (3 s ago)`.
pub fn when(t: SystemTime, now: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let ago = now.duration_since(t).map(|d| d.as_secs()).unwrap_or(0);
    format!("{} ({ago} s ago)", utc(secs))
}

/// Seconds since the epoch as a UTC date and time (days to civil date: Howard Hinnant's
/// algorithm).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem / 60 % 60, rem % 60)
}

impl StoreStatus {
    /// One `Key: value` per line, the same on both PBXes.
    pub fn render(&self, max: u32) -> String {
        let now = SystemTime::now();
        let mut out = String::new();
        let _ = writeln!(out, "Backend: postgresql");
        let _ = writeln!(out, "Node: {}", self.node);
        let _ = writeln!(out, "DSN: {}", self.dsn);
        match &self.connection {
            Connection::Connecting => {
                let _ = writeln!(out, "State: connecting");
            }
            Connection::Connected { since } => {
                let _ = writeln!(out, "State: connected");
                let _ = writeln!(out, "Since: {}", when(*since, now));
            }
            Connection::Unavailable { since, error } => {
                let _ = writeln!(out, "State: unavailable");
                let _ = writeln!(out, "Since: {}", when(*since, now));
                let _ = writeln!(out, "Error: {error}");
            }
        }
        let _ = writeln!(out, "Last sync: {}", self.last_sync.map_or("never".into(), |t| when(t, now)));
        let _ = writeln!(out, "Schema: {}", self.schema_version.map_or("unknown".into(), |v| v.to_string()));
        let _ = writeln!(out, "Changes from other nodes: {}", self.applied_remote);
        let _ = writeln!(
            out,
            "Leases: {} held here ({} in the database), {} across the site, max {max}",
            self.held,
            self.leased,
            self.site_leases.map_or("unknown".into(), |n| n.to_string())
        );
        let _ = writeln!(out, "Audit records waiting: {}", self.pending_audit);
        if self.dropped_audit > 0 {
            let _ = writeln!(out, "Audit records lost (outage too long): {}", self.dropped_audit);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(1_796_285_702), "2026-12-03 08:15:02 UTC");
    }
}

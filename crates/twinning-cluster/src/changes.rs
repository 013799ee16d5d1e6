//! Settings changes in the database: one transaction writes the override, its audit row
//! and the notification, so a change is either in all three or in none. Writers across
//! the site are serialized by an advisory lock taken before the sequence number, so
//! commits happen in sequence order and "everything after seq N" never skips one that
//! committed late.

use std::time::SystemTime;

use postgres::Client;

use crate::audit::AuditRecord;

/// The channel every node LISTENs on; the payload is the change's sequence number.
pub const CHANNEL: &str = "twinning_settings";
/// The advisory lock key of change writes.
const WRITE_LOCK: i64 = 128_056_218_746_883;

/// An override as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOverride {
    pub user: String,
    pub field: String,
    pub value: String,
    pub seq: i64,
    /// The node whose change this was.
    pub node: String,
}

/// A change to write: the override (canonical text) and what the audit row shows.
#[derive(Debug, Clone)]
pub struct ChangeWrite {
    pub user: String,
    pub field: String,
    pub value: String,
    pub audit: AuditRecord,
}

/// Writes one change; its sequence number once committed.
pub fn write(client: &mut Client, node: &str, w: &ChangeWrite) -> Result<i64, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    let seq: i64 = tx.query_one("SELECT nextval('twinning_change_seq')", &[])?.get(0);
    tx.execute(
        "INSERT INTO twinning_overrides (user_id, field, value, seq, node, changed_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (user_id, field)
         DO UPDATE SET value = EXCLUDED.value, seq = EXCLUDED.seq, node = EXCLUDED.node,
                       changed_at = EXCLUDED.changed_at",
        &[&w.user, &w.field, &w.value, &seq, &node],
    )?;
    crate::audit::insert(&mut tx, node, &w.audit, Some(seq))?;
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])?;
    tx.commit()?;
    Ok(seq)
}

/// Every change committed after `seq`, in order.
pub fn since(client: &mut Client, seq: i64) -> Result<Vec<StoredOverride>, postgres::Error> {
    rows(client.query(
        "SELECT user_id, field, value, seq, node FROM twinning_overrides WHERE seq > $1 ORDER BY seq",
        &[&seq],
    )?)
}

/// Every override in force.
/// Rewrites a stored value in another form of the same setting, if it is still `old`.
pub fn rewrite(
    client: &mut Client,
    user: &str,
    field: &str,
    old: &str,
    new: &str,
) -> Result<(), postgres::Error> {
    client.execute(
        "UPDATE twinning_overrides SET value = $4 WHERE user_id = $1 AND field = $2 AND value = $3",
        &[&user, &field, &old, &new],
    )?;
    Ok(())
}

pub fn snapshot(client: &mut Client) -> Result<Vec<StoredOverride>, postgres::Error> {
    rows(client.query("SELECT user_id, field, value, seq, node FROM twinning_overrides ORDER BY seq", &[])?)
}

fn rows(rows: Vec<postgres::Row>) -> Result<Vec<StoredOverride>, postgres::Error> {
    rows.into_iter()
        .map(|r| {
            Ok(StoredOverride {
                user: r.try_get(0)?,
                field: r.try_get(1)?,
                value: r.try_get(2)?,
                seq: r.try_get(3)?,
                node: r.try_get(4)?,
            })
        })
        .collect()
}

/// The time a change was asked for, for the audit row.
pub fn now() -> SystemTime {
    SystemTime::now()
}

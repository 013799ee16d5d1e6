//! The site-wide mobile cap as leases: one row per remote leg ringing or up, carrying the
//! node's name and an expiry the node keeps pushing forward. A node that dies (kill -9, a
//! power cut) stops renewing, and its leases stop counting within [`TTL`].

use std::time::Duration;

use postgres::{Client, GenericClient};

/// How long a lease counts after its last renewal.
pub const TTL: Duration = Duration::from_secs(15);
/// How often a node renews its leases (and reaps the expired ones of dead nodes).
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

fn ttl_ms() -> i32 {
    TTL.as_millis() as i32
}

/// Takes a lease if the site holds fewer than `max`; its id, or `None` when full.
pub fn acquire(client: &mut Client, node: &str, max: u32) -> Result<Option<i64>, postgres::Error> {
    let max = i32::try_from(max).unwrap_or(i32::MAX);
    let row = client.query_one("SELECT twinning_acquire_lease($1, $2, $3)", &[&node, &max, &ttl_ms()])?;
    row.try_get(0)
}

pub fn release(client: &mut Client, id: i64) -> Result<(), postgres::Error> {
    client.execute("DELETE FROM twinning_leases WHERE id = $1", &[&id])?;
    Ok(())
}

/// Makes the database hold exactly `held` leases for this node (after a reconnect: those
/// taken while it was away, none left from before a restart); their ids.
pub fn replace(client: &mut Client, node: &str, held: u32) -> Result<Vec<i64>, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("DELETE FROM twinning_leases WHERE node = $1", &[&node])?;
    let ids = add(&mut tx, node, held)?;
    tx.commit()?;
    Ok(ids)
}

/// Adds `n` leases for slots this node took while it could not ask (the database away, or
/// slow to answer): they are up already, so the bound is not checked.
pub fn add(client: &mut impl GenericClient, node: &str, n: u32) -> Result<Vec<i64>, postgres::Error> {
    let mut ids = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let row = client.query_one(
            "INSERT INTO twinning_leases (node, expires_at)
             VALUES ($1, clock_timestamp() + $2::integer * interval '1 millisecond') RETURNING id",
            &[&node, &ttl_ms()],
        )?;
        ids.push(row.try_get(0)?);
    }
    Ok(ids)
}

/// Pushes this node's leases' expiry forward, reaps every expired lease, marks the node
/// seen; the site's count of live leases.
pub fn renew(client: &mut Client, node: &str) -> Result<i64, postgres::Error> {
    client.execute(
        "UPDATE twinning_leases SET expires_at = clock_timestamp() + $2::integer * interval '1 millisecond'
         WHERE node = $1",
        &[&node, &ttl_ms()],
    )?;
    client.execute("DELETE FROM twinning_leases WHERE expires_at <= clock_timestamp()", &[])?;
    client.execute(
        "INSERT INTO twinning_nodes (node, started_at, seen_at) VALUES ($1, now(), now())
         ON CONFLICT (node) DO UPDATE SET seen_at = now()",
        &[&node],
    )?;
    let row =
        client.query_one("SELECT count(*) FROM twinning_leases WHERE expires_at > clock_timestamp()", &[])?;
    row.try_get(0)
}

/// Records the node's start (for `twinning show store`).
pub fn register_node(client: &mut Client, node: &str) -> Result<(), postgres::Error> {
    client.execute(
        "INSERT INTO twinning_nodes (node, started_at, seen_at) VALUES ($1, now(), now())
         ON CONFLICT (node) DO UPDATE SET started_at = now(), seen_at = now()",
        &[&node],
    )?;
    Ok(())
}

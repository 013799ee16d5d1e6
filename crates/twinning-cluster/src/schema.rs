//! The schema, created and migrated by the module itself: every node runs the same steps
//! at connect, under an advisory lock, so two nodes starting together cannot race, and a
//! node older than the database refuses to touch it.

use postgres::Client;

/// The advisory lock key of schema changes ("twin" in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x7477_696e_0001;

/// Each step brings the schema from version `n` to `n + 1`. Steps are only ever added.
const STEPS: &[&str] = &[
    // 1: overrides in force, the change sequence, the audit trail, cap leases, nodes.
    r#"
    CREATE SEQUENCE twinning_change_seq;
    CREATE TABLE twinning_overrides (
        user_id    text        NOT NULL,
        field      text        NOT NULL,
        value      text        NOT NULL,
        seq        bigint      NOT NULL UNIQUE,
        node       text        NOT NULL,
        changed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, field)
    );
    CREATE TABLE twinning_audit (
        id        bigserial   PRIMARY KEY,
        at        timestamptz NOT NULL,
        node      text        NOT NULL,
        surface   text        NOT NULL,
        channel   text        NOT NULL DEFAULT '',
        user_id   text        NOT NULL,
        field     text        NOT NULL,
        old_value text,
        new_value text,
        outcome   text        NOT NULL CHECK (outcome IN ('changed', 'refused')),
        reason    text,
        seq       bigint
    );
    CREATE INDEX twinning_audit_user ON twinning_audit (user_id, at);
    CREATE TABLE twinning_leases (
        id          bigserial   PRIMARY KEY,
        node        text        NOT NULL,
        acquired_at timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL
    );
    CREATE INDEX twinning_leases_node ON twinning_leases (node);
    CREATE TABLE twinning_nodes (
        node       text        PRIMARY KEY,
        started_at timestamptz NOT NULL,
        seen_at    timestamptz NOT NULL
    );
    CREATE FUNCTION twinning_acquire_lease(p_node text, p_max integer, p_ttl_ms integer)
    RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        held  integer;
        lease bigint;
    BEGIN
        -- One node at a time counts and takes: the count is then exact across the site.
        PERFORM pg_advisory_xact_lock(128056218746882);
        SELECT count(*) INTO held FROM twinning_leases WHERE expires_at > clock_timestamp();
        IF held >= p_max THEN
            RETURN NULL;
        END IF;
        INSERT INTO twinning_leases (node, expires_at)
        VALUES (p_node, clock_timestamp() + p_ttl_ms * interval '1 millisecond')
        RETURNING id INTO lease;
        RETURN lease;
    END $$;
    "#,
];

pub const VERSION: i32 = STEPS.len() as i32;

/// Creates or migrates the schema; the version now in force.
pub fn migrate(client: &mut Client) -> Result<i32, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    // Looked up rather than `IF NOT EXISTS`, whose notice would reach the PBX's log at
    // every connect.
    let exists: bool = tx.query_one("SELECT to_regclass('twinning_schema') IS NOT NULL", &[])?.get(0);
    if !exists {
        tx.batch_execute("CREATE TABLE twinning_schema (version integer NOT NULL)")?;
    }
    let current: i32 = match tx.query_opt("SELECT version FROM twinning_schema", &[])? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO twinning_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    if current > VERSION {
        // A newer module migrated it: this one must not write what it does not know.
        tx.rollback()?;
        return Ok(current);
    }
    for (n, step) in STEPS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(step)?;
        log::info!("twinning: settings store schema migrated to version {}", n + 1);
    }
    tx.execute("UPDATE twinning_schema SET version = $1", &[&VERSION])?;
    tx.commit()?;
    Ok(VERSION)
}

//! The audit table: every change and every refusal, on any node, with the surface it came
//! from. A PIN never reaches it unmasked: callers pass the values as events show them.

use std::time::SystemTime;

use postgres::GenericClient;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    Refused { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: SystemTime,
    /// `dialplan`, `cli`, `ami`, `esl`, `reload`.
    pub surface: String,
    /// The channel of a dialplan change; empty otherwise.
    pub channel: String,
    pub user: String,
    pub field: String,
    /// Masked where the field is a PIN; `None` where there was none (a refusal before the
    /// user or field was known).
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub outcome: Outcome,
}

pub fn insert(
    client: &mut impl GenericClient,
    node: &str,
    r: &AuditRecord,
    seq: Option<i64>,
) -> Result<(), postgres::Error> {
    let (outcome, reason) = match &r.outcome {
        Outcome::Changed => ("changed", None),
        Outcome::Refused { reason } => ("refused", Some(reason.as_str())),
    };
    client.execute(
        "INSERT INTO twinning_audit
           (at, node, surface, channel, user_id, field, old_value, new_value, outcome, reason, seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &r.at,
            &node,
            &r.surface,
            &r.channel,
            &r.user,
            &r.field,
            &r.old_value,
            &r.new_value,
            &outcome,
            &reason,
            &seq,
        ],
    )?;
    Ok(())
}

/// What to read of the audit table: each empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub user: String,
    /// Part of the surface (`web:`, `console:alice`, `ami`).
    pub surface: String,
    /// `changed` or `refused`.
    pub outcome: String,
    pub field: String,
    pub limit: i64,
}

/// One row of the audit table, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub at: SystemTime,
    pub node: String,
    pub surface: String,
    pub channel: String,
    pub user: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
}

/// The newest rows that match `q`, newest first. The filters are parameters, never SQL
/// text; the surface is matched as a plain substring (no LIKE patterns).
pub fn recent(client: &mut impl GenericClient, q: &AuditQuery) -> Result<Vec<AuditRow>, postgres::Error> {
    let rows = client.query(
        "SELECT at, node, surface, channel, user_id, field, old_value, new_value, outcome, reason
           FROM twinning_audit
          WHERE ($1 = '' OR user_id = $1)
            AND ($2 = '' OR strpos(surface, $2) > 0)
            AND ($3 = '' OR outcome = $3)
            AND ($4 = '' OR field = $4)
          ORDER BY id DESC
          LIMIT $5",
        &[&q.user, &q.surface, &q.outcome, &q.field, &q.limit.clamp(1, 5000)],
    )?;
    Ok(rows
        .iter()
        .map(|r| AuditRow {
            at: r.get(0),
            node: r.get(1),
            surface: r.get(2),
            channel: r.get(3),
            user: r.get(4),
            field: r.get(5),
            old_value: r.get(6),
            new_value: r.get(7),
            outcome: r.get(8),
            reason: r.get(9),
        })
        .collect())
}

/// Connects to the store at `dsn` and reads [`recent`] rows, for a reader outside the
/// modules (twinctl's audit page). The error names the store by its masked DSN.
pub fn read(dsn: &str, q: &AuditQuery) -> Result<Vec<AuditRow>, String> {
    let dsn = crate::Dsn::parse(dsn, "twinctl")?;
    let mut client = dsn
        .config()
        .connect(postgres::NoTls)
        .map_err(|e| format!("the store {} cannot be reached: {e}", dsn.shown()))?;
    recent(&mut client, q).map_err(|e| format!("the store {} could not be read: {e}", dsn.shown()))
}

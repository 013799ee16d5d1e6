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

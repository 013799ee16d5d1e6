use std::fmt;

/// Why a setting could not be read or changed. Every variant's message is meant for the
/// admin who typed the value: it names what was wrong and, where useful, what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingError {
    UnknownUser(String),
    UnknownField(String),
    /// The field exists but may only be set in the configuration file.
    AdminOnly(&'static str),
    InvalidValue {
        field: &'static str,
        reason: String,
    },
}

impl SettingError {
    pub(crate) fn invalid(field: Field, reason: impl Into<String>) -> Self {
        SettingError::InvalidValue { field: field.name(), reason: reason.into() }
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::UnknownUser(u) => write!(f, "unknown twinning user '{}'", printable(u)),
            SettingError::UnknownField(name) => write!(
                f,
                "unknown field '{}' (fields: {})",
                printable(name),
                Field::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            ),
            SettingError::AdminOnly(name) => {
                write!(f, "field '{name}' can only be set in twinning.conf by the administrator")
            }
            SettingError::InvalidValue { field, reason } => {
                write!(f, "invalid value for '{field}': {reason}")
            }
        }
    }
}

impl std::error::Error for SettingError {}

use super::Field;

/// Renders untrusted input for a log or error line without letting it forge extra lines or
/// terminal escapes, and without letting an attacker flood the log.
pub fn printable(s: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

//! The live settings: the configuration file with the runtime overrides made through
//! `TWINNING()`, the CLI, AMI or ESL layered on top.
//!
//! Overrides are kept as canonical text per user and field, which is also how the host
//! persists them, and re-validated whenever the configuration changes under them: a number
//! that a tightened policy now refuses stops being dialed at the reload, not at the bill.

use std::collections::BTreeMap;

use super::error::printable;
use super::user::mask_secret;
use super::{Config, Field, General, SettingError, UserId, UserSettings};

#[derive(Debug, Clone)]
pub struct Settings {
    config: Config,
    overrides: BTreeMap<UserId, BTreeMap<Field, String>>,
    effective: BTreeMap<UserId, UserSettings>,
}

/// A change that was applied, for the audit trail and for persisting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub user: UserId,
    pub field: Field,
    pub old: String,
    /// Canonical text, as persisted.
    pub new: String,
}

impl Change {
    /// The old and new values as events and logs may show them (a PIN is masked).
    pub fn shown(&self) -> (String, String) {
        (mask_secret(self.field, &self.old), mask_secret(self.field, &self.new))
    }
}

/// A stored override that could not be applied; it is reported and otherwise ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideProblem {
    pub user: String,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for OverrideProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stored override {}.{} ignored: {}", self.user, self.field, self.reason)
    }
}

impl Settings {
    pub fn new(config: Config) -> Self {
        let effective = config.users.clone();
        Settings { config, overrides: BTreeMap::new(), effective }
    }

    pub fn general(&self) -> &General {
        &self.config.general
    }

    /// The configuration under the overrides (to rebuild them from another source).
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn users(&self) -> impl Iterator<Item = (&UserId, &UserSettings)> {
        self.effective.iter()
    }

    pub fn user(&self, user: &str) -> Option<&UserSettings> {
        self.effective.get(&UserId::parse(user).ok()?)
    }

    /// Looks up a user and field by the names a surface was given.
    pub fn resolve(&self, user: &str, field: &str) -> Result<(UserId, Field), SettingError> {
        let id = UserId::parse(user).map_err(|_| SettingError::UnknownUser(user.to_owned()))?;
        if !self.effective.contains_key(&id) {
            return Err(SettingError::UnknownUser(user.to_owned()));
        }
        let field = Field::parse(field).ok_or_else(|| SettingError::UnknownField(field.to_owned()))?;
        Ok((id, field))
    }

    /// The value of a field as any surface may read it: canonical text, but a PIN that is
    /// set reads `****` and never its digits or its hash.
    pub fn get(&self, user: &str, field: &str) -> Result<String, SettingError> {
        let (id, field) = self.resolve(user, field)?;
        Ok(self.effective[&id].display(field))
    }

    /// Validates and applies a runtime change. On error nothing changes.
    pub fn set(&mut self, user: &str, field: &str, value: &str) -> Result<Change, SettingError> {
        let (id, field) = self.resolve(user, field)?;
        if !field.runtime_writable() {
            return Err(SettingError::AdminOnly(field.name()));
        }
        let current = &self.effective[&id];
        let mut updated = current.clone();
        updated.set(field, value, &self.config.general.policy)?;
        keep_pin_hashed(&mut updated, field)?;
        let change = Change { user: id.clone(), field, old: current.get(field), new: updated.get(field) };
        self.overrides.entry(id.clone()).or_default().insert(field, change.new.clone());
        self.effective.insert(id, updated);
        Ok(change)
    }

    /// Re-applies an override read back from persistent storage at start-up. An invalid
    /// one is not applied and not kept.
    pub fn restore(&mut self, user: &str, field: &str, value: &str) -> Result<(), OverrideProblem> {
        let problem =
            |reason: String| OverrideProblem { user: printable(user), field: printable(field), reason };
        let id = UserId::parse(user).map_err(problem)?;
        let field = Field::parse(field).ok_or_else(|| problem("no such field".into()))?;
        if !field.runtime_writable() {
            return Err(problem("this field is admin-only and cannot be overridden".into()));
        }
        if let Some(current) = self.effective.get(&id) {
            let mut updated = current.clone();
            updated.set(field, value, &self.config.general.policy).map_err(|e| problem(e.to_string()))?;
            // A PIN an older version kept in clear is hashed here, and the host's next
            // compaction writes the hash over it: the migration at load.
            keep_pin_hashed(&mut updated, field).map_err(|e| problem(e.to_string()))?;
            let kept = updated.get(field);
            self.effective.insert(id.clone(), updated);
            self.overrides.entry(id).or_default().insert(field, kept);
            return Ok(());
        }
        // Overrides of users missing from the file are remembered: the admin may be
        // mid-edit, and the user's choices come back with the section.
        let kept = if field == Field::Pin {
            super::prepare_value(field, value).map_err(problem)?
        } else {
            value.to_owned()
        };
        self.overrides.entry(id).or_default().insert(field, kept);
        Ok(())
    }

    /// Replaces the configuration (a reload), keeping every override that is still valid.
    /// One that no longer validates (say, a number a tightened policy now blocks) is
    /// dropped and reported, so the configured value applies again.
    pub fn replace_config(&mut self, config: Config) -> Vec<OverrideProblem> {
        self.config = config;
        self.effective = self.config.users.clone();
        let mut problems = Vec::new();
        for (id, overrides) in self.overrides.iter_mut() {
            let Some(user) = self.effective.get_mut(id) else { continue };
            overrides.retain(|field, value| match user.set(*field, value, &self.config.general.policy) {
                Ok(()) => true,
                Err(e) => {
                    problems.push(OverrideProblem {
                        user: id.to_string(),
                        field: field.name().into(),
                        reason: e.to_string(),
                    });
                    false
                }
            });
        }
        problems
    }

    /// Runtime overrides in force (and those kept for users missing from the file).
    pub fn overrides(&self) -> impl Iterator<Item = (&UserId, Field, &str)> {
        self.overrides.iter().flat_map(|(u, m)| m.iter().map(move |(f, v)| (u, *f, v.as_str())))
    }
}

/// A runtime PIN is kept only as its hash (see [`super::Pin`]). Surfaces hash it before
/// taking the settings lock ([`super::prepare_value`]); this catches any path that did not.
fn keep_pin_hashed(user: &mut UserSettings, field: Field) -> Result<(), SettingError> {
    if field == Field::Pin {
        if let Some(pin) = user.pin.take() {
            user.pin = Some(pin.hashed().map_err(|e| SettingError::invalid(field, e))?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RawConfig;

    fn config(extra_general: &str) -> Config {
        let text = format!(
            "[general]\nmobile_dial=PJSIP/{{number}}@trunk\n{extra_general}\n[1001]\ndesk=PJSIP/1001\nmobile=07700900123\n"
        );
        Config::from_raw(&RawConfig::parse_conf(&text).unwrap()).unwrap()
    }

    #[test]
    fn set_get_and_refusals() {
        let mut s = Settings::new(config(""));
        let change = s.set("1001", "ENABLED", "on").unwrap();
        assert_eq!((change.old.as_str(), change.new.as_str()), ("no", "yes"));
        assert_eq!(s.get("1001", "enabled").unwrap(), "yes");
        assert_eq!(s.set("1001", "desk", "PJSIP/9"), Err(SettingError::AdminOnly("desk")));
        assert!(matches!(s.set("9999", "enabled", "yes"), Err(SettingError::UnknownUser(_))));
        assert!(matches!(s.set("1001", "colour", "red"), Err(SettingError::UnknownField(_))));
        assert!(s.set("1001", "mobile", "07700&PJSIP/1").is_err());
        assert_eq!(s.get("1001", "mobile").unwrap(), "07700900123");
        let pin = s.set("1001", "pin", "1234").unwrap();
        assert_eq!(pin.shown(), (String::new(), "****".into()));
    }

    #[test]
    fn overrides_survive_reload_and_are_revalidated() {
        let mut s = Settings::new(config(""));
        s.set("1001", "mobile", "07811111111").unwrap();
        s.set("1001", "ring_time", "40").unwrap();
        assert!(s.replace_config(config("")).is_empty());
        assert_eq!(s.get("1001", "mobile").unwrap(), "07811111111");
        let problems = s.replace_config(config("blocked_prefixes=078"));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "mobile");
        assert_eq!(s.get("1001", "mobile").unwrap(), "07700900123", "the configured number applies again");
        assert_eq!(s.get("1001", "ring_time").unwrap(), "40", "other overrides still apply");
    }

    #[test]
    fn restore_reports_corrupt_entries() {
        let mut s = Settings::new(config(""));
        assert!(s.restore("1001", "enabled", "yes").is_ok());
        assert!(s.restore("1001", "ring_time", "forever").is_err());
        assert!(s.restore("1001", "nonsense", "1").is_err());
        assert!(s.restore("1001", "desk", "PJSIP/evil").is_err());
        assert!(s.restore("bad user!", "enabled", "yes").is_err());
        assert_eq!(s.get("1001", "enabled").unwrap(), "yes");
        assert_eq!(s.get("1001", "ring_time").unwrap(), "20");
        assert!(s.restore("2002", "enabled", "yes").is_ok(), "a user missing from the file is remembered");
        let kept: Vec<_> = s.overrides().map(|(u, f, v)| (u.to_string(), f.name(), v.to_owned())).collect();
        assert_eq!(
            kept,
            [("1001".into(), "enabled", "yes".into()), ("2002".into(), "enabled", "yes".into())]
        );
    }
}

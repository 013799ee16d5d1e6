//! What a twinning module keeps besides the core's decisions, shared by the Asterisk and
//! FreeSWITCH shims: the settings service every surface (dialplan function, CLI, AMI/ESL)
//! goes through, the durable journal of runtime changes, and the text reports. It does
//! file IO, which is why it is not part of the sans-IO core, and knows no host types.

pub mod api_command;
pub mod call_events;
pub mod calls;
pub mod host_log;
pub mod journal;
pub mod panic_guard;
pub mod report;

pub use report::function_arguments;

/// A C copy of `s` for a host to read. Interior NULs cannot be passed to C; they are
/// replaced, since every caller passes text meant for display, logging or a lookup.
pub fn c_string(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s.replace('\0', "\\0")).expect("NULs were replaced")
}

use std::fmt;
use std::path::Path;

use twinning_core::call::{CallOptions, CallSetup, CallerId, LocalTime};
use twinning_core::{printable, Change, Config, OverrideProblem, RawConfig, SettingError, Settings, UserId};

use journal::{Entry, Journal};

/// Where a change came from, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Dialplan {
        channel: Option<String>,
    },
    Cli,
    Ami,
    /// FreeSWITCH's `twinning` API from fs_cli or an ESL client.
    Esl,
    /// The configuration file, re-read (only refusals are reported from it).
    Reload,
}

impl Source {
    /// The channel a dialplan change came from, for the audit trail; empty otherwise.
    pub fn channel(&self) -> &str {
        match self {
            Source::Dialplan { channel: Some(c) } => c.as_str(),
            _ => "",
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Source::Dialplan { .. } => "dialplan",
            Source::Cli => "cli",
            Source::Ami => "ami",
            Source::Esl => "esl",
            Source::Reload => "reload",
        }
    }
}

#[derive(Debug)]
pub enum SetError {
    Invalid(SettingError),
    /// The change was valid but could not be made durable, so it was not applied.
    Storage(String),
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::Invalid(e) => e.fmt(f),
            SetError::Storage(e) => write!(f, "the change could not be saved and was not applied: {e}"),
        }
    }
}

/// Something found while loading that the admin should hear about but that does not stop
/// the module: a stored override that no longer validates, a damaged journal line.
pub type LoadWarning = String;

pub struct Service {
    settings: Settings,
    journal: Journal,
}

/// Where stored overrides came from at start-up.
pub enum Stored {
    /// The module's own journal existed: it is authoritative.
    Journal(Vec<Entry>),
    /// No journal yet: take what AstDB holds (a first start, or an admin seeding AstDB).
    AstDb(Vec<(String, String)>),
}

impl Service {
    /// Builds the service from the configuration and the stored overrides. The journal is
    /// rewritten to hold exactly the overrides in force, which also drops any torn line.
    pub fn start(
        raw: &RawConfig,
        journal_path: &Path,
        read_astdb: impl FnOnce() -> Vec<(String, String)>,
    ) -> Result<(Service, Vec<LoadWarning>), String> {
        let config = Config::from_raw(raw).map_err(|e| format!("twinning.conf: {}", e.render(raw)))?;
        let (journal, replay) =
            Journal::open(journal_path).map_err(|e| format!("journal {}: {e}", journal_path.display()))?;
        let mut warnings = Vec::new();
        let stored = match replay {
            Some(r) => {
                for (line, text) in r.damaged {
                    warnings.push(format!(
                        "journal {} line {line} is damaged and was skipped: {text:?}",
                        journal.path().display()
                    ));
                }
                Stored::Journal(r.entries)
            }
            None => Stored::AstDb(read_astdb()),
        };
        let mut service = Service { settings: Settings::new(config), journal };
        warnings.extend(service.restore(stored));
        Ok((service, warnings))
    }

    /// Applies stored overrides, reporting (and otherwise ignoring) any that are invalid.
    pub fn restore(&mut self, stored: Stored) -> Vec<LoadWarning> {
        let mut warnings = Vec::new();
        let entries: Vec<Entry> = match stored {
            Stored::Journal(e) => e,
            Stored::AstDb(pairs) => pairs
                .into_iter()
                .filter_map(|(key, value)| match key.split_once('/') {
                    Some((user, field)) => Some(Entry { user: user.into(), field: field.into(), value }),
                    None => {
                        warnings.push(format!("astdb entry twinning/{key} is not user/field; ignored"));
                        None
                    }
                })
                .collect(),
        };
        for e in entries {
            if let Err(p) = self.settings.restore(&e.user, &e.field, &e.value) {
                warnings.push(p.to_string());
            }
        }
        warnings
    }

    /// Rewrites the journal to the overrides now in force and returns them, for mirroring
    /// into AstDB.
    pub fn compact(&mut self) -> Result<Vec<Entry>, String> {
        let entries: Vec<Entry> = self
            .settings
            .overrides()
            .map(|(u, f, v)| Entry { user: u.to_string(), field: f.name().into(), value: v.into() })
            .collect();
        self.journal
            .compact(&entries)
            .map_err(|e| format!("journal {}: {e}", self.journal.path().display()))?;
        Ok(entries)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Validates, makes durable, then applies a change. Nothing changes on any error.
    pub fn set(&mut self, user: &str, field: &str, value: &str) -> Result<Change, SetError> {
        let mut next = self.settings.clone();
        let change = next.set(user, field, value).map_err(SetError::Invalid)?;
        let entry = Entry {
            user: change.user.to_string(),
            field: change.field.name().into(),
            value: change.new.clone(),
        };
        self.journal.append(&entry).map_err(|e| SetError::Storage(e.to_string()))?;
        self.settings = next;
        Ok(change)
    }

    /// Everything the engine needs for a call to `user` with the settings in force now, and
    /// the size of the system-wide mobile cap (`max_concurrent`) for the host's
    /// [`twinning_core::call::ConcurrencyCap`]. `options` is the option string of the
    /// application (`h f c d(s) g(s) r(s)`).
    pub fn call_setup(
        &self,
        user: &str,
        options: &str,
        caller: CallerId,
        dialed: Option<String>,
        local_time: LocalTime,
    ) -> Result<(CallSetup, u32), String> {
        let options = CallOptions::parse(options)?;
        let settings = self
            .settings
            .user(user)
            .cloned()
            .ok_or_else(|| format!("unknown twinning user '{}'", printable(user)))?;
        let general = self.settings.general();
        let setup = CallSetup {
            user: UserId::parse(user).map_err(|e| e.to_string())?,
            settings,
            mobile_dial: general.mobile_dial.clone(),
            policy: general.policy.clone(),
            caller,
            dialed: dialed.filter(|d| !d.is_empty()),
            options,
            local_time,
            call_control: general.call_control.clone(),
        };
        Ok((setup, general.max_concurrent))
    }

    /// Re-reads the configuration. A broken file changes nothing and says why.
    pub fn reload(&mut self, raw: &RawConfig) -> Result<Vec<OverrideProblem>, String> {
        let config = Config::from_raw(raw).map_err(|e| format!("twinning.conf: {}", e.render(raw)))?;
        Ok(self.settings.replace_config(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "[general]\nmobile_dial=PJSIP/{number}@trunk\n[1001]\ndesk=PJSIP/1001\n";

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("twinning-service-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_change_is_durable_before_it_is_acknowledged() {
        let d = dir("durable");
        let path = d.join("j");
        let raw = RawConfig::parse_conf(CONF).unwrap();
        let (mut s, w) = Service::start(&raw, &path, Vec::new).unwrap();
        assert!(w.is_empty());
        s.set("1001", "mobile", "07700900123").unwrap();
        assert!(matches!(s.set("1001", "mobile", "0770,1"), Err(SetError::Invalid(_))));
        drop(s); // as a crash would, without compacting
        let (s, _) = Service::start(&raw, &path, Vec::new).unwrap();
        assert_eq!(s.settings().get("1001", "mobile").unwrap(), "07700900123");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn astdb_import_reports_corrupt_entries() {
        let d = dir("import");
        let raw = RawConfig::parse_conf(CONF).unwrap();
        let (mut s, _) = Service::start(&raw, &d.join("j"), Vec::new).unwrap();
        let w = s.restore(Stored::AstDb(vec![
            ("1001/enabled".into(), "yes".into()),
            ("1001/ring_time".into(), "forever".into()),
            ("junk".into(), "1".into()),
        ]));
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(s.settings().get("1001", "enabled").unwrap(), "yes");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_broken_reload_keeps_the_settings() {
        let d = dir("reload");
        let raw = RawConfig::parse_conf(CONF).unwrap();
        let (mut s, _) = Service::start(&raw, &d.join("j"), Vec::new).unwrap();
        let text = "[general]\nmobile_dial=PJSIP/{number}@trunk\n[1001]\ndesk=PJSIP/1001\nring_time=x\n";
        let broken = RawConfig::parse_conf(text).unwrap();
        assert!(s.reload(&broken).unwrap_err().contains("line 5"));
        assert!(s.settings().user("1001").is_some());
        std::fs::remove_dir_all(&d).unwrap();
    }
}

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

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use twinning_cluster::Update;
use twinning_core::call::{CallOptions, CallSetup, CallerId, LocalTime};
use twinning_core::{
    printable, Change, Config, Field, OverrideProblem, RawConfig, SettingError, Settings, SettingsStore,
    UserId,
};

use journal::{Entry, Journal};
use std::sync::{Arc, Mutex, PoisonError};

/// Where a change came from, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The dialplan: `TWINNING()`, or `${twinning(set ...)}` in FreeSWITCH. With the
    /// device the channel came from, which a change acts for only if it is the user's desk
    /// (see [`twinning_core::identity`]).
    Dialplan {
        channel: Option<String>,
        device: twinning_core::identity::Device,
    },
    Cli,
    Ami,
    /// FreeSWITCH's `twinning` API from fs_cli or an ESL client.
    Esl,
    /// The configuration file, re-read (only refusals are reported from it).
    Reload,
    /// Another node's change, from the shared settings store.
    Cluster {
        node: String,
    },
    /// A control plane acting for one of its own users, over AMI or ESL: `console:<login>`
    /// (twinctl), `web:<login>` (its web pages). Audited under that name.
    Agent {
        agent: String,
    },
}

impl Source {
    /// The channel a dialplan change came from, for the audit trail; empty otherwise.
    pub fn channel(&self) -> &str {
        match self {
            Source::Dialplan { channel: Some(c), .. } => c.as_str(),
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
            Source::Cluster { .. } => "cluster",
            Source::Agent { agent } if agent.starts_with("web:") => "web",
            Source::Agent { .. } => "console",
        }
    }

    /// Who made the change, as events and the audit show it: the surface, or for a control
    /// plane `console:<login>` / `web:<login>`.
    pub fn label(&self) -> String {
        match self {
            Source::Agent { agent } => agent.clone(),
            other => other.name().to_string(),
        }
    }

    /// A control plane's source as given to AMI (`Source:`) or ESL (`set-as`): `console:` or
    /// `web:` and a login of letters, digits, `.`, `_`, `-` or `@`.
    pub fn agent(text: &str) -> Result<Source, String> {
        let ok = text.split_once(':').is_some_and(|(kind, login)| {
            matches!(kind, "console" | "web")
                && (1..=64).contains(&login.len())
                && login.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        });
        if ok {
            Ok(Source::Agent { agent: text.to_owned() })
        } else {
            Err(format!("'{}' is not a source: console:<login> or web:<login>", printable(text)))
        }
    }

    /// The node another node's change came from; empty for this node's own.
    pub fn node(&self) -> &str {
        match self {
            Source::Cluster { node } => node.as_str(),
            _ => "",
        }
    }
}

#[derive(Debug)]
pub enum SetError {
    Invalid(SettingError),
    /// The change was valid but could not be made durable, so it was not applied.
    Storage(String),
    /// The shared settings store cannot be reached: nothing was changed (the text starts
    /// with "settings store unavailable").
    Unavailable(String),
    /// The request did not prove it may act for the user (another phone than the user's
    /// desk, or a number change without the PIN): nothing was changed.
    Forbidden(String),
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::Invalid(e) => e.fmt(f),
            SetError::Storage(e) => write!(f, "the change could not be saved and was not applied: {e}"),
            SetError::Unavailable(e) | SetError::Forbidden(e) => f.write_str(e),
        }
    }
}

/// Something found while loading that the admin should hear about but that does not stop
/// the module: a stored override that no longer validates, a damaged journal line.
pub type LoadWarning = String;

pub struct Service {
    settings: Settings,
    /// The node's own record of runtime changes (`settings_store = file`), or its cache of
    /// the shared store's (`postgresql`), read at a start without the database.
    /// Behind a lock of its own: a change's `fsync` runs with only this lock held, so it
    /// never holds up call setup or the lamps, which need the settings (see
    /// [`Service::journal`]).
    journal: Arc<Mutex<Journal>>,
    /// With a shared store: the sequence number of the change behind each override in
    /// force, so a change is applied once, and never over a newer one.
    shared: Option<HashMap<(UserId, Field), i64>>,
}

/// The name of the shared store's local cache, beside the file store's journal (kept
/// apart, so switching the store back finds the node's own journal as it was).
const CLUSTER_CACHE: &str = "cluster-cache.journal";

/// The journal line that makes `change` durable.
pub fn journal_entry(change: &Change) -> Entry {
    Entry { user: change.user.to_string(), field: change.field.name().into(), value: change.new.clone() }
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
        let shared = matches!(config.general.store.store, SettingsStore::Postgresql { .. });
        let cache = journal_path.with_file_name(CLUSTER_CACHE);
        let journal_path = if shared { cache.as_path() } else { journal_path };
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
            // The shared store's settings come from the database, never from AstDB.
            None if shared => Stored::Journal(Vec::new()),
            None => Stored::AstDb(read_astdb()),
        };
        let mut service = Service {
            settings: Settings::new(config),
            journal: Arc::new(Mutex::new(journal)),
            shared: shared.then(HashMap::new),
        };
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
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        journal.compact(&entries).map_err(|e| format!("journal {}: {e}", journal.path().display()))?;
        Ok(entries)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The file store's journal, or the shared store's local cache.
    pub fn journal_path(&self) -> std::path::PathBuf {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner).path().to_owned()
    }

    /// The journal, for a writer that makes a change durable without the service's lock:
    /// [`Service::check`] under the lock, [`Journal::append`] of [`journal_entry`] with
    /// only the journal's, then [`Service::commit`] under the service's lock again.
    pub fn journal(&self) -> Arc<Mutex<Journal>> {
        self.journal.clone()
    }

    /// Applies a change that [`Service::check`] validated and the journal now holds.
    /// Refused (and the journal rewritten to what is in force) only if a reload in between
    /// made it invalid.
    pub fn commit(&mut self, checked: &Change) -> Result<Change, SetError> {
        if self.is_shared() {
            return Err(SetError::Storage("changes to a shared store go through the store".into()));
        }
        match self.settings.set(checked.user.as_str(), checked.field.name(), &checked.new) {
            Ok(change) => Ok(change),
            Err(e) => {
                if let Err(c) = self.compact() {
                    log::warn!("twinning: {c}");
                }
                Err(SetError::Invalid(e))
            }
        }
    }

    /// Whether runtime changes go through the shared store (`settings_store = postgresql`):
    /// then [`Service::check`] and [`Service::apply_committed`], not [`Service::set`].
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// What a change would do, validated against the settings in force; nothing changes.
    pub fn check(&self, user: &str, field: &str, value: &str) -> Result<Change, SetError> {
        self.settings.clone().set(user, field, value).map_err(SetError::Invalid)
    }

    /// Applies a change the shared store committed as `seq`, unless a newer one of the
    /// same setting is in force already (it arrived from another node meanwhile). The
    /// change if it was applied.
    pub fn apply_committed(
        &mut self,
        user: &str,
        field: &str,
        value: &str,
        seq: i64,
    ) -> Result<Option<Change>, SettingError> {
        let (id, f) = self.settings.resolve(user, field)?;
        let seqs = self.shared.get_or_insert_with(HashMap::new);
        if seqs.get(&(id.clone(), f)).is_some_and(|s| *s >= seq) {
            return Ok(None);
        }
        let change = self.settings.set(user, field, value)?;
        seqs.insert((id, f), seq);
        self.cache(Entry {
            user: change.user.to_string(),
            field: change.field.name().into(),
            value: change.new.clone(),
        });
        Ok(Some(change))
    }

    /// Applies what the shared store's thread brought: other nodes' changes, or the whole
    /// set of overrides after a (re)connect. The changes made, with the node each came
    /// from, and warnings for stored values this node's configuration refuses.
    pub fn apply_update(&mut self, update: Update) -> (Vec<(Change, String)>, Vec<LoadWarning>) {
        let mut warnings = Vec::new();
        let mut applied = Vec::new();
        match update {
            Update::Changes(rows) => {
                for row in rows {
                    if self.settings.user(&row.user).is_none() {
                        // A user this node's file does not have (yet): kept, as a resync
                        // would keep it, for when the section comes (back).
                        self.keep_for_missing_user(&row, &mut warnings);
                        continue;
                    }
                    match self.apply_committed(&row.user, &row.field, &row.value, row.seq) {
                        Ok(Some(change)) => applied.push((change, row.node)),
                        Ok(None) => {}
                        // Another node's configuration accepted it; this one's does not.
                        Err(e) => warnings.push(format!(
                            "shared override {}.{} from node {} not applied here: {e}",
                            printable(&row.user),
                            printable(&row.field),
                            row.node
                        )),
                    }
                }
            }
            Update::Full(rows) => {
                let before = self.settings.clone();
                let mut fresh = Settings::new(before.config().clone());
                let mut seqs = HashMap::new();
                let mut from: HashMap<(String, String), String> = HashMap::new();
                for row in &rows {
                    match fresh.restore(&row.user, &row.field, &row.value) {
                        Ok(()) => {
                            if let (Ok(id), Some(f)) = (UserId::parse(&row.user), Field::parse(&row.field)) {
                                seqs.insert((id, f), row.seq);
                            }
                            from.insert((row.user.clone(), row.field.clone()), row.node.clone());
                        }
                        Err(p) => warnings.push(p.to_string()),
                    }
                }
                for (id, user) in fresh.users() {
                    let Some(old) = before.user(id.as_str()) else { continue };
                    for field in Field::ALL.iter().copied().filter(|f| f.runtime_writable()) {
                        let (o, n) = (old.get(field), user.get(field));
                        if o != n {
                            let node = from.get(&(id.to_string(), field.name().to_string())).cloned();
                            let change = Change { user: id.clone(), field, old: o, new: n };
                            applied.push((change, node.unwrap_or_default()));
                        }
                    }
                }
                self.settings = fresh;
                self.shared = Some(seqs);
                if let Err(e) = self.compact() {
                    warnings.push(e);
                }
            }
        }
        (applied, warnings)
    }

    fn keep_for_missing_user(
        &mut self,
        row: &twinning_cluster::StoredOverride,
        warnings: &mut Vec<LoadWarning>,
    ) {
        match self.settings.restore(&row.user, &row.field, &row.value) {
            Ok(()) => {
                if let (Ok(id), Some(f)) = (UserId::parse(&row.user), Field::parse(&row.field)) {
                    self.shared.get_or_insert_with(HashMap::new).insert((id, f), row.seq);
                }
                self.cache(Entry {
                    user: row.user.clone(),
                    field: row.field.clone(),
                    value: row.value.clone(),
                });
            }
            Err(p) => warnings.push(p.to_string()),
        }
    }

    /// Keeps the node's cache of the shared store up to date; the database has the change
    /// already, so a failure here only costs a start without the database this change.
    fn cache(&mut self, entry: Entry) {
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = journal.append(&entry) {
            log::warn!("twinning: settings cache {}: {e}", journal.path().display());
        }
    }

    /// Validates, makes durable, then applies a change. Nothing changes on any error.
    pub fn set(&mut self, user: &str, field: &str, value: &str) -> Result<Change, SetError> {
        if self.is_shared() {
            return Err(SetError::Storage("changes to a shared store go through the store".into()));
        }
        let mut next = self.settings.clone();
        let change = next.set(user, field, value).map_err(SetError::Invalid)?;
        let entry = Entry {
            user: change.user.to_string(),
            field: change.field.name().into(),
            value: change.new.clone(),
        };
        self.journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&entry)
            .map_err(|e| SetError::Storage(e.to_string()))?;
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
        if config.general.store != self.settings.general().store {
            return Err("settings_store, settings_dsn and node_name take effect when the module is \
                        loaded, not at a reload; nothing was changed"
                .into());
        }
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

//! The shared settings store (`settings_store = postgresql`) as the driver runs it: started
//! after the service is installed, its updates applied to the settings in memory (with
//! the same events, mirrors and lamps as a change made here), changes written through it,
//! refusals audited in it, and its status for `twinning show store` / `twinning store`.

use std::time::Duration;

use twinning_cluster::{AuditRecord, ChangeWrite, Cluster, Dsn, FirstContact, Outcome, Sink, Update};
use twinning_core::settings::check_node_name;
use twinning_core::{printable, Change, Field, Pin, SettingsStore};
use twinning_service::{SetError, Source};

use crate::host::Host;
use crate::threads::ModuleThreads;
use crate::{lock, Driver};

/// How long a load waits for the database before starting on the cached settings.
const FIRST_CONTACT_WAIT: Duration = Duration::from_secs(5);

/// The node's name: `node_name`, or the host name.
fn node_name(configured: Option<&str>) -> Result<String, String> {
    let name = match configured {
        Some(n) => n.to_string(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .map_err(|e| format!("node_name is not set and the host name cannot be read: {e}"))?,
    };
    check_node_name(&name).map_err(|e| {
        if configured.is_none() {
            format!("{e} (it is the host name; set node_name in [general])")
        } else {
            e
        }
    })?;
    Ok(name)
}

/// The audit row of a refused change (the value masked if it is a PIN).
pub(crate) fn refusal(source: &Source, user: &str, field: &str, value: &str, reason: &str) -> AuditRecord {
    let new = if Field::parse(field) == Some(Field::Pin) { "****".to_string() } else { printable(value) };
    AuditRecord {
        at: std::time::SystemTime::now(),
        surface: source.label(),
        channel: source.channel().into(),
        user: printable(user),
        field: printable(field),
        old_value: None,
        new_value: Some(new),
        outcome: Outcome::Refused { reason: reason.into() },
    }
}

impl<H: Host> Driver<H> {
    /// With `settings_store = postgresql`, connects the installed service to the database
    /// on a thread of `threads`, and waits a few seconds for the first sync. A database
    /// that is only away is not an error (the node runs on its cached settings and keeps
    /// trying); a DSN that cannot work is, and nothing is left running.
    pub fn start_store(&'static self, threads: &'static ModuleThreads) -> Result<(), String> {
        let (dsn, configured) = match self.with_service(|s| Ok(s.settings().general().store.clone()))? {
            twinning_core::StoreConfig { store: SettingsStore::Postgresql { dsn }, node_name } => {
                (dsn, node_name)
            }
            _ => return Ok(()),
        };
        let node = node_name(configured.as_deref())?;
        let dsn = Dsn::parse(&dsn, &node)?;
        let shown = dsn.shown().to_string();
        let cluster = Cluster::new(dsn, node.clone());
        *lock(&self.store) = Some(cluster.clone());
        self.cap().share(Some(cluster.clone()));
        let body = cluster.clone();
        let failed = cluster.clone();
        threads.spawn(
            format!("twinning store {node}"),
            move || body.run(self),
            move || {
                log::error!("twinning: the settings store's thread could not be started");
                failed.fail("the store's thread could not be started");
            },
        );
        match cluster.first_contact(FIRST_CONTACT_WAIT) {
            FirstContact::Synced => Ok(()),
            FirstContact::Unavailable(e) => {
                log::warn!(
                    "twinning: {} at load ({e}): starting on the last known settings; changes are refused until \
                     it is back",
                    twinning_cluster::UNAVAILABLE
                );
                Ok(())
            }
            FirstContact::Refused(e) => {
                self.stop_store();
                Err(format!("settings store {shown}: {e}"))
            }
        }
    }

    /// Stops the store's thread (the host's thread accounting then joins it).
    pub fn stop_store(&self) {
        if let Some(cluster) = lock(&self.store).take() {
            cluster.stop();
        }
        self.cap().share(None);
    }

    pub(crate) fn shared_store(&self) -> Option<Cluster> {
        lock(&self.store).clone()
    }

    /// A change through the shared store: validated here, committed there with its audit
    /// row, then applied here. Refused at once while the store is away. The change, and
    /// whether it is the one in force here now.
    pub(crate) fn apply_shared_change(
        &self,
        store: &Cluster,
        source: &Source,
        user: &str,
        field: &str,
        value: &str,
    ) -> Result<(Change, bool), SetError> {
        let change = self.with_service(|s| Ok(s.check(user, field, value))).map_err(SetError::Storage)??;
        let (old, new) = change.shown();
        let write = ChangeWrite {
            user: change.user.to_string(),
            field: change.field.name().into(),
            value: change.new.clone(),
            audit: AuditRecord {
                at: std::time::SystemTime::now(),
                surface: source.label(),
                channel: source.channel().into(),
                user: change.user.to_string(),
                field: change.field.name().into(),
                old_value: Some(old),
                new_value: Some(new),
                outcome: Outcome::Changed,
            },
        };
        let seq = store.write_change(write).map_err(|e| match e {
            twinning_cluster::StoreError::Failed(m) => SetError::Storage(m),
            _ => SetError::Unavailable(e.to_string()),
        })?;
        // Committed: acknowledged whatever happens here. If a newer change of the same
        // setting (another node's, or a resync) is in force already, this one is neither
        // applied over it nor announced or mirrored as if it were.
        let applied = self.with_service(|s| {
            Ok(s.apply_committed(change.user.as_str(), change.field.name(), &change.new, seq))
        });
        match applied {
            Ok(Ok(Some(c))) => Ok((c, true)),
            Ok(Ok(None)) => Ok((change, false)),
            Ok(Err(e)) => {
                log::error!(
                    "twinning: committed change {}.{} not applied here: {e}",
                    change.user,
                    change.field
                );
                Ok((change, false))
            }
            Err(e) => Err(SetError::Storage(e)),
        }
    }

    /// PINs an older version stored in the database in clear: this node keeps them
    /// hashed already (the restore hashes them), and writes its hash over each clear row.
    fn migrate_clear_pins(&self, clear: Vec<(String, String)>) {
        if clear.is_empty() {
            return;
        }
        let Some(store) = self.shared_store() else { return };
        let kept: Vec<(String, String)> = self
            .with_service(|s| {
                Ok(s.settings()
                    .overrides()
                    .filter(|(_, f, _)| *f == Field::Pin)
                    .map(|(u, _, v)| (u.to_string(), v.to_owned()))
                    .collect())
            })
            .unwrap_or_default();
        for (user, old) in clear {
            if let Some((_, hash)) = kept.iter().find(|(u, v)| *u == user && v.starts_with("$argon2")) {
                log::info!("twinning: {user}'s PIN is stored hashed in the shared store from now on");
                store.rewrite_value(&user, Field::Pin.name(), &old, hash);
            }
        }
    }

    /// `twinning show store`, `twinning store`.
    pub fn store_report(&self) -> Result<String, String> {
        let (max, path) =
            self.with_service(|s| Ok((s.settings().general().max_concurrent, s.journal_path())))?;
        Ok(match self.shared_store() {
            Some(store) => {
                let mut text = store.status().render(max);
                text.push_str(&format!("Local cache: {}\n", path.display()));
                text
            }
            None => format!(
                "Backend: file\nJournal: {}\nState: local (always available)\nLeases: {} held here, max {max}\n",
                path.display(),
                self.cap().active()
            ),
        })
    }
}

/// The store's thread delivers other nodes' changes (and whole resyncs) here.
impl<H: Host> Sink for Driver<H> {
    fn apply(&self, update: Update) {
        let full = matches!(update, Update::Full(_));
        let clear_pins: Vec<(String, String)> = match &update {
            Update::Full(rows) | Update::Changes(rows) => rows
                .iter()
                .filter(|r| {
                    Field::parse(&r.field) == Some(Field::Pin)
                        && Pin::parse(&r.value).is_ok_and(|p| !p.is_hashed())
                })
                .map(|r| (r.user.clone(), r.value.clone()))
                .collect(),
        };
        let applied = self.with_service(|s| Ok(s.apply_update(update)));
        let Ok((changes, warnings)) = applied else { return };
        for w in warnings {
            log::warn!("twinning: {w}");
        }
        for (change, node) in &changes {
            self.changed(change, &Source::Cluster { node: node.clone() });
        }
        if full {
            self.refresh_all_lamps();
        }
        self.migrate_clear_pins(clear_pins);
    }
}

//! Where a node keeps runtime changes, from `[general]`: `settings_store`, `settings_dsn`
//! and `node_name`. Only the form is checked here; the module's store opens the database
//! and says what is wrong with a DSN the client cannot use.

use super::error::printable;

/// `settings_store`: the node's own journal, or a PostgreSQL database shared by several
/// nodes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SettingsStore {
    #[default]
    File,
    Postgresql {
        /// `settings_dsn`, as written (it may hold a password: never shown whole).
        dsn: String,
    },
}

impl SettingsStore {
    pub fn name(&self) -> &'static str {
        match self {
            SettingsStore::File => "file",
            SettingsStore::Postgresql { .. } => "postgresql",
        }
    }
}

/// The store and the name this node goes by in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreConfig {
    pub store: SettingsStore,
    /// `node_name`; `None` means the host name.
    pub node_name: Option<String>,
}

/// What `[general]` said, before the three keys are checked together.
#[derive(Default)]
pub(super) struct StoreKeys {
    store: Option<String>,
    dsn: Option<String>,
    node_name: Option<String>,
}

impl StoreKeys {
    /// Takes `key` if it is one of the store's; `None` if it is not.
    pub(super) fn take(&mut self, key: &str, value: &str) -> Option<Result<(), String>> {
        let slot = match key {
            "settings_store" => &mut self.store,
            "settings_dsn" => &mut self.dsn,
            "node_name" => &mut self.node_name,
            _ => return None,
        };
        *slot = Some(value.trim().to_string());
        Some(match key {
            "settings_store" => match value.trim() {
                "file" | "postgresql" => Ok(()),
                _ => Err("'file' or 'postgresql'".into()),
            },
            "settings_dsn" => check_dsn(value.trim()),
            _ => check_node_name(value.trim()),
        })
    }

    pub(super) fn finish(self) -> Result<StoreConfig, String> {
        let store = match (self.store.as_deref(), self.dsn) {
            (None | Some("file"), None) => SettingsStore::File,
            (None | Some("file"), Some(_)) => {
                return Err("settings_dsn is set but settings_store is not 'postgresql'".into())
            }
            (Some(_), Some(dsn)) => SettingsStore::Postgresql { dsn },
            (Some(_), None) => {
                return Err(
                    "settings_store = postgresql needs settings_dsn = postgresql://user@host/db".into()
                )
            }
        };
        Ok(StoreConfig { store, node_name: self.node_name })
    }
}

fn check_dsn(dsn: &str) -> Result<(), String> {
    if !(dsn.starts_with("postgresql://") || dsn.starts_with("postgres://")) {
        return Err(format!(
            "a PostgreSQL URL, e.g. postgresql://twinning@db.example/twinning (got '{}')",
            printable(dsn.split('@').next_back().unwrap_or(""))
        ));
    }
    if dsn.chars().any(char::is_control) {
        return Err("the DSN holds a control character".into());
    }
    Ok(())
}

/// Node names appear in leases, the audit table and events: a plain token, like a host
/// name.
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!("node_name '{}' must be 1 to 63 letters, digits, '-', '_' or '.'", printable(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> Result<StoreConfig, String> {
        let mut k = StoreKeys::default();
        for (key, value) in pairs {
            k.take(key, value).expect("a store key")?;
        }
        k.finish()
    }

    #[test]
    fn the_file_store_is_the_default() {
        assert_eq!(keys(&[]).unwrap(), StoreConfig::default());
        assert_eq!(keys(&[("settings_store", "file")]).unwrap().store, SettingsStore::File);
    }

    #[test]
    fn postgresql_needs_a_url() {
        let c = keys(&[("settings_store", "postgresql"), ("settings_dsn", "postgresql://t@127.0.0.1/t")])
            .unwrap();
        assert_eq!(c.store, SettingsStore::Postgresql { dsn: "postgresql://t@127.0.0.1/t".into() });
        assert!(keys(&[("settings_store", "postgresql")]).unwrap_err().contains("settings_dsn"));
        assert!(keys(&[("settings_dsn", "postgresql://x/y")]).is_err());
        let bad = keys(&[("settings_store", "postgresql"), ("settings_dsn", "mysql://root:secret@db/x")]);
        let e = bad.unwrap_err();
        assert!(e.contains("PostgreSQL URL") && !e.contains("secret"), "{e}");
        assert!(keys(&[("settings_store", "sqlite")]).is_err());
    }

    #[test]
    fn node_names_are_tokens() {
        assert!(keys(&[("node_name", "pbx-a.example")]).is_ok());
        for bad in ["", "a b", "a;drop", &"x".repeat(64)] {
            assert!(keys(&[("node_name", bad)]).is_err(), "{bad}");
        }
    }
}

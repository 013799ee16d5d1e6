//! What every surface asks of the settings besides changing them (see
//! [`Driver::apply_change`]): the reports the CLI, AMI and ESL print, one setting for the
//! dialplan, and a reload that changes nothing when the file is wrong.

use twinning_core::{printable, RawConfig, UserId};
use twinning_service::report;

use crate::host::Host;
use crate::Driver;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub users: usize,
    /// Runtime overrides that no longer validate (a tightened policy, a user gone), each
    /// logged and dropped.
    pub dropped: usize,
}

impl<H: Host> Driver<H> {
    /// `twinning show users`, `twinning status`.
    pub fn users_report(&self) -> Result<String, String> {
        self.with_service(|s| Ok(report::users_table(s.settings())))
    }

    /// `twinning show user <user>`, `twinning status <user>`.
    pub fn user_report(&self, user: &str) -> Result<String, String> {
        self.with_service(|s| {
            let settings = s.settings();
            match (UserId::parse(user), settings.user(user)) {
                (Ok(id), Some(u)) => Ok(report::user_detail(settings, &id, u)),
                _ => Err(format!("unknown twinning user '{}'", printable(user))),
            }
        })
    }

    /// Every user, for completion.
    pub fn user_names(&self) -> Vec<String> {
        self.with_service(|s| Ok(s.settings().users().map(|(id, _)| id.to_string()).collect()))
            .unwrap_or_default()
    }

    /// One setting in force (`${TWINNING(user,field)}`).
    pub fn read_setting(&self, user: &str, field: &str) -> Result<String, String> {
        self.with_service(|s| s.settings().get(user, field).map_err(|e| e.to_string()))
    }

    /// Re-reads the configuration: a broken file changes nothing and says why. Users gone
    /// from the file, or without a PIN now, lose their PIN records.
    pub fn reload(&self, raw: &RawConfig) -> Result<Reloaded, String> {
        let reloaded = self.with_service(|service| {
            let problems = service.reload(raw)?;
            for p in &problems {
                log::warn!("{p}");
            }
            let settings = service.settings();
            self.with_pin_guard(|pins| {
                pins.prune(self.host.now(), |user| {
                    settings.user(user.as_str()).is_some_and(|u| u.pin.is_some())
                })
            });
            Ok(Reloaded { users: settings.users().count(), dropped: problems.len() })
        })?;
        self.refresh_all_lamps();
        Ok(reloaded)
    }
}

//! The settings model: values, fields, destination policy, the parsed `twinning.conf`, and
//! the live store that layers runtime overrides over it.

mod access;
mod call_control;
mod caller_list;
mod config;
mod error;
mod field;
mod pin;
mod policy;
mod raw;
pub mod reference;
mod schedule;
mod store;
mod store_config;
mod user;
mod values;

pub use access::Access;
pub use call_control::{CallControl, DtmfCode};
pub use caller_list::CallerList;
pub use config::{Config, ConfigError, General};
pub use error::{printable, SettingError};
pub use field::{DestinationField, Field, FIRST_EXTRA_DESTINATION};
pub use pin::{prepare_value, Pin, MASK as PIN_MASK};
pub use policy::DestinationPolicy;
pub use raw::{RawConfig, RawEntry, RawSection};
pub use schedule::Schedule;
pub use store::{Change, OverrideProblem, Settings};
pub use store_config::{check_node_name, SettingsStore, StoreConfig};
pub use user::{ExtraDestination, RemoteDestination, UserSettings};
pub use values::{AccountCode, CallerIdMode, DeskDevice, Millis, MobileDialTemplate, PhoneNumber, UserId};

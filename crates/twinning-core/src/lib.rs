//! Mobile twinning, as a sans-IO core.
//!
//! Everything a twinning module decides lives here, free of any PBX: the settings model
//! (what `twinning.conf` and the runtime surfaces may say, and how it is validated), the
//! destination policy that stands between a company PBX and outside numbers, and the rules
//! for combining configured values with runtime overrides. The Asterisk and FreeSWITCH
//! shims only translate between their host's types and these.

pub mod access;
pub mod call;
pub mod identity;
pub mod lamp;
pub mod pin_guard;
pub mod settings;

pub use settings::{
    printable, CallControl, CallerIdMode, CallerList, Change, Config, ConfigError, DeskDevice,
    DestinationField, DestinationPolicy, DtmfCode, Field, General, Millis, MobileDialTemplate,
    OverrideProblem, PhoneNumber, Pin, RawConfig, RawEntry, RawSection, Schedule, SettingError, Settings,
    SettingsStore, StoreConfig, UserId, UserSettings,
};

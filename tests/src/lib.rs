//! A harness that runs the real `app_twinning.so` in a real Asterisk 22 and drives it as
//! an admin would: configuration files, the CLI (`asterisk -rx`), AMI and dialplan.
//!
//! Asterisk comes from the root made by `scripts/provision-asterisk` (run inside it with
//! chroot), or from the host when `ASTERISK_BIN` is set. Without either, tests fail with
//! a message saying how to get one: they never pass without having run.

pub mod access_chaos;
pub mod ami;
pub mod asterisk;
pub mod bench;
pub mod book;
pub mod browser;
pub mod cdr;
pub mod chaos;
pub mod console;
pub mod dialplan;
pub mod esl;
pub mod freeswitch;
pub mod host_speed;
pub mod media;
pub mod module_build;
pub mod package;
pub mod pbx;
pub mod postgres;
pub mod procfs;
pub mod rtp_events;
pub mod sipp;
pub mod skip;
pub mod status;
pub mod subscriber;
pub mod toll_fraud;

pub use ami::{Ami, Message};
pub use asterisk::{Instance, InstanceConfig};
